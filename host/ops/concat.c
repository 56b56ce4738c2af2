/* Concatenation along channels, one input's slice at a time: cl/concat.cl and
 * ops/ref/concat_ref.c. NHWC. */
#include "ops/common.h"

/* Work-items along C in groups of lc = min(16, C rounded up to a power of two) channels, the group
 * filled with rows (lc x 64/lc): a handful of local sizes whatever the channel counts, so a CPU
 * implementation that compiles a kernel per local size (PoCL) compiles each at most five times. */
static void concat_geometry(int32_t rows, int32_t c, size_t global[2], size_t local[2]) {
  size_t lc = 1;
  while (lc < (size_t)c && lc < 16) lc *= 2;
  local[0] = lc;
  local[1] = CLNET_WG_1D / lc;
  global[0] = ((size_t)c + lc - 1) / lc * lc;
  global[1] = ((size_t)rows + local[1] - 1) / local[1] * local[1];
}

static clnet_status concat_check(const char *op, int32_t rows, int32_t c, int32_t c_total, int32_t offset) {
  if (rows < 1 || c < 1 || offset < 0 || c_total < offset + c)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "%s: rows %d and channels %d must be >= 1, the slice [%d, %d) inside the %d channels", op,
                           rows, c, offset, offset + c, c_total);
  return clnet_require_int_range(op, (int64_t)rows * c_total);
}

clnet_status clnet_concat_forward(clnet_ctx *ctx, int32_t rows, int32_t c, int32_t c_total, int32_t offset,
                                  const clnet_buf *x, clnet_buf *y) {
  static const char *op = "concat_forward";
  CLNET_TRY(concat_check(op, rows, c, c_total, offset));
  CLNET_TRY(clnet_require_buf(op, "x", x, (int64_t)rows * c, 4));
  CLNET_TRY(clnet_require_buf(op, "y", y, (int64_t)rows * c_total, 4));
  if (ctx->is_ref) {
    clnet_ref_concat_forward(rows, c, c_total, offset, CF32(x), F32(y));
    return CLNET_SUCCESS;
  }
  size_t global[2], local[2];
  concat_geometry(rows, c, global, local);
  return CLNET_LAUNCH(ctx, "concat", "concat_forward", 2, global, local, CLNET_ARG_I32(rows), CLNET_ARG_I32(c),
                      CLNET_ARG_I32(c_total), CLNET_ARG_I32(offset), CLNET_ARG_BUF(x), CLNET_ARG_BUF(y));
}

clnet_status clnet_concat_backward(clnet_ctx *ctx, int32_t rows, int32_t c, int32_t c_total, int32_t offset,
                                   int32_t accumulate, const clnet_buf *dy, clnet_buf *dx) {
  static const char *op = "concat_backward";
  CLNET_TRY(concat_check(op, rows, c, c_total, offset));
  CLNET_TRY(clnet_require_buf(op, "dy", dy, (int64_t)rows * c_total, 4));
  CLNET_TRY(clnet_require_buf(op, "dx", dx, (int64_t)rows * c, 4));
  if (ctx->is_ref) {
    clnet_ref_concat_backward(rows, c, c_total, offset, accumulate != 0, CF32(dy), F32(dx));
    return CLNET_SUCCESS;
  }
  size_t global[2], local[2];
  concat_geometry(rows, c, global, local);
  return CLNET_LAUNCH(ctx, "concat", "concat_backward", 2, global, local, CLNET_ARG_I32(rows), CLNET_ARG_I32(c),
                      CLNET_ARG_I32(c_total), CLNET_ARG_I32(offset), CLNET_ARG_I32(accumulate != 0),
                      CLNET_ARG_BUF(dy), CLNET_ARG_BUF(dx));
}
