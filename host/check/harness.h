/* Internal: the toolkit each op family's check cases are written with.
 *
 * Cross-check pattern (see host/check/check_eltwise.c):
 *   check_tensor x, y;
 *   CLNET_TRY(check_tensor_init(env, &x, count, 4, "x"));     // both backends, guard zones
 *   CLNET_TRY(check_tensor_uniform(env, &x, -1, 1));          // same random data on both
 *   ... run the op on env->dev with x.dev/y.dev and on env->ref with x.ref/y.ref ...
 *   CLNET_TRY(check_compare(env, &y, atol, rtol));            // reads back, compares, checks guards
 *   check_tensor_free(env, &x); ...
 * Gradient-check pattern: build double arrays, call the clnet_ref64_* forward
 * and backward, and use check_numeric_grad + check_grad_compare. */
#ifndef CLNET_CHECK_HARNESS_H
#define CLNET_CHECK_HARNESS_H

#include "clnet/check.h"
#include "clnet/ops.h"
#include "core/rng.h"
#include "ops/ref/ref.h"
#include "runtime/ctx.h"

struct clnet_check_env {
  clnet_ctx *dev, *ref;
  clnet_rng rng;
  clnet_check_result *res;
};

/* A tensor mirrored on the device under test and on the reference. Each
 * buffer sits inside a larger allocation whose guard zones (before and after)
 * hold a sentinel pattern that check_compare verifies is untouched. */
typedef struct check_tensor {
  const char *name;
  int64_t count;
  size_t elem; /* 4: float or int32 */
  void *host;  /* the data last written (count * elem bytes) */
  clnet_buf dev_full, dev, ref_full, ref;
} check_tensor;

clnet_status check_tensor_init(clnet_check_env *env, check_tensor *t, int64_t count, size_t elem,
                               const char *name);
/* Uniform floats in [lo, hi) on both backends. */
clnet_status check_tensor_uniform(clnet_check_env *env, check_tensor *t, float lo, float hi);
/* Uniform int32 in [0, n) on both backends. */
clnet_status check_tensor_ints(clnet_check_env *env, check_tensor *t, int32_t n);
/* Copies `data` (count * elem bytes) to both backends. */
clnet_status check_tensor_set(clnet_check_env *env, check_tensor *t, const void *data);
void check_tensor_free(clnet_check_env *env, check_tensor *t);

/* Compares the float outputs of device and reference per element:
 * |a - b| <= atol + rtol*|b|; NaN/Inf on the device where the reference is
 * finite fails; the guard zones of both must be intact. Updates env->res. */
clnet_status check_compare(clnet_check_env *env, check_tensor *t, double atol, double rtol);
/* Same for int32 (elem 4) or uint8 (elem 1) outputs (exact). */
clnet_status check_compare_ints(clnet_check_env *env, check_tensor *t);

/* Double-precision helpers for gradient checks. */
double *check_alloc_f64(int64_t count);                 /* zeroed; NULL on failure */
void check_fill_f64(clnet_check_env *env, double *x, int64_t count, double lo, double hi);
/* Central differences of loss_fn() w.r.t. x[idx[i]] for i < n_idx:
 * grad[i] = (L(x + h e) - L(x - h e)) / 2h. x is restored. */
void check_numeric_grad(double *x, const int64_t *idx, int64_t n_idx, double h, double (*loss_fn)(void *),
                        void *user, double *grad);
/* Picks up to `max_n` distinct indices in [0, count) (all of them if count <= max_n). Returns how many. */
int64_t check_pick_indices(clnet_check_env *env, int64_t count, int64_t max_n, int64_t *idx);
/* Compares analytic[idx[i]] with numeric[i]; skip[i] != 0 masks an element (a kink). */
void check_grad_compare(clnet_check_env *env, const char *name, const double *analytic, const int64_t *idx,
                        const double *numeric, const unsigned char *skip, int64_t n, double atol, double rtol);
/* sum(a[i] * b[i]) in double: the scalar L = <dy, y> whose gradient backward computes. */
double check_dot_f64(const double *a, const double *b, int64_t n);

/* A single-input op's gradient check on the double reference, L = <dy, f(x)>: x [in] and then
 * dy [out] uniform in [-1, 1), the op's analytic dx (forward, then backward), central differences
 * of L at up to max_samples sampled elements of x, compared at atol + rtol*|num|; an element where
 * skip says 1 (a kink: a ReLU's 0, a max's tie) is masked. The helper allocates x, y (f(x)) and dy
 * and passes itself to the callbacks; `op` is the op's own state. */
typedef struct check_unary_grad {
  const char *what; /* "avgpool gradcheck": names an allocation failure */
  int64_t in, out, max_samples;
  double h, atol, rtol;
  void *op;
  double *x, *y, *dy;
  void (*forward)(struct check_unary_grad *g);             /* y = f(x) */
  void (*backward)(struct check_unary_grad *g, double *dx); /* after forward */
  int32_t (*skip)(struct check_unary_grad *g, int64_t i);   /* NULL: none masked */
} check_unary_grad;
clnet_status check_unary_gradient(clnet_check_env *env, check_unary_grad *g);

/* Records a failure message (first one wins) and marks the case failed. */
void check_fail(clnet_check_env *env, const char *fmt, ...) CLNET_PRINTF(2, 3);

/* A layer kind through its descriptor (host/graph/layer_kind.h) on the device and on the reference
 * (host/check/layer_check.c): `attrs` parsed, shapes inferred from in[0..n_in-1] (per image),
 * parameters and inputs random (parameters around their initial value), outputs and gradients
 * pre-filled with NaN so an element not written fails; forward in training mode, then backward
 * with a random dy. Compares the output, every statistic the forward updates, every input's and
 * every trainable parameter's gradient (a loss: the logits' gradient and [loss, correct], with
 * labels in [0, C)), and for an in-place kind also the forward with y over x, at |a - b| <= atol +
 * rtol*|b|. */
typedef struct clnet_tshape clnet_tshape;
clnet_status check_layer(clnet_check_env *env, const char *kind, const char *attrs, const clnet_tshape *in,
                         int32_t n_in, int32_t batch, double atol, double rtol);

/* Each family host/check/check_<family>.c exposes its cases as a {0}-terminated array
 * clnet_check_cases_<family>[], which CMake registers (cmake/check_registry.cmake). */

/* Absolute tolerance for a K-term dot product of values bounded by amax and
 * bmax in float against a double reference (see host/check/check_gemm.c). */
double clnet_check_dot_atol(int32_t k, double amax, double bmax);
#endif
