/* Every op cross-check and gradient check of the shared table
 * (host/check/check_*.c), one Criterion test per op family, on the default
 * OpenCL device (CLNET_DEVICE to choose) and on the reference. A failure names
 * the case, its shape and the seed that reproduces it
 * (clnet check --op NAME --seed S). */
#include <criterion/criterion.h>
#include <string.h>

#include "clnet/check.h"

static void run_family(const char *const *ops, int32_t n_ops) {
  clnet_ctx *dev = NULL, *ref = NULL;
  cr_assert_eq(clnet_ctx_create(NULL, &dev), CLNET_SUCCESS, "no OpenCL device: %s", clnet_last_error());
  cr_assert_eq(clnet_ctx_create("ref", &ref), CLNET_SUCCESS);
  int32_t ran = 0, total = clnet_check_case_count();
  for (int32_t i = 0; i < total; ++i) {
    const clnet_check_case *c = clnet_check_case_get(i);
    int match = 0;
    for (int32_t j = 0; j < n_ops; ++j) match |= strcmp(c->op, ops[j]) == 0 || strstr(c->op, ops[j]) == c->op;
    if (!match) continue;
    clnet_check_result res;
    uint64_t seed = 1 + (uint64_t)i; /* as `clnet check` numbers them */
    clnet_status st = clnet_check_run(dev, ref, c, seed, &res);
    cr_expect_eq(st, CLNET_SUCCESS, "%s [%s] could not run (seed %llu): %s", c->op, c->shape,
                 (unsigned long long)seed, clnet_last_error());
    cr_expect(res.passed, "%s [%s] %s failed (seed %llu): %s", c->op, c->shape,
              c->kind == CLNET_CHECK_CROSS ? "cross-check" : "gradient check", (unsigned long long)seed,
              res.detail);
    cr_expect(!res.skipped && res.compared > 0, "%s [%s] compared nothing", c->op, c->shape);
    ++ran;
  }
  cr_assert_gt(ran, 0, "no check cases for this family");
  clnet_ctx_free(dev);
  clnet_ctx_free(ref);
}

#define FAMILY(name, ...)                                            \
  Test(ops, name, .timeout = 600) {                                  \
    static const char *const ops[] = {__VA_ARGS__};                  \
    run_family(ops, (int32_t)(sizeof ops / sizeof ops[0]));          \
  }

FAMILY(eltwise, "relu", "add", "nonfinite_flag")
FAMILY(gemm, "gemm")
FAMILY(conv2d, "conv2d")
FAMILY(batchnorm, "batchnorm")
FAMILY(pool, "maxpool", "global_avgpool")
FAMILY(dense, "dense")
FAMILY(loss, "softmax_xent")
FAMILY(adam, "adam")

/* Every case in the table belongs to one of the families above. */
Test(ops, table_is_covered) {
  static const char *const prefixes[] = {"relu", "add", "nonfinite_flag", "gemm", "conv2d", "batchnorm", "maxpool",
                                         "global_avgpool", "dense", "softmax_xent", "adam"};
  for (int32_t i = 0; i < clnet_check_case_count(); ++i) {
    const clnet_check_case *c = clnet_check_case_get(i);
    int found = 0;
    for (size_t j = 0; j < sizeof prefixes / sizeof prefixes[0]; ++j)
      found |= strncmp(c->op, prefixes[j], strlen(prefixes[j])) == 0;
    cr_expect(found, "check case '%s' is not run by any test family", c->op);
  }
}
