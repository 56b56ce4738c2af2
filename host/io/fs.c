/* Small file-system helpers (io/fs.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "io/fs.h"

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

int clnet_mkdir_p(const char *path) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; ++p)
    if (*p == '/') {
      *p = '\0';
      mkdir(tmp, 0755);
      *p = '/';
    }
  return mkdir(tmp, 0755) == 0 || errno == EEXIST ? 0 : errno;
}

/* ---- reading: regular files only ------------------------------------------------------- */

const char *clnet_file_kind(unsigned mode) {
  const mode_t m = (mode_t)mode;
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISLNK(m)) return "a symbolic link";
  return "not a regular file";
}

int clnet_open_regular_fd(const char *path, unsigned *mode) {
  struct stat sb;
  if (stat(path, &sb) != 0) return -1;
  if (!S_ISREG(sb.st_mode)) {
    if (mode) *mode = (unsigned)sb.st_mode;
    errno = EINVAL;
    return -1;
  }
  int fd;
  do fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC); while (fd < 0 && errno == EINTR);
  if (fd < 0) return -1;
  int flags = fcntl(fd, F_GETFL);
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    const int e = errno;
    if (mode) *mode = (unsigned)sb.st_mode;
    close(fd);
    errno = S_ISREG(sb.st_mode) ? e : EINVAL;
    return -1;
  }
  return fd;
}

clnet_status clnet_open_regular(const char *path, int *fd) {
  unsigned mode = 0;
  *fd = clnet_open_regular_fd(path, &mode);
  if (*fd >= 0) return CLNET_SUCCESS;
  const int e = errno;
  clnet_status st = e == EINVAL && mode
                        ? clnet_set_error(CLNET_ERR_IO, "%s: not a regular file (%s)", path, clnet_file_kind(mode))
                        : clnet_set_error(CLNET_ERR_IO, "%s: cannot open: %s", path, strerror(e));
  errno = e;
  return st;
}

clnet_status clnet_fopen_regular(const char *path, FILE **fp) {
  int fd = -1;
  *fp = NULL;
  CLNET_TRY(clnet_open_regular(path, &fd));
  *fp = fdopen(fd, "rb");
  if (*fp) return CLNET_SUCCESS;
  const int e = errno;
  close(fd);
  clnet_status st = clnet_set_error(CLNET_ERR_IO, "%s: cannot open: %s", path, strerror(e));
  errno = e;
  return st;
}

/* ---- temporaries ------------------------------------------------------------------------ */

#define TEMP_SUFFIX_LEN 6

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

int clnet_temp_name(char *dst, size_t cap, const char *target) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  static uint64_t counter;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  /* not a secret: the writers create it with O_EXCL and retry on a clash */
  uint64_t s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 16) ^
               (uint64_t)(uintptr_t)dst ^ __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) * 0x2545f4914f6cdd1dull;
  char suffix[TEMP_SUFFIX_LEN + 1];
  uint64_t r = splitmix(&s);
  for (int i = 0; i < TEMP_SUFFIX_LEN; ++i, r /= 62) suffix[i] = alphabet[r % 62];
  suffix[TEMP_SUFFIX_LEN] = '\0';
  int n = snprintf(dst, cap, "%s" CLNET_TEMP_TAG "%ld.%s", target, (long)getpid(), suffix);
  return n > 0 && (size_t)n < cap;
}

int clnet_temp_name_pid(const char *name, long *pid) {
  /* the last occurrence of the tag: the target's own name may hold anything */
  const char *tag = NULL;
  for (const char *p = strstr(name, CLNET_TEMP_TAG); p; p = strstr(p + 1, CLNET_TEMP_TAG)) tag = p;
  if (!tag || tag == name) return 0;
  const char *p = tag + strlen(CLNET_TEMP_TAG);
  long v = 0;
  int digits = 0;
  for (; *p >= '0' && *p <= '9'; ++p, ++digits) {
    if (v > (long)INT32_MAX / 10) return 0;
    v = v * 10 + (*p - '0');
  }
  if (digits == 0 || *p != '.' || v < 1) return 0;
  ++p;
  for (int i = 0; i < TEMP_SUFFIX_LEN; ++i)
    if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9'))) return 0;
  if (p[TEMP_SUFFIX_LEN] != '\0') return 0;
  *pid = v;
  return 1;
}

int clnet_remove_stale_temps(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  int removed = 0;
  struct dirent *e;
  char path[4400];
  while ((e = readdir(d)) != NULL) {
    long pid = 0;
    if (!clnet_temp_name_pid(e->d_name, &pid)) continue;
    /* a live process (ours, or one kill() may not signal) keeps its temporaries */
    if (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
    int n = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat sb;
    if (n < 0 || (size_t)n >= sizeof path || lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
    if (unlink(path) == 0) ++removed;
  }
  closedir(d);
  return removed;
}
