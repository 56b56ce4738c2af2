/* Building a graph: layers by kind (layer_kind.h), their tensors and parameters, and the queries
 * on the structure. Nothing here touches a device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph_internal.h"

clnet_status clnet_graph_create(int32_t in_h, int32_t in_w, int32_t in_c, clnet_graph **out) {
  *out = NULL;
  if (in_h < 1 || in_w < 1 || in_c < 1)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph input %dx%dx%d: every size must be >= 1", in_h, in_w, in_c);
  clnet_graph *g = calloc(1, sizeof *g);
  if (!g) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "allocating a graph");
  g->tensors[0] = (g_tensor){.s = {in_h, in_w, in_c}, .producer = -1, .storage = 0, .grad_buf = -1, .fwd_buf = -1};
  g->n_tensors = 1;
  g->loss_layer = -1;
  *out = g;
  return CLNET_SUCCESS;
}

void clnet_graph_free(clnet_graph *g) {
  if (!g) return;
  clnet_graph_release(g);
  free(g);
}

void clnet_graph_layer_shapes(const clnet_graph *g, const g_layer *l, clnet_tshape *in) {
  for (int32_t j = 0; j < l->l.n_in; ++j) in[j] = g->tensors[l->l.in[j]].s;
}

static clnet_status add_param(clnet_graph *g, const char *layer_name, int32_t layer, const clnet_param_decl *d,
                              int32_t *id) {
  if (g->n_params == CLNET_GRAPH_MAX_PARAMS)
    return clnet_set_error(CLNET_ERR_TOO_LARGE, "layer '%s': graph limit of %d parameters reached", layer_name,
                           CLNET_GRAPH_MAX_PARAMS);
  g_param *p = &g->params[g->n_params];
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s.%s", layer_name, d->suffix);
  p->kind = d->kind;
  p->ndim = d->ndim;
  p->count = 1;
  for (int32_t i = 0; i < d->ndim; ++i) {
    p->shape[i] = d->shape[i];
    p->count *= d->shape[i];
  }
  p->init = d->init;
  p->fan_in = d->fan_in;
  p->fan_out = d->fan_out;
  p->layer = layer;
  /* place in the host gradient layout: trainable parameters back to back, in creation order */
  g->grad_offset[g->n_params] = d->kind == CLNET_PARAM_TRAINABLE ? g->trainable_floats : -1;
  if (d->kind == CLNET_PARAM_TRAINABLE) g->trainable_floats += p->count;
  *id = g->n_params++;
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_add_layer(clnet_graph *g, const char *kind_name, const char *name, const int32_t *inputs,
                                   int32_t n_inputs, const char *attrs, int32_t *out) {
  if (!g || !name || !out) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_graph_add_layer: NULL argument");
  const clnet_layer_kind *k = clnet_layer_kind_find(kind_name);
  if (!k) {
    char known[1024] = "";
    for (int32_t i = 0; i < clnet_layer_kind_count(); ++i) {
      size_t u = strlen(known);
      snprintf(known + u, sizeof known - u, "%s%s", i ? ", " : "", clnet_layer_kind_at(i)->name);
    }
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "layer '%s': unknown kind '%s' (known: %s)", name,
                           kind_name ? kind_name : "(null)", known);
  }
  if (!*name || strlen(name) >= sizeof g->layers[0].l.name)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "layer name '%.40s': must be 1..95 characters", name);
  if (g->ctx) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "layer '%s': graph already set up", name);
  if (g->loss_layer >= 0)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "layer '%s': the graph already ends in its loss layer '%s'",
                           name, g->layers[g->loss_layer].l.name);
  if (g->n_layers == CLNET_GRAPH_MAX_LAYERS || g->n_tensors == CLNET_GRAPH_MAX_TENSORS)
    return clnet_set_error(CLNET_ERR_TOO_LARGE, "layer '%s': graph limit of %d layers reached", name,
                           CLNET_GRAPH_MAX_LAYERS);
  if (n_inputs < k->min_inputs || n_inputs > k->max_inputs)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "layer '%s' (%s): %d inputs, the kind takes %d..%d", name,
                           k->name, n_inputs, k->min_inputs, k->max_inputs);
  for (int32_t i = 0; i < g->n_layers; ++i)
    if (!strcmp(g->layers[i].l.name, name))
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "layer '%s': a layer of that name exists already (layer %d)",
                             name, i);
  for (int32_t j = 0; j < n_inputs; ++j)
    if (inputs[j] < 0 || inputs[j] >= g->n_tensors)
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "layer '%s': input tensor %d does not exist (0..%d)", name,
                             inputs[j], g->n_tensors - 1);
  g_layer *gl = &g->layers[g->n_layers];
  memset(gl, 0, sizeof *gl);
  clnet_layer *l = &gl->l;
  l->kind = k;
  snprintf(l->name, sizeof l->name, "%s", name);
  l->n_in = n_inputs;
  for (int32_t j = 0; j < n_inputs; ++j) l->in[j] = inputs[j];
  CLNET_TRY(clnet_attrs_parse(k, name, attrs, l->attrs));
  clnet_attrs_format(k, l->attrs, gl->attrs_text, sizeof gl->attrs_text);
  clnet_tshape in[CLNET_MAX_LAYER_INPUTS], os = {0, 0, 0};
  clnet_graph_layer_shapes(g, gl, in);
  CLNET_TRY(k->infer(l, in, &os));
  if (os.h < 1 || os.w < 1 || os.c < 1)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "layer '%s' (%s): its output would be %dx%dx%d on a %dx%dx%d input: the input is too small "
                           "for the layers before it",
                           name, k->name, os.h, os.w, os.c, in[0].h, in[0].w, in[0].c);
  clnet_param_decl pd[CLNET_MAX_LAYER_PARAMS];
  memset(pd, 0, sizeof pd);
  gl->n_aux = k->aux(l, in, &os, gl->aux_decl);
  const int32_t np = k->params(l, in, &os, pd);
  const int32_t first_param = g->n_params;
  for (int32_t i = 0; i < np; ++i) {
    clnet_status st = add_param(g, name, g->n_layers, &pd[i], &gl->p[i]);
    if (st != CLNET_SUCCESS) {
      g->n_params = first_param; /* the layer is not added: neither are its parameters */
      return st;
    }
  }
  gl->n_p = np;
  for (int32_t j = 0; j < n_inputs; ++j) g->tensors[inputs[j]].n_readers++;
  const int32_t t = g->n_tensors++;
  g->tensors[t] = (g_tensor){.s = os, .producer = g->n_layers, .storage = t, .grad_buf = -1, .fwd_buf = -1};
  l->out = t;
  if (k->flags & CLNET_KIND_LOSS) g->loss_layer = g->n_layers;
  g->n_layers++;
  *out = t;
  return CLNET_SUCCESS;
}

static const char *padding_word(clnet_padding p) { return p == CLNET_PADDING_SAME ? "same" : "valid"; }

clnet_status clnet_graph_add_conv(clnet_graph *g, const char *name, int32_t in, int32_t filters, int32_t k,
                                  int32_t stride, clnet_padding padding, int32_t *out) {
  char a[160];
  snprintf(a, sizeof a, "filters=%d kernel=%d stride=%d padding=%s", filters, k, stride, padding_word(padding));
  return clnet_graph_add_layer(g, "conv", name, &in, 1, a, out);
}

clnet_status clnet_graph_add_batchnorm(clnet_graph *g, const char *name, int32_t in, int32_t *out) {
  return clnet_graph_add_layer(g, "batchnorm", name, &in, 1, "", out);
}

clnet_status clnet_graph_add_relu(clnet_graph *g, const char *name, int32_t in, int32_t *out) {
  return clnet_graph_add_layer(g, "relu", name, &in, 1, "", out);
}

clnet_status clnet_graph_add_maxpool(clnet_graph *g, const char *name, int32_t in, int32_t k, int32_t stride,
                                     clnet_padding padding, int32_t *out) {
  char a[160];
  snprintf(a, sizeof a, "kernel=%d stride=%d padding=%s", k, stride, padding_word(padding));
  return clnet_graph_add_layer(g, "maxpool", name, &in, 1, a, out);
}

clnet_status clnet_graph_add_add(clnet_graph *g, const char *name, int32_t a, int32_t b, int32_t *out) {
  const int32_t in[2] = {a, b};
  return clnet_graph_add_layer(g, "add", name, in, 2, "", out);
}

clnet_status clnet_graph_add_global_avgpool(clnet_graph *g, const char *name, int32_t in, int32_t *out) {
  return clnet_graph_add_layer(g, "global_avgpool", name, &in, 1, "", out);
}

clnet_status clnet_graph_add_dense(clnet_graph *g, const char *name, int32_t in, int32_t units, int32_t *out) {
  char a[64];
  snprintf(a, sizeof a, "units=%d", units);
  return clnet_graph_add_layer(g, "dense", name, &in, 1, a, out);
}

clnet_status clnet_graph_set_output(clnet_graph *g, int32_t logits) {
  if (logits == 0) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph output: the input images are not logits");
  int32_t t = -1;
  return clnet_graph_add_layer(g, "softmax_cross_entropy", "loss", &logits, 1, "", &t);
}

/* ---- queries ---- */

int32_t clnet_graph_layer_count(const clnet_graph *g) { return g->n_layers; }
int32_t clnet_graph_tensor_count(const clnet_graph *g) { return g->n_tensors; }

clnet_status clnet_graph_layer_info(const clnet_graph *g, int32_t i, clnet_layer_info *info) {
  if (!g || !info || i < 0 || i >= g->n_layers) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "no layer %d", i);
  const g_layer *gl = &g->layers[i];
  const g_tensor *x = &g->tensors[gl->l.in[0]], *y = &g->tensors[gl->l.out];
  memset(info, 0, sizeof *info);
  info->name = gl->l.name;
  info->kind = gl->l.kind->name;
  info->attrs = gl->attrs_text;
  info->n_inputs = gl->l.n_in;
  for (int32_t j = 0; j < gl->l.n_in && j < CLNET_LAYER_MAX_INPUTS; ++j) info->inputs[j] = gl->l.in[j];
  info->output = gl->l.out;
  info->in_h = x->s.h, info->in_w = x->s.w, info->in_c = x->s.c;
  info->out_h = y->s.h, info->out_w = y->s.w, info->out_c = y->s.c;
  info->is_loss = (gl->l.kind->flags & CLNET_KIND_LOSS) != 0;
  info->runs_as = !g->ctx ? CLNET_RUNS_ALONE
                  : gl->fuse == CLNET_FUSE_INSIDE ? CLNET_RUNS_INSIDE
                  : gl->fuse == CLNET_FUSE_BN_RELU ? CLNET_RUNS_BN_RELU
                  : gl->fuse == CLNET_FUSE_BN_ADD_RELU ? CLNET_RUNS_BN_ADD_RELU
                                                       : CLNET_RUNS_ALONE;
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_tensor_shape(const clnet_graph *g, int32_t t, int32_t *h, int32_t *w, int32_t *c) {
  if (!g || t < 0 || t >= g->n_tensors) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "no tensor %d", t);
  if (h) *h = g->tensors[t].s.h;
  if (w) *w = g->tensors[t].s.w;
  if (c) *c = g->tensors[t].s.c;
  return CLNET_SUCCESS;
}

int32_t clnet_layer_kinds(void) { return clnet_layer_kind_count(); }

clnet_status clnet_layer_kind_describe(int32_t i, clnet_layer_kind_info *info) {
  const clnet_layer_kind *k = clnet_layer_kind_at(i);
  if (!k || !info) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "no layer kind %d", i);
  memset(info, 0, sizeof *info);
  info->name = k->name;
  info->doc = k->doc;
  info->min_inputs = k->min_inputs;
  info->max_inputs = k->max_inputs;
  info->n_attrs = k->n_attrs < 12 ? k->n_attrs : 12;
  for (int32_t a = 0; a < info->n_attrs; ++a) {
    info->attr_name[a] = k->attrs[a].name;
    info->attr_default[a] = k->attrs[a].def;
    info->attr_doc[a] = k->attrs[a].doc;
  }
  return CLNET_SUCCESS;
}

int32_t clnet_graph_classes(const clnet_graph *g) {
  return g->loss_layer >= 0 ? g->tensors[g->layers[g->loss_layer].l.in[0]].s.c : 0;
}

int64_t clnet_graph_param_total(const clnet_graph *g, clnet_param_kind kind) {
  int64_t n = 0;
  for (int32_t i = 0; i < g->n_params; ++i)
    if (g->params[i].kind == kind) n += g->params[i].count;
  return n;
}

double clnet_graph_macs_per_image(const clnet_graph *g) {
  double macs = 0;
  for (int32_t i = 0; i < g->n_layers; ++i) {
    const g_layer *l = &g->layers[i];
    clnet_tshape in[CLNET_MAX_LAYER_INPUTS];
    clnet_graph_layer_shapes(g, l, in);
    macs += l->l.kind->macs(&l->l, in, &g->tensors[l->l.out].s);
  }
  return macs;
}

int32_t clnet_graph_param_count(const clnet_graph *g) { return g->n_params; }

clnet_status clnet_graph_param_info(const clnet_graph *g, int32_t i, clnet_param_info *info) {
  if (i < 0 || i >= g->n_params) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "no parameter %d", i);
  const g_param *p = &g->params[i];
  info->name = p->name;
  info->kind = p->kind;
  info->ndim = p->ndim;
  memcpy(info->shape, p->shape, sizeof info->shape);
  info->count = p->count;
  return CLNET_SUCCESS;
}

int32_t clnet_graph_param_find(const clnet_graph *g, const char *name) {
  for (int32_t i = 0; i < g->n_params; ++i)
    if (!strcmp(g->params[i].name, name)) return i;
  return -1;
}

clnet_status clnet_graph_set_kind_attrs(clnet_graph *g, const char *kind_name, const char *attrs, int32_t *changed) {
  if (changed) *changed = 0;
  if (!g || !kind_name || !attrs)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_graph_set_kind_attrs: NULL argument");
  if (g->ctx) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "setting %s attributes: the graph is already set up", kind_name);
  const clnet_layer_kind *k = clnet_layer_kind_find(kind_name);
  if (!k) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "setting attributes: unknown layer kind '%s'", kind_name);
  /* validate the overrides once against the schema (a layer name for the messages: the kind's) */
  for (const char *p = attrs; *p;) {
    while (*p == ' ') ++p;
    if (!*p) break;
    const char *eq = strchr(p, '='), *sp = strchr(p, ' ');
    if (!eq || (sp && sp < eq))
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s attributes '%s': expected name=value words", kind_name, attrs);
    int found = 0;
    for (int32_t a = 0; a < k->n_attrs; ++a)
      found |= strlen(k->attrs[a].name) == (size_t)(eq - p) && !strncmp(k->attrs[a].name, p, (size_t)(eq - p));
    if (!found)
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s has no attribute '%.*s' (clnet layers lists them)", kind_name,
                             (int)(eq - p), p);
    p = sp ? sp : p + strlen(p);
  }
  int32_t n = 0;
  for (int32_t i = 0; i < g->n_layers; ++i) {
    g_layer *gl = &g->layers[i];
    if (gl->l.kind != k) continue;
    /* the layer's canonical words, each replaced by an override of the same name */
    char merged[1024] = "";
    size_t used = 0;
    for (const char *p = gl->attrs_text; *p;) {
      while (*p == ' ') ++p;
      if (!*p) break;
      const char *sp = strchr(p, ' '), *eq = strchr(p, '=');
      const size_t len = sp ? (size_t)(sp - p) : strlen(p), nlen = (size_t)(eq - p);
      const char *word = p;
      size_t wlen = len;
      for (const char *q = attrs; *q;) {
        while (*q == ' ') ++q;
        if (!*q) break;
        const char *qs = strchr(q, ' ');
        const size_t qlen = qs ? (size_t)(qs - q) : strlen(q);
        if (qlen > nlen && q[nlen] == '=' && !strncmp(q, p, nlen)) word = q, wlen = qlen;
        q += qlen;
      }
      int w = snprintf(merged + used, sizeof merged - used, "%s%.*s", used ? " " : "", (int)wlen, word);
      used += w > 0 ? (size_t)w : 0;
      p += len;
    }
    clnet_layer t = gl->l;
    CLNET_TRY(clnet_attrs_parse(k, t.name, merged, t.attrs));
    clnet_tshape in[CLNET_MAX_LAYER_INPUTS], os = {0, 0, 0};
    clnet_graph_layer_shapes(g, gl, in);
    CLNET_TRY(k->infer(&t, in, &os));
    const clnet_tshape *was = &g->tensors[gl->l.out].s;
    clnet_param_decl pd[CLNET_MAX_LAYER_PARAMS];
    memset(pd, 0, sizeof pd);
    const int32_t np = k->params(&t, in, &os, pd);
    int same = os.h == was->h && os.w == was->w && os.c == was->c && np == gl->n_p;
    for (int32_t j = 0; same && j < np; ++j) {
      const g_param *p = &g->params[gl->p[j]];
      same = pd[j].kind == p->kind && pd[j].ndim == p->ndim;
      for (int32_t d = 0; same && d < p->ndim; ++d) same = pd[j].shape[d] == p->shape[d];
    }
    if (!same)
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                             "layer '%s' (%s): '%s' would change its output or its parameters; build the graph with them",
                             gl->l.name, kind_name, attrs);
    gl->l = t;
    clnet_attrs_format(k, gl->l.attrs, gl->attrs_text, sizeof gl->attrs_text);
    ++n;
  }
  if (changed) *changed = n;
  return CLNET_SUCCESS;
}
