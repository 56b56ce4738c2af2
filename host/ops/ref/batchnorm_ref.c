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

/* Fused BasicBlock tail: y = max(gamma * xhat + beta [+ res], 0) with batch
 * statistics, as batchnorm_forward_train followed by the add and the ReLU,
 * the sum formed in double. */
void REF(batchnorm_act_forward_train)(const clnet_batchnorm_desc *d, const real *x, const real *gamma,
                                      const real *beta, const real *res, real *y, real *save_mean,
                                      real *save_invstd, real *moving_mean, real *moving_var) {
  const int64_t rows = d->rows, C = d->c;
  const double momentum = d->momentum;
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0;
    for (int64_t r = 0; r < rows; ++r) sum += x[r * C + c];
    const double mean = sum / (double)rows;
    double ssd = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const double dev = x[r * C + c] - mean;
      ssd += dev * dev;
    }
    const double var = ssd / (double)rows; /* biased */
    const double invstd = 1.0 / sqrt(var + (double)d->eps);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = r * C + c;
      const double z = (double)gamma[c] * (x[i] - mean) * invstd + (double)beta[c] + (res ? (double)res[i] : 0.0);
      y[i] = (real)(z > 0 ? z : 0);
    }
    save_mean[c] = (real)mean;
    save_invstd[c] = (real)invstd;
    moving_mean[c] = (real)((double)moving_mean[c] * momentum + mean * (1.0 - momentum));
    moving_var[c] = (real)((double)moving_var[c] * momentum + var * (1.0 - momentum));
  }
}

void REF(batchnorm_act_forward_infer)(const clnet_batchnorm_desc *d, const real *x, const real *gamma,
                                      const real *beta, const real *res, const real *moving_mean,
                                      const real *moving_var, real *y) {
  const int64_t rows = d->rows, C = d->c;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < C; ++c) {
      const int64_t i = r * C + c;
      const double invstd = 1.0 / sqrt((double)moving_var[c] + (double)d->eps);
      const double z = (double)gamma[c] * ((double)x[i] - (double)moving_mean[c]) * invstd + (double)beta[c] +
                       (res ? (double)res[i] : 0.0);
      y[i] = (real)(z > 0 ? z : 0);
    }
}

/* dz = (y > 0 ? dy : 0) (y is the fused output, so the mask is the ReLU's);
 * dx, dgamma, dbeta = batchnorm_backward of dz; dres = dz when not NULL.
 * dx may alias dy: each element is read before it is written. */
void REF(batchnorm_act_backward)(const clnet_batchnorm_desc *d, const real *x, const real *y, const real *dy,
                                 const real *gamma, const real *save_mean, const real *save_invstd, real *dx,
                                 real *dres, real *dgamma, real *dbeta) {
  const int64_t rows = d->rows, C = d->c;
  const double M = (double)rows;
  for (int64_t c = 0; c < C; ++c) {
    const double mean = save_mean[c], invstd = save_invstd[c];
    double sum_dz = 0, sum_dz_xhat = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = r * C + c;
      const double dz = y[i] > 0 ? (double)dy[i] : 0.0;
      sum_dz += dz;
      sum_dz_xhat += dz * ((double)x[i] - mean) * invstd;
    }
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = r * C + c;
      const double dz = y[i] > 0 ? (double)dy[i] : 0.0;
      const double xhat = ((double)x[i] - mean) * invstd;
      if (dres) dres[i] = (real)dz;
      dx[i] = (real)((double)gamma[c] * invstd / M * (M * dz - sum_dz - xhat * sum_dz_xhat));
    }
    dbeta[c] = (real)sum_dz;
    dgamma[c] = (real)sum_dz_xhat;
  }
}
