/* Dense layer: y (N, OUT) = x (N, IN) . w^T + b with w (OUT, IN); b and db NULL: no bias.
 * OpenCL: each GEMM on CLBlast or clnet's own kernel, chosen per shape and pass
 * (ops/dense_gemm.h), bias add and bias gradient in cl/dense.cl.
 * Reference: ops/ref/dense_ref.c. */
#include "ops/common.h"
#include "ops/dense_gemm.h"

/* n, in, out >= 1 and every tensor's element count below 2^31 (kernels index with int). */
static clnet_status check_shape(const char *op, int32_t n, int32_t in, int32_t out) {
  if (n < 1 || in < 1 || out < 1)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: n=%d in=%d out=%d, each must be >= 1", op, n, in,
                           out);
  CLNET_TRY(clnet_require_int_range(op, (int64_t)n * in));
  CLNET_TRY(clnet_require_int_range(op, (int64_t)n * out));
  CLNET_TRY(clnet_require_int_range(op, (int64_t)out * in));
  return CLNET_SUCCESS;
}

clnet_status clnet_dense_forward(clnet_ctx *ctx, int32_t n, int32_t in, int32_t out, const clnet_buf *x,
                                 const clnet_buf *w, const clnet_buf *b, clnet_buf *y) {
  const char *op = "dense_forward";
  CLNET_TRY(check_shape(op, n, in, out));
  CLNET_TRY(clnet_require_buf(op, "x", x, (int64_t)n * in, 4));   /* (N, IN) */
  CLNET_TRY(clnet_require_buf(op, "w", w, (int64_t)out * in, 4)); /* (OUT, IN) */
  if (b) CLNET_TRY(clnet_require_buf(op, "b", b, out, 4));        /* (OUT) */
  CLNET_TRY(clnet_require_buf(op, "y", y, (int64_t)n * out, 4));  /* (N, OUT) */
  if (ctx->is_ref) {
    clnet_ref_dense_forward(n, in, out, CF32(x), CF32(w), b ? CF32(b) : NULL, F32(y));
    return CLNET_SUCCESS;
  }
  /* y (N, OUT) = x (N, IN) . w^T (IN, OUT) */
  const clnet_dense_gemm_io io = {x, w, y};
  CLNET_TRY(clnet_dense_gemm(ctx, CLNET_PASS_FORWARD, n, in, out, &io));
  if (!b) return CLNET_SUCCESS;
  size_t global = (size_t)n * (size_t)out, local = CLNET_WG_1D;
  return CLNET_LAUNCH(ctx, "dense", "dense_bias_add", 1, &global, &local, CLNET_ARG_I32(n), CLNET_ARG_I32(out),
                      CLNET_ARG_BUF(b), CLNET_ARG_BUF(y));
}

clnet_status clnet_dense_backward(clnet_ctx *ctx, int32_t n, int32_t in, int32_t out, const clnet_buf *x,
                                  const clnet_buf *w, const clnet_buf *dy, clnet_buf *dx, clnet_buf *dw,
                                  clnet_buf *db) {
  const char *op = "dense_backward";
  CLNET_TRY(check_shape(op, n, in, out));
  CLNET_TRY(clnet_require_buf(op, "x", x, (int64_t)n * in, 4));    /* (N, IN) */
  CLNET_TRY(clnet_require_buf(op, "w", w, (int64_t)out * in, 4));  /* (OUT, IN) */
  CLNET_TRY(clnet_require_buf(op, "dy", dy, (int64_t)n * out, 4)); /* (N, OUT) */
  if (dx) CLNET_TRY(clnet_require_buf(op, "dx", dx, (int64_t)n * in, 4)); /* (N, IN) */
  CLNET_TRY(clnet_require_buf(op, "dw", dw, (int64_t)out * in, 4)); /* (OUT, IN) */
  if (db) CLNET_TRY(clnet_require_buf(op, "db", db, out, 4));       /* (OUT) */
  if (ctx->is_ref) {
    clnet_ref_dense_backward(n, in, out, CF32(x), CF32(w), CF32(dy), dx ? F32(dx) : NULL, F32(dw),
                             db ? F32(db) : NULL);
    return CLNET_SUCCESS;
  }
  /* dx (N, IN) = dy (N, OUT) . w (OUT, IN) */
  const clnet_dense_gemm_io data = {dy, w, dx}, filter = {dy, x, dw};
  if (dx) CLNET_TRY(clnet_dense_gemm(ctx, CLNET_PASS_BACKWARD_DATA, n, in, out, &data));
  /* dw (OUT, IN) = dy^T (OUT, N) . x (N, IN) */
  CLNET_TRY(clnet_dense_gemm(ctx, CLNET_PASS_BACKWARD_FILTER, n, in, out, &filter));
  if (!db) return CLNET_SUCCESS;
  size_t global = (size_t)out, local = CLNET_WG_1D;
  return CLNET_LAUNCH(ctx, "dense", "dense_bias_grad", 1, &global, &local, CLNET_ARG_I32(n), CLNET_ARG_I32(out),
                      CLNET_ARG_BUF(dy), CLNET_ARG_BUF(db));
}
