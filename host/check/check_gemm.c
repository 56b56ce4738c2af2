/* Check cases: GEMM, in the transposition forms the ops use.
 * Tolerance: inputs are U(-1, 1), so E|a*b| = 1/4 and the sum of |a*b| over K
 * terms is about K/4. Float accumulation in any order has a rounding error
 * that grows like a random walk, sqrt(K) * u * sum|a*b| (u = 2^-24); we allow
 * 4x that: atol = sqrt(K) * K * 2^-24, rtol = 0. The reference sums in double. */
#include <math.h>

#include "check/harness.h"
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
    {0},
};
