/* Reference: dense layer. x (N, IN), w (OUT, IN), b (OUT), y (N, OUT).
 * Twins of clnet_gemm + dense_bias_add (forward) and of the two GEMMs +
 * dense_bias_grad (backward) in cl/dense.cl. Sums in double. */
#include <stddef.h>

#include "ops/ref/ref.h"

/* y[r][o] = sum_i x[r][i] * w[o][i] + b[o] (b NULL: no bias) */
void REF(dense_forward)(int32_t n, int32_t in, int32_t out, const real *x, const real *w, const real *b,
                        real *y) {
  for (int32_t r = 0; r < n; ++r)
    for (int32_t o = 0; o < out; ++o) {
      double acc = 0;
      for (int32_t i = 0; i < in; ++i) acc += (double)x[(int64_t)r * in + i] * (double)w[(int64_t)o * in + i];
      y[(int64_t)r * out + o] = (real)(b ? acc + (double)b[o] : acc);
    }
}

/* dx[r][i] = sum_o dy[r][o] * w[o][i]   (skipped when dx is NULL)
 * dw[o][i] = sum_r dy[r][o] * x[r][i]
 * db[o]    = sum_r dy[r][o]   (skipped when db is NULL) */
void REF(dense_backward)(int32_t n, int32_t in, int32_t out, const real *x, const real *w, const real *dy,
                         real *dx, real *dw, real *db) {
  if (dx)
    for (int32_t r = 0; r < n; ++r)
      for (int32_t i = 0; i < in; ++i) {
        double acc = 0;
        for (int32_t o = 0; o < out; ++o)
          acc += (double)dy[(int64_t)r * out + o] * (double)w[(int64_t)o * in + i];
        dx[(int64_t)r * in + i] = (real)acc;
      }
  for (int32_t o = 0; o < out; ++o)
    for (int32_t i = 0; i < in; ++i) {
      double acc = 0;
      for (int32_t r = 0; r < n; ++r) acc += (double)dy[(int64_t)r * out + o] * (double)x[(int64_t)r * in + i];
      dw[(int64_t)o * in + i] = (real)acc;
    }
  for (int32_t o = 0; db && o < out; ++o) {
    double acc = 0;
    for (int32_t r = 0; r < n; ++r) acc += (double)dy[(int64_t)r * out + o];
    db[o] = (real)acc;
  }
}
