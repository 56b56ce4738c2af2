/* Which conv algorithm each call runs (docs/PERFORMANCE.md, "Choosing the convolution algorithm").
 *   forced  GEMM, DIRECT, WINOGRAD, WINOGRAD4 or DEPTHWISE from clnet_ctx_set_conv_algo or
 *           CLNET_CONV_ALGO, where it applies (clnet_conv2d_algo_applies); elsewhere AUTO's
 *           choice, with a note;
 *   RULE    conv_rule_algo below, a fixed function of shape and device type;
 *   AUTO    per (shape, pass), at first use: each algorithm that applies runs once at the full
 *           shape (warm-up: kernel builds and CLBlast's compile land there), is checked against
 *           the float reference on a sub-batch of at most 2 images (at its own tolerance,
 *           ops/tolerance.h), and the ones that pass are timed (best of up to 3 runs, wall clock
 *           around clFinish); the fastest is committed to the find-db (conv_finddb.h) before it
 *           is used, so every process sharing the cache directory uses the same one. Without a cache directory, or when the file cannot be written, AUTO
 *           uses RULE: a choice that is not persisted could differ between processes and break
 *           bit-identical --resume. */
#include "tune/conv_algo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "ops/common.h"
#include "ops/conv_winograd.h"
#include "ops/tolerance.h"
#include "tune/autotune.h"
#include "tune/conv_finddb.h"

clnet_status clnet_ctx_set_conv_algo(clnet_ctx *ctx, clnet_conv_algo algo) {
  if (!ctx) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_ctx_set_conv_algo: ctx is NULL");
  if (algo != CLNET_CONV_ALGO_AUTO && algo != CLNET_CONV_ALGO_GEMM && algo != CLNET_CONV_ALGO_DIRECT &&
      algo != CLNET_CONV_ALGO_RULE && algo != CLNET_CONV_ALGO_WINOGRAD && algo != CLNET_CONV_ALGO_WINOGRAD4 &&
      algo != CLNET_CONV_ALGO_DEPTHWISE)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "clnet_ctx_set_conv_algo: algo = %d, must be CLNET_CONV_ALGO_AUTO (0), _GEMM (1), "
                           "_DIRECT (2), _RULE (3), _WINOGRAD (4), _WINOGRAD4 (5) or _DEPTHWISE (6)",
                           (int)algo);
  struct clnet_conv_finddb *db = NULL;
  CLNET_TRY(clnet_conv_finddb_state(ctx, &db));
  db->algo_setting = (int32_t)algo + 1;
  return CLNET_SUCCESS;
}

/* ---- the fixed rule ------------------------------------------------------------------------ */

#define DIRECT_RULE_MIN_PIXELS 64     /* CPU: forward of a wide conv with fewer output pixels: GEMM */
#define DIRECT_RULE_WIDE_CC (64 * 64) /* C_in*C_out above this is "wide" */

/* DEPTHWISE for a depthwise conv (its own kernels, the only fast path there); otherwise, with
 * C_in and C_out one group's channels, DIRECT, except
 *   - on a CPU device, the forward pass of a wide conv (C_in*C_out > 64*64) with fewer than 64
 *     output pixels in the whole batch (N*OH*OW), which stays on GEMM;
 *   - on any other device, every pass of a wide conv, which stays on GEMM.
 * Measured on PoCL 3.1 (2-core AVX-512 CPU), both algorithms in the same run, best of 3-5, with
 * other work on the machine (absolute times vary ~2x between runs, ratios much less):
 *   - ResNet-18 width 8 on 28x28x1, batch 256 (channels 1..64): DIRECT faster in every pass of
 *     every layer, 2.8-25x (26x26x8->8: 87.8/56.8/56.6 ms -> 3.5/4.3/2.5 ms);
 *   - ResNet-18 width 64 on 32x32x3, batch 64 (channels 3..512): DIRECT faster in every pass,
 *     2.2-9x (30x30x64->64 forward 280 -> 36 ms; 4x4x512->512 forward 240 -> 45 ms);
 *   - 1x1 stride-1 30x30x256->256 at batch 64 (GEMM without im2col): DIRECT 3.3/3.3/17x;
 *     4x4x1024->1024 at batch 16: DIRECT 2.8/8.8/7.9x;
 *   - 4x4x512->512 at batch 1, 2, 4, 8 (16..128 output pixels): GEMM's forward is faster below
 *     64 pixels (10.4 vs 13.8 ms at 16, 10.5 vs 15.3 at 32; 19.3 vs 16.2 at 64): each direct
 *     work-item streams its weight tile for only 8 pixels, and there are few work-items. DIRECT
 *     wins backward data and the filter gradient at every batch (batch 1: 12.4 vs 15.4 ms,
 *     1.8 vs 11.5 ms); at 64 pixels and more it wins all three.
 * Other devices are not measured: there DIRECT is used where its design most clearly pays
 * (narrow channels, where im2col's traffic dominates the GEMM path) and the tuned GEMM is kept
 * for wide layers. AUTO times instead; this rule is what AUTO falls back to without a cache. */
static clnet_conv_algo conv_rule_algo(const clnet_ctx *ctx, const clnet_conv2d_desc *d, clnet_pass pass) {
  if (clnet_conv2d_is_depthwise(d)) return CLNET_CONV_ALGO_DEPTHWISE;
  const int32_t g = clnet_conv2d_groups(d);
  const int wide = (int64_t)(d->in_c / g) * (d->out_c / g) > DIRECT_RULE_WIDE_CC;
  if (!wide) return CLNET_CONV_ALGO_DIRECT;
  if (!(ctx->info.type & CL_DEVICE_TYPE_CPU)) return CLNET_CONV_ALGO_GEMM;
  if (pass == CLNET_PASS_FORWARD && (int64_t)d->n * d->out_h * d->out_w < DIRECT_RULE_MIN_PIXELS)
    return CLNET_CONV_ALGO_GEMM;
  return CLNET_CONV_ALGO_DIRECT;
}

/* ---- the reference check ------------------------------------------------------------------- */

static const char *const pass_str[3] = {"forward", "backward-data", "backward-filter"};

/* "conv2d forward n64 32x32x3->64 k3x3 s1 same", with what differs from a square-stride,
 * undilated, ungrouped conv after it: " s2x1", " d2x2", " g32", " pads 1,1,0,0" (t,l,b,r). */
static void shape_str(char *dst, size_t cap, const clnet_conv2d_desc *d, clnet_pass pass) {
  static const char *const pad_names[3] = {"valid", "same", "explicit"};
  const int32_t sh = clnet_conv2d_stride_h(d), sw = clnet_conv2d_stride_w(d);
  int len = snprintf(dst, cap, "conv2d %s n%d %dx%dx%d->%d k%dx%d s%d", pass_str[pass], d->n, d->in_h, d->in_w,
                     d->in_c, d->out_c, d->k_h, d->k_w, sh);
  char extra[96] = "";
  int e = 0;
  if (sw != sh) e += snprintf(extra + e, sizeof extra - (size_t)e, "x%d", sw);
  e += snprintf(extra + e, sizeof extra - (size_t)e, " %s", pad_names[d->padding]);
  if (clnet_conv2d_dilation_h(d) != 1 || clnet_conv2d_dilation_w(d) != 1)
    e += snprintf(extra + e, sizeof extra - (size_t)e, " d%dx%d", clnet_conv2d_dilation_h(d), clnet_conv2d_dilation_w(d));
  if (clnet_conv2d_groups(d) != 1) e += snprintf(extra + e, sizeof extra - (size_t)e, " g%d", clnet_conv2d_groups(d));
  if (d->padding == CLNET_PADDING_EXPLICIT)
    snprintf(extra + e, sizeof extra - (size_t)e, " pads %d,%d,%d,%d", d->pad_top, d->pad_left, d->pad_bottom,
             d->pad_right);
  if (len >= 0 && (size_t)len < cap) snprintf(dst + len, cap - (size_t)len, "%s", extra);
}

/* Compares dev with ref (count floats) within atol; on the first miss writes why and returns 0. */
static int within(const float *dev, const float *ref, int64_t count, double atol, const char *name, char *why,
                  size_t cap) {
  for (int64_t i = 0; i < count; ++i)
    if (!(fabs((double)dev[i] - (double)ref[i]) <= atol)) {
      snprintf(why, cap, "%s[%lld] = %.9g, reference %.9g (tolerance %.3g)", name, (long long)i, dev[i], ref[i],
               atol);
      return 0;
    }
  return 1;
}

/* The reference side of the check, computed once per (shape, pass) for both candidates: a
 * sub-batch of at most 2 images of U(-1, 1) data and the float reference's output on it. */
typedef struct conv_check_data {
  clnet_conv2d_desc d;
  int64_t counts[4]; /* x (or dx), w (or dw), b (or db), y (or dy) */
  float *in[4];      /* the inputs, uploaded to every candidate */
  float *ref[4];     /* the reference's outputs (this pass's only) */
  int out_i;         /* index of the output: y 3, dx 0, dw 1 (db 2 too with bias) */
  int bias_out;
} conv_check_data;

/* One problem of the autotuner (tune/autotune.h): a conv's shape and pass. */
typedef struct conv_problem {
  const clnet_conv2d_desc *d;
  clnet_pass pass;
} conv_problem;

static void check_data_free(void *p) {
  conv_check_data *c = p;
  if (!c) return;
  for (int i = 0; i < 4; ++i) {
    free(c->in[i]);
    free(c->ref[i]);
  }
  free(c);
}

static clnet_status check_data_init(const void *problem, void **out) {
  const clnet_conv2d_desc *full = ((const conv_problem *)problem)->d;
  const clnet_pass pass = ((const conv_problem *)problem)->pass;
  conv_check_data *c = calloc(1, sizeof *c);
  *out = c;
  if (!c) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "conv2d: reference check");
  c->d = *full;
  c->d.n = full->n < 2 ? full->n : 2;
  CLNET_TRY(clnet_conv2d_desc_init(&c->d));
  const clnet_conv2d_desc *d = &c->d;
  c->counts[0] = (int64_t)d->n * d->in_h * d->in_w * d->in_c;
  c->counts[1] = (int64_t)d->k_h * d->k_w * (d->in_c / clnet_conv2d_groups(d)) * d->out_c;
  c->counts[2] = d->out_c;
  c->counts[3] = (int64_t)d->n * d->out_h * d->out_w * d->out_c;
  c->out_i = pass == CLNET_PASS_FORWARD ? 3 : pass == CLNET_PASS_BACKWARD_DATA ? 0 : 1;
  c->bias_out = pass == CLNET_PASS_BACKWARD_FILTER && d->has_bias;
  clnet_rng rng;
  clnet_rng_seed_stream(&rng, 0x636f6e76u /* "conv" */, (uint64_t)pass);
  for (int i = 0; i < 4; ++i) {
    c->in[i] = malloc((size_t)c->counts[i] * sizeof(float));
    c->ref[i] = malloc((size_t)c->counts[i] * sizeof(float));
    if (!c->in[i] || !c->ref[i]) {
      check_data_free(c);
      *out = NULL;
      return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "conv2d: reference check");
    }
    for (int64_t j = 0; j < c->counts[i]; ++j) c->in[i][j] = 2.0f * clnet_rng_uniform(&rng) - 1.0f;
  }
  float **r = c->ref, **in = c->in;
  switch (pass) {
    case CLNET_PASS_FORWARD: clnet_ref_conv2d_forward(d, in[0], in[1], d->has_bias ? in[2] : NULL, r[3]); break;
    case CLNET_PASS_BACKWARD_DATA: clnet_ref_conv2d_backward_data(d, in[3], in[1], r[0]); break;
    default: clnet_ref_conv2d_backward_filter(d, in[0], in[3], r[1], d->has_bias ? r[2] : NULL); break;
  }
  return CLNET_SUCCESS;
}

/* Runs `algo` on the check's sub-batch and compares it with the reference at the cross-checks'
 * tolerance (ops/tolerance.h). Outputs start as NaN, so an element the algorithm does not write
 * fails. *ok = 0 with `why` on a mismatch. */
static clnet_status check_candidate(clnet_ctx *ctx, void *check, const void *problem, int32_t algo_i, int *ok,
                                    char *why, size_t cap) {
  const conv_check_data *c = check;
  const clnet_pass pass = ((const conv_problem *)problem)->pass;
  const clnet_conv_algo algo = (clnet_conv_algo)algo_i;
  struct clnet_conv_finddb *db = clnet_conv_finddb_peek(ctx); /* the tuning ctx has it */
  const clnet_conv2d_desc *d = &c->d;
  const int out_i = c->out_i;
  const int64_t nb = d->out_c;
  float *got = NULL, *got_b = NULL;
  clnet_buf buf[4];
  memset(buf, 0, sizeof buf);
  int nbuf = 0;
  clnet_status st = CLNET_SUCCESS;
  for (int i = 0; i < 4 && st == CLNET_SUCCESS; ++i) {
    st = clnet_buf_alloc(ctx, (size_t)c->counts[i] * sizeof(float), "conv2d algorithm check", &buf[i]);
    if (st != CLNET_SUCCESS) break;
    nbuf++;
    st = clnet_buf_write(ctx, &buf[i], 0, (size_t)c->counts[i] * sizeof(float), c->in[i]);
  }
  if (st == CLNET_SUCCESS)
    st = clnet_buf_fill(ctx, &buf[out_i], 0, (size_t)c->counts[out_i] * sizeof(float), 0x7fc00000u); /* NaN */
  if (st == CLNET_SUCCESS && c->bias_out)
    st = clnet_buf_fill(ctx, &buf[2], 0, (size_t)nb * sizeof(float), 0x7fc00000u);
  if (st == CLNET_SUCCESS) {
    clnet_conv_io io = {.x = &buf[0], .w = &buf[1], .b = d->has_bias ? &buf[2] : NULL, .dy = &buf[3], .y = &buf[3],
                        .dx = &buf[0], .dw = &buf[1], .db = d->has_bias ? &buf[2] : NULL};
    st = clnet_conv2d_run_algo(ctx, d, pass, algo, &io);
  }
  got = malloc((size_t)c->counts[out_i] * sizeof(float));
  got_b = malloc((size_t)nb * sizeof(float));
  if (st == CLNET_SUCCESS && (!got || !got_b))
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "conv2d: reference check");
  if (st == CLNET_SUCCESS) st = clnet_buf_read(ctx, &buf[out_i], 0, (size_t)c->counts[out_i] * sizeof(float), got);
  if (st == CLNET_SUCCESS && c->bias_out) st = clnet_buf_read(ctx, &buf[2], 0, (size_t)nb * sizeof(float), got_b);
  if (st == CLNET_SUCCESS) {
    if (db->sabotage == (int32_t)algo + 1) got[0] += 1.0f; /* test hook: a wrong kernel */
    static const char *const out_names[3] = {"y", "dx", "dw"};
    *ok = within(got, c->ref[out_i], c->counts[out_i], clnet_conv2d_algo_atol(d, pass, 0, algo), out_names[pass],
                 why, cap) &&
          (!c->bias_out || within(got_b, c->ref[2], nb, clnet_conv2d_algo_atol(d, pass, 1, algo), "db", why, cap));
  }
  free(got);
  free(got_b);
  for (int i = 0; i < nbuf; ++i) clnet_buf_free(ctx, &buf[i]);
  return st;
}

/* Buffers of the full shape for a choice asked without a call (clnet_conv2d_algo_choice). */
static clnet_status alloc_io(clnet_ctx *ctx, const clnet_conv2d_desc *d, clnet_buf bufs[4], clnet_conv_io *io) {
  const size_t counts[4] = {(size_t)d->n * d->in_h * d->in_w * d->in_c,
                            (size_t)d->k_h * d->k_w * (d->in_c / clnet_conv2d_groups(d)) * d->out_c,
                            (size_t)d->out_c, (size_t)d->n * d->out_h * d->out_w * d->out_c};
  for (int i = 0; i < 4; ++i) {
    clnet_status st = clnet_buf_alloc(ctx, counts[i] * sizeof(float), "conv2d algorithm timing", &bufs[i]);
    if (st == CLNET_SUCCESS) st = clnet_buf_fill(ctx, &bufs[i], 0, counts[i] * sizeof(float), 0x3c23d70au); /* 0.01f */
    if (st != CLNET_SUCCESS) {
      for (int j = 0; j < i; ++j) clnet_buf_free(ctx, &bufs[j]);
      return st;
    }
  }
  *io = (clnet_conv_io){.x = &bufs[0], .w = &bufs[1], .b = d->has_bias ? &bufs[2] : NULL, .dy = &bufs[3],
                        .y = &bufs[3], .dx = &bufs[0], .dw = &bufs[1], .db = d->has_bias ? &bufs[2] : NULL};
  return CLNET_SUCCESS;
}

/* ---- the autotuner's candidates (tune/autotune.h) ---------------------------------------------- */

static clnet_status run_candidate(clnet_ctx *ctx, const void *problem, int32_t algo, const void *io) {
  const conv_problem *p = problem;
  return clnet_conv2d_run_algo(ctx, p->d, p->pass, (clnet_conv_algo)algo, io);
}

static const char *algo_name(int32_t algo) { return clnet_conv_algo_str((clnet_conv_algo)algo); }

/* Which algorithms are timed: those that apply (clnet_conv2d_algo_applies) and can win on this kind
 * of device (clnet_fdb_candidate_can_win), or apply where no other does. */
static int applies(const void *problem, clnet_conv_algo a) {
  const conv_problem *p = problem;
  return clnet_conv2d_algo_applies(p->d, p->pass, a);
}
static int timed_gemm(clnet_ctx *ctx, const void *p) {
  return clnet_fdb_candidate_can_win(ctx, CLNET_FDB_CANDIDATE_CLBLAST) ||
         (!applies(p, CLNET_CONV_ALGO_DIRECT) && !applies(p, CLNET_CONV_ALGO_DEPTHWISE));
}
static int timed_direct(clnet_ctx *ctx, const void *p) { return applies(p, CLNET_CONV_ALGO_DIRECT); }
static int timed_depthwise(clnet_ctx *ctx, const void *p) { return applies(p, CLNET_CONV_ALGO_DEPTHWISE); }
static int timed_winograd4(clnet_ctx *ctx, const void *problem) {
  const conv_problem *p = problem;
  return clnet_conv2d_winograd_tile_applies(p->d, p->pass, 4);
}
static int timed_winograd(clnet_ctx *ctx, const void *problem) {
  const conv_problem *p = problem;
  return clnet_conv2d_winograd_applies(p->d, p->pass) &&
         (!timed_winograd4(ctx, problem) || clnet_fdb_candidate_can_win(ctx, CLNET_FDB_CANDIDATE_WINOGRAD2_BESIDE_4));
}

#define CAND(a, fn) {.algo = (int32_t)(a), .slot = CLNET_CONV_ALGO_SLOT(a), .timed = (fn)}
/* DIRECT (or DEPTHWISE) first: usually the fastest, so a slow candidate stops after one timed run */
static const clnet_autotune_candidate candidates[CLNET_CONV_ALGO_SLOTS] = {
    CAND(CLNET_CONV_ALGO_DIRECT, timed_direct),       CAND(CLNET_CONV_ALGO_DEPTHWISE, timed_depthwise),
    CAND(CLNET_CONV_ALGO_WINOGRAD, timed_winograd),   CAND(CLNET_CONV_ALGO_WINOGRAD4, timed_winograd4),
    CAND(CLNET_CONV_ALGO_GEMM, timed_gemm)};
/* on a tie the earlier of DIRECT, DEPTHWISE, GEMM, WINOGRAD, WINOGRAD4 (the more accurate first) */
static const int32_t preference[CLNET_CONV_ALGO_SLOTS] = {
    CLNET_CONV_ALGO_SLOT(CLNET_CONV_ALGO_DIRECT), CLNET_CONV_ALGO_SLOT(CLNET_CONV_ALGO_DEPTHWISE),
    CLNET_CONV_ALGO_SLOT(CLNET_CONV_ALGO_GEMM), CLNET_CONV_ALGO_SLOT(CLNET_CONV_ALGO_WINOGRAD),
    CLNET_CONV_ALGO_SLOT(CLNET_CONV_ALGO_WINOGRAD4)};

static const clnet_autotune_kind conv_kind = {
    .candidates = candidates,
    .n_candidates = CLNET_CONV_ALGO_SLOTS,
    .preference = preference,
    .time_runs = 3, /* timed runs after the warm-up, fewer for a clear loser */
    .none_pass = "no algorithm matches the reference",
    .name = algo_name,
    .run = run_candidate,
    .check_init = check_data_init,
    .check = check_candidate,
    .check_free = check_data_free,
};

static void report_note(void *user, const char *line) { clnet_conv_finddb_note(user, "%s", line); }
static const char *report_last_note(void *user) { return ((struct clnet_conv_finddb *)user)->last_note; }

/* Checks and times every algorithm that is timed for (d, pass) into e (source TIMED). */
static clnet_status tune(clnet_ctx *ctx, struct clnet_conv_finddb *db, const clnet_conv2d_desc *d,
                         clnet_pass pass, const clnet_conv_io *io, conv_fdb_entry *e) {
  char shape[160];
  shape_str(shape, sizeof shape, d, pass);
  const conv_problem problem = {.d = d, .pass = pass};
  const clnet_autotune_report report = {.stats = &db->stats, .note = report_note, .last_note = report_last_note,
                                        .user = db};
  memset(e, 0, sizeof *e);
  int32_t algo = 0;
  CLNET_TRY(clnet_autotune(ctx, &conv_kind, &problem, io, shape, &report, e->choice.ms, &algo));
  e->key = clnet_conv_fdb_key(d, pass);
  e->choice.algo = (clnet_conv_algo)algo;
  e->choice.source = CLNET_ALGO_SOURCE_TIMED;
  return CLNET_SUCCESS;
}

/* ---- the choice ---------------------------------------------------------------------------- */

static clnet_status setting(clnet_ctx *ctx, clnet_conv_algo *out) {
  struct clnet_conv_finddb *db = NULL;
  CLNET_TRY(clnet_conv_finddb_state(ctx, &db));
  if (db->algo_setting == 0) {
    const char *e = getenv("CLNET_CONV_ALGO");
    clnet_conv_algo a = CLNET_CONV_ALGO_AUTO;
    if (e && *e && clnet_conv_algo_parse(e, &a) != CLNET_SUCCESS)
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                             "conv2d: environment variable CLNET_CONV_ALGO = '%s', must be gemm, direct, winograd, "
                             "winograd4, depthwise, rule or auto",
                             e);
    db->algo_setting = (int32_t)a + 1;
  }
  *out = (clnet_conv_algo)(db->algo_setting - 1);
  return CLNET_SUCCESS;
}

static clnet_status auto_choice(clnet_ctx *ctx, const clnet_conv2d_desc *d, clnet_pass pass,
                                const clnet_conv_io *io, clnet_conv_algo_choice *out) {
  struct clnet_conv_finddb *db = NULL;
  CLNET_TRY(clnet_conv_finddb_open(ctx, &db));
  const conv_fdb_key key = clnet_conv_fdb_key(d, pass);
  conv_fdb_entry *e = clnet_conv_finddb_find(db, &key);
  if (!e && db->t.use_disk) {
    conv_fdb_entry fresh;
    clnet_buf bufs[4];
    clnet_conv_io own;
    if (!io) CLNET_TRY(alloc_io(ctx, d, bufs, &own));
    if (db->progress_fn) {
      char shape[160];
      shape_str(shape, sizeof shape, d, pass);
      db->progress_fn(db->progress_user, shape);
    }
    clnet_status st = tune(ctx, db, d, pass, io ? io : &own, &fresh);
    if (!io)
      for (int i = 0; i < 4; ++i) clnet_buf_free(ctx, &bufs[i]);
    CLNET_TRY(st);
    int32_t persisted = 0;
    CLNET_TRY(clnet_conv_finddb_commit(db, &fresh, &e, &persisted));
    if (!persisted) {
      char shape[160];
      shape_str(shape, sizeof shape, d, pass);
      clnet_conv_finddb_note(db, "%s: cannot record the timed choice in %s (%s); using the fixed rule for this "
                             "and every shape not yet recorded", shape, db->t.path, clnet_last_error());
      db->t.use_disk = 0; /* timing more shapes would be wasted: their choices could not be kept either */
      e = NULL;
    } else if (e->choice.source == CLNET_ALGO_SOURCE_TIMED && !e->counted) {
      e->counted = 1;
      db->stats.timed++;
    }
  }
  if (!e) { /* no cache, or it cannot be written: the rule, remembered for this process */
    conv_fdb_entry r = {.key = key, .choice = {.algo = conv_rule_algo(ctx, d, pass), .source = CLNET_ALGO_SOURCE_RULE,
                                               .ms = {-1, -1, -1, -1, -1}}, .counted = 1};
    CLNET_TRY(clnet_conv_finddb_add(db, &r, &e));
    db->stats.from_rule++;
  }
  if (!e->counted) { /* read from the file (or another process committed it first) */
    e->counted = 1;
    db->stats.from_finddb++;
  }
  *out = e->choice;
  return CLNET_SUCCESS;
}

clnet_status clnet_tune_conv_resolve(clnet_ctx *ctx, const clnet_conv2d_desc *d, clnet_pass pass,
                                     const clnet_conv_io *io, clnet_conv_algo_choice *out) {
  clnet_conv_algo a = CLNET_CONV_ALGO_AUTO;
  CLNET_TRY(setting(ctx, &a));
  if (clnet_conv_algo_slot(a) >= 0 && clnet_conv2d_algo_applies(d, pass, a)) {
    *out = (clnet_conv_algo_choice){.algo = a, .source = CLNET_ALGO_SOURCE_FORCED, .ms = {-1, -1, -1, -1, -1}};
    return CLNET_SUCCESS;
  }
  if (clnet_conv_algo_slot(a) >= 0) { /* forced where it does not apply: AUTO's choice, said once */
    struct clnet_conv_finddb *db = NULL;
    CLNET_TRY(clnet_conv_finddb_state(ctx, &db));
    const int32_t bit = 1 << clnet_conv_algo_slot(a);
    static const char *const where[CLNET_CONV_ALGO_SLOTS] = {
        "", "convs that are not depthwise", "3x3 stride-1 undilated convs of one group",
        "3x3 stride-1 undilated convs of one group and at most 256 x 256 channels",
        "depthwise convs (groups = input channels > 1)"};
    if (!(db->fallback_noted & bit) && (db->fallback_noted |= bit))
      clnet_conv_finddb_note(db, "conv algorithm %s applies only to %s; other convs use auto's choice",
                             clnet_conv_algo_str(a), where[clnet_conv_algo_slot(a)]);
  }
  if (a == CLNET_CONV_ALGO_RULE) {
    *out = (clnet_conv_algo_choice){.algo = conv_rule_algo(ctx, d, pass), .source = CLNET_ALGO_SOURCE_RULE,
                                    .ms = {-1, -1, -1, -1, -1}};
    return CLNET_SUCCESS;
  }
  return auto_choice(ctx, d, pass, io, out);
}

/* ---- public queries ------------------------------------------------------------------------ */

clnet_status clnet_conv2d_algo_choice(clnet_ctx *ctx, const clnet_conv2d_desc *d, clnet_pass pass,
                                      clnet_conv_algo_choice *out) {
  if (!ctx || !d || !out) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_conv2d_algo_choice: NULL argument");
  if (ctx->is_ref) return clnet_set_error(CLNET_ERR_UNSUPPORTED, "conv2d: the reference has one algorithm");
  if (pass != CLNET_PASS_FORWARD && pass != CLNET_PASS_BACKWARD_DATA &&
      pass != CLNET_PASS_BACKWARD_FILTER)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_conv2d_algo_choice: pass = %d", (int)pass);
  clnet_conv2d_desc t = *d;
  CLNET_TRY(clnet_conv2d_desc_init(&t));
  return clnet_tune_conv_resolve(ctx, &t, pass, NULL, out);
}

clnet_status clnet_conv2d_algo_chosen(clnet_ctx *ctx, const clnet_conv2d_desc *d, clnet_pass pass,
                                      clnet_conv_algo *out) {
  clnet_conv_algo_choice c;
  CLNET_TRY(clnet_conv2d_algo_choice(ctx, d, pass, &c));
  *out = c.algo;
  return CLNET_SUCCESS;
}

void clnet_conv_algo_db_path(clnet_ctx *ctx, char *dst, size_t cap) {
  struct clnet_conv_finddb *db = NULL;
  if (cap) dst[0] = '\0';
  if (!ctx || ctx->is_ref || clnet_conv_finddb_open(ctx, &db) != CLNET_SUCCESS || !db->t.use_disk) return;
  snprintf(dst, cap, "%s", db->t.path);
}

clnet_algo_stats clnet_conv_algo_get_stats(clnet_ctx *ctx) {
  clnet_algo_stats s;
  memset(&s, 0, sizeof s);
  const struct clnet_conv_finddb *db = ctx ? clnet_conv_finddb_peek(ctx) : NULL;
  return db ? db->stats : s;
}

void clnet_ctx_set_algo_note_fn(clnet_ctx *ctx, clnet_algo_note_fn fn, void *user) {
  struct clnet_conv_finddb *db = NULL;
  if (!ctx || clnet_conv_finddb_state(ctx, &db) != CLNET_SUCCESS) return;
  db->note_fn = fn;
  db->note_user = user;
}

void clnet_ctx_set_algo_progress_fn(clnet_ctx *ctx, clnet_algo_progress_fn fn, void *user) {
  struct clnet_conv_finddb *db = NULL;
  if (!ctx || clnet_conv_finddb_state(ctx, &db) != CLNET_SUCCESS) return;
  db->progress_fn = fn;
  db->progress_user = user;
}

const char *clnet_algo_last_note(clnet_ctx *ctx) {
  const struct clnet_conv_finddb *db = ctx ? clnet_conv_finddb_peek(ctx) : NULL;
  return db ? db->last_note : "";
}

int32_t clnet_conv_algo_setting_save(clnet_ctx *ctx) {
  const struct clnet_conv_finddb *db = clnet_conv_finddb_peek(ctx);
  return db ? db->algo_setting : 0;
}

void clnet_conv_algo_setting_restore(clnet_ctx *ctx, int32_t saved) {
  struct clnet_conv_finddb *db = clnet_conv_finddb_peek(ctx);
  if (db) db->algo_setting = saved; /* no table yet: nothing was set */
}

void clnet_conv_algo_test_sabotage(clnet_ctx *ctx, clnet_conv_algo algo) {
  struct clnet_conv_finddb *db = NULL;
  if (clnet_conv_finddb_state(ctx, &db) == CLNET_SUCCESS)
    db->sabotage = clnet_conv_algo_slot(algo) >= 0 ? (int32_t)algo + 1 : 0;
}
