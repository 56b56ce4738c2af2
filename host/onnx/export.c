/* A set-up clnet graph as an ONNX model (inference form): one entry per layer kind in the table at
 * the end. Tensors are NCHW on the ONNX side ("input" is (N, C, H, W), N dynamic); weights are read
 * from the device and written as initializers in ONNX's layouts (OIHW convolutions, Gemm with
 * transB = 1 and its columns in the (C, H, W) order ONNX flattens in); BN becomes
 * BatchNormalization in inference form with its moving statistics; the loss layer is left out, so
 * the model ends in the logits. The messages are protobuf-c's structs from onnx.pb-c.h, packed. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_internal.h"
#include "io/atomic_file.h"

#define EX_DEFAULT_OPSET 17

typedef struct ex_val {
  char *name;  /* the ONNX value */
  int32_t rank; /* 4: (N, C, H, W); 2: (N, K) */
} ex_val;

typedef struct ex {
  clnet_graph *g;
  int64_t opset;
  void **allocs; /* everything the messages point to */
  size_t n_allocs, cap_allocs;
  Onnx__NodeProto **nodes;
  size_t n_nodes, cap_nodes;
  Onnx__TensorProto **inits;
  size_t n_inits, cap_inits;
  ex_val *vals; /* per clnet tensor */
  int32_t n_tensors;
  int32_t serial; /* for fresh value names */
  clnet_status st;
} ex;

/* ---- memory: every allocation is freed with the exporter ---- */
static void *ex_alloc(ex *e, size_t bytes) {
  if (e->st != CLNET_SUCCESS) return NULL;
  void *p = calloc(1, bytes ? bytes : 1);
  if (p && e->n_allocs == e->cap_allocs) {
    const size_t cap = e->cap_allocs ? 2 * e->cap_allocs : 256;
    void **na = realloc(e->allocs, cap * sizeof *na);
    if (!na) {
      free(p);
      p = NULL;
    } else {
      e->allocs = na;
      e->cap_allocs = cap;
    }
  }
  if (!p) {
    e->st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "ONNX export");
    return NULL;
  }
  e->allocs[e->n_allocs++] = p;
  return p;
}

static char *ex_str(ex *e, const char *fmt, ...) CLNET_PRINTF(2, 3);
static char *ex_str(ex *e, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  char *s = ex_alloc(e, strlen(buf) + 1);
  if (s) memcpy(s, buf, strlen(buf) + 1);
  return s;
}

static int ex_push(ex *e, void ***arr, size_t *n, size_t *cap, void *item) {
  if (!item || e->st != CLNET_SUCCESS) return 0;
  if (*n == *cap) {
    const size_t c = *cap ? 2 * *cap : 64;
    void **na = realloc(*arr, c * sizeof *na);
    if (!na) {
      e->st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "ONNX export");
      return 0;
    }
    *arr = na;
    *cap = c;
  }
  (*arr)[(*n)++] = item;
  return 1;
}

/* ---- initializers ---- */
static char *ex_tensor(ex *e, const char *name, int32_t type, const int64_t *dims, int32_t rank, const void *data,
                       size_t elem) {
  Onnx__TensorProto *t = ex_alloc(e, sizeof *t);
  if (!t) return NULL;
  onnx__tensor_proto__init(t);
  t->name = ex_str(e, "%s", name);
  t->has_data_type = 1;
  t->data_type = type;
  t->n_dims = (size_t)rank;
  t->dims = ex_alloc(e, (size_t)(rank ? rank : 1) * sizeof *t->dims);
  int64_t count = 1;
  for (int32_t i = 0; t->dims && i < rank; ++i) {
    t->dims[i] = dims[i];
    count *= dims[i];
  }
  t->has_raw_data = 1;
  t->raw_data.len = (size_t)count * elem;
  t->raw_data.data = ex_alloc(e, t->raw_data.len);
  if (t->raw_data.data) memcpy(t->raw_data.data, data, t->raw_data.len);
  if (!ex_push(e, (void ***)&e->inits, &e->n_inits, &e->cap_inits, t)) return NULL;
  return t->name;
}

static char *ex_floats(ex *e, const char *name, const int64_t *dims, int32_t rank, const float *data) {
  return ex_tensor(e, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, dims, rank, data, sizeof(float));
}

static char *ex_ints(ex *e, const char *name, const int64_t *v, int64_t n) {
  return ex_tensor(e, name, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, &n, 1, v, sizeof(int64_t));
}

static char *ex_scalar(ex *e, const char *name, float v) {
  return ex_tensor(e, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, NULL, 0, &v, sizeof v);
}

/* A parameter's values from the device (NULL if the graph has none of that name). */
static float *ex_param(ex *e, const char *layer, const char *suffix, int64_t *count) {
  char name[200];
  snprintf(name, sizeof name, "%s.%s", layer, suffix);
  const int32_t p = clnet_graph_param_find(e->g, name);
  if (p < 0 || e->st != CLNET_SUCCESS) return NULL;
  clnet_param_info pi;
  if ((e->st = clnet_graph_param_info(e->g, p, &pi)) != CLNET_SUCCESS) return NULL;
  float *v = ex_alloc(e, (size_t)pi.count * sizeof *v);
  if (!v) return NULL;
  if ((e->st = clnet_graph_param_read(e->g, p, CLNET_FIELD_VALUE, v)) != CLNET_SUCCESS) return NULL;
  *count = pi.count;
  return v;
}

/* ---- nodes ---- */
static Onnx__NodeProto *ex_node(ex *e, const char *op, const char *name, const char *const *in, int32_t n_in,
                                const char *out) {
  Onnx__NodeProto *n = ex_alloc(e, sizeof *n);
  if (!n) return NULL;
  onnx__node_proto__init(n);
  n->op_type = ex_str(e, "%s", op);
  n->name = ex_str(e, "%s", name);
  n->domain = ex_str(e, "%s", "");
  n->n_input = (size_t)n_in;
  n->input = ex_alloc(e, (size_t)(n_in ? n_in : 1) * sizeof *n->input);
  for (int32_t i = 0; n->input && i < n_in; ++i) n->input[i] = ex_str(e, "%s", in[i] ? in[i] : "");
  n->n_output = 1;
  n->output = ex_alloc(e, sizeof *n->output);
  if (n->output) n->output[0] = ex_str(e, "%s", out);
  n->attribute = ex_alloc(e, 8 * sizeof *n->attribute);
  if (!ex_push(e, (void ***)&e->nodes, &e->n_nodes, &e->cap_nodes, n)) return NULL;
  return n;
}

static Onnx__AttributeProto *ex_attr(ex *e, Onnx__NodeProto *n, const char *name) {
  if (!n || n->n_attribute >= 8) return NULL;
  Onnx__AttributeProto *a = ex_alloc(e, sizeof *a);
  if (!a) return NULL;
  onnx__attribute_proto__init(a);
  a->name = ex_str(e, "%s", name);
  a->has_type = 1;
  n->attribute[n->n_attribute++] = a;
  return a;
}

static void ex_attr_int(ex *e, Onnx__NodeProto *n, const char *name, int64_t v) {
  Onnx__AttributeProto *a = ex_attr(e, n, name);
  if (!a) return;
  a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
  a->has_i = 1;
  a->i = v;
}

static void ex_attr_float(ex *e, Onnx__NodeProto *n, const char *name, double v) {
  Onnx__AttributeProto *a = ex_attr(e, n, name);
  if (!a) return;
  a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
  a->has_f = 1;
  a->f = (float)v;
}

static void ex_attr_ints(ex *e, Onnx__NodeProto *n, const char *name, const int64_t *v, int32_t count) {
  Onnx__AttributeProto *a = ex_attr(e, n, name);
  if (!a) return;
  a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
  a->n_ints = (size_t)count;
  a->ints = ex_alloc(e, (size_t)count * sizeof *a->ints);
  if (a->ints) memcpy(a->ints, v, (size_t)count * sizeof *v);
}

/* "base:N" with N >= 1: a layer's output is "<layer>:0", so a fresh name never ends in ":0" and
 * cannot collide with one, whatever the layers are called (a layer named "sigmoid" did). */
static char *ex_fresh(ex *e, const char *base) { return ex_str(e, "%s:%d", base, ++e->serial); }

/* ---- reading a layer's attributes from their canonical text ---- */
static int attr_text(const char *attrs, const char *name, char *dst, size_t cap) {
  const size_t n = strlen(name);
  for (const char *p = attrs; p && *p;) {
    while (*p == ' ') ++p;
    if (!strncmp(p, name, n) && p[n] == '=') {
      const char *v = p + n + 1, *end = strchr(v, ' ');
      const size_t len = end ? (size_t)(end - v) : strlen(v);
      snprintf(dst, cap, "%.*s", (int)len, v);
      return 1;
    }
    p = strchr(p, ' ');
  }
  return 0;
}

/* integers of attribute `name`; one value stands for both of a pair (want 2) */
static int32_t attr_ints(const char *attrs, const char *name, int64_t *v, int32_t want) {
  char t[256];
  if (!attr_text(attrs, name, t, sizeof t)) return 0;
  int32_t n = 0;
  for (char *p = t; *p && n < 8;) {
    char *end = NULL;
    v[n++] = strtoll(p, &end, 10);
    if (end == p) break;
    p = *end == ',' ? end + 1 : end;
  }
  for (int32_t i = n; n == 1 && i < want; ++i) v[i] = v[0];
  return n == 1 ? want : n;
}

static double attr_num(const char *attrs, const char *name, double def) {
  char t[64];
  return attr_text(attrs, name, t, sizeof t) ? strtod(t, NULL) : def;
}

/* ONNX pads (top, left, bottom, right) for clnet's padding of a window over an in_h x in_w input */
static void window_pads(const char *attrs, int32_t in_h, int32_t in_w, const int64_t *k, const int64_t *s,
                        const int64_t *d, int64_t *pads) {
  char mode[32] = "valid";
  attr_text(attrs, "padding", mode, sizeof mode);
  memset(pads, 0, 4 * sizeof *pads);
  if (!strcmp(mode, "explicit")) {
    attr_ints(attrs, "pads", pads, 4);
  } else if (!strcmp(mode, "same")) { /* TensorFlow's: ceil(in / s) outputs, the odd pixel at the end */
    const int32_t in[2] = {in_h, in_w};
    for (int i = 0; i < 2; ++i) {
      const int64_t out = (in[i] + s[i] - 1) / s[i];
      int64_t total = (out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - in[i];
      if (total < 0) total = 0;
      pads[i] = total / 2;
      pads[i + 2] = total - total / 2;
    }
  }
}

/* v as an (N, C, H, W) value: an (N, K) one gains two size-1 dimensions. */
static const char *as_image(ex *e, int32_t t) {
  ex_val *v = &e->vals[t];
  if (v->rank == 4) return v->name;
  char *out = ex_fresh(e, "unsqueezed");
  const int64_t axes[2] = {2, 3};
  const char *in[2] = {v->name, ex_ints(e, ex_str(e, "%s.axes", out), axes, 2)};
  ex_node(e, "Unsqueeze", out, in, 2, out);
  return out;
}

/* ---- the layer kinds ---- */
typedef struct ex_layer {
  const clnet_layer_info *li;
  const char *out; /* the ONNX name of the layer's output */
  int32_t rank;    /* its rank (set by the entry) */
} ex_layer;

typedef clnet_status (*ex_fn)(ex *e, ex_layer *l);

static const char *in_name(ex *e, const ex_layer *l, int32_t j) { return e->vals[l->li->inputs[j]].name; }
static int32_t in_rank(ex *e, const ex_layer *l, int32_t j) { return e->vals[l->li->inputs[j]].rank; }

static clnet_status need_image(ex *e, ex_layer *l) {
  if (in_rank(e, l, 0) == 4) return CLNET_SUCCESS;
  return clnet_set_error(CLNET_ERR_UNSUPPORTED, "ONNX export: layer '%s' (%s) reads a vector, not an image",
                         l->li->name, l->li->kind);
}

static clnet_status ex_conv(ex *e, ex_layer *l) {
  CLNET_TRY(need_image(e, l));
  const clnet_layer_info *li = l->li;
  int64_t k[2] = {1, 1}, s[2] = {1, 1}, d[2] = {1, 1}, pads[4], groups = 1;
  attr_ints(li->attrs, "kernel", k, 2);
  attr_ints(li->attrs, "stride", s, 2);
  attr_ints(li->attrs, "dilation", d, 2);
  attr_ints(li->attrs, "groups", &groups, 1);
  window_pads(li->attrs, li->in_h, li->in_w, k, s, d, pads);
  int64_t count = 0, bcount = 0;
  const float *w = ex_param(e, li->name, "kernel", &count);
  const float *b = ex_param(e, li->name, "bias", &bcount);
  if (!w) return e->st != CLNET_SUCCESS ? e->st : clnet_set_error(CLNET_ERR_MISMATCH, "ONNX export: %s has no kernel", li->name);
  const int64_t O = li->out_c, Ig = li->in_c / (groups ? groups : 1);
  if (count != k[0] * k[1] * Ig * O) return clnet_set_error(CLNET_ERR_MISMATCH, "ONNX export: %s: kernel size", li->name);
  float *oihw = ex_alloc(e, (size_t)count * sizeof *oihw);
  if (!oihw) return e->st;
  for (int64_t o = 0; o < O; ++o) /* HWIO (KH, KW, I/g, O) -> OIHW */
    for (int64_t i = 0; i < Ig; ++i)
      for (int64_t y = 0; y < k[0]; ++y)
        for (int64_t x = 0; x < k[1]; ++x)
          oihw[((o * Ig + i) * k[0] + y) * k[1] + x] = w[((y * k[1] + x) * Ig + i) * O + o];
  const int64_t wd[4] = {O, Ig, k[0], k[1]};
  const char *in[3] = {in_name(e, l, 0), ex_floats(e, ex_str(e, "%s.weight", li->name), wd, 4, oihw),
                       b ? ex_floats(e, ex_str(e, "%s.bias", li->name), &O, 1, b) : NULL};
  Onnx__NodeProto *n = ex_node(e, "Conv", li->name, in, b ? 3 : 2, l->out);
  ex_attr_ints(e, n, "kernel_shape", k, 2);
  ex_attr_ints(e, n, "strides", s, 2);
  ex_attr_ints(e, n, "dilations", d, 2);
  ex_attr_ints(e, n, "pads", pads, 4);
  ex_attr_int(e, n, "group", groups);
  l->rank = 4;
  return e->st;
}

static clnet_status ex_batchnorm(ex *e, ex_layer *l) {
  const clnet_layer_info *li = l->li;
  static const char *const sfx[4] = {"gamma", "beta", "moving_mean", "moving_variance"};
  static const char *const onnx_sfx[4] = {"weight", "bias", "running_mean", "running_var"};
  const char *in[5] = {in_name(e, l, 0)};
  for (int i = 0; i < 4; ++i) {
    int64_t c = 0;
    const float *v = ex_param(e, li->name, sfx[i], &c);
    if (!v) return e->st != CLNET_SUCCESS ? e->st : clnet_set_error(CLNET_ERR_MISMATCH, "ONNX export: %s.%s", li->name, sfx[i]);
    in[i + 1] = ex_floats(e, ex_str(e, "%s.%s", li->name, onnx_sfx[i]), &c, 1, v);
  }
  Onnx__NodeProto *n = ex_node(e, "BatchNormalization", li->name, in, 5, l->out);
  ex_attr_float(e, n, "epsilon", attr_num(li->attrs, "eps", 1e-3));
  ex_attr_float(e, n, "momentum", attr_num(li->attrs, "momentum", 0.99));
  l->rank = in_rank(e, l, 0);
  return e->st;
}

/* Elementwise of one input without attributes: the op named by the table's entry. */
static clnet_status ex_unary(ex *e, ex_layer *l, const char *op) {
  const char *in[1] = {in_name(e, l, 0)};
  ex_node(e, op, l->li->name, in, 1, l->out);
  l->rank = in_rank(e, l, 0);
  return e->st;
}
static clnet_status ex_relu(ex *e, ex_layer *l) { return ex_unary(e, l, "Relu"); }
static clnet_status ex_sigmoid(ex *e, ex_layer *l) { return ex_unary(e, l, "Sigmoid"); }
static clnet_status ex_tanh(ex *e, ex_layer *l) { return ex_unary(e, l, "Tanh"); }
static clnet_status ex_hard_swish(ex *e, ex_layer *l) { return ex_unary(e, l, "HardSwish"); }

static clnet_status ex_leaky_relu(ex *e, ex_layer *l) {
  const char *in[1] = {in_name(e, l, 0)};
  Onnx__NodeProto *n = ex_node(e, "LeakyRelu", l->li->name, in, 1, l->out);
  ex_attr_float(e, n, "alpha", attr_num(l->li->attrs, "alpha", 0.01));
  l->rank = in_rank(e, l, 0);
  return e->st;
}

static clnet_status ex_hard_sigmoid(ex *e, ex_layer *l) {
  const char *in[1] = {in_name(e, l, 0)};
  Onnx__NodeProto *n = ex_node(e, "HardSigmoid", l->li->name, in, 1, l->out);
  ex_attr_float(e, n, "alpha", attr_num(l->li->attrs, "alpha", 0.2));
  ex_attr_float(e, n, "beta", attr_num(l->li->attrs, "beta", 0.5));
  l->rank = in_rank(e, l, 0);
  return e->st;
}

static clnet_status clip_to(ex *e, ex_layer *l, double lo, double hi) {
  const char *in[3] = {in_name(e, l, 0), ex_scalar(e, ex_str(e, "%s.min", l->li->name), (float)lo),
                       ex_scalar(e, ex_str(e, "%s.max", l->li->name), (float)hi)};
  ex_node(e, "Clip", l->li->name, in, 3, l->out);
  l->rank = in_rank(e, l, 0);
  return e->st;
}
static clnet_status ex_relu6(ex *e, ex_layer *l) { return clip_to(e, l, 0, 6); }
static clnet_status ex_clip(ex *e, ex_layer *l) {
  return clip_to(e, l, attr_num(l->li->attrs, "min", -3.4028234663852886e38), attr_num(l->li->attrs, "max", 3.4028234663852886e38));
}

static clnet_status ex_silu(ex *e, ex_layer *l) { /* x * sigmoid(x) */
  char *s = ex_fresh(e, "sigmoid");
  const char *in[2] = {in_name(e, l, 0), s};
  ex_node(e, "Sigmoid", ex_str(e, "%s.sigmoid", l->li->name), in, 1, s);
  ex_node(e, "Mul", l->li->name, in, 2, l->out);
  l->rank = in_rank(e, l, 0);
  return e->st;
}

/* Two inputs elementwise; an (N, K) input next to an image one is made (N, K, 1, 1) first, so that
 * ONNX's broadcasting lines up the channels. */
static clnet_status ex_binary(ex *e, ex_layer *l, const char *op) {
  const int32_t r0 = in_rank(e, l, 0), r1 = in_rank(e, l, 1);
  const char *in[2] = {r0 == r1 ? in_name(e, l, 0) : as_image(e, l->li->inputs[0]),
                       r0 == r1 ? in_name(e, l, 1) : as_image(e, l->li->inputs[1])};
  ex_node(e, op, l->li->name, in, 2, l->out);
  l->rank = r0 == r1 ? r0 : 4;
  return e->st;
}
static clnet_status ex_add(ex *e, ex_layer *l) { return ex_binary(e, l, "Add"); }
static clnet_status ex_mul(ex *e, ex_layer *l) { return ex_binary(e, l, "Mul"); }

static clnet_status ex_concat(ex *e, ex_layer *l) {
  const clnet_layer_info *li = l->li;
  int all2 = 1;
  for (int32_t j = 0; j < li->n_inputs; ++j) all2 &= in_rank(e, l, j) == 2;
  const char **in = ex_alloc(e, (size_t)li->n_inputs * sizeof *in);
  if (!in) return e->st;
  for (int32_t j = 0; j < li->n_inputs; ++j) in[j] = all2 ? in_name(e, l, j) : as_image(e, li->inputs[j]);
  Onnx__NodeProto *n = ex_node(e, "Concat", li->name, in, li->n_inputs, l->out);
  ex_attr_int(e, n, "axis", 1);
  l->rank = all2 ? 2 : 4;
  return e->st;
}

static clnet_status ex_pool(ex *e, ex_layer *l, const char *op) {
  CLNET_TRY(need_image(e, l));
  const clnet_layer_info *li = l->li;
  int64_t k[2] = {1, 1}, s[2] = {1, 1}, d[2] = {1, 1}, pads[4];
  attr_ints(li->attrs, "kernel", k, 2);
  attr_ints(li->attrs, "stride", s, 2);
  window_pads(li->attrs, li->in_h, li->in_w, k, s, d, pads);
  const char *in[1] = {in_name(e, l, 0)};
  Onnx__NodeProto *n = ex_node(e, op, li->name, in, 1, l->out);
  ex_attr_ints(e, n, "kernel_shape", k, 2);
  ex_attr_ints(e, n, "strides", s, 2);
  ex_attr_ints(e, n, "pads", pads, 4);
  if (!strcmp(op, "AveragePool")) ex_attr_int(e, n, "count_include_pad", (int64_t)attr_num(li->attrs, "count_include_pad", 0));
  l->rank = 4;
  return e->st;
}
static clnet_status ex_maxpool(ex *e, ex_layer *l) { return ex_pool(e, l, "MaxPool"); }
static clnet_status ex_avgpool(ex *e, ex_layer *l) { return ex_pool(e, l, "AveragePool"); }

static clnet_status ex_global(ex *e, ex_layer *l, const char *op) {
  CLNET_TRY(need_image(e, l));
  const char *in[1] = {in_name(e, l, 0)};
  ex_node(e, op, l->li->name, in, 1, l->out);
  l->rank = 4;
  return e->st;
}
static clnet_status ex_global_avgpool(ex *e, ex_layer *l) { return ex_global(e, l, "GlobalAveragePool"); }
static clnet_status ex_global_maxpool(ex *e, ex_layer *l) { return ex_global(e, l, "GlobalMaxPool"); }

/* flatten: clnet's order is (H, W, C): NCHW -> NHWC first where that moves anything */
static clnet_status ex_flatten(ex *e, ex_layer *l) {
  const clnet_layer_info *li = l->li;
  const char *src = in_name(e, l, 0);
  if (in_rank(e, l, 0) == 4 && li->in_h * li->in_w > 1 && li->in_c > 1) {
    char *t = ex_fresh(e, "nhwc");
    const int64_t perm[4] = {0, 2, 3, 1};
    const char *in[1] = {src};
    Onnx__NodeProto *n = ex_node(e, "Transpose", ex_str(e, "%s.nhwc", li->name), in, 1, t);
    ex_attr_ints(e, n, "perm", perm, 4);
    src = t;
  }
  const char *in[1] = {src};
  Onnx__NodeProto *n = ex_node(e, "Flatten", li->name, in, 1, l->out);
  ex_attr_int(e, n, "axis", 1);
  l->rank = 2;
  return e->st;
}

/* dense: Flatten (an image input) and Gemm(x, W, b) with transB = 1; W's columns in ONNX's (C, H, W)
 * flattening order */
static clnet_status ex_dense(ex *e, ex_layer *l) {
  const clnet_layer_info *li = l->li;
  const int32_t h = li->in_h, w = li->in_w, c = li->in_c;
  const int64_t K = (int64_t)h * w * c, units = li->out_c;
  int64_t count = 0, bcount = 0;
  const float *kern = ex_param(e, li->name, "kernel", &count);
  const float *b = ex_param(e, li->name, "bias", &bcount);
  if (!kern || count != K * units)
    return e->st != CLNET_SUCCESS ? e->st : clnet_set_error(CLNET_ERR_MISMATCH, "ONNX export: %s: kernel", li->name);
  const int image = in_rank(e, l, 0) == 4;
  float *wt = ex_alloc(e, (size_t)count * sizeof *wt);
  if (!wt) return e->st;
  for (int64_t o = 0; o < units; ++o)
    for (int64_t k = 0; k < K; ++k) wt[o * K + k] = kern[o * K + ox_clnet_index(image, h, w, c, k)];
  const char *x = in_name(e, l, 0);
  if (image) {
    char *f = ex_fresh(e, "flat");
    const char *in[1] = {x};
    Onnx__NodeProto *n = ex_node(e, "Flatten", ex_str(e, "%s.flatten", li->name), in, 1, f);
    ex_attr_int(e, n, "axis", 1);
    x = f;
  }
  const int64_t wd[2] = {units, K};
  const char *in[3] = {x, ex_floats(e, ex_str(e, "%s.weight", li->name), wd, 2, wt),
                       b ? ex_floats(e, ex_str(e, "%s.bias", li->name), &units, 1, b) : NULL};
  Onnx__NodeProto *n = ex_node(e, "Gemm", li->name, in, b ? 3 : 2, l->out);
  ex_attr_int(e, n, "transB", 1);
  l->rank = 2;
  return e->st;
}

static clnet_status ex_dropout(ex *e, ex_layer *l) {
  const char *in[2] = {in_name(e, l, 0),
                       ex_scalar(e, ex_str(e, "%s.ratio", l->li->name), (float)attr_num(l->li->attrs, "rate", 0.5))};
  ex_node(e, "Dropout", l->li->name, in, 2, l->out);
  l->rank = in_rank(e, l, 0);
  return e->st;
}

static const struct {
  const char *kind;
  ex_fn fn;
} ex_table[] = {
    {"conv", ex_conv},
    {"batchnorm", ex_batchnorm},
    {"relu", ex_relu},
    {"relu6", ex_relu6},
    {"clip", ex_clip},
    {"leaky_relu", ex_leaky_relu},
    {"sigmoid", ex_sigmoid},
    {"tanh", ex_tanh},
    {"silu", ex_silu},
    {"hard_swish", ex_hard_swish},
    {"hard_sigmoid", ex_hard_sigmoid},
    {"add", ex_add},
    {"mul", ex_mul},
    {"concat", ex_concat},
    {"maxpool", ex_maxpool},
    {"avgpool", ex_avgpool},
    {"global_avgpool", ex_global_avgpool},
    {"global_maxpool", ex_global_maxpool},
    {"flatten", ex_flatten},
    {"dense", ex_dense},
    {"dropout", ex_dropout},
};

static ex_fn ex_find(const char *kind) {
  for (size_t i = 0; i < sizeof ex_table / sizeof ex_table[0]; ++i)
    if (!strcmp(ex_table[i].kind, kind)) return ex_table[i].fn;
  return NULL;
}

static Onnx__ValueInfoProto *value_info(ex *e, const char *name, const int64_t *dims, int32_t rank) {
  Onnx__ValueInfoProto *v = ex_alloc(e, sizeof *v);
  Onnx__TypeProto *tp = ex_alloc(e, sizeof *tp);
  Onnx__TypeProto__Tensor *tt = ex_alloc(e, sizeof *tt);
  Onnx__TensorShapeProto *sh = ex_alloc(e, sizeof *sh);
  Onnx__TensorShapeProto__Dimension **dd = ex_alloc(e, (size_t)rank * sizeof *dd);
  if (!v || !tp || !tt || !sh || !dd) return NULL;
  onnx__value_info_proto__init(v);
  onnx__type_proto__init(tp);
  onnx__type_proto__tensor__init(tt);
  onnx__tensor_shape_proto__init(sh);
  for (int32_t i = 0; i < rank; ++i) {
    dd[i] = ex_alloc(e, sizeof *dd[i]);
    if (!dd[i]) return NULL;
    onnx__tensor_shape_proto__dimension__init(dd[i]);
    if (i == 0) {
      dd[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
      dd[i]->dim_param = ex_str(e, "%s", "N");
    } else {
      dd[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
      dd[i]->dim_value = dims[i];
    }
  }
  sh->n_dim = (size_t)rank;
  sh->dim = dd;
  tt->has_elem_type = 1;
  tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
  tt->shape = sh;
  tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  tp->tensor_type = tt;
  v->name = ex_str(e, "%s", name);
  v->type = tp;
  return v;
}

static Onnx__StringStringEntryProto *meta(ex *e, const char *key, const float *v) {
  Onnx__StringStringEntryProto *p = ex_alloc(e, sizeof *p);
  if (!p) return NULL;
  onnx__string_string_entry_proto__init(p);
  p->key = ex_str(e, "%s", key);
  p->value = ex_str(e, "%.9g,%.9g,%.9g,%.9g", v[0], v[1], v[2], v[3]);
  return p;
}

static void ex_free(ex *e) {
  for (size_t i = 0; i < e->n_allocs; ++i) free(e->allocs[i]);
  free(e->allocs);
  free(e->nodes);
  free(e->inits);
  free(e->vals);
}

clnet_status ox_export_model(clnet_graph *g, const clnet_onnx_export_options *opt, uint8_t **data, size_t *size) {
  *data = NULL;
  *size = 0;
  if (!clnet_graph_context(g))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "ONNX export: the graph is not set up (its weights live on a device)");
  ex e = {.g = g, .opset = opt && opt->opset ? opt->opset : EX_DEFAULT_OPSET};
  if (e.opset < 13 || e.opset > OX_MAX_OPSET)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "ONNX export: opset %lld; clnet writes 13 to %d",
                           (long long)e.opset, OX_MAX_OPSET);
  const int32_t L = clnet_graph_layer_count(g);
  e.n_tensors = clnet_graph_tensor_count(g);
  e.vals = calloc((size_t)e.n_tensors + 1, sizeof *e.vals);
  if (!e.vals) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "ONNX export");
  /* the output: the loss layer's logits, else the last layer's output */
  int32_t out_t = L ? -1 : 0;
  for (int32_t i = 0; i < L; ++i) {
    clnet_layer_info li;
    CLNET_TRY_GOTO(clnet_graph_layer_info(g, i, &li), e.st, done);
    if (li.is_loss) out_t = li.inputs[0];
    else if (out_t < 0 || i == L - 1) out_t = li.output;
  }
  int32_t ih, iw, ic;
  CLNET_TRY_GOTO(clnet_graph_tensor_shape(g, 0, &ih, &iw, &ic), e.st, done);
  e.vals[0] = (ex_val){ex_str(&e, "%s", "input"), 4};
  for (int32_t i = 0; i < L && e.st == CLNET_SUCCESS; ++i) {
    clnet_layer_info li;
    CLNET_TRY_GOTO(clnet_graph_layer_info(g, i, &li), e.st, done);
    if (li.is_loss) continue;
    const ex_fn fn = ex_find(li.kind);
    if (!fn) {
      e.st = clnet_set_error(CLNET_ERR_UNSUPPORTED, "ONNX export: layer '%s' is of kind '%s', which the exporter does "
                             "not write (host/onnx/export.c)", li.name, li.kind);
      goto done;
    }
    ex_layer el = {.li = &li, .out = ex_str(&e, "%s:0", li.name)};
    CLNET_TRY_GOTO(fn(&e, &el), e.st, done);
    e.vals[li.output] = (ex_val){(char *)el.out, el.rank};
  }
  if (e.st != CLNET_SUCCESS) goto done;
  /* the graph output: (N, K) logits (an image-shaped result of 1 x 1 is flattened), else as it is */
  const int has_loss = clnet_graph_classes(g) > 0;
  const char *final_name = has_loss ? "logits" : "output";
  int32_t oh, ow, oc;
  CLNET_TRY_GOTO(clnet_graph_tensor_shape(g, out_t, &oh, &ow, &oc), e.st, done);
  ex_val *ov = &e.vals[out_t];
  int64_t odims[4] = {0, oc, oh, ow};
  int32_t orank = ov->rank;
  {
    const int flatten = ov->rank == 4 && oh == 1 && ow == 1 && has_loss;
    Onnx__NodeProto *producer = NULL; /* the node writing the output: it writes final_name instead */
    for (size_t i = 0; i < e.n_nodes && out_t != 0; ++i)
      if (!strcmp(e.nodes[i]->output[0], ov->name)) producer = e.nodes[i];
    if (flatten || !producer) {
      const char *in[1] = {ov->name};
      Onnx__NodeProto *n = ex_node(&e, flatten ? "Flatten" : "Identity", final_name, in, 1, final_name);
      if (flatten) ex_attr_int(&e, n, "axis", 1);
    } else {
      producer->output[0] = ex_str(&e, "%s", final_name);
    }
    if (flatten) orank = 2;
    if (orank == 2) odims[1] = (int64_t)oh * ow * oc;
  }
  /* the model */
  Onnx__GraphProto graph;
  onnx__graph_proto__init(&graph);
  graph.name = "clnet";
  graph.n_node = e.n_nodes;
  graph.node = e.nodes;
  graph.n_initializer = e.n_inits;
  graph.initializer = e.inits;
  Onnx__ValueInfoProto *gin = value_info(&e, "input", (int64_t[4]){0, ic, ih, iw}, 4);
  Onnx__ValueInfoProto *gout = value_info(&e, final_name, odims, orank);
  if (e.st != CLNET_SUCCESS) goto done;
  graph.n_input = 1;
  graph.input = &gin;
  graph.n_output = 1;
  graph.output = &gout;
  Onnx__OperatorSetIdProto os;
  onnx__operator_set_id_proto__init(&os);
  os.domain = "";
  os.has_version = 1;
  os.version = e.opset;
  Onnx__OperatorSetIdProto *osp = &os;
  Onnx__ModelProto model;
  onnx__model_proto__init(&model);
  model.has_ir_version = 1;
  model.ir_version = e.opset <= 14 ? 7 : e.opset <= 18 ? 8 : e.opset <= 20 ? 9 : 10;
  model.n_opset_import = 1;
  model.opset_import = &osp;
  model.producer_name = "clnet";
  model.producer_version = "0.1.0";
  model.doc_string = opt && opt->doc ? (char *)opt->doc : NULL;
  model.graph = &graph;
  Onnx__StringStringEntryProto *props[2];
  if (opt && opt->norm_mean && opt->norm_std) {
    props[0] = meta(&e, "clnet.norm_mean", opt->norm_mean);
    props[1] = meta(&e, "clnet.norm_std", opt->norm_std);
    model.n_metadata_props = 2;
    model.metadata_props = props;
  }
  if (e.st != CLNET_SUCCESS) goto done;
  *size = onnx__model_proto__get_packed_size(&model);
  *data = malloc(*size ? *size : 1);
  if (!*data) {
    e.st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "ONNX export: %zu bytes", *size);
    goto done;
  }
  onnx__model_proto__pack(&model, *data);
done:
  ex_free(&e);
  if (e.st != CLNET_SUCCESS) {
    free(*data);
    *data = NULL;
    *size = 0;
  }
  return e.st;
}

clnet_status clnet_onnx_export_memory(clnet_graph *g, const clnet_onnx_export_options *opt, void **data,
                                      size_t *size) {
  if (!g || !data || !size) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_onnx_export_memory: NULL argument");
  uint8_t *d = NULL;
  CLNET_TRY(ox_export_model(g, opt, &d, size));
  *data = d;
  return CLNET_SUCCESS;
}

clnet_status clnet_onnx_export(clnet_graph *g, const char *path, const clnet_onnx_export_options *opt) {
  if (!g || !path) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_onnx_export: NULL argument");
  uint8_t *d = NULL;
  size_t n = 0;
  CLNET_TRY(ox_export_model(g, opt, &d, &n));
  clnet_atomic_file af;
  clnet_status st = clnet_atomic_open(&af, path);
  if (st == CLNET_SUCCESS) {
    st = clnet_atomic_write(&af, d, n);
    if (st == CLNET_SUCCESS) st = clnet_atomic_commit(&af);
    else clnet_atomic_abort(&af);
  }
  free(d);
  return st;
}
