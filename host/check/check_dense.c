/* Check cases: dense layer, y (N, OUT) = x (N, IN) . w^T + b, w (OUT, IN).
 *
 * Cross-checks (device vs float reference), inputs U(-1, 1). Every output is
 * a float dot product against a reference that sums in double, so the
 * tolerance is clnet_check_dot_atol(K) (4x the random-walk rounding bound of a
 * K-term float sum, see check_gemm.c) with K the reduction length:
 *   y:  K = IN + 1 (the bias add is one more rounded term)
 *   dx: K = OUT,  dw: K = N,  db: K = N.
 * Outputs are pre-filled with NaN on both sides, so an element the op fails to
 * overwrite (or a GEMM that reads C with beta = 0) shows up as a mismatch; with
 * dx = NULL, dx must stay NaN.
 * Without a bias (b = db = NULL) y has K = IN, and db must stay NaN.
 * Shapes: the ResNet-18 head 512->10 at batch 2 (SPEC table) and 256 (the
 * training batch), and awkward ones: 1->1, 7->13, 13->7 at batch 1/3/7, and
 * 7->100 at batch 13 (OUT above the 64-wide work-group). Each cross-check runs
 * twice, with the device's dense GEMMs forced to CLBlast and to clnet's kernel
 * (clnet_dense_algo), so both candidates AUTO may pick are checked.
 *
 * Gradient checks (double reference): L = <dy, dense_forward(x, w, b)> with
 * random dy; L is linear in each of x, w, b, so central differences have no
 * truncation error and only rounding (~1e-16 * |L| / h with h = 1e-3):
 * atol 1e-9, rtol 1e-7. Big tensors are sampled (200 indices). */
#include <math.h>
#include <stdlib.h>

#include "check/harness.h"
#include "graph/layer_kind.h"
#include "tune/dense_algo.h"

typedef struct { int32_t n, in, out, dx_null, no_bias; } dense_params;

/* One cross-check case: a shape and the GEMM forced on the device under test. */
typedef struct dense_cross {
  const dense_params *p;
  clnet_dense_algo algo;
} dense_cross;

static clnet_status fill_nan(clnet_check_env *env, check_tensor *t) {
  float *p = t->host;
  for (int64_t i = 0; i < t->count; ++i) p[i] = NAN;
  return check_tensor_set(env, t, t->host);
}

static clnet_status run_dense_shape(clnet_check_env *env, const dense_params *p) {
  const int64_t nx = (int64_t)p->n * p->in, nw = (int64_t)p->out * p->in, ny = (int64_t)p->n * p->out;
  check_tensor x, w, b, y, dy, dx, dw, db;
  check_tensor *all[] = {&x, &w, &b, &y, &dy, &dx, &dw, &db};
  const size_t n_all = sizeof all / sizeof all[0];
  for (size_t i = 0; i < n_all; ++i) all[i]->host = NULL;
  clnet_status st;
  CLNET_TRY_GOTO(check_tensor_init(env, &x, nx, 4, "x"), st, out);   /* (N, IN) */
  CLNET_TRY_GOTO(check_tensor_init(env, &w, nw, 4, "w"), st, out);   /* (OUT, IN) */
  CLNET_TRY_GOTO(check_tensor_init(env, &b, p->out, 4, "b"), st, out); /* (OUT) */
  CLNET_TRY_GOTO(check_tensor_init(env, &y, ny, 4, "y"), st, out);   /* (N, OUT) */
  CLNET_TRY_GOTO(check_tensor_init(env, &dy, ny, 4, "dy"), st, out); /* (N, OUT) */
  CLNET_TRY_GOTO(check_tensor_init(env, &dx, nx, 4, "dx"), st, out); /* (N, IN) */
  CLNET_TRY_GOTO(check_tensor_init(env, &dw, nw, 4, "dw"), st, out); /* (OUT, IN) */
  CLNET_TRY_GOTO(check_tensor_init(env, &db, p->out, 4, "db"), st, out); /* (OUT) */
  CLNET_TRY_GOTO(check_tensor_uniform(env, &x, -1, 1), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &w, -1, 1), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &b, -1, 1), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &dy, -1, 1), st, out);
  CLNET_TRY_GOTO(fill_nan(env, &y), st, out);
  CLNET_TRY_GOTO(fill_nan(env, &dx), st, out);
  CLNET_TRY_GOTO(fill_nan(env, &dw), st, out);
  CLNET_TRY_GOTO(fill_nan(env, &db), st, out);

  CLNET_TRY_GOTO(clnet_dense_forward(env->dev, p->n, p->in, p->out, &x.dev, &w.dev, p->no_bias ? NULL : &b.dev,
                                     &y.dev), st, out);
  CLNET_TRY_GOTO(clnet_dense_forward(env->ref, p->n, p->in, p->out, &x.ref, &w.ref, p->no_bias ? NULL : &b.ref,
                                     &y.ref), st, out);
  CLNET_TRY_GOTO(clnet_dense_backward(env->dev, p->n, p->in, p->out, &x.dev, &w.dev, &dy.dev,
                                      p->dx_null ? NULL : &dx.dev, &dw.dev, p->no_bias ? NULL : &db.dev), st, out);
  CLNET_TRY_GOTO(clnet_dense_backward(env->ref, p->n, p->in, p->out, &x.ref, &w.ref, &dy.ref,
                                      p->dx_null ? NULL : &dx.ref, &dw.ref, p->no_bias ? NULL : &db.ref), st, out);
  CLNET_TRY_GOTO(check_compare(env, &y, clnet_check_dot_atol(p->in + !p->no_bias, 1, 1), 0), st, out);
  if (p->dx_null) dx.name = "dx (NULL: must stay untouched)";
  CLNET_TRY_GOTO(check_compare(env, &dx, clnet_check_dot_atol(p->out, 1, 1), 0), st, out);
  CLNET_TRY_GOTO(check_compare(env, &dw, clnet_check_dot_atol(p->n, 1, 1), 0), st, out);
  if (p->no_bias) db.name = "db (NULL: must stay untouched)";
  CLNET_TRY_GOTO(check_compare(env, &db, clnet_check_dot_atol(p->n, 1, 1), 0), st, out);
out:
  for (size_t i = 0; i < n_all; ++i)
    if (all[i]->host) check_tensor_free(env, all[i]);
  return st;
}

/* Runs the case with the device's dense GEMMs forced to c->algo, then restores the device's
 * setting (including "not chosen yet", so CLNET_DENSE_ALGO still applies to later users). */
static clnet_status run_dense(clnet_check_env *env, const void *pp) {
  const dense_cross *c = pp;
  const int32_t saved = clnet_dense_algo_setting_save(env->dev);
  clnet_status st = clnet_ctx_set_dense_algo(env->dev, c->algo);
  if (st == CLNET_SUCCESS) st = run_dense_shape(env, c->p);
  clnet_dense_algo_setting_restore(env->dev, saved);
  return st;
}

/* ---- gradient check on the double reference ---- */
typedef struct {
  int32_t n, in, out;
  double *x, *w, *b, *y, *dy; /* (N, IN), (OUT, IN), (OUT), (N, OUT), (N, OUT) */
} dense_grad_state;

static double dense_loss(void *u) {
  dense_grad_state *s = u;
  clnet_ref64_dense_forward(s->n, s->in, s->out, s->x, s->w, s->b, s->y);
  return check_dot_f64(s->dy, s->y, (int64_t)s->n * s->out);
}

/* Checks the analytic gradient `an` of one input `v` (count elements) on up to 200 sampled indices. */
static clnet_status grad_one(clnet_check_env *env, dense_grad_state *s, const char *name, double *v, int64_t count,
                             const double *an) {
  const int64_t max_n = 200;
  int64_t *idx = malloc((size_t)max_n * sizeof *idx);
  double *num = check_alloc_f64(max_n);
  if (!idx || !num) {
    free(idx);
    free(num);
    return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "dense gradcheck");
  }
  int64_t k = check_pick_indices(env, count, max_n, idx);
  check_numeric_grad(v, idx, k, 1e-3, dense_loss, s, num);
  check_grad_compare(env, name, an, idx, num, NULL, k, 1e-9, 1e-7);
  free(idx);
  free(num);
  return CLNET_SUCCESS;
}

static clnet_status run_dense_grad(clnet_check_env *env, const void *pp) {
  const dense_params *p = pp;
  const int64_t nx = (int64_t)p->n * p->in, nw = (int64_t)p->out * p->in, ny = (int64_t)p->n * p->out;
  dense_grad_state s = {p->n, p->in, p->out, check_alloc_f64(nx), check_alloc_f64(nw), check_alloc_f64(p->out),
                        check_alloc_f64(ny), check_alloc_f64(ny)};
  double *dx = check_alloc_f64(nx), *dw = check_alloc_f64(nw), *db = check_alloc_f64(p->out), *b = s.b;
  clnet_status st = CLNET_SUCCESS;
  if (!s.x || !s.w || !s.b || !s.y || !s.dy || !dx || !dw || !db) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "dense gradcheck");
    goto out;
  }
  check_fill_f64(env, s.x, nx, -1, 1);
  check_fill_f64(env, s.w, nw, -1, 1);
  check_fill_f64(env, s.b, p->out, -1, 1);
  check_fill_f64(env, s.dy, ny, -1, 1);
  if (p->no_bias) s.b = NULL; /* forward without a bias, backward without db */
  clnet_ref64_dense_backward(p->n, p->in, p->out, s.x, s.w, s.dy, dx, dw, p->no_bias ? NULL : db);
  CLNET_TRY_GOTO(grad_one(env, &s, "dx", s.x, nx, dx), st, out);
  CLNET_TRY_GOTO(grad_one(env, &s, "dw", s.w, nw, dw), st, out);
  if (!p->no_bias) CLNET_TRY_GOTO(grad_one(env, &s, "db", s.b, p->out, db), st, out);
out:
  free(s.x);
  free(s.w);
  free(b);
  free(s.y);
  free(s.dy);
  free(dx);
  free(dw);
  free(db);
  return st;
}

static const dense_params d_1 = {1, 1, 1, 0, 0}, d_7_13 = {3, 7, 13, 0, 0}, d_13_7 = {7, 13, 7, 0, 0},
                          d_13_7_n1 = {1, 13, 7, 0, 0}, d_wide = {13, 7, 100, 0, 0}, d_head2 = {2, 512, 10, 0, 0},
                          d_head256 = {256, 512, 10, 0, 0}, d_head_nodx = {7, 512, 10, 1, 0},
                          d_nob_7_13 = {3, 7, 13, 0, 1}, d_nob_head = {2, 512, 10, 0, 1}, d_nob_1 = {1, 1, 1, 1, 1},
                          d_nob_1000 = {2, 2048, 1000, 0, 1}; /* ResNet-50's ImageNet head */

/* The kind through its descriptor (dense flattens any input): every output a dot product of at
 * most max(H*W*C + 1, units, batch) terms */
typedef struct {
  const char *attrs;
  clnet_tshape in;
  int32_t batch, units;
} dense_layer_case;

static clnet_status run_dense_layer(clnet_check_env *env, const void *pp) {
  const dense_layer_case *c = pp;
  int32_t k = (int32_t)clnet_tshape_size(&c->in) + 1;
  if (c->units > k) k = c->units;
  if (c->batch > k) k = c->batch;
  return check_layer(env, "dense", c->attrs, &c->in, 1, c->batch, clnet_check_dot_atol(k, 1, 1), 0);
}

/* a shape's cross-check with each GEMM (file-scope compound literals are static) */
#define CROSS2(label, p)                                                                                       \
  {"dense", label " clblast", CLNET_CHECK_CROSS, run_dense, &(const dense_cross){&(p), CLNET_DENSE_ALGO_CLBLAST}}, \
  {"dense", label " clnet", CLNET_CHECK_CROSS, run_dense, &(const dense_cross){&(p), CLNET_DENSE_ALGO_CLNET}}

const clnet_check_case clnet_check_cases_dense[] = {
    CROSS2("n1 1->1", d_1),
    CROSS2("n3 7->13", d_7_13),
    CROSS2("n7 13->7", d_13_7),
    CROSS2("n1 13->7", d_13_7_n1),
    CROSS2("n13 7->100", d_wide),
    CROSS2("n2 512->10 (head)", d_head2),
    CROSS2("n256 512->10 (head, train batch)", d_head256),
    CROSS2("n7 512->10 dx=NULL", d_head_nodx),
    CROSS2("n3 7->13 no bias", d_nob_7_13),
    CROSS2("n2 512->10 no bias", d_nob_head),
    CROSS2("n1 1->1 no bias, dx=NULL", d_nob_1),
    CROSS2("n2 2048->1000 no bias", d_nob_1000),
    {"dense_backward", "n1 1->1", CLNET_CHECK_GRAD, run_dense_grad, &d_1},
    {"dense_backward", "n3 7->13 no bias", CLNET_CHECK_GRAD, run_dense_grad, &d_nob_7_13},
    {"layer dense", "n3 7x7x13 -> 10 no bias", CLNET_CHECK_CROSS, run_dense_layer,
     &(const dense_layer_case){"units=10 bias=0", {7, 7, 13}, 3, 10}},
    {"layer dense", "n2 1x1x1 -> 1 no bias", CLNET_CHECK_CROSS, run_dense_layer,
     &(const dense_layer_case){"units=1 bias=0", {1, 1, 1}, 2, 1}},
    {"layer dense", "n2 4x4x3 -> 5", CLNET_CHECK_CROSS, run_dense_layer,
     &(const dense_layer_case){"units=5", {4, 4, 3}, 2, 5}},
    {"dense_backward", "n3 7->13", CLNET_CHECK_GRAD, run_dense_grad, &d_7_13},
    {"dense_backward", "n7 13->7", CLNET_CHECK_GRAD, run_dense_grad, &d_13_7},
    {"dense_backward", "n2 512->10 (head)", CLNET_CHECK_GRAD, run_dense_grad, &d_head2},
    {0},
};
