/* Internal: choosing the conv algorithm per (shape, pass) -- forced, the fixed rule, or AUTO's
 * checked-and-timed choice remembered in the find-db (conv_finddb.h). */
#ifndef CLNET_OPS_CONV_ALGO_H
#define CLNET_OPS_CONV_ALGO_H

#include "clnet/ops.h"
#include "runtime/ctx.h"

/* The buffers of one pass: forward reads x, w, b (NULL without bias) and writes y; backward data
 * reads dy, w and writes dx; backward filter reads x, dy and writes dw, db (NULL without bias). */
typedef struct clnet_conv_io {
  const clnet_buf *x, *w, *b, *dy;
  clnet_buf *y, *dx, *dw, *db;
} clnet_conv_io;

/* 1 when `algo` (GEMM, DIRECT, WINOGRAD, WINOGRAD4, DEPTHWISE) implements `pass` of the valid desc d:
 * GEMM every conv; DIRECT every conv but depthwise ones; the Winograd ones 3x3 stride-1 undilated convs of one
 * group (WINOGRAD4 up to 256 x 256 channels); DEPTHWISE depthwise convs (groups = C_in > 1). */
int clnet_conv2d_algo_applies(const clnet_conv2d_desc *d, clnet_conv_pass pass, clnet_conv_algo algo);

/* Runs one pass with an algorithm that applies (host/ops/conv2d.c); the desc and buffers are
 * checked. */
clnet_status clnet_conv2d_run_algo(clnet_ctx *ctx, const clnet_conv2d_desc *d, clnet_conv_pass pass,
                                   clnet_conv_algo algo, const clnet_conv_io *io);

/* The algorithm for this call. Under AUTO, a (shape, pass) seen for the first time is checked and
 * timed with io's buffers (outputs overwritten: the caller runs the chosen algorithm afterwards)
 * or, io NULL, on buffers allocated here. */
clnet_status clnet_conv_algo_resolve(clnet_ctx *ctx, const clnet_conv2d_desc *d, clnet_conv_pass pass,
                                     const clnet_conv_io *io, clnet_conv_algo_choice *out);

/* The ctx's conv algorithm setting as it is kept: clnet_conv_algo + 1, or 0 while not chosen yet
 * (CLNET_CONV_ALGO is read at the first conv); for the cross-checks, which force an algorithm per
 * case and restore the setting after it. */
int32_t clnet_conv_algo_setting_save(clnet_ctx *ctx);
void clnet_conv_algo_setting_restore(clnet_ctx *ctx, int32_t saved);

/* Test hook, never called in a normal run: from now on the reference check of `algo` on ctx
 * sees its output perturbed (one element + 1), as a wrong kernel would give. AUTO = off. */
void clnet_conv_algo_test_sabotage(clnet_ctx *ctx, clnet_conv_algo algo);

#endif
