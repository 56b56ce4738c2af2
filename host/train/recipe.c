/* Training options (clnet_train_options): one table of every option, with its name as the CLI and
 * the checkpoint spell it, where it lives in the struct and its type. Setting from the command line,
 * formatting into a checkpoint's clnet.train, reading it back and comparing on --resume all go
 * through that table, so an option is added in one place. Also the recipes (presets). */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clnet/train.h"
#include "core/error.h"

typedef enum { T_ENUM, T_I32, T_I64, T_F32, T_F64, T_MILESTONES } opt_type;

typedef struct opt_spec {
  const char *name;    /* "weight-decay": --weight-decay on the command line, weight-decay= in clnet.train */
  opt_type type;
  size_t offset;       /* into clnet_train_options */
  const char *choices; /* T_ENUM: "adam|adamw|sgd", the value is the index (an int-sized enum) */
  double lo, hi;       /* numbers: the accepted closed range */
  const char *doc;
} opt_spec;

#define OFF(f) offsetof(clnet_train_options, f)
static const opt_spec specs[] = {
    {"optimizer", T_ENUM, OFF(opt.kind), "adam|adamw|sgd", 0, 0,
     "adam (Keras'), adamw (decoupled weight decay) or sgd (momentum, Nesterov)"},
    {"lr", T_F64, OFF(sched.lr), NULL, CLNET_TRAIN_LR_MIN, CLNET_TRAIN_LR_MAX, "the base (or peak, for cosine and onecycle) learning rate"},
    {"beta1", T_F32, OFF(opt.beta1), NULL, 0, 0.999999, "Adam, AdamW: first-moment decay"},
    {"beta2", T_F32, OFF(opt.beta2), NULL, 0, 0.99999999, "Adam, AdamW: second-moment decay"},
    {"eps", T_F32, OFF(opt.eps), NULL, 1e-30, 1, "Adam, AdamW: epsilon"},
    {"momentum", T_F32, OFF(opt.momentum), NULL, 0, 0.999999, "SGD: momentum"},
    {"nesterov", T_I32, OFF(opt.nesterov), NULL, 0, 1, "SGD: 1 for Nesterov momentum"},
    {"weight-decay", T_F32, OFF(opt.weight_decay), NULL, 0, 1, "AdamW, SGD: decoupled weight decay (p -= lr*wd*p)"},
    {"decay-all", T_I32, OFF(opt.decay_all), NULL, 0, 1, "1: decay BN parameters and biases too (default: kernels only)"},
    {"schedule", T_ENUM, OFF(sched.kind), "constant|step|cosine|onecycle|plateau", 0, 0,
     "the learning rate per step: constant, step (milestones), cosine (warm-up), onecycle (triangular), plateau"},
    {"min-lr", T_F64, OFF(sched.min_lr), NULL, 0, 1e6, "cosine, onecycle: the rate at the end"},
    {"warmup", T_I64, OFF(sched.warmup), NULL, 0, 100000, "cosine: epochs of linear warm-up"},
    {"milestones", T_MILESTONES, OFF(sched.milestones), NULL, 1, 1000000, "step: epochs where lr is multiplied by gamma"},
    {"gamma", T_F64, OFF(sched.gamma), NULL, 1e-9, 1, "step: the factor at each milestone"},
    {"pct-start", T_F64, OFF(sched.pct_start), NULL, 1e-9, 0.999999, "onecycle: the rising fraction of the run"},
    {"div-factor", T_F64, OFF(sched.div_factor), NULL, 1, 1e9, "onecycle: the first rate is lr / div-factor"},
    {"plateau-factor", T_F64, OFF(sched.factor), NULL, 1e-9, 1, "plateau: the factor of each reduction"},
    {"patience", T_I32, OFF(sched.patience), NULL, 0, 100000, "plateau: epochs without a better validation loss"},
    {"threshold", T_F64, OFF(sched.threshold), NULL, 0, 1, "plateau: the relative improvement that counts"},
    {"label-smoothing", T_F64, OFF(label_smoothing), NULL, 0, 0.999, "the loss's target (1-s)*onehot + s/classes"},
    {"bn-momentum", T_F64, OFF(bn_momentum), NULL, -1, 0.999999,
     "batch-norm moving averages, Keras' form (0.99 the seed's, 0.9 = PyTorch's 0.1); -1: the model's own"},
    {"flip", T_ENUM, OFF(flip), "none|random|alternate", 0, 0, "left-right flips of the training images: none, random or alternate (each epoch the other way)"},
    {"crop-pad", T_I32, OFF(crop_pad), NULL, 0, 64, "pad by P and crop at a random offset (translations by up to P)"},
    {"crop-mode", T_ENUM, OFF(crop_reflect), "zero|reflect", 0, 0, "the crop's padding: zero (black) or reflect (the mirrored image)"},
    {"cutout", T_I32, OFF(cutout), NULL, 0, 4096, "a random S x S square of every training image set to the mean"},
    {"tta", T_I32, OFF(tta), NULL, 0, 1, "1: validate on the mean logits of each image and its mirror"},
    {"ema", T_F64, OFF(ema_decay), NULL, 0, 0.999999, "> 0: a moving average of the weights with this decay per step"},
    {"early-stop", T_I32, OFF(early_stop), NULL, 0, 100000, "> 0: stop after this many epochs without a better monitor"},
    {"monitor", T_ENUM, OFF(monitor), "val_accuracy|val_loss", 0, 0,
     "val_accuracy or val_loss: what picks best.safetensors and early stopping"},
};
#undef OFF
#define N_SPECS ((int32_t)(sizeof specs / sizeof specs[0]))

int32_t clnet_train_option_count(void) { return N_SPECS; }
const char *clnet_train_option_name(int32_t i) { return i >= 0 && i < N_SPECS ? specs[i].name : NULL; }
const char *clnet_train_option_doc(int32_t i) { return i >= 0 && i < N_SPECS ? specs[i].doc : NULL; }

static const opt_spec *find_spec(const char *name) {
  for (int32_t i = 0; i < N_SPECS; ++i)
    if (!strcmp(specs[i].name, name)) return &specs[i];
  return NULL;
}

/* Index of `word` in "a|b|c", or -1. */
static int choice_index(const char *choices, const char *word) {
  int idx = 0;
  for (const char *c = choices; *c; ++idx) {
    const char *bar = strchr(c, '|');
    size_t n = bar ? (size_t)(bar - c) : strlen(c);
    if (strlen(word) == n && !strncmp(c, word, n)) return idx;
    if (!bar) break;
    c = bar + 1;
  }
  return -1;
}

static void choice_word(const char *choices, int idx, char *dst, size_t cap) {
  const char *c = choices;
  for (int i = 0; i < idx && c; ++i) c = strchr(c, '|') ? strchr(c, '|') + 1 : NULL;
  const char *bar = c ? strchr(c, '|') : NULL;
  snprintf(dst, cap, "%.*s", c ? (int)(bar ? (size_t)(bar - c) : strlen(c)) : 0, c ? c : "?");
}

static int parse_num(const char *s, double *out) {
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end || errno == ERANGE || !isfinite(v)) return 0;
  *out = v;
  return 1;
}

clnet_status clnet_train_options_set(clnet_train_options *o, const char *name, const char *value) {
  const opt_spec *sp = find_spec(name);
  if (!sp) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "no training option '%s'", name);
  unsigned char *base = (unsigned char *)o + sp->offset;
  if (sp->type == T_ENUM) {
    int idx = choice_index(sp->choices, value);
    if (idx < 0) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "--%s must be one of %s, got '%s'", name, sp->choices, value);
    int v = idx;
    memcpy(base, &v, sizeof v);
    return CLNET_SUCCESS;
  }
  if (sp->type == T_MILESTONES) {
    clnet_lr_schedule parsed = o->sched, *s = &parsed; /* o changes only when all of it parses */
    s->n_milestones = 0;
    for (const char *p = value; *p;) {
      char word[32];
      const char *comma = strchr(p, ',');
      size_t n = comma ? (size_t)(comma - p) : strlen(p);
      double v;
      snprintf(word, sizeof word, "%.*s", (int)(n < 31 ? n : 31), p);
      if (s->n_milestones == CLNET_LR_MAX_MILESTONES || n == 0 || n > 30 || !parse_num(word, &v) || v != floor(v) ||
          v < sp->lo || v > sp->hi || (s->n_milestones && v <= (double)s->milestones[s->n_milestones - 1]))
        return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                               "--%s must be up to %d ascending epochs >= 1 separated by commas, got '%s'", name,
                               CLNET_LR_MAX_MILESTONES, value);
      s->milestones[s->n_milestones++] = (int64_t)v;
      if (!comma) break;
      p = comma + 1;
    }
    o->sched = parsed;
    return CLNET_SUCCESS;
  }
  double v;
  if (!parse_num(value, &v))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "--%s must be a number, got '%s'", name, value);
  const int integral = sp->type == T_I32 || sp->type == T_I64;
  if ((integral && v != floor(v)) || v < sp->lo || v > sp->hi)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "--%s must be %s in [%g, %g], got '%s'", name,
                           integral ? "an integer" : "a number", sp->lo, sp->hi, value);
  if (sp->type == T_F32 && v != 0 && fabs((double)(float)v) < 1e-37)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "--%s %s is below what single precision holds", name, value);
  if (sp->type == T_I32) {
    int32_t x = (int32_t)v;
    memcpy(base, &x, sizeof x);
  } else if (sp->type == T_I64) {
    int64_t x = (int64_t)v;
    memcpy(base, &x, sizeof x);
  } else if (sp->type == T_F32) {
    float x = (float)v;
    memcpy(base, &x, sizeof x);
  } else {
    memcpy(base, &v, sizeof v);
  }
  return CLNET_SUCCESS;
}

/* The shortest text that reads back to exactly v (as a double, or as a float when single). */
static void shortest(char *dst, size_t cap, double v, int single) {
  for (int prec = 1; prec <= 17; ++prec) {
    snprintf(dst, cap, "%.*g", prec, v);
    const double back = strtod(dst, NULL);
    if (single ? (float)back == (float)v : back == v) return;
  }
}

static void format_value(const clnet_train_options *o, const opt_spec *sp, char *dst, size_t cap) {
  const unsigned char *base = (const unsigned char *)o + sp->offset;
  int i32;
  int64_t i64;
  float f;
  double d;
  switch (sp->type) {
  case T_ENUM:
    memcpy(&i32, base, sizeof i32);
    choice_word(sp->choices, i32, dst, cap);
    break;
  case T_I32:
    memcpy(&i32, base, sizeof i32);
    snprintf(dst, cap, "%d", i32);
    break;
  case T_I64:
    memcpy(&i64, base, sizeof i64);
    snprintf(dst, cap, "%lld", (long long)i64);
    break;
  case T_F32:
    memcpy(&f, base, sizeof f);
    shortest(dst, cap, (double)f, 1);
    break;
  case T_F64:
    memcpy(&d, base, sizeof d);
    shortest(dst, cap, d, 0);
    break;
  case T_MILESTONES: {
    size_t used = 0;
    dst[0] = '\0';
    for (int32_t k = 0; k < o->sched.n_milestones && used < cap; ++k) {
      int w = snprintf(dst + used, cap - used, "%s%lld", k ? "," : "", (long long)o->sched.milestones[k]);
      used += w > 0 ? (size_t)w : 0;
    }
    if (!o->sched.n_milestones) snprintf(dst, cap, "none");
    break;
  }
  }
}

clnet_status clnet_train_option_value(const clnet_train_options *o, const char *name, char *dst, size_t cap) {
  const opt_spec *sp = find_spec(name);
  if (!sp) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "no training option '%s'", name);
  format_value(o, sp, dst, cap);
  return CLNET_SUCCESS;
}

void clnet_train_options_format(const clnet_train_options *o, char *dst, size_t cap) {
  size_t used = 0;
  if (cap) dst[0] = '\0';
  for (int32_t i = 0; i < N_SPECS && used < cap; ++i) {
    char v[200];
    format_value(o, &specs[i], v, sizeof v);
    int w = snprintf(dst + used, cap - used, "%s%s=%s", i ? " " : "", specs[i].name, v);
    used += w > 0 ? (size_t)w : 0;
  }
}

clnet_status clnet_train_options_parse(const char *text, clnet_train_options *out) {
  clnet_train_options o;
  CLNET_TRY(clnet_train_recipe("seed", 1, &o)); /* options a file does not name keep the seed's */
  for (const char *p = text ? text : ""; *p;) {
    while (*p == ' ') ++p;
    if (!*p) break;
    const char *sp = strchr(p, ' ');
    size_t n = sp ? (size_t)(sp - p) : strlen(p);
    char word[256], *eq;
    snprintf(word, sizeof word, "%.*s", (int)(n < 255 ? n : 255), p);
    if (!(eq = strchr(word, '='))) return clnet_set_error(CLNET_ERR_FORMAT, "training options: '%s' is not name=value", word);
    *eq = '\0';
    if (!strcmp(word, "milestones") && !strcmp(eq + 1, "none")) o.sched.n_milestones = 0;
    else {
      clnet_status st = clnet_train_options_set(&o, word, eq + 1);
      if (st != CLNET_SUCCESS) return clnet_wrap_error(st, "training options");
    }
    p += n;
  }
  CLNET_TRY(clnet_train_options_check(&o));
  *out = o;
  return CLNET_SUCCESS;
}

const char *clnet_train_options_diff(const clnet_train_options *a, const clnet_train_options *b) {
  for (int32_t i = 0; i < N_SPECS; ++i) {
    char va[200], vb[200];
    format_value(a, &specs[i], va, sizeof va);
    format_value(b, &specs[i], vb, sizeof vb);
    if (strcmp(va, vb)) return specs[i].name;
  }
  return NULL;
}

clnet_status clnet_train_options_check(const clnet_train_options *o) {
  for (int32_t i = 0; i < N_SPECS; ++i) { /* every number in its range (a struct filled in C, not by set) */
    const opt_spec *sp = &specs[i];
    const unsigned char *base = (const unsigned char *)o + sp->offset;
    double v = 0;
    int i32;
    int64_t i64;
    float f;
    if (sp->type == T_ENUM) {
      memcpy(&i32, base, sizeof i32);
      int n = 1;
      for (const char *c = sp->choices; *c; ++c) n += *c == '|';
      if (i32 < 0 || i32 >= n)
        return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "--%s is %d, must be one of %s", sp->name, i32, sp->choices);
      continue;
    }
    if (sp->type == T_MILESTONES) continue;
    if (sp->type == T_I32) memcpy(&i32, base, sizeof i32), v = i32;
    else if (sp->type == T_I64) memcpy(&i64, base, sizeof i64), v = (double)i64;
    else if (sp->type == T_F32) memcpy(&f, base, sizeof f), v = f;
    else memcpy(&v, base, sizeof v);
    if (!(v >= sp->lo && v <= sp->hi))
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "--%s is %g, must lie in [%g, %g]", sp->name, v, sp->lo, sp->hi);
  }
  if (o->opt.kind == CLNET_OPTIMIZER_ADAM && o->opt.weight_decay != 0)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "--weight-decay %g needs --optimizer adamw or sgd (Keras' Adam has none)", (double)o->opt.weight_decay);
  if (o->opt.kind != CLNET_OPTIMIZER_SGD && (o->opt.nesterov || o->opt.momentum != 0))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "--momentum and --nesterov are SGD's: add --optimizer sgd");
  if (o->opt.nesterov && !(o->opt.momentum > 0))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "--nesterov 1 needs --momentum > 0");
  if (o->sched.min_lr > o->sched.lr)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "--min-lr %g is above --lr %g", o->sched.min_lr, o->sched.lr);
  if (o->sched.kind == CLNET_LR_STEP && !o->sched.n_milestones)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "--schedule step needs --milestones E1,E2,...");
  if (o->bn_momentum < 0 && o->bn_momentum != -1)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "--bn-momentum %g: must be in [0, 1), or -1 for the model's own",
                           o->bn_momentum);
  return CLNET_SUCCESS;
}

clnet_status clnet_train_recipe(const char *name, int32_t epochs, clnet_train_options *out) {
  clnet_train_options o;
  memset(&o, 0, sizeof o);
  if (!name) name = "seed";
  if (!strcmp(name, "seed")) { /* SPEC: Keras Adam(1e-3), constant, random flips, BN momentum 0.99 */
    o.opt = (clnet_optimizer){.kind = CLNET_OPTIMIZER_ADAM, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-7f};
    o.sched = clnet_lr_schedule_default(CLNET_LR_CONSTANT, 1e-3);
    o.bn_momentum = -1;
    o.flip = CLNET_FLIP_RANDOM;
  } else if (!strcmp(name, "fast")) {
    /* docs/TRAINING.md: Nesterov SGD with decoupled weight decay under a one-cycle schedule, label
     * smoothing, 2-pixel translations, alternating flips and flip TTA, PyTorch's BN momentum */
    o.opt = (clnet_optimizer){.kind = CLNET_OPTIMIZER_SGD, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-7f,
                              .momentum = 0.9f, .nesterov = 1, .weight_decay = 5e-4f};
    o.sched = clnet_lr_schedule_default(CLNET_LR_ONECYCLE, 0.2);
    o.sched.pct_start = epochs > 2 ? 0.25 : 0.3;
    o.label_smoothing = 0.1;
    o.bn_momentum = 0.9;
    o.flip = CLNET_FLIP_ALTERNATE;
    o.crop_pad = 2;
    o.tta = 1;
  } else {
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "recipe '%s': must be seed or fast", name);
  }
  *out = o;
  return CLNET_SUCCESS;
}
