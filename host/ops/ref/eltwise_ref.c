/* Reference: ReLU, residual add, gradient accumulation. */
#include <math.h>

#include "ops/ref/ref.h"

void REF(relu_forward)(int64_t count, const real *x, real *y) {
  for (int64_t i = 0; i < count; ++i) y[i] = x[i] > 0 ? x[i] : 0;
}

void REF(relu_backward)(int64_t count, const real *y, const real *dy, real *dx) {
  for (int64_t i = 0; i < count; ++i) dx[i] = y[i] > 0 ? dy[i] : 0;
}

void REF(add_forward)(int64_t count, const real *a, const real *b, real *y) {
  for (int64_t i = 0; i < count; ++i) y[i] = a[i] + b[i];
}

void REF(accumulate)(int64_t count, const real *x, real *y) {
  for (int64_t i = 0; i < count; ++i) y[i] += x[i];
}

void REF(nonfinite_flag)(int64_t count, const real *x, int32_t *flag) {
  for (int64_t i = 0; i < count; ++i)
    if (!isfinite(x[i])) flag[0] = 1;
}
