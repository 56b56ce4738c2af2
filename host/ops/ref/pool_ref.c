/* Reference: max pooling (k x k window, stride, TF valid/same padding where
 * padded cells are skipped, never compared) and global average pooling. NHWC. */
#include "ops/ref/ref.h"

/* x (N, H, W, C) -> y (N, OH, OW, C) window max, argmax (N, OH, OW, C) = kh*k + kw,
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
          for (int64_t kh = 0; kh < d->k; ++kh)
            for (int64_t kw = 0; kw < d->k; ++kw) {
              const int64_t ih = oh * d->stride - d->pad_top + kh, iw = ow * d->stride - d->pad_left + kw;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue; /* padding never wins */
              const real v = x[((n * H + ih) * W + iw) * C + c];
              if (!found || v > best) {
                best = v;
                best_idx = kh * d->k + kw;
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
 * ceil(k/stride)^2 terms, added in increasing (oh, ow) order. */
void REF(maxpool_backward)(const clnet_pool_desc *d, const uint8_t *argmax, const real *dy, real *dx) {
  const int64_t H = d->in_h, W = d->in_w, C = d->c, OH = d->out_h, OW = d->out_w;
  for (int64_t i = 0; i < d->n * H * W * C; ++i) dx[i] = 0;
  for (int64_t n = 0; n < d->n; ++n)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow)
        for (int64_t c = 0; c < C; ++c) {
          const int64_t o = ((n * OH + oh) * OW + ow) * C + c;
          const int64_t ih = oh * d->stride - d->pad_top + argmax[o] / d->k;
          const int64_t iw = ow * d->stride - d->pad_left + argmax[o] % d->k;
          dx[((n * H + ih) * W + iw) * C + c] += dy[o];
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
