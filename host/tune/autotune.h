/* Internal: the autotuner, one loop for every kind of op whose algorithm AUTO chooses (convolutions:
 * tune/conv_algo.c; the dense layer's GEMMs: tune/dense_algo.c). For one problem (a shape and a
 * pass), each candidate the kind times there runs once at the full shape (warm-up: kernel builds
 * and CLBlast's compile land there), is checked against the kind's reference check, and the ones
 * that pass are timed: best of up to time_runs runs, wall clock around clFinish, and a candidate
 * already over twice the fastest so far stops after one. The fastest wins; on a tie the earlier
 * in the kind's preference order. A candidate that fails the check is counted, noted
 * ("<shape>: <name> fails the reference check (<why>); not used") and never chosen. */
#ifndef CLNET_TUNE_AUTOTUNE_H
#define CLNET_TUNE_AUTOTUNE_H

#include "clnet/ops.h"
#include "runtime/ctx.h"

#define CLNET_AUTOTUNE_MAX_CANDIDATES 8

typedef struct clnet_autotune_candidate {
  int32_t algo;     /* the kind's algorithm (clnet_conv_algo, clnet_dense_algo) */
  int32_t slot;     /* its index in the times (the choice's ms[]) */
  /* 1 when it is timed for `problem` on ctx: it applies there, and can win on this kind of device
   * (or no other candidate applies; tune/finddb.h, clnet_fdb_candidate_can_win) */
  int (*timed)(clnet_ctx *ctx, const void *problem);
} clnet_autotune_candidate;

typedef struct clnet_autotune_kind {
  const clnet_autotune_candidate *candidates; /* in timing order (the usual winner first) */
  int32_t n_candidates;                       /* at most CLNET_AUTOTUNE_MAX_CANDIDATES */
  const int32_t *preference;                  /* n_candidates slots: who wins a tie (earlier first) */
  int32_t time_runs;                          /* timed runs after the warm-up */
  /* the error when every candidate fails the check: "<shape>: <none_pass> (<the last note>)" */
  const char *none_pass;
  const char *(*name)(int32_t algo);
  /* runs `algo` on problem with the caller's buffers io */
  clnet_status (*run)(clnet_ctx *ctx, const void *problem, int32_t algo, const void *io);
  /* The reference side of the check, computed once per problem for every candidate: *check
   * (malloc'd; check_free(NULL) is fine) */
  clnet_status (*check_init)(const void *problem, void **check);
  /* runs `algo` on the check's data; *ok = 0 with why on a mismatch */
  clnet_status (*check)(clnet_ctx *ctx, void *check, const void *problem, int32_t algo, int *ok, char *why,
                        size_t cap);
  void (*check_free)(void *check);
} clnet_autotune_kind;

/* Where an autotuning run reports: the kind's stats (first calls, builds, timing, rejections) and
 * the ctx's notes. */
typedef struct clnet_autotune_report {
  clnet_algo_stats *stats;
  void (*note)(void *user, const char *line);
  const char *(*last_note)(void *user);
  void *user;
} clnet_autotune_report;

/* Checks and times the kind's candidates on problem (described by `shape` in notes and errors)
 * with the buffers io. ms[slot] receives each candidate's best time in ms, -1 for one that failed
 * the check, -2 for one not timed; *algo the winner. Errors: CLNET_ERR_CHECK_FAILED when every
 * timed candidate fails the check; the candidates' own errors. */
clnet_status clnet_autotune(clnet_ctx *ctx, const clnet_autotune_kind *kind, const void *problem, const void *io,
                            const char *shape, const clnet_autotune_report *report, double *ms, int32_t *algo);

#endif
