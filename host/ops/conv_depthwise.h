/* Internal: the depthwise conv algorithm (CLNET_CONV_ALGO_DEPTHWISE; host/ops/conv2d_depthwise.c,
 * cl/conv2d_depthwise.cl): the three passes of depthwise convs, groups = C_in > 1, any channel
 * multiplier, kernel, strides, dilations and pads. */
#ifndef CLNET_OPS_CONV_DEPTHWISE_H
#define CLNET_OPS_CONV_DEPTHWISE_H

#include "clnet/ops.h"
#include "runtime/ctx.h"

/* Scratch bytes the filter gradient holds for d (its per-block partial sums; none with one
 * block), for memory planning: at most CLNET_DEPTHWISE_PARTIAL_BYTES. */
#define CLNET_DEPTHWISE_PARTIAL_BYTES ((uint64_t)16 << 20)
uint64_t clnet_conv2d_depthwise_scratch_bytes(const clnet_conv2d_desc *d);

/* y = conv(x, w) + b (b NULL without bias), dx = backward data of dy, dw = the filter gradient
 * (the bias gradient is the shared column sum, host/ops/conv2d.c); d must be valid and depthwise;
 * buffers already checked. */
clnet_status clnet_conv2d_depthwise_forward(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *x,
                                            const clnet_buf *w, const clnet_buf *b, clnet_buf *y);
clnet_status clnet_conv2d_depthwise_backward_data(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *dy,
                                                  const clnet_buf *w, clnet_buf *dx);
clnet_status clnet_conv2d_depthwise_backward_filter(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *x,
                                                    const clnet_buf *dy, clnet_buf *dw);

#endif
