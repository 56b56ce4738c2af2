/* Device peaks, measured rather than taken from a data sheet.
 * peak_flops: every work-item runs PEAK_CHAINS independent float16 FMA chains of `iters`
 *   steps (2 * 16 * PEAK_CHAINS * iters FLOP per work-item); the result is stored so the
 *   compiler cannot drop the work. Index space: 1-D, any size.
 * peak_copy: dst[i] = src[i] over float4s: 32 bytes moved per work-item. 1-D. */

#define PEAK_CHAINS 8

__kernel void peak_flops(const int iters, const float s, __global float *out) {
  const float t = (float)get_global_id(0) * 1e-9f;
  float16 a0 = (float16)(t), a1 = a0 + 1.0f, a2 = a0 + 2.0f, a3 = a0 + 3.0f;
  float16 a4 = a0 + 4.0f, a5 = a0 + 5.0f, a6 = a0 + 6.0f, a7 = a0 + 7.0f;
  for (int i = 0; i < iters; ++i) {
    a0 = fma(a0, (float16)(s), (float16)(t)); a1 = fma(a1, (float16)(s), (float16)(t));
    a2 = fma(a2, (float16)(s), (float16)(t)); a3 = fma(a3, (float16)(s), (float16)(t));
    a4 = fma(a4, (float16)(s), (float16)(t)); a5 = fma(a5, (float16)(s), (float16)(t));
    a6 = fma(a6, (float16)(s), (float16)(t)); a7 = fma(a7, (float16)(s), (float16)(t));
  }
  float16 r = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
  float8 h = r.lo + r.hi;
  out[get_global_id(0)] = h.s0 + h.s1 + h.s2 + h.s3 + h.s4 + h.s5 + h.s6 + h.s7;
}

__kernel void peak_copy(const int count4, __global const float4 *src, __global float4 *dst) {
  const size_t i = get_global_id(0);
  if (i < (size_t)count4) dst[i] = src[i];
}
