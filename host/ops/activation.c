/* The activation family, elementwise multiply, dropout: cl/activation.cl and
 * ops/ref/activation_ref.c. */
#include <math.h>
#include <stdio.h>

#include "ops/common.h"

static clnet_status launch_1d(clnet_ctx *ctx, const char *kernel, int64_t count, int32_t nargs,
                              const clnet_karg *args) {
  size_t global = (size_t)count, local = CLNET_WG_1D;
  return clnet_launch(ctx, "activation", kernel, 1, &global, &local, nargs, args);
}

/* The kernels of op in cl/activation.cl ("<name>_forward", "<name>_backward"); NULL if none. */
static const char *act_name(clnet_activation op) {
  switch (op) {
    case CLNET_ACT_CLIP: return "clip";
    case CLNET_ACT_LEAKY_RELU: return "leaky_relu";
    case CLNET_ACT_SIGMOID: return "sigmoid";
    case CLNET_ACT_TANH: return "tanh";
    case CLNET_ACT_SILU: return "silu";
    case CLNET_ACT_HARD_SWISH: return "hard_swish";
    case CLNET_ACT_HARD_SIGMOID: return "hard_sigmoid";
  }
  return NULL;
}

int clnet_activation_backward_reads_input(clnet_activation op) {
  return op == CLNET_ACT_SILU || op == CLNET_ACT_HARD_SWISH;
}

static clnet_status check_act(const char *what, const clnet_activation_desc *d, int64_t count) {
  if (!d || !act_name(d->op)) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: no such activation", what);
  return clnet_require_int_range(what, count);
}

clnet_status clnet_activation_forward(clnet_ctx *ctx, const clnet_activation_desc *d, int64_t count,
                                      const clnet_buf *x, clnet_buf *y) {
  CLNET_TRY(check_act("activation_forward", d, count));
  CLNET_TRY(clnet_require_buf("activation_forward", "x", x, count, 4));
  CLNET_TRY(clnet_require_buf("activation_forward", "y", y, count, 4));
  if (ctx->is_ref) {
    clnet_ref_activation_forward(d, count, CF32(x), F32(y));
    return CLNET_SUCCESS;
  }
  char kernel[64];
  snprintf(kernel, sizeof kernel, "%s_forward", act_name(d->op));
  clnet_karg a[] = {CLNET_ARG_I32(count), CLNET_ARG_F32(d->alpha), CLNET_ARG_F32(d->beta), CLNET_ARG_BUF(x),
                    CLNET_ARG_BUF(y)};
  return launch_1d(ctx, kernel, count, 5, a);
}

clnet_status clnet_activation_backward(clnet_ctx *ctx, const clnet_activation_desc *d, int64_t count,
                                       const clnet_buf *v, const clnet_buf *dy, clnet_buf *dx) {
  CLNET_TRY(check_act("activation_backward", d, count));
  CLNET_TRY(clnet_require_buf("activation_backward", clnet_activation_backward_reads_input(d->op) ? "x" : "y", v,
                              count, 4));
  CLNET_TRY(clnet_require_buf("activation_backward", "dy", dy, count, 4));
  CLNET_TRY(clnet_require_buf("activation_backward", "dx", dx, count, 4));
  if (ctx->is_ref) {
    clnet_ref_activation_backward(d, count, CF32(v), CF32(dy), F32(dx));
    return CLNET_SUCCESS;
  }
  char kernel[64];
  snprintf(kernel, sizeof kernel, "%s_backward", act_name(d->op));
  clnet_karg a[] = {CLNET_ARG_I32(count),  CLNET_ARG_F32(d->alpha), CLNET_ARG_F32(d->beta),
                    CLNET_ARG_BUF(v), CLNET_ARG_BUF(dy), CLNET_ARG_BUF(dx)};
  return launch_1d(ctx, kernel, count, 6, a);
}

static clnet_status check_mul(const char *what, int32_t n, int32_t hw, int32_t c) {
  if (n < 1 || hw < 1 || c < 1)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: shape %d x %d x %d", what, n, hw, c);
  return clnet_require_int_range(what, (int64_t)n * hw * c);
}

static clnet_status mul_launch(clnet_ctx *ctx, int32_t n, int32_t hw, int32_t c, int32_t bcast, const clnet_buf *a,
                               const clnet_buf *b, clnet_buf *y) {
  const int64_t count = (int64_t)n * hw * c;
  clnet_karg args[] = {CLNET_ARG_I32(count), CLNET_ARG_I32(hw * c), CLNET_ARG_I32(c), CLNET_ARG_I32(bcast != 0),
                       CLNET_ARG_BUF(a),     CLNET_ARG_BUF(b),      CLNET_ARG_BUF(y)};
  return launch_1d(ctx, "mul_forward", count, 7, args);
}

clnet_status clnet_mul_forward(clnet_ctx *ctx, int32_t n, int32_t hw, int32_t c, int32_t bcast, const clnet_buf *a,
                               const clnet_buf *b, clnet_buf *y) {
  CLNET_TRY(check_mul("mul_forward", n, hw, c));
  const int64_t count = (int64_t)n * hw * c;
  CLNET_TRY(clnet_require_buf("mul_forward", "a", a, count, 4));
  CLNET_TRY(clnet_require_buf("mul_forward", "b", b, bcast ? (int64_t)n * c : count, 4));
  CLNET_TRY(clnet_require_buf("mul_forward", "y", y, count, 4));
  if (ctx->is_ref) {
    clnet_ref_mul_forward(n, hw, c, bcast, CF32(a), CF32(b), F32(y));
    return CLNET_SUCCESS;
  }
  return mul_launch(ctx, n, hw, c, bcast, a, b, y);
}

clnet_status clnet_mul_backward(clnet_ctx *ctx, int32_t n, int32_t hw, int32_t c, int32_t bcast, const clnet_buf *a,
                                const clnet_buf *b, const clnet_buf *dy, clnet_buf *da, clnet_buf *db) {
  CLNET_TRY(check_mul("mul_backward", n, hw, c));
  const int64_t count = (int64_t)n * hw * c, bcount = bcast ? (int64_t)n * c : count;
  CLNET_TRY(clnet_require_buf("mul_backward", "a", a, count, 4));
  CLNET_TRY(clnet_require_buf("mul_backward", "b", b, bcount, 4));
  CLNET_TRY(clnet_require_buf("mul_backward", "dy", dy, count, 4));
  if (da) CLNET_TRY(clnet_require_buf("mul_backward", "da", da, count, 4));
  if (db) CLNET_TRY(clnet_require_buf("mul_backward", "db", db, bcount, 4));
  if (ctx->is_ref) {
    clnet_ref_mul_backward(n, hw, c, bcast, CF32(a), CF32(b), CF32(dy), da ? F32(da) : NULL, db ? F32(db) : NULL);
    return CLNET_SUCCESS;
  }
  if (da) CLNET_TRY(mul_launch(ctx, n, hw, c, bcast, dy, b, da));
  if (!db) return CLNET_SUCCESS;
  if (!bcast) return mul_launch(ctx, n, hw, c, 0, dy, a, db);
  clnet_karg args[] = {CLNET_ARG_I32(bcount), CLNET_ARG_I32(hw), CLNET_ARG_I32(c),
                       CLNET_ARG_BUF(a),      CLNET_ARG_BUF(dy), CLNET_ARG_BUF(db)};
  return launch_1d(ctx, "mul_bcast_grad", bcount, 6, args);
}

/* splitmix64's output function: a bijection of 64-bit words that mixes every bit. */
static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* The mask of d: a 64-bit key from (seed, step, salt), the threshold the hash must reach for a
 * drop probability of `rate` (threshold / 2^32), the kept elements' scale. */
static clnet_status dropout_consts(const char *what, const clnet_dropout_desc *d, int64_t count,
                                   clnet_dropout_consts *k) {
  if (!d || !(d->rate >= 0.0f && d->rate < 1.0f))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: rate %g is outside [0, 1)", what, d ? d->rate : 0.0);
  CLNET_TRY(clnet_require_int_range(what, count));
  const uint64_t key = mix64(mix64(mix64(d->seed ^ 0x9e3779b97f4a7c15ull) + d->step) + d->salt);
  const double t = ceil((double)d->rate * 4294967296.0);
  *k = (clnet_dropout_consts){.key0 = (uint32_t)key, .key1 = (uint32_t)(key >> 32),
                              .threshold = t >= 4294967295.0 ? 0xffffffffu : (uint32_t)t,
                              .scale = (float)(1.0 / (1.0 - (double)d->rate))};
  return CLNET_SUCCESS;
}

static clnet_status dropout_run(clnet_ctx *ctx, const char *what, const clnet_dropout_desc *d, int64_t count,
                                const clnet_buf *x, clnet_buf *y) {
  clnet_dropout_consts k;
  CLNET_TRY(dropout_consts(what, d, count, &k));
  CLNET_TRY(clnet_require_buf(what, "input", x, count, 4));
  CLNET_TRY(clnet_require_buf(what, "output", y, count, 4));
  if (ctx->is_ref) {
    clnet_ref_dropout_apply(&k, count, CF32(x), F32(y));
    return CLNET_SUCCESS;
  }
  clnet_karg a[] = {CLNET_ARG_I32(count),       CLNET_ARG_I32(k.key0), CLNET_ARG_I32(k.key1),
                    CLNET_ARG_I32(k.threshold), CLNET_ARG_F32(k.scale), CLNET_ARG_BUF(x),
                    CLNET_ARG_BUF(y)};
  return launch_1d(ctx, "dropout_apply", count, 7, a);
}

clnet_status clnet_dropout_forward(clnet_ctx *ctx, const clnet_dropout_desc *d, int64_t count, const clnet_buf *x,
                                   clnet_buf *y) {
  return dropout_run(ctx, "dropout_forward", d, count, x, y);
}

clnet_status clnet_dropout_backward(clnet_ctx *ctx, const clnet_dropout_desc *d, int64_t count, const clnet_buf *dy,
                                    clnet_buf *dx) {
  return dropout_run(ctx, "dropout_backward", d, count, dy, dx);
}
