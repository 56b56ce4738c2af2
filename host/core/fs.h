/* Internal: small file-system helpers shared by the caches and the trainer. */
#ifndef CLNET_CORE_FS_H
#define CLNET_CORE_FS_H

/* Creates `path` and its missing parents (mode 0755), like `mkdir -p`. Returns 0 when the
 * last directory exists afterwards, else the errno of creating it (callers that then open a
 * file there may ignore it: the open reports the path and errno). */
int clnet_mkdir_p(const char *path);

#endif
