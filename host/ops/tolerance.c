/* Float-vs-reference tolerances, see tolerance.h. */
#include "ops/tolerance.h"

#include <math.h>

double clnet_dot_atol(int32_t k, double amax, double bmax) {
  return sqrt((double)(k > 0 ? k : 1)) * (double)(k > 0 ? k : 1) * amax * bmax * ldexp(1.0, -24) + 1e-7;
}

double clnet_conv2d_atol(const clnet_conv2d_desc *d, clnet_conv_pass pass, int bias_grad) {
  switch (pass) {
    case CLNET_CONV_PASS_FORWARD: return clnet_dot_atol(d->k_h * d->k_w * d->in_c + 1, 1, 1);
    case CLNET_CONV_PASS_BACKWARD_DATA: return clnet_dot_atol(d->k_h * d->k_w * d->out_c, 1, 1);
    default: return clnet_dot_atol(d->n * d->out_h * d->out_w, 1, bias_grad ? 2 : 1);
  }
}

double clnet_conv2d_algo_atol(const clnet_conv2d_desc *d, clnet_conv_pass pass, int bias_grad, clnet_conv_algo algo) {
  if (algo != CLNET_CONV_ALGO_WINOGRAD || bias_grad) return clnet_conv2d_atol(d, pass, bias_grad);
  const double u = ldexp(1.0, -24);
  if (pass == CLNET_CONV_PASS_BACKWARD_FILTER) {
    /* k = 9P products over P = N*ceil(OH/2)*ceil(OW/2) tiles, absolute sum <= 4 * 4 * 4 * P */
    const double p = (double)d->n * ((d->out_h + 1) / 2) * ((d->out_w + 1) / 2), k = 9.0 * p;
    return (sqrt(k) + 12.0) * 64.0 * p * u + 1e-7;
  }
  const int32_t r = pass == CLNET_CONV_PASS_FORWARD ? d->in_c : d->out_c;
  const int32_t k = 9 * r + 1;
  return clnet_dot_atol(k, 4.0, 2.25) + 12.0 * k * 9.0 * u;
}
