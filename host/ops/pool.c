/* Max and average pooling (TF valid/same or explicit pads; max pooling keeps its argmax for
 * backward) and global average and max pooling: cl/pool.cl and ops/ref/pool_ref.c. NHWC. */
#include "ops/common.h"

/* Work-items along C (contiguous) in dimension 0; see cl/pool.cl. */
static const size_t pool_local[3] = {CLNET_WG_1D, 1, 1};

/* The windowed kernels split dimension 0 (C/V * width) with a float division
 * that is exact below 2^22 (div_small in cl/pool.cl). */
#define POOL_MAX_ROW (1 << 22)

/* Channels per work-item of the windowed kernels: 16 when C allows, else 1. */
static int32_t pool_vec(int32_t c) { return c % 16 == 0 ? 16 : 1; }

/* One dimension of the window: output size and leading pad, from `padding` or the explicit pads. */
static clnet_status pool_dim(const char *dim, int32_t in, int32_t k, int32_t s, clnet_padding padding, int32_t before,
                             int32_t after, int32_t *out, int32_t *pad_before) {
  if (padding != CLNET_PADDING_EXPLICIT) {
    clnet_status st = clnet_padding_out(in, k, s, padding, out, pad_before);
    return st == CLNET_SUCCESS ? st : clnet_wrap_error(st, "pool %s", dim);
  }
  if (before < 0 || after < 0 || before >= k || after >= k)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "pool %s: pads %d and %d must lie in [0, %d) (smaller than the window %d, so that every "
                           "window holds an input cell)",
                           dim, before, after, k, k);
  if (in + before + after < k)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "pool %s: input %d + pads %d + %d is smaller than the window %d",
                           dim, in, before, after, k);
  *out = (in + before + after - k) / s + 1;
  *pad_before = before;
  return CLNET_SUCCESS;
}

clnet_status clnet_pool_desc_init(clnet_pool_desc *d) {
  if (!d) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "pool: desc is NULL");
  if (d->n < 1 || d->in_h < 1 || d->in_w < 1 || d->c < 1)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "pool: input (N %d, H %d, W %d, C %d) must be >= 1 in every dimension",
                           d->n, d->in_h, d->in_w, d->c);
  if (d->k_h < 1 || d->k_w < 1 || d->stride_h < 1 || d->stride_w < 1)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "pool: window %dx%d and stride %dx%d must be >= 1", d->k_h,
                           d->k_w, d->stride_h, d->stride_w);
  if (d->padding != CLNET_PADDING_VALID && d->padding != CLNET_PADDING_SAME && d->padding != CLNET_PADDING_EXPLICIT)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "pool: unknown padding mode %d", (int)d->padding);
  if (d->count_include_pad != 0 && d->count_include_pad != 1)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "pool: count_include_pad %d must be 0 or 1", d->count_include_pad);
  CLNET_TRY(pool_dim("height", d->in_h, d->k_h, d->stride_h, d->padding, d->pads[0], d->pads[2], &d->out_h,
                     &d->pad_top));
  CLNET_TRY(pool_dim("width", d->in_w, d->k_w, d->stride_w, d->padding, d->pads[1], d->pads[3], &d->out_w,
                     &d->pad_left));
  CLNET_TRY(clnet_require_int_range("pool input", (int64_t)d->n * d->in_h * d->in_w * d->c));
  CLNET_TRY(clnet_require_int_range("pool output", (int64_t)d->n * d->out_h * d->out_w * d->c));
  if ((int64_t)d->in_w * d->c >= POOL_MAX_ROW)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "pool: width %d x channels %d must stay below 2^22", d->in_w,
                           d->c);
  return CLNET_SUCCESS;
}

/* The derived fields must be what clnet_pool_desc_init gives (a desc that was
 * edited after init would index out of bounds). */
static clnet_status pool_check_desc(const char *op, const clnet_pool_desc *d) {
  if (!d) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: desc is NULL", op);
  clnet_pool_desc t = *d;
  clnet_status st = clnet_pool_desc_init(&t);
  if (st != CLNET_SUCCESS) return clnet_wrap_error(st, "%s", op);
  if (t.out_h != d->out_h || t.out_w != d->out_w || t.pad_top != d->pad_top || t.pad_left != d->pad_left)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "%s: derived fields (out %dx%d, pad %d,%d) differ from clnet_pool_desc_init's (out %dx%d, "
                           "pad %d,%d); call clnet_pool_desc_init after changing the desc",
                           op, d->out_h, d->out_w, d->pad_top, d->pad_left, t.out_h, t.out_w, t.pad_top, t.pad_left);
  return CLNET_SUCCESS;
}

static clnet_status maxpool_check_desc(const char *op, const clnet_pool_desc *d) {
  CLNET_TRY(pool_check_desc(op, d));
  if (d->k_h > CLNET_MAXPOOL_MAX_K || d->k_w > CLNET_MAXPOOL_MAX_K)
    return clnet_set_error(CLNET_ERR_UNSUPPORTED, "%s: window %dx%d; argmax is one byte per output, so each side <= %d",
                           op, d->k_h, d->k_w, CLNET_MAXPOOL_MAX_K);
  return CLNET_SUCCESS;
}

#define POOL_GEOMETRY_ARGS(d)                                                                            \
  CLNET_ARG_I32((d)->in_h), CLNET_ARG_I32((d)->in_w), CLNET_ARG_I32((d)->c), CLNET_ARG_I32((d)->out_h), \
      CLNET_ARG_I32((d)->out_w), CLNET_ARG_I32((d)->k_h), CLNET_ARG_I32((d)->k_w),                       \
      CLNET_ARG_I32((d)->stride_h), CLNET_ARG_I32((d)->stride_w), CLNET_ARG_I32((d)->pad_top),           \
      CLNET_ARG_I32((d)->pad_left)

static int64_t pool_in(const clnet_pool_desc *d) { return (int64_t)d->n * d->in_h * d->in_w * d->c; }
static int64_t pool_out(const clnet_pool_desc *d) { return (int64_t)d->n * d->out_h * d->out_w * d->c; }

clnet_status clnet_maxpool_forward(clnet_ctx *ctx, const clnet_pool_desc *d, const clnet_buf *x, clnet_buf *y,
                                   clnet_buf *argmax) {
  static const char *op = "maxpool_forward";
  CLNET_TRY(maxpool_check_desc(op, d));
  CLNET_TRY(clnet_require_buf(op, "x", x, pool_in(d), 4));
  CLNET_TRY(clnet_require_buf(op, "y", y, pool_out(d), 4));
  CLNET_TRY(clnet_require_buf(op, "argmax", argmax, pool_out(d), 1));
  if (ctx->is_ref) {
    clnet_ref_maxpool_forward(d, CF32(x), F32(y), (uint8_t *)argmax->host);
    return CLNET_SUCCESS;
  }
  const int32_t v = pool_vec(d->c);
  const size_t global[3] = {(size_t)(d->c / v) * (size_t)d->out_w, (size_t)d->out_h, (size_t)d->n};
  return CLNET_LAUNCH(ctx, "pool", v == 16 ? "maxpool_forward_v16" : "maxpool_forward_v1", 3, global, pool_local,
                      POOL_GEOMETRY_ARGS(d), CLNET_ARG_BUF(x), CLNET_ARG_BUF(y), CLNET_ARG_BUF(argmax));
}

clnet_status clnet_maxpool_backward(clnet_ctx *ctx, const clnet_pool_desc *d, const clnet_buf *argmax,
                                    const clnet_buf *dy, clnet_buf *dx) {
  static const char *op = "maxpool_backward";
  CLNET_TRY(maxpool_check_desc(op, d));
  CLNET_TRY(clnet_require_buf(op, "argmax", argmax, pool_out(d), 1));
  CLNET_TRY(clnet_require_buf(op, "dy", dy, pool_out(d), 4));
  CLNET_TRY(clnet_require_buf(op, "dx", dx, pool_in(d), 4));
  if (ctx->is_ref) {
    clnet_ref_maxpool_backward(d, (const uint8_t *)argmax->host, CF32(dy), F32(dx));
    return CLNET_SUCCESS;
  }
  const int32_t v = pool_vec(d->c);
  const size_t global[3] = {(size_t)(d->c / v) * (size_t)d->in_w, (size_t)d->in_h, (size_t)d->n};
  return CLNET_LAUNCH(ctx, "pool", v == 16 ? "maxpool_backward_v16" : "maxpool_backward_v1", 3, global, pool_local,
                      POOL_GEOMETRY_ARGS(d), CLNET_ARG_BUF(argmax), CLNET_ARG_BUF(dy), CLNET_ARG_BUF(dx));
}

clnet_status clnet_avgpool_forward(clnet_ctx *ctx, const clnet_pool_desc *d, const clnet_buf *x, clnet_buf *y) {
  static const char *op = "avgpool_forward";
  CLNET_TRY(pool_check_desc(op, d));
  CLNET_TRY(clnet_require_buf(op, "x", x, pool_in(d), 4));
  CLNET_TRY(clnet_require_buf(op, "y", y, pool_out(d), 4));
  if (ctx->is_ref) {
    clnet_ref_avgpool_forward(d, CF32(x), F32(y));
    return CLNET_SUCCESS;
  }
  const int32_t v = pool_vec(d->c);
  const size_t global[3] = {(size_t)(d->c / v) * (size_t)d->out_w, (size_t)d->out_h, (size_t)d->n};
  return CLNET_LAUNCH(ctx, "pool", v == 16 ? "avgpool_forward_v16" : "avgpool_forward_v1", 3, global, pool_local,
                      POOL_GEOMETRY_ARGS(d), CLNET_ARG_I32(d->count_include_pad), CLNET_ARG_BUF(x), CLNET_ARG_BUF(y));
}

clnet_status clnet_avgpool_backward(clnet_ctx *ctx, const clnet_pool_desc *d, const clnet_buf *dy, clnet_buf *dx) {
  static const char *op = "avgpool_backward";
  CLNET_TRY(pool_check_desc(op, d));
  CLNET_TRY(clnet_require_buf(op, "dy", dy, pool_out(d), 4));
  CLNET_TRY(clnet_require_buf(op, "dx", dx, pool_in(d), 4));
  if (ctx->is_ref) {
    clnet_ref_avgpool_backward(d, CF32(dy), F32(dx));
    return CLNET_SUCCESS;
  }
  const int32_t v = pool_vec(d->c);
  const size_t global[3] = {(size_t)(d->c / v) * (size_t)d->in_w, (size_t)d->in_h, (size_t)d->n};
  return CLNET_LAUNCH(ctx, "pool", v == 16 ? "avgpool_backward_v16" : "avgpool_backward_v1", 3, global, pool_local,
                      POOL_GEOMETRY_ARGS(d), CLNET_ARG_I32(d->count_include_pad), CLNET_ARG_BUF(dy),
                      CLNET_ARG_BUF(dx));
}

static clnet_status gap_check(const char *op, int32_t n, int32_t h, int32_t w, int32_t c) {
  if (n < 1 || h < 1 || w < 1 || c < 1)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: input (N %d, H %d, W %d, C %d) must be >= 1 in every dimension",
                           op, n, h, w, c);
  return clnet_require_int_range(op, (int64_t)n * h * w * c);
}

clnet_status clnet_global_avgpool_forward(clnet_ctx *ctx, int32_t n, int32_t h, int32_t w, int32_t c,
                                          const clnet_buf *x, clnet_buf *y) {
  static const char *op = "global_avgpool_forward";
  CLNET_TRY(gap_check(op, n, h, w, c));
  CLNET_TRY(clnet_require_buf(op, "x", x, (int64_t)n * h * w * c, 4));
  CLNET_TRY(clnet_require_buf(op, "y", y, (int64_t)n * c, 4));
  if (ctx->is_ref) {
    clnet_ref_global_avgpool_forward(n, h, w, c, CF32(x), F32(y));
    return CLNET_SUCCESS;
  }
  const size_t global[2] = {(size_t)c, (size_t)n};
  return CLNET_LAUNCH(ctx, "pool", "global_avgpool_forward", 2, global, pool_local, CLNET_ARG_I32(h * w),
                      CLNET_ARG_I32(c), CLNET_ARG_I32(n), CLNET_ARG_BUF(x), CLNET_ARG_BUF(y));
}

clnet_status clnet_global_avgpool_backward(clnet_ctx *ctx, int32_t n, int32_t h, int32_t w, int32_t c,
                                           const clnet_buf *dy, clnet_buf *dx) {
  static const char *op = "global_avgpool_backward";
  CLNET_TRY(gap_check(op, n, h, w, c));
  CLNET_TRY(clnet_require_buf(op, "dy", dy, (int64_t)n * c, 4));
  CLNET_TRY(clnet_require_buf(op, "dx", dx, (int64_t)n * h * w * c, 4));
  if (ctx->is_ref) {
    clnet_ref_global_avgpool_backward(n, h, w, c, CF32(dy), F32(dx));
    return CLNET_SUCCESS;
  }
  const size_t global[3] = {(size_t)c, (size_t)h * (size_t)w, (size_t)n};
  return CLNET_LAUNCH(ctx, "pool", "global_avgpool_backward", 3, global, pool_local, CLNET_ARG_I32(h * w),
                      CLNET_ARG_I32(c), CLNET_ARG_BUF(dy), CLNET_ARG_BUF(dx));
}

clnet_status clnet_global_maxpool_forward(clnet_ctx *ctx, int32_t n, int32_t h, int32_t w, int32_t c,
                                          const clnet_buf *x, clnet_buf *y, clnet_buf *argmax) {
  static const char *op = "global_maxpool_forward";
  CLNET_TRY(gap_check(op, n, h, w, c));
  CLNET_TRY(clnet_require_buf(op, "x", x, (int64_t)n * h * w * c, 4));
  CLNET_TRY(clnet_require_buf(op, "y", y, (int64_t)n * c, 4));
  CLNET_TRY(clnet_require_buf(op, "argmax", argmax, (int64_t)n * c, 4));
  if (ctx->is_ref) {
    clnet_ref_global_maxpool_forward(n, h, w, c, CF32(x), F32(y), I32(argmax));
    return CLNET_SUCCESS;
  }
  const size_t global[2] = {(size_t)c, (size_t)n};
  return CLNET_LAUNCH(ctx, "pool", "global_maxpool_forward", 2, global, pool_local, CLNET_ARG_I32(h * w),
                      CLNET_ARG_I32(c), CLNET_ARG_I32(n), CLNET_ARG_BUF(x), CLNET_ARG_BUF(y), CLNET_ARG_BUF(argmax));
}

clnet_status clnet_global_maxpool_backward(clnet_ctx *ctx, int32_t n, int32_t h, int32_t w, int32_t c,
                                           const clnet_buf *argmax, const clnet_buf *dy, clnet_buf *dx) {
  static const char *op = "global_maxpool_backward";
  CLNET_TRY(gap_check(op, n, h, w, c));
  CLNET_TRY(clnet_require_buf(op, "argmax", argmax, (int64_t)n * c, 4));
  CLNET_TRY(clnet_require_buf(op, "dy", dy, (int64_t)n * c, 4));
  CLNET_TRY(clnet_require_buf(op, "dx", dx, (int64_t)n * h * w * c, 4));
  if (ctx->is_ref) {
    clnet_ref_global_maxpool_backward(n, h, w, c, CI32(argmax), CF32(dy), F32(dx));
    return CLNET_SUCCESS;
  }
  const size_t global[3] = {(size_t)c, (size_t)h * (size_t)w, (size_t)n};
  return CLNET_LAUNCH(ctx, "pool", "global_maxpool_backward", 3, global, pool_local, CLNET_ARG_I32(h * w),
                      CLNET_ARG_I32(c), CLNET_ARG_BUF(argmax), CLNET_ARG_BUF(dy), CLNET_ARG_BUF(dx));
}
