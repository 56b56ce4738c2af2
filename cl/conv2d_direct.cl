/* Direct convolution (host/ops/conv2d.c, CLNET_CONV_ALGO_DIRECT). NHWC fp32, weights
 * (KH, KW, C_in/G, C_out) for G groups (below), strides (sh, sw), dilations (dh, dw), leading
 * pads pad_top / pad_left (the trailing ones follow from OH, OW; padded taps read as zero). Tap
 * (kh, kw) of output (oh, ow) reads input (oh*sh - pad_top + kh*dh, ow*sw - pad_left + kw*dw);
 * the formulas below write s for the stride and leave dilation out where it only scales a tap.
 *
 * Each work-item holds a register tile of PT output pixels x T channels (T = 8 or 16, a
 * compile-time constant chosen by kernel variant, suffix _t8 / _t16; the T channels are one
 * floatT so a CPU gets one SIMD register per pixel and a GPU one tile per lane). The tap loops
 * run over KH, KW and the reduction channels; one weight vector is loaded per reduction channel
 * and multiplied into all PT pixels. Padded taps read from a block of zeros placed in front of
 * the packed weights, so the inner loop has no bounds checks. The SIMD width comes from the
 * explicit vector type, not from the compiler vectorising across work-items (which PoCL does not
 * do through these loops); on a GPU, dim0 (pixel tiles, thousands) fills the lanes. No atomics:
 * every output element is written by one work-item, and every sum runs in a fixed order.
 *
 * conv2d_direct_pack   dst (G*tpg tiles, taps, A, tile) from zero_len, with dst[0 .. zero_len) = 0:
 *                      dst[zero_len + ((bt*taps + t)*A + a)*tile + bl] = src[(t*SB + g*b_step + b)*SA
 *                      + g*a_step + a] for group g = bt / tpg, b = (bt % tpg)*tile + bl < B, else 0
 *                      (t < taps, a < A; G = 1: SB = B, SA = A, src[(t*B + b)*A + a]). Each
 *                      tile of `tile` channels of w becomes one contiguous stream that its
 *                      work-items read in order (a strided column would touch a new page per row,
 *                      which thrashes the TLB once K is in the thousands). Forward packs w (K, C_out)
 *                      (taps = K, A = 1, B = C_out); backward data packs w^T, (KH*KW, C_out, C_in)
 *                      per tile (taps = KH*KW, A = C_out, B = C_in); with groups, per group (K, A,
 *                      B one group's). Index space 1-D over the total.
 * conv2d_direct_fwd_tT y (N, OH, OW, C_out) = conv(x, w) (+ b). Work-item (dim0, dim1) =
 *                      (pixel tile, channel tile): pixel tile t covers the output pixels (rows of
 *                      y seen as (N*OH*OW, C_out)) m = t*PT + p, p < PT, across row and image
 *                      boundaries (no tile is partly empty except the last); channel tile
 *                      oc0 = dim1*T. Sum order per output: bias, then kh, kw, ci ascending.
 * conv2d_direct_bwd_data_tT  dx (N, H, W, C_in) = gradient of the forward w.r.t. x, as a gather:
 *                      dx[n, ih, iw, ci] = sum over the taps (kh, kw) with oh*s + kh = ih + pad_top,
 *                      ow*s + kw = iw + pad_left, of sum_co dy[n, oh, ow, co] * w[kh, kw, ci, co].
 *                      The dx pixels fall into s*s classes by (ih mod s, iw mod s); within a class
 *                      the same taps are live for every pixel, and a pixel's dy inputs are a fixed
 *                      offset from its position in the class grid, so a class is gathered like a
 *                      stride-1 forward conv. Pixel tile t = tile*s*s + class covers PT
 *                      consecutive pixels of that class's (N, ceil(H/s), ceil(W/s)) grid (pixels
 *                      past H or W are skipped); channel tile ci0 = dim1*T. Sum order: kh, kw,
 *                      co ascending. Overwrites dx (pixels no tap reaches get 0).
 * conv2d_direct_wgrad_tT  partial (n_blocks, K, C_out): block b's share of
 *                      dw[kh, kw, ci, co] = sum over (n, oh, ow) of x[n, oh*s-pad_top+kh,
 *                      ow*s-pad_left+kw, ci] * dy[n, oh, ow, co], over the output rows
 *                      (n*OH + oh) in [b*rows_per_block, (b+1)*rows_per_block), rows and then ow
 *                      ascending (padded taps are skipped: they add zero). Work-item (dim0) =
 *                      co tile + co_tiles*(ci tile + ci_tiles*(kh*KW + kw + KH*KW*b)) (consecutive
 *                      work-items share a block, whose x and dy rows then stay in cache); the
 *                      tile is CT input channels x T output channels (suffix _tT_cCT: CT = 16
 *                      from 16 input channels up, else 8). Per pixel a work-item loads one dy
 *                      vector and CT x values for CT FMAs: CT = 16 halves the dy traffic, which
 *                      streams from cache once per input-channel tile (PoCL, 8x8x256 -> 512
 *                      stride 2 and 4x4x512 -> 512: about 1.2-2x faster than CT = 8). Where the
 *                      channels allow it, conv2d_direct_wgrad_t32_c8 (below) is used instead. With has_bias, the
 *                      work-items of tap 0, input-channel tile 0 also write db_part (n_blocks,
 *                      C_out): the block's column sums of dy, pixels in order. The host then sums
 *                      the partials over b in block order (conv2d_direct_sum_blocks): a fixed
 *                      partition and a fixed order, so results are bit-identical run to run.
 * conv2d_direct_sum_blocks  out (count) = sum over blocks of partial (n_blocks, count) from off,
 *                      in block order. Index space 1-D over count.
 * Groups (G, the kernels' argument; depthwise convs have their own kernels): a group has
 * CG = C_in/G input and OG = C_out/G output channels and weights (KH, KW, CG, C_out)[:, group].
 * Channel tiles never straddle groups: tile ct of a gather kernel is tile ct % TPG of group
 * ct / TPG (TPG = tiles per group), reads its group's channels of the input and its group's
 * packed weights, and stores up to the group's last channel; the filter gradient's work-item
 * index has the group between the input-channel tile and the tap. With G = 1 every index and
 * every sum is what it is without groups.
 * Every kernel bounds-checks its index space (global sizes are rounded up to the fixed
 * work-group size) and never reads outside its buffers. Offsets and sizes are in floats. */

#define CONV_PT 8 /* output pixels per work-item (forward, backward data) */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

/* tile_log2: log2 of the tile (8 or 16). Integer division is slow on CPUs, so the tile's index is
 * a shift and mask, and A = 1 (the forward) and G = 1 (no groups) skip their divisions. */
__kernel void conv2d_direct_pack(__global const float *src, __global float *dst, const int zero_len,
                                 const int taps, const int A, const int B, const int tile_log2, const int tpg,
                                 const int G, const int SB, const int SA, const int b_step, const int a_step) {
  const int i = get_global_id(0);
  const int tile = 1 << tile_log2;
  if (i >= zero_len + G * tpg * taps * A * tile) return;
  float v = 0.0f;
  if (i >= zero_len) {
    int j = i - zero_len;
    const int bl = j & (tile - 1);
    j >>= tile_log2; /* (bt*taps + t)*A + a */
    int a = 0;
    if (A > 1) {
      a = j % A;
      j /= A;
    }
    const int t = j % taps;
    const int bt = j / taps, g = G > 1 ? bt / tpg : 0;
    const int b = (bt - g * tpg) * tile + bl;
    if (b < B) v = src[(t * SB + g * b_step + b) * SA + g * a_step + a];
  }
  dst[i] = v;
}

/* One output/gradient tile of T channels at c0 of a C-channel pixel row `dst`: a full tile is one
 * vector store, a partial one (c0 + T > C) stores its first C - c0 lanes. */
#define STORE_TILE(T, v, dst, c0, C)                          \
  do {                                                        \
    if ((c0) + (T) <= (C)) {                                  \
      CAT(vstore, T)((v), 0, (dst) + (c0));                   \
    } else {                                                  \
      float tmp_[T];                                          \
      CAT(vstore, T)((v), 0, tmp_);                           \
      for (int j_ = 0; j_ < (C) - (c0); ++j_) (dst)[(c0) + j_] = tmp_[j_]; \
    }                                                         \
  } while (0)

/* The tap loop both gather kernels share. Pixel p of the tile reads input pixel
 * (hb[p] + dh, wb[p] + dw) of an (HL, WL)-pixel plane, at pixel offset off[p] + tapoff from `in`
 * (C channels each; the group's CN channels from C0), or the zero block when that is outside the
 * plane (padding) or the pixel is dead (hb[p] is then far negative). wr points at the tap's packed
 * weights: CN rows of TP floats.
 * SKIP (a uniform condition): skip the tap when no pixel of the tile reaches it. Strided
 * backward data needs it (its tiles span several rows of a small class grid, so whole taps fall
 * off the grid's edges); elsewhere tiles mostly lie within one row and the check only costs
 * (~10% of the forward pass on PoCL). */
#define GATHER_TAP(T, in, C, C0, CN, HL, WL, dh, dw, tapoff, wr, TP, SKIP)                               \
  {                                                                                                   \
    __global const float *src[CONV_PT];                                                               \
    int any = 0;                                                                                      \
    _Pragma("unroll") for (int p = 0; p < CONV_PT; ++p) {                                             \
      const int valid = (uint)(hb[p] + (dh)) < (uint)(HL) && (uint)(wb[p] + (dw)) < (uint)(WL);     \
      src[p] = valid ? (in) + (off[p] + (tapoff)) * (C) + (C0) : zeros;                               \
      any |= valid;                                                                                   \
    }                                                                                                 \
    if (any || !(SKIP)) { /* SKIP: a tap no pixel of the tile reaches adds only zeros */           \
      for (int c = 0; c < (CN); ++c) {                                                                \
        const CAT(float, T) wv = CAT(vload, T)(0, (wr) + c * (TP));                                   \
        _Pragma("unroll") for (int p = 0; p < CONV_PT; ++p)                                           \
          acc[p] = fma((CAT(float, T))(src[p][c]), wv, acc[p]);                                       \
      }                                                                                               \
    }                                                                                                 \
  }

/* ---- forward ------------------------------------------------------------------------------- */
#define DEFINE_CONV_FWD(T)                                                                            \
  __kernel void CAT(conv2d_direct_fwd_t, T)(                                                          \
      __global const float *x,  /* (N, H, W, C_in) */                                                 \
      __global const float *wp, /* zeros (zero_len), then w packed (C_out/T, KH*KW*C_in, T) */        \
      __global const float *b,  /* (C_out); read only when has_bias */                                \
      __global float *y,        /* (N, OH, OW, C_out) */                                              \
      const int N, const int H, const int W, const int C_in, const int OH, const int OW,             \
      const int C_out, const int KH, const int KW, const int stride_h, const int stride_w,            \
      const int dil_h, const int dil_w, const int pad_top, const int pad_left, const int G,           \
      const int has_bias, const int zero_len) {                                                      \
    const int M = N * OH * OW;                                                                        \
    const int CG = C_in / G, OG = C_out / G, TPG = (OG + T - 1) / T; /* per group; tiles of OG */    \
    const int m0 = get_global_id(0) * CONV_PT;                                                        \
    const int ct = get_global_id(1), g = ct / TPG;                                                    \
    const int oc0 = g * OG + (ct - g * TPG) * T, oc1 = g * OG + OG; /* the tile, its group's end */  \
    if (m0 >= M || g >= G) return;                                                                    \
    /* pixel p is output row m0 + p = (n*OH + oh)*OW + ow: its input window starts at             \
     * (hb, wb) = (oh*s - pad_top, ow*s - pad_left), pixel offset off in x */                         \
    int hb[CONV_PT], wb[CONV_PT], off[CONV_PT];                                                       \
    {                                                                                                 \
      int ow = m0 % OW, r = m0 / OW;                                                                  \
      int oh = r % OH, n = r / OH;                                                                    \
      _Pragma("unroll") for (int p = 0; p < CONV_PT; ++p) {                                           \
        hb[p] = m0 + p < M ? oh * stride_h - pad_top : -0x40000000; /* dead: never valid */           \
        wb[p] = ow * stride_w - pad_left;                                                             \
        off[p] = (n * H + oh * stride_h - pad_top) * W + wb[p];                                       \
        if (++ow == OW) {                                                                             \
          ow = 0;                                                                                     \
          if (++oh == OH) {                                                                           \
            oh = 0;                                                                                   \
            ++n;                                                                                      \
          }                                                                                           \
        }                                                                                             \
      }                                                                                               \
    }                                                                                                 \
    CAT(float, T) init = (CAT(float, T))(0.0f);                                                       \
    if (has_bias) {                                                                                   \
      float tmp[T];                                                                                   \
      for (int j = 0; j < T; ++j) tmp[j] = oc0 + j < oc1 ? b[oc0 + j] : 0.0f;                         \
      init = CAT(vload, T)(0, tmp);                                                                   \
    }                                                                                                 \
    CAT(float, T) acc[CONV_PT];                                                                       \
    _Pragma("unroll") for (int p = 0; p < CONV_PT; ++p) acc[p] = init;                                \
    __global const float *zeros = wp;                                                                 \
    __global const float *wk = wp + zero_len + ct * (KH * KW * CG * T);                               \
    for (int kh = 0; kh < KH; ++kh) {                                                                 \
      for (int kw = 0; kw < KW; ++kw) {                                                               \
        __global const float *wr = wk + (kh * KW + kw) * CG * T;                                      \
        GATHER_TAP(T, x, C_in, g * CG, CG, H, W, kh * dil_h, kw * dil_w, kh * dil_h * W + kw * dil_w, wr, \
                   T, 0)                                                                              \
      }                                                                                               \
    }                                                                                                 \
    _Pragma("unroll") for (int p = 0; p < CONV_PT; ++p) {                                             \
      if (m0 + p < M) STORE_TILE(T, acc[p], y + (m0 + p) * C_out, oc0, oc1);                          \
    }                                                                                                 \
  }

/* ---- backward data ------------------------------------------------------------------------- */
#define DEFINE_CONV_BWD_DATA(T)                                                                       \
  __kernel void CAT(conv2d_direct_bwd_data_t, T)(                                                     \
      __global const float *dy, /* (N, OH, OW, C_out) */                                              \
      __global const float *wp, /* zeros (zero_len), then w^T packed (C_in/T, KH*KW, C_out, T) */     \
      __global float *dx,       /* (N, H, W, C_in) */                                                 \
      const int N, const int H, const int W, const int C_in, const int OH, const int OW,             \
      const int C_out, const int KH, const int KW, const int stride_h, const int stride_w,            \
      const int dil_h, const int dil_w, const int pad_top, const int pad_left, const int G,           \
      const int kstep_h, const int kstep_w, const int qstep_h, const int qstep_w, const int zero_len) { \
    /* dx pixels in s*s classes (ih mod s, iw mod s) = (rh, rw), each an (N, HS, WS) grid of       \
     * pixels (ih, iw) = (rh + s*a, rw + s*b) (those past H or W are dead) */                         \
    const int HS = (H + stride_h - 1) / stride_h, WS = (W + stride_w - 1) / stride_w;                 \
    const int SS = stride_h * stride_w;          /* classes */                                        \
    const int MC = N * HS * WS;                  /* pixels per class */                               \
    const int tiles = (MC + CONV_PT - 1) / CONV_PT; /* tiles per class */                             \
    const int CG = C_in / G, OG = C_out / G, TPG = (CG + T - 1) / T; /* per group; tiles of CG */    \
    const int t = get_global_id(0);                                                                   \
    const int ct = get_global_id(1), g = ct / TPG;                                                    \
    const int ci0 = g * CG + (ct - g * TPG) * T, ci1 = g * CG + CG; /* the tile, its group's end */  \
    if (t >= SS * tiles || g >= G) return;                                                            \
    /* the class varies fastest: neighbouring work-items write interleaved dx pixels (shared     \
     * cache lines) and read the same dy pixels */                                                    \
    const int tile = t / SS;                                                                          \
    const int cls = t - tile * SS;                                                                    \
    const int m0 = tile * CONV_PT;                                                                    \
    const int rh = cls / stride_w, rw = cls - rh * stride_w;                                          \
    /* the live taps are the same for the whole class: kh = rh + pad_top - s*qh, kw likewise,      \
     * and they read dy pixel (a + qh, b + qw) */                                                     \
    int hb[CONV_PT], wb[CONV_PT], off[CONV_PT], dst[CONV_PT];                                         \
    {                                                                                                 \
      int bb = m0 % WS, r = m0 / WS;                                                                  \
      int a = r % HS, n = r / HS;                                                                     \
      _Pragma("unroll") for (int p = 0; p < CONV_PT; ++p) {                                           \
        const int ih = rh + stride_h * a, iw = rw + stride_w * bb;                                    \
        const int live = m0 + p < MC && ih < H && iw < W;                                             \
        hb[p] = live ? a : -0x40000000; /* dead: never valid */                                       \
        wb[p] = bb;                                                                                   \
        off[p] = (n * OH + a) * OW + bb;                                                              \
        dst[p] = live ? (n * H + ih) * W + iw : -1;                                                   \
        if (++bb == WS) {                                                                             \
          bb = 0;                                                                                     \
          if (++a == HS) {                                                                            \
            a = 0;                                                                                    \
            ++n;                                                                                      \
          }                                                                                           \
        }                                                                                             \
      }                                                                                               \
    }                                                                                                 \
    CAT(float, T) acc[CONV_PT];                                                                       \
    _Pragma("unroll") for (int p = 0; p < CONV_PT; ++p) acc[p] = (CAT(float, T))(0.0f);               \
    __global const float *zeros = wp;                                                                 \
    __global const float *wk = wp + zero_len + ct * (KH * KW * OG * T);                               \
    /* first live tap of each axis (kh with ph - kh*dh a multiple of sh) and its dy offset; the      \
     * live taps repeat every kstep = s / gcd(s, d) taps, each qstep = d / gcd(s, d) dy rows /       \
     * columns back (no division in the loops: integer division is slow on CPUs) */                  \
    const int ph = rh + pad_top, pw = rw + pad_left;                                                  \
    int kh0 = 0, kw0 = 0;                                                                             \
    while (kh0 < kstep_h && (ph - kh0 * dil_h) % stride_h) ++kh0;                                     \
    while (kw0 < kstep_w && (pw - kw0 * dil_w) % stride_w) ++kw0;                                     \
    if (kh0 == kstep_h || kw0 == kstep_w) kh0 = KH; /* no tap reaches this class */                  \
    int qh = (ph - kh0 * dil_h) / stride_h;                                                           \
    for (int kh = kh0; kh < KH; kh += kstep_h, qh -= qstep_h) {                                       \
      int qw = (pw - kw0 * dil_w) / stride_w;                                                         \
      for (int kw = kw0; kw < KW; kw += kstep_w, qw -= qstep_w) {                                     \
        __global const float *wr = wk + (kh * KW + kw) * OG * T;                                      \
        GATHER_TAP(T, dy, C_out, g * OG, OG, OH, OW, qh, qw, qh * OW + qw, wr, T, SS > 1)             \
      }                                                                                               \
    }                                                                                                 \
    _Pragma("unroll") for (int p = 0; p < CONV_PT; ++p) {                                             \
      if (dst[p] >= 0) STORE_TILE(T, acc[p], dx + dst[p] * C_in, ci0, ci1);                           \
    }                                                                                                 \
  }

/* ---- filter gradient ----------------------------------------------------------------------- */
/* acc[c] += x[xp + min(c, cn-1)] * dy[dp .. dp+T) over the live ow of one row; cn = CT
 * for a full input-channel tile (the min folds away), fewer for the last one. A partial output
 * channel tile (dn < T lanes live) loads its dy lanes one by one so nothing past dy is read. */
#define WGRAD_ROW(T, CT, cn, dn)                                                                          \
  for (int ow = ow_lo; ow < ow_hi; ++ow) {                                                            \
    CAT(float, T) dv;                                                                                 \
    if ((dn) >= T) {                                                                                  \
      dv = CAT(vload, T)(0, dp);                                                                      \
    } else {                                                                                          \
      float tmp[T];                                                                                   \
      for (int j = 0; j < T; ++j) tmp[j] = dp[min(j, (dn) - 1)];                                      \
      dv = CAT(vload, T)(0, tmp);                                                                     \
    }                                                                                                 \
    _Pragma("unroll") for (int c = 0; c < CT; ++c)                                                    \
      acc[c] = fma((CAT(float, T))(xp[min(c, (cn) - 1)]), dv, acc[c]);                                \
    xp += xstep;                                                                                      \
    dp += C_out;                                                                                      \
  }

#define DEFINE_CONV_WGRAD(T, CT)                                                                      \
  __kernel void CAT(CAT(CAT(conv2d_direct_wgrad_t, T), _c), CT)(                                      \
      __global const float *x,  /* (N, H, W, C_in) */                                                 \
      __global const float *dy, /* (N, OH, OW, C_out) */                                              \
      __global float *partial,  /* (n_blocks, KH*KW*C_in, C_out) */                                   \
      __global float *db_part,  /* (n_blocks, C_out) from db_off; written when has_bias */             \
      const int N, const int H, const int W, const int C_in, const int OH, const int OW,             \
      const int C_out, const int KH, const int KW, const int stride_h, const int stride_w,            \
      const int dil_h, const int dil_w, const int pad_top, const int pad_left, const int G,           \
      const int rows_per_block, const int n_blocks, const int has_bias, const int db_off) {           \
    const int CG = C_in / G, OG = C_out / G; /* per group */                                         \
    const int ci_tiles = (CG + CT - 1) / CT, co_tiles = (OG + T - 1) / T;                             \
    const int n_f = co_tiles * ci_tiles * G * KH * KW; /* filter tiles */                            \
    const int g = get_global_id(0);                                                                   \
    if (g >= n_blocks * n_f) return;                                                                  \
    const int blk = g / n_f;                                                                          \
    if (blk * rows_per_block >= N * OH) return; /* empty block: the host never makes one */           \
    int f = g - blk * n_f;                                                                            \
    const int co_t = f % co_tiles;                                                                    \
    f /= co_tiles;                                                                                    \
    const int ci0 = (f % ci_tiles) * CT; /* within the group */                                      \
    f /= ci_tiles;                                                                                    \
    const int grp = f % G, tap = f / G;                                                               \
    const int co0 = grp * OG + co_t * T, co1 = grp * OG + OG; /* the tile, its group's end */        \
    const int kh = tap / KW, kw = tap % KW;                                                           \
    const int cn = min(CT, CG - ci0), dn = min(T, co1 - co0);                                        \
    /* live ow: 0 <= ow*s - pad_left + kw < W */                                                     \
    const int ow_lo = max(0, (pad_left - kw * dil_w + stride_w - 1) / stride_w);                      \
    const int hnum = W - 1 + pad_left - kw * dil_w;                                                   \
    const int ow_hi = hnum < 0 ? 0 : min(OW, hnum / stride_w + 1);                                    \
    const int xstep = stride_w * C_in;                                                                \
    CAT(float, T) acc[CT];                                                                            \
    _Pragma("unroll") for (int c = 0; c < CT; ++c) acc[c] = (CAT(float, T))(0.0f);                    \
    const int row1 = min(N * OH, (blk + 1) * rows_per_block);                                         \
    int row = blk * rows_per_block;                                                                   \
    int oh = row % OH, n = row / OH;                                                                  \
    for (; row < row1; ++row) {                                                                       \
      const int ih = oh * stride_h - pad_top + kh * dil_h;                                            \
      if (ih >= 0 && ih < H) {                                                                        \
        __global const float *xp =                                                                    \
            x + ((n * H + ih) * W + ow_lo * stride_w - pad_left + kw * dil_w) * C_in + grp * CG + ci0;  \
        __global const float *dp = dy + (row * OW + ow_lo) * C_out + co0;                             \
        if (cn == CT && dn == T) {                                                                    \
          WGRAD_ROW(T, CT, CT, T)                                                                     \
        } else {                                                                                      \
          WGRAD_ROW(T, CT, cn, dn)                                                                    \
        }                                                                                             \
      }                                                                                               \
      if (++oh == OH) {                                                                               \
        oh = 0;                                                                                       \
        ++n;                                                                                          \
      }                                                                                               \
    }                                                                                                 \
    const int K = KH * KW * CG;                                                                       \
    __global float *out = partial + (blk * K + tap * CG) * C_out;                                     \
    _Pragma("unroll") for (int c = 0; c < CT; ++c) {                                                  \
      if (c < cn) STORE_TILE(T, acc[c], out + (ci0 + c) * C_out, co0, co1);                           \
    }                                                                                                 \
    if (has_bias && tap == 0 && ci0 == 0) {                                                           \
      /* the block's share of db: its dy rows (still in cache), pixels in order */                    \
      const int row0 = blk * rows_per_block;                                                          \
      __global const float *dp = dy + (row0 * OW) * C_out + co0;                                      \
      CAT(float, T) sum = (CAT(float, T))(0.0f);                                                      \
      for (int i = (row1 - row0) * OW; i > 0; --i) {                                                  \
        if (dn == T) {                                                                                \
          sum += CAT(vload, T)(0, dp);                                                                \
        } else {                                                                                      \
          float tmp[T];                                                                               \
          for (int j = 0; j < T; ++j) tmp[j] = dp[min(j, dn - 1)];                                    \
          sum += CAT(vload, T)(0, tmp);                                                               \
        }                                                                                             \
        dp += C_out;                                                                                  \
      }                                                                                               \
      STORE_TILE(T, sum, db_part + db_off + blk * C_out, co0, co1);                                   \
    }                                                                                                 \
  }

/* out (count) = sum over b < n_blocks of partial[off + b*count + i], in block order.
 * Index space 1-D: i. */
__kernel void conv2d_direct_sum_blocks(__global const float *partial, const int off, __global float *out,
                                       const int n_blocks, const int count) {
  const int i = get_global_id(0);
  if (i >= count) return;
  __global const float *p = partial + off + i;
  float acc = 0.0f;
  for (int b = 0; b < n_blocks; ++b) acc += p[b * count];
  out[i] = acc;
}

DEFINE_CONV_FWD(8)
DEFINE_CONV_FWD(16)
DEFINE_CONV_BWD_DATA(8)
DEFINE_CONV_BWD_DATA(16)
DEFINE_CONV_WGRAD(8, 8)
DEFINE_CONV_WGRAD(16, 8)
DEFINE_CONV_WGRAD(8, 16)
DEFINE_CONV_WGRAD(16, 16)

/* conv2d_direct_wgrad_t32_c8: the filter gradient with 8 input channels x 32 output channels per
 * work-item, for C_in % 8 == 0 and C_out % 32 == 0 only (no partial tiles). Per pixel it loads two
 * dy vectors and 8 x values for 16 FMAs (the _t16_c16 variant: one dy vector and 16 x values),
 * which keeps the FMA units rather than the load ports busy. Same partition, work-item order
 * (co tile fastest) and per-element sum order as conv2d_direct_wgrad_tT_cCT. */
__kernel void conv2d_direct_wgrad_t32_c8(__global const float *x, __global const float *dy, __global float *partial,
                                         __global float *db_part, const int N, const int H, const int W,
                                         const int C_in, const int OH, const int OW, const int C_out, const int KH,
                                         const int KW, const int stride_h, const int stride_w, const int dil_h,
                                         const int dil_w, const int pad_top, const int pad_left, const int G,
                                         const int rows_per_block, const int n_blocks, const int has_bias,
                                         const int db_off) {
  const int CG = C_in / G, OG = C_out / G;
  const int ci_tiles = CG / 8, co_tiles = OG / 32;
  const int n_f = co_tiles * ci_tiles * G * KH * KW;
  const int g = get_global_id(0);
  if (g >= n_blocks * n_f) return;
  const int blk = g / n_f;
  if (blk * rows_per_block >= N * OH) return;
  int f = g - blk * n_f;
  const int co_t = f % co_tiles;
  f /= co_tiles;
  const int ci0 = (f % ci_tiles) * 8; /* within the group */
  f /= ci_tiles;
  const int grp = f % G, tap = f / G;
  const int co0 = grp * OG + co_t * 32;
  const int kh = tap / KW, kw = tap % KW;
  const int ow_lo = max(0, (pad_left - kw * dil_w + stride_w - 1) / stride_w);
  const int hnum = W - 1 + pad_left - kw * dil_w;
  const int ow_hi = hnum < 0 ? 0 : min(OW, hnum / stride_w + 1);
  const int xstep = stride_w * C_in;
  float16 acc0[8], acc1[8];
  _Pragma("unroll") for (int c = 0; c < 8; ++c) acc0[c] = acc1[c] = (float16)(0.0f);
  const int row1 = min(N * OH, (blk + 1) * rows_per_block);
  int row = blk * rows_per_block;
  int oh = row % OH, n = row / OH;
  for (; row < row1; ++row) {
    const int ih = oh * stride_h - pad_top + kh * dil_h;
    if (ih >= 0 && ih < H) {
      __global const float *xp = x + ((n * H + ih) * W + ow_lo * stride_w - pad_left + kw * dil_w) * C_in + grp * CG + ci0;
      __global const float *dp = dy + (row * OW + ow_lo) * C_out + co0;
      for (int ow = ow_lo; ow < ow_hi; ++ow) {
        const float16 d0 = vload16(0, dp), d1 = vload16(0, dp + 16);
        _Pragma("unroll") for (int c = 0; c < 8; ++c) {
          const float16 xv = (float16)(xp[c]);
          acc0[c] = fma(xv, d0, acc0[c]);
          acc1[c] = fma(xv, d1, acc1[c]);
        }
        xp += xstep;
        dp += C_out;
      }
    }
    if (++oh == OH) {
      oh = 0;
      ++n;
    }
  }
  const int K = KH * KW * CG;
  __global float *out = partial + (blk * K + tap * CG) * C_out;
  _Pragma("unroll") for (int c = 0; c < 8; ++c) {
    vstore16(acc0[c], 0, out + (ci0 + c) * C_out + co0);
    vstore16(acc1[c], 0, out + (ci0 + c) * C_out + co0 + 16);
  }
  if (has_bias && tap == 0 && ci0 == 0) {
    const int row0 = blk * rows_per_block;
    __global const float *dp = dy + (row0 * OW) * C_out + co0;
    float16 s0 = (float16)(0.0f), s1 = (float16)(0.0f);
    for (int i = (row1 - row0) * OW; i > 0; --i) {
      s0 += vload16(0, dp);
      s1 += vload16(0, dp + 16);
      dp += C_out;
    }
    vstore16(s0, 0, db_part + db_off + blk * C_out + co0);
    vstore16(s1, 0, db_part + db_off + blk * C_out + co0 + 16);
  }
}
