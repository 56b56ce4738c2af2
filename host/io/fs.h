/* Internal: small file-system helpers shared by the caches and the trainer. */
#ifndef CLNET_IO_FS_H
#define CLNET_IO_FS_H

#include <stddef.h>
#include <stdio.h>

#include "clnet/status.h"

/* Creates `path` and its missing parents (mode 0755), like `mkdir -p`. Returns 0 when the
 * last directory exists afterwards, else the errno of creating it (callers that then open a
 * file there may ignore it: the open reports the path and errno). */
int clnet_mkdir_p(const char *path);

/* ---- reading: regular files only -------------------------------------------------------
 * A FIFO where a file is expected blocks open() or read() forever; a directory opens and then
 * reports an absurd size; a device may do anything. Every reader opens through these: the path
 * is stat'ed first (what is not a regular file is never opened), then opened with O_NONBLOCK
 * (so that one swapped for a FIFO in between cannot block; the flag is cleared again) and
 * checked once more with fstat. */

/* What a file of this st_mode is, for messages: "a directory", "a FIFO", "a character device",
 * "a block device", "a socket", "a symbolic link", else "not a regular file". */
const char *clnet_file_kind(unsigned mode);
/* The descriptor (O_RDONLY | O_CLOEXEC), or -1 with errno (ENOENT and the like from open;
 * EINVAL for a file that is not a regular one, whose st_mode goes to *mode when not NULL).
 * Records no error: for callers to whom a bad file only means "rebuild". */
int clnet_open_regular_fd(const char *path, unsigned *mode);
/* Same, recording "<path>: cannot open: <strerror>" or "<path>: not a regular file (a FIFO)"
 * as CLNET_ERR_IO (errno as above). */
clnet_status clnet_open_regular(const char *path, int *fd);
/* A FILE for reading ("rb") on clnet_open_regular's descriptor. */
clnet_status clnet_fopen_regular(const char *path, FILE **fp);

/* ---- temporaries ------------------------------------------------------------------------
 * Every file clnet writes goes first to a temporary next to it named
 *   <target>.clnet-tmp.<pid>.<6 characters [A-Za-z0-9]>
 * (the writer's process id, then a random suffix), so that a temporary left by a killed
 * writer is recognisable as clnet's own and as dead once its process is gone. */
#define CLNET_TEMP_TAG ".clnet-tmp."

/* Writes a fresh temporary name for `target` into dst; 0 when it does not fit. */
int clnet_temp_name(char *dst, size_t cap, const char *target);
/* 1 when the directory entry `name` is a clnet temporary (the pattern above), with *pid. */
int clnet_temp_name_pid(const char *name, long *pid);
/* Removes the clnet temporaries in `dir` (regular files only) whose process no longer
 * exists; user files, and temporaries of live processes, are left alone. Returns how many. */
int clnet_remove_stale_temps(const char *dir);

#endif
