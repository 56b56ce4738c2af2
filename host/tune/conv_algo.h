/* Internal: choosing the conv algorithm per (shape, pass) -- forced, the fixed rule, or AUTO's
 * checked-and-timed choice (tune/autotune.h) remembered in the find-db (tune/conv_finddb.h). */
#ifndef CLNET_TUNE_CONV_ALGO_H
#define CLNET_TUNE_CONV_ALGO_H

#include "clnet/ops.h"
#include "ops/conv_algo.h"
#include "runtime/ctx.h"

/* The conv half of tune's algorithm chooser (clnet_algo_chooser.conv). */
clnet_status clnet_tune_conv_resolve(clnet_ctx *ctx, const clnet_conv2d_desc *d, clnet_pass pass,
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
