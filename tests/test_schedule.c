/* Learning-rate schedules against their closed forms, and their argument checks. */
#include <criterion/criterion.h>
#include <math.h>

#include "clnet/schedule.h"

#define CLNET_PI 3.14159265358979323846

Test(schedule, closed_forms) {
  clnet_lr_schedule c = clnet_lr_schedule_default(CLNET_LR_CONSTANT, 0.1);
  cr_assert_eq(clnet_lr_schedule_check(&c), CLNET_SUCCESS);
  for (int64_t s = 0; s < 10; ++s) cr_assert_float_eq(clnet_lr_at(&c, s, 10, 0), 0.1, 0);

  clnet_lr_schedule st = clnet_lr_schedule_default(CLNET_LR_STEP, 1.0);
  st.n_milestones = 2;
  st.milestones[0] = 3;
  st.milestones[1] = 6;
  st.gamma = 0.5;
  cr_assert_eq(clnet_lr_schedule_check(&st), CLNET_SUCCESS);
  const double steps[8] = {1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25};
  for (int s = 0; s < 8; ++s) cr_assert_float_eq(clnet_lr_at(&st, s, 8, 0), steps[s], 1e-15, "step %d", s);

  /* cosine: warm-up 4 of 104 steps, then cos from 0.2 to 0.02 over the remaining 100 */
  clnet_lr_schedule co = clnet_lr_schedule_default(CLNET_LR_COSINE, 0.2);
  co.warmup = 4;
  co.min_lr = 0.02;
  cr_assert_eq(clnet_lr_schedule_check(&co), CLNET_SUCCESS);
  for (int s = 0; s < 4; ++s) cr_assert_float_eq(clnet_lr_at(&co, s, 104, 0), 0.2 * (s + 1) / 5.0, 1e-15, "warm-up %d", s);
  for (int s = 4; s < 104; ++s) {
    const double x = (s - 4) / 99.0, want = 0.02 + 0.5 * 0.18 * (1 + cos(CLNET_PI * x));
    cr_assert_float_eq(clnet_lr_at(&co, s, 104, 0), want, 1e-15, "step %d", s);
  }
  cr_assert_float_eq(clnet_lr_at(&co, 4, 104, 0), 0.2, 1e-15, "the peak after the warm-up");
  cr_assert_float_eq(clnet_lr_at(&co, 103, 104, 0), 0.02, 1e-15, "the floor at the last step");

  /* one-cycle over 101 steps, pct 0.25: 0.4/25 -> 0.4 at step 25, -> 0 at step 100 */
  clnet_lr_schedule oc = clnet_lr_schedule_default(CLNET_LR_ONECYCLE, 0.4);
  cr_assert_eq(clnet_lr_schedule_check(&oc), CLNET_SUCCESS);
  cr_assert_float_eq(clnet_lr_at(&oc, 0, 101, 0), 0.016, 1e-15);
  cr_assert_float_eq(clnet_lr_at(&oc, 25, 101, 0), 0.4, 1e-15);
  cr_assert_float_eq(clnet_lr_at(&oc, 10, 101, 0), 0.016 + 0.384 * 10 / 25.0, 1e-15);
  cr_assert_float_eq(clnet_lr_at(&oc, 70, 101, 0), 0.4 * (1 - 45 / 75.0), 1e-15);
  cr_assert_float_eq(clnet_lr_at(&oc, 100, 101, 0), 0, 1e-15);
  cr_assert_float_eq(clnet_lr_at(&oc, 500, 101, 0), 0, 1e-15, "past the end: the last rate");
}

Test(schedule, plateau_reduces_after_patience) {
  clnet_lr_schedule p = clnet_lr_schedule_default(CLNET_LR_PLATEAU, 1e-2);
  p.patience = 1;
  p.factor = 0.5;
  clnet_plateau st;
  clnet_plateau_init(&st);
  const double losses[7] = {1.0, 0.9, 0.95, 0.96, 0.8, 0.85, 0.8};
  const int reduced[7] = {0, 0, 0, 1, 0, 0, 1};
  for (int e = 0; e < 7; ++e) cr_assert_eq(clnet_plateau_observe(&st, &p, losses[e]), reduced[e], "epoch %d", e);
  cr_assert_eq(st.reductions, 2);
  cr_assert_float_eq(clnet_lr_at(&p, 0, 1, st.reductions), 2.5e-3, 1e-15);
  cr_assert_eq(clnet_plateau_observe(&st, &p, NAN), 0, "a non-finite loss changes nothing");
}

Test(schedule, bad_arguments_name_the_field) {
  clnet_lr_schedule s = clnet_lr_schedule_default(CLNET_LR_STEP, 0.1);
  s.n_milestones = 2;
  s.milestones[0] = 5;
  s.milestones[1] = 5;
  cr_assert_eq(clnet_lr_schedule_check(&s), CLNET_ERR_INVALID_ARGUMENT);
  s = clnet_lr_schedule_default(CLNET_LR_COSINE, 0.1);
  s.min_lr = 0.2;
  cr_assert_eq(clnet_lr_schedule_check(&s), CLNET_ERR_INVALID_ARGUMENT);
  s = clnet_lr_schedule_default(CLNET_LR_ONECYCLE, 0.1);
  s.pct_start = 1;
  cr_assert_eq(clnet_lr_schedule_check(&s), CLNET_ERR_INVALID_ARGUMENT);
  s = clnet_lr_schedule_default(CLNET_LR_CONSTANT, 0);
  cr_assert_eq(clnet_lr_schedule_check(&s), CLNET_ERR_INVALID_ARGUMENT);
  clnet_lr_kind k;
  cr_assert_eq(clnet_lr_kind_parse("cosine", &k), CLNET_SUCCESS);
  cr_assert_eq(k, CLNET_LR_COSINE);
  cr_assert_eq(clnet_lr_kind_parse("linear", &k), CLNET_ERR_INVALID_ARGUMENT);
}
