/* clnet check: every op on the chosen device against the reference (and the
 * reference's gradients against finite differences), as a table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "clnet/check.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void print_model_row(const clnet_model_check_row *r, void *user) {
  int *rows = user;
  ++*rows;
  printf("%-44s %8lld %10.3g %10.3g %10.3g  %s", r->name, (long long)r->count, r->max_abs, r->max_rel, r->scale,
         r->passed ? "pass" : "FAIL");
  if (r->masked) printf(" (%lld masked: gradient ~ 0)", (long long)r->masked);
  printf("\n");
}

/* ca, da: the algorithms the step runs with (--algo, --dense-algo); conv, dense: their names. */
static int run_model_check(clnet_ctx *dev, clnet_ctx *ref, const char *model, uint64_t seed, clnet_conv_algo ca,
                           const char *conv, clnet_dense_algo da, const char *dense) {
  if (clnet_ctx_is_ref(dev)) {
    printf("the device is the reference itself: --model compares an OpenCL device with it\n");
    return CLI_USAGE;
  }
  clnet_status cs = clnet_ctx_set_conv_algo(dev, ca);
  if (cs == CLNET_SUCCESS) cs = clnet_ctx_set_dense_algo(dev, da);
  if (cs != CLNET_SUCCESS) return cli_fail(cs, "check --model");
  printf("convolutions: %s, dense: %s%s\n", conv, dense,
         strcmp(conv, "auto") ? " (--algo auto: the find-db's timed choices)" : "");
  printf("%-44s %8s %10s %10s %10s  %s\n", "tensor", "elements", "max abs", "max rel", "max |ref|", "result");
  int rows = 0;
  int32_t failures = 0;
  double t0 = now_s();
  printf("model: %s\n", model);
  clnet_status st = clnet_check_model_of(dev, ref, model, seed, print_model_row, &rows, &failures);
  if (st != CLNET_SUCCESS) return cli_fail(st, "check --model");
  printf("\n%d passed, %d failed in %.1f s (seed %llu)\n", rows - failures, failures, now_s() - t0,
         (unsigned long long)seed);
  return failures ? CLI_FAIL : CLI_OK;
}

/* --op NAME must select some case: else a usage error that lists the ops there are. */
static int check_op_matches(const char *op) {
  char ops[4096] = "";
  const int32_t n = clnet_check_case_count();
  for (int32_t i = 0; i < n; ++i) {
    const char *name = clnet_check_case_get(i)->op;
    if (strstr(name, op)) return CLI_OK;
    int seen = 0; /* each op once, in case order */
    for (int32_t j = 0; j < i && !seen; ++j) seen = !strcmp(clnet_check_case_get(j)->op, name);
    size_t used = strlen(ops);
    if (!seen) snprintf(ops + used, sizeof ops - used, "%s%s", used ? ", " : "", name);
  }
  return cli_usage_error("check", "--op '%s' matches no case; the ops are: %s", op, ops);
}

int cmd_check(int argc, char **argv) {
  const char *device = NULL, *op = NULL, *v = NULL, *model_name = "resnet18", *conv_algo = NULL, *dense_algo = NULL;
  int64_t seed = 1;
  int verbose = 0, model = 0, quick = 0, list_kernels = 0;
  for (int i = 1; i < argc; ++i) {
    int r;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: clnet check [--device D] [--op NAME] [--quick] [--seed S] [--kernels] [--verbose]\n"
             "       clnet check --model [NAME] [--device D] [--seed S] [--algo A] [--dense-algo A]\n"
             "Runs every op on D and on the CPU reference with the same random inputs and\n"
             "compares them element by element (|a-b| <= atol + rtol*|b|; 'of tol' is the worst\n"
             "element's error as a share of its tolerance; guard zones around\n"
             "every device buffer), and checks the reference's backward ops against central\n"
             "finite differences in double. Exit status 0 only when every case passes.\n"
             "  --op NAME   only cases whose op name contains NAME\n"
             "  --quick     only the quick subset: small shapes that still run every kernel and variant\n"
             "              (minutes under a simulator such as Oclgrind; docs/CHECKS.md)\n"
             "  --kernels   at the end, list the OpenCL kernels the cases launched\n"
             "  --model [NAME]  instead: one whole training step of a small zoo model (default resnet18) on D and on\n"
             "              the reference (loss, logits, every gradient, BN statistics,\n"
             "              weights after one Adam step)\n"
             "  --algo A    with --model: the convolutions' algorithm (default rule: the fixed choice, so\n"
             "              the result does not depend on timings; auto: the find-db's timed choices;\n"
             "              gemm, direct, winograd, winograd4 or depthwise where it applies; docs/CHECKS.md)\n"
             "  --dense-algo A  with --model: the dense layers' GEMMs (default rule; auto, clblast, clnet)\n"
             "  --seed S    base seed (case i uses S + i); printed with each failure\n");
      return CLI_OK;
    }
    if ((r = cli_flag(argc, argv, &i, "--device", &device))) {
      if (r < 0) return cli_usage_error("check", "--device needs a value");
    } else if ((r = cli_flag(argc, argv, &i, "--op", &op))) {
      if (r < 0) return cli_usage_error("check", "--op needs a value");
    } else if ((r = cli_flag(argc, argv, &i, "--seed", &v))) {
      if (r < 0 || !cli_parse_pos_int(v, INT64_MAX, &seed))
        return cli_usage_error("check", "--seed needs a positive integer");
    } else if ((r = cli_flag(argc, argv, &i, "--algo", &conv_algo))) {
      if (r < 0) return cli_usage_error("check", "--algo needs a value");
    } else if ((r = cli_flag(argc, argv, &i, "--dense-algo", &dense_algo))) {
      if (r < 0) return cli_usage_error("check", "--dense-algo needs a value");
    } else if (!strcmp(argv[i], "--model")) {
      model = 1;
      if (i + 1 < argc && argv[i + 1][0] != '-') model_name = argv[++i];
    } else if (!strcmp(argv[i], "--quick")) {
      quick = 1;
    } else if (!strcmp(argv[i], "--kernels")) {
      list_kernels = 1;
    } else if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v")) {
      verbose = 1;
    } else {
      return cli_usage_error("check", "unknown argument '%s'", argv[i]);
    }
  }
  if (op && model) return cli_usage_error("check", "--op selects cases of the op check; --model checks a whole step");
  if (op && check_op_matches(op) != CLI_OK) return CLI_USAGE;
  if ((conv_algo || dense_algo) && !model)
    return cli_usage_error("check", "--algo and --dense-algo go with --model (the op check runs every algorithm)");
  clnet_conv_algo ca = CLNET_CONV_ALGO_RULE; /* --model's defaults: no timing decides */
  clnet_dense_algo da = CLNET_DENSE_ALGO_RULE;
  if (conv_algo && clnet_conv_algo_parse(conv_algo, &ca) != CLNET_SUCCESS)
    return cli_usage_error("check", "--algo must be rule, auto, gemm, direct, winograd, winograd4 or depthwise, got '%s'",
                           conv_algo);
  if (dense_algo && clnet_dense_algo_parse(dense_algo, &da) != CLNET_SUCCESS)
    return cli_usage_error("check", "--dense-algo must be rule, auto, clblast or clnet, got '%s'", dense_algo);
  clnet_ctx *dev = NULL, *ref = NULL;
  int rc = cli_open_ctx(device, &dev);
  if (rc != CLI_OK) return rc;
  if ((rc = cli_open_ctx("ref", &ref)) != CLI_OK) {
    clnet_ctx_free(dev);
    return rc;
  }
  printf("clnet check%s on %s\n", model ? " --model" : "", clnet_ctx_device_name(dev));
  if (model) {
    rc = run_model_check(dev, ref, model_name, (uint64_t)seed, ca, conv_algo ? conv_algo : "rule", da,
                         dense_algo ? dense_algo : "rule");
    clnet_ctx_free(dev);
    clnet_ctx_free(ref);
    return rc;
  }
  printf("%-26s %-34s %-5s %10s %10s %8s  %s\n", "op", "shape", "kind", "max abs", "max rel", "of tol", "result");
  int32_t n = clnet_check_case_count(), passed = 0, failed = 0, skipped = 0;
  double t0 = now_s();
  for (int32_t i = 0; i < n; ++i) {
    const clnet_check_case *c = clnet_check_case_get(i);
    if (op && !strstr(c->op, op)) continue;
    if (quick && !clnet_check_case_quick(i)) continue;
    clnet_check_result res;
    clnet_status st = clnet_check_run(dev, ref, c, (uint64_t)seed + (uint64_t)i, &res);
    const char *kind = c->kind == CLNET_CHECK_CROSS ? "xchk" : "grad";
    if (res.skipped) {
      ++skipped;
      if (verbose) printf("%-26s %-34s %-5s %10s %10s %8s  skip (no device to compare)\n", c->op, c->shape, kind, "-", "-", "-");
      continue;
    }
    int ok = st == CLNET_SUCCESS && res.passed;
    ok ? ++passed : ++failed;
    printf("%-26s %-34s %-5s %10.3g %10.3g %7.0f%%  %s\n", c->op, c->shape, kind, res.max_abs, res.max_rel,
           100 * res.worst_ratio, ok ? "pass" : "FAIL");
    if (!ok)
      printf("    seed %llu: %s\n", (unsigned long long)res.seed, res.detail[0] ? res.detail : clnet_last_error());
    fflush(stdout);
  }
  double secs = now_s() - t0;
  clnet_ctx_stats s = clnet_ctx_get_stats(dev);
  printf("\n%d passed, %d failed", passed, failed);
  if (skipped) printf(", %d skipped (cross-checks need an OpenCL device)", skipped);
  printf(" in %.1f s", secs);
  if (!clnet_ctx_is_ref(dev))
    printf("; kernel programs: %d compiled, %d from cache (%.2f s building)", s.programs_built,
           s.programs_cached, s.build_seconds);
  printf("\n");
  if (list_kernels) {
    char name[160];
    printf("kernels launched: %d\n", clnet_ctx_kernel_count(dev));
    for (int32_t k = 0; k < clnet_ctx_kernel_count(dev); ++k) printf("  %s\n", clnet_ctx_kernel_name(dev, k, name, sizeof name));
  }
  clnet_ctx_free(dev);
  clnet_ctx_free(ref);
  return failed || passed == 0 ? CLI_FAIL : CLI_OK;
}
