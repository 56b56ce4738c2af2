/* Training options and recipes: the option table (set, format, parse, compare), the loader's
 * augmentation (crops, flips, cutout: deterministic per seed and epoch, and what they claim to do),
 * and end to end through the clnet executable: exact resume with every optimizer, schedule and the
 * weight average, the learning rate in history.csv against the schedule's closed form, early
 * stopping. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clnet/data.h"
#include "clnet/io.h"
#include "clnet/train.h"
#include "cifar_files.h"
#include "cli_run.h"
#include "same_tensors.h"

/* ---- the option table ---------------------------------------------------------------- */

Test(options, recipes_format_and_parse_back_exactly) {
  const char *names[] = {"seed", "fast"};
  for (int r = 0; r < 2; ++r) {
    clnet_train_options o, back;
    cr_assert_eq(clnet_train_recipe(names[r], 10, &o), CLNET_SUCCESS, "%s", clnet_last_error());
    cr_assert_eq(clnet_train_options_check(&o), CLNET_SUCCESS, "%s: %s", names[r], clnet_last_error());
    char text[600];
    clnet_train_options_format(&o, text, sizeof text);
    cr_assert_eq(clnet_train_options_parse(text, &back), CLNET_SUCCESS, "%s", clnet_last_error());
    cr_assert_null(clnet_train_options_diff(&o, &back), "%s differs after a round trip of '%s'",
                   clnet_train_options_diff(&o, &back), text);
  }
  clnet_train_options seed, fast;
  clnet_train_recipe("seed", 3, &seed);
  clnet_train_recipe("fast", 3, &fast);
  /* the seed's recipe is SPEC's model.fit */
  cr_assert_eq(seed.opt.kind, CLNET_OPTIMIZER_ADAM);
  cr_assert_eq(seed.sched.kind, CLNET_LR_CONSTANT);
  cr_assert_eq(seed.sched.lr, 1e-3);
  cr_assert_eq(seed.opt.beta1, 0.9f);
  cr_assert_eq(seed.opt.eps, 1e-7f);
  cr_assert_eq(seed.flip, CLNET_FLIP_RANDOM);
  cr_assert(seed.bn_momentum < 0 && seed.label_smoothing == 0 && seed.crop_pad == 0 && !seed.tta);
  cr_assert_not_null(clnet_train_options_diff(&seed, &fast));
  cr_assert_neq(clnet_train_recipe("slow", 3, &seed), CLNET_SUCCESS);
  cr_assert(strstr(clnet_last_error(), "seed or fast"), "%s", clnet_last_error());
}

Test(options, values_out_of_range_and_unknown_words_are_refused_by_name) {
  clnet_train_options o;
  clnet_train_recipe("seed", 3, &o);
  struct {
    const char *name, *value, *expect;
  } bad[] = {
      {"lr", "1e-50", "--lr"},          {"lr", "1e308", "--lr"},        {"lr", "0", "--lr"},
      {"lr", "nan", "--lr"},            {"lr", "0.1x", "--lr"},         {"optimizer", "rmsprop", "adam|adamw|sgd"},
      {"momentum", "1", "--momentum"},  {"nesterov", "2", "--nesterov"}, {"crop-pad", "1.5", "integer"},
      {"label-smoothing", "1", "--label-smoothing"}, {"milestones", "3,2", "ascending"},
      {"flip", "sideways", "none|random|alternate"}, {"no-such-option", "1", "no training option"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    clnet_train_options t = o;
    cr_assert_neq(clnet_train_options_set(&t, bad[i].name, bad[i].value), CLNET_SUCCESS, "%s=%s accepted",
                  bad[i].name, bad[i].value);
    cr_assert(strstr(clnet_last_error(), bad[i].expect), "%s=%s: '%s' does not say '%s'", bad[i].name, bad[i].value,
              clnet_last_error(), bad[i].expect);
    cr_assert_null(clnet_train_options_diff(&t, &o), "a refused value changed the options");
  }
  /* combinations: weight decay on Keras' Adam, Nesterov without momentum, step without milestones */
  clnet_train_options t = o;
  cr_assert_eq(clnet_train_options_set(&t, "weight-decay", "0.01"), CLNET_SUCCESS);
  cr_assert_neq(clnet_train_options_check(&t), CLNET_SUCCESS);
  cr_assert(strstr(clnet_last_error(), "adamw or sgd"), "%s", clnet_last_error());
  t = o;
  clnet_train_options_set(&t, "optimizer", "sgd");
  clnet_train_options_set(&t, "nesterov", "1");
  cr_assert_neq(clnet_train_options_check(&t), CLNET_SUCCESS);
  t = o;
  clnet_train_options_set(&t, "schedule", "step");
  cr_assert_neq(clnet_train_options_check(&t), CLNET_SUCCESS);
  cr_assert_eq(clnet_train_options_set(&t, "milestones", "2,5"), CLNET_SUCCESS);
  cr_assert_eq(clnet_train_options_check(&t), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(t.sched.n_milestones, 2);
  cr_assert_eq(t.sched.milestones[1], 5);
  cr_assert_str_eq(clnet_train_options_diff(&t, &o), "schedule");
}

/* ---- augmentation ---------------------------------------------------------------------- */

/* N images 8x8x1 (a 2-channel variant for the lut), pixel (h, w) of image i = 1 + 8h + w (never
 * 0, so zero padding is recognisable), the image id in the label. */
#define AH 8
#define AW 8
static clnet_dataset make_aug_set(int n) {
  clnet_dataset d = {.count = n, .height = AH, .width = AW, .channels = 1, .classes = 256};
  d.images = malloc((size_t)n * AH * AW);
  d.labels = malloc((size_t)n);
  for (int i = 0; i < n; ++i) {
    d.labels[i] = (uint8_t)i;
    for (int h = 0; h < AH; ++h)
      for (int w = 0; w < AW; ++w) d.images[(i * AH + h) * AW + w] = (uint8_t)(1 + 8 * h + w);
  }
  return d;
}

static const float m0[1] = {0}, s1[1] = {1};

/* The source pixel (1-based value) an output pixel shows under (dy, dx, flip), reflect or zero. */
static int expect_px(int h, int w, int dy, int dx, int flip, int reflect) {
  int sh = h + dy, ww = flip ? AW - 1 - w : w, sw = ww + dx;
  if (reflect) {
    if (sh < 0) sh = -sh;
    if (sh >= AH) sh = 2 * (AH - 1) - sh;
    if (sw < 0) sw = -sw;
    if (sw >= AW) sw = 2 * (AW - 1) - sw;
  } else if (sh < 0 || sh >= AH || sw < 0 || sw >= AW) {
    return 0;
  }
  return 1 + 8 * sh + sw;
}

/* Which (dy, dx, flip) with |dy|, |dx| <= P explains image img (cutout: pixels set to 0 are
 * allowed to be anything "cut"); returns 0 when none does. */
static int explain(const float *img, int P, int reflect, int cutout, int *dy, int *dx, int *flip) {
  for (int f = 0; f < 2; ++f)
    for (int y = -P; y <= P; ++y)
      for (int x = -P; x <= P; ++x) {
        int ok = 1;
        for (int h = 0; h < AH && ok; ++h)
          for (int w = 0; w < AW && ok; ++w) {
            const int got = (int)lroundf(img[h * AW + w] * 255.0f);
            const int want = expect_px(h, w, y, x, f, reflect);
            if (got == want) continue;
            if (cutout && got == 0) continue; /* inside the cutout */
            ok = 0;
          }
        if (ok) {
          *dy = y, *dx = x, *flip = f;
          return 1;
        }
      }
  return 0;
}

/* One epoch's (id, dy, dx, flip) per position. */
static void run_aug_epoch(const clnet_dataset *d, const clnet_loader_config *c, int epoch, int first, int *rec) {
  clnet_loader *l = NULL;
  cr_assert_eq(clnet_loader_create(d, c, &l), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_loader_start_epoch(l, epoch, first), CLNET_SUCCESS);
  int pos = first * c->batch;
  for (;;) {
    clnet_batch b;
    int32_t has = 0;
    cr_assert_eq(clnet_loader_next(l, &b, &has), CLNET_SUCCESS);
    if (!has) break;
    for (int k = 0; k < b.count; ++k, ++pos) {
      int *r = rec + 4 * pos;
      r[0] = b.labels[k];
      cr_assert(explain(b.images + (size_t)k * AH * AW, c->crop_pad, c->crop_reflect, c->cutout, &r[1], &r[2], &r[3]),
                "epoch %d position %d (image %d): no crop offset within %d and flip explains it", epoch, pos, r[0],
                c->crop_pad);
    }
  }
  clnet_loader_free(l);
}

Test(augment, crops_are_translations_within_the_padding_zero_and_reflect) {
  clnet_dataset d = make_aug_set(40);
  for (int reflect = 0; reflect < 2; ++reflect) {
    clnet_loader_config c = {.batch = 16, .shuffle = 1, .flip = 1, .seed = 3, .mean = m0, .std = s1, .crop_pad = 2,
                             .crop_reflect = reflect};
    int rec[40 * 4];
    run_aug_epoch(&d, &c, 0, 0, rec);
    int shifted = 0, flipped = 0, seen_dy[5] = {0};
    for (int p = 0; p < 40; ++p) {
      shifted += rec[4 * p + 1] || rec[4 * p + 2];
      flipped += rec[4 * p + 3];
      seen_dy[rec[4 * p + 1] + 2]++;
    }
    cr_assert(shifted > 20, "only %d of 40 images were translated", shifted);
    cr_assert(flipped > 5 && flipped < 35, "%d of 40 flipped", flipped);
    for (int k = 0; k < 5; ++k) cr_assert_gt(seen_dy[k], 0, "vertical offset %d never drawn", k - 2);
  }
  free(d.images);
  free(d.labels);
}

Test(augment, deterministic_per_seed_and_epoch_and_from_any_batch) {
  clnet_dataset d = make_aug_set(40);
  clnet_loader_config c = {.batch = 16, .shuffle = 1, .flip = 1, .seed = 9, .mean = m0, .std = s1, .crop_pad = 3};
  int a[160], b[160], e1[160];
  run_aug_epoch(&d, &c, 2, 0, a);
  run_aug_epoch(&d, &c, 2, 0, b);
  cr_assert_eq(memcmp(a, b, sizeof a), 0, "the same seed and epoch gave different crops");
  memset(b, -1, sizeof b);
  run_aug_epoch(&d, &c, 2, 1, b); /* a resumed epoch: from batch 1 */
  cr_assert_eq(memcmp(a + 64, b + 64, sizeof a - 64 * sizeof a[0]), 0, "batch 1 on depends on where the epoch started");
  run_aug_epoch(&d, &c, 3, 0, e1);
  cr_assert_neq(memcmp(a, e1, sizeof a), 0, "epochs 2 and 3 drew the same crops");
  c.seed = 10;
  run_aug_epoch(&d, &c, 2, 0, b);
  cr_assert_neq(memcmp(a, b, sizeof a), 0, "seeds 9 and 10 drew the same crops");
  free(d.images);
  free(d.labels);
}

Test(augment, alternating_flips_show_every_image_both_ways_in_two_epochs) {
  clnet_dataset d = make_aug_set(40);
  clnet_loader_config c = {.batch = 16, .shuffle = 1, .flip = 2, .seed = 4, .mean = m0, .std = s1};
  int e[3][160], flip_of[3][40];
  for (int ep = 0; ep < 3; ++ep) {
    run_aug_epoch(&d, &c, ep, 0, e[ep]);
    for (int p = 0; p < 40; ++p) flip_of[ep][e[ep][4 * p]] = e[ep][4 * p + 3];
  }
  int n0 = 0;
  for (int i = 0; i < 40; ++i) {
    n0 += flip_of[0][i];
    cr_assert_neq(flip_of[0][i], flip_of[1][i], "image %d: the same way in epochs 0 and 1", i);
    cr_assert_eq(flip_of[0][i], flip_of[2][i], "image %d: epochs 0 and 2 differ", i);
  }
  cr_assert(n0 > 5 && n0 < 35, "epoch 0 flipped %d of 40: not random", n0);
  free(d.images);
  free(d.labels);
}

Test(augment, cutout_sets_a_square_to_zero_and_leaves_the_rest) {
  clnet_dataset d = make_aug_set(24);
  clnet_loader_config c = {.batch = 24, .shuffle = 0, .flip = 0, .seed = 2, .mean = m0, .std = s1, .cutout = 4};
  clnet_loader *l = NULL;
  cr_assert_eq(clnet_loader_create(&d, &c, &l), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_loader_start_epoch(l, 0, 0), CLNET_SUCCESS);
  clnet_batch b;
  int32_t has = 0;
  cr_assert_eq(clnet_loader_next(l, &b, &has), CLNET_SUCCESS);
  cr_assert(has);
  int total = 0;
  for (int k = 0; k < b.count; ++k) {
    const float *img = b.images + (size_t)k * AH * AW;
    int zeros = 0, h0 = AH, h1 = -1, w0 = AW, w1 = -1;
    for (int h = 0; h < AH; ++h)
      for (int w = 0; w < AW; ++w) {
        const int v = (int)lroundf(img[h * AW + w] * 255.0f);
        if (v == 0) {
          ++zeros;
          h0 = h < h0 ? h : h0, h1 = h > h1 ? h : h1, w0 = w < w0 ? w : w0, w1 = w > w1 ? w : w1;
        } else {
          cr_assert_eq(v, 1 + 8 * h + w, "image %d pixel (%d, %d) changed outside the cutout", k, h, w);
        }
      }
    cr_assert(zeros > 0 && zeros <= 16, "image %d: %d pixels cut", k, zeros);
    cr_assert_eq(zeros, (h1 - h0 + 1) * (w1 - w0 + 1), "image %d: the cut pixels are not a rectangle", k);
    cr_assert(h1 - h0 < 4 && w1 - w0 < 4, "image %d: the cut is larger than 4x4", k);
    total += zeros;
  }
  cr_assert_lt(total, 24 * 16, "every cut was a full square: none clipped at a border");
  clnet_loader_free(l);
  /* out-of-range settings are refused */
  c.crop_pad = AH;
  cr_assert_neq(clnet_loader_create(&d, &c, &l), CLNET_SUCCESS);
  cr_assert(strstr(clnet_last_error(), "crop padding"), "%s", clnet_last_error());
  free(d.images);
  free(d.labels);
}

/* ---- end to end ------------------------------------------------------------------------ */

static char dir[256];
static char out[1 << 16];

static void make_data(void) { write_small_cifar_dir(dir, sizeof dir, "recipe"); }

static int run(const char *args) { return clnet_cli_run("", args, out, sizeof out); }


/* Runs `opts` for 2 epochs uninterrupted, and again stopped (as Ctrl-C does) after steps 4 and
 * 6 (an epoch's end) and resumed in new processes: every tensor of last (and ema) must match. */
static void expect_exact_resume(const char *tag, const char *opts, int ema) {
  char args[2048];
  /* 256 images at batch 48: 6 batches per epoch */
  snprintf(args, sizeof args, "train --data %s --epochs 2 --batch 48 --width 4 --seed 5 --max-eval 32 --recipe seed %s --out %s/%s-full",
           dir, opts, dir, tag);
  cr_assert_eq(run(args), 0, "%s", out);
  const int stops[] = {4, 2};
  for (int i = 0; i < 2; ++i) {
    /* the resumed runs give no options: they come from the checkpoint */
    snprintf(args, sizeof args, "train --data %s --epochs 2 --batch 48 --width 4 --seed 5 --max-eval 32 %s%s --out %s/%s-stop "
             "--stop-after %d", dir, i ? "--resume" : "--recipe seed ", i ? "" : opts, dir, tag, stops[i]);
    int rc = run(args);
    cr_assert_eq(rc, 130, "%s: stop %d: exit %d\n%s", tag, i, rc, out);
  }
  snprintf(args, sizeof args, "train --data %s --epochs 2 --batch 48 --width 4 --seed 5 --max-eval 32 --resume --out %s/%s-stop",
           dir, dir, tag);
  cr_assert_eq(run(args), 0, "%s", out);
  cr_assert(strstr(out, "recipe: as in"), "%s: the resumed run did not take its options from the checkpoint:\n%s", tag, out);
  char a[512], b[512];
  snprintf(a, sizeof a, "%s/%s-full/last.safetensors", dir, tag);
  snprintf(b, sizeof b, "%s/%s-stop/last.safetensors", dir, tag);
  assert_same_tensors(a, b);
  if (ema) {
    snprintf(a, sizeof a, "%s/%s-full/ema.safetensors", dir, tag);
    snprintf(b, sizeof b, "%s/%s-stop/ema.safetensors", dir, tag);
    assert_same_tensors(a, b);
  }
}

Test(recipe, resume_is_exact_with_nesterov_sgd_onecycle_and_augmentation, .init = make_data, .timeout = 600) {
  expect_exact_resume("sgd", "--optimizer sgd --momentum 0.9 --nesterov 1 --weight-decay 5e-4 --lr 0.05 "
                      "--schedule onecycle --crop-pad 2 --crop-mode reflect --flip alternate --cutout 8 --tta 1 "
                      "--bn-momentum 0.9", 0);
}

Test(recipe, resume_is_exact_with_adamw_cosine_warmup_and_ema, .init = make_data, .timeout = 600) {
  expect_exact_resume("adamw", "--optimizer adamw --weight-decay 0.01 --lr 2e-3 --schedule cosine --warmup 1 "
                      "--ema 0.9", 1);
}

Test(recipe, resume_is_exact_with_plateau_and_step_schedules, .init = make_data, .timeout = 600) {
  expect_exact_resume("plateau", "--optimizer sgd --momentum 0.5 --lr 0.01 --schedule plateau --patience 0", 0);
  expect_exact_resume("step", "--lr 1e-3 --schedule step --milestones 1 --gamma 0.5", 0);
}

Test(recipe, history_holds_each_epochs_rate_as_the_schedule_computes_it, .init = make_data, .timeout = 600) {
  char args[1024];
  snprintf(args, sizeof args, "train --data %s --epochs 3 --batch 48 --width 4 --max-eval 32 --recipe seed --optimizer sgd --lr 0.1 "
           "--schedule onecycle --pct-start 0.4 --out %s/lr", dir, dir);
  cr_assert_eq(run(args), 0, "%s", out);
  char p[512];
  snprintf(p, sizeof p, "%s/lr/history.csv", dir);
  clnet_history h = {0};
  cr_assert_eq(clnet_history_read_csv(p, &h), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(h.count, 3);
  clnet_lr_schedule s = clnet_lr_schedule_default(CLNET_LR_ONECYCLE, 0.1);
  s.pct_start = 0.4;
  for (int e = 0; e < 3; ++e) { /* 6 steps an epoch: the epoch's last step is 6e + 5 of 18 */
    const double want = clnet_lr_at(&s, 6 * e + 5, 18, 0);
    cr_assert_float_eq(h.rows[e].lr, want, 1e-15, "epoch %d: lr %.17g, the schedule says %.17g", e + 1, h.rows[e].lr, want);
  }
  cr_assert(h.rows[0].lr > h.rows[2].lr, "the one-cycle rate did not fall");
  clnet_history_free(&h);
  /* a resume that asks for other options than the checkpoint's says what changed */
  snprintf(args, sizeof args, "train --data %s --epochs 4 --batch 48 --width 4 --max-eval 32 --optimizer adamw --resume "
           "--out %s/lr", dir, dir);
  cr_assert_eq(run(args), 0, "%s", out);
  cr_assert(strstr(out, "--optimizer changed from sgd to adamw"), "%s", out);
  cr_assert(!strstr(out, "--lr changed"), "%s", out);
}

Test(recipe, early_stopping_stops_at_the_first_stale_epochs_and_ends_on_the_best, .init = make_data, .timeout = 600) {
  char args[1024];
  /* random labels: validation wanders, so a patience of 1 stops where it first fails to improve */
  snprintf(args, sizeof args, "train --data %s --epochs 8 --batch 48 --width 4 --max-eval 64 --recipe seed --lr 0.01 --early-stop 1 "
           "--monitor val_loss --out %s/es", dir, dir);
  cr_assert_eq(run(args), 0, "%s", out);
  char p[512];
  snprintf(p, sizeof p, "%s/es/history.csv", dir);
  clnet_history h = {0};
  cr_assert_eq(clnet_history_read_csv(p, &h), CLNET_SUCCESS, "%s", clnet_last_error());
  int stop_at = 8, best = 0;
  for (int e = 1; e < 8 && e < h.count; ++e) {
    if (!(h.rows[e].val_loss < h.rows[best].val_loss)) {
      stop_at = e + 1;
      break;
    }
    best = e;
  }
  cr_assert_eq(h.count, stop_at, "ran %d epochs; the first epoch without a better val_loss is %d", h.count, stop_at);
  cr_assert_eq(strstr(out, "early stopping after epoch") != NULL, stop_at < 8, "%s", out);
  snprintf(p, sizeof p, "%s/es/best.safetensors", dir);
  clnet_checkpoint_meta m;
  cr_assert_eq(clnet_checkpoint_read_meta(p, &m), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(m.epoch, best + 1, "best.safetensors holds epoch %d, the lowest val_loss is epoch %d", m.epoch, best + 1);
  clnet_history_free(&h);
}

/* A graph with dropout: its masks follow the optimizer step, which checkpoints keep, so a run
 * stopped mid-epoch and resumed draws the same masks as an uninterrupted one. */
static clnet_status build_with_dropout(void *user, const clnet_model_config *cfg, clnet_graph **built) {
  (void)user;
  clnet_graph *g = NULL;
  clnet_status st = clnet_graph_create(cfg->in_h, cfg->in_w, cfg->in_c, &g);
  int32_t t = 0;
  if (st == CLNET_SUCCESS) st = clnet_graph_add_layer(g, "conv", "c1", &t, 1, "filters=8 kernel=3 stride=2", &t);
  if (st == CLNET_SUCCESS) st = clnet_graph_add_layer(g, "batchnorm", "bn", &t, 1, "", &t);
  if (st == CLNET_SUCCESS) st = clnet_graph_add_layer(g, "relu", "r1", &t, 1, "", &t);
  if (st == CLNET_SUCCESS) st = clnet_graph_add_layer(g, "global_avgpool", "gap", &t, 1, "", &t);
  if (st == CLNET_SUCCESS) st = clnet_graph_add_layer(g, "dropout", "drop", &t, 1, "rate=0.5", &t);
  if (st == CLNET_SUCCESS) st = clnet_graph_add_dense(g, "fc", t, cfg->classes, &t);
  if (st == CLNET_SUCCESS) st = clnet_graph_set_output(g, t);
  if (st != CLNET_SUCCESS) clnet_graph_free(g);
  else *built = g;
  return st;
}

Test(recipe, resume_is_exact_with_dropout, .init = make_data, .timeout = 600) {
  clnet_ctx *ctx = NULL;
  cr_assert_eq(clnet_ctx_create(NULL, &ctx), CLNET_SUCCESS, "%s", clnet_last_error());
  char full[300], stopped[300], a[400], b[400];
  snprintf(full, sizeof full, "%s/drop-full", dir);
  snprintf(stopped, sizeof stopped, "%s/drop-stop", dir);
  clnet_train_config cfg = {.data_dir = dir, .out_dir = full, .epochs = 2, .batch = 48, .build = build_with_dropout,
                            .lr = 3e-3, .seed = 5, .max_eval = 32};
  clnet_train_summary sum;
  cr_assert_eq(clnet_train_run(ctx, &cfg, NULL, &sum), CLNET_SUCCESS, "%s", clnet_last_error());
  cfg.out_dir = stopped;
  cfg.stop_after = 4;
  cr_assert_eq(clnet_train_run(ctx, &cfg, NULL, &sum), CLNET_ERR_INTERRUPTED, "%s", clnet_last_error());
  cfg.stop_after = 0;
  cfg.resume = 1;
  cr_assert_eq(clnet_train_run(ctx, &cfg, NULL, &sum), CLNET_SUCCESS, "%s", clnet_last_error());
  snprintf(a, sizeof a, "%s/last.safetensors", full);
  snprintf(b, sizeof b, "%s/last.safetensors", stopped);
  assert_same_tensors(a, b);
  clnet_ctx_free(ctx);
}
