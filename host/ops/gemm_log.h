/* Internal: recording the GEMMs a step issues instead of running them (`clnet tune`,
 * tune/clblast_tune.h, tunes CLBlast for the shapes recorded here). */
#ifndef CLNET_OPS_GEMM_LOG_H
#define CLNET_OPS_GEMM_LOG_H

#include <stdint.h>

#include "runtime/ctx.h"

/* One distinct GEMM (row-major, as clnet_gemm takes it) and how often it was called. */
typedef struct clnet_gemm_shape {
  int32_t trans_a, trans_b, m, n, k;
  int32_t calls;
} clnet_gemm_shape;

typedef struct clnet_gemm_log {
  clnet_gemm_shape *shapes;
  int32_t count, cap;
} clnet_gemm_log;

/* Adds one call (merging equal shapes). Errors: CLNET_ERR_OUT_OF_HOST_MEMORY. */
clnet_status clnet_gemm_log_add(clnet_gemm_log *log, int32_t trans_a, int32_t trans_b, int32_t m, int32_t n,
                                int32_t k);
void clnet_gemm_log_free(clnet_gemm_log *log);
/* While log is set, every clnet_gemm on ctx is recorded there and not run (its other kernels,
 * e.g. im2col, still run), and the dense layer sends its GEMMs to clnet_gemm. NULL ends
 * recording. The caller keeps log alive until then. Errors: CLNET_ERR_OUT_OF_HOST_MEMORY (no free
 * state slot on ctx). */
clnet_status clnet_gemm_record(clnet_ctx *ctx, clnet_gemm_log *log);
/* The log ctx records into, or NULL. */
clnet_gemm_log *clnet_gemm_recording(const clnet_ctx *ctx);

#endif
