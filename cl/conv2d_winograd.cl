/* Winograd F(2x2, 3x3) convolution (host/ops/conv2d_winograd.c, CLNET_CONV_ALGO_WINOGRAD).
 * NHWC fp32, 3x3 stride-1 correlation of an (IH, IW, C)-pixel plane into an (OH, OW, K) one:
 *   out[n, oh, ow, k] = sum_{i, j < 3, c} in[n, oh - pad_top + i, ow - pad_left + j, c] * g[i, j, c, k]
 * (taps outside the plane read 0). The forward pass is this with (in, g) = (x, w); backward data
 * is this with (in, g) = (dy, w flipped in both taps and transposed: g[i, j, co, ci] =
 * w[2-i, 2-j, ci, co]) and pads 2 - pad (a full correlation for 'valid').
 *
 * Output tiles of 2x2 pixels, tile (th, tw) reading the 4x4 input patch from
 * (2*th - pad_top, 2*tw - pad_left). With the 16 frequencies f = 4*a + b:
 *   U[f] (C, K)  = G g G^T          G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
 *   V[f] (P, C)  = B^T d B          B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 *   M[f] (P, K)  = V[f] . U[f]      (16 independent GEMMs, the reduction over c)
 *   out tile     = A^T M A (+ b)    A^T = [1 1 1 0; 0 1 -1 -1]
 * P is the number of tiles of a chunk of images (host side). Buffers (floats, all in the one
 * scratch buffer S at offsets u_off, v_off, m_off):
 *   U  (16, KT, C, T)  KT = ceil(K / T) tiles of T output channels (T = 8, 16 or 32: the GEMM
 *                      variant), each one contiguous stream (as conv2d_direct_pack), channels past
 *                      K zero;
 *   V  (16, P, C);
 *   M  (16, P, KT*T).
 * Every sum runs in a fixed order (transforms as written below, the GEMM over c ascending): the
 * results are bit-identical run to run. Every kernel bounds-checks its index space. Indices are
 * int: the host keeps the scratch below 2^31 floats, and tensors are checked the same way.
 * The transforms put VW channels in one explicit vector per work-item (PoCL does not vectorise
 * across work-items through their loops; scalar transforms took longer than the GEMMs). */

#define WINO_PT 8 /* tiles (GEMM rows) per work-item */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

/* Vector helpers: VW channels per work-item (1, 8 or 16; the host picks a VW that divides the
 * channel count, so a vector never straddles a pixel's channel row). */
#define VT_1 float
#define VT_8 float8
#define VT_16 float16
#define VLD_1(p) (*(p))
#define VLD_8(p) vload8(0, (p))
#define VLD_16(p) vload16(0, (p))
#define VST_1(v, p) (*(p) = (v))
#define VST_8(v, p) vstore8((v), 0, (p))
#define VST_16(v, p) vstore16((v), 0, (p))

/* Tile p of a chunk -> (image n, tile row th, tile column tw), p = ((n - n0)*TH + th)*TW + tw. */
#define WINO_TILE_OF(p)                                                                                \
  const int tw = (p) % TW, th = (p) / TW % TH, n = n0 + (p) / TW / TH

/* g[i][j] (VW output channels from k, input channel c) = w[(i*3 + j)*tap_stride + c*c_stride +
 * k*k_stride], read at (2-i, 2-j) when flip; k_stride 1 reads a vector, else VW lanes one by one;
 * channels at k >= K read 0. Shared by both filter transforms. */
#define WINO_LOAD_TAPS(VW, g)                                                                          \
  for (int i = 0; i < 3; ++i)                                                                          \
    for (int j = 0; j < 3; ++j) {                                                                      \
      const int t = flip ? (2 - i) * 3 + (2 - j) : i * 3 + j;                                          \
      __global const float *src = w + t * tap_stride + c * c_stride + k * k_stride;                    \
      if (k >= K) {                                                                                    \
        g[i][j] = (VT_##VW)(0.0f);                                                                     \
      } else if (k_stride == 1) {                                                                      \
        g[i][j] = VLD_##VW(src);                                                                       \
      } else {                                                                                         \
        float tmp[VW];                                                                                 \
        for (int l = 0; l < VW; ++l) tmp[l] = src[l * k_stride];                                       \
        g[i][j] = VLD_##VW(tmp);                                                                       \
      }                                                                                                \
    }

/* U from g. Work-item (dim0, dim1) = (k group of VW output channels < KT*T, c < C); VW divides T
 * and, when it is not 1, K. g[i, j] = w[(i*3 + j)*tap_stride + c*c_stride + k*k_stride], read at
 * (2-i, 2-j) when flip; k_stride 1 reads a vector, else VW lanes one by one. */
#define DEFINE_WINO_FILTER(VW)                                                                         \
  __kernel void CAT(wino_filter_v, VW)(__global const float *w, __global float *S, const int u_off,    \
                                       const int C, const int K, const int T, const int KT,            \
                                       const int c_stride, const int k_stride, const int tap_stride,   \
                                       const int flip) {                                              \
    const int k = get_global_id(0) * VW, c = get_global_id(1);                                         \
    if (k >= KT * T || c >= C) return;                                                                 \
    VT_##VW g[3][3];                                                                                   \
    WINO_LOAD_TAPS(VW, g);                                                                             \
    /* t = G g (4x3), then U = t G^T (4x4) */                                                          \
    VT_##VW t[4][3];                                                                                   \
    for (int j = 0; j < 3; ++j) {                                                                      \
      t[0][j] = g[0][j];                                                                               \
      t[1][j] = 0.5f * (g[0][j] + g[1][j] + g[2][j]);                                                  \
      t[2][j] = 0.5f * (g[0][j] - g[1][j] + g[2][j]);                                                  \
      t[3][j] = g[2][j];                                                                               \
    }                                                                                                  \
    const int kt = k / T, l = k - kt * T;                                                              \
    __global float *dst = S + u_off + (kt * C + c) * T + l;                                            \
    const int fs = KT * C * T;                                                                         \
    for (int a = 0; a < 4; ++a) {                                                                      \
      VST_##VW(t[a][0], dst + (4 * a + 0) * fs);                                                       \
      VST_##VW(0.5f * (t[a][0] + t[a][1] + t[a][2]), dst + (4 * a + 1) * fs);                          \
      VST_##VW(0.5f * (t[a][0] - t[a][1] + t[a][2]), dst + (4 * a + 2) * fs);                          \
      VST_##VW(t[a][2], dst + (4 * a + 3) * fs);                                                       \
    }                                                                                                  \
  }

/* V from the input tiles of images [n0, n0 + nc) of in (N, IH, IW, C). Work-item (dim0, dim1) =
 * (channel group c = dim0*VW, tile p of the chunk); p = (n*TH + th)*TW + tw with n relative to n0.
 * VW divides C. */
#define DEFINE_WINO_INPUT(VW)                                                                          \
  __kernel void CAT(wino_input_v, VW)(__global const float *in, __global float *S, const int v_off,    \
                                      const int n0, const int nc, const int IH, const int IW,          \
                                      const int C, const int TH, const int TW, const int pad_top,      \
                                      const int pad_left) {                                           \
    const int c = get_global_id(0) * VW, p = get_global_id(1);                                         \
    const int P = nc * TH * TW;                                                                        \
    if (c >= C || p >= P) return;                                                                      \
    WINO_TILE_OF(p);                                                                                   \
    const int h0 = 2 * th - pad_top, w0 = 2 * tw - pad_left;                                           \
    VT_##VW d[4][4];                                                                                   \
    for (int i = 0; i < 4; ++i)                                                                        \
      for (int j = 0; j < 4; ++j) {                                                                    \
        const int h = h0 + i, x = w0 + j;                                                              \
        d[i][j] = (uint)h < (uint)IH && (uint)x < (uint)IW ? VLD_##VW(in + ((n * IH + h) * IW + x) * C + c) \
                                                           : (VT_##VW)(0.0f);                         \
      }                                                                                                \
    /* t = B^T d (rows), then V = t B (columns) */                                                     \
    VT_##VW t[4][4];                                                                                   \
    for (int j = 0; j < 4; ++j) {                                                                      \
      t[0][j] = d[0][j] - d[2][j];                                                                     \
      t[1][j] = d[1][j] + d[2][j];                                                                     \
      t[2][j] = d[2][j] - d[1][j];                                                                     \
      t[3][j] = d[1][j] - d[3][j];                                                                     \
    }                                                                                                  \
    __global float *dst = S + v_off + p * C + c;                                                       \
    const int fs = P * C;                                                                              \
    for (int a = 0; a < 4; ++a) {                                                                      \
      VST_##VW(t[a][0] - t[a][2], dst + (4 * a + 0) * fs);                                             \
      VST_##VW(t[a][1] + t[a][2], dst + (4 * a + 1) * fs);                                             \
      VST_##VW(t[a][2] - t[a][1], dst + (4 * a + 2) * fs);                                             \
      VST_##VW(t[a][1] - t[a][3], dst + (4 * a + 3) * fs);                                             \
    }                                                                                                  \
  }

/* M[f] (P, KT*T) = V[f] (P, C) . U[f] (C, KT*T). Work-item (dim0, dim1, dim2) = (row tile of
 * WINO_PT rows, output-channel tile, f): a register tile of WINO_PT rows x T channels (explicit
 * floatT, one SIMD register per row on a CPU), one U vector loaded per c and multiplied into all
 * rows, sum over c ascending. Rows past P read row P-1 and are not stored. */
#define DEFINE_WINO_GEMM(T)                                                                            \
  __kernel void CAT(wino_gemm_t, T)(__global float *S, const int v_off, const int u_off, const int m_off,  \
                                    const int P, const int C, const int KT) {                          \
    const int p0 = get_global_id(0) * WINO_PT, kt = get_global_id(1), f = get_global_id(2);            \
    if (p0 >= P || kt >= KT) return;                                                                   \
    __global const float *v[WINO_PT];                                                                  \
    _Pragma("unroll") for (int r = 0; r < WINO_PT; ++r)                                                \
      v[r] = S + v_off + (f * P + min(p0 + r, P - 1)) * C;                                             \
    __global const float *u = S + u_off + (f * KT + kt) * C * T;                                       \
    CAT(float, T) acc[WINO_PT];                                                                        \
    _Pragma("unroll") for (int r = 0; r < WINO_PT; ++r) acc[r] = (CAT(float, T))(0.0f);                \
    for (int c = 0; c < C; ++c) {                                                                      \
      const CAT(float, T) uv = CAT(vload, T)(0, u + c * T);                                            \
      _Pragma("unroll") for (int r = 0; r < WINO_PT; ++r)                                              \
        acc[r] = fma((CAT(float, T))(v[r][c]), uv, acc[r]);                                            \
    }                                                                                                  \
    __global float *m = S + m_off + (f * P + p0) * (KT * T) + kt * T;                                  \
    _Pragma("unroll") for (int r = 0; r < WINO_PT; ++r) {                                              \
      if (p0 + r < P) CAT(vstore, T)(acc[r], 0, m + r * (KT * T));                                     \
    }                                                                                                  \
  }

DEFINE_WINO_GEMM(8)
DEFINE_WINO_GEMM(16)

/* The same for T = 32 as two float16 halves: 16 FMAs per WINO_PT + 2 loads instead of 8 per
 * WINO_PT + 1, which keeps a CPU's FMA units busier than its load ports. */
__kernel void wino_gemm_t32(__global float *S, const int v_off, const int u_off, const int m_off, const int P,
                            const int C, const int KT) {
  const int p0 = get_global_id(0) * WINO_PT, kt = get_global_id(1), f = get_global_id(2);
  if (p0 >= P || kt >= KT) return;
  __global const float *v[WINO_PT];
  _Pragma("unroll") for (int r = 0; r < WINO_PT; ++r) v[r] = S + v_off + (f * P + min(p0 + r, P - 1)) * C;
  __global const float *u = S + u_off + (f * KT + kt) * C * 32;
  float16 acc0[WINO_PT], acc1[WINO_PT];
  _Pragma("unroll") for (int r = 0; r < WINO_PT; ++r) acc0[r] = acc1[r] = (float16)(0.0f);
  for (int c = 0; c < C; ++c) {
    const float16 u0 = vload16(0, u + c * 32), u1 = vload16(0, u + c * 32 + 16);
    _Pragma("unroll") for (int r = 0; r < WINO_PT; ++r) {
      const float16 vr = (float16)(v[r][c]);
      acc0[r] = fma(vr, u0, acc0[r]);
      acc1[r] = fma(vr, u1, acc1[r]);
    }
  }
  __global float *m = S + m_off + (f * P + p0) * (KT * 32) + kt * 32;
  _Pragma("unroll") for (int r = 0; r < WINO_PT; ++r) {
    if (p0 + r < P) {
      vstore16(acc0[r], 0, m + r * (KT * 32));
      vstore16(acc1[r], 0, m + r * (KT * 32) + 16);
    }
  }
}

/* out tiles of images [n0, n0 + nc) of out (N, OH, OW, K) from M (16, P, KP), + b when has_bias.
 * Work-item (dim0, dim1) = (channel group k = dim0*VW, tile p); VW divides K (and KP). The bias
 * comes first in each sum, like the direct path. */
#define DEFINE_WINO_OUTPUT(VW)                                                                         \
  __kernel void CAT(wino_output_v, VW)(__global const float *S, const int m_off, __global const float *b, \
                                       __global float *out, const int n0, const int nc, const int OH,  \
                                       const int OW, const int K, const int KP, const int TH,          \
                                       const int TW, const int has_bias) {                             \
    const int k = get_global_id(0) * VW, p = get_global_id(1);                                         \
    const int P = nc * TH * TW;                                                                        \
    if (k >= K || p >= P) return;                                                                      \
    WINO_TILE_OF(p);                                                                                   \
    __global const float *src = S + m_off + p * KP + k;                                                \
    const int fs = P * KP;                                                                             \
    VT_##VW m[4][4];                                                                                   \
    for (int a = 0; a < 4; ++a)                                                                        \
      for (int c = 0; c < 4; ++c) m[a][c] = VLD_##VW(src + (4 * a + c) * fs);                          \
    /* t = A^T m (2x4), then y = t A (2x2) */                                                          \
    VT_##VW t[2][4];                                                                                   \
    for (int j = 0; j < 4; ++j) {                                                                      \
      t[0][j] = m[0][j] + m[1][j] + m[2][j];                                                           \
      t[1][j] = m[1][j] - m[2][j] - m[3][j];                                                           \
    }                                                                                                  \
    const VT_##VW bias = has_bias ? VLD_##VW(b + k) : (VT_##VW)(0.0f);                                 \
    for (int i = 0; i < 2; ++i) {                                                                      \
      const int oh = 2 * th + i;                                                                       \
      if (oh >= OH) break;                                                                             \
      __global float *dst = out + ((n * OH + oh) * OW + 2 * tw) * K + k;                               \
      VST_##VW(bias + (t[i][0] + t[i][1] + t[i][2]), dst);                                             \
      if (2 * tw + 1 < OW) VST_##VW(bias + (t[i][1] - t[i][2] - t[i][3]), dst + K);                    \
    }                                                                                                  \
  }

DEFINE_WINO_FILTER(1)
DEFINE_WINO_FILTER(8)
DEFINE_WINO_INPUT(1)
DEFINE_WINO_INPUT(8)
DEFINE_WINO_INPUT(16)
DEFINE_WINO_OUTPUT(1)
DEFINE_WINO_OUTPUT(8)
DEFINE_WINO_OUTPUT(16)

/* ---- filter gradient ------------------------------------------------------------------------
 * With y = A^T (U . V) A per tile, dL/dU = (A dY A^T) . V and dL/dg = G^T (dL/dU) G, summed over
 * tiles and channels' images:
 *   V[f] (P, C_in)    = B^T d B of the x tiles (wino_input, the forward's tiling);
 *   W[f] (P, KP)      = A dY A^T of the dy tiles (dy outside the output plane reads 0);
 *   Z[f] (C_in, KP)  += V[f]^T . W[f] over the chunk's tiles p ascending (wino_wgemm), chunks in
 *                       order (the first chunk overwrites);
 *   dw[i, j, c, k]    = (G^T Z G)[i, j] (wino_wgrad_out).
 * A = [1 0; 1 1; 1 -1; 0 -1] (4x2), G^T = [1 1/2 1/2 0; 0 1/2 -1/2 0; 0 1/2 1/2 1]. */

/* W from the dy tiles of images [n0, n0 + nc) of dy (N, OH, OW, K). Work-item (dim0, dim1) =
 * (channel group k = dim0*VW < KP, tile p); VW divides K, and groups at k >= K write zeros. */
#define DEFINE_WINO_DY(VW)                                                                             \
  __kernel void CAT(wino_dy_v, VW)(__global const float *dy, __global float *S, const int w_off,       \
                                   const int n0, const int nc, const int OH, const int OW, const int K, \
                                   const int KP, const int TH, const int TW) {                         \
    const int k = get_global_id(0) * VW, p = get_global_id(1);                                         \
    const int P = nc * TH * TW;                                                                        \
    if (k >= KP || p >= P) return;                                                                     \
    WINO_TILE_OF(p);                                                                                   \
    VT_##VW e[2][2];                                                                                   \
    for (int i = 0; i < 2; ++i)                                                                        \
      for (int j = 0; j < 2; ++j) {                                                                    \
        const int oh = 2 * th + i, ow = 2 * tw + j;                                                    \
        e[i][j] = k < K && oh < OH && ow < OW ? VLD_##VW(dy + ((n * OH + oh) * OW + ow) * K + k)        \
                                              : (VT_##VW)(0.0f);                                      \
      }                                                                                                \
    /* t = A e (4x2), then W = t A^T (4x4) */                                                          \
    VT_##VW t[4][2];                                                                                   \
    for (int j = 0; j < 2; ++j) {                                                                      \
      t[0][j] = e[0][j];                                                                               \
      t[1][j] = e[0][j] + e[1][j];                                                                     \
      t[2][j] = e[0][j] - e[1][j];                                                                     \
      t[3][j] = -e[1][j];                                                                              \
    }                                                                                                  \
    __global float *dst = S + w_off + p * KP + k;                                                      \
    const int fs = P * KP;                                                                             \
    for (int a = 0; a < 4; ++a) {                                                                      \
      VST_##VW(t[a][0], dst + (4 * a + 0) * fs);                                                       \
      VST_##VW(t[a][0] + t[a][1], dst + (4 * a + 1) * fs);                                             \
      VST_##VW(t[a][0] - t[a][1], dst + (4 * a + 2) * fs);                                             \
      VST_##VW(-t[a][1], dst + (4 * a + 3) * fs);                                                      \
    }                                                                                                  \
  }

DEFINE_WINO_DY(1)
DEFINE_WINO_DY(8)
DEFINE_WINO_DY(16)

/* Z[f] (C, KT*32) (+)= V[f]^T (V[f] is (P, C)) . W[f] (P, KT*32). Work-item (dim0, dim1, dim2) =
 * (tile of WINO_PT input channels, tile of 32 output channels, f): WINO_PT x 32 accumulators in
 * two float16 halves, sum over p ascending, starting from Z when accumulate (later chunks).
 * Channels past C read channel C-1 and are not stored. */
__kernel void wino_wgemm_t32(__global float *S, const int v_off, const int w_off, const int z_off, const int P,
                             const int C, const int KT, const int accumulate) {
  const int c0 = get_global_id(0) * WINO_PT, kt = get_global_id(1), f = get_global_id(2);
  if (c0 >= C || kt >= KT) return;
  const int KP = KT * 32;
  int cr[WINO_PT];
  _Pragma("unroll") for (int r = 0; r < WINO_PT; ++r) cr[r] = min(c0 + r, C - 1);
  __global const float *v = S + v_off + f * P * C;
  __global const float *w = S + w_off + f * P * KP + kt * 32;
  __global float *z = S + z_off + (f * C + c0) * KP + kt * 32;
  float16 acc0[WINO_PT], acc1[WINO_PT];
  _Pragma("unroll") for (int r = 0; r < WINO_PT; ++r) {
    if (accumulate && c0 + r < C) {
      acc0[r] = vload16(0, z + r * KP);
      acc1[r] = vload16(0, z + r * KP + 16);
    } else {
      acc0[r] = acc1[r] = (float16)(0.0f);
    }
  }
  /* a full channel tile reads its WINO_PT channels at constant offsets from one pointer (the
   * clamped indices of the last tile cost a vector-to-scalar extraction per load) */
  if (c0 + WINO_PT <= C) {
    for (int p = 0; p < P; ++p) {
      const float16 w0 = vload16(0, w + p * KP), w1 = vload16(0, w + p * KP + 16);
      __global const float *vp = v + p * C + c0;
      _Pragma("unroll") for (int r = 0; r < WINO_PT; ++r) {
        const float16 vr = (float16)(vp[r]);
        acc0[r] = fma(vr, w0, acc0[r]);
        acc1[r] = fma(vr, w1, acc1[r]);
      }
    }
  } else {
    for (int p = 0; p < P; ++p) {
      const float16 w0 = vload16(0, w + p * KP), w1 = vload16(0, w + p * KP + 16);
      _Pragma("unroll") for (int r = 0; r < WINO_PT; ++r) {
        const float16 vr = (float16)(v[p * C + cr[r]]);
        acc0[r] = fma(vr, w0, acc0[r]);
        acc1[r] = fma(vr, w1, acc1[r]);
      }
    }
  }
  _Pragma("unroll") for (int r = 0; r < WINO_PT; ++r) {
    if (c0 + r < C) {
      vstore16(acc0[r], 0, z + r * KP);
      vstore16(acc1[r], 0, z + r * KP + 16);
    }
  }
}

/* dw (3, 3, C, K) = G^T Z G. Work-item (dim0, dim1) = (k < K, c < C). */
__kernel void wino_wgrad_out(__global const float *S, const int z_off, __global float *dw, const int C, const int K,
                             const int KP) {
  const int k = get_global_id(0), c = get_global_id(1);
  if (k >= K || c >= C) return;
  __global const float *src = S + z_off + c * KP + k;
  const int fs = C * KP;
  float z[4][4];
  for (int a = 0; a < 4; ++a)
    for (int b = 0; b < 4; ++b) z[a][b] = src[(4 * a + b) * fs];
  /* t = G^T z (3x4), then dw = t G (3x3) */
  float t[3][4];
  for (int b = 0; b < 4; ++b) {
    t[0][b] = z[0][b] + 0.5f * (z[1][b] + z[2][b]);
    t[1][b] = 0.5f * (z[1][b] - z[2][b]);
    t[2][b] = 0.5f * (z[1][b] + z[2][b]) + z[3][b];
  }
  for (int i = 0; i < 3; ++i) {
    __global float *dst = dw + (i * 3 * C + c) * K + k;
    dst[0] = t[i][0] + 0.5f * (t[i][1] + t[i][2]);
    dst[C * K] = 0.5f * (t[i][1] - t[i][2]);
    dst[2 * C * K] = 0.5f * (t[i][1] + t[i][2]) + t[i][3];
  }
}

/* ---- F(4x4, 3x3) ------------------------------------------------------------------------------
 * The same three passes with 4x4 output tiles: tile (th, tw) reads the 6x6 input patch from
 * (4*th - pad_top, 4*tw - pad_left), and there are 36 frequencies f = 6*a + b (the GEMMs above run
 * unchanged with 36 in dim 2). Interpolation points 0, 1, -1, 2, -2, infinity:
 *   B^T = [4  0 -5  0 1 0;  0 -4 -4  1 1 0;  0 4 -4 -1 1 0;  0 -2 -1 2 1 0;  0 2 -1 -2 1 0;
 *          0  4  0 -5 0 1]
 *   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
 *   A^T = [1 1 1 1 1 0;  0 1 -1 2 -2 0;  0 1 1 4 4 0;  0 1 -1 8 -8 1]
 * 16 multiplications per output pixel and channel pair become 36/16 = 2.25 (direct: 9), against
 * F(2x2)'s 4; the transformed tiles are 36/16 floats per output pixel instead of 16/4. The price is
 * wider rounding (docs/CHECKS.md). Each transform is applied as a 1-D transform along columns into
 * a private 6x6 array, then along rows; the expressions below are fixed, so results are
 * bit-identical run to run. Buffer layouts as for F(2x2) with 36 in place of 16. */

/* 1-D transforms (x0..x5 -> o0..o5 etc.), written once, used on vectors of any width. */
#define WINO4_BT(o, x)                                                                                 \
  do {                                                                                                 \
    o[0] = 4.0f * x[0] - 5.0f * x[2] + x[4];                                                           \
    o[1] = x[3] + x[4] - 4.0f * (x[1] + x[2]);                                                         \
    o[2] = x[4] - x[3] + 4.0f * (x[1] - x[2]);                                                         \
    o[3] = x[4] - x[2] + 2.0f * (x[3] - x[1]);                                                         \
    o[4] = x[4] - x[2] + 2.0f * (x[1] - x[3]);                                                         \
    o[5] = 4.0f * x[1] - 5.0f * x[3] + x[5];                                                           \
  } while (0)
#define WINO4_G(o, x) /* 3 -> 6 */                                                                     \
  do {                                                                                                 \
    o[0] = 0.25f * x[0];                                                                               \
    o[1] = (x[0] + x[1] + x[2]) * (-1.0f / 6.0f);                                                      \
    o[2] = (x[0] - x[1] + x[2]) * (-1.0f / 6.0f);                                                      \
    o[3] = x[0] * (1.0f / 24.0f) + x[1] * (1.0f / 12.0f) + x[2] * (1.0f / 6.0f);                       \
    o[4] = x[0] * (1.0f / 24.0f) - x[1] * (1.0f / 12.0f) + x[2] * (1.0f / 6.0f);                       \
    o[5] = x[2];                                                                                       \
  } while (0)
#define WINO4_AT(o, x) /* 6 -> 4 */                                                                    \
  do {                                                                                                 \
    o[0] = x[0] + (x[1] + x[2]) + (x[3] + x[4]);                                                       \
    o[1] = (x[1] - x[2]) + 2.0f * (x[3] - x[4]);                                                       \
    o[2] = (x[1] + x[2]) + 4.0f * (x[3] + x[4]);                                                       \
    o[3] = (x[1] - x[2]) + 8.0f * (x[3] - x[4]) + x[5];                                                \
  } while (0)
#define WINO4_A(o, x) /* 4 -> 6: A = (A^T)^T */                                                        \
  do {                                                                                                 \
    o[0] = x[0];                                                                                       \
    o[1] = (x[0] + x[2]) + (x[1] + x[3]);                                                              \
    o[2] = (x[0] + x[2]) - (x[1] + x[3]);                                                              \
    o[3] = (x[0] + 4.0f * x[2]) + 2.0f * (x[1] + 4.0f * x[3]);                                         \
    o[4] = (x[0] + 4.0f * x[2]) - 2.0f * (x[1] + 4.0f * x[3]);                                         \
    o[5] = x[3];                                                                                       \
  } while (0)
#define WINO4_GT(o, x) /* 6 -> 3: G^T */                                                               \
  do {                                                                                                 \
    o[0] = 0.25f * x[0] - (x[1] + x[2]) * (1.0f / 6.0f) + (x[3] + x[4]) * (1.0f / 24.0f);             \
    o[1] = (x[2] - x[1]) * (1.0f / 6.0f) + (x[3] - x[4]) * (1.0f / 12.0f);                             \
    o[2] = (x[3] + x[4] - x[1] - x[2]) * (1.0f / 6.0f) + x[5];                                         \
  } while (0)

/* U (36, KT, C, T) from g; as wino_filter_v (same work-items and reads). */
#define DEFINE_WINO4_FILTER(VW)                                                                        \
  __kernel void CAT(wino4_filter_v, VW)(__global const float *w, __global float *S, const int u_off,   \
                                        const int C, const int K, const int T, const int KT,           \
                                        const int c_stride, const int k_stride, const int tap_stride,  \
                                        const int flip) {                                             \
    const int k = get_global_id(0) * VW, c = get_global_id(1);                                         \
    if (k >= KT * T || c >= C) return;                                                                 \
    VT_##VW g[3][3];                                                                                   \
    WINO_LOAD_TAPS(VW, g);                                                                             \
    VT_##VW t[6][3]; /* t = G g, column by column */                                                   \
    for (int j = 0; j < 3; ++j) {                                                                      \
      VT_##VW x[3] = {g[0][j], g[1][j], g[2][j]}, o[6];                                                \
      WINO4_G(o, x);                                                                                   \
      for (int a = 0; a < 6; ++a) t[a][j] = o[a];                                                      \
    }                                                                                                  \
    const int kt = k / T, l = k - kt * T;                                                              \
    __global float *dst = S + u_off + (kt * C + c) * T + l;                                            \
    const int fs = KT * C * T;                                                                         \
    for (int a = 0; a < 6; ++a) { /* U = t G^T, row by row */                                          \
      VT_##VW o[6];                                                                                    \
      WINO4_G(o, t[a]);                                                                                \
      for (int b = 0; b < 6; ++b) VST_##VW(o[b], dst + (6 * a + b) * fs);                              \
    }                                                                                                  \
  }

/* V (36, P, C) from the 6x6 input patches; as wino_input_v. */
#define DEFINE_WINO4_INPUT(VW)                                                                         \
  __kernel void CAT(wino4_input_v, VW)(__global const float *in, __global float *S, const int v_off,   \
                                       const int n0, const int nc, const int IH, const int IW,         \
                                       const int C, const int TH, const int TW, const int pad_top,     \
                                       const int pad_left) {                                          \
    const int c = get_global_id(0) * VW, p = get_global_id(1);                                         \
    const int P = nc * TH * TW;                                                                        \
    if (c >= C || p >= P) return;                                                                      \
    WINO_TILE_OF(p);                                                                                   \
    const int h0 = 4 * th - pad_top, w0 = 4 * tw - pad_left;                                           \
    VT_##VW t[6][6]; /* t = B^T d, column by column */                                                 \
    for (int j = 0; j < 6; ++j) {                                                                      \
      const int x = w0 + j;                                                                            \
      VT_##VW d[6], o[6];                                                                              \
      for (int i = 0; i < 6; ++i) {                                                                    \
        const int h = h0 + i;                                                                          \
        d[i] = (uint)h < (uint)IH && (uint)x < (uint)IW ? VLD_##VW(in + ((n * IH + h) * IW + x) * C + c) \
                                                        : (VT_##VW)(0.0f);                            \
      }                                                                                                \
      WINO4_BT(o, d);                                                                                  \
      for (int a = 0; a < 6; ++a) t[a][j] = o[a];                                                      \
    }                                                                                                  \
    __global float *dst = S + v_off + p * C + c;                                                       \
    const int fs = P * C;                                                                              \
    for (int a = 0; a < 6; ++a) { /* V = t B, row by row */                                            \
      VT_##VW o[6];                                                                                    \
      WINO4_BT(o, t[a]);                                                                               \
      for (int b = 0; b < 6; ++b) VST_##VW(o[b], dst + (6 * a + b) * fs);                              \
    }                                                                                                  \
  }

/* out tiles (4x4) from M (36, P, KP), + b; as wino_output_v. */
#define DEFINE_WINO4_OUTPUT(VW)                                                                        \
  __kernel void CAT(wino4_output_v, VW)(__global const float *S, const int m_off, __global const float *b, \
                                        __global float *out, const int n0, const int nc, const int OH, \
                                        const int OW, const int K, const int KP, const int TH,         \
                                        const int TW, const int has_bias) {                            \
    const int k = get_global_id(0) * VW, p = get_global_id(1);                                         \
    const int P = nc * TH * TW;                                                                        \
    if (k >= K || p >= P) return;                                                                      \
    WINO_TILE_OF(p);                                                                                   \
    __global const float *src = S + m_off + p * KP + k;                                                \
    const int fs = P * KP;                                                                             \
    VT_##VW t[4][6]; /* t = A^T m, column by column */                                                 \
    for (int j = 0; j < 6; ++j) {                                                                      \
      VT_##VW m[6], o[4];                                                                              \
      for (int a = 0; a < 6; ++a) m[a] = VLD_##VW(src + (6 * a + j) * fs);                             \
      WINO4_AT(o, m);                                                                                  \
      for (int i = 0; i < 4; ++i) t[i][j] = o[i];                                                      \
    }                                                                                                  \
    const VT_##VW bias = has_bias ? VLD_##VW(b + k) : (VT_##VW)(0.0f);                                 \
    for (int i = 0; i < 4; ++i) { /* y = t A, row by row */                                            \
      const int oh = 4 * th + i;                                                                       \
      if (oh >= OH) break;                                                                             \
      VT_##VW o[4];                                                                                    \
      WINO4_AT(o, t[i]);                                                                               \
      __global float *dst = out + ((n * OH + oh) * OW + 4 * tw) * K + k;                               \
      for (int j = 0; j < 4 && 4 * tw + j < OW; ++j) VST_##VW(bias + o[j], dst + j * K);               \
    }                                                                                                  \
  }

DEFINE_WINO4_FILTER(1)
DEFINE_WINO4_FILTER(8)
DEFINE_WINO4_INPUT(1)
DEFINE_WINO4_INPUT(8)
DEFINE_WINO4_INPUT(16)
DEFINE_WINO4_OUTPUT(1)
DEFINE_WINO4_OUTPUT(8)
DEFINE_WINO4_OUTPUT(16)

/* W (36, P, KP) = A dY A^T of the 4x4 dy tiles; as wino_dy_v. */
#define DEFINE_WINO4_DY(VW)                                                                            \
  __kernel void CAT(wino4_dy_v, VW)(__global const float *dy, __global float *S, const int w_off,      \
                                    const int n0, const int nc, const int OH, const int OW, const int K, \
                                    const int KP, const int TH, const int TW) {                        \
    const int k = get_global_id(0) * VW, p = get_global_id(1);                                         \
    const int P = nc * TH * TW;                                                                        \
    if (k >= KP || p >= P) return;                                                                     \
    WINO_TILE_OF(p);                                                                                   \
    VT_##VW t[6][4]; /* t = A e, column by column */                                                   \
    for (int j = 0; j < 4; ++j) {                                                                      \
      const int ow = 4 * tw + j;                                                                       \
      VT_##VW e[4], o[6];                                                                              \
      for (int i = 0; i < 4; ++i) {                                                                    \
        const int oh = 4 * th + i;                                                                     \
        e[i] = k < K && oh < OH && ow < OW ? VLD_##VW(dy + ((n * OH + oh) * OW + ow) * K + k)           \
                                           : (VT_##VW)(0.0f);                                         \
      }                                                                                                \
      WINO4_A(o, e);                                                                                   \
      for (int a = 0; a < 6; ++a) t[a][j] = o[a];                                                      \
    }                                                                                                  \
    __global float *dst = S + w_off + p * KP + k;                                                      \
    const int fs = P * KP;                                                                             \
    for (int a = 0; a < 6; ++a) { /* W = t A^T, row by row */                                          \
      VT_##VW o[6];                                                                                    \
      WINO4_A(o, t[a]);                                                                                \
      for (int b = 0; b < 6; ++b) VST_##VW(o[b], dst + (6 * a + b) * fs);                              \
    }                                                                                                  \
  }

DEFINE_WINO4_DY(1)
DEFINE_WINO4_DY(8)
DEFINE_WINO4_DY(16)

/* dw (3, 3, C, K) = G^T Z G from Z (36, C, KP). Work-item (dim0, dim1) = (k < K, c < C). */
__kernel void wino4_wgrad_out(__global const float *S, const int z_off, __global float *dw, const int C, const int K,
                              const int KP) {
  const int k = get_global_id(0), c = get_global_id(1);
  if (k >= K || c >= C) return;
  __global const float *src = S + z_off + c * KP + k;
  const int fs = C * KP;
  float t[3][6]; /* t = G^T z, column by column */
  for (int b = 0; b < 6; ++b) {
    float z[6], o[3];
    for (int a = 0; a < 6; ++a) z[a] = src[(6 * a + b) * fs];
    WINO4_GT(o, z);
    for (int i = 0; i < 3; ++i) t[i][b] = o[i];
  }
  for (int i = 0; i < 3; ++i) { /* dw = t G, row by row */
    float o[3];
    WINO4_GT(o, t[i]);
    __global float *dst = dw + (i * 3 * C + c) * K + k;
    for (int j = 0; j < 3; ++j) dst[j * C * K] = o[j];
  }
}
