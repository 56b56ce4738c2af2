/* Pooling over NHWC activations.
 *
 *   maxpool_forward_vV:  y (N, OH, OW, C) = max over the k x k window, argmax
 *       (N, OH, OW, C) uchar = kh*k + kw, the first maximum's place in its
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
 *   global_avgpool_forward:  y (N, C) = mean of x (N, H, W, C) over H, W.
 *       Index space (C, N).
 *   global_avgpool_backward: dx (N, H, W, C) = dy (N, C) / (H*W).
 *       Index space (C, H*W, N).
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
 * picks its second operand for either. */
#define POOL_MAXPOOL_KERNELS(V, floatV, intV, LOAD, STORE, TO_INT, TO_UCHAR)                                                  \
  __kernel void maxpool_forward_v##V(const int H, const int W, const int C, const int OH, const int OW,      \
                                     const int k, const int stride, const int pad_top, const int pad_left,   \
                                     __global const float *x, /* (N, H, W, C) */                             \
                                     __global float *y,       /* (N, OH, OW, C) */                           \
                                     __global uchar *argmax)  /* (N, OH, OW, C) */                           \
  {                                                                                                          \
    const int CV = C / V;                                                                                    \
    const int t = get_global_id(0), oh = get_global_id(1), n = get_global_id(2);                             \
    if (t >= CV * OW) return;                                                                                \
    const int ow = div_small(t, CV), c = (t - ow * CV) * V;                                                  \
    const int h0 = oh * stride - pad_top, w0 = ow * stride - pad_left;                                       \
    const int hs = max(h0, 0), he = min(h0 + k, H), ws = max(w0, 0), we = min(w0 + k, W);                    \
    __global const float *xn = x + (size_t)n * H * W * C + c;                                                \
    /* the window always holds a valid cell: TF padding is < k on each side */                               \
    floatV best = LOAD(xn + (size_t)(hs * W + ws) * C);                                                      \
    intV best_i = (intV)((hs - h0) * k + (ws - w0)); /* place in the window */                               \
    for (int ih = hs; ih < he; ++ih)                                                                         \
      for (int iw = ws; iw < we; ++iw) {                                                                     \
        const floatV v = LOAD(xn + (size_t)(ih * W + iw) * C);                                               \
        const intV win = isgreater(v, best); /* strict: the first maximum keeps ties */                      \
        best = select(best, v, win);                                                                         \
        best_i = select(best_i, (intV)((ih - h0) * k + (iw - w0)), win);                                     \
      }                                                                                                      \
    const size_t o = (((size_t)n * OH + oh) * OW + ow) * C + c;                                              \
    STORE(best, y + o);                                                                                      \
    STORE(TO_UCHAR(best_i), argmax + o);                                                                     \
  }                                                                                                          \
                                                                                                             \
  __kernel void maxpool_backward_v##V(const int H, const int W, const int C, const int OH, const int OW,     \
                                      const int k, const int stride, const int pad_top, const int pad_left,  \
                                      __global const uchar *argmax, /* (N, OH, OW, C) */                     \
                                      __global const float *dy,   /* (N, OH, OW, C) */                       \
                                      __global float *dx)         /* (N, H, W, C) */                         \
  {                                                                                                          \
    const int CV = C / V;                                                                                    \
    const int t = get_global_id(0), ih = get_global_id(1), n = get_global_id(2);                             \
    if (t >= CV * W) return;                                                                                 \
    const int iw = div_small(t, CV), c = (t - iw * CV) * V;                                                  \
    /* the windows holding (ih, iw): oh*stride - pad_top <= ih <= oh*stride - pad_top + k - 1 */             \
    const int th = ih + pad_top - k + 1, tw = iw + pad_left - k + 1;                                         \
    const int oh0 = th <= 0 ? 0 : (th + stride - 1) / stride, oh1 = min((ih + pad_top) / stride, OH - 1);    \
    const int ow0 = tw <= 0 ? 0 : (tw + stride - 1) / stride, ow1 = min((iw + pad_left) / stride, OW - 1);   \
    const size_t base = (size_t)n * OH * OW;                                                                 \
    floatV s = (floatV)(0.0f);                                                                               \
    for (int oh = oh0; oh <= oh1; ++oh)                                                                      \
      for (int ow = ow0; ow <= ow1; ++ow) {                                                                  \
        const size_t o = (base + (size_t)oh * OW + ow) * C + c;                                              \
        const intV self = (intV)((ih - oh * stride + pad_top) * k + (iw - ow * stride + pad_left));           \
        s += select((floatV)(0.0f), LOAD(dy + o), TO_INT(LOAD(argmax + o)) == self); /* s + 0 == s exactly */ \
      }                                                                                                      \
    STORE(s, dx + (((size_t)n * H + ih) * W + iw) * C + c);                                                  \
  }

POOL_MAXPOOL_KERNELS(1, float, int, LOAD_1, STORE_1, TO_INT_1, TO_UCHAR_1)
POOL_MAXPOOL_KERNELS(16, float16, int16, LOAD_16, STORE_16, TO_INT_16, TO_UCHAR_16)

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
