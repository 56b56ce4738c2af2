/* clnet_ctx_create: the runtime's context (runtime/ctx.h) with what the tune part sets up on every
 * new one: this device's CLBlast parameters from `clnet tune` (clblast_tune.h), for every later
 * GEMM. The runtime knows nothing of CLBlast's tuning, so it is added here, above it. */
#include "runtime/ctx.h"
#include "tune/clblast_tune.h"

clnet_status clnet_ctx_create(const char *selector, clnet_ctx **out) {
  *out = NULL;
  clnet_ctx *ctx = NULL;
  CLNET_TRY(clnet_runtime_ctx_create(selector, &ctx));
  clnet_status st = clnet_tune_apply_for_ctx(ctx);
  if (st != CLNET_SUCCESS) {
    clnet_ctx_free(ctx);
    return st;
  }
  *out = ctx;
  return CLNET_SUCCESS;
}
