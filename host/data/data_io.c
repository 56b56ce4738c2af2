/* Reading plain or gzipped files for the data readers. See data_io.h. */
#include "data/data_io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/error.h"
#include "io/fs.h"

clnet_status clnet_dfile_open(clnet_dfile *f, const char *path) {
  memset(f, 0, sizeof *f);
  f->fd = -1;
  f->path = path;
  int fd = -1;
  CLNET_TRY(clnet_open_regular(path, &fd)); /* a FIFO or a directory is named, never read */
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return clnet_set_error(CLNET_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
  }
  f->size = (uint64_t)st.st_size;
  unsigned char magic[2] = {0, 0};
  ssize_t n;
  do n = pread(fd, magic, 2, 0); while (n < 0 && errno == EINTR);
  if (n < 0) {
    int e = errno;
    close(fd);
    return clnet_set_error(CLNET_ERR_IO, "%s: cannot read: %s", path, strerror(e));
  }
  if (n == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
    gzFile gz = gzdopen(fd, "rb"); /* takes ownership of fd */
    if (!gz) {
      close(fd);
      return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: cannot start gzip decompression", path);
    }
    gzbuffer(gz, 1u << 18); /* 256 KiB: fewer, larger reads */
    f->gz = gz;
  } else {
    f->fd = fd;
  }
  return CLNET_SUCCESS;
}

clnet_status clnet_dfile_read(clnet_dfile *f, void *buf, size_t n, size_t *got) {
  unsigned char *p = buf;
  size_t done = 0;
  *got = 0;
  if (f->gz) {
    while (done < n) {
      size_t want = n - done;
      if (want > (1u << 30)) want = 1u << 30;
      int r = gzread((gzFile)f->gz, p + done, (unsigned)want);
      if (r < 0) {
        int err = Z_OK;
        const char *msg = gzerror((gzFile)f->gz, &err);
        if (err == Z_ERRNO)
          return clnet_set_error(CLNET_ERR_IO, "%s: cannot read: %s", f->path, strerror(errno));
        return clnet_set_error(CLNET_ERR_FORMAT, "%s: corrupt gzip data after %zu decompressed bytes: %s",
                               f->path, done, msg ? msg : "unknown zlib error");
      }
      if (r == 0) break;
      done += (size_t)r;
      if ((size_t)r < want) {
        int err = Z_OK;
        gzerror((gzFile)f->gz, &err);
        if (err != Z_OK) break; /* truncated stream: stop, the caller reports the short read */
      }
    }
  } else {
    while (done < n) {
      size_t want = n - done;
      if (want > (1u << 30)) want = 1u << 30;
      ssize_t r = read(f->fd, p + done, want);
      if (r < 0) {
        if (errno == EINTR) continue;
        return clnet_set_error(CLNET_ERR_IO, "%s: cannot read: %s", f->path, strerror(errno));
      }
      if (r == 0) break;
      done += (size_t)r;
    }
  }
  *got = done;
  return CLNET_SUCCESS;
}

int clnet_dfile_gzip_truncated(clnet_dfile *f) {
  if (!f->gz) return 0;
  int err = Z_OK;
  gzerror((gzFile)f->gz, &err);
  return err == Z_BUF_ERROR;
}

void clnet_dfile_close(clnet_dfile *f) {
  if (f->gz) gzclose((gzFile)f->gz);
  else if (f->fd >= 0) close(f->fd);
  f->gz = NULL;
  f->fd = -1;
}

const char *clnet_path_base(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

const char *clnet_fmt_count(char buf[32], uint64_t v) {
  char tmp[32];
  int n = 0;
  do {
    if (n % 4 == 3) tmp[n++] = ',';
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (int i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
  buf[n] = '\0';
  return buf;
}
