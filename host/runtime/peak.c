/* Measured device peaks (cl/peak.cl): what `clnet bench` reports shares of. */
#include <stdlib.h>
#include <time.h>

#include "runtime/ctx.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}


clnet_status clnet_device_peaks(clnet_ctx *ctx, double *gflops, double *gbytes_per_s) {
  *gflops = *gbytes_per_s = 0;
  if (ctx->is_ref) return clnet_set_error(CLNET_ERR_UNSUPPORTED, "device peaks: the reference has no device");
  const size_t local = 64;
  size_t items = clnet_round_up((size_t)(ctx->info.compute_units ? ctx->info.compute_units : 1) * 4096, local);
  const int32_t iters = 2048;
  size_t copy_bytes = (size_t)64 << 20;
  if (copy_bytes * 2 > ctx->info.max_alloc_bytes) copy_bytes = ctx->info.max_alloc_bytes / 4;
  clnet_buf out = {0}, src = {0}, dst = {0};
  clnet_status st = CLNET_SUCCESS;
  CLNET_TRY_GOTO(clnet_buf_alloc(ctx, items * 4, "peak flops output", &out), st, done);
  CLNET_TRY_GOTO(clnet_buf_alloc(ctx, copy_bytes, "peak copy source", &src), st, done);
  CLNET_TRY_GOTO(clnet_buf_alloc(ctx, copy_bytes, "peak copy destination", &dst), st, done);
  CLNET_TRY_GOTO(clnet_buf_fill(ctx, &src, 0, copy_bytes, 0), st, done);
  double best_f = 1e30, best_c = 1e30;
  int32_t count4 = (int32_t)(copy_bytes / 16);
  size_t g4 = (size_t)count4;
  for (int rep = 0; rep < 4; ++rep) { /* the first round compiles and warms up */
    double t0 = now_s();
    CLNET_TRY_GOTO(CLNET_LAUNCH(ctx, "peak", "peak_flops", 1, &items, &local, CLNET_ARG_I32(iters),
                                CLNET_ARG_F32(0.999f), CLNET_ARG_BUF(&out)), st, done);
    CLNET_TRY_GOTO(clnet_ctx_finish(ctx), st, done);
    double t1 = now_s();
    CLNET_TRY_GOTO(CLNET_LAUNCH(ctx, "peak", "peak_copy", 1, &g4, &local, CLNET_ARG_I32(count4),
                                CLNET_ARG_BUF(&src), CLNET_ARG_BUF(&dst)), st, done);
    CLNET_TRY_GOTO(clnet_ctx_finish(ctx), st, done);
    double t2 = now_s();
    if (rep > 0 && t1 - t0 < best_f) best_f = t1 - t0;
    if (rep > 0 && t2 - t1 < best_c) best_c = t2 - t1;
  }
  *gflops = (double)items * iters * 8 * 16 * 2 / best_f / 1e9; /* 8 chains of float16 FMAs */
  *gbytes_per_s = 2.0 * (double)copy_bytes / best_c / 1e9;
done:
  clnet_buf_free(ctx, &out);
  clnet_buf_free(ctx, &src);
  clnet_buf_free(ctx, &dst);
  return st;
}
