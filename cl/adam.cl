/* Adam parameter update, exactly as Keras computes it (SPEC):
 *   m += (g - m) * (1 - beta1)
 *   v += (g*g - v) * (1 - beta2)
 *   p -= (m * alpha_t) / (sqrt(v) + eps)
 * alpha_t = lr*sqrt(1 - beta2^t)/(1 - beta1^t), 1 - beta1 and 1 - beta2 are
 * computed once on the host (in double, rounded to float) and passed in.
 * Index space: 1-D, one work-item per element (count, rounded up to the
 * work-group size; bounds-checked). Purely elementwise, so deterministic. */

__kernel void adam_update(const int count,
                          const float alpha_t,        /* lr*sqrt(1-beta2^t)/(1-beta1^t) */
                          const float one_m_beta1,    /* 1 - beta1 */
                          const float one_m_beta2,    /* 1 - beta2 */
                          const float eps,
                          __global float *param,      /* (count), updated in place */
                          __global const float *grad, /* (count) */
                          __global float *m,          /* (count), first moment, in place */
                          __global float *v) {        /* (count), second moment, in place */
  const size_t i = get_global_id(0); /* size_t: the rounded-up range may pass INT_MAX */
  if (i >= (size_t)count) return;
  const float g = grad[i];
  float mi = m[i], vi = v[i];
  mi += (g - mi) * one_m_beta1;
  vi += (g * g - vi) * one_m_beta2;
  m[i] = mi;
  v[i] = vi;
  param[i] -= (mi * alpha_t) / (sqrt(vi) + eps);
}
