/* Internal: the choice per (shape, pass) of the dense layer's GEMM (ops/dense_gemm.h) between
 * clnet's kernel and CLBlast, forced, by the fixed rule, or AUTO's checked-and-timed choice
 * (tune/autotune.h) remembered in the dense find-db (finddb.h has the file's rules and locking):
 *   $CLNET_CACHE_DIR/dense-gemm-<16 hex: FNV-1a of device name, driver, platform>.txt
 *
 *   # clnet dense GEMM find-db 1
 *   # device: <name> | driver: <version> | platform: <version>
 *   # kernels: <16 hex: hash of cl/gemm.cl>
 *   # pass n in out algo clblast_ms clnet_ms
 *   forward 256 128 10 clnet 0.112 0.031
 *   backward-filter 256 128 10 clblast 0.052 rejected
 *
 * One line per (n, in, out, pass) of clnet_dense_forward / _backward (pass: forward y = x.w^T,
 * backward-data dx = dy.w, backward-filter dw = dy^T.x); ms is the best measured time of each
 * candidate's GEMM, "rejected" a candidate that failed the reference check. */
#ifndef CLNET_TUNE_DENSE_ALGO_H
#define CLNET_TUNE_DENSE_ALGO_H

#include "clnet/ops.h"
#include "ops/dense_gemm.h"
#include "runtime/ctx.h"
#include "tune/finddb.h"

typedef struct dense_fdb_key {
  int32_t pass; /* clnet_pass */
  int32_t n, in, out;
} dense_fdb_key;

typedef struct dense_fdb_entry {
  dense_fdb_key key;
  clnet_dense_algo_choice choice;
  int32_t counted; /* already counted in the stats of this process */
} dense_fdb_entry;

/* Per ctx (attached state, created on first use): the table and its file, what AUTO did, the test hook. Notes go to
 * the ctx's conv note function (clnet_ctx_set_algo_note_fn). */
struct clnet_dense_algos {
  clnet_fdb t;
  /* clnet_dense_algo + 1 once chosen by clnet_ctx_set_dense_algo or CLNET_DENSE_ALGO, 0 until then */
  int32_t algo_setting;
  clnet_algo_stats stats;
  int32_t sabotage; /* test hook (clnet_dense_algo_test_sabotage): algo + 1 whose check output is
                       perturbed; 0 in every normal run */
};

/* The ctx's dense GEMM setting as it is kept (clnet_dense_algo + 1, 0 while not chosen yet), for
 * the cross-checks (as clnet_conv_algo_setting_save). */
int32_t clnet_dense_algo_setting_save(clnet_ctx *ctx);
void clnet_dense_algo_setting_restore(clnet_ctx *ctx, int32_t saved);

/* Test hook, never called in a normal run: from now on the reference check of `algo` on ctx
 * sees its output perturbed (one element + 1), as a wrong kernel would give. AUTO = off. */
void clnet_dense_algo_test_sabotage(clnet_ctx *ctx, clnet_dense_algo algo);

/* The dense entries' format (tune/dense_finddb.c). */
extern const clnet_fdb_format clnet_dense_finddb_format;

/* File level (clnet_fdb_read_file / write_file with the dense format), for the tests and fuzzers. */
clnet_status clnet_dense_finddb_read_file(const char *path, uint64_t kernels_hash, dense_fdb_entry **entries,
                                          int32_t *n, int32_t *stale);
clnet_status clnet_dense_finddb_write_file(const char *path, uint64_t kernels_hash, const char *device_line,
                                           const dense_fdb_entry *entries, int32_t n);
/* The kernels hash the dense find-db of ctx's device is written with (0 without a cache). */
uint64_t clnet_dense_finddb_kernels_hash(clnet_ctx *ctx);

/* The dense half of tune's algorithm chooser (clnet_algo_chooser.dense). */
clnet_status clnet_tune_dense_resolve(clnet_ctx *ctx, clnet_pass pass, int32_t n, int32_t in, int32_t out,
                                      const clnet_dense_gemm_io *io, clnet_dense_algo_choice *out_choice);

#endif
