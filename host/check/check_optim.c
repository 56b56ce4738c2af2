/* Check cases: AdamW and SGD with momentum (plain and Nesterov) over an arena whose first
 * decay_count elements are weight-decayed (cl/optim.cl).
 *
 * Cross-checks run T steps from zero state (a new gradient U(-G, G) each step, parameters
 * U(-1, 1)) on the device and on the float reference, then compare the parameters and the state.
 * Tolerances (u = 2^-24), as for Adam (check_adam.c): the moments round a few times per step on
 * terms bounded by G (m: 4uGT, v: 4uG^2T; the SGD buffer grows to at most G/(1 - mu), each step
 * rounding twice: 4uGT/(1 - mu)); parameters round once per step on both sides and the update
 * differs by a few tens of u relative: AdamW's step is at most 8 lr (|m|/sqrt(v) < 8 from zero
 * state, T <= 5), SGD's at most lr G (1 + 2/(1 - mu)): atol T(4u + 256u * step).
 *
 * First-step checks (analytic, in double from the closed form, not from the update code):
 *   AdamW from m = v = 0: m = (1-b1)g, v = (1-b2)g^2, so p1 = p0(1 - lr wd) - lr g/(|g| + eps);
 *   SGD from b = 0: b = g' = g + l2 p0, p1 = p0 - lr(g' + [nesterov] mu g') - lr wd p0;
 * decay applied to the first half of the elements only. Tolerance: p1's rounding (2u) and a few
 * tens of u on the update. */
#include <math.h>
#include <stdlib.h>

#include "check/harness.h"

typedef struct optim_params {
  int sgd;        /* 0 AdamW, 1 SGD */
  int nesterov;
  int64_t count, decay_count;
  int32_t steps;
  double g;       /* gradient scale G */
} optim_params;

static const clnet_adamw_desc adamw = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.05f};
static const clnet_sgd_desc sgd = {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 5e-4f, .l2 = 1e-4f};

static clnet_status step(clnet_ctx *ctx, const optim_params *p, int64_t t, check_tensor *prm, check_tensor *g,
                         check_tensor *m, check_tensor *v, int dev) {
  clnet_buf *P = dev ? &prm->dev : &prm->ref, *G = dev ? &g->dev : &g->ref, *M = dev ? &m->dev : &m->ref,
            *V = dev ? &v->dev : &v->ref;
  if (!p->sgd) {
    clnet_adamw_desc d = adamw;
    d.t = t;
    return clnet_adamw_update(ctx, &d, p->count, p->decay_count, P, G, M, V);
  }
  clnet_sgd_desc d = sgd;
  d.nesterov = p->nesterov;
  return clnet_sgd_update(ctx, &d, p->count, p->decay_count, P, G, M);
}

static clnet_status run_optim(clnet_check_env *env, const void *pp) {
  const optim_params *p = pp;
  const double u = ldexp(1.0, -24), G = p->g, T = p->steps;
  check_tensor prm, g, m, v;
  check_tensor *all[] = {&prm, &g, &m, &v};
  for (size_t i = 0; i < 4; ++i) all[i]->host = NULL;
  clnet_status st;
  CLNET_TRY_GOTO(check_tensor_init(env, &prm, p->count, 4, "param"), st, out);
  CLNET_TRY_GOTO(check_tensor_init(env, &g, p->count, 4, "grad"), st, out);
  CLNET_TRY_GOTO(check_tensor_init(env, &m, p->count, 4, p->sgd ? "momentum buffer" : "m"), st, out);
  CLNET_TRY_GOTO(check_tensor_init(env, &v, p->count, 4, "v"), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &prm, -1, 1), st, out);
  for (int32_t s = 0; s < p->steps; ++s) {
    CLNET_TRY_GOTO(check_tensor_uniform(env, &g, (float)-G, (float)G), st, out);
    CLNET_TRY_GOTO(step(env->dev, p, 1 + s, &prm, &g, &m, &v, 1), st, out);
    CLNET_TRY_GOTO(step(env->ref, p, 1 + s, &prm, &g, &m, &v, 0), st, out);
  }
  if (p->sgd) {
    const double mu = sgd.momentum;
    CLNET_TRY_GOTO(check_compare(env, &m, 4 * u * (G + 1e-4) * T / (1 - mu), 0), st, out);
    CLNET_TRY_GOTO(check_compare(env, &prm, T * (4 * u + 256 * u * sgd.lr * (G + 1e-4) * (1 + 2 / (1 - mu))), 0), st, out);
  } else {
    CLNET_TRY_GOTO(check_compare(env, &m, 4 * u * G * T, 0), st, out);
    CLNET_TRY_GOTO(check_compare(env, &v, 4 * u * G * G * T, 0), st, out);
    CLNET_TRY_GOTO(check_compare(env, &prm, T * (4 * u + 256 * u * 8 * adamw.lr), 0), st, out);
  }
out:
  for (size_t i = 0; i < 4; ++i)
    if (all[i]->host) check_tensor_free(env, all[i]);
  return st;
}

/* One step from zero state on ctx, compared with the closed form `expect`. */
static clnet_status first_step_on(clnet_check_env *env, clnet_ctx *ctx, const optim_params *p, const float *p0,
                                  const float *g, const double *expect, const int64_t *idx, const char *name,
                                  double atol) {
  const int64_t n = p->count;
  const size_t bytes = (size_t)n * 4;
  float *p1 = malloc(bytes);
  double *p1d = check_alloc_f64(n);
  clnet_buf b[4] = {{0}, {0}, {0}, {0}};
  clnet_status st = p1 && p1d ? CLNET_SUCCESS : clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "optimizer first step");
  for (int i = 0; i < 4 && st == CLNET_SUCCESS; ++i) {
    st = clnet_buf_alloc(ctx, bytes, "optimizer check", &b[i]);
    if (st == CLNET_SUCCESS) st = clnet_buf_fill(ctx, &b[i], 0, bytes, 0);
  }
  if (st == CLNET_SUCCESS) st = clnet_buf_write(ctx, &b[0], 0, bytes, p0);
  if (st == CLNET_SUCCESS) st = clnet_buf_write(ctx, &b[1], 0, bytes, g);
  if (st == CLNET_SUCCESS) {
    if (p->sgd) {
      clnet_sgd_desc d = sgd;
      d.nesterov = p->nesterov;
      st = clnet_sgd_update(ctx, &d, n, p->decay_count, &b[0], &b[1], &b[2]);
    } else {
      clnet_adamw_desc d = adamw;
      d.t = 1;
      st = clnet_adamw_update(ctx, &d, n, p->decay_count, &b[0], &b[1], &b[2], &b[3]);
    }
  }
  if (st == CLNET_SUCCESS) st = clnet_buf_read(ctx, &b[0], 0, bytes, p1);
  if (st == CLNET_SUCCESS) {
    for (int64_t i = 0; i < n; ++i) p1d[i] = p1[i];
    check_grad_compare(env, name, p1d, idx, expect, NULL, n, atol, 2 * ldexp(1.0, -24));
  }
  for (int i = 0; i < 4; ++i) clnet_buf_free(ctx, &b[i]);
  free(p1);
  free(p1d);
  return st;
}

static clnet_status run_first_step(clnet_check_env *env, const void *pp) {
  const optim_params *p = pp;
  const int64_t n = p->count;
  float *p0 = malloc((size_t)n * sizeof *p0), *g = malloc((size_t)n * sizeof *g);
  double *expect = check_alloc_f64(n);
  int64_t *idx = malloc((size_t)n * sizeof *idx);
  clnet_status st = CLNET_SUCCESS;
  if (!p0 || !g || !expect || !idx) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "optimizer first-step check");
    goto out;
  }
  const double u = ldexp(1.0, -24);
  double atol;
  for (int64_t i = 0; i < n; ++i) {
    idx[i] = i;
    p0[i] = -1 + 2 * clnet_rng_uniform(&env->rng);
    const int decayed = i < p->decay_count;
    if (p->sgd) {
      g[i] = -1 + 2 * clnet_rng_uniform(&env->rng);
      const double gp = (double)g[i] + (decayed ? (double)sgd.l2 * p0[i] : 0);
      const double s = p->nesterov ? gp + (double)sgd.momentum * gp : gp;
      expect[i] = (double)p0[i] - (double)sgd.lr * s - (decayed ? (double)sgd.lr * sgd.weight_decay * p0[i] : 0);
    } else {
      const float mag = (float)pow(10.0, -6 + 6 * clnet_rng_uniform_double(&env->rng));
      g[i] = i % 5 == 4 ? 0.0f : clnet_rng_below(&env->rng, 2) ? mag : -mag;
      const double pd = decayed ? (double)p0[i] * (1 - (double)adamw.lr * adamw.weight_decay) : (double)p0[i];
      expect[i] = pd - (double)adamw.lr * (double)g[i] / (fabs((double)g[i]) + (double)adamw.eps);
    }
  }
  atol = 64 * u * (p->sgd ? sgd.lr * 2 : adamw.lr);
  CLNET_TRY_GOTO(first_step_on(env, env->ref, p, p0, g, expect, idx, "p (reference)", atol), st, out);
  CLNET_TRY_GOTO(first_step_on(env, env->dev, p, p0, g, expect, idx, "p (device)", atol), st, out);
out:
  free(p0);
  free(g);
  free(expect);
  free(idx);
  return st;
}

/* The weight average over T updates of x U(-1, 1) (decay 0.99: each update rounds twice, and an
 * FMA-contracted device may round once: atol 2uT), and a swap (exact). */
static clnet_status run_ema(clnet_check_env *env, const void *pp) {
  const int64_t n = ((const optim_params *)pp)->count;
  const int32_t T = ((const optim_params *)pp)->steps;
  check_tensor x, avg;
  clnet_status st;
  CLNET_TRY(check_tensor_init(env, &x, n, 4, "x"));
  CLNET_TRY_GOTO(check_tensor_init(env, &avg, n, 4, "average"), st, out_x);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &avg, -1, 1), st, out);
  for (int32_t s = 0; s < T; ++s) {
    CLNET_TRY_GOTO(check_tensor_uniform(env, &x, -1, 1), st, out);
    CLNET_TRY_GOTO(clnet_ema_update(env->dev, n, 0.99f, &x.dev, &avg.dev), st, out);
    CLNET_TRY_GOTO(clnet_ema_update(env->ref, n, 0.99f, &x.ref, &avg.ref), st, out);
  }
  CLNET_TRY_GOTO(check_compare(env, &avg, 2 * ldexp(1.0, -24) * T, 0), st, out);
  CLNET_TRY_GOTO(clnet_swap_buffers(env->dev, n, &x.dev, &avg.dev), st, out);
  CLNET_TRY_GOTO(clnet_swap_buffers(env->ref, n, &x.ref, &avg.ref), st, out);
  x.name = "x (swapped with the average)";
  CLNET_TRY_GOTO(check_compare(env, &x, 2 * ldexp(1.0, -24) * T, 0), st, out);
out:
  check_tensor_free(env, &avg);
out_x:
  check_tensor_free(env, &x);
  return st;
}

#define OP(sgd_, nest, count, decay, steps, g) (&(const optim_params){sgd_, nest, count, decay, steps, g})

const clnet_check_case clnet_check_cases_optim[] = {
    {"adamw_update", "1 t1..5 G1", CLNET_CHECK_CROSS, run_optim, OP(0, 0, 1, 1, 5, 1)},
    {"adamw_update", "13 (7 decayed) t1..5 G1e-3", CLNET_CHECK_CROSS, run_optim, OP(0, 0, 13, 7, 5, 1e-3)},
    {"adamw_update", "1000003 (500000 decayed) t1..5 G1e-3", CLNET_CHECK_CROSS, run_optim,
     OP(0, 0, 1000003, 500000, 5, 1e-3)},
    {"sgd_update", "momentum, 13 (7 decayed) t1..5 G1", CLNET_CHECK_CROSS, run_optim, OP(1, 0, 13, 7, 5, 1)},
    {"sgd_update", "nesterov, 1000003 (1000003 decayed) t1..5 G1e-2", CLNET_CHECK_CROSS, run_optim,
     OP(1, 1, 1000003, 1000003, 5, 1e-2)},
    {"sgd_update", "nesterov, 7 (none decayed) t1..5 G1", CLNET_CHECK_CROSS, run_optim, OP(1, 1, 7, 0, 5, 1)},
    {"adamw_update", "first step, 1001 (500 decayed)", CLNET_CHECK_GRAD, run_first_step, OP(0, 0, 1001, 500, 1, 0)},
    {"sgd_update", "first step, momentum, 1001 (500 decayed)", CLNET_CHECK_GRAD, run_first_step,
     OP(1, 0, 1001, 500, 1, 0)},
    {"sgd_update", "first step, nesterov, 1001 (500 decayed)", CLNET_CHECK_GRAD, run_first_step,
     OP(1, 1, 1001, 500, 1, 0)},
    {"ema_update", "13 x5, swap", CLNET_CHECK_CROSS, run_ema, OP(0, 0, 13, 0, 5, 0)},
    {"ema_update", "100003 x5, swap", CLNET_CHECK_CROSS, run_ema, OP(0, 0, 100003, 0, 5, 0)},
    {0},
};
