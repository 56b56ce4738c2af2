/* One of the dense layer's GEMMs (ops/dense_gemm.h) on the algorithm its (shape, pass) resolves to. */
#include "ops/algo_choice.h"
#include "ops/common.h"
#include "ops/gemm_log.h"

clnet_dense_pass_gemm clnet_dense_pass_shape(clnet_pass pass, int32_t n, int32_t in, int32_t out) {
  const int64_t nin = (int64_t)n * in, nout = (int64_t)n * out, w = (int64_t)out * in;
  switch (pass) {
    case CLNET_PASS_FORWARD: /* y (N, OUT) = x (N, IN) . w^T, w (OUT, IN) */
      return (clnet_dense_pass_gemm){0, 1, n, out, in, in, in, out, nin, w, nout};
    case CLNET_PASS_BACKWARD_DATA: /* dx (N, IN) = dy (N, OUT) . w (OUT, IN) */
      return (clnet_dense_pass_gemm){0, 0, n, in, out, out, in, in, nout, w, nin};
    default: /* dw (OUT, IN) = dy^T (OUT, N) . x (N, IN) */
      return (clnet_dense_pass_gemm){1, 0, out, in, n, out, in, in, nout, nin, w};
  }
}

clnet_status clnet_dense_gemm_run(clnet_ctx *ctx, clnet_pass pass, clnet_dense_algo algo, int32_t n,
                                  int32_t in, int32_t out, const clnet_dense_gemm_io *io) {
  const clnet_dense_pass_gemm g = clnet_dense_pass_shape(pass, n, in, out);
  if (algo == CLNET_DENSE_ALGO_CLNET)
    return clnet_gemm_tiled(ctx, g.trans_a, g.trans_b, g.m, g.nn, g.k, io->a, g.lda, io->b, g.ldb, io->c, g.ldc);
  return clnet_gemm(ctx, g.trans_a, g.trans_b, g.m, g.nn, g.k, 1.0f, io->a, 0, g.lda, io->b, 0, g.ldb, 0.0f, io->c,
                    0, g.ldc);
}

clnet_status clnet_dense_gemm(clnet_ctx *ctx, clnet_pass pass, int32_t n, int32_t in, int32_t out,
                              const clnet_dense_gemm_io *io) {
  /* `clnet tune` records the GEMMs a step would send to CLBlast: all of them go there */
  if (clnet_gemm_recording(ctx)) return clnet_dense_gemm_run(ctx, pass, CLNET_DENSE_ALGO_CLBLAST, n, in, out, io);
  clnet_dense_algo_choice c;
  CLNET_TRY(clnet_dense_algo_resolve(ctx, pass, n, in, out, io, &c));
  if (pass == CLNET_PASS_FORWARD) clnet_profile_op_detail(ctx, clnet_dense_algo_str(c.algo)); /* "dense fwd 512->10 clnet" */
  return clnet_dense_gemm_run(ctx, pass, c.algo, n, in, out, io);
}
