/* What NCHW would cost on top of clnet's NHWC convolution.
 *
 * With the batch folded into one GEMM per layer, NHWC im2col gives
 * (N*OH*OW, K) . (K, C_out) = the NHWC output directly. The NCHW equivalent,
 * (C_out, K) . (K, N*OH*OW), lands as (C_out, N, OH*OW) and needs one more
 * pass to permute it to (N, C_out, OH*OW) (and the same for dy backward).
 * This times a plain device copy of the output (a lower bound for that
 * permute pass) against the convolution forward, ResNet-18's 3x3 shapes at
 * batch 64, on the default device (CLNET_DEVICE to choose).
 *
 *   ./build/bench_layout_cost */
#include <stdio.h>
#include <time.h>

#include "clnet/clnet.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(void) {
  clnet_ctx *ctx = NULL;
  if (clnet_ctx_create(NULL, &ctx) != CLNET_SUCCESS) {
    fprintf(stderr, "bench_layout_cost: %s\n", clnet_last_error());
    return 1;
  }
  printf("device: %s\n", clnet_ctx_device_name(ctx));
  static const int shapes[][2] = {{30, 64}, {15, 128}, {8, 256}, {4, 512}}; /* H=W, C_in=C_out */
  for (int s = 0; s < 4; ++s) {
    const int n = 64, h = shapes[s][0], c = shapes[s][1];
    clnet_conv2d_desc d = {.n = n, .in_h = h, .in_w = h, .in_c = c, .out_c = c, .k_h = 3, .k_w = 3,
                           .stride = 1, .padding = CLNET_PADDING_SAME, .has_bias = 1};
    clnet_buf x, w, b, y, y2;
    size_t bytes = (size_t)n * h * h * c * 4;
    if (clnet_conv2d_desc_init(&d) || clnet_buf_alloc(ctx, bytes, "x", &x) ||
        clnet_buf_alloc(ctx, (size_t)9 * c * c * 4, "w", &w) || clnet_buf_alloc(ctx, (size_t)c * 4, "b", &b) ||
        clnet_buf_alloc(ctx, bytes, "y", &y) || clnet_buf_alloc(ctx, bytes, "y2", &y2) ||
        clnet_buf_fill(ctx, &x, 0, x.bytes, 0) || clnet_buf_fill(ctx, &w, 0, w.bytes, 0) ||
        clnet_buf_fill(ctx, &b, 0, b.bytes, 0)) {
      fprintf(stderr, "bench_layout_cost: %s\n", clnet_last_error());
      return 1;
    }
    double t_conv = 1e9, t_pass = 1e9;
    for (int it = 0; it < 4; ++it) { /* best of 4, the first warms up */
      double t0 = now();
      if (clnet_conv2d_forward(ctx, &d, &x, &w, &b, &y) || clnet_ctx_finish(ctx)) return 1;
      double t1 = now();
      if (clnet_buf_copy(ctx, &y, 0, &y2, 0, bytes) || clnet_ctx_finish(ctx)) return 1;
      double t2 = now();
      if (it && t1 - t0 < t_conv) t_conv = t1 - t0;
      if (it && t2 - t1 < t_pass) t_pass = t2 - t1;
    }
    printf("%2dx%-2dx%-3d -> %-3d k3 batch %d: conv forward %7.1f ms; one pass over its output %5.1f ms (%.1f%%)\n",
           h, h, c, c, n, t_conv * 1e3, t_pass * 1e3, 100 * t_pass / t_conv);
    clnet_buf_free(ctx, &x);
    clnet_buf_free(ctx, &w);
    clnet_buf_free(ctx, &b);
    clnet_buf_free(ctx, &y);
    clnet_buf_free(ctx, &y2);
  }
  clnet_ctx_free(ctx);
  return 0;
}
