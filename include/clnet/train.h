/* Training: the seed's model.fit — Adam, softmax cross-entropy, validation on
 * the test split after every epoch, history.csv, curves.png, checkpoints. */
#ifndef CLNET_TRAIN_H
#define CLNET_TRAIN_H

#include "clnet/data.h"
#include "clnet/dist.h"
#include "clnet/graph.h"
#include "clnet/io.h"
#include "clnet/schedule.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CLNET_DEFAULT_DATA_DIR "/usr/share/datasets/fashion-mnist"

enum {
  CLNET_ON_NAN_STOP = 0, /* stop before the update, name the layer; the last checkpoint stays intact */
  CLNET_ON_NAN_SKIP = 1, /* undo the step's BN statistics, skip its update, report it, go on */
};

/* How a run trains (host/train/recipe.c): the optimizer, its learning-rate schedule, regularisation
 * and augmentation. Stored in every checkpoint (clnet.train) so that --resume continues with the same
 * options. `clnet_train_recipe("seed")` is the seed's model.fit exactly; "fast" is the recipe tuned
 * for time-to-accuracy (docs/TRAINING.md). */
typedef enum clnet_flip_mode {
  CLNET_FLIP_NONE = 0,
  CLNET_FLIP_RANDOM = 1,    /* each image of each epoch with probability 1/2 (the seed's) */
  CLNET_FLIP_ALTERNATE = 2, /* random in epoch 0, then every image the other way each epoch */
} clnet_flip_mode;

typedef enum clnet_monitor {
  CLNET_MONITOR_VAL_ACCURACY = 0, /* best.safetensors, early stopping: the highest validation accuracy */
  CLNET_MONITOR_VAL_LOSS = 1,     /* the lowest validation loss */
} clnet_monitor;

typedef struct clnet_train_options {
  clnet_optimizer opt;      /* kind, betas, eps, momentum, nesterov, weight decay (opt.lr is unused) */
  clnet_lr_schedule sched;  /* the learning rate of every step (sched.lr: base or peak rate); here
                               warmup and milestones count epochs (the run converts them to steps) */
  double label_smoothing;   /* 0..1: the loss layer's target (1-s)*onehot + s/K; 0 off */
  double bn_momentum;       /* Keras' form (moving = m*moving + (1-m)*batch; PyTorch's 0.1 is 0.9);
                               < 0: the model's own (the seed's 0.99) */
  int32_t flip;             /* clnet_flip_mode */
  int32_t crop_pad;         /* P > 0: pad every side by P, then a random crop back to H x W */
  int32_t crop_reflect;     /* the padding: 1 reflects the image, 0 is black (pixel value 0) */
  int32_t cutout;           /* S > 0: a random S x S square (clipped at the borders) set to the mean */
  int32_t tta;              /* validation: the mean of the logits of each image and its mirror */
  double ema_decay;         /* > 0: a moving average of the weights, validated and kept as ema.safetensors */
  int32_t early_stop;       /* > 0: stop after this many epochs without a better `monitor` */
  int32_t monitor;          /* clnet_monitor */
} clnet_train_options;

/* Presets: "seed" (Keras Adam at lr 1e-3, constant, random flips, the model's BN momentum) and "fast"
 * (for a run of `epochs` epochs: Nesterov SGD, one-cycle, label smoothing, crops, alternating flips,
 * flip TTA). INVALID_ARGUMENT names the recipes for an unknown name. */
clnet_status clnet_train_recipe(const char *name, int32_t epochs, clnet_train_options *out);
/* Checks every field's range; errors name the option as the CLI spells it. */
clnet_status clnet_train_options_check(const clnet_train_options *o);
/* One line of "name=value" words (the CLI's flag names without "--"); parse reads it back
 * exactly (the checkpoint's clnet.train). */
void clnet_train_options_format(const clnet_train_options *o, char *dst, size_t cap);
clnet_status clnet_train_options_parse(const char *text, clnet_train_options *out);
/* Sets option `name` (as the CLI spells it without "--": "weight-decay") from its text, checking its
 * range; errors name the flag. */
clnet_status clnet_train_options_set(clnet_train_options *o, const char *name, const char *value);
/* Option `name`'s value as text (as format writes it). */
clnet_status clnet_train_option_value(const clnet_train_options *o, const char *name, char *dst, size_t cap);
/* The options, for listings (--help). */
int32_t clnet_train_option_count(void);
const char *clnet_train_option_name(int32_t i);
const char *clnet_train_option_doc(int32_t i);
/* The first option where a and b differ ("optimizer", "lr", ...), or NULL when equal. */
const char *clnet_train_options_diff(const clnet_train_options *a, const clnet_train_options *b);

/* The learning rates a run takes: a float holds them (no rounding to 0, no overflow) */
#define CLNET_TRAIN_LR_MIN 1e-10
#define CLNET_TRAIN_LR_MAX 1e6
#define CLNET_TRAIN_MAX_SKIPPED 0.1

typedef struct clnet_train_config {
  const char *data_dir; /* NULL: CLNET_DEFAULT_DATA_DIR */
  const char *out_dir;  /* history.csv, curves.png, last.safetensors, best.safetensors */
  int32_t epochs;       /* total epochs of the run (resume continues up to it) */
  int32_t batch;        /* 256 in the seed */
  /* The network: `build` when set (a graph of the caller's: its own layers, an imported ONNX model),
   * else the zoo model `model` ("resnet18" when NULL; depth 34 picks "resnet34") at `width` (0: the
   * model's default) for the data's image shape and classes. */
  const char *model;
  clnet_status (*build)(void *user, const clnet_model_config *cfg, clnet_graph **out);
  /* NULL, or called on each replica's graph after it is set up and initialised (before a resume
   * loads its checkpoint): the caller's starting weights (an imported model's initializers). */
  clnet_status (*init)(void *user, clnet_graph *g);
  void *build_user; /* for build and init */
  int32_t depth, width; /* ResNet depth (18 or 34; used when model is NULL), base channels */
  double lr;            /* Adam learning rate, 1e-3 (when opts is NULL) */
  const clnet_train_options *opts; /* NULL: the seed's recipe at lr */
  int32_t resume_new_options; /* resume with opts even where they differ from the checkpoint's
                                 (saying what changed); 0: such a resume is refused */
  uint64_t seed;        /* weights, shuffle and flips */
  int32_t resume;       /* continue from out_dir/last.safetensors */
  int32_t overwrite;    /* out_dir may hold a previous run: remove its files (else that is refused) */
  int32_t max_batches;  /* > 0: stop each epoch after this many training batches (for tests) */
  int32_t max_eval;     /* > 0: validate on at most this many test images (for tests) */
  int32_t stop_after;   /* > 0: behave as if a stop was requested after this many steps (for tests) */
  int32_t on_nan;       /* a step whose loss or gradients are NaN/Inf: CLNET_ON_NAN_STOP or _SKIP */
  double max_skipped;   /* with _SKIP: the run fails once more than this share of its steps (0..1] were
                           skipped (0: CLNET_TRAIN_MAX_SKIPPED, 10 %); an epoch with no step fails too */
  /* data parallelism (clnet_train_run_parallel) */
  const double *shares;    /* relative share of each device of a batch; NULL: equal on equal devices,
                              measured speed otherwise */
  int32_t verify_replicas; /* after every step, check every replica holds identical weights (slow) */
  const char *step_log;    /* if set, rank 0 writes one CSV line per step: epoch,batch,step,loss,accuracy,images */
  const clnet_image_options *images; /* image folders: input size, crop, cache, ... (NULL: defaults) */
} clnet_train_config;

typedef struct clnet_train_progress {
  int32_t epoch, epochs;    /* 1-based epoch */
  int32_t batch, batches;   /* batches done / in this epoch */
  double loss, accuracy;    /* running means over the epoch so far */
  /* training images/s and the seconds left in this epoch, measured from the end of the run's
   * first step (kernel builds and, on a first run on a device, the choice of algorithms land
   * there); -1 until two steps after it are timed */
  double images_per_s, eta_s;
  double first_step_s;      /* the run's first step took this long (set from then on; 0 before) */
  int32_t phase;            /* 0 training, 1 validating */
} clnet_train_progress;

typedef struct clnet_train_callbacks {
  /* Called after every training batch (and once when validation starts). */
  void (*progress)(const clnet_train_progress *p, void *user);
  /* Called after every epoch with its record. */
  void (*epoch_end)(const clnet_epoch_record *r, int32_t is_best, void *user);
  /* Called once before training with a description of the run (model, data, memory). */
  void (*info)(const char *line, void *user);
  /* Polled between batches: non-zero asks the run to save and stop. */
  int (*should_stop)(void *user);
  void *user;
} clnet_train_callbacks;

typedef struct clnet_train_summary {
  int32_t epochs_done;
  double final_val_accuracy, best_val_accuracy, seconds;
  int32_t early_stopped; /* the run stopped early (final_val_accuracy: the best epoch's, whose weights it ends on) */
} clnet_train_summary;

clnet_status clnet_train_run(clnet_ctx *ctx, const clnet_train_config *cfg, const clnet_train_callbacks *cb,
                             clnet_train_summary *summary);
/* Data-parallel training (clnet/dist.h): one replica per context (a context may appear twice:
 * two replicas on one device), and across the ranks of `comm` (NULL: one process). Every rank
 * calls it with the same cfg; rank 0 alone calls the callbacks (but should_stop, polled on
 * every rank) and writes the output directory. Images/s count the whole job. */
clnet_status clnet_train_run_parallel(clnet_ctx *const *ctxs, int32_t n_ctx, clnet_comm *comm,
                                      const clnet_train_config *cfg, const clnet_train_callbacks *cb,
                                      clnet_train_summary *summary);

/* --- checkpoints (safetensors; docs/CHECKPOINTS.md) --- */
typedef struct clnet_checkpoint_meta {
  int32_t epoch;               /* epochs completed */
  int32_t depth, width, in_h, in_w, in_c, classes, batch; /* depth: ResNet-18/34's, 0 for another model */
  char model[64];              /* the zoo model's name, or "custom" (clnet.model) */
  double lr, best_val_accuracy; /* best_val_accuracy: of the epoch best.safetensors holds */
  double best_val_loss;        /* that epoch's validation loss (NaN in older files) */
  char train[512];             /* the run's options (clnet_train_options_format; "" in older files) */
  /* reduce-on-plateau and early stopping: the best validation loss and the epochs since it
   * improved, the reductions so far; the epochs since `monitor` improved */
  double plateau_best;
  int32_t plateau_bad, plateau_reductions, stale_epochs;
  uint64_t seed;
  float norm_mean[CLNET_MAX_CHANNELS], norm_std[CLNET_MAX_CHANNELS]; /* the first in_c are used */
  /* Position inside epoch `epoch` (0-based) when the run stopped mid-epoch
   * (Ctrl-C): batches done and the running sums behind loss and accuracy.
   * All zero at an epoch boundary. */
  int32_t batches_done;
  double epoch_loss_sum;      /* sum over the done batches of loss * images */
  int64_t epoch_correct, epoch_seen;
  /* Saving: the class names (`classes` of them; image folders), written as clnet.class_names;
   * NULL: none. Reading leaves it NULL: clnet_checkpoint_read_class_names. */
  const char *const *class_names;
} clnet_checkpoint_meta;

/* Writes every parameter, BN statistic, Adam moment and the Adam step, with
 * `meta` in __metadata__, atomically. */
clnet_status clnet_checkpoint_save(clnet_graph *g, const clnet_checkpoint_meta *meta, const char *path);
/* The network a checkpoint holds (its description, clnet.graph; for files from before
 * descriptions, the seed's ResNet of clnet.depth and clnet.width), not set up, without its
 * weights: set it up, then clnet_checkpoint_load. */
clnet_status clnet_checkpoint_read_graph(const char *path, clnet_graph **out);
/* Reads only the metadata (to build the right model first). */
clnet_status clnet_checkpoint_read_meta(const char *path, clnet_checkpoint_meta *meta);
/* The class names a checkpoint holds (clnet.class_names, a JSON array of `classes` strings):
 * *names a malloc'd array of *n malloc'd strings (free with clnet_class_names_free), or
 * NULL and 0 when it has none (CIFAR-10, IDX). Errors: CLNET_ERR_FORMAT when malformed. */
clnet_status clnet_checkpoint_read_class_names(const char *path, char ***names, int32_t *n);
void clnet_class_names_free(char **names, int32_t n);
/* Loads into a set-up graph; every tensor must match the model by name and shape. */
clnet_status clnet_checkpoint_load(clnet_graph *g, const char *path, clnet_checkpoint_meta *meta);

/* --- evaluation --- */
typedef struct clnet_eval_result {
  double loss, accuracy;
  int32_t classes, count;
  int64_t *confusion; /* (classes, classes): row = true label, column = prediction; free() it */
} clnet_eval_result;

/* Inference-mode pass over a data set in batches (uses the graph's max batch). */
clnet_status clnet_evaluate_dataset(clnet_graph *g, const clnet_dataset *ds, const float *mean, const float *std,
                                    int32_t limit, clnet_eval_result *out);
/* The same with test-time augmentation when tta: each image's logits are the mean of its own and
 * its mirror's, and the loss (softmax cross-entropy with label smoothing `smoothing`, as the
 * graph's loss computes it) and the predictions come from that mean. */
clnet_status clnet_evaluate_dataset_tta(clnet_graph *g, const clnet_dataset *ds, const float *mean, const float *std,
                                        int32_t limit, int32_t tta, double smoothing, clnet_eval_result *out);

#ifdef __cplusplus
}
#endif
#endif
