/* Learning-rate schedules (clnet/schedule.h): pure functions of the step. */
#include "clnet/schedule.h"

#include <math.h>
#include <string.h>

#include "core/error.h"

#define CLNET_PI 3.14159265358979323846

static const char *const kind_names[] = {"constant", "step", "cosine", "onecycle", "plateau"};

const char *clnet_lr_kind_str(clnet_lr_kind kind) {
  return (int)kind >= 0 && (int)kind < 5 ? kind_names[kind] : "unknown";
}

clnet_status clnet_lr_kind_parse(const char *name, clnet_lr_kind *out) {
  for (int i = 0; name && i < 5; ++i)
    if (!strcmp(name, kind_names[i])) {
      *out = (clnet_lr_kind)i;
      return CLNET_SUCCESS;
    }
  return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                         "learning-rate schedule '%s': must be constant, step, cosine, onecycle or plateau",
                         name ? name : "(null)");
}

clnet_lr_schedule clnet_lr_schedule_default(clnet_lr_kind kind, double lr) {
  return (clnet_lr_schedule){.kind = kind, .lr = lr, .min_lr = 0, .warmup = 0, .gamma = 0.1, .pct_start = 0.25,
                             .div_factor = 25, .factor = 0.1, .patience = 2, .threshold = 1e-4};
}

clnet_status clnet_lr_schedule_check(const clnet_lr_schedule *s) {
  if ((int)s->kind < 0 || (int)s->kind > 4)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "learning-rate schedule kind %d", (int)s->kind);
  if (!(s->lr > 0) || !isfinite(s->lr))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "learning rate %g: must be finite and > 0", s->lr);
  if (!(s->min_lr >= 0) || !(s->min_lr <= s->lr))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "final learning rate %g: must lie in [0, lr = %g]", s->min_lr,
                           s->lr);
  if (s->warmup < 0) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "warm-up %lld steps: must be >= 0", (long long)s->warmup);
  if (s->n_milestones < 0 || s->n_milestones > CLNET_LR_MAX_MILESTONES)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%d milestones: at most %d", s->n_milestones,
                           CLNET_LR_MAX_MILESTONES);
  for (int32_t i = 0; i < s->n_milestones; ++i)
    if (s->milestones[i] < 1 || (i && s->milestones[i] <= s->milestones[i - 1]))
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "milestone %d (%lld): milestones must be >= 1 and ascending",
                             i, (long long)s->milestones[i]);
  if (!(s->gamma > 0 && s->gamma <= 1)) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "gamma %g: must lie in (0, 1]", s->gamma);
  if (!(s->factor > 0 && s->factor <= 1)) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "plateau factor %g: must lie in (0, 1]", s->factor);
  if (!(s->pct_start > 0 && s->pct_start < 1))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "one-cycle rising fraction %g: must lie in (0, 1)", s->pct_start);
  if (!(s->div_factor >= 1) || !isfinite(s->div_factor))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "one-cycle div_factor %g: must be >= 1", s->div_factor);
  if (s->patience < 0) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "plateau patience %d: must be >= 0", s->patience);
  if (!(s->threshold >= 0) || !isfinite(s->threshold))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "plateau threshold %g: must be >= 0", s->threshold);
  return CLNET_SUCCESS;
}

double clnet_lr_at(const clnet_lr_schedule *s, int64_t step, int64_t total, int32_t reductions) {
  if (total < 1) total = 1;
  if (step < 0) step = 0;
  if (step >= total) step = total - 1;
  switch (s->kind) {
    case CLNET_LR_CONSTANT: return s->lr;
    case CLNET_LR_STEP: {
      double r = s->lr;
      for (int32_t i = 0; i < s->n_milestones; ++i)
        if (step >= s->milestones[i]) r *= s->gamma;
      return r;
    }
    case CLNET_LR_COSINE: {
      if (step < s->warmup) return s->lr * (double)(step + 1) / (double)(s->warmup + 1);
      const int64_t span = total - s->warmup;
      const double x = span > 1 ? (double)(step - s->warmup) / (double)(span - 1) : 1.0;
      return s->min_lr + 0.5 * (s->lr - s->min_lr) * (1.0 + cos(CLNET_PI * x));
    }
    case CLNET_LR_ONECYCLE: {
      const double start = s->lr / s->div_factor;
      const double peak_at = s->pct_start * (double)(total - 1);
      if ((double)step <= peak_at) return peak_at > 0 ? start + (s->lr - start) * (double)step / peak_at : s->lr;
      const double down = (double)(total - 1) - peak_at;
      return s->lr + (s->min_lr - s->lr) * ((double)step - peak_at) / down;
    }
    case CLNET_LR_PLATEAU: return s->lr * pow(s->factor, reductions);
  }
  return s->lr;
}

void clnet_plateau_init(clnet_plateau *p) {
  p->best = INFINITY;
  p->bad_epochs = 0;
  p->reductions = 0;
}

int32_t clnet_plateau_observe(clnet_plateau *p, const clnet_lr_schedule *s, double val_loss) {
  if (!isfinite(val_loss)) return 0;
  if (val_loss < p->best * (1.0 - s->threshold)) {
    p->best = val_loss;
    p->bad_epochs = 0;
    return 0;
  }
  if (++p->bad_epochs <= s->patience) return 0;
  p->bad_epochs = 0;
  p->reductions++;
  return 1;
}
