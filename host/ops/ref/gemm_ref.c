/* Reference GEMM, row-major: C (M, N) = alpha * op(A) (M, K) . op(B) (K, N) + beta * C.
 * Accumulates in double. beta == 0 overwrites C (NaN in C does not propagate). */
#include "ops/ref/ref.h"

void REF(gemm)(int32_t trans_a, int32_t trans_b, int32_t m, int32_t n, int32_t k, real alpha,
               const real *a, int32_t lda, const real *b, int32_t ldb, real beta, real *c, int32_t ldc) {
  for (int32_t i = 0; i < m; ++i)
    for (int32_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int32_t p = 0; p < k; ++p) {
        double av = trans_a ? a[(int64_t)p * lda + i] : a[(int64_t)i * lda + p];
        double bv = trans_b ? b[(int64_t)j * ldb + p] : b[(int64_t)p * ldb + j];
        acc += av * bv;
      }
      real *cij = &c[(int64_t)i * ldc + j];
      *cij = (real)(alpha * acc + (beta == 0 ? 0.0 : (double)beta * *cij));
    }
}
