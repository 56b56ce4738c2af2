/* CIFAR-10 binary-version reader.
 *
 * A batch file is a sequence of 3,073-byte records: 1 label byte (0..9), then the
 * 32x32 image as three 1,024-byte planes R, G, B, each row-major. On load the
 * planes are interleaved: out (count, 32, 32, 3) with out[h][w][c] = plane_c[h*32 + w]. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clnet/data.h"
#include "core/error.h"
#include "data/data_io.h"

#define CIFAR_SIDE 32
#define CIFAR_PLANE (CIFAR_SIDE * CIFAR_SIDE) /* 1,024 */
#define CIFAR_IMAGE (3 * CIFAR_PLANE)         /* 3,072 */
#define CIFAR_RECORD (1 + CIFAR_IMAGE)        /* 3,073 */
#define CIFAR_CLASSES 10
#define CIFAR_CHUNK 1024 /* records read at a time */

/* Check a batch file's size and return its record count (opens and closes it). */
static clnet_status cifar_count(const char *path, uint64_t *records) {
  char a[32], b[32];
  clnet_dfile f;
  CLNET_TRY(clnet_dfile_open(&f, path));
  const int gz = f.gz != NULL;
  const uint64_t size = f.size;
  clnet_dfile_close(&f);
  if (gz)
    return clnet_set_error(CLNET_ERR_FORMAT,
                           "%s: file is gzip-compressed; CIFAR-10 batches must be the uncompressed "
                           "binary version (extract cifar-10-binary.tar.gz)", path);
  if (size == 0 || size % CIFAR_RECORD != 0)
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: file is %s bytes, a CIFAR-10 batch must be a %smultiple of %s",
                           path, clnet_fmt_count(a, size), size == 0 ? "nonzero " : "",
                           clnet_fmt_count(b, CIFAR_RECORD));
  *records = size / CIFAR_RECORD;
  return CLNET_SUCCESS;
}

/* Read `records` records of path into images (records, 32, 32, 3) and labels (records). */
static clnet_status cifar_read(const char *path, uint64_t records, uint8_t *chunk, uint8_t *images,
                               uint8_t *labels) {
  char a[32], b[32];
  clnet_dfile f;
  CLNET_TRY(clnet_dfile_open(&f, path));
  clnet_status st = CLNET_SUCCESS;
  if (f.gz || f.size != records * CIFAR_RECORD) {
    st = clnet_set_error(CLNET_ERR_IO, "%s: file changed while it was being read", path);
    goto done;
  }
  for (uint64_t r0 = 0; r0 < records; r0 += CIFAR_CHUNK) {
    const uint64_t n = records - r0 < CIFAR_CHUNK ? records - r0 : CIFAR_CHUNK;
    size_t got = 0;
    CLNET_TRY_GOTO(clnet_dfile_read(&f, chunk, (size_t)(n * CIFAR_RECORD), &got), st, done);
    if (got != n * CIFAR_RECORD) {
      st = clnet_set_error(CLNET_ERR_IO, "%s: file ends after %s bytes, expected %s", path,
                           clnet_fmt_count(a, r0 * CIFAR_RECORD + got), clnet_fmt_count(b, records * CIFAR_RECORD));
      goto done;
    }
    for (uint64_t i = 0; i < n; i++) {
      const uint8_t *rec = chunk + i * CIFAR_RECORD;
      if (rec[0] >= CIFAR_CLASSES) {
        st = clnet_set_error(CLNET_ERR_FORMAT,
                             "%s: record %s (byte offset %s) has label %u, CIFAR-10 labels are 0..%d",
                             path, clnet_fmt_count(a, r0 + i), clnet_fmt_count(b, (r0 + i) * CIFAR_RECORD),
                             rec[0], CIFAR_CLASSES - 1);
        goto done;
      }
      labels[r0 + i] = rec[0];
      const uint8_t *R = rec + 1, *G = R + CIFAR_PLANE, *B = G + CIFAR_PLANE;
      uint8_t *dst = images + (r0 + i) * CIFAR_IMAGE; /* (32, 32, 3) */
      for (int p = 0; p < CIFAR_PLANE; p++) {
        dst[3 * p + 0] = R[p];
        dst[3 * p + 1] = G[p];
        dst[3 * p + 2] = B[p];
      }
    }
  }
done:
  clnet_dfile_close(&f);
  return st;
}

clnet_status clnet_dataset_load_cifar10(const char *const *paths, int32_t n_paths, clnet_dataset *out) {
  if (!out) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_dataset_load_cifar10: out is NULL");
  memset(out, 0, sizeof *out);
  if (!paths || n_paths < 1)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "clnet_dataset_load_cifar10: need at least one path (n_paths = %d)", (int)n_paths);
  for (int32_t i = 0; i < n_paths; i++)
    if (!paths[i])
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_dataset_load_cifar10: paths[%d] is NULL", (int)i);
  /* Pass 1: every file's size, before anything is allocated. */
  uint64_t total = 0;
  for (int32_t i = 0; i < n_paths; i++) {
    uint64_t n = 0;
    CLNET_TRY(cifar_count(paths[i], &n));
    total += n;
    if (total > INT32_MAX || total > SIZE_MAX / CIFAR_IMAGE)
      return clnet_set_error(CLNET_ERR_FORMAT, "%s: the batches up to this one hold more than %d images",
                             paths[i], INT32_MAX);
  }
  uint8_t *images = malloc((size_t)total * CIFAR_IMAGE);
  uint8_t *labels = malloc((size_t)total);
  uint8_t *chunk = malloc((size_t)CIFAR_CHUNK * CIFAR_RECORD);
  clnet_status st = CLNET_SUCCESS;
  if (!images || !labels || !chunk) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: cannot allocate %d images of 32x32x3",
                         paths[0], (int)total);
    goto fail;
  }
  /* Pass 2: read and convert. */
  uint64_t at = 0;
  for (int32_t i = 0; i < n_paths; i++) {
    uint64_t n = 0;
    CLNET_TRY_GOTO(cifar_count(paths[i], &n), st, fail);
    if (at + n > total) {
      st = clnet_set_error(CLNET_ERR_IO, "%s: file changed while it was being read", paths[i]);
      goto fail;
    }
    CLNET_TRY_GOTO(cifar_read(paths[i], n, chunk, images + at * CIFAR_IMAGE, labels + at), st, fail);
    at += n;
  }
  if (at != total) {
    st = clnet_set_error(CLNET_ERR_IO, "%s: a file changed while it was being read", paths[0]);
    goto fail;
  }
  free(chunk);
  out->count = (int32_t)total;
  out->height = CIFAR_SIDE;
  out->width = CIFAR_SIDE;
  out->channels = 3;
  out->classes = CIFAR_CLASSES;
  out->images = images;
  out->labels = labels;
  return CLNET_SUCCESS;
fail:
  free(images);
  free(labels);
  free(chunk);
  return st;
}
