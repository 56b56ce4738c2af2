/* Check cases: ReLU, residual add, accumulate.
 * Tolerance: these are single float ops computed identically on both sides,
 * so results must agree exactly (atol = rtol = 0). */
#include <math.h>
#include <stdlib.h>

#include "check/harness.h"

typedef struct { int64_t count; } eltwise_params;

static clnet_status run_relu(clnet_check_env *env, const void *p) {
  int64_t n = ((const eltwise_params *)p)->count;
  check_tensor x, y, dy, dx;
  CLNET_TRY(check_tensor_init(env, &x, n, 4, "x"));
  CLNET_TRY(check_tensor_init(env, &y, n, 4, "y"));
  CLNET_TRY(check_tensor_init(env, &dy, n, 4, "dy"));
  CLNET_TRY(check_tensor_init(env, &dx, n, 4, "dx"));
  clnet_status st;
  CLNET_TRY_GOTO(check_tensor_uniform(env, &x, -1, 1), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &dy, -1, 1), st, out);
  CLNET_TRY_GOTO(clnet_relu_forward(env->dev, n, &x.dev, &y.dev), st, out);
  CLNET_TRY_GOTO(clnet_relu_forward(env->ref, n, &x.ref, &y.ref), st, out);
  CLNET_TRY_GOTO(clnet_relu_backward(env->dev, n, &y.dev, &dy.dev, &dx.dev), st, out);
  CLNET_TRY_GOTO(clnet_relu_backward(env->ref, n, &y.ref, &dy.ref, &dx.ref), st, out);
  CLNET_TRY_GOTO(check_compare(env, &y, 0, 0), st, out);
  CLNET_TRY_GOTO(check_compare(env, &dx, 0, 0), st, out);
out:
  check_tensor_free(env, &x);
  check_tensor_free(env, &y);
  check_tensor_free(env, &dy);
  check_tensor_free(env, &dx);
  return st;
}

static clnet_status run_add(clnet_check_env *env, const void *p) {
  int64_t n = ((const eltwise_params *)p)->count;
  check_tensor a, b, y;
  CLNET_TRY(check_tensor_init(env, &a, n, 4, "a"));
  CLNET_TRY(check_tensor_init(env, &b, n, 4, "b"));
  CLNET_TRY(check_tensor_init(env, &y, n, 4, "y"));
  clnet_status st;
  CLNET_TRY_GOTO(check_tensor_uniform(env, &a, -1, 1), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &b, -1, 1), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &y, -1, 1), st, out);
  CLNET_TRY_GOTO(clnet_add_forward(env->dev, n, &a.dev, &b.dev, &y.dev), st, out);
  CLNET_TRY_GOTO(clnet_add_forward(env->ref, n, &a.ref, &b.ref, &y.ref), st, out);
  CLNET_TRY_GOTO(check_compare(env, &y, 0, 0), st, out);
  /* accumulate: b += a, then compare b */
  CLNET_TRY_GOTO(clnet_accumulate(env->dev, n, &a.dev, &b.dev), st, out);
  CLNET_TRY_GOTO(clnet_accumulate(env->ref, n, &a.ref, &b.ref), st, out);
  b.name = "b (accumulated)";
  CLNET_TRY_GOTO(check_compare(env, &b, 0, 0), st, out);
out:
  check_tensor_free(env, &a);
  check_tensor_free(env, &b);
  check_tensor_free(env, &y);
  return st;
}

/* Gradient check of ReLU on the double reference: L = <dy, relu(x)>; inputs
 * closer than 2h to the kink at 0 are masked. */
static void relu_grad_forward(check_unary_grad *g) { clnet_ref64_relu_forward(g->in, g->x, g->y); }
static void relu_grad_backward(check_unary_grad *g, double *dx) { clnet_ref64_relu_backward(g->in, g->y, g->dy, dx); }
static int32_t relu_grad_skip(check_unary_grad *g, int64_t i) { return fabs(g->x[i]) < 2 * g->h; }

static clnet_status run_relu_grad(clnet_check_env *env, const void *p) {
  const int64_t n = ((const eltwise_params *)p)->count;
  check_unary_grad g = {.what = "relu gradcheck", .in = n, .out = n, .max_samples = n, .h = 1e-6, .atol = 1e-8,
                        .rtol = 1e-6, .forward = relu_grad_forward, .backward = relu_grad_backward,
                        .skip = relu_grad_skip};
  return check_unary_gradient(env, &g);
}

/* The flag: finite data leaves it 0; one NaN or Inf anywhere (first, last,
 * middle element) sets it, on both backends. Exact. */
static clnet_status run_nonfinite(clnet_check_env *env, const void *p) {
  int64_t n = ((const eltwise_params *)p)->count;
  check_tensor x, flag;
  CLNET_TRY(check_tensor_init(env, &x, n, 4, "x"));
  CLNET_TRY(check_tensor_init(env, &flag, 1, 4, "flag"));
  clnet_status st = CLNET_SUCCESS;
  const float bad[3] = {NAN, INFINITY, -INFINITY};
  for (int round = 0; round < 4 && st == CLNET_SUCCESS; ++round) {
    CLNET_TRY_GOTO(check_tensor_uniform(env, &x, -1e30f, 1e30f), st, out);
    if (round > 0) { /* rounds 1..3: one non-finite value at the start, end, middle */
      float *h = x.host;
      h[round == 1 ? 0 : round == 2 ? n - 1 : n / 2] = bad[round - 1];
      CLNET_TRY_GOTO(check_tensor_set(env, &x, x.host), st, out);
    }
    int32_t zero = 0;
    CLNET_TRY_GOTO(check_tensor_set(env, &flag, &zero), st, out);
    CLNET_TRY_GOTO(clnet_nonfinite_flag(env->dev, n, &x.dev, &flag.dev), st, out);
    CLNET_TRY_GOTO(clnet_nonfinite_flag(env->ref, n, &x.ref, &flag.ref), st, out);
    CLNET_TRY_GOTO(check_compare_ints(env, &flag), st, out);
    int32_t r = -1;
    CLNET_TRY_GOTO(clnet_buf_read(env->ref, &flag.ref, 0, 4, &r), st, out);
    if (r != (round > 0)) check_fail(env, "reference flag is %d in round %d", r, round);
  }
out:
  check_tensor_free(env, &x);
  check_tensor_free(env, &flag);
  return st;
}

static const eltwise_params n1 = {1}, n7 = {7}, n13 = {13}, n_odd = {64 * 30 * 30 * 2 + 3},
                            n_l4 = {2 * 4 * 4 * 512};

const clnet_check_case clnet_check_cases_eltwise[] = {
    {"relu", "1", CLNET_CHECK_CROSS, run_relu, &n1},
    {"relu", "7", CLNET_CHECK_CROSS, run_relu, &n7},
    {"relu", "13", CLNET_CHECK_CROSS, run_relu, &n13},
    {"relu", "n2 30x30x64 +3", CLNET_CHECK_CROSS, run_relu, &n_odd},
    {"relu", "n2 4x4x512", CLNET_CHECK_CROSS, run_relu, &n_l4},
    {"add+accumulate", "1", CLNET_CHECK_CROSS, run_add, &n1},
    {"add+accumulate", "13", CLNET_CHECK_CROSS, run_add, &n13},
    {"add+accumulate", "n2 30x30x64 +3", CLNET_CHECK_CROSS, run_add, &n_odd},
    {"nonfinite_flag", "1", CLNET_CHECK_CROSS, run_nonfinite, &n1},
    {"nonfinite_flag", "13", CLNET_CHECK_CROSS, run_nonfinite, &n13},
    {"nonfinite_flag", "n2 30x30x64 +3", CLNET_CHECK_CROSS, run_nonfinite, &n_odd},
    {"relu_backward", "13", CLNET_CHECK_GRAD, run_relu_grad, &n13},
    {"relu_backward", "n1 4x4x8", CLNET_CHECK_GRAD, run_relu_grad, &(const eltwise_params){128}},
    {0},
};
