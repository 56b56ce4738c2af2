/* Reference conv2d: the direct convolution, straight from the definition (no im2col).
 * x (N, H, W, C_in), w (KH, KW, C_in/G, C_out) for G groups, b (C_out), y / dy (N, OH, OW, C_out),
 * strides (sh, sw), dilations (dh, dw), leading pads pad_top / pad_left (clnet/ops.h):
 *   y[n, oh, ow, co] = b[co] + sum_{kh, kw, ci < C_in/G} x[n, oh*sh - pad_top + kh*dh,
 *                      ow*sw - pad_left + kw*dw, g*C_in/G + ci] * w[kh, kw, ci, co],  g = co / (C_out/G)
 *                      (taps outside x count as 0).
 * Every sum accumulates in double. */
#include "ops/ref/ref.h"

/* Flat NHWC / HWIO indices; W_AT's ci is the channel within the group. */
#define X_AT(d, n, h, w, c) ((((int64_t)(n) * (d)->in_h + (h)) * (d)->in_w + (w)) * (d)->in_c + (c))
#define Y_AT(d, n, h, w, c) ((((int64_t)(n) * (d)->out_h + (h)) * (d)->out_w + (w)) * (d)->out_c + (c))
#define W_AT(d, kh, kw, ci, co) ((((int64_t)(kh) * (d)->k_w + (kw)) * cg + (ci)) * (d)->out_c + (co))

/* The geometry every pass needs: strides, dilations, channels per group. */
#define CONV_GEOM(d)                                                                                       \
  const int32_t sh = clnet_conv2d_stride_h(d), sw = clnet_conv2d_stride_w(d);                             \
  const int32_t dh = clnet_conv2d_dilation_h(d), dw = clnet_conv2d_dilation_w(d);                         \
  const int32_t cg = (d)->in_c / clnet_conv2d_groups(d), og = (d)->out_c / clnet_conv2d_groups(d)

void REF(conv2d_forward)(const clnet_conv2d_desc *d, const real *x, const real *w, const real *b, real *y) {
  CONV_GEOM(d);
  for (int32_t n = 0; n < d->n; ++n)
    for (int32_t oh = 0; oh < d->out_h; ++oh)
      for (int32_t ow = 0; ow < d->out_w; ++ow)
        for (int32_t co = 0; co < d->out_c; ++co) {
          const int32_t c0 = co / og * cg; /* the group's first input channel */
          double s = d->has_bias ? (double)b[co] : 0.0;
          for (int32_t kh = 0; kh < d->k_h; ++kh) {
            const int32_t ih = oh * sh - d->pad_top + kh * dh;
            if (ih < 0 || ih >= d->in_h) continue;
            for (int32_t kw = 0; kw < d->k_w; ++kw) {
              const int32_t iw = ow * sw - d->pad_left + kw * dw;
              if (iw < 0 || iw >= d->in_w) continue;
              for (int32_t ci = 0; ci < cg; ++ci)
                s += (double)x[X_AT(d, n, ih, iw, c0 + ci)] * (double)w[W_AT(d, kh, kw, ci, co)];
            }
          }
          y[Y_AT(d, n, oh, ow, co)] = (real)s;
        }
}

/* dx[n, ih, iw, c] = sum over the outputs (oh, ow) and taps (kh, kw) with oh*sh - pad_top + kh*dh = ih
 * and ow*sw - pad_left + kw*dw = iw, and the output channels co of c's group, of
 * dy[n, oh, ow, co] * w[kh, kw, c - group start, co]. */
void REF(conv2d_backward_data)(const clnet_conv2d_desc *d, const real *dy, const real *w, real *dx) {
  CONV_GEOM(d);
  for (int32_t n = 0; n < d->n; ++n)
    for (int32_t ih = 0; ih < d->in_h; ++ih)
      for (int32_t iw = 0; iw < d->in_w; ++iw)
        for (int32_t c = 0; c < d->in_c; ++c) {
          const int32_t ci = c % cg, o0 = c / cg * og; /* channel in the group, the group's first output */
          double s = 0.0;
          for (int32_t kh = 0; kh < d->k_h; ++kh) {
            const int32_t th = ih + d->pad_top - kh * dh; /* = oh * sh */
            if (th < 0 || th % sh != 0 || th / sh >= d->out_h) continue;
            const int32_t oh = th / sh;
            for (int32_t kw = 0; kw < d->k_w; ++kw) {
              const int32_t tw = iw + d->pad_left - kw * dw; /* = ow * sw */
              if (tw < 0 || tw % sw != 0 || tw / sw >= d->out_w) continue;
              const int32_t ow = tw / sw;
              for (int32_t co = o0; co < o0 + og; ++co)
                s += (double)dy[Y_AT(d, n, oh, ow, co)] * (double)w[W_AT(d, kh, kw, ci, co)];
            }
          }
          dx[X_AT(d, n, ih, iw, c)] = (real)s;
        }
}

/* dw[kh, kw, ci, co] = sum_{n, oh, ow} x[n, oh*sh - pad_top + kh*dh, ow*sw - pad_left + kw*dw, g*C_in/G + ci]
 * * dy[n, oh, ow, co] with g = co's group; db[co] = sum_{n, oh, ow} dy[n, oh, ow, co] (when has_bias). */
void REF(conv2d_backward_filter)(const clnet_conv2d_desc *d, const real *x, const real *dy, real *dw_, real *db) {
  CONV_GEOM(d);
  for (int32_t kh = 0; kh < d->k_h; ++kh)
    for (int32_t kw = 0; kw < d->k_w; ++kw)
      for (int32_t ci = 0; ci < cg; ++ci)
        for (int32_t co = 0; co < d->out_c; ++co) {
          const int32_t c = co / og * cg + ci;
          double s = 0.0;
          for (int32_t n = 0; n < d->n; ++n)
            for (int32_t oh = 0; oh < d->out_h; ++oh) {
              const int32_t ih = oh * sh - d->pad_top + kh * dh;
              if (ih < 0 || ih >= d->in_h) continue;
              for (int32_t ow = 0; ow < d->out_w; ++ow) {
                const int32_t iw = ow * sw - d->pad_left + kw * dw;
                if (iw < 0 || iw >= d->in_w) continue;
                s += (double)x[X_AT(d, n, ih, iw, c)] * (double)dy[Y_AT(d, n, oh, ow, co)];
              }
            }
          dw_[W_AT(d, kh, kw, ci, co)] = (real)s;
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
