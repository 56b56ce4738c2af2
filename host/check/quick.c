/* `clnet check --quick`: the cases a simulator can afford. Oclgrind interprets every work-item
 * (about 10^4 times slower than PoCL here), so the full table's ResNet-sized shapes take hours
 * there; these cases are its small shapes, chosen so that between them they still launch every
 * kernel of the full run (tests/test_quick.c compares the two lists on the test device), every
 * kernel variant (channel tiles T8/T16/T32 and wgrad tiles, Winograd vector widths v1/v8/v16 for
 * both tiles, pool v1/v16), the remainder paths (partial channel tiles, dead pixels of the last
 * pixel tile, partial Winograd tiles, BN's rows % 4 and channel groups past 64, GEMM edges), and
 * every algorithm the conv and dense find-dbs can choose (gemm, direct, winograd, winograd4;
 * CLBlast and clnet's GEMM). The paths that need a large shape on the real limits (several
 * im2col / Winograd chunks, several direct filter-gradient blocks, split-K) run at small shapes
 * with the scratch limits lowered by the "quick ..." cases of check_conv2d.c. The gradient checks
 * run on the reference only and are all in, and so are the layer kinds' cases at small inputs.
 * docs/CHECKS.md, "Quick". */
#include <stdio.h>
#include <string.h>

#include "clnet/check.h"

/* layer-kind cases on inputs of more elements than this are left out (the 16x16x96 and 8x8x256
 * activation shapes: 10 s each under Oclgrind; every kind has smaller ones) */
#define QUICK_LAYER_ELEMENTS 16384

/* "op|shape" of every quick cross-check */
static const char *const quick_cases[] = {
    /* adam, optim */
    "adam_update|1 t1..5 G1",
    "adam_update|13 t1..5 G1e-3",
    "adamw_update|13 (7 decayed) t1..5 G1e-3",
    "sgd_update|momentum, 13 (7 decayed) t1..5 G1",
    "sgd_update|nesterov, 7 (none decayed) t1..5 G1",
    "ema_update|13 x5, swap",
    /* eltwise */
    "relu|7",
    "relu|13",
    "add+accumulate|13",
    "nonfinite_flag|1",
    "nonfinite_flag|13",
    /* batch norm: C < one group, C past 64 (two groups), several row blocks, rows % 4 */
    "batchnorm|rows 7 x 3",
    "batchnorm|rows 13 x 67",
    "batchnorm|rows 1 x 64 (var 0)",
    "batchnorm|rows 450 x 1",
    "batchnorm_relu|rows 7 x 3",
    "batchnorm_add_relu|rows 1 x 64 (var 0)",
    "batchnorm_add_relu|rows 13 x 67",
    /* dense: both GEMM backends, dx = NULL */
    "dense|n3 7->13 clnet",
    "dense|n3 7->13 clblast",
    "dense|n7 512->10 dx=NULL clnet",
    "dense|n1 1->1 clnet",
    /* clnet's GEMM: every transpose, K below, at and past the 8-wide step, padded ld, edges */
    "gemm_tiled|NT 1x1x1",
    "gemm_tiled|NT 3x5x7 (K < 8)",
    "gemm_tiled|NT 6x9x8 (K = 8)",
    "gemm_tiled|NT 5x3x33 (K = 8*4 + 1)",
    "gemm_tiled|NT 9x6x19 padded ld",
    "gemm_tiled|NN 4x8x8 (whole tiles)",
    "gemm_tiled|NN 5x9x3",
    "gemm_tiled|NN 9x21x11 padded ld",
    "gemm_tiled|NN 13x1x17",
    "gemm_tiled|TN 3x17x1",
    "gemm_tiled|TN 10x9x5 padded ld",
    /* CLBlast through clnet_gemm: every transpose pair */
    "gemm|NT 7x13x13",
    "gemm|NN 7x13x7",
    "gemm|TN 13x7x13",
    "gemm|TT 13x7x7",
    /* loss: one row, bad labels, more rows than the work-group */
    "softmax_xent|n1 k1",
    "softmax_xent|n13 k10 bad labels -> NaN",
    "softmax_xent|n256 k13",
    /* pool: v1 and v16, same and valid, strides past the window, ties, a partial vector */
    "maxpool|n1 1x1x1 k3 s2 same",
    "maxpool|n2 1x1x16 k3 s2 same",
    "maxpool|n2 7x7x13 k2 s2 same",
    "maxpool|n1 13x13x3 k2 s3 same",
    "maxpool|n1 7x7x48 k3 s2 valid",
    "maxpool|ties n2 7x7x13 k3 s2 same",
    "maxpool|ties n1 14x14x16 k3 s2 same",
    "global_avgpool|n3 1x1x7",
    "global_avgpool|n2 7x7x3",
    "global_avgpool|n1 13x13x65",
    NULL,
};

/* conv2d: every pass of these shapes with the algorithms named */
static const char *const quick_conv[] = {
    /* pointwise (no im2col in the gemm path), T8 tiles, one pixel */
    "n1 1x1x5->7 k1 s1 valid gemm",
    "n1 1x1x5->7 k1 s1 valid direct",
    /* non-square kernels and strides past the window */
    "n2 13x13x2->3 k3x1 s3 same direct",
    "n2 13x7x5->6 k2x3 s2 same direct",
    /* Winograd, both tiles: v1 transforms, T8 GEMM, 1x1 images */
    "n3 1x1x5->7 k3 s1 same winograd",
    "n3 1x1x5->7 k3 s1 same winograd4",
    /* T16 / T32 GEMMs, v1, a 1x1 output */
    "n1 3x3x20->9 k3 s1 valid winograd",
    "n1 3x3x20->9 k3 s1 valid winograd4",
    /* depthwise (the depthwise kernels: odd channels, a multiplier of 3, a 1x1 image, dilation with
     * stride 3, padding past the image, 1x1) and one depthwise shape as per-group GEMMs */
    "n3 13x13x7 dw k3 pads 1 depthwise",
    "n2 7x7x5->15 dw x3 k3 s2 same depthwise",
    "n3 1x1x9 dw k3 pads 1 depthwise",
    "n1 7x7x3->6 dw x2 k5 s3 d2x1 pads 4,1,0,3 depthwise",
    "n1 3x3x4 dw k3 pads 4,0,1,5 depthwise",
    "n1 3x3x4 dw k3 pads 4,0,1,5 gemm",
    "n2 7x7x33 dw k1 depthwise",
    /* grouped: per-group GEMMs and direct kernels, a pointwise one, dilation with unequal strides */
    "n2 7x7x15->10 g5 k3x1 same nobias gemm",
    "n2 7x7x15->10 g5 k3x1 same nobias direct",
    "n2 13x13x8->12 g4 k1 gemm",
    "n2 13x13x8->12 g4 k1 direct",
    "n2 13x11x6->9 g3 k3 s2x1 d2x3 pads 1,2,0,3 gemm",
    "n2 13x11x6->9 g3 k3 s2x1 d2x3 pads 1,2,0,3 direct",
    /* and every case labelled "quick ..." (check_conv2d.c): the chunked paths, several filter-
     * gradient blocks, strided im2col, Winograd v8/v16 transforms and partial tiles, the direct
     * T16 tiles and wgrad t32_c8, t16_c16, t16_c8, t8_c16, split K */
    NULL,
};

/* gradient checks that are not in: the same path as a smaller one, at 10^5 elements on the device */
static const char *const quick_skip[] = {
    "adam_update|first step = lr*sign(g), 100003",
    NULL,
};

static int listed(const char *const *list, const char *op, const char *shape) {
  const size_t n = strlen(op);
  for (const char *const *k = list; *k; ++k)
    if (!strncmp(*k, op, n) && (*k)[n] == '|' && !strcmp(*k + n + 1, shape)) return 1;
  return 0;
}

int32_t clnet_check_case_quick(int32_t i) {
  const clnet_check_case *c = clnet_check_case_get(i);
  if (!c) return 0;
  if (c->kind == CLNET_CHECK_GRAD) return !listed(quick_skip, c->op, c->shape);
  if (!strncmp(c->op, "layer", 5)) { /* check_layers.c: every kind, at its small shapes */
    int n = 0, h = 0, w = 0, ch = 0;
    return !(sscanf(c->shape, "n%d %dx%dx%d", &n, &h, &w, &ch) == 4 && (int64_t)n * h * w * ch > QUICK_LAYER_ELEMENTS);
  }
  if (!strncmp(c->shape, "quick ", 6)) return 1; /* cases made for the quick subset */
  if (!strncmp(c->op, "conv2d_", 7)) {
    for (const char *const *k = quick_conv; *k; ++k)
      if (!strcmp(c->shape, *k)) return 1;
    return 0;
  }
  return listed(quick_cases, c->op, c->shape);
}

int32_t clnet_check_quick_unmatched(const char **name) {
  /* every listed name must match a case: a renamed case must not drop out of the subset unseen */
  const int32_t n = clnet_check_case_count();
  for (int conv = 0; conv < 3; ++conv)
    for (const char *const *k = conv == 1 ? quick_conv : conv == 2 ? quick_skip : quick_cases; *k; ++k) {
      const char *const one[2] = {*k, NULL};
      int found = 0;
      for (int32_t i = 0; i < n && !found; ++i) {
        const clnet_check_case *c = clnet_check_case_get(i);
        found = conv == 1 ? !strncmp(c->op, "conv2d_", 7) && !strcmp(c->shape, *k) : listed(one, c->op, c->shape);
      }
      if (!found) {
        if (name) *name = *k;
        return 1;
      }
    }
  return 0;
}
