/* clnet bench: per-op microbenchmarks at every shape of the model, and
 * whole-training-step throughput. Times are wall clock around a finished
 * queue; the first call (kernel build, CLBlast compile) is reported apart. */
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/parse.h"
#include "clnet/graph.h"
#include "core/error.h"
#include "io/fs.h"
#include "tune/clblast_tune.h"


static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
  clnet_ctx *ctx;
  int32_t repeat;
  double peak_gflops, peak_gbs;
  FILE *json;
  int json_rows;
  const char *filter;
  double last_rate;          /* GFLOP/s or GB/s of the last row reported */
  struct openblas *openblas; /* CPU devices: OpenBLAS's SGEMM to compare with, else NULL */
} bench_env;

enum { B_FWD, B_BWD_DATA, B_BWD_FILTER, B_BWD };

/* One timed op: runs it once (first call), then `repeat` times; reports the median. */
typedef clnet_status (*op_fn)(void *state, int which);

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static clnet_status time_op(bench_env *e, op_fn fn, void *state, int which, double *first, double *median) {
  double t0 = now_s();
  clnet_status st = fn(state, which);
  if (st == CLNET_SUCCESS) st = clnet_ctx_finish(e->ctx);
  if (st != CLNET_SUCCESS) return st;
  *first = now_s() - t0;
  double t[64];
  int32_t r = e->repeat > 64 ? 64 : e->repeat;
  for (int32_t i = 0; i < r; ++i) {
    double a = now_s();
    st = fn(state, which);
    if (st == CLNET_SUCCESS) st = clnet_ctx_finish(e->ctx);
    if (st != CLNET_SUCCESS) return st;
    t[i] = now_s() - a;
  }
  qsort(t, (size_t)r, sizeof t[0], cmp_double);
  *median = t[r / 2];
  return CLNET_SUCCESS;
}

static void report(bench_env *e, const char *op, const char *shape, double first, double t, double gflop, double gbytes) {
  double rate = gflop > 0 ? gflop / t : gbytes / t;
  e->last_rate = rate;
  double peak = gflop > 0 ? e->peak_gflops : e->peak_gbs;
  printf("%-62s %-14s %9.1f %9.3f %9.1f %-6s %6.1f%%\n", op, shape, (first - t) * 1e3 > 0 ? (first - t) * 1e3 : 0,
         t * 1e3, rate, gflop > 0 ? "GF/s" : "GB/s", peak > 0 ? 100 * rate / peak : 0);
  fflush(stdout);
  if (e->json)
    fprintf(e->json, "%s  {\"op\": \"%s\", \"shape\": \"%s\", \"first_call_ms\": %.3f, \"ms\": %.4f, \"%s\": %.3f, \"peak_share\": %.4f}",
            e->json_rows++ ? ",\n" : "", op, shape, first * 1e3, t * 1e3, gflop > 0 ? "gflops" : "gbytes_per_s", rate,
            peak > 0 ? rate / peak : 0);
}

/* ---- OpenBLAS's SGEMM as the practical limit on a CPU device ----
 * Loaded at run time (the library never links it; Debian: libopenblas0, or libopenblas-dev).
 * Timed single-threaded and with one thread per online CPU (what PoCL uses), in the same run as
 * clnet's rows, at 1024^3 and at each conv's GEMM-equivalent shape
 * (M = N*OH*OW, N = C_out, K = KH*KW*C_in, row-major, no transposes). */
typedef void (*cblas_sgemm_fn)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                               const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
typedef struct openblas {
  void *lib;
  char name[32];
  char core[128]; /* the kernel set OpenBLAS runs (openblas_get_corename), and why */
  cblas_sgemm_fn sgemm;
  void (*set_threads)(int);
  int threads; /* online CPUs */
} openblas;

enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111 };

/* The OpenBLAS core type the CPU's flags support (/proc/cpuinfo), or NULL. */
static const char *cpu_core_type(void) {
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return NULL;
  char line[8192];
  int avx512 = 0, avx2 = 0, fma = 0, avx = 0;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "flags", 5)) {
      avx512 = strstr(line, " avx512f") && strstr(line, " avx512bw") && strstr(line, " avx512vl") && strstr(line, " avx512dq");
      avx2 = strstr(line, " avx2") != NULL;
      fma = strstr(line, " fma") != NULL;
      avx = strstr(line, " avx") != NULL;
      break;
    }
  fclose(f);
  return avx512 ? "SkylakeX" : avx2 && fma ? "Haswell" : avx ? "Sandybridge" : NULL;
}

/* OpenBLAS picks its kernels by CPU model; on a virtual CPU with a generic model name it falls
 * back to its oldest (Prescott: SGEMM 1024^3 at 39 against 205 GFLOP/s with SkylakeX on a
 * 2-core AVX-512 machine), which would make every "share of OpenBLAS" about 5x too kind. When it
 * chose such a core and the CPU's flags support a newer one, reload it with OPENBLAS_CORETYPE set
 * (unless the user set it). ob->core says what runs and why. */
static void openblas_pick_core(openblas *ob) {
  const char *(*corename)(void) = NULL;
  *(void **)&corename = dlsym(ob->lib, "openblas_get_corename");
  const char *got = corename ? corename() : "unknown";
  snprintf(ob->core, sizeof ob->core, "%s, OpenBLAS's choice", got);
  static const char *const legacy[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Katmai",
                                       "Coppermine", "Northwood", "Banias", "Athlon", "Opteron", "Barcelona"};
  int old = 0;
  for (size_t i = 0; i < sizeof legacy / sizeof legacy[0]; ++i) old |= !strcmp(got, legacy[i]);
  const char *want = cpu_core_type();
  const char *user = getenv("OPENBLAS_CORETYPE");
  if (!old || !want || (user && *user)) return;
  char was[32];
  snprintf(was, sizeof was, "%s", got);
  dlclose(ob->lib);
  setenv("OPENBLAS_CORETYPE", want, 1);
  ob->lib = dlopen(ob->name, RTLD_NOW | RTLD_LOCAL);
  *(void **)&ob->sgemm = ob->lib ? dlsym(ob->lib, "cblas_sgemm") : NULL;
  *(void **)&ob->set_threads = ob->lib ? dlsym(ob->lib, "openblas_set_num_threads") : NULL;
  *(void **)&corename = ob->lib ? dlsym(ob->lib, "openblas_get_corename") : NULL;
  snprintf(ob->core, sizeof ob->core, "%s; OpenBLAS chose %s, the CPU's flags support %s", corename ? corename() : want,
           was, want);
}

/* 1 and *ob filled, or 0 with the reason in why. */
static int openblas_open(openblas *ob, char *why, size_t cap) {
  memset(ob, 0, sizeof ob[0]);
  /* OpenBLAS's worker threads spin for a while after each call (2^28 cycles by default) and
   * would take a core from the clnet row timed next, which then ran at its one-core speed in
   * about half of the runs; with the shortest timeout they sleep at once. Read at load time;
   * a value the user set is kept. */
  setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0);
  static const char *const names[] = {"libopenblas.so.0", "libopenblas.so"};
  for (size_t i = 0; i < 2 && !ob->lib; ++i)
    if ((ob->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL))) snprintf(ob->name, sizeof ob->name, "%s", names[i]);
  if (!ob->lib) {
    snprintf(why, cap, "libopenblas.so.0 / libopenblas.so not found (%s; Debian: apt install libopenblas0)", dlerror());
    return 0;
  }
  /* POSIX: dlsym's result converts to a function pointer; C11 alone does not say so */
  *(void **)&ob->sgemm = dlsym(ob->lib, "cblas_sgemm");
  *(void **)&ob->set_threads = dlsym(ob->lib, "openblas_set_num_threads");
  if (!ob->sgemm || !ob->set_threads) {
    snprintf(why, cap, "%s has no cblas_sgemm / openblas_set_num_threads", ob->name);
    dlclose(ob->lib);
    return 0;
  }
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  ob->threads = cpus > 0 ? (int)cpus : 1;
  openblas_pick_core(ob);
  return 1;
}

/* GFLOP/s of C (m, n) = A (m, k) . B (k, n) on `threads` threads: median of `repeat` after a
 * warm-up call; 0 when the matrices cannot be allocated. */
static double openblas_gflops(openblas *ob, int threads, int m, int n, int k, int repeat) {
  float *a = malloc((size_t)m * k * sizeof *a), *b = malloc((size_t)k * n * sizeof *b), *c = malloc((size_t)m * n * sizeof *c);
  double rate = 0, t[64];
  if (a && b && c) {
    for (size_t i = 0; i < (size_t)m * k; ++i) a[i] = 0.01f;
    for (size_t i = 0; i < (size_t)k * n; ++i) b[i] = 0.01f;
    ob->set_threads(threads);
    ob->sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_NO_TRANS, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
    int r = repeat < 1 ? 1 : repeat > 64 ? 64 : repeat;
    for (int i = 0; i < r; ++i) {
      double t0 = now_s();
      ob->sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_NO_TRANS, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
      t[i] = now_s() - t0;
    }
    qsort(t, (size_t)r, sizeof t[0], cmp_double);
    rate = 2.0 * m * n * k / t[r / 2] / 1e9;
  }
  free(a);
  free(b);
  free(c);
  return rate;
}

static clnet_status alloc_filled(clnet_ctx *c, size_t floats, const char *what, clnet_buf *b) {
  clnet_status st = clnet_buf_alloc(c, floats * 4, what, b);
  if (st != CLNET_SUCCESS) return st;
  return clnet_buf_fill(c, b, 0, b->bytes, 0x3c23d70au); /* 0.01f: no denormals, no NaN */
}

typedef struct {
  clnet_ctx *ctx;
  int32_t s;
  clnet_buf *a, *b, *c;
} sgemm_state;

static clnet_status run_sgemm(void *p, int which) {
  sgemm_state *g = p;
  return clnet_gemm(g->ctx, 0, 0, g->s, g->s, g->s, 1.0f, g->a, 0, g->s, g->b, 0, g->s, 0.0f, g->c, 0, g->s);
}

/* SGEMM 1024^3 through clnet_gemm (CLBlast, with any `clnet tune` parameters), and OpenBLAS's
 * when there is one. */
static clnet_status bench_sgemm_1024(bench_env *e) {
  const int32_t s = 1024;
  clnet_ctx *c = e->ctx;
  clnet_buf a = {0}, b = {0}, cc = {0};
  clnet_status st = alloc_filled(c, (size_t)s * s, "sgemm A", &a);
  if (st == CLNET_SUCCESS) st = alloc_filled(c, (size_t)s * s, "sgemm B", &b);
  if (st == CLNET_SUCCESS) st = alloc_filled(c, (size_t)s * s, "sgemm C", &cc);
  sgemm_state gs = {c, s, &a, &b, &cc};
  double first = 0, t = 0;
  if (st == CLNET_SUCCESS) st = time_op(e, run_sgemm, &gs, 0, &first, &t);
  if (st == CLNET_SUCCESS) {
    report(e, "sgemm (clnet_gemm, CLBlast)", "1024x1024x1024", first, t, 2.0 * s * s * s / 1e9, 0);
    if (e->openblas) {
      openblas *ob = e->openblas;
      double clnet_rate = e->last_rate, gt = openblas_gflops(ob, ob->threads, s, s, s, e->repeat),
             g1 = openblas_gflops(ob, 1, s, s, s, e->repeat);
      printf("  OpenBLAS sgemm 1024x1024x1024: %.1f GF/s 1 thread, %.1f GF/s %d threads; clnet = %.0f%% of %d threads\n",
             g1, gt, ob->threads, gt > 0 ? 100 * clnet_rate / gt : 0, ob->threads);
      if (e->json)
        fprintf(e->json, "%s  {\"op\": \"openblas sgemm\", \"shape\": \"1024x1024x1024\", \"m\": 1024, \"n\": 1024, "
                "\"k\": 1024, \"openblas_gflops_1_thread\": %.3f, \"openblas_gflops_threads\": %.3f, "
                "\"openblas_threads\": %d, \"clnet_share_of_openblas\": %.4f}",
                e->json_rows++ ? ",\n" : "", g1, gt, ob->threads, gt > 0 ? clnet_rate / gt : 0);
    }
  }
  clnet_buf_free(c, &a);
  clnet_buf_free(c, &b);
  clnet_buf_free(c, &cc);
  return st;
}

/* Before the table: which CLBlast parameters are in effect, and OpenBLAS on a CPU device (or why
 * not). */
static void bench_gemm_setup(bench_env *e, openblas *ob) {
  const clnet_device_info *dev = clnet_ctx_device_info(e->ctx);
  if (!dev) return;
  const char *tuned = clnet_tune_applied(e->ctx);
  printf("CLBlast GEMM parameters: %s%s\n", tuned ? "from 'clnet tune', " : "CLBlast's defaults",
         tuned ? tuned : clnet_tune_disabled() ? " (CLNET_NO_TUNE is set)" : "");
  if (dev->type & CL_DEVICE_TYPE_CPU) {
    char why[512];
    if (openblas_open(ob, why, sizeof why)) {
      e->openblas = ob;
      if (!ob->lib || !ob->sgemm || !ob->set_threads) {
        printf("OpenBLAS comparison skipped: reloading %s with OPENBLAS_CORETYPE failed\n", ob->name);
        e->openblas = NULL;
        return;
      }
      printf("OpenBLAS comparison: %s cblas_sgemm (core %s), 1 thread and %d threads (this machine's online CPUs), "
             "same run\n", ob->name, ob->core, ob->threads);
      if (e->json)
        fprintf(e->json, "%s  {\"op\": \"openblas core\", \"core\": \"%s\"}", e->json_rows++ ? ",\n" : "", ob->core);
    } else {
      printf("OpenBLAS comparison skipped: %s\n", why);
      if (e->json)
        fprintf(e->json, "%s  {\"op\": \"openblas sgemm\", \"skipped\": \"%s\"}", e->json_rows++ ? ",\n" : "",
                "OpenBLAS not found");
    }
  }
}


/* ---- one executed layer's rows ----
 * The graph is set up and has run one training step (kernels built, algorithms chosen), so every
 * buffer holds a step's values. Each pass of each distinct layer (kind, attributes, input shapes,
 * fusion) runs alone (clnet_graph_layer_run) `repeat` times with the queue finished around each
 * run; on an OpenCL device the queue profiles, and each op label the pass produced (a conv's
 * backward gives two, "bwd-filter" and "bwd-data", each naming its algorithm) is a row with its
 * device time per run. Rates: a layer with multiply-adds does 2*macs FLOPs forward and twice that
 * backward, shared evenly by the backward's labels; other layers move their minimal bytes
 * (clnet_graph_layer_cost). */
typedef struct {
  clnet_graph *g;
  int32_t layer, backward;
} layer_run;

static clnet_status run_layer_pass(void *p, int which) {
  (void)which;
  layer_run *r = p;
  return clnet_graph_layer_run(r->g, r->layer, r->backward);
}

/* OpenBLAS at a layer's GEMM-equivalent shape (M = N*OH*OW, N = C_out, K = macs per output), and
 * the share of it each of the pass rows reached. */
static void openblas_layer_row(bench_env *e, const clnet_layer_info *li, int32_t n, double macs, const double *rates,
                               const char *const *labels, int32_t n_rates) {
  openblas *ob = e->openblas;
  const int m = n * li->out_h * li->out_w, nn = li->out_c;
  const int k = (int)(macs / ((double)li->out_h * li->out_w * li->out_c) + 0.5);
  if (m < 1 || nn < 1 || k < 1) return;
  /* all threads first, 1 thread last: OpenBLAS's idle workers then sleep during clnet's rows */
  double gt = openblas_gflops(ob, ob->threads, m, nn, k, e->repeat), g1 = openblas_gflops(ob, 1, m, nn, k, e->repeat);
  if (gt <= 0) return;
  printf("  OpenBLAS sgemm %dx%dx%d: %.1f GF/s 1 thread, %.1f GF/s %d threads; clnet =", m, nn, k, g1, gt, ob->threads);
  for (int32_t i = 0; i < n_rates; ++i) printf("%s %.0f%%", i ? " /" : "", 100 * rates[i] / gt);
  printf(" of %d threads\n", ob->threads);
  fflush(stdout);
  if (e->json) {
    fprintf(e->json, "%s  {\"op\": \"openblas sgemm (GEMM-equivalent)\", \"shape\": \"%dx%dx%d\", \"m\": %d, \"n\": %d, "
            "\"k\": %d, \"openblas_gflops_1_thread\": %.3f, \"openblas_gflops_threads\": %.3f, \"openblas_threads\": %d, "
            "\"clnet_share_of_openblas\": {", e->json_rows++ ? ",\n" : "", m, nn, k, m, nn, k, g1, gt, ob->threads);
    for (int32_t i = 0; i < n_rates; ++i) fprintf(e->json, "%s\"%s\": %.4f", i ? ", " : "", labels[i], rates[i] / gt);
    fprintf(e->json, "}}");
  }
}

#define MAX_PASS_ROWS 8

/* One pass of layer i: its rows. On OpenCL, per op label of the pass from the profile; on the
 * reference, one row of wall time. Fills rates/labels for the OpenBLAS line. */
static clnet_status bench_pass(bench_env *e, clnet_graph *g, int32_t i, int32_t backward, const char *shape, double flops,
                               double bytes, double *rates, char labels[][200], int32_t *n_rows) {
  layer_run r = {g, i, backward};
  double first = 0, t = 0;
  *n_rows = 0;
  if (!clnet_ctx_is_ref(e->ctx)) clnet_profile_reset(e->ctx);
  clnet_status tst = time_op(e, run_layer_pass, &r, 0, &first, &t);
  if (tst != CLNET_SUCCESS) return tst;
  clnet_layer_info li;
  clnet_graph_layer_info(g, i, &li);
  if (clnet_ctx_is_ref(e->ctx)) {
    char name[160];
    snprintf(name, sizeof name, "%s %s %dx%dx%d->%dx%dx%d [ref]", li.kind, backward ? "bwd" : "fwd", li.in_h, li.in_w,
             li.in_c, li.out_h, li.out_w, li.out_c);
    report(e, name, shape, first, t, flops / 1e9, bytes / 1e9);
    rates[0] = e->last_rate;
    snprintf(labels[0], 200, "%s", backward ? "backward" : "forward");
    *n_rows = 1;
    return CLNET_SUCCESS;
  }
  clnet_profile_row *rows = NULL;
  int32_t nr = 0;
  CLNET_TRY(clnet_profile_report(e->ctx, CLNET_PROFILE_BY_OP, &rows, &nr, NULL));
  const int32_t runs = e->repeat + 1; /* the first call is profiled too */
  int32_t shown = 0;
  for (int32_t k = 0; k < nr && shown < MAX_PASS_ROWS; ++k)
    if (strcmp(rows[k].label, "(no op label)") != 0) ++shown;
  for (int32_t k = 0, row = 0; k < nr && row < MAX_PASS_ROWS; ++k) {
    if (!strcmp(rows[k].label, "(no op label)")) continue;
    const double ms = rows[k].ms / runs;
    char op[200];
    snprintf(op, sizeof op, "%s", rows[k].label);
    /* the first-call column: how much longer the pass's first run took than its median run */
    report(e, op, shape, ms * 1e-3 + (row == 0 ? first - t : 0), ms * 1e-3, flops / shown / 1e9, bytes / shown / 1e9);
    rates[row] = e->last_rate;
    snprintf(labels[row], 200, "%s", rows[k].label);
    ++row;
    *n_rows = row;
  }
  free(rows);
  return CLNET_SUCCESS;
}

/* The rows of layer i (both passes) and, for a layer with multiply-adds on a CPU device,
 * OpenBLAS at its GEMM-equivalent shape. */
static clnet_status bench_layer(bench_env *e, clnet_graph *g, int32_t i, int32_t n) {
  clnet_layer_info li;
  CLNET_TRY(clnet_graph_layer_info(g, i, &li));
  double macs = 0, fb = 0, bb = 0;
  CLNET_TRY(clnet_graph_layer_cost(g, i, &macs, &fb, &bb));
  char shape[32];
  snprintf(shape, sizeof shape, "n%d", n);
  double rates[2 * MAX_PASS_ROWS];
  char labels[2 * MAX_PASS_ROWS][200];
  int32_t nf = 0, nb = 0;
  const int gemm_like = macs > 0;
  CLNET_TRY(bench_pass(e, g, i, 0, shape, gemm_like ? 2 * macs * n : 0, gemm_like ? 0 : fb * n, rates, labels, &nf));
  if (!li.is_loss)
    CLNET_TRY(bench_pass(e, g, i, 1, shape, gemm_like ? 4 * macs * n : 0, gemm_like ? 0 : bb * n, rates + nf,
                         labels + nf, &nb));
  if (e->openblas && gemm_like) {
    const char *lp[2 * MAX_PASS_ROWS];
    for (int32_t k = 0; k < nf + nb; ++k) lp[k] = labels[k];
    openblas_layer_row(e, &li, n, macs, rates, lp, nf + nb);
  }
  return CLNET_SUCCESS;
}

/* Layer i runs as a different op than every layer before it: another kind, attributes, input
 * shapes or fusion. Layers run inside a fused tail have no rows (their tail does). */
static int distinct_layer(clnet_graph *g, int32_t i) {
  clnet_layer_info li;
  clnet_graph_layer_info(g, i, &li);
  if (li.runs_as == CLNET_RUNS_INSIDE) return 0;
  for (int32_t j = 0; j < i; ++j) {
    clnet_layer_info lj;
    clnet_graph_layer_info(g, j, &lj);
    if (lj.runs_as != li.runs_as || strcmp(li.kind, lj.kind) || strcmp(li.attrs, lj.attrs) || li.n_inputs != lj.n_inputs) continue;
    int same = 1;
    for (int32_t k = 0; k < li.n_inputs && same; ++k) {
      int32_t h1, w1, c1, h2, w2, c2;
      clnet_graph_tensor_shape(g, li.inputs[k], &h1, &w1, &c1);
      clnet_graph_tensor_shape(g, lj.inputs[k], &h2, &w2, &c2);
      same = h1 == h2 && w1 == w2 && c1 == c2;
    }
    if (same) return 0;
  }
  return 1;
}

/* The name --op matches against: the kind, or the fused tail's ops ("batchnorm+relu"). */
static void layer_op_name(clnet_graph *g, int32_t i, char *dst, size_t cap) {
  clnet_layer_info li;
  clnet_graph_layer_info(g, i, &li);
  snprintf(dst, cap, "%s", li.runs_as == CLNET_RUNS_BN_RELU       ? "batchnorm+relu"
                           : li.runs_as == CLNET_RUNS_BN_ADD_RELU ? "batchnorm+add+relu"
                                                                  : li.kind);
}

/* What the algorithm choices cost and where their answers came from (AUTO: docs/PERFORMANCE.md):
 * the convolutions', and the dense GEMMs' when a dense row ran. */
static void print_algo_stats(clnet_ctx *ctx) {
  if (clnet_ctx_is_ref(ctx)) return;
  clnet_algo_stats a = clnet_conv_algo_get_stats(ctx);
  char path[4600];
  clnet_conv_algo_db_path(ctx, path, sizeof path);
  printf("conv algorithms: %d (shape, pass) timed in %.2f s (+ %.2f s first calls, %.2f s of it kernel builds), "
         "%d from the find-db, %d by the rule, %d candidates rejected; find-db: %s\n",
         a.timed, a.tune_seconds, a.first_call_seconds, a.build_seconds, a.from_finddb, a.from_rule, a.rejected,
         *path ? path : "none (no cache: AUTO uses the rule)");
  a = clnet_dense_algo_get_stats(ctx);
  if (a.timed + a.from_finddb + a.from_rule == 0) return;
  clnet_dense_algo_db_path(ctx, path, sizeof path);
  printf("dense GEMMs: %d (shape, pass) timed in %.2f s (+ %.2f s first calls, %.2f s of it kernel builds), "
         "%d from the find-db, %d by the rule, %d candidates rejected; find-db: %s\n",
         a.timed, a.tune_seconds, a.first_call_seconds, a.build_seconds, a.from_finddb, a.from_rule, a.rejected,
         *path ? path : "none (no cache: AUTO uses the rule)");
}

/* One find-db file as stored (`what` names it). */
static void show_file(const char *what, const char *path) {
  FILE *f = NULL;
  if (clnet_fopen_regular(path, &f) != CLNET_SUCCESS) { /* a FIFO or a directory is named, never read */
    if (errno == ENOENT) printf("%s %s: empty (nothing timed yet on this device)\n", what, path);
    else printf("%s %s\n", what, clnet_last_error());
    return;
  }
  printf("%s %s:\n", what, path);
  char line[1024];
  while (fgets(line, sizeof line, f)) fputs(line, stdout);
  fclose(f);
}

/* --show-algos: the device's find-db files, the convolutions' and the dense GEMMs'. */
static int show_algos(clnet_ctx *ctx) {
  char path[4600];
  clnet_conv_algo_db_path(ctx, path, sizeof path);
  if (!*path) {
    printf("no find-db: %s\n", clnet_ctx_is_ref(ctx) ? "the reference has one algorithm"
                                                    : "no cache directory (CLNET_NO_CACHE), AUTO uses the rule");
    return CLI_OK;
  }
  show_file("find-db", path);
  clnet_dense_algo_db_path(ctx, path, sizeof path);
  if (*path) show_file("dense GEMM find-db", path);
  return CLI_OK;
}

/* One training step on synthetic images (values in [-1, 1), labels cycling over the classes). */
static clnet_status warm_step(clnet_graph *g, int32_t batch) {
  int32_t h = 0, w = 0, c = 0;
  clnet_graph_tensor_shape(g, 0, &h, &w, &c);
  const size_t n_img = (size_t)batch * h * w * c;
  float *images = malloc(n_img * sizeof *images);
  int32_t *labels = malloc((size_t)batch * sizeof *labels);
  clnet_status st = images && labels ? CLNET_SUCCESS : CLNET_ERR_OUT_OF_HOST_MEMORY;
  for (size_t i = 0; images && i < n_img; ++i) images[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
  for (int32_t i = 0; labels && i < batch; ++i) labels[i] = i % clnet_graph_classes(g);
  float loss = 0;
  int32_t correct = 0;
  if (st == CLNET_SUCCESS) st = clnet_graph_set_batch(g, images, labels, batch);
  if (st == CLNET_SUCCESS) st = clnet_graph_forward_backward(g, &loss, &correct);
  if (st == CLNET_SUCCESS) st = clnet_ctx_finish(clnet_graph_context(g));
  free(images);
  free(labels);
  return st;
}

static int bench_model(clnet_ctx *ctx, clnet_graph *g, int32_t batch, int32_t steps, double t_start, int profile) {
  clnet_status st = profile ? clnet_ctx_set_profiling(ctx, 1) : CLNET_SUCCESS; /* the same queue for every step */
  if (st == CLNET_SUCCESS) st = clnet_graph_setup(g, ctx, batch);
  if (st == CLNET_SUCCESS) st = clnet_graph_init_params(g, 1);
  clnet_layer_info in;
  clnet_graph_layer_info(g, 0, &in);
  size_t n_img = (size_t)batch * in.in_h * in.in_w * in.in_c;
  float *images = malloc(n_img * sizeof *images);
  int32_t *labels = malloc((size_t)batch * sizeof *labels);
  if (!images || !labels) st = CLNET_ERR_OUT_OF_HOST_MEMORY;
  for (size_t i = 0; images && i < n_img; ++i) images[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
  for (int32_t i = 0; labels && i < batch; ++i) labels[i] = i % clnet_graph_classes(g);
  float loss = 0;
  int32_t correct = 0;
  double t_first = 0, t0 = 0;
  for (int32_t s = 0; s < steps + 2 && st == CLNET_SUCCESS; ++s) {
    if (s == 2) clnet_profile_reset(ctx); /* profile the timed steps only */
    if (s == 2) t0 = now_s(); /* two warm-up steps */
    st = clnet_graph_set_batch(g, images, labels, batch);
    if (st == CLNET_SUCCESS) st = clnet_graph_forward_backward(g, &loss, &correct);
    if (st == CLNET_SUCCESS) st = clnet_graph_apply_adam(g, 1e-3f, 0.9f, 0.999f, 1e-7f);
    if (st == CLNET_SUCCESS) st = clnet_ctx_finish(ctx);
    if (s == 0) t_first = now_s() - t_start;
  }
  free(images);
  free(labels);
  if (st != CLNET_SUCCESS) return cli_fail(st, "bench --model");
  double secs = now_s() - t0;
  clnet_ctx_stats stats = clnet_ctx_get_stats(ctx);
  double macs = clnet_graph_macs_per_image(g);
  printf("training step, batch %d: %.1f ms per step, %.1f images/s, %.1f GFLOP/s (3 x %.3f GMAC x 2 per image)\n",
         batch, secs / steps * 1e3, batch * steps / secs, 6.0 * macs * batch * steps / secs / 1e9, macs / 1e9);
  printf("peak device memory: %.1f MiB (planned %.1f MiB)\n", (double)stats.bytes_peak / (1 << 20),
         (double)clnet_graph_memory_bytes(g, batch) / (1 << 20));
  printf("first training step done %.2f s after start (kernels: %d compiled, %d from cache, %.2f s building)\n",
         t_first, stats.programs_built, stats.programs_cached, stats.build_seconds);
  print_algo_stats(ctx);
  if (profile && (st = cli_print_profile(ctx, steps, secs, 25)) != CLNET_SUCCESS) return cli_fail(st, "bench --profile");
  return CLI_OK;
}

int cmd_bench(int argc, char **argv) {
  double t_start = now_s();
  const char *device = NULL, *v = NULL, *json_path = NULL, *model = NULL, *op = NULL, *layers_of = NULL;
  int64_t batch = 64, width = 64, steps = 5, repeat = 5;
  int width_set = 0;
  int32_t ih = 32, iw = 32, ic = 3;
  clnet_conv_algo algo = CLNET_CONV_ALGO_AUTO;
  clnet_dense_algo dense_algo = CLNET_DENSE_ALGO_AUTO;
  int algo_set = 0, dense_algo_set = 0, show = 0, profile = 0;
  for (int i = 1; i < argc; ++i) /* the data loader's benchmark: host/cli/bench_data.c */
    if (!strcmp(argv[i], "--data") || !strncmp(argv[i], "--data=", 7)) return cmd_bench_data(argc, argv);
  for (int i = 1; i < argc; ++i) {
    int r = 0;
#define FLAG(name) ((r = cli_flag(argc, argv, &i, name, &v)) != 0)
#define NEED(name) \
  if (r < 0) return cli_usage_error("bench", "%s needs a value", name)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: clnet bench [--device D] [--op NAME] [--batch B] [--width W] [--input HxWxC] [--repeat R] [--json FILE]\n"
             "                   [--algo auto|gemm|direct|winograd|winograd4|depthwise|rule] [--dense-algo auto|clblast|clnet|rule] [--show-algos]\n"
             "       clnet bench --model NAME [--device D] [--batch B] [--width W] [--input HxWxC] [--steps N] [--profile]\n"
             "Per-op: every distinct layer of a zoo model (--net NAME, default resnet18; 32x32x3, the\n"
             "model's default width, batch 64) as a training step runs it, after one warm-up step: per\n"
             "op label of each pass (a conv names its algorithm), device time per run, GFLOP/s or GB/s\n"
             "(minimal traffic), and the share of the device's measured peak.\n"
             "Zoo models: resnet18, resnet34, resnet50, vgg11, mobilenet_v2, lenet.\n"
             "--model: training-step throughput and peak device memory after two warm-up steps.\n"
             "--profile (with --model): device time of the timed steps by kernel and by op, from OpenCL\n"
             "events, against the wall time (the queue profiles every step, warm-up included).\n"
             "--op NAME: only the ops whose name contains NAME: conv, batchnorm, relu, maxpool, add,\n"
             "global_avgpool, dense, sgemm, and the fused BasicBlock tails a training step runs in their\n"
             "place, batchnorm+relu and batchnorm+add+relu (so batchnorm, relu and add select those\n"
             "too; batchnorm+ selects only them).\n"
             "--algo: force a convolution algorithm (default auto: checked and timed per shape at first\n"
             "use, remembered in the find-db; rule: the fixed rule). Each conv row shows the algorithm\n"
             "used and where it came from (timed, find-db, rule, forced).\n"
             "--dense-algo: force the dense layer's GEMMs onto CLBlast or clnet's own kernel (default auto:\n"
             "checked and timed per shape and pass at first use, remembered in the dense find-db; rule: the\n"
             "fixed rule). The dense rows show the GEMM used and where it came from (backward: dx's+dw's).\n"
             "--show-algos: print the device's find-db files (AUTO's remembered choices) and exit.\n"
             "clnet bench --data DIR: the data loader's images/s per thread (clnet bench --data DIR --help).\n");
      return CLI_OK;
    } else if (FLAG("--device")) { NEED("--device"); device = v; }
    else if (FLAG("--op")) { NEED("--op"); op = v; }
    else if (FLAG("--algo")) { NEED("--algo"); if (clnet_conv_algo_parse(v, &algo) != CLNET_SUCCESS) return cli_usage_error("bench", "--algo must be auto, gemm, direct, winograd, winograd4, depthwise or rule, got '%s'", v); algo_set = 1; }
    else if (FLAG("--dense-algo")) { NEED("--dense-algo"); if (clnet_dense_algo_parse(v, &dense_algo) != CLNET_SUCCESS) return cli_usage_error("bench", "--dense-algo must be auto, clblast, clnet or rule, got '%s'", v); dense_algo_set = 1; }
    else if (!strcmp(argv[i], "--show-algos")) show = 1;
    else if (!strcmp(argv[i], "--profile")) profile = 1;
    else if (FLAG("--json")) { NEED("--json"); json_path = v; }
    else if (FLAG("--model")) { NEED("--model"); model = v; }
    else if (FLAG("--net")) { NEED("--net"); layers_of = v; }
    else if (FLAG("--batch")) { NEED("--batch"); if (!cli_parse_pos_int(v, 65536, &batch)) return cli_usage_error("bench", "--batch must be in 1..65536"); }
    else if (FLAG("--width")) { NEED("--width"); if (!cli_parse_pos_int(v, 4096, &width)) return cli_usage_error("bench", "--width must be in 1..4096"); width_set = 1; }
    else if (FLAG("--steps")) { NEED("--steps"); if (!cli_parse_pos_int(v, 100000, &steps)) return cli_usage_error("bench", "--steps must be a positive integer"); }
    else if (FLAG("--repeat")) { NEED("--repeat"); if (!cli_parse_pos_int(v, 64, &repeat)) return cli_usage_error("bench", "--repeat must be in 1..64"); }
    else if (FLAG("--input")) {
      NEED("--input");
      if (!clnet_parse_hwc(v, 4096, &ih, &iw, &ic) || ic > 64)
        return cli_usage_error("bench", "--input must be HxWxC (each 1..4096, C at most 64), e.g. 32x32x3, got '%s'", v);
    } else return cli_usage_error("bench", "unknown argument '%s'", argv[i]);
#undef FLAG
#undef NEED
  }
  const char *net = model ? model : layers_of ? layers_of : "resnet18";
  int32_t zoo_index = -1;
  for (int32_t m = 0; m < clnet_model_count(); ++m)
    if (!strcmp(clnet_model_name(m), net)) zoo_index = m;
  if (zoo_index < 0) {
    char known[256] = "";
    for (int32_t m = 0; m < clnet_model_count(); ++m) {
      strcat(known, m ? ", " : "");
      strcat(known, clnet_model_name(m));
    }
    return cli_usage_error("bench", "%s must be a zoo model (%s), got '%s'", model ? "--model" : "--net", known, net);
  }
  if (!width_set) width = clnet_model_default_width(zoo_index);
  if (profile && !model) return cli_usage_error("bench", "--profile profiles training steps: it needs --model");
  clnet_ctx *ctx = NULL;
  int rc = cli_open_ctx(device, &ctx);
  if (rc != CLI_OK) return rc;
  if (algo_set) clnet_ctx_set_conv_algo(ctx, algo);
  if (dense_algo_set) clnet_ctx_set_dense_algo(ctx, dense_algo);
  if (show) {
    rc = show_algos(ctx);
    clnet_ctx_free(ctx);
    return rc;
  }
  clnet_graph *g = NULL;
  const clnet_model_config cfg = {.in_h = ih, .in_w = iw, .in_c = ic, .classes = 10, .width = (int32_t)width};
  clnet_status st = clnet_model_build(net, &cfg, &g);
  if (st != CLNET_SUCCESS) {
    clnet_ctx_free(ctx);
    return cli_fail(st, "bench");
  }
  printf("clnet bench on %s: %s, input %dx%dx%d, width %d, batch %d\n", clnet_ctx_device_name(ctx), net, ih, iw, ic,
         (int)width, (int)batch);
  if (model) {
    rc = bench_model(ctx, g, (int32_t)batch, (int32_t)steps, t_start, profile);
    clnet_graph_free(g);
    clnet_ctx_free(ctx);
    return rc;
  }
  bench_env e = {.ctx = ctx, .repeat = (int32_t)repeat, .filter = op};
  if (!clnet_ctx_is_ref(ctx)) {
    st = clnet_device_peaks(ctx, &e.peak_gflops, &e.peak_gbs);
    if (st != CLNET_SUCCESS) {
      clnet_graph_free(g);
      clnet_ctx_free(ctx);
      return cli_fail(st, "bench: measuring the device peaks");
    }
    printf("measured peaks: %.1f GFLOP/s (float16 FMA chains), %.1f GB/s (copy, read + write)\n", e.peak_gflops, e.peak_gbs);
  }
  if (json_path && !(e.json = fopen(json_path, "w"))) {
    clnet_graph_free(g);
    clnet_ctx_free(ctx);
    fprintf(stderr, "clnet: bench: cannot write %s\n", json_path);
    return CLI_FAIL;
  }
  if (e.json)
    fprintf(e.json, "{\"device\": \"%s\", \"peak_gflops\": %.3f, \"peak_gbytes_per_s\": %.3f, \"batch\": %d, \"results\": [\n",
            clnet_ctx_device_name(ctx), e.peak_gflops, e.peak_gbs, (int)batch);
  openblas ob;
  bench_gemm_setup(&e, &ob);
  printf("%-62s %-14s %9s %9s %9s %-6s %7s\n", "op (its shapes per image; conv and dense: the algorithm run)", "batch",
         "first ms", "ms", "rate", "", "of peak");
  if (!clnet_ctx_is_ref(ctx) && (!op || strstr("sgemm", op))) st = bench_sgemm_1024(&e);
  /* the layers as a training step runs them, after one step (kernels built, algorithms chosen) */
  if (st == CLNET_SUCCESS && !clnet_ctx_is_ref(ctx)) st = clnet_ctx_set_profiling(ctx, 1);
  if (st == CLNET_SUCCESS) st = clnet_graph_setup(g, ctx, (int32_t)batch);
  if (st == CLNET_SUCCESS) st = clnet_graph_init_params(g, 1);
  if (st == CLNET_SUCCESS) {
    const double w0 = now_s();
    st = warm_step(g, (int32_t)batch);
    if (st == CLNET_SUCCESS) printf("warm-up training step: %.2f s (kernel builds, algorithm choices)\n", now_s() - w0);
  }
  const int32_t nl = clnet_graph_layer_count(g);
  for (int32_t i = 0; i < nl && st == CLNET_SUCCESS; ++i) {
    char name[64];
    layer_op_name(g, i, name, sizeof name);
    if (distinct_layer(g, i) && (!op || strstr(name, op))) st = bench_layer(&e, g, i, (int32_t)batch);
  }
  if (st == CLNET_SUCCESS) print_algo_stats(ctx);
  if (e.json) {
    fprintf(e.json, "\n]}\n");
    fclose(e.json);
  }
  if (e.openblas) dlclose(ob.lib);
  clnet_graph_free(g);
  clnet_ctx_free(ctx);
  return st == CLNET_SUCCESS ? CLI_OK : cli_fail(st, "bench");
}
