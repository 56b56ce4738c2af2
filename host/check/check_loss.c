/* Check cases: softmax cross-entropy on logits (N, K), mean over the batch.
 *
 * Tolerances (u = 2^-24, |logit| <= Z, rtol = 0):
 *   dlogits = (p - onehot)/N with p = exp(z - m)/s. The float kernel's p has a
 *   relative error of at most ~(K + 12)u (exp <= 3 ulp, the K-term sum s,
 *   the division; the rounding of z - m, up to 2Z*u in the exponent, is
 *   harmless because it scales p*|z - m| <= 1/e), so |error| <= (K + 14)u/N;
 *   we allow 2x: atol = 2(K + 16)u / N.
 *   result[0] (mean loss): each row's loss log(s) - (z_l - m) is bounded by
 *   2Z + log K, and its float evaluation is off by at most u(2Z + log K + K + 8)
 *   = u*S; the N row losses are then summed in float in a fixed order, whose
 *   rounding grows like a random walk, so atol = (4 sqrt(N) + 8) u S.
 *   result[1] (correct count): must be identical (checked separately, exactly).
 *   A second device run must give a bit-identical result (determinism).
 * Label smoothing s: the row loss adds (s/K) times a K-term float sum of
 * terms <= 2Z and one product, so S grows by 2Z + K + 4; the targets are
 * rounded once to float, one more u/N for dlogits.
 * Shapes: N in {1, 2, 7, 13, 256, 3001} x K in {10, 1, 13}, and K = 100 and
 * 1000 (any number of classes), logits U(-3, 3);
 * large logits +-80 and +-1000 (float exp overflows beyond 88: proves the max
 * subtraction); integer logits in {0, 1, 2} for argmax ties (first maximum
 * wins); labels outside [0, K) (-1, K, INT_MAX, INT_MIN): those rows give a
 * NaN loss and NaN dlogits, and never an out-of-bounds read.
 *
 * Gradient checks (double reference): L = mean loss, dL/dlogits by central
 * differences, h = 1e-4. Truncation h^2/6 |L'''| <= 2e-9/N, rounding
 * 1e-16 |L| / h <= 2e-10 for |L| <= 200: atol 1e-8, rtol 1e-6. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check/harness.h"
#include "graph/layer_kind.h"

enum { LABELS_VALID = 0, LOGITS_TIES = 1, LABELS_INVALID = 2 };

typedef struct {
  int32_t n, k;
  float zmax; /* logits U(-zmax, zmax) */
  int32_t mode;
  float smoothing; /* label smoothing s */
} xent_params;

static void fill_inputs(clnet_check_env *env, const xent_params *p, float *z, int32_t *labels) {
  const int64_t nk = (int64_t)p->n * p->k;
  for (int64_t i = 0; i < nk; ++i)
    z[i] = p->mode == LOGITS_TIES ? (float)clnet_rng_below(&env->rng, 3)
                                  : -p->zmax + 2 * p->zmax * clnet_rng_uniform(&env->rng);
  const int32_t bad[] = {-1, p->k, INT_MAX, INT_MIN}; /* every third row when LABELS_INVALID */
  for (int32_t r = 0; r < p->n; ++r) {
    labels[r] = (int32_t)clnet_rng_below(&env->rng, (uint32_t)p->k);
    if (p->mode == LABELS_INVALID && r % 3 == 0) labels[r] = bad[(r / 3) % 4];
  }
}

static clnet_status run_xent(clnet_check_env *env, const void *pp) {
  const xent_params *p = pp;
  const int64_t nk = (int64_t)p->n * p->k;
  const double u = ldexp(1.0, -24), zmax = p->mode == LOGITS_TIES ? 2 : p->zmax;
  const double sm = p->smoothing;
  /* smoothing adds (s/K) times a K-term float sum of terms <= 2Z, and (1 - s) one more product */
  const double S = 2 * zmax + log((double)p->k) + p->k + 8 + (sm > 0 ? 2 * zmax + p->k + 4 : 0);
  check_tensor z, lab, dz, res;
  check_tensor *all[] = {&z, &lab, &dz, &res};
  for (size_t i = 0; i < 4; ++i) all[i]->host = NULL;
  const int64_t n_fill = nk > 2 ? nk : 2; /* also fills the 2-float result */
  float *nan_fill = malloc((size_t)n_fill * sizeof *nan_fill);
  clnet_status st = CLNET_SUCCESS;
  if (!nan_fill) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "softmax_xent check");
    goto out;
  }
  CLNET_TRY_GOTO(check_tensor_init(env, &z, nk, 4, "logits"), st, out);    /* (N, K) */
  CLNET_TRY_GOTO(check_tensor_init(env, &lab, p->n, 4, "labels"), st, out); /* (N) int32 */
  CLNET_TRY_GOTO(check_tensor_init(env, &dz, nk, 4, "dlogits"), st, out);   /* (N, K) */
  CLNET_TRY_GOTO(check_tensor_init(env, &res, 2, 4, "result"), st, out);    /* (2) */
  fill_inputs(env, p, z.host, lab.host);
  CLNET_TRY_GOTO(check_tensor_set(env, &z, z.host), st, out);
  CLNET_TRY_GOTO(check_tensor_set(env, &lab, lab.host), st, out);
  /* NaN-filled outputs: every element must be overwritten */
  for (int64_t i = 0; i < n_fill; ++i) nan_fill[i] = NAN;
  CLNET_TRY_GOTO(check_tensor_set(env, &dz, nan_fill), st, out);
  CLNET_TRY_GOTO(check_tensor_set(env, &res, nan_fill), st, out);

  if (sm > 0) {
    CLNET_TRY_GOTO(clnet_softmax_xent_smoothed(env->dev, p->n, p->k, p->smoothing, &z.dev, &lab.dev, &dz.dev, &res.dev),
                   st, out);
    CLNET_TRY_GOTO(clnet_softmax_xent_smoothed(env->ref, p->n, p->k, p->smoothing, &z.ref, &lab.ref, &dz.ref, &res.ref),
                   st, out);
  } else {
    CLNET_TRY_GOTO(clnet_softmax_xent(env->dev, p->n, p->k, &z.dev, &lab.dev, &dz.dev, &res.dev), st, out);
    CLNET_TRY_GOTO(clnet_softmax_xent(env->ref, p->n, p->k, &z.ref, &lab.ref, &dz.ref, &res.ref), st, out);
  }
  /* the targets on and off are rounded once to float: one more u/N */
  CLNET_TRY_GOTO(check_compare(env, &dz, 2 * (p->k + 16 + (sm > 0)) * u / p->n, 0), st, out);
  CLNET_TRY_GOTO(check_compare(env, &res, (4 * sqrt((double)p->n) + 8) * u * S, 0), st, out);

  /* The correct count exactly; and the reference's own invariants. */
  float rd[2], rr[2];
  CLNET_TRY_GOTO(clnet_buf_read(env->dev, &res.dev, 0, sizeof rd, rd), st, out);
  CLNET_TRY_GOTO(clnet_buf_read(env->ref, &res.ref, 0, sizeof rr, rr), st, out);
  if (rd[1] != rr[1]) check_fail(env, "result[1] (correct count): got %.1f, reference %.1f", rd[1], rr[1]);
  /* Deterministic: a second run on the device gives bit-identical results; without smoothing
   * through clnet_softmax_xent_smoothed at s = 0, which must be the plain loss bit for bit. */
  float rd2[2];
  CLNET_TRY_GOTO(clnet_buf_read(env->dev, &dz.dev, 0, (size_t)nk * 4, nan_fill), st, out);
  CLNET_TRY_GOTO(clnet_softmax_xent_smoothed(env->dev, p->n, p->k, p->smoothing, &z.dev, &lab.dev, &dz.dev, &res.dev),
                 st, out);
  CLNET_TRY_GOTO(clnet_buf_read(env->dev, &res.dev, 0, sizeof rd2, rd2), st, out);
  if (memcmp(rd, rd2, sizeof rd) != 0)
    check_fail(env, "not deterministic: result (%.9g, %g) then (%.9g, %g)", rd[0], rd[1], rd2[0], rd2[1]);
  {
    float *dz2 = malloc((size_t)nk * sizeof *dz2);
    if (!dz2) {
      st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "softmax_xent check");
      goto out;
    }
    st = clnet_buf_read(env->dev, &dz.dev, 0, (size_t)nk * 4, dz2);
    if (st == CLNET_SUCCESS && memcmp(nan_fill, dz2, (size_t)nk * 4) != 0)
      check_fail(env, "dlogits differ between two runs%s", sm > 0 ? "" : " (plain, and smoothed at s = 0)");
    free(dz2);
    if (st != CLNET_SUCCESS) goto out;
  }
  if (!(rr[1] >= 0 && rr[1] <= p->n && rr[1] == floorf(rr[1])))
    check_fail(env, "reference correct count %g is not an integer in [0, %d]", rr[1], p->n);
  if (p->mode == LABELS_INVALID && !isnan(rr[0]))
    check_fail(env, "invalid labels: the reference loss is %g, expected NaN", rr[0]);
  if (p->mode != LABELS_INVALID && !(rr[0] >= 0 && isfinite(rr[0])))
    check_fail(env, "reference mean loss %g is not finite and >= 0", rr[0]);
out:
  free(nan_fill);
  for (size_t i = 0; i < 4; ++i)
    if (all[i]->host) check_tensor_free(env, all[i]);
  return st;
}

/* ---- gradient check on the double reference ---- */
typedef struct {
  int32_t n, k;
  double *z, *dz; /* (N, K) */
  int32_t *labels; /* (N) */
  float smoothing;
} xent_grad_state;

static double xent_loss(void *u) {
  xent_grad_state *s = u;
  double result[2];
  clnet_ref64_softmax_xent(s->n, s->k, s->smoothing, s->z, s->labels, s->dz, result);
  return result[0];
}

static clnet_status run_xent_grad(clnet_check_env *env, const void *pp) {
  const xent_params *p = pp;
  const int64_t nk = (int64_t)p->n * p->k, max_n = 200;
  xent_grad_state s = {p->n, p->k, check_alloc_f64(nk), check_alloc_f64(nk), malloc((size_t)p->n * 4), p->smoothing};
  double *dz = check_alloc_f64(nk), *num = check_alloc_f64(max_n), res[2];
  float *zf = malloc((size_t)nk * sizeof *zf);
  int64_t *idx = malloc((size_t)max_n * sizeof *idx);
  clnet_status st = CLNET_SUCCESS;
  if (!s.z || !s.dz || !s.labels || !dz || !num || !zf || !idx) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "softmax_xent gradcheck");
    goto out;
  }
  fill_inputs(env, p, zf, s.labels);
  for (int64_t i = 0; i < nk; ++i) s.z[i] = zf[i];
  clnet_ref64_softmax_xent(p->n, p->k, p->smoothing, s.z, s.labels, dz, res);
  int64_t cnt = check_pick_indices(env, nk, max_n, idx);
  check_numeric_grad(s.z, idx, cnt, 1e-4, xent_loss, &s, num);
  check_grad_compare(env, "dlogits", dz, idx, num, NULL, cnt, 1e-8, 1e-6);
out:
  free(s.z);
  free(s.dz);
  free(s.labels);
  free(dz);
  free(num);
  free(zf);
  free(idx);
  return st;
}

/* The kind through its descriptor: labels in [0, K), logits U(-1, 1) (Z = 1): the mean loss's
 * tolerance above with smoothing's terms (it also covers dlogits') */
typedef struct {
  const char *attrs;
  int32_t n, k;
} xent_layer_case;

static clnet_status run_xent_layer(clnet_check_env *env, const void *pp) {
  const xent_layer_case *c = pp;
  const clnet_tshape in = {1, 1, c->k};
  const double u = ldexp(1.0, -24), S = 2 + log((double)c->k) + c->k + 8 + 2 + c->k + 4;
  return check_layer(env, "softmax_cross_entropy", c->attrs, &in, 1, c->n, (4 * sqrt((double)c->n) + 8) * u * S, 0);
}

#define XP(n, k, z, mode) (&(const xent_params){n, k, z, mode, 0})
#define XS(n, k, z, mode, s) (&(const xent_params){n, k, z, mode, s})

const clnet_check_case clnet_check_cases_loss[] = {
    {"softmax_xent", "n1 k10", CLNET_CHECK_CROSS, run_xent, XP(1, 10, 3, LABELS_VALID)},
    {"softmax_xent", "n1 k1", CLNET_CHECK_CROSS, run_xent, XP(1, 1, 3, LABELS_VALID)},
    {"softmax_xent", "n1 k13", CLNET_CHECK_CROSS, run_xent, XP(1, 13, 3, LABELS_VALID)},
    {"softmax_xent", "n2 k10 (head)", CLNET_CHECK_CROSS, run_xent, XP(2, 10, 3, LABELS_VALID)},
    {"softmax_xent", "n7 k10", CLNET_CHECK_CROSS, run_xent, XP(7, 10, 3, LABELS_VALID)},
    {"softmax_xent", "n7 k1", CLNET_CHECK_CROSS, run_xent, XP(7, 1, 3, LABELS_VALID)},
    {"softmax_xent", "n7 k13", CLNET_CHECK_CROSS, run_xent, XP(7, 13, 3, LABELS_VALID)},
    {"softmax_xent", "n13 k10", CLNET_CHECK_CROSS, run_xent, XP(13, 10, 3, LABELS_VALID)},
    {"softmax_xent", "n13 k1", CLNET_CHECK_CROSS, run_xent, XP(13, 1, 3, LABELS_VALID)},
    {"softmax_xent", "n13 k13", CLNET_CHECK_CROSS, run_xent, XP(13, 13, 3, LABELS_VALID)},
    {"softmax_xent", "n256 k10 (head, train batch)", CLNET_CHECK_CROSS, run_xent, XP(256, 10, 3, LABELS_VALID)},
    {"softmax_xent", "n256 k1", CLNET_CHECK_CROSS, run_xent, XP(256, 1, 3, LABELS_VALID)},
    {"softmax_xent", "n256 k13", CLNET_CHECK_CROSS, run_xent, XP(256, 13, 3, LABELS_VALID)},
    {"softmax_xent", "n3001 k10", CLNET_CHECK_CROSS, run_xent, XP(3001, 10, 3, LABELS_VALID)},
    {"softmax_xent", "n256 k10 logits +-80", CLNET_CHECK_CROSS, run_xent, XP(256, 10, 80, LABELS_VALID)},
    {"softmax_xent", "n13 k13 logits +-80", CLNET_CHECK_CROSS, run_xent, XP(13, 13, 80, LABELS_VALID)},
    {"softmax_xent", "n7 k10 logits +-1000", CLNET_CHECK_CROSS, run_xent, XP(7, 10, 1000, LABELS_VALID)},
    {"softmax_xent", "n256 k10 ties {0,1,2}", CLNET_CHECK_CROSS, run_xent, XP(256, 10, 2, LOGITS_TIES)},
    {"softmax_xent", "n13 k13 ties {0,1,2}", CLNET_CHECK_CROSS, run_xent, XP(13, 13, 2, LOGITS_TIES)},
    {"softmax_xent", "n13 k10 bad labels -> NaN", CLNET_CHECK_CROSS, run_xent, XP(13, 10, 3, LABELS_INVALID)},
    {"softmax_xent", "n7 k1000 (ImageNet)", CLNET_CHECK_CROSS, run_xent, XP(7, 1000, 3, LABELS_VALID)},
    {"softmax_xent", "n256 k100", CLNET_CHECK_CROSS, run_xent, XP(256, 100, 3, LABELS_VALID)},
    {"softmax_xent", "n256 k10 label smoothing 0.1", CLNET_CHECK_CROSS, run_xent, XS(256, 10, 3, LABELS_VALID, 0.1f)},
    {"softmax_xent", "n7 k13 label smoothing 0.3", CLNET_CHECK_CROSS, run_xent, XS(7, 13, 3, LABELS_VALID, 0.3f)},
    {"softmax_xent", "n1 k1 label smoothing 0.1", CLNET_CHECK_CROSS, run_xent, XS(1, 1, 3, LABELS_VALID, 0.1f)},
    {"softmax_xent", "n13 k1000 label smoothing 0.1", CLNET_CHECK_CROSS, run_xent, XS(13, 1000, 3, LABELS_VALID, 0.1f)},
    {"softmax_xent", "n13 k10 logits +-80 label smoothing 1", CLNET_CHECK_CROSS, run_xent,
     XS(13, 10, 80, LABELS_VALID, 1.0f)},
    {"softmax_xent", "n13 k13 ties label smoothing 0.1", CLNET_CHECK_CROSS, run_xent, XS(13, 13, 2, LOGITS_TIES, 0.1f)},
    {"softmax_xent", "n13 k10 bad labels label smoothing 0.1", CLNET_CHECK_CROSS, run_xent,
     XS(13, 10, 3, LABELS_INVALID, 0.1f)},
    {"layer softmax_cross_entropy", "n5 1x1x10 label smoothing 0.1", CLNET_CHECK_CROSS, run_xent_layer,
     &(const xent_layer_case){"label_smoothing=0.1", 5, 10}},
    {"layer softmax_cross_entropy", "n3 1x1x1000 label smoothing 0.2", CLNET_CHECK_CROSS, run_xent_layer,
     &(const xent_layer_case){"label_smoothing=0.2", 3, 1000}},
    {"layer softmax_cross_entropy", "n4 1x1x2", CLNET_CHECK_CROSS, run_xent_layer,
     &(const xent_layer_case){"", 4, 2}},
    {"softmax_xent", "n1 k10", CLNET_CHECK_GRAD, run_xent_grad, XP(1, 10, 3, LABELS_VALID)},
    {"softmax_xent", "n7 k13 label smoothing 0.1", CLNET_CHECK_GRAD, run_xent_grad, XS(7, 13, 3, LABELS_VALID, 0.1f)},
    {"softmax_xent", "n2 k1000 label smoothing 0.2 (sampled)", CLNET_CHECK_GRAD, run_xent_grad,
     XS(2, 1000, 3, LABELS_VALID, 0.2f)},
    {"softmax_xent", "n13 k10 logits +-80 label smoothing 0.5", CLNET_CHECK_GRAD, run_xent_grad,
     XS(13, 10, 80, LABELS_VALID, 0.5f)},
    {"softmax_xent", "n2 k10 (head)", CLNET_CHECK_GRAD, run_xent_grad, XP(2, 10, 3, LABELS_VALID)},
    {"softmax_xent", "n7 k13", CLNET_CHECK_GRAD, run_xent_grad, XP(7, 13, 3, LABELS_VALID)},
    {"softmax_xent", "n13 k1", CLNET_CHECK_GRAD, run_xent_grad, XP(13, 1, 3, LABELS_VALID)},
    {"softmax_xent", "n7 k10 logits +-80", CLNET_CHECK_GRAD, run_xent_grad, XP(7, 10, 80, LABELS_VALID)},
    {"softmax_xent", "n13 k10 ties {0,1,2}", CLNET_CHECK_GRAD, run_xent_grad, XP(13, 10, 2, LOGITS_TIES)},
    {"softmax_xent", "n256 k10 (sampled)", CLNET_CHECK_GRAD, run_xent_grad, XP(256, 10, 3, LABELS_VALID)},
    {0},
};
