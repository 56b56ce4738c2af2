/* Files a training run reads and writes: checkpoints (safetensors), the
 * per-epoch history (CSV) and the training-curves figure (PNG).
 *
 * Every writer is atomic: it writes `<path>.clnet-tmp.<pid>.<random>` in the target's
 * directory, flushes and fsyncs it, renames it over `<path>` and fsyncs the
 * directory. On failure the temporary file is removed and an existing `<path>`
 * is left exactly as it was. Every function returns a clnet_status and, on
 * failure, records a one-line message naming the file and the problem
 * (clnet_last_error()). Nothing here prints or exits. */
#ifndef CLNET_IO_H
#define CLNET_IO_H

#include <stdint.h>

#include "clnet/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------- */
/* safetensors                                                                */
/* ------------------------------------------------------------------------- */
/* File layout (https://github.com/huggingface/safetensors):
 *   u64 little-endian N | N bytes of JSON header | data section
 * The header is one JSON object: an optional "__metadata__" object of
 * string -> string, and for every tensor
 *   "name": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}
 * with offsets relative to the start of the data section, little-endian
 * row-major data. clnet pads the header with spaces to a multiple of 8 bytes
 * and stores a CRC-32 (zlib) of the whole data section as the metadata entry
 * "clnet.crc32" (8 lowercase hex digits). */

/* Element types clnet reads and writes. Sizes: F32 4, I32 4, I64 8 bytes. */
typedef enum { CLNET_DTYPE_F32, CLNET_DTYPE_I32, CLNET_DTYPE_I64 } clnet_dtype;

/* Maximum number of dimensions of one tensor. */
#define CLNET_ST_MAX_DIMS 8

/* Metadata key under which the writer stores the data section's CRC-32. */
#define CLNET_ST_CRC_KEY "clnet.crc32"

/* One named tensor, as given to the writer or returned by the reader. */
typedef struct clnet_st_tensor {
  const char *name;        /* unique, non-empty, not "__metadata__" */
  clnet_dtype dtype;       /* element type */
  int32_t ndim;            /* 0 (a scalar: one element) .. CLNET_ST_MAX_DIMS */
  int64_t shape[CLNET_ST_MAX_DIMS]; /* shape[0..ndim-1], each >= 0 */
  const void *data;        /* product(shape) elements, row-major, host byte
                              order; may be NULL only if there are 0 elements.
                              From the reader: aligned for its dtype. */
} clnet_st_tensor;

/* Bytes per element of `dtype` (4 or 8), or 0 for a value outside the enum. */
int32_t clnet_dtype_size(clnet_dtype dtype);

/* The safetensors name of `dtype`: "F32", "I32" or "I64" ("?" if invalid). */
const char *clnet_dtype_name(clnet_dtype dtype);

/* Write a safetensors file atomically.
 *   path        target file; its directory must exist and be writable
 *   tensors     n_tensors tensors; the header lists them in this order (the
 *               data section places 8-byte types first so every tensor is
 *               aligned for its type)
 *   n_tensors   >= 0
 *   meta_keys   n_meta metadata keys (unique, non-empty, not "clnet.crc32",
 *               which the writer adds itself); may be NULL if n_meta == 0
 *   meta_values n_meta metadata values (any strings)
 *   n_meta      >= 0
 * Returns CLNET_ERR_INVALID_ARGUMENT for a bad argument (duplicate name, bad
 * shape, NULL data, ...), CLNET_ERR_TOO_LARGE if sizes overflow, CLNET_ERR_IO
 * if creating, writing, syncing or renaming fails (message names the path and
 * strerror); `path` is untouched on any failure. */
clnet_status clnet_safetensors_write(const char *path, const clnet_st_tensor *tensors,
                                     int32_t n_tensors, const char *const *meta_keys,
                                     const char *const *meta_values, int32_t n_meta);

/* A loaded safetensors file: owns the header strings and the tensor bytes. */
typedef struct clnet_st_file clnet_st_file;

/* Load and validate a whole safetensors file.
 *   path  file to read
 *   out   receives the loaded file (free with clnet_st_free); set to NULL on
 *         failure
 * Before allocating tensor storage the reader checks: file size >= 8; header
 * length <= 100,000,000 and within the file; header is a JSON object followed
 * only by whitespace; "__metadata__", if present, maps strings to strings;
 * every tensor has a known dtype (F32, I32, I64), a shape of at most 8
 * non-negative integers whose byte size does not overflow, and data_offsets
 * [begin, end] inside the data section with end - begin == product(shape) *
 * dtype size; names are unique; tensors do not overlap and together cover the
 * data section exactly (no gaps, no trailing bytes, as the safetensors format
 * requires). If "clnet.crc32" is present the data section's CRC-32 must match
 * (files written by other tools, which lack it, load without that check).
 * Returns CLNET_ERR_IO if the file cannot be opened or read, CLNET_ERR_FORMAT
 * for any malformation ("<path>: <problem>"), CLNET_ERR_OUT_OF_HOST_MEMORY. */
clnet_status clnet_safetensors_read(const char *path, clnet_st_file **out);

/* Number of tensors in `f` (0 for NULL). */
int32_t clnet_st_count(const clnet_st_file *f);

/* Tensor `i` (0 <= i < count) in header order, or NULL if out of range. The
 * pointer and its name/data stay valid until clnet_st_free(f). */
const clnet_st_tensor *clnet_st_get(const clnet_st_file *f, int32_t i);

/* The tensor called `name`, or NULL if absent. Valid until clnet_st_free(f). */
const clnet_st_tensor *clnet_st_find(const clnet_st_file *f, const char *name);

/* The metadata value for `key` (including "clnet.crc32" when present), or NULL
 * if absent. Valid until clnet_st_free(f). */
const char *clnet_st_meta(const clnet_st_file *f, const char *key);

/* Number of metadata entries in `f` (0 for NULL), "clnet.crc32" included. */
int32_t clnet_st_meta_count(const clnet_st_file *f);

/* Metadata entry `i` (0 <= i < count) in header order.
 *   key, value  receive pointers valid until clnet_st_free(f); either may be
 *               NULL if not wanted
 * Returns 1, or 0 (writing nothing) if `i` is out of range. */
int32_t clnet_st_meta_at(const clnet_st_file *f, int32_t i, const char **key,
                         const char **value);

/* Release everything `f` owns. NULL is a no-op. */
void clnet_st_free(clnet_st_file *f);

/* ------------------------------------------------------------------------- */
/* Training history                                                           */
/* ------------------------------------------------------------------------- */

/* One epoch's results, as Keras's History records them. */
typedef struct clnet_epoch_record {
  int32_t epoch;        /* epoch number, >= 0; consecutive within a history */
  double loss;          /* mean training loss over the epoch's batches */
  double accuracy;      /* mean training accuracy, fraction in [0, 1] */
  double val_loss;      /* test-split loss (inference mode) */
  double val_accuracy;  /* test-split accuracy, fraction in [0, 1] */
  double seconds;       /* wall time of the epoch, training + evaluation */
  double images_per_s;  /* training throughput */
  double lr;            /* the learning rate of the epoch's last step (NaN in files from before it) */
} clnet_epoch_record;

/* A growable list of epoch records. Zero-initialise it ({0}) before first use;
 * release with clnet_history_free. */
typedef struct clnet_history {
  clnet_epoch_record *rows; /* rows[0..count-1] */
  int32_t count, capacity;
} clnet_history;

/* Append a copy of `*r`. The epoch must be >= 0 and, if `h` is not empty,
 * exactly one more than the last row's epoch (CLNET_ERR_INVALID_ARGUMENT
 * otherwise). Values may be NaN or infinite (a diverged run is recorded as
 * it is). CLNET_ERR_OUT_OF_HOST_MEMORY leaves `h` unchanged. */
clnet_status clnet_history_append(clnet_history *h, const clnet_epoch_record *r);

/* Free the rows and zero `*h`. NULL is a no-op. */
void clnet_history_free(clnet_history *h);

/* Write `h` as CSV, atomically (temp file + rename). First line:
 *   epoch,loss,accuracy,val_loss,val_accuracy,seconds,images_per_s,lr
 * (files with the older header, without lr, read back with lr = NaN)
 * then one line per row; numbers use the shortest form that reads back to the
 * same double ("nan", "inf", "-inf" for non-finite values). An empty history
 * writes the header only. CLNET_ERR_IO on failure, `path` untouched. */
clnet_status clnet_history_write_csv(const clnet_history *h, const char *path);

/* Read a CSV written by clnet_history_write_csv (for --resume).
 *   path  file to read
 *   h     an initialised history (zeroed or holding rows); on success its old
 *         rows are freed and replaced by the file's; on failure it is
 *         unchanged
 * Strict: the header must match exactly; every line has exactly 7 fields, an
 * integer epoch and 6 numbers with no spaces or trailing characters; epochs
 * are >= 0 and consecutive; CRLF line endings are accepted. Errors name the
 * file and line, e.g. "h.csv:4: field 3 (accuracy) is not a number: '0.9x'".
 * CLNET_ERR_IO if unreadable, CLNET_ERR_FORMAT if malformed. */
clnet_status clnet_history_read_csv(const char *path, clnet_history *h);

/* Draw the training curves as one 1500x500 PNG (the seed's 15x5 figure):
 * left panel "Accuracy over N Epochs" (Train = accuracy, Test = val_accuracy),
 * right panel "Loss over N Epochs" (Train = loss, Test = val_loss), N =
 * h->count, x axis "Epoch", legend, grid, white background. Points are marked
 * when there are few epochs, so one epoch still shows; non-finite values are
 * left out of lines and ranges. Written atomically (temp file + rename).
 * Uses PLplot (device "pngcairo") in a stream of its own, so it may be called
 * repeatedly; calls are serialised by an internal lock. PLplot's fatal errors
 * are caught (the library never exits) and reported as CLNET_ERR_IO.
 * Returns CLNET_ERR_INVALID_ARGUMENT for an empty history, CLNET_ERR_UNSUPPORTED
 * if PLplot lacks the pngcairo driver, CLNET_ERR_IO if writing fails. */
clnet_status clnet_history_plot(const clnet_history *h, const char *png_path);

#ifdef __cplusplus
}
#endif
#endif
