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

/* Runs one case. `dev` is the device under test (may be a ref ctx: then
 * cross-checks are skipped); `ref` must be a reference ctx. Returns an error
 * status only when the case could not run (allocation, build, ...); a
 * tolerance failure is reported in res->passed. */
clnet_status clnet_check_run(clnet_ctx *dev, clnet_ctx *ref, const clnet_check_case *c, uint64_t seed,
                             clnet_check_result *res);

#ifdef __cplusplus
}
#endif
#endif
