/* Reference: batch normalisation over (rows, C) = (N*H*W, C), Keras semantics
 * (SPEC): batch mean and BIASED batch variance per channel, two passes in
 * double (mean first, then the sum of squared deviations). */
#include <math.h>

#include "ops/ref/ref.h"

/* x (rows, C), gamma/beta (C) -> y (rows, C); save_mean, save_invstd (C);
 * moving_mean, moving_var (C) updated in place. */
void REF(batchnorm_forward_train)(const clnet_batchnorm_desc *d, const real *x, const real *gamma,
                                  const real *beta, real *y, real *save_mean, real *save_invstd,
                                  real *moving_mean, real *moving_var) {
  const int64_t rows = d->rows, C = d->c;
  const double momentum = d->momentum;
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0;
    for (int64_t r = 0; r < rows; ++r) sum += x[r * C + c];
    const double mean = sum / (double)rows;
    double ssd = 0; /* sum of squared deviations */
    for (int64_t r = 0; r < rows; ++r) {
      const double dev = x[r * C + c] - mean;
      ssd += dev * dev;
    }
    const double var = ssd / (double)rows; /* biased */
    const double invstd = 1.0 / sqrt(var + (double)d->eps);
    for (int64_t r = 0; r < rows; ++r)
      y[r * C + c] = (real)((double)gamma[c] * (x[r * C + c] - mean) * invstd + (double)beta[c]);
    save_mean[c] = (real)mean;
    save_invstd[c] = (real)invstd;
    moving_mean[c] = (real)((double)moving_mean[c] * momentum + mean * (1.0 - momentum));
    moving_var[c] = (real)((double)moving_var[c] * momentum + var * (1.0 - momentum));
  }
}

/* y (rows, C) = gamma * (x - moving_mean) / sqrt(moving_var + eps) + beta. */
void REF(batchnorm_forward_infer)(const clnet_batchnorm_desc *d, const real *x, const real *gamma,
                                  const real *beta, const real *moving_mean, const real *moving_var, real *y) {
  const int64_t rows = d->rows, C = d->c;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < C; ++c) {
      const double invstd = 1.0 / sqrt((double)moving_var[c] + (double)d->eps);
      y[r * C + c] = (real)((double)gamma[c] * ((double)x[r * C + c] - (double)moving_mean[c]) * invstd +
                            (double)beta[c]);
    }
}

/* Backward of training mode, M = rows, xhat = (x - save_mean) * save_invstd:
 *   dbeta = sum_r dy,  dgamma = sum_r dy * xhat,
 *   dx = gamma * invstd / M * (M * dy - dbeta - xhat * dgamma). */
void REF(batchnorm_backward)(const clnet_batchnorm_desc *d, const real *x, const real *dy, const real *gamma,
                             const real *save_mean, const real *save_invstd, real *dx, real *dgamma,
                             real *dbeta) {
  const int64_t rows = d->rows, C = d->c;
  const double M = (double)rows;
  for (int64_t c = 0; c < C; ++c) {
    const double mean = save_mean[c], invstd = save_invstd[c];
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const double xhat = ((double)x[r * C + c] - mean) * invstd;
      sum_dy += dy[r * C + c];
      sum_dy_xhat += (double)dy[r * C + c] * xhat;
    }
    for (int64_t r = 0; r < rows; ++r) {
      const double xhat = ((double)x[r * C + c] - mean) * invstd;
      dx[r * C + c] =
          (real)((double)gamma[c] * invstd / M * (M * (double)dy[r * C + c] - sum_dy - xhat * sum_dy_xhat));
    }
    dbeta[c] = (real)sum_dy;
    dgamma[c] = (real)sum_dy_xhat;
  }
}
