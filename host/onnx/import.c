/* Converting an ONNX model into a clnet graph: the driver. Nodes run in the order model.c found,
 * each through its entry in the op table (import_ops.c), which reads attributes and inputs with the
 * helpers here, adds clnet layers and records starting weights. Values are activations (a clnet
 * tensor and how ONNX sees it: rank, dims, element order) or constants (initializers, folded
 * shape arithmetic). Nodes whose outputs reach no graph output are left out. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/layer_kind.h"
#include "onnx/onnx_internal.h"

struct ox_build {
  clnet_onnx_model *m;
  const clnet_onnx_build_options *opt;
  clnet_graph *g;
  ox_val *v;               /* per value */
  uint8_t *absorbed;       /* per node: done by an earlier node's pattern */
  uint8_t *live;           /* per node: some output reaches a graph output */
  int64_t input_batch;     /* the data input's batch dimension (OX_BATCH unless fixed) */
  int32_t cap_weights;
  char last_layer[96];
};

/* ---- errors ---- */
static clnet_status vfail(ox_node *n, clnet_status st, const char *fmt, va_list ap) {
  char msg[768];
  char op[72];
  snprintf(n->b->m->fail_op, sizeof n->b->m->fail_op, "%s", n->pb->op_type ? clnet_printable(n->pb->op_type, op) : "");
  vsnprintf(msg, sizeof msg, fmt, ap);
  return clnet_set_error(st, "%s: %s: %s", n->b->m->what, n->label, msg);
}

clnet_status ox_fail(ox_node *n, clnet_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  st = vfail(n, st, fmt, ap);
  va_end(ap);
  return st;
}

clnet_status ox_unsupported(ox_node *n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  clnet_status st = vfail(n, CLNET_ERR_UNSUPPORTED, fmt, ap);
  va_end(ap);
  return st;
}

int64_t ox_opset(const ox_node *n) { return n->b->m->opset; }
clnet_onnx_model *ox_model(const ox_node *n) { return n->b->m; }
int64_t ox_input_batch(const ox_node *n) { return n->b->input_batch; }
int32_t ox_have_kind(const char *kind) { return clnet_layer_kind_find(kind) != NULL; }

/* ---- attributes ---- */
static const Onnx__AttributeProto *find_attr(ox_node *n, const char *name, int32_t *index) {
  for (size_t a = 0; a < n->pb->n_attribute; ++a) {
    const Onnx__AttributeProto *at = n->pb->attribute[a];
    if (at->name && !strcmp(at->name, name)) {
      if (index) *index = (int32_t)a;
      return at;
    }
  }
  return NULL;
}

int32_t ox_attr_present(ox_node *n, const char *name) { return find_attr(n, name, NULL) != NULL; }

/* The attribute if present (marked used), checked to be of `type`. */
static clnet_status get_attr(ox_node *n, const char *name, Onnx__AttributeProto__AttributeType type,
                             const Onnx__AttributeProto **out) {
  int32_t idx = -1;
  *out = find_attr(n, name, &idx);
  if (!*out) return CLNET_SUCCESS;
  if (idx < 64) n->attr_used |= 1ull << idx;
  const Onnx__AttributeProto *a = *out;
  if (a->ref_attr_name && *a->ref_attr_name)
    return ox_unsupported(n, "attribute '%s' refers to a function's attribute", name);
  /* files from old exporters leave out the type: infer it from what is set */
  const int32_t t = a->has_type ? (int32_t)a->type
                    : a->n_ints          ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS
                    : a->n_floats        ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS
                    : a->t               ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR
                    : a->has_s           ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING
                    : a->has_f           ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT
                                         : ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
  if (t != (int32_t)type) return ox_fail(n, CLNET_ERR_FORMAT, "attribute '%s' has type %d, expected %d", name, t, type);
  return CLNET_SUCCESS;
}

void ox_attr_ignore(ox_node *n, const char *name) {
  int32_t idx = -1;
  if (find_attr(n, name, &idx) && idx < 64) n->attr_used |= 1ull << idx;
}

clnet_status ox_attr_int(ox_node *n, const char *name, int64_t def, int64_t *v) {
  const Onnx__AttributeProto *a;
  CLNET_TRY(get_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT, &a));
  *v = a ? a->i : def;
  return CLNET_SUCCESS;
}

clnet_status ox_attr_float(ox_node *n, const char *name, double def, double *v) {
  const Onnx__AttributeProto *a;
  CLNET_TRY(get_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT, &a));
  *v = a ? a->f : def;
  return CLNET_SUCCESS;
}

clnet_status ox_attr_ints(ox_node *n, const char *name, int32_t max, int64_t *v, int32_t *count) {
  const Onnx__AttributeProto *a;
  CLNET_TRY(get_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS, &a));
  *count = -1;
  if (!a) return CLNET_SUCCESS;
  if (a->n_ints > (size_t)max) return ox_unsupported(n, "attribute '%s' has %zu values (at most %d)", name, a->n_ints, max);
  for (size_t i = 0; i < a->n_ints; ++i) v[i] = a->ints[i];
  *count = (int32_t)a->n_ints;
  return CLNET_SUCCESS;
}

clnet_status ox_attr_floats(ox_node *n, const char *name, int32_t max, float *v, int32_t *count) {
  const Onnx__AttributeProto *a;
  CLNET_TRY(get_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS, &a));
  *count = -1;
  if (!a) return CLNET_SUCCESS;
  if (a->n_floats > (size_t)max)
    return ox_unsupported(n, "attribute '%s' has %zu values (at most %d)", name, a->n_floats, max);
  for (size_t i = 0; i < a->n_floats; ++i) v[i] = a->floats[i];
  *count = (int32_t)a->n_floats;
  return CLNET_SUCCESS;
}

clnet_status ox_attr_string(ox_node *n, const char *name, const char *def, char *dst, size_t cap) {
  const Onnx__AttributeProto *a;
  CLNET_TRY(get_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING, &a));
  if (!a) {
    snprintf(dst, cap, "%s", def);
    return CLNET_SUCCESS;
  }
  size_t len = a->s.len < cap - 1 ? a->s.len : cap - 1;
  if (len > 0) memcpy(dst, a->s.data, len); /* an empty string's data may be NULL */
  dst[len] = '\0';
  for (size_t i = 0; i < len; ++i)
    if ((unsigned char)dst[i] < 0x20 || dst[i] == 0x7f) dst[i] = '?';
  return CLNET_SUCCESS;
}

clnet_status ox_attr_tensor(ox_node *n, const char *name, const Onnx__TensorProto **t) {
  const Onnx__AttributeProto *a;
  CLNET_TRY(get_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR, &a));
  *t = a ? a->t : NULL;
  if (a && !a->t) return ox_fail(n, CLNET_ERR_FORMAT, "attribute '%s' holds no tensor", name);
  return CLNET_SUCCESS;
}

/* ---- inputs and outputs ---- */
static int32_t in_value(ox_node *n, int32_t j) { return j < n->n_in ? n->in[j] : -1; }

const char *ox_in_name(ox_node *n, int32_t j) {
  const int32_t v = in_value(n, j);
  return v < 0 ? "" : n->b->m->values[v].name;
}

/* An initializer or a given input: decoded at its first use. */
static clnet_status materialise(ox_build *b, int32_t v) {
  ox_val *x = &b->v[v];
  if (x->kind != OX_UNDEF) return CLNET_SUCCESS;
  const ox_value *mv = &b->m->values[v];
  char what[400], pn[72];
  snprintf(what, sizeof what, "%s: initializer '%s'", b->m->what, clnet_printable(mv->name, pn));
  if (mv->init) {
    CLNET_TRY(ox_tensor_decode(mv->init, what, &x->c_));
    x->kind = OX_CONST;
  }
  return CLNET_SUCCESS;
}

ox_val *ox_in(ox_node *n, int32_t j) {
  const int32_t v = in_value(n, j);
  if (v < 0) return NULL;
  if (materialise(n->b, v) != CLNET_SUCCESS) return NULL;
  return &n->b->v[v];
}

clnet_status ox_in_act(ox_node *n, int32_t j, ox_val **out) {
  const int32_t v = in_value(n, j);
  char pn[72];
  if (v < 0) return ox_fail(n, CLNET_ERR_FORMAT, "input %d is missing", j);
  CLNET_TRY(materialise(n->b, v));
  ox_val *x = &n->b->v[v];
  if (x->kind != OX_ACT && n->b->m->values[v].input)
    return ox_unsupported(n, "input %d ('%s') is a second graph input: clnet models take one data input, further "
                          "inputs only as weights", j, clnet_printable(n->b->m->values[v].name, pn));
  if (x->kind != OX_ACT)
    return ox_unsupported(n, "input %d ('%s') is a constant; clnet computes this op on activations only", j,
                          clnet_printable(n->b->m->values[v].name, pn));
  *out = x;
  return CLNET_SUCCESS;
}

clnet_status ox_in_const(ox_node *n, int32_t j, ox_const **out) {
  const int32_t v = in_value(n, j);
  char pn[72];
  if (v < 0) return ox_fail(n, CLNET_ERR_FORMAT, "input %d is missing", j);
  CLNET_TRY(materialise(n->b, v));
  ox_val *x = &n->b->v[v];
  if (x->kind != OX_CONST)
    return ox_unsupported(n, "input %d ('%s') must be a constant (an initializer or computed from them); here it "
                          "depends on the data", j, clnet_printable(n->b->m->values[v].name, pn));
  *out = &x->c_;
  return CLNET_SUCCESS;
}

int32_t ox_out_used(ox_node *n, int32_t j) {
  if (j >= n->n_out || n->out[j] < 0) return 0;
  const ox_value *mv = &n->b->m->values[n->out[j]];
  return mv->n_consumers > 0 || mv->graph_output;
}

clnet_status ox_out_unused(ox_node *n, int32_t j, const char *what) {
  char pn[72];
  if (ox_out_used(n, j))
    return ox_unsupported(n, "output %d ('%s', %s) is used; clnet does not compute it", j,
                          clnet_printable(n->b->m->values[n->out[j]].name, pn), what);
  return CLNET_SUCCESS;
}

int32_t ox_out_readers(ox_node *n, int32_t j) {
  if (j >= n->n_out || n->out[j] < 0) return 0;
  const clnet_onnx_model *m = n->b->m;
  return m->consumer_at[n->out[j] + 1] - m->consumer_at[n->out[j]];
}

int32_t ox_out_reader(ox_node *n, int32_t j, int32_t i) {
  const clnet_onnx_model *m = n->b->m;
  return m->consumers[m->consumer_at[n->out[j]] + i];
}

void ox_absorb(ox_node *n, int32_t k) { n->b->absorbed[k] = 1; }

ox_val *ox_node_input(ox_node *n, int32_t k, int32_t j) {
  const clnet_onnx_model *m = n->b->m;
  const int32_t at = m->node_in_at[k] + j;
  if (j < 0 || at >= m->node_in_at[k + 1] || m->in_idx[at] < 0) return NULL;
  if (materialise(n->b, m->in_idx[at]) != CLNET_SUCCESS) return NULL;
  return &n->b->v[m->in_idx[at]];
}

int32_t ox_node_usable(ox_node *n, int32_t k) { return n->b->live[k] && !n->b->absorbed[k]; }

void ox_training_node(ox_node *n) { n->b->m->training_nodes++; }
void ox_random_node(ox_node *n) { n->b->m->random_nodes++; }

int32_t ox_with_loss(const ox_node *n) { return n->b->opt->with_loss; }

ox_val *ox_out(ox_node *n, int32_t j) { return j < n->n_out && n->out[j] >= 0 ? &n->b->v[n->out[j]] : NULL; }

void ox_set_act(ox_node *n, int32_t j, int32_t t, int32_t rank, const int64_t *dims, int32_t chw) {
  ox_val *x = ox_out(n, j);
  if (!x) return;
  ox_const_free(&x->c_);
  memset(x, 0, sizeof *x);
  x->kind = OX_ACT;
  x->t = t;
  clnet_graph_tensor_shape(n->b->g, t, &x->h, &x->w, &x->c);
  x->rank = rank;
  for (int32_t i = 0; i < rank && i < OX_MAX_RANK; ++i) x->dims[i] = dims[i];
  x->dims[0] = OX_BATCH;
  x->chw = chw;
}

static void set_alias_value(ox_val *x, const ox_val *src) {
  if (!x || x == src) return;
  ox_const_free(&x->c_);
  *x = *src;
  memset(&x->c_, 0, sizeof x->c_);
  if (src->kind == OX_CONST && ox_const_copy(&src->c_, &x->c_) != CLNET_SUCCESS) x->kind = OX_UNDEF;
}

void ox_set_alias(ox_node *n, int32_t j, const ox_val *src) { set_alias_value(ox_out(n, j), src); }

void ox_set_alias_of(ox_node *n, int32_t k, int32_t j, const ox_val *src) {
  const clnet_onnx_model *m = n->b->m;
  const int32_t o = m->node_out_at[k] + j;
  if (o >= m->node_out_at[k + 1] || m->out_idx[o] < 0) return;
  set_alias_value(&n->b->v[m->out_idx[o]], src);
}

void ox_set_stat(ox_node *n, int32_t j, const char *param, int64_t count) {
  ox_val *x = ox_out(n, j);
  if (!x) return;
  ox_const_free(&x->c_);
  memset(x, 0, sizeof *x);
  x->kind = OX_STAT;
  x->rank = 1;
  x->dims[0] = count;
  snprintf(x->param, sizeof x->param, "%s", param);
}

void ox_set_const(ox_node *n, int32_t j, ox_const *c) {
  ox_val *x = ox_out(n, j);
  if (!x) {
    ox_const_free(c);
    return;
  }
  ox_const_free(&x->c_);
  memset(x, 0, sizeof *x);
  x->kind = OX_CONST;
  x->c_ = *c;
  memset(c, 0, sizeof *c);
}

clnet_status ox_need_image(ox_node *n, int32_t j, const ox_val *v, int32_t *rank) {
  char pn[72];
  const char *name = clnet_printable(ox_in_name(n, j), pn);
  const int32_t ph = v->pend[0] + v->pend[2], pw = v->pend[1] + v->pend[3];
  if (v->rank == 4 && v->dims[1] == v->c && v->dims[2] == v->h + ph && v->dims[3] == v->w + pw &&
      (v->chw || (int64_t)v->h * v->w == 1 || v->c == 1)) {
    *rank = 4;
    return CLNET_SUCCESS;
  }
  if (v->rank == 3 && v->h == 1 && !ph && v->dims[1] == v->c && v->dims[2] == v->w + pw &&
      (v->chw || v->w == 1 || v->c == 1)) {
    *rank = 3;
    return CLNET_SUCCESS;
  }
  char dims[128] = "N";
  for (int32_t i = 1; i < v->rank && i < OX_MAX_RANK; ++i) {
    size_t u = strlen(dims);
    snprintf(dims + u, sizeof dims - u, ", %lld", (long long)v->dims[i]);
  }
  return ox_unsupported(n, "input %d ('%s') is a (%s) tensor%s; this op needs an image tensor (N, C, H, W) or (N, C, L)",
                        j, name, dims, v->rank == 4 || v->rank == 3 ? " whose layout clnet cannot see as channels" : "");
}

/* ---- layers and weights ---- */
static int layer_exists(clnet_graph *g, const char *name) {
  const int32_t L = clnet_graph_layer_count(g);
  for (int32_t i = 0; i < L; ++i) {
    clnet_layer_info li;
    if (clnet_graph_layer_info(g, i, &li) == CLNET_SUCCESS && !strcmp(li.name, name)) return 1;
  }
  return 0;
}

/* The node's layer name: the prefix of its weight ("layer1.0.conv1" of "layer1.0.conv1.weight"),
 * else its name without a leading '/', else "<op>_<index>"; printable, at most 80 characters. */
static void base_name(ox_node *n, char *dst, size_t cap) {
  const clnet_onnx_model *m = n->b->m;
  const char *src = NULL;
  size_t len = 0;
  for (int32_t j = 1; j < n->n_in && !src; ++j) {
    const int32_t v = n->in[j];
    if (v < 0 || !m->values[v].init) continue;
    const char *s = m->values[v].name;
    const size_t l = strlen(s);
    if (l > 7 && !strcmp(s + l - 7, ".weight")) {
      src = s;
      len = l - 7;
    }
  }
  if (!src && n->pb->name && *n->pb->name) {
    src = n->pb->name;
    while (*src == '/') ++src;
    len = strlen(src);
  }
  char tmp[96];
  if (!src || !len) {
    snprintf(tmp, sizeof tmp, "%s_%d", n->pb->op_type ? n->pb->op_type : "node", n->k);
    src = tmp;
    len = strlen(tmp);
  }
  if (len > 80) len = 80;
  if (len > cap - 1) len = cap - 1;
  for (size_t i = 0; i < len; ++i) {
    const unsigned char c = (unsigned char)src[i];
    dst[i] = (c < 0x21 || c > 0x7e || c == '"' || c == '\\') ? '_' : (char)c;
  }
  dst[len] = '\0';
}

static void unique_name(ox_node *n, const char *base, char *dst, size_t cap) {
  snprintf(dst, cap, "%s", base);
  for (int32_t i = 2; layer_exists(n->b->g, dst); ++i) snprintf(dst, cap, "%.80s_%d", base, i); /* fits: no loop */
}

const char *ox_last_layer(ox_node *n) { return n->b->last_layer; }

clnet_status ox_emit(ox_node *n, const char *kind, const int32_t *in, int32_t n_in, int32_t *out, const char *fmt,
                     ...) {
  if (!ox_have_kind(kind))
    return ox_unsupported(n, "needs clnet's layer kind '%s', which this build does not have", kind);
  char attrs[512];
  va_list ap;
  va_start(ap, fmt);
  if (fmt) vsnprintf(attrs, sizeof attrs, fmt, ap);
  else attrs[0] = '\0';
  va_end(ap);
  char base[96], name[96];
  if (!n->layer[0]) {
    base_name(n, base, sizeof base);
    unique_name(n, base, n->layer, sizeof n->layer);
  }
  if (n->n_layers == 0) snprintf(name, sizeof name, "%s", n->layer);
  else {
    snprintf(base, sizeof base, "%.80s_%d", n->layer, n->n_layers + 1);
    unique_name(n, base, name, sizeof name);
  }
  clnet_status st = clnet_graph_add_layer(n->b->g, kind, name, in, n_in, attrs, out);
  if (st != CLNET_SUCCESS) {
    char msg[600];
    snprintf(msg, sizeof msg, "%s", clnet_last_error());
    return ox_fail(n, st == CLNET_ERR_INVALID_ARGUMENT ? CLNET_ERR_UNSUPPORTED : st, "as clnet's %s [%s]: %s", kind,
                   attrs, msg);
  }
  n->n_layers++;
  snprintf(n->b->last_layer, sizeof n->b->last_layer, "%s", name);
  return CLNET_SUCCESS;
}

clnet_status ox_weight_add(ox_node *n, const char *layer, const char *suffix, float *data, int64_t count) {
  clnet_onnx_model *m = n->b->m;
  if (m->n_weights == n->b->cap_weights) {
    const int32_t cap = n->b->cap_weights ? 2 * n->b->cap_weights : 64;
    ox_weight *w = realloc(m->weights, (size_t)cap * sizeof *w);
    if (!w) {
      free(data);
      return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "importing weights");
    }
    m->weights = w;
    n->b->cap_weights = cap;
  }
  ox_weight *w = &m->weights[m->n_weights++];
  snprintf(w->name, sizeof w->name, "%s.%s", layer, suffix);
  w->data = data;
  w->count = count;
  return CLNET_SUCCESS;
}

/* ---- the driver ---- */
static void build_free(ox_build *b) {
  if (b->v)
    for (int32_t i = 0; i < b->m->n_values; ++i) ox_const_free(&b->v[i].c_);
  free(b->v);
  free(b->absorbed);
  free(b->live);
}

/* Nodes some graph output depends on. */
static void mark_live(ox_build *b) {
  clnet_onnx_model *m = b->m;
  uint8_t *lv = calloc((size_t)m->n_values + 1, 1);
  if (!lv) { /* then every node counts as live */
    memset(b->live, 1, (size_t)m->n_nodes);
    return;
  }
  for (int32_t v = 0; v < m->n_values; ++v) lv[v] = (uint8_t)m->values[v].graph_output;
  for (int32_t i = m->n_nodes - 1; i >= 0; --i) {
    const int32_t k = m->order[i];
    int live = 0;
    for (int32_t o = m->node_out_at[k]; o < m->node_out_at[k + 1]; ++o) live |= m->out_idx[o] >= 0 && lv[m->out_idx[o]];
    b->live[k] = (uint8_t)live;
    if (!live) continue;
    for (int32_t j = m->node_in_at[k]; j < m->node_in_at[k + 1]; ++j)
      if (m->in_idx[j] >= 0) lv[m->in_idx[j]] = 1;
  }
  free(lv);
}

/* A graph input's tensor type and dims (0 for an open one). */
static clnet_status input_type(ox_build *b, const Onnx__ValueInfoProto *in, int32_t *rank, int64_t *dims) {
  char pn[72];
  const char *name = clnet_printable(in->name, pn);
  const Onnx__TypeProto *tp = in->type;
  if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
    return clnet_set_error(CLNET_ERR_UNSUPPORTED, "%s: graph input '%s' is not a tensor", b->m->what, name);
  const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
  if (tt->has_elem_type && tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
    return clnet_set_error(CLNET_ERR_UNSUPPORTED, "%s: graph input '%s' is %s; clnet's input is float", b->m->what, name,
                           ox_dtype_name(tt->elem_type));
  if (!tt->shape)
    return clnet_set_error(CLNET_ERR_UNSUPPORTED, "%s: graph input '%s' has no shape", b->m->what, name);
  if (tt->shape->n_dim < 1 || tt->shape->n_dim > OX_MAX_RANK)
    return clnet_set_error(CLNET_ERR_UNSUPPORTED, "%s: graph input '%s' has rank %zu; clnet takes ranks 1 to %d (the "
                           "first dimension the batch)", b->m->what, name, tt->shape->n_dim, OX_MAX_RANK);
  *rank = (int32_t)tt->shape->n_dim;
  for (int32_t i = 0; i < *rank; ++i) {
    const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
    dims[i] = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ? d->dim_value : 0;
    if (dims[i] < 0 || dims[i] > (1 << 24))
      return clnet_set_error(CLNET_ERR_UNSUPPORTED, "%s: graph input '%s': dimension %d is %lld", b->m->what, name, i,
                             (long long)dims[i]);
  }
  return CLNET_SUCCESS;
}

/* The data input: its clnet image shape (H, W, C) and how ONNX sees it. */
static clnet_status data_input(ox_build *b, int32_t *h, int32_t *w, int32_t *c, ox_val *x) {
  clnet_onnx_model *m = b->m;
  const Onnx__ValueInfoProto *in = m->values[m->data_input].input;
  int32_t rank = 0;
  int64_t d[OX_MAX_RANK];
  CLNET_TRY(input_type(b, in, &rank, d));
  char pn[72];
  const char *name = clnet_printable(in->name, pn);
  b->input_batch = d[0] > 0 ? d[0] : OX_BATCH;
  memset(x, 0, sizeof *x);
  x->kind = OX_ACT;
  x->t = 0;
  x->rank = rank;
  /* (C, H, W) positions in d for the image ranks */
  int64_t want[3] = {b->opt->in_c, b->opt->in_h, b->opt->in_w};
  int32_t pos[3] = {-1, -1, -1}; /* dims index of C, H, W (-1: 1) */
  if (rank == 4) {
    if (m->nhwc_input) pos[0] = 3, pos[1] = 1, pos[2] = 2;
    else pos[0] = 1, pos[1] = 2, pos[2] = 3;
    x->chw = !m->nhwc_input;
  } else if (rank == 3) {
    pos[0] = 1, pos[2] = 2;
    x->chw = 1;
  } else if (rank == 2) {
    pos[0] = 1;
  }
  static const char *const what[3] = {"channels", "height", "width"};
  int64_t s[3] = {1, 1, 1};
  for (int i = 0; i < 3; ++i) {
    if (pos[i] < 0) {
      if (want[i] > 1 && rank <= 4)
        return clnet_set_error(CLNET_ERR_MISMATCH, "%s: graph input '%s' has rank %d: no %s of %lld", m->what, name,
                               rank, what[i], (long long)want[i]);
      continue;
    }
    const int64_t have = d[pos[i]];
    if (have && want[i] && have != want[i])
      return clnet_set_error(CLNET_ERR_MISMATCH, "%s: graph input '%s' has %lld %s, the data %lld", m->what, name,
                             (long long)have, what[i], (long long)want[i]);
    s[i] = have ? have : want[i];
    if (!s[i])
      return clnet_set_error(CLNET_ERR_UNSUPPORTED, "%s: graph input '%s' leaves its %s open; give the image size",
                             m->what, name, what[i]);
    d[pos[i]] = s[i];
  }
  if (rank > 4) { /* elementwise use only: one flat vector per sample */
    int64_t p = 1;
    for (int32_t i = 1; i < rank; ++i) {
      if (!d[i])
        return clnet_set_error(CLNET_ERR_UNSUPPORTED, "%s: graph input '%s' leaves dimension %d open", m->what, name, i);
      p *= d[i];
    }
    s[0] = p;
  }
  if (s[0] * s[1] * s[2] > (1 << 28))
    return clnet_set_error(CLNET_ERR_TOO_LARGE, "%s: graph input '%s': %lld values per sample", m->what, name,
                           (long long)(s[0] * s[1] * s[2]));
  *c = (int32_t)s[0];
  *h = (int32_t)s[1];
  *w = (int32_t)s[2];
  for (int32_t i = 0; i < rank; ++i) x->dims[i] = d[i];
  x->dims[0] = OX_BATCH;
  x->h = *h, x->w = *w, x->c = *c;
  return CLNET_SUCCESS;
}

static clnet_status given_inputs(ox_build *b) {
  clnet_onnx_model *m = b->m;
  const Onnx__GraphProto *gp = m->pb->graph;
  for (size_t i = 0; i < gp->n_input; ++i) {
    const int32_t v = ox_value_find(m, gp->input[i]->name);
    if (v < 0 || v == m->data_input || m->values[v].input != gp->input[i]) continue;
    int found = -1;
    for (int32_t k = 0; k < b->opt->n_given && found < 0; ++k)
      if (b->opt->given_names[k] && !strcmp(b->opt->given_names[k], m->values[v].name)) found = k;
    char pn[72], pd[72];
    const char *name = clnet_printable(m->values[v].name, pn);
    if (found < 0) {
      if (!m->values[v].n_consumers) continue;
      return clnet_set_error(CLNET_ERR_UNSUPPORTED, "%s: graph input '%s': clnet models take one input (the images, "
                             "here '%s'); make '%s' an initializer", m->what, name,
                             clnet_printable(m->values[m->data_input].name, pd), name);
    }
    Onnx__TensorProto *t = onnx__tensor_proto__unpack(NULL, b->opt->given_size[found], b->opt->given_data[found]);
    if (!t) return clnet_set_error(CLNET_ERR_FORMAT, "%s: the value given for input '%s' is not a TensorProto", m->what, name);
    char what[400];
    snprintf(what, sizeof what, "%s: input '%s'", m->what, name);
    clnet_status st = ox_tensor_decode(t, what, &b->v[v].c_);
    onnx__tensor_proto__free_unpacked(t, NULL);
    CLNET_TRY(st);
    b->v[v].kind = OX_CONST;
  }
  return CLNET_SUCCESS;
}

static clnet_status run_node(ox_build *b, int32_t k) {
  clnet_onnx_model *m = b->m;
  ox_node n;
  memset(&n, 0, sizeof n);
  n.b = b;
  n.k = k;
  n.pb = ox_node_pb(m, k);
  n.in = m->in_idx + m->node_in_at[k];
  n.n_in = m->node_in_at[k + 1] - m->node_in_at[k];
  n.out = m->out_idx + m->node_out_at[k];
  n.n_out = m->node_out_at[k + 1] - m->node_out_at[k];
  ox_node_label(m, k, n.label, sizeof n.label);
  char pd[72];
  if (n.pb->domain && *n.pb->domain && strcmp(n.pb->domain, "ai.onnx"))
    return ox_unsupported(&n, "domain '%s': clnet reads ai.onnx ops only", clnet_printable(n.pb->domain, pd));
  const ox_op *op = n.pb->op_type ? ox_op_find(n.pb->op_type) : NULL;
  if (!op) return ox_unsupported(&n, "op type not supported by clnet (docs/ONNX.md lists those that are)");
  if (n.pb->n_attribute > 64) return ox_unsupported(&n, "%zu attributes", n.pb->n_attribute);
  for (size_t a = 0; a < n.pb->n_attribute; ++a)
    for (size_t a2 = 0; a2 < a; ++a2)
      if (n.pb->attribute[a]->name && n.pb->attribute[a2]->name &&
          !strcmp(n.pb->attribute[a]->name, n.pb->attribute[a2]->name))
        return ox_fail(&n, CLNET_ERR_FORMAT, "attribute '%s' is given twice",
                       clnet_printable(n.pb->attribute[a]->name, pd));
  for (int32_t j = 0; j < n.n_in; ++j) {
    if (n.in[j] < 0) continue;
    CLNET_TRY(materialise(b, n.in[j]));
    const ox_val *pv = &b->v[n.in[j]];
    if (pv->kind == OX_ACT && (pv->pend[0] | pv->pend[1] | pv->pend[2] | pv->pend[3]) && (j || strcmp(op->op_type, "Conv")))
      return ox_unsupported(&n, "input %d is a zero-padded tensor, which clnet folds only into a Conv", j);
    if (b->v[n.in[j]].kind == OX_STAT && strcmp(op->op_type, "Identity"))
      return ox_unsupported(&n, "input %d is a batch-norm statistic of training mode, which clnet computes on "
                            "nothing further", j);
  }
  clnet_status st = op->map(&n, op);
  if (st != CLNET_SUCCESS) { /* every message names the model and the node */
    if (strncmp(clnet_last_error(), m->what, strlen(m->what))) st = clnet_wrap_error(st, "%s: %s", m->what, n.label);
    return st;
  }
  for (size_t a = 0; a < n.pb->n_attribute; ++a)
    if (!(n.attr_used & (1ull << a))) {
      char pn[72];
      return ox_unsupported(&n, "attribute '%s' is not supported",
                            clnet_printable(n.pb->attribute[a]->name ? n.pb->attribute[a]->name : "", pn));
    }
  for (int32_t j = 0; j < n.n_out; ++j)
    if (n.out[j] >= 0 && ox_out_used(&n, j) && b->v[n.out[j]].kind == OX_UNDEF)
      return ox_unsupported(&n, "output %d is not computed", j);
  return CLNET_SUCCESS;
}

static void fill_info(const ox_build *b, int32_t v, clnet_onnx_value_info *info) {
  const ox_val *x = &b->v[v];
  memset(info, 0, sizeof *info);
  snprintf(info->name, sizeof info->name, "%s", b->m->values[v].name);
  if (x->kind == OX_ACT) {
    info->tensor = x->t;
    info->rank = x->rank;
    for (int32_t i = 0; i < x->rank; ++i) info->dims[i] = x->dims[i];
    info->dims[0] = -1;
    info->chw = x->chw;
  } else if (x->kind == OX_STAT) {
    info->tensor = -2;
    info->rank = 1;
    info->dims[0] = x->dims[0];
    snprintf(info->param, sizeof info->param, "%s", x->param);
  } else {
    info->tensor = -1;
    info->rank = x->c_.rank;
    for (int32_t i = 0; i < x->c_.rank; ++i) info->dims[i] = x->c_.dims[i];
  }
}

clnet_status clnet_onnx_build(clnet_onnx_model *m, const clnet_onnx_build_options *opt, clnet_graph **out) {
  if (!m || !out) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_onnx_build: NULL argument");
  *out = NULL;
  clnet_onnx_build_options none = {0};
  if (!opt) opt = &none;
  ox_weights_clear(m);
  m->training_nodes = m->random_nodes = 0;
  m->fail_op[0] = '\0';
  ox_build b = {.m = m, .opt = opt};
  clnet_status st = CLNET_SUCCESS;
  b.v = calloc((size_t)m->n_values + 1, sizeof *b.v);
  b.absorbed = calloc((size_t)m->n_nodes + 1, 1);
  b.live = calloc((size_t)m->n_nodes + 1, 1);
  if (!b.v || !b.absorbed || !b.live) {
    build_free(&b);
    return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: converting", m->what);
  }
  if (m->data_input < 0) {
    build_free(&b);
    return clnet_set_error(CLNET_ERR_UNSUPPORTED, "%s: the graph has no data input (every input is an initializer)",
                           m->what);
  }
  mark_live(&b);
  int32_t h = 0, w = 0, c = 0;
  ox_val x0;
  CLNET_TRY_GOTO(data_input(&b, &h, &w, &c, &x0), st, fail);
  CLNET_TRY_GOTO(given_inputs(&b), st, fail);
  CLNET_TRY_GOTO(clnet_graph_create(h, w, c, &b.g), st, fail);
  b.v[m->data_input] = x0;
  for (int32_t i = 0; i < m->n_nodes; ++i) {
    const int32_t k = m->order[i];
    if (!b.live[k] || b.absorbed[k]) continue;
    CLNET_TRY_GOTO(run_node(&b, k), st, fail);
  }
  /* the outputs */
  const Onnx__GraphProto *gp = m->pb->graph;
  m->n_outputs = (int32_t)gp->n_output;
  m->outputs = calloc(gp->n_output, sizeof *m->outputs);
  m->output_consts = calloc(gp->n_output, sizeof *m->output_consts);
  if (!m->outputs || !m->output_consts) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: outputs", m->what);
    goto fail;
  }
  for (size_t i = 0; i < gp->n_output; ++i) {
    const int32_t v = ox_value_find(m, gp->output[i]->name);
    char pn[72];
    if (v < 0 || b.v[v].kind == OX_UNDEF) {
      st = clnet_set_error(CLNET_ERR_UNSUPPORTED, "%s: graph output '%s' is not computed", m->what,
                           clnet_printable(gp->output[i]->name, pn));
      goto fail;
    }
    fill_info(&b, v, &m->outputs[i]);
    if (b.v[v].kind == OX_CONST) CLNET_TRY_GOTO(ox_const_copy(&b.v[v].c_, &m->output_consts[i]), st, fail);
  }
  fill_info(&b, m->data_input, &m->input_info);
  if (opt->with_loss) {
    const ox_val *y = NULL;
    const int32_t v = ox_value_find(m, gp->output[0]->name);
    y = &b.v[v];
    char pn[72];
    const char *name = clnet_printable(gp->output[0]->name, pn);
    if (gp->n_output != 1) {
      st = clnet_set_error(CLNET_ERR_UNSUPPORTED, "%s: %zu graph outputs; clnet trains a model with one (the logits)",
                           m->what, gp->n_output);
      goto fail;
    }
    if (y->kind != OX_ACT || y->t == 0 || y->h != 1 || y->w != 1 || y->c < 2 ||
        !(y->rank == 2 || (y->rank == 4 && y->dims[2] == 1 && y->dims[3] == 1))) {
      st = clnet_set_error(CLNET_ERR_UNSUPPORTED, "%s: graph output '%s' must be (N, K) logits computed from the "
                           "input, K >= 2", m->what, name);
      goto fail;
    }
    if (opt->classes && y->c != opt->classes) {
      st = clnet_set_error(CLNET_ERR_MISMATCH, "%s: the model outputs %d classes ('%s'), the data has %d", m->what, y->c,
                           name, opt->classes);
      goto fail;
    }
    /* the loss layer, named "loss" unless a node took that name */
    char lname[96] = "loss";
    for (int32_t i = 2; layer_exists(b.g, lname); ++i) snprintf(lname, sizeof lname, "loss_%d", i);
    int32_t lt;
    CLNET_TRY_GOTO(clnet_graph_add_layer(b.g, "softmax_cross_entropy", lname, &y->t, 1, "", &lt), st, fail);
  }
  *out = b.g;
  b.g = NULL;
  build_free(&b);
  return CLNET_SUCCESS;
fail:
  if (!strstr(clnet_last_error(), m->what)) st = clnet_wrap_error(st, "%s", m->what);
  /* the graph builder refusing what the model asks for: clnet cannot run that model */
  if (st == CLNET_ERR_INVALID_ARGUMENT) st = CLNET_ERR_UNSUPPORTED;
  clnet_graph_free(b.g);
  build_free(&b);
  ox_weights_clear(m);
  return st;
}

clnet_status clnet_onnx_load_weights(const clnet_onnx_model *m, clnet_graph *g) {
  if (!m || !g) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_onnx_load_weights: NULL argument");
  for (int32_t i = 0; i < m->n_weights; ++i) {
    const ox_weight *w = &m->weights[i];
    const int32_t p = clnet_graph_param_find(g, w->name);
    if (p < 0)
      return clnet_set_error(CLNET_ERR_MISMATCH, "%s: the graph has no parameter '%s' (built from another model?)",
                             m->what, w->name);
    clnet_param_info pi;
    CLNET_TRY(clnet_graph_param_info(g, p, &pi));
    if (pi.count != w->count)
      return clnet_set_error(CLNET_ERR_MISMATCH, "%s: parameter '%s' has %lld values, the model's initializer %lld",
                             m->what, w->name, (long long)pi.count, (long long)w->count);
    CLNET_TRY(clnet_graph_param_write(g, p, CLNET_FIELD_VALUE, w->data));
  }
  return CLNET_SUCCESS;
}

int32_t clnet_onnx_output_count(const clnet_onnx_model *m) { return m ? m->n_outputs : 0; }

clnet_status clnet_onnx_output_info(const clnet_onnx_model *m, int32_t i, clnet_onnx_value_info *info) {
  if (!m || !info || i < 0 || i >= m->n_outputs)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_onnx_output_info: no output %d (build first)", i);
  *info = m->outputs[i];
  return CLNET_SUCCESS;
}

clnet_status clnet_onnx_input_info(const clnet_onnx_model *m, clnet_onnx_value_info *info) {
  if (!m || !info || !m->n_outputs)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_onnx_input_info: build first");
  *info = m->input_info;
  return CLNET_SUCCESS;
}

void clnet_onnx_to_clnet(const clnet_onnx_value_info *v, int32_t h, int32_t w, int32_t c, int32_t n,
                         const float *onnx, float *clnet) {
  const int64_t per = (int64_t)h * w * c;
  for (int32_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < per; ++k) clnet[i * per + ox_clnet_index(v->chw, h, w, c, k)] = onnx[i * per + k];
}

void clnet_onnx_from_clnet(const clnet_onnx_value_info *v, int32_t h, int32_t w, int32_t c, int32_t n,
                           const float *clnet, float *onnx) {
  const int64_t per = (int64_t)h * w * c;
  for (int32_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < per; ++k) onnx[i * per + k] = clnet[i * per + ox_clnet_index(v->chw, h, w, c, k)];
}
