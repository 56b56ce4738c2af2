/* SIGKILL at random moments — during steps, evaluations and checkpoint saves —
 * never leaves a checkpoint that fails to load, and a run restarted with
 * --resume after every kill ends bit-identical to a run never killed. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clnet/train.h"
#include "cifar_files.h"
#include "core/rng.h"

static char dir[256];

/* Long enough that 24 kills 100-700 ms after each start land before the work runs out (each
 * restart resumes from the last checkpoint, so every kill takes some of the remaining epochs). */
#define KILL_EPOCHS 120
#define STR_(x) #x
#define STR(x) STR_(x)

/* A fresh directory under /tmp with data/ holding a small CIFAR-format set. */
static void make_kill_data(const char *pattern) {
  snprintf(dir, sizeof dir, "%s", pattern);
  cr_assert_not_null(mkdtemp(dir));
  char p[512];
  snprintf(p, sizeof p, "%s/data", dir);
  cr_assert_eq(mkdir(p, 0755), 0);
  snprintf(p, sizeof p, "%s/data/data_batch_1.bin", dir);
  write_cifar(p, 96, 1);
  snprintf(p, sizeof p, "%s/data/test_batch.bin", dir);
  write_cifar(p, 32, 2);
}

/* Runs clnet train and returns its exit status; kills it with SIGKILL after
 * `kill_after_ms` (< 0: never). *killed says whether the kill came first. */
/* Without --resume: --overwrite, since a run killed before its first checkpoint may have left
 * history.csv behind (a previous run, which clnet train otherwise refuses to replace). */
static int run_train(const char *out_dir, int resume, int kill_after_ms, int *killed) {
  const char *cli = getenv("CLNET_CLI");
  cr_assert_not_null(cli, "CLNET_CLI must point to the clnet executable (ctest sets it)");
  pid_t pid = fork();
  cr_assert_neq(pid, -1);
  if (pid == 0) {
    freopen("/dev/null", "w", stdout);
    char data[300];
    snprintf(data, sizeof data, "%s/data", dir);
    execl(cli, cli, "train", "--data", data, "--epochs", STR(KILL_EPOCHS), "--batch", "32", "--width", "2", "--seed", "3",
          "--out", out_dir, resume ? "--resume" : "--overwrite", (char *)NULL);
    _exit(127);
  }
  *killed = 0;
  int status = 0;
  if (kill_after_ms >= 0) {
    struct timespec ts = {kill_after_ms / 1000, (long)(kill_after_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    if (waitpid(pid, &status, WNOHANG) == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      *killed = 1;
      return -9;
    }
  } else {
    waitpid(pid, &status, 0);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(kill, sigkill_anywhere_then_resume_is_exact, .timeout = 900) {
  make_kill_data("/tmp/clnet-kill-XXXXXX");

  char full[300], killed_dir[300], ckpt[400];
  snprintf(full, sizeof full, "%s/full", dir);
  snprintf(killed_dir, sizeof killed_dir, "%s/killed", dir);
  int k = 0;
  cr_assert_eq(run_train(full, 0, -1, &k), 0, "the uninterrupted run failed");

  clnet_rng r;
  clnet_rng_seed(&r, 99);
  int kills = 0, finished = 0;
  for (int attempt = 0; attempt < 200 && !finished; ++attempt) {
    snprintf(ckpt, sizeof ckpt, "%s/last.safetensors", killed_dir);
    struct stat sb;
    int have = stat(ckpt, &sb) == 0;
    int after = kills < 24 ? 100 + (int)clnet_rng_below(&r, 600) : -1; /* the last run goes to the end */
    int rc = run_train(killed_dir, have, after, &k);
    if (k) {
      ++kills;
    } else {
      cr_assert_eq(rc, 0, "a run after %d kills failed with status %d", kills, rc);
      finished = 1;
    }
    /* whatever the kill interrupted, the checkpoint on disk is complete */
    if (stat(ckpt, &sb) == 0) {
      clnet_checkpoint_meta m;
      cr_assert_eq(clnet_checkpoint_read_meta(ckpt, &m), CLNET_SUCCESS, "after kill %d: %s", kills, clnet_last_error());
      clnet_st_file *f = NULL;
      cr_assert_eq(clnet_safetensors_read(ckpt, &f), CLNET_SUCCESS, "after kill %d: %s", kills, clnet_last_error());
      clnet_st_free(f);
    }
  }
  cr_assert(finished, "the killed run never finished");
  /* the finishing run removed the temp files of the saves that kills cut short */
  char cmd[600];
  snprintf(cmd, sizeof cmd, "ls %s | grep -q 'clnet-tmp'", killed_dir);
  cr_assert_neq(system(cmd), 0, "stale temp files left in %s", killed_dir);
  cr_assert_geq(kills, 20, "only %d kills landed", kills);

  char a[400], b[400];
  snprintf(a, sizeof a, "%s/last.safetensors", full);
  snprintf(b, sizeof b, "%s/last.safetensors", killed_dir);
  clnet_st_file *fa = NULL, *fb = NULL;
  cr_assert_eq(clnet_safetensors_read(a, &fa), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_safetensors_read(b, &fb), CLNET_SUCCESS, "%s", clnet_last_error());
  for (int32_t i = 0; i < clnet_st_count(fa); ++i) {
    const clnet_st_tensor *ta = clnet_st_get(fa, i), *tb = clnet_st_find(fb, ta->name);
    cr_assert_not_null(tb, "%s missing", ta->name);
    int64_t n = 1;
    for (int32_t d = 0; d < ta->ndim; ++d) n *= ta->shape[d];
    cr_assert_eq(memcmp(ta->data, tb->data, (size_t)n * (size_t)clnet_dtype_size(ta->dtype)), 0,
                 "%s differs from the uninterrupted run after %d kills", ta->name, kills);
  }
  clnet_st_free(fa);
  clnet_st_free(fb);
  snprintf(a, sizeof a, "%s/history.csv", full);
  snprintf(b, sizeof b, "%s/history.csv", killed_dir);
  clnet_history x = {0}, y = {0};
  cr_assert_eq(clnet_history_read_csv(a, &x), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_history_read_csv(b, &y), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(x.count, KILL_EPOCHS);
  cr_assert_eq(y.count, KILL_EPOCHS);
  for (int i = 0; i < KILL_EPOCHS; ++i)
    cr_assert(x.rows[i].loss == y.rows[i].loss && x.rows[i].val_accuracy == y.rows[i].val_accuracy,
              "epoch %d differs after %d kills", i + 1, kills);
  clnet_history_free(&x);
  clnet_history_free(&y);
}

/* A real Ctrl-C: the step in progress finishes, the state is saved, status 130. */
Test(kill, sigint_saves_and_exits_130, .timeout = 300) {
  make_kill_data("/tmp/clnet-int-XXXXXX");
  char p[512];
  const char *cli = getenv("CLNET_CLI");
  cr_assert_not_null(cli);
  char out_dir[300], data[300];
  snprintf(out_dir, sizeof out_dir, "%s/int", dir);
  snprintf(data, sizeof data, "%s/data", dir);
  pid_t pid = fork();
  cr_assert_neq(pid, -1);
  if (pid == 0) {
    freopen("/dev/null", "w", stdout);
    freopen("/dev/null", "w", stderr);
    execl(cli, cli, "train", "--data", data, "--epochs", "1000", "--batch", "32", "--width", "2", "--out", out_dir,
          (char *)NULL);
    _exit(127);
  }
  struct timespec ts = {1, 200000000L};
  nanosleep(&ts, NULL);
  kill(pid, SIGINT);
  int status = 0;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 130, "status %d", status);
  snprintf(p, sizeof p, "%s/last.safetensors", out_dir);
  clnet_checkpoint_meta m;
  cr_assert_eq(clnet_checkpoint_read_meta(p, &m), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert(m.epoch > 0 || m.batches_done > 0, "nothing was saved: epoch %d, batch %d", m.epoch, m.batches_done);
}
