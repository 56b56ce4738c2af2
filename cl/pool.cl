/* Pooling over NHWC activations.
 *
 *   maxpool_forward_vV:  y (N, OH, OW, C) = max over the kh x kw window, argmax
 *       (N, OH, OW, C) uchar = i*kw + j, the first maximum's place in its
 *       window in row-major order (strict >); one byte, so k <= 16. Padded
 *       cells are skipped: padding never wins.
 *   maxpool_backward_vV: dx (N, H, W, C) = sum of dy over the windows that
 *       contain the input and whose argmax is it: a gather, in increasing
 *       (oh, ow) order, so no atomics and bit-identical results run to run.
 *   Index space (CV * OW, OH, N) for forward and (CV * W, H, N) for backward,
 *   work-group (64, 1, 1): one work-item per V consecutive channels of one
 *   output (forward) or input (backward) position, CV = C / V. Dimension 0 is
 *   channel-fastest, so neighbouring work-items touch neighbouring floats.
 *   Each work-item works on a vector of V channels (V = 16, used when C % 16
 *   == 0, or V = 1): the window loops are short and data-dependent, which
 *   PoCL cannot vectorise across work-items, so the vector is explicit.
 *
 *   avgpool_forward_vV, avgpool_backward_vV: the same for the window mean
 *       (below).
 *   global_avgpool_forward:  y (N, C) = mean of x (N, H, W, C) over H, W.
 *       Index space (C, N).
 *   global_avgpool_backward: dx (N, H, W, C) = dy (N, C) / (H*W).
 *       Index space (C, H*W, N).
 *   global_maxpool_forward:  y (N, C) = max of x over H, W, argmax (N, C) int
 *       = its place h*W + w. Index space (C, N).
 *   global_maxpool_backward: dx = dy at the argmax, else 0. Index space
 *       (C, H*W, N).
 * Every kernel bounds-checks its index space. */

/* a / b for 0 <= a < 2^22, b >= 1 without an integer division (PoCL runs
 * one ~25-cycle idiv per work-item). The float quotient is within 1 of the
 * true one; one correction step each way makes it exact. */
inline int div_small(const int a, const int b) {
  int q = (int)((float)a / (float)b);
  q -= (q * b > a);
  q += ((q + 1) * b <= a);
  return q;
}

#define LOAD_1(p) (*(p))
#define STORE_1(v, p) (*(p) = (v))
#define LOAD_16(p) vload16(0, (p))
#define STORE_16(v, p) vstore16((v), 0, (p))
#define TO_INT_1(v) ((int)(v))
#define TO_INT_16(v) convert_int16(v)
#define TO_UCHAR_1(v) ((uchar)(v))
#define TO_UCHAR_16(v) convert_uchar16(v)

/* One forward and one backward kernel per vector width V (floatV / intV its
 * types). isgreater and == give 1 (scalar) or -1 (vector) for true; select
 * picks its second operand for either. Windows kh x kw, strides sh, sw; the
 * window of output (oh, ow) starts at (oh*sh - pad_top, ow*sw - pad_left). */
#define POOL_MAXPOOL_KERNELS(V, floatV, intV, LOAD, STORE, TO_INT, TO_UCHAR)                                                  \
  __kernel void maxpool_forward_v##V(const int H, const int W, const int C, const int OH, const int OW,      \
                                     const int kh, const int kw, const int sh, const int sw,                 \
                                     const int pad_top, const int pad_left,                                  \
                                     __global const float *x, /* (N, H, W, C) */                             \
                                     __global float *y,       /* (N, OH, OW, C) */                           \
                                     __global uchar *argmax)  /* (N, OH, OW, C) */                           \
  {                                                                                                          \
    const int CV = C / V;                                                                                    \
    const int t = get_global_id(0), oh = get_global_id(1), n = get_global_id(2);                             \
    if (t >= CV * OW) return;                                                                                \
    const int ow = div_small(t, CV), c = (t - ow * CV) * V;                                                  \
    const int h0 = oh * sh - pad_top, w0 = ow * sw - pad_left;                                               \
    const int hs = max(h0, 0), he = min(h0 + kh, H), ws = max(w0, 0), we = min(w0 + kw, W);                  \
    __global const float *xn = x + (size_t)n * H * W * C + c;                                                \
    /* the window always holds a valid cell: every pad is < the window (clnet_pool_desc_init) */             \
    floatV best = LOAD(xn + (size_t)(hs * W + ws) * C);                                                      \
    intV best_i = (intV)((hs - h0) * kw + (ws - w0)); /* place in the window */                              \
    for (int ih = hs; ih < he; ++ih)                                                                         \
      for (int iw = ws; iw < we; ++iw) {                                                                     \
        const floatV v = LOAD(xn + (size_t)(ih * W + iw) * C);                                               \
        const intV win = isgreater(v, best); /* strict: the first maximum keeps ties */                      \
        best = select(best, v, win);                                                                         \
        best_i = select(best_i, (intV)((ih - h0) * kw + (iw - w0)), win);                                    \
      }                                                                                                      \
    const size_t o = (((size_t)n * OH + oh) * OW + ow) * C + c;                                              \
    STORE(best, y + o);                                                                                      \
    STORE(TO_UCHAR(best_i), argmax + o);                                                                     \
  }                                                                                                          \
                                                                                                             \
  __kernel void maxpool_backward_v##V(const int H, const int W, const int C, const int OH, const int OW,     \
                                      const int kh, const int kw, const int sh, const int sw,                \
                                      const int pad_top, const int pad_left,                                 \
                                      __global const uchar *argmax, /* (N, OH, OW, C) */                     \
                                      __global const float *dy,   /* (N, OH, OW, C) */                       \
                                      __global float *dx)         /* (N, H, W, C) */                         \
  {                                                                                                          \
    const int CV = C / V;                                                                                    \
    const int t = get_global_id(0), ih = get_global_id(1), n = get_global_id(2);                             \
    if (t >= CV * W) return;                                                                                 \
    const int iw = div_small(t, CV), c = (t - iw * CV) * V;                                                  \
    /* the windows holding (ih, iw): oh*sh - pad_top <= ih <= oh*sh - pad_top + kh - 1 */                    \
    const int th = ih + pad_top - kh + 1, tw = iw + pad_left - kw + 1;                                       \
    const int oh0 = th <= 0 ? 0 : (th + sh - 1) / sh, oh1 = min((ih + pad_top) / sh, OH - 1);                \
    const int ow0 = tw <= 0 ? 0 : (tw + sw - 1) / sw, ow1 = min((iw + pad_left) / sw, OW - 1);               \
    const size_t base = (size_t)n * OH * OW;                                                                 \
    floatV s = (floatV)(0.0f);                                                                               \
    for (int oh = oh0; oh <= oh1; ++oh)                                                                      \
      for (int ow = ow0; ow <= ow1; ++ow) {                                                                  \
        const size_t o = (base + (size_t)oh * OW + ow) * C + c;                                              \
        const intV self = (intV)((ih - oh * sh + pad_top) * kw + (iw - ow * sw + pad_left));                 \
        s += select((floatV)(0.0f), LOAD(dy + o), TO_INT(LOAD(argmax + o)) == self); /* s + 0 == s exactly */ \
      }                                                                                                      \
    STORE(s, dx + (((size_t)n * H + ih) * W + iw) * C + c);                                                  \
  }

POOL_MAXPOOL_KERNELS(1, float, int, LOAD_1, STORE_1, TO_INT_1, TO_UCHAR_1)
POOL_MAXPOOL_KERNELS(16, float16, int16, LOAD_16, STORE_16, TO_INT_16, TO_UCHAR_16)

/* Average pooling, the same index spaces and vectors as max pooling. The
 * divisor of a window is kh*kw with include_pad, else its cells inside the
 * input (>= 1). Forward: the window's cells summed in row-major order, then
 * divided. Backward: a gather of dy / divisor over the windows holding the
 * input in increasing (oh, ow) order, so no atomics. */
#define POOL_AVGPOOL_KERNELS(V, floatV, LOAD, STORE)                                                         \
  __kernel void avgpool_forward_v##V(const int H, const int W, const int C, const int OH, const int OW,      \
                                     const int kh, const int kw, const int sh, const int sw,                 \
                                     const int pad_top, const int pad_left, const int include_pad,           \
                                     __global const float *x, /* (N, H, W, C) */                             \
                                     __global float *y)       /* (N, OH, OW, C) */                           \
  {                                                                                                          \
    const int CV = C / V;                                                                                    \
    const int t = get_global_id(0), oh = get_global_id(1), n = get_global_id(2);                             \
    if (t >= CV * OW) return;                                                                                \
    const int ow = div_small(t, CV), c = (t - ow * CV) * V;                                                  \
    const int h0 = oh * sh - pad_top, w0 = ow * sw - pad_left;                                               \
    const int hs = max(h0, 0), he = min(h0 + kh, H), ws = max(w0, 0), we = min(w0 + kw, W);                  \
    __global const float *xn = x + (size_t)n * H * W * C + c;                                                \
    floatV s = (floatV)(0.0f);                                                                               \
    for (int ih = hs; ih < he; ++ih)                                                                         \
      for (int iw = ws; iw < we; ++iw) s += LOAD(xn + (size_t)(ih * W + iw) * C);                            \
    const float div = (float)(include_pad ? kh * kw : (he - hs) * (we - ws));                                \
    STORE(s / div, y + (((size_t)n * OH + oh) * OW + ow) * C + c);                                           \
  }                                                                                                          \
                                                                                                             \
  __kernel void avgpool_backward_v##V(const int H, const int W, const int C, const int OH, const int OW,     \
                                      const int kh, const int kw, const int sh, const int sw,                \
                                      const int pad_top, const int pad_left, const int include_pad,          \
                                      __global const float *dy, /* (N, OH, OW, C) */                         \
                                      __global float *dx)       /* (N, H, W, C) */                           \
  {                                                                                                          \
    const int CV = C / V;                                                                                    \
    const int t = get_global_id(0), ih = get_global_id(1), n = get_global_id(2);                             \
    if (t >= CV * W) return;                                                                                 \
    const int iw = div_small(t, CV), c = (t - iw * CV) * V;                                                  \
    const int th = ih + pad_top - kh + 1, tw = iw + pad_left - kw + 1;                                       \
    const int oh0 = th <= 0 ? 0 : (th + sh - 1) / sh, oh1 = min((ih + pad_top) / sh, OH - 1);                \
    const int ow0 = tw <= 0 ? 0 : (tw + sw - 1) / sw, ow1 = min((iw + pad_left) / sw, OW - 1);               \
    const size_t base = (size_t)n * OH * OW;                                                                 \
    floatV s = (floatV)(0.0f);                                                                               \
    for (int oh = oh0; oh <= oh1; ++oh) {                                                                    \
      const int h0 = oh * sh - pad_top, rows = min(h0 + kh, H) - max(h0, 0);                                 \
      for (int ow = ow0; ow <= ow1; ++ow) {                                                                  \
        const int w0 = ow * sw - pad_left, cols = min(w0 + kw, W) - max(w0, 0);                             \
        const float div = (float)(include_pad ? kh * kw : rows * cols);                                      \
        s += LOAD(dy + (base + (size_t)oh * OW + ow) * C + c) / div;                                         \
      }                                                                                                      \
    }                                                                                                        \
    STORE(s, dx + (((size_t)n * H + ih) * W + iw) * C + c);                                                  \
  }

POOL_AVGPOOL_KERNELS(1, float, LOAD_1, STORE_1)
POOL_AVGPOOL_KERNELS(16, float16, LOAD_16, STORE_16)

/* Index space (C, N); the loop over H*W is uniform across the work-group, and
 * on a CPU device the barrier in it keeps work-items in step so PoCL vectorises
 * across them (none on a GPU, whose lanes run in step: cl/batchnorm.cl). */
#ifdef CLNET_CPU_DEVICE
#define CPU_LOCKSTEP() barrier(CLK_LOCAL_MEM_FENCE)
#else
#define CPU_LOCKSTEP()
#endif

__kernel void global_avgpool_forward(const int HW, const int C, const int N,
                                     __global const float *x, /* (N, H*W, C) */
                                     __global float *y)       /* (N, C) */
{
  const int c = get_global_id(0), n = get_global_id(1);
  const int cc = min(c, C - 1); /* no early return: every work-item reaches the barrier (CPU) */
  __global const float *xn = x + (size_t)n * HW * C + cc;
  float s = 0.0f;
  for (int p = 0; p < HW; ++p) {
    s += xn[(size_t)p * C];
    CPU_LOCKSTEP();
  }
  if (c < C) y[(size_t)n * C + c] = s / (float)HW;
}

__kernel void global_avgpool_backward(const int HW, const int C,
                                      __global const float *dy, /* (N, C) */
                                      __global float *dx)       /* (N, H*W, C) */
{
  const int c = get_global_id(0), p = get_global_id(1), n = get_global_id(2);
  if (c >= C) return;
  dx[((size_t)n * HW + p) * C + c] = dy[(size_t)n * C + c] / (float)HW;
}

/* Index space (C, N), the loop over H*W uniform as in global_avgpool_forward;
 * strict > keeps the first maximum in row-major order. */
__kernel void global_maxpool_forward(const int HW, const int C, const int N,
                                     __global const float *x, /* (N, H*W, C) */
                                     __global float *y,       /* (N, C) */
                                     __global int *argmax)    /* (N, C) */
{
  const int c = get_global_id(0), n = get_global_id(1);
  const int cc = min(c, C - 1); /* no early return: every work-item reaches the barrier (CPU) */
  __global const float *xn = x + (size_t)n * HW * C + cc;
  float best = xn[0];
  int best_p = 0;
  for (int p = 1; p < HW; ++p) {
    const float v = xn[(size_t)p * C];
    if (v > best) {
      best = v;
      best_p = p;
    }
    CPU_LOCKSTEP();
  }
  if (c < C) {
    y[(size_t)n * C + c] = best;
    argmax[(size_t)n * C + c] = best_p;
  }
}

__kernel void global_maxpool_backward(const int HW, const int C,
                                      __global const int *argmax, /* (N, C) */
                                      __global const float *dy,   /* (N, C) */
                                      __global float *dx)         /* (N, H*W, C) */
{
  const int c = get_global_id(0), p = get_global_id(1), n = get_global_id(2);
  if (c >= C) return;
  const size_t o = (size_t)n * C + c;
  dx[((size_t)n * HW + p) * C + c] = argmax[o] == p ? dy[o] : 0.0f;
}
