/* Internal: the conv find-db, AUTO's remembered choice per (device, kernels, shape, pass): the
 * conv kind of find-db (finddb.h, which has the file's rules, checks and locking).
 *
 * In memory: one table per ctx (attached state). On disk: one text file per device,
 *   $CLNET_CACHE_DIR/conv-algos-<16 hex: FNV-1a of device name, driver, platform>.txt
 *
 *   # clnet conv find-db 1
 *   # device: <name> | driver: <version> | platform: <version>
 *   # kernels: <16 hex: hash of cl/conv2d.cl, conv2d_direct.cl, conv2d_winograd.cl, conv2d_depthwise.cl>
 *   # pass n h w c_in c_out kh kw stride padding algo gemm_ms direct_ms winograd_ms winograd4_ms depthwise_ms [geometry]
 *   forward 256 28 28 1 16 3 3 1 valid direct 41.210 3.518 5.112 6.020 -
 *   backward-filter 64 8 8 256 512 3 3 2 same direct 15.402 rejected - - -
 *   forward 64 32 32 96 96 3 3 2 explicit depthwise - - - - 0.912 groups=96 pads=1,1,1,1
 *
 * One line per (shape, pass); ms is the best measured time, "rejected" a candidate that failed
 * the reference check, "-" an algorithm that does not apply or was not timed (the Winograd ones
 * outside 3x3 stride-1 undilated convs of one group, WINOGRAD4 where its transformed filter would be
 * too large, DIRECT on grouped convs, DEPTHWISE outside depthwise convs). The stride column is the
 * height stride; padding is valid, same or explicit. The geometry words after the times give what
 * differs from a square-stride, undilated, ungrouped conv, each at most once:
 *   stride=SH,SW       strides that differ (SH is the stride column)
 *   dilation=DH,DW     a dilation other than 1,1
 *   groups=G           channel groups other than 1
 *   pads=T,L,B,R       padding explicit only, and required there (the layer attribute's order)
 * winograd_ms, winograd4_ms and depthwise_ms may be missing (read as "-"), as in files written
 * before those algorithms existed, whose lines (13 to 15 fields, no geometry) read as the same keys
 * as today's for the same convs.
 * The struct also holds what is per ctx rather than per kind: the note function (which
 * the dense GEMM choice, dense_algo.h, reports through too). */
#ifndef CLNET_TUNE_CONV_FINDDB_H
#define CLNET_TUNE_CONV_FINDDB_H

#include "clnet/ops.h"
#include "tune/finddb.h"
#include "runtime/ctx.h"

/* Index of an algorithm in clnet_conv_algo_choice.ms and in the find-db's time columns: GEMM 0,
 * DIRECT 1, WINOGRAD 2, WINOGRAD4 3, DEPTHWISE 4; -1 for AUTO and RULE. */
#define CLNET_CONV_ALGO_SLOT(a)                                                                                   \
  ((a) == CLNET_CONV_ALGO_GEMM        ? 0                                                                            \
   : (a) == CLNET_CONV_ALGO_DIRECT    ? 1                                                                            \
   : (a) == CLNET_CONV_ALGO_WINOGRAD  ? 2                                                                            \
   : (a) == CLNET_CONV_ALGO_WINOGRAD4 ? 3                                                                            \
   : (a) == CLNET_CONV_ALGO_DEPTHWISE ? 4                                                                            \
                                      : -1)
static inline int clnet_conv_algo_slot(clnet_conv_algo a) { return CLNET_CONV_ALGO_SLOT(a); }
#define CLNET_CONV_ALGO_SLOTS 5

/* The effective values (clnet_conv2d_stride_h etc.); pads 0 unless padding is explicit. */
typedef struct conv_fdb_key {
  int32_t pass; /* clnet_pass */
  int32_t n, h, w, c_in, c_out, k_h, k_w, stride_h, padding;
  int32_t stride_w, dilation_h, dilation_w, groups;
  int32_t pad_top, pad_left, pad_bottom, pad_right;
} conv_fdb_key;

typedef struct conv_fdb_entry {
  conv_fdb_key key;
  clnet_conv_algo_choice choice;
  int32_t counted; /* already counted in the stats of this process */
} conv_fdb_entry;

struct clnet_conv_finddb {
  clnet_fdb t; /* the table (conv_fdb_entry) and its file */
  /* clnet_conv_algo + 1 once chosen by clnet_ctx_set_conv_algo or CLNET_CONV_ALGO; 0 until the
   * first conv reads the environment */
  int32_t algo_setting;
  clnet_algo_note_fn note_fn;
  void *note_user;
  clnet_algo_progress_fn progress_fn; /* clnet_ctx_set_algo_progress_fn, for conv and dense AUTO */
  void *progress_user;
  char last_note[640];
  int32_t fallback_noted; /* bit 1 << slot: an algorithm forced where it does not apply, noted once */
  clnet_algo_stats stats;
  int32_t sabotage; /* test hook (clnet_conv_algo_test_sabotage): algo + 1 whose check output is
                       perturbed; 0 in every normal run */
};

conv_fdb_key clnet_conv_fdb_key(const clnet_conv2d_desc *d, clnet_pass pass);
/* The ctx's table, created on first use (not yet opened). */
clnet_status clnet_conv_finddb_state(clnet_ctx *ctx, struct clnet_conv_finddb **out);
/* The ctx's table if it was created, else NULL. */
struct clnet_conv_finddb *clnet_conv_finddb_peek(const clnet_ctx *ctx);
/* The table, opened: path resolved and the file (if any) read. */
clnet_status clnet_conv_finddb_open(clnet_ctx *ctx, struct clnet_conv_finddb **out);
conv_fdb_entry *clnet_conv_finddb_find(struct clnet_conv_finddb *db, const conv_fdb_key *key);
/* Adds an entry to memory only (the rule's choices, which need no file). */
clnet_status clnet_conv_finddb_add(struct clnet_conv_finddb *db, const conv_fdb_entry *e, conv_fdb_entry **out);
/* Records a timed choice (clnet_fdb_commit): an entry for the same key that another process wrote
 * first wins (returned with source FINDDB). *persisted = 0 when the file could not be written
 * (the caller must not rely on the choice then). */
clnet_status clnet_conv_finddb_commit(struct clnet_conv_finddb *db, const conv_fdb_entry *e, conv_fdb_entry **out,
                                      int32_t *persisted);
/* A note: kept as the last one and passed to the ctx's note function. */
void clnet_conv_finddb_note(struct clnet_conv_finddb *db, const char *fmt, ...) CLNET_PRINTF(2, 3);

/* File level (clnet_fdb_read_file / write_file with the conv format), for the tests and fuzzers. */
clnet_status clnet_conv_finddb_read_file(const char *path, uint64_t kernels_hash, conv_fdb_entry **entries,
                                         int32_t *n, int32_t *stale);
/* Writes the whole file atomically. */
clnet_status clnet_conv_finddb_write_file(const char *path, uint64_t kernels_hash, const char *device_line,
                                          const conv_fdb_entry *entries, int32_t n);

#endif
