/* Reference: max and average pooling (kh x kw windows, strides, TF valid/same or explicit pads;
 * padded cells are skipped: never compared, never summed) and global average and max pooling.
 * NHWC. The window of output (oh, ow) starts at (oh*sh - pad_top, ow*sw - pad_left). */
#include "ops/ref/ref.h"

/* x (N, H, W, C) -> y (N, OH, OW, C) window max, argmax (N, OH, OW, C) = i*kw + j,
 * the first maximum's place in its window in row-major order (strict > keeps the first). */
void REF(maxpool_forward)(const clnet_pool_desc *d, const real *x, real *y, uint8_t *argmax) {
  const int64_t H = d->in_h, W = d->in_w, C = d->c, OH = d->out_h, OW = d->out_w;
  for (int64_t n = 0; n < d->n; ++n)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow)
        for (int64_t c = 0; c < C; ++c) {
          int found = 0;
          real best = 0;
          int64_t best_idx = 0;
          for (int64_t kh = 0; kh < d->k_h; ++kh)
            for (int64_t kw = 0; kw < d->k_w; ++kw) {
              const int64_t ih = oh * d->stride_h - d->pad_top + kh, iw = ow * d->stride_w - d->pad_left + kw;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue; /* padding never wins */
              const real v = x[((n * H + ih) * W + iw) * C + c];
              if (!found || v > best) {
                best = v;
                best_idx = kh * d->k_w + kw;
                found = 1;
              }
            }
          const int64_t o = ((n * OH + oh) * OW + ow) * C + c;
          y[o] = best;
          argmax[o] = (uint8_t)best_idx;
        }
}

/* dx (N, H, W, C) = 0, then every output scatters dy into its argmax, outputs
 * taken in (n, oh, ow, c) order. A dx element receives at most
 * ceil(kh/sh) * ceil(kw/sw) terms, added in increasing (oh, ow) order. */
void REF(maxpool_backward)(const clnet_pool_desc *d, const uint8_t *argmax, const real *dy, real *dx) {
  const int64_t H = d->in_h, W = d->in_w, C = d->c, OH = d->out_h, OW = d->out_w;
  for (int64_t i = 0; i < d->n * H * W * C; ++i) dx[i] = 0;
  for (int64_t n = 0; n < d->n; ++n)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow)
        for (int64_t c = 0; c < C; ++c) {
          const int64_t o = ((n * OH + oh) * OW + ow) * C + c;
          const int64_t ih = oh * d->stride_h - d->pad_top + argmax[o] / d->k_w;
          const int64_t iw = ow * d->stride_w - d->pad_left + argmax[o] % d->k_w;
          dx[((n * H + ih) * W + iw) * C + c] += dy[o];
        }
}

/* The divisor of output (oh, ow)'s window: kh*kw with count_include_pad, else its cells inside
 * the input. */
static int64_t avg_divisor(const clnet_pool_desc *d, int64_t oh, int64_t ow) {
  if (d->count_include_pad) return (int64_t)d->k_h * d->k_w;
  const int64_t h0 = oh * d->stride_h - d->pad_top, w0 = ow * d->stride_w - d->pad_left;
  const int64_t hs = h0 < 0 ? 0 : h0, he = h0 + d->k_h < d->in_h ? h0 + d->k_h : d->in_h;
  const int64_t ws = w0 < 0 ? 0 : w0, we = w0 + d->k_w < d->in_w ? w0 + d->k_w : d->in_w;
  return (he - hs) * (we - ws);
}

/* The outputs [*o0, *o1] whose windows hold input i along one dimension:
 * o*s - pad <= i <= o*s - pad + k - 1. */
static void windows_holding(int64_t i, int64_t k, int64_t s, int64_t pad, int64_t out, int64_t *o0, int64_t *o1) {
  const int64_t lo = i + pad - k + 1, hi = (i + pad) / s;
  *o0 = lo <= 0 ? 0 : (lo + s - 1) / s;
  *o1 = hi < out - 1 ? hi : out - 1;
}

/* y (N, OH, OW, C) = the sum of the window's input cells (in double) / its divisor. */
void REF(avgpool_forward)(const clnet_pool_desc *d, const real *x, real *y) {
  const int64_t H = d->in_h, W = d->in_w, C = d->c, OH = d->out_h, OW = d->out_w;
  for (int64_t n = 0; n < d->n; ++n)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow)
        for (int64_t c = 0; c < C; ++c) {
          double sum = 0;
          for (int64_t kh = 0; kh < d->k_h; ++kh)
            for (int64_t kw = 0; kw < d->k_w; ++kw) {
              const int64_t ih = oh * d->stride_h - d->pad_top + kh, iw = ow * d->stride_w - d->pad_left + kw;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              sum += x[((n * H + ih) * W + iw) * C + c];
            }
          y[((n * OH + oh) * OW + ow) * C + c] = (real)(sum / (double)avg_divisor(d, oh, ow));
        }
}

/* dx (N, H, W, C) = sum over the windows holding the input of dy / divisor (in double). */
void REF(avgpool_backward)(const clnet_pool_desc *d, const real *dy, real *dx) {
  const int64_t H = d->in_h, W = d->in_w, C = d->c, OH = d->out_h, OW = d->out_w;
  for (int64_t n = 0; n < d->n; ++n)
    for (int64_t ih = 0; ih < H; ++ih)
      for (int64_t iw = 0; iw < W; ++iw)
        for (int64_t c = 0; c < C; ++c) {
          double sum = 0;
          int64_t oh0, oh1, ow0, ow1;
          windows_holding(ih, d->k_h, d->stride_h, d->pad_top, OH, &oh0, &oh1);
          windows_holding(iw, d->k_w, d->stride_w, d->pad_left, OW, &ow0, &ow1);
          for (int64_t oh = oh0; oh <= oh1; ++oh)
            for (int64_t ow = ow0; ow <= ow1; ++ow)
              sum += (double)dy[((n * OH + oh) * OW + ow) * C + c] / (double)avg_divisor(d, oh, ow);
          dx[((n * H + ih) * W + iw) * C + c] = (real)sum;
        }
}

/* x (N, H, W, C) -> y (N, C) = mean over H, W (sum in double). */
void REF(global_avgpool_forward)(int32_t n, int32_t h, int32_t w, int32_t c, const real *x, real *y) {
  const int64_t hw = (int64_t)h * w;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < c; ++j) {
      double sum = 0;
      for (int64_t p = 0; p < hw; ++p) sum += x[(i * hw + p) * c + j];
      y[i * c + j] = (real)(sum / (double)hw);
    }
}

/* dy (N, C) -> dx (N, H, W, C) = dy / (H*W). */
void REF(global_avgpool_backward)(int32_t n, int32_t h, int32_t w, int32_t c, const real *dy, real *dx) {
  const int64_t hw = (int64_t)h * w;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t p = 0; p < hw; ++p)
      for (int64_t j = 0; j < c; ++j) dx[(i * hw + p) * c + j] = (real)((double)dy[i * c + j] / (double)hw);
}

/* x (N, H, W, C) -> y (N, C) = max over H, W; argmax (N, C) = h*W + w of the first maximum. */
void REF(global_maxpool_forward)(int32_t n, int32_t h, int32_t w, int32_t c, const real *x, real *y,
                                 int32_t *argmax) {
  const int64_t hw = (int64_t)h * w;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < c; ++j) {
      real best = x[i * hw * c + j];
      int32_t at = 0;
      for (int64_t p = 1; p < hw; ++p)
        if (x[(i * hw + p) * c + j] > best) {
          best = x[(i * hw + p) * c + j];
          at = (int32_t)p;
        }
      y[i * c + j] = best;
      argmax[i * c + j] = at;
    }
}

/* dx (N, H, W, C) = dy (N, C) at the argmax, 0 elsewhere. */
void REF(global_maxpool_backward)(int32_t n, int32_t h, int32_t w, int32_t c, const int32_t *argmax, const real *dy,
                                  real *dx) {
  const int64_t hw = (int64_t)h * w;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t p = 0; p < hw; ++p)
      for (int64_t j = 0; j < c; ++j) dx[(i * hw + p) * c + j] = argmax[i * c + j] == p ? dy[i * c + j] : 0;
}
