/* Depthwise convolution (host/ops/conv2d_depthwise.c, CLNET_CONV_ALGO_DEPTHWISE): groups = C
 * input channels, CO = C*M output channels (channel multiplier M), output channel co reading input
 * channel co / M. NHWC fp32, weights (KH, KW, 1, CO): w[(kh*KW + kw)*CO + co]; strides (sh, sw),
 * dilations (dh, dw), leading pads pad_top / pad_left (the trailing ones follow from OH, OW);
 * padded taps read as zero.
 *
 * A depthwise conv has KH*KW multiply-adds per output: as an im2col GEMM it is a batch of
 * matrix-vector products that stream the whole col matrix for a handful of FLOPs. Here every
 * work-item holds DW_V (16) consecutive channels of a few pixels in one floatV each, so the channel
 * dimension, contiguous in NHWC, is the SIMD dimension and every load is one vector load (M = 1
 * and a full tile; otherwise lanes are gathered one by one, which stays correct for any M and any
 * channel count). Index spaces are 1-D with the channel tile varying fastest: neighbouring
 * work-items read neighbouring channels of the same pixels. No atomics: every output element is
 * written by one work-item, and every sum runs in a fixed order.
 *
 * conv2d_dw_fwd       y (N, OH, OW, CO) = bias + sum over kh, kw (ascending) of
 *                     x[n, oh*sh - pad_top + kh*dh, ow*sw - pad_left + kw*dw, co / M] * w[kh, kw, co].
 *                     Work-item: channel tile ct (fastest), DW_PT consecutive output columns from
 *                     ow0, one output row (n, oh); a full tile inside the input (M = 1) loads
 *                     without checks.
 * conv2d_dw_bwd_data  dx (N, H, W, C): dx[n, ih, iw, c] = sum over the taps (kh, kw) with
 *                     oh*sh + kh*dh = ih + pad_top, ow*sw + kw*dw = iw + pad_left (kh, kw ascending,
 *                     then j < M ascending) of dy[n, oh, ow, c*M + j] * w[kh, kw, c*M + j]. The dx
 *                     pixels fall into sh*sw classes by (ih mod sh, iw mod sw); within a class the
 *                     same taps are live for every pixel (host/ops/conv2d.c's direct backward data
 *                     does the same): the live kh are kh0, kh0 + kstep_h, ... with dy row a + qh,
 *                     qh falling by qstep_h per step (kstep = s / gcd(s, d), qstep = d / gcd(s, d)).
 *                     Work-item: channel tile (fastest), DW_PT consecutive pixels (rw + sw*b, b from
 *                     b0) of one class row (rh, a), image n. Overwrites dx (pixels no tap reaches
 *                     get 0).
 * conv2d_dw_wgrad     partial (n_blocks, KH*KW, CO): block blk's share of dw[kh, kw, co] = sum over
 *                     (n, oh, ow) of x[n, oh*sh - pad_top + kh*dh, ow*sw - pad_left + kw*dw, co / M]
 *                     * dy[n, oh, ow, co], over the output rows n*OH + oh in [blk*rows_per_block,
 *                     (blk+1)*rows_per_block), rows and then ow ascending (padded taps add
 *                     nothing). Work-item: channel tile (fastest), kh, block; it loads each dy
 *                     vector once for up to 8 taps kw at a time. One block writes dw itself.
 * conv2d_dw_sum_blocks out (count) = sum over blocks of partial (n_blocks, count), in block order.
 * Every kernel bounds-checks its index space (the host rounds global sizes up to the work-group
 * size) and never reads outside its buffers. Offsets and sizes are in floats. */

/* channels per work-item: one floatV. Measured on PoCL (AVX-512, MobileNetV2's depthwise layers at
 * batch 64, bench/conv_depthwise.c's shapes): 16 ran every pass 1.6-1.7x faster than 8; 4, 6 and 8
 * pixels per work-item were within the noise of each other. */
#define DW_V 16
#define DW_PT 4 /* output pixels per work-item (forward, backward data) */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define floatV CAT(float, DW_V)
#define vloadV CAT(vload, DW_V)
#define vstoreV CAT(vstore, DW_V)

/* Lanes c0 .. c0+DW_V of a row p of `count` floats; lanes past count read 0. */
inline floatV lanes(__global const float *p, const int c0, const int count) {
  if (c0 + DW_V <= count) return vloadV(0, p + c0);
  float t[DW_V];
  for (int j = 0; j < DW_V; ++j) t[j] = c0 + j < count ? p[c0 + j] : 0.0f;
  return vloadV(0, t);
}

/* The input values of output channels co0 .. co0+DW_V at one pixel px (C = CO / M channels): x
 * channel co / M; lanes past CO read 0. */
inline floatV x_lanes(__global const float *px, const int co0, const int CO, const int M) {
  if (M == 1) return lanes(px, co0, CO);
  float t[DW_V];
  for (int j = 0; j < DW_V; ++j) t[j] = co0 + j < CO ? px[(co0 + j) / M] : 0.0f;
  return vloadV(0, t);
}

/* Lanes c0 + l (l < DW_V, c0 + l < count) of v to row p; a full tile is one vector store. */
inline void store_lanes(__global float *p, const int c0, const int count, const floatV v) {
  if (c0 + DW_V <= count) {
    vstoreV(v, 0, p + c0);
  } else {
    float t[DW_V];
    vstoreV(v, 0, t);
    for (int j = 0; j < count - c0; ++j) p[c0 + j] = t[j];
  }
}

/* Lanes (c0 + l)*M + j of a row p of CO = C*M floats, for the C input channels c0 + l < C. */
inline floatV strided_lanes(__global const float *p, const int c0, const int C, const int M, const int j) {
  float t[DW_V];
  for (int l = 0; l < DW_V; ++l) t[l] = c0 + l < C ? p[(c0 + l) * M + j] : 0.0f;
  return vloadV(0, t);
}

__kernel void conv2d_dw_fwd(__global const float *x, /* (N, H, W, C) */
                            __global const float *w, /* (KH, KW, CO) */
                            __global const float *b, /* (CO); read only when has_bias */
                            __global float *y,       /* (N, OH, OW, CO) */
                            const int N, const int H, const int W, const int C, const int M, const int OH,
                            const int OW, const int KH, const int KW, const int stride_h, const int stride_w,
                            const int dil_h, const int dil_w, const int pad_top, const int pad_left,
                            const int has_bias) {
  const int CO = C * M, CT = (CO + DW_V - 1) / DW_V, OWT = (OW + DW_PT - 1) / DW_PT;
  int g = get_global_id(0);
  if (g >= CT * OWT * N * OH) return;
  const int ct = g % CT;
  g /= CT;
  const int owt = g % OWT;
  const int r = g / OWT; /* n*OH + oh */
  const int oh = r % OH, n = r / OH;
  const int co0 = ct * DW_V, ow0 = owt * DW_PT, np = min(DW_PT, OW - ow0);
  const floatV init = has_bias ? lanes(b, co0, CO) : (floatV)(0.0f);
  floatV acc[DW_PT];
  _Pragma("unroll") for (int p = 0; p < DW_PT; ++p) acc[p] = init;
  for (int kh = 0; kh < KH; ++kh) {
    const int ih = oh * stride_h - pad_top + kh * dil_h;
    if ((uint)ih >= (uint)H) continue;
    __global const float *xrow = x + (n * H + ih) * W * C;
    for (int kw = 0; kw < KW; ++kw) {
      const floatV wv = lanes(w + (kh * KW + kw) * CO, co0, CO);
      const int iw0 = ow0 * stride_w - pad_left + kw * dil_w;
      if (np == DW_PT && iw0 >= 0 && iw0 + (DW_PT - 1) * stride_w < W && M == 1 && co0 + DW_V <= CO) {
        /* a full tile inside the input: no checks */
        __global const float *xp = xrow + iw0 * C + co0;
        _Pragma("unroll") for (int p = 0; p < DW_PT; ++p) acc[p] = fma(vloadV(0, xp + p * stride_w * C), wv, acc[p]);
      } else {
        _Pragma("unroll") for (int p = 0; p < DW_PT; ++p) {
          const int iw = iw0 + p * stride_w;
          if (p < np && (uint)iw < (uint)W) acc[p] = fma(x_lanes(xrow + iw * C, co0, CO, M), wv, acc[p]);
        }
      }
    }
  }
  __global float *yrow = y + (r * OW + ow0) * CO;
  _Pragma("unroll") for (int p = 0; p < DW_PT; ++p) {
    if (p < np) store_lanes(yrow + p * CO, co0, CO, acc[p]);
  }
}

__kernel void conv2d_dw_bwd_data(__global const float *dy, /* (N, OH, OW, CO) */
                                 __global const float *w,  /* (KH, KW, CO) */
                                 __global float *dx,       /* (N, H, W, C) */
                                 const int N, const int H, const int W, const int C, const int M, const int OH,
                                 const int OW, const int KH, const int KW, const int stride_h, const int stride_w,
                                 const int dil_h, const int dil_w, const int pad_top, const int pad_left,
                                 const int kstep_h, const int kstep_w, const int qstep_h, const int qstep_w) {
  const int CO = C * M, CT = (C + DW_V - 1) / DW_V;
  const int HS = (H + stride_h - 1) / stride_h, WS = (W + stride_w - 1) / stride_w; /* a class's grid */
  const int BT = (WS + DW_PT - 1) / DW_PT;
  int g = get_global_id(0);
  if (g >= CT * BT * stride_w * stride_h * HS * N) return;
  const int ct = g % CT;
  g /= CT;
  const int bt = g % BT;
  g /= BT;
  const int rw = g % stride_w;
  g /= stride_w;
  const int rh = g % stride_h;
  g /= stride_h;
  const int a = g % HS, n = g / HS;
  const int ih = rh + stride_h * a;
  if (ih >= H) return;
  const int c0 = ct * DW_V, b0 = bt * DW_PT;
  /* live pixels: iw = rw + sw*(b0 + p) < W */
  const int np = min(DW_PT, (rw < W ? (W - 1 - rw) / stride_w + 1 : 0) - b0);
  if (np <= 0) return;
  floatV acc[DW_PT];
  _Pragma("unroll") for (int p = 0; p < DW_PT; ++p) acc[p] = (floatV)(0.0f);
  const int ph = rh + pad_top, pw = rw + pad_left;
  int kh0 = 0, kw0 = 0;
  while (kh0 < kstep_h && (ph - kh0 * dil_h) % stride_h) ++kh0;
  while (kw0 < kstep_w && (pw - kw0 * dil_w) % stride_w) ++kw0;
  if (kh0 == kstep_h || kw0 == kstep_w) kh0 = KH; /* no tap reaches this class */
  int qh = (ph - kh0 * dil_h) / stride_h;
  for (int kh = kh0; kh < KH; kh += kstep_h, qh -= qstep_h) {
    const int oh = a + qh;
    if ((uint)oh >= (uint)OH) continue;
    __global const float *dyrow = dy + (n * OH + oh) * OW * CO;
    int qw = (pw - kw0 * dil_w) / stride_w;
    for (int kw = kw0; kw < KW; kw += kstep_w, qw -= qstep_w) {
      __global const float *wt = w + (kh * KW + kw) * CO;
      const int owb = b0 + qw; /* dy column of pixel 0 */
      if (M == 1) {
        const floatV wv = lanes(wt, c0, C);
        _Pragma("unroll") for (int p = 0; p < DW_PT; ++p) {
          const int ow = owb + p;
          if (p < np && (uint)ow < (uint)OW) acc[p] = fma(lanes(dyrow + ow * CO, c0, C), wv, acc[p]);
        }
      } else {
        for (int j = 0; j < M; ++j) {
          const floatV wv = strided_lanes(wt, c0, C, M, j);
          _Pragma("unroll") for (int p = 0; p < DW_PT; ++p) {
            const int ow = owb + p;
            if (p < np && (uint)ow < (uint)OW) acc[p] = fma(strided_lanes(dyrow + ow * CO, c0, C, M, j), wv, acc[p]);
          }
        }
      }
    }
  }
  __global float *dxrow = dx + ((n * H + ih) * W + rw + stride_w * b0) * C;
  _Pragma("unroll") for (int p = 0; p < DW_PT; ++p) {
    if (p < np) store_lanes(dxrow + p * stride_w * C, c0, C, acc[p]);
  }
}

#define DW_KW_CHUNK 8 /* taps kw per pass over the block's rows in conv2d_dw_wgrad */

__kernel void conv2d_dw_wgrad(__global const float *x,  /* (N, H, W, C) */
                              __global const float *dy, /* (N, OH, OW, CO) */
                              __global float *partial,  /* (n_blocks, KH*KW, CO) */
                              const int N, const int H, const int W, const int C, const int M, const int OH,
                              const int OW, const int KH, const int KW, const int stride_h, const int stride_w,
                              const int dil_h, const int dil_w, const int pad_top, const int pad_left,
                              const int rows_per_block, const int n_blocks) {
  const int CO = C * M, CT = (CO + DW_V - 1) / DW_V;
  int g = get_global_id(0);
  if (g >= CT * KH * n_blocks) return;
  const int ct = g % CT;
  g /= CT;
  const int kh = g % KH, blk = g / KH;
  const int co0 = ct * DW_V;
  const int row0 = blk * rows_per_block, row1 = min(N * OH, row0 + rows_per_block);
  for (int kw0 = 0; kw0 < KW; kw0 += DW_KW_CHUNK) {
    const int kn = min(DW_KW_CHUNK, KW - kw0);
    floatV acc[DW_KW_CHUNK];
    _Pragma("unroll") for (int k = 0; k < DW_KW_CHUNK; ++k) acc[k] = (floatV)(0.0f);
    int oh = row0 % OH, n = row0 / OH;
    for (int row = row0; row < row1; ++row) {
      const int ih = oh * stride_h - pad_top + kh * dil_h;
      if ((uint)ih < (uint)H) {
        __global const float *xrow = x + (n * H + ih) * W * C;
        __global const float *dyrow = dy + row * OW * CO;
        for (int ow = 0; ow < OW; ++ow) {
          const floatV dv = lanes(dyrow + ow * CO, co0, CO);
          const int iwb = ow * stride_w - pad_left + kw0 * dil_w;
          _Pragma("unroll") for (int k = 0; k < DW_KW_CHUNK; ++k) {
            const int iw = iwb + k * dil_w;
            if (k < kn && (uint)iw < (uint)W) acc[k] = fma(x_lanes(xrow + iw * C, co0, CO, M), dv, acc[k]);
          }
        }
      }
      if (++oh == OH) {
        oh = 0;
        ++n;
      }
    }
    __global float *out = partial + (blk * KH * KW + kh * KW + kw0) * CO;
    _Pragma("unroll") for (int k = 0; k < DW_KW_CHUNK; ++k) {
      if (k < kn) store_lanes(out + k * CO, co0, CO, acc[k]);
    }
  }
}

__kernel void conv2d_dw_sum_blocks(__global const float *partial, __global float *out, const int n_blocks,
                                   const int count) {
  const int i = get_global_id(0);
  if (i >= count) return;
  float acc = 0.0f;
  for (int b = 0; b < n_blocks; ++b) acc += partial[b * count + i];
  out[i] = acc;
}
