/* Device peaks, measured rather than taken from a data sheet.
 * peak_flops: every work-item runs PEAK_CHAINS independent float8 FMA chains of `iters`
 *   steps (2 * 8 * PEAK_CHAINS * iters FLOP per work-item); the result is stored so the
 *   compiler cannot drop the work. Index space: 1-D, any size.
 * peak_copy: dst[i] = src[i] over float4s: 32 bytes moved per work-item. 1-D. */

#define PEAK_CHAINS 8

__kernel void peak_flops(const int iters, const float s, __global float *out) {
  const float t = (float)get_global_id(0) * 1e-9f;
  float8 a0 = (float8)(t), a1 = a0 + 1.0f, a2 = a0 + 2.0f, a3 = a0 + 3.0f;
  float8 a4 = a0 + 4.0f, a5 = a0 + 5.0f, a6 = a0 + 6.0f, a7 = a0 + 7.0f;
  for (int i = 0; i < iters; ++i) {
    a0 = fma(a0, (float8)(s), (float8)(t)); a1 = fma(a1, (float8)(s), (float8)(t));
    a2 = fma(a2, (float8)(s), (float8)(t)); a3 = fma(a3, (float8)(s), (float8)(t));
    a4 = fma(a4, (float8)(s), (float8)(t)); a5 = fma(a5, (float8)(s), (float8)(t));
    a6 = fma(a6, (float8)(s), (float8)(t)); a7 = fma(a7, (float8)(s), (float8)(t));
  }
  float8 r = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
  out[get_global_id(0)] = r.s0 + r.s1 + r.s2 + r.s3 + r.s4 + r.s5 + r.s6 + r.s7;
}

__kernel void peak_copy(const int count4, __global const float4 *src, __global float4 *dst) {
  const size_t i = get_global_id(0);
  if (i < (size_t)count4) dst[i] = src[i];
}
