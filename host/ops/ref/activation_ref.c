/* Reference: the activation family (clip, leaky ReLU, sigmoid, tanh, SiLU, hard-swish,
 * hard-sigmoid), elementwise multiply with an optional broadcast, dropout. The transcendental
 * ones are computed in double and rounded once. min/max follow OpenCL's fmin/fmax: a NaN input
 * gives the bound, as ReLU's fmax(x, 0) gives 0. */
#include <math.h>

#include "ops/ref/ref.h"

static real max_of(real x, real lo) { return x > lo ? x : lo; } /* fmax(x, lo) for a finite lo */
static real min_of(real x, real hi) { return x < hi ? x : hi; }

static real sigmoid(real x) { return (real)(1.0 / (1.0 + exp(-(double)x))); }

void REF(activation_forward)(const clnet_activation_desc *d, int64_t count, const real *x, real *y) {
  const real a = (real)d->alpha, b = (real)d->beta;
  for (int64_t i = 0; i < count; ++i) {
    const real v = x[i];
    switch (d->op) {
      case CLNET_ACT_CLIP: y[i] = min_of(max_of(v, a), b); break;
      case CLNET_ACT_LEAKY_RELU: y[i] = v > 0 ? v : a * v; break;
      case CLNET_ACT_SIGMOID: y[i] = sigmoid(v); break;
      case CLNET_ACT_TANH: y[i] = (real)tanh((double)v); break;
      case CLNET_ACT_SILU: y[i] = (real)((double)v / (1.0 + exp(-(double)v))); break;
      case CLNET_ACT_HARD_SWISH: y[i] = v * min_of(max_of(a * v + b, 0), 1); break;
      case CLNET_ACT_HARD_SIGMOID: y[i] = min_of(max_of(a * v + b, 0), 1); break;
    }
  }
}

void REF(activation_backward)(const clnet_activation_desc *d, int64_t count, const real *v, const real *dy,
                              real *dx) {
  const real a = (real)d->alpha, b = (real)d->beta;
  for (int64_t i = 0; i < count; ++i) {
    const real u = v[i], g = dy[i];
    switch (d->op) {
      case CLNET_ACT_CLIP: dx[i] = u > a && u < b ? g : 0; break; /* u = y */
      case CLNET_ACT_LEAKY_RELU: dx[i] = u > 0 ? g : a * g; break;
      case CLNET_ACT_SIGMOID: dx[i] = g * (u * (1 - u)); break;
      case CLNET_ACT_TANH: dx[i] = g * (1 - u * u); break;
      case CLNET_ACT_SILU: { /* u = x: s + x s (1 - s) */
        const double s = 1.0 / (1.0 + exp(-(double)u));
        dx[i] = (real)((double)g * (s * (1.0 + (double)u * (1.0 - s))));
        break;
      }
      case CLNET_ACT_HARD_SWISH: { /* u = x: d/dx x t(x) = t + alpha x inside (0, 1) */
        const real t = a * u + b;
        dx[i] = t <= 0 ? 0 : t >= 1 ? g : g * (t + a * u);
        break;
      }
      case CLNET_ACT_HARD_SIGMOID: dx[i] = u > 0 && u < 1 ? a * g : 0; break; /* u = y */
    }
  }
}

void REF(mul_forward)(int32_t n, int32_t hw, int32_t c, int32_t bcast, const real *a, const real *b, real *y) {
  for (int64_t img = 0; img < n; ++img)
    for (int64_t p = 0; p < hw; ++p)
      for (int64_t ch = 0; ch < c; ++ch) {
        const int64_t i = (img * hw + p) * c + ch;
        y[i] = a[i] * b[bcast ? img * c + ch : i];
      }
}

void REF(mul_backward)(int32_t n, int32_t hw, int32_t c, int32_t bcast, const real *a, const real *b, const real *dy,
                       real *da, real *db) {
  if (da) REF(mul_forward)(n, hw, c, bcast, dy, b, da);
  if (!db) return;
  if (!bcast) {
    REF(mul_forward)(n, hw, c, 0, dy, a, db);
    return;
  }
  for (int64_t img = 0; img < n; ++img)
    for (int64_t ch = 0; ch < c; ++ch) {
      double s = 0;
      for (int64_t p = 0; p < hw; ++p) s += (double)dy[(img * hw + p) * c + ch] * a[(img * hw + p) * c + ch];
      db[img * c + ch] = (real)s;
    }
}

void REF(dropout_apply)(const clnet_dropout_consts *k, int64_t count, const real *x, real *y) {
  const real scale = (real)k->scale;
  for (int64_t i = 0; i < count; ++i)
    y[i] = clnet_dropout_hash((uint32_t)i, k->key0, k->key1) >= k->threshold ? x[i] * scale : 0;
}
