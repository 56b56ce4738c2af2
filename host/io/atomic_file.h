/* Internal: write a file atomically; every file clnet writes (checkpoints, history, plots, the
 * kernel cache, the find-dbs, CLBlast's parameters) goes through here.
 *
 *   clnet_atomic_file af;
 *   CLNET_TRY(clnet_atomic_open(&af, path));          creates <path>.clnet-tmp.<pid>.<random> (io/fs.h)
 *   st = clnet_atomic_write(&af, bytes, n);            any number of times
 *   if (st != CLNET_SUCCESS) { clnet_atomic_abort(&af); return st; }
 *   return clnet_atomic_commit(&af);                   flush, fsync, rename, fsync dir
 *
 * The temporary is created exclusively (O_CREAT | O_EXCL | O_NOFOLLOW, a fresh random name per
 * try, mkstemp-style): whatever is planted at a name, a link or a file, is never followed,
 * truncated or written. Writers that print may use af.fp directly; commit checks the stream.
 * commit and abort always release the file; on any failure the temporary file
 * is removed and <path> is untouched. Errors are CLNET_ERR_IO with a message
 * naming the path and strerror. */
#ifndef CLNET_IO_ATOMIC_FILE_H
#define CLNET_IO_ATOMIC_FILE_H

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
