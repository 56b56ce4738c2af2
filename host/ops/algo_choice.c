/* The algorithm names, and the calls through the ctx's algorithm chooser (ops/algo_choice.h). */
#include "ops/algo_choice.h"

#include <string.h>

static const clnet_ctx_state_key chooser_key = {"the algorithm chooser"};

clnet_status clnet_algo_chooser_attach(clnet_ctx *ctx, const clnet_algo_chooser *chooser) {
  return clnet_ctx_state_set(ctx, &chooser_key, (void *)chooser, NULL); /* static: nothing to free */
}

static clnet_status chooser(clnet_ctx *ctx, const char *op, const clnet_algo_chooser **out) {
  *out = clnet_ctx_state_get(ctx, &chooser_key);
  if (!*out)
    return clnet_set_error(CLNET_ERR_UNSUPPORTED, "%s: this context has no algorithm chooser (create it with "
                           "clnet_ctx_create)", op);
  return CLNET_SUCCESS;
}

clnet_status clnet_conv_algo_resolve(clnet_ctx *ctx, const clnet_conv2d_desc *d, clnet_pass pass,
                                     const clnet_conv_io *io, clnet_conv_algo_choice *out) {
  const clnet_algo_chooser *c = NULL;
  CLNET_TRY(chooser(ctx, "conv2d", &c));
  return c->conv(ctx, d, pass, io, out);
}

clnet_status clnet_dense_algo_resolve(clnet_ctx *ctx, clnet_pass pass, int32_t n, int32_t in, int32_t out,
                                      const clnet_dense_gemm_io *io, clnet_dense_algo_choice *out_choice) {
  const clnet_algo_chooser *c = NULL;
  CLNET_TRY(chooser(ctx, "dense", &c));
  return c->dense(ctx, pass, n, in, out, io, out_choice);
}

/* ---- names ---------------------------------------------------------------------------------- */

const char *clnet_conv_algo_str(clnet_conv_algo a) {
  return a == CLNET_CONV_ALGO_GEMM     ? "gemm"
         : a == CLNET_CONV_ALGO_DIRECT ? "direct"
         : a == CLNET_CONV_ALGO_RULE   ? "rule"
         : a == CLNET_CONV_ALGO_WINOGRAD ? "winograd"
         : a == CLNET_CONV_ALGO_WINOGRAD4 ? "winograd4"
         : a == CLNET_CONV_ALGO_DEPTHWISE ? "depthwise"
                                       : "auto";
}

const char *clnet_algo_source_str(clnet_algo_source s) {
  return s == CLNET_ALGO_SOURCE_RULE    ? "rule"
         : s == CLNET_ALGO_SOURCE_TIMED ? "timed"
         : s == CLNET_ALGO_SOURCE_FINDDB ? "find-db"
                                          : "forced";
}

clnet_status clnet_conv_algo_parse(const char *name, clnet_conv_algo *out) {
  if (!strcmp(name, "auto")) *out = CLNET_CONV_ALGO_AUTO;
  else if (!strcmp(name, "gemm")) *out = CLNET_CONV_ALGO_GEMM;
  else if (!strcmp(name, "direct")) *out = CLNET_CONV_ALGO_DIRECT;
  else if (!strcmp(name, "rule")) *out = CLNET_CONV_ALGO_RULE;
  else if (!strcmp(name, "winograd")) *out = CLNET_CONV_ALGO_WINOGRAD;
  else if (!strcmp(name, "winograd4")) *out = CLNET_CONV_ALGO_WINOGRAD4;
  else if (!strcmp(name, "depthwise")) *out = CLNET_CONV_ALGO_DEPTHWISE;
  else
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "conv algorithm '%s': must be auto, gemm, direct, winograd, winograd4, depthwise or rule",
                           name);
  return CLNET_SUCCESS;
}

const char *clnet_dense_algo_str(clnet_dense_algo a) {
  return a == CLNET_DENSE_ALGO_CLBLAST ? "clblast"
         : a == CLNET_DENSE_ALGO_CLNET ? "clnet"
         : a == CLNET_DENSE_ALGO_RULE  ? "rule"
                                       : "auto";
}

clnet_status clnet_dense_algo_parse(const char *name, clnet_dense_algo *out) {
  if (!strcmp(name, "auto")) *out = CLNET_DENSE_ALGO_AUTO;
  else if (!strcmp(name, "clblast")) *out = CLNET_DENSE_ALGO_CLBLAST;
  else if (!strcmp(name, "clnet")) *out = CLNET_DENSE_ALGO_CLNET;
  else if (!strcmp(name, "rule")) *out = CLNET_DENSE_ALGO_RULE;
  else
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "dense GEMM algorithm '%s': must be auto, clblast, clnet or rule",
                           name);
  return CLNET_SUCCESS;
}
