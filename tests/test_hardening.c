/* Hardening: each suite is one class of fault found by trying to break clnet (docs/RELIABILITY.md,
 * "Hardening"), and each test one that failed before its fix. Most go through the clnet
 * executable on a tiny CIFAR-format set (96 training and 32 test images, ResNet-18 at width 2). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cifar_files.h"
#include "cli_run.h"
#include "clnet/io.h"
#include "clnet/onnx.h"
#include "clnet/train.h"
#include "tune/conv_finddb.h"
#include "tune/dense_algo.h"
#include "tune/clblast_tune.h"
#include "runtime/ctx.h"
#include "runtime/program_cache.h"

static char dir[256];
static char out[1 << 16];

static void make_data(void) {
  snprintf(dir, sizeof dir, "/tmp/clnet-harden-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  char p[512];
  snprintf(p, sizeof p, "%s/data_batch_1.bin", dir);
  write_cifar(p, 96, 1);
  snprintf(p, sizeof p, "%s/test_batch.bin", dir);
  write_cifar(p, 32, 3);
}

static void remove_data(void) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

static int run(const char *args) { return clnet_cli_run("", args, out, sizeof out); }

#define TRAIN "train --epochs 1 --batch 32 --width 2 --max-eval 32"

static const char *at(const char *name) {
  static char p[4][600];
  static int k;
  k = (k + 1) % 4;
  snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
  return p[k];
}

static char *slurp(const char *path, long *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)*n + 1);
  if (b && fread(b, 1, (size_t)*n, f) != (size_t)*n) *n = -1;
  if (b) b[*n > 0 ? *n : 0] = '\0';
  fclose(f);
  return b;
}

static void touch(const char *path) {
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f, "cannot create %s", path);
  fputs("mine\n", f);
  fclose(f);
}

static int exists(const char *path) {
  struct stat sb;
  return lstat(path, &sb) == 0;
}

/* ---- two runs, one --out ------------------------------------------------------------------ */

TestSuite(out_dir, .init = make_data, .fini = remove_data, .timeout = 300);

/* A run in the background, stdout and stderr to /dev/null. */
static pid_t spawn_train(const char *out_dir, const char *epochs) {
  const char *cli = clnet_cli_path();
  pid_t pid = fork();
  cr_assert_neq(pid, -1);
  if (pid == 0) {
    if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(126);
    execl(cli, cli, "train", "--data", dir, "--epochs", epochs, "--batch", "32", "--width", "2", "--out", out_dir,
          (char *)NULL);
    _exit(127);
  }
  return pid;
}

Test(out_dir, a_second_run_on_a_directory_in_use_is_refused_with_the_holders_pid) {
  const char *o = at("busy");
  pid_t a = spawn_train(o, "1000");
  /* wait until the first run holds the directory (its lock file names it), at most 60 s */
  char lock[700], want[32];
  snprintf(lock, sizeof lock, "%s/.clnet.lock", o);
  snprintf(want, sizeof want, "%ld\n", (long)a);
  for (int i = 0; i < 600; ++i) {
    long n = 0;
    char *s = slurp(lock, &n);
    int held = s && !strcmp(s, want);
    free(s);
    if (held) break;
    struct timespec ts = {0, 100000000L};
    nanosleep(&ts, NULL);
  }
  char args[1024], pid_s[48];
  snprintf(args, sizeof args, TRAIN " --data %s --out %s", dir, o);
  int rc = run(args);
  kill(a, SIGKILL);
  waitpid(a, NULL, 0);
  cr_assert_eq(rc, 1, "a second run on a directory in use must fail:\n%s", out);
  snprintf(pid_s, sizeof pid_s, "pid %ld", (long)a);
  cr_assert(strstr(out, "in use by another clnet run") && strstr(out, pid_s), "the message must name the holder:\n%s",
            out);
  /* the holder is gone (killed): the directory is free again, and its state resumable */
  snprintf(args, sizeof args, TRAIN " --data %s --out %s --overwrite", dir, o);
  cr_assert_eq(run(args), 0, "after the holder died the directory must be usable:\n%s", out);
}

Test(out_dir, a_previous_run_is_kept_unless_resumed_or_overwritten) {
  const char *o = at("prev");
  char args[1024], hist[700];
  snprintf(hist, sizeof hist, "%s/history.csv", o);
  snprintf(args, sizeof args, TRAIN " --data %s --out %s --seed 3", dir, o);
  cr_assert_eq(run(args), 0, "%s", out);
  long n0 = 0, n1 = 0;
  char *before = slurp(hist, &n0);
  cr_assert_not_null(before);
  snprintf(args, sizeof args, TRAIN " --data %s --out %s --seed 4", dir, o);
  cr_assert_eq(run(args), 1, "a new run must not replace a previous one:\n%s", out);
  cr_assert(strstr(out, "previous run") && strstr(out, "--resume") && strstr(out, "--overwrite") && strstr(out, o),
            "the message must say what is there and what to do:\n%s", out);
  char *after = slurp(hist, &n1);
  cr_assert(after && n0 == n1 && !memcmp(before, after, (size_t)n0), "the previous history must be untouched");
  free(after);
  snprintf(args, sizeof args, TRAIN " --data %s --out %s --seed 4 --resume --overwrite", dir, o);
  cr_assert_eq(run(args), 2, "%s", out);
  snprintf(args, sizeof args, TRAIN " --data %s --out %s --seed 4 --overwrite", dir, o);
  cr_assert_eq(run(args), 0, "--overwrite must replace it:\n%s", out);
  after = slurp(hist, &n1);
  cr_assert(after && (n0 != n1 || memcmp(before, after, (size_t)n0)), "--overwrite must have written a new history");
  free(before);
  free(after);
}

Test(out_dir, only_clnets_own_temporaries_of_dead_processes_are_removed) {
  const char *o = at("temps");
  cr_assert_eq(mkdir(o, 0755), 0);
  /* a process that is gone: a child that exited and was reaped */
  pid_t dead = fork();
  cr_assert_neq(dead, -1);
  if (dead == 0) _exit(0);
  waitpid(dead, NULL, 0);
  char user1[700], user2[700], live[700], stale[700], args[1024];
  snprintf(user1, sizeof user1, "%s/history.csv.tmp.backup", o);
  snprintf(user2, sizeof user2, "%s/last.safetensors.tmp.%ld", o, (long)dead);
  snprintf(live, sizeof live, "%s/last.safetensors.clnet-tmp.%ld.AbC123", o, (long)getpid());
  snprintf(stale, sizeof stale, "%s/last.safetensors.clnet-tmp.%ld.XyZ789", o, (long)dead);
  touch(user1);
  touch(user2);
  touch(live);
  touch(stale);
  snprintf(args, sizeof args, TRAIN " --data %s --out %s", dir, o);
  cr_assert_eq(run(args), 0, "%s", out);
  cr_assert(exists(user1), "a user's file was deleted: %s", user1);
  cr_assert(exists(user2), "a user's file was deleted: %s", user2);
  cr_assert(exists(live), "a live process's temporary was deleted: %s", live);
  cr_assert(!exists(stale), "a dead writer's temporary was left: %s", stale);
}

/* An output directory no file can be created in (root can write anywhere but /proc): found
 * before the data loads, not after the first epoch. */
Test(out_dir, an_unwritable_directory_is_found_before_training) {
  char args[1024];
  snprintf(args, sizeof args, TRAIN " --data %s --out /proc", dir);
  cr_assert_eq(run(args), 1, "%s", out);
  cr_assert(strstr(out, "/proc"), "the message must name the directory:\n%s", out);
  cr_assert(!strstr(out, "epoch 1"), "found only after training:\n%s", out);
}

/* ---- files that are not regular files ------------------------------------------------------ */

/* Each reader, given a FIFO (nobody writes to it: opening it for reading would block forever) and
 * a directory (which opens, with an absurd size) where it expects a file: an error, at once,
 * that names the path and what is there. The timeout catches a reader that blocks. */
TestSuite(not_regular, .init = make_data, .fini = remove_data, .timeout = 60);

static const char *kinds[2] = {"FIFO", "directory"};

static const char *make_odd(const char *name, int kind) {
  const char *p = at(name);
  cr_assert_eq(kind ? mkdir(p, 0755) : mkfifo(p, 0644), 0, "cannot create %s: %s", p, strerror(errno));
  return p;
}

static void expect_named(clnet_status st, const char *path, int kind) {
  cr_assert_neq(st, CLNET_SUCCESS, "%s (a %s) was read", path, kinds[kind]);
  const char *m = clnet_last_error();
  cr_assert(strstr(m, path) && strstr(m, "not a regular file") && strstr(m, kinds[kind]),
            "the message must name the path and what it is: %s", m);
}

Test(not_regular, checkpoint_and_safetensors) {
  for (int k = 0; k < 2; ++k) {
    char name[32];
    snprintf(name, sizeof name, "ckpt%d.safetensors", k);
    const char *p = make_odd(name, k);
    clnet_checkpoint_meta m;
    expect_named(clnet_checkpoint_read_meta(p, &m), p, k);
    clnet_st_file *f = NULL;
    expect_named(clnet_safetensors_read(p, &f), p, k);
    cr_assert_null(f);
  }
}

Test(not_regular, history) {
  for (int k = 0; k < 2; ++k) {
    char name[32];
    snprintf(name, sizeof name, "history%d.csv", k);
    const char *p = make_odd(name, k);
    clnet_history h = {0};
    expect_named(clnet_history_read_csv(p, &h), p, k);
    cr_assert_eq(h.count, 0);
  }
}

Test(not_regular, find_dbs) {
  for (int k = 0; k < 2; ++k) {
    char name[32];
    snprintf(name, sizeof name, "finddb%d.txt", k);
    const char *p = make_odd(name, k);
    conv_fdb_entry *ce = NULL;
    dense_fdb_entry *de = NULL;
    int32_t n = -1, stale = -1;
    expect_named(clnet_conv_finddb_read_file(p, 0xab, &ce, &n, &stale), p, k);
    expect_named(clnet_dense_finddb_read_file(p, 0xab, &de, &n, &stale), p, k);
    free(ce);
    free(de);
  }
}

Test(not_regular, clblast_parameters) {
  for (int k = 0; k < 2; ++k) {
    char name[32];
    snprintf(name, sizeof name, "clblast%d.txt", k);
    const char *p = make_odd(name, k);
    clnet_tune_file f;
    expect_named(clnet_tune_load(p, &f), p, k);
  }
}

Test(not_regular, onnx_model) {
  for (int k = 0; k < 2; ++k) {
    char name[32];
    snprintf(name, sizeof name, "model%d.onnx", k);
    const char *p = make_odd(name, k);
    clnet_onnx_model *m = NULL;
    expect_named(clnet_onnx_read(p, &m), p, k);
    cr_assert_null(m);
  }
}

/* The program cache records no error by design (a bad entry means "rebuild"): it must only
 * come back at once with nothing. */
Test(not_regular, kernel_cache_entry) {
  for (int k = 0; k < 2; ++k) {
    char name[32];
    snprintf(name, sizeof name, "prog%d.bin", k);
    const char *p = make_odd(name, k);
    size_t n = 0;
    cr_assert_null(clnet_program_cache_load(p, &n), "%s (a %s) was taken as a program binary", p, kinds[k]);
  }
}

Test(not_regular, kernel_sources) {
  for (int k = 0; k < 2; ++k) {
    char sub[32];
    snprintf(sub, sizeof sub, "kernels%d", k);
    cr_assert_eq(mkdir(at(sub), 0755), 0);
    char name[64];
    snprintf(name, sizeof name, "%s/eltwise.cl", sub);
    const char *p = make_odd(name, k);
    setenv("CLNET_KERNEL_DIR", at(sub), 1);
    const char *src = NULL;
    size_t len = 0;
    int32_t owned = 0;
    expect_named(clnet_kernel_source("eltwise", &src, &len, &owned), p, k);
    cr_assert(strstr(clnet_last_error(), "CLNET_KERNEL_DIR"), "%s", clnet_last_error());
    unsetenv("CLNET_KERNEL_DIR");
  }
}

Test(not_regular, data_files) {
  for (int k = 0; k < 2; ++k) {
    char sub[32], name[64], err[2048];
    snprintf(sub, sizeof sub, "data%d", k);
    cr_assert_eq(mkdir(at(sub), 0755), 0);
    snprintf(name, sizeof name, "%s/test_batch.bin", sub);
    write_cifar(at(name), 8, 5);
    snprintf(name, sizeof name, "%s/data_batch_1.bin", sub);
    const char *p = make_odd(name, k);
    /* the directory: named as what it is, not reported as "not found" */
    clnet_dataset train = {0}, test = {0};
    expect_named(clnet_dataset_open_dir(at(sub), &train, &test, NULL), p, k);
    snprintf(err, sizeof err, "%s", clnet_last_error());
    cr_assert(!strstr(err, "no data set") && !strstr(err, "incomplete"), "%s", err);
    /* the file itself */
    const char *one[1] = {p};
    expect_named(clnet_dataset_load_cifar10(one, 1, &train), p, k);
    expect_named(clnet_dataset_load_idx(p, p, &train), p, k);
  }
}

/* A run whose --out holds a FIFO named history.csv, resumed: refused at once, naming it. */
Test(not_regular, resume_with_a_fifo_for_history) {
  char args[1024], hist[700];
  const char *o = at("fifo_run");
  snprintf(args, sizeof args, TRAIN " --data %s --out %s", dir, o);
  cr_assert_eq(run(args), 0, "%s", out);
  snprintf(hist, sizeof hist, "%s/history.csv", o);
  cr_assert_eq(unlink(hist), 0);
  cr_assert_eq(mkfifo(hist, 0644), 0);
  snprintf(args, sizeof args, "train --epochs 2 --batch 32 --width 2 --max-eval 32 --data %s --out %s --resume", dir, o);
  /* `timeout`: a run that blocks on the FIFO must not outlive the test */
  cr_assert_eq(clnet_cli_run("timeout 30", args, out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, hist) && strstr(out, "not a regular file (a FIFO)"), "%s", out);
}

/* ---- links at temporary names --------------------------------------------------------------- */

/* Every writer, with a symbolic link to a victim file planted at the name its temporary used to
 * have (<target>.tmp.<pid>, predictable): the write succeeds, the victim and the link are left
 * as they were, and no temporary remains. */
TestSuite(temporaries, .init = make_data, .fini = remove_data, .timeout = 120);

static const char precious[] = "precious\n";

/* A directory of its own with the victim and the planted link; returns the target's path. */
static const char *plant(const char *sub, const char *file) {
  static char target[700];
  char victim[700], link[800];
  cr_assert_eq(mkdir(at(sub), 0755), 0);
  snprintf(victim, sizeof victim, "%s/victim", at(sub));
  FILE *f = fopen(victim, "w");
  cr_assert_not_null(f);
  fputs(precious, f);
  fclose(f);
  snprintf(target, sizeof target, "%s/%s", at(sub), file);
  snprintf(link, sizeof link, "%s.tmp.%ld", target, (long)getpid());
  cr_assert_eq(symlink(victim, link), 0);
  return target;
}

static void expect_untouched(const char *sub, const char *target, clnet_status st) {
  cr_assert_eq(st, CLNET_SUCCESS, "writing %s next to a planted link failed: %s", target, clnet_last_error());
  char victim[700], link[800];
  snprintf(victim, sizeof victim, "%s/victim", at(sub));
  snprintf(link, sizeof link, "%s.tmp.%ld", target, (long)getpid());
  long n = 0;
  char *v = slurp(victim, &n);
  cr_assert(v && !strcmp(v, precious), "the link's target was overwritten: '%s'", v ? v : "(gone)");
  free(v);
  struct stat sb;
  cr_assert(lstat(link, &sb) == 0 && S_ISLNK(sb.st_mode), "the planted link was replaced");
  cr_assert(lstat(target, &sb) == 0 && S_ISREG(sb.st_mode), "%s was not written", target);
  char cmd[800];
  snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 3", at(sub));
  cr_assert_eq(system(cmd), 0, "a temporary was left in %s", at(sub));
}

Test(temporaries, checkpoint) {
  const char *t = plant("st", "last.safetensors");
  const float x[3] = {1, 2, 3};
  const clnet_st_tensor tensor = {.name = "x", .dtype = CLNET_DTYPE_F32, .ndim = 1, .shape = {3}, .data = x};
  expect_untouched("st", t, clnet_safetensors_write(t, &tensor, 1, NULL, NULL, 0));
  clnet_st_file *f = NULL;
  cr_assert_eq(clnet_safetensors_read(t, &f), CLNET_SUCCESS, "%s", clnet_last_error());
  clnet_st_free(f);
}

static clnet_history two_epochs(void) {
  clnet_history h = {0};
  for (int e = 1; e <= 2; ++e) {
    const clnet_epoch_record r = {.epoch = e, .loss = 1.0 / e, .accuracy = 0.5, .val_loss = 1.1 / e, .val_accuracy = 0.4,
                                  .seconds = 1, .images_per_s = 100};
    cr_assert_eq(clnet_history_append(&h, &r), CLNET_SUCCESS);
  }
  return h;
}

Test(temporaries, history_and_plot) {
  clnet_history h = two_epochs();
  const char *t = plant("csv", "history.csv");
  expect_untouched("csv", t, clnet_history_write_csv(&h, t));
  t = plant("png", "curves.png");
  expect_untouched("png", t, clnet_history_plot(&h, t));
  clnet_history_free(&h);
}

Test(temporaries, find_dbs) {
  const conv_fdb_entry ce = {.key = {.pass = 0, .n = 8, .h = 8, .w = 8, .c_in = 4, .c_out = 4, .k_h = 3, .k_w = 3,
                                     .stride_h = 1, .padding = CLNET_PADDING_SAME, .stride_w = 1, .dilation_h = 1,
                                     .dilation_w = 1, .groups = 1},
                             .choice = {.algo = CLNET_CONV_ALGO_DIRECT, .source = CLNET_ALGO_SOURCE_TIMED,
                                        .ms = {-2, 1.0, -2, -2}}};
  const char *t = plant("conv", "conv-algos-0.txt");
  expect_untouched("conv", t, clnet_conv_finddb_write_file(t, 0xab, "device: test", &ce, 1));
  const dense_fdb_entry de = {.key = {.pass = 0, .n = 8, .in = 16, .out = 10},
                              .choice = {.algo = CLNET_DENSE_ALGO_CLNET, .source = CLNET_ALGO_SOURCE_TIMED, .ms = {-2, 1.0}}};
  t = plant("dense", "dense-algos-0.txt");
  expect_untouched("dense", t, clnet_dense_finddb_write_file(t, 0xab, "device: test", &de, 1));
}

Test(temporaries, clblast_parameters) {
  clnet_tune_file f;
  memset(&f, 0, sizeof f);
  snprintf(f.device, sizeof f.device, "test device");
  snprintf(f.platform, sizeof f.platform, "test platform");
  snprintf(f.driver, sizeof f.driver, "1.0");
  snprintf(f.workload, sizeof f.workload, "nothing");
  f.n_kernels = 1;
  snprintf(f.kernels[0].name, sizeof f.kernels[0].name, "Xgemm");
  snprintf(f.kernels[0].params.names[0], sizeof f.kernels[0].params.names[0], "MWG");
  f.kernels[0].params.values[0] = 32;
  f.kernels[0].params.count = 1;
  const char *t = plant("tune", "clblast-tune-0.txt");
  expect_untouched("tune", t, clnet_tune_save(t, &f));
  clnet_tune_file back;
  cr_assert_eq(clnet_tune_load(t, &back), CLNET_SUCCESS, "%s", clnet_last_error());
}

/* The program cache records no error (best effort): the entry must be there and load. */
Test(temporaries, kernel_cache_entry) {
  const char *t = plant("prog", "eltwise-0.bin");
  const unsigned char bin[5] = {1, 2, 3, 4, 5};
  clnet_program_cache_store(at("prog"), t, bin, sizeof bin);
  expect_untouched("prog", t, CLNET_SUCCESS);
  size_t n = 0;
  unsigned char *back = clnet_program_cache_load(t, &n);
  cr_assert(back && n == sizeof bin && !memcmp(back, bin, n), "the entry does not read back");
  free(back);
}

/* ---- a find-db entry whose algorithm does not apply ------------------------------------------ */

TestSuite(stale_entry, .init = make_data, .fini = remove_data, .timeout = 300);

static char notes[4096];
static void keep_note(void *user, const char *line) {
  (void)user;
  size_t used = strlen(notes);
  snprintf(notes + used, sizeof notes - used, "%s\n", line);
}

/* Rewrites the entry lines of `path` that start with `prefix`: field 11 (algo) becomes `algo`
 * and its time column (winograd_ms, field 14) a time, so that the line is well formed. */
static int edit_entries(const char *path, const char *prefix, const char *algo) {
  long n = 0;
  char *s = slurp(path, &n), *o = malloc((size_t)n * 2 + 256), *save = NULL;
  cr_assert(s && o);
  o[0] = '\0';
  int edited = 0;
  for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    if (line[0] != '#' && !strncmp(line, prefix, strlen(prefix))) {
      char f[15][48] = {{0}};
      int k = sscanf(line, "%47s %47s %47s %47s %47s %47s %47s %47s %47s %47s %47s %47s %47s %47s %47s", f[0], f[1],
                     f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10], f[11], f[12], f[13], f[14]);
      cr_assert_eq(k, 15, "unexpected find-db line '%s'", line);
      snprintf(f[10], sizeof f[10], "%s", algo);
      snprintf(f[13], sizeof f[13], "0.001");
      for (int i = 0; i < 15; ++i) strcat(strcat(o, f[i]), i < 14 ? " " : "\n");
      ++edited;
    } else {
      strcat(strcat(o, line), "\n");
    }
  }
  FILE *w = fopen(path, "w");
  cr_assert_not_null(w);
  fputs(o, w);
  fclose(w);
  free(s);
  free(o);
  return edited;
}

Test(stale_entry, is_noted_and_timed_again) {
  setenv("CLNET_CACHE_DIR", at("cache"), 1);
  clnet_conv2d_desc d = {.n = 2, .in_h = 8, .in_w = 8, .in_c = 4, .out_c = 4, .k_h = 1, .k_w = 1, .stride = 1,
                         .padding = CLNET_PADDING_SAME};
  clnet_ctx *ctx = NULL;
  cr_assert_eq(clnet_ctx_create(NULL, &ctx), CLNET_SUCCESS, "%s", clnet_last_error());
  clnet_conv_algo_choice c;
  cr_assert_eq(clnet_conv2d_algo_choice(ctx, &d, CLNET_PASS_FORWARD, &c), CLNET_SUCCESS, "%s", clnet_last_error());
  char path[4600];
  clnet_conv_algo_db_path(ctx, path, sizeof path);
  clnet_ctx_free(ctx);
  cr_assert(path[0], "no find-db");
  /* a 1x1 conv recorded as Winograd's, which applies only to 3x3 stride-1 convs */
  cr_assert_eq(edit_entries(path, "forward 2 8 8 4 4 1 1 1 ", "winograd"), 1);
  cr_assert_eq(clnet_ctx_create(NULL, &ctx), CLNET_SUCCESS, "%s", clnet_last_error());
  notes[0] = '\0';
  clnet_ctx_set_algo_note_fn(ctx, keep_note, NULL);
  cr_assert_eq(clnet_conv2d_algo_choice(ctx, &d, CLNET_PASS_FORWARD, &c), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert(c.algo != CLNET_CONV_ALGO_WINOGRAD && c.source == CLNET_ALGO_SOURCE_TIMED,
            "the stale entry was used (%s, source %d)", clnet_conv_algo_str(c.algo), (int)c.source);
  cr_assert(strstr(notes, path) && strstr(notes, "stale"), "the note must name the file:\n%s", notes);
  clnet_ctx_free(ctx);
  long n = 0;
  char *s = slurp(path, &n);
  cr_assert(s && !strstr(s, " winograd "), "the rewritten find-db still holds the stale entry:\n%s", s);
  free(s);
}

/* The same through a training run: a strided conv's entry edited to Winograd failed every run. */
Test(stale_entry, training_goes_on) {
  char prefix[700], args[1024], cmd[1200], path[1024] = "";
  snprintf(prefix, sizeof prefix, "CLNET_CACHE_DIR='%s'", at("tcache"));
  snprintf(args, sizeof args, TRAIN " --data %s --out %s", dir, at("t1"));
  cr_assert_eq(clnet_cli_run(prefix, args, out, sizeof out), 0, "%s", out);
  snprintf(cmd, sizeof cmd, "ls %s/conv-algos-*.txt", at("tcache"));
  FILE *p = popen(cmd, "r");
  cr_assert(p && fgets(path, sizeof path, p), "no conv find-db in %s", at("tcache"));
  pclose(p);
  path[strcspn(path, "\n")] = '\0';
  /* layer3.0.conv1 at width 2: 3x3 stride 2, where Winograd does not apply (stride 1 only) */
  cr_assert_geq(edit_entries(path, "forward 32 15 15 4 8 3 3 2 ", "winograd"), 1, "no such shape in\n%s", path);
  snprintf(args, sizeof args, TRAIN " --data %s --out %s", dir, at("t2"));
  cr_assert_eq(clnet_cli_run(prefix, args, out, sizeof out), 0, "a stale entry must not fail the run:\n%s", out);
  cr_assert(strstr(out, "stale entry") && strstr(out, path), "no note naming the file:\n%s", out);
}

/* ---- checkpoint values ------------------------------------------------------------------------ */

TestSuite(checkpoint_values, .init = make_data, .fini = remove_data, .timeout = 300);

/* A checkpoint of one epoch: <dir>/ck/last.safetensors. */
static const char *trained_checkpoint(void) {
  char args[1024];
  snprintf(args, sizeof args, TRAIN " --data %s --out %s", dir, at("ck"));
  cr_assert_eq(run(args), 0, "%s", out);
  return at("ck/last.safetensors");
}

/* Copies src to dst through clnet's writer (a valid checksum), with element 0 of `tensor` set to
 * `value` (for "adam.step": *step) and metadata `key` set to `val` (when not NULL). */
static void rewrite(const char *src, const char *dst, const char *tensor, float value, const int64_t *step,
                    const char *key, const char *val) {
  clnet_st_file *f = NULL;
  cr_assert_eq(clnet_safetensors_read(src, &f), CLNET_SUCCESS, "%s", clnet_last_error());
  const int32_t nt = clnet_st_count(f), nm = clnet_st_meta_count(f);
  clnet_st_tensor *t = calloc((size_t)nt, sizeof *t);
  const char **keys = calloc((size_t)nm, sizeof *keys), **vals = calloc((size_t)nm, sizeof *vals);
  void *copy = NULL;
  int found = tensor == NULL;
  for (int32_t i = 0; i < nt; ++i) {
    t[i] = *clnet_st_get(f, i);
    if (tensor && !strcmp(t[i].name, tensor)) {
      int64_t n = 1;
      for (int32_t d = 0; d < t[i].ndim; ++d) n *= t[i].shape[d];
      const size_t bytes = (size_t)n * (size_t)clnet_dtype_size(t[i].dtype);
      copy = malloc(bytes);
      memcpy(copy, t[i].data, bytes);
      if (step) memcpy(copy, step, sizeof *step);
      else memcpy(copy, &value, sizeof value);
      t[i].data = copy;
      found = 1;
    }
  }
  cr_assert(found, "no tensor %s in %s", tensor, src);
  int32_t m = 0;
  for (int32_t i = 0; i < nm; ++i) {
    const char *k = NULL, *v = NULL;
    clnet_st_meta_at(f, i, &k, &v);
    if (!strcmp(k, CLNET_ST_CRC_KEY)) continue;
    keys[m] = k;
    vals[m++] = key && !strcmp(k, key) ? val : v;
  }
  cr_assert_eq(clnet_safetensors_write(dst, t, nt, keys, vals, m), CLNET_SUCCESS, "%s", clnet_last_error());
  free(copy);
  free(t);
  free(keys);
  free(vals);
  clnet_st_free(f);
}

/* The first tensor whose name ends in `suffix`. */
static void tensor_named(const char *path, const char *suffix, char *dst, size_t cap) {
  clnet_st_file *f = NULL;
  cr_assert_eq(clnet_safetensors_read(path, &f), CLNET_SUCCESS);
  dst[0] = '\0';
  for (int32_t i = 0; i < clnet_st_count(f) && !dst[0]; ++i) {
    const char *n = clnet_st_get(f, i)->name;
    if (strlen(n) > strlen(suffix) && !strcmp(n + strlen(n) - strlen(suffix), suffix) && strncmp(n, "adam.", 5))
      snprintf(dst, cap, "%s", n);
  }
  clnet_st_free(f);
  cr_assert(dst[0], "no *%s in %s", suffix, path);
}

Test(checkpoint_values, bad_tensor_values_are_refused_by_load_and_eval) {
  const char *ck = trained_checkpoint(), *bad = at("bad.safetensors");
  char var[200], weight[200], adam_m[220], adam_v[220];
  tensor_named(ck, ".moving_variance", var, sizeof var);
  tensor_named(ck, ".kernel", weight, sizeof weight);
  snprintf(adam_m, sizeof adam_m, "adam.m.%s", weight);
  snprintf(adam_v, sizeof adam_v, "adam.v.%s", weight);
  const struct {
    const char *tensor;
    float value;
  } cases[] = {{weight, NAN}, {weight, INFINITY}, {var, -0.5f}, {var, INFINITY}, {adam_m, NAN}, {adam_v, -1e-3f}};
  clnet_ctx *ref = NULL;
  cr_assert_eq(clnet_ctx_create("ref", &ref), CLNET_SUCCESS);
  clnet_graph *g = NULL;
  cr_assert_eq(clnet_checkpoint_read_graph(ck, &g), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_graph_setup(g, ref, 2), CLNET_SUCCESS, "%s", clnet_last_error());
  clnet_checkpoint_meta m;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
    rewrite(ck, bad, cases[c].tensor, cases[c].value, NULL, NULL, NULL);
    cr_assert_neq(clnet_checkpoint_load(g, bad, &m), CLNET_SUCCESS, "%s = %g was accepted", cases[c].tensor,
                  (double)cases[c].value);
    cr_assert(strstr(clnet_last_error(), cases[c].tensor) && strstr(clnet_last_error(), bad), "%s",
              clnet_last_error());
  }
  const int64_t steps[2] = {INT64_MAX, -1};
  for (int c = 0; c < 2; ++c) {
    rewrite(ck, bad, "adam.step", 0, &steps[c], NULL, NULL);
    cr_assert_neq(clnet_checkpoint_load(g, bad, &m), CLNET_SUCCESS, "adam.step %lld was accepted", (long long)steps[c]);
    cr_assert(strstr(clnet_last_error(), "adam.step"), "%s", clnet_last_error());
  }
  cr_assert_eq(clnet_checkpoint_load(g, ck, &m), CLNET_SUCCESS, "%s", clnet_last_error());
  clnet_graph_free(g);
  clnet_ctx_free(ref);
  /* eval gave numbers from a NaN network */
  rewrite(ck, bad, weight, NAN, NULL, NULL, NULL);
  char args[1024];
  snprintf(args, sizeof args, "eval --checkpoint %s --data %s", bad, dir);
  cr_assert_eq(run(args), 1, "%s", out);
  cr_assert(strstr(out, weight), "%s", out);
}

Test(checkpoint_values, bad_metadata_values_are_refused) {
  const char *ck = trained_checkpoint(), *bad = at("badmeta.safetensors");
  const struct {
    const char *key, *val;
  } cases[] = {{"clnet.best_val_accuracy", "nan"}, {"clnet.best_val_accuracy", "-0.5"},
               {"clnet.best_val_accuracy", "1.5"}, {"clnet.lr", "nan"},
               {"clnet.lr", "-1"},                 {"clnet.lr", "0"},
               {"clnet.lr", "1e-3junk"},           {"clnet.seed", "12abc"},
               {"clnet.seed", "-3"},               {"clnet.epoch_loss_sum", "nan"},
               {"clnet.epoch_loss_sum", "-1"},     {"clnet.position", "2 5 999"},
               {"clnet.position", "0 0 5"},        {"clnet.norm_mean", "nan,0,0"}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
    rewrite(ck, bad, NULL, 0, NULL, cases[c].key, cases[c].val);
    clnet_checkpoint_meta m;
    clnet_status st = clnet_checkpoint_read_meta(bad, &m);
    cr_assert_neq(st, CLNET_SUCCESS, "%s = '%s' was accepted", cases[c].key, cases[c].val);
    const char *named = !strcmp(cases[c].key, "clnet.norm_mean") ? "normalisation" : cases[c].key;
    cr_assert(strstr(clnet_last_error(), named), "the message must name %s: %s", named, clnet_last_error());
  }
}

Test(checkpoint_values, a_checkpoint_without_its_checksum_is_refused) {
  const char *ck = trained_checkpoint();
  long n = 0;
  char *b = slurp(ck, &n);
  cr_assert_not_null(b);
  /* the key's name changed, the data left alone: no clnet.crc32 any more */
  char *k = NULL;
  for (long i = 0; i + 11 <= n && !k; ++i)
    if (!memcmp(b + i, CLNET_ST_CRC_KEY, 11)) k = b + i;
  cr_assert_not_null(k);
  k[10] = 'X';
  FILE *f = fopen(at("nocrc.safetensors"), "wb");
  cr_assert_not_null(f);
  cr_assert_eq(fwrite(b, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  free(b);
  clnet_checkpoint_meta m;
  cr_assert_neq(clnet_checkpoint_read_meta(at("nocrc.safetensors"), &m), CLNET_SUCCESS, "accepted without checksum");
  cr_assert(strstr(clnet_last_error(), "checksum") && strstr(clnet_last_error(), "clnet-checkpoint-1"), "%s",
            clnet_last_error());
}

Test(checkpoint_values, a_position_outside_its_epoch_is_refused_on_resume) {
  const char *ck = trained_checkpoint();
  rewrite(ck, ck, NULL, 0, NULL, "clnet.position", "50 0 0"); /* the epoch has 3 batches */
  char args[1024];
  snprintf(args, sizeof args, "train --epochs 2 --batch 32 --width 2 --max-eval 32 --data %s --out %s --resume", dir,
           at("ck"));
  cr_assert_eq(run(args), 1, "%s", out);
  cr_assert(strstr(out, "clnet.position") && strstr(out, "3 batches"), "%s", out);
}

/* ---- options ----------------------------------------------------------------------------------- */

TestSuite(options, .init = make_data, .fini = remove_data, .timeout = 300);

/* Every numeric flag, with a value that parses as a number but cannot mean anything: a usage
 * error (status 2) before anything runs. */
Test(options, numeric_values_out_of_range_are_usage_errors) {
  static const char *const bad[] = {
      "train --lr 1e-50", "train --lr 1e308", "train --lr 0", "train --lr -1e-3", "train --lr nan", "train --lr inf",
      "train --lr 1e-3x", "train --lr 1e-11", "train --lr 2e6", "train --epochs 0", "train --epochs 1e3",
      "train --epochs 1000001", "train --batch 0", "train --batch 65537", "train --width 0", "train --width 4097",
      "train --seed 0", "train --seed -1", "train --seed 99999999999999999999", "train --max-batches 0",
      "train --stop-after -2", "train --max-eval 0", "train --max-skipped 0", "train --max-skipped 1.5",
      "train --max-skipped nan", "train --depth 50", "train --shares 1e-300", "eval --checkpoint x --batch 0",
      "bench --batch 0", "bench --steps 0", "bench --repeat 65", "bench --width 5000", "tune --batch 70000",
      "tune --width 0", "check --seed 0", "check --model --algo fastest", "check --model --dense-algo x",
      "check --algo gemm", "check --model resnet18 --algo"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    char args[1024];
    snprintf(args, sizeof args, "%s --data %s --out %s", bad[i], dir, at("never"));
    if (!strncmp(bad[i], "eval", 4) || !strncmp(bad[i], "bench", 5) || !strncmp(bad[i], "tune", 4) ||
        !strncmp(bad[i], "check", 5))
      snprintf(args, sizeof args, "%s", bad[i]);
    cr_assert_eq(run(args), 2, "'%s' must be a usage error:\n%s", bad[i], out);
    cr_assert(strstr(out, "usage") || strstr(out, "--help"), "'%s': %s", bad[i], out);
  }
  cr_assert(!exists(at("never")), "a refused run created its output directory");
}

/* A learning rate of 1e6 overflows the gradients from the second step on: skipping them all
 * ended with status 0 and NaN in the history. */
Test(options, a_run_that_skips_too_many_steps_fails) {
  char args[1024], hist[700];
  snprintf(args, sizeof args, "train --data %s --epochs 2 --batch 32 --width 2 --recipe seed --lr 1e6 --on-nan skip --out %s", dir,
           at("skips"));
  cr_assert_eq(run(args), 1, "%s", out);
  cr_assert(strstr(out, "skipped") && strstr(out, "--max-skipped"), "%s", out);
  snprintf(hist, sizeof hist, "%s/history.csv", at("skips"));
  long n = 0;
  char *h = slurp(hist, &n);
  cr_assert(!h || !strstr(h, "nan"), "NaN was written into the history:\n%s", h);
  free(h);
  /* a bound that allows them: the run goes on, the history stays finite */
  snprintf(args, sizeof args,
           "train --data %s --epochs 2 --batch 32 --width 2 --recipe seed --lr 1e6 --on-nan skip --max-skipped 1 --out %s", dir,
           at("skips1"));
  int rc = run(args);
  snprintf(hist, sizeof hist, "%s/history.csv", at("skips1"));
  h = slurp(hist, &n);
  cr_assert(rc == 0 || strstr(out, "every step was skipped") || strstr(out, "the weights have diverged"), "%s", out);
  cr_assert(!h || !strstr(h, "nan"), "NaN was written into the history:\n%s", h);
  free(h);
}

/* ---- the smaller ones ------------------------------------------------------------------------- */

TestSuite(small, .init = make_data, .fini = remove_data, .timeout = 300);

Test(small, check_op_that_matches_nothing_is_a_usage_error) {
  cr_assert_eq(run("check --op nosuchop"), 2, "%s", out);
  cr_assert(strstr(out, "nosuchop") && strstr(out, "conv2d_forward"), "the message must list the ops:\n%s", out);
  cr_assert_eq(run("check --model --op relu"), 2, "%s", out);
}

Test(small, shapes_with_trailing_junk_are_refused) {
  static const char *const bad[] = {"bench --input 32x32x3x9", "bench --input 32x32x3junk", "bench --input 32x32",
                                    "bench --input ' 32x32x3'", "tune --input 32x32x3x9", "tune --input 28x28x1,"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    cr_assert_eq(run(bad[i]), 2, "'%s' must be a usage error:\n%s", bad[i], out);
    cr_assert(strstr(out, "--input"), "%s", out);
  }
  const char *ck = trained_checkpoint(), *bad_ck = at("junk.safetensors");
  static const char *const inputs[] = {"32x32x3junk", "32x32x3x9", "32x32x+3", "32x 32x3"};
  for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; ++i) {
    rewrite(ck, bad_ck, NULL, 0, NULL, "clnet.input", inputs[i]);
    clnet_checkpoint_meta m;
    cr_assert_neq(clnet_checkpoint_read_meta(bad_ck, &m), CLNET_SUCCESS, "clnet.input = '%s' was accepted", inputs[i]);
    cr_assert(strstr(clnet_last_error(), "clnet.input"), "%s", clnet_last_error());
  }
}

Test(small, environment_values_are_named_as_such) {
  cr_assert_eq(clnet_cli_run("CLNET_DEVICE=,", "train --out /proc/never", out, sizeof out), 2, "%s", out);
  cr_assert(strstr(out, "CLNET_DEVICE") && !strstr(out, "--device:"), "reported as a flag:\n%s", out);
  cr_assert_eq(clnet_cli_run("CLNET_DEVICE=nosuch", "check --op relu", out, sizeof out), 2, "%s", out);
  cr_assert(strstr(out, "CLNET_DEVICE") && strstr(out, "nosuch"), "%s", out);
  cr_assert_neq(clnet_cli_run("CLNET_FAULT_ALLOC=abc", "check --op relu", out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "CLNET_FAULT_ALLOC") && strstr(out, "abc"), "a bad value must not be ignored:\n%s", out);
}

Test(small, data_parallel_nan_report_names_the_layer) {
  char args[1024];
  snprintf(args, sizeof args, TRAIN " --device 0,0 --recipe seed --lr 1e6 --data %s --out %s", dir, at("dp"));
  cr_assert_eq(run(args), 1, "%s", out);
  cr_assert(strstr(out, "first non-finite values in layer '") && !strstr(out, "layer '?'") && !strstr(out, "(none"),
            "the layer must be named:\n%s", out);
}

/* A path (or an argument) with an escape sequence and a newline reaches the terminal escaped. */
Test(small, control_bytes_in_paths_are_escaped) {
  char args[1024];
  snprintf(args, sizeof args, "train --data \"$(printf '%s/no\\033[31mpe\\nclnet: forged')\" --out %s", dir,
           at("esc"));
  cr_assert_eq(run(args), 1, "%s", out);
  cr_assert(!strchr(out, '\033') && !strstr(out, "\nclnet: forged"), "raw control bytes reached the terminal:\n%s",
            out);
  cr_assert(strstr(out, "\\x1b[31mpe\\nclnet: forged"), "the path must be shown escaped:\n%s", out);
  cr_assert_eq(run("train --model \"$(printf 'x\\033]0;title\\007')\""), 2, "%s", out);
  cr_assert(!strchr(out, '\033') && !strchr(out, '\007') && strstr(out, "\\x1b]0;title\\x07"), "%s", out);
}

Test(small, eval_needs_only_the_test_split) {
  const char *ck = trained_checkpoint();
  cr_assert_eq(mkdir(at("testonly"), 0755), 0);
  write_cifar(at("testonly/test_batch.bin"), 32, 3);
  char args[1024];
  snprintf(args, sizeof args, "eval --checkpoint %s --data %s", ck, at("testonly"));
  cr_assert_eq(run(args), 0, "eval must not need the training files:\n%s", out);
  cr_assert(strstr(out, "over 32 images"), "%s", out);
  clnet_dataset test = {0};
  cr_assert_eq(clnet_dataset_open_dir(at("testonly"), NULL, &test, NULL), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(test.count, 32);
  clnet_dataset_free(&test);
}

Test(small, a_gap_in_the_cifar_training_files_is_an_error) {
  cr_assert_eq(mkdir(at("gap"), 0755), 0);
  write_cifar(at("gap/data_batch_1.bin"), 32, 1);
  write_cifar(at("gap/data_batch_3.bin"), 32, 2);
  write_cifar(at("gap/test_batch.bin"), 32, 3);
  clnet_dataset train = {0}, test = {0};
  cr_assert_neq(clnet_dataset_open_dir(at("gap"), &train, &test, NULL), CLNET_SUCCESS, "data_batch_3.bin was ignored");
  cr_assert(strstr(clnet_last_error(), "data_batch_3.bin") && strstr(clnet_last_error(), "data_batch_2.bin"), "%s",
            clnet_last_error());
  char args[1024];
  snprintf(args, sizeof args, TRAIN " --data %s --out %s", at("gap"), at("gapout"));
  cr_assert_eq(run(args), 1, "%s", out);
  cr_assert(strstr(out, "data_batch_2.bin"), "%s", out);
}
