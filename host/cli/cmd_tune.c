/* clnet tune: CLBlast's tuner for the GEMMs a model's layers issue on the GEMM conv path
 * (im2col chunks, K slices, backward data and filter) and its dense layer; the winners are stored
 * per device and applied by every later context (tune/clblast_tune.h). */
#include <math.h>
#include <pthread.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/parse.h"
#include "clnet/graph.h"
#include "core/error.h"
#include "tune/clblast_tune.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- recording the workload ---- */

/* Every GEMM one training step of the model issues with the GEMM conv algorithm: the graph set up
 * at `batch` runs one step with clnet_gemm recording each call instead of computing it (the
 * values are meaningless; the shapes are the step's). */
static clnet_status record_model(clnet_ctx *c, clnet_graph *g, int32_t batch, clnet_gemm_log *log) {
  clnet_status st = clnet_ctx_set_conv_algo(c, CLNET_CONV_ALGO_GEMM);
  int32_t h = 0, w = 0, ch = 0;
  clnet_graph_tensor_shape(g, 0, &h, &w, &ch);
  float *images = calloc((size_t)batch * h * w * ch, sizeof *images);
  int32_t *labels = calloc((size_t)batch, sizeof *labels);
  if (!images || !labels) st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "tune: a batch");
  if (st == CLNET_SUCCESS) st = clnet_graph_setup(g, c, batch);
  if (st == CLNET_SUCCESS) st = clnet_gemm_record(c, log);
  float loss = 0;
  int32_t correct = 0;
  if (st == CLNET_SUCCESS) st = clnet_graph_set_batch(g, images, labels, batch);
  if (st == CLNET_SUCCESS) st = clnet_graph_forward_backward(g, &loss, &correct);
  if (st == CLNET_SUCCESS) st = clnet_ctx_finish(c);
  clnet_gemm_record(c, NULL);
  free(images);
  free(labels);
  return st;
}

/* ---- progress: one line per step; on a terminal a ticker shows the seconds of the running step ---- */

typedef struct progress {
  double t0, step_t0;
  int tty, running, stop;
  char line[200];
  pthread_mutex_t mu;
  pthread_cond_t cv;
} progress;

static void on_progress(void *user, const char *stage, int32_t i, int32_t n, const char *detail) {
  progress *p = user;
  pthread_mutex_lock(&p->mu);
  double t = now_s();
  if (p->tty && p->running) printf("\r\033[K");
  char step[32] = "";
  if (n > 0) snprintf(step, sizeof step, " %d/%d", i < n ? i + 1 : n, n);
  printf("[%6.1f s] %s%s: %s\n", t - p->t0, stage, step, detail);
  /* i < n: a step starts (the ticker runs until the next message) */
  p->running = i < n;
  p->step_t0 = t;
  snprintf(p->line, sizeof p->line, "%s%s", stage, step);
  fflush(stdout);
  pthread_mutex_unlock(&p->mu);
}

static void *ticker(void *arg) {
  progress *p = arg;
  pthread_mutex_lock(&p->mu);
  while (!p->stop) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    if (!p->stop && p->running) {
      printf("\r\033[K           %s ... %.0f s", p->line, now_s() - p->step_t0);
      fflush(stdout);
    }
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

/* ---- CLBlast's tuner in a child process ----
 * CLBlast 1.5.3's TuneXgemm has corrupted the heap here (a crash in malloc minutes later), so each
 * tuner call runs in a fresh `clnet tune --tuner-child` process that prints the parameters; a
 * crash there only loses that shape. */

#define TUNER_CHILD_FAILED (-9999) /* not a CLBlast status */

static int tuner_in_child(void *user, clnet_ctx *ctx, int direct, size_t m, size_t n, size_t k, double fraction,
                          clnet_clblast_params *out) {
  (void)user;
  out->count = 0;
  char exe[4096], cmd[4400];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1); /* this clnet executable */
  if (len <= 0 || strchr(exe, '\'')) return TUNER_CHILD_FAILED;
  exe[len] = '\0';
  snprintf(cmd, sizeof cmd, "'%s' tune --tuner-child %d %d %zu %zu %zu %.9g", exe, clnet_ctx_device_info(ctx)->index,
           direct, m, n, k, fraction);
  FILE *p = popen(cmd, "r");
  if (!p) return TUNER_CHILD_FAILED;
  char line[4096] = "";
  int status = 0, got = fgets(line, sizeof line, p) != NULL;
  int rc = pclose(p);
  if (!got || rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) return TUNER_CHILD_FAILED;
  if (sscanf(line, "status %d", &status) == 1) return status;
  if (strncmp(line, "ok", 2)) return TUNER_CHILD_FAILED;
  char *save = NULL;
  for (char *tok = strtok_r(line + 2, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
    char *eq = strchr(tok, '=');
    if (!eq || out->count >= CLNET_CLBLAST_MAX_PARAMS || (size_t)(eq - tok) >= sizeof out->names[0])
      return TUNER_CHILD_FAILED;
    memcpy(out->names[out->count], tok, (size_t)(eq - tok));
    out->names[out->count][eq - tok] = '\0';
    out->values[out->count++] = strtoul(eq + 1, NULL, 10);
  }
  return out->count ? 0 : TUNER_CHILD_FAILED;
}

/* clnet tune --tuner-child DEVICE DIRECT M N K FRACTION: prints "ok NAME=V ..." or "status S". */
static int tuner_child(int argc, char **argv) {
  if (argc != 8) return CLI_USAGE;
  clnet_ctx *ctx = NULL;
  setenv("CLNET_NO_TUNE", "1", 1);
  if (clnet_ctx_create(argv[2], &ctx) != CLNET_SUCCESS || clnet_ctx_is_ref(ctx)) return CLI_FAIL;
  clnet_clblast_params p;
  int s = clnet_tune_shape_here(NULL, ctx, atoi(argv[3]), strtoul(argv[4], NULL, 10), strtoul(argv[5], NULL, 10),
                                strtoul(argv[6], NULL, 10), strtod(argv[7], NULL), &p);
  if (s != 0) {
    printf("status %d\n", s);
  } else {
    printf("ok");
    for (size_t i = 0; i < p.count; ++i) printf(" %s=%zu", p.names[i], p.values[i]);
    printf("\n");
  }
  clnet_ctx_free(ctx);
  return CLI_OK;
}

/* Candidate timings in a child process as well: `clnet tune --eval-child DEV DEPTH WIDTH IH IW IC
 * BATCH REPEAT LIMIT KERNEL:P=V,P=V ...` records the same model's GEMMs, applies the overrides,
 * times the workload and prints "total T" and one "t T" per shape. */
typedef struct model_args {
  int depth, width, ih, iw, ic, batch;
} model_args;

static clnet_status eval_in_child(void *user, clnet_ctx *ctx, const clnet_gemm_log *log, int32_t repeat, double limit,
                                  const clnet_tune_kernel *ov, int32_t n_ov, double *t, double *total) {
  const model_args *m = user;
  char exe[4096], cmd[8192];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0) return clnet_set_error(CLNET_ERR_IO, "readlink /proc/self/exe failed");
  exe[len] = '\0';
  if (strchr(exe, '\'')) return clnet_set_error(CLNET_ERR_IO, "%s: quote in path", exe);
  int pos = snprintf(cmd, sizeof cmd, "'%s' tune --eval-child %d %d %d %d %d %d %d %d %.9g", exe,
                     clnet_ctx_device_info(ctx)->index, m->depth, m->width, m->ih, m->iw, m->ic, m->batch, repeat,
                     limit == HUGE_VAL ? 1e30 : limit);
  for (int32_t i = 0; i < n_ov && pos > 0 && (size_t)pos < sizeof cmd; ++i) {
    pos += snprintf(cmd + pos, sizeof cmd - (size_t)pos, " %s:", ov[i].name);
    for (size_t j = 0; j < ov[i].params.count && (size_t)pos < sizeof cmd; ++j)
      pos += snprintf(cmd + pos, sizeof cmd - (size_t)pos, "%s%s=%zu", j ? "," : "", ov[i].params.names[j],
                      ov[i].params.values[j]);
  }
  if (pos <= 0 || (size_t)pos >= sizeof cmd) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "evaluation command too long");
  FILE *p = popen(cmd, "r");
  if (!p) return clnet_set_error(CLNET_ERR_IO, "cannot start %s", exe);
  char line[256];
  int32_t n = 0, got_total = 0;
  while (fgets(line, sizeof line, p)) {
    double v = 0;
    if (sscanf(line, "total %lf", &v) == 1) {
      *total = v >= 1e30 ? HUGE_VAL : v;
      got_total = 1;
    } else if (sscanf(line, "t %lf", &v) == 1 && n < log->count) {
      t[n++] = v;
    }
  }
  int rc = pclose(p);
  if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0 || !got_total)
    return clnet_set_error(CLNET_ERR_CLBLAST, "the evaluating process %s (status %d)",
                           WIFSIGNALED(rc) ? "crashed" : "failed", WIFSIGNALED(rc) ? WTERMSIG(rc) : WEXITSTATUS(rc));
  if (*total != HUGE_VAL && n != log->count)
    return clnet_set_error(CLNET_ERR_CLBLAST, "the evaluating process timed %d shapes, not %d", n, log->count);
  return CLNET_SUCCESS;
}

static clnet_status record_model(clnet_ctx *c, clnet_graph *g, int32_t batch, clnet_gemm_log *log);

static int eval_child(int argc, char **argv) {
  if (argc < 11) return CLI_USAGE;
  setenv("CLNET_NO_TUNE", "1", 1);
  clnet_ctx *ctx = NULL;
  if (clnet_ctx_create(argv[2], &ctx) != CLNET_SUCCESS || clnet_ctx_is_ref(ctx)) return CLI_FAIL;
  clnet_resnet_config cfg = {.depth = atoi(argv[3]), .width = atoi(argv[4]), .in_h = atoi(argv[5]),
                             .in_w = atoi(argv[6]), .in_c = atoi(argv[7]), .classes = 10};
  int32_t batch = atoi(argv[8]), repeat = atoi(argv[9]);
  double limit = strtod(argv[10], NULL);
  clnet_tune_kernel ov[CLNET_TUNE_MAX_KERNELS];
  int32_t n_ov = 0;
  for (int i = 11; i < argc && n_ov < CLNET_TUNE_MAX_KERNELS; ++i, ++n_ov) {
    char *colon = strchr(argv[i], ':');
    if (!colon) return CLI_USAGE;
    *colon = '\0';
    snprintf(ov[n_ov].name, sizeof ov[n_ov].name, "%s", argv[i]);
    ov[n_ov].params.count = 0;
    char *save = NULL;
    for (char *tok = strtok_r(colon + 1, ",", &save); tok && ov[n_ov].params.count < CLNET_CLBLAST_MAX_PARAMS;
         tok = strtok_r(NULL, ",", &save)) {
      char *eq = strchr(tok, '=');
      if (!eq) return CLI_USAGE;
      *eq = '\0';
      snprintf(ov[n_ov].params.names[ov[n_ov].params.count], sizeof ov[n_ov].params.names[0], "%s", tok);
      ov[n_ov].params.values[ov[n_ov].params.count++] = strtoul(eq + 1, NULL, 10);
    }
  }
  clnet_graph *g = NULL;
  clnet_gemm_log log = {0};
  double total = 0, *t = NULL;
  clnet_status st = clnet_resnet_build(&cfg, &g);
  if (st == CLNET_SUCCESS) st = record_model(ctx, g, batch, &log);
  clnet_graph_free(g);
  if (st == CLNET_SUCCESS && !(t = calloc((size_t)log.count + 1, sizeof *t))) st = CLNET_ERR_OUT_OF_HOST_MEMORY;
  if (st == CLNET_SUCCESS) st = clnet_tune_time_workload(NULL, ctx, &log, repeat, limit, ov, n_ov, t, &total);
  if (st == CLNET_SUCCESS) {
    printf("total %.9g\n", total == HUGE_VAL ? 1e30 : total);
    for (int32_t i = 0; i < log.count; ++i) printf("t %.9g\n", t[i]);
  }
  free(t);
  clnet_gemm_log_free(&log);
  clnet_ctx_free(ctx);
  return st == CLNET_SUCCESS ? CLI_OK : cli_fail(st, "tune --eval-child");
}

/* ---- --show ---- */

static void print_params(const char *kernel, const clnet_clblast_params *p) {
  printf("  %-12s", kernel);
  for (size_t i = 0; i < p->count; ++i) printf(" %s=%zu", p->names[i], p->values[i]);
  printf("\n");
}

static int show(const char *device) {
  clnet_ctx *ctx = NULL;
  int rc = cli_open_ctx(device, &ctx);
  if (rc != CLI_OK) return rc;
  if (clnet_ctx_is_ref(ctx)) {
    clnet_ctx_free(ctx);
    fprintf(stderr, "clnet tune: the reference backend does not use CLBlast\n");
    return CLI_USAGE;
  }
  char path[4096];
  int has_path = clnet_tune_path(clnet_ctx_device_info(ctx), path, sizeof path);
  const char *applied = clnet_tune_applied(ctx);
  printf("device: %s\n", clnet_ctx_device_name(ctx));
  printf("parameter file: %s\n", has_path ? path : "none (CLNET_NO_CACHE is set or no cache directory)");
  if (applied) {
    clnet_tune_file f;
    if (clnet_tune_load(applied, &f) != CLNET_SUCCESS) {
      clnet_ctx_free(ctx);
      return cli_fail(CLNET_ERR_FORMAT, "tune --show");
    }
    printf("applied: yes, tuned for %s (%.2f -> %.2f GFLOP/s on that workload when tuned)\n", f.workload,
           f.workload_gflops_before, f.workload_gflops_after);
    if (f.n_kernels == 0) printf("  the file keeps CLBlast's defaults (no candidate beat them)\n");
    for (int32_t i = 0; i < f.n_kernels; ++i) printf("  from the file: %s\n", f.kernels[i].name);
  } else if (clnet_tune_disabled()) {
    printf("applied: no (CLNET_NO_TUNE is set)\n");
  } else {
    printf("applied: no (no parameter file for this device: run 'clnet tune')\n");
  }
  printf("CLBlast's single-precision GEMM parameters in effect:\n");
  static const char *const kernels[] = {"Xgemm", "XgemmDirect", "GemmRoutine"};
  for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; ++i) {
    clnet_clblast_params p;
    clnet_status st = clnet_tune_current(ctx, kernels[i], &p);
    if (st != CLNET_SUCCESS) {
      clnet_ctx_free(ctx);
      return cli_fail(st, "tune --show");
    }
    print_params(kernels[i], &p);
  }
  clnet_ctx_free(ctx);
  return CLI_OK;
}

/* ---- clnet tune ---- */

int cmd_tune(int argc, char **argv) {
  const char *device = NULL, *v = NULL;
  int64_t batch = 256, width = 16, depth = 18;
  int32_t ih = 28, iw = 28, ic = 1;
  int quick = 0, show_only = 0;
  if (argc > 1 && !strcmp(argv[1], "--tuner-child")) return tuner_child(argc, argv);
  if (argc > 1 && !strcmp(argv[1], "--eval-child")) return eval_child(argc, argv);
  for (int i = 1; i < argc; ++i) {
    int r = 0;
#define FLAG(name) ((r = cli_flag(argc, argv, &i, name, &v)) != 0)
#define NEED(name) \
  if (r < 0) return cli_usage_error("tune", "%s needs a value", name)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: clnet tune [--device D] [--quick] [--depth 18|34] [--width W] [--input HxWxC] [--batch B]\n"
             "       clnet tune --show [--device D]\n"
             "Runs CLBlast's tuner (Xgemm, XgemmDirect) for the GEMMs one training step of the model\n"
             "issues on the GEMM convolution path and its dense layer (default: ResNet-18, width 16,\n"
             "28x28x1, batch 256), times each candidate and CLBlast's defaults on all of them, and\n"
             "stores the fastest next to the kernel cache ($CLNET_CACHE_DIR, default ~/.cache/clnet).\n"
             "Every later context on the device applies them (CLNET_NO_TUNE=1: don't). Also times a\n"
             "few values of CLBlast's direct/indirect crossover (XGEMM_MIN_INDIRECT_SIZE). Takes\n"
             "minutes; --quick tries a few configurations on one shape per kernel and skips the\n"
             "crossover (under a minute on small models). --show: the file and the parameters\n"
             "CLBlast uses now.\n"
             "Run 'clnet check' after tuning.\n");
      return CLI_OK;
    } else if (!strcmp(argv[i], "--quick")) quick = 1;
    else if (!strcmp(argv[i], "--show")) show_only = 1;
    else if (FLAG("--device")) { NEED("--device"); device = v; }
    else if (FLAG("--batch")) { NEED("--batch"); if (!cli_parse_pos_int(v, 65536, &batch)) return cli_usage_error("tune", "--batch must be in 1..65536"); }
    else if (FLAG("--width")) { NEED("--width"); if (!cli_parse_pos_int(v, 4096, &width)) return cli_usage_error("tune", "--width must be in 1..4096"); }
    else if (FLAG("--depth")) {
      NEED("--depth");
      if (!cli_parse_pos_int(v, 34, &depth) || (depth != 18 && depth != 34)) return cli_usage_error("tune", "--depth must be 18 or 34");
    } else if (FLAG("--input")) {
      NEED("--input");
      if (!clnet_parse_hwc(v, 4096, &ih, &iw, &ic) || ic > 64)
        return cli_usage_error("tune", "--input must be HxWxC (each 1..4096, C at most 64), e.g. 32x32x3, got '%s'", v);
    } else return cli_usage_error("tune", "unknown argument '%s'", argv[i]);
#undef FLAG
#undef NEED
  }
  if (show_only) return show(device);
  /* the baseline is CLBlast's defaults: this process does not apply an earlier file */
  setenv("CLNET_NO_TUNE", "1", 1);
  clnet_ctx *ctx = NULL;
  int rc = cli_open_ctx(device, &ctx);
  if (rc != CLI_OK) return rc;
  if (clnet_ctx_is_ref(ctx)) {
    clnet_ctx_free(ctx);
    fprintf(stderr, "clnet tune: the reference backend does not use CLBlast; pick an OpenCL device\n");
    return CLI_USAGE;
  }
  char path[4096];
  if (!clnet_tune_path(clnet_ctx_device_info(ctx), path, sizeof path)) {
    clnet_ctx_free(ctx);
    fprintf(stderr, "clnet tune: nowhere to store the parameters (CLNET_NO_CACHE is set, or neither "
                    "CLNET_CACHE_DIR, XDG_CACHE_HOME nor HOME is)\n");
    return CLI_FAIL;
  }
  clnet_graph *g = NULL;
  clnet_resnet_config cfg = {.depth = (int32_t)depth, .width = (int32_t)width, .in_h = ih, .in_w = iw, .in_c = ic, .classes = 10};
  clnet_gemm_log log = {0};
  clnet_tune_result res;
  memset(&res, 0, sizeof res);
  clnet_status st = clnet_resnet_build(&cfg, &g);
  if (st == CLNET_SUCCESS) st = record_model(ctx, g, (int32_t)batch, &log);
  clnet_graph_free(g);
  if (st != CLNET_SUCCESS) {
    clnet_gemm_log_free(&log);
    clnet_ctx_free(ctx);
    return cli_fail(st, "tune: recording the model's GEMMs");
  }
  snprintf(res.file.workload, sizeof res.file.workload, "ResNet-%d width %d input %dx%dx%d batch %d (%d GEMM shapes)",
           (int)depth, (int)width, ih, iw, ic, (int)batch, log.count);
  printf("clnet tune on %s: %s%s\n", clnet_ctx_device_name(ctx), res.file.workload, quick ? ", quick" : "");
  /* Fractions of CLBlast's random-search space (on PoCL 3.1, AVX-512 CPU: Xgemm's has some
   * tens of thousands of configurations, each compiled: ~1-3 s apiece there). The tuner's
   * sample is a fixed shuffle, so a larger fraction tries a superset. */
  clnet_tune_options opt = quick ? (clnet_tune_options){.xgemm_shapes = 1, .direct_shapes = 1, .xgemm_fraction = 2e-4,
                                                        .direct_fraction = 1e-3, .repeat = 2, .threshold = 0}
                                 : (clnet_tune_options){.xgemm_shapes = 2, .direct_shapes = 2, .xgemm_fraction = 1e-3,
                                                        .direct_fraction = 5e-3, .repeat = 3, .threshold = 1};
  model_args margs = {(int)depth, (int)width, ih, iw, ic, (int)batch};
  opt.tuner = tuner_in_child;
  opt.evaluate = eval_in_child;
  opt.evaluate_user = &margs;
  progress p = {.t0 = now_s(), .tty = cli_is_tty()};
  pthread_mutex_init(&p.mu, NULL);
  pthread_cond_init(&p.cv, NULL);
  pthread_t th;
  int have_ticker = p.tty && pthread_create(&th, NULL, ticker, &p) == 0;
  st = clnet_tune_run(ctx, &log, &opt, on_progress, &p, &res);
  if (have_ticker) {
    pthread_mutex_lock(&p.mu);
    p.stop = 1;
    pthread_cond_signal(&p.cv);
    pthread_mutex_unlock(&p.mu);
    pthread_join(th, NULL);
  }
  pthread_cond_destroy(&p.cv);
  pthread_mutex_destroy(&p.mu);
  if (st == CLNET_SUCCESS) {
    printf("\n%-26s %6s %12s %12s %7s\n", "GEMM (m x n x k, A B)", "calls", "defaults", "tuned", "");
    double flop_all = 0, tb = 0, ta = 0;
    for (int32_t i = 0; i < log.count; ++i) {
      const clnet_gemm_shape *s = &log.shapes[i];
      double flop = 2.0 * s->m * s->n * s->k;
      char shape[64];
      snprintf(shape, sizeof shape, "%d x %d x %d %s%s", s->m, s->n, s->k, s->trans_a ? "T" : "N", s->trans_b ? "T" : "N");
      printf("%-26s %6d %7.2f GF/s %7.2f GF/s %6.2fx\n", shape, s->calls, flop / res.before_s[i] / 1e9,
             flop / res.after_s[i] / 1e9, res.before_s[i] / res.after_s[i]);
      flop_all += flop * s->calls;
      tb += res.before_s[i] * s->calls;
      ta += res.after_s[i] * s->calls;
    }
    printf("%-26s %6s %7.2f GF/s %7.2f GF/s %6.2fx  (%.1f -> %.1f ms per training step's GEMMs)\n", "all, weighted by calls", "",
           flop_all / tb / 1e9, flop_all / ta / 1e9, tb / ta, tb * 1e3, ta * 1e3);
    printf("Xgemm: %s; XgemmDirect: %s; GemmRoutine: %s\n", res.chosen[0], res.chosen[1], res.chosen[2]);
    st = clnet_tune_save(path, &res.file);
    if (st == CLNET_SUCCESS)
      printf("saved %s (applied by every later context on this device; CLNET_NO_TUNE=1 skips it).\n"
             "Run 'clnet check' to confirm the parameters on this device.\n", path);
  }
  clnet_tune_result_free(&res);
  clnet_gemm_log_free(&log);
  clnet_ctx_free(ctx);
  return st == CLNET_SUCCESS ? CLI_OK : cli_fail(st, "tune");
}
