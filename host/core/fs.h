/* Internal: small file-system helpers shared by the caches and the trainer. */
#ifndef CLNET_CORE_FS_H
#define CLNET_CORE_FS_H

#include <stddef.h>

/* Creates `path` and its missing parents (mode 0755), like `mkdir -p`. Returns 0 when the
 * last directory exists afterwards, else the errno of creating it (callers that then open a
 * file there may ignore it: the open reports the path and errno). */
int clnet_mkdir_p(const char *path);

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
