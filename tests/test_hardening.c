/* Hardening: each suite is one class of fault found by trying to break clnet (docs/RELIABILITY.md,
 * "Hardening"), and each test one that failed before its fix. Most go through the clnet
 * executable on a tiny CIFAR-format set (96 training and 32 test images, ResNet-18 at width 2). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
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
#include "clnet/train.h"

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
