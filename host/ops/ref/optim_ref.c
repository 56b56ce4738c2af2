/* Reference: AdamW and SGD with momentum over an arena; twins of cl/optim.cl. The step constants
 * arrive as the kernel gets them (computed by host/ops/optim.c in double, rounded to float); each
 * element is evaluated in double with the kernel's order of operations and stored as `real`. */
#include <math.h>

#include "ops/ref/ref.h"

void REF(adamw_update)(const clnet_optim_consts *k, int64_t count, int64_t decay_count, real *param, const real *grad,
                       real *m, real *v) {
  for (int64_t i = 0; i < count; ++i) {
    const double g = grad[i];
    double p = param[i];
    if (i < decay_count) p -= (double)k->lr_wd * p;
    const double mi = (double)m[i] + (g - (double)m[i]) * (double)k->one_m_beta1;
    const double vi = (double)v[i] * (double)k->beta2 + (double)k->one_m_beta2 * (g * g);
    m[i] = (real)mi;
    v[i] = (real)vi;
    param[i] = (real)(p - (double)k->step_size * (double)m[i] / (sqrt((double)v[i]) * (double)k->inv_sqrt_bc2 + (double)k->eps));
  }
}

void REF(sgd_update)(const clnet_optim_consts *k, int64_t count, int64_t decay_count, real *param, const real *grad,
                     real *buf) {
  for (int64_t i = 0; i < count; ++i) {
    const double p = param[i];
    const int decayed = i < decay_count;
    const double g = decayed ? (double)grad[i] + (double)k->l2 * p : (double)grad[i];
    const double b = (double)k->momentum * (double)buf[i] + g;
    buf[i] = (real)b;
    const double s = k->nesterov ? g + (double)k->momentum * (double)buf[i] : (double)buf[i];
    param[i] = (real)(decayed ? p - (double)k->lr * s - (double)k->lr_wd * p : p - (double)k->lr * s);
  }
}

void REF(ema_update)(int64_t count, float decay, const real *x, real *avg) {
  const float one_m_decay = (float)(1.0 - (double)decay); /* as the launch computes it */
  for (int64_t i = 0; i < count; ++i)
    avg[i] = (real)((double)(real)((double)decay * (double)avg[i]) + (double)(real)((double)one_m_decay * (double)x[i]));
}

void REF(swap_buffers)(int64_t count, real *a, real *b) {
  for (int64_t i = 0; i < count; ++i) {
    const real t = a[i];
    a[i] = b[i];
    b[i] = t;
  }
}
