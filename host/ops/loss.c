/* Softmax cross-entropy on logits: cl/loss.cl and ops/ref/loss_ref.c.
 * Labels outside [0, K) are never used as an index: such a row's loss and its
 * dlogits row are NaN (result[0] becomes NaN) and it does not count as correct. */
#include "ops/common.h"

/* The kernel runs as one work-group of this many work-items (a power of two; fixed so PoCL
 * compiles the kernel once), fewer where the device allows fewer. */
#define XENT_WG 64

clnet_status clnet_softmax_xent(clnet_ctx *ctx, int32_t n, int32_t k, const clnet_buf *logits,
                                const clnet_buf *labels, clnet_buf *dlogits, clnet_buf *result) {
  return clnet_softmax_xent_smoothed(ctx, n, k, 0.0f, logits, labels, dlogits, result);
}

clnet_status clnet_softmax_xent_smoothed(clnet_ctx *ctx, int32_t n, int32_t k, float smoothing,
                                         const clnet_buf *logits, const clnet_buf *labels, clnet_buf *dlogits,
                                         clnet_buf *result) {
  const char *op = "softmax_xent";
  if (n < 1 || k < 1)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: n=%d k=%d, each must be >= 1", op, n, k);
  if (!(smoothing >= 0.0f && smoothing <= 1.0f))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: label smoothing %g must lie in [0, 1]", op,
                           (double)smoothing);
  CLNET_TRY(clnet_require_int_range(op, (int64_t)n * k));
  CLNET_TRY(clnet_require_buf(op, "logits", logits, (int64_t)n * k, 4));   /* (N, K) */
  CLNET_TRY(clnet_require_buf(op, "labels", labels, n, 4));                /* (N) int32 */
  CLNET_TRY(clnet_require_buf(op, "dlogits", dlogits, (int64_t)n * k, 4)); /* (N, K) */
  CLNET_TRY(clnet_require_buf(op, "result", result, 2, 4));                /* (2) */
  if (ctx->is_ref) {
    clnet_ref_softmax_xent(n, k, smoothing, CF32(logits), CI32(labels), F32(dlogits), F32(result));
    return CLNET_SUCCESS;
  }
  /* the targets, in double and rounded once: 1 and 0 without smoothing */
  const double off = (double)smoothing / k;
  /* one group: XENT_WG, or the largest power of two the device and the compiled kernel allow,
   * its two partial-sum arrays within the local memory */
  size_t limit = 0, wg = XENT_WG;
  CLNET_TRY(clnet_kernel_wg_limit(ctx, "loss", "softmax_xent", &limit));
  while (wg > 1 && (wg > limit || 2 * wg * sizeof(float) > ctx->info.local_mem_bytes)) wg /= 2;
  size_t global = wg, local = wg;
  return CLNET_LAUNCH(ctx, "loss", "softmax_xent", 1, &global, &local, CLNET_ARG_I32(n), CLNET_ARG_I32(k),
                      CLNET_ARG_F32(smoothing), CLNET_ARG_F32((float)(1.0 - smoothing + off)),
                      CLNET_ARG_F32((float)off),
                      CLNET_ARG_BUF(logits), CLNET_ARG_BUF(labels), CLNET_ARG_BUF(dlogits), CLNET_ARG_BUF(result),
                      CLNET_ARG_LOCAL(wg * sizeof(float)), CLNET_ARG_LOCAL(wg * sizeof(float)));
}
