/* Conv2d helpers around the CLBlast GEMMs (host/ops/conv2d.c). NHWC fp32,
 * weights (KH, KW, C_in/groups, C_out), K = KH*KW*CG for the CG = C_in/groups input channels of
 * one group; strides (sh, sw), dilations (dh, dw), leading pads pad_top / pad_left (the trailing
 * ones follow from OH, OW; padded taps read as zero). The im2col / col2im kernels handle one group:
 * its channels start at channel c0 of x / dx, which the offset x_off / dx_off includes.
 *
 * conv2d_im2col      col (n_img*OH*OW, K) row-major from images [0, n_img) of x (from x_off):
 *                    col[((n*OH+oh)*OW+ow)*K + (kh*KW+kw)*CG + ci]
 *                      = x[n, oh*sh-pad_top+kh*dh, ow*sw-pad_left+kw*dw, c0+ci]  (0 when padded).
 *                    Index space 3-D: dim0 j = kw*CG + ci in [0, KW*CG) (contiguous in col for a
 *                    fixed kh; in x too when CG = C_in and dw = 1: NHWC),
 *                    dim1 ow, dim2 n*OH + oh; each work-item loops over kh.
 * conv2d_col2im      dx (n_img, H, W, C_in) (from dx_off), one group's CG channels, as a gather from
 *                    dcol (n_img*OH*OW, K): dx[n, ih, iw, c0+ci] = sum over the outputs (oh, ow)
 *                    that tap it, with kh*dh = ih+pad_top-oh*sh, kw*dw = iw+pad_left-ow*sw, kh in
 *                    [0, KH), kw in [0, KW), of dcol[((n*OH+oh)*OW+ow)*K + (kh*KW+kw)*CG + ci],
 *                    summed in a fixed order (kh ascending, then kw ascending): deterministic, no
 *                    atomics. Overwrites the group's channels of dx.
 *                    Index space 3-D: dim0 ci, dim1 iw, dim2 n*H + ih.
 * conv2d_bias_add    y (rows, C) += b (C). Index space 2-D: dim0 channel, dim1 row.
 * conv2d_bias_grad_partial  partial (n_blocks, C): sum of dy rows [blk*rows_per_block, ...)
 *                    in row order. Index space 2-D: dim0 channel, dim1 block.
 * conv2d_bias_grad_final    db (C) = sum over blocks of partial, in block order.
 *                    Index space 1-D: channel.
 * Every kernel bounds-checks its index space (global sizes are rounded up to the fixed work-group
 * size). Offsets and sizes are in floats. */

__kernel void conv2d_im2col(__global const float *x, /* (N, H, W, C_in); image 0, channel c0 at x_off */
                            const int x_off,
                            __global float *col, /* (n_img*OH*OW, K) */
                            const int n_img, const int H, const int W, const int C_in, const int CG, const int OH,
                            const int OW, const int KH, const int KW, const int stride_h, const int stride_w,
                            const int dil_h, const int dil_w, const int pad_top, const int pad_left) {
  const int j = get_global_id(0);  /* kw*CG + ci */
  const int ow = get_global_id(1);
  const int t = get_global_id(2);  /* n*OH + oh */
  const int seg = KW * CG;
  if (j >= seg || ow >= OW || t >= n_img * OH) return;
  const int oh = t % OH;
  const int n = t / OH;
  const int kw = j / CG, ci = j - kw * CG;
  const int iw = ow * stride_w - pad_left + kw * dil_w; /* may be outside [0, W) */
  const int valid_w = iw >= 0 && iw < W;
  __global float *dst = col + (t * OW + ow) * (KH * seg) + j;
  /* x[n, ih, iw, c0 + ci] = x[base + ih*W*C_in] (base may be negative; read only when valid) */
  const int base = x_off + (n * H * W + iw) * C_in + ci;
  for (int kh = 0; kh < KH; ++kh) {
    const int ih = oh * stride_h - pad_top + kh * dil_h;
    float v = 0.0f;
    if (valid_w && ih >= 0 && ih < H) v = x[base + ih * W * C_in];
    dst[kh * seg] = v;
  }
}

__kernel void conv2d_col2im(__global const float *dcol, /* (n_img*OH*OW, K) */
                            __global float *dx,         /* (N, H, W, C_in); image 0, channel c0 at dx_off */
                            const int dx_off, const int n_img, const int H, const int W, const int C_in,
                            const int CG, const int OH, const int OW, const int KH, const int KW,
                            const int stride_h, const int stride_w, const int dil_h, const int dil_w,
                            const int pad_top, const int pad_left) {
  const int ci = get_global_id(0);
  const int iw = get_global_id(1);
  const int t = get_global_id(2); /* n*H + ih */
  if (ci >= CG || iw >= W || t >= n_img * H) return;
  const int ih = t % H;
  const int n = t / H;
  const int K = KH * KW * CG;
  const int ph = ih + pad_top;  /* = oh*sh + kh*dh */
  const int pw = iw + pad_left; /* = ow*sw + kw*dw */
  __global const float *src = dcol + n * OH * OW * K + ci;
  float acc = 0.0f;
  if (dil_h == 1 && dil_w == 1) {
    /* outputs tapping this pixel: kh = ph - oh*sh in [0, KH) and oh in [0, OH), i.e.
     * oh in [oh_lo, oh_hi]; likewise ow (ph, pw >= 0; (ph-KH+sh)/sh truncates toward 0,
     * which the max() makes harmless when it is negative) */
    const int oh_hi = min(OH - 1, ph / stride_h);
    const int oh_lo = max(0, (ph - KH + stride_h) / stride_h);
    const int ow_hi = min(OW - 1, pw / stride_w);
    const int ow_lo = max(0, (pw - KW + stride_w) / stride_w);
    for (int oh = oh_hi; oh >= oh_lo; --oh) {     /* kh ascending */
      const int kh = ph - oh * stride_h;
      for (int ow = ow_hi; ow >= ow_lo; --ow) {   /* kw ascending */
        const int kw = pw - ow * stride_w;
        acc += src[(oh * OW + ow) * K + (kh * KW + kw) * CG];
      }
    }
  } else {
    /* dilated: the taps kh with ph - kh*dh = oh*sh for some oh in [0, OH), in the same order */
    for (int kh = 0; kh < KH; ++kh) {
      const int th = ph - kh * dil_h;
      if (th < 0) break;
      if (th % stride_h || th / stride_h >= OH) continue;
      const int oh = th / stride_h;
      for (int kw = 0; kw < KW; ++kw) {
        const int tw = pw - kw * dil_w;
        if (tw < 0) break;
        if (tw % stride_w || tw / stride_w >= OW) continue;
        acc += src[(oh * OW + tw / stride_w) * K + (kh * KW + kw) * CG];
      }
    }
  }
  dx[dx_off + (t * W + iw) * C_in + ci] = acc;
}

__kernel void conv2d_bias_add(__global float *y,       /* (rows, C) */
                              __global const float *b, /* (C) */
                              const int rows, const int C) {
  const int c = get_global_id(0);
  const int r = get_global_id(1);
  if (c >= C || r >= rows) return;
  y[r * C + c] += b[c];
}

__kernel void conv2d_bias_grad_partial(__global const float *dy, /* (rows, C) */
                                       __global float *partial,  /* (n_blocks, C) */
                                       const int rows, const int C, const int rows_per_block) {
  const int c = get_global_id(0);
  const int blk = get_global_id(1);
  if (c >= C || blk * rows_per_block >= rows) return;
  const int r0 = blk * rows_per_block;
  const int r1 = min(rows, r0 + rows_per_block);
  float acc = 0.0f;
  for (int r = r0; r < r1; ++r) acc += dy[r * C + c];
  partial[blk * C + c] = acc;
}

__kernel void conv2d_bias_grad_final(__global const float *partial, /* (n_blocks, C) */
                                     __global float *db,            /* (C) */
                                     const int n_blocks, const int C) {
  const int c = get_global_id(0);
  if (c >= C) return;
  float acc = 0.0f;
  for (int blk = 0; blk < n_blocks; ++blk) acc += partial[blk * C + c];
  db[c] = acc;
}
