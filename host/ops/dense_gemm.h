/* Internal: the dense layer's GEMMs -- clnet's own kernel (cl/gemm.cl) and CLBlast, one of which
 * each (shape, pass) runs. Which one is the tune part's choice (tune/dense_algo.h: forced, the
 * fixed rule, or AUTO's checked-and-timed find-db), reached through the ctx's algorithm chooser
 * (ops/algo_choice.h). */
#ifndef CLNET_OPS_DENSE_GEMM_H
#define CLNET_OPS_DENSE_GEMM_H

#include "clnet/ops.h"
#include "runtime/ctx.h"

/* cl/gemm.cl's register tile: rows of C per work-item (GEMM_TM) and gemm_nt's columns (GEMM_TN) */
#define GEMM_TILED_ROWS 4
#define GEMM_TILED_NT_COLS 4

/* C (M, N) = op(A) (M, K) . op(B) (K, N), row-major, overwritten (alpha 1, beta 0), on clnet's
 * kernel (cl/gemm.cl); shapes and leading dimensions as clnet_gemm, no offsets, every matrix below
 * 2^31 floats. NN, NT and TN (what the dense layer uses); TT is CLNET_ERR_UNSUPPORTED. The
 * reference backend runs its GEMM. Deterministic: each element's sum order depends on K alone. */
clnet_status clnet_gemm_tiled(clnet_ctx *ctx, int32_t trans_a, int32_t trans_b, int32_t m, int32_t n, int32_t k,
                              const clnet_buf *a, int32_t lda, const clnet_buf *b, int32_t ldb, clnet_buf *c,
                              int32_t ldc);

/* The operands of one of the dense layer's GEMMs, a (N, IN) x (OUT, IN) layer:
 *   forward          a = x (N, IN),   b = w (OUT, IN), c = y (N, OUT)   C = A . B^T
 *   backward data    a = dy (N, OUT), b = w (OUT, IN), c = dx (N, IN)   C = A . B
 *   backward filter  a = dy (N, OUT), b = x (N, IN),   c = dw (OUT, IN) C = A^T . B */
typedef struct clnet_dense_gemm_io {
  const clnet_buf *a, *b;
  clnet_buf *c;
} clnet_dense_gemm_io;

/* Runs the GEMM of `pass` with the algorithm this call resolves to (below); under AUTO a (shape,
 * pass) seen for the first time is checked and timed first, on io's buffers (c overwritten). */
clnet_status clnet_dense_gemm(clnet_ctx *ctx, clnet_pass pass, int32_t n, int32_t in, int32_t out,
                              const clnet_dense_gemm_io *io);

/* The same GEMM with a given algorithm (CLBLAST or CLNET). */
clnet_status clnet_dense_gemm_run(clnet_ctx *ctx, clnet_pass pass, clnet_dense_algo algo, int32_t n,
                                  int32_t in, int32_t out, const clnet_dense_gemm_io *io);

/* The GEMM of a pass: C (m, nn) = op(A) (m, k) . op(B) (k, nn), its leading dimensions and the
 * operands' sizes in floats. */
typedef struct clnet_dense_pass_gemm {
  int32_t trans_a, trans_b, m, nn, k, lda, ldb, ldc;
  int64_t a_count, b_count, c_count;
} clnet_dense_pass_gemm;

clnet_dense_pass_gemm clnet_dense_pass_shape(clnet_pass pass, int32_t n, int32_t in, int32_t out);

/* The algorithm for this call (clnet_algo_chooser.dense, ops/algo_choice.h). Under AUTO a (shape,
 * pass) seen for the first time is checked and timed with io's buffers (c overwritten) or, io
 * NULL, on buffers allocated for it. */
clnet_status clnet_dense_algo_resolve(clnet_ctx *ctx, clnet_pass pass, int32_t n, int32_t in, int32_t out,
                                      const clnet_dense_gemm_io *io, clnet_dense_algo_choice *out_choice);

#endif
