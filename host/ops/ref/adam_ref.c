/* Reference: Adam update as Keras computes it; twin of adam_update in
 * cl/adam.cl. The step constants are derived exactly as clnet_adam_update
 * derives them for the kernel (in double, then rounded to `real`), and each
 * element's update is evaluated in double and stored as `real`. */
#include <math.h>

#include "ops/ref/ref.h"

void REF(adam_update)(const clnet_adam_desc *d, int64_t count, real *param, const real *grad, real *m,
                      real *v) {
  const double t = (double)d->t;
  const real alpha_t = (real)((double)d->lr * sqrt(1.0 - pow((double)d->beta2, t)) /
                              (1.0 - pow((double)d->beta1, t)));
  const real one_m_beta1 = (real)(1.0 - (double)d->beta1), one_m_beta2 = (real)(1.0 - (double)d->beta2);
  const double eps = d->eps;
  for (int64_t i = 0; i < count; ++i) {
    const double g = grad[i];
    m[i] = (real)((double)m[i] + (g - (double)m[i]) * (double)one_m_beta1);
    v[i] = (real)((double)v[i] + (g * g - (double)v[i]) * (double)one_m_beta2);
    param[i] = (real)((double)param[i] - ((double)m[i] * (double)alpha_t) / (sqrt((double)v[i]) + eps));
  }
}
