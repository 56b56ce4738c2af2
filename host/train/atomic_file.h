/* Internal: write a file atomically.
 *
 *   clnet_atomic_file af;
 *   CLNET_TRY(clnet_atomic_open(&af, path));          creates <path>.clnet-tmp.<pid>.<random> (core/fs.h)
 *   st = clnet_atomic_write(&af, bytes, n);            any number of times
 *   if (st != CLNET_SUCCESS) { clnet_atomic_abort(&af); return st; }
 *   return clnet_atomic_commit(&af);                   flush, fsync, rename, fsync dir
 *
 * commit and abort always release the file; on any failure the temporary file
 * is removed and <path> is untouched. Errors are CLNET_ERR_IO with a message
 * naming the path and strerror. */
#ifndef CLNET_TRAIN_ATOMIC_FILE_H
#define CLNET_TRAIN_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "clnet/status.h"

typedef struct clnet_atomic_file {
  const char *path; /* target, borrowed from the caller */
  char *tmp_path;   /* "<path>.clnet-tmp.<pid>.<random>", owned */
  FILE *fp;         /* open for writing on tmp_path */
  int failed;       /* a write already failed (error recorded) */
} clnet_atomic_file;

/* Create and open the temporary file next to `path`. */
clnet_status clnet_atomic_open(clnet_atomic_file *af, const char *path);

/* Append n bytes. A failure is recorded; the caller then calls abort. */
clnet_status clnet_atomic_write(clnet_atomic_file *af, const void *data, size_t n);

/* Flush, fsync and close the temporary file, rename it over the target and
 * fsync the directory. On failure removes the temporary file. */
clnet_status clnet_atomic_commit(clnet_atomic_file *af);

/* Close and remove the temporary file. Safe after a failed commit. */
void clnet_atomic_abort(clnet_atomic_file *af);

/* fsync the directory that contains `path` (used after a rename). */
clnet_status clnet_fsync_parent_dir(const char *path);

#endif
