/* Every op cross-check and gradient check of the shared table
 * (host/check/check_*.c), one Criterion test per op family, on the default
 * OpenCL device (CLNET_DEVICE to choose) and on the reference. A failure names
 * the case, its shape and the seed that reproduces it
 * (clnet check --op NAME --seed S). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "clnet/check.h"

/* Runs every case of family `f` (cases numbered as `clnet check` numbers them: seed 1 + index). */
static void run_family(int32_t f) {
  const char *family = clnet_check_family_name(f);
  cr_assert_not_null(family);
  clnet_ctx *dev = NULL, *ref = NULL;
  cr_assert_eq(clnet_ctx_create(NULL, &dev), CLNET_SUCCESS, "no OpenCL device: %s", clnet_last_error());
  cr_assert_eq(clnet_ctx_create("ref", &ref), CLNET_SUCCESS);
  int32_t ran = 0, total = clnet_check_case_count();
  for (int32_t i = 0; i < total; ++i) {
    if (strcmp(clnet_check_case_family(i), family)) continue;
    const clnet_check_case *c = clnet_check_case_get(i);
    clnet_check_result res;
    uint64_t seed = 1 + (uint64_t)i;
    clnet_status st = clnet_check_run(dev, ref, c, seed, &res);
    cr_expect_eq(st, CLNET_SUCCESS, "%s: %s [%s] could not run (seed %llu): %s", family, c->op, c->shape,
                 (unsigned long long)seed, clnet_last_error());
    cr_expect(res.passed, "%s: %s [%s] %s failed (seed %llu): %s", family, c->op, c->shape,
              c->kind == CLNET_CHECK_CROSS ? "cross-check" : "gradient check", (unsigned long long)seed, res.detail);
    cr_expect(!res.skipped && res.compared > 0, "%s: %s [%s] compared nothing", family, c->op, c->shape);
    ++ran;
  }
  cr_assert_gt(ran, 0, "no check cases in family %s", family);
  clnet_ctx_free(dev);
  clnet_ctx_free(ref);
}

/* One test per family, whatever families host/check/ has (they register themselves). */
ParameterizedTestParameters(ops, family) {
  static int32_t families[256];
  const int32_t n = clnet_check_family_count();
  for (int32_t f = 0; f < n && f < 256; ++f) families[f] = f;
  return cr_make_param_array(int32_t, families, (size_t)(n < 256 ? n : 256));
}

ParameterizedTest(int32_t *f, ops, family, .timeout = 900) { run_family(*f); }

/* Every case belongs to a family, and every family has cases. */
Test(ops, table_is_consistent) {
  cr_assert_gt(clnet_check_family_count(), 8);
  for (int32_t i = 0; i < clnet_check_case_count(); ++i) cr_assert_not_null(clnet_check_case_family(i), "case %d", i);
}
