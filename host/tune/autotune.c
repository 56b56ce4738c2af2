/* The autotuner (tune/autotune.h). */
#include "tune/autotune.h"

#include <math.h>
#include <stdio.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static clnet_status run_finished(clnet_ctx *ctx, const clnet_autotune_kind *kind, const void *problem, int32_t algo,
                                 const void *io, double *seconds) {
  const double t0 = now_s();
  CLNET_TRY(kind->run(ctx, problem, algo, io));
  CLNET_TRY(clnet_ctx_finish(ctx));
  *seconds = now_s() - t0;
  return CLNET_SUCCESS;
}

clnet_status clnet_autotune(clnet_ctx *ctx, const clnet_autotune_kind *kind, const void *problem, const void *io,
                            const char *shape, const clnet_autotune_report *report, double *ms, int32_t *algo) {
  if (kind->n_candidates < 1 || kind->n_candidates > CLNET_AUTOTUNE_MAX_CANDIDATES)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "autotune: %d candidates", kind->n_candidates);
  const double t0 = now_s(), b0 = ctx->stats.build_seconds;
  double first_calls = 0;
  /* indexed by slot; -2: not timed here (candidate->timed), -1: not timed yet or rejected */
  double best[CLNET_AUTOTUNE_MAX_CANDIDATES];
  for (int32_t c = 0; c < kind->n_candidates; ++c)
    best[kind->candidates[c].slot] = kind->candidates[c].timed(ctx, problem) ? -1 : -2;
  void *check = NULL;
  clnet_status st = kind->check_init(problem, &check);
  for (int32_t c = 0; c < kind->n_candidates && st == CLNET_SUCCESS; ++c) {
    const clnet_autotune_candidate *cand = &kind->candidates[c];
    if (best[cand->slot] == -2) continue;
    double t = 0;
    st = run_finished(ctx, kind, problem, cand->algo, io, &t); /* warm-up */
    if (st != CLNET_SUCCESS) break;
    first_calls += t;
    int ok = 0;
    char why[256] = "";
    st = kind->check(ctx, check, problem, cand->algo, &ok, why, sizeof why);
    if (st != CLNET_SUCCESS) break;
    if (!ok) {
      report->stats->rejected++;
      char line[640];
      snprintf(line, sizeof line, "%s: %s fails the reference check (%s); not used", shape, kind->name(cand->algo),
               why);
      report->note(report->user, line);
      continue;
    }
    double other = -1; /* the fastest so far */
    for (int32_t k = 0; k < kind->n_candidates; ++k)
      if (best[k] >= 0 && (other < 0 || best[k] < other)) other = best[k];
    double b = INFINITY;
    for (int32_t r = 0; r < kind->time_runs && st == CLNET_SUCCESS; ++r) {
      st = run_finished(ctx, kind, problem, cand->algo, io, &t);
      if (t < b) b = t;
      if (other >= 0 && b > 2 * other * 1e-3) break; /* a clear loser: no need for the best of all runs */
    }
    best[cand->slot] = b * 1e3;
  }
  kind->check_free(check);
  report->stats->first_call_seconds += first_calls;
  report->stats->build_seconds += ctx->stats.build_seconds - b0;
  report->stats->tune_seconds += now_s() - t0 - first_calls;
  CLNET_TRY(st);
  int32_t pick = -1; /* index into preference */
  for (int32_t k = 0; k < kind->n_candidates; ++k) {
    const int32_t sl = kind->preference[k];
    ms[sl] = best[sl];
    if (best[sl] >= 0 && (pick < 0 || best[sl] < best[kind->preference[pick]])) pick = k;
  }
  if (pick < 0)
    return clnet_set_error(CLNET_ERR_CHECK_FAILED, "%s: %s (%s)", shape, kind->none_pass,
                           report->last_note(report->user));
  for (int32_t c = 0; c < kind->n_candidates; ++c)
    if (kind->candidates[c].slot == kind->preference[pick]) *algo = kind->candidates[c].algo;
  return CLNET_SUCCESS;
}
