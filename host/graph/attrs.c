/* Layer attributes as text: "filters=64 kernel=3,3 stride=2 padding=same" (layer_kind.h). The
 * text is what the public builder takes and what a model description stores; parsing checks it
 * against the kind's schema, so a misspelt or missing attribute is an error that names it. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/layer_kind.h"

static clnet_status attr_error(const clnet_layer_kind *k, const char *layer, const char *what, const char *detail) {
  return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "layer '%s' (%s): %s%s", layer, k->name, what, detail);
}

/* One value `text` (len bytes) of spec s into v; returns NULL or what is wrong. */
static const char *parse_value(const clnet_attr_spec *s, const char *text, size_t len, clnet_attr_value *v) {
  char buf[256];
  if (len == 0) return "has no value";
  if (len >= sizeof buf) return "value is too long";
  memcpy(buf, text, len);
  buf[len] = '\0';
  memset(v, 0, sizeof *v);
  if (s->type == CLNET_ATTR_FLOAT) {
    char *end = NULL;
    errno = 0;
    v->f = strtod(buf, &end);
    if (errno || end == buf || *end || !isfinite(v->f)) return "must be a finite number";
    v->n = 1;
    return NULL;
  }
  if (s->type == CLNET_ATTR_ENUM) {
    int32_t idx = 0;
    for (const char *c = s->choices; c && *c; ++idx) {
      const char *bar = strchr(c, '|');
      size_t n = bar ? (size_t)(bar - c) : strlen(c);
      if (n == len && !strncmp(c, buf, len)) {
        v->i[0] = idx;
        v->n = 1;
        return NULL;
      }
      c = bar ? bar + 1 : c + n;
    }
    return "is not one of the choices";
  }
  const char *p = buf;
  while (*p) {
    if (v->n == CLNET_ATTR_MAX_INTS) return "has too many values";
    char *end = NULL;
    errno = 0;
    long long x = strtoll(p, &end, 10);
    if (errno || end == p || x < INT32_MIN || x > INT32_MAX) return "must be integers in the int32 range";
    v->i[v->n++] = x;
    if (*end == ',') p = end + 1;
    else if (*end) return "must be integers separated by commas";
    else p = end;
    if (*end == ',' && !*p) return "ends with a comma";
  }
  if (s->type == CLNET_ATTR_INT && v->n != 1) return "must be one integer";
  if (s->type == CLNET_ATTR_INTS && (v->n < s->min_count || v->n > s->max_count)) return "has the wrong number of values";
  return NULL;
}

clnet_status clnet_attrs_parse(const clnet_layer_kind *k, const char *layer, const char *text, clnet_attr_value *out) {
  int32_t given[CLNET_MAX_ATTRS] = {0};
  memset(out, 0, sizeof(clnet_attr_value) * CLNET_MAX_ATTRS);
  for (const char *p = text ? text : ""; *p;) {
    while (isspace((unsigned char)*p)) ++p;
    if (!*p) break;
    const char *eq = p;
    while (*eq && *eq != '=' && !isspace((unsigned char)*eq)) ++eq;
    const size_t nlen = (size_t)(eq - p);
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(nlen < 63 ? nlen : 63), p);
    if (*eq != '=') return attr_error(k, layer, name, ": expected name=value");
    int32_t a = -1;
    for (int32_t i = 0; i < k->n_attrs; ++i)
      if (strlen(k->attrs[i].name) == nlen && !strncmp(k->attrs[i].name, p, nlen)) a = i;
    if (a < 0) {
      char known[512] = "";
      for (int32_t i = 0; i < k->n_attrs; ++i) {
        size_t u = strlen(known);
        snprintf(known + u, sizeof known - u, "%s%s", i ? ", " : "", k->attrs[i].name);
      }
      char detail[640];
      snprintf(detail, sizeof detail, ": no such attribute (%s has %s)", k->name, k->n_attrs ? known : "none");
      return attr_error(k, layer, name, detail);
    }
    if (given[a]++) return attr_error(k, layer, name, ": given twice");
    const char *v = eq + 1, *e = v;
    while (*e && !isspace((unsigned char)*e)) ++e;
    const char *why = parse_value(&k->attrs[a], v, (size_t)(e - v), &out[a]);
    if (why) {
      char detail[400];
      snprintf(detail, sizeof detail, " = '%.*s' %s%s%s", (int)((e - v) < 64 ? (e - v) : 64), v, why,
               k->attrs[a].choices ? " " : "", k->attrs[a].choices ? k->attrs[a].choices : "");
      return attr_error(k, layer, name, detail);
    }
    p = e;
  }
  for (int32_t a = 0; a < k->n_attrs; ++a) {
    if (given[a]) continue;
    if (!k->attrs[a].def) return attr_error(k, layer, k->attrs[a].name, " is required");
    const char *why = parse_value(&k->attrs[a], k->attrs[a].def, strlen(k->attrs[a].def), &out[a]);
    if (why) return attr_error(k, layer, k->attrs[a].name, ": the kind's default is malformed");
  }
  return CLNET_SUCCESS;
}

void clnet_attrs_format(const clnet_layer_kind *k, const clnet_attr_value *v, char *dst, size_t cap) {
  size_t used = 0;
  if (cap) dst[0] = '\0';
  for (int32_t a = 0; a < k->n_attrs && used < cap; ++a) {
    const clnet_attr_spec *s = &k->attrs[a];
    char val[256] = "";
    if (s->type == CLNET_ATTR_FLOAT) {
      snprintf(val, sizeof val, "%.17g", v[a].f);
    } else if (s->type == CLNET_ATTR_ENUM) {
      const char *c = s->choices;
      for (int64_t i = 0; c && i < v[a].i[0]; ++i) c = strchr(c, '|') ? strchr(c, '|') + 1 : c + strlen(c);
      const char *bar = c ? strchr(c, '|') : NULL;
      snprintf(val, sizeof val, "%.*s", c ? (int)(bar ? (size_t)(bar - c) : strlen(c)) : 0, c ? c : "");
    } else {
      for (int32_t i = 0; i < v[a].n; ++i) {
        size_t u = strlen(val);
        snprintf(val + u, sizeof val - u, "%s%lld", i ? "," : "", (long long)v[a].i[i]);
      }
    }
    int w = snprintf(dst + used, cap - used, "%s%s=%s", a ? " " : "", s->name, val);
    used += w > 0 ? (size_t)w : 0;
  }
}
