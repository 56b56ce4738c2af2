/* Reference conv2d: the direct convolution, straight from the definition (no im2col).
 * x (N, H, W, C_in), w (KH, KW, C_in, C_out), b (C_out), y / dy (N, OH, OW, C_out), TF padding:
 *   y[n, oh, ow, co] = b[co] + sum_{kh, kw, ci} x[n, oh*s - pad_top + kh, ow*s - pad_left + kw, ci]
 *                                              * w[kh, kw, ci, co]      (taps outside x count as 0).
 * Every sum accumulates in double. */
#include "ops/ref/ref.h"

/* Flat NHWC / HWIO indices. */
#define X_AT(d, n, h, w, c) ((((int64_t)(n) * (d)->in_h + (h)) * (d)->in_w + (w)) * (d)->in_c + (c))
#define Y_AT(d, n, h, w, c) ((((int64_t)(n) * (d)->out_h + (h)) * (d)->out_w + (w)) * (d)->out_c + (c))
#define W_AT(d, kh, kw, ci, co) ((((int64_t)(kh) * (d)->k_w + (kw)) * (d)->in_c + (ci)) * (d)->out_c + (co))

void REF(conv2d_forward)(const clnet_conv2d_desc *d, const real *x, const real *w, const real *b, real *y) {
  for (int32_t n = 0; n < d->n; ++n)
    for (int32_t oh = 0; oh < d->out_h; ++oh)
      for (int32_t ow = 0; ow < d->out_w; ++ow)
        for (int32_t co = 0; co < d->out_c; ++co) {
          double s = d->has_bias ? (double)b[co] : 0.0;
          for (int32_t kh = 0; kh < d->k_h; ++kh) {
            const int32_t ih = oh * d->stride - d->pad_top + kh;
            if (ih < 0 || ih >= d->in_h) continue;
            for (int32_t kw = 0; kw < d->k_w; ++kw) {
              const int32_t iw = ow * d->stride - d->pad_left + kw;
              if (iw < 0 || iw >= d->in_w) continue;
              for (int32_t ci = 0; ci < d->in_c; ++ci)
                s += (double)x[X_AT(d, n, ih, iw, ci)] * (double)w[W_AT(d, kh, kw, ci, co)];
            }
          }
          y[Y_AT(d, n, oh, ow, co)] = (real)s;
        }
}

/* dx[n, ih, iw, ci] = sum over the outputs (oh, ow) and taps (kh, kw) with
 * oh*s - pad_top + kh = ih and ow*s - pad_left + kw = iw of dy[n, oh, ow, co] * w[kh, kw, ci, co]. */
void REF(conv2d_backward_data)(const clnet_conv2d_desc *d, const real *dy, const real *w, real *dx) {
  for (int32_t n = 0; n < d->n; ++n)
    for (int32_t ih = 0; ih < d->in_h; ++ih)
      for (int32_t iw = 0; iw < d->in_w; ++iw)
        for (int32_t ci = 0; ci < d->in_c; ++ci) {
          double s = 0.0;
          for (int32_t kh = 0; kh < d->k_h; ++kh) {
            const int32_t th = ih + d->pad_top - kh; /* = oh * stride */
            if (th < 0 || th % d->stride != 0 || th / d->stride >= d->out_h) continue;
            const int32_t oh = th / d->stride;
            for (int32_t kw = 0; kw < d->k_w; ++kw) {
              const int32_t tw = iw + d->pad_left - kw; /* = ow * stride */
              if (tw < 0 || tw % d->stride != 0 || tw / d->stride >= d->out_w) continue;
              const int32_t ow = tw / d->stride;
              for (int32_t co = 0; co < d->out_c; ++co)
                s += (double)dy[Y_AT(d, n, oh, ow, co)] * (double)w[W_AT(d, kh, kw, ci, co)];
            }
          }
          dx[X_AT(d, n, ih, iw, ci)] = (real)s;
        }
}

/* dw[kh, kw, ci, co] = sum_{n, oh, ow} x[n, oh*s - pad_top + kh, ow*s - pad_left + kw, ci] * dy[n, oh, ow, co];
 * db[co] = sum_{n, oh, ow} dy[n, oh, ow, co] (when has_bias). */
void REF(conv2d_backward_filter)(const clnet_conv2d_desc *d, const real *x, const real *dy, real *dw, real *db) {
  for (int32_t kh = 0; kh < d->k_h; ++kh)
    for (int32_t kw = 0; kw < d->k_w; ++kw)
      for (int32_t ci = 0; ci < d->in_c; ++ci)
        for (int32_t co = 0; co < d->out_c; ++co) {
          double s = 0.0;
          for (int32_t n = 0; n < d->n; ++n)
            for (int32_t oh = 0; oh < d->out_h; ++oh) {
              const int32_t ih = oh * d->stride - d->pad_top + kh;
              if (ih < 0 || ih >= d->in_h) continue;
              for (int32_t ow = 0; ow < d->out_w; ++ow) {
                const int32_t iw = ow * d->stride - d->pad_left + kw;
                if (iw < 0 || iw >= d->in_w) continue;
                s += (double)x[X_AT(d, n, ih, iw, ci)] * (double)dy[Y_AT(d, n, oh, ow, co)];
              }
            }
          dw[W_AT(d, kh, kw, ci, co)] = (real)s;
        }
  if (!d->has_bias) return;
  for (int32_t co = 0; co < d->out_c; ++co) {
    double s = 0.0;
    for (int32_t n = 0; n < d->n; ++n)
      for (int32_t oh = 0; oh < d->out_h; ++oh)
        for (int32_t ow = 0; ow < d->out_w; ++ow) s += (double)dy[Y_AT(d, n, oh, ow, co)];
    db[co] = (real)s;
  }
}
