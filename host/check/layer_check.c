/* The cross-check of a layer kind through its descriptor (harness.h, check_layer): what a check
 * family of a kind calls with its shapes and attributes, so that a kind's check cases are a list
 * of shapes plus its finite-difference gradient checks on the double reference. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/harness.h"
#include "graph/layer_kind.h"

static void no_profile(const clnet_layer_io *io, const char *pass) { (void)io, (void)pass; }

/* Fills a float tensor with NaN on both sides: an element the op does not write then fails. */
static clnet_status fill_nan(clnet_check_env *env, check_tensor *t) {
  float *h = malloc((size_t)t->count * sizeof *h);
  if (!h) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "check: %s", t->name);
  for (int64_t i = 0; i < t->count; ++i) h[i] = NAN;
  clnet_status st = check_tensor_set(env, t, h);
  free(h);
  return st;
}

/* Compares t, and requires the reference to have written every element: the inputs are finite,
 * so a NaN left on the reference side is an element neither side wrote. */
static clnet_status compare_written(clnet_check_env *env, check_tensor *t, double atol, double rtol) {
  CLNET_TRY(check_compare(env, t, atol, rtol));
  float *h = malloc((size_t)t->count * sizeof *h);
  if (!h) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "check: %s", t->name);
  clnet_status st = clnet_buf_read(env->ref, &t->ref, 0, (size_t)t->count * 4, h);
  for (int64_t i = 0; st == CLNET_SUCCESS && i < t->count; ++i)
    if (!isfinite(h[i])) {
      check_fail(env, "%s[%lld] = %g on the reference: not written, or not finite", t->name, (long long)i, h[i]);
      break;
    }
  free(h);
  return st;
}

typedef struct layer_bufs {
  check_tensor x[CLNET_MAX_LAYER_INPUTS], dx[CLNET_MAX_LAYER_INPUTS], y, dy, labels, result;
  check_tensor p[CLNET_MAX_LAYER_PARAMS], dp[CLNET_MAX_LAYER_PARAMS], aux[CLNET_MAX_LAYER_AUX];
  int32_t n_in, np, na;
  char names[CLNET_MAX_LAYER_PARAMS][2][64];
} layer_bufs;

static void free_bufs(clnet_check_env *env, layer_bufs *b) {
  for (int32_t j = 0; j < CLNET_MAX_LAYER_INPUTS; ++j) check_tensor_free(env, &b->x[j]), check_tensor_free(env, &b->dx[j]);
  for (int32_t j = 0; j < CLNET_MAX_LAYER_PARAMS; ++j) check_tensor_free(env, &b->p[j]), check_tensor_free(env, &b->dp[j]);
  for (int32_t j = 0; j < CLNET_MAX_LAYER_AUX; ++j) check_tensor_free(env, &b->aux[j]);
  check_tensor_free(env, &b->y);
  check_tensor_free(env, &b->dy);
  check_tensor_free(env, &b->labels);
  check_tensor_free(env, &b->result);
}

/* The io of one side (dev or ref) over b. */
static void side_io(clnet_ctx *ctx, int dev, const clnet_layer *l, layer_bufs *b, const clnet_tshape *in,
                    const clnet_tshape *out, int32_t batch, clnet_layer_io *io) {
#define SIDE(t) (dev ? &(t).dev : &(t).ref)
  memset(io, 0, sizeof *io);
  io->ctx = ctx;
  io->n = batch;
  io->training = 1;
  for (int32_t j = 0; j < l->n_in; ++j) {
    io->xs[j] = &in[j];
    io->x[j] = SIDE(b->x[j]);
    io->dx[j] = SIDE(b->dx[j]);
  }
  io->ys = out;
  io->y = SIDE(b->y);
  io->dy = SIDE(b->dy);
  for (int32_t i = 0; i < b->np; ++i) {
    io->p[i] = SIDE(b->p[i]);
    io->dp[i] = b->dp[i].count ? SIDE(b->dp[i]) : NULL;
  }
  for (int32_t a = 0; a < b->na; ++a) io->aux[a] = SIDE(b->aux[a]);
  io->labels = SIDE(b->labels);
  io->dlogits = SIDE(b->dx[0]);
  io->result = SIDE(b->result);
  io->seed = 7;
  io->step = 1;
  io->profile_pass = no_profile;
#undef SIDE
}

clnet_status check_layer(clnet_check_env *env, const char *kind, const char *attrs, const clnet_tshape *in,
                         int32_t n_in, int32_t batch, double atol, double rtol) {
  const clnet_layer_kind *k = clnet_layer_kind_find(kind);
  if (!k) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "check: no layer kind '%s'", kind);
  clnet_layer l;
  memset(&l, 0, sizeof l);
  l.kind = k;
  snprintf(l.name, sizeof l.name, "check");
  l.n_in = n_in;
  CLNET_TRY(clnet_attrs_parse(k, l.name, attrs, l.attrs));
  clnet_tshape out;
  CLNET_TRY(k->infer(&l, in, &out));
  clnet_param_decl pd[CLNET_MAX_LAYER_PARAMS];
  clnet_aux_decl ad[CLNET_MAX_LAYER_AUX];
  memset(pd, 0, sizeof pd);
  layer_bufs *b = calloc(1, sizeof *b);
  if (!b) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "check: %s", kind);
  b->np = k->params(&l, in, &out, pd);
  b->na = k->aux(&l, in, &out, ad);
  b->n_in = n_in;
  const int loss = (k->flags & CLNET_KIND_LOSS) != 0;
  const int64_t ny = (int64_t)batch * clnet_tshape_size(&out);
  clnet_status st = CLNET_SUCCESS;
  for (int32_t j = 0; j < n_in && st == CLNET_SUCCESS; ++j) {
    const int64_t nx = (int64_t)batch * clnet_tshape_size(&in[j]);
    st = check_tensor_init(env, &b->x[j], nx, 4, j ? "x1" : "x");
    if (st == CLNET_SUCCESS) st = check_tensor_uniform(env, &b->x[j], -1, 1);
    if (st == CLNET_SUCCESS) st = check_tensor_init(env, &b->dx[j], nx, 4, loss ? "dlogits" : j ? "dx1" : "dx");
    if (st == CLNET_SUCCESS) st = fill_nan(env, &b->dx[j]);
  }
  if (st == CLNET_SUCCESS) st = check_tensor_init(env, &b->y, ny, 4, "y");
  if (st == CLNET_SUCCESS) st = fill_nan(env, &b->y);
  if (st == CLNET_SUCCESS) st = check_tensor_init(env, &b->dy, ny, 4, "dy");
  if (st == CLNET_SUCCESS) st = check_tensor_uniform(env, &b->dy, -1, 1);
  if (st == CLNET_SUCCESS) st = check_tensor_init(env, &b->labels, batch, 4, "labels");
  if (st == CLNET_SUCCESS) st = check_tensor_ints(env, &b->labels, in[0].c);
  if (st == CLNET_SUCCESS) st = check_tensor_init(env, &b->result, 2, 4, "[loss, correct]");
  for (int32_t i = 0; i < b->np && st == CLNET_SUCCESS; ++i) {
    int64_t count = 1;
    for (int32_t d = 0; d < pd[i].ndim; ++d) count *= pd[i].shape[d];
    snprintf(b->names[i][0], 64, "%s", pd[i].suffix);
    snprintf(b->names[i][1], 64, "d%s", pd[i].suffix);
    st = check_tensor_init(env, &b->p[i], count, 4, b->names[i][0]);
    /* around the initial value, so that a variance stays positive and a scale away from 0 */
    const float centre = pd[i].init == CLNET_INIT_ONES ? 1.0f : 0.0f, half = pd[i].init == CLNET_INIT_ONES ? 0.5f : 1.0f;
    if (st == CLNET_SUCCESS) st = check_tensor_uniform(env, &b->p[i], centre - half, centre + half);
    if (st == CLNET_SUCCESS && pd[i].kind != CLNET_PARAM_STATISTIC) {
      st = check_tensor_init(env, &b->dp[i], count, 4, b->names[i][1]);
      if (st == CLNET_SUCCESS) st = fill_nan(env, &b->dp[i]);
    }
  }
  for (int32_t a = 0; a < b->na && st == CLNET_SUCCESS; ++a) {
    const int64_t bytes = (int64_t)(ad[a].per_image * (uint64_t)batch + ad[a].fixed);
    st = check_tensor_init(env, &b->aux[a], bytes > 0 ? bytes : 1, 1, ad[a].what);
  }
  clnet_layer_io dev, ref;
  side_io(env->dev, 1, &l, b, in, &out, batch, &dev);
  side_io(env->ref, 0, &l, b, in, &out, batch, &ref);
  if (st == CLNET_SUCCESS) st = k->forward(&l, &dev);
  if (st == CLNET_SUCCESS) st = k->forward(&l, &ref);
  if (st == CLNET_SUCCESS && loss) {
    st = compare_written(env, &b->dx[0], atol, rtol);
    if (st == CLNET_SUCCESS) st = compare_written(env, &b->result, atol, rtol);
  } else if (st == CLNET_SUCCESS) {
    st = compare_written(env, &b->y, atol, rtol);
    for (int32_t i = 0; i < b->np && st == CLNET_SUCCESS; ++i)
      if (pd[i].kind == CLNET_PARAM_STATISTIC) st = check_compare(env, &b->p[i], atol, rtol); /* updated in place */
  }
  if (st == CLNET_SUCCESS && !loss) {
    st = k->backward(&l, &dev);
    if (st == CLNET_SUCCESS) st = k->backward(&l, &ref);
    for (int32_t j = 0; j < n_in && st == CLNET_SUCCESS; ++j) st = compare_written(env, &b->dx[j], atol, rtol);
    for (int32_t i = 0; i < b->np && st == CLNET_SUCCESS; ++i)
      if (b->dp[i].count && pd[i].kind == CLNET_PARAM_TRAINABLE) st = compare_written(env, &b->dp[i], atol, rtol);
  }
  /* an in-place kind runs with y over x as well */
  if (st == CLNET_SUCCESS && (k->flags & CLNET_KIND_IN_PLACE) && !loss) {
    dev.y = &b->x[0].dev;
    ref.y = &b->x[0].ref;
    st = k->forward(&l, &dev);
    if (st == CLNET_SUCCESS) st = k->forward(&l, &ref);
    b->x[0].name = "y (in place over x)";
    if (st == CLNET_SUCCESS) st = check_compare(env, &b->x[0], atol, rtol);
  }
  free_bufs(env, b);
  free(b);
  return st;
}
