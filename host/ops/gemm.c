/* GEMM: CLBlast on OpenCL, ops/ref/gemm_ref.c on the reference. */
#include <clblast_c.h>

#include "ops/common.h"
#include "runtime/clblast_tune.h"

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

clnet_status clnet_gemm(clnet_ctx *ctx, int32_t trans_a, int32_t trans_b, int32_t m, int32_t n, int32_t k,
                        float alpha, const clnet_buf *a, size_t a_off, int32_t lda, const clnet_buf *b,
                        size_t b_off, int32_t ldb, float beta, clnet_buf *c, size_t c_off, int32_t ldc) {
  if (m < 0 || n < 0 || k < 0)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "gemm: negative size m=%d n=%d k=%d", m, n, k);
  int32_t a_rows = trans_a ? k : m, a_cols = trans_a ? m : k;
  int32_t b_rows = trans_b ? n : k, b_cols = trans_b ? k : n;
  if (lda < (a_cols > 1 ? a_cols : 1) || ldb < (b_cols > 1 ? b_cols : 1) || ldc < (n > 1 ? n : 1))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "gemm: leading dimension too small (lda=%d ldb=%d ldc=%d "
                           "for m=%d n=%d k=%d)", lda, ldb, ldc, m, n, k);
  if (m == 0 || n == 0) return CLNET_SUCCESS;
  if (a_rows > 0) CLNET_TRY(clnet_require_buf("gemm", "A", a, (int64_t)a_off + (int64_t)(a_rows - 1) * lda + a_cols, 4));
  if (b_rows > 0) CLNET_TRY(clnet_require_buf("gemm", "B", b, (int64_t)b_off + (int64_t)(b_rows - 1) * ldb + b_cols, 4));
  CLNET_TRY(clnet_require_buf("gemm", "C", c, (int64_t)c_off + (int64_t)(m - 1) * ldc + n, 4));
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
  if (ctx->gemm_log) return clnet_gemm_log_add(ctx->gemm_log, trans_a, trans_b, m, n, k); /* clnet tune */
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
