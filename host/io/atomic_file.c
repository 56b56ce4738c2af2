/* Atomic file replacement: temp file, fsync, rename, fsync of the directory. */
#include "io/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "io/fs.h"

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif
#ifndef O_NOFOLLOW
#define O_NOFOLLOW 0
#endif

clnet_status clnet_atomic_open(clnet_atomic_file *af, const char *path) {
  memset(af, 0, sizeof *af);
  if (path == NULL || path[0] == '\0')
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "atomic write: empty path");
  af->path = path;
  size_t len = strlen(path) + 64;
  af->tmp_path = malloc(len);
  if (af->tmp_path == NULL)
    return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
  /* a fresh name each try (io/fs.h), created exclusively: never an existing file or a link */
  int fd = -1;
  for (int tries = 0; fd < 0 && tries < 100; ++tries) {
    clnet_temp_name(af->tmp_path, len, path);
    fd = open(af->tmp_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    int e = errno;
    clnet_status st = clnet_set_error(CLNET_ERR_IO, "%s: cannot create temporary file %s: %s",
                                      path, af->tmp_path, strerror(e));
    free(af->tmp_path);
    af->tmp_path = NULL;
    return st;
  }
  af->fp = fdopen(fd, "wb");
  if (af->fp == NULL) {
    int e = errno;
    close(fd);
    unlink(af->tmp_path);
    clnet_status st = clnet_set_error(CLNET_ERR_IO, "%s: cannot open temporary file %s: %s",
                                      path, af->tmp_path, strerror(e));
    free(af->tmp_path);
    af->tmp_path = NULL;
    return st;
  }
  return CLNET_SUCCESS;
}

clnet_status clnet_atomic_write(clnet_atomic_file *af, const void *data, size_t n) {
  if (af->fp == NULL || af->failed) return CLNET_ERR_IO;
  if (n == 0) return CLNET_SUCCESS;
  errno = 0;
  if (fwrite(data, 1, n, af->fp) != n) {
    int e = errno ? errno : EIO;
    af->failed = 1;
    return clnet_set_error(CLNET_ERR_IO, "%s: write to %s failed: %s", af->path, af->tmp_path,
                           strerror(e));
  }
  return CLNET_SUCCESS;
}

void clnet_atomic_abort(clnet_atomic_file *af) {
  if (af->fp != NULL) fclose(af->fp);
  af->fp = NULL;
  if (af->tmp_path != NULL) {
    unlink(af->tmp_path);
    free(af->tmp_path);
  }
  af->tmp_path = NULL;
}

/* The directory part of `path` ("." if it has none). Caller frees. */
static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (slash == NULL) return strdup(".");
  if (slash == path) return strdup("/");
  size_t n = (size_t)(slash - path);
  char *d = malloc(n + 1);
  if (d == NULL) return NULL;
  memcpy(d, path, n);
  d[n] = '\0';
  return d;
}

clnet_status clnet_fsync_parent_dir(const char *path) {
  char *dir = dir_of(path);
  if (dir == NULL) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
  int fd = open(dir, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    clnet_status st = clnet_set_error(CLNET_ERR_IO, "%s: cannot open directory %s to sync it: %s",
                                      path, dir, strerror(e));
    free(dir);
    return st;
  }
  clnet_status st = CLNET_SUCCESS;
  /* Some file systems cannot fsync a directory (EINVAL); the rename is done
   * and nothing more can be asked of them. */
  if (fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP) {
    int e = errno;
    st = clnet_set_error(CLNET_ERR_IO, "%s: fsync of directory %s failed: %s", path, dir,
                         strerror(e));
  }
  close(fd);
  free(dir);
  return st;
}

clnet_status clnet_atomic_commit(clnet_atomic_file *af) {
  if (af->fp == NULL || af->failed) {
    clnet_atomic_abort(af);
    return CLNET_ERR_IO;
  }
  const char *step = NULL;
  int e = 0;
  if (fflush(af->fp) != 0 || ferror(af->fp)) { /* ferror: a write through af.fp that failed earlier */
    step = "writing";
    e = errno;
  } else if (fsync(fileno(af->fp)) != 0) {
    step = "syncing";
    e = errno;
  }
  /* fclose releases the stream even when it reports an error. */
  int rc = fclose(af->fp);
  af->fp = NULL;
  if (step == NULL && rc != 0) {
    step = "closing";
    e = errno;
  }
  if (step == NULL && rename(af->tmp_path, af->path) != 0) {
    step = "renaming";
    e = errno;
  }
  if (step != NULL) {
    clnet_status st = clnet_set_error(CLNET_ERR_IO, "%s: %s temporary file %s failed: %s",
                                      af->path, step, af->tmp_path, strerror(e ? e : EIO));
    clnet_atomic_abort(af);
    return st;
  }
  free(af->tmp_path);
  af->tmp_path = NULL;
  return clnet_fsync_parent_dir(af->path);
}
