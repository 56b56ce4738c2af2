/* Internal to host/data: reading a file that may be gzipped, and formatting
 * byte counts for error messages. */
#ifndef CLNET_DATA_IO_H
#define CLNET_DATA_IO_H

#include <stddef.h>
#include <stdint.h>

#include "clnet/status.h"

/* An open input file: plain (read through fd) or gzip (through zlib). */
typedef struct clnet_dfile {
  const char *path; /* as given, for messages; borrowed */
  int fd;           /* plain file descriptor, or -1 */
  void *gz;         /* gzFile when the file starts with the gzip magic 1f 8b, else NULL */
  uint64_t size;    /* bytes on disk (compressed size for gzip) */
} clnet_dfile;

/* Deflate cannot expand data more than about 1032:1; a header that declares
 * more than this times the gzip file's size is wrong and is rejected before
 * anything is allocated. */
#define CLNET_GZIP_MAX_RATIO 1040u

/* Open path for reading; detects gzip by its magic, not by the name.
 * Errors: CLNET_ERR_IO ("<path>: cannot open: <reason>", or not a regular file). */
clnet_status clnet_dfile_open(clnet_dfile *f, const char *path);

/* Read up to n bytes; *got = bytes actually read, < n only at the end of the
 * (decompressed) data. Errors: CLNET_ERR_IO (read failed), CLNET_ERR_FORMAT
 * (corrupt gzip data; a truncated gzip stream just ends early). */
clnet_status clnet_dfile_read(clnet_dfile *f, void *buf, size_t n, size_t *got);

/* True after a short read if the gzip stream ended without its trailer. */
int clnet_dfile_gzip_truncated(clnet_dfile *f);

/* Close; safe on a zeroed or already closed clnet_dfile. */
void clnet_dfile_close(clnet_dfile *f);

/* Last path component of path (for short messages). */
const char *clnet_path_base(const char *path);

/* v with thousands separators, e.g. 47040016 -> "47,040,016". Returns buf. */
const char *clnet_fmt_count(char buf[32], uint64_t v);

/* Mean and population std of x / 255 from a 256-bin histogram of byte values
 * (std 1 for a constant or empty channel). dataset.c. */
void clnet_stats_from_hist(const uint64_t hist[256], float *mean, float *std);

/* a * b into *out; returns 0 on overflow of uint64_t. */
static inline int clnet_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
  if (a != 0 && b > UINT64_MAX / a) return 0;
  *out = a * b;
  return 1;
}

#endif
