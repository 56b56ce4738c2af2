/* End to end through the clnet executable: training on small CIFAR-format
 * files made here, history/plot/checkpoints, exact resume, eval, and the
 * command line's exit codes. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clnet/io.h"
#include "clnet/train.h"
#include "cifar_files.h"
#include "cli_run.h"

static char dir[256];

static void make_data(void) { write_small_cifar_dir(dir, sizeof dir, "train"); }

static int run(const char *args, char *o, size_t cap) { return clnet_cli_run("", args, o, cap); }

static long file_size(const char *path) {
  struct stat s;
  return stat(path, &s) == 0 ? (long)s.st_size : -1;
}

static char *slurp(const char *path, long *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)*n + 1);
  if (b && fread(b, 1, (size_t)*n, f) != (size_t)*n) *n = -1;
  fclose(f);
  return b;
}

static char out[1 << 16];

Test(train, cifar_files_train_and_leave_outputs, .init = make_data, .timeout = 600) {
  char args[1024];
  snprintf(args, sizeof args, "train --data %s --epochs 2 --batch 32 --width 4 --out %s/run", dir, dir);
  int rc = run(args, out, sizeof out);
  cr_assert_eq(rc, 0, "clnet train failed:\n%s", out);
  cr_assert(strstr(out, "cifar10"), "format not reported:\n%s", out);
  cr_assert(strstr(out, "epoch 2:"), "no epoch summary:\n%s", out);
  const char *files[] = {"history.csv", "curves.png", "last.safetensors", "best.safetensors"};
  for (int i = 0; i < 4; ++i) {
    char p[512];
    snprintf(p, sizeof p, "%s/run/%s", dir, files[i]);
    cr_assert_gt(file_size(p), 0, "%s missing", p);
  }
  char p[512];
  snprintf(p, sizeof p, "%s/run/history.csv", dir);
  clnet_history h = {0};
  cr_assert_eq(clnet_history_read_csv(p, &h), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(h.count, 2);
  cr_assert(h.rows[1].loss < h.rows[0].loss * 1.5, "training diverged: %g then %g", h.rows[0].loss, h.rows[1].loss);
  clnet_history_free(&h);
  /* eval on the checkpoint */
  snprintf(args, sizeof args, "eval --checkpoint %s/run/best.safetensors --data %s", dir, dir);
  rc = run(args, out, sizeof out);
  cr_assert_eq(rc, 0, "clnet eval failed:\n%s", out);
  cr_assert(strstr(out, "confusion matrix") && strstr(out, "over 64 images"), "%s", out);
}

/* The final checkpoints and histories of two runs hold the same numbers. */
static void expect_same_runs(const char *run_a, const char *run_b) {
  char a[512], b[512];
  snprintf(a, sizeof a, "%s/%s/last.safetensors", dir, run_a);
  snprintf(b, sizeof b, "%s/%s/last.safetensors", dir, run_b);
  clnet_st_file *fa = NULL, *fb = NULL;
  cr_assert_eq(clnet_safetensors_read(a, &fa), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_safetensors_read(b, &fb), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_st_count(fa), clnet_st_count(fb));
  for (int32_t i = 0; i < clnet_st_count(fa); ++i) {
    const clnet_st_tensor *ta = clnet_st_get(fa, i), *tb = clnet_st_find(fb, ta->name);
    cr_assert_not_null(tb, "%s missing after resume", ta->name);
    int64_t n = 1;
    for (int32_t d = 0; d < ta->ndim; ++d) n *= ta->shape[d];
    cr_assert_eq(memcmp(ta->data, tb->data, (size_t)n * (size_t)clnet_dtype_size(ta->dtype)), 0,
                 "tensor %s differs between the resumed and the uninterrupted run", ta->name);
  }
  clnet_st_free(fa);
  clnet_st_free(fb);
  /* losses and accuracies are identical; only the timing columns may differ */
  snprintf(a, sizeof a, "%s/%s/history.csv", dir, run_a);
  snprintf(b, sizeof b, "%s/%s/history.csv", dir, run_b);
  clnet_history x = {0}, y = {0};
  cr_assert_eq(clnet_history_read_csv(a, &x), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_history_read_csv(b, &y), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(x.count, y.count);
  for (int i = 0; i < x.count; ++i)
    cr_assert(x.rows[i].loss == y.rows[i].loss && x.rows[i].accuracy == y.rows[i].accuracy &&
                  x.rows[i].val_loss == y.rows[i].val_loss && x.rows[i].val_accuracy == y.rows[i].val_accuracy,
              "epoch %d differs: loss %.17g vs %.17g", i + 1, x.rows[i].loss, y.rows[i].loss);
  clnet_history_free(&x);
  clnet_history_free(&y);
}

Test(train, resume_matches_uninterrupted_run, .init = make_data, .timeout = 600) {
  char args[1024];
  /* the seed's constant rate: a schedule over the run's epochs (the default one-cycle) changes with --epochs */
  snprintf(args, sizeof args, "train --data %s --epochs 2 --batch 48 --width 4 --seed 7 --recipe seed --out %s/full", dir, dir);
  cr_assert_eq(run(args, out, sizeof out), 0, "%s", out);
  snprintf(args, sizeof args, "train --data %s --epochs 1 --batch 48 --width 4 --seed 7 --recipe seed --out %s/part", dir, dir);
  cr_assert_eq(run(args, out, sizeof out), 0, "%s", out);
  snprintf(args, sizeof args, "train --data %s --epochs 2 --batch 48 --width 4 --seed 7 --out %s/part --resume", dir, dir);
  cr_assert_eq(run(args, out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "resume:"), "%s", out);
  expect_same_runs("full", "part");
}

/* k steps, stop (as Ctrl-C does), new process, k more steps, ...: bit-identical
 * to one uninterrupted run, with stops inside epochs and at an epoch's end. */
Test(train, stop_mid_epoch_and_resume_is_exact, .init = make_data, .timeout = 600) {
  char args[1024];
  /* 256 images at batch 48: 6 batches per epoch, the last one partial */
  snprintf(args, sizeof args, "train --data %s --epochs 2 --batch 48 --width 4 --seed 5 --out %s/full", dir, dir);
  cr_assert_eq(run(args, out, sizeof out), 0, "%s", out);
  const int stops[] = {4, 2, 3}; /* steps 4 (epoch 1), 6 (end of epoch 1), 9 (epoch 2) */
  for (int i = 0; i < 3; ++i) {
    snprintf(args, sizeof args, "train --data %s --epochs 2 --batch 48 --width 4 --seed 5 --out %s/stopped%s --stop-after %d",
             dir, dir, i ? " --resume" : "", stops[i]);
    int rc = run(args, out, sizeof out);
    cr_assert_eq(rc, 130, "stop %d: expected exit status 130, got %d:\n%s", i, rc, out);
    cr_assert(strstr(out, "continue with --resume"), "%s", out);
  }
  snprintf(args, sizeof args, "train --data %s --epochs 2 --batch 48 --width 4 --seed 5 --out %s/stopped --resume", dir, dir);
  cr_assert_eq(run(args, out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "inside epoch 2, 3 batches done"), "resume must continue inside epoch 2:\n%s", out);
  expect_same_runs("full", "stopped");
}

Test(cli, exit_codes_and_messages, .timeout = 120) {
  cr_assert_eq(run("devices", out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "0:0"), "PoCL device not listed:\n%s", out);
  cr_assert_eq(run("check --device nosuchdevice", out, sizeof out), 2);
  cr_assert(strstr(out, "nosuchdevice") && strstr(out, "0 (0:0)"), "error must list the devices:\n%s", out);
  cr_assert_eq(run("train --epochs 0", out, sizeof out), 2, "%s", out);
  cr_assert_eq(run("train --batch -3", out, sizeof out), 2, "%s", out);
  cr_assert_eq(run("train --frobnicate", out, sizeof out), 2, "%s", out);
  cr_assert_eq(run("nosuchcommand", out, sizeof out), 2, "%s", out);
  cr_assert_eq(run("train --data /nonexistent/dir --out /tmp/clnet-never", out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "/nonexistent/dir"), "%s", out);
  cr_assert_eq(run("eval", out, sizeof out), 2, "%s", out);
  cr_assert_eq(run("eval --checkpoint /nonexistent.safetensors", out, sizeof out), 1, "%s", out);
}

Test(train, batch_too_large_is_refused_up_front, .init = make_data, .timeout = 120) {
  char args[1024];
  snprintf(args, sizeof args, "train --data %s --epochs 1 --batch 65536 --width 64 --out %s/big", dir, dir);
  int rc = run(args, out, sizeof out);
  cr_assert_eq(rc, 1, "%s", out);
  cr_assert(strstr(out, "largest batch that fits"), "%s", out);
}

static int all_finite(const char *path) {
  clnet_st_file *f = NULL;
  cr_assert_eq(clnet_safetensors_read(path, &f), CLNET_SUCCESS, "%s", clnet_last_error());
  int ok = 1;
  for (int32_t i = 0; i < clnet_st_count(f); ++i) {
    const clnet_st_tensor *t = clnet_st_get(f, i);
    if (t->dtype != CLNET_DTYPE_F32) continue;
    int64_t n = 1;
    for (int32_t d = 0; d < t->ndim; ++d) n *= t->shape[d];
    for (int64_t j = 0; j < n; ++j) ok &= isfinite(((const float *)t->data)[j]) != 0;
  }
  clnet_st_free(f);
  return ok;
}

/* A learning rate of 1e6 makes gradients overflow within two steps. */
Test(train, nan_stops_before_the_update_and_keeps_the_checkpoint, .init = make_data, .timeout = 300) {
  char args[1024], ckpt[512];
  snprintf(args, sizeof args, "train --data %s --epochs 1 --batch 32 --width 4 --recipe seed --out %s/nan", dir, dir);
  cr_assert_eq(run(args, out, sizeof out), 0, "%s", out);
  snprintf(ckpt, sizeof ckpt, "%s/nan/last.safetensors", dir);
  long n_before;
  char *before = slurp(ckpt, &n_before);
  snprintf(args, sizeof args, "train --data %s --epochs 2 --batch 32 --width 4 --recipe seed --lr 1e6 --out %s/nan --resume", dir, dir);
  cr_assert_eq(run(args, out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "not finite") && strstr(out, "layer '"), "the message must name the layer:\n%s", out);
  long n_after;
  char *after = slurp(ckpt, &n_after);
  cr_assert(before && after && n_before == n_after && !memcmp(before, after, (size_t)n_before),
            "the checkpoint of epoch 1 must be untouched");
  free(before);
  free(after);
}

Test(train, nan_skip_goes_on_and_never_saves_nan, .init = make_data, .timeout = 300) {
  char args[1024], ckpt[512];
  snprintf(args, sizeof args, "train --data %s --epochs 1 --batch 32 --width 4 --recipe seed --lr 1e6 --on-nan skip --max-skipped 1 --out %s/skip",
           dir, dir);
  /* the skipped steps go on; when the kept steps leave weights whose validation is NaN, the run ends
   * there with an error instead of recording it */
  const int rc = run(args, out, sizeof out);
  cr_assert(rc == 0 || (rc == 1 && strstr(out, "the weights have diverged")), "exit %d:\n%s", rc, out);
  cr_assert(strstr(out, "step skipped"), "%s", out);
  snprintf(ckpt, sizeof ckpt, "%s/skip/last.safetensors", dir);
  cr_assert(rc != 0 || all_finite(ckpt), "a checkpoint holds NaN or Inf");
  cr_assert_eq(run("train --on-nan maybe", out, sizeof out), 2, "%s", out);
}

/* The same seed on the same device: bit-identical runs, process after process. */
Test(train, same_seed_same_bits, .init = make_data, .timeout = 300) {
  char args[1024];
  for (int i = 0; i < 2; ++i) {
    snprintf(args, sizeof args, "train --data %s --epochs 2 --batch 40 --width 4 --seed 11 --out %s/det%d", dir, dir, i);
    cr_assert_eq(run(args, out, sizeof out), 0, "%s", out);
  }
  expect_same_runs("det0", "det1");
}

/* A checkpoint that does not fit the model is refused with the tensor's name. */
Test(train, checkpoint_of_another_model_is_refused, .init = make_data, .timeout = 300) {
  char args[1024], ckpt[512];
  snprintf(args, sizeof args, "train --data %s --epochs 1 --batch 64 --width 4 --out %s/w4", dir, dir);
  cr_assert_eq(run(args, out, sizeof out), 0, "%s", out);
  snprintf(args, sizeof args, "train --data %s --epochs 2 --batch 64 --width 8 --out %s/w4 --resume", dir, dir);
  cr_assert_eq(run(args, out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "width 4") && strstr(out, "last.safetensors"), "%s", out);
  snprintf(ckpt, sizeof ckpt, "%s/w4/last.safetensors", dir);
  clnet_ctx *ref = NULL;
  cr_assert_eq(clnet_ctx_create("ref", &ref), CLNET_SUCCESS);
  clnet_resnet_config rc = {.depth = 18, .width = 8, .in_h = 32, .in_w = 32, .in_c = 3, .classes = 10};
  clnet_graph *g = NULL;
  cr_assert_eq(clnet_resnet_build(&rc, &g), CLNET_SUCCESS);
  cr_assert_eq(clnet_graph_setup(g, ref, 2), CLNET_SUCCESS);
  clnet_checkpoint_meta m;
  cr_assert_eq(clnet_checkpoint_load(g, ckpt, &m), CLNET_ERR_MISMATCH);
  cr_assert(strstr(clnet_last_error(), "stem.conv.kernel") && strstr(clnet_last_error(), ckpt), "%s",
            clnet_last_error());
  clnet_graph_free(g);
  clnet_ctx_free(ref);
}

Test(train, unwritable_output_is_reported, .init = make_data, .timeout = 120) {
  char args[1024], file[512];
  snprintf(file, sizeof file, "%s/plainfile", dir);
  FILE *f = fopen(file, "w");
  cr_assert_not_null(f);
  fclose(f);
  snprintf(args, sizeof args, "train --data %s --epochs 1 --batch 64 --width 4 --out %s/sub", dir, file);
  cr_assert_eq(run(args, out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "plainfile"), "the message must name the directory:\n%s", out);
}

/* A first run on a device says that it is timing algorithms and how many it chose; the progress
 * lines give no rate or ETA before they mean something (the first step builds kernels and times
 * algorithms); a second run on the same cache times nothing and says nothing about it. */
Test(train, first_run_explains_its_wait_and_no_early_eta, .init = make_data, .timeout = 600) {
  char cache[300], args[1024], prefix[400];
  snprintf(cache, sizeof cache, "%s/cache", dir);
  snprintf(prefix, sizeof prefix, "CLNET_CACHE_DIR='%s'", cache);
  snprintf(args, sizeof args, "train --data %s --epochs 1 --batch 32 --width 4 --out %s/run1", dir, dir);
  int rc = clnet_cli_run(prefix, args, out, sizeof out);
  cr_assert_eq(rc, 0, "clnet train failed:\n%s", out);
  const char *first = strstr(out, "first run on this device: timing");
  const char *chose = strstr(out, "chose the algorithms of ");
  const char *b1 = strstr(out, "epoch 1/1 batch 1/");
  cr_assert(first && chose && b1 && first < chose && chose < b1, "no explanation before the first step:\n%s", out);
  int n = 0;
  cr_assert_eq(sscanf(chose, "chose the algorithms of %d layer shapes", &n), 1, "%s", chose);
  cr_assert_gt(n, 3, "%s", chose);
  const char *eol = strchr(b1, '\n');
  cr_assert_not_null(eol);
  char line[256];
  snprintf(line, sizeof line, "%.*s", (int)(eol - b1), b1);
  cr_assert(strstr(line, "(first step ") && !strstr(line, "ETA") && !strstr(line, "img/s"),
            "the first step's line must not show a rate or an ETA: '%s'", line);
  const char *last = strstr(out, "epoch 1/1 batch 8/8");
  cr_assert(last && strstr(last, "img/s ETA 0:00"), "the last batch's line has its rate and ETA:\n%s", out);
  snprintf(args, sizeof args, "train --data %s --epochs 1 --batch 32 --width 4 --out %s/run2", dir, dir);
  rc = clnet_cli_run(prefix, args, out, sizeof out);
  cr_assert_eq(rc, 0, "clnet train failed:\n%s", out);
  cr_assert(!strstr(out, "first run on this device") && !strstr(out, "chose the algorithms"),
            "a warm cache times nothing:\n%s", out);
}

static void record_progress(const clnet_train_progress *p, void *user) {
  clnet_train_progress *log = user;
  if (p->phase == 0 && p->batch >= 1 && p->batch <= 8) log[p->batch - 1] = *p;
}

/* The library's progress: images/s and ETA are -1 until two steps after the first are timed. */
Test(train, progress_rate_and_eta_start_after_the_first_step, .init = make_data, .timeout = 600) {
  clnet_ctx *ctx = NULL;
  cr_assert_eq(clnet_ctx_create(NULL, &ctx), CLNET_SUCCESS, "%s", clnet_last_error());
  char outdir[300];
  snprintf(outdir, sizeof outdir, "%s/api", dir);
  clnet_train_config cfg = {.data_dir = dir, .out_dir = outdir, .epochs = 1, .batch = 32, .depth = 18, .width = 4,
                            .lr = 1e-3, .seed = 1};
  clnet_train_progress log[8];
  memset(log, 0, sizeof log);
  clnet_train_callbacks cb = {.progress = record_progress, .user = log};
  clnet_train_summary sum;
  cr_assert_eq(clnet_train_run(ctx, &cfg, &cb, &sum), CLNET_SUCCESS, "%s", clnet_last_error());
  clnet_ctx_free(ctx);
  for (int i = 0; i < 8; ++i) {
    cr_assert_eq(log[i].batch, i + 1, "batch %d reported", i + 1);
    cr_assert_gt(log[i].first_step_s, 0, "batch %d: the first step's time", i + 1);
    if (i < 2) {
      cr_assert(log[i].eta_s == -1 && log[i].images_per_s == -1, "batch %d: eta %g, rate %g", i + 1, log[i].eta_s,
                log[i].images_per_s);
    } else {
      cr_assert(log[i].eta_s >= 0 && log[i].images_per_s > 0, "batch %d: eta %g, rate %g", i + 1, log[i].eta_s,
                log[i].images_per_s);
    }
  }
  cr_assert_eq(log[7].eta_s, 0, "nothing is left after the last batch");
}

/* A network of the caller's own (not in the zoo), built with the public API: trained, saved, and
 * evaluated from its checkpoint alone, the checkpoint rebuilding the network it holds. */
static clnet_status build_custom(void *user, const clnet_model_config *cfg, clnet_graph **built) {
  (void)user;
  clnet_graph *g = NULL;
  clnet_status st = clnet_graph_create(cfg->in_h, cfg->in_w, cfg->in_c, &g);
  int32_t t = 0, a = 0, b = 0;
  if (st == CLNET_SUCCESS) st = clnet_graph_add_layer(g, "conv", "c1", &t, 1, "filters=6 kernel=5 stride=2", &a);
  if (st == CLNET_SUCCESS) st = clnet_graph_add_layer(g, "relu", "r1", &a, 1, "", &a);
  if (st == CLNET_SUCCESS) st = clnet_graph_add_layer(g, "conv", "c2", &a, 1, "filters=6 kernel=3 padding=same", &b);
  if (st == CLNET_SUCCESS) st = clnet_graph_add_layer(g, "batchnorm", "bn", &b, 1, "eps=1e-5 momentum=0.9", &b);
  const int32_t ab[2] = {a, b};
  if (st == CLNET_SUCCESS) st = clnet_graph_add_layer(g, "add", "skip", ab, 2, "", &t);
  if (st == CLNET_SUCCESS) st = clnet_graph_add_layer(g, "maxpool", "pool", &t, 1, "kernel=2 stride=2", &t);
  if (st == CLNET_SUCCESS) st = clnet_graph_add_dense(g, "fc", t, cfg->classes, &t);
  if (st == CLNET_SUCCESS) st = clnet_graph_set_output(g, t);
  if (st != CLNET_SUCCESS) clnet_graph_free(g);
  else *built = g;
  return st;
}

Test(train, a_graph_of_ones_own_trains_saves_and_evaluates_from_its_checkpoint, .init = make_data, .timeout = 600) {
  clnet_ctx *ctx = NULL;
  cr_assert_eq(clnet_ctx_create(NULL, &ctx), CLNET_SUCCESS, "%s", clnet_last_error());
  char outdir[300], ckpt[400];
  snprintf(outdir, sizeof outdir, "%s/custom", dir);
  clnet_train_config cfg = {.data_dir = dir, .out_dir = outdir, .epochs = 2, .batch = 32, .build = build_custom,
                            .lr = 3e-3, .seed = 5};
  clnet_train_summary sum;
  cr_assert_eq(clnet_train_run(ctx, &cfg, NULL, &sum), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(sum.epochs_done, 2);
  snprintf(ckpt, sizeof ckpt, "%s/last.safetensors", outdir);
  clnet_checkpoint_meta meta;
  cr_assert_eq(clnet_checkpoint_read_meta(ckpt, &meta), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_str_eq(meta.model, "custom");
  clnet_graph *g = NULL;
  cr_assert_eq(clnet_checkpoint_read_graph(ckpt, &g), CLNET_SUCCESS, "%s", clnet_last_error());
  clnet_layer_info li;
  cr_assert_eq(clnet_graph_layer_info(g, 3, &li), CLNET_SUCCESS);
  cr_assert_str_eq(li.name, "bn");
  cr_assert(strstr(li.attrs, "eps=1.0000000000000001e-05") || strstr(li.attrs, "eps=1e-05"), "%s", li.attrs);
  cr_assert_eq(clnet_graph_setup(g, ctx, 32), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_checkpoint_load(g, ckpt, &meta), CLNET_SUCCESS, "%s", clnet_last_error());
  clnet_dataset train = {0}, test = {0};
  cr_assert_eq(clnet_dataset_open_dir(dir, &train, &test, NULL), CLNET_SUCCESS, "%s", clnet_last_error());
  clnet_eval_result ev;
  cr_assert_eq(clnet_evaluate_dataset(g, &test, meta.norm_mean, meta.norm_std, 0, &ev), CLNET_SUCCESS, "%s",
               clnet_last_error());
  cr_assert_float_eq(ev.accuracy, sum.final_val_accuracy, 1e-12, "the checkpoint evaluates to the run's validation");
  cr_assert_gt(ev.accuracy, 0.2, "better than chance (0.1) on the learnable synthetic data: %g", ev.accuracy);
  free(ev.confusion);
  clnet_dataset_free(&train);
  clnet_dataset_free(&test);
  clnet_graph_free(g);
  clnet_ctx_free(ctx);
}
