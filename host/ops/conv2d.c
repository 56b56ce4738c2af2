/* Conv2d (NHWC, weights (KH, KW, C_in, C_out), TF padding): im2col + CLBlast
 * GEMM on OpenCL (cl/conv2d.cl), direct loops on the reference
 * (ops/ref/conv2d_ref.c).
 *
 * With K = KH*KW*C_in and P = OH*OW output pixels per image:
 *   forward          col (nc*P, K) = im2col(x chunk); y chunk (nc*P, C_out) = col . W (K, C_out)
 *                    (NHWC: the GEMM output is the y chunk itself, no transpose), then y += b.
 *                    A long K is reduced in slices of ~CONV_GEMM_K_SLICE (see gemm_split_k).
 *   backward data    dcol (nc*P, K) = dy chunk (nc*P, C_out) . W^T; dx chunk = col2im(dcol) (gather).
 *   backward filter  dW (K, C_out) = sum over chunks of col^T . dy chunk (beta = 1 after the
 *                    first chunk); db (C_out) = column sums of dy (N*P, C_out), two-stage fixed order.
 * A chunk is nc images, as many as keep col within a byte limit (16 MiB; 4 MiB for the filter
 * gradient, see below; always at least one image). col lives in the ctx scratch buffer.
 * 1x1 stride-1 convs (no padding possible) skip im2col: x (N*H*W, C_in) is already the col
 * matrix and one GEMM covers the whole batch. */
#include <limits.h>

#include "ops/common.h"

/* Chunk sizes (images per chunk = as many as keep col within the limit, at least one).
 * Forward and backward data: 16 MiB. Measured with CLBlast on PoCL (ResNet-18 shapes, batch
 * 64): 8-16 MiB chunks run the GEMMs ~20% faster in total than 32-64 MiB ones (the col operand
 * of each GEMM stays in cache), while much smaller chunks drop CLBlast into its slower
 * small-size (direct) GEMM for the 30x30x64 layers.
 * Backward filter: 4 MiB. There the chunk rows are the GEMM's reduction length and its output
 * (K, C_out) is small; CLBlast on PoCL runs 2-5x slower reducing over tens of thousands of rows
 * in one call than over a chain of shorter calls accumulating with beta = 1, and the extra
 * read/write of the small dW per chunk is cheap. */
#define CONV_COL_LIMIT_BYTES ((size_t)16 << 20)
#define CONV_WGRAD_COL_LIMIT_BYTES ((size_t)4 << 20)
/* Forward GEMMs reduce over K in slices of about this many columns, accumulated with beta = 1
 * in slice order. Measured with CLBlast on PoCL: for the layer3/layer4 convs (K = 2304, 4608)
 * one GEMM over all of K runs at 12-14 GFLOP/s, slices of 512-768 at 40-48 (~3x); slices of
 * 384 or less are slower again. K <= 864 (every conv up to layer2's 3x3 with 64 inputs) is
 * one GEMM. */
#define CONV_GEMM_K_SLICE 576
/* fixed local sizes: dim0 along the contiguous channel-like dimension */
static const size_t conv_local2[2] = {16, 16}; /* (channel, row) */
static const size_t conv_local3[3] = {16, 4, 4}; /* (channel, column, image row) */
#define CONV_BIAS_ROWS 64 /* rows summed per partial of the bias gradient */

clnet_status clnet_conv2d_desc_init(clnet_conv2d_desc *d) {
  if (!d) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "conv2d: desc is NULL");
  d->out_h = d->out_w = d->pad_top = d->pad_left = 0;
#define CONV_REQUIRE_POS(field, what)                                                                    \
  if (d->field < 1)                                                                                      \
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "conv2d: " #field " (%s) = %d, must be >= 1", what, \
                           (int)d->field);
  CONV_REQUIRE_POS(n, "batch size")
  CONV_REQUIRE_POS(in_h, "input height")
  CONV_REQUIRE_POS(in_w, "input width")
  CONV_REQUIRE_POS(in_c, "input channels")
  CONV_REQUIRE_POS(out_c, "output channels")
  CONV_REQUIRE_POS(k_h, "kernel height")
  CONV_REQUIRE_POS(k_w, "kernel width")
  CONV_REQUIRE_POS(stride, "stride in both dimensions")
#undef CONV_REQUIRE_POS
  if (d->padding != CLNET_PADDING_VALID && d->padding != CLNET_PADDING_SAME)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "conv2d: padding = %d, must be CLNET_PADDING_VALID (0) or CLNET_PADDING_SAME (1)",
                           (int)d->padding);
  if (d->has_bias != 0 && d->has_bias != 1)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "conv2d: has_bias = %d, must be 0 or 1", (int)d->has_bias);
  if (d->padding == CLNET_PADDING_VALID && d->in_h < d->k_h)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "conv2d: padding 'valid' needs in_h >= k_h, got in_h = %d < k_h = %d", d->in_h, d->k_h);
  if (d->padding == CLNET_PADDING_VALID && d->in_w < d->k_w)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "conv2d: padding 'valid' needs in_w >= k_w, got in_w = %d < k_w = %d", d->in_w, d->k_w);
  int32_t oh, ow, pt, pl;
  if (clnet_padding_out(d->in_h, d->k_h, d->stride, d->padding, &oh, &pt) != CLNET_SUCCESS)
    return clnet_wrap_error(CLNET_ERR_INVALID_ARGUMENT, "conv2d: height (in_h, k_h, stride)");
  if (clnet_padding_out(d->in_w, d->k_w, d->stride, d->padding, &ow, &pl) != CLNET_SUCCESS)
    return clnet_wrap_error(CLNET_ERR_INVALID_ARGUMENT, "conv2d: width (in_w, k_w, stride)");
  /* kernels and GEMMs index with int */
  const int64_t k = (int64_t)d->k_h * d->k_w * d->in_c;
  const struct { const char *what; int64_t count; } sizes[] = {
      {"x: n*in_h*in_w*in_c", (int64_t)d->n * d->in_h * d->in_w * d->in_c},
      {"y: n*out_h*out_w*out_c", (int64_t)d->n * oh * ow * d->out_c},
      {"w: k_h*k_w*in_c*out_c", k * d->out_c},
      {"im2col of one image: out_h*out_w*k_h*k_w*in_c", (int64_t)oh * ow * k},
  };
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; ++i)
    if (sizes[i].count > INT_MAX)
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "conv2d: %s = %lld elements, must be < 2^31",
                             sizes[i].what, (long long)sizes[i].count);
  d->out_h = oh;
  d->out_w = ow;
  d->pad_top = pt;
  d->pad_left = pl;
  return CLNET_SUCCESS;
}

/* The desc must be valid and its derived fields those clnet_conv2d_desc_init computes. */
static clnet_status check_desc(const char *op, const clnet_conv2d_desc *d) {
  if (!d) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: desc is NULL", op);
  clnet_conv2d_desc t = *d;
  clnet_status st = clnet_conv2d_desc_init(&t);
  if (st != CLNET_SUCCESS) return clnet_wrap_error(st, "%s", op);
  if (t.out_h != d->out_h || t.out_w != d->out_w || t.pad_top != d->pad_top || t.pad_left != d->pad_left)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "%s: derived fields (out %dx%d, pad %d,%d) do not match the desc (expected out %dx%d, "
                           "pad %d,%d): call clnet_conv2d_desc_init after setting the fields",
                           op, d->out_h, d->out_w, d->pad_top, d->pad_left, t.out_h, t.out_w, t.pad_top, t.pad_left);
  return CLNET_SUCCESS;
}

static int64_t x_count(const clnet_conv2d_desc *d) { return (int64_t)d->n * d->in_h * d->in_w * d->in_c; }
static int64_t y_count(const clnet_conv2d_desc *d) { return (int64_t)d->n * d->out_h * d->out_w * d->out_c; }
static int32_t col_k(const clnet_conv2d_desc *d) { return d->k_h * d->k_w * d->in_c; }
static int64_t w_count(const clnet_conv2d_desc *d) { return (int64_t)col_k(d) * d->out_c; }

/* 1x1 stride 1: no padding either way, x (N*H*W, C_in) is the col matrix. */
static int is_pointwise(const clnet_conv2d_desc *d) { return d->k_h == 1 && d->k_w == 1 && d->stride == 1; }

/* Images per chunk: col (nc*OH*OW, K) stays <= limit bytes, at least one image. */
static int32_t chunk_images(const clnet_conv2d_desc *d, size_t limit) {
  size_t per_image = (size_t)d->out_h * d->out_w * (size_t)col_k(d) * sizeof(float);
  size_t nc = limit / per_image;
  if (nc < 1) nc = 1;
  if (nc > (size_t)d->n) nc = (size_t)d->n;
  return (int32_t)nc;
}

/* col (nc*OH*OW, K) = im2col of images [n0, n0+nc) of x (N, H, W, C_in). */
static clnet_status launch_im2col(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *x, int32_t n0,
                                  int32_t nc, clnet_buf *col) {
  size_t global[3] = {(size_t)d->k_w * d->in_c, (size_t)d->out_w, (size_t)nc * d->out_h};
  return CLNET_LAUNCH(ctx, "conv2d", "conv2d_im2col", 3, global, conv_local3, CLNET_ARG_BUF(x),
                      CLNET_ARG_I32((int64_t)n0 * d->in_h * d->in_w * d->in_c), CLNET_ARG_BUF(col),
                      CLNET_ARG_I32(nc), CLNET_ARG_I32(d->in_h), CLNET_ARG_I32(d->in_w), CLNET_ARG_I32(d->in_c),
                      CLNET_ARG_I32(d->out_h), CLNET_ARG_I32(d->out_w), CLNET_ARG_I32(d->k_h),
                      CLNET_ARG_I32(d->k_w), CLNET_ARG_I32(d->stride), CLNET_ARG_I32(d->pad_top),
                      CLNET_ARG_I32(d->pad_left));
}

/* C (m, n) = A (m, K) . B (K, n) (row-major, lda = K, ldb = ldc = n), reduced over K in
 * n_slices = round(K / CONV_GEMM_K_SLICE) equal slices: C = A[:, s0] . B[s0, :], then
 * C += A[:, s1] . B[s1, :], ... in slice order (deterministic). */
static clnet_status gemm_split_k(clnet_ctx *ctx, int32_t m, int32_t n, int32_t K, const clnet_buf *a,
                                 const clnet_buf *b, clnet_buf *c, size_t c_off) {
  int32_t n_slices = (K + CONV_GEMM_K_SLICE / 2) / CONV_GEMM_K_SLICE;
  if (n_slices < 1) n_slices = 1;
  const int32_t ks = (K + n_slices - 1) / n_slices;
  for (int32_t k0 = 0; k0 < K; k0 += ks) {
    const int32_t kl = K - k0 < ks ? K - k0 : ks;
    CLNET_TRY(clnet_gemm(ctx, 0, 0, m, n, kl, 1.0f, a, (size_t)k0, K, b, (size_t)k0 * n, n, k0 == 0 ? 0.0f : 1.0f,
                         c, c_off, n));
  }
  return CLNET_SUCCESS;
}

clnet_status clnet_conv2d_forward(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *x,
                                  const clnet_buf *w, const clnet_buf *b, clnet_buf *y) {
  const char *op = "conv2d_forward";
  CLNET_TRY(check_desc(op, d));
  CLNET_TRY(clnet_require_buf(op, "x", x, x_count(d), 4));
  CLNET_TRY(clnet_require_buf(op, "w", w, w_count(d), 4));
  if (d->has_bias) CLNET_TRY(clnet_require_buf(op, "b", b, d->out_c, 4));
  CLNET_TRY(clnet_require_buf(op, "y", y, y_count(d), 4));
  if (ctx->is_ref) {
    clnet_ref_conv2d_forward(d, CF32(x), CF32(w), d->has_bias ? CF32(b) : NULL, F32(y));
    return CLNET_SUCCESS;
  }
  const int32_t K = col_k(d), P = d->out_h * d->out_w; /* col row length, output pixels per image */
  if (is_pointwise(d)) {
    /* y (N*H*W, C_out) = x (N*H*W, C_in) . w (C_in, C_out) */
    CLNET_TRY(gemm_split_k(ctx, d->n * P, d->out_c, K, x, w, y, 0));
  } else {
    const int32_t chunk = chunk_images(d, CONV_COL_LIMIT_BYTES);
    clnet_buf col; /* (chunk*P, K) */
    CLNET_TRY(clnet_scratch_get(ctx, (size_t)chunk * P * (size_t)K * sizeof(float), &col));
    for (int32_t n0 = 0; n0 < d->n; n0 += chunk) {
      const int32_t nc = d->n - n0 < chunk ? d->n - n0 : chunk;
      CLNET_TRY(launch_im2col(ctx, d, x, n0, nc, &col));
      /* y[n0 .. n0+nc) (nc*P, C_out) = col (nc*P, K) . w (K, C_out) */
      CLNET_TRY(gemm_split_k(ctx, nc * P, d->out_c, K, &col, w, y, (size_t)n0 * P * d->out_c));
    }
  }
  if (d->has_bias) {
    const int32_t rows = d->n * P;
    size_t global[2] = {(size_t)d->out_c, (size_t)rows};
    CLNET_TRY(CLNET_LAUNCH(ctx, "conv2d", "conv2d_bias_add", 2, global, conv_local2, CLNET_ARG_BUF(y),
                           CLNET_ARG_BUF(b), CLNET_ARG_I32(rows), CLNET_ARG_I32(d->out_c)));
  }
  return CLNET_SUCCESS;
}

clnet_status clnet_conv2d_backward_data(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *dy,
                                        const clnet_buf *w, clnet_buf *dx) {
  const char *op = "conv2d_backward_data";
  CLNET_TRY(check_desc(op, d));
  CLNET_TRY(clnet_require_buf(op, "dy", dy, y_count(d), 4));
  CLNET_TRY(clnet_require_buf(op, "w", w, w_count(d), 4));
  CLNET_TRY(clnet_require_buf(op, "dx", dx, x_count(d), 4));
  if (ctx->is_ref) {
    clnet_ref_conv2d_backward_data(d, CF32(dy), CF32(w), F32(dx));
    return CLNET_SUCCESS;
  }
  const int32_t K = col_k(d), P = d->out_h * d->out_w;
  if (is_pointwise(d))
    /* dx (N*H*W, C_in) = dy (N*H*W, C_out) . w^T (w is (C_in, C_out)) */
    return clnet_gemm(ctx, 0, 1, d->n * P, K, d->out_c, 1.0f, dy, 0, d->out_c, w, 0, d->out_c, 0.0f, dx, 0, K);
  const int32_t chunk = chunk_images(d, CONV_COL_LIMIT_BYTES);
  clnet_buf dcol; /* (chunk*P, K) */
  CLNET_TRY(clnet_scratch_get(ctx, (size_t)chunk * P * (size_t)K * sizeof(float), &dcol));
  for (int32_t n0 = 0; n0 < d->n; n0 += chunk) {
    const int32_t nc = d->n - n0 < chunk ? d->n - n0 : chunk;
    /* dcol (nc*P, K) = dy[n0 .. n0+nc) (nc*P, C_out) . w^T (w is (K, C_out)) */
    CLNET_TRY(clnet_gemm(ctx, 0, 1, nc * P, K, d->out_c, 1.0f, dy, (size_t)n0 * P * d->out_c, d->out_c, w, 0,
                         d->out_c, 0.0f, &dcol, 0, K));
    /* dx[n0 .. n0+nc) (nc, H, W, C_in) = col2im(dcol) */
    size_t global[3] = {(size_t)d->in_c, (size_t)d->in_w, (size_t)nc * d->in_h};
    CLNET_TRY(CLNET_LAUNCH(ctx, "conv2d", "conv2d_col2im", 3, global, conv_local3, CLNET_ARG_BUF(&dcol),
                           CLNET_ARG_BUF(dx), CLNET_ARG_I32((int64_t)n0 * d->in_h * d->in_w * d->in_c),
                           CLNET_ARG_I32(nc), CLNET_ARG_I32(d->in_h), CLNET_ARG_I32(d->in_w),
                           CLNET_ARG_I32(d->in_c), CLNET_ARG_I32(d->out_h), CLNET_ARG_I32(d->out_w),
                           CLNET_ARG_I32(d->k_h), CLNET_ARG_I32(d->k_w), CLNET_ARG_I32(d->stride),
                           CLNET_ARG_I32(d->pad_top), CLNET_ARG_I32(d->pad_left)));
  }
  return CLNET_SUCCESS;
}

clnet_status clnet_conv2d_backward_filter(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *x,
                                          const clnet_buf *dy, clnet_buf *dw, clnet_buf *db) {
  const char *op = "conv2d_backward_filter";
  CLNET_TRY(check_desc(op, d));
  CLNET_TRY(clnet_require_buf(op, "x", x, x_count(d), 4));
  CLNET_TRY(clnet_require_buf(op, "dy", dy, y_count(d), 4));
  CLNET_TRY(clnet_require_buf(op, "dw", dw, w_count(d), 4));
  if (d->has_bias) CLNET_TRY(clnet_require_buf(op, "db", db, d->out_c, 4));
  if (ctx->is_ref) {
    clnet_ref_conv2d_backward_filter(d, CF32(x), CF32(dy), F32(dw), d->has_bias ? F32(db) : NULL);
    return CLNET_SUCCESS;
  }
  const int32_t K = col_k(d), P = d->out_h * d->out_w, rows = d->n * P;
  const int pointwise = is_pointwise(d);
  const int32_t chunk = chunk_images(d, CONV_WGRAD_COL_LIMIT_BYTES);
  const int32_t n_blocks = (rows + CONV_BIAS_ROWS - 1) / CONV_BIAS_ROWS;
  size_t col_bytes = pointwise ? 0 : (size_t)chunk * P * (size_t)K * sizeof(float);
  size_t partial_bytes = d->has_bias ? (size_t)n_blocks * d->out_c * sizeof(float) : 0;
  /* scratch holds the bias partials (n_blocks, C_out) first, then col (chunk*P, K); the in-order
   * queue keeps the two uses apart */
  clnet_buf scratch;
  if (col_bytes || partial_bytes)
    CLNET_TRY(clnet_scratch_get(ctx, col_bytes > partial_bytes ? col_bytes : partial_bytes, &scratch));
  if (d->has_bias) {
    size_t g1[2] = {(size_t)d->out_c, (size_t)n_blocks};
    CLNET_TRY(CLNET_LAUNCH(ctx, "conv2d", "conv2d_bias_grad_partial", 2, g1, conv_local2, CLNET_ARG_BUF(dy),
                           CLNET_ARG_BUF(&scratch), CLNET_ARG_I32(rows), CLNET_ARG_I32(d->out_c),
                           CLNET_ARG_I32(CONV_BIAS_ROWS)));
    size_t g2 = (size_t)d->out_c, l2 = CLNET_WG_1D;
    CLNET_TRY(CLNET_LAUNCH(ctx, "conv2d", "conv2d_bias_grad_final", 1, &g2, &l2, CLNET_ARG_BUF(&scratch),
                           CLNET_ARG_BUF(db), CLNET_ARG_I32(n_blocks), CLNET_ARG_I32(d->out_c)));
  }
  if (pointwise)
    /* dw (C_in, C_out) = x^T (x is (N*H*W, C_in)) . dy (N*H*W, C_out) */
    return clnet_gemm(ctx, 1, 0, K, d->out_c, rows, 1.0f, x, 0, K, dy, 0, d->out_c, 0.0f, dw, 0, d->out_c);
  for (int32_t n0 = 0; n0 < d->n; n0 += chunk) {
    const int32_t nc = d->n - n0 < chunk ? d->n - n0 : chunk;
    CLNET_TRY(launch_im2col(ctx, d, x, n0, nc, &scratch));
    /* dw (K, C_out) (+)= col^T (col is (nc*P, K)) . dy[n0 .. n0+nc) (nc*P, C_out) */
    CLNET_TRY(clnet_gemm(ctx, 1, 0, K, d->out_c, nc * P, 1.0f, &scratch, 0, K, dy, (size_t)n0 * P * d->out_c,
                         d->out_c, n0 == 0 ? 0.0f : 1.0f, dw, 0, d->out_c));
  }
  return CLNET_SUCCESS;
}
