/* Dense (fully connected) layer helpers; the GEMMs run on CLBlast or cl/gemm.cl (host/ops/dense_algo.c).
 *
 * dense_bias_add: y (N, OUT) += b (OUT) broadcast over rows.
 *   Index space: 1-D, one work-item per element of y (N*OUT, rounded up to the
 *   work-group size; bounds-checked). Work-items run along the contiguous OUT
 *   dimension, so loads and stores are coalesced.
 * dense_bias_grad: db (OUT) = sum over n of dy (N, OUT).
 *   Index space: 1-D, one work-item per output feature o (OUT, rounded up;
 *   bounds-checked). Each work-item sums its column in row order n = 0..N-1,
 *   so the result is bit-identical run after run (no atomics, fixed order).
 *   Neighbouring work-items read neighbouring floats of each row. */

__kernel void dense_bias_add(const int n, const int out,
                             __global const float *b, /* (OUT) */
                             __global float *y) {     /* (N, OUT), in place */
  const size_t i = get_global_id(0);
  if (i < (size_t)n * (size_t)out) y[i] += b[i % (size_t)out];
}

__kernel void dense_bias_grad(const int n, const int out,
                              __global const float *dy, /* (N, OUT) */
                              __global float *db) {     /* (OUT) */
  const size_t o = get_global_id(0);
  if (o >= (size_t)out) return;
  float acc = 0.0f;
  for (int r = 0; r < n; ++r) acc += dy[(size_t)r * (size_t)out + o];
  db[o] = acc;
}
