/* Depthwise convolution (CLNET_CONV_ALGO_DEPTHWISE): forward, backward data and the filter
 * gradient of convs with groups = C_in > 1, from cl/conv2d_depthwise.cl (which describes the
 * kernels). The filter gradient reduces over fixed blocks of output rows into scratch partials,
 * then sums the blocks in order; db is the shared column sum (host/ops/conv2d.c). Fixed partitions
 * and fixed sum orders: bit-identical run to run. */
#include "ops/conv_depthwise.h"

#include "ops/common.h"

#define DW_V 16 /* channels per work-item: DW_V in the .cl file */
#define DW_PT 4 /* pixels per work-item: DW_PT in the .cl file */
/* Filter-gradient partition: each block of output rows covers about this many output pixels, so
 * that there are enough blocks x channel tiles x kh to fill the device while every work-item still
 * runs a long sum (a 32x32x96 layer at batch 64: 128 blocks, 4608 work-items of 512 pixels). */
#define DW_WGRAD_BLOCK_PIXELS 512

static const size_t dw_local = CLNET_WG_1D;

static int32_t ceil_div(int32_t n, int32_t m) { return (n + m - 1) / m; }
static int32_t gcd(int32_t a, int32_t b) {
  while (b) {
    const int32_t t = a % b;
    a = b, b = t;
  }
  return a;
}

#define DW_SHAPE_ARGS(d)                                                                                          \
  CLNET_ARG_I32((d)->n), CLNET_ARG_I32((d)->in_h), CLNET_ARG_I32((d)->in_w), CLNET_ARG_I32((d)->in_c),             \
      CLNET_ARG_I32((d)->out_c / (d)->in_c), CLNET_ARG_I32((d)->out_h), CLNET_ARG_I32((d)->out_w),                 \
      CLNET_ARG_I32((d)->k_h), CLNET_ARG_I32((d)->k_w), CLNET_ARG_I32(clnet_conv2d_stride_h(d)),                   \
      CLNET_ARG_I32(clnet_conv2d_stride_w(d)), CLNET_ARG_I32(clnet_conv2d_dilation_h(d)),                          \
      CLNET_ARG_I32(clnet_conv2d_dilation_w(d)), CLNET_ARG_I32((d)->pad_top), CLNET_ARG_I32((d)->pad_left)

clnet_status clnet_conv2d_depthwise_forward(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *x,
                                            const clnet_buf *w, const clnet_buf *b, clnet_buf *y) {
  const int64_t items = (int64_t)ceil_div(d->out_c, DW_V) * ceil_div(d->out_w, DW_PT) * d->n * d->out_h;
  CLNET_TRY(clnet_require_int_range("conv2d_forward (depthwise): work-items", items + (int64_t)dw_local));
  size_t global = (size_t)items;
  return CLNET_LAUNCH(ctx, "conv2d_depthwise", "conv2d_dw_fwd", 1, &global, &dw_local, CLNET_ARG_BUF(x),
                      CLNET_ARG_BUF(w), CLNET_ARG_BUF(b ? b : w), CLNET_ARG_BUF(y), DW_SHAPE_ARGS(d),
                      CLNET_ARG_I32(b != NULL));
}

clnet_status clnet_conv2d_depthwise_backward_data(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *dy,
                                                  const clnet_buf *w, clnet_buf *dx) {
  const int32_t sh = clnet_conv2d_stride_h(d), sw = clnet_conv2d_stride_w(d);
  const int32_t dh = clnet_conv2d_dilation_h(d), dw = clnet_conv2d_dilation_w(d);
  const int32_t gh = gcd(sh, dh), gw = gcd(sw, dw);
  /* sh*sw classes of dx pixels, each an (N, ceil(H/sh), ceil(W/sw)) grid, in tiles of DW_PT columns */
  const int64_t items = (int64_t)ceil_div(d->in_c, DW_V) * ceil_div(ceil_div(d->in_w, sw), DW_PT) * sw * sh *
                        ceil_div(d->in_h, sh) * d->n;
  CLNET_TRY(clnet_require_int_range("conv2d_backward_data (depthwise): work-items", items + (int64_t)dw_local));
  size_t global = (size_t)items;
  return CLNET_LAUNCH(ctx, "conv2d_depthwise", "conv2d_dw_bwd_data", 1, &global, &dw_local, CLNET_ARG_BUF(dy),
                      CLNET_ARG_BUF(w), CLNET_ARG_BUF(dx), DW_SHAPE_ARGS(d), CLNET_ARG_I32(sh / gh),
                      CLNET_ARG_I32(sw / gw), CLNET_ARG_I32(dh / gh), CLNET_ARG_I32(dw / gw));
}

/* The filter gradient's fixed partition: output rows (n*OH + oh) in blocks of rows_per_block,
 * with the partials (n_blocks, KH*KW*C_out) within CLNET_DEPTHWISE_PARTIAL_BYTES. Depends on the
 * shape only, so every run sums in the same order. */
static void wgrad_blocks(const clnet_conv2d_desc *d, int32_t *rows_per_block, int32_t *n_blocks) {
  const int32_t rows = d->n * d->out_h;
  const uint64_t per_block = (uint64_t)d->k_h * d->k_w * d->out_c * sizeof(float);
  const uint64_t max_blocks = CLNET_DEPTHWISE_PARTIAL_BYTES / per_block;
  int32_t nb = ceil_div(rows, ceil_div(DW_WGRAD_BLOCK_PIXELS, d->out_w));
  if ((uint64_t)nb > max_blocks) nb = max_blocks > 1 ? (int32_t)max_blocks : 1;
  *rows_per_block = ceil_div(rows, nb);
  *n_blocks = ceil_div(rows, *rows_per_block); /* <= nb, every block non-empty */
}

uint64_t clnet_conv2d_depthwise_scratch_bytes(const clnet_conv2d_desc *d) {
  int32_t rpb, nb;
  wgrad_blocks(d, &rpb, &nb);
  return nb > 1 ? (uint64_t)nb * d->k_h * d->k_w * d->out_c * sizeof(float) : 0;
}

clnet_status clnet_conv2d_depthwise_backward_filter(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *x,
                                                    const clnet_buf *dy, clnet_buf *dw) {
  int32_t rpb, n_blocks;
  wgrad_blocks(d, &rpb, &n_blocks);
  const int32_t count = d->k_h * d->k_w * d->out_c; /* dw */
  clnet_buf pw = *dw;                                /* one block writes dw itself */
  if (n_blocks > 1) CLNET_TRY(clnet_scratch_get(ctx, (size_t)n_blocks * count * sizeof(float), &pw));
  size_t global = (size_t)ceil_div(d->out_c, DW_V) * d->k_h * n_blocks;
  CLNET_TRY(CLNET_LAUNCH(ctx, "conv2d_depthwise", "conv2d_dw_wgrad", 1, &global, &dw_local, CLNET_ARG_BUF(x),
                         CLNET_ARG_BUF(dy), CLNET_ARG_BUF(&pw), DW_SHAPE_ARGS(d), CLNET_ARG_I32(rpb),
                         CLNET_ARG_I32(n_blocks)));
  if (n_blocks == 1) return CLNET_SUCCESS;
  size_t g2 = (size_t)count;
  return CLNET_LAUNCH(ctx, "conv2d_depthwise", "conv2d_dw_sum_blocks", 1, &g2, &dw_local, CLNET_ARG_BUF(&pw),
                      CLNET_ARG_BUF(dw), CLNET_ARG_I32(n_blocks), CLNET_ARG_I32(count));
}
