/* Reference: softmax cross-entropy on logits (N, K), mean over the batch; twin
 * of softmax_xent in cl/loss.cl, same rules: stable log-sum-exp, argmax is the
 * first maximum, a label outside [0, K) gives a NaN loss and a NaN dlogits
 * row and does not count as correct. Sums in double. Label smoothing s: the
 * target is (1 - s) onehot + s/K, loss_r = -sum_j t_j log p_j. */
#include <math.h>

#include "ops/ref/ref.h"

void REF(softmax_xent)(int32_t n, int32_t k, float smoothing, const real *logits, const int32_t *labels,
                       real *dlogits, real *result) {
  const double sm = smoothing, off = sm / k, on = 1.0 - sm + off;
  double loss_sum = 0, correct = 0;
  for (int32_t r = 0; r < n; ++r) {
    const real *z = logits + (int64_t)r * k; /* (K) */
    real *dz = dlogits + (int64_t)r * k;     /* (K) */
    const int32_t label = labels[r];
    if (label < 0 || label >= k) {
      loss_sum += NAN;
      for (int32_t j = 0; j < k; ++j) dz[j] = (real)NAN;
      continue;
    }
    real zmax = z[0];
    int32_t arg = 0;
    for (int32_t j = 1; j < k; ++j)
      if (z[j] > zmax) {
        zmax = z[j];
        arg = j;
      }
    double s = 0;
    for (int32_t j = 0; j < k; ++j) s += exp((double)z[j] - (double)zmax);
    double tz = 0; /* sum_j t_j (z_j - m) */
    for (int32_t j = 0; j < k; ++j) tz += (j == label ? on : off) * ((double)z[j] - (double)zmax);
    loss_sum += log(s) - (sm == 0 ? (double)z[label] - (double)zmax : tz);
    if (arg == label) correct += 1;
    for (int32_t j = 0; j < k; ++j)
      dz[j] = (real)((exp((double)z[j] - (double)zmax) / s - (j == label ? on : off)) / n);
  }
  result[0] = (real)(loss_sum / n);
  result[1] = (real)correct;
}
