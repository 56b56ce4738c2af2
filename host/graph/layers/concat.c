/* concat: the inputs side by side along channels, in input order: (H, W, C_0), (H, W, C_1), ...
 * -> (H, W, C_0 + C_1 + ...) (Inception, DenseNet). Its backward hands each input its slice of dy,
 * adding it where another reader wrote that gradient first (CLNET_KIND_ACCUMULATES_DX). The op:
 * host/ops/concat.c. */
#include <stdio.h>

#include "graph/layer_kind.h"

static clnet_status concat_infer(clnet_layer *l, const clnet_tshape *in, clnet_tshape *out) {
  int64_t c = 0;
  for (int32_t j = 0; j < l->n_in; ++j) {
    if (in[j].h != in[0].h || in[j].w != in[0].w)
      return clnet_layer_error(l, "input %d is %dx%d, input 0 is %dx%d: concatenation along channels needs one H x W",
                               j, in[j].h, in[j].w, in[0].h, in[0].w);
    c += in[j].c;
  }
  if (c > INT32_MAX || (int64_t)in[0].h * in[0].w * c > INT32_MAX)
    return clnet_layer_error(l, "%lld channels of %dx%d: too large", (long long)c, in[0].h, in[0].w);
  *out = (clnet_tshape){in[0].h, in[0].w, (int32_t)c};
  return CLNET_SUCCESS;
}

static clnet_status concat_forward(const clnet_layer *l, clnet_layer_io *io) {
  const int32_t rows = io->n * io->ys->h * io->ys->w;
  int32_t offset = 0;
  for (int32_t j = 0; j < l->n_in; ++j) {
    CLNET_TRY(clnet_concat_forward(io->ctx, rows, io->xs[j]->c, io->ys->c, offset, io->x[j], io->y));
    offset += io->xs[j]->c;
  }
  return CLNET_SUCCESS;
}

static clnet_status concat_backward(const clnet_layer *l, clnet_layer_io *io) {
  const int32_t rows = io->n * io->ys->h * io->ys->w;
  int32_t offset = 0;
  for (int32_t j = 0; j < l->n_in; ++j) {
    if (io->dx[j])
      CLNET_TRY(clnet_concat_backward(io->ctx, rows, io->xs[j]->c, io->ys->c, offset, io->dx_accumulate[j], io->dy,
                                      io->dx[j]));
    offset += io->xs[j]->c;
  }
  return CLNET_SUCCESS;
}

static void concat_label(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, const char *pass,
                         char *dst, size_t cap) {
  (void)in;
  snprintf(dst, cap, "concat %s %d inputs -> %dx%dx%d", pass, l->n_in, out->h, out->w, out->c);
}

CLNET_LAYER_KIND(concat, "concat", "inputs side by side along channels (same H x W)", clnet_no_attrs, 1,
                 CLNET_MAX_LAYER_INPUTS, CLNET_KIND_ACCUMULATES_DX, concat_infer, clnet_layer_no_params,
                 clnet_layer_no_aux, clnet_layer_no_scratch, concat_forward, concat_backward, clnet_layer_no_macs,
                 concat_label);
