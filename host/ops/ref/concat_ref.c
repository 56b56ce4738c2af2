/* Reference: concatenation along channels, one input's slice at a time (twin of cl/concat.cl). */
#include "ops/ref/ref.h"

/* y (rows, C_total)[.., offset + c] = x (rows, C)[.., c] */
void REF(concat_forward)(int32_t rows, int32_t c, int32_t c_total, int32_t offset, const real *x, real *y) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < c; ++j) y[r * c_total + offset + j] = x[r * c + j];
}

/* dx (rows, C) = dy (rows, C_total)[.., offset + c], or dx += it */
void REF(concat_backward)(int32_t rows, int32_t c, int32_t c_total, int32_t offset, int32_t accumulate,
                          const real *dy, real *dx) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < c; ++j) {
      const real g = dy[r * c_total + offset + j];
      dx[r * c + j] = accumulate ? dx[r * c + j] + g : g;
    }
}
