/* global_maxpool: the maximum over H and W of each channel: (H, W, C) -> (1, 1, C); its backward
 * routes dy to the first maximum, whose place (int32 per image and channel) the forward keeps. The
 * op: host/ops/pool.c. */
#include <stdio.h>

#include "graph/layer_kind.h"

static clnet_status gmp_infer(clnet_layer *l, const clnet_tshape *in, clnet_tshape *out) {
  (void)l;
  *out = (clnet_tshape){1, 1, in[0].c};
  return CLNET_SUCCESS;
}

static int32_t gmp_aux(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, clnet_aux_decl *a) {
  (void)l, (void)out;
  a[0] = (clnet_aux_decl){"global_maxpool argmax", 4 * (uint64_t)in[0].c, 0}; /* int32 per channel */
  return 1;
}

static clnet_status gmp_forward(const clnet_layer *l, clnet_layer_io *io) {
  (void)l;
  const clnet_tshape *x = io->xs[0];
  return clnet_global_maxpool_forward(io->ctx, io->n, x->h, x->w, x->c, io->x[0], io->y, io->aux[0]);
}

static clnet_status gmp_backward(const clnet_layer *l, clnet_layer_io *io) {
  (void)l;
  if (!io->dx[0]) return CLNET_SUCCESS;
  const clnet_tshape *x = io->xs[0];
  return clnet_global_maxpool_backward(io->ctx, io->n, x->h, x->w, x->c, io->aux[0], io->dy, io->dx[0]);
}

static void gmp_label(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, const char *pass,
                      char *dst, size_t cap) {
  (void)l, (void)out;
  snprintf(dst, cap, "global_maxpool %s %dx%dx%d", pass, in[0].h, in[0].w, in[0].c);
}

CLNET_LAYER_KIND(global_maxpool, "global_maxpool", "maximum over H and W: (H, W, C) -> (1, 1, C)", clnet_no_attrs, 1,
                 1, 0, gmp_infer, clnet_layer_no_params, gmp_aux, clnet_layer_no_scratch, gmp_forward, gmp_backward,
                 clnet_layer_no_macs, gmp_label);
