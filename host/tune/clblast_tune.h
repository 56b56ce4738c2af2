/* Internal: CLBlast tuning for the GEMM shapes clnet issues (`clnet tune`).
 *
 * CLBlast keeps one parameter set per (device, precision, kernel): "Xgemm" (the tiled kernel for
 * large GEMMs, after padding/transposing copies) and "XgemmDirect" (small GEMMs, m*n*k below
 * GemmRoutine's XGEMM_MIN_INDIRECT_SIZE^3, also tuned here). `clnet tune` records the GEMM calls of a model's
 * layers, runs CLBlast's tuner on the heaviest shapes, times every candidate (and CLBlast's
 * defaults) on the whole recorded workload, and stores the winners in a small text file next to
 * the program cache, one per device:
 *   $CLNET_CACHE_DIR (else $XDG_CACHE_HOME/clnet, else ~/.cache/clnet)/clblast-tune-<hash>.txt
 * keyed by a hash of device name, driver and platform version. clnet_ctx_create applies the
 * file with CLBlastOverrideParameters unless CLNET_NO_TUNE=1 (or CLNET_NO_CACHE=1, which turns
 * off every file next to the cache). A file that fails its checks (format, CRC, device) is an
 * error naming it, never silently used. */
#ifndef CLNET_TUNE_CLBLAST_TUNE_H
#define CLNET_TUNE_CLBLAST_TUNE_H

#include <stdint.h>

#include "clnet/runtime.h"
#include "ops/gemm_log.h"
#include "tune/clblast_tune_cxx.h"

#define CLNET_TUNE_MAX_KERNELS 3

typedef struct clnet_tune_kernel {
  char name[16]; /* "Xgemm", "XgemmDirect" or "GemmRoutine" (XGEMM_MIN_INDIRECT_SIZE) */
  clnet_clblast_params params;
} clnet_tune_kernel;

/* The content of one parameter file. */
typedef struct clnet_tune_file {
  char device[256], platform[256], driver[256];
  char workload[256];                /* what was tuned for, e.g. "ResNet-18 width 16 ..." */
  double workload_gflops_before;     /* recorded workload under CLBlast's defaults */
  double workload_gflops_after;      /* ... under these parameters, same run */
  int32_t n_kernels;
  clnet_tune_kernel kernels[CLNET_TUNE_MAX_KERNELS];
} clnet_tune_file;

/* The parameter file's path for this device; 0 when there is none (CLNET_NO_CACHE=1 or no
 * cache directory can be named). */
int32_t clnet_tune_path(const clnet_device_info *dev, char *path, size_t cap);
/* Reads and checks a parameter file. Errors: CLNET_ERR_IO (absent or unreadable; errno kept),
 * CLNET_ERR_FORMAT (anything malformed: message "PATH: corrupt CLBlast parameter file (...)"). */
clnet_status clnet_tune_load(const char *path, clnet_tune_file *out);
/* Writes atomically (temp file, fsync, rename), creating the directory. Errors: CLNET_ERR_IO. */
clnet_status clnet_tune_save(const char *path, const clnet_tune_file *f);
/* Applies every kernel of f to dev with CLBlastOverrideParameters. `path` names the source in
 * messages. Errors: CLNET_ERR_MISMATCH (f is for another device), CLNET_ERR_CLBLAST. */
clnet_status clnet_tune_apply_file(const clnet_device_info *dev, const clnet_tune_file *f, const char *path);
/* clnet_ctx_create's hook: applies this device's file if there is one and CLNET_NO_TUNE is not
 * set; records its path for clnet_tune_applied. Absent file: success, nothing applied. */
clnet_status clnet_tune_apply_for_ctx(clnet_ctx *ctx);
/* Path of the parameter file applied when ctx was created, or NULL (none, or ref). */
const char *clnet_tune_applied(const clnet_ctx *ctx);
/* 1 when CLNET_NO_TUNE is set (not "0"). */
int32_t clnet_tune_disabled(void);
/* The parameters CLBlast uses now for `kernel` on ctx's device. Errors: CLNET_ERR_CLBLAST. */
clnet_status clnet_tune_current(const clnet_ctx *ctx, const char *kernel, clnet_clblast_params *out);

/* ---- tuning ---- */

/* Runs CLBlast's tuner for one shape (clnet_clblast_tune_run's contract: 0 or a CLBlast status).
 * CLBlast 1.5.3's tuner can corrupt the heap of the process it runs in, so the CLI runs it in a
 * child process; NULL in the options runs it here. */
typedef int (*clnet_tuner_fn)(void *user, clnet_ctx *ctx, int direct, size_t m, size_t n, size_t k,
                              double fraction, clnet_clblast_params *out);

/* CLBlast's tuner for one shape in this process, on ctx's queue (the default tuner). */
int clnet_tune_shape_here(void *user, clnet_ctx *ctx, int direct, size_t m, size_t n, size_t k, double fraction,
                          clnet_clblast_params *out);

/* Times the whole workload with `overrides` applied over CLBlast's defaults: per-shape seconds per
 * call into t[], *total = sum of calls x t (HUGE_VAL once past `limit`). The CLI runs this in a
 * child process too: a tuned configuration has crashed CLBlast's SGEMM here (inside CLBlast, while
 * timing it on shapes it was not tuned for); a failure discards that candidate. */
typedef clnet_status (*clnet_tune_eval_fn)(void *user, clnet_ctx *ctx, const clnet_gemm_log *log, int32_t repeat,
                                           double limit, const clnet_tune_kernel *overrides, int32_t n_overrides,
                                           double *t, double *total);
/* The in-process evaluation (the default): applies the overrides to ctx's device and times. */
clnet_status clnet_tune_time_workload(void *user, clnet_ctx *ctx, const clnet_gemm_log *log, int32_t repeat,
                                      double limit, const clnet_tune_kernel *overrides, int32_t n_overrides,
                                      double *t, double *total);

typedef struct clnet_tune_options {
  clnet_tuner_fn tuner; /* NULL: in this process */
  void *tuner_user;
  clnet_tune_eval_fn evaluate; /* NULL: in this process */
  void *evaluate_user;
  int32_t xgemm_shapes, direct_shapes; /* how many of the heaviest shapes CLBlast's tuner runs on */
  double xgemm_fraction, direct_fraction; /* share of CLBlast's configurations tried per shape */
  int32_t threshold;                      /* 1: also time other XGEMM_MIN_INDIRECT_SIZE values */
  int32_t repeat;                         /* timings per shape and candidate (best is kept) */
} clnet_tune_options;

/* Progress: stage is "defaults", "tune Xgemm", "tune XgemmDirect", "evaluate", "threshold" or
 * "final"; i of n steps in that stage; detail a short line (shape, outcome). Called before
 * (i < n) and after (i + 1) each step. */
typedef void (*clnet_tune_progress_fn)(void *user, const char *stage, int32_t i, int32_t n, const char *detail);

typedef struct clnet_tune_result {
  clnet_tune_file file;     /* device fields and kernels filled; workload copied from the caller */
  double *before_s;         /* per log shape: seconds per call, CLBlast's defaults (malloc'd) */
  double *after_s;          /* ... with the chosen parameters */
  /* per kernel (Xgemm, XgemmDirect, GemmRoutine): "defaults kept", "tuned (...)" */
  char chosen[CLNET_TUNE_MAX_KERNELS][64];
} clnet_tune_result;

/* Tunes Xgemm and XgemmDirect for the recorded workload on ctx's device and leaves the winners
 * applied. ctx must not have a parameter file applied (CLBlast's defaults are the baseline).
 * Errors: CLNET_ERR_INVALID_ARGUMENT (ref ctx, empty log), CLNET_ERR_CLBLAST, OpenCL errors. */
clnet_status clnet_tune_run(clnet_ctx *ctx, const clnet_gemm_log *log, const clnet_tune_options *opt,
                            clnet_tune_progress_fn progress, void *user, clnet_tune_result *out);
void clnet_tune_result_free(clnet_tune_result *r);

#endif
