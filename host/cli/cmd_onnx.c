/* clnet export (a checkpoint as ONNX) and clnet onnx-test (ONNX's backend test cases). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

typedef struct onnx_test_state {
  int verbose;
  /* unsupported cases per op type, for the summary */
  char ops[128][32];
  int32_t op_count[128];
  int32_t n_ops;
} onnx_test_state;

static void on_case(const clnet_onnx_case_result *r, void *user) {
  onnx_test_state *s = user;
  static const char *const words[] = {"pass", "FAIL", "skip", "ERROR"};
  if (r->status == CLNET_ONNX_CASE_UNSUPPORTED) {
    const char *op = r->op[0] ? r->op : "(model)";
    int32_t i = 0;
    while (i < s->n_ops && strcmp(s->ops[i], op)) ++i;
    if (i == s->n_ops && s->n_ops < 128) snprintf(s->ops[s->n_ops++], sizeof s->ops[0], "%s", op);
    if (i < 128) s->op_count[i]++;
  }
  if (r->status == CLNET_ONNX_CASE_PASSED) {
    if (s->verbose) printf("pass  %s (%d data set%s, max abs error %.3g)\n", r->name, r->data_sets,
                           r->data_sets == 1 ? "" : "s", r->max_abs_err);
  } else if (r->status != CLNET_ONNX_CASE_UNSUPPORTED || s->verbose) {
    printf("%s  %s: %s\n", words[r->status], r->name, r->detail);
  }
  fflush(stdout);
}

int cmd_onnx_test(int argc, char **argv) {
  const char *device = NULL, *dir = NULL, *filter = NULL, *v = NULL;
  onnx_test_state s;
  memset(&s, 0, sizeof s);
  for (int i = 1; i < argc; ++i) {
    int r;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: clnet onnx-test [DIR] [--device D] [--filter S] [--verbose]\n"
             "Runs ONNX's backend test cases under DIR (default /usr/share/libonnx-testdata/data: node/ and\n"
             "pytorch-converted/, from Debian's libonnx-testdata; or one case directory) forward on D, against\n"
             "their expected outputs (|out - ref| <= 1e-7 + 1e-3 |ref|, ONNX's own tolerance). Cases whose\n"
             "model needs what clnet lacks are skipped and counted per op. Prints failures and a summary;\n"
             "--verbose prints every case. Exit status 1 if any case failed or errored.\n");
      return CLI_OK;
    }
    if ((r = cli_flag(argc, argv, &i, "--device", &v))) {
      if (r < 0) return cli_usage_error("onnx-test", "--device needs a value");
      device = v;
    } else if ((r = cli_flag(argc, argv, &i, "--filter", &v))) {
      if (r < 0) return cli_usage_error("onnx-test", "--filter needs a value");
      filter = v;
    } else if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v")) {
      s.verbose = 1;
    } else if (argv[i][0] == '-') {
      return cli_usage_error("onnx-test", "unknown argument '%s'", argv[i]);
    } else {
      if (dir) return cli_usage_error("onnx-test", "one directory at most, got '%s' and '%s'", dir, argv[i]);
      dir = argv[i];
    }
  }
  if (!dir) dir = "/usr/share/libonnx-testdata/data";
  clnet_ctx *ctx = NULL;
  int rc = cli_open_ctx(device, &ctx);
  if (rc != CLI_OK) return rc;
  printf("ONNX backend test cases under %s on %s\n", dir, clnet_ctx_device_name(ctx));
  clnet_onnx_test_summary sum;
  clnet_status st = clnet_onnx_test_dir(ctx, dir, filter, on_case, &s, &sum);
  clnet_ctx_free(ctx);
  if (st != CLNET_SUCCESS) return cli_fail(st, "onnx-test");
  printf("%d cases: %d passed, %d failed, %d errors, %d skipped as unsupported\n", sum.cases, sum.passed, sum.failed,
         sum.errors, sum.unsupported);
  if (s.n_ops) {
    printf("skipped, by the op that is unsupported (or '(model)': its input or output):\n");
    for (int32_t i = 0; i < s.n_ops; ++i) printf("  %-24s %d\n", s.ops[i], s.op_count[i]);
  }
  return sum.failed || sum.errors ? CLI_FAIL : CLI_OK;
}

int cmd_export(int argc, char **argv) {
  (void)argc, (void)argv;
  fprintf(stderr, "clnet export: not yet\n");
  return CLI_FAIL;
}
