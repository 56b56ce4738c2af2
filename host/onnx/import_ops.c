/* The op table: one entry per ONNX op type (ai.onnx), the clnet layer kind it becomes and its
 * mapping. A new layer kind that matches an ONNX op is one entry here (map_unary for an
 * elementwise op without attributes). Shape arithmetic (Shape, Gather, Unsqueeze, Concat,
 * Reshape, Cast, Constant) is folded when its inputs are constants; Reshape, Flatten, Squeeze,
 * Unsqueeze, Identity and Transpose of activations are views (no layer: clnet's dense flattens
 * its input itself, and each value knows how ONNX's element order maps onto clnet's). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/layer_kind.h"
#include "onnx/onnx_internal.h"

/* ---- helpers ---- */

static int64_t per_sample(const ox_val *x) { return (int64_t)x->h * x->w * x->c; }

static void dims_text(const int64_t *d, int32_t rank, char *dst, size_t cap) {
  size_t u = 0;
  dst[0] = '\0';
  for (int32_t i = 0; i < rank && u + 24 < cap; ++i)
    u += (size_t)snprintf(dst + u, cap - u, "%s%lld", i ? ", " : "", (long long)d[i]);
}

/* axis in [-rank, rank) -> [0, rank) */
static clnet_status norm_axis(ox_node *n, int64_t axis, int32_t rank, const char *what, int64_t *out) {
  if (axis < -rank || axis >= rank)
    return ox_fail(n, CLNET_ERR_FORMAT, "%s %lld is outside [-%d, %d)", what, (long long)axis, rank, rank);
  *out = axis < 0 ? axis + rank : axis;
  return CLNET_SUCCESS;
}

/* The output's ONNX dims for an image tensor of the input's rank, from clnet's output tensor. */
static void image_dims(int32_t rank, int32_t h, int32_t w, int32_t c, int64_t *d) {
  d[0] = OX_BATCH;
  d[1] = c;
  if (rank == 4) {
    d[2] = h;
    d[3] = w;
  } else {
    d[2] = w;
  }
}

static void set_image_out(ox_node *n, int32_t t, int32_t rank) {
  int64_t d[4] = {0, 0, 0, 0};
  ox_set_act(n, 0, t, rank, d, 1);
  ox_val *y = ox_out(n, 0);
  if (y) image_dims(rank, y->h, y->w, y->c, y->dims);
}

/* A pooling or convolution window over an image input of rank 4 (N, C, H, W) or 3 (N, C, L), as
 * clnet's 2-D attributes: kernel, stride, dilation (H, W), pads top, left, bottom, right. */
typedef struct ox_window {
  int64_t k[2], s[2], d[2], pads[4];
} ox_window;

static clnet_status read_window(ox_node *n, int32_t rank, const int64_t *kernel, int32_t in_h, int32_t in_w,
                                int32_t dilations_ok, ox_window *win) {
  const int32_t sd = rank - 2; /* spatial dims */
  int64_t ks[2] = {0, 0}, st[2] = {1, 1}, dl[2] = {1, 1}, pd[4] = {0, 0, 0, 0};
  int32_t nk, ns, nd, np;
  CLNET_TRY(ox_attr_ints(n, "kernel_shape", 2, ks, &nk));
  CLNET_TRY(ox_attr_ints(n, "strides", 2, st, &ns));
  CLNET_TRY(ox_attr_ints(n, "dilations", 2, dl, &nd));
  CLNET_TRY(ox_attr_ints(n, "pads", 4, pd, &np));
  char ap[32];
  CLNET_TRY(ox_attr_string(n, "auto_pad", "NOTSET", ap, sizeof ap));
  if (nk >= 0 && nk != sd) return ox_fail(n, CLNET_ERR_FORMAT, "kernel_shape has %d values for %d spatial dims", nk, sd);
  if (ns >= 0 && ns != sd) return ox_fail(n, CLNET_ERR_FORMAT, "strides has %d values for %d spatial dims", ns, sd);
  if (nd >= 0 && nd != sd) return ox_fail(n, CLNET_ERR_FORMAT, "dilations has %d values for %d spatial dims", nd, sd);
  if (np >= 0 && np != 2 * sd) return ox_fail(n, CLNET_ERR_FORMAT, "pads has %d values for %d spatial dims", np, sd);
  if (kernel) {
    for (int32_t i = 0; i < sd; ++i)
      if (nk >= 0 && ks[i] != kernel[i])
        return ox_fail(n, CLNET_ERR_FORMAT, "kernel_shape %lld differs from the weights' %lld", (long long)ks[i],
                       (long long)kernel[i]);
    for (int32_t i = 0; i < sd; ++i) ks[i] = kernel[i];
  } else if (nk < 0) {
    return ox_fail(n, CLNET_ERR_FORMAT, "kernel_shape is required");
  }
  for (int32_t i = 0; i < sd; ++i) {
    if (ks[i] < 1 || ks[i] > 4096) return ox_fail(n, CLNET_ERR_FORMAT, "kernel size %lld", (long long)ks[i]);
    if (st[i] < 1 || st[i] > 4096) return ox_fail(n, CLNET_ERR_FORMAT, "stride %lld", (long long)st[i]);
    if (dl[i] < 1 || dl[i] > 4096) return ox_fail(n, CLNET_ERR_FORMAT, "dilation %lld", (long long)dl[i]);
    if (dl[i] != 1 && !dilations_ok) return ox_unsupported(n, "attribute 'dilations' = %lld: clnet's pools have none", (long long)dl[i]);
  }
  for (int32_t i = 0; i < 2 * sd; ++i)
    if (pd[i] < 0 || pd[i] > 4096) return ox_fail(n, CLNET_ERR_FORMAT, "pad %lld", (long long)pd[i]);
  /* into 2-D: a 1-D window is 1 x k */
  if (sd == 1) {
    win->k[0] = 1, win->k[1] = ks[0];
    win->s[0] = 1, win->s[1] = st[0];
    win->d[0] = 1, win->d[1] = dl[0];
    win->pads[0] = 0, win->pads[1] = pd[0], win->pads[2] = 0, win->pads[3] = pd[1];
  } else {
    for (int i = 0; i < 2; ++i) win->k[i] = ks[i], win->s[i] = st[i], win->d[i] = dl[i];
    for (int i = 0; i < 4; ++i) win->pads[i] = pd[i];
  }
  if (strcmp(ap, "NOTSET") != 0) {
    if (strcmp(ap, "VALID") && strcmp(ap, "SAME_UPPER") && strcmp(ap, "SAME_LOWER"))
      return ox_fail(n, CLNET_ERR_FORMAT, "auto_pad '%s' is none of NOTSET, VALID, SAME_UPPER, SAME_LOWER", ap);
    const int32_t in[2] = {in_h, in_w};
    for (int i = 0; i < 2; ++i) {
      int64_t total = 0;
      if (strcmp(ap, "VALID")) {
        const int64_t out = (in[i] + win->s[i] - 1) / win->s[i], keff = (win->k[i] - 1) * win->d[i] + 1;
        total = (out - 1) * win->s[i] + keff - in[i];
        if (total < 0) total = 0;
      }
      const int64_t lo = !strcmp(ap, "SAME_LOWER") ? total - total / 2 : total / 2;
      win->pads[i] = lo;
      win->pads[i + 2] = total - lo;
    }
  }
  return CLNET_SUCCESS;
}

/* clnet's padding attributes for the window: valid, same (TensorFlow's, when the pads are
 * exactly its pads), or explicit pads. */
static void padding_text(const ox_window *win, int32_t in_h, int32_t in_w, char *dst, size_t cap) {
  const int64_t *p = win->pads;
  if (!p[0] && !p[1] && !p[2] && !p[3]) {
    snprintf(dst, cap, "padding=valid");
    return;
  }
  const int32_t in[2] = {in_h, in_w};
  int same = win->d[0] == 1 && win->d[1] == 1;
  for (int i = 0; i < 2 && same; ++i) {
    const int64_t out = (in[i] + win->s[i] - 1) / win->s[i];
    int64_t total = (out - 1) * win->s[i] + win->k[i] - in[i];
    if (total < 0) total = 0;
    same = p[i] == total / 2 && p[i + 2] == total - total / 2;
  }
  if (same) snprintf(dst, cap, "padding=same");
  else
    snprintf(dst, cap, "padding=explicit pads=%lld,%lld,%lld,%lld", (long long)p[0], (long long)p[1], (long long)p[2],
             (long long)p[3]);
}

static clnet_status need_f32(ox_node *n, int32_t j, const ox_const *c, int32_t rank, int64_t count) {
  char pn[72];
  if (c->type != OX_F32)
    return ox_unsupported(n, "input %d ('%s') must hold floats", j, clnet_printable(ox_in_name(n, j), pn));
  if (rank >= 0 && c->rank != rank)
    return ox_fail(n, CLNET_ERR_FORMAT, "input %d ('%s') has rank %d, expected %d", j,
                   clnet_printable(ox_in_name(n, j), pn), c->rank, rank);
  if (count >= 0 && c->count != count)
    return ox_fail(n, CLNET_ERR_FORMAT, "input %d ('%s') has %lld values, expected %lld", j,
                   clnet_printable(ox_in_name(n, j), pn), (long long)c->count, (long long)count);
  return CLNET_SUCCESS;
}

static float *copy_floats(const float *src, int64_t count) {
  float *d = malloc((size_t)(count ? count : 1) * sizeof *d);
  if (d) memcpy(d, src, (size_t)count * sizeof *d);
  return d;
}

static clnet_status add_weight_copy(ox_node *n, const char *suffix, const float *src, int64_t count) {
  float *d = copy_floats(src, count);
  if (!d) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "importing %s", suffix);
  return ox_weight_add(n, ox_last_layer(n), suffix, d, count);
}

/* ---- layers ---- */

static clnet_status map_conv(ox_node *n, const ox_op *op) {
  (void)op;
  ox_val *x;
  ox_const *W;
  int32_t rank;
  CLNET_TRY(ox_in_act(n, 0, &x));
  CLNET_TRY(ox_need_image(n, 0, x, &rank));
  CLNET_TRY(ox_in_const(n, 1, &W));
  CLNET_TRY(need_f32(n, 1, W, rank, -1));
  int64_t group;
  CLNET_TRY(ox_attr_int(n, "group", 1, &group));
  const int64_t O = W->dims[0], Ig = W->dims[1];
  if (group < 1 || Ig * group != x->c || O < 1 || O % group)
    return ox_fail(n, CLNET_ERR_FORMAT, "weights (%lld, %lld, ...) with group %lld do not fit %d input channels",
                   (long long)O, (long long)Ig, (long long)group, x->c);
  ox_window win;
  CLNET_TRY(read_window(n, rank, W->dims + 2, x->h + x->pend[0] + x->pend[2], x->w + x->pend[1] + x->pend[3], 1, &win));
  for (int i = 0; i < 4; ++i) win.pads[i] += x->pend[i]; /* a Pad folded in (map_pad) */
  const ox_val *bv = ox_in(n, 2);
  ox_const *B = NULL;
  if (bv) {
    CLNET_TRY(ox_in_const(n, 2, &B));
    CLNET_TRY(need_f32(n, 2, B, -1, O));
  }
  char pad[96];
  padding_text(&win, x->h, x->w, pad, sizeof pad);
  int32_t t;
  CLNET_TRY(ox_emit(n, "conv", &x->t, 1, &t,
                    "filters=%lld kernel=%lld,%lld stride=%lld,%lld dilation=%lld,%lld groups=%lld bias=%d %s",
                    (long long)O, (long long)win.k[0], (long long)win.k[1], (long long)win.s[0], (long long)win.s[1],
                    (long long)win.d[0], (long long)win.d[1], (long long)group, B ? 1 : 0, pad));
  /* OIHW (O, I/g, KH, KW) -> HWIO (KH, KW, I/g, O) */
  const int64_t kh = win.k[0], kw = win.k[1];
  float *k = malloc((size_t)W->count * sizeof *k);
  if (!k) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "importing a convolution");
  for (int64_t o = 0; o < O; ++o)
    for (int64_t i = 0; i < Ig; ++i)
      for (int64_t y = 0; y < kh; ++y)
        for (int64_t xx = 0; xx < kw; ++xx)
          k[((y * kw + xx) * Ig + i) * O + o] = W->f[((o * Ig + i) * kh + y) * kw + xx];
  CLNET_TRY(ox_weight_add(n, ox_last_layer(n), "kernel", k, W->count));
  if (B) CLNET_TRY(add_weight_copy(n, "bias", B->f, O));
  set_image_out(n, t, rank);
  return CLNET_SUCCESS;
}

static clnet_status map_batchnorm(ox_node *n, const ox_op *op) {
  (void)op;
  ox_val *x;
  CLNET_TRY(ox_in_act(n, 0, &x));
  int32_t rank = x->rank;
  if (!(x->rank == 2 && x->h == 1 && x->w == 1 && x->dims[1] == x->c)) CLNET_TRY(ox_need_image(n, 0, x, &rank));
  const int64_t C = x->c;
  ox_const *p[4];
  for (int32_t j = 0; j < 4; ++j) {
    CLNET_TRY(ox_in_const(n, j + 1, &p[j]));
    CLNET_TRY(need_f32(n, j + 1, p[j], -1, C));
  }
  double eps, mom;
  CLNET_TRY(ox_attr_float(n, "epsilon", 1e-5, &eps));
  CLNET_TRY(ox_attr_float(n, "momentum", 0.9, &mom));
  if (ox_opset(n) < 9) {
    int64_t spatial;
    CLNET_TRY(ox_attr_int(n, "spatial", 1, &spatial));
    if (spatial != 1) return ox_unsupported(n, "attribute 'spatial' = %lld: clnet normalises per channel", (long long)spatial);
  }
  if (ox_opset(n) < 7) {
    int64_t is_test;
    CLNET_TRY(ox_attr_int(n, "is_test", 0, &is_test));
    if (!is_test) ox_training_node(n);
  }
  int64_t tm = 0;
  if (ox_opset(n) >= 14) {
    CLNET_TRY(ox_attr_int(n, "training_mode", 0, &tm));
    if (tm) ox_training_node(n);
  }
  /* opsets 7..13: outputs beyond Y mean training mode (their batch statistics unused here) */
  if (ox_opset(n) >= 7 && ox_opset(n) < 14 && n->n_out > 1) ox_training_node(n);
  /* from opset 14, training mode's running_mean and running_var are clnet's moving statistics after
   * the forward (the same update: moving * momentum + batch * (1 - momentum), biased variance) */
  for (int32_t j = tm ? 3 : 1; j < n->n_out; ++j) CLNET_TRY(ox_out_unused(n, j, "a batch statistic"));
  int32_t t;
  CLNET_TRY(ox_emit(n, "batchnorm", &x->t, 1, &t, "eps=%.17g momentum=%.17g", eps, mom));
  static const char *const sfx[4] = {"gamma", "beta", "moving_mean", "moving_variance"};
  for (int32_t j = 0; j < 4; ++j) CLNET_TRY(add_weight_copy(n, sfx[j], p[j]->f, C));
  for (int32_t j = 1; tm && j <= 2 && j < n->n_out; ++j) {
    char name[160];
    snprintf(name, sizeof name, "%s.%s", ox_last_layer(n), sfx[j + 1]);
    ox_set_stat(n, j, name, C);
  }
  ox_set_act(n, 0, t, x->rank, x->dims, x->chw);
  return CLNET_SUCCESS;
}

/* An elementwise op of one activation without attributes: op->kind. */
static clnet_status map_unary(ox_node *n, const ox_op *op) {
  ox_val *x;
  CLNET_TRY(ox_in_act(n, 0, &x));
  int32_t t;
  CLNET_TRY(ox_emit(n, op->kind, &x->t, 1, &t, "%s", ""));
  ox_set_act(n, 0, t, x->rank, x->dims, x->chw);
  return CLNET_SUCCESS;
}

/* Two activations of one shape, elementwise: op->kind. */
static clnet_status map_binary(ox_node *n, const ox_op *op) {
  ox_val *a, *b;
  if (ox_opset(n) < 7) { /* opset 6's explicit broadcasting: clnet's shapes must be equal anyway */
    int64_t bc;
    CLNET_TRY(ox_attr_int(n, "broadcast", 0, &bc));
    ox_attr_ignore(n, "axis");
  }
  CLNET_TRY(ox_in_act(n, 0, &a));
  CLNET_TRY(ox_in_act(n, 1, &b));
  int same = a->rank == b->rank && a->h == b->h && a->w == b->w && a->c == b->c &&
             (a->chw == b->chw || (int64_t)a->h * a->w == 1 || a->c == 1);
  for (int32_t i = 1; same && i < a->rank; ++i) same = a->dims[i] == b->dims[i];
  if (!same) {
    char da[96], db[96];
    dims_text(a->dims + 1, a->rank - 1, da, sizeof da);
    dims_text(b->dims + 1, b->rank - 1, db, sizeof db);
    return ox_unsupported(n, "inputs of shapes (N, %s) and (N, %s): clnet's %s takes two activations of one shape "
                          "(no broadcasting)", da, db, op->kind);
  }
  int32_t t, in[2] = {a->t, b->t};
  CLNET_TRY(ox_emit(n, op->kind, in, 2, &t, "%s", ""));
  ox_set_act(n, 0, t, a->rank, a->dims, a->chw);
  return CLNET_SUCCESS;
}

static clnet_status map_global_pool(ox_node *n, const ox_op *op) {
  ox_val *x;
  int32_t rank;
  CLNET_TRY(ox_in_act(n, 0, &x));
  CLNET_TRY(ox_need_image(n, 0, x, &rank));
  int32_t t;
  CLNET_TRY(ox_emit(n, op->kind, &x->t, 1, &t, "%s", ""));
  set_image_out(n, t, rank);
  return CLNET_SUCCESS;
}

static clnet_status map_maxpool(ox_node *n, const ox_op *op) {
  (void)op;
  ox_val *x;
  int32_t rank;
  CLNET_TRY(ox_in_act(n, 0, &x));
  CLNET_TRY(ox_need_image(n, 0, x, &rank));
  ox_window win;
  CLNET_TRY(read_window(n, rank, NULL, x->h, x->w, 0, &win));
  int64_t ceil_mode = 0, order = 0;
  CLNET_TRY(ox_attr_int(n, "ceil_mode", 0, &ceil_mode));
  CLNET_TRY(ox_attr_int(n, "storage_order", 0, &order)); /* only the Indices output's layout */
  CLNET_TRY(ox_out_unused(n, 1, "the argmax indices"));
  if (ceil_mode) { /* ceil's extra windows as extra end padding: padding never wins a maximum */
    const int32_t in[2] = {x->h, x->w};
    for (int i = 0; i < 2; ++i) {
      const int64_t span = in[i] + win.pads[i] + win.pads[i + 2] - win.k[i];
      if (span < 0) break;
      int64_t out = (span + win.s[i] - 1) / win.s[i] + 1;
      if ((out - 1) * win.s[i] >= in[i] + win.pads[i]) out--; /* a window starting in the end padding is dropped */
      const int64_t need = (out - 1) * win.s[i] + win.k[i] - in[i] - win.pads[i];
      if (need > win.pads[i + 2]) win.pads[i + 2] = need;
    }
  }
  char pad[96];
  padding_text(&win, x->h, x->w, pad, sizeof pad);
  int32_t t;
  CLNET_TRY(ox_emit(n, "maxpool", &x->t, 1, &t, "kernel=%lld,%lld stride=%lld,%lld %s", (long long)win.k[0],
                    (long long)win.k[1], (long long)win.s[0], (long long)win.s[1], pad));
  set_image_out(n, t, rank);
  return CLNET_SUCCESS;
}

/* dense: y = x . W^T + b, W (units, K) with K in clnet's element order of x. kernel[o][k] for
 * ONNX's column k, taken from get(o, k). */
static clnet_status emit_dense(ox_node *n, ox_val *x, int64_t units, const float *wsrc, int32_t trans, float alpha,
                               const float *bias, int64_t bias_count, float beta) {
  const int64_t K = per_sample(x);
  int32_t t;
  CLNET_TRY(ox_emit(n, "dense", &x->t, 1, &t, "units=%lld%s", (long long)units, bias ? "" : " bias=0"));
  float *k = malloc((size_t)(units * K) * sizeof *k);
  if (!k) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "importing a dense layer");
  for (int64_t o = 0; o < units; ++o)
    for (int64_t c = 0; c < K; ++c) {
      const float v = trans ? wsrc[o * K + c] : wsrc[c * units + o];
      k[o * K + ox_clnet_index(x->chw, x->h, x->w, x->c, c)] = alpha == 1.0f ? v : alpha * v;
    }
  CLNET_TRY(ox_weight_add(n, ox_last_layer(n), "kernel", k, units * K));
  if (bias) {
    float *b = malloc((size_t)units * sizeof *b);
    if (!b) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "importing a dense layer");
    for (int64_t o = 0; o < units; ++o) {
      const float v = bias[bias_count == 1 ? 0 : o];
      b[o] = beta == 1.0f ? v : beta * v;
    }
    CLNET_TRY(ox_weight_add(n, ox_last_layer(n), "bias", b, units));
  }
  ox_set_act(n, 0, t, 2, (int64_t[2]){OX_BATCH, units}, 0);
  return CLNET_SUCCESS;
}

static clnet_status need_matrix_input(ox_node *n, ox_val *x) {
  if (x->rank == 2) return CLNET_SUCCESS;
  char d[96];
  dims_text(x->dims + 1, x->rank - 1, d, sizeof d);
  return ox_unsupported(n, "input 0 is (N, %s); clnet's dense takes (N, K) (flatten first)", d);
}

/* A bias for `units` outputs: (units), (1, units), or one value. */
static int bias_shape_ok(const ox_const *c, int64_t units) {
  if (c->type != OX_F32) return 0;
  if (c->count == 1) return 1;
  if (c->count != units) return 0;
  return c->rank == 1 || (c->rank == 2 && c->dims[0] == 1);
}

static clnet_status map_gemm(ox_node *n, const ox_op *op) {
  (void)op;
  ox_val *x;
  ox_const *B, *C = NULL;
  CLNET_TRY(ox_in_act(n, 0, &x));
  CLNET_TRY(need_matrix_input(n, x));
  int64_t ta, tb;
  double alpha, beta;
  CLNET_TRY(ox_attr_int(n, "transA", 0, &ta));
  CLNET_TRY(ox_attr_int(n, "transB", 0, &tb));
  CLNET_TRY(ox_attr_float(n, "alpha", 1.0, &alpha));
  CLNET_TRY(ox_attr_float(n, "beta", 1.0, &beta));
  if (ox_opset(n) < 7) ox_attr_ignore(n, "broadcast"); /* opset 6: C's broadcasting, which the checks below cover */
  if (ta) return ox_unsupported(n, "attribute 'transA' = 1 transposes the batch into the features");
  CLNET_TRY(ox_in_const(n, 1, &B));
  CLNET_TRY(need_f32(n, 1, B, 2, -1));
  const int64_t K = per_sample(x), units = tb ? B->dims[0] : B->dims[1];
  if ((tb ? B->dims[1] : B->dims[0]) != K)
    return ox_fail(n, CLNET_ERR_FORMAT, "B is (%lld, %lld)%s, the input has %lld features", (long long)B->dims[0],
                   (long long)B->dims[1], tb ? " (transposed)" : "", (long long)K);
  if (units < 1) return ox_fail(n, CLNET_ERR_FORMAT, "B has no columns");
  if (ox_in(n, 2)) {
    CLNET_TRY(ox_in_const(n, 2, &C));
    char pn[72];
    if (!bias_shape_ok(C, units))
      return ox_unsupported(n, "input 2 ('%s') has %lld values in rank %d: clnet's dense adds one bias per output "
                            "(%lld)", clnet_printable(ox_in_name(n, 2), pn), (long long)C->count, C->rank,
                            (long long)units);
    if (beta == 0) C = NULL;
  }
  return emit_dense(n, x, units, B->f, (int32_t)tb, (float)alpha, C ? C->f : NULL, C ? C->count : 0, (float)beta);
}

/* MatMul(x, B) -> dense without bias, or with the bias of the one Add reading it (MatMul + Add, as
 * tf2onnx and PyTorch's Linear without Gemm export a dense layer). */
static clnet_status map_matmul(ox_node *n, const ox_op *op) {
  (void)op;
  ox_val *x;
  ox_const *B;
  CLNET_TRY(ox_in_act(n, 0, &x));
  CLNET_TRY(need_matrix_input(n, x));
  CLNET_TRY(ox_in_const(n, 1, &B));
  CLNET_TRY(need_f32(n, 1, B, 2, -1));
  const int64_t K = per_sample(x), units = B->dims[1];
  if (B->dims[0] != K || units < 1)
    return ox_fail(n, CLNET_ERR_FORMAT, "B is (%lld, %lld), the input has %lld features", (long long)B->dims[0],
                   (long long)B->dims[1], (long long)K);
  const ox_const *bias = NULL;
  int32_t add = -1;
  if (ox_out_readers(n, 0) == 1) {
    const int32_t r = ox_out_reader(n, 0, 0);
    const Onnx__NodeProto *rp = ox_model(n)->pb->graph->node[r];
    const ox_val *self = ox_out(n, 0);
    if (rp->op_type && !strcmp(rp->op_type, "Add") && (!rp->domain || !*rp->domain) && rp->n_input == 2 &&
        !rp->n_attribute && ox_node_usable(n, r) && self) {
      const ox_val *a0 = ox_node_input(n, r, 0), *a1 = ox_node_input(n, r, 1);
      const ox_val *other = a0 == self ? a1 : a0;
      if (other && other != self && other->kind == OX_CONST && bias_shape_ok(&other->c_, units) &&
          other->c_.count == units && !ox_model(n)->values[n->out[0]].graph_output) {
        bias = &other->c_;
        add = r;
      }
    }
  }
  CLNET_TRY(emit_dense(n, x, units, B->f, 0, 1.0f, bias ? bias->f : NULL, bias ? bias->count : 0, 1.0f));
  if (add >= 0) {
    ox_absorb(n, add);
    ox_set_alias_of(n, add, 0, ox_out(n, 0));
  }
  return CLNET_SUCCESS;
}

static clnet_status map_dropout(ox_node *n, const ox_op *op) {
  ox_val *x;
  CLNET_TRY(ox_in_act(n, 0, &x));
  double ratio = 0.5;
  int64_t training = 0;
  ox_attr_ignore(n, "seed"); /* clnet's masks come from its own generator */
  if (ox_opset(n) < 12) {
    CLNET_TRY(ox_attr_float(n, "ratio", 0.5, &ratio));
    if (ox_opset(n) < 7) {
      int64_t is_test;
      CLNET_TRY(ox_attr_int(n, "is_test", 0, &is_test));
      training = !is_test;
    }
  } else {
    ox_const *c;
    if (ox_in(n, 1)) {
      CLNET_TRY(ox_in_const(n, 1, &c));
      if (c->count != 1) return ox_fail(n, CLNET_ERR_FORMAT, "ratio holds %lld values", (long long)c->count);
      ratio = ox_const_at(c, 0);
    }
    if (ox_in(n, 2)) {
      CLNET_TRY(ox_in_const(n, 2, &c));
      if (c->count != 1) return ox_fail(n, CLNET_ERR_FORMAT, "training_mode holds %lld values", (long long)c->count);
      training = ox_const_at(c, 0) != 0;
    }
  }
  if (!(ratio >= 0 && ratio < 1)) return ox_fail(n, CLNET_ERR_FORMAT, "ratio %g is outside [0, 1)", ratio);
  CLNET_TRY(ox_out_unused(n, 1, "the dropout mask"));
  if (ratio == 0) {
    ox_set_alias(n, 0, x);
    return CLNET_SUCCESS;
  }
  if (training) {
    ox_training_node(n);
    ox_random_node(n);
  }
  int32_t t;
  CLNET_TRY(ox_emit(n, op->kind, &x->t, 1, &t, "rate=%.17g", ratio));
  ox_set_act(n, 0, t, x->rank, x->dims, x->chw);
  return CLNET_SUCCESS;
}

/* Softmax at the very end, while training: clnet's loss is softmax cross-entropy on the logits, so
 * the softmax is the loss's own (Keras models end in one). Anywhere else it needs a layer. */
static clnet_status map_softmax(ox_node *n, const ox_op *op) {
  (void)op;
  ox_val *x;
  CLNET_TRY(ox_in_act(n, 0, &x));
  int64_t axis;
  CLNET_TRY(ox_attr_int(n, "axis", ox_opset(n) >= 13 ? -1 : 1, &axis));
  CLNET_TRY(norm_axis(n, axis, x->rank, "axis", &axis));
  const int last = x->rank == 2 && axis == 1 && x->h == 1 && x->w == 1;
  const int final = n->n_out >= 1 && n->out[0] >= 0 && ox_model(n)->values[n->out[0]].graph_output &&
                    ox_model(n)->values[n->out[0]].n_consumers == 0;
  if (ox_with_loss(n) && last && final) {
    ox_set_alias(n, 0, x);
    return CLNET_SUCCESS;
  }
  return ox_unsupported(n, "clnet has no softmax layer; a softmax over the classes at the very end becomes the loss's "
                        "own when training");
}

/* Clip: bounds as attributes before opset 11, as optional constant inputs from it. [0, 6] is
 * relu6 and [0, inf) relu (what PyTorch's ReLU6 and tf2onnx's ReLU export). */
static clnet_status map_clip(ox_node *n, const ox_op *op) {
  (void)op;
  ox_val *x;
  CLNET_TRY(ox_in_act(n, 0, &x));
  double lo = -FLT_MAX, hi = FLT_MAX;
  if (ox_opset(n) < 11) {
    CLNET_TRY(ox_attr_float(n, "min", -FLT_MAX, &lo));
    CLNET_TRY(ox_attr_float(n, "max", FLT_MAX, &hi));
  } else {
    for (int32_t j = 1; j <= 2; ++j) {
      if (!ox_in(n, j)) continue;
      ox_const *c;
      CLNET_TRY(ox_in_const(n, j, &c));
      if (c->count != 1) return ox_fail(n, CLNET_ERR_FORMAT, "input %d holds %lld values, a bound is one", j, (long long)c->count);
      *(j == 1 ? &lo : &hi) = ox_const_at(c, 0);
    }
  }
  int32_t t;
  if (lo == 0 && hi == 6) CLNET_TRY(ox_emit(n, "relu6", &x->t, 1, &t, "%s", ""));
  else if (lo == 0 && hi >= FLT_MAX) CLNET_TRY(ox_emit(n, "relu", &x->t, 1, &t, "%s", ""));
  else CLNET_TRY(ox_emit(n, "clip", &x->t, 1, &t, "min=%.17g max=%.17g", lo, hi));
  ox_set_act(n, 0, t, x->rank, x->dims, x->chw);
  return CLNET_SUCCESS;
}

static clnet_status map_leaky_relu(ox_node *n, const ox_op *op) {
  ox_val *x;
  CLNET_TRY(ox_in_act(n, 0, &x));
  double alpha;
  CLNET_TRY(ox_attr_float(n, "alpha", 0.01, &alpha));
  int32_t t;
  CLNET_TRY(ox_emit(n, op->kind, &x->t, 1, &t, "alpha=%.17g", alpha));
  ox_set_act(n, 0, t, x->rank, x->dims, x->chw);
  return CLNET_SUCCESS;
}

static clnet_status map_hard_sigmoid(ox_node *n, const ox_op *op) {
  ox_val *x;
  CLNET_TRY(ox_in_act(n, 0, &x));
  double alpha, beta;
  CLNET_TRY(ox_attr_float(n, "alpha", 0.2, &alpha));
  CLNET_TRY(ox_attr_float(n, "beta", 0.5, &beta));
  int32_t t;
  CLNET_TRY(ox_emit(n, op->kind, &x->t, 1, &t, "alpha=%.17g beta=%.17g", alpha, beta));
  ox_set_act(n, 0, t, x->rank, x->dims, x->chw);
  return CLNET_SUCCESS;
}

/* Sigmoid; x * sigmoid(x) (how PyTorch exports SiLU) is one silu layer when the sigmoid's only
 * reader is that Mul. */
static clnet_status map_sigmoid(ox_node *n, const ox_op *op) {
  ox_val *x;
  CLNET_TRY(ox_in_act(n, 0, &x));
  const ox_val *self = ox_out(n, 0);
  if (self && ox_out_readers(n, 0) == 1 && !ox_model(n)->values[n->out[0]].graph_output && ox_have_kind("silu")) {
    const int32_t r = ox_out_reader(n, 0, 0);
    const Onnx__NodeProto *rp = ox_model(n)->pb->graph->node[r];
    if (rp->op_type && !strcmp(rp->op_type, "Mul") && (!rp->domain || !*rp->domain) && rp->n_input == 2 &&
        !rp->n_attribute && ox_node_usable(n, r)) {
      const ox_val *a = ox_node_input(n, r, 0), *b = ox_node_input(n, r, 1);
      if ((a == self && b == x) || (a == x && b == self)) {
        int32_t t;
        CLNET_TRY(ox_emit(n, "silu", &x->t, 1, &t, "%s", ""));
        ox_set_act(n, 0, t, x->rank, x->dims, x->chw);
        ox_absorb(n, r);
        ox_set_alias_of(n, r, 0, ox_out(n, 0));
        return CLNET_SUCCESS;
      }
    }
  }
  return map_unary(n, op);
}

/* Mul of two activations: one shape, or an (N, C, 1, 1) gate broadcast over an image's H x W. */
static clnet_status map_mul(ox_node *n, const ox_op *op) {
  ox_val *a, *b;
  CLNET_TRY(ox_in_act(n, 0, &a));
  CLNET_TRY(ox_in_act(n, 1, &b));
  int32_t ra = 0, rb = 0;
  const int gate_b = b->h == 1 && b->w == 1 && b->c == a->c && ox_need_image(n, 0, a, &ra) == CLNET_SUCCESS &&
                     ox_need_image(n, 1, b, &rb) == CLNET_SUCCESS && ra == rb;
  const int gate_a = !gate_b && a->h == 1 && a->w == 1 && a->c == b->c &&
                     ox_need_image(n, 0, a, &ra) == CLNET_SUCCESS && ox_need_image(n, 1, b, &rb) == CLNET_SUCCESS &&
                     ra == rb;
  if ((!gate_a && !gate_b) || (a->h == b->h && a->w == b->w)) return map_binary(n, op);
  int32_t t, in[2] = {a->t, b->t};
  CLNET_TRY(ox_emit(n, op->kind, in, 2, &t, "%s", ""));
  const ox_val *full = gate_b ? a : b;
  ox_set_act(n, 0, t, full->rank, full->dims, full->chw);
  return CLNET_SUCCESS;
}

static clnet_status map_avgpool(ox_node *n, const ox_op *op) {
  ox_val *x;
  int32_t rank;
  CLNET_TRY(ox_in_act(n, 0, &x));
  CLNET_TRY(ox_need_image(n, 0, x, &rank));
  ox_window win;
  CLNET_TRY(read_window(n, rank, NULL, x->h, x->w, 0, &win));
  int64_t ceil_mode = 0, inc = 0;
  CLNET_TRY(ox_attr_int(n, "ceil_mode", 0, &ceil_mode));
  CLNET_TRY(ox_attr_int(n, "count_include_pad", 0, &inc));
  if (ceil_mode) {
    const int32_t in[2] = {x->h, x->w};
    for (int i = 0; i < 2; ++i) {
      const int64_t span = in[i] + win.pads[i] + win.pads[i + 2] - win.k[i];
      if (span < 0) break;
      int64_t out = (span + win.s[i] - 1) / win.s[i] + 1;
      if ((out - 1) * win.s[i] >= in[i] + win.pads[i]) out--;
      const int64_t need = (out - 1) * win.s[i] + win.k[i] - in[i] - win.pads[i];
      if (need <= win.pads[i + 2]) continue;
      if (inc)
        return ox_unsupported(n, "attribute 'ceil_mode' = 1 with count_include_pad = 1 adds windows whose divisor "
                              "clnet's avgpool does not take");
      win.pads[i + 2] = need; /* ceil's extra windows: cells outside the input are not counted */
    }
  }
  char pad[96];
  padding_text(&win, x->h, x->w, pad, sizeof pad);
  int32_t t;
  CLNET_TRY(ox_emit(n, op->kind, &x->t, 1, &t, "kernel=%lld,%lld stride=%lld,%lld count_include_pad=%lld %s",
                    (long long)win.k[0], (long long)win.k[1], (long long)win.s[0], (long long)win.s[1],
                    (long long)inc, pad));
  set_image_out(n, t, rank);
  return CLNET_SUCCESS;
}

/* ReduceMean / ReduceMax over the spatial axes of an image (what tf2onnx writes for Keras'
 * GlobalAveragePooling2D): global_avgpool / global_maxpool. */
static clnet_status map_reduce(ox_node *n, const ox_op *op) {
  ox_val *x;
  CLNET_TRY(ox_in_act(n, 0, &x));
  int64_t axes[OX_MAX_RANK], keep = 1, noop = 0;
  int32_t na = -1;
  CLNET_TRY(ox_attr_int(n, "keepdims", 1, &keep));
  if (ox_opset(n) >= 18) {
    CLNET_TRY(ox_attr_int(n, "noop_with_empty_axes", 0, &noop));
    if (ox_in(n, 1)) {
      ox_const *c;
      CLNET_TRY(ox_in_const(n, 1, &c));
      if (c->type != OX_I64 || c->count > OX_MAX_RANK) return ox_fail(n, CLNET_ERR_FORMAT, "axes must be integers");
      for (int64_t i = 0; i < c->count; ++i) axes[i] = c->i[i];
      na = (int32_t)c->count;
    }
  } else {
    CLNET_TRY(ox_attr_ints(n, "axes", OX_MAX_RANK, axes, &na));
  }
  int8_t red[OX_MAX_RANK] = {0};
  for (int32_t i = 0; i < na; ++i) {
    int64_t a = 0;
    CLNET_TRY(norm_axis(n, axes[i], x->rank, "axis", &a));
    red[a] = 1;
  }
  const int nchw = x->rank == 4 && x->chw && x->dims[1] == x->c && x->dims[2] == x->h && x->dims[3] == x->w;
  const int nhwc = x->rank == 4 && !x->chw && x->dims[1] == x->h && x->dims[2] == x->w && x->dims[3] == x->c;
  const int spatial = na == 2 && ((nchw && red[2] && red[3]) || (nhwc && red[1] && red[2]));
  if (!spatial || noop)
    return ox_unsupported(n, "reduces other axes than the two spatial ones of an image (clnet has %s over H and W only)",
                          op->kind);
  int32_t t;
  CLNET_TRY(ox_emit(n, op->kind, &x->t, 1, &t, "%s", ""));
  int64_t d[4] = {OX_BATCH, 1, 1, 1};
  if (keep) d[nchw ? 1 : 3] = x->c;
  else d[1] = x->c;
  ox_set_act(n, 0, t, keep ? 4 : 2, d, nchw);
  return CLNET_SUCCESS;
}

/* Pad with zeros over H and W, read only by a Conv: the Conv's own padding (PyTorch's F.pad, Keras'
 * ZeroPadding2D). Anywhere else it would need a layer. */
static clnet_status map_pad(ox_node *n, const ox_op *op) {
  (void)op;
  ox_val *x;
  CLNET_TRY(ox_in_act(n, 0, &x));
  char mode[32];
  CLNET_TRY(ox_attr_string(n, "mode", "constant", mode, sizeof mode));
  int64_t pads[2 * OX_MAX_RANK];
  int32_t np = -1;
  double value = 0;
  if (ox_opset(n) < 11) {
    CLNET_TRY(ox_attr_ints(n, "pads", 2 * OX_MAX_RANK, pads, &np));
    CLNET_TRY(ox_attr_float(n, "value", 0, &value));
  } else {
    ox_const *c;
    CLNET_TRY(ox_in_const(n, 1, &c));
    if (c->type != OX_I64 || c->count > 2 * OX_MAX_RANK) return ox_fail(n, CLNET_ERR_FORMAT, "pads must be integers");
    for (int64_t i = 0; i < c->count; ++i) pads[i] = c->i[i];
    np = (int32_t)c->count;
    if (ox_in(n, 2)) {
      CLNET_TRY(ox_in_const(n, 2, &c));
      if (c->count != 1) return ox_fail(n, CLNET_ERR_FORMAT, "constant_value holds %lld values", (long long)c->count);
      value = ox_const_at(c, 0);
    }
    if (ox_in(n, 3)) return ox_unsupported(n, "input 3 (axes)");
  }
  int32_t rank;
  CLNET_TRY(ox_need_image(n, 0, x, &rank));
  if (np != 2 * rank) return ox_fail(n, CLNET_ERR_FORMAT, "%d pads for rank %d", np, rank);
  const int reader_conv = ox_out_readers(n, 0) == 1 && !ox_model(n)->values[n->out[0]].graph_output &&
                          !strcmp(ox_model(n)->pb->graph->node[ox_out_reader(n, 0, 0)]->op_type ?
                                  ox_model(n)->pb->graph->node[ox_out_reader(n, 0, 0)]->op_type : "", "Conv");
  if (strcmp(mode, "constant") || value != 0 || !reader_conv)
    return ox_unsupported(n, "clnet folds a Pad only when it pads with zeros and only a Conv reads it");
  if (pads[0] || pads[1] || pads[rank] || pads[rank + 1])
    return ox_unsupported(n, "pads the batch or the channels");
  ox_val y = *x;
  memset(&y.c_, 0, sizeof y.c_);
  const int32_t sd = rank - 2;
  for (int32_t i = 0; i < sd; ++i) {
    const int64_t b = pads[2 + i], e = pads[rank + 2 + i];
    if (b < 0 || e < 0 || b > 4096 || e > 4096) return ox_unsupported(n, "a negative (cropping) or huge pad");
    const int32_t at = sd == 1 ? 1 : i; /* 1-D: the width */
    y.pend[at] += (int32_t)b;
    y.pend[at + 2] += (int32_t)e;
    y.dims[2 + i] += b + e;
  }
  ox_set_alias(n, 0, &y);
  return CLNET_SUCCESS;
}

/* ---- views of activations ---- */

/* x with new ONNX dims (N, d[1..rank-1]) over the same elements: the same clnet tensor. */
static clnet_status view(ox_node *n, const ox_val *x, int32_t rank, const int64_t *d) {
  int64_t p = 1;
  for (int32_t i = 1; i < rank; ++i) p *= d[i];
  if (p != per_sample(x)) return ox_fail(n, CLNET_ERR_FORMAT, "%lld elements per sample become %lld", (long long)per_sample(x), (long long)p);
  ox_val y = *x;
  memset(&y.c_, 0, sizeof y.c_);
  y.rank = rank;
  for (int32_t i = 0; i < rank; ++i) y.dims[i] = d[i];
  y.dims[0] = OX_BATCH;
  ox_set_alias(n, 0, &y);
  return CLNET_SUCCESS;
}

static clnet_status map_identity(ox_node *n, const ox_op *op) {
  (void)op;
  const ox_val *x = ox_in(n, 0);
  if (!x) return ox_fail(n, CLNET_ERR_FORMAT, "input 0 is missing");
  ox_set_alias(n, 0, x);
  return CLNET_SUCCESS;
}

static clnet_status map_flatten(ox_node *n, const ox_op *op) {
  (void)op;
  const ox_val *x = ox_in(n, 0);
  if (!x) return ox_fail(n, CLNET_ERR_FORMAT, "input 0 is missing");
  const int32_t rank = x->kind == OX_ACT ? x->rank : x->c_.rank;
  const int64_t *dims = x->kind == OX_ACT ? x->dims : x->c_.dims;
  int64_t axis;
  CLNET_TRY(ox_attr_int(n, "axis", 1, &axis));
  if (axis < -rank || axis > rank) return ox_fail(n, CLNET_ERR_FORMAT, "axis %lld for rank %d", (long long)axis, rank);
  if (axis < 0) axis += rank;
  if (x->kind == OX_CONST) {
    int64_t a = 1, b = 1;
    for (int32_t i = 0; i < rank; ++i) *(i < axis ? &a : &b) *= dims[i];
    ox_const c;
    CLNET_TRY(ox_const_copy(&x->c_, &c));
    c.rank = 2, c.dims[0] = a, c.dims[1] = b;
    ox_set_const(n, 0, &c);
    return CLNET_SUCCESS;
  }
  int64_t lead = 1;
  for (int32_t i = 1; i < axis; ++i) lead *= dims[i];
  if (axis == 0 || lead != 1)
    return ox_unsupported(n, "attribute 'axis' = %lld folds the batch into another dimension", (long long)axis);
  int64_t d[2] = {OX_BATCH, per_sample(x)};
  return view(n, x, 2, d);
}

/* The axes of Squeeze / Unsqueeze: an attribute before opset 13, an input from it. */
static clnet_status read_axes(ox_node *n, int64_t *axes, int32_t *count) {
  *count = -1;
  if (ox_opset(n) < 13) return ox_attr_ints(n, "axes", OX_MAX_RANK, axes, count);
  if (!ox_in(n, 1)) return CLNET_SUCCESS;
  ox_const *c;
  CLNET_TRY(ox_in_const(n, 1, &c));
  if (c->type != OX_I64 || c->count > OX_MAX_RANK) return ox_fail(n, CLNET_ERR_FORMAT, "axes must be up to %d integers", OX_MAX_RANK);
  for (int64_t i = 0; i < c->count; ++i) axes[i] = c->i[i];
  *count = (int32_t)c->count;
  return CLNET_SUCCESS;
}

static clnet_status map_unsqueeze(ox_node *n, const ox_op *op) {
  (void)op;
  const ox_val *x = ox_in(n, 0);
  if (!x) return ox_fail(n, CLNET_ERR_FORMAT, "input 0 is missing");
  int64_t axes[OX_MAX_RANK];
  int32_t na;
  CLNET_TRY(read_axes(n, axes, &na));
  if (na < 1) return ox_fail(n, CLNET_ERR_FORMAT, "no axes");
  const int32_t rank = x->kind == OX_ACT ? x->rank : x->c_.rank, out_rank = rank + na;
  if (out_rank > OX_MAX_RANK) return ox_unsupported(n, "rank %d (at most %d)", out_rank, OX_MAX_RANK);
  int8_t ins[OX_MAX_RANK] = {0};
  for (int32_t i = 0; i < na; ++i) {
    int64_t a = 0;
    CLNET_TRY(norm_axis(n, axes[i], out_rank, "axis", &a));
    if (ins[a]) return ox_fail(n, CLNET_ERR_FORMAT, "axis %lld is given twice", (long long)axes[i]);
    ins[a] = 1;
  }
  const int64_t *src = x->kind == OX_ACT ? x->dims : x->c_.dims;
  int64_t d[OX_MAX_RANK];
  for (int32_t i = 0, s = 0; i < out_rank; ++i) d[i] = ins[i] ? 1 : src[s++];
  if (x->kind == OX_CONST) {
    ox_const c;
    CLNET_TRY(ox_const_copy(&x->c_, &c));
    c.rank = out_rank;
    memcpy(c.dims, d, sizeof d);
    ox_set_const(n, 0, &c);
    return CLNET_SUCCESS;
  }
  if (ins[0]) return ox_unsupported(n, "an axis 0 puts a dimension before the batch");
  return view(n, x, out_rank, d);
}

static clnet_status map_squeeze(ox_node *n, const ox_op *op) {
  (void)op;
  const ox_val *x = ox_in(n, 0);
  if (!x) return ox_fail(n, CLNET_ERR_FORMAT, "input 0 is missing");
  int64_t axes[OX_MAX_RANK];
  int32_t na;
  CLNET_TRY(read_axes(n, axes, &na));
  const int32_t rank = x->kind == OX_ACT ? x->rank : x->c_.rank;
  const int64_t *src = x->kind == OX_ACT ? x->dims : x->c_.dims;
  int8_t drop[OX_MAX_RANK] = {0};
  if (na < 0) {
    for (int32_t i = 0; i < rank; ++i) drop[i] = src[i] == 1 && !(x->kind == OX_ACT && i == 0);
  } else {
    for (int32_t i = 0; i < na; ++i) {
      int64_t a = 0;
      CLNET_TRY(norm_axis(n, axes[i], rank, "axis", &a));
      if (x->kind == OX_ACT && a == 0) return ox_unsupported(n, "axis 0 squeezes the batch");
      if (src[a] != 1) return ox_fail(n, CLNET_ERR_FORMAT, "axis %lld has size %lld, not 1", (long long)a, (long long)src[a]);
      drop[a] = 1;
    }
  }
  int64_t d[OX_MAX_RANK];
  int32_t r = 0;
  for (int32_t i = 0; i < rank; ++i)
    if (!drop[i]) d[r++] = src[i];
  if (x->kind == OX_CONST) {
    ox_const c;
    CLNET_TRY(ox_const_copy(&x->c_, &c));
    c.rank = r;
    memcpy(c.dims, d, sizeof d);
    ox_set_const(n, 0, &c);
    return CLNET_SUCCESS;
  }
  return view(n, x, r, d);
}

static clnet_status map_reshape(ox_node *n, const ox_op *op) {
  (void)op;
  const ox_val *x = ox_in(n, 0);
  if (!x) return ox_fail(n, CLNET_ERR_FORMAT, "input 0 is missing");
  ox_const *s;
  CLNET_TRY(ox_in_const(n, 1, &s));
  int64_t allowzero = 0;
  if (ox_opset(n) >= 14) CLNET_TRY(ox_attr_int(n, "allowzero", 0, &allowzero));
  if (s->type != OX_I64 || s->rank != 1 || s->count > OX_MAX_RANK)
    return ox_fail(n, CLNET_ERR_FORMAT, "the shape must be up to %d integers", OX_MAX_RANK);
  const int32_t r = (int32_t)s->count;
  int64_t d[OX_MAX_RANK];
  const int32_t in_rank = x->kind == OX_ACT ? x->rank : x->c_.rank;
  const int64_t *src = x->kind == OX_ACT ? x->dims : x->c_.dims;
  int32_t infer = -1;
  for (int32_t i = 0; i < r; ++i) {
    d[i] = s->i[i];
    if (d[i] == 0 && !allowzero) {
      if (i >= in_rank) return ox_fail(n, CLNET_ERR_FORMAT, "shape %d copies a dimension the input does not have", i);
      d[i] = src[i];
    }
    if (d[i] == -1) {
      if (infer >= 0) return ox_fail(n, CLNET_ERR_FORMAT, "two -1 in the shape");
      infer = i;
    } else if (d[i] < 0 && d[i] != OX_BATCH) {
      return ox_fail(n, CLNET_ERR_FORMAT, "shape value %lld", (long long)d[i]);
    }
  }
  char st[128];
  if (x->kind == OX_CONST) {
    int64_t p = 1;
    for (int32_t i = 0; i < r; ++i) {
      if (d[i] == OX_BATCH) return ox_unsupported(n, "reshapes a constant by the batch size");
      if (i != infer) p *= d[i];
    }
    if (infer >= 0) d[infer] = p ? x->c_.count / p : 0;
    int64_t q = 1;
    for (int32_t i = 0; i < r; ++i) q *= d[i];
    if (q != x->c_.count) return ox_fail(n, CLNET_ERR_FORMAT, "%lld values cannot take that shape", (long long)x->c_.count);
    ox_const c;
    CLNET_TRY(ox_const_copy(&x->c_, &c));
    c.rank = r;
    memcpy(c.dims, d, sizeof d);
    ox_set_const(n, 0, &c);
    return CLNET_SUCCESS;
  }
  /* an activation: the first dimension stays the batch */
  const int64_t fixed_batch = ox_input_batch(n);
  const int64_t per = per_sample(x);
  if (r < 1) return ox_unsupported(n, "reshapes to a scalar");
  int batch_first = d[0] == OX_BATCH || (fixed_batch != OX_BATCH && d[0] == fixed_batch && infer != 0);
  if (!batch_first && infer == 0) {
    int64_t p = 1;
    int ok = 1;
    for (int32_t i = 1; i < r; ++i) {
      ok &= d[i] > 0;
      p *= d[i] > 0 ? d[i] : 1;
    }
    batch_first = ok && p == per;
    if (batch_first) infer = -1;
  }
  for (int32_t i = 1; i < r && batch_first; ++i)
    if (d[i] == OX_BATCH) batch_first = 0;
  if (!batch_first) {
    dims_text(d, r, st, sizeof st);
    return ox_unsupported(n, "reshapes (N, ...) to (%s): the batch must stay the first dimension", st);
  }
  int64_t p = 1;
  for (int32_t i = 1; i < r; ++i)
    if (i != infer) p *= d[i];
  if (infer > 0) d[infer] = p ? per / p : 0;
  return view(n, x, r, d);
}

/* Transposes of activations that change no element order (moved dimensions of size 1), and the
 * two between NCHW and NHWC, which change only how ONNX sees clnet's (H, W, C). */
/* A constant transposed (folded): out[i0..] = in[perm-indexed]. */
static clnet_status transpose_const(ox_node *n, const ox_const *x, const int64_t *perm) {
  int64_t d[OX_MAX_RANK], in_stride[OX_MAX_RANK], idx[OX_MAX_RANK] = {0};
  const int32_t r = x->rank;
  for (int32_t i = r - 1, s = 1; i >= 0; --i) {
    in_stride[i] = s;
    s *= (int32_t)x->dims[i];
  }
  for (int32_t i = 0; i < r; ++i) d[i] = x->dims[perm[i]];
  ox_const c;
  CLNET_TRY(ox_const_alloc(&c, x->type, r, d));
  for (int64_t k = 0; k < c.count; ++k) {
    int64_t from = 0;
    for (int32_t i = 0; i < r; ++i) from += idx[i] * in_stride[perm[i]];
    if (c.type == OX_F32) c.f[k] = x->f[from];
    else c.i[k] = x->i[from];
    for (int32_t i = r - 1; i >= 0; --i) { /* the next output index, last dimension fastest */
      if (++idx[i] < d[i]) break;
      idx[i] = 0;
    }
  }
  ox_set_const(n, 0, &c);
  return CLNET_SUCCESS;
}

static clnet_status map_transpose(ox_node *n, const ox_op *op) {
  (void)op;
  const ox_val *xin = ox_in(n, 0);
  if (!xin) return ox_fail(n, CLNET_ERR_FORMAT, "input 0 is missing");
  int64_t perm[OX_MAX_RANK];
  int32_t np;
  CLNET_TRY(ox_attr_ints(n, "perm", OX_MAX_RANK, perm, &np));
  if (xin->kind == OX_CONST) {
    const int32_t r = xin->c_.rank;
    if (np < 0) {
      np = r;
      for (int32_t i = 0; i < np; ++i) perm[i] = np - 1 - i;
    }
    int8_t seen[OX_MAX_RANK] = {0};
    if (np != r) return ox_fail(n, CLNET_ERR_FORMAT, "perm has %d values for rank %d", np, r);
    for (int32_t i = 0; i < np; ++i) {
      if (perm[i] < 0 || perm[i] >= np || seen[perm[i]]) return ox_fail(n, CLNET_ERR_FORMAT, "perm is not a permutation");
      seen[perm[i]] = 1;
    }
    return transpose_const(n, &xin->c_, perm);
  }
  ox_val *x;
  CLNET_TRY(ox_in_act(n, 0, &x));
  if (np < 0) {
    np = x->rank;
    for (int32_t i = 0; i < np; ++i) perm[i] = np - 1 - i;
  }
  if (np != x->rank) return ox_fail(n, CLNET_ERR_FORMAT, "perm has %d values for rank %d", np, x->rank);
  int8_t seen[OX_MAX_RANK] = {0};
  for (int32_t i = 0; i < np; ++i) {
    if (perm[i] < 0 || perm[i] >= np || seen[perm[i]]) return ox_fail(n, CLNET_ERR_FORMAT, "perm is not a permutation");
    seen[perm[i]] = 1;
  }
  if (perm[0] != 0) return ox_unsupported(n, "perm moves the batch dimension");
  int64_t d[OX_MAX_RANK];
  for (int32_t i = 0; i < np; ++i) d[i] = x->dims[perm[i]];
  ox_val y = *x;
  memset(&y.c_, 0, sizeof y.c_);
  for (int32_t i = 0; i < np; ++i) y.dims[i] = d[i];
  /* the non-1 dimensions in their old order: the elements keep their order */
  int32_t last = -1, keeps = 1;
  for (int32_t i = 1; i < np; ++i) {
    if (x->dims[perm[i]] == 1) continue;
    keeps &= perm[i] > last;
    last = (int32_t)perm[i];
  }
  if (keeps) {
    ox_set_alias(n, 0, &y);
    return CLNET_SUCCESS;
  }
  if (np == 4 && !x->chw && perm[1] == 3 && perm[2] == 1 && perm[3] == 2 && x->dims[1] == x->h && x->dims[2] == x->w &&
      x->dims[3] == x->c) {
    y.chw = 1; /* NHWC -> NCHW: now ONNX walks (H, W, C) as (C, H, W) */
    ox_set_alias(n, 0, &y);
    return CLNET_SUCCESS;
  }
  if (np == 4 && x->chw && perm[1] == 2 && perm[2] == 3 && perm[3] == 1 && x->dims[1] == x->c && x->dims[2] == x->h &&
      x->dims[3] == x->w) {
    y.chw = 0; /* NCHW -> NHWC */
    ox_set_alias(n, 0, &y);
    return CLNET_SUCCESS;
  }
  return ox_unsupported(n, "this perm reorders the elements (clnet handles NCHW <-> NHWC and moves of size-1 "
                        "dimensions)");
}

/* ---- constants and shape arithmetic ---- */

static clnet_status map_constant(ox_node *n, const ox_op *op) {
  (void)op;
  const Onnx__TensorProto *t = NULL;
  ox_const c;
  memset(&c, 0, sizeof c);
  CLNET_TRY(ox_attr_tensor(n, "value", &t));
  if (t) {
    char what[600];
    snprintf(what, sizeof what, "%s: %s: value", ox_model(n)->what, n->label);
    CLNET_TRY(ox_tensor_decode(t, what, &c));
    ox_set_const(n, 0, &c);
    return CLNET_SUCCESS;
  }
  double f;
  int64_t i;
  if (ox_attr_present(n, "value_float")) {
    CLNET_TRY(ox_attr_float(n, "value_float", 0, &f));
    CLNET_TRY(ox_const_alloc(&c, OX_F32, 0, NULL));
    c.f[0] = (float)f;
  } else if (ox_attr_present(n, "value_int")) {
    CLNET_TRY(ox_attr_int(n, "value_int", 0, &i));
    CLNET_TRY(ox_const_alloc(&c, OX_I64, 0, NULL));
    c.i[0] = i;
  } else if (ox_attr_present(n, "value_floats")) {
    float v[4096];
    int32_t cnt;
    CLNET_TRY(ox_attr_floats(n, "value_floats", 4096, v, &cnt));
    CLNET_TRY(ox_const_alloc(&c, OX_F32, 1, (int64_t[1]){cnt}));
    memcpy(c.f, v, (size_t)cnt * sizeof *v);
  } else if (ox_attr_present(n, "value_ints")) {
    int64_t v[OX_MAX_RANK * 8];
    int32_t cnt;
    CLNET_TRY(ox_attr_ints(n, "value_ints", OX_MAX_RANK * 8, v, &cnt));
    CLNET_TRY(ox_const_alloc(&c, OX_I64, 1, (int64_t[1]){cnt}));
    memcpy(c.i, v, (size_t)cnt * sizeof *v);
  } else {
    return ox_unsupported(n, "only a tensor, float(s) or int(s) value (no strings, no sparse tensors)");
  }
  ox_set_const(n, 0, &c);
  return CLNET_SUCCESS;
}

static clnet_status map_constant_of_shape(ox_node *n, const ox_op *op) {
  (void)op;
  ox_const *s;
  CLNET_TRY(ox_in_const(n, 0, &s));
  if (s->type != OX_I64 || s->rank != 1 || s->count > OX_MAX_RANK)
    return ox_fail(n, CLNET_ERR_FORMAT, "the shape must be up to %d integers", OX_MAX_RANK);
  int64_t cnt = 1;
  for (int64_t i = 0; i < s->count; ++i) {
    if (s->i[i] < 0) return ox_unsupported(n, "a shape that depends on the batch size");
    if (s->i[i] && cnt > (1 << 20) / s->i[i]) /* the one op whose output is not bounded by the file */
      return ox_unsupported(n, "a constant of more than 2^20 elements");
    cnt *= s->i[i];
  }
  const Onnx__TensorProto *t = NULL;
  CLNET_TRY(ox_attr_tensor(n, "value", &t));
  ox_const v, c;
  memset(&v, 0, sizeof v);
  if (t) {
    char what[600];
    snprintf(what, sizeof what, "%s: %s: value", ox_model(n)->what, n->label);
    CLNET_TRY(ox_tensor_decode(t, what, &v));
    if (v.count != 1) {
      ox_const_free(&v);
      return ox_fail(n, CLNET_ERR_FORMAT, "value must hold one element");
    }
  } else {
    CLNET_TRY(ox_const_alloc(&v, OX_F32, 0, NULL));
  }
  clnet_status st = ox_const_alloc(&c, v.type, (int32_t)s->count, s->i);
  if (st == CLNET_SUCCESS)
    for (int64_t k = 0; k < c.count; ++k) {
      if (c.type == OX_F32) c.f[k] = v.f[0];
      else c.i[k] = v.i[0];
    }
  ox_const_free(&v);
  CLNET_TRY(st);
  ox_set_const(n, 0, &c);
  return CLNET_SUCCESS;
}

static clnet_status map_shape(ox_node *n, const ox_op *op) {
  (void)op;
  const ox_val *x = ox_in(n, 0);
  if (!x) return ox_fail(n, CLNET_ERR_FORMAT, "input 0 is missing");
  const int32_t rank = x->kind == OX_ACT ? x->rank : x->c_.rank;
  const int64_t *src = x->kind == OX_ACT ? x->dims : x->c_.dims;
  int64_t start = 0, end = rank;
  if (ox_opset(n) >= 15) {
    CLNET_TRY(ox_attr_int(n, "start", 0, &start));
    CLNET_TRY(ox_attr_int(n, "end", rank, &end));
  }
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = start < 0 ? 0 : start > rank ? rank : start;
  end = end < 0 ? 0 : end > rank ? rank : end;
  const int64_t cnt = end > start ? end - start : 0;
  ox_const c;
  CLNET_TRY(ox_const_alloc(&c, OX_I64, 1, (int64_t[1]){cnt}));
  for (int64_t i = 0; i < cnt; ++i) c.i[i] = src[start + i]; /* an activation's dims[0] is OX_BATCH */
  ox_set_const(n, 0, &c);
  return CLNET_SUCCESS;
}

static clnet_status map_gather(ox_node *n, const ox_op *op) {
  (void)op;
  ox_const *data, *idx;
  CLNET_TRY(ox_in_const(n, 0, &data));
  CLNET_TRY(ox_in_const(n, 1, &idx));
  if (idx->type != OX_I64) return ox_fail(n, CLNET_ERR_FORMAT, "indices must be integers");
  int64_t axis;
  CLNET_TRY(ox_attr_int(n, "axis", 0, &axis));
  if (data->rank < 1) return ox_fail(n, CLNET_ERR_FORMAT, "gathers from a scalar");
  CLNET_TRY(norm_axis(n, axis, data->rank, "axis", &axis));
  const int32_t out_rank = data->rank - 1 + idx->rank;
  if (out_rank > OX_MAX_RANK) return ox_unsupported(n, "rank %d", out_rank);
  int64_t d[OX_MAX_RANK];
  int32_t r = 0;
  for (int32_t i = 0; i < axis; ++i) d[r++] = data->dims[i];
  for (int32_t i = 0; i < idx->rank; ++i) d[r++] = idx->dims[i];
  for (int32_t i = (int32_t)axis + 1; i < data->rank; ++i) d[r++] = data->dims[i];
  ox_const c;
  CLNET_TRY(ox_const_alloc(&c, data->type, out_rank, d));
  int64_t outer = 1, inner = 1;
  for (int32_t i = 0; i < axis; ++i) outer *= data->dims[i];
  for (int32_t i = (int32_t)axis + 1; i < data->rank; ++i) inner *= data->dims[i];
  const int64_t len = data->dims[axis];
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < idx->count; ++j) {
      int64_t at = idx->i[j];
      if (at < 0) at += len;
      if (at < 0 || at >= len) {
        ox_const_free(&c);
        return ox_fail(n, CLNET_ERR_FORMAT, "index %lld is outside [-%lld, %lld)", (long long)idx->i[j], (long long)len,
                       (long long)len);
      }
      for (int64_t q = 0; q < inner; ++q) {
        const int64_t from = (o * len + at) * inner + q, to = (o * idx->count + j) * inner + q;
        if (c.type == OX_F32) c.f[to] = data->f[from];
        else c.i[to] = data->i[from];
      }
    }
  ox_set_const(n, 0, &c);
  return CLNET_SUCCESS;
}

static clnet_status map_concat(ox_node *n, const ox_op *op) {
  int all_const = 1;
  for (int32_t j = 0; j < n->n_in; ++j) {
    const ox_val *v = ox_in(n, j);
    if (!v) return ox_fail(n, CLNET_ERR_FORMAT, "input %d is missing", j);
    all_const &= v->kind == OX_CONST;
  }
  int64_t axis;
  CLNET_TRY(ox_attr_int(n, "axis", ox_opset(n) < 4 ? 1 : 0, &axis)); /* required from opset 4 */
  if (!n->n_in) return ox_fail(n, CLNET_ERR_FORMAT, "no inputs");
  if (!all_const) {
    /* activations: along the channels of image tensors, or the features of (N, K) vectors */
    ox_val *x0;
    CLNET_TRY(ox_in_act(n, 0, &x0));
    CLNET_TRY(norm_axis(n, axis, x0->rank, "axis", &axis));
    if (axis != 1) return ox_unsupported(n, "attribute 'axis' = %lld: clnet concatenates channels (axis 1)", (long long)axis);
    int32_t t[CLNET_MAX_LAYER_INPUTS], rank = x0->rank;
    if (n->n_in > CLNET_MAX_LAYER_INPUTS) return ox_unsupported(n, "%d inputs (at most %d)", n->n_in, CLNET_MAX_LAYER_INPUTS);
    for (int32_t j = 0; j < n->n_in; ++j) {
      ox_val *x;
      CLNET_TRY(ox_in_act(n, j, &x));
      if (!(x->rank == 2 && x->h == 1 && x->w == 1)) CLNET_TRY(ox_need_image(n, j, x, &rank));
      t[j] = x->t;
    }
    int32_t out;
    CLNET_TRY(ox_emit(n, op->kind, t, n->n_in, &out, "%s", ""));
    if (rank == 2) ox_set_act(n, 0, out, 2, (int64_t[2]){OX_BATCH, 0}, 0), ox_out(n, 0)->dims[1] = ox_out(n, 0)->c;
    else set_image_out(n, out, rank);
    return CLNET_SUCCESS;
  }
  ox_const *first;
  CLNET_TRY(ox_in_const(n, 0, &first));
  const int32_t rank = first->rank;
  if (rank < 1) return ox_fail(n, CLNET_ERR_FORMAT, "concatenates scalars");
  CLNET_TRY(norm_axis(n, axis, rank, "axis", &axis));
  int64_t d[OX_MAX_RANK];
  memcpy(d, first->dims, sizeof d);
  d[axis] = 0;
  for (int32_t j = 0; j < n->n_in; ++j) {
    ox_const *c;
    CLNET_TRY(ox_in_const(n, j, &c));
    if (c->rank != rank || c->type != first->type) return ox_fail(n, CLNET_ERR_FORMAT, "inputs of different ranks or types");
    for (int32_t i = 0; i < rank; ++i)
      if (i != axis && c->dims[i] != first->dims[i]) return ox_fail(n, CLNET_ERR_FORMAT, "inputs of different shapes");
    d[axis] += c->dims[axis];
  }
  ox_const out;
  CLNET_TRY(ox_const_alloc(&out, first->type, rank, d));
  int64_t outer = 1, inner = 1;
  for (int32_t i = 0; i < axis; ++i) outer *= d[i];
  for (int32_t i = (int32_t)axis + 1; i < rank; ++i) inner *= d[i];
  int64_t at = 0;
  for (int32_t j = 0; j < n->n_in; ++j) {
    ox_const *c;
    CLNET_TRY(ox_in_const(n, j, &c));
    const int64_t len = c->dims[axis];
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t q = 0; q < len * inner; ++q) {
        const int64_t to = (o * d[axis] + at) * inner + q, from = o * len * inner + q;
        if (out.type == OX_F32) out.f[to] = c->f[from];
        else out.i[to] = c->i[from];
      }
    at += len;
  }
  ox_set_const(n, 0, &out);
  return CLNET_SUCCESS;
}

static clnet_status map_cast(ox_node *n, const ox_op *op) {
  (void)op;
  const ox_val *x = ox_in(n, 0);
  if (!x) return ox_fail(n, CLNET_ERR_FORMAT, "input 0 is missing");
  int64_t to = 0;
  if (ox_opset(n) < 6) { /* 'to' was the type's name */
    char name[32];
    CLNET_TRY(ox_attr_string(n, "to", "", name, sizeof name));
    static const char *const types[] = {"", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64", "STRING",
                                        "BOOL", "FLOAT16", "DOUBLE"};
    for (int64_t i = 1; i < (int64_t)(sizeof types / sizeof types[0]); ++i)
      if (!strcmp(name, types[i])) to = i;
  } else {
    CLNET_TRY(ox_attr_int(n, "to", 0, &to));
  }
  ox_attr_ignore(n, "saturate");
  const int to_float = to == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || to == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;
  const int to_int = to == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 || to == ONNX__TENSOR_PROTO__DATA_TYPE__INT32;
  if (x->kind == OX_ACT) {
    if (to != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
      return ox_unsupported(n, "casts the activations to %s; clnet computes in float", ox_dtype_name((int32_t)to));
    ox_set_alias(n, 0, x);
    return CLNET_SUCCESS;
  }
  if (!to_float && !to_int) return ox_unsupported(n, "casts a constant to %s", ox_dtype_name((int32_t)to));
  ox_const c;
  CLNET_TRY(ox_const_alloc(&c, to_float ? OX_F32 : OX_I64, x->c_.rank, x->c_.dims));
  for (int64_t k = 0; k < c.count; ++k) {
    if (to_float) c.f[k] = (float)ox_const_at(&x->c_, k);
    else c.i[k] = x->c_.type == OX_I64 ? x->c_.i[k] : (int64_t)x->c_.f[k];
  }
  ox_set_const(n, 0, &c);
  return CLNET_SUCCESS;
}

/* ---- the table ---- */
static const ox_op ops[] = {
    {"AveragePool", "avgpool", map_avgpool, "avgpool (ceil_mode as end padding)"},
    {"Clip", "clip", map_clip, "relu6 for [0, 6], relu for [0, inf), else clip"},
    {"GlobalMaxPool", "global_maxpool", map_global_pool, "global_maxpool"},
    {"HardSigmoid", "hard_sigmoid", map_hard_sigmoid, "hard_sigmoid"},
    {"HardSwish", "hard_swish", map_unary, "hard_swish"},
    {"LeakyRelu", "leaky_relu", map_leaky_relu, "leaky_relu"},
    {"Mul", "mul", map_mul, "mul (one shape, or an (N, C, 1, 1) gate)"},
    {"Pad", NULL, map_pad, "zeros over H and W, into the Conv that reads it"},
    {"ReduceMax", "global_maxpool", map_reduce, "global_maxpool (over H and W)"},
    {"ReduceMean", "global_avgpool", map_reduce, "global_avgpool (over H and W)"},
    {"Sigmoid", "sigmoid", map_sigmoid, "sigmoid; x * sigmoid(x) becomes silu"},
    {"Tanh", "tanh", map_unary, "tanh"},
    {"BatchNormalization", "batchnorm", map_batchnorm, "batchnorm (its epsilon and momentum)"},
    {"Cast", NULL, map_cast, "folded (constants); a no-op to float"},
    {"Concat", "concat", map_concat, "folded (constants); concat of channels"},
    {"Constant", NULL, map_constant, "folded"},
    {"ConstantOfShape", NULL, map_constant_of_shape, "folded"},
    {"Conv", "conv", map_conv, "conv (OIHW weights to HWIO)"},
    {"Dropout", "dropout", map_dropout, "dropout (ratio 0: nothing)"},
    {"Flatten", NULL, map_flatten, "a view (axis 1)"},
    {"Gather", NULL, map_gather, "folded (constants)"},
    {"Gemm", "dense", map_gemm, "dense (alpha and beta folded into the weights)"},
    {"GlobalAveragePool", "global_avgpool", map_global_pool, "global_avgpool"},
    {"Identity", NULL, map_identity, "a view"},
    {"MatMul", "dense", map_matmul, "dense (with the bias of an Add that follows)"},
    {"MaxPool", "maxpool", map_maxpool, "maxpool"},
    {"Relu", "relu", map_unary, "relu"},
    {"Reshape", NULL, map_reshape, "a view (the batch stays first); folded (constants)"},
    {"Shape", NULL, map_shape, "folded (the batch a symbol)"},
    {"Softmax", NULL, map_softmax, "the loss's own, as the model's last op while training"},
    {"Squeeze", NULL, map_squeeze, "a view; folded (constants)"},
    {"Transpose", NULL, map_transpose, "a view (NCHW <-> NHWC, size-1 moves)"},
    {"Unsqueeze", NULL, map_unsqueeze, "a view; folded (constants)"},
    {"Add", "add", map_binary, "add (two activations of one shape)"},
};

const ox_op *ox_op_find(const char *op_type) {
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; ++i)
    if (!strcmp(ops[i].op_type, op_type)) return &ops[i];
  return NULL;
}

int32_t ox_op_count(void) { return (int32_t)(sizeof ops / sizeof ops[0]); }
const ox_op *ox_op_at(int32_t i) { return i >= 0 && i < ox_op_count() ? &ops[i] : NULL; }
