/* IDX reader (MNIST / Fashion-MNIST), plain or gzipped.
 *
 * Format (all integers big-endian):
 *   images: magic 0x00000803 (ubyte, 3 dims), uint32 count, rows, cols, then
 *           count*rows*cols pixel bytes, row-major            -> (count, rows, cols, 1)
 *   labels: magic 0x00000801 (ubyte, 1 dim), uint32 count, then count label bytes */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clnet/data.h"
#include "core/error.h"
#include "data/data_io.h"

#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u

static uint32_t be32(const unsigned char *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* One opened IDX file whose header has been read and checked. */
typedef struct idx_file {
  clnet_dfile f;
  uint32_t dims[3]; /* count[, rows, cols] */
  int ndim;         /* 3 for images, 1 for labels */
  uint64_t header;  /* header bytes: 4 + 4*ndim */
  uint64_t payload; /* data bytes the header declares */
} idx_file;

static const char *idx_kind(int ndim) { return ndim == 3 ? "images" : "labels"; }

/* Open path, read its header, check magic and dimensions, and check the declared
 * size against the file size (plain) or what a gzip file of that size can hold. */
static clnet_status idx_open(idx_file *x, const char *path, int ndim) {
  char a[32], b[32], c[32];
  memset(x, 0, sizeof *x);
  x->f.fd = -1;
  x->ndim = ndim;
  x->header = 4 + 4 * (uint64_t)ndim;
  const uint32_t want_magic = ndim == 3 ? IDX_MAGIC_IMAGES : IDX_MAGIC_LABELS;
  CLNET_TRY(clnet_dfile_open(&x->f, path));
  const int gz = x->f.gz != NULL;
  unsigned char h[16];
  size_t got = 0;
  clnet_status st = clnet_dfile_read(&x->f, h, (size_t)x->header, &got);
  if (st != CLNET_SUCCESS) goto fail;
  /* the magic first (when there are 4 bytes): a wrong file type is the more useful message */
  uint32_t magic = got >= 4 ? be32(h) : want_magic;
  if (magic != want_magic) {
    const char *hint = "";
    if (magic == IDX_MAGIC_LABELS && ndim == 3) hint = "; this looks like an IDX labels file";
    else if (magic == IDX_MAGIC_IMAGES && ndim == 1) hint = "; this looks like an IDX images file";
    else if ((magic >> 16) != 0) hint = "; not an IDX file";
    else if (((magic >> 8) & 0xff) != 0x08) hint = "; only unsigned-byte (type 0x08) IDX data is supported";
    st = clnet_set_error(CLNET_ERR_FORMAT,
                         "%s: magic number is 0x%08X, expected 0x%08X (IDX unsigned-byte %s, %d dimension%s)%s",
                         path, magic, want_magic, idx_kind(ndim), ndim, ndim == 1 ? "" : "s", hint);
    goto fail;
  }
  if (got < x->header) {
    if (gz)
      st = clnet_set_error(CLNET_ERR_FORMAT,
                           "%s: gzip data %s after %zu bytes, an IDX %s header needs %d",
                           path, clnet_dfile_gzip_truncated(&x->f) ? "is truncated" : "ends",
                           got, idx_kind(ndim), (int)x->header);
    else
      st = clnet_set_error(CLNET_ERR_FORMAT, "%s: file is %zu bytes, an IDX %s header needs %d",
                           path, got, idx_kind(ndim), (int)x->header);
    goto fail;
  }
  static const char *const dim_names[3] = {"count", "rows", "columns"};
  for (int i = 0; i < ndim; i++) {
    x->dims[i] = be32(h + 4 + 4 * i);
    if (x->dims[i] == 0 || x->dims[i] > INT32_MAX) {
      st = clnet_set_error(CLNET_ERR_FORMAT, "%s: header declares %s = %u, must be 1..%d",
                           path, dim_names[i], x->dims[i], INT32_MAX);
      goto fail;
    }
  }
  uint64_t per_item = 1, payload = 0;
  if (ndim == 3) {
    per_item = (uint64_t)x->dims[1] * x->dims[2]; /* < 2^62, no overflow */
    if (per_item > INT32_MAX) {
      st = clnet_set_error(CLNET_ERR_FORMAT, "%s: header declares %ux%u images, more than %d pixels each",
                           path, x->dims[1], x->dims[2], INT32_MAX);
      goto fail;
    }
  }
  if (!clnet_mul_u64(per_item, x->dims[0], &payload) || payload > SIZE_MAX - 1 ||
      payload > UINT64_MAX - x->header) {
    st = clnet_set_error(CLNET_ERR_FORMAT, "%s: header declares %s %s of %s bytes each: the total size overflows",
                         path, clnet_fmt_count(c, x->dims[0]), idx_kind(ndim), clnet_fmt_count(a, per_item));
    goto fail;
  }
  x->payload = payload;
  const uint64_t total = x->header + payload;
  if (!gz && x->f.size != total) {
    if (ndim == 3)
      st = clnet_set_error(CLNET_ERR_FORMAT,
                           "%s: file is %s bytes, but its header declares %s images of %ux%u = %s bytes",
                           path, clnet_fmt_count(a, x->f.size), clnet_fmt_count(c, x->dims[0]), x->dims[1],
                           x->dims[2], clnet_fmt_count(b, total));
    else
      st = clnet_set_error(CLNET_ERR_FORMAT, "%s: file is %s bytes, but its header declares %s labels = %s bytes",
                           path, clnet_fmt_count(a, x->f.size), clnet_fmt_count(c, x->dims[0]),
                           clnet_fmt_count(b, total));
    goto fail;
  }
  if (gz && total / CLNET_GZIP_MAX_RATIO > x->f.size) {
    st = clnet_set_error(CLNET_ERR_FORMAT,
                         "%s: header declares %s bytes of data, more than a %s-byte gzip file can hold",
                         path, clnet_fmt_count(a, total), clnet_fmt_count(c, x->f.size));
    goto fail;
  }
  return CLNET_SUCCESS;
fail:
  clnet_dfile_close(&x->f);
  return st;
}

/* Read exactly x->payload bytes into dst, then make sure nothing follows. */
static clnet_status idx_read_payload(idx_file *x, uint8_t *dst) {
  char a[32], b[32];
  size_t got = 0;
  CLNET_TRY(clnet_dfile_read(&x->f, dst, (size_t)x->payload, &got));
  if (got < x->payload) {
    const uint64_t have = x->header + got, need = x->header + x->payload;
    if (x->f.gz)
      return clnet_set_error(CLNET_ERR_FORMAT,
                             "%s: gzip data %s after %s decompressed bytes, its IDX header declares %s",
                             x->f.path, clnet_dfile_gzip_truncated(&x->f) ? "is truncated" : "ends",
                             clnet_fmt_count(a, have), clnet_fmt_count(b, need));
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: file ends after %s bytes, its IDX header declares %s",
                           x->f.path, clnet_fmt_count(a, have), clnet_fmt_count(b, need));
  }
  unsigned char extra;
  CLNET_TRY(clnet_dfile_read(&x->f, &extra, 1, &got));
  if (got != 0)
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: data continues past the %s bytes its IDX header declares",
                           x->f.path, clnet_fmt_count(a, x->header + x->payload));
  if (clnet_dfile_gzip_truncated(&x->f)) /* all the data, but the trailer (CRC, size) is cut off */
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: gzip data is truncated after all %s decompressed bytes: "
                           "its trailer (CRC-32 and size) is missing", x->f.path,
                           clnet_fmt_count(a, x->header + x->payload));
  return CLNET_SUCCESS;
}

clnet_status clnet_dataset_load_idx(const char *images_path, const char *labels_path, clnet_dataset *out) {
  if (!out) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_dataset_load_idx: out is NULL");
  memset(out, 0, sizeof *out);
  if (!images_path || !labels_path)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_dataset_load_idx: a path is NULL");
  char a[32], b[32];
  idx_file im, lb;
  uint8_t *images = NULL, *labels = NULL;
  clnet_status st = idx_open(&im, images_path, 3);
  if (st != CLNET_SUCCESS) return st;
  st = idx_open(&lb, labels_path, 1);
  if (st != CLNET_SUCCESS) {
    clnet_dfile_close(&im.f);
    return st;
  }
  if (im.dims[0] != lb.dims[0]) {
    st = clnet_set_error(CLNET_ERR_FORMAT, "%s has %s images but %s has %s labels", images_path,
                         clnet_fmt_count(a, im.dims[0]), labels_path, clnet_fmt_count(b, lb.dims[0]));
    goto done;
  }
  images = malloc(im.payload);
  labels = malloc(lb.payload);
  if (!images || !labels) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: cannot allocate %s bytes for the images",
                         images_path, clnet_fmt_count(a, im.payload + lb.payload));
    goto done;
  }
  CLNET_TRY_GOTO(idx_read_payload(&im, images), st, done);
  CLNET_TRY_GOTO(idx_read_payload(&lb, labels), st, done);
  /* the format holds no class count: the labels say it (MNIST's 10, EMNIST's 47 or 62, ...) */
  uint8_t top = 0;
  for (uint32_t i = 0; i < lb.dims[0]; i++) top = labels[i] > top ? labels[i] : top;
  out->count = (int32_t)im.dims[0];
  out->height = (int32_t)im.dims[1];
  out->width = (int32_t)im.dims[2];
  out->channels = 1;
  out->classes = (int32_t)top + 1;
  out->images = images; /* (count, H, W, 1): IDX row-major is already HWC */
  out->labels = labels;
  images = labels = NULL;
done:
  free(images);
  free(labels);
  clnet_dfile_close(&im.f);
  clnet_dfile_close(&lb.f);
  return st;
}
