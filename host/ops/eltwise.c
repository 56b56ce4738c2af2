/* ReLU, residual add, gradient accumulation, the non-finite flag: cl/eltwise.cl and ops/ref/eltwise_ref.c. */
#include "ops/common.h"

static clnet_status launch_1d(clnet_ctx *ctx, const char *kernel, int64_t count, int32_t nargs,
                              const clnet_karg *args) {
  size_t global = (size_t)count, local = CLNET_WG_1D;
  return clnet_launch(ctx, "eltwise", kernel, 1, &global, &local, nargs, args);
}

clnet_status clnet_relu_forward(clnet_ctx *ctx, int64_t count, const clnet_buf *x, clnet_buf *y) {
  CLNET_TRY(clnet_require_int_range("relu_forward", count));
  CLNET_TRY(clnet_require_buf("relu_forward", "x", x, count, 4));
  CLNET_TRY(clnet_require_buf("relu_forward", "y", y, count, 4));
  if (ctx->is_ref) {
    clnet_ref_relu_forward(count, CF32(x), F32(y));
    return CLNET_SUCCESS;
  }
  clnet_karg a[] = {CLNET_ARG_I32(count), CLNET_ARG_BUF(x), CLNET_ARG_BUF(y)};
  return launch_1d(ctx, "relu_forward", count, 3, a);
}

clnet_status clnet_relu_backward(clnet_ctx *ctx, int64_t count, const clnet_buf *y, const clnet_buf *dy,
                                 clnet_buf *dx) {
  CLNET_TRY(clnet_require_int_range("relu_backward", count));
  CLNET_TRY(clnet_require_buf("relu_backward", "y", y, count, 4));
  CLNET_TRY(clnet_require_buf("relu_backward", "dy", dy, count, 4));
  CLNET_TRY(clnet_require_buf("relu_backward", "dx", dx, count, 4));
  if (ctx->is_ref) {
    clnet_ref_relu_backward(count, CF32(y), CF32(dy), F32(dx));
    return CLNET_SUCCESS;
  }
  clnet_karg a[] = {CLNET_ARG_I32(count), CLNET_ARG_BUF(y), CLNET_ARG_BUF(dy), CLNET_ARG_BUF(dx)};
  return launch_1d(ctx, "relu_backward", count, 4, a);
}

clnet_status clnet_add_forward(clnet_ctx *ctx, int64_t count, const clnet_buf *a, const clnet_buf *b,
                               clnet_buf *y) {
  CLNET_TRY(clnet_require_int_range("add_forward", count));
  CLNET_TRY(clnet_require_buf("add_forward", "a", a, count, 4));
  CLNET_TRY(clnet_require_buf("add_forward", "b", b, count, 4));
  CLNET_TRY(clnet_require_buf("add_forward", "y", y, count, 4));
  if (ctx->is_ref) {
    clnet_ref_add_forward(count, CF32(a), CF32(b), F32(y));
    return CLNET_SUCCESS;
  }
  clnet_karg args[] = {CLNET_ARG_I32(count), CLNET_ARG_BUF(a), CLNET_ARG_BUF(b), CLNET_ARG_BUF(y)};
  return launch_1d(ctx, "add_forward", count, 4, args);
}

clnet_status clnet_accumulate(clnet_ctx *ctx, int64_t count, const clnet_buf *x, clnet_buf *y) {
  CLNET_TRY(clnet_require_int_range("accumulate", count));
  CLNET_TRY(clnet_require_buf("accumulate", "x", x, count, 4));
  CLNET_TRY(clnet_require_buf("accumulate", "y", y, count, 4));
  if (ctx->is_ref) {
    clnet_ref_accumulate(count, CF32(x), F32(y));
    return CLNET_SUCCESS;
  }
  clnet_karg a[] = {CLNET_ARG_I32(count), CLNET_ARG_BUF(x), CLNET_ARG_BUF(y)};
  return launch_1d(ctx, "accumulate", count, 3, a);
}

clnet_status clnet_nonfinite_flag(clnet_ctx *ctx, int64_t count, const clnet_buf *x, clnet_buf *flag) {
  CLNET_TRY(clnet_require_int_range("nonfinite_flag", count));
  CLNET_TRY(clnet_require_buf("nonfinite_flag", "x", x, count, 4));
  CLNET_TRY(clnet_require_buf("nonfinite_flag", "flag", flag, 1, 4));
  if (ctx->is_ref) {
    clnet_ref_nonfinite_flag(count, CF32(x), I32(flag));
    return CLNET_SUCCESS;
  }
  clnet_karg a[] = {CLNET_ARG_I32(count), CLNET_ARG_BUF(x), CLNET_ARG_BUF(flag)};
  return launch_1d(ctx, "nonfinite_flag", count, 3, a);
}
