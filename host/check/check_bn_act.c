/* Check cases: the fused BasicBlock tails, BN-apply + ReLU and BN-apply +
 * residual add + ReLU (clnet_batchnorm_act_*), training forward with the
 * moving-statistics update, inference forward, backward.
 *
 * Tolerances follow host/check/check_batchnorm.c (u = 2^-24, M = rows,
 * S = 4 sqrt(M) u), with what the fusion adds:
 * - save_mean, save_invstd, moving_*: the same statistics, the same bounds.
 * - y = max(z, 0), z = gamma xhat + beta + res: max(., 0) is 1-Lipschitz, so
 *   the BN output's bound carries over; the added res contributes one more
 *   rounding of |z| <= |gamma xhat| + |beta| + |res|:
 *   atol = max|gamma| (max invstd atol_mean + max|xhat| rtol_invstd)
 *          + 4u (max|gamma xhat| + max|beta| + max|res|).
 *   Where z is within that bound of 0 the two sides may pick different sides
 *   of the kink; the difference is still within atol.
 * - inference y: 8u (max|gamma (x - mm) invstd| + max|beta| + max|res|).
 * - backward: both sides get the reference's saved statistics and the
 *   reference's forward y, so the mask dz = (y > 0 ? dy : 0) is the same
 *   bit pattern on both; dres = dz is a copy: atol 0. dbeta, dgamma, dx are
 *   batchnorm_backward of dz, with check_batchnorm.c's bounds in terms of
 *   max|dz|.
 * - gradient checks (double reference, central differences, h = 1e-5):
 *   away from the ReLU kink the op is smooth, so check_batchnorm.c's
 *   atol = 1e-7, rtol = 1e-6 apply. The inputs are kept away from the kink:
 *   any channel with some |z| < 1e-3 (>> h |dz/dx| ~ 1e-4 for these inputs) has
 *   its beta moved by 0.01 until none is, so no difference straddles it. */
#include <math.h>
#include <stdlib.h>

#include "check/harness.h"

#define U24 (1.0 / 16777216.0)

typedef struct {
  int32_t rows, c;
  int32_t add;  /* 1: BN + add + ReLU, 0: BN + ReLU */
  float offset; /* x = offset + scale * U(-1, 1) */
  float scale;
} bna_params;

static double max_abs_d(const float *p, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = fabs((double)p[i]) > m ? fabs((double)p[i]) : m;
  return m;
}

static clnet_status read_ref(clnet_check_env *env, check_tensor *t) {
  return clnet_buf_read(env->ref, &t->ref, 0, (size_t)t->count * t->elem, t->host);
}

enum { T_X, T_GAMMA, T_BETA, T_RES, T_Y, T_SM, T_SI, T_MM, T_MV, T_MMI, T_MVI, T_YB, T_DY, T_DX, T_DR, T_DG, T_DB,
       T_SM2, T_SI2, T_N };

static clnet_status run_bna(clnet_check_env *env, const void *pp) {
  const bna_params *p = pp;
  const clnet_batchnorm_desc d = {.rows = p->rows, .c = p->c, .eps = 1e-3f, .momentum = 0.99f};
  const int64_t M = p->rows, C = p->c, count = M * C;
  static const char *names[T_N] = {"x", "gamma", "beta", "res", "y", "save_mean", "save_invstd", "moving_mean",
                                   "moving_var", "moving_mean (infer)", "moving_var (infer)", "y (bwd input)", "dy",
                                   "dx", "dres", "dgamma", "dbeta", "save_mean (bwd)", "save_invstd (bwd)"};
  const int64_t counts[T_N] = {count, C, C, count, count, C, C, C, C, C, C, count, count, count, count, C, C, C, C};
  check_tensor t[T_N];
  int32_t n_init = 0;
  clnet_status st = CLNET_SUCCESS;
  for (; n_init < T_N; ++n_init)
    CLNET_TRY_GOTO(check_tensor_init(env, &t[n_init], counts[n_init], 4, names[n_init]), st, out);
  {
    float *x = t[T_X].host;
    for (int64_t i = 0; i < count; ++i) x[i] = p->offset + p->scale * (2 * clnet_rng_uniform(&env->rng) - 1);
    CLNET_TRY_GOTO(check_tensor_set(env, &t[T_X], x), st, out);
  }
  CLNET_TRY_GOTO(check_tensor_uniform(env, &t[T_GAMMA], -1.5f, 1.5f), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &t[T_BETA], -1, 1), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &t[T_RES], -2, 2), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &t[T_MM], -1, 1), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &t[T_MV], 0.5f, 1.5f), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &t[T_MMI], p->offset - 0.1f * p->scale, p->offset + 0.1f * p->scale), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &t[T_MVI], 0.2f * p->scale * p->scale, 0.5f * p->scale * p->scale), st,
                 out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &t[T_DY], -1, 1), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &t[T_DX], 7, 8), st, out); /* must be overwritten */
  CLNET_TRY_GOTO(check_tensor_uniform(env, &t[T_DR], 7, 8), st, out);
  const clnet_buf *res_d = p->add ? &t[T_RES].dev : NULL, *res_r = p->add ? &t[T_RES].ref : NULL;
  const double res_max = p->add ? max_abs_d(t[T_RES].host, count) : 0;

  /* ---- training forward ---- */
  CLNET_TRY_GOTO(clnet_batchnorm_act_forward_train(env->dev, &d, &t[T_X].dev, &t[T_GAMMA].dev, &t[T_BETA].dev, res_d,
                                                   &t[T_Y].dev, &t[T_SM].dev, &t[T_SI].dev, &t[T_MM].dev,
                                                   &t[T_MV].dev), st, out);
  CLNET_TRY_GOTO(clnet_batchnorm_act_forward_train(env->ref, &d, &t[T_X].ref, &t[T_GAMMA].ref, &t[T_BETA].ref, res_r,
                                                   &t[T_Y].ref, &t[T_SM].ref, &t[T_SI].ref, &t[T_MM].ref,
                                                   &t[T_MV].ref), st, out);
  const double mm_old = max_abs_d(t[T_MM].host, C), mv_old = max_abs_d(t[T_MV].host, C);
  CLNET_TRY_GOTO(read_ref(env, &t[T_SM]), st, out);
  CLNET_TRY_GOTO(read_ref(env, &t[T_SI]), st, out);
  {
    const float *x = t[T_X].host, *sm = t[T_SM].host, *si = t[T_SI].host, *g = t[T_GAMMA].host;
    const double S = 4 * sqrt((double)M) * U24, eps = d.eps;
    double atol_mean = 0, rtol_istd = 0, istd_max = 0, xhat_max = 0, gxhat_max = 0, mean_max = 0, var_max = 0;
    for (int64_t c = 0; c < C; ++c) {
      double spread = 0;
      for (int64_t r = 0; r < M; ++r) spread = fmax(spread, fabs((double)x[r * C + c] - sm[c]));
      const double istd = si[c], var = fmax(1.0 / (istd * istd) - eps, 0);
      atol_mean = fmax(atol_mean, S * spread);
      rtol_istd = fmax(rtol_istd, S * spread * spread / (2 * (var + eps)) + 4 * U24);
      istd_max = fmax(istd_max, istd);
      xhat_max = fmax(xhat_max, spread * istd);
      gxhat_max = fmax(gxhat_max, fabs((double)g[c]) * spread * istd);
      mean_max = fmax(mean_max, fabs((double)sm[c]));
      var_max = fmax(var_max, var);
    }
    const double g_max = max_abs_d(g, C), b_max = max_abs_d(t[T_BETA].host, C), mom = 1.0 - d.momentum;
    const double atol_y =
        g_max * (istd_max * atol_mean + xhat_max * rtol_istd) + 4 * U24 * (gxhat_max + b_max + res_max);
    CLNET_TRY_GOTO(check_compare(env, &t[T_Y], atol_y, 0), st, out);
    CLNET_TRY_GOTO(check_compare(env, &t[T_SM], atol_mean, 2 * U24), st, out);
    CLNET_TRY_GOTO(check_compare(env, &t[T_SI], 0, rtol_istd), st, out);
    CLNET_TRY_GOTO(check_compare(env, &t[T_MM], mom * (atol_mean + 2 * U24 * mean_max) + 2 * U24 * mm_old,
                                 2 * U24), st, out);
    CLNET_TRY_GOTO(check_compare(env, &t[T_MV], mom * var_max * 2 * rtol_istd + 2 * U24 * mv_old, 2 * U24), st,
                   out);
  }
  /* the reference's y is the mask input of the backward on both sides */
  CLNET_TRY_GOTO(read_ref(env, &t[T_Y]), st, out);
  CLNET_TRY_GOTO(check_tensor_set(env, &t[T_YB], t[T_Y].host), st, out);

  /* ---- inference forward ---- */
  CLNET_TRY_GOTO(clnet_batchnorm_act_forward_infer(env->dev, &d, &t[T_X].dev, &t[T_GAMMA].dev, &t[T_BETA].dev, res_d,
                                                   &t[T_MMI].dev, &t[T_MVI].dev, &t[T_Y].dev), st, out);
  CLNET_TRY_GOTO(clnet_batchnorm_act_forward_infer(env->ref, &d, &t[T_X].ref, &t[T_GAMMA].ref, &t[T_BETA].ref, res_r,
                                                   &t[T_MMI].ref, &t[T_MVI].ref, &t[T_Y].ref), st, out);
  {
    const float *x = t[T_X].host, *g = t[T_GAMMA].host, *mm = t[T_MMI].host, *mv = t[T_MVI].host;
    double a_max = 0;
    for (int64_t r = 0; r < M; ++r)
      for (int64_t c = 0; c < C; ++c)
        a_max = fmax(a_max, fabs((double)g[c] * ((double)x[r * C + c] - mm[c]) / sqrt((double)mv[c] + d.eps)));
    t[T_Y].name = "y (infer)";
    CLNET_TRY_GOTO(check_compare(env, &t[T_Y], 8 * U24 * (a_max + max_abs_d(t[T_BETA].host, C) + res_max), 0), st,
                   out);
  }

  /* ---- backward from the reference's statistics and output ---- */
  CLNET_TRY_GOTO(check_tensor_set(env, &t[T_SM2], t[T_SM].host), st, out);
  CLNET_TRY_GOTO(check_tensor_set(env, &t[T_SI2], t[T_SI].host), st, out);
  CLNET_TRY_GOTO(clnet_batchnorm_act_backward(env->dev, &d, &t[T_X].dev, &t[T_YB].dev, &t[T_DY].dev, &t[T_GAMMA].dev,
                                              &t[T_SM2].dev, &t[T_SI2].dev, &t[T_DX].dev,
                                              p->add ? &t[T_DR].dev : NULL, &t[T_DG].dev, &t[T_DB].dev), st, out);
  CLNET_TRY_GOTO(clnet_batchnorm_act_backward(env->ref, &d, &t[T_X].ref, &t[T_YB].ref, &t[T_DY].ref, &t[T_GAMMA].ref,
                                              &t[T_SM2].ref, &t[T_SI2].ref, &t[T_DX].ref,
                                              p->add ? &t[T_DR].ref : NULL, &t[T_DG].ref, &t[T_DB].ref), st, out);
  CLNET_TRY_GOTO(read_ref(env, &t[T_DG]), st, out);
  CLNET_TRY_GOTO(read_ref(env, &t[T_DB]), st, out);
  {
    const float *x = t[T_X].host, *sm = t[T_SM].host, *si = t[T_SI].host, *g = t[T_GAMMA].host;
    const float *yb = t[T_YB].host, *dy = t[T_DY].host;
    double xhat_max = 0, k_max = 0, dz_max = 0;
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t r = 0; r < M; ++r) xhat_max = fmax(xhat_max, fabs(((double)x[r * C + c] - sm[c]) * si[c]));
      k_max = fmax(k_max, fabs((double)g[c] * si[c]));
    }
    for (int64_t i = 0; i < count; ++i)
      if (yb[i] > 0) dz_max = fmax(dz_max, fabs((double)dy[i]));
    const double atol_db = clnet_check_dot_atol((int32_t)M, dz_max, 1);
    const double atol_dg = clnet_check_dot_atol((int32_t)M, dz_max, xhat_max);
    const double db_m = max_abs_d(t[T_DB].host, C) / (double)M, dg_m = max_abs_d(t[T_DG].host, C) / (double)M;
    const double atol_dx = k_max * (atol_db / (double)M + xhat_max * atol_dg / (double)M +
                                    4 * U24 * (dz_max + db_m + 2 * xhat_max * dg_m));
    CLNET_TRY_GOTO(check_compare(env, &t[T_DB], atol_db, 0), st, out);
    CLNET_TRY_GOTO(check_compare(env, &t[T_DG], atol_dg, 0), st, out);
    CLNET_TRY_GOTO(check_compare(env, &t[T_DX], atol_dx, 0), st, out);
    if (p->add) CLNET_TRY_GOTO(check_compare(env, &t[T_DR], 0, 0), st, out);
  }
out:
  for (int32_t i = 0; i < n_init; ++i) check_tensor_free(env, &t[i]);
  return st;
}

/* ---- gradient checks on the double reference: L = <dy, y(x, gamma, beta, res)> ---- */
#define GRAD_H 1e-5
#define GRAD_MAX_SAMPLES 120
#define KINK_MARGIN 1e-3

typedef struct {
  clnet_batchnorm_desc d;
  double *x, *gamma, *beta, *res, *y, *mean, *invstd, *mm, *mv, *dy;
} bna_grad_state;

static double bna_loss(void *u) {
  bna_grad_state *s = u;
  clnet_ref64_batchnorm_act_forward_train(&s->d, s->x, s->gamma, s->beta, s->res, s->y, s->mean, s->invstd, s->mm,
                                          s->mv);
  return check_dot_f64(s->dy, s->y, (int64_t)s->d.rows * s->d.c);
}

/* Moves beta of every channel with some |z| < KINK_MARGIN; returns how many moved. */
static int32_t bna_off_kink(bna_grad_state *s) {
  const int64_t M = s->d.rows, C = s->d.c;
  int32_t moved = 0;
  bna_loss(s); /* mean, invstd */
  for (int64_t c = 0; c < C; ++c) {
    int near = 0;
    for (int64_t r = 0; r < M; ++r) {
      const int64_t i = r * C + c;
      const double z = s->gamma[c] * (s->x[i] - s->mean[c]) * s->invstd[c] + s->beta[c] + (s->res ? s->res[i] : 0);
      near |= fabs(z) < KINK_MARGIN;
    }
    if (near) {
      s->beta[c] += 0.01;
      ++moved;
    }
  }
  return moved;
}

static clnet_status run_bna_grad(clnet_check_env *env, const void *pp) {
  const bna_params *p = pp;
  const int64_t M = p->rows, C = p->c, count = M * C;
  bna_grad_state s = {.d = {.rows = p->rows, .c = p->c, .eps = 1e-3f, .momentum = 0.99f}};
  s.x = check_alloc_f64(count);
  s.gamma = check_alloc_f64(C);
  s.beta = check_alloc_f64(C);
  s.res = p->add ? check_alloc_f64(count) : NULL;
  s.y = check_alloc_f64(count);
  s.mean = check_alloc_f64(C);
  s.invstd = check_alloc_f64(C);
  s.mm = check_alloc_f64(C);
  s.mv = check_alloc_f64(C);
  s.dy = check_alloc_f64(count);
  double *dx = check_alloc_f64(count), *dr = check_alloc_f64(count), *dg = check_alloc_f64(C),
         *db = check_alloc_f64(C);
  double *num = check_alloc_f64(GRAD_MAX_SAMPLES);
  int64_t *idx = malloc(GRAD_MAX_SAMPLES * sizeof *idx);
  clnet_status st = CLNET_SUCCESS;
  if (!s.x || !s.gamma || !s.beta || (p->add && !s.res) || !s.y || !s.mean || !s.invstd || !s.mm || !s.mv || !s.dy ||
      !dx || !dr || !dg || !db || !num || !idx) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "batchnorm_relu gradcheck");
    goto out;
  }
  for (int64_t i = 0; i < count; ++i) s.x[i] = p->offset + p->scale * (2 * clnet_rng_uniform_double(&env->rng) - 1);
  check_fill_f64(env, s.gamma, C, -1.5, 1.5);
  check_fill_f64(env, s.beta, C, -1, 1);
  if (s.res) check_fill_f64(env, s.res, count, -1, 1);
  check_fill_f64(env, s.dy, count, -1, 1);
  for (int64_t c = 0; c < C; ++c) s.mv[c] = 1;
  for (int32_t tries = 0; bna_off_kink(&s) > 0; ++tries)
    if (tries == 1000) {
      st = clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "batchnorm_relu gradcheck: inputs stay near the ReLU kink");
      goto out;
    }
  bna_loss(&s);
  clnet_ref64_batchnorm_act_backward(&s.d, s.x, s.y, s.dy, s.gamma, s.mean, s.invstd, dx, s.res ? dr : NULL, dg, db);
  int64_t k = check_pick_indices(env, count, GRAD_MAX_SAMPLES, idx);
  check_numeric_grad(s.x, idx, k, GRAD_H, bna_loss, &s, num);
  check_grad_compare(env, "dx", dx, idx, num, NULL, k, 1e-7, 1e-6);
  if (s.res) {
    check_numeric_grad(s.res, idx, k, GRAD_H, bna_loss, &s, num);
    check_grad_compare(env, "dres", dr, idx, num, NULL, k, 1e-7, 1e-6);
  }
  k = check_pick_indices(env, C, GRAD_MAX_SAMPLES, idx);
  check_numeric_grad(s.gamma, idx, k, GRAD_H, bna_loss, &s, num);
  check_grad_compare(env, "dgamma", dg, idx, num, NULL, k, 1e-7, 1e-6);
  check_numeric_grad(s.beta, idx, k, GRAD_H, bna_loss, &s, num);
  check_grad_compare(env, "dbeta", db, idx, num, NULL, k, 1e-7, 1e-6);
out:
  free(s.x);
  free(s.gamma);
  free(s.beta);
  free(s.res);
  free(s.y);
  free(s.mean);
  free(s.invstd);
  free(s.mm);
  free(s.mv);
  free(s.dy);
  free(dx);
  free(dr);
  free(dg);
  free(db);
  free(num);
  free(idx);
  return st;
}

static const bna_params r_l1 = {2 * 30 * 30, 64, 0, 0, 1}, r_l4 = {2 * 4 * 4, 512, 0, 0, 1},
                        r_fashion = {2 * 26 * 26, 16, 0, 0, 1}, r_r7 = {7, 3, 0, 0, 1},
                        r_big = {256 * 26 * 26, 16, 0, 0, 1}, r_off = {2 * 15 * 15, 128, 0, 1000, 1};
static const bna_params a_l1 = {2 * 30 * 30, 64, 1, 0, 1}, a_l2 = {2 * 15 * 15, 128, 1, 0, 1},
                        a_l3 = {2 * 8 * 8, 256, 1, 0, 1}, a_l4 = {2 * 4 * 4, 512, 1, 0, 1},
                        a_r1 = {1, 64, 1, 0, 1}, a_r13 = {13, 67, 1, 0, 1}, a_big = {256 * 13 * 13, 32, 1, 0, 1},
                        a_off = {2 * 8 * 8, 256, 1, 1000, 1}, a_tiny = {2 * 4 * 4, 512, 1, 100, 0.01f};
static const bna_params rg_7 = {7, 3, 0, 0, 1}, rg_32 = {32, 5, 0, 0, 1}, ag_7 = {7, 3, 1, 0, 1},
                        ag_32 = {32, 5, 1, 0, 1}, ag_off = {13, 2, 1, 3, 0.5f}, ag_1 = {1, 2, 1, 0, 1};

const clnet_check_case clnet_check_cases_bn_act[] = {
    {"batchnorm_relu", "n2 30x30 x 64", CLNET_CHECK_CROSS, run_bna, &r_l1},
    {"batchnorm_relu", "n2 4x4 x 512", CLNET_CHECK_CROSS, run_bna, &r_l4},
    {"batchnorm_relu", "n2 26x26 x 16", CLNET_CHECK_CROSS, run_bna, &r_fashion},
    {"batchnorm_relu", "rows 7 x 3", CLNET_CHECK_CROSS, run_bna, &r_r7},
    {"batchnorm_relu", "n256 26x26 x 16", CLNET_CHECK_CROSS, run_bna, &r_big},
    {"batchnorm_relu", "n2 15x15 x 128, 1000+U", CLNET_CHECK_CROSS, run_bna, &r_off},
    {"batchnorm_add_relu", "n2 30x30 x 64", CLNET_CHECK_CROSS, run_bna, &a_l1},
    {"batchnorm_add_relu", "n2 15x15 x 128", CLNET_CHECK_CROSS, run_bna, &a_l2},
    {"batchnorm_add_relu", "n2 8x8 x 256", CLNET_CHECK_CROSS, run_bna, &a_l3},
    {"batchnorm_add_relu", "n2 4x4 x 512", CLNET_CHECK_CROSS, run_bna, &a_l4},
    {"batchnorm_add_relu", "rows 1 x 64 (var 0)", CLNET_CHECK_CROSS, run_bna, &a_r1},
    {"batchnorm_add_relu", "rows 13 x 67", CLNET_CHECK_CROSS, run_bna, &a_r13},
    {"batchnorm_add_relu", "n256 13x13 x 32", CLNET_CHECK_CROSS, run_bna, &a_big},
    {"batchnorm_add_relu", "n2 8x8 x 256, 1000+U", CLNET_CHECK_CROSS, run_bna, &a_off},
    {"batchnorm_add_relu", "n2 4x4 x 512, 100+0.01U", CLNET_CHECK_CROSS, run_bna, &a_tiny},
    {"batchnorm_relu_backward", "rows 7 x 3", CLNET_CHECK_GRAD, run_bna_grad, &rg_7},
    {"batchnorm_relu_backward", "n2 4x4 x 5", CLNET_CHECK_GRAD, run_bna_grad, &rg_32},
    {"batchnorm_add_relu_backward", "rows 7 x 3", CLNET_CHECK_GRAD, run_bna_grad, &ag_7},
    {"batchnorm_add_relu_backward", "n2 4x4 x 5", CLNET_CHECK_GRAD, run_bna_grad, &ag_32},
    {"batchnorm_add_relu_backward", "rows 13 x 2, 3+0.5U", CLNET_CHECK_GRAD, run_bna_grad, &ag_off},
    {"batchnorm_add_relu_backward", "rows 1 x 2 (var 0)", CLNET_CHECK_GRAD, run_bna_grad, &ag_1},
    {0},
};
