/* The training loop: the seed's model.fit with validation every epoch. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clnet/train.h"
#include "clnet/dist.h"
#include "core/error.h"
#include "train/out_dir.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void say(const clnet_train_callbacks *cb, const char *fmt, ...) CLNET_PRINTF(2, 3);
#include <stdarg.h>
static void say(const clnet_train_callbacks *cb, const char *fmt, ...) {
  if (!cb || !cb->info) return;
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  cb->info(line, cb->user);
}

clnet_status clnet_evaluate_dataset(clnet_graph *g, const clnet_dataset *ds, const float *mean, const float *std,
                                    int32_t limit, clnet_eval_result *out) {
  return clnet_evaluate_dataset_tta(g, ds, mean, std, limit, 0, 0, out);
}

/* TTA: the mean of the logits of the batch (logits, (n, k)) and of its mirror, and the loss and
 * correct count from that mean: softmax cross-entropy against (1 - s) onehot + s / k. */
static clnet_status tta_batch(clnet_graph *g, const clnet_batch *b, int32_t n, int32_t H, int32_t W, int32_t C,
                              double smoothing, float *mirror, float *logits, float *logits2, double *loss_sum,
                              int64_t *correct) {
  const size_t row = (size_t)W * C;
  for (int32_t i = 0; i < n; ++i)
    for (int32_t h = 0; h < H; ++h) {
      const float *src = b->images + ((size_t)i * H + h) * row;
      float *dst = mirror + ((size_t)i * H + h) * row;
      for (int32_t w = 0; w < W; ++w) memcpy(dst + (size_t)w * C, src + (size_t)(W - 1 - w) * C, (size_t)C * sizeof *dst);
    }
  float l2;
  int32_t c2;
  CLNET_TRY(clnet_graph_set_batch(g, mirror, b->labels, n));
  CLNET_TRY(clnet_graph_evaluate(g, &l2, &c2));
  CLNET_TRY(clnet_graph_read_logits(g, logits2));
  const int32_t k = clnet_graph_classes(g);
  for (int32_t i = 0; i < n; ++i) {
    float *z = logits + (size_t)i * k;
    double mx = -INFINITY, se = 0, sum_z = 0;
    for (int32_t j = 0; j < k; ++j) {
      z[j] = 0.5f * (z[j] + logits2[(size_t)i * k + j]);
      if (z[j] > mx) mx = z[j];
    }
    for (int32_t j = 0; j < k; ++j) se += exp(z[j] - mx), sum_z += z[j];
    const double lse = mx + log(se), y = b->labels[i];
    int32_t best = 0;
    for (int32_t j = 1; j < k; ++j)
      if (z[j] > z[best]) best = j;
    *correct += best == y;
    *loss_sum += (1 - smoothing) * (lse - z[(int32_t)y]) + smoothing * (lse - sum_z / k);
  }
  return CLNET_SUCCESS;
}

clnet_status clnet_evaluate_dataset_tta(clnet_graph *g, const clnet_dataset *ds, const float *mean, const float *std,
                                        int32_t limit, int32_t tta, double smoothing, clnet_eval_result *out) {
  memset(out, 0, sizeof *out);
  float *mirror = NULL, *logits2 = NULL;
  int32_t k = clnet_graph_classes(g);
  clnet_loader *ld = NULL;
  float *logits = NULL;
  clnet_status st = CLNET_SUCCESS;
  int32_t bmax = clnet_graph_max_batch(g);
  if (bmax < 1) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "evaluate: graph is not set up");
  clnet_loader_config lc = {.batch = bmax, .shuffle = 0, .flip = 0, .seed = 0, .mean = mean, .std = std};
  out->classes = k;
  out->confusion = calloc((size_t)k * (size_t)k, sizeof *out->confusion);
  if (!out->confusion) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "confusion matrix");
  CLNET_TRY_GOTO(clnet_loader_create(ds, &lc, &ld), st, fail);
  CLNET_TRY_GOTO(clnet_loader_start_epoch(ld, 0, 0), st, fail);
  logits = malloc((size_t)bmax * (size_t)k * sizeof *logits);
  if (tta) {
    mirror = malloc((size_t)bmax * (size_t)ds->height * (size_t)ds->width * (size_t)ds->channels * sizeof *mirror);
    logits2 = malloc((size_t)bmax * (size_t)k * sizeof *logits2);
  }
  if (!logits || (tta && (!mirror || !logits2))) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "logits");
    goto fail;
  }
  double loss_sum = 0;
  int64_t correct_sum = 0;
  for (;;) {
    clnet_batch b;
    int32_t has = 0;
    CLNET_TRY_GOTO(clnet_loader_next(ld, &b, &has), st, fail);
    if (!has || (limit > 0 && out->count >= limit)) break;
    int32_t n = b.count;
    if (limit > 0 && out->count + n > limit) n = limit - out->count;
    float loss = 0;
    int32_t correct = 0;
    CLNET_TRY_GOTO(clnet_graph_set_batch(g, b.images, b.labels, n), st, fail);
    CLNET_TRY_GOTO(clnet_graph_evaluate(g, &loss, &correct), st, fail);
    CLNET_TRY_GOTO(clnet_graph_read_logits(g, logits), st, fail);
    if (tta) {
      double ls = 0;
      int64_t cs = 0;
      CLNET_TRY_GOTO(tta_batch(g, &b, n, ds->height, ds->width, ds->channels, smoothing, mirror, logits, logits2, &ls, &cs),
                     st, fail);
      loss = (float)(ls / n);
      correct = (int32_t)cs;
    }
    for (int32_t i = 0; i < n; ++i) {
      int32_t best = 0;
      for (int32_t j = 1; j < k; ++j)
        if (logits[i * k + j] > logits[i * k + best]) best = j;
      out->confusion[b.labels[i] * k + best]++;
    }
    loss_sum += (double)loss * n;
    correct_sum += correct;
    out->count += n;
  }
  out->loss = out->count ? loss_sum / out->count : NAN;
  out->accuracy = out->count ? (double)correct_sum / out->count : NAN;
fail:
  free(logits);
  free(mirror);
  free(logits2);
  clnet_loader_free(ld);
  if (st != CLNET_SUCCESS) {
    free(out->confusion);
    out->confusion = NULL;
  }
  return st;
}

static int file_exists(const char *p) {
  struct stat s;
  return stat(p, &s) == 0;
}

/* The first layer whose outputs or gradients are not finite, on any replica of this process; with
 * several ranks it may be on another one's. */
static const char *nonfinite_layer(clnet_graph *const *graphs, int32_t n, int32_t ranks) {
  for (int32_t i = 0; i < n; ++i) {
    const char *where = NULL;
    if (clnet_graph_find_nonfinite(graphs[i], &where) == CLNET_SUCCESS && where) return where;
  }
  return ranks > 1 ? "(none on this rank: another rank's replica)" : "(none found)";
}

/* The learning rate as a float can take it, and the share of skipped steps. */
static clnet_status check_rates(const clnet_train_config *cfg, double lr) {
  if (!(lr >= CLNET_TRAIN_LR_MIN && lr <= CLNET_TRAIN_LR_MAX))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "train: learning rate %g, must be in [%g, %g]", lr,
                           CLNET_TRAIN_LR_MIN, CLNET_TRAIN_LR_MAX);
  if (!(cfg->max_skipped >= 0 && cfg->max_skipped <= 1))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "train: max_skipped %g, must be a share in (0, 1]",
                           cfg->max_skipped);
  return CLNET_SUCCESS;
}

static void fmt_mib(char *dst, size_t cap, uint64_t b) { snprintf(dst, cap, "%.1f MiB", (double)b / (1 << 20)); }

/* last.safetensors, and with a moving average ema.safetensors beside it: the same state with the
 * averaged weights (written together, so --resume finds them at the same step). */
static clnet_status save_state(clnet_graph *g, const clnet_checkpoint_meta *meta, const char *path_last,
                               const char *path_ema) {
  CLNET_TRY(clnet_checkpoint_save(g, meta, path_last));
  if (!path_ema) return CLNET_SUCCESS;
  CLNET_TRY(clnet_graph_ema_swap(g));
  clnet_status st = clnet_checkpoint_save(g, meta, path_ema);
  clnet_status st2 = clnet_graph_ema_swap(g);
  return st != CLNET_SUCCESS ? st : st2;
}

clnet_status clnet_train_run(clnet_ctx *ctx, const clnet_train_config *cfg, const clnet_train_callbacks *cb,
                             clnet_train_summary *summary) {
  return clnet_train_run_parallel(&ctx, 1, NULL, cfg, cb, summary);
}

/* Same kind of device on every context: equal shares need no calibration. */
static int32_t same_devices(clnet_ctx *const *ctxs, int32_t n) {
  for (int32_t i = 1; i < n; ++i)
    if (!clnet_ctx_same_kind(ctxs[0], ctxs[i])) return 0;
  return 1;
}

clnet_status clnet_train_run_parallel(clnet_ctx *const *ctxs, int32_t n_ctx, clnet_comm *comm,
                                      const clnet_train_config *cfg, const clnet_train_callbacks *user_cb,
                                      clnet_train_summary *summary) {
  memset(summary, 0, sizeof *summary);
  const int32_t rank = clnet_comm_rank(comm), ranks = clnet_comm_size(comm), root = rank == 0;
  /* only rank 0 reports; every rank polls should_stop (the ranks agree on it every step) */
  const clnet_train_callbacks *cb = root ? user_cb : NULL;
  clnet_graph *graphs[64] = {0};
  clnet_replicas *reps = NULL;
  FILE *step_log = NULL;
  if (n_ctx < 1 || n_ctx > 64)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "train: %d devices, between 1 and 64 are supported", n_ctx);
  const char *data_dir = cfg->data_dir ? cfg->data_dir : CLNET_DEFAULT_DATA_DIR;
  clnet_dataset train = {0}, test = {0};
  clnet_graph *g = NULL;
  clnet_loader *ld = NULL;
  clnet_history hist = {0};
  clnet_status st = CLNET_SUCCESS;
  const char *format = NULL;
  char path_last[4200], path_best[4200], path_csv[4200], path_png[4200], path_ema[4200];
  double t_start = now_s();

  /* the run's options: the caller's, or the seed's recipe at cfg->lr */
  clnet_train_options o;
  if (cfg->opts) {
    o = *cfg->opts;
  } else {
    CLNET_TRY(clnet_train_recipe("seed", cfg->epochs, &o));
    o.sched.lr = cfg->lr;
  }
  if (cfg->epochs < 1 || cfg->batch < 1 || !cfg->out_dir)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "train: epochs %d and batch %d must be >= 1, out_dir set",
                           cfg->epochs, cfg->batch);
  CLNET_TRY(check_rates(cfg, o.sched.lr));
  CLNET_TRY(clnet_train_options_check(&o));
  clnet_out_dir od = {.fd = -1}; /* rank 0 alone writes the directory: it holds it for the run */
  if (root) CLNET_TRY(clnet_out_dir_open(cfg->out_dir, cfg->resume, cfg->overwrite, &od));
  snprintf(path_last, sizeof path_last, "%s/last.safetensors", cfg->out_dir);
  snprintf(path_best, sizeof path_best, "%s/best.safetensors", cfg->out_dir);
  snprintf(path_csv, sizeof path_csv, "%s/history.csv", cfg->out_dir);
  snprintf(path_png, sizeof path_png, "%s/curves.png", cfg->out_dir);
  snprintf(path_ema, sizeof path_ema, "%s/ema.safetensors", cfg->out_dir);

  double t0 = now_s();
  CLNET_TRY_GOTO(clnet_dataset_open_dir_ex(data_dir, cfg->images, &train, &test, &format), st, out);
  say(cb, "data: %s (%s): %d training and %d test images, %dx%dx%d, %d classes (loaded in %.1f s)", data_dir,
      format, train.count, test.count, train.height, train.width, train.channels, train.classes, now_s() - t0);
  if (train.channels > CLNET_MAX_CHANNELS) { /* the normalisation (and its checkpoint keys) hold that many */
    st = clnet_set_error(CLNET_ERR_UNSUPPORTED, "%s: %d channels, at most %d are supported", data_dir, train.channels,
                         CLNET_MAX_CHANNELS);
    goto out;
  }
  float mean[CLNET_MAX_CHANNELS], std[CLNET_MAX_CHANNELS];
  for (int32_t c = 0; c < CLNET_MAX_CHANNELS; ++c) mean[c] = 0, std[c] = 1;
  clnet_dataset_default_norm(&train, mean, std);

  const char *model = cfg->build ? "custom" : cfg->model ? cfg->model : cfg->depth == 34 ? "resnet34" : "resnet18";
  const clnet_model_config mc = {.in_h = train.height, .in_w = train.width, .in_c = train.channels,
                                 .classes = train.classes, .width = cfg->width};
  /* Batch sizes: this rank's share of the global batch (at most rank_batch images), and each
   * replica's share of that. Equal devices get equal shares; different ones are set up for
   * the whole rank share, so that shares can follow their measured speed. */
  const int32_t rank_batch = (int32_t)(((int64_t)cfg->batch + ranks - 1) / ranks);
  const int32_t equal = same_devices(ctxs, n_ctx) && !cfg->shares;
  const int32_t replica_batch = equal ? (rank_batch + n_ctx - 1) / n_ctx : rank_batch;
  if (cfg->batch < ranks * n_ctx) {
    st = clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "batch %d is smaller than the %d replicas (%d ranks x %d devices)",
                         cfg->batch, ranks * n_ctx, ranks, n_ctx);
    goto out;
  }
  char width_note[32] = "";
  for (int32_t m = 0; !cfg->build && m < clnet_model_count(); ++m)
    if (!strcmp(clnet_model_name(m), model))
      snprintf(width_note, sizeof width_note, " width %d", cfg->width ? cfg->width : clnet_model_default_width(m));
  for (int32_t i = 0; i < n_ctx; ++i) {
    CLNET_TRY_GOTO(cfg->build ? cfg->build(cfg->build_user, &mc, &graphs[i]) : clnet_model_build(model, &mc, &graphs[i]),
                   st, out);
    clnet_graph *gi = graphs[i];
    /* options that are layer attributes: batch-norm momentum, label smoothing of the loss */
    char attr[64];
    if (o.bn_momentum >= 0) {
      snprintf(attr, sizeof attr, "momentum=%.17g", o.bn_momentum);
      CLNET_TRY_GOTO(clnet_graph_set_kind_attrs(gi, "batchnorm", attr, NULL), st, out);
    }
    if (o.label_smoothing > 0) {
      int32_t losses = 0;
      snprintf(attr, sizeof attr, "label_smoothing=%.17g", o.label_smoothing);
      CLNET_TRY_GOTO(clnet_graph_set_kind_attrs(gi, "softmax_cross_entropy", attr, &losses), st, out);
      if (!losses) {
        st = clnet_set_error(CLNET_ERR_UNSUPPORTED, "--label-smoothing: the model has no softmax_cross_entropy loss layer");
        goto out;
      }
    }
    uint64_t need = clnet_graph_memory_bytes(gi, replica_batch);
    const clnet_device_info *di = clnet_ctx_device_info(ctxs[i]);
    char need_s[32], have_s[32];
    fmt_mib(need_s, sizeof need_s, need);
    if (i == 0)
      say(cb, "model: %s%s, %d layers, %lld parameters, %.1f MMAC forward per image; a training step at batch %d needs %s of device memory",
          model, width_note, clnet_graph_layer_count(gi), (long long)clnet_graph_param_total(gi, CLNET_PARAM_TRAINABLE),
          clnet_graph_macs_per_image(gi) / 1e6, replica_batch, need_s);
    if (di && need > di->global_mem_bytes) {
      int32_t lo = 0, hi = replica_batch;
      while (lo < hi) {
        int32_t mid = (lo + hi + 1) / 2;
        if (clnet_graph_memory_bytes(gi, mid) <= di->global_mem_bytes) lo = mid;
        else hi = mid - 1;
      }
      fmt_mib(have_s, sizeof have_s, di->global_mem_bytes);
      st = clnet_set_error(CLNET_ERR_TOO_LARGE,
                           "batch %d needs %s of device memory, %s has %s; the largest batch that fits is %d",
                           replica_batch, need_s, di->name, have_s, lo);
      goto out;
    }
    CLNET_TRY_GOTO(clnet_graph_setup(gi, ctxs[i], replica_batch), st, out);
    CLNET_TRY_GOTO(clnet_graph_init_params(gi, cfg->seed), st, out);
    if (cfg->init) CLNET_TRY_GOTO(cfg->init(cfg->build_user, gi), st, out);
  }
  g = graphs[0];
  CLNET_TRY_GOTO(clnet_replicas_create(graphs, n_ctx, comm, &reps), st, out);
  if (cfg->shares) CLNET_TRY_GOTO(clnet_replicas_set_weights(reps, cfg->shares), st, out);
  if (cfg->on_nan == CLNET_ON_NAN_SKIP) CLNET_TRY_GOTO(clnet_replicas_keep_statistics(reps, 1), st, out);
  if (n_ctx > 1 || ranks > 1) {
    char devs[512] = "";
    for (int32_t i = 0; i < n_ctx; ++i) {
      size_t used = strlen(devs);
      snprintf(devs + used, sizeof devs - used, "%s%s", i ? ", " : "", clnet_ctx_device_name(ctxs[i]));
    }
    say(cb, "data parallel: %d rank%s x %d device%s (%s); global batch %d, %d per rank; batch-norm statistics per replica",
        ranks, ranks > 1 ? "s" : "", n_ctx, n_ctx > 1 ? "s" : "", devs, cfg->batch, rank_batch);
    if (clnet_replicas_owner_updates(reps))
      say(cb, "the devices differ: replica 0 of rank 0 applies each update and broadcasts the weights");
  }
  if (cfg->step_log && root) {
    step_log = fopen(cfg->step_log, cfg->resume ? "a" : "w");
    if (!step_log) {
      st = clnet_set_error(CLNET_ERR_IO, "%s: cannot open the step log: %s", cfg->step_log, strerror(errno));
      goto out;
    }
    if (!cfg->resume || ftell(step_log) == 0) fprintf(step_log, "epoch,batch,step,loss,accuracy,images\n");
  }
  int64_t skipped = 0;

  const int resnet = !strcmp(model, "resnet18") || !strcmp(model, "resnet34");
  clnet_checkpoint_meta meta = {.epoch = 0, .depth = resnet ? (model[6] == '1' ? 18 : 34) : 0,
                                .width = cfg->width, .in_h = train.height,
                                .in_w = train.width, .in_c = train.channels, .classes = train.classes,
                                .batch = cfg->batch, .lr = o.sched.lr, .seed = cfg->seed, .best_val_accuracy = -1,
                                .best_val_loss = NAN, .plateau_best = INFINITY};
  clnet_train_options_format(&o, meta.train, sizeof meta.train);
  if (o.ema_decay > 0) CLNET_TRY_GOTO(clnet_graph_ema_enable(g, (float)o.ema_decay), st, out);
  snprintf(meta.model, sizeof meta.model, "%s", model);
  meta.class_names = (const char *const *)train.class_names;
  memcpy(meta.norm_mean, mean, sizeof mean);
  memcpy(meta.norm_std, std, sizeof std);
  int32_t first_epoch = 0, first_batch = 0;
  double resume_loss_sum = 0;
  int64_t resume_correct = 0, resume_seen = 0, steps_run = 0;
  int stop_pending = 0, calibrated = 0;
  double first_step_s = 0;
  if (cfg->resume && root) {
    if (!file_exists(path_last)) {
      st = clnet_set_error(CLNET_ERR_IO, "%s: nothing to resume (no checkpoint there yet)", path_last);
      goto out;
    }
    clnet_checkpoint_meta saved;
    CLNET_TRY_GOTO(clnet_checkpoint_read_meta(path_last, &saved), st, out);
    if (saved.in_h != meta.in_h || saved.in_w != meta.in_w || saved.in_c != meta.in_c ||
        saved.classes != meta.classes || saved.batch != meta.batch || saved.seed != meta.seed) {
      st = clnet_set_error(CLNET_ERR_MISMATCH,
                           "%s: was written by a run with batch %d seed %llu on %dx%dx%d data with %d classes; "
                           "resume with the same --batch/--seed/--data", path_last, saved.batch,
                           (unsigned long long)saved.seed, saved.in_h, saved.in_w, saved.in_c, saved.classes);
      goto out;
    }
    /* the same network: the checkpoint's description against this run's */
    clnet_graph *was = NULL;
    CLNET_TRY_GOTO(clnet_checkpoint_read_graph(path_last, &was), st, out);
    char *a = NULL, *b = NULL;
    st = clnet_graph_describe(was, &a);
    if (st == CLNET_SUCCESS) st = clnet_graph_describe(g, &b);
    const int same = st == CLNET_SUCCESS && !strcmp(a, b);
    free(a);
    free(b);
    clnet_graph_free(was);
    if (st != CLNET_SUCCESS) goto out;
    if (!same) {
      char was_w[24] = "", now_w[24] = "";
      if (saved.width) snprintf(was_w, sizeof was_w, " width %d", saved.width);
      if (meta.width) snprintf(now_w, sizeof now_w, " width %d", meta.width);
      st = clnet_set_error(CLNET_ERR_MISMATCH,
                           "%s: holds a different network (%s%s) from this run's (%s%s): its layers or their "
                           "attributes differ (the recipe's --bn-momentum and --label-smoothing are layer attributes); "
                           "resume with the same --model/--width/--recipe as the run that wrote it",
                           path_last, saved.model, was_w, model, now_w);
      goto out;
    }
    /* the same training options (older files: the seed's recipe at their lr) */
    clnet_train_options was_o;
    if (saved.train[0]) {
      CLNET_TRY_GOTO(clnet_train_options_parse(saved.train, &was_o), st, out);
    } else {
      CLNET_TRY_GOTO(clnet_train_recipe("seed", cfg->epochs, &was_o), st, out);
      was_o.sched.lr = saved.lr;
    }
    const char *differs = clnet_train_options_diff(&was_o, &o);
    if (differs && cfg->resume_new_options) { /* asked for: say every change */
      for (int32_t k = 0; k < clnet_train_option_count(); ++k) {
        const char *name = clnet_train_option_name(k);
        char va[200], vb[200];
        clnet_train_option_value(&was_o, name, va, sizeof va);
        clnet_train_option_value(&o, name, vb, sizeof vb);
        if (strcmp(va, vb))
          say(cb, "resume: --%s changed from %s to %s (from here the run differs from an uninterrupted one)", name, va, vb);
      }
    } else if (differs) {
      char va[200], vb[200];
      clnet_train_option_value(&was_o, differs, va, sizeof va);
      clnet_train_option_value(&o, differs, vb, sizeof vb);
      st = clnet_set_error(CLNET_ERR_MISMATCH,
                           "%s: was trained with --%s %s, this run asks for --%s %s; resume with the run's own options "
                           "(clnet train --resume takes them from the checkpoint when none are given)", path_last,
                           differs, va, differs, vb);
      goto out;
    }
    CLNET_TRY_GOTO(clnet_checkpoint_load(g, path_last, &saved), st, out);
    if (o.ema_decay > 0) {
      /* the average: ema.safetensors was written with last.safetensors (same step, same moments) */
      if (!file_exists(path_ema)) {
        st = clnet_set_error(CLNET_ERR_IO, "%s: missing: the run keeps a moving average of the weights (--ema)", path_ema);
        goto out;
      }
      clnet_checkpoint_meta em; /* the average (enabled above) goes in by swapping it in and loading */
      CLNET_TRY_GOTO(clnet_graph_ema_swap(g), st, out);
      CLNET_TRY_GOTO(clnet_checkpoint_load(g, path_ema, &em), st, out);
      CLNET_TRY_GOTO(clnet_graph_ema_swap(g), st, out);
      if (em.epoch != saved.epoch || em.batches_done != saved.batches_done) {
        st = clnet_set_error(CLNET_ERR_MISMATCH, "%s: holds epoch %d batch %d, %s epoch %d batch %d", path_ema, em.epoch,
                             em.batches_done, path_last, saved.epoch, saved.batches_done);
        goto out;
      }
    }
    meta.best_val_accuracy = saved.best_val_accuracy;
    meta.best_val_loss = saved.best_val_loss;
    meta.plateau_best = isnan(saved.plateau_best) ? INFINITY : saved.plateau_best;
    meta.plateau_bad = saved.plateau_bad;
    meta.plateau_reductions = saved.plateau_reductions;
    meta.stale_epochs = saved.stale_epochs;
    first_epoch = saved.epoch;
    first_batch = saved.batches_done;
    resume_loss_sum = saved.epoch_loss_sum;
    resume_correct = saved.epoch_correct;
    resume_seen = saved.epoch_seen;
    if (file_exists(path_csv)) {
      CLNET_TRY_GOTO(clnet_history_read_csv(path_csv, &hist), st, out);
      while (hist.count > first_epoch) hist.count--; /* rows after the checkpoint are replayed */
    }
    if (first_batch)
      say(cb, "resume: %s inside epoch %d, %d batches done (Adam step %lld)", path_last, first_epoch + 1, first_batch,
          (long long)clnet_graph_adam_step(g));
    else
      say(cb, "resume: %s after epoch %d (Adam step %lld)", path_last, first_epoch, (long long)clnet_graph_adam_step(g));
  }
  if (cfg->resume && (n_ctx > 1 || ranks > 1)) {
    /* rank 0's replica 0 holds the checkpoint: every replica of every rank starts from it */
    CLNET_TRY_GOTO(clnet_replicas_broadcast(reps), st, out);
    double pos[11] = {meta.best_val_accuracy, first_epoch, first_batch, resume_loss_sum, (double)resume_correct,
                      (double)resume_seen, meta.best_val_loss, meta.plateau_best, meta.plateau_bad,
                      meta.plateau_reductions, meta.stale_epochs};
    CLNET_TRY_GOTO(clnet_comm_bcast(comm, pos, sizeof pos, 0), st, out);
    meta.best_val_accuracy = pos[0];
    first_epoch = (int32_t)pos[1];
    first_batch = (int32_t)pos[2];
    resume_loss_sum = pos[3];
    resume_correct = (int64_t)pos[4];
    resume_seen = (int64_t)pos[5];
    meta.best_val_loss = pos[6];
    meta.plateau_best = pos[7];
    meta.plateau_bad = (int32_t)pos[8];
    meta.plateau_reductions = (int32_t)pos[9];
    meta.stale_epochs = (int32_t)pos[10];
  }

  clnet_loader_config lc = {.batch = cfg->batch, .shuffle = 1, .flip = o.flip, .seed = cfg->seed, .mean = mean,
                            .std = std, .shard_index = rank, .shard_count = ranks, .crop_pad = o.crop_pad,
                            .crop_reflect = o.crop_reflect, .cutout = o.cutout};
  CLNET_TRY_GOTO(clnet_loader_create(&train, &lc, &ld), st, out);
  int32_t batches = clnet_loader_batches_per_epoch(ld);
  if (cfg->max_batches > 0 && cfg->max_batches < batches) batches = cfg->max_batches;
  /* the schedule in steps (the options count warm-up and milestones in epochs) */
  clnet_lr_schedule sched = o.sched;
  sched.warmup *= batches;
  for (int32_t k = 0; k < sched.n_milestones; ++k) sched.milestones[k] *= batches;
  const int64_t total_steps = (int64_t)cfg->epochs * batches;
  clnet_plateau plateau = {.best = meta.plateau_best, .bad_epochs = meta.plateau_bad,
                           .reductions = meta.plateau_reductions};
  clnet_optimizer opt = o.opt;
  double lr_now = o.sched.lr;
  const int64_t planned_steps = (int64_t)(cfg->epochs - first_epoch) * batches - first_batch;
  const double max_skipped = cfg->max_skipped > 0 ? cfg->max_skipped : CLNET_TRAIN_MAX_SKIPPED;
  if (first_batch > 0 && first_batch >= batches && first_epoch < cfg->epochs) { /* the checkpoint's position */
    st = clnet_set_error(CLNET_ERR_FORMAT, "%s: metadata 'clnet.position' puts it after batch %d of epoch %d, which has "
                         "%d batches", path_last, first_batch, first_epoch + 1, batches);
    goto out;
  }

  for (int32_t epoch = first_epoch; epoch < cfg->epochs; ++epoch) {
    /* a run stopped mid-epoch continues at its batch with its running sums */
    int32_t start = epoch == first_epoch ? first_batch : 0;
    double e0 = now_s(), loss_sum = epoch == first_epoch ? resume_loss_sum : 0;
    int64_t seen = epoch == first_epoch ? resume_seen : 0, correct_sum = epoch == first_epoch ? resume_correct : 0;
    int64_t seen_here = 0; /* images of this process, for images/s */
    /* the progress rate and ETA: timed from the end of this process's first step (which builds
     * kernels and, on a first run, chooses algorithms) and shown once two steps are timed */
    double rate_t0 = e0;
    int64_t rate_images = 0;
    int32_t rate_steps = 0;
    CLNET_TRY_GOTO(clnet_loader_start_epoch(ld, epoch, start), st, out);
    clnet_train_progress pr = {.epoch = epoch + 1, .epochs = cfg->epochs, .batches = batches};
    for (int32_t bi = start; bi < batches; ++bi) {
      clnet_batch b;
      int32_t has = 0;
      CLNET_TRY_GOTO(clnet_loader_next(ld, &b, &has), st, out);
      if (!has) break;
      if (!calibrated) {
        calibrated = 1;
        if (!equal && !cfg->shares && n_ctx > 1) {
          double w[64];
          CLNET_TRY_GOTO(clnet_replicas_calibrate(reps, b.images, b.labels, b.count, w), st, out);
          char line[400] = "";
          for (int32_t i = 0; i < n_ctx; ++i) {
            size_t used = strlen(line);
            snprintf(line + used, sizeof line - used, "%s%.1f%%", i ? " / " : "",
                     100.0 * clnet_replicas_share(reps, i, 100000) / 100000.0);
          }
          say(cb, "shares of each batch by measured speed: %s", line);
        }
      }
      double loss = 0;
      int64_t correct = 0;
      int32_t finite = 1;
      CLNET_TRY_GOTO(clnet_replicas_step(reps, b.images, b.labels, b.count, b.global_count, &loss, &correct, &finite),
                     st, out);
      if (!finite) {
        const char *where = nonfinite_layer(graphs, n_ctx, ranks);
        if (cfg->on_nan != CLNET_ON_NAN_SKIP) {
          st = clnet_set_error(CLNET_ERR_NUMERIC,
                               "epoch %d batch %d: the loss is %g%s (first non-finite values in layer '%s'); "
                               "stopped before the update, the last checkpoint is intact (--on-nan skip would go on)",
                               epoch + 1, bi + 1, (double)loss, isfinite(loss) ? " but a gradient is not finite" : "",
                               where);
          goto out;
        }
        CLNET_TRY_GOTO(clnet_replicas_restore_statistics(reps), st, out);
        ++skipped;
        if ((double)skipped > max_skipped * (double)planned_steps) { /* the run can no longer stay under it */
          st = clnet_set_error(CLNET_ERR_NUMERIC,
                               "epoch %d batch %d: %lld steps skipped for non-finite values, more than %g of the run's "
                               "%lld (--max-skipped); stopped, the last checkpoint is intact", epoch + 1, bi + 1,
                               (long long)skipped, max_skipped, (long long)planned_steps);
          goto out;
        }
        say(cb, "epoch %d batch %d: the loss is %g%s (first non-finite values in layer '%s'): step skipped (%lld so far)",
            epoch + 1, bi + 1, (double)loss, isfinite(loss) ? " but a gradient is not finite" : "", where,
            (long long)skipped);
        continue;
      }
      lr_now = clnet_lr_at(&sched, (int64_t)epoch * batches + bi, total_steps, plateau.reductions);
      opt.lr = (float)lr_now;
      CLNET_TRY_GOTO(clnet_replicas_apply_optimizer(reps, &opt), st, out);
      if (o.ema_decay > 0) CLNET_TRY_GOTO(clnet_graph_ema_update(g), st, out);
      if (cfg->verify_replicas && (n_ctx > 1 || ranks > 1)) {
        clnet_status vst = clnet_replicas_verify(reps);
        if (vst != CLNET_SUCCESS) {
          st = clnet_wrap_error(vst, "after epoch %d batch %d", epoch + 1, bi + 1);
          goto out;
        }
      }
      loss_sum += loss * b.global_count;
      correct_sum += correct;
      seen += b.global_count;
      seen_here += b.global_count;
      ++steps_run;
      if (step_log) {
        fprintf(step_log, "%d,%d,%lld,%.9g,%.9g,%d\n", epoch + 1, bi + 1, (long long)clnet_graph_adam_step(g), loss,
                (double)correct / b.global_count, b.global_count);
        fflush(step_log);
      }
      const double t_now = now_s();
      pr.batch = bi + 1;
      pr.loss = loss_sum / (double)seen;
      pr.accuracy = (double)correct_sum / (double)seen;
      if (steps_run == 1) {
        rate_t0 = t_now; /* the run's first step: not a measure of what follows */
        first_step_s = t_now - e0;
      } else {
        rate_images += b.global_count;
        rate_steps++;
      }
      const double rate_el = t_now - rate_t0;
      pr.images_per_s = rate_steps >= 2 && rate_el > 0 ? rate_images / rate_el : -1;
      pr.eta_s = rate_steps >= 2 ? rate_el / rate_steps * (batches - pr.batch) : -1;
      pr.first_step_s = first_step_s;
      if (cb && cb->progress) cb->progress(&pr, cb->user);
      int32_t stop = cfg->stop_after > 0 && steps_run >= cfg->stop_after;
      if (user_cb && user_cb->should_stop && user_cb->should_stop(user_cb->user)) stop = 1;
      CLNET_TRY_GOTO(clnet_comm_allreduce_max_i32(comm, &stop, 1), st, out); /* every rank stops at one step */
      if (stop) stop_pending = 1;
      if (stop && pr.batch < batches) {
        /* the step is complete: save where we are, so --resume continues exactly here */
        meta.epoch = epoch;
        meta.batches_done = pr.batch;
        meta.epoch_loss_sum = loss_sum;
        meta.epoch_correct = correct_sum;
        meta.epoch_seen = seen;
        if (root) CLNET_TRY_GOTO(save_state(g, &meta, path_last, o.ema_decay > 0 ? path_ema : NULL), st, out);
        st = clnet_set_error(CLNET_ERR_INTERRUPTED,
                             "stopped after batch %d of epoch %d; %s holds that state: continue with --resume",
                             pr.batch, epoch + 1, path_last);
        goto out;
      }
    }
    double train_s = now_s() - e0;
    if (seen == 0) { /* every step skipped: the epoch has no loss to record */
      st = clnet_set_error(CLNET_ERR_NUMERIC, "epoch %d: every step was skipped for non-finite values; stopped, the last "
                           "checkpoint is intact", epoch + 1);
      goto out;
    }
    meta.batches_done = 0;
    meta.epoch_loss_sum = 0;
    meta.epoch_correct = meta.epoch_seen = 0;
    pr.phase = 1;
    if (cb && cb->progress) cb->progress(&pr, cb->user);
    clnet_eval_result ev = {0};
    if (root) { /* rank 0's replica 0 validates (its BN statistics are the checkpoint's); with --ema, its average */
      if (o.ema_decay > 0) CLNET_TRY_GOTO(clnet_graph_ema_swap(g), st, out);
      st = clnet_evaluate_dataset_tta(g, &test, mean, std, cfg->max_eval, o.tta, o.label_smoothing, &ev);
      free(ev.confusion);
      if (o.ema_decay > 0) {
        clnet_status st2 = clnet_graph_ema_swap(g);
        if (st == CLNET_SUCCESS) st = st2;
      }
      if (st != CLNET_SUCCESS) goto out;
    }
    double val[2] = {ev.loss, ev.accuracy};
    CLNET_TRY_GOTO(clnet_comm_bcast(comm, val, sizeof val, 0), st, out);
    ev.loss = val[0];
    ev.accuracy = val[1];
    if (!isfinite(ev.loss)) { /* diverged weights: nothing to record or keep (the last checkpoint is intact) */
      st = clnet_set_error(CLNET_ERR_NUMERIC,
                           "epoch %d: the validation loss is %g: the weights have diverged (a lower --lr helps); "
                           "the last checkpoint is intact", epoch + 1, ev.loss);
      goto out;
    }
    clnet_epoch_record rec = {.epoch = epoch + 1, .loss = loss_sum / (double)seen,
                              .accuracy = (double)correct_sum / (double)seen, .val_loss = ev.loss,
                              .val_accuracy = ev.accuracy, .seconds = now_s() - e0,
                              .images_per_s = seen_here / (train_s > 0 ? train_s : 1e-9), .lr = lr_now};
    /* best.safetensors follows the monitored metric; so do early stopping's stale epochs */
    const int32_t is_best = o.monitor == CLNET_MONITOR_VAL_LOSS
                                ? isfinite(rec.val_loss) && (isnan(meta.best_val_loss) || rec.val_loss < meta.best_val_loss)
                                : rec.val_accuracy > meta.best_val_accuracy;
    if (is_best) {
      meta.best_val_accuracy = rec.val_accuracy;
      meta.best_val_loss = rec.val_loss;
      meta.stale_epochs = 0;
    } else {
      meta.stale_epochs++;
    }
    if (o.sched.kind == CLNET_LR_PLATEAU && clnet_plateau_observe(&plateau, &sched, rec.val_loss))
      say(cb, "epoch %d: no better validation loss for %d epochs: learning rate x %g", epoch + 1, sched.patience + 1,
          sched.factor);
    meta.plateau_best = plateau.best;
    meta.plateau_bad = plateau.bad_epochs;
    meta.plateau_reductions = plateau.reductions;
    meta.epoch = epoch + 1;
    if (root) { /* rank 0 alone writes */
      CLNET_TRY_GOTO(clnet_history_append(&hist, &rec), st, out);
      CLNET_TRY_GOTO(clnet_history_write_csv(&hist, path_csv), st, out);
      CLNET_TRY_GOTO(clnet_history_plot(&hist, path_png), st, out);
      CLNET_TRY_GOTO(save_state(g, &meta, path_last, o.ema_decay > 0 ? path_ema : NULL), st, out);
      if (is_best) { /* with --ema the average is what was validated: it is what best.safetensors keeps */
        if (o.ema_decay > 0) CLNET_TRY_GOTO(clnet_graph_ema_swap(g), st, out);
        st = clnet_checkpoint_save(g, &meta, path_best);
        if (o.ema_decay > 0) {
          clnet_status st2 = clnet_graph_ema_swap(g);
          if (st == CLNET_SUCCESS) st = st2;
        }
        if (st != CLNET_SUCCESS) goto out;
      }
    }
    if (cb && cb->epoch_end) cb->epoch_end(&rec, is_best, cb->user);
    summary->epochs_done = epoch + 1;
    summary->final_val_accuracy = rec.val_accuracy;
    summary->best_val_accuracy = meta.best_val_accuracy;
    if (o.early_stop > 0 && meta.stale_epochs >= o.early_stop && epoch + 1 < cfg->epochs) {
      /* Keras' restore_best_weights: the run ends on the best weights (best.safetensors) */
      say(cb, "early stopping after epoch %d: no better %s for %d epochs; best.safetensors holds val_accuracy %.4f, "
              "val_loss %.4f", epoch + 1, o.monitor == CLNET_MONITOR_VAL_LOSS ? "val_loss" : "val_accuracy",
          meta.stale_epochs, meta.best_val_accuracy, meta.best_val_loss);
      summary->final_val_accuracy = meta.best_val_accuracy;
      summary->early_stopped = 1;
      if (root && file_exists(path_best)) {
        clnet_checkpoint_meta bm;
        CLNET_TRY_GOTO(clnet_checkpoint_load(g, path_best, &bm), st, out);
      }
      break;
    }
    if (stop_pending && epoch + 1 < cfg->epochs) {
      st = clnet_set_error(CLNET_ERR_INTERRUPTED, "stopped after epoch %d; %s holds that state: continue with --resume",
                           epoch + 1, path_last);
      goto out;
    }
  }
  if (first_epoch >= cfg->epochs) say(cb, "nothing to do: the checkpoint already holds %d epochs", first_epoch);
out:
  summary->seconds = now_s() - t_start;
  clnet_loader_free(ld);
  clnet_replicas_free(reps);
  for (int32_t i = 0; i < n_ctx; ++i) clnet_graph_free(graphs[i]);
  if (step_log) fclose(step_log);
  clnet_history_free(&hist);
  clnet_dataset_free(&train);
  clnet_dataset_free(&test);
  clnet_out_dir_close(&od);
  return st;
}
