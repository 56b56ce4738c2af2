/* Cross-checks: every op on a device against the CPU reference, and every
 * backward op of the reference against central finite differences in double.
 * The same table drives `clnet check` and the test suite. */
#ifndef CLNET_CHECK_H
#define CLNET_CHECK_H

#include "clnet/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum clnet_check_kind {
  CLNET_CHECK_CROSS = 0, /* device result vs reference result, random inputs */
  CLNET_CHECK_GRAD = 1,  /* reference backward vs finite differences (double) */
} clnet_check_kind;

typedef struct clnet_check_result {
  double max_abs;     /* max |a - b| over every compared output */
  double max_rel;     /* max |a - b| / |b| over elements with |b| > atol/rtol */
  double worst_ratio; /* max |a - b| / (atol + rtol*|b|); pass needs <= 1 */
  int64_t compared;   /* elements compared */
  int32_t passed;     /* 1 pass, 0 fail */
  int32_t skipped;    /* 1 when the case does not apply (cross-check on ref) */
  uint64_t seed;
  char detail[512];   /* first failure: output, index, values, tolerance; or a guard violation */
} clnet_check_result;

typedef struct clnet_check_env clnet_check_env;

typedef struct clnet_check_case {
  const char *op;    /* "conv2d_forward" */
  const char *shape; /* "n2 30x30x64->64 k3 s1 same" */
  clnet_check_kind kind;
  /* Runs the case; reports through the env (see host/check/harness.h). */
  clnet_status (*run)(clnet_check_env *env, const void *params);
  const void *params;
} clnet_check_case;

int32_t clnet_check_case_count(void);
const clnet_check_case *clnet_check_case_get(int32_t i);
/* The families (one per host/check/check_<family>.c: "conv2d", "pool", ...) and case i's. */
int32_t clnet_check_family_count(void);
const char *clnet_check_family_name(int32_t f);
const char *clnet_check_case_family(int32_t i);
/* 1 when case i is in `clnet check --quick` (host/check/quick.c): small shapes that between them
 * still launch every kernel, variant and algorithm of the full table, for simulators (Oclgrind). */
int32_t clnet_check_case_quick(int32_t i);
/* 1 when a name in the quick list matches no case (*name set to it): the list is stale. */
int32_t clnet_check_quick_unmatched(const char **name);

/* Runs one case. `dev` is the device under test (may be a ref ctx: then
 * cross-checks are skipped); `ref` must be a reference ctx. Returns an error
 * status only when the case could not run (allocation, build, ...); a
 * tolerance failure is reported in res->passed. */
clnet_status clnet_check_run(clnet_ctx *dev, clnet_ctx *ref, const clnet_check_case *c, uint64_t seed,
                             clnet_check_result *res);

/* One compared tensor of a whole-model check. */
typedef struct clnet_model_check_row {
  char name[160];   /* "loss", "logits", "grad layer1.0.conv1.kernel", "updated fc.bias", ... */
  int64_t count;    /* elements compared */
  int64_t masked;   /* elements not compared (see clnet_check_model) */
  double max_abs, max_rel;
  double scale;     /* max |reference| of the tensor */
  double atol, rtol;
  int32_t passed;
} clnet_model_check_row;

typedef void (*clnet_model_check_fn)(const clnet_model_check_row *row, void *user);

/* One training step of a small ResNet-18 (width 4, 12x12x3 input, 10
 * classes, batch 4; identical weights and batch from `seed`) on `dev` and on
 * the reference `ref`: compares the loss, the logits, every parameter
 * gradient, the BN moving statistics and every weight after one Adam step.
 * Each tensor is compared per element with |a-b| <= atol + rtol*|b| where
 * atol = 1e-4 * max|reference| of that tensor (errors of reordered float sums
 * scale with the tensor, not the element; for a gradient, with the largest
 * gradient of its layer, since kernel and bias gradients come from the same
 * dy: a conv bias before BN has a true gradient of exactly zero and both
 * backends compute rounding noise), rtol = 1e-3. After the Adam step,
 * weights whose reference gradient is below the gradient tolerance are masked:
 * Adam's first step moves them by lr*sign(g), and the sign of a gradient that
 * is zero within rounding is not defined. `fn` receives every row;
 * *failures counts failed rows. */
clnet_status clnet_check_model(clnet_ctx *dev, clnet_ctx *ref, uint64_t seed, clnet_model_check_fn fn, void *user,
                               int32_t *failures);
/* The same for zoo model `model` (clnet_model_build) at a narrow width (4, or 2 for models whose
 * default width is under 16) on 12x12x3 images, 10 classes, batch 4. The device step uses dev's
 * algorithm settings (clnet_ctx_set_conv_algo, clnet_ctx_set_dense_algo): `clnet check --model`
 * sets the fixed rule, so that the result does not depend on timings (docs/CHECKS.md). */
clnet_status clnet_check_model_of(clnet_ctx *dev, clnet_ctx *ref, const char *model, uint64_t seed,
                                  clnet_model_check_fn fn, void *user, int32_t *failures);

#ifdef __cplusplus
}
#endif
#endif
