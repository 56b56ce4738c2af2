/* Check cases: GEMM, in the transposition forms the ops use: clnet_gemm (CLBlast) and clnet's own
 * kernel clnet_gemm_tiled (cl/gemm.cl, op "gemm_tiled"; the forms the dense layer uses).
 * Tolerance: inputs are U(-1, 1), so E|a*b| = 1/4 and the sum of |a*b| over K
 * terms is about K/4. Float accumulation in any order has a rounding error
 * that grows like a random walk, sqrt(K) * u * sum|a*b| (u = 2^-24); we allow
 * 4x that: atol = sqrt(K) * K * 2^-24, rtol = 0. The reference sums in double.
 * gemm_tiled shapes: sizes 1, sizes that are not multiples of its tiles (4 rows; 8 columns for
 * NN/TN, 4 for NT; K blocks of 8 for NT, so K < 8, = 8 and 8q + 1), the dense layer's ResNet-18
 * shapes, and leading dimensions wider than the matrices. C starts random on both sides, so an
 * element the kernel does not write, or a write into the gap between rows of C, differs; a second
 * run must give the same bits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check/harness.h"
#include "ops/dense_gemm.h"
#include "ops/tolerance.h"

typedef struct { int32_t ta, tb, m, n, k; } gemm_params;

double clnet_check_dot_atol(int32_t k, double amax, double bmax) { return clnet_dot_atol(k, amax, bmax); }

static clnet_status run_gemm(clnet_check_env *env, const void *pp) {
  const gemm_params *p = pp;
  int32_t lda = p->ta ? p->m : p->k, ldb = p->tb ? p->k : p->n;
  check_tensor a, b, c;
  CLNET_TRY(check_tensor_init(env, &a, (int64_t)p->m * p->k, 4, "A"));
  CLNET_TRY(check_tensor_init(env, &b, (int64_t)p->k * p->n, 4, "B"));
  CLNET_TRY(check_tensor_init(env, &c, (int64_t)p->m * p->n, 4, "C"));
  clnet_status st;
  CLNET_TRY_GOTO(check_tensor_uniform(env, &a, -1, 1), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &b, -1, 1), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &c, -1, 1), st, out);
  /* beta = 0.5 exercises accumulation into C */
  CLNET_TRY_GOTO(clnet_gemm(env->dev, p->ta, p->tb, p->m, p->n, p->k, 1.0f, &a.dev, 0, lda, &b.dev, 0, ldb,
                            0.5f, &c.dev, 0, p->n), st, out);
  CLNET_TRY_GOTO(clnet_gemm(env->ref, p->ta, p->tb, p->m, p->n, p->k, 1.0f, &a.ref, 0, lda, &b.ref, 0, ldb,
                            0.5f, &c.ref, 0, p->n), st, out);
  CLNET_TRY_GOTO(check_compare(env, &c, clnet_check_dot_atol(p->k, 1, 1), 0), st, out);
out:
  check_tensor_free(env, &a);
  check_tensor_free(env, &b);
  check_tensor_free(env, &c);
  return st;
}

/* clnet_gemm_tiled; pad: extra floats per row in lda, ldb (pad + 2) and ldc (pad + 1) */
typedef struct { int32_t ta, tb, m, n, k, pad; } tiled_params;

static clnet_status run_gemm_tiled(clnet_check_env *env, const void *pp) {
  const tiled_params *p = pp;
  const int32_t a_rows = p->ta ? p->k : p->m, a_cols = p->ta ? p->m : p->k;
  const int32_t b_rows = p->tb ? p->n : p->k, b_cols = p->tb ? p->k : p->n;
  const int32_t lda = a_cols + p->pad, ldb = b_cols + (p->pad ? p->pad + 2 : 0), ldc = p->n + (p->pad ? p->pad + 1 : 0);
  check_tensor a, b, c;
  CLNET_TRY(check_tensor_init(env, &a, (int64_t)(a_rows - 1) * lda + a_cols, 4, "A"));
  CLNET_TRY(check_tensor_init(env, &b, (int64_t)(b_rows - 1) * ldb + b_cols, 4, "B"));
  CLNET_TRY(check_tensor_init(env, &c, (int64_t)(p->m - 1) * ldc + p->n, 4, "C"));
  float *first = NULL;
  clnet_status st;
  CLNET_TRY_GOTO(check_tensor_uniform(env, &a, -1, 1), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &b, -1, 1), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &c, -1, 1), st, out);
  CLNET_TRY_GOTO(clnet_gemm_tiled(env->dev, p->ta, p->tb, p->m, p->n, p->k, &a.dev, lda, &b.dev, ldb, &c.dev, ldc),
                 st, out);
  CLNET_TRY_GOTO(clnet_gemm_tiled(env->ref, p->ta, p->tb, p->m, p->n, p->k, &a.ref, lda, &b.ref, ldb, &c.ref, ldc),
                 st, out);
  CLNET_TRY_GOTO(check_compare(env, &c, clnet_check_dot_atol(p->k, 1, 1), 0), st, out);
  if (env->dev == env->ref) goto out;
  /* deterministic: a second run gives the same bits */
  const size_t bytes = (size_t)c.count * sizeof(float);
  first = malloc(2 * bytes);
  if (!first) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "gemm_tiled check");
    goto out;
  }
  CLNET_TRY_GOTO(clnet_buf_read(env->dev, &c.dev, 0, bytes, first), st, out);
  CLNET_TRY_GOTO(clnet_gemm_tiled(env->dev, p->ta, p->tb, p->m, p->n, p->k, &a.dev, lda, &b.dev, ldb, &c.dev, ldc),
                 st, out);
  CLNET_TRY_GOTO(clnet_buf_read(env->dev, &c.dev, 0, bytes, first + c.count), st, out);
  if (memcmp(first, first + c.count, bytes)) check_fail(env, "C: a second identical run gave other bits");
out:
  free(first);
  check_tensor_free(env, &a);
  check_tensor_free(env, &b);
  check_tensor_free(env, &c);
  return st;
}

static const gemm_params g_small = {0, 0, 1, 1, 1}, g_7 = {0, 0, 7, 13, 7}, g_tn = {1, 0, 13, 7, 13},
                         g_nt = {0, 1, 7, 13, 13}, g_tt = {1, 1, 13, 7, 7},
                         g_conv = {0, 0, 2 * 15 * 15, 128, 576}, g_dense = {0, 1, 3, 10, 512},
                         g_wgrad = {1, 0, 576, 64, 2 * 30 * 30};

const clnet_check_case clnet_check_cases_gemm[] = {
    {"gemm", "NN 1x1x1", CLNET_CHECK_CROSS, run_gemm, &g_small},
    {"gemm", "NN 7x13x7", CLNET_CHECK_CROSS, run_gemm, &g_7},
    {"gemm", "TN 13x7x13", CLNET_CHECK_CROSS, run_gemm, &g_tn},
    {"gemm", "NT 7x13x13", CLNET_CHECK_CROSS, run_gemm, &g_nt},
    {"gemm", "TT 13x7x7", CLNET_CHECK_CROSS, run_gemm, &g_tt},
    {"gemm", "NN 450x128x576 (conv fwd)", CLNET_CHECK_CROSS, run_gemm, &g_conv},
    {"gemm", "NT 3x10x512 (dense fwd)", CLNET_CHECK_CROSS, run_gemm, &g_dense},
    {"gemm", "TN 576x64x1800 (conv wgrad)", CLNET_CHECK_CROSS, run_gemm, &g_wgrad},
#define TILED(label, ...) {"gemm_tiled", label, CLNET_CHECK_CROSS, run_gemm_tiled, &(const tiled_params){__VA_ARGS__}}
    TILED("NN 1x1x1", 0, 0, 1, 1, 1, 0),
    TILED("NN 7x13x7", 0, 0, 7, 13, 7, 0),
    TILED("NN 4x8x8 (whole tiles)", 0, 0, 4, 8, 8, 0),
    TILED("NN 5x9x3", 0, 0, 5, 9, 3, 0),
    TILED("NN 13x1x17", 0, 0, 13, 1, 17, 0),
    TILED("NN 1x17x13", 0, 0, 1, 17, 13, 0),
    TILED("NN 9x21x11 padded ld", 0, 0, 9, 21, 11, 3),
    TILED("NN 256x512x10 (dense dx)", 0, 0, 256, 512, 10, 0),
    TILED("TN 1x1x1", 1, 0, 1, 1, 1, 0),
    TILED("TN 13x7x13", 1, 0, 13, 7, 13, 0),
    TILED("TN 3x17x1", 1, 0, 3, 17, 1, 0),
    TILED("TN 10x9x5 padded ld", 1, 0, 10, 9, 5, 2),
    TILED("TN 10x512x256 (dense dw)", 1, 0, 10, 512, 256, 0),
    TILED("TN 10x128x96 (dense dw, n96)", 1, 0, 10, 128, 96, 0),
    TILED("NT 1x1x1", 0, 1, 1, 1, 1, 0),
    TILED("NT 7x13x13", 0, 1, 7, 13, 13, 0),
    TILED("NT 3x5x7 (K < 8)", 0, 1, 3, 5, 7, 0),
    TILED("NT 6x9x8 (K = 8)", 0, 1, 6, 9, 8, 0),
    TILED("NT 5x3x33 (K = 8*4 + 1)", 0, 1, 5, 3, 33, 0),
    TILED("NT 9x6x19 padded ld", 0, 1, 9, 6, 19, 1),
    TILED("NT 256x10x512 (dense forward)", 0, 1, 256, 10, 512, 0),
    TILED("NT 13x7x100", 0, 1, 13, 7, 100, 0),
#undef TILED
    {0},
};
