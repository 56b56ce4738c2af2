/* Check cases: concatenation along channels (the op: forward, backward overwriting and
 * accumulating; finite-difference gradients on the double reference), and the kinds that move
 * data without arithmetic through their descriptors: concat (any number of inputs) and flatten
 * (a view: in a graph its output is its input).
 *
 * Tolerances: both are copies, and the accumulating backward one float addition per element on
 * each side, so device and reference agree exactly (atol = rtol = 0). The gradient checks: the op
 * is linear, so central differences (h = 1e-6) are exact up to rounding: atol = 1e-7, rtol = 1e-6. */
#include <stdlib.h>
#include <string.h>

#include "check/harness.h"
#include "graph/layer_kind.h"

typedef struct {
  int32_t rows, c, c_total, offset;
} concat_params;

static clnet_status run_concat(clnet_check_env *env, const void *pp) {
  const concat_params *p = pp;
  const int64_t nx = (int64_t)p->rows * p->c, ny = (int64_t)p->rows * p->c_total;
  check_tensor x, y, dy, dx;
  CLNET_TRY(check_tensor_init(env, &x, nx, 4, "x"));
  CLNET_TRY(check_tensor_init(env, &y, ny, 4, "y"));
  CLNET_TRY(check_tensor_init(env, &dy, ny, 4, "dy"));
  CLNET_TRY(check_tensor_init(env, &dx, nx, 4, "dx"));
  clnet_status st;
  CLNET_TRY_GOTO(check_tensor_uniform(env, &x, -1, 1), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &y, 5, 6), st, out); /* the other channels must stay as they are */
  CLNET_TRY_GOTO(check_tensor_uniform(env, &dy, -1, 1), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &dx, 5, 6), st, out);
  CLNET_TRY_GOTO(clnet_concat_forward(env->dev, p->rows, p->c, p->c_total, p->offset, &x.dev, &y.dev), st, out);
  CLNET_TRY_GOTO(clnet_concat_forward(env->ref, p->rows, p->c, p->c_total, p->offset, &x.ref, &y.ref), st, out);
  CLNET_TRY_GOTO(check_compare(env, &y, 0, 0), st, out);
  for (int32_t acc = 0; acc < 2; ++acc) { /* overwrite the garbage, then add to what it wrote */
    CLNET_TRY_GOTO(clnet_concat_backward(env->dev, p->rows, p->c, p->c_total, p->offset, acc, &dy.dev, &dx.dev), st,
                   out);
    CLNET_TRY_GOTO(clnet_concat_backward(env->ref, p->rows, p->c, p->c_total, p->offset, acc, &dy.ref, &dx.ref), st,
                   out);
    dx.name = acc ? "dx (accumulated)" : "dx";
    CLNET_TRY_GOTO(check_compare(env, &dx, 0, 0), st, out);
  }
out:
  check_tensor_free(env, &x);
  check_tensor_free(env, &y);
  check_tensor_free(env, &dy);
  check_tensor_free(env, &dx);
  return st;
}

/* ---- gradient check: L = <dy, concat(x_0, ..., x_{k-1})> over inputs of these channel counts ---- */
#define GRAD_H 1e-6
#define GRAD_MAX_SAMPLES 200

typedef struct {
  int32_t rows, k, c[4];
} concat_grad_params;

typedef struct {
  const concat_grad_params *p;
  int32_t c_total;
  double *x[4], *y, *dy;
} concat_grad_state;

static double concat_loss(void *u) {
  concat_grad_state *s = u;
  for (int32_t j = 0, off = 0; j < s->p->k; off += s->p->c[j], ++j)
    clnet_ref64_concat_forward(s->p->rows, s->p->c[j], s->c_total, off, s->x[j], s->y);
  return check_dot_f64(s->dy, s->y, (int64_t)s->p->rows * s->c_total);
}

static clnet_status run_concat_grad(clnet_check_env *env, const void *pp) {
  const concat_grad_params *p = pp;
  concat_grad_state s = {.p = p};
  for (int32_t j = 0; j < p->k; ++j) s.c_total += p->c[j];
  const int64_t ny = (int64_t)p->rows * s.c_total;
  s.y = check_alloc_f64(ny);
  s.dy = check_alloc_f64(ny);
  double *dx = check_alloc_f64(ny), *num = check_alloc_f64(GRAD_MAX_SAMPLES);
  int64_t *idx = malloc(GRAD_MAX_SAMPLES * sizeof *idx);
  clnet_status st = CLNET_SUCCESS;
  for (int32_t j = 0; j < p->k; ++j) s.x[j] = check_alloc_f64((int64_t)p->rows * p->c[j]);
  for (int32_t j = 0; j < p->k; ++j)
    if (!s.x[j]) st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "concat gradcheck");
  if (st != CLNET_SUCCESS || !s.y || !s.dy || !dx || !num || !idx) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "concat gradcheck");
    goto out;
  }
  check_fill_f64(env, s.dy, ny, -1, 1);
  for (int32_t j = 0, off = 0; j < p->k; off += p->c[j], ++j) {
    const int64_t nx = (int64_t)p->rows * p->c[j];
    check_fill_f64(env, s.x[j], nx, -1, 1);
    clnet_ref64_concat_backward(p->rows, p->c[j], s.c_total, off, 0, s.dy, dx);
    const int64_t k = check_pick_indices(env, nx, GRAD_MAX_SAMPLES, idx);
    check_numeric_grad(s.x[j], idx, k, GRAD_H, concat_loss, &s, num);
    check_grad_compare(env, "dx", dx, idx, num, NULL, k, 1e-7, 1e-6);
  }
out:
  for (int32_t j = 0; j < p->k; ++j) free(s.x[j]);
  free(s.y);
  free(s.dy);
  free(dx);
  free(num);
  free(idx);
  return st;
}

/* ---- the kinds through their descriptors ---- */
typedef struct {
  const char *kind;
  int32_t n_in, batch;
  clnet_tshape in[CLNET_MAX_LAYER_INPUTS];
} move_layer_case;

static clnet_status run_move_layer(clnet_check_env *env, const void *pp) {
  const move_layer_case *c = pp;
  return check_layer(env, c->kind, "", c->in, c->n_in, c->batch, 0, 0);
}

/* 64 inputs (CLNET_MAX_LAYER_INPUTS) of 2x3 and 1, 2, 3, 4, 1, 2, ... channels */
#define CC4 {2, 3, 1}, {2, 3, 2}, {2, 3, 3}, {2, 3, 4}
#define CC16 CC4, CC4, CC4, CC4
#define CC64 CC16, CC16, CC16, CC16
_Static_assert(CLNET_MAX_LAYER_INPUTS == 64, "the widest concat case takes every input a layer may have");

#define MOVE_LAYER(name, shape, ...) {name, shape, CLNET_CHECK_CROSS, run_move_layer, &(const move_layer_case){__VA_ARGS__}}

static const concat_params cc_first = {2 * 7 * 7, 13, 29, 0}, cc_mid = {2 * 13 * 13, 3, 20, 5},
                           cc_last = {1, 1, 8, 7},                  /* one row, one channel */
                           cc_v16 = {4 * 8 * 8, 64, 192, 64},        /* Inception-sized branch */
                           cc_dense = {2 * 4 * 4, 32, 512, 480};     /* a DenseNet layer's growth */
static const concat_grad_params ccg_3 = {2 * 3 * 3, 3, {3, 1, 5}}, ccg_2 = {5, 2, {4, 7}};

const clnet_check_case clnet_check_cases_concat[] = {
    {"concat", "rows 98: 13 of 29 channels at 0", CLNET_CHECK_CROSS, run_concat, &cc_first},
    {"concat", "rows 338: 3 of 20 channels at 5", CLNET_CHECK_CROSS, run_concat, &cc_mid},
    {"concat", "rows 1: 1 of 8 channels at 7", CLNET_CHECK_CROSS, run_concat, &cc_last},
    {"concat", "rows 256: 64 of 192 channels at 64", CLNET_CHECK_CROSS, run_concat, &cc_v16},
    {"concat", "rows 32: 32 of 512 channels at 480", CLNET_CHECK_CROSS, run_concat, &cc_dense},
    {"concat_backward", "rows 18: 3+1+5 channels", CLNET_CHECK_GRAD, run_concat_grad, &ccg_3},
    {"concat_backward", "rows 5: 4+7 channels", CLNET_CHECK_GRAD, run_concat_grad, &ccg_2},
    MOVE_LAYER("layer concat", "n2 7x7x3 + 7x7x13", "concat", 2, 2, {{7, 7, 3}, {7, 7, 13}}),
    MOVE_LAYER("layer concat", "n3 13x13: 5 + 1 + 16 + 7", "concat", 4, 3, {{13, 13, 5}, {13, 13, 1}, {13, 13, 16}, {13, 13, 7}}),
    MOVE_LAYER("layer concat", "n2 1x1x9 alone", "concat", 1, 2, {{1, 1, 9}}),
    MOVE_LAYER("layer concat", "n2 4x4: 16 inputs of 1..16 channels", "concat", 16, 2,
               {{4, 4, 1}, {4, 4, 2}, {4, 4, 3}, {4, 4, 4}, {4, 4, 5}, {4, 4, 6}, {4, 4, 7}, {4, 4, 8}, {4, 4, 9},
                {4, 4, 10}, {4, 4, 11}, {4, 4, 12}, {4, 4, 13}, {4, 4, 14}, {4, 4, 15}, {4, 4, 16}}),
    MOVE_LAYER("layer concat", "n1 2x3: 64 inputs of 1..4 channels", "concat", 64, 1, {CC64}),
    MOVE_LAYER("layer flatten", "n3 7x7x13", "flatten", 1, 3, {{7, 7, 13}}),
    MOVE_LAYER("layer flatten", "n2 1x1x5", "flatten", 1, 2, {{1, 1, 5}}),
    {0},
};
