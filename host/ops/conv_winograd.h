/* Internal: the Winograd F(2x2, 3x3) conv algorithm (host/ops/conv2d_winograd.c,
 * cl/conv2d_winograd.cl): the three passes of 3x3 stride-1 convs. */
#ifndef CLNET_OPS_CONV_WINOGRAD_H
#define CLNET_OPS_CONV_WINOGRAD_H

#include "clnet/ops.h"
#include "runtime/ctx.h"

/* 1 when WINOGRAD implements `pass` of d: any pass of a 3x3 stride-1 conv (any padding, any
 * sizes). */
int clnet_conv2d_winograd_applies(const clnet_conv2d_desc *d, clnet_conv_pass pass);

/* Scratch bytes the Winograd path holds for d (transformed filter plus one chunk of transformed
 * input and products), for memory planning. */
uint64_t clnet_conv2d_winograd_scratch_bytes(const clnet_conv2d_desc *d);

/* y = conv(x, w) + b (b NULL without bias), and dx = backward data of dy; d must be valid and
 * clnet_conv2d_winograd_applies; buffers already checked. */
clnet_status clnet_conv2d_winograd_forward(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *x,
                                           const clnet_buf *w, const clnet_buf *b, clnet_buf *y);
clnet_status clnet_conv2d_winograd_backward_data(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *dy,
                                                 const clnet_buf *w, clnet_buf *dx);
/* dw only (the bias gradient is the shared column sum, host/ops/conv2d.c). */
clnet_status clnet_conv2d_winograd_backward_filter(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *x,
                                                   const clnet_buf *dy, clnet_buf *dw);

#endif
