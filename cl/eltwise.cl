/* Elementwise kernels over flat float arrays.
 * Index space: 1-D, one work-item per element (global rounded up; bounds-checked). */

__kernel void relu_forward(const int count, __global const float *x, __global float *y) {
  const size_t i = get_global_id(0);
  if (i < (size_t)count) y[i] = fmax(x[i], 0.0f);
}

/* dx = dy where the forward output y > 0 */
__kernel void relu_backward(const int count, __global const float *y, __global const float *dy,
                            __global float *dx) {
  const size_t i = get_global_id(0);
  if (i < (size_t)count) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

__kernel void add_forward(const int count, __global const float *a, __global const float *b,
                          __global float *y) {
  const size_t i = get_global_id(0);
  if (i < (size_t)count) y[i] = a[i] + b[i];
}

__kernel void accumulate(const int count, __global const float *x, __global float *y) {
  const size_t i = get_global_id(0);
  if (i < (size_t)count) y[i] += x[i];
}

/* flag[0] = 1 when any x is NaN or Inf; untouched otherwise (the caller zeroes
 * it first). Every writer writes the same value, so the result is deterministic. */
__kernel void nonfinite_flag(const int count, __global const float *x, __global int *flag) {
  const size_t i = get_global_id(0);
  if (i < (size_t)count && !isfinite(x[i])) flag[0] = 1;
}
