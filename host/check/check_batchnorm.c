/* Check cases: batch normalisation (training forward with the moving-statistics
 * update, inference forward, backward), NHWC as a (rows, C) matrix.
 *
 * Tolerances. u = 2^-24, M = rows, S = 4 sqrt(M) u: the relative accuracy we
 * allow a length-M float reduction in any order (random-walk rounding
 * sqrt(M) u, with a 4x margin, as in check_gemm.c). Per channel the
 * reference (double, two-pass) gives mean, var and invstd; "spread" is
 * max |x - mean| over the batch and xhat = (x - mean) * invstd.
 * - save_mean: the error of a sound mean scales with the spread of the data,
 *   not with its offset: atol = S * spread, rtol = 2u (the final rounding of
 *   the mean near |mean|). E[x] summed naively in float fails the
 *   1000 + U(-1, 1) cases by orders of magnitude.
 * - save_invstd: the variance sums M terms <= spread^2, so its error is
 *   <= S * spread^2, and invstd = (var + eps)^-1/2 halves the relative error:
 *   rtol = S * spread^2 / (2 (var + eps)) + 4u (rsqrt <= 2 ulp, rounding).
 *   E[x^2] - E[x]^2 in float fails the offset cases.
 * - y = gamma * xhat + beta: the mean error moves y by |gamma| invstd dmean,
 *   the invstd error by |gamma xhat| rtol_invstd, plus 4u of rounding:
 *   atol = max|gamma| (max invstd * atol_mean + max|xhat| * rtol_invstd)
 *          + 4u (max|gamma xhat| + max|beta|).
 * - moving_mean / moving_var = moving * momentum + batch * (1 - momentum):
 *   (1 - momentum) times the batch statistic's tolerance, plus 2u of the result.
 * - inference y: no reduction; rsqrt (2 ulp), a subtraction, two products and
 *   a sum: atol = 8u (max|gamma (x - mm) invstd| + max|beta|).
 * - backward (both sides get the same save_mean and save_invstd):
 *   dbeta = sum of M terms |dy| <= dymax: atol = clnet_check_dot_atol(M, dymax, 1);
 *   dgamma = sum of dy * xhat: atol = clnet_check_dot_atol(M, dymax, max|xhat|);
 *   dx = gamma invstd (dy - dbeta/M - xhat dgamma/M):
 *   atol = max|gamma invstd| * (atol_dbeta/M + max|xhat| atol_dgamma/M
 *          + 4u (dymax + max|dbeta/M| + 2 max|xhat| max|dgamma/M|)).
 * - gradient checks (double reference, central differences, h = 1e-5 on
 *   O(1) inputs): truncation h^2 |f'''| ~ 1e-10 and rounding 1e-16 |L| / h
 *   ~ 1e-10: atol = 1e-7, rtol = 1e-6. dx goes through the batch statistics. */
#include <math.h>
#include <stdlib.h>

#include "check/harness.h"

#define U24 (1.0 / 16777216.0)

typedef struct {
  int32_t rows, c;
  float offset; /* x = offset + scale * U(-1, 1) */
  float scale;
  float eps, momentum; /* 0, 0: Keras' 1e-3, 0.99 */
} bn_params;

static clnet_batchnorm_desc bn_desc_of(const bn_params *p) {
  return (clnet_batchnorm_desc){.rows = p->rows, .c = p->c, .eps = p->eps > 0 ? p->eps : 1e-3f,
                                .momentum = p->eps > 0 ? p->momentum : 0.99f};
}

static double max_abs_d(const float *p, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = fabs((double)p[i]) > m ? fabs((double)p[i]) : m;
  return m;
}

static clnet_status read_ref(clnet_check_env *env, check_tensor *t) {
  return clnet_buf_read(env->ref, &t->ref, 0, (size_t)t->count * t->elem, t->host);
}

enum { T_X, T_GAMMA, T_BETA, T_Y, T_SM, T_SI, T_MM, T_MV, T_MMI, T_MVI, T_DY, T_DX, T_DG, T_DB, T_SM2, T_SI2, T_N };

static clnet_status run_bn(clnet_check_env *env, const void *pp) {
  const bn_params *p = pp;
  const clnet_batchnorm_desc d = bn_desc_of(p);
  const int64_t M = p->rows, C = p->c, count = M * C;
  static const char *names[T_N] = {"x",  "gamma",       "beta",       "y",  "save_mean", "save_invstd",
                                   "moving_mean", "moving_var", "moving_mean (infer)", "moving_var (infer)",
                                   "dy", "dx",          "dgamma",     "dbeta", "save_mean (bwd)",
                                   "save_invstd (bwd)"};
  const int64_t counts[T_N] = {count, C, C, count, C, C, C, C, C, C, count, count, C, C, C, C};
  check_tensor t[T_N];
  int32_t n_init = 0;
  clnet_status st = CLNET_SUCCESS;
  for (; n_init < T_N; ++n_init) CLNET_TRY_GOTO(check_tensor_init(env, &t[n_init], counts[n_init], 4, names[n_init]), st, out);
  /* inputs */
  {
    float *x = t[T_X].host;
    for (int64_t i = 0; i < count; ++i) x[i] = p->offset + p->scale * (2 * clnet_rng_uniform(&env->rng) - 1);
    CLNET_TRY_GOTO(check_tensor_set(env, &t[T_X], x), st, out);
  }
  CLNET_TRY_GOTO(check_tensor_uniform(env, &t[T_GAMMA], -1.5f, 1.5f), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &t[T_BETA], -1, 1), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &t[T_MM], -1, 1), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &t[T_MV], 0.5f, 1.5f), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &t[T_MMI], p->offset - 0.1f * p->scale, p->offset + 0.1f * p->scale), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &t[T_MVI], 0.2f * p->scale * p->scale, 0.5f * p->scale * p->scale), st,
                 out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &t[T_DY], -1, 1), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &t[T_DX], 7, 8), st, out); /* must be overwritten */

  /* ---- training forward ---- */
  CLNET_TRY_GOTO(clnet_batchnorm_forward_train(env->dev, &d, &t[T_X].dev, &t[T_GAMMA].dev, &t[T_BETA].dev,
                                               &t[T_Y].dev, &t[T_SM].dev, &t[T_SI].dev, &t[T_MM].dev,
                                               &t[T_MV].dev), st, out);
  CLNET_TRY_GOTO(clnet_batchnorm_forward_train(env->ref, &d, &t[T_X].ref, &t[T_GAMMA].ref, &t[T_BETA].ref,
                                               &t[T_Y].ref, &t[T_SM].ref, &t[T_SI].ref, &t[T_MM].ref,
                                               &t[T_MV].ref), st, out);
  /* the old moving stats are still in .host; the reference's new ones come next */
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
    const double atol_y = g_max * (istd_max * atol_mean + xhat_max * rtol_istd) + 4 * U24 * (gxhat_max + b_max);
    CLNET_TRY_GOTO(check_compare(env, &t[T_Y], atol_y, 0), st, out);
    CLNET_TRY_GOTO(check_compare(env, &t[T_SM], atol_mean, 2 * U24), st, out);
    CLNET_TRY_GOTO(check_compare(env, &t[T_SI], 0, rtol_istd), st, out);
    CLNET_TRY_GOTO(check_compare(env, &t[T_MM], mom * (atol_mean + 2 * U24 * mean_max) + 2 * U24 * mm_old,
                                 2 * U24), st, out);
    CLNET_TRY_GOTO(check_compare(env, &t[T_MV], mom * var_max * 2 * rtol_istd + 2 * U24 * mv_old, 2 * U24), st,
                   out);
  }

  /* ---- inference forward, from fixed moving statistics ---- */
  CLNET_TRY_GOTO(clnet_batchnorm_forward_infer(env->dev, &d, &t[T_X].dev, &t[T_GAMMA].dev, &t[T_BETA].dev,
                                               &t[T_MMI].dev, &t[T_MVI].dev, &t[T_Y].dev), st, out);
  CLNET_TRY_GOTO(clnet_batchnorm_forward_infer(env->ref, &d, &t[T_X].ref, &t[T_GAMMA].ref, &t[T_BETA].ref,
                                               &t[T_MMI].ref, &t[T_MVI].ref, &t[T_Y].ref), st, out);
  {
    const float *x = t[T_X].host, *g = t[T_GAMMA].host, *mm = t[T_MMI].host, *mv = t[T_MVI].host;
    double a_max = 0;
    for (int64_t r = 0; r < M; ++r)
      for (int64_t c = 0; c < C; ++c)
        a_max = fmax(a_max, fabs((double)g[c] * ((double)x[r * C + c] - mm[c]) / sqrt((double)mv[c] + d.eps)));
    t[T_Y].name = "y (infer)";
    CLNET_TRY_GOTO(check_compare(env, &t[T_Y], 8 * U24 * (a_max + max_abs_d(t[T_BETA].host, C)), 0), st, out);
  }

  /* ---- backward, both sides from the reference's saved statistics ---- */
  CLNET_TRY_GOTO(check_tensor_set(env, &t[T_SM2], t[T_SM].host), st, out);
  CLNET_TRY_GOTO(check_tensor_set(env, &t[T_SI2], t[T_SI].host), st, out);
  CLNET_TRY_GOTO(clnet_batchnorm_backward(env->dev, &d, &t[T_X].dev, &t[T_DY].dev, &t[T_GAMMA].dev, &t[T_SM2].dev,
                                          &t[T_SI2].dev, &t[T_DX].dev, &t[T_DG].dev, &t[T_DB].dev), st, out);
  CLNET_TRY_GOTO(clnet_batchnorm_backward(env->ref, &d, &t[T_X].ref, &t[T_DY].ref, &t[T_GAMMA].ref, &t[T_SM2].ref,
                                          &t[T_SI2].ref, &t[T_DX].ref, &t[T_DG].ref, &t[T_DB].ref), st, out);
  CLNET_TRY_GOTO(read_ref(env, &t[T_DG]), st, out);
  CLNET_TRY_GOTO(read_ref(env, &t[T_DB]), st, out);
  {
    const float *x = t[T_X].host, *sm = t[T_SM].host, *si = t[T_SI].host, *g = t[T_GAMMA].host;
    double xhat_max = 0, k_max = 0;
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t r = 0; r < M; ++r) xhat_max = fmax(xhat_max, fabs(((double)x[r * C + c] - sm[c]) * si[c]));
      k_max = fmax(k_max, fabs((double)g[c] * si[c]));
    }
    const double dy_max = max_abs_d(t[T_DY].host, count);
    const double atol_db = clnet_check_dot_atol((int32_t)M, dy_max, 1);
    const double atol_dg = clnet_check_dot_atol((int32_t)M, dy_max, xhat_max);
    const double db_m = max_abs_d(t[T_DB].host, C) / (double)M, dg_m = max_abs_d(t[T_DG].host, C) / (double)M;
    const double atol_dx =
        k_max * (atol_db / (double)M + xhat_max * atol_dg / (double)M + 4 * U24 * (dy_max + db_m + 2 * xhat_max * dg_m));
    CLNET_TRY_GOTO(check_compare(env, &t[T_DB], atol_db, 0), st, out);
    CLNET_TRY_GOTO(check_compare(env, &t[T_DG], atol_dg, 0), st, out);
    CLNET_TRY_GOTO(check_compare(env, &t[T_DX], atol_dx, 0), st, out);
  }
out:
  for (int32_t i = 0; i < n_init; ++i) check_tensor_free(env, &t[i]);
  return st;
}

/* ---- gradient checks on the double reference: L = <dy, y(x, gamma, beta)> ---- */
#define GRAD_H 1e-5
#define GRAD_MAX_SAMPLES 120

typedef struct {
  clnet_batchnorm_desc d;
  double *x, *gamma, *beta, *y, *mean, *invstd, *mm, *mv, *dy;
} bn_grad_state;

static double bn_loss(void *u) {
  bn_grad_state *s = u;
  clnet_ref64_batchnorm_forward_train(&s->d, s->x, s->gamma, s->beta, s->y, s->mean, s->invstd, s->mm, s->mv);
  return check_dot_f64(s->dy, s->y, (int64_t)s->d.rows * s->d.c);
}

static clnet_status run_bn_grad(clnet_check_env *env, const void *pp) {
  const bn_params *p = pp;
  const int64_t M = p->rows, C = p->c, count = M * C;
  bn_grad_state s = {.d = bn_desc_of(p)};
  s.x = check_alloc_f64(count);
  s.gamma = check_alloc_f64(C);
  s.beta = check_alloc_f64(C);
  s.y = check_alloc_f64(count);
  s.mean = check_alloc_f64(C);
  s.invstd = check_alloc_f64(C);
  s.mm = check_alloc_f64(C);
  s.mv = check_alloc_f64(C);
  s.dy = check_alloc_f64(count);
  double *dx = check_alloc_f64(count), *dg = check_alloc_f64(C), *db = check_alloc_f64(C);
  double *num = check_alloc_f64(GRAD_MAX_SAMPLES);
  int64_t *idx = malloc(GRAD_MAX_SAMPLES * sizeof *idx);
  clnet_status st = CLNET_SUCCESS;
  if (!s.x || !s.gamma || !s.beta || !s.y || !s.mean || !s.invstd || !s.mm || !s.mv || !s.dy || !dx || !dg || !db ||
      !num || !idx) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "batchnorm gradcheck");
    goto out;
  }
  for (int64_t i = 0; i < count; ++i) s.x[i] = p->offset + p->scale * (2 * clnet_rng_uniform_double(&env->rng) - 1);
  check_fill_f64(env, s.gamma, C, -1.5, 1.5);
  check_fill_f64(env, s.beta, C, -1, 1);
  check_fill_f64(env, s.dy, count, -1, 1);
  for (int64_t c = 0; c < C; ++c) s.mv[c] = 1;
  clnet_ref64_batchnorm_forward_train(&s.d, s.x, s.gamma, s.beta, s.y, s.mean, s.invstd, s.mm, s.mv);
  clnet_ref64_batchnorm_backward(&s.d, s.x, s.dy, s.gamma, s.mean, s.invstd, dx, dg, db);
  int64_t k = check_pick_indices(env, count, GRAD_MAX_SAMPLES, idx);
  check_numeric_grad(s.x, idx, k, GRAD_H, bn_loss, &s, num);
  check_grad_compare(env, "dx", dx, idx, num, NULL, k, 1e-7, 1e-6);
  k = check_pick_indices(env, C, GRAD_MAX_SAMPLES, idx);
  check_numeric_grad(s.gamma, idx, k, GRAD_H, bn_loss, &s, num);
  check_grad_compare(env, "dgamma", dg, idx, num, NULL, k, 1e-7, 1e-6);
  check_numeric_grad(s.beta, idx, k, GRAD_H, bn_loss, &s, num);
  check_grad_compare(env, "dbeta", db, idx, num, NULL, k, 1e-7, 1e-6);
out:
  free(s.x);
  free(s.gamma);
  free(s.beta);
  free(s.y);
  free(s.mean);
  free(s.invstd);
  free(s.mm);
  free(s.mv);
  free(s.dy);
  free(dx);
  free(dg);
  free(db);
  free(num);
  free(idx);
  return st;
}

static const bn_params bn_l1 = {2 * 30 * 30, 64, 0, 1, 0, 0}, bn_l2 = {2 * 15 * 15, 128, 0, 1, 0, 0},
                       bn_l3 = {2 * 8 * 8, 256, 0, 1, 0, 0}, bn_l4 = {2 * 4 * 4, 512, 0, 1, 0, 0},
                       bn_fashion = {2 * 26 * 26, 64, 0, 1, 0, 0}, bn_r1 = {1, 64, 0, 1, 0, 0}, bn_r7 = {7, 3, 0, 1, 0, 0},
                       bn_r13 = {13, 67, 0, 1, 0, 0}, bn_c1 = {450, 1, 0, 1, 0, 0}, bn_c3 = {1000, 3, 0, 1, 0, 0},
                       bn_big = {256 * 26 * 26, 16, 0, 1, 0, 0}, bn_scaled = {2 * 8 * 8, 256, 0.5f, 30, 0, 0},
                       bn_off_l2 = {2 * 15 * 15, 128, 1000, 1, 0, 0}, bn_off_big = {256 * 26 * 26, 16, 1000, 1, 0, 0},
                       bn_off_r7 = {7, 3, 1000, 1, 0, 0}, bn_off_tiny = {2 * 4 * 4, 512, 100, 0.01f, 0, 0},
                       /* PyTorch's eps 1e-5 and momentum 0.1 (0.9 here: the weight of the old statistics) */
                       bn_pt_l2 = {2 * 15 * 15, 128, 0, 1, 1e-5f, 0.9f}, bn_pt_r7 = {7, 3, 0, 1, 1e-5f, 0.9f},
                       bn_pt_r2 = {2, 13, 0, 1, 1e-5f, 0.9f}, bn_pt_r1 = {1, 64, 0, 1, 1e-5f, 0.9f},
                       bn_pt_off = {256 * 7 * 7, 16, 1000, 1, 1e-5f, 0.9f},
                       bn_m0 = {7, 3, 0, 1, 1e-3f, 0.0f}, bn_m1 = {7, 3, 0, 1, 1e-3f, 1.0f}; /* momentum's ends */
static const bn_params bng_7 = {7, 3, 0, 1, 0, 0}, bng_13 = {13, 1, 0, 1, 0, 0}, bng_1 = {1, 2, 0, 1, 0, 0}, bng_32 = {32, 5, 0, 1, 0, 0},
                       bng_off = {13, 2, 3, 0.5f, 0, 0}, bng_pt = {7, 3, 0, 1, 1e-5f, 0.9f};

const clnet_check_case clnet_check_cases_batchnorm[] = {
    {"batchnorm", "n2 30x30 x 64", CLNET_CHECK_CROSS, run_bn, &bn_l1},
    {"batchnorm", "n2 15x15 x 128", CLNET_CHECK_CROSS, run_bn, &bn_l2},
    {"batchnorm", "n2 8x8 x 256", CLNET_CHECK_CROSS, run_bn, &bn_l3},
    {"batchnorm", "n2 4x4 x 512", CLNET_CHECK_CROSS, run_bn, &bn_l4},
    {"batchnorm", "n2 26x26 x 64", CLNET_CHECK_CROSS, run_bn, &bn_fashion},
    {"batchnorm", "rows 1 x 64 (var 0)", CLNET_CHECK_CROSS, run_bn, &bn_r1},
    {"batchnorm", "rows 7 x 3", CLNET_CHECK_CROSS, run_bn, &bn_r7},
    {"batchnorm", "rows 13 x 67", CLNET_CHECK_CROSS, run_bn, &bn_r13},
    {"batchnorm", "rows 450 x 1", CLNET_CHECK_CROSS, run_bn, &bn_c1},
    {"batchnorm", "rows 1000 x 3", CLNET_CHECK_CROSS, run_bn, &bn_c3},
    {"batchnorm", "n256 26x26 x 16", CLNET_CHECK_CROSS, run_bn, &bn_big},
    {"batchnorm", "n2 8x8 x 256, 0.5+30U", CLNET_CHECK_CROSS, run_bn, &bn_scaled},
    {"batchnorm", "n2 15x15 x 128, 1000+U", CLNET_CHECK_CROSS, run_bn, &bn_off_l2},
    {"batchnorm", "n256 26x26 x 16, 1000+U", CLNET_CHECK_CROSS, run_bn, &bn_off_big},
    {"batchnorm", "rows 7 x 3, 1000+U", CLNET_CHECK_CROSS, run_bn, &bn_off_r7},
    {"batchnorm", "n2 4x4 x 512, 100+0.01U", CLNET_CHECK_CROSS, run_bn, &bn_off_tiny},
    {"batchnorm", "n2 15x15 x 128, PyTorch's eps and momentum", CLNET_CHECK_CROSS, run_bn, &bn_pt_l2},
    {"batchnorm", "rows 7 x 3, PyTorch's", CLNET_CHECK_CROSS, run_bn, &bn_pt_r7},
    {"batchnorm", "rows 2 x 13, PyTorch's", CLNET_CHECK_CROSS, run_bn, &bn_pt_r2},
    {"batchnorm", "rows 1 x 64, PyTorch's (var 0)", CLNET_CHECK_CROSS, run_bn, &bn_pt_r1},
    {"batchnorm", "n256 7x7 x 16, 1000+U, PyTorch's", CLNET_CHECK_CROSS, run_bn, &bn_pt_off},
    {"batchnorm", "rows 7 x 3, momentum 0 (moving = batch)", CLNET_CHECK_CROSS, run_bn, &bn_m0},
    {"batchnorm", "rows 7 x 3, momentum 1 (moving frozen)", CLNET_CHECK_CROSS, run_bn, &bn_m1},
    {"batchnorm_backward", "rows 7 x 3", CLNET_CHECK_GRAD, run_bn_grad, &bng_7},
    {"batchnorm_backward", "rows 13 x 1", CLNET_CHECK_GRAD, run_bn_grad, &bng_13},
    {"batchnorm_backward", "rows 1 x 2 (var 0)", CLNET_CHECK_GRAD, run_bn_grad, &bng_1},
    {"batchnorm_backward", "n2 4x4 x 5", CLNET_CHECK_GRAD, run_bn_grad, &bng_32},
    {"batchnorm_backward", "rows 13 x 2, 3+0.5U", CLNET_CHECK_GRAD, run_bn_grad, &bng_off},
    {"batchnorm_backward", "rows 7 x 3, PyTorch's eps", CLNET_CHECK_GRAD, run_bn_grad, &bng_pt},
    {0},
};
