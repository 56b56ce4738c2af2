/* Internal: the conv algorithms of a pass, and asking which one a call runs. The choice (forced,
 * the fixed rule, or AUTO's checked-and-timed find-db) is the tune part's (tune/conv_algo.h),
 * reached through the ctx's algorithm chooser (ops/algo_choice.h). */
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
int clnet_conv2d_algo_applies(const clnet_conv2d_desc *d, clnet_pass pass, clnet_conv_algo algo);

/* Runs one pass with an algorithm that applies (host/ops/conv2d.c); the desc and buffers are
 * checked. */
clnet_status clnet_conv2d_run_algo(clnet_ctx *ctx, const clnet_conv2d_desc *d, clnet_pass pass,
                                   clnet_conv_algo algo, const clnet_conv_io *io);

/* The algorithm for this call (clnet_algo_chooser.conv, ops/algo_choice.h). Under AUTO, a (shape,
 * pass) seen for the first time is checked and
 * timed with io's buffers (outputs overwritten: the caller runs the chosen algorithm afterwards)
 * or, io NULL, on buffers allocated here. */
clnet_status clnet_conv_algo_resolve(clnet_ctx *ctx, const clnet_conv2d_desc *d, clnet_pass pass,
                                     const clnet_conv_io *io, clnet_conv_algo_choice *out);

#endif
