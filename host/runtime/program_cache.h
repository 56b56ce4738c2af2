/* Internal: the on-disk program cache's entry reader, exposed so that tests
 * and the fuzz harness (fuzz/fuzz_program_cache.c) can call it directly.
 *
 * Entry layout (host byte order, written by program.c's cache_store):
 *   u32 magic "CLNB" | u32 version | u64 n | n bytes of program binary | u32 CRC-32 of the binary
 * and nothing after it. */
#ifndef CLNET_RUNTIME_PROGRAM_CACHE_H
#define CLNET_RUNTIME_PROGRAM_CACHE_H

#include <stddef.h>

/* Read one cache entry.
 *   path: the entry file
 *   size: out; the binary's length (1 .. 2^30) when an entry is returned
 * Returns the malloc'd binary (the caller frees it), or NULL when the entry is
 * absent, unreadable or corrupt -- all of which mean "rebuild from source", so
 * no error is recorded. */
unsigned char *clnet_program_cache_load(const char *path, size_t *size);

/* The cache directory ($CLNET_CACHE_DIR, else $XDG_CACHE_HOME/clnet, else ~/.cache/clnet) into
 * dst; 0 when there is none (CLNET_NO_CACHE set to anything but "" or "0", or no HOME). Shared
 * with the files higher parts keep next to the program binaries. */
int clnet_cache_dir(char *dst, size_t cap);

/* Stores an entry (header, binary, CRC) at `path` in `dir` (created when missing), atomically
 * (io/atomic_file.h). Best effort: a cache that cannot be written only costs a rebuild. */
void clnet_program_cache_store(const char *dir, const char *path, const unsigned char *bin, size_t n);

#endif
