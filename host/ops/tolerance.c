/* Float-vs-reference tolerances, see tolerance.h. */
#include "ops/tolerance.h"

#include <math.h>

double clnet_dot_atol(int32_t k, double amax, double bmax) {
  return sqrt((double)(k > 0 ? k : 1)) * (double)(k > 0 ? k : 1) * amax * bmax * ldexp(1.0, -24) + 1e-7;
}

double clnet_conv2d_atol(const clnet_conv2d_desc *d, clnet_pass pass, int bias_grad) {
  switch (pass) {
    case CLNET_PASS_FORWARD: return clnet_dot_atol(d->k_h * d->k_w * (d->in_c / clnet_conv2d_groups(d)) + 1, 1, 1);
    case CLNET_PASS_BACKWARD_DATA:
      return clnet_dot_atol(d->k_h * d->k_w * (d->out_c / clnet_conv2d_groups(d)), 1, 1);
    default: return clnet_dot_atol(d->n * d->out_h * d->out_w, 1, bias_grad ? 2 : 1);
  }
}

/* F(4x4, 3x3)'s transforms (cl/conv2d_winograd.cl), for the bounds below. */
static const double wino4_bt[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                      {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
static const double wino4_g[6][3] = {{1.0 / 4, 0, 0},           {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                     {-1.0 / 6, 1.0 / 6, -1.0 / 6}, {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                     {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
static const double wino4_at[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};

static double row_sq_sum(const double *row, int n) {
  double s = 0;
  for (int i = 0; i < n; ++i) s += row[i] * row[i];
  return s;
}

/* F(4x4, 3x3): the standard deviation of the rounding error of the worst output of a tile, when
 * every input is U(-1, 1) (variance 1/3) and independent (ops/tolerance.h, docs/CHECKS.md).
 * Forward / backward data (filter_gradient 0): M_ab = sum over the `terms` = R channels of
 * U_ab V_ab, terms of variance s_ab = Var U_ab Var V_ab with Var V_ab = |B^T_a|^2 |B^T_b|^2 / 3 and
 * Var U_ab = |G_a|^2 |G_b|^2 / 3 (|.|^2: the row's sum of squares); y_ij = sum_ab c_ab M_ab with
 * c_ab = A^T_ia A^T_jb. Filter gradient: Z_ab = sum over the `terms` = P tiles of V_ab W_ab with
 * Var W_ab = |A_a|^2 |A_b|^2 / 3 (A = (A^T)^T, W = A dY A^T), dw_ij = sum_ab c_ab Z_ab with
 * c_ab = G_ai G_bj. Each rounding is modelled as an independent error of at most u = 2^-24 times
 * the value rounded: the n-th partial sum has variance n s_ab, so the sum's error has variance
 * u^2 s_ab n(n+1)/2; each term carries the transforms' roundings (8 levels: 64 u^2 s_ab per term);
 * the output transform rounds values of variance c_ab^2 n s_ab (4 levels: 16 u^2 per value). */
static double wino4_error_sigma(int filter_gradient, double terms) {
  const double u = ldexp(1.0, -24);
  double var_l[6], var_r[6]; /* the two factors' per-row variance parts: x_ab = l_a l_b */
  double coef[4][6];         /* c_ab = coef[i][a] coef[j][b] */
  for (int a = 0; a < 6; ++a) {
    double at = 0; /* |A_a|^2, column a of A^T */
    for (int r = 0; r < 4; ++r) at += wino4_at[r][a] * wino4_at[r][a];
    var_l[a] = row_sq_sum(wino4_bt[a], 6);
    var_r[a] = filter_gradient ? at : row_sq_sum(wino4_g[a], 3);
    for (int i = 0; i < 4; ++i) coef[i][a] = filter_gradient ? (i < 3 ? wino4_g[a][i] : 0) : wino4_at[i][a];
  }
  double worst = 0;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      double var = 0;
      for (int a = 0; a < 6; ++a)
        for (int b = 0; b < 6; ++b) {
          const double s = (var_l[a] * var_l[b] / 3.0) * (var_r[a] * var_r[b] / 3.0);
          const double c2 = coef[i][a] * coef[i][a] * coef[j][b] * coef[j][b];
          var += c2 * u * u * s * (terms * (terms + 1) / 2 + 64.0 * terms + 16.0 * terms);
        }
      if (var > worst) worst = var;
    }
  return sqrt(worst);
}

double clnet_conv2d_algo_atol(const clnet_conv2d_desc *d, clnet_pass pass, int bias_grad, clnet_conv_algo algo) {
  if (algo == CLNET_CONV_ALGO_WINOGRAD4 && !bias_grad) {
    /* 10 standard deviations of the modelled error (+ the bias's rounding, u |y| <= u (9R + 1)) */
    if (pass == CLNET_PASS_BACKWARD_FILTER)
      return 10.0 * wino4_error_sigma(1, (double)d->n * ((d->out_h + 3) / 4) * ((d->out_w + 3) / 4)) + 1e-7;
    const int32_t r = pass == CLNET_PASS_FORWARD ? d->in_c : d->out_c;
    return 10.0 * wino4_error_sigma(0, r) + ldexp(9.0 * r + 1, -24) + 1e-7;
  }
  if (algo != CLNET_CONV_ALGO_WINOGRAD || bias_grad) return clnet_conv2d_atol(d, pass, bias_grad);
  const double u = ldexp(1.0, -24);
  if (pass == CLNET_PASS_BACKWARD_FILTER) {
    /* k = 9P products over P = N*ceil(OH/2)*ceil(OW/2) tiles, absolute sum <= 4 * 4 * 4 * P */
    const double p = (double)d->n * ((d->out_h + 1) / 2) * ((d->out_w + 1) / 2), k = 9.0 * p;
    return (sqrt(k) + 12.0) * 64.0 * p * u + 1e-7;
  }
  const int32_t r = pass == CLNET_PASS_FORWARD ? d->in_c : d->out_c;
  const int32_t k = 9 * r + 1;
  return clnet_dot_atol(k, 4.0, 2.25) + 12.0 * k * 9.0 * u;
}
