/* conv: 2-D convolution, NHWC, weights (KH, KW, C_in/groups, C_out) (Keras HWIO), optional bias;
 * any strides, dilations, pads and channel groups (depthwise: groups = C_in). The op and its
 * algorithms: host/ops/conv2d.c, ops.h. */
#include <stdio.h>
#include <string.h>

#include "graph/layer_kind.h"
#include "ops/conv_depthwise.h"
#include "ops/conv_winograd.h"

enum { A_FILTERS, A_KERNEL, A_STRIDE, A_PADDING, A_PADS, A_DILATION, A_GROUPS, A_BIAS };
static const clnet_attr_spec conv_attrs[] = {
    {"filters", CLNET_ATTR_INT, 0, 0, NULL, "output channels C_out", NULL},
    {"kernel", CLNET_ATTR_INTS, 1, 2, NULL, "kernel size: k, or kh,kw", NULL},
    {"stride", CLNET_ATTR_INTS, 1, 2, "1", "stride: s, or sh,sw", NULL},
    {"padding", CLNET_ATTR_ENUM, 0, 0, "valid", "valid (none), same (TensorFlow: ceil(in/stride) outputs, "
                                                   "the odd pixel at the end) or explicit (pads)", "valid|same|explicit"},
    /* the values of `padding` are clnet_padding's */
    {"pads", CLNET_ATTR_INTS, 4, 4, "0,0,0,0", "padding=explicit: top,left,bottom,right", NULL},
    {"dilation", CLNET_ATTR_INTS, 1, 2, "1", "dilation: d, or dh,dw", NULL},
    {"groups", CLNET_ATTR_INT, 0, 0, "1", "channel groups, dividing C_in and C_out; groups=C_in: depthwise "
                                          "(filters = C_in * the channel multiplier)", NULL},
    {"bias", CLNET_ATTR_INT, 0, 0, "1", "1: add a bias per output channel", NULL},
    CLNET_ATTR_END};

/* l->cfg: the op's descriptor for one image (n set per call) */
static clnet_conv2d_desc *cfg(const clnet_layer *l) { return (clnet_conv2d_desc *)l->cfg; }

static int64_t pair_at(const clnet_attr_value *v, int i) { return v->n > 1 ? v->i[i] : v->i[0]; }

static clnet_status conv_infer(clnet_layer *l, const clnet_tshape *in, clnet_tshape *out) {
  const clnet_attr_value *a = l->attrs;
  if (a[A_FILTERS].i[0] < 1) return clnet_layer_error(l, "filters = %lld, must be >= 1", (long long)a[A_FILTERS].i[0]);
  if (a[A_BIAS].i[0] != 0 && a[A_BIAS].i[0] != 1) return clnet_layer_error(l, "bias = %lld, must be 0 or 1", (long long)a[A_BIAS].i[0]);
  /* sizes the desc holds as int32 (its own checks give the messages for smaller bad values) */
  const clnet_attr_value *sized[] = {&a[A_FILTERS], &a[A_KERNEL], &a[A_STRIDE], &a[A_DILATION], &a[A_GROUPS], &a[A_PADS]};
  for (size_t k = 0; k < sizeof sized / sizeof sized[0]; ++k)
    for (int i = 0; i < sized[k]->n; ++i)
      if (sized[k]->i[i] < (sized[k] == &a[A_PADS] ? 0 : 1) || sized[k]->i[i] > (1 << 24))
        return clnet_layer_error(l, "%s %lld: out of range", conv_attrs[sized[k] - a].name, (long long)sized[k]->i[i]);
  const int explicit_pads = a[A_PADDING].i[0] == 2;
  if (!explicit_pads && (a[A_PADS].i[0] || a[A_PADS].i[1] || a[A_PADS].i[2] || a[A_PADS].i[3]))
    return clnet_layer_error(l, "pads=%lld,%lld,%lld,%lld needs padding=explicit", (long long)a[A_PADS].i[0],
                             (long long)a[A_PADS].i[1], (long long)a[A_PADS].i[2], (long long)a[A_PADS].i[3]);
  const int64_t groups = a[A_GROUPS].i[0];
  if (in[0].c % groups || a[A_FILTERS].i[0] % groups)
    return clnet_layer_error(l, "groups = %lld must divide the input channels (%d) and filters (%lld)", (long long)groups,
                             in[0].c, (long long)a[A_FILTERS].i[0]);
  clnet_conv2d_desc d = {.n = 1, .in_h = in[0].h, .in_w = in[0].w, .in_c = in[0].c, .out_c = (int32_t)a[A_FILTERS].i[0],
                         .k_h = (int32_t)pair_at(&a[A_KERNEL], 0), .k_w = (int32_t)pair_at(&a[A_KERNEL], 1),
                         .stride = (int32_t)pair_at(&a[A_STRIDE], 0), .stride_h = (int32_t)pair_at(&a[A_STRIDE], 0),
                         .stride_w = (int32_t)pair_at(&a[A_STRIDE], 1),
                         .padding = (clnet_padding)a[A_PADDING].i[0], .has_bias = (int32_t)a[A_BIAS].i[0],
                         .dilation_h = (int32_t)pair_at(&a[A_DILATION], 0),
                         .dilation_w = (int32_t)pair_at(&a[A_DILATION], 1), .groups = (int32_t)groups};
  if (explicit_pads) /* the attribute's order: top, left, bottom, right */
    d.pad_top = (int32_t)a[A_PADS].i[0], d.pad_left = (int32_t)a[A_PADS].i[1], d.pad_bottom = (int32_t)a[A_PADS].i[2],
    d.pad_right = (int32_t)a[A_PADS].i[3];
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
  /* (KH, KW, C_in/groups, C_out); fans as PyTorch's and Keras' Conv2D count them for groups: the
   * inputs of one output, and KH*KW*C_out */
  const int32_t cg = in[0].c / clnet_conv2d_groups(d);
  p[0] = (clnet_param_decl){.suffix = "kernel", .kind = CLNET_PARAM_TRAINABLE, .ndim = 4,
                            .shape = {d->k_h, d->k_w, cg, out->c}, .init = CLNET_INIT_GLOROT_UNIFORM,
                            .fan_in = (int64_t)d->k_h * d->k_w * cg, .fan_out = (int64_t)d->k_h * d->k_w * out->c};
  if (!d->has_bias) return 1;
  p[1] = (clnet_param_decl){.suffix = "bias", .kind = CLNET_PARAM_TRAINABLE, .ndim = 1, .shape = {out->c},
                            .init = CLNET_INIT_ZEROS};
  return 2;
}

/* Scratch the conv op (host/ops/conv2d.c) may hold: the GEMM path's im2col chunk of one group (at
 * most 16 MiB, at least one image), the direct path's repacked weights (plus a zero row) and its
 * filter-gradient partial sums (capped at 16 MiB), Winograd's transformed filter and chunk (3x3
 * stride 1, F(2x2) and F(4x4), whichever pass AUTO picks them for), the depthwise filter
 * gradient's partials (capped at 16 MiB). */
static uint64_t conv_scratch(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, int32_t n) {
  const clnet_conv2d_desc *c = cfg(l);
  const uint64_t cap = 16ull << 20, cg = (uint64_t)(in[0].c / clnet_conv2d_groups(c));
  const uint64_t per_image = (uint64_t)out->h * out->w * c->k_h * c->k_w * cg * 4;
  uint64_t images = cap / per_image;
  if (images < 1) images = 1;
  if (images > (uint64_t)n) images = (uint64_t)n;
  const uint64_t col = per_image * images;
  const uint64_t packed =
      ((uint64_t)c->k_h * c->k_w * cg * out->c + (uint64_t)(in[0].c > out->c ? in[0].c : out->c) + 16) * 4;
  uint64_t need = col > packed ? col : packed;
  if (need < cap) need = cap; /* direct filter-gradient partials */
  clnet_conv2d_desc d = *c;
  d.n = n;
  if (clnet_conv2d_desc_init(&d) == CLNET_SUCCESS) {
    const clnet_pass passes[3] = {CLNET_PASS_FORWARD, CLNET_PASS_BACKWARD_DATA,
                                       CLNET_PASS_BACKWARD_FILTER};
    for (int32_t k = 0; k < 3; ++k)
      for (int tile = 2; tile <= 4; tile += 2)
        if (clnet_conv2d_winograd_tile_applies(&d, passes[k], tile)) {
          const uint64_t w = clnet_conv2d_winograd_scratch_bytes(&d, tile);
          if (w > need) need = w;
        }
    if (clnet_conv2d_is_depthwise(&d) && clnet_conv2d_depthwise_scratch_bytes(&d) > need)
      need = clnet_conv2d_depthwise_scratch_bytes(&d);
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
  return (double)out->h * out->w * out->c * d->k_h * d->k_w * (in[0].c / clnet_conv2d_groups(d));
}

static void conv_label(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, const char *pass,
                       char *dst, size_t cap) {
  const clnet_conv2d_desc *d = cfg(l);
  /* "conv2d 3x3/2 fwd ...", with what a ResNet conv lacks: "/2x1" strides, " d2x2", " g4", " dw" */
  char geom[64] = "";
  int e = 0;
  if (clnet_conv2d_stride_w(d) != clnet_conv2d_stride_h(d))
    e += snprintf(geom + e, sizeof geom - (size_t)e, "x%d", clnet_conv2d_stride_w(d));
  if (clnet_conv2d_dilation_h(d) != 1 || clnet_conv2d_dilation_w(d) != 1)
    e += snprintf(geom + e, sizeof geom - (size_t)e, " d%dx%d", clnet_conv2d_dilation_h(d), clnet_conv2d_dilation_w(d));
  if (clnet_conv2d_is_depthwise(d)) snprintf(geom + e, sizeof geom - (size_t)e, " dw");
  else if (clnet_conv2d_groups(d) > 1) snprintf(geom + e, sizeof geom - (size_t)e, " g%d", clnet_conv2d_groups(d));
  snprintf(dst, cap, "conv2d %dx%d/%d%s %s %dx%dx%d->%dx%dx%d", d->k_h, d->k_w, clnet_conv2d_stride_h(d), geom,
           !strcmp(pass, "bwd") ? "bwd-filter" : pass, in[0].h, in[0].w, in[0].c, out->h, out->w, out->c);
}

CLNET_LAYER_KIND(conv, "conv", "2-D convolution over NHWC, weights (KH, KW, C_in/groups, C_out)", conv_attrs, 1, 1,
                 CLNET_KIND_BWD_READS_INPUTS, conv_infer, conv_params, clnet_layer_no_aux, conv_scratch, conv_forward,
                 conv_backward, conv_macs, conv_label);
