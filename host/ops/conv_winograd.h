/* Internal: the Winograd conv algorithms F(2x2, 3x3) (WINOGRAD, tile 2) and F(4x4, 3x3) (WINOGRAD4,
 * tile 4) (host/ops/conv2d_winograd.c, cl/conv2d_winograd.cl): the three passes of 3x3 stride-1
 * convs. `tile` is the output tile's side, 2 or 4. */
#ifndef CLNET_OPS_CONV_WINOGRAD_H
#define CLNET_OPS_CONV_WINOGRAD_H

#include "clnet/ops.h"
#include "runtime/ctx.h"

/* 1 when WINOGRAD implements `pass` of d: any pass of a 3x3 stride-1 undilated conv of one group
 * (any pads, any sizes). */
int clnet_conv2d_winograd_applies(const clnet_conv2d_desc *d, clnet_pass pass);
/* The same for the algorithm with output tile `tile` (2: WINOGRAD; 4: WINOGRAD4, which also needs
 * its transformed filter, 36 C_in C_out floats, within CLNET_WINO4_MAX_FILTER_BYTES). */
int clnet_conv2d_winograd_tile_applies(const clnet_conv2d_desc *d, clnet_pass pass, int tile);

/* F(4x4)'s transformed filter is 2.25x F(2x2)'s: 36 MiB for 512 x 512 channels, which would raise
 * the scratch every graph plans (the widest conv's need) by 20 MiB. Capped at F(2x2)'s 512 x 512
 * (16 MiB), so WINOGRAD4 never raises the plan above WINOGRAD's: up to 256 x 256 channels in
 * ResNet-18. */
#define CLNET_WINO4_MAX_FILTER_BYTES ((uint64_t)16 << 20)

/* Scratch bytes the Winograd path holds for d (transformed filter plus one chunk of transformed
 * input and products), for memory planning. */
uint64_t clnet_conv2d_winograd_scratch_bytes(const clnet_conv2d_desc *d, int tile);

/* The output tile of a Winograd algorithm: 2 for WINOGRAD, 4 for WINOGRAD4, 0 for any other. */
int clnet_conv_algo_winograd_tile(clnet_conv_algo algo);

/* y = conv(x, w) + b (b NULL without bias), and dx = backward data of dy; d must be valid and
 * clnet_conv2d_winograd_applies; buffers already checked. */
clnet_status clnet_conv2d_winograd_forward(clnet_ctx *ctx, const clnet_conv2d_desc *d, int tile, const clnet_buf *x,
                                           const clnet_buf *w, const clnet_buf *b, clnet_buf *y);
clnet_status clnet_conv2d_winograd_backward_data(clnet_ctx *ctx, const clnet_conv2d_desc *d, int tile,
                                                 const clnet_buf *dy, const clnet_buf *w, clnet_buf *dx);
/* dw only (the bias gradient is the shared column sum, host/ops/conv2d.c). */
clnet_status clnet_conv2d_winograd_backward_filter(clnet_ctx *ctx, const clnet_conv2d_desc *d, int tile,
                                                   const clnet_buf *x, const clnet_buf *dy, clnet_buf *dw);

#endif
