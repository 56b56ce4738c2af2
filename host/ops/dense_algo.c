/* Which GEMM each of the dense layer's passes runs (docs/PERFORMANCE.md, "The dense layer's GEMMs"):
 *   forced  CLBLAST or CLNET from clnet_ctx_set_dense_algo or CLNET_DENSE_ALGO;
 *   RULE    dense_rule_algo below, a fixed function of the device type;
 *   AUTO    per (n, in, out, pass), at first use, as for convolutions (conv_algo.c): each
 *           candidate runs once at the full shape on the caller's buffers (warm-up: CLBlast's
 *           compile and the kernel build land there), is checked against the float reference GEMM,
 *           and the ones that pass are timed (best of up to 5 runs, wall clock around clFinish);
 *           the fastest is committed to the dense find-db (dense_algo.h) before it is used, so
 *           every process sharing the cache directory uses the same one. Without a cache
 *           directory, or when the file cannot be written, AUTO uses RULE: a choice that is not
 *           persisted could differ between processes and break bit-identical --resume. */
#include "ops/dense_algo.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "ops/common.h"
#include "ops/conv_finddb.h"
#include "ops/gemm_log.h"
#include "ops/tolerance.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *const pass_names[3] = {"forward", "backward-data", "backward-filter"};

const char *clnet_dense_algo_str(clnet_dense_algo a) {
  return a == CLNET_DENSE_ALGO_CLBLAST ? "clblast"
         : a == CLNET_DENSE_ALGO_CLNET ? "clnet"
         : a == CLNET_DENSE_ALGO_RULE  ? "rule"
                                       : "auto";
}

clnet_status clnet_dense_algo_parse(const char *name, clnet_dense_algo *out) {
  if (!strcmp(name, "auto")) *out = CLNET_DENSE_ALGO_AUTO;
  else if (!strcmp(name, "clblast")) *out = CLNET_DENSE_ALGO_CLBLAST;
  else if (!strcmp(name, "clnet")) *out = CLNET_DENSE_ALGO_CLNET;
  else if (!strcmp(name, "rule")) *out = CLNET_DENSE_ALGO_RULE;
  else
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "dense GEMM algorithm '%s': must be auto, clblast, clnet or rule",
                           name);
  return CLNET_SUCCESS;
}

static clnet_status state(clnet_ctx *ctx, struct clnet_dense_algos **out);

clnet_status clnet_ctx_set_dense_algo(clnet_ctx *ctx, clnet_dense_algo algo) {
  if (!ctx) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_ctx_set_dense_algo: ctx is NULL");
  if (algo != CLNET_DENSE_ALGO_AUTO && algo != CLNET_DENSE_ALGO_CLBLAST && algo != CLNET_DENSE_ALGO_CLNET &&
      algo != CLNET_DENSE_ALGO_RULE)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "clnet_ctx_set_dense_algo: algo = %d, must be CLNET_DENSE_ALGO_AUTO (0), _CLBLAST (1), "
                           "_CLNET (2) or _RULE (3)",
                           (int)algo);
  struct clnet_dense_algos *d = NULL;
  CLNET_TRY(state(ctx, &d));
  d->algo_setting = (int32_t)algo + 1;
  return CLNET_SUCCESS;
}

/* ---- running one pass ---------------------------------------------------------------------- */

/* The GEMM of a pass: C (m, nn) = op(A) (m, k) . op(B) (k, nn) and the operands' sizes. */
typedef struct gemm_shape {
  int32_t trans_a, trans_b, m, nn, k, lda, ldb, ldc;
  int64_t a_count, b_count, c_count;
} gemm_shape;

static gemm_shape pass_gemm(clnet_conv_pass pass, int32_t n, int32_t in, int32_t out) {
  const int64_t nin = (int64_t)n * in, nout = (int64_t)n * out, w = (int64_t)out * in;
  switch (pass) {
    case CLNET_CONV_PASS_FORWARD: /* y (N, OUT) = x (N, IN) . w^T, w (OUT, IN) */
      return (gemm_shape){0, 1, n, out, in, in, in, out, nin, w, nout};
    case CLNET_CONV_PASS_BACKWARD_DATA: /* dx (N, IN) = dy (N, OUT) . w (OUT, IN) */
      return (gemm_shape){0, 0, n, in, out, out, in, in, nout, w, nin};
    default: /* dw (OUT, IN) = dy^T (OUT, N) . x (N, IN) */
      return (gemm_shape){1, 0, out, in, n, out, in, in, nout, nin, w};
  }
}

clnet_status clnet_dense_gemm_run(clnet_ctx *ctx, clnet_conv_pass pass, clnet_dense_algo algo, int32_t n,
                                  int32_t in, int32_t out, const clnet_dense_gemm_io *io) {
  const gemm_shape g = pass_gemm(pass, n, in, out);
  if (algo == CLNET_DENSE_ALGO_CLNET)
    return clnet_gemm_tiled(ctx, g.trans_a, g.trans_b, g.m, g.nn, g.k, io->a, g.lda, io->b, g.ldb, io->c, g.ldc);
  return clnet_gemm(ctx, g.trans_a, g.trans_b, g.m, g.nn, g.k, 1.0f, io->a, 0, g.lda, io->b, 0, g.ldb, 0.0f, io->c,
                    0, g.ldc);
}

/* ---- the fixed rule ------------------------------------------------------------------------ */

/* CLNET on a CPU device, CLBLAST elsewhere. Measured on PoCL 3.1 (2-core AVX-512 CPU) at the
 * dense shapes of ResNet-18 (docs/PERFORMANCE.md): clnet's kernel was faster in every pass, the
 * GEMMs being small enough that CLBlast's extra kernels (padding, transposes) and launch costs
 * dominate. Other devices are not measured: there CLBlast, tuned by `clnet tune`, is kept. AUTO
 * times instead; this rule is what AUTO falls back to without a cache. */
static clnet_dense_algo dense_rule_algo(const clnet_ctx *ctx) {
  return (ctx->info.type & CL_DEVICE_TYPE_CPU) ? CLNET_DENSE_ALGO_CLNET : CLNET_DENSE_ALGO_CLBLAST;
}

/* ---- the dense kind of find-db (finddb.h) ----------------------------------------------------- */

static int algo_slot(clnet_dense_algo a) { return a == CLNET_DENSE_ALGO_CLBLAST ? 0 : 1; }

static const char *parse_line(const char *line, void *entry) {
  dense_fdb_entry *e = entry;
  char pass[32], algo[16], bms[40], cms[40];
  int32_t v[3];
  int used = 0;
  if (sscanf(line, "%31s %d %d %d %15s %39s %39s %n", pass, &v[0], &v[1], &v[2], algo, bms, cms, &used) != 7 ||
      line[used] != '\0')
    return "expected 7 fields: pass n in out algo clblast_ms clnet_ms";
  memset(e, 0, sizeof *e);
  e->key.pass = -1;
  for (int32_t i = 0; i < 3; ++i)
    if (!strcmp(pass, pass_names[i])) e->key.pass = i;
  if (e->key.pass < 0) return "pass must be forward, backward-data or backward-filter";
  for (int32_t i = 0; i < 3; ++i)
    if (v[i] < 1 || v[i] > (1 << 24)) return "sizes must be in 1..2^24";
  e->key.n = v[0], e->key.in = v[1], e->key.out = v[2];
  if (!strcmp(algo, "clblast")) e->choice.algo = CLNET_DENSE_ALGO_CLBLAST;
  else if (!strcmp(algo, "clnet")) e->choice.algo = CLNET_DENSE_ALGO_CLNET;
  else return "algo must be clblast or clnet";
  if (!strcmp(bms, "-")) e->choice.ms[0] = -2; /* not timed: cannot win on this kind of device */
  else if (!clnet_fdb_parse_ms(bms, &e->choice.ms[0])) return "clblast_ms must be milliseconds >= 0, 'rejected' or '-'";
  if (!clnet_fdb_parse_ms(cms, &e->choice.ms[1])) return "times must be milliseconds >= 0 or 'rejected'";
  if (e->choice.ms[algo_slot(e->choice.algo)] < 0) return "the chosen algorithm is rejected";
  e->choice.source = CLNET_CONV_SOURCE_FINDDB;
  return NULL;
}

static void print_line(FILE *f, const void *entry) {
  const dense_fdb_entry *e = entry;
  char b[32], c[32];
  clnet_fdb_format_ms(b, sizeof b, e->choice.ms[0]);
  clnet_fdb_format_ms(c, sizeof c, e->choice.ms[1]);
  fprintf(f, "%s %d %d %d %s %s %s\n", pass_names[e->key.pass], e->key.n, e->key.in, e->key.out,
          clnet_dense_algo_str(e->choice.algo), b, c);
}

/* the rule's in-memory fallbacks are not measured choices: not written */
static int persist(const void *entry) {
  return ((const dense_fdb_entry *)entry)->choice.source != CLNET_CONV_SOURCE_RULE;
}

static const char *const kernel_files[1] = {"gemm"};
_Static_assert(sizeof(dense_fdb_key) == 4 * sizeof(int32_t), "find-db keys are compared bytewise: no padding");
static const clnet_fdb_format dense_format = {
    .what = "dense GEMM find-db",
    .prefix = "dense-gemm",
    .magic = "# clnet dense GEMM find-db 1",
    .columns = "# pass n in out algo clblast_ms clnet_ms",
    .kernel_files = kernel_files,
    .n_kernel_files = 1,
    .entry_size = sizeof(dense_fdb_entry),
    .key_size = sizeof(dense_fdb_key),
    .parse = parse_line,
    .print = print_line,
    .persist = persist,
};

clnet_status clnet_dense_finddb_read_file(const char *path, uint64_t kernels_hash, dense_fdb_entry **entries,
                                          int32_t *n, int32_t *stale) {
  void *list = NULL;
  clnet_status st = clnet_fdb_read_file(&dense_format, path, kernels_hash, &list, n, stale);
  *entries = list;
  return st;
}

clnet_status clnet_dense_finddb_write_file(const char *path, uint64_t kernels_hash, const char *device_line,
                                           const dense_fdb_entry *entries, int32_t n) {
  return clnet_fdb_write_file(&dense_format, path, kernels_hash, device_line, entries, n);
}

/* ---- per ctx ---------------------------------------------------------------------------------- */

static void algos_free(void *p) {
  struct clnet_dense_algos *d = p;
  if (!d) return;
  clnet_fdb_release(&d->t);
  free(d);
}

/* a note goes where the conv notes go: the ctx's one note function */
static void note(clnet_ctx *ctx, const char *fmt, ...) CLNET_PRINTF(2, 3);
static void note(clnet_ctx *ctx, const char *fmt, ...) {
  struct clnet_conv_finddb *cdb = NULL;
  if (clnet_conv_finddb_state(ctx, &cdb) != CLNET_SUCCESS) return;
  char line[640];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  clnet_conv_finddb_note(cdb, "%s", line);
}

static void table_note(void *user, const char *line) { note(user, "%s", line); }

static const clnet_ctx_state_key state_key = {"dense: GEMM choice state"};

static clnet_status state(clnet_ctx *ctx, struct clnet_dense_algos **out) {
  void *p = NULL;
  int32_t created = 0;
  CLNET_TRY(clnet_ctx_state_obtain(ctx, &state_key, sizeof **out, algos_free, &p, &created));
  struct clnet_dense_algos *d = p;
  if (created) {
    d->t.fmt = &dense_format;
    d->t.note = table_note;
    d->t.note_user = ctx;
  }
  *out = d;
  return CLNET_SUCCESS;
}

static clnet_status open_db(clnet_ctx *ctx, struct clnet_dense_algos **out) {
  CLNET_TRY(state(ctx, out));
  return clnet_fdb_open(&(*out)->t, &dense_format, ctx);
}

/* ---- the reference check ------------------------------------------------------------------- */

static void shape_str(char *dst, size_t cap, clnet_conv_pass pass, int32_t n, int32_t in, int32_t out) {
  snprintf(dst, cap, "dense %s n%d %d->%d", pass_names[pass], n, in, out);
}

/* The reference side of the check, computed once per (shape, pass) for both candidates: U(-1, 1)
 * operands and the float reference GEMM (sums in double). At the full shape while n*in*out <=
 * CHECK_MACS, else with the batch cut down to fit (at least 1 row): a kernel's tile edges are in
 * the in and out dimensions, which stay whole. */
#define CHECK_MACS (1 << 24)
typedef struct gemm_check_data {
  int32_t n; /* the batch checked */
  gemm_shape g;
  float *a, *b, *ref;
} gemm_check_data;

static void check_data_free(gemm_check_data *c) {
  free(c->a);
  free(c->b);
  free(c->ref);
  c->a = c->b = c->ref = NULL;
}

static clnet_status check_data_init(clnet_conv_pass pass, int32_t n, int32_t in, int32_t out, gemm_check_data *c) {
  memset(c, 0, sizeof *c);
  const int64_t per_row = (int64_t)in * out, fit = CHECK_MACS / (per_row > 0 ? per_row : 1);
  c->n = (int64_t)n <= fit ? n : fit >= 1 ? (int32_t)fit : 1;
  c->g = pass_gemm(pass, c->n, in, out);
  c->a = malloc((size_t)c->g.a_count * sizeof(float));
  c->b = malloc((size_t)c->g.b_count * sizeof(float));
  c->ref = malloc((size_t)c->g.c_count * sizeof(float));
  if (!c->a || !c->b || !c->ref) {
    check_data_free(c);
    return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "dense: reference check of the GEMM");
  }
  clnet_rng rng;
  clnet_rng_seed_stream(&rng, 0x64656e73u /* "dens" */, (uint64_t)pass);
  for (int64_t j = 0; j < c->g.a_count; ++j) c->a[j] = 2.0f * clnet_rng_uniform(&rng) - 1.0f;
  for (int64_t j = 0; j < c->g.b_count; ++j) c->b[j] = 2.0f * clnet_rng_uniform(&rng) - 1.0f;
  const gemm_shape *g = &c->g;
  clnet_ref_gemm(g->trans_a, g->trans_b, g->m, g->nn, g->k, 1.0f, c->a, g->lda, c->b, g->ldb, 0.0f, c->ref, g->ldc);
  return CLNET_SUCCESS;
}

/* Runs `algo` on the check's operands and compares C with the reference at clnet_dot_atol of the
 * reduction length (the cross-checks' tolerance, check_dense.c). C starts as NaN, so an element
 * the algorithm does not write fails. *ok = 0 with `why` on a mismatch. */
static clnet_status check_candidate(clnet_ctx *ctx, struct clnet_dense_algos *d, const gemm_check_data *c,
                                    clnet_conv_pass pass, int32_t in, int32_t out, clnet_dense_algo algo, int *ok,
                                    char *why, size_t cap) {
  const gemm_shape *g = &c->g;
  clnet_buf a = {0}, b = {0}, cc = {0};
  float *got = malloc((size_t)g->c_count * sizeof(float));
  clnet_status st = got ? CLNET_SUCCESS : clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "dense: reference check");
  if (st == CLNET_SUCCESS) st = clnet_buf_alloc(ctx, (size_t)g->a_count * 4, "dense GEMM check A", &a);
  if (st == CLNET_SUCCESS) st = clnet_buf_alloc(ctx, (size_t)g->b_count * 4, "dense GEMM check B", &b);
  if (st == CLNET_SUCCESS) st = clnet_buf_alloc(ctx, (size_t)g->c_count * 4, "dense GEMM check C", &cc);
  if (st == CLNET_SUCCESS) st = clnet_buf_write(ctx, &a, 0, (size_t)g->a_count * 4, c->a);
  if (st == CLNET_SUCCESS) st = clnet_buf_write(ctx, &b, 0, (size_t)g->b_count * 4, c->b);
  if (st == CLNET_SUCCESS) st = clnet_buf_fill(ctx, &cc, 0, (size_t)g->c_count * 4, 0x7fc00000u); /* NaN */
  const clnet_dense_gemm_io io = {&a, &b, &cc};
  if (st == CLNET_SUCCESS) st = clnet_dense_gemm_run(ctx, pass, algo, c->n, in, out, &io);
  if (st == CLNET_SUCCESS) st = clnet_buf_read(ctx, &cc, 0, (size_t)g->c_count * 4, got);
  if (st == CLNET_SUCCESS) {
    if (d->sabotage == (int32_t)algo + 1) got[g->c_count - 1] += 1.0f; /* test hook: a wrong kernel */
    const double atol = clnet_dot_atol(g->k, 1, 1);
    *ok = 1;
    for (int64_t i = 0; i < g->c_count && *ok; ++i)
      if (!(fabs((double)got[i] - (double)c->ref[i]) <= atol)) {
        snprintf(why, cap, "C[%lld] = %.9g, reference %.9g (tolerance %.3g)", (long long)i, got[i], c->ref[i], atol);
        *ok = 0;
      }
  }
  free(got);
  clnet_buf_free(ctx, &a);
  clnet_buf_free(ctx, &b);
  clnet_buf_free(ctx, &cc);
  return st;
}

/* ---- timing -------------------------------------------------------------------------------- */

#define TIME_RUNS 5 /* timed runs after the warm-up, fewer for a clear loser */

static clnet_status run_finished(clnet_ctx *ctx, clnet_conv_pass pass, clnet_dense_algo algo, int32_t n, int32_t in,
                                 int32_t out, const clnet_dense_gemm_io *io, double *seconds) {
  const double t0 = now_s();
  CLNET_TRY(clnet_dense_gemm_run(ctx, pass, algo, n, in, out, io));
  CLNET_TRY(clnet_ctx_finish(ctx));
  *seconds = now_s() - t0;
  return CLNET_SUCCESS;
}

/* Checks and times both candidates for (n, in, out, pass) into e (source TIMED). */
static clnet_status tune(clnet_ctx *ctx, struct clnet_dense_algos *d, clnet_conv_pass pass, int32_t n, int32_t in,
                         int32_t out, const clnet_dense_gemm_io *io, dense_fdb_entry *e) {
  const double t0 = now_s(), b0 = ctx->stats.build_seconds;
  double first_calls = 0;
  static const clnet_dense_algo order[2] = {CLNET_DENSE_ALGO_CLNET, CLNET_DENSE_ALGO_CLBLAST};
  /* indexed like choice.ms; -2: not timed (clnet_fdb_candidate_can_win) */
  double best[2] = {clnet_fdb_candidate_can_win(ctx, CLNET_FDB_CANDIDATE_CLBLAST) ? -1 : -2, -1};
  char shape[96];
  shape_str(shape, sizeof shape, pass, n, in, out);
  gemm_check_data check;
  clnet_status st = check_data_init(pass, n, in, out, &check);
  for (int c = 0; c < 2 && st == CLNET_SUCCESS; ++c) {
    const clnet_dense_algo a = order[c];
    if (best[algo_slot(a)] == -2) continue;
    double t = 0;
    st = run_finished(ctx, pass, a, n, in, out, io, &t); /* warm-up */
    if (st != CLNET_SUCCESS) break;
    first_calls += t;
    int ok = 0;
    char why[256] = "";
    st = check_candidate(ctx, d, &check, pass, in, out, a, &ok, why, sizeof why);
    if (st != CLNET_SUCCESS) break;
    if (!ok) {
      d->stats.rejected++;
      note(ctx, "%s: %s fails the reference check (%s); not used", shape, clnet_dense_algo_str(a), why);
      continue;
    }
    const double other = best[1 - algo_slot(a)];
    double b = INFINITY;
    for (int r = 0; r < TIME_RUNS && st == CLNET_SUCCESS; ++r) {
      st = run_finished(ctx, pass, a, n, in, out, io, &t);
      if (t < b) b = t;
      if (other >= 0 && b > 2 * other * 1e-3) break; /* a clear loser: no need for the best of 5 */
    }
    best[algo_slot(a)] = b * 1e3;
  }
  check_data_free(&check);
  d->stats.first_call_seconds += first_calls;
  d->stats.build_seconds += ctx->stats.build_seconds - b0;
  d->stats.tune_seconds += now_s() - t0 - first_calls;
  CLNET_TRY(st);
  if (best[0] < 0 && best[1] < 0)
    return clnet_set_error(CLNET_ERR_CHECK_FAILED, "%s: neither GEMM matches the reference (%s)", shape,
                           clnet_conv_algo_last_note(ctx));
  memset(e, 0, sizeof *e);
  e->key = (dense_fdb_key){.pass = (int32_t)pass, .n = n, .in = in, .out = out};
  e->choice.ms[0] = best[0];
  e->choice.ms[1] = best[1];
  /* the faster; on a tie CLNET (no extra kernels, no CLBlast compile on a new device) */
  e->choice.algo = best[1] >= 0 && (best[0] < 0 || best[1] <= best[0]) ? CLNET_DENSE_ALGO_CLNET : CLNET_DENSE_ALGO_CLBLAST;
  e->choice.source = CLNET_CONV_SOURCE_TIMED;
  return CLNET_SUCCESS;
}

/* ---- the choice ---------------------------------------------------------------------------- */

static clnet_status setting(clnet_ctx *ctx, clnet_dense_algo *out) {
  struct clnet_dense_algos *d = NULL;
  CLNET_TRY(state(ctx, &d));
  if (d->algo_setting == 0) {
    const char *e = getenv("CLNET_DENSE_ALGO");
    clnet_dense_algo a = CLNET_DENSE_ALGO_AUTO;
    if (e && *e && clnet_dense_algo_parse(e, &a) != CLNET_SUCCESS)
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                             "dense: environment variable CLNET_DENSE_ALGO = '%s', must be clblast, clnet, rule or auto",
                             e);
    d->algo_setting = (int32_t)a + 1;
  }
  *out = (clnet_dense_algo)(d->algo_setting - 1);
  return CLNET_SUCCESS;
}

/* Full-shape buffers for a choice asked without a call (clnet_dense_gemm_choice), filled with 0.01. */
static clnet_status alloc_io(clnet_ctx *ctx, const gemm_shape *g, clnet_buf bufs[3], clnet_dense_gemm_io *io) {
  const int64_t counts[3] = {g->a_count, g->b_count, g->c_count};
  for (int i = 0; i < 3; ++i) {
    clnet_status st = clnet_buf_alloc(ctx, (size_t)counts[i] * 4, "dense GEMM timing", &bufs[i]);
    if (st == CLNET_SUCCESS) st = clnet_buf_fill(ctx, &bufs[i], 0, (size_t)counts[i] * 4, 0x3c23d70au);
    if (st != CLNET_SUCCESS) {
      for (int j = 0; j <= i; ++j) clnet_buf_free(ctx, &bufs[j]);
      return st;
    }
  }
  *io = (clnet_dense_gemm_io){&bufs[0], &bufs[1], &bufs[2]};
  return CLNET_SUCCESS;
}

static clnet_status auto_choice(clnet_ctx *ctx, clnet_conv_pass pass, int32_t n, int32_t in, int32_t out,
                                const clnet_dense_gemm_io *io, clnet_dense_algo_choice *res) {
  struct clnet_dense_algos *d = NULL;
  CLNET_TRY(open_db(ctx, &d));
  const dense_fdb_key key = {.pass = (int32_t)pass, .n = n, .in = in, .out = out};
  dense_fdb_entry *e = clnet_fdb_find(&d->t, &key);
  if (!e && d->t.use_disk) {
    dense_fdb_entry fresh;
    clnet_buf bufs[3];
    clnet_dense_gemm_io own;
    if (!io) {
      const gemm_shape g = pass_gemm(pass, n, in, out);
      CLNET_TRY(alloc_io(ctx, &g, bufs, &own));
    }
    struct clnet_conv_finddb *cdb = NULL; /* the progress function lives with the note function */
    if (clnet_conv_finddb_state(ctx, &cdb) == CLNET_SUCCESS && cdb->progress_fn) {
      char shape[96];
      shape_str(shape, sizeof shape, pass, n, in, out);
      cdb->progress_fn(cdb->progress_user, shape);
    }
    clnet_status st = tune(ctx, d, pass, n, in, out, io ? io : &own, &fresh);
    if (!io)
      for (int i = 0; i < 3; ++i) clnet_buf_free(ctx, &bufs[i]);
    CLNET_TRY(st);
    int32_t persisted = 0;
    void *p = NULL;
    CLNET_TRY(clnet_fdb_commit(&d->t, &fresh, &p, &persisted));
    if (!persisted) {
      char shape[96];
      shape_str(shape, sizeof shape, pass, n, in, out);
      note(ctx, "%s: cannot record the timed choice in %s (%s); using the fixed rule for this and every dense "
                "shape not yet recorded", shape, d->t.path, clnet_last_error());
      d->t.use_disk = 0; /* timing more shapes would be wasted: their choices could not be kept either */
    } else {
      e = p;
      if (e->choice.source == CLNET_CONV_SOURCE_TIMED && !e->counted) {
        e->counted = 1;
        d->stats.timed++;
      }
    }
  }
  if (!e) { /* no cache, or it cannot be written: the rule, remembered for this process */
    dense_fdb_entry r = {.key = key, .choice = {.algo = dense_rule_algo(ctx), .source = CLNET_CONV_SOURCE_RULE,
                                                .ms = {-1, -1}}, .counted = 1};
    void *p = NULL;
    CLNET_TRY(clnet_fdb_add(&d->t, &r, &p));
    e = p;
    d->stats.from_rule++;
  }
  if (!e->counted) { /* read from the file (or another process committed it first) */
    e->counted = 1;
    d->stats.from_finddb++;
  }
  *res = e->choice;
  return CLNET_SUCCESS;
}

/* The choice for this call; io NULL: timed (if need be) on buffers allocated here. */
static clnet_status resolve(clnet_ctx *ctx, clnet_conv_pass pass, int32_t n, int32_t in, int32_t out,
                            const clnet_dense_gemm_io *io, clnet_dense_algo_choice *res) {
  clnet_dense_algo a = CLNET_DENSE_ALGO_AUTO;
  CLNET_TRY(setting(ctx, &a));
  if (a == CLNET_DENSE_ALGO_CLBLAST || a == CLNET_DENSE_ALGO_CLNET) {
    *res = (clnet_dense_algo_choice){.algo = a, .source = CLNET_CONV_SOURCE_FORCED, .ms = {-1, -1}};
    return CLNET_SUCCESS;
  }
  if (a == CLNET_DENSE_ALGO_RULE) {
    *res = (clnet_dense_algo_choice){.algo = dense_rule_algo(ctx), .source = CLNET_CONV_SOURCE_RULE, .ms = {-1, -1}};
    return CLNET_SUCCESS;
  }
  return auto_choice(ctx, pass, n, in, out, io, res);
}

clnet_status clnet_dense_gemm(clnet_ctx *ctx, clnet_conv_pass pass, int32_t n, int32_t in, int32_t out,
                              const clnet_dense_gemm_io *io) {
  /* `clnet tune` records the GEMMs a step would send to CLBlast: all of them go there */
  if (clnet_gemm_recording(ctx)) return clnet_dense_gemm_run(ctx, pass, CLNET_DENSE_ALGO_CLBLAST, n, in, out, io);
  clnet_dense_algo_choice c;
  CLNET_TRY(resolve(ctx, pass, n, in, out, io, &c));
  if (pass == CLNET_CONV_PASS_FORWARD) clnet_profile_op_detail(ctx, clnet_dense_algo_str(c.algo)); /* "dense fwd 512->10 clnet" */
  return clnet_dense_gemm_run(ctx, pass, c.algo, n, in, out, io);
}

/* ---- public queries ------------------------------------------------------------------------ */

clnet_status clnet_dense_gemm_choice(clnet_ctx *ctx, int32_t n, int32_t in, int32_t out, clnet_conv_pass pass,
                                     clnet_dense_algo_choice *out_choice) {
  if (!ctx || !out_choice)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_dense_gemm_choice: NULL argument");
  if (ctx->is_ref) return clnet_set_error(CLNET_ERR_UNSUPPORTED, "dense: the reference has one GEMM");
  if (pass != CLNET_CONV_PASS_FORWARD && pass != CLNET_CONV_PASS_BACKWARD_DATA &&
      pass != CLNET_CONV_PASS_BACKWARD_FILTER)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_dense_gemm_choice: pass = %d", (int)pass);
  if (n < 1 || in < 1 || out < 1)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_dense_gemm_choice: n=%d in=%d out=%d, each must be >= 1",
                           n, in, out);
  CLNET_TRY(clnet_require_int_range("clnet_dense_gemm_choice", (int64_t)n * in));
  CLNET_TRY(clnet_require_int_range("clnet_dense_gemm_choice", (int64_t)n * out));
  CLNET_TRY(clnet_require_int_range("clnet_dense_gemm_choice", (int64_t)out * in));
  return resolve(ctx, pass, n, in, out, NULL, out_choice);
}

void clnet_dense_algo_db_path(clnet_ctx *ctx, char *dst, size_t cap) {
  struct clnet_dense_algos *d = NULL;
  if (cap) dst[0] = '\0';
  if (!ctx || ctx->is_ref || open_db(ctx, &d) != CLNET_SUCCESS || !d->t.use_disk) return;
  snprintf(dst, cap, "%s", d->t.path);
}

uint64_t clnet_dense_finddb_kernels_hash(clnet_ctx *ctx) {
  struct clnet_dense_algos *d = NULL;
  if (!ctx || ctx->is_ref || open_db(ctx, &d) != CLNET_SUCCESS || !d->t.use_disk) return 0;
  return d->t.kernels_hash;
}

clnet_conv_algo_stats clnet_dense_algo_get_stats(clnet_ctx *ctx) {
  clnet_conv_algo_stats s;
  memset(&s, 0, sizeof s);
  const struct clnet_dense_algos *d = ctx ? clnet_ctx_state_get(ctx, &state_key) : NULL;
  return d ? d->stats : s;
}

int32_t clnet_dense_algo_setting_save(clnet_ctx *ctx) {
  const struct clnet_dense_algos *d = clnet_ctx_state_get(ctx, &state_key);
  return d ? d->algo_setting : 0;
}

void clnet_dense_algo_setting_restore(clnet_ctx *ctx, int32_t saved) {
  struct clnet_dense_algos *d = clnet_ctx_state_get(ctx, &state_key);
  if (d) d->algo_setting = saved; /* no state yet: nothing was set */
}

void clnet_dense_algo_test_sabotage(clnet_ctx *ctx, clnet_dense_algo algo) {
  struct clnet_dense_algos *d = NULL;
  if (state(ctx, &d) == CLNET_SUCCESS)
    d->sabotage = algo == CLNET_DENSE_ALGO_CLBLAST || algo == CLNET_DENSE_ALGO_CLNET ? (int32_t)algo + 1 : 0;
}
