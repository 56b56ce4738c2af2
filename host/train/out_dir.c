/* The output directory's lock, its stale temporaries and the previous run in it (out_dir.h). */
#include "train/out_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "io/fs.h"
#include "io/atomic_file.h"

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif
#ifndef O_NOFOLLOW
#define O_NOFOLLOW 0
#endif

/* The files of a run: a directory holding any of them holds a previous run. */
static const char *const run_files[] = {"last.safetensors", "best.safetensors", "ema.safetensors", "history.csv",
                                        "curves.png"};
#define N_RUN_FILES (sizeof run_files / sizeof run_files[0])

/* The pid the holder wrote into the lock file, or 0 (not written yet, or not a number). */
static long holder_pid(int fd) {
  char buf[32];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  buf[n] = '\0';
  char *end = NULL;
  long pid = strtol(buf, &end, 10);
  return end != buf && (*end == '\n' || *end == '\0') && pid > 0 ? pid : 0;
}

static clnet_status lock(const char *dir, clnet_out_dir *od) {
  char path[4200];
  snprintf(path, sizeof path, "%s/" CLNET_OUT_DIR_LOCK, dir);
  int fd;
  do fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0644);
  while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return clnet_set_error(CLNET_ERR_IO, "%s: cannot create the lock file %s: %s (is the output directory writable?)",
                           dir, path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    return clnet_set_error(CLNET_ERR_IO, "%s: not a regular file (clnet keeps the run's lock there)", path);
  }
  int rc;
  do rc = flock(fd, LOCK_EX | LOCK_NB); while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int e = errno;
    long pid = e == EWOULDBLOCK ? holder_pid(fd) : 0;
    close(fd);
    if (e != EWOULDBLOCK) return clnet_set_error(CLNET_ERR_IO, "%s: cannot lock: %s", path, strerror(e));
    char who[48] = "";
    if (pid) snprintf(who, sizeof who, " (pid %ld)", pid);
    return clnet_set_error(CLNET_ERR_IO,
                           "%s: in use by another clnet run%s, which holds %s; wait for it to end or choose "
                           "another --out", dir, who, path);
  }
  char line[32];
  int len = snprintf(line, sizeof line, "%ld\n", (long)getpid());
  if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)len, 0) != (ssize_t)len) {
    int e = errno;
    close(fd);
    return clnet_set_error(CLNET_ERR_IO, "%s: cannot write the lock file: %s", path, strerror(e));
  }
  od->fd = fd;
  return CLNET_SUCCESS;
}

/* A file can be created there: found now, not after the first epoch. */
static clnet_status probe(const char *dir) {
  char target[4200];
  snprintf(target, sizeof target, "%s/" CLNET_OUT_DIR_LOCK, dir);
  clnet_atomic_file af;
  clnet_status st = clnet_atomic_open(&af, target);
  if (st != CLNET_SUCCESS) return clnet_wrap_error(st, "%s: the output directory is not writable", dir);
  clnet_atomic_abort(&af);
  return CLNET_SUCCESS;
}

static clnet_status previous_run(const char *dir, int32_t overwrite) {
  char path[4200], found[160] = "";
  int any = 0;
  for (size_t i = 0; i < N_RUN_FILES; ++i) {
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, run_files[i]);
    if (lstat(path, &sb) != 0) continue;
    size_t used = strlen(found);
    snprintf(found + used, sizeof found - used, "%s%s", any++ ? ", " : "", run_files[i]);
    if (overwrite && unlink(path) != 0 && errno != ENOENT)
      return clnet_set_error(CLNET_ERR_IO, "%s: cannot remove the previous run's file: %s", path, strerror(errno));
  }
  if (any && !overwrite)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "%s: holds a previous run (%s); continue it with --resume, replace it with --overwrite, "
                           "or choose another --out", dir, found);
  return CLNET_SUCCESS;
}

clnet_status clnet_out_dir_open(const char *dir, int32_t resume, int32_t overwrite, clnet_out_dir *od) {
  od->fd = -1;
  if (!dir || !*dir) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "train: no output directory");
  if (resume && overwrite)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: resume and overwrite exclude each other", dir);
  int err = clnet_mkdir_p(dir);
  if (err) return clnet_set_error(CLNET_ERR_IO, "%s: cannot create the output directory: %s", dir, strerror(err));
  struct stat s;
  if (stat(dir, &s) != 0 || !S_ISDIR(s.st_mode)) return clnet_set_error(CLNET_ERR_IO, "%s: not a directory", dir);
  CLNET_TRY(lock(dir, od));
  clnet_remove_stale_temps(dir);
  clnet_status st = probe(dir);
  if (st == CLNET_SUCCESS && !resume) st = previous_run(dir, overwrite);
  if (st != CLNET_SUCCESS) clnet_out_dir_close(od);
  return st;
}

void clnet_out_dir_close(clnet_out_dir *od) {
  if (od->fd >= 0) close(od->fd); /* releases the flock; the file stays, its pid is stale from now on */
  od->fd = -1;
}
