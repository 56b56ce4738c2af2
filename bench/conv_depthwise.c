/* Depthwise convolution: clnet's depthwise kernels (CLNET_CONV_ALGO_DEPTHWISE) against im2col +
 * GEMM (CLNET_CONV_ALGO_GEMM, one GEMM per channel group), in one run, on MobileNetV2's depthwise
 * 3x3 layers (host/models/mobilenet_v2.c at width 32 on 32x32x3; pads 1, no bias) at batch 64
 * (or argv[1]), on the default device (CLNET_DEVICE to choose). Per layer and pass: the best of 3
 * runs after a warm-up, wall clock around clFinish, the two algorithms alternating, and the ratio.
 *
 *   ./build/bench_conv_depthwise [batch] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "clnet/clnet.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int run(clnet_ctx *ctx, const clnet_conv2d_desc *d, int pass, clnet_buf *x, clnet_buf *w, clnet_buf *y) {
  clnet_status st = pass == 0   ? clnet_conv2d_forward(ctx, d, x, w, NULL, y)
                    : pass == 1 ? clnet_conv2d_backward_data(ctx, d, y, w, x)
                                : clnet_conv2d_backward_filter(ctx, d, x, y, w, NULL);
  return st == CLNET_SUCCESS && clnet_ctx_finish(ctx) == CLNET_SUCCESS;
}

int main(int argc, char **argv) {
  const int n = argc > 1 ? atoi(argv[1]) : 64;
  clnet_ctx *ctx = NULL;
  if (n < 1 || clnet_ctx_create(NULL, &ctx) != CLNET_SUCCESS) {
    fprintf(stderr, "bench_conv_depthwise: %s\n", n < 1 ? "batch must be >= 1" : clnet_last_error());
    return 1;
  }
  printf("device: %s, batch %d\n", clnet_ctx_device_name(ctx), n);
  printf("%-26s %-16s %10s %8s %10s %8s %8s\n", "layer", "pass", "gemm ms", "GF/s", "dw ms", "GF/s", "speed-up");
  static const int shapes[][3] = {{32, 32, 1},  {32, 96, 1},  {32, 144, 1}, {32, 144, 2}, {16, 192, 1},
                                  {16, 192, 2}, {8, 384, 1},  {8, 576, 1},  {8, 576, 2},  {4, 960, 1}};
  static const char *const passes[3] = {"forward", "backward-data", "backward-filter"};
  static const clnet_conv_algo algos[2] = {CLNET_CONV_ALGO_GEMM, CLNET_CONV_ALGO_DEPTHWISE};
  double total[2] = {0, 0};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s) {
    const int h = shapes[s][0], c = shapes[s][1];
    clnet_conv2d_desc d = {.n = n, .in_h = h, .in_w = h, .in_c = c, .out_c = c, .k_h = 3, .k_w = 3,
                           .stride = shapes[s][2], .padding = CLNET_PADDING_EXPLICIT, .groups = c,
                           .pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1};
    clnet_buf x, w, y;
    if (clnet_conv2d_desc_init(&d) || clnet_buf_alloc(ctx, (size_t)n * h * h * c * 4, "x", &x) ||
        clnet_buf_alloc(ctx, (size_t)9 * c * 4, "w", &w) ||
        clnet_buf_alloc(ctx, (size_t)n * d.out_h * d.out_w * c * 4, "y", &y) ||
        clnet_buf_fill(ctx, &x, 0, x.bytes, 0x3c23d70au) || clnet_buf_fill(ctx, &w, 0, w.bytes, 0x3c23d70au) ||
        clnet_buf_fill(ctx, &y, 0, y.bytes, 0x3c23d70au)) {
      fprintf(stderr, "bench_conv_depthwise: %s\n", clnet_last_error());
      return 1;
    }
    const double flops = 2.0 * 9 * (double)n * d.out_h * d.out_w * c;
    for (int p = 0; p < 3; ++p) {
      double best[2] = {1e9, 1e9};
      for (int it = 0; it < 4; ++it) /* the first run of each warms up (builds, CLBlast's compile) */
        for (int a = 0; a < 2; ++a) {
          clnet_ctx_set_conv_algo(ctx, algos[a]);
          const double t0 = now();
          if (!run(ctx, &d, p, &x, &w, &y)) {
            fprintf(stderr, "bench_conv_depthwise: %s\n", clnet_last_error());
            return 1;
          }
          if (it > 0 && now() - t0 < best[a]) best[a] = now() - t0;
        }
      total[0] += best[0], total[1] += best[1];
      char layer[64];
      snprintf(layer, sizeof layer, "%dx%dx%d dw3x3 s%d", h, h, c, shapes[s][2]);
      printf("%-26s %-16s %10.3f %8.2f %10.3f %8.2f %7.1fx\n", layer, passes[p], best[0] * 1e3, flops / best[0] / 1e9,
             best[1] * 1e3, flops / best[1] / 1e9, best[0] / best[1]);
      fflush(stdout);
    }
    clnet_buf_free(ctx, &x);
    clnet_buf_free(ctx, &w);
    clnet_buf_free(ctx, &y);
  }
  printf("all layers, all passes: gemm %.1f ms, depthwise %.1f ms: %.1fx\n", total[0] * 1e3, total[1] * 1e3,
         total[0] / total[1]);
  clnet_ctx_free(ctx);
  return 0;
}
