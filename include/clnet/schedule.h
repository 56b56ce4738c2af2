/* Learning-rate schedules, applied per step (host/train/schedule.c). A schedule is a pure function
 * of the step (0-based: the step about to run), the run's total steps and, for reduce-on-plateau,
 * the reductions validation has triggered so far; so a resumed run recomputes exactly the rates
 * it would have used. */
#ifndef CLNET_SCHEDULE_H
#define CLNET_SCHEDULE_H

#include <stdint.h>

#include "clnet/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum clnet_lr_kind {
  CLNET_LR_CONSTANT = 0, /* lr */
  CLNET_LR_STEP = 1,     /* lr * gamma^(milestones passed): milestones in steps, ascending */
  CLNET_LR_COSINE = 2,   /* linear warm-up from 0 over warmup steps, then cosine from lr to min_lr */
  CLNET_LR_ONECYCLE = 3, /* triangular: linear from lr/div_factor to lr over pct_start of the run, then
                            linear to min_lr at the end */
  CLNET_LR_PLATEAU = 4,  /* lr * factor^reductions: validation reduces after `patience` epochs
                            without an improvement of the loss by more than threshold (relative) */
} clnet_lr_kind;

#define CLNET_LR_MAX_MILESTONES 16

typedef struct clnet_lr_schedule {
  clnet_lr_kind kind;
  double lr;           /* the base (constant, step, plateau) or peak (cosine, one-cycle) rate */
  double min_lr;       /* cosine, one-cycle: the rate at the end (default 0) */
  int64_t warmup;      /* cosine: warm-up steps */
  int32_t n_milestones;
  int64_t milestones[CLNET_LR_MAX_MILESTONES]; /* step: where the rate is multiplied by gamma */
  double gamma;        /* step (default 0.1) */
  double pct_start;    /* one-cycle: the rising fraction of the run (default 0.25) */
  double div_factor;   /* one-cycle: the first rate is lr / div_factor (default 25) */
  double factor;       /* plateau: the multiplier per reduction (default 0.1) */
  int32_t patience;    /* plateau: epochs without improvement before a reduction (default 2) */
  double threshold;    /* plateau: relative improvement that counts (default 1e-4) */
} clnet_lr_schedule;

/* Defaults for the optional fields of kind, lr set. */
clnet_lr_schedule clnet_lr_schedule_default(clnet_lr_kind kind, double lr);
/* Checks the fields: every rate finite and >= 0, lr > 0, milestones ascending and >= 1, factors in
 * (0, 1], pct_start in (0, 1), warmup >= 0. Errors name the field. */
clnet_status clnet_lr_schedule_check(const clnet_lr_schedule *s);
/* The rate of step `step` (0-based) of a run of `total` steps; plateau: after `reductions`. */
double clnet_lr_at(const clnet_lr_schedule *s, int64_t step, int64_t total, int32_t reductions);
/* "constant", "step", "cosine", "onecycle", "plateau"; parse: INVALID_ARGUMENT for anything else. */
const char *clnet_lr_kind_str(clnet_lr_kind kind);
clnet_status clnet_lr_kind_parse(const char *name, clnet_lr_kind *out);

/* Reduce-on-plateau's state: the best validation loss and the epochs since it improved. */
typedef struct clnet_plateau {
  double best;
  int32_t bad_epochs, reductions;
} clnet_plateau;
void clnet_plateau_init(clnet_plateau *p);
/* After an epoch's validation loss: returns 1 when it triggered a reduction (reductions + 1). */
int32_t clnet_plateau_observe(clnet_plateau *p, const clnet_lr_schedule *s, double val_loss);

#ifdef __cplusplus
}
#endif
#endif
