/* Check cases: Adam update (Keras semantics), lr 1e-3, beta1 0.9, beta2 0.999, eps 1e-7.
 *
 * Cross-checks run T steps from m = v = 0 (t = 1..T, a new gradient
 * U(-G, G) each step; parameters U(-1, 1)) on the device and on the float
 * reference independently, then compare p, m, v. Tolerances (u = 2^-24):
 *   m: each step m + (g - m)c1 rounds ~3 times on terms bounded by G, and an
 *      earlier difference shrinks by (1 - c1): atol = 4uGT.
 *   v: the same on g^2 <= G^2: atol = 4uG^2T.
 *   p: each step both sides round p (<= u|p| each, |p| < 2) and the update
 *      differs by a few tens of u relative; with m, v from zero and T <= 5,
 *      |m|/sqrt(v) <= sqrt(sum c1^2 beta1^2i / (c2 beta2^i)) < 8 and
 *      alpha_t <= lr, so |update| < 8 lr: atol = T(4u + 256u*lr).
 *   That is ~1e-3 of one step's update: a wrong constant, bias correction or
 *   operation order fails.
 * A warm-state case starts at t = 998 from m U(-0.3G, 0.3G), v U(0.5G^2, G^2)
 * (so |m|/sqrt(v) < 0.5) to exercise large t.
 * Counts 1, 7, 13, 1000003 and a ResNet-18 layer4 conv weight 3*3*512*512;
 * G = 1, 1e-3 (typical), and 1e-7 (sqrt(v) below eps, so eps matters).
 *
 * First-step check (analytic, run on the reference and on the device): from
 * m = v = 0 at t = 1, m = (1-b1)g and v = (1-b2)g^2, and alpha_1 =
 * lr sqrt(1-b2)/(1-b1), so the update is exactly
 *   p1 = p0 - lr * g / (|g| + eps/sqrt(1-b2))  ~=  p0 - lr*sign(g),
 * computed here in double from that closed form (not from the Adam code), with
 * g = +-10^U(-8, 0) and some g = 0. Tolerance: the float rounding of p1
 * (rtol 2u) plus a few tens of u relative on the update (atol 32u*lr). */
#include <math.h>
#include <stdlib.h>

#include "check/harness.h"

typedef struct {
  int64_t count;
  int32_t steps;
  double g; /* gradient scale G */
  int64_t t0; /* first step number; 1 = from m = v = 0 */
} adam_params;

static const clnet_adam_desc keras_adam = {1e-3f, 0.9f, 0.999f, 1e-7f, 0};

static clnet_status run_adam(clnet_check_env *env, const void *pp) {
  const adam_params *p = pp;
  const int64_t n = p->count;
  const double u = ldexp(1.0, -24), G = p->g, T = p->steps;
  check_tensor prm, g, m, v;
  check_tensor *all[] = {&prm, &g, &m, &v};
  for (size_t i = 0; i < 4; ++i) all[i]->host = NULL;
  clnet_status st;
  CLNET_TRY_GOTO(check_tensor_init(env, &prm, n, 4, "param"), st, out); /* (count) */
  CLNET_TRY_GOTO(check_tensor_init(env, &g, n, 4, "grad"), st, out);   /* (count) */
  CLNET_TRY_GOTO(check_tensor_init(env, &m, n, 4, "m"), st, out);      /* (count) */
  CLNET_TRY_GOTO(check_tensor_init(env, &v, n, 4, "v"), st, out);      /* (count) */
  CLNET_TRY_GOTO(check_tensor_uniform(env, &prm, -1, 1), st, out);
  if (p->t0 > 1) { /* warm state */
    CLNET_TRY_GOTO(check_tensor_uniform(env, &m, (float)(-0.3 * G), (float)(0.3 * G)), st, out);
    CLNET_TRY_GOTO(check_tensor_uniform(env, &v, (float)(0.5 * G * G), (float)(G * G)), st, out);
  }
  for (int32_t s = 0; s < p->steps; ++s) {
    clnet_adam_desc d = keras_adam;
    d.t = p->t0 + s;
    CLNET_TRY_GOTO(check_tensor_uniform(env, &g, (float)-G, (float)G), st, out);
    CLNET_TRY_GOTO(clnet_adam_update(env->dev, &d, n, &prm.dev, &g.dev, &m.dev, &v.dev), st, out);
    CLNET_TRY_GOTO(clnet_adam_update(env->ref, &d, n, &prm.ref, &g.ref, &m.ref, &v.ref), st, out);
  }
  CLNET_TRY_GOTO(check_compare(env, &m, 4 * u * G * T, 0), st, out);
  CLNET_TRY_GOTO(check_compare(env, &v, 4 * u * G * G * T, 0), st, out);
  CLNET_TRY_GOTO(check_compare(env, &prm, T * (4 * u + 256 * u * keras_adam.lr), 0), st, out);
out:
  for (size_t i = 0; i < 4; ++i)
    if (all[i]->host) check_tensor_free(env, all[i]);
  return st;
}

/* One Adam step from m = v = 0 on `ctx`, compared with the closed form. */
static clnet_status first_step_on(clnet_check_env *env, clnet_ctx *ctx, int64_t n, const float *p0, const float *g,
                                  const double *expect, const int64_t *idx, const char *name) {
  clnet_buf prm = {0}, gb = {0}, m = {0}, v = {0};
  float *p1 = malloc((size_t)n * sizeof *p1);
  double *p1d = check_alloc_f64(n);
  clnet_status st = CLNET_SUCCESS;
  if (!p1 || !p1d) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "adam first-step check");
    goto out;
  }
  const size_t bytes = (size_t)n * 4;
  CLNET_TRY_GOTO(clnet_buf_alloc(ctx, bytes, "adam param", &prm), st, out);
  CLNET_TRY_GOTO(clnet_buf_alloc(ctx, bytes, "adam grad", &gb), st, out);
  CLNET_TRY_GOTO(clnet_buf_alloc(ctx, bytes, "adam m", &m), st, out);
  CLNET_TRY_GOTO(clnet_buf_alloc(ctx, bytes, "adam v", &v), st, out);
  CLNET_TRY_GOTO(clnet_buf_write(ctx, &prm, 0, bytes, p0), st, out);
  CLNET_TRY_GOTO(clnet_buf_write(ctx, &gb, 0, bytes, g), st, out);
  CLNET_TRY_GOTO(clnet_buf_fill(ctx, &m, 0, bytes, 0), st, out);
  CLNET_TRY_GOTO(clnet_buf_fill(ctx, &v, 0, bytes, 0), st, out);
  clnet_adam_desc d = keras_adam;
  d.t = 1;
  CLNET_TRY_GOTO(clnet_adam_update(ctx, &d, n, &prm, &gb, &m, &v), st, out);
  CLNET_TRY_GOTO(clnet_buf_read(ctx, &prm, 0, bytes, p1), st, out);
  for (int64_t i = 0; i < n; ++i) p1d[i] = p1[i];
  const double u = ldexp(1.0, -24);
  check_grad_compare(env, name, p1d, idx, expect, NULL, n, 32 * u * keras_adam.lr, 2 * u);
out:
  clnet_buf_free(ctx, &prm);
  clnet_buf_free(ctx, &gb);
  clnet_buf_free(ctx, &m);
  clnet_buf_free(ctx, &v);
  free(p1);
  free(p1d);
  return st;
}

static clnet_status run_adam_first_step(clnet_check_env *env, const void *pp) {
  const int64_t n = ((const adam_params *)pp)->count;
  float *p0 = malloc((size_t)n * sizeof *p0), *g = malloc((size_t)n * sizeof *g);
  double *expect = check_alloc_f64(n);
  int64_t *idx = malloc((size_t)n * sizeof *idx);
  clnet_status st = CLNET_SUCCESS;
  if (!p0 || !g || !expect || !idx) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "adam first-step check");
    goto out;
  }
  const double lr = keras_adam.lr, c2 = 1.0 - (double)keras_adam.beta2, eps = keras_adam.eps;
  for (int64_t i = 0; i < n; ++i) {
    idx[i] = i;
    p0[i] = -1 + 2 * clnet_rng_uniform(&env->rng);
    const float mag = (float)pow(10.0, -8 + 8 * clnet_rng_uniform_double(&env->rng));
    g[i] = i % 5 == 4 ? 0.0f : clnet_rng_below(&env->rng, 2) ? mag : -mag;
    /* m1/sqrt(v1) = (1-b1) g / (sqrt(1-b2)|g|): the first step moves p by ~lr*sign(g) */
    expect[i] = (double)p0[i] - lr * (double)g[i] / (fabs((double)g[i]) + eps / sqrt(c2));
  }
  CLNET_TRY_GOTO(first_step_on(env, env->ref, n, p0, g, expect, idx, "p (reference)"), st, out);
  CLNET_TRY_GOTO(first_step_on(env, env->dev, n, p0, g, expect, idx, "p (device)"), st, out);
out:
  free(p0);
  free(g);
  free(expect);
  free(idx);
  return st;
}

#define AP(count, steps, g, t0) (&(const adam_params){count, steps, g, t0})

const clnet_check_case clnet_check_cases_adam[] = {
    {"adam_update", "1 t1..5 G1", CLNET_CHECK_CROSS, run_adam, AP(1, 5, 1, 1)},
    {"adam_update", "7 t1..5 G1", CLNET_CHECK_CROSS, run_adam, AP(7, 5, 1, 1)},
    {"adam_update", "13 t1..5 G1e-3", CLNET_CHECK_CROSS, run_adam, AP(13, 5, 1e-3, 1)},
    {"adam_update", "13 t1..5 G1e-7 (eps regime)", CLNET_CHECK_CROSS, run_adam, AP(13, 5, 1e-7, 1)},
    {"adam_update", "1000003 t1..5 G1e-3", CLNET_CHECK_CROSS, run_adam, AP(1000003, 5, 1e-3, 1)},
    {"adam_update", "3x3x512x512 t1..5 G1e-3", CLNET_CHECK_CROSS, run_adam, AP(3 * 3 * 512 * 512, 5, 1e-3, 1)},
    {"adam_update", "1000003 t998..1000 warm G1", CLNET_CHECK_CROSS, run_adam, AP(1000003, 3, 1, 998)},
    {"adam_update", "first step = lr*sign(g), 13", CLNET_CHECK_GRAD, run_adam_first_step, AP(13, 1, 0, 1)},
    {"adam_update", "first step = lr*sign(g), 100003", CLNET_CHECK_GRAD, run_adam_first_step,
     AP(100003, 1, 0, 1)},
    {0},
};
