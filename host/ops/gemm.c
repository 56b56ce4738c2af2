/* GEMM: CLBlast on OpenCL (clnet_gemm), or clnet's own kernel cl/gemm.cl (clnet_gemm_tiled, for
 * the dense layer: ops/dense_gemm.h); ops/ref/gemm_ref.c on the reference. */
#include <clblast_c.h>

#include "ops/common.h"
#include "ops/dense_gemm.h"
#include "ops/gemm_log.h"

#include <stdlib.h>
#include <string.h>

static const char *clblast_status_name(CLBlastStatusCode s) {
  switch (s) {
    case CLBlastNotImplemented: return "CLBlastNotImplemented";
    case CLBlastInvalidMatrixA: return "CLBlastInvalidMatrixA";
    case CLBlastInvalidMatrixB: return "CLBlastInvalidMatrixB";
    case CLBlastInvalidMatrixC: return "CLBlastInvalidMatrixC";
    case CLBlastInsufficientMemoryA: return "CLBlastInsufficientMemoryA";
    case CLBlastInsufficientMemoryB: return "CLBlastInsufficientMemoryB";
    case CLBlastInsufficientMemoryC: return "CLBlastInsufficientMemoryC";
    case CLBlastInvalidLocalMemUsage: return "CLBlastInvalidLocalMemUsage";
    case CLBlastNoHalfPrecision: return "CLBlastNoHalfPrecision";
    case CLBlastNoDoublePrecision: return "CLBlastNoDoublePrecision";
    case CLBlastInvalidLocalThreadsTotal: return "CLBlastInvalidLocalThreadsTotal";
    case CLBlastInvalidLocalThreadsDim: return "CLBlastInvalidLocalThreadsDim";
    case CLBlastInvalidOverrideKernel: return "CLBlastInvalidOverrideKernel";
    case CLBlastDatabaseError: return "CLBlastDatabaseError";
    case CLBlastUnknownError: return "CLBlastUnknownError";
    case CLBlastUnexpectedError: return "CLBlastUnexpectedError";
    default: return s > -1000 ? clnet_status_str(s) : "CLBlast error";
  }
}

/* The sizes, leading dimensions and buffers of a GEMM call (offsets in floats); *empty = 1 when
 * m or n is 0 (nothing to do). The floats each matrix spans go to spans[3] (A, B, C) when not NULL. */
static clnet_status check_args(const char *op, int32_t trans_a, int32_t trans_b, int32_t m, int32_t n, int32_t k,
                               const clnet_buf *a, size_t a_off, int32_t lda, const clnet_buf *b, size_t b_off,
                               int32_t ldb, const clnet_buf *c, size_t c_off, int32_t ldc, int *empty,
                               int64_t spans[3]) {
  if (m < 0 || n < 0 || k < 0)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: negative size m=%d n=%d k=%d", op, m, n, k);
  int32_t a_rows = trans_a ? k : m, a_cols = trans_a ? m : k;
  int32_t b_rows = trans_b ? n : k, b_cols = trans_b ? k : n;
  if (lda < (a_cols > 1 ? a_cols : 1) || ldb < (b_cols > 1 ? b_cols : 1) || ldc < (n > 1 ? n : 1))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: leading dimension too small (lda=%d ldb=%d ldc=%d "
                           "for m=%d n=%d k=%d)", op, lda, ldb, ldc, m, n, k);
  *empty = m == 0 || n == 0;
  if (*empty) return CLNET_SUCCESS;
  const int64_t sa = a_rows > 0 ? (int64_t)(a_rows - 1) * lda + a_cols : 0,
                sb = b_rows > 0 ? (int64_t)(b_rows - 1) * ldb + b_cols : 0, sc = (int64_t)(m - 1) * ldc + n;
  if (a_rows > 0) CLNET_TRY(clnet_require_buf(op, "A", a, (int64_t)a_off + sa, 4));
  if (b_rows > 0) CLNET_TRY(clnet_require_buf(op, "B", b, (int64_t)b_off + sb, 4));
  CLNET_TRY(clnet_require_buf(op, "C", c, (int64_t)c_off + sc, 4));
  if (spans) spans[0] = sa, spans[1] = sb, spans[2] = sc;
  return CLNET_SUCCESS;
}

clnet_status clnet_gemm(clnet_ctx *ctx, int32_t trans_a, int32_t trans_b, int32_t m, int32_t n, int32_t k,
                        float alpha, const clnet_buf *a, size_t a_off, int32_t lda, const clnet_buf *b,
                        size_t b_off, int32_t ldb, float beta, clnet_buf *c, size_t c_off, int32_t ldc) {
  int empty = 0;
  CLNET_TRY(check_args("gemm", trans_a, trans_b, m, n, k, a, a_off, lda, b, b_off, ldb, c, c_off, ldc, &empty, NULL));
  if (empty) return CLNET_SUCCESS;
  if (ctx->is_ref) {
    clnet_ref_gemm(trans_a, trans_b, m, n, k, alpha, CF32(a) + a_off, lda, CF32(b) + b_off, ldb, beta,
                   F32(c) + c_off, ldc);
    return CLNET_SUCCESS;
  }
  if (k == 0) { /* C = beta*C; CLBlast rejects k = 0 */
    if (beta != 0)
      return clnet_set_error(CLNET_ERR_UNSUPPORTED, "gemm: k = 0 with beta != 0 is not supported on OpenCL");
    for (int32_t i = 0; i < m; ++i)
      CLNET_TRY(clnet_buf_fill(ctx, c, (c_off + (size_t)i * (size_t)ldc) * 4, (size_t)n * 4, 0));
    return CLNET_SUCCESS;
  }
  clnet_gemm_log *log = clnet_gemm_recording(ctx);
  if (log) return clnet_gemm_log_add(log, trans_a, trans_b, m, n, k); /* clnet tune */
  /* profiling: CLBlast's event is its last kernel only (the indirect path runs pad/transpose
   * kernels before it), so the interval starts at a marker enqueued just before the call */
  cl_event start = NULL, end;
  if (ctx->profiling) CLNET_CL_CHECK(clEnqueueMarkerWithWaitList(ctx->queue, 0, NULL, &start));
  CLBlastStatusCode s = CLBlastSgemm(CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
                                     trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, (size_t)m, (size_t)n,
                                     (size_t)k, alpha, a->mem, a_off, (size_t)lda, b->mem, b_off, (size_t)ldb,
                                     beta, c->mem, c_off, (size_t)ldc, &ctx->queue, clnet_profile_event(ctx, &end));
  clnet_profile_record(ctx, "CLBlastSgemm", start, end);
  if (s != CLBlastSuccess)
    return clnet_set_error(s > -1000 ? s : CLNET_ERR_CLBLAST,
                           "CLBlastSgemm(m=%d, n=%d, k=%d, trans_a=%d, trans_b=%d) on %s failed: %s (%d)", m, n, k,
                           trans_a, trans_b, ctx->info.name, clblast_status_name(s), (int)s);
  return CLNET_SUCCESS;
}

/* ---- the GEMM log ---------------------------------------------------------------------------- */

clnet_status clnet_gemm_log_add(clnet_gemm_log *log, int32_t trans_a, int32_t trans_b, int32_t m, int32_t n,
                                int32_t k) {
  for (int32_t i = 0; i < log->count; ++i) {
    clnet_gemm_shape *s = &log->shapes[i];
    if (s->trans_a == trans_a && s->trans_b == trans_b && s->m == m && s->n == n && s->k == k) {
      ++s->calls;
      return CLNET_SUCCESS;
    }
  }
  if (log->count == log->cap) {
    int32_t cap = log->cap ? 2 * log->cap : 32;
    clnet_gemm_shape *p = realloc(log->shapes, (size_t)cap * sizeof *p);
    if (!p) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "recording GEMM shapes (%d)", cap);
    log->shapes = p;
    log->cap = cap;
  }
  log->shapes[log->count++] = (clnet_gemm_shape){trans_a, trans_b, m, n, k, 1};
  return CLNET_SUCCESS;
}

void clnet_gemm_log_free(clnet_gemm_log *log) {
  free(log->shapes);
  memset(log, 0, sizeof *log);
}

static const clnet_ctx_state_key log_key = {"the GEMM log of clnet tune"};

clnet_status clnet_gemm_record(clnet_ctx *ctx, clnet_gemm_log *log) {
  return clnet_ctx_state_set(ctx, &log_key, log, NULL); /* the caller owns the log */
}

clnet_gemm_log *clnet_gemm_recording(const clnet_ctx *ctx) { return clnet_ctx_state_get(ctx, &log_key); }

/* Work-group of the tiled kernels: 8 column tiles x 1 row tile on a CPU (each work-item is
 * already 8 or 16 lanes wide); elsewhere x 8 row tiles, 64 work-items, so that a GPU's 32- or
 * 64-wide waves are full (a group of 8 would leave 3/4 of a warp idle). Results do not depend on
 * the group. */
#define GEMM_WG_COLS 8
#define GEMM_WG_ROWS_GPU 8

clnet_status clnet_gemm_tiled(clnet_ctx *ctx, int32_t trans_a, int32_t trans_b, int32_t m, int32_t n, int32_t k,
                              const clnet_buf *a, int32_t lda, const clnet_buf *b, int32_t ldb, clnet_buf *c,
                              int32_t ldc) {
  const char *op = "gemm_tiled";
  if (trans_a && trans_b)
    return clnet_set_error(CLNET_ERR_UNSUPPORTED, "%s: op(A) = A^T with op(B) = B^T is not implemented (the dense "
                           "layer uses NN, NT and TN)", op);
  int empty = 0;
  int64_t spans[3] = {0, 0, 0};
  CLNET_TRY(check_args(op, trans_a, trans_b, m, n, k, a, 0, lda, b, 0, ldb, c, 0, ldc, &empty, spans));
  if (empty) return CLNET_SUCCESS;
  if (ctx->is_ref) {
    clnet_ref_gemm(trans_a, trans_b, m, n, k, 1.0f, CF32(a), lda, CF32(b), ldb, 0.0f, F32(c), ldc);
    return CLNET_SUCCESS;
  }
  for (int i = 0; i < 3; ++i) CLNET_TRY(clnet_require_int_range(op, spans[i]));
  if (k == 0) { /* C = 0 */
    for (int32_t i = 0; i < m; ++i) CLNET_TRY(clnet_buf_fill(ctx, c, (size_t)i * (size_t)ldc * 4, (size_t)n * 4, 0));
    return CLNET_SUCCESS;
  }
  const int32_t tn = trans_b ? GEMM_TILED_NT_COLS : 8; /* columns of C per work-item (cl/gemm.cl) */
  const size_t global[2] = {(size_t)((n + tn - 1) / tn), (size_t)((m + GEMM_TILED_ROWS - 1) / GEMM_TILED_ROWS)};
  const size_t local[2] = {GEMM_WG_COLS, (ctx->info.type & CL_DEVICE_TYPE_CPU) ? 1 : GEMM_WG_ROWS_GPU};
  const char *kernel = trans_b ? "gemm_nt" : trans_a ? "gemm_tn" : "gemm_nn";
  return CLNET_LAUNCH(ctx, "gemm", kernel, 2, global, local, CLNET_ARG_I32(m), CLNET_ARG_I32(n), CLNET_ARG_I32(k),
                      CLNET_ARG_BUF(a), CLNET_ARG_I32(lda), CLNET_ARG_BUF(b), CLNET_ARG_I32(ldb), CLNET_ARG_BUF(c),
                      CLNET_ARG_I32(ldc));
}
