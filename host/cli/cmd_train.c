/* clnet train and clnet eval. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "clnet/train.h"

static volatile sig_atomic_t stop_requested = 0;
/* First Ctrl-C (or SIGTERM, SIGUSR1): finish the step, save, exit. A second one ends the
 * process at once. mpirun turns a Ctrl-C or SIGTERM into SIGTERM to every rank (and SIGKILL
 * some seconds later), and batch schedulers send SIGTERM before killing a job. */
static void on_stop_signal(int sig) {
  stop_requested = 1;
  signal(sig, SIG_DFL);
}

typedef struct {
  int tty;
  double last_print;
  int32_t last_epoch;
  int32_t algos_timed;   /* (shape, pass) pairs AUTO has timed in this run (on_algo_progress) */
  int first_step_said;
  clnet_ctx *const *profiled; /* --profile: the contexts whose profile each epoch prints, else NULL */
  int32_t n_profiled;
} progress_state;

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_time(char *dst, size_t cap, double s) {
  if (!isfinite(s) || s < 0) s = 0;
  int t = (int)(s + 0.5);
  if (t >= 3600) snprintf(dst, cap, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
  else snprintf(dst, cap, "%d:%02d", t / 60, t % 60);
}

/* A first run on a device times the algorithms of every layer shape before its first step: say so,
 * once (and, on a terminal, which shape it is at), so that the wait is explained. */
static void on_algo_progress(void *user, const char *what) {
  progress_state *s = user;
  if (s->algos_timed++ == 0 && !s->tty)
    printf("first run on this device: timing the convolution and dense-layer algorithms of every layer shape "
           "(remembered for later runs)...\n");
  if (s->tty) printf("\r\033[Kchoosing algorithms (first run on this device), %d: %s", s->algos_timed, what);
  fflush(stdout);
}

/* " 812 img/s ETA 1:24", or "" while they mean nothing yet (the first steps). */
static void fmt_rate(char *dst, size_t cap, const clnet_train_progress *p) {
  char eta[32];
  fmt_time(eta, sizeof eta, p->eta_s);
  if (p->images_per_s >= 0 && p->eta_s >= 0) snprintf(dst, cap, " %.0f img/s ETA %s", p->images_per_s, eta);
  else if (p->first_step_s > 0) snprintf(dst, cap, " (first step %.1f s)", p->first_step_s);
  else dst[0] = '\0';
}

static void on_progress(const clnet_train_progress *p, void *user) {
  progress_state *s = user;
  double now = mono();
  char rate[64];
  fmt_rate(rate, sizeof rate, p);
  if (!s->first_step_said && p->first_step_s > 0) {
    s->first_step_said = 1;
    if (s->tty) printf("\r\033[K");
    if (s->algos_timed)
      printf("chose the algorithms of %d layer shapes and passes during the first step (%.1f s)\n", s->algos_timed,
             p->first_step_s);
  }
  if (p->phase == 1) {
    if (s->tty) printf("\r\033[K");
    if (s->tty) printf("epoch %d/%d: validating...", p->epoch, p->epochs);
    fflush(stdout);
    return;
  }
  if (s->tty) {
    int width = 28, filled = p->batches ? (int)((double)p->batch / p->batches * width) : 0;
    char bar[64];
    for (int i = 0; i < width; ++i) bar[i] = i < filled ? '=' : (i == filled ? '>' : '.');
    bar[width] = '\0';
    printf("\r\033[Kepoch %d/%d [%s] %d/%d loss %.4f acc %.4f%s", p->epoch, p->epochs, bar, p->batch, p->batches,
           p->loss, p->accuracy, rate);
    fflush(stdout);
  } else if (p->batch == 1 || p->batch == p->batches || now - s->last_print >= 30 || s->last_epoch != p->epoch) {
    printf("epoch %d/%d batch %d/%d loss %.4f acc %.4f%s\n", p->epoch, p->epochs, p->batch, p->batches, p->loss,
           p->accuracy, rate);
    fflush(stdout);
    s->last_print = now;
    s->last_epoch = p->epoch;
  }
}

static void on_epoch(const clnet_epoch_record *r, int32_t is_best, void *user) {
  progress_state *s = user;
  if (s->tty) printf("\r\033[K");
  printf("epoch %d: loss %.4f accuracy %.4f val_loss %.4f val_accuracy %.4f %.1f s %.0f img/s%s\n", r->epoch, r->loss,
         r->accuracy, r->val_loss, r->val_accuracy, r->seconds, r->images_per_s, is_best ? " (best)" : "");
  for (int32_t i = 0; i < s->n_profiled; ++i) {
    if (s->n_profiled > 1) printf("device %d: ", (int)i);
    printf("epoch %d, training and validation: ", r->epoch);
    clnet_status st = cli_print_profile(s->profiled[i], 0, 0, 15);
    if (st != CLNET_SUCCESS) cli_fail(st, "train --profile");
    clnet_profile_reset(s->profiled[i]);
  }
  fflush(stdout);
}

static void on_info(const char *line, void *user) {
  (void)user;
  cli_put_safe(stdout, line, 0); /* it names the data directory */
  printf("\n");
  fflush(stdout);
}

static int on_should_stop(void *user) {
  (void)user;
  return stop_requested;
}

static void train_usage(FILE *f) {
  fprintf(f,
          "usage: clnet train [--device D[,D...]] [--data DIR] [--epochs N] [--batch B] [--seed S]\n"
          "                   [--model NAME|FILE.onnx [--init model|random]] [--depth 18|34] [--width W] [--out DIR]\n"
          "                   [--resume|--overwrite] [--on-nan stop|skip] [--recipe seed|fast] [--OPTION VALUE ...]\n"
          "                   [--profile]\n"
          "       mpirun -np N clnet train ...   (data parallel over N processes)\n"
          "Trains a zoo model (default: the seed's ResNet-18 at width 16) with softmax cross-entropy,\n"
          "validating on the test split after every epoch.\n"
          "  --model NAME  resnet18, resnet34, resnet50, vgg11, mobilenet_v2, lenet (clnet models), or\n"
          "                FILE.onnx: a network exported from PyTorch or Keras (docs/ONNX.md), its\n"
          "                initializers the starting weights (--init random: Keras' initialisation)\n"
          "  --data DIR    CIFAR-10 binary files, IDX files (MNIST, Fashion-MNIST, .gz or not) or an\n"
          "                image folder of PNG/JPEG files (below); default %s\n"
          "  --epochs N    epochs (default 3)        --batch B  images per step (default 256)\n"
          "  --seed S      weights, shuffle and augmentation (default 1)\n"
          "  --depth D     18 or 34 (ResNet; default 18) --width W  base channels (ResNet default 16, the seed's\n"
          "                64; other models: their own, clnet models)\n"
          "  --out DIR     history.csv, curves.png, last/best.safetensors (default runs/latest)\n"
          "  --resume      continue from DIR/last.safetensors\n"
          "  --overwrite   DIR holds a previous run: remove it and start afresh (without --resume or\n"
          "                --overwrite such a DIR is refused; so is a DIR another run is using)\n"
          "  --algo A      convolution algorithm: auto (default: timed per layer shape at first use,\n"
          "                remembered in the cache directory), gemm (im2col + CLBlast), direct,\n"
          "                winograd, winograd4 (F(2x2) / F(4x4) Winograd, 3x3 stride-1 convs; auto\n"
          "                elsewhere), depthwise (depthwise convs; auto elsewhere) or rule\n"
          "  --dense-algo A  the dense layer's GEMMs: auto (default: timed per shape and pass at first\n"
          "                use, remembered in the cache directory), clblast, clnet (clnet's own kernel)\n"
          "                or rule\n"
          "  --on-nan M    a step whose loss or gradients are NaN/Inf: stop (default: stop before\n"
          "                the update, name the layer) or skip (undo its BN statistics, skip its\n"
          "                update, report it, go on). Checkpoints never hold NaN or Inf.\n"
          "  --max-skipped S  with --on-nan skip: fail once more than this share of the run's steps\n"
          "                were skipped (default 0.1); an epoch whose every step is skipped fails\n"
          "  --device L    a comma-separated list trains data-parallel, one replica per entry\n"
          "                (an entry may repeat: two replicas on one device). Under mpirun the\n"
          "                entries are dealt to the ranks of each machine by local rank.\n"
          "  --shares L    relative share of each device of a batch, e.g. 3,1 (default: equal\n"
          "                for equal devices, measured speed otherwise)\n"
          "  --verify-replicas  check after every step that all replicas hold identical weights\n"
          "  --step-log F  write epoch,batch,step,loss,accuracy,images per step to F (CSV)\n"
          "  --profile     after every epoch, the device time of its commands (training and\n"
          "                validation) by kernel and by op, from OpenCL events (also CLNET_PROFILE=1)\n"
          "Ctrl-C or SIGTERM (to clnet, or to mpirun for a whole MPI job)\n"
          "finishes the current step, saves DIR/last.safetensors and exits with\n"
          "status 130; --resume then continues from that step exactly.\n"
          "The defaults are a quick run that finishes in minutes on a CPU; the seed's\n"
          "configuration is --recipe seed --width 64 --epochs 500 on CIFAR-10.\n"
          "\n"
          "Training options (docs/TRAINING.md). --recipe fast (the default): Nesterov SGD, one-cycle,\n"
          "label smoothing, crops, alternating flips, flip TTA; --recipe seed is the seed's model.fit:\n"
          "Keras Adam at --lr 1e-3, constant, random flips. A run prints its options; flags\n"
          "override the recipe; checkpoints keep them, and --resume continues with them.\n",
          CLNET_DEFAULT_DATA_DIR);
  for (int32_t k = 0; k < clnet_train_option_count(); ++k)
    fprintf(f, "  --%-16s %s\n", clnet_train_option_name(k), clnet_train_option_doc(k));
  cli_image_flags_usage(f, 1);
}

#define MAX_TRAIN_DEVICES 64

/* The contexts of the replicas: one per distinct selector; a repeated selector shares its context. */
typedef struct {
  clnet_ctx *ctx[MAX_TRAIN_DEVICES];
  int32_t n;
  clnet_ctx *owned[MAX_TRAIN_DEVICES];
  int32_t n_owned;
} device_list;

static void close_devices(device_list *d) {
  for (int32_t i = 0; i < d->n_owned; ++i) clnet_ctx_free(d->owned[i]);
  d->n = d->n_owned = 0;
}

/* Splits "a,b,c" into selectors; under MPI a rank takes the entries local_rank, local_rank +
 * local_size, ... (or entry local_rank mod count when there are fewer entries than ranks). */
static int open_devices(const char *list, clnet_comm *comm, device_list *d) {
  memset(d, 0, sizeof *d);
  char buf[1024], *sel[MAX_TRAIN_DEVICES];
  int32_t n = 0;
  const char *from = "--device"; /* where the list came from, for messages */
  if (!list) {
    list = getenv("CLNET_DEVICE");
    from = "environment variable CLNET_DEVICE";
  }
  if (!list || !*list) {
    sel[n++] = NULL;
  } else {
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      if (n == MAX_TRAIN_DEVICES) return cli_usage_error("train", "%s: at most %d devices", from, MAX_TRAIN_DEVICES);
      sel[n++] = t;
    }
    if (n == 0) return cli_usage_error("train", "%s: empty device list '%s'", from, list);
  }
  int32_t lr = clnet_comm_local_rank(comm), ls = clnet_comm_local_size(comm);
  char *mine[MAX_TRAIN_DEVICES];
  int32_t m = 0;
  if (ls > 1 && n >= ls) {
    for (int32_t i = lr; i < n; i += ls) mine[m++] = sel[i];
  } else {
    if (ls > 1) mine[m++] = sel[lr % n];
    else
      for (int32_t i = 0; i < n; ++i) mine[m++] = sel[i];
  }
  for (int32_t i = 0; i < m; ++i) {
    int32_t same = -1;
    for (int32_t j = 0; j < i && same < 0; ++j)
      if ((!mine[i] && !mine[j]) || (mine[i] && mine[j] && !strcmp(mine[i], mine[j]))) same = j;
    if (same >= 0) {
      d->ctx[d->n++] = d->ctx[same];
      continue;
    }
    clnet_ctx *c = NULL;
    int rc = cli_open_ctx_from(mine[i], strcmp(from, "--device") ? from : NULL, &c);
    if (rc != CLI_OK) {
      close_devices(d);
      return rc;
    }
    d->owned[d->n_owned++] = c;
    d->ctx[d->n++] = c;
  }
  return CLI_OK;
}

/* "3,1.5,1" -> weights; returns how many, or -1 when one is not a positive number. */
static int32_t parse_shares(const char *s, double *w) {
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", s);
  int32_t n = 0;
  for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    if (n == MAX_TRAIN_DEVICES || !cli_parse_real(t, 1e-6, 1e6, &w[n])) return -1;
    ++n;
  }
  return n;
}

int cmd_train(int argc, char **argv) {
  clnet_train_config cfg = {.data_dir = NULL, .out_dir = "runs/latest", .epochs = 3, .batch = 256, .depth = 18,
                            .width = 16, .lr = 1e-3, .seed = 1};
  const char *device = NULL, *v = NULL, *shares_arg = NULL;
  int64_t iv;
  clnet_conv_algo algo = CLNET_CONV_ALGO_AUTO;
  const char *profile_env = getenv("CLNET_PROFILE");
  int profile = profile_env && *profile_env && strcmp(profile_env, "0") != 0;
  clnet_dense_algo dense_algo = CLNET_DENSE_ALGO_AUTO;
  int algo_set = 0, dense_algo_set = 0, width_set = 0;
  /* training options (clnet_train_options): a recipe, then the flags given, in their order */
  const char *recipe = NULL, *opt_name[64], *opt_value[64];
  int n_opts = 0;
  clnet_image_options images = {.note = cli_image_note};
  const char *onnx_path = NULL; /* --model FILE.onnx */
  int init_random = 0;          /* --init random: not the ONNX model's initializers */
  for (int i = 1; i < argc; ++i) {
    int r = 0, image_rc = CLI_OK;
#define FLAG(name) ((r = cli_flag(argc, argv, &i, name, &v)) != 0)
#define NEED(name) \
  if (r < 0) return cli_usage_error("train", "%s needs a value", name)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      train_usage(stdout);
      return CLI_OK;
    } else if (FLAG("--device")) {
      NEED("--device");
      device = v;
    } else if (FLAG("--data")) {
      NEED("--data");
      cfg.data_dir = v;
    } else if (FLAG("--out")) {
      NEED("--out");
      cfg.out_dir = v;
    } else if (FLAG("--epochs")) {
      NEED("--epochs");
      if (!cli_parse_pos_int(v, 1000000, &iv)) return cli_usage_error("train", "--epochs must be a positive integer, got '%s'", v);
      cfg.epochs = (int32_t)iv;
    } else if (FLAG("--batch")) {
      NEED("--batch");
      if (!cli_parse_pos_int(v, 65536, &iv)) return cli_usage_error("train", "--batch must be an integer in 1..65536, got '%s'", v);
      cfg.batch = (int32_t)iv;
    } else if (FLAG("--model")) {
      NEED("--model");
      int known = cli_onnx_is_model(v);
      for (int32_t m = 0; m < clnet_model_count(); ++m) known |= !strcmp(clnet_model_name(m), v);
      if (!known)
        return cli_usage_error("train", "--model must be a zoo model (clnet models lists them) or an .onnx file, got "
                               "'%s'", v);
      if (cli_onnx_is_model(v)) onnx_path = v;
      else cfg.model = v;
    } else if (FLAG("--init")) {
      NEED("--init");
      if (strcmp(v, "model") && strcmp(v, "random"))
        return cli_usage_error("train", "--init must be model or random, got '%s'", v);
      init_random = !strcmp(v, "random");
    } else if (FLAG("--depth")) {
      NEED("--depth");
      if (!cli_parse_pos_int(v, 34, &iv) || (iv != 18 && iv != 34)) return cli_usage_error("train", "--depth must be 18 or 34, got '%s'", v);
      cfg.depth = (int32_t)iv;
    } else if (FLAG("--width")) {
      NEED("--width");
      if (!cli_parse_pos_int(v, 4096, &iv)) return cli_usage_error("train", "--width must be an integer in 1..4096, got '%s'", v);
      cfg.width = (int32_t)iv;
      width_set = 1;
    } else if (FLAG("--seed")) {
      NEED("--seed");
      if (!cli_parse_pos_int(v, INT64_MAX, &iv)) return cli_usage_error("train", "--seed must be a positive integer, got '%s'", v);
      cfg.seed = (uint64_t)iv;
    } else if (FLAG("--recipe")) {
      NEED("--recipe");
      recipe = v;
    } else if (FLAG("--max-batches")) {
      NEED("--max-batches");
      if (!cli_parse_pos_int(v, INT32_MAX, &iv)) return cli_usage_error("train", "--max-batches must be a positive integer");
      cfg.max_batches = (int32_t)iv;
    } else if (FLAG("--algo")) {
      NEED("--algo");
      if (clnet_conv_algo_parse(v, &algo) != CLNET_SUCCESS)
        return cli_usage_error("train", "--algo must be auto, gemm, direct, winograd, winograd4, depthwise or rule, got '%s'", v);
      algo_set = 1;
    } else if (FLAG("--dense-algo")) {
      NEED("--dense-algo");
      if (clnet_dense_algo_parse(v, &dense_algo) != CLNET_SUCCESS)
        return cli_usage_error("train", "--dense-algo must be auto, clblast, clnet or rule, got '%s'", v);
      dense_algo_set = 1;
    } else if (FLAG("--on-nan")) {
      NEED("--on-nan");
      if (!strcmp(v, "stop")) cfg.on_nan = CLNET_ON_NAN_STOP;
      else if (!strcmp(v, "skip")) cfg.on_nan = CLNET_ON_NAN_SKIP;
      else return cli_usage_error("train", "--on-nan must be stop or skip, got '%s'", v);
    } else if (FLAG("--max-skipped")) {
      NEED("--max-skipped");
      if (!cli_parse_real(v, 1e-9, 1, &cfg.max_skipped) || !(cfg.max_skipped > 0))
        return cli_usage_error("train", "--max-skipped must be a share of the run's steps in (0, 1], got '%s'", v);
    } else if (FLAG("--stop-after")) { /* for tests: as if Ctrl-C came after N steps */
      NEED("--stop-after");
      if (!cli_parse_pos_int(v, INT32_MAX, &iv)) return cli_usage_error("train", "--stop-after must be a positive integer");
      cfg.stop_after = (int32_t)iv;
    } else if (FLAG("--max-eval")) {
      NEED("--max-eval");
      if (!cli_parse_pos_int(v, INT32_MAX, &iv)) return cli_usage_error("train", "--max-eval must be a positive integer");
      cfg.max_eval = (int32_t)iv;
    } else if (FLAG("--step-log")) {
      NEED("--step-log");
      cfg.step_log = v;
    } else if (FLAG("--shares")) {
      NEED("--shares");
      shares_arg = v;
    } else if (!strcmp(argv[i], "--verify-replicas")) {
      cfg.verify_replicas = 1;
    } else if (!strcmp(argv[i], "--resume")) {
      cfg.resume = 1;
    } else if (!strcmp(argv[i], "--overwrite")) {
      cfg.overwrite = 1;
    } else if (!strcmp(argv[i], "--profile")) {
      profile = 1;
    } else if (cli_image_flag("train", argc, argv, &i, &images, &image_rc)) {
      if (image_rc != CLI_OK) return image_rc;
    } else {
      int known = 0;
      for (int32_t k = 0; !known && k < clnet_train_option_count(); ++k) {
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", clnet_train_option_name(k));
        if ((r = cli_flag(argc, argv, &i, flag, &v)) != 0) {
          if (r < 0) return cli_usage_error("train", "%s needs a value", flag);
          if (n_opts == 64) return cli_usage_error("train", "too many training options");
          opt_name[n_opts] = clnet_train_option_name(k);
          opt_value[n_opts++] = v;
          known = 1;
        }
      }
      if (!known) return cli_usage_error("train", "unknown argument '%s'", argv[i]);
    }
#undef FLAG
#undef NEED
  }
  if (cfg.resume && cfg.overwrite) return cli_usage_error("train", "--resume and --overwrite exclude each other");
  /* the default run's ResNet is a quarter of the seed's width; other models default to their own */
  if (!width_set && cfg.model && strcmp(cfg.model, "resnet18") && strcmp(cfg.model, "resnet34")) cfg.width = 0;
  if (cfg.model && !strcmp(cfg.model, "resnet34")) cfg.depth = 34;
  /* the options: a resumed run's own (from its checkpoint) unless a recipe is named, else the recipe;
   * then the flags given */
  clnet_train_options opts;
  char resumed_from[4200] = "";
  if (cfg.resume && !recipe) {
    char path[4200];
    clnet_checkpoint_meta saved;
    snprintf(path, sizeof path, "%s/last.safetensors", cfg.out_dir);
    if (clnet_checkpoint_read_meta(path, &saved) == CLNET_SUCCESS) {
      if (saved.train[0]) {
        if (clnet_train_options_parse(saved.train, &opts) != CLNET_SUCCESS) return cli_fail(CLNET_ERR_FORMAT, path);
      } else {
        clnet_train_recipe("seed", cfg.epochs, &opts); /* a file from before options: the seed's recipe */
        opts.sched.lr = saved.lr;
      }
      snprintf(resumed_from, sizeof resumed_from, "%s", path);
    } else {
      clnet_train_recipe("seed", cfg.epochs, &opts); /* the trainer reports the missing checkpoint */
    }
  } else if (clnet_train_recipe(recipe ? recipe : "fast", cfg.epochs, &opts) != CLNET_SUCCESS) {
    return cli_usage_error("train", "--recipe must be seed or fast, got '%s'", recipe);
  } else if (onnx_path) {
    opts.bn_momentum = -1; /* an imported model's BN keeps its own momentum unless --bn-momentum says */
  }
  for (int k = 0; k < n_opts; ++k)
    if (clnet_train_options_set(&opts, opt_name[k], opt_value[k]) != CLNET_SUCCESS)
      return cli_usage_error("train", "%s", clnet_last_error());
  if (clnet_train_options_check(&opts) != CLNET_SUCCESS) return cli_usage_error("train", "%s", clnet_last_error());
  cfg.opts = &opts;
  cfg.resume_new_options = n_opts > 0 || recipe; /* options given with --resume: the user's choice */
  cfg.lr = opts.sched.lr;
  /* an ONNX model: read and checked (every node converted once) before any device work */
  cli_onnx onnx = {0};
  if (onnx_path) {
    int orc = cli_onnx_open(onnx_path, init_random, &onnx);
    if (orc != CLI_OK) return orc;
    cfg.build = cli_onnx_build;
    cfg.init = init_random ? NULL : cli_onnx_init;
    cfg.build_user = &onnx;
  } else if (init_random) {
    return cli_usage_error("train", "--init applies to --model FILE.onnx");
  }
  clnet_comm *comm = NULL;
  clnet_status st = clnet_comm_create(&argc, &argv, &comm);
  if (st != CLNET_SUCCESS) {
    cli_onnx_close(&onnx);
    return cli_fail(st, "starting MPI");
  }
  const int32_t rank = clnet_comm_rank(comm), ranks = clnet_comm_size(comm);
  if (rank != 0) images.note = NULL;
  cfg.images = &images;
  device_list devs;
  int rc = open_devices(device, comm, &devs);
  if (rc != CLI_OK) {
    clnet_comm_abort(comm, rc);
    clnet_comm_free(comm);
    return rc;
  }
  double shares[MAX_TRAIN_DEVICES];
  if (shares_arg) {
    int32_t n = parse_shares(shares_arg, shares);
    if (n != devs.n) {
      int32_t want = devs.n;
      close_devices(&devs);
      clnet_comm_abort(comm, CLI_USAGE);
      clnet_comm_free(comm);
      return cli_usage_error("train", "--shares needs %d numbers in [1e-6, 1e6] (one per device), got '%s'", want,
                             shares_arg);
    }
    cfg.shares = shares;
  }
  for (int32_t i = 0; algo_set && i < devs.n; ++i) clnet_ctx_set_conv_algo(devs.ctx[i], algo);
  for (int32_t i = 0; profile && i < devs.n_owned; ++i) {
    st = clnet_ctx_set_profiling(devs.owned[i], 1);
    if (st != CLNET_SUCCESS) {
      close_devices(&devs);
      clnet_comm_abort(comm, CLI_FAIL);
      clnet_comm_free(comm);
      return cli_fail(st, "train --profile");
    }
  }
  for (int32_t i = 0; dense_algo_set && i < devs.n; ++i) clnet_ctx_set_dense_algo(devs.ctx[i], dense_algo);
  if (rank == 0) {
    char line[600];
    clnet_train_options_format(&opts, line, sizeof line);
    printf("recipe: %s%s%s: %s\n", resumed_from[0] ? "as in " : recipe ? recipe : "fast",
           resumed_from[0] ? resumed_from : "", n_opts ? " with the flags given" : "", line);
    for (int32_t i = 0; i < devs.n; ++i)
      if (devs.n == 1) printf("device: %s\n", clnet_ctx_device_name(devs.ctx[i]));
      else printf("device %d: %s\n", i, clnet_ctx_device_name(devs.ctx[i]));
    if (ranks > 1) printf("MPI: %d ranks\n", ranks);
  }
  /* under mpirun stdout is a pseudo-terminal of the launcher, whatever the user's is: plain lines */
  progress_state ps = {.tty = cli_is_tty() && !clnet_mpi_launched(), .last_print = 0, .last_epoch = 0,
                       .profiled = profile ? devs.owned : NULL, .n_profiled = profile ? devs.n_owned : 0};
  for (int32_t i = 0; i < devs.n_owned; ++i) clnet_ctx_set_algo_progress_fn(devs.owned[i], on_algo_progress, &ps);
  clnet_train_callbacks cb = {.progress = on_progress, .epoch_end = on_epoch, .info = on_info,
                              .should_stop = on_should_stop, .user = &ps};
  signal(SIGINT, on_stop_signal);
  signal(SIGTERM, on_stop_signal);
  signal(SIGUSR1, on_stop_signal);
  clnet_train_summary sum;
  st = clnet_train_run_parallel(devs.ctx, devs.n, comm, &cfg, &cb, &sum);
  cli_onnx_close(&onnx);
  if (ps.tty) printf("\r\033[K");
  clnet_ctx_stats s = clnet_ctx_get_stats(devs.ctx[0]);
  for (int32_t i = 1; i < devs.n; ++i) {
    clnet_ctx_stats si = clnet_ctx_get_stats(devs.ctx[i]);
    if (si.bytes_peak > s.bytes_peak) s.bytes_peak = si.bytes_peak;
  }
  close_devices(&devs);
  if (st == CLNET_ERR_INTERRUPTED) {
    if (rank == 0) {
      fprintf(stderr, "clnet: train: ");
      cli_put_safe(stderr, clnet_last_error(), 0);
      fputc('\n', stderr);
    }
    clnet_comm_free(comm);
    return CLI_INTERRUPTED;
  }
  if (st != CLNET_SUCCESS) {
    char what[32];
    snprintf(what, sizeof what, ranks > 1 ? "train (rank %d)" : "train", rank);
    int code = cli_fail(st, what);
    clnet_comm_abort(comm, code); /* the other ranks would wait for this one forever */
    clnet_comm_free(comm);
    return code;
  }
  clnet_comm_free(comm);
  if (rank != 0) return CLI_OK;
  char od[1024];
  cli_safe(cfg.out_dir, 0, od, sizeof od);
  printf("done: %d epochs in %.1f s, final val_accuracy %.4f, best %.4f; kernels: %d compiled, %d from cache "
         "(%.1f s); peak device memory %.1f MiB\nwrote %s/history.csv, %s/curves.png, %s/last.safetensors, "
         "%s/best.safetensors\n",
         sum.epochs_done, sum.seconds, sum.final_val_accuracy, sum.best_val_accuracy, s.programs_built,
         s.programs_cached, s.build_seconds, (double)s.bytes_peak / (1 << 20), od, od, od, od);
  return CLI_OK;
}

int cmd_eval(int argc, char **argv) {
  const char *device = NULL, *data = NULL, *ckpt = NULL, *v = NULL, *logits_path = NULL, *inputs_path = NULL;
  int64_t batch = 256, max_images = 0;
  int tta = 0;
  clnet_image_options images = {.note = cli_image_note, .eval_only = 1};
  for (int i = 1; i < argc; ++i) {
    int r, image_rc = CLI_OK;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: clnet eval --checkpoint FILE|FILE.onnx [--data DIR] [--device D] [--batch B] [--tta]\n"
             "                  [--logits OUT.npy] [--inputs OUT.npy] [--max-images N]\n"
             "Test loss and accuracy, per-class accuracy (by class name when the checkpoint has them) and\n"
             "the confusion matrix, of a checkpoint or of an ONNX model (its own input normalisation when\n"
             "clnet exported it, else the data's). Image folders: the val/ (or test/) split, the --val-split\n"
             "part of a <class>/ tree, or all of a <class>/ tree without --val-split; images scaled to cover\n"
             "the checkpoint's input, centre crop.\n"
             "  --tta        predict from the mean logits of each image and its mirror\n"
             "  --logits F   also write the logits (n, K) of the test images as float32 .npy\n"
             "  --inputs F   also write those images as the model takes them, normalised, (n, C, H, W) .npy\n"
             "  --max-images N  evaluate (and write) the first N test images only\n");
      cli_image_flags_usage(stdout, 0);
      return CLI_OK;
    }
    if (!strcmp(argv[i], "--tta")) {
      tta = 1;
      continue;
    }
    if (cli_image_flag("eval", argc, argv, &i, &images, &image_rc)) {
      if (image_rc != CLI_OK) return image_rc;
      continue;
    }
    if ((r = cli_flag(argc, argv, &i, "--checkpoint", &v)) || (r = cli_flag(argc, argv, &i, "--model", &v))) {
      if (r < 0) return cli_usage_error("eval", "--checkpoint needs a value");
      ckpt = v;
    } else if ((r = cli_flag(argc, argv, &i, "--data", &v))) {
      if (r < 0) return cli_usage_error("eval", "--data needs a value");
      data = v;
    } else if ((r = cli_flag(argc, argv, &i, "--device", &v))) {
      if (r < 0) return cli_usage_error("eval", "--device needs a value");
      device = v;
    } else if ((r = cli_flag(argc, argv, &i, "--batch", &v))) {
      if (r < 0 || !cli_parse_pos_int(v, 65536, &batch)) return cli_usage_error("eval", "--batch must be in 1..65536");
    } else if ((r = cli_flag(argc, argv, &i, "--max-images", &v))) {
      if (r < 0 || !cli_parse_pos_int(v, INT32_MAX, &max_images)) return cli_usage_error("eval", "--max-images must be a positive integer");
    } else if ((r = cli_flag(argc, argv, &i, "--logits", &v))) {
      if (r < 0) return cli_usage_error("eval", "--logits needs a value");
      logits_path = v;
    } else if ((r = cli_flag(argc, argv, &i, "--inputs", &v))) {
      if (r < 0) return cli_usage_error("eval", "--inputs needs a value");
      inputs_path = v;
    } else {
      return cli_usage_error("eval", "unknown argument '%s'", argv[i]);
    }
  }
  if (!ckpt) return cli_usage_error("eval", "--checkpoint FILE is required");
  const int is_onnx = cli_onnx_is_model(ckpt);
  clnet_checkpoint_meta meta;
  memset(&meta, 0, sizeof meta);
  clnet_status st = CLNET_SUCCESS;
  cli_onnx onnx = {0};
  char **names = NULL;
  int32_t n_names = 0;
  if (is_onnx) {
    int orc = cli_onnx_open(ckpt, 0, &onnx);
    if (orc != CLI_OK) return orc;
  } else {
    st = clnet_checkpoint_read_meta(ckpt, &meta);
    if (st != CLNET_SUCCESS) return cli_fail(st, "eval");
    images.height = meta.in_h; /* image folders: made to the checkpoint's input */
    images.width = meta.in_w;
    images.channels = meta.in_c;
    st = clnet_checkpoint_read_class_names(ckpt, &names, &n_names);
    if (st != CLNET_SUCCESS) return cli_fail(st, "eval");
  }
  /* a checkpoint needs the test split alone (train NULL: no training files read or checked); an
   * ONNX model without clnet's normalisation takes the training split's */
  clnet_dataset train = {0}, test = {0};
  st = clnet_dataset_open_dir_ex(data ? data : CLNET_DEFAULT_DATA_DIR, &images, is_onnx ? &train : NULL, &test, NULL);
  if (st != CLNET_SUCCESS) {
    cli_onnx_close(&onnx);
    clnet_class_names_free(names, n_names);
    return cli_fail(st, "eval");
  }
  if (is_onnx) { /* the model's shape is checked against the data when it is built */
    meta.in_h = test.height, meta.in_w = test.width, meta.in_c = test.channels, meta.classes = test.classes;
    snprintf(meta.model, sizeof meta.model, "%s", "onnx");
    if (!clnet_onnx_norm(onnx.m, meta.norm_mean, meta.norm_std)) clnet_dataset_default_norm(&train, meta.norm_mean, meta.norm_std);
  }
  clnet_dataset_free(&train);
  char cb[1024];
  for (int32_t c = 0; names && test.class_names && c < n_names && c < test.classes; ++c)
    if (strcmp(names[c], test.class_names[c])) {
      fprintf(stderr, "clnet: eval: %s was trained on classes named differently: its class %d is '%s', the data's is "
              "'%s'\n", cli_safe(ckpt, 0, cb, sizeof cb), (int)c, names[c], test.class_names[c]);
      clnet_class_names_free(names, n_names);
      clnet_dataset_free(&test);
      return CLI_FAIL;
    }
  /* data with fewer classes than the model's head (a subset, or IDX labels short of the last) evaluates */
  if (test.height != meta.in_h || test.width != meta.in_w || test.channels != meta.in_c || test.classes > meta.classes) {
    fprintf(stderr, "clnet: eval: %s was trained on %dx%dx%d images with %d classes, the data is %dx%dx%d with %d\n",
            cli_safe(ckpt, 0, cb, sizeof cb), meta.in_h, meta.in_w, meta.in_c, meta.classes, test.height, test.width,
            test.channels, test.classes);
    cli_onnx_close(&onnx);
    clnet_dataset_free(&test);
    clnet_class_names_free(names, n_names);
    return CLI_FAIL;
  }
  clnet_graph *g = NULL;
  if (is_onnx) {
    const clnet_model_config mc = {.in_h = test.height, .in_w = test.width, .in_c = test.channels, .classes = test.classes};
    st = cli_onnx_build(&onnx, &mc, &g); /* before the device: errors name the node */
    if (st != CLNET_SUCCESS) {
      cli_onnx_close(&onnx);
      clnet_dataset_free(&test);
      return cli_fail(st, "eval");
    }
  }
  clnet_ctx *ctx = NULL;
  int rc = cli_open_ctx(device, &ctx);
  if (rc != CLI_OK) {
    clnet_graph_free(g);
    cli_onnx_close(&onnx);
    clnet_dataset_free(&test);
    clnet_class_names_free(names, n_names);
    return rc;
  }
  clnet_eval_result ev = {0};
  if (!is_onnx) st = clnet_checkpoint_read_graph(ckpt, &g); /* the network the checkpoint holds */
  /* the test loss is plain cross-entropy, whatever label smoothing the run trained with (so a checkpoint
   * and its ONNX export, which has no loss layer, report the same loss) */
  if (st == CLNET_SUCCESS) st = clnet_graph_set_kind_attrs(g, "softmax_cross_entropy", "label_smoothing=0", NULL);
  if (st == CLNET_SUCCESS) st = clnet_graph_setup(g, ctx, (int32_t)batch);
  if (st == CLNET_SUCCESS) st = is_onnx ? cli_onnx_init(&onnx, g) : clnet_checkpoint_load(g, ckpt, &meta);
  if (st == CLNET_SUCCESS)
    st = clnet_evaluate_dataset_tta(g, &test, meta.norm_mean, meta.norm_std, (int32_t)max_images, tta, 0, &ev);
  if (st == CLNET_SUCCESS && (logits_path || inputs_path))
    st = cli_dump_eval(g, &test, meta.norm_mean, meta.norm_std, (int32_t)max_images, logits_path, inputs_path);
  if (st == CLNET_SUCCESS && is_onnx) {
    clnet_onnx_info oi;
    clnet_onnx_get_info(onnx.m, &oi);
    printf("ONNX model %s (%s, opset %lld, %d layers) on %s\n", cli_safe(ckpt, 0, cb, sizeof cb),
           oi.producer[0] ? oi.producer : "unknown producer", (long long)oi.opset, clnet_graph_layer_count(g),
           clnet_ctx_device_name(ctx));
  } else if (st == CLNET_SUCCESS) {
    printf("checkpoint %s (epoch %d, %s, %d layers) on %s\n", cli_safe(ckpt, 0, cb, sizeof cb), meta.epoch, meta.model,
           clnet_graph_layer_count(g), clnet_ctx_device_name(ctx));
  }
  cli_onnx_close(&onnx);
  if (st == CLNET_SUCCESS) {
    printf("test loss %.4f accuracy %.4f over %d images%s\n\nper-class accuracy:\n", ev.loss, ev.accuracy, ev.count,
           tta ? " (with flip TTA)" : "");
    int32_t k = ev.classes, width = 0;
    char label[96];
    for (int32_t c = 0; c < k; ++c) { /* "class  3:" or, with names, "class  3 cat:" */
      int len = snprintf(label, sizeof label, "class %2d%s%s:", c, names && c < n_names ? " " : "",
                         names && c < n_names ? names[c] : "");
      if (len > width) width = len;
    }
    for (int32_t c = 0; c < k; ++c) {
      int64_t row = 0;
      for (int32_t j = 0; j < k; ++j) row += ev.confusion[c * k + j];
      snprintf(label, sizeof label, "class %2d%s%s:", c, names && c < n_names ? " " : "",
               names && c < n_names ? names[c] : "");
      printf("  %-*s %.4f (%lld images)\n", width, label, row ? (double)ev.confusion[c * k + c] / (double)row : 0.0,
             (long long)row);
    }
    printf("\nconfusion matrix (rows: true class, columns: predicted):\n      ");
    for (int32_t j = 0; j < k; ++j) printf("%6d", j);
    printf("\n");
    for (int32_t c = 0; c < k; ++c) {
      printf("  %2d: ", c);
      for (int32_t j = 0; j < k; ++j) printf("%6lld", (long long)ev.confusion[c * k + j]);
      printf("\n");
    }
  }
  free(ev.confusion);
  clnet_graph_free(g);
  clnet_ctx_free(ctx);
  clnet_dataset_free(&test);
  clnet_class_names_free(names, n_names);
  return st == CLNET_SUCCESS ? CLI_OK : cli_fail(st, "eval");
}
