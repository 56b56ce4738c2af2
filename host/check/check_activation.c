/* Check cases: the activation family (relu6, clip, leaky_relu, sigmoid, tanh, silu, hard_swish,
 * hard_sigmoid), mul and dropout — each kind through its descriptor (check_layer) at ResNet and
 * MobileNet shapes and awkward ones, the ops over input ranges that reach every piece and
 * saturation, each descriptor on the reference against the double op it stands for (so that a
 * descriptor passing the wrong tensor or constants does not agree with itself), finite-difference
 * gradients on the double reference, and dropout's mask.
 *
 * Tolerances:
 * - clip/relu6, leaky ReLU, dropout, mul of one shape: exact. One selection or one float
 *   multiplication per element, the same on both sides (cl/activation.cl turns contraction off).
 * - hard-sigmoid, hard-swish: atol = rtol = 4u (u = 2^-24). alpha*x + beta is two roundings a
 *   host compiler may fuse into one FMA (GCC does in GNU C mode where the ISA has one), then a
 *   clamp and at most two more; each step moves a value of magnitude <= 1 (or |x| * that) by one
 *   ulp at most.
 * - sigmoid, tanh, SiLU: OpenCL's exp is within 3 ulp and tanh within 5, a division within 2.5;
 *   the reference rounds the exact value once. Over x in [-1, 1] every output and derivative is
 *   O(1): atol = rtol = 32u (about 2e-6). Over wide ranges SiLU's x / (1 + exp(-x)) carries the
 *   relative error and its derivative s (1 + x (1 - s)) grows with |x|: atol = 32u (1 + max|x|);
 *   likewise hard-swish's x * t(x) carries t's error times |x|: atol = 4u (1 + max|x|).
 * - mul with a (1, 1, C) operand: its gradient is a sum over H x W in float against the
 *   reference's double sum: clnet_check_dot_atol(H*W, 1, 1).
 * - gradient checks (double reference, central differences, h = 1e-6, inputs kept 1e-3 from every
 *   kink): truncation h^2 |f'''| ~ 1e-12 and rounding 1e-16 |L| / h ~ 1e-10: atol 1e-8, rtol 1e-6.
 *   mul and dropout are linear in the perturbed input, so only rounding remains. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/harness.h"
#include "graph/layer_kind.h"

#define U24 (1.0 / 16777216.0)
#define TOL_HARD (4 * U24)
#define TOL_EXP (32 * U24)

/* ---- every kind through its descriptor ---- */
typedef struct layer_case {
  const char *kind, *attrs;
  clnet_tshape in[2];
  int32_t n_in, batch;
  double atol, rtol;
  int32_t sum_len; /* > 0: atol = clnet_check_dot_atol(sum_len, 1, 1), a gradient summed over H*W */
} layer_case;

static clnet_status run_layer_case(clnet_check_env *env, const void *p) {
  const layer_case *c = p;
  const double atol = c->sum_len > 0 ? clnet_check_dot_atol(c->sum_len, 1, 1) : c->atol;
  return check_layer(env, c->kind, c->attrs, c->in, c->n_in, c->batch, atol, c->rtol);
}

#define LAYER_CASE(name, shape, ...) {name, shape, CLNET_CHECK_CROSS, run_layer_case, &(const layer_case){__VA_ARGS__}}

/* Shapes: one element; 7x7x13 and 13x13x7 (odd sizes and channels, no multiple of a work-group);
 * MobileNet-V2's 16x16x96 expansion at 32x32 input and ResNet's 8x8x256, at batch 2. */
#define ONE_INPUT_CASES(kind, attrs, atol, rtol)                                                        \
  LAYER_CASE("layer " kind, "n1 1x1x1 " attrs, kind, attrs, {{1, 1, 1}}, 1, 1, atol, rtol, 0),           \
      LAYER_CASE("layer " kind, "n2 7x7x13 " attrs, kind, attrs, {{7, 7, 13}}, 1, 2, atol, rtol, 0),      \
      LAYER_CASE("layer " kind, "n3 13x13x7 " attrs, kind, attrs, {{13, 13, 7}}, 1, 3, atol, rtol, 0),    \
      LAYER_CASE("layer " kind, "n2 16x16x96 " attrs, kind, attrs, {{16, 16, 96}}, 1, 2, atol, rtol, 0),  \
      LAYER_CASE("layer " kind, "n2 8x8x256 " attrs, kind, attrs, {{8, 8, 256}}, 1, 2, atol, rtol, 0)

/* ---- the ops over chosen input ranges (check_layer draws U(-1, 1)) ---- */
typedef struct act_params {
  clnet_activation_desc d;
  int64_t count;
  float lo, hi;
  double atol, rtol;
} act_params;

static clnet_status run_act_range(clnet_check_env *env, const void *p) {
  const act_params *a = p;
  const int64_t n = a->count;
  const int reads_x = clnet_activation_backward_reads_input(a->d.op);
  check_tensor x, y, dy, dx;
  CLNET_TRY(check_tensor_init(env, &x, n, 4, "x"));
  CLNET_TRY(check_tensor_init(env, &y, n, 4, "y"));
  CLNET_TRY(check_tensor_init(env, &dy, n, 4, "dy"));
  CLNET_TRY(check_tensor_init(env, &dx, n, 4, "dx"));
  clnet_status st;
  CLNET_TRY_GOTO(check_tensor_uniform(env, &x, a->lo, a->hi), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &dy, -1, 1), st, out);
  CLNET_TRY_GOTO(clnet_activation_forward(env->dev, &a->d, n, &x.dev, &y.dev), st, out);
  CLNET_TRY_GOTO(clnet_activation_forward(env->ref, &a->d, n, &x.ref, &y.ref), st, out);
  CLNET_TRY_GOTO(check_compare(env, &y, a->atol, a->rtol), st, out);
  CLNET_TRY_GOTO(clnet_activation_backward(env->dev, &a->d, n, reads_x ? &x.dev : &y.dev, &dy.dev, &dx.dev), st, out);
  CLNET_TRY_GOTO(clnet_activation_backward(env->ref, &a->d, n, reads_x ? &x.ref : &y.ref, &dy.ref, &dx.ref), st, out);
  CLNET_TRY_GOTO(check_compare(env, &dx, a->atol, a->rtol), st, out);
out:
  check_tensor_free(env, &x);
  check_tensor_free(env, &y);
  check_tensor_free(env, &dy);
  check_tensor_free(env, &dx);
  return st;
}

/* ---- finite differences of L = <dy, f(x)> on the double reference ---- */
typedef struct act_grad_state {
  const clnet_activation_desc *d;
  int64_t n;
  double *x, *y, *dy;
} act_grad_state;

static double act_loss(void *u) {
  act_grad_state *s = u;
  clnet_ref64_activation_forward(s->d, s->n, s->x, s->y);
  return check_dot_f64(s->dy, s->y, s->n);
}

/* The op's kinks (the x where a piece ends); returns how many. */
static int32_t kinks_of(const clnet_activation_desc *d, double *k) {
  switch (d->op) {
    case CLNET_ACT_CLIP: k[0] = d->alpha, k[1] = d->beta; return 2;
    case CLNET_ACT_LEAKY_RELU: k[0] = 0; return 1;
    case CLNET_ACT_HARD_SWISH:
    case CLNET_ACT_HARD_SIGMOID:
      if (d->alpha == 0) return 0;
      k[0] = -(double)d->beta / d->alpha, k[1] = (1 - (double)d->beta) / d->alpha;
      return 2;
    default: return 0;
  }
}

static clnet_status run_act_grad(clnet_check_env *env, const void *p) {
  const act_params *a = p;
  const int64_t n = a->count;
  const double h = 1e-6, margin = 1e-3;
  act_grad_state s = {&a->d, n, check_alloc_f64(n), check_alloc_f64(n), check_alloc_f64(n)};
  double *dx = check_alloc_f64(n), *num = check_alloc_f64(n);
  int64_t *idx = malloc((size_t)n * sizeof *idx);
  clnet_status st = CLNET_SUCCESS;
  if (!s.x || !s.y || !s.dy || !dx || !num || !idx) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "activation gradcheck");
    goto out;
  }
  check_fill_f64(env, s.x, n, a->lo, a->hi);
  check_fill_f64(env, s.dy, n, -1, 1);
  double kink[2];
  const int32_t nk = kinks_of(&a->d, kink);
  for (int64_t i = 0; i < n; ++i) /* no central difference straddles a kink */
    for (int32_t j = 0; j < nk; ++j)
      if (fabs(s.x[i] - kink[j]) < margin) s.x[i] = kink[j] + (s.x[i] >= kink[j] ? margin : -margin);
  clnet_ref64_activation_forward(&a->d, n, s.x, s.y);
  clnet_ref64_activation_backward(&a->d, n, clnet_activation_backward_reads_input(a->d.op) ? s.x : s.y, s.dy, dx);
  /* one element at a time: the op is elementwise, and L over the whole tensor would carry a
   * rounding error of |L| 1e-16 / h, up to 1e-7 over [-100, 100] */
  const int64_t k = check_pick_indices(env, n, 256, idx);
  for (int64_t j = 0; j < k; ++j) {
    double xi = s.x[idx[j]], yi = 0;
    act_grad_state one = {&a->d, 1, &xi, &yi, &s.dy[idx[j]]};
    const int64_t at = 0;
    check_numeric_grad(&xi, &at, 1, h, act_loss, &one, &num[j]);
  }
  check_grad_compare(env, "dx", dx, idx, num, NULL, k, 1e-8, 1e-6);
out:
  free(s.x);
  free(s.y);
  free(s.dy);
  free(dx);
  free(num);
  free(idx);
  return st;
}

/* ---- mul: FD of both operands, broadcast or not ---- */
typedef struct mul_params {
  int32_t n, hw, c, bcast;
} mul_params;

typedef struct mul_grad_state {
  const mul_params *m;
  double *a, *b, *y, *dy;
} mul_grad_state;

static double mul_loss(void *u) {
  mul_grad_state *s = u;
  clnet_ref64_mul_forward(s->m->n, s->m->hw, s->m->c, s->m->bcast, s->a, s->b, s->y);
  return check_dot_f64(s->dy, s->y, (int64_t)s->m->n * s->m->hw * s->m->c);
}

static clnet_status run_mul_grad(clnet_check_env *env, const void *p) {
  const mul_params *m = p;
  const int64_t na = (int64_t)m->n * m->hw * m->c, nb = m->bcast ? (int64_t)m->n * m->c : na;
  mul_grad_state s = {m, check_alloc_f64(na), check_alloc_f64(nb), check_alloc_f64(na), check_alloc_f64(na)};
  double *da = check_alloc_f64(na), *db = check_alloc_f64(nb), *num = check_alloc_f64(na);
  int64_t *idx = malloc((size_t)na * sizeof *idx);
  clnet_status st = CLNET_SUCCESS;
  if (!s.a || !s.b || !s.y || !s.dy || !da || !db || !num || !idx) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "mul gradcheck");
    goto out;
  }
  check_fill_f64(env, s.a, na, -1, 1);
  check_fill_f64(env, s.b, nb, -1, 1);
  check_fill_f64(env, s.dy, na, -1, 1);
  clnet_ref64_mul_backward(m->n, m->hw, m->c, m->bcast, s.a, s.b, s.dy, da, db);
  int64_t k = check_pick_indices(env, na, 128, idx);
  check_numeric_grad(s.a, idx, k, 1e-6, mul_loss, &s, num);
  check_grad_compare(env, "da", da, idx, num, NULL, k, 1e-8, 1e-6);
  k = check_pick_indices(env, nb, 128, idx);
  check_numeric_grad(s.b, idx, k, 1e-6, mul_loss, &s, num);
  check_grad_compare(env, m->bcast ? "db (broadcast)" : "db", db, idx, num, NULL, k, 1e-8, 1e-6);
out:
  free(s.a);
  free(s.b);
  free(s.y);
  free(s.dy);
  free(da);
  free(db);
  free(num);
  free(idx);
  return st;
}

static clnet_status read_floats(clnet_ctx *ctx, const clnet_buf *b, int64_t n, float **dst) {
  *dst = malloc((size_t)n * sizeof **dst);
  if (!*dst) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "dropout check");
  clnet_status st = clnet_buf_read(ctx, b, 0, (size_t)n * 4, *dst);
  if (st != CLNET_SUCCESS) free(*dst), *dst = NULL;
  return st;
}

/* Counts an exact expectation as one compared element, and fails it with `what` when false. */
static void expect(clnet_check_env *env, int ok, const char *what, double got, double want) {
  env->res->compared++;
  if (!ok) check_fail(env, "%s: %g, expected %g", what, got, want);
}

/* ---- each kind's descriptor against the op it stands for ---- */
/* check_layer compares a descriptor on the device with the same descriptor on the reference, so a
 * descriptor that handed its op the wrong tensor or constants would agree with itself. Here the
 * float reference through the descriptor meets the double op the kind must be: y, and dx from dy;
 * for the in-place kinds also with y written over x, as the graph runs them. Float against
 * double: a few roundings of the same formula (tolerance as the cross-checks'). */
typedef struct desc_case {
  const char *kind, *attrs;
  clnet_activation_desc op;
  float lo, hi;
  double tol;
} desc_case;

static clnet_status run_desc_case(clnet_check_env *env, const void *p) {
  const desc_case *c = p;
  const clnet_layer_kind *k = clnet_layer_kind_find(c->kind);
  if (!k) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "check: no layer kind '%s'", c->kind);
  clnet_layer l;
  memset(&l, 0, sizeof l);
  l.kind = k;
  l.n_in = 1;
  snprintf(l.name, sizeof l.name, "check");
  const clnet_tshape in = {7, 7, 13};
  clnet_tshape out;
  CLNET_TRY(clnet_attrs_parse(k, l.name, c->attrs, l.attrs));
  CLNET_TRY(k->infer(&l, &in, &out));
  const int32_t batch = 2;
  const int64_t n = batch * clnet_tshape_size(&in);
  double *x = check_alloc_f64(n), *y = check_alloc_f64(n), *dy = check_alloc_f64(n), *dx = check_alloc_f64(n),
         *got = check_alloc_f64(n);
  float *xf = malloc((size_t)n * sizeof *xf), *dyf = malloc((size_t)n * sizeof *dyf), *h = NULL;
  int64_t *idx = malloc((size_t)n * sizeof *idx);
  check_tensor tx, ty, tdy, tdx;
  memset(&tx, 0, sizeof tx), memset(&ty, 0, sizeof ty), memset(&tdy, 0, sizeof tdy), memset(&tdx, 0, sizeof tdx);
  clnet_status st = x && y && dy && dx && got && xf && dyf && idx
                        ? CLNET_SUCCESS
                        : clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "descriptor check");
  if (st == CLNET_SUCCESS) {
    check_fill_f64(env, x, n, c->lo, c->hi);
    check_fill_f64(env, dy, n, -1, 1);
    double kink[2];
    const int32_t nk = kinks_of(&c->op, kink);
    for (int64_t i = 0; i < n; ++i) {
      for (int32_t j = 0; j < nk; ++j)
        if (fabs(x[i] - kink[j]) < 1e-3) x[i] = kink[j] + (x[i] >= kink[j] ? 1e-3 : -1e-3);
      xf[i] = (float)x[i], dyf[i] = (float)dy[i];
      x[i] = xf[i], dy[i] = dyf[i], idx[i] = i;
    }
    clnet_ref64_activation_forward(&c->op, n, x, y);
    clnet_ref64_activation_backward(&c->op, n, clnet_activation_backward_reads_input(c->op.op) ? x : y, dy, dx);
    st = check_tensor_init(env, &tx, n, 4, "x");
  }
  if (st == CLNET_SUCCESS) st = check_tensor_init(env, &ty, n, 4, "y");
  if (st == CLNET_SUCCESS) st = check_tensor_init(env, &tdy, n, 4, "dy");
  if (st == CLNET_SUCCESS) st = check_tensor_init(env, &tdx, n, 4, "dx");
  if (st == CLNET_SUCCESS) st = check_tensor_set(env, &tdy, dyf);
  clnet_layer_io io;
  memset(&io, 0, sizeof io);
  io.ctx = env->ref;
  io.n = batch;
  io.training = 1;
  io.xs[0] = &in;
  io.ys = &out;
  io.dy = &tdy.ref;
  io.dx[0] = &tdx.ref;
  const int rounds = (k->flags & CLNET_KIND_IN_PLACE) ? 2 : 1;
  for (int in_place = 0; in_place < rounds && st == CLNET_SUCCESS; ++in_place) {
    io.x[0] = &tx.ref;
    io.y = in_place ? &tx.ref : &ty.ref;
    st = check_tensor_set(env, &tx, xf);
    if (st == CLNET_SUCCESS) st = k->forward(&l, &io);
    if (st == CLNET_SUCCESS) st = k->backward(&l, &io);
    for (int32_t o = 0; o < 2 && st == CLNET_SUCCESS; ++o) {
      free(h);
      h = NULL;
      st = read_floats(env->ref, o ? io.dx[0] : io.y, n, &h);
      for (int64_t i = 0; st == CLNET_SUCCESS && i < n; ++i) got[i] = h[i];
      if (st == CLNET_SUCCESS)
        check_grad_compare(env, o ? (in_place ? "dx (y over x)" : "dx") : (in_place ? "y (over x)" : "y"), got, idx,
                           o ? dx : y, NULL, n, c->tol, c->tol);
    }
  }
  check_tensor_free(env, &tx);
  check_tensor_free(env, &ty);
  check_tensor_free(env, &tdy);
  check_tensor_free(env, &tdx);
  free(x), free(y), free(dy), free(dx), free(got), free(xf), free(dyf), free(h), free(idx);
  return st;
}

#define DESC_CASE(kind, attrs, op, a, b, lo, hi, tol)                                                               \
  {"layer " kind " vs op", "n2 7x7x13 " attrs, CLNET_CHECK_GRAD, run_desc_case,                                      \
   &(const desc_case){kind, attrs, {op, a, b}, lo, hi, tol}}

/* mul's descriptor against the double op, the broadcast operand given first or second, or two of
 * one shape: y and both gradients (the broadcast one summed over H x W; float against double). */
static clnet_status run_mul_desc(clnet_check_env *env, const void *p) {
  const int32_t mode = *(const int32_t *)p, vec_first = mode == 1, bcast = mode != 2, batch = 2, hw = 25, c = 9;
  const clnet_layer_kind *k = clnet_layer_kind_find("mul");
  if (!k) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "check: no layer kind 'mul'");
  clnet_layer l;
  memset(&l, 0, sizeof l);
  l.kind = k;
  l.n_in = 2;
  snprintf(l.name, sizeof l.name, "check");
  const clnet_tshape full = {5, 5, c}, vec = bcast ? (clnet_tshape){1, 1, c} : full;
  const clnet_tshape in[2] = {vec_first ? vec : full, vec_first ? full : vec};
  clnet_tshape out;
  CLNET_TRY(clnet_attrs_parse(k, l.name, "", l.attrs));
  CLNET_TRY(k->infer(&l, in, &out));
  const int64_t na = (int64_t)batch * hw * c, nb = bcast ? (int64_t)batch * c : na, count[6] = {na, nb, na, na, na, nb};
  /* t: a (full), b (vector), dy; then y, da, db */
  check_tensor t[6];
  memset(t, 0, sizeof t);
  const char *const names[6] = {"a", "b", "dy", "y", "da", bcast ? "db (broadcast)" : "db"};
  double *d[6] = {0}, *got = check_alloc_f64(na);
  int64_t *idx = malloc((size_t)na * sizeof *idx);
  float *h = NULL;
  clnet_status st = got && idx ? CLNET_SUCCESS : clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "mul check");
  for (int32_t i = 0; i < 6 && st == CLNET_SUCCESS; ++i) {
    st = check_tensor_init(env, &t[i], count[i], 4, names[i]);
    d[i] = check_alloc_f64(count[i]);
    if (st == CLNET_SUCCESS && !d[i]) st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "mul check");
    if (st == CLNET_SUCCESS && i < 3) st = check_tensor_uniform(env, &t[i], -1, 1);
    for (int64_t e = 0; st == CLNET_SUCCESS && i < 3 && e < count[i]; ++e) d[i][e] = ((const float *)t[i].host)[e];
  }
  for (int64_t e = 0; idx && e < na; ++e) idx[e] = e;
  if (st == CLNET_SUCCESS) {
    clnet_ref64_mul_forward(batch, hw, c, bcast, d[0], d[1], d[3]);
    clnet_ref64_mul_backward(batch, hw, c, bcast, d[0], d[1], d[2], d[4], d[5]);
    clnet_layer_io io;
    memset(&io, 0, sizeof io);
    io.ctx = env->ref;
    io.n = batch;
    io.training = 1;
    const int32_t fa = vec_first ? 1 : 0, fb = 1 - fa; /* where the full and the vector operand go */
    io.xs[fa] = &in[fa], io.xs[fb] = &in[fb], io.ys = &out;
    io.x[fa] = &t[0].ref, io.x[fb] = &t[1].ref, io.dy = &t[2].ref, io.y = &t[3].ref;
    io.dx[fa] = &t[4].ref, io.dx[fb] = &t[5].ref;
    st = k->forward(&l, &io);
    if (st == CLNET_SUCCESS) st = k->backward(&l, &io);
  }
  for (int32_t i = 3; i < 6 && st == CLNET_SUCCESS; ++i) {
    free(h);
    h = NULL;
    st = read_floats(env->ref, &t[i].ref, count[i], &h);
    for (int64_t e = 0; st == CLNET_SUCCESS && e < count[i]; ++e) got[e] = h[e];
    if (st == CLNET_SUCCESS)
      check_grad_compare(env, names[i], got, idx, d[i], NULL, count[i], i == 5 && bcast ? clnet_check_dot_atol(hw, 1, 1) : U24,
                         U24);
  }
  for (int32_t i = 0; i < 6; ++i) check_tensor_free(env, &t[i]), free(d[i]);
  free(got), free(idx), free(h);
  return st;
}

static const int32_t mul_vec_second = 0, mul_vec_first = 1, mul_same = 2;

/* ---- dropout ---- */
typedef struct dropout_grad_state {
  const clnet_dropout_consts *k;
  int64_t n;
  double *x, *y, *dy;
} dropout_grad_state;

static double dropout_loss(void *u) {
  dropout_grad_state *s = u;
  clnet_ref64_dropout_apply(s->k, s->n, s->x, s->y);
  return check_dot_f64(s->dy, s->y, s->n);
}

/* The backward (the same apply on dy) against differences of the forward, for one mask. */
static clnet_status run_dropout_grad(clnet_check_env *env, const void *p) {
  const int64_t n = *(const int64_t *)p;
  const clnet_dropout_consts k = {(uint32_t)clnet_rng_u64(&env->rng), (uint32_t)clnet_rng_u64(&env->rng),
                                  0x4ccccccdu /* rate 0.3 */, (float)(1.0 / 0.7)};
  dropout_grad_state s = {&k, n, check_alloc_f64(n), check_alloc_f64(n), check_alloc_f64(n)};
  double *dx = check_alloc_f64(n), *num = check_alloc_f64(n);
  int64_t *idx = malloc((size_t)n * sizeof *idx);
  clnet_status st = CLNET_SUCCESS;
  if (!s.x || !s.y || !s.dy || !dx || !num || !idx) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "dropout gradcheck");
    goto out;
  }
  check_fill_f64(env, s.x, n, -1, 1);
  check_fill_f64(env, s.dy, n, -1, 1);
  clnet_ref64_dropout_apply(&k, n, s.dy, dx);
  const int64_t m = check_pick_indices(env, n, 256, idx);
  check_numeric_grad(s.x, idx, m, 1e-6, dropout_loss, &s, num);
  check_grad_compare(env, "dx", dx, idx, num, NULL, m, 1e-8, 1e-6);
out:
  free(s.x);
  free(s.y);
  free(s.dy);
  free(dx);
  free(num);
  free(idx);
  return st;
}

/* The mask on one backend (x from U(0.5, 1), so no input is 0; dy = 1): about `rate` of the
 * elements dropped (within 5 standard deviations), the kept ones exactly x * scale, the backward's
 * mask the forward's, the same desc the same mask, and another step, salt or seed a different one
 * (about 2 rate (1 - rate) of the elements differ; fewer than a quarter of that fails). rate 0 is
 * the identity. */
static clnet_status mask_properties(clnet_check_env *env, clnet_ctx *ctx, const check_tensor *x, const float *xh,
                                    check_tensor *y, check_tensor *dx, check_tensor *ones, int64_t n) {
  const int dev = ctx != env->ref;
  const clnet_buf *xb = dev ? &x->dev : &x->ref, *ob = dev ? &ones->dev : &ones->ref;
  clnet_buf *yb = dev ? &y->dev : &y->ref, *db = dev ? &dx->dev : &dx->ref;
  const float rate = 0.3f;
  const float scale = (float)(1.0 / (1.0 - (double)rate));
  const clnet_dropout_desc d = {.rate = rate, .seed = 11, .step = 5, .salt = 0x5eed};
  float *yh = NULL, *dh = NULL, *zh = NULL;
  clnet_status st;
  CLNET_TRY_GOTO(clnet_dropout_forward(ctx, &d, n, xb, yb), st, out);
  CLNET_TRY_GOTO(read_floats(ctx, yb, n, &yh), st, out);
  CLNET_TRY_GOTO(clnet_dropout_backward(ctx, &d, n, ob, db), st, out);
  CLNET_TRY_GOTO(read_floats(ctx, db, n, &dh), st, out);
  int64_t dropped = 0, wrong_value = 0, wrong_mask = 0;
  for (int64_t i = 0; i < n; ++i) {
    dropped += yh[i] == 0.0f;
    wrong_value += yh[i] != 0.0f && yh[i] != xh[i] * scale;
    wrong_mask += (yh[i] == 0.0f) != (dh[i] == 0.0f) || (dh[i] != 0.0f && dh[i] != scale);
  }
  const double mean = (double)n * rate, sd = sqrt((double)n * rate * (1 - rate));
  expect(env, fabs((double)dropped - mean) <= 5 * sd, "dropped elements", (double)dropped, mean);
  expect(env, wrong_value == 0, "kept elements not x * scale", (double)wrong_value, 0);
  expect(env, wrong_mask == 0, "elements whose backward mask is not the forward's", (double)wrong_mask, 0);
  const clnet_dropout_desc other[4] = {d, {rate, 11, 6, 0x5eed}, {rate, 11, 5, 0x5eee}, {rate, 12, 5, 0x5eed}};
  static const char *const what[4] = {"the same desc: elements masked differently", "another step: masks differing",
                                      "another salt: masks differing", "another seed: masks differing"};
  for (int32_t o = 0; o < 4; ++o) {
    CLNET_TRY_GOTO(clnet_dropout_forward(ctx, &other[o], n, xb, db), st, out);
    free(zh);
    zh = NULL;
    CLNET_TRY_GOTO(read_floats(ctx, db, n, &zh), st, out);
    int64_t differ = 0;
    for (int64_t i = 0; i < n; ++i) differ += (yh[i] == 0.0f) != (zh[i] == 0.0f);
    const double want = o ? 2 * mean * (1 - rate) : 0;
    expect(env, o ? (double)differ > want / 4 : differ == 0, what[o], (double)differ, want);
  }
  const clnet_dropout_desc none = {0.0f, 11, 5, 0x5eed};
  CLNET_TRY_GOTO(clnet_dropout_forward(ctx, &none, n, xb, db), st, out);
  free(zh);
  zh = NULL;
  CLNET_TRY_GOTO(read_floats(ctx, db, n, &zh), st, out);
  expect(env, memcmp(zh, xh, (size_t)n * 4) == 0, "rate 0: elements not x", 1, 0);
out:
  free(yh);
  free(dh);
  free(zh);
  return st;
}

/* Through the descriptor: in training, the backward's mask is the forward's (dy = 1: dx is 0
 * exactly where y is); in evaluation y = x, copied, and in place untouched. */
static clnet_status through_descriptor(clnet_check_env *env, clnet_ctx *ctx, check_tensor *x, const float *xh,
                                       check_tensor *y, check_tensor *dx, check_tensor *ones, int64_t n) {
  const clnet_layer_kind *k = clnet_layer_kind_find("dropout");
  if (!k) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "check: no layer kind 'dropout'");
  clnet_layer l;
  memset(&l, 0, sizeof l);
  l.kind = k;
  l.n_in = 1;
  snprintf(l.name, sizeof l.name, "check");
  const clnet_tshape in = {1, 1, (int32_t)n};
  clnet_tshape out;
  CLNET_TRY(clnet_attrs_parse(k, l.name, "rate=0.5", l.attrs));
  CLNET_TRY(k->infer(&l, &in, &out));
  const int dev = ctx != env->ref;
  clnet_layer_io io;
  memset(&io, 0, sizeof io);
  io.ctx = ctx;
  io.n = 1;
  io.xs[0] = &in;
  io.ys = &out;
  io.x[0] = dev ? &x->dev : &x->ref;
  io.y = dev ? &y->dev : &y->ref;
  io.dy = dev ? &ones->dev : &ones->ref;
  io.dx[0] = dev ? &dx->dev : &dx->ref;
  io.seed = 3;
  io.step = 9;
  io.training = 1;
  CLNET_TRY(k->forward(&l, &io));
  CLNET_TRY(k->backward(&l, &io));
  float *yh = NULL, *dh = NULL;
  clnet_status st = read_floats(ctx, io.y, n, &yh);
  if (st == CLNET_SUCCESS) st = read_floats(ctx, io.dx[0], n, &dh);
  int64_t wrong = 0;
  for (int64_t i = 0; st == CLNET_SUCCESS && i < n; ++i) wrong += (yh[i] == 0.0f) != (dh[i] == 0.0f);
  free(yh);
  free(dh);
  CLNET_TRY(st);
  expect(env, wrong == 0, "descriptor: elements whose backward mask is not the forward's", (double)wrong, 0);
  io.training = 0;
  for (int32_t in_place = 0; in_place < 2; ++in_place) {
    io.y = in_place ? (dev ? &x->dev : &x->ref) : (dev ? &y->dev : &y->ref);
    CLNET_TRY(k->forward(&l, &io));
    float *h = NULL;
    CLNET_TRY(read_floats(ctx, io.y, n, &h));
    expect(env, memcmp(h, xh, (size_t)n * 4) == 0, in_place ? "evaluation in place: y is not x" : "evaluation: y is not x",
           1, 0);
    free(h);
  }
  return CLNET_SUCCESS;
}

static clnet_status dropout_mask_case(clnet_check_env *env, int64_t n, int on_device) {
  check_tensor x, y, dx, ones;
  CLNET_TRY(check_tensor_init(env, &x, n, 4, "x"));
  CLNET_TRY(check_tensor_init(env, &y, n, 4, "y"));
  CLNET_TRY(check_tensor_init(env, &dx, n, 4, "dx"));
  CLNET_TRY(check_tensor_init(env, &ones, n, 4, "ones"));
  float *h = malloc((size_t)n * sizeof *h);
  clnet_status st = h ? CLNET_SUCCESS : clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "dropout check");
  if (st == CLNET_SUCCESS) {
    for (int64_t i = 0; i < n; ++i) h[i] = 1.0f;
    st = check_tensor_set(env, &ones, h);
  }
  if (st == CLNET_SUCCESS) st = check_tensor_uniform(env, &x, 0.5f, 1.0f);
  if (st == CLNET_SUCCESS) st = mask_properties(env, on_device ? env->dev : env->ref, &x, x.host, &y, &dx, &ones, n);
  if (st == CLNET_SUCCESS) st = through_descriptor(env, on_device ? env->dev : env->ref, &x, x.host, &y, &dx, &ones, n);
  if (st == CLNET_SUCCESS && on_device) { /* and the device's mask is the reference's */
    const clnet_dropout_desc d = {.rate = 0.5f, .seed = 1, .step = 2, .salt = 3};
    st = clnet_dropout_forward(env->dev, &d, n, &x.dev, &y.dev);
    if (st == CLNET_SUCCESS) st = clnet_dropout_forward(env->ref, &d, n, &x.ref, &y.ref);
    if (st == CLNET_SUCCESS) st = check_compare(env, &y, 0, 0);
  }
  free(h);
  check_tensor_free(env, &x);
  check_tensor_free(env, &y);
  check_tensor_free(env, &dx);
  check_tensor_free(env, &ones);
  return st;
}

static clnet_status run_dropout_mask_dev(clnet_check_env *env, const void *p) {
  return dropout_mask_case(env, *(const int64_t *)p, 1);
}

static clnet_status run_dropout_mask_ref(clnet_check_env *env, const void *p) {
  return dropout_mask_case(env, *(const int64_t *)p, 0);
}

static const int64_t n_mask = 2 * 16 * 16 * 32 + 5, n13 = 13, n_grad = 2 * 7 * 7 * 13;

#define ACT(op_, a_, b_) {op_, a_, b_}
#define ACT_CASES(name, op_, a_, b_, lo_, hi_, atol_, rtol_)                                                        \
  {name, "n2 30x30x64 +3 in [" #lo_ ", " #hi_ "]", CLNET_CHECK_CROSS, run_act_range,                                \
   &(const act_params){ACT(op_, a_, b_), 2 * 30 * 30 * 64 + 3, lo_, hi_, atol_, rtol_}},                           \
      {name, "13 in [" #lo_ ", " #hi_ "]", CLNET_CHECK_CROSS, run_act_range,                                        \
       &(const act_params){ACT(op_, a_, b_), 13, lo_, hi_, atol_, rtol_}},                                          \
      {name "_backward", "n2 7x7x13 in [" #lo_ ", " #hi_ "]", CLNET_CHECK_GRAD, run_act_grad,                       \
       &(const act_params){ACT(op_, a_, b_), 2 * 7 * 7 * 13, lo_, hi_, 0, 0}}

const clnet_check_case clnet_check_cases_activation[] = {
    ONE_INPUT_CASES("relu6", "", 0, 0),
    ONE_INPUT_CASES("clip", "min=-0.5 max=0.25", 0, 0),
    ONE_INPUT_CASES("leaky_relu", "", 0, 0),
    LAYER_CASE("layer leaky_relu", "n2 7x7x13 alpha=0.2", "leaky_relu", "alpha=0.2", {{7, 7, 13}}, 1, 2, 0, 0, 0),
    LAYER_CASE("layer leaky_relu", "n2 7x7x13 alpha=0 (relu)", "leaky_relu", "alpha=0", {{7, 7, 13}}, 1, 2, 0, 0, 0),
    ONE_INPUT_CASES("sigmoid", "", TOL_EXP, TOL_EXP),
    ONE_INPUT_CASES("tanh", "", TOL_EXP, TOL_EXP),
    ONE_INPUT_CASES("silu", "", TOL_EXP, TOL_EXP),
    ONE_INPUT_CASES("hard_swish", "", TOL_HARD, TOL_HARD),
    ONE_INPUT_CASES("hard_sigmoid", "", TOL_HARD, TOL_HARD),
    /* both kinks inside U(-1, 1): alpha x + beta reaches 0 at x = -0.25 and 1 at 0.75 */
    LAYER_CASE("layer hard_sigmoid", "n2 7x7x13 alpha=1 beta=0.25", "hard_sigmoid", "alpha=1 beta=0.25", {{7, 7, 13}}, 1,
               2, TOL_HARD, TOL_HARD, 0),
    ONE_INPUT_CASES("dropout", "rate=0.3", 0, 0),
    LAYER_CASE("layer dropout", "n2 7x7x13 rate=0", "dropout", "rate=0", {{7, 7, 13}}, 1, 2, 0, 0, 0),
    LAYER_CASE("layer dropout", "n2 8x8x256 rate=0.9", "dropout", "rate=0.9", {{8, 8, 256}}, 1, 2, 0, 0, 0),
    LAYER_CASE("layer mul", "n1 1x1x1 * 1x1x1", "mul", "", {{1, 1, 1}, {1, 1, 1}}, 2, 1, 0, 0, 0),
    LAYER_CASE("layer mul", "n2 7x7x13 * 7x7x13", "mul", "", {{7, 7, 13}, {7, 7, 13}}, 2, 2, 0, 0, 0),
    LAYER_CASE("layer mul", "n3 13x13x7 * 1x1x7", "mul", "", {{13, 13, 7}, {1, 1, 7}}, 2, 3, 0, 0, 169),
    LAYER_CASE("layer mul", "n2 1x1x9 * 7x7x9 (first broadcast)", "mul", "", {{1, 1, 9}, {7, 7, 9}}, 2, 2, 0, 0, 49),
    LAYER_CASE("layer mul", "n2 16x16x96 * 1x1x96 (squeeze-excitation)", "mul", "", {{16, 16, 96}, {1, 1, 96}}, 2, 2, 0,
               0, 256),
    LAYER_CASE("layer mul", "n2 8x8x256 * 1x1x256", "mul", "", {{8, 8, 256}, {1, 1, 256}}, 2, 2, 0, 0, 64),
    ACT_CASES("relu6", CLNET_ACT_CLIP, 0.0f, 6.0f, -8, 8, 0, 0),
    ACT_CASES("clip", CLNET_ACT_CLIP, -2.0f, 3.0f, -5, 5, 0, 0),
    ACT_CASES("leaky_relu", CLNET_ACT_LEAKY_RELU, 0.1f, 0.0f, -4, 4, 0, 0),
    ACT_CASES("sigmoid", CLNET_ACT_SIGMOID, 0.0f, 0.0f, -20, 20, TOL_EXP, TOL_EXP),
    ACT_CASES("sigmoid", CLNET_ACT_SIGMOID, 0.0f, 0.0f, -100, 100, TOL_EXP, TOL_EXP),
    ACT_CASES("tanh", CLNET_ACT_TANH, 0.0f, 0.0f, -20, 20, TOL_EXP, TOL_EXP),
    ACT_CASES("silu", CLNET_ACT_SILU, 0.0f, 0.0f, -20, 20, TOL_EXP * 21, TOL_EXP),
    ACT_CASES("silu", CLNET_ACT_SILU, 0.0f, 0.0f, -100, 100, TOL_EXP * 101, TOL_EXP),
    ACT_CASES("hard_swish", CLNET_ACT_HARD_SWISH, 1.0f / 6.0f, 0.5f, -5, 5, TOL_HARD * 6, TOL_HARD),
    ACT_CASES("hard_sigmoid", CLNET_ACT_HARD_SIGMOID, 0.2f, 0.5f, -4, 4, TOL_HARD, TOL_HARD),
    DESC_CASE("relu6", "", CLNET_ACT_CLIP, 0.0f, 6.0f, -8, 8, TOL_HARD),
    DESC_CASE("clip", "min=-0.5 max=0.25", CLNET_ACT_CLIP, -0.5f, 0.25f, -1, 1, TOL_HARD),
    DESC_CASE("leaky_relu", "", CLNET_ACT_LEAKY_RELU, 0.01f, 0.0f, -2, 2, TOL_HARD),
    DESC_CASE("leaky_relu", "alpha=0.2", CLNET_ACT_LEAKY_RELU, 0.2f, 0.0f, -2, 2, TOL_HARD),
    DESC_CASE("sigmoid", "", CLNET_ACT_SIGMOID, 0.0f, 0.0f, -6, 6, TOL_EXP),
    DESC_CASE("tanh", "", CLNET_ACT_TANH, 0.0f, 0.0f, -4, 4, TOL_EXP),
    DESC_CASE("silu", "", CLNET_ACT_SILU, 0.0f, 0.0f, -6, 6, TOL_EXP),
    DESC_CASE("hard_swish", "", CLNET_ACT_HARD_SWISH, 1.0f / 6.0f, 0.5f, -5, 5, TOL_HARD),
    DESC_CASE("hard_sigmoid", "", CLNET_ACT_HARD_SIGMOID, 0.2f, 0.5f, -4, 4, TOL_HARD),
    DESC_CASE("hard_sigmoid", "alpha=1 beta=0.25", CLNET_ACT_HARD_SIGMOID, 1.0f, 0.25f, -1, 1, TOL_HARD),
    {"layer mul vs op", "n2 5x5x9 * 1x1x9", CLNET_CHECK_GRAD, run_mul_desc, &mul_vec_second},
    {"layer mul vs op", "n2 1x1x9 * 5x5x9", CLNET_CHECK_GRAD, run_mul_desc, &mul_vec_first},
    {"layer mul vs op", "n2 5x5x9 * 5x5x9", CLNET_CHECK_GRAD, run_mul_desc, &mul_same},
    {"mul_backward", "n2 7x7x13 * 7x7x13", CLNET_CHECK_GRAD, run_mul_grad, &(const mul_params){2, 49, 13, 0}},
    {"mul_backward", "n3 13x13x7 * 1x1x7", CLNET_CHECK_GRAD, run_mul_grad, &(const mul_params){3, 169, 7, 1}},
    {"mul_backward", "n1 1x1x1 * 1x1x1", CLNET_CHECK_GRAD, run_mul_grad, &(const mul_params){1, 1, 1, 1}},
    {"dropout_backward", "n2 7x7x13", CLNET_CHECK_GRAD, run_dropout_grad, &n_grad},
    {"dropout_backward", "13", CLNET_CHECK_GRAD, run_dropout_grad, &n13},
    {"dropout mask", "n2 16x16x32 +5 rate 0.3", CLNET_CHECK_CROSS, run_dropout_mask_dev, &n_mask},
    {"dropout mask (reference)", "n2 16x16x32 +5 rate 0.3", CLNET_CHECK_GRAD, run_dropout_mask_ref, &n_mask},
    {0},
};
