/* global_avgpool: the mean over H and W of each channel: (H, W, C) -> (1, 1, C). */
#include <stdio.h>

#include "graph/layer_kind.h"

static clnet_status gap_infer(clnet_layer *l, const clnet_tshape *in, clnet_tshape *out) {
  (void)l;
  *out = (clnet_tshape){1, 1, in[0].c};
  return CLNET_SUCCESS;
}

static clnet_status gap_forward(const clnet_layer *l, clnet_layer_io *io) {
  (void)l;
  const clnet_tshape *x = io->xs[0];
  return clnet_global_avgpool_forward(io->ctx, io->n, x->h, x->w, x->c, io->x[0], io->y);
}

static clnet_status gap_backward(const clnet_layer *l, clnet_layer_io *io) {
  (void)l;
  if (!io->dx[0]) return CLNET_SUCCESS;
  const clnet_tshape *x = io->xs[0];
  return clnet_global_avgpool_backward(io->ctx, io->n, x->h, x->w, x->c, io->dy, io->dx[0]);
}

static void gap_label(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, const char *pass,
                      char *dst, size_t cap) {
  (void)l, (void)out;
  snprintf(dst, cap, "global_avgpool %s %dx%dx%d", pass, in[0].h, in[0].w, in[0].c);
}

CLNET_LAYER_KIND(global_avgpool, "global_avgpool", "mean over H and W: (H, W, C) -> (1, 1, C)", clnet_no_attrs, 1, 1,
                 0, gap_infer, clnet_layer_no_params, clnet_layer_no_aux, clnet_layer_no_scratch, gap_forward,
                 gap_backward, clnet_layer_no_macs, gap_label);
