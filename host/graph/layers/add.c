/* add: y = a + b (the residual), both of one shape. Its backward copies dy into each input's
 * gradient, or adds it where another layer wrote that gradient first (CLNET_KIND_ACCUMULATES_DX). */
#include <stdio.h>

#include "graph/layer_kind.h"

static clnet_status add_infer(clnet_layer *l, const clnet_tshape *in, clnet_tshape *out) {
  if (in[0].h != in[1].h || in[0].w != in[1].w || in[0].c != in[1].c)
    return clnet_layer_error(l, "adding %dx%dx%d to %dx%dx%d", in[0].h, in[0].w, in[0].c, in[1].h, in[1].w, in[1].c);
  *out = in[0];
  return CLNET_SUCCESS;
}

static clnet_status add_forward(const clnet_layer *l, clnet_layer_io *io) {
  (void)l;
  return clnet_add_forward(io->ctx, (int64_t)io->n * clnet_tshape_size(io->ys), io->x[0], io->x[1], io->y);
}

static clnet_status add_backward(const clnet_layer *l, clnet_layer_io *io) {
  (void)l;
  const int64_t n = (int64_t)io->n * clnet_tshape_size(io->ys);
  for (int32_t j = 0; j < 2; ++j) {
    if (!io->dx[j]) continue;
    CLNET_TRY(io->dx_accumulate[j] ? clnet_accumulate(io->ctx, n, io->dy, io->dx[j])
                                   : clnet_buf_copy(io->ctx, io->dy, 0, io->dx[j], 0, (size_t)n * 4));
  }
  return CLNET_SUCCESS;
}

static void add_label(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, const char *pass,
                      char *dst, size_t cap) {
  (void)l, (void)in;
  snprintf(dst, cap, "add %s %dx%dx%d", pass, out->h, out->w, out->c);
}

CLNET_LAYER_KIND(add, "add", "y = a + b (same shapes)", clnet_no_attrs, 2, 2, CLNET_KIND_ACCUMULATES_DX, add_infer,
                 clnet_layer_no_params, clnet_layer_no_aux, clnet_layer_no_scratch, add_forward, add_backward,
                 clnet_layer_no_macs, add_label);
