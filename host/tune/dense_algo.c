/* Which GEMM each of the dense layer's passes runs (docs/PERFORMANCE.md, "The dense layer's GEMMs"):
 *   forced  CLBLAST or CLNET from clnet_ctx_set_dense_algo or CLNET_DENSE_ALGO;
 *   RULE    dense_rule_algo below, a fixed function of the device type;
 *   AUTO    per (n, in, out, pass), at first use, as for convolutions (tune/conv_algo.c, with the one autotuner of tune/autotune.h): each
 *           candidate runs once at the full shape on the caller's buffers (warm-up: CLBlast's
 *           compile and the kernel build land there), is checked against the float reference GEMM,
 *           and the ones that pass are timed (best of up to 5 runs, wall clock around clFinish);
 *           the fastest is committed to the dense find-db (tune/dense_algo.h) before it is used, so
 *           every process sharing the cache directory uses the same one. Without a cache
 *           directory, or when the file cannot be written, AUTO uses RULE: a choice that is not
 *           persisted could differ between processes and break bit-identical --resume. */
#include "tune/dense_algo.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "ops/common.h"
#include "ops/tolerance.h"
#include "tune/autotune.h"
#include "tune/conv_finddb.h"

static const char *const pass_names[3] = {"forward", "backward-data", "backward-filter"};

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

/* ---- the fixed rule ------------------------------------------------------------------------ */

/* CLNET on a CPU device, CLBLAST elsewhere. Measured on PoCL 3.1 (2-core AVX-512 CPU) at the
 * dense shapes of ResNet-18 (docs/PERFORMANCE.md): clnet's kernel was faster in every pass, the
 * GEMMs being small enough that CLBlast's extra kernels (padding, transposes) and launch costs
 * dominate. Other devices are not measured: there CLBlast, tuned by `clnet tune`, is kept. AUTO
 * times instead; this rule is what AUTO falls back to without a cache. */
static clnet_dense_algo dense_rule_algo(const clnet_ctx *ctx) {
  return (ctx->info.type & CL_DEVICE_TYPE_CPU) ? CLNET_DENSE_ALGO_CLNET : CLNET_DENSE_ALGO_CLBLAST;
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
    d->t.fmt = &clnet_dense_finddb_format;
    d->t.note = table_note;
    d->t.note_user = ctx;
  }
  *out = d;
  return CLNET_SUCCESS;
}

static clnet_status open_db(clnet_ctx *ctx, struct clnet_dense_algos **out) {
  CLNET_TRY(state(ctx, out));
  return clnet_fdb_open(&(*out)->t, &clnet_dense_finddb_format, ctx);
}

/* ---- the reference check ------------------------------------------------------------------- */

static void shape_str(char *dst, size_t cap, clnet_pass pass, int32_t n, int32_t in, int32_t out) {
  snprintf(dst, cap, "dense %s n%d %d->%d", pass_names[pass], n, in, out);
}

/* The reference side of the check, computed once per (shape, pass) for both candidates: U(-1, 1)
 * operands and the float reference GEMM (sums in double). At the full shape while n*in*out <=
 * CHECK_MACS, else with the batch cut down to fit (at least 1 row): a kernel's tile edges are in
 * the in and out dimensions, which stay whole. */
#define CHECK_MACS (1 << 24)
typedef struct gemm_check_data {
  int32_t n; /* the batch checked */
  clnet_dense_pass_gemm g;
  float *a, *b, *ref;
} gemm_check_data;

/* One problem of the autotuner (tune/autotune.h): a dense GEMM's shape and pass. */
typedef struct dense_problem {
  clnet_pass pass;
  int32_t n, in, out;
} dense_problem;

static void check_data_free(void *p) {
  gemm_check_data *c = p;
  if (!c) return;
  free(c->a);
  free(c->b);
  free(c->ref);
  free(c);
}

static clnet_status check_data_init(const void *problem, void **out_check) {
  const dense_problem *p = problem;
  const clnet_pass pass = p->pass;
  const int32_t n = p->n, in = p->in, out = p->out;
  gemm_check_data *c = calloc(1, sizeof *c);
  *out_check = c;
  if (!c) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "dense: reference check of the GEMM");
  const int64_t per_row = (int64_t)in * out, fit = CHECK_MACS / (per_row > 0 ? per_row : 1);
  c->n = (int64_t)n <= fit ? n : fit >= 1 ? (int32_t)fit : 1;
  c->g = clnet_dense_pass_shape(pass, c->n, in, out);
  c->a = malloc((size_t)c->g.a_count * sizeof(float));
  c->b = malloc((size_t)c->g.b_count * sizeof(float));
  c->ref = malloc((size_t)c->g.c_count * sizeof(float));
  if (!c->a || !c->b || !c->ref) {
    check_data_free(c);
    *out_check = NULL;
    return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "dense: reference check of the GEMM");
  }
  clnet_rng rng;
  clnet_rng_seed_stream(&rng, 0x64656e73u /* "dens" */, (uint64_t)pass);
  for (int64_t j = 0; j < c->g.a_count; ++j) c->a[j] = 2.0f * clnet_rng_uniform(&rng) - 1.0f;
  for (int64_t j = 0; j < c->g.b_count; ++j) c->b[j] = 2.0f * clnet_rng_uniform(&rng) - 1.0f;
  const clnet_dense_pass_gemm *g = &c->g;
  clnet_ref_gemm(g->trans_a, g->trans_b, g->m, g->nn, g->k, 1.0f, c->a, g->lda, c->b, g->ldb, 0.0f, c->ref, g->ldc);
  return CLNET_SUCCESS;
}

/* Runs `algo` on the check's operands and compares C with the reference at clnet_dot_atol of the
 * reduction length (the cross-checks' tolerance, check_dense.c). C starts as NaN, so an element
 * the algorithm does not write fails. *ok = 0 with `why` on a mismatch. */
static clnet_status check_candidate(clnet_ctx *ctx, void *check, const void *problem, int32_t algo_i, int *ok,
                                    char *why, size_t cap) {
  const gemm_check_data *c = check;
  const dense_problem *p = problem;
  const clnet_pass pass = p->pass;
  const int32_t in = p->in, out = p->out;
  const clnet_dense_algo algo = (clnet_dense_algo)algo_i;
  const struct clnet_dense_algos *d = clnet_ctx_state_get(ctx, &state_key); /* the tuning ctx has it */
  const clnet_dense_pass_gemm *g = &c->g;
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

/* ---- the autotuner's candidates (tune/autotune.h) ---------------------------------------------- */

static clnet_status run_candidate(clnet_ctx *ctx, const void *problem, int32_t algo, const void *io) {
  const dense_problem *p = problem;
  return clnet_dense_gemm_run(ctx, p->pass, (clnet_dense_algo)algo, p->n, p->in, p->out, io);
}

static const char *algo_name(int32_t algo) { return clnet_dense_algo_str((clnet_dense_algo)algo); }

/* CLBlast is not timed where it cannot win (clnet_fdb_candidate_can_win); clnet's kernel always */
static int timed_clblast(clnet_ctx *ctx, const void *p) {
  return clnet_fdb_candidate_can_win(ctx, CLNET_FDB_CANDIDATE_CLBLAST);
}
static int timed_clnet(clnet_ctx *ctx, const void *p) { return 1; }

/* slots as in choice.ms: CLBLAST 0, CLNET 1 */
static const clnet_autotune_candidate candidates[2] = {
    {.algo = CLNET_DENSE_ALGO_CLNET, .slot = 1, .timed = timed_clnet},
    {.algo = CLNET_DENSE_ALGO_CLBLAST, .slot = 0, .timed = timed_clblast}};
/* on a tie CLNET (no extra kernels, no CLBlast compile on a new device) */
static const int32_t preference[2] = {1, 0};

static const clnet_autotune_kind dense_kind = {
    .candidates = candidates,
    .n_candidates = 2,
    .preference = preference,
    .time_runs = 5, /* timed runs after the warm-up, fewer for a clear loser */
    .none_pass = "neither GEMM matches the reference",
    .name = algo_name,
    .run = run_candidate,
    .check_init = check_data_init,
    .check = check_candidate,
    .check_free = check_data_free,
};

static void report_note(void *user, const char *line) { note(user, "%s", line); }
static const char *report_last_note(void *user) { return clnet_algo_last_note(user); }

/* Checks and times both candidates for (n, in, out, pass) into e (source TIMED). */
static clnet_status tune(clnet_ctx *ctx, struct clnet_dense_algos *d, clnet_pass pass, int32_t n, int32_t in,
                         int32_t out, const clnet_dense_gemm_io *io, dense_fdb_entry *e) {
  char shape[96];
  shape_str(shape, sizeof shape, pass, n, in, out);
  const dense_problem problem = {.pass = pass, .n = n, .in = in, .out = out};
  const clnet_autotune_report report = {.stats = &d->stats, .note = report_note, .last_note = report_last_note,
                                        .user = ctx};
  memset(e, 0, sizeof *e);
  int32_t algo = 0;
  CLNET_TRY(clnet_autotune(ctx, &dense_kind, &problem, io, shape, &report, e->choice.ms, &algo));
  e->key = (dense_fdb_key){.pass = (int32_t)pass, .n = n, .in = in, .out = out};
  e->choice.algo = (clnet_dense_algo)algo;
  e->choice.source = CLNET_ALGO_SOURCE_TIMED;
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
static clnet_status alloc_io(clnet_ctx *ctx, const clnet_dense_pass_gemm *g, clnet_buf bufs[3], clnet_dense_gemm_io *io) {
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

static clnet_status auto_choice(clnet_ctx *ctx, clnet_pass pass, int32_t n, int32_t in, int32_t out,
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
      const clnet_dense_pass_gemm g = clnet_dense_pass_shape(pass, n, in, out);
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
      if (e->choice.source == CLNET_ALGO_SOURCE_TIMED && !e->counted) {
        e->counted = 1;
        d->stats.timed++;
      }
    }
  }
  if (!e) { /* no cache, or it cannot be written: the rule, remembered for this process */
    dense_fdb_entry r = {.key = key, .choice = {.algo = dense_rule_algo(ctx), .source = CLNET_ALGO_SOURCE_RULE,
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
clnet_status clnet_tune_dense_resolve(clnet_ctx *ctx, clnet_pass pass, int32_t n, int32_t in, int32_t out,
                            const clnet_dense_gemm_io *io, clnet_dense_algo_choice *res) {
  clnet_dense_algo a = CLNET_DENSE_ALGO_AUTO;
  CLNET_TRY(setting(ctx, &a));
  if (a == CLNET_DENSE_ALGO_CLBLAST || a == CLNET_DENSE_ALGO_CLNET) {
    *res = (clnet_dense_algo_choice){.algo = a, .source = CLNET_ALGO_SOURCE_FORCED, .ms = {-1, -1}};
    return CLNET_SUCCESS;
  }
  if (a == CLNET_DENSE_ALGO_RULE) {
    *res = (clnet_dense_algo_choice){.algo = dense_rule_algo(ctx), .source = CLNET_ALGO_SOURCE_RULE, .ms = {-1, -1}};
    return CLNET_SUCCESS;
  }
  return auto_choice(ctx, pass, n, in, out, io, res);
}

/* ---- public queries ------------------------------------------------------------------------ */

clnet_status clnet_dense_gemm_choice(clnet_ctx *ctx, int32_t n, int32_t in, int32_t out, clnet_pass pass,
                                     clnet_dense_algo_choice *out_choice) {
  if (!ctx || !out_choice)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_dense_gemm_choice: NULL argument");
  if (ctx->is_ref) return clnet_set_error(CLNET_ERR_UNSUPPORTED, "dense: the reference has one GEMM");
  if (pass != CLNET_PASS_FORWARD && pass != CLNET_PASS_BACKWARD_DATA &&
      pass != CLNET_PASS_BACKWARD_FILTER)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_dense_gemm_choice: pass = %d", (int)pass);
  if (n < 1 || in < 1 || out < 1)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_dense_gemm_choice: n=%d in=%d out=%d, each must be >= 1",
                           n, in, out);
  CLNET_TRY(clnet_require_int_range("clnet_dense_gemm_choice", (int64_t)n * in));
  CLNET_TRY(clnet_require_int_range("clnet_dense_gemm_choice", (int64_t)n * out));
  CLNET_TRY(clnet_require_int_range("clnet_dense_gemm_choice", (int64_t)out * in));
  return clnet_tune_dense_resolve(ctx, pass, n, in, out, NULL, out_choice);
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

clnet_algo_stats clnet_dense_algo_get_stats(clnet_ctx *ctx) {
  clnet_algo_stats s;
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
