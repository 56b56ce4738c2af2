/* Internal: a find-db, the remembered outcome of AUTO's timed algorithm choices for one kind of op
 * (convolutions: conv_finddb.h; the dense layer's GEMMs: dense_algo.h). The entries and their
 * line format belong to the kind (clnet_fdb_format); the file, its checks and the protocol that
 * keeps processes in agreement are shared, here.
 *
 * In memory: one table per ctx and kind. On disk: one text file per device and kind, next to the
 * program binaries (same directory rules; CLNET_NO_CACHE=1 turns it off),
 *   $CLNET_CACHE_DIR/<prefix>-<16 hex: FNV-1a of device name, driver, platform>.txt
 *
 *   <the kind's magic line>
 *   # device: <name> | driver: <version> | platform: <version>
 *   # kernels: <16 hex: FNV-1a of the kind's kernel files, cl/<name>.cl>
 *   # <the kind's column names>
 *   <one entry per line>
 *
 * Lines starting with '#' after the first are comments, except the one kernels line, which must
 * come before the first entry. A file whose kernels line differs is stale (other kernels): its
 * entries are ignored and replaced. Any other deviation (a line the kind cannot parse, two
 * entries with one key, a line over 511 bytes, no newline at the end) makes the whole file
 * corrupt: it is ignored with a note naming the file and line, its shapes are timed again and
 * the file is rewritten. A well-formed entry whose choice does not apply to its shape (fmt->stale)
 * is dropped alone, with a note, and its shape timed again. Writers take an fcntl lock on <file>.lock, re-read the file, keep any
 * entry another process committed first (first writer wins, so concurrent processes agree), and
 * replace the file atomically (temp file, fsync, rename). */
#ifndef CLNET_TUNE_FINDDB_H
#define CLNET_TUNE_FINDDB_H

#include <stdio.h>

#include "runtime/ctx.h"

/* One kind of entry. An entry is a struct of entry_size bytes that starts with its key of
 * key_size bytes; keys are compared bytewise, so a key struct must have no padding. */
typedef struct clnet_fdb_format {
  const char *what;    /* in notes: "conv find-db" */
  const char *prefix;  /* file name: "<prefix>-<device hash>.txt" */
  const char *magic;   /* the first line, "# clnet conv find-db 1" */
  const char *columns; /* the column line, "# pass n h w ..." */
  const char *const *kernel_files; /* cl/<name>.cl behind the candidates: their hash is the kernels line */
  int32_t n_kernel_files;
  size_t entry_size, key_size;
  /* NULL, or what is wrong with one entry line (without its newline); fills *entry */
  const char *(*parse)(const char *line, void *entry);
  /* one entry line with its newline */
  void (*print)(FILE *f, const void *entry);
  /* 0 for an entry that lives in memory only (the fixed rule's answers, not measured choices) */
  int (*persist)(const void *entry);
  /* NULL, or NULL when the entry's choice applies to its key's shape, else why not (a well-formed
   * line from a hand-edited file or another version of clnet): such an entry is stale, dropped
   * with a note naming the file, and its shape timed again */
  const char *(*stale)(const void *entry, char *why, size_t cap);
} clnet_fdb_format;

/* One kind's table for one ctx, and its file. */
typedef struct clnet_fdb {
  const clnet_fdb_format *fmt;
  int32_t opened;   /* path resolved and the file read (first AUTO use) */
  int32_t use_disk; /* 0: no cache directory; the kind falls back to its fixed rule */
  char dir[4096], path[4400];
  uint64_t kernels_hash;
  char device_line[600];
  void *entries; /* n entries of fmt->entry_size bytes */
  int32_t n, cap;
  int32_t bad_file_noted; /* a corrupt file is noted once per table */
  int32_t stale_noted;    /* so is a stale entry (fmt->stale) */
  /* receives notes (a corrupt file); may be NULL */
  void (*note)(void *user, const char *line);
  void *note_user;
} clnet_fdb;

/* Resolves t's file for ctx's device and reads it (once; later calls return at once). With no
 * cache directory, or a reference ctx, use_disk stays 0 and the table lives in memory only. */
clnet_status clnet_fdb_open(clnet_fdb *t, const clnet_fdb_format *fmt, clnet_ctx *ctx);
void clnet_fdb_release(clnet_fdb *t); /* frees the entries */
/* The entry with this key (key_size bytes), or NULL. */
void *clnet_fdb_find(clnet_fdb *t, const void *key);
/* Adds an entry to memory only; *out (if not NULL) points at the stored copy. */
clnet_status clnet_fdb_add(clnet_fdb *t, const void *entry, void **out);
/* Records a timed choice: under the file lock, re-reads the file; an entry for the same key that
 * another process wrote first wins (*out points at it, as read), else `entry` is added and the
 * file rewritten with every entry fmt->persist keeps. *persisted = 0 when the file could not be
 * written (the caller must not rely on the choice then; the status is still CLNET_SUCCESS). */
clnet_status clnet_fdb_commit(clnet_fdb *t, const void *entry, void **out, int32_t *persisted);

/* File level, for the tests and the fuzzers.
 * Reads `path`: *entries (malloc'd, the caller frees) and *n. A missing file gives n = 0 and
 * success; a stale file (other kernels_hash) *stale = 1 and n = 0; a corrupt one CLNET_ERR_FORMAT
 * with the message "<path>:<line>: <what>". */
clnet_status clnet_fdb_read_file(const clnet_fdb_format *fmt, const char *path, uint64_t kernels_hash,
                                 void **entries, int32_t *n, int32_t *stale);
/* Writes the whole file atomically (every entry given, persist or not). */
clnet_status clnet_fdb_write_file(const clnet_fdb_format *fmt, const char *path, uint64_t kernels_hash,
                                  const char *device_line, const void *entries, int32_t n);

/* Whether AUTO times a kind of candidate on ctx's device (time only candidates that can win).
 * CLBlast's GEMMs (the conv im2col path,
 * the dense layer's CLBlast GEMMs) are not timed on CPU devices: measured on PoCL they lost on
 * every pass of every ResNet layer (2.2-25x, docs/PERFORMANCE.md) and on the dense layer (2-6x),
 * and timing them costs CLBlast's compilation, 15 s of a cold start. Their find-db column then
 * reads "-". CLNET_TUNE_ALL=1 times every candidate that applies. Forcing an algorithm
 * (CLNET_CONV_ALGO=gemm, CLNET_DENSE_ALGO=clblast) is not affected. */
typedef enum clnet_fdb_candidate {
  CLNET_FDB_CANDIDATE_CLBLAST = 0,
  /* Winograd F(2x2) where F(4x4) applies too: not timed on CPU devices, where F(4x4) was faster on
   * every pass of 64-256 channels (1.08-1.74x at width 64) and at width 16 F(2x2) beat both F(4x4)
   * and direct on one pass of 21, by 3 % (docs/PERFORMANCE.md, "Cold start"); timing it costs a
   * second set of transform kernels to compile. */
  CLNET_FDB_CANDIDATE_WINOGRAD2_BESIDE_4 = 1,
} clnet_fdb_candidate;
int clnet_fdb_candidate_can_win(const clnet_ctx *ctx, clnet_fdb_candidate c);

/* A time in ms as the files hold it: "-" (not a candidate, -2), "rejected" (< 0) or "%.3f"; and
 * back: 1 on success. parse_ms takes "rejected" and milliseconds in [0, 1e9]; "-" is the kind's. */
void clnet_fdb_format_ms(char *dst, size_t cap, double ms);
int clnet_fdb_parse_ms(const char *s, double *out);

#endif
