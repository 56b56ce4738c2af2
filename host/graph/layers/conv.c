/* conv: 2-D convolution, NHWC, weights (KH, KW, C_in, C_out) (Keras HWIO), optional bias.
 * The op and its algorithms: host/ops/conv2d.c, ops.h. */
#include <stdio.h>
#include <string.h>

#include "graph/layer_kind.h"
#include "ops/conv_winograd.h"

enum { A_FILTERS, A_KERNEL, A_STRIDE, A_PADDING, A_PADS, A_DILATION, A_GROUPS, A_BIAS };
static const clnet_attr_spec conv_attrs[] = {
    {"filters", CLNET_ATTR_INT, 0, 0, NULL, "output channels C_out", NULL},
    {"kernel", CLNET_ATTR_INTS, 1, 2, NULL, "kernel size: k, or kh,kw", NULL},
    {"stride", CLNET_ATTR_INTS, 1, 2, "1", "stride: s, or sh,sw", NULL},
    {"padding", CLNET_ATTR_ENUM, 0, 0, "valid", "valid (none), same (TensorFlow: ceil(in/stride) outputs, "
                                                   "the odd pixel at the end) or explicit (pads)", "valid|same|explicit"},
    {"pads", CLNET_ATTR_INTS, 4, 4, "0,0,0,0", "padding=explicit: top,left,bottom,right", NULL},
    {"dilation", CLNET_ATTR_INTS, 1, 2, "1", "dilation: d, or dh,dw", NULL},
    {"groups", CLNET_ATTR_INT, 0, 0, "1", "channel groups (C_in and C_out divisible by it)", NULL},
    {"bias", CLNET_ATTR_INT, 0, 0, "1", "1: add a bias per output channel", NULL},
    CLNET_ATTR_END};

/* l->cfg: the op's descriptor for one image (n set per call) */
static clnet_conv2d_desc *cfg(const clnet_layer *l) { return (clnet_conv2d_desc *)l->cfg; }

static int64_t pair_at(const clnet_attr_value *v, int i) { return v->n > 1 ? v->i[i] : v->i[0]; }

static clnet_status conv_infer(clnet_layer *l, const clnet_tshape *in, clnet_tshape *out) {
  const clnet_attr_value *a = l->attrs;
  if (a[A_FILTERS].i[0] < 1) return clnet_layer_error(l, "filters = %lld, must be >= 1", (long long)a[A_FILTERS].i[0]);
  for (int i = 0; i < a[A_DILATION].n; ++i)
    if (a[A_DILATION].i[i] != 1) return clnet_layer_error(l, "dilation %lld is not supported yet", (long long)a[A_DILATION].i[i]);
  if (a[A_GROUPS].i[0] != 1) return clnet_layer_error(l, "groups = %lld: grouped convolutions are not supported yet", (long long)a[A_GROUPS].i[0]);
  if (pair_at(&a[A_STRIDE], 0) != pair_at(&a[A_STRIDE], 1))
    return clnet_layer_error(l, "stride %lld,%lld: different strides per dimension are not supported yet",
                             (long long)pair_at(&a[A_STRIDE], 0), (long long)pair_at(&a[A_STRIDE], 1));
  if (a[A_PADDING].i[0] == 2) return clnet_layer_error(l, "padding=explicit is not supported yet");
  if (a[A_BIAS].i[0] != 0 && a[A_BIAS].i[0] != 1) return clnet_layer_error(l, "bias = %lld, must be 0 or 1", (long long)a[A_BIAS].i[0]);
  clnet_conv2d_desc d = {.n = 1, .in_h = in[0].h, .in_w = in[0].w, .in_c = in[0].c, .out_c = (int32_t)a[A_FILTERS].i[0],
                         .k_h = (int32_t)pair_at(&a[A_KERNEL], 0), .k_w = (int32_t)pair_at(&a[A_KERNEL], 1),
                         .stride = (int32_t)pair_at(&a[A_STRIDE], 0),
                         .padding = a[A_PADDING].i[0] == 1 ? CLNET_PADDING_SAME : CLNET_PADDING_VALID,
                         .has_bias = (int32_t)a[A_BIAS].i[0]};
  if (clnet_conv2d_desc_init(&d) != CLNET_SUCCESS)
    return clnet_wrap_error(CLNET_ERR_INVALID_ARGUMENT, "layer '%s' (conv) on a %dx%dx%d input", l->name, in[0].h,
                            in[0].w, in[0].c);
  _Static_assert(sizeof(clnet_conv2d_desc) <= CLNET_LAYER_CFG_BYTES, "conv desc fits the layer's cfg");
  memcpy(l->cfg, &d, sizeof d);
  *out = (clnet_tshape){d.out_h, d.out_w, d.out_c};
  return CLNET_SUCCESS;
}

static int32_t conv_params(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, clnet_param_decl *p) {
  const clnet_conv2d_desc *d = cfg(l);
  p[0] = (clnet_param_decl){.suffix = "kernel", .kind = CLNET_PARAM_TRAINABLE, .ndim = 4,
                            .shape = {d->k_h, d->k_w, in[0].c, out->c}, .init = CLNET_INIT_GLOROT_UNIFORM,
                            .fan_in = (int64_t)d->k_h * d->k_w * in[0].c, .fan_out = (int64_t)d->k_h * d->k_w * out->c};
  if (!d->has_bias) return 1;
  p[1] = (clnet_param_decl){.suffix = "bias", .kind = CLNET_PARAM_TRAINABLE, .ndim = 1, .shape = {out->c},
                            .init = CLNET_INIT_ZEROS};
  return 2;
}

/* Scratch the conv op (host/ops/conv2d.c) may hold: the GEMM path's im2col chunk (at most 16 MiB,
 * at least one image), the direct path's repacked weights (plus a zero row) and its filter-gradient
 * partial sums (capped at 16 MiB), Winograd's transformed filter and chunk (3x3 stride 1, F(2x2)
 * and F(4x4), whichever pass AUTO picks them for). */
static uint64_t conv_scratch(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, int32_t n) {
  const clnet_conv2d_desc *c = cfg(l);
  const uint64_t cap = 16ull << 20;
  const uint64_t per_image = (uint64_t)out->h * out->w * c->k_h * c->k_w * in[0].c * 4;
  uint64_t images = cap / per_image;
  if (images < 1) images = 1;
  if (images > (uint64_t)n) images = (uint64_t)n;
  const uint64_t col = per_image * images;
  const uint64_t packed =
      ((uint64_t)c->k_h * c->k_w * in[0].c * out->c + (uint64_t)(in[0].c > out->c ? in[0].c : out->c) + 16) * 4;
  uint64_t need = col > packed ? col : packed;
  if (need < cap) need = cap; /* direct filter-gradient partials */
  clnet_conv2d_desc d = *c;
  d.n = n;
  if (clnet_conv2d_desc_init(&d) == CLNET_SUCCESS) {
    const clnet_conv_pass passes[3] = {CLNET_CONV_PASS_FORWARD, CLNET_CONV_PASS_BACKWARD_DATA,
                                       CLNET_CONV_PASS_BACKWARD_FILTER};
    for (int32_t k = 0; k < 3; ++k)
      for (int tile = 2; tile <= 4; tile += 2)
        if (clnet_conv2d_winograd_tile_applies(&d, passes[k], tile)) {
          const uint64_t w = clnet_conv2d_winograd_scratch_bytes(&d, tile);
          if (w > need) need = w;
        }
  }
  return need;
}

static clnet_status conv_forward(const clnet_layer *l, clnet_layer_io *io) {
  clnet_conv2d_desc d = *cfg(l);
  d.n = io->n;
  CLNET_TRY(clnet_conv2d_desc_init(&d));
  return clnet_conv2d_forward(io->ctx, &d, io->x[0], io->p[0], d.has_bias ? io->p[1] : NULL, io->y);
}

/* The filter gradient first, then (when wanted) the data gradient. */
static clnet_status conv_backward(const clnet_layer *l, clnet_layer_io *io) {
  clnet_conv2d_desc d = *cfg(l);
  d.n = io->n;
  CLNET_TRY(clnet_conv2d_desc_init(&d));
  CLNET_TRY(clnet_conv2d_backward_filter(io->ctx, &d, io->x[0], io->dy, io->dp[0], d.has_bias ? io->dp[1] : NULL));
  if (!io->dx[0]) return CLNET_SUCCESS;
  io->profile_pass(io, "bwd-data");
  return clnet_conv2d_backward_data(io->ctx, &d, io->dy, io->p[0], io->dx[0]);
}

static double conv_macs(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out) {
  const clnet_conv2d_desc *d = cfg(l);
  return (double)out->h * out->w * out->c * d->k_h * d->k_w * in[0].c;
}

static void conv_label(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, const char *pass,
                       char *dst, size_t cap) {
  const clnet_conv2d_desc *d = cfg(l);
  snprintf(dst, cap, "conv2d %dx%d/%d %s %dx%dx%d->%dx%dx%d", d->k_h, d->k_w, d->stride,
           !strcmp(pass, "bwd") ? "bwd-filter" : pass, in[0].h, in[0].w, in[0].c, out->h, out->w, out->c);
}

CLNET_LAYER_KIND(conv, "conv", "2-D convolution over NHWC, weights (KH, KW, C_in, C_out)", conv_attrs, 1, 1,
                 CLNET_KIND_BWD_READS_INPUTS, conv_infer, conv_params, clnet_layer_no_aux, conv_scratch, conv_forward,
                 conv_backward, conv_macs, conv_label);
