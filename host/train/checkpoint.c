/* Checkpoints: the graph's state as safetensors (layout in docs/CHECKPOINTS.md).
 * Tensors: "<param>" (value), "adam.m.<param>", "adam.v.<param>" (F32) and
 * "adam.step" (I64, shape [1]). Metadata: clnet.* keys with the epoch, the
 * model/run configuration and the data-order state. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clnet/train.h"
#include "core/error.h"
#include "core/parse.h"
#include "train/checkpoint_classes.h"

#define N_META 16

clnet_status clnet_checkpoint_save(clnet_graph *g, const clnet_checkpoint_meta *m, const char *path) {
  int32_t np = clnet_graph_param_count(g), nt = 0;
  clnet_st_tensor *t = calloc((size_t)np * 3 + 1, sizeof *t);
  float **bufs = calloc((size_t)np * 3 + 1, sizeof *bufs); /* + adam.step's slot: NULL, freed with the rest */
  char(*names)[160] = calloc((size_t)np * 3, sizeof *names);
  clnet_status st = CLNET_SUCCESS;
  if (!t || !bufs || !names) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: preparing the checkpoint", path);
    goto out;
  }
  static const char *prefix[3] = {"", "adam.m.", "adam.v."};
  static const clnet_param_field fields[3] = {CLNET_FIELD_VALUE, CLNET_FIELD_ADAM_M, CLNET_FIELD_ADAM_V};
  for (int32_t f = 0; f < 3; ++f)
    for (int32_t i = 0; i < np; ++i) {
      clnet_param_info info;
      clnet_graph_param_info(g, i, &info);
      if (f > 0 && info.kind != CLNET_PARAM_TRAINABLE) continue;
      float *b = malloc((size_t)info.count * sizeof *b);
      if (!b) {
        st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: reading %s", path, info.name);
        goto out;
      }
      bufs[nt] = b;
      CLNET_TRY_GOTO(clnet_graph_param_read(g, i, fields[f], b), st, out);
      for (int64_t j = 0; j < info.count; ++j)
        if (!isfinite(b[j])) {
          st = clnet_set_error(CLNET_ERR_NUMERIC, "%s: not written: %s%s[%lld] is %g (the previous checkpoint is kept)",
                               path, prefix[f], info.name, (long long)j, (double)b[j]);
          goto out;
        }
      snprintf(names[nt], sizeof names[nt], "%s%s", prefix[f], info.name);
      t[nt] = (clnet_st_tensor){.name = names[nt], .dtype = CLNET_DTYPE_F32, .ndim = info.ndim, .data = b};
      memcpy(t[nt].shape, info.shape, sizeof info.shape);
      ++nt;
    }
  int64_t step = clnet_graph_adam_step(g);
  t[nt++] = (clnet_st_tensor){.name = "adam.step", .dtype = CLNET_DTYPE_I64, .ndim = 1, .shape = {1}, .data = &step};
  char v[N_META][160];
  const char *keys[N_META] = {"clnet.format",  "clnet.epoch",  "clnet.depth",    "clnet.width",
                              "clnet.input",   "clnet.classes", "clnet.batch",   "clnet.lr",
                              "clnet.seed",    "clnet.best_val_accuracy", "clnet.norm_mean", "clnet.norm_std",
                              "clnet.data_order", "clnet.layout", "clnet.position", "clnet.epoch_loss_sum"};
  const char *vals[N_META];
  snprintf(v[0], sizeof v[0], "clnet-checkpoint-1");
  snprintf(v[1], sizeof v[1], "%d", m->epoch);
  snprintf(v[2], sizeof v[2], "%d", m->depth);
  snprintf(v[3], sizeof v[3], "%d", m->width);
  snprintf(v[4], sizeof v[4], "%dx%dx%d", m->in_h, m->in_w, m->in_c);
  snprintf(v[5], sizeof v[5], "%d", m->classes);
  snprintf(v[6], sizeof v[6], "%d", m->batch);
  snprintf(v[7], sizeof v[7], "%.17g", m->lr);
  snprintf(v[8], sizeof v[8], "%" PRIu64, m->seed);
  snprintf(v[9], sizeof v[9], "%.17g", m->best_val_accuracy);
  /* per channel: up to 16 characters and a comma each */
  char norm[2][CLNET_MAX_CHANNELS * 18];
  int len0 = 0, len1 = 0;
  norm[0][0] = norm[1][0] = '\0';
  for (int32_t c = 0; c < m->in_c && c < CLNET_MAX_CHANNELS; ++c) {
    len0 += snprintf(norm[0] + len0, sizeof norm[0] - (size_t)len0, "%s%.9g", c ? "," : "", m->norm_mean[c]);
    len1 += snprintf(norm[1] + len1, sizeof norm[1] - (size_t)len1, "%s%.9g", c ? "," : "", m->norm_std[c]);
  }
  snprintf(v[12], sizeof v[12],
           "epoch %d of seed %" PRIu64 " continues at batch %d (order and flips depend only on seed and epoch)",
           m->epoch, m->seed, m->batches_done);
  snprintf(v[13], sizeof v[13], "NHWC activations; conv kernel (KH,KW,C_in,C_out); dense kernel (OUT,IN)");
  snprintf(v[14], sizeof v[14], "%d %" PRId64 " %" PRId64, m->batches_done, m->epoch_correct, m->epoch_seen);
  snprintf(v[15], sizeof v[15], "%.17g", m->epoch_loss_sum);
  for (int i = 0; i < N_META; ++i) vals[i] = v[i];
  vals[10] = norm[0];
  vals[11] = norm[1];
  /* the network itself (clnet_graph_describe), so that eval and --resume rebuild any graph */
  char *graph_text = NULL;
  CLNET_TRY_GOTO(clnet_graph_describe(g, &graph_text), st, out);
  /* the training options and the state of the schedule and early stopping (--resume) */
  char state[200];
  snprintf(state, sizeof state, "best_val_loss=%.17g plateau_best=%.17g plateau_bad=%d plateau_reductions=%d stale_epochs=%d",
           m->best_val_loss, m->plateau_best, m->plateau_bad, m->plateau_reductions, m->stale_epochs);
  const char *all_keys[N_META + 5], *all_vals[N_META + 5];
  int32_t n_keys = N_META;
  for (int i = 0; i < N_META; ++i) all_keys[i] = keys[i], all_vals[i] = vals[i];
  all_keys[n_keys] = "clnet.graph";
  all_vals[n_keys++] = graph_text;
  all_keys[n_keys] = "clnet.model";
  all_vals[n_keys++] = m->model[0] ? m->model : "custom";
  all_keys[n_keys] = "clnet.train_state";
  all_vals[n_keys++] = state;
  if (m->train[0]) {
    all_keys[n_keys] = "clnet.train";
    all_vals[n_keys++] = m->train;
  }
  char *names_json = m->class_names ? clnet_class_names_json(m->class_names, m->classes) : NULL;
  if (m->class_names && !names_json) st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: class names", path);
  if (names_json) { /* image folders: eval and predict show them */
    all_keys[n_keys] = "clnet.class_names";
    all_vals[n_keys++] = names_json;
  }
  if (st == CLNET_SUCCESS) st = clnet_safetensors_write(path, t, nt, all_keys, all_vals, n_keys);
  free(names_json);
  free(graph_text);
out:
  if (bufs)
    for (int32_t i = 0; i < nt; ++i) free(bufs[i]);
  free(bufs);
  free(names);
  free(t);
  return st;
}

static clnet_status meta_int(const clnet_st_file *f, const char *path, const char *key, int64_t *out) {
  const char *s = clnet_st_meta(f, key);
  char *end = NULL;
  if (!s) return clnet_set_error(CLNET_ERR_FORMAT, "%s: not a clnet checkpoint (metadata '%s' missing)", path, key);
  errno = 0;
  long long v = strtoll(s, &end, 10);
  char vb[72];
  if (end == s || *end) return clnet_set_error(CLNET_ERR_FORMAT, "%s: metadata '%s' = '%s' is not an integer", path, key, clnet_printable(s, vb));
  /* every caller stores the value in an int32_t: refuse what would wrap */
  if (errno == ERANGE || v < INT32_MIN || v > INT32_MAX)
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: metadata '%s' = '%s' is out of range", path, key, clnet_printable(s, vb));
  *out = v;
  return CLNET_SUCCESS;
}

/* A metadata number, the whole value read (strtod's syntax: "nan" and "inf" are read, for the
 * callers to refuse). An absent key gives `absent` (which may be NAN: then it is required). */
static clnet_status meta_double(const clnet_st_file *f, const char *path, const char *key, double absent,
                                double *out) {
  const char *s = clnet_st_meta(f, key);
  char vb[72];
  if (!s) {
    if (isnan(absent)) return clnet_set_error(CLNET_ERR_FORMAT, "%s: not a clnet checkpoint (metadata '%s' missing)", path, key);
    *out = absent;
    return CLNET_SUCCESS;
  }
  char *end = NULL;
  double v = strtod(s, &end);
  if (end == s || *end || isspace((unsigned char)s[0]))
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: metadata '%s' = '%s' is not a number", path, key, clnet_printable(s, vb));
  *out = v;
  return CLNET_SUCCESS;
}

static clnet_status meta_range(const char *path, const char *key, double v, const char *rule) {
  return clnet_set_error(CLNET_ERR_FORMAT, "%s: metadata '%s' = %g is out of range (%s)", path, key, v, rule);
}

/* The formats clnet has written, and whether each stores the data section's checksum. */
static const struct {
  const char *name;
  int has_crc;
} formats[] = {{"clnet-checkpoint-1", 1}};

/* The model name (clnet.model; older files: the ResNet of clnet.depth). */
static void parse_model(const clnet_st_file *f, clnet_checkpoint_meta *m) {
  const char *s = clnet_st_meta(f, "clnet.model");
  char vb[80];
  if (s) snprintf(m->model, sizeof m->model, "%s", clnet_printable(s, vb));
  else snprintf(m->model, sizeof m->model, "resnet%d", m->depth);
}

static clnet_status parse_meta(const clnet_st_file *f, const char *path, clnet_checkpoint_meta *m) {
  memset(m, 0, sizeof *m);
  const char *fmt = clnet_st_meta(f, "clnet.format");
  char fb[72];
  int known = -1;
  for (size_t i = 0; fmt && i < sizeof formats / sizeof formats[0]; ++i)
    if (!strcmp(fmt, formats[i].name)) known = (int)i;
  if (known < 0)
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: not a clnet checkpoint (clnet.format is %s)", path, fmt ? clnet_printable(fmt, fb) : "missing");
  /* the safetensors reader accepts files of other tools without one; a clnet checkpoint has it */
  if (formats[known].has_crc && !clnet_st_meta(f, CLNET_ST_CRC_KEY))
    return clnet_set_error(CLNET_ERR_FORMAT,
                           "%s: no checksum (metadata '" CLNET_ST_CRC_KEY "'), which every %s file has: it was altered "
                           "after clnet wrote it", path, fmt);
  int64_t v = 0;
  CLNET_TRY(meta_int(f, path, "clnet.epoch", &v)); m->epoch = (int32_t)v;
  CLNET_TRY(meta_int(f, path, "clnet.depth", &v)); m->depth = (int32_t)v;
  CLNET_TRY(meta_int(f, path, "clnet.width", &v)); m->width = (int32_t)v;
  CLNET_TRY(meta_int(f, path, "clnet.classes", &v)); m->classes = (int32_t)v;
  CLNET_TRY(meta_int(f, path, "clnet.batch", &v)); m->batch = (int32_t)v;
  const char *s = clnet_st_meta(f, "clnet.seed");
  if (!s) return clnet_set_error(CLNET_ERR_FORMAT, "%s: metadata 'clnet.seed' missing", path);
  char *end = NULL, vb[72];
  errno = 0;
  m->seed = strtoull(s, &end, 10);
  if (s[0] < '0' || s[0] > '9' || *end || errno == ERANGE)
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: metadata 'clnet.seed' = '%s' is not an unsigned integer", path,
                           clnet_printable(s, vb));
  s = clnet_st_meta(f, "clnet.input");
  if (!s || !clnet_parse_hwc(s, 1 << 20, &m->in_h, &m->in_w, &m->in_c) || m->in_c > CLNET_MAX_CHANNELS)
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: metadata 'clnet.input' is missing or malformed", path);
  s = clnet_st_meta(f, "clnet.position"); /* absent in files from before mid-epoch saves: a boundary */
  if (s) {
    long long bd = 0, corr = 0, seen = 0;
    if (sscanf(s, "%lld %lld %lld", &bd, &corr, &seen) != 3 || bd < 0 || bd > INT32_MAX || corr < 0 || seen < corr)
      return clnet_set_error(CLNET_ERR_FORMAT, "%s: metadata 'clnet.position' is malformed", path);
    m->batches_done = (int32_t)bd;
    m->epoch_correct = corr;
    m->epoch_seen = seen;
    CLNET_TRY(meta_double(f, path, "clnet.epoch_loss_sum", 0, &m->epoch_loss_sum));
  }
  CLNET_TRY(meta_double(f, path, "clnet.lr", 1e-3, &m->lr));
  if (!(m->lr > 0) || !isfinite(m->lr)) return meta_range(path, "clnet.lr", m->lr, "a learning rate > 0");
  CLNET_TRY(meta_double(f, path, "clnet.best_val_accuracy", 0, &m->best_val_accuracy));
  /* -1: no epoch validated yet */
  if (!(m->best_val_accuracy == -1 || (m->best_val_accuracy >= 0 && m->best_val_accuracy <= 1)))
    return meta_range(path, "clnet.best_val_accuracy", m->best_val_accuracy, "an accuracy in [0, 1], or -1");
  /* the training options and schedule state: absent in files from before them (the seed's recipe) */
  m->best_val_loss = m->plateau_best = NAN;
  s = clnet_st_meta(f, "clnet.train");
  if (s) {
    if (strlen(s) >= sizeof m->train)
      return clnet_set_error(CLNET_ERR_FORMAT, "%s: metadata 'clnet.train' is longer than %zu bytes", path, sizeof m->train - 1);
    snprintf(m->train, sizeof m->train, "%s", s);
  }
  s = clnet_st_meta(f, "clnet.train_state");
  if (s) {
    char b1[40], b2[40];
    if (sscanf(s, "best_val_loss=%39s plateau_best=%39s plateau_bad=%d plateau_reductions=%d stale_epochs=%d", b1, b2,
               &m->plateau_bad, &m->plateau_reductions, &m->stale_epochs) != 5 ||
        m->plateau_bad < 0 || m->plateau_reductions < 0 || m->stale_epochs < 0)
      return clnet_set_error(CLNET_ERR_FORMAT, "%s: metadata 'clnet.train_state' is malformed", path);
    m->best_val_loss = strtod(b1, NULL);
    m->plateau_best = strtod(b2, NULL);
  }
  const char *ms = clnet_st_meta(f, "clnet.norm_mean"), *ss = clnet_st_meta(f, "clnet.norm_std");
  if (!ms || !ss) return clnet_set_error(CLNET_ERR_FORMAT, "%s: normalisation metadata missing", path);
  for (int32_t c = 0; c < m->in_c; ++c) {
    char *e1 = NULL, *e2 = NULL;
    m->norm_mean[c] = strtof(ms, &e1);
    m->norm_std[c] = strtof(ss, &e2);
    if (e1 == ms || e2 == ss || !isfinite(m->norm_mean[c]) || !(m->norm_std[c] > 0) || !isfinite(m->norm_std[c]))
      return clnet_set_error(CLNET_ERR_FORMAT, "%s: normalisation metadata malformed", path);
    ms = *e1 == ',' ? e1 + 1 : e1;
    ss = *e2 == ',' ? e2 + 1 : e2;
  }
  if (m->epoch < 0 || m->depth < 0 || m->width < 0 || m->classes < 1 || m->batch < 1)
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: configuration metadata out of range", path);
  /* the position inside the epoch: whole batches of `batch` images (a skipped step counts none) */
  if ((int64_t)m->batches_done * m->batch < m->epoch_seen || (m->batches_done == 0 && m->epoch_seen != 0))
    return clnet_set_error(CLNET_ERR_FORMAT,
                           "%s: metadata 'clnet.position' = %d batches and %lld images: more images than %d batches "
                           "of %d hold", path, m->batches_done, (long long)m->epoch_seen, m->batches_done, m->batch);
  /* a sum of cross-entropy losses over those images: >= 0, 0 for none */
  if (!isfinite(m->epoch_loss_sum) || m->epoch_loss_sum < 0 || (m->epoch_seen == 0 && m->epoch_loss_sum != 0))
    return meta_range(path, "clnet.epoch_loss_sum", m->epoch_loss_sum, "a sum of losses >= 0 over the images seen");
  /* a file from before network descriptions is a ResNet of this depth and width */
  if (!clnet_st_meta(f, "clnet.graph") && ((m->depth != 18 && m->depth != 34) || m->width < 1))
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: no network description (clnet.graph) and no ResNet depth/width", path);
  parse_model(f, m);
  return CLNET_SUCCESS;
}

clnet_status clnet_checkpoint_read_graph(const char *path, clnet_graph **out) {
  *out = NULL;
  clnet_st_file *f = NULL;
  CLNET_TRY(clnet_safetensors_read(path, &f));
  clnet_checkpoint_meta m;
  clnet_status st = parse_meta(f, path, &m);
  const char *text = clnet_st_meta(f, "clnet.graph");
  if (st == CLNET_SUCCESS && text) {
    st = clnet_graph_from_description(text, out);
    if (st != CLNET_SUCCESS) st = clnet_wrap_error(st, "%s: the network it holds", path);
  } else if (st == CLNET_SUCCESS) { /* a file from before descriptions: the seed's ResNet */
    const clnet_resnet_config rc = {.depth = m.depth, .width = m.width, .in_h = m.in_h, .in_w = m.in_w,
                                    .in_c = m.in_c, .classes = m.classes};
    st = clnet_resnet_build(&rc, out);
    if (st != CLNET_SUCCESS) st = clnet_wrap_error(st, "%s: ResNet-%d width %d", path, m.depth, m.width);
  }
  clnet_st_free(f);
  return st;
}

clnet_status clnet_checkpoint_read_meta(const char *path, clnet_checkpoint_meta *meta) {
  clnet_st_file *f = NULL;
  CLNET_TRY(clnet_safetensors_read(path, &f));
  clnet_status st = parse_meta(f, path, meta);
  clnet_st_free(f);
  return st;
}

/* A value a trained network cannot hold: NaN or Inf anywhere (the writer refuses them), a negative
 * BN moving variance or Adam second moment. Names the tensor and the element. */
static clnet_status check_values(const char *path, const char *name, const clnet_st_tensor *t, int32_t field) {
  int64_t n = 1;
  for (int32_t d = 0; d < t->ndim; ++d) n *= t->shape[d];
  const float *x = t->data;
  const size_t len = strlen(name), suffix = strlen(".moving_variance");
  const int non_negative = field == 2 || (len > suffix && !strcmp(name + len - suffix, ".moving_variance"));
  for (int64_t j = 0; j < n; ++j)
    if (!isfinite(x[j]) || (non_negative && x[j] < 0))
      return clnet_set_error(CLNET_ERR_FORMAT, "%s: tensor '%s'[%lld] is %g: %s", path, name, (long long)j,
                             (double)x[j], !isfinite(x[j]) ? "a checkpoint holds only finite values"
                             : field == 2 ? "Adam's second moments are >= 0" : "a variance is >= 0");
  return CLNET_SUCCESS;
}

/* Adam's step count: steps run, one per batch; more than 2^40 is no run's (and 2^63 - 1 would
 * overflow at the next step). */
#define MAX_ADAM_STEP ((int64_t)1 << 40)

clnet_status clnet_checkpoint_load(clnet_graph *g, const char *path, clnet_checkpoint_meta *meta) {
  clnet_st_file *f = NULL;
  CLNET_TRY(clnet_safetensors_read(path, &f));
  clnet_status st = parse_meta(f, path, meta);
  int32_t np = clnet_graph_param_count(g), expected = 1;
  static const char *prefix[3] = {"", "adam.m.", "adam.v."};
  static const clnet_param_field fields[3] = {CLNET_FIELD_VALUE, CLNET_FIELD_ADAM_M, CLNET_FIELD_ADAM_V};
  int64_t step = 0;
  /* validate everything (pass 0: every tensor, then the step and the count) before writing anything (pass 1) */
  for (int32_t pass = 0; pass < 2 && st == CLNET_SUCCESS; ++pass) {
    for (int32_t fi = 0; fi < 3 && st == CLNET_SUCCESS; ++fi)
      for (int32_t i = 0; i < np && st == CLNET_SUCCESS; ++i) {
        clnet_param_info info;
        clnet_graph_param_info(g, i, &info);
        if (fi > 0 && info.kind != CLNET_PARAM_TRAINABLE) continue;
        char name[200];
        snprintf(name, sizeof name, "%s%s", prefix[fi], info.name);
        const clnet_st_tensor *t = clnet_st_find(f, name);
        if (pass == 0) {
          ++expected;
          if (!t) {
            st = clnet_set_error(CLNET_ERR_MISMATCH, "%s: tensor '%s' is missing: the checkpoint does not match the model", path, name);
            break;
          }
          int same = t->dtype == CLNET_DTYPE_F32 && t->ndim == info.ndim;
          for (int32_t d = 0; same && d < info.ndim; ++d) same = t->shape[d] == info.shape[d];
          if (same) st = check_values(path, name, t, fi);
          if (!same) {
            char want[64] = "", got[64] = "";
            for (int32_t d = 0; d < info.ndim; ++d) snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", d ? "x" : "", (long long)info.shape[d]);
            for (int32_t d = 0; d < t->ndim && d < 8; ++d) snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "x" : "", (long long)t->shape[d]);
            st = clnet_set_error(CLNET_ERR_MISMATCH, "%s: tensor '%s' is %s %s, the model needs F32 %s", path, name,
                                 clnet_dtype_name(t->dtype), got, want);
          }
        } else {
          st = clnet_graph_param_write(g, i, fields[fi], t->data);
        }
      }
    if (pass == 0 && st == CLNET_SUCCESS) {
      const clnet_st_tensor *s = clnet_st_find(f, "adam.step");
      if (!s || s->dtype != CLNET_DTYPE_I64 || s->ndim != 1 || s->shape[0] != 1)
        st = clnet_set_error(CLNET_ERR_MISMATCH, "%s: tensor 'adam.step' (I64, shape [1]) is missing", path);
      else if (clnet_st_count(f) != expected)
        st = clnet_set_error(CLNET_ERR_MISMATCH, "%s: holds %d tensors, the model has %d: it is a different model", path,
                             clnet_st_count(f), expected);
      else {
        memcpy(&step, s->data, sizeof step);
        if (step < 0 || step > MAX_ADAM_STEP)
          st = clnet_set_error(CLNET_ERR_FORMAT, "%s: tensor 'adam.step' is %lld: a step count is in 0..2^40", path,
                               (long long)step);
      }
    }
  }
  if (st == CLNET_SUCCESS) clnet_graph_set_adam_step(g, step);
  clnet_st_free(f);
  return st;
}
