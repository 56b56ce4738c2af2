/* Internal: how an op asks which algorithm a call runs. The choice (forced, the fixed rule, or
 * AUTO's checked and timed find-db) is the tune part's (host/tune/), which sits above ops because
 * it runs the ops' algorithms to check and time them. So ops reach it through a chooser attached
 * to the ctx: clnet_ctx_create (host/tune/ctx_create.c) attaches tune's to every ctx it makes. A
 * ctx without one (clnet_runtime_ctx_create alone) runs no convolution or dense GEMM on OpenCL. */
#ifndef CLNET_OPS_ALGO_CHOICE_H
#define CLNET_OPS_ALGO_CHOICE_H

#include "ops/conv_algo.h"
#include "ops/dense_gemm.h"

typedef struct clnet_algo_chooser {
  /* clnet_conv_algo_resolve's contract (ops/conv_algo.h) */
  clnet_status (*conv)(clnet_ctx *ctx, const clnet_conv2d_desc *d, clnet_pass pass, const clnet_conv_io *io,
                       clnet_conv_algo_choice *out);
  /* clnet_dense_algo_resolve's contract (ops/dense_gemm.h) */
  clnet_status (*dense)(clnet_ctx *ctx, clnet_pass pass, int32_t n, int32_t in, int32_t out,
                        const clnet_dense_gemm_io *io, clnet_dense_algo_choice *out_choice);
} clnet_algo_chooser;

/* Attaches `chooser` (which must outlive ctx; a static table) to ctx, replacing any other. */
clnet_status clnet_algo_chooser_attach(clnet_ctx *ctx, const clnet_algo_chooser *chooser);

#endif
