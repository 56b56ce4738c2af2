/* clnet: the command-line front end. Only this layer prints and picks exit codes:
 * 0 success, 1 failure, 2 usage error. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: clnet <command> [options]\n"
          "\n"
          "commands:\n"
          "  devices                 list OpenCL platforms and devices\n"
          "  check   [--device D] [--quick]  cross-check every op on D against the CPU reference\n"
          "  train   [--device D] [--data DIR] [--model NAME|FILE.onnx] ...  train (see clnet train --help)\n"
          "  eval    --checkpoint FILE|FILE.onnx [--data DIR] [--device D]  evaluate a checkpoint or an ONNX model\n"
          "  predict --checkpoint FILE [--top K] [--json] IMAGE_OR_DIR...  top classes of image files\n"
          "  bench   [--device D] [--op NAME] [--model resnet18] ...  kernel and training-step benchmarks\n"
          "  tune    [--device D] [--quick] [--show] ...  tune CLBlast's GEMM kernels for the model's shapes\n"
          "  layers  [KIND]          the layer kinds and their attributes\n"
          "  models                  the model zoo\n"
          "  export  --checkpoint FILE --onnx OUT.onnx   a trained network as ONNX\n"
          "  onnx-test DIR [--device D]  run ONNX's backend test cases (libonnx-testdata) on D\n"
          "\n"
          "--device D: a global index, P:D, a case-insensitive name substring, or 'ref'\n"
          "(the plain-C reference). Default: $CLNET_DEVICE, else the first GPU, else the\n"
          "first device. Environment: CLNET_DEVICE, CLNET_CACHE_DIR, CLNET_NO_CACHE=1,\n"
          "CLNET_KERNEL_DIR (load cl/*.cl from a directory), CLNET_NO_TUNE=1 (ignore 'clnet tune' results),\n"
          "CLNET_CONV_ALGO=auto|rule|gemm|direct|winograd|winograd4|depthwise, CLNET_DENSE_ALGO=auto|rule|clblast|clnet (the dense\n"
          "layer's GEMMs), CLNET_NO_FUSION=1 (unfused BN/add/ReLU), CLNET_DEVICE_LIMITS=wg=N,local=B,alloc=B,type=gpu\n"
          "(testing: a small GPU's limits on any device).\n"
          "Several devices: clnet train --device 0,1; several processes: mpirun -np N clnet train.\n");
}

int cli_fail(clnet_status st, const char *what) {
  const char *msg = clnet_last_error();
  fprintf(stderr, "clnet: %s: ", what);
  cli_put_safe(stderr, msg && *msg ? msg : clnet_status_str(st), st == CLNET_ERR_BUILD); /* a build log has lines */
  fputc('\n', stderr);
  return CLI_FAIL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  char msg[4096];
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "clnet %s: ", cmd);
  cli_put_safe(stderr, msg, 0); /* it quotes the arguments */
  fprintf(stderr, "\n(run 'clnet %s --help' for usage)\n", cmd);
  return CLI_USAGE;
}

int cli_flag(int argc, char **argv, int *i, const char *name, const char **value) {
  const char *a = argv[*i];
  size_t n = strlen(name);
  if (strncmp(a, name, n) != 0) return 0;
  if (a[n] == '=') {
    *value = a + n + 1;
    return 1;
  }
  if (a[n] != '\0') return 0;
  if (*i + 1 >= argc) return -1;
  *value = argv[++*i];
  return 1;
}

int cli_parse_pos_int(const char *s, int64_t max, int64_t *out) {
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < 1 || v > max) return 0;
  *out = v;
  return 1;
}

int cli_parse_double(const char *s, double *out) {
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v)) return 0;
  *out = v;
  return 1;
}

/* The library's notes about the conv algorithm choice (a candidate failing its reference check,
 * a corrupt find-db file): not errors, shown on stderr. */
static void print_conv_note(void *user, const char *line) {
  (void)user;
  fprintf(stderr, "clnet: note: ");
  cli_put_safe(stderr, line, 0);
  fputc('\n', stderr);
}

/* AUTO's first timing on a device, said once per context (clnet train says more). */
static void print_algo_progress(void *user, const char *what) {
  int *said = user;
  if (*said) return;
  *said = 1;
  fprintf(stderr, "clnet: first run on this device: timing the algorithms of each layer shape (from %s on; "
                  "remembered for later runs)\n", what);
}

int cli_open_ctx(const char *device, clnet_ctx **ctx) {
  const char *env = getenv("CLNET_DEVICE");
  return cli_open_ctx_from(device, (!device || !*device) && env && *env ? "environment variable CLNET_DEVICE" : NULL,
                           ctx);
}

int cli_open_ctx_from(const char *device, const char *source, clnet_ctx **ctx) {
  static int said = 0;
  clnet_status st = clnet_ctx_create(device, ctx);
  if (st == CLNET_SUCCESS) clnet_ctx_set_algo_note_fn(*ctx, print_conv_note, NULL);
  if (st == CLNET_SUCCESS) clnet_ctx_set_algo_progress_fn(*ctx, print_algo_progress, &said);
  if (st == CLNET_SUCCESS) return CLI_OK;
  if (st == CLNET_ERR_DEVICE_NOT_FOUND || st == CLNET_ERR_DEVICE_AMBIGUOUS) {
    /* a selector from the environment, not from a flag, says so */
    fprintf(stderr, "clnet: ");
    if (source) fprintf(stderr, "%s: ", source);
    cli_put_safe(stderr, clnet_last_error(), 0);
    fputc('\n', stderr);
    return CLI_USAGE;
  }
  return cli_fail(st, "opening the device");
}

int cli_is_tty(void) {
  const char *ci = getenv("CI");
  return isatty(STDOUT_FILENO) && !(ci && *ci && strcmp(ci, "0") && strcmp(ci, "false"));
}

#ifdef CLNET_SANITIZE
/* fontconfig (under PLplot's cairo driver) keeps process-lifetime caches that
 * LeakSanitizer reports at exit; they do not grow per call. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libfontconfig\n"; }
#endif

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return CLI_USAGE;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
    usage(stdout);
    return CLI_OK;
  }
  if (!strcmp(cmd, "--version")) {
    printf("clnet 0.1.0\n");
    return CLI_OK;
  }
  if (!strcmp(cmd, "devices")) return cmd_devices(argc - 1, argv + 1);
  if (!strcmp(cmd, "check")) return cmd_check(argc - 1, argv + 1);
  if (!strcmp(cmd, "train")) return cmd_train(argc - 1, argv + 1);
  if (!strcmp(cmd, "eval")) return cmd_eval(argc - 1, argv + 1);
  if (!strcmp(cmd, "predict")) return cmd_predict(argc - 1, argv + 1);
  if (!strcmp(cmd, "bench")) return cmd_bench(argc - 1, argv + 1);
  if (!strcmp(cmd, "tune")) return cmd_tune(argc - 1, argv + 1);
  if (!strcmp(cmd, "layers")) return cmd_layers(argc - 1, argv + 1);
  if (!strcmp(cmd, "models")) return cmd_models(argc - 1, argv + 1);
  if (!strcmp(cmd, "export")) return cmd_export(argc - 1, argv + 1);
  if (!strcmp(cmd, "onnx-test")) return cmd_onnx_test(argc - 1, argv + 1);
  fprintf(stderr, "clnet: unknown command '%s'\n\n", cmd);
  usage(stderr);
  return CLI_USAGE;
}
