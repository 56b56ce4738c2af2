/* The cross-check and gradient-check toolkit, and clnet_check_run. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/harness.h"

#define GUARD_PATTERN 0x7fa5a5a5u /* a NaN payload no kernel writes by accident */

/* No guard zones on a device that checks every access itself (Oclgrind, ctx->init_tracking): an
 * allocation exactly the tensor's size lets it report a read or write past either end, where a
 * read of a guard zone would go unseen. */
static size_t guard_bytes(clnet_ctx *ctx) {
  if (ctx->init_tracking) return 0;
  size_t a = clnet_buf_align(ctx);
  return a >= 256 ? a : 256; /* >= 64 floats, and keeps the view aligned */
}

void check_fail(clnet_check_env *env, const char *fmt, ...) {
  if (env->res->passed) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(env->res->detail, sizeof env->res->detail, fmt, ap);
    va_end(ap);
  }
  env->res->passed = 0;
}

static clnet_status guarded_alloc(clnet_ctx *ctx, size_t bytes, const char *name, clnet_buf *full,
                                  clnet_buf *view) {
  size_t g = guard_bytes(ctx);
  size_t inner = clnet_round_up(bytes ? bytes : 4, 4);
  CLNET_TRY(clnet_buf_alloc(ctx, g ? g + clnet_round_up(inner, g) + g : inner, name, full));
  clnet_status st = g ? clnet_buf_fill(ctx, full, 0, full->bytes, GUARD_PATTERN) : CLNET_SUCCESS;
  if (st == CLNET_SUCCESS) st = clnet_buf_view(ctx, full, g, inner, view);
  if (st != CLNET_SUCCESS) clnet_buf_free(ctx, full);
  return st;
}

clnet_status check_tensor_init(clnet_check_env *env, check_tensor *t, int64_t count, size_t elem,
                               const char *name) {
  memset(t, 0, sizeof *t);
  t->name = name;
  t->count = count;
  t->elem = elem;
  t->host = calloc((size_t)(count > 0 ? count : 1), elem);
  if (!t->host) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "check tensor '%s'", name);
  clnet_status st = guarded_alloc(env->ref, (size_t)count * elem, name, &t->ref_full, &t->ref);
  if (st == CLNET_SUCCESS && env->dev != env->ref)
    st = guarded_alloc(env->dev, (size_t)count * elem, name, &t->dev_full, &t->dev);
  if (st == CLNET_SUCCESS) st = check_tensor_set(env, t, t->host); /* zeros on both */
  if (st != CLNET_SUCCESS) check_tensor_free(env, t);
  return st;
}

clnet_status check_tensor_set(clnet_check_env *env, check_tensor *t, const void *data) {
  size_t bytes = (size_t)t->count * t->elem;
  if (data != t->host) memcpy(t->host, data, bytes);
  CLNET_TRY(clnet_buf_write(env->ref, &t->ref, 0, bytes, t->host));
  if (env->dev != env->ref) CLNET_TRY(clnet_buf_write(env->dev, &t->dev, 0, bytes, t->host));
  return CLNET_SUCCESS;
}

clnet_status check_tensor_uniform(clnet_check_env *env, check_tensor *t, float lo, float hi) {
  float *p = t->host;
  for (int64_t i = 0; i < t->count; ++i) p[i] = lo + (hi - lo) * clnet_rng_uniform(&env->rng);
  return check_tensor_set(env, t, t->host);
}

clnet_status check_tensor_ints(clnet_check_env *env, check_tensor *t, int32_t n) {
  int32_t *p = t->host;
  for (int64_t i = 0; i < t->count; ++i) p[i] = (int32_t)clnet_rng_below(&env->rng, (uint32_t)n);
  return check_tensor_set(env, t, t->host);
}

void check_tensor_free(clnet_check_env *env, check_tensor *t) {
  clnet_buf_free(env->ref, &t->ref);
  clnet_buf_free(env->ref, &t->ref_full);
  if (env->dev != env->ref) {
    clnet_buf_free(env->dev, &t->dev);
    clnet_buf_free(env->dev, &t->dev_full);
  }
  free(t->host);
  t->host = NULL;
}

/* Reads the whole guarded allocation; verifies both guard zones; returns the payload in *payload. */
static clnet_status read_guarded(clnet_check_env *env, clnet_ctx *ctx, const check_tensor *t,
                                 const clnet_buf *full, uint32_t **all, const char *side) {
  *all = malloc(full->bytes);
  if (!*all) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "reading '%s'", t->name);
  CLNET_TRY(clnet_buf_read(ctx, full, 0, full->bytes, *all));
  size_t g = guard_bytes(ctx) / 4, inner = clnet_round_up((size_t)t->count * t->elem, 4) / 4;
  size_t total = full->bytes / 4;
  for (size_t i = 0; i < total; ++i) {
    if (i >= g && i < g + inner) continue;
    if ((*all)[i] != GUARD_PATTERN) {
      long long off = i < g ? -(long long)(g - i) : (long long)(i - g - inner);
      check_fail(env, "%s: guard zone of '%s' overwritten on the %s at %s%lld floats %s the tensor", "guard",
                 t->name, side, i < g ? "" : "+", off, i < g ? "before" : "after");
      break;
    }
  }
  return CLNET_SUCCESS;
}

static void note_error(clnet_check_env *env, double a, double b, double atol, double rtol, const char *name,
                       int64_t i) {
  clnet_check_result *r = env->res;
  r->compared++;
  int a_bad = isnan(a) || isinf(a), b_bad = isnan(b) || isinf(b);
  if (a_bad || b_bad) {
    if (a_bad != b_bad || (isnan(a) != isnan(b)))
      check_fail(env, "%s[%lld]: got %g, reference %g (non-finite mismatch)", name, (long long)i, a, b);
    return;
  }
  double err = fabs(a - b), tol = atol + rtol * fabs(b);
  if (err > r->max_abs) r->max_abs = err;
  if (fabs(b) > atol / (rtol > 0 ? rtol : 1) && err / fabs(b) > r->max_rel) r->max_rel = err / fabs(b);
  if (err / tol > r->worst_ratio) r->worst_ratio = err / tol;
  if (err > tol)
    check_fail(env, "%s[%lld]: got %.9g, reference %.9g, |diff| %.3g > atol %.3g + rtol %.3g * |ref|", name,
               (long long)i, a, b, err, atol, rtol);
}

clnet_status check_compare(clnet_check_env *env, check_tensor *t, double atol, double rtol) {
  uint32_t *ref_all = NULL, *dev_all = NULL;
  clnet_status st = read_guarded(env, env->ref, t, &t->ref_full, &ref_all, "reference");
  if (st == CLNET_SUCCESS && env->dev != env->ref)
    st = read_guarded(env, env->dev, t, &t->dev_full, &dev_all, "device");
  if (st == CLNET_SUCCESS && dev_all) {
    const float *rv = (const float *)(ref_all + guard_bytes(env->ref) / 4);
    const float *dv = (const float *)(dev_all + guard_bytes(env->dev) / 4);
    for (int64_t i = 0; i < t->count; ++i) note_error(env, dv[i], rv[i], atol, rtol, t->name, i);
  }
  free(ref_all);
  free(dev_all);
  return st;
}

clnet_status check_compare_ints(clnet_check_env *env, check_tensor *t) {
  uint32_t *ref_all = NULL, *dev_all = NULL;
  clnet_status st = read_guarded(env, env->ref, t, &t->ref_full, &ref_all, "reference");
  if (st == CLNET_SUCCESS && env->dev != env->ref)
    st = read_guarded(env, env->dev, t, &t->dev_full, &dev_all, "device");
  if (st == CLNET_SUCCESS && dev_all) {
    const unsigned char *rb = (const unsigned char *)(ref_all + guard_bytes(env->ref) / 4);
    const unsigned char *db = (const unsigned char *)(dev_all + guard_bytes(env->dev) / 4);
    for (int64_t i = 0; i < t->count; ++i) {
      int32_t r, d; /* int32 (elem 4) or uint8 (elem 1) */
      if (t->elem == 1) {
        r = rb[i];
        d = db[i];
      } else {
        memcpy(&r, rb + 4 * i, 4);
        memcpy(&d, db + 4 * i, 4);
      }
      env->res->compared++;
      if (d != r) {
        check_fail(env, "%s[%lld]: got %d, reference %d", t->name, (long long)i, d, r);
        break;
      }
    }
  }
  free(ref_all);
  free(dev_all);
  return st;
}

double *check_alloc_f64(int64_t count) { return calloc((size_t)(count > 0 ? count : 1), sizeof(double)); }

void check_fill_f64(clnet_check_env *env, double *x, int64_t count, double lo, double hi) {
  for (int64_t i = 0; i < count; ++i) x[i] = lo + (hi - lo) * clnet_rng_uniform(&env->rng);
}

void check_numeric_grad(double *x, const int64_t *idx, int64_t n_idx, double h, double (*loss_fn)(void *),
                        void *user, double *grad) {
  for (int64_t i = 0; i < n_idx; ++i) {
    double saved = x[idx[i]];
    x[idx[i]] = saved + h;
    double lp = loss_fn(user);
    x[idx[i]] = saved - h;
    double lm = loss_fn(user);
    x[idx[i]] = saved;
    grad[i] = (lp - lm) / (2 * h);
  }
}

int64_t check_pick_indices(clnet_check_env *env, int64_t count, int64_t max_n, int64_t *idx) {
  if (count <= max_n) {
    for (int64_t i = 0; i < count; ++i) idx[i] = i;
    return count;
  }
  int64_t n = 0;
  while (n < max_n) {
    int64_t cand = (int64_t)(clnet_rng_u64(&env->rng) % (uint64_t)count);
    int dup = 0;
    for (int64_t j = 0; j < n && !dup; ++j) dup = idx[j] == cand;
    if (!dup) idx[n++] = cand;
  }
  return n;
}

void check_grad_compare(clnet_check_env *env, const char *name, const double *analytic, const int64_t *idx,
                        const double *numeric, const unsigned char *skip, int64_t n, double atol, double rtol) {
  for (int64_t i = 0; i < n; ++i) {
    if (skip && skip[i]) continue;
    note_error(env, analytic[idx[i]], numeric[i], atol, rtol, name, idx[i]);
  }
}

static double unary_loss(void *u) {
  check_unary_grad *g = u;
  g->forward(g);
  return check_dot_f64(g->dy, g->y, g->out);
}

clnet_status check_unary_gradient(clnet_check_env *env, check_unary_grad *g) {
  g->x = check_alloc_f64(g->in);
  g->y = check_alloc_f64(g->out);
  g->dy = check_alloc_f64(g->out);
  double *dx = check_alloc_f64(g->in), *num = check_alloc_f64(g->max_samples);
  int64_t *idx = malloc((size_t)g->max_samples * sizeof *idx);
  unsigned char *skip = calloc((size_t)g->max_samples, 1);
  clnet_status st = CLNET_SUCCESS;
  if (!g->x || !g->y || !g->dy || !dx || !num || !idx || !skip) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s", g->what);
    goto out;
  }
  check_fill_f64(env, g->x, g->in, -1, 1);
  check_fill_f64(env, g->dy, g->out, -1, 1);
  g->forward(g);
  g->backward(g, dx);
  const int64_t k = check_pick_indices(env, g->in, g->max_samples, idx);
  for (int64_t i = 0; i < k && g->skip; ++i) skip[i] = (unsigned char)g->skip(g, idx[i]);
  check_numeric_grad(g->x, idx, k, g->h, unary_loss, g, num);
  check_grad_compare(env, "dx", dx, idx, num, skip, k, g->atol, g->rtol);
out:
  free(g->x);
  free(g->y);
  free(g->dy);
  g->x = g->y = g->dy = NULL;
  free(dx);
  free(num);
  free(idx);
  free(skip);
  return st;
}

double check_dot_f64(const double *a, const double *b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

/* ---- the table: the families cmake/check_registry.cmake generates from host/check/ ---- */
extern const clnet_check_case *const clnet_check_family_table[];
extern const char *const clnet_check_family_names[];
extern const int clnet_check_family_table_count;

int32_t clnet_check_case_count(void) {
  int32_t n = 0;
  for (int f = 0; f < clnet_check_family_table_count; ++f)
    for (const clnet_check_case *c = clnet_check_family_table[f]; c->op; ++c) ++n;
  return n;
}

/* Case i and the index of its family. */
static const clnet_check_case *case_at(int32_t i, int *family) {
  for (int f = 0; f < clnet_check_family_table_count; ++f)
    for (const clnet_check_case *c = clnet_check_family_table[f]; c->op; ++c)
      if (i-- == 0) {
        if (family) *family = f;
        return c;
      }
  return NULL;
}

const clnet_check_case *clnet_check_case_get(int32_t i) { return case_at(i, NULL); }

int32_t clnet_check_family_count(void) { return clnet_check_family_table_count; }

const char *clnet_check_family_name(int32_t f) {
  return f >= 0 && f < clnet_check_family_table_count ? clnet_check_family_names[f] : NULL;
}

const char *clnet_check_case_family(int32_t i) {
  int f = -1;
  return case_at(i, &f) ? clnet_check_family_names[f] : NULL;
}

clnet_status clnet_check_run(clnet_ctx *dev, clnet_ctx *ref, const clnet_check_case *c, uint64_t seed,
                             clnet_check_result *res) {
  memset(res, 0, sizeof *res);
  res->passed = 1;
  res->seed = seed;
  if (!clnet_ctx_is_ref(ref))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "check: the second context must be the reference");
  if (c->kind == CLNET_CHECK_CROSS && clnet_ctx_is_ref(dev)) {
    res->skipped = 1;
    return CLNET_SUCCESS;
  }
  clnet_check_env env = {.dev = dev, .ref = ref, .res = res};
  clnet_rng_seed(&env.rng, seed);
  clnet_status st = c->run(&env, c->params);
  if (st != CLNET_SUCCESS) {
    res->passed = 0;
    if (!res->detail[0]) snprintf(res->detail, sizeof res->detail, "%s", clnet_last_error());
    return st;
  }
  if (st == CLNET_SUCCESS && res->compared == 0 && res->passed)
    check_fail(&env, "the case compared no elements");
  return CLNET_SUCCESS;
}
