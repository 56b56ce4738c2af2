/* clnet_ctx_create: the runtime's context (runtime/ctx.h) with what the tune part sets up on every
 * new one: this device's CLBlast parameters from `clnet tune` (clblast_tune.h), for every later
 * GEMM, and the algorithm chooser the ops ask (ops/algo_choice.h). The runtime and the ops know
 * nothing of either, so they are added here, above them. */
#include "ops/algo_choice.h"
#include "runtime/ctx.h"
#include "tune/clblast_tune.h"
#include "tune/conv_algo.h"
#include "tune/dense_algo.h"

static const clnet_algo_chooser chooser = {.conv = clnet_tune_conv_resolve, .dense = clnet_tune_dense_resolve};

clnet_status clnet_ctx_create(const char *selector, clnet_ctx **out) {
  *out = NULL;
  clnet_ctx *ctx = NULL;
  CLNET_TRY(clnet_runtime_ctx_create(selector, &ctx));
  clnet_status st = clnet_tune_apply_for_ctx(ctx);
  if (st == CLNET_SUCCESS) st = clnet_algo_chooser_attach(ctx, &chooser);
  if (st != CLNET_SUCCESS) {
    clnet_ctx_free(ctx);
    return st;
  }
  *out = ctx;
  return CLNET_SUCCESS;
}
