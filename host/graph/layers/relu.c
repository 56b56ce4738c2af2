/* relu: y = max(x, 0), in place where the graph allows it (layer_kind.h, CLNET_KIND_IN_PLACE);
 * its backward reads only y. The op: host/ops/eltwise.c. */
#include <stdio.h>

#include "graph/layer_kind.h"

static clnet_status relu_infer(clnet_layer *l, const clnet_tshape *in, clnet_tshape *out) {
  (void)l;
  *out = in[0];
  return CLNET_SUCCESS;
}

static clnet_status relu_forward(const clnet_layer *l, clnet_layer_io *io) {
  (void)l;
  return clnet_relu_forward(io->ctx, (int64_t)io->n * clnet_tshape_size(io->ys), io->x[0], io->y);
}

static clnet_status relu_backward(const clnet_layer *l, clnet_layer_io *io) {
  (void)l;
  if (!io->dx[0]) return CLNET_SUCCESS;
  return clnet_relu_backward(io->ctx, (int64_t)io->n * clnet_tshape_size(io->ys), io->y, io->dy, io->dx[0]);
}

static void relu_label(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, const char *pass,
                       char *dst, size_t cap) {
  (void)l, (void)in;
  snprintf(dst, cap, "relu %s %dx%dx%d", pass, out->h, out->w, out->c);
}

CLNET_LAYER_KIND(relu, "relu", "y = max(x, 0)", clnet_no_attrs, 1, 1, CLNET_KIND_IN_PLACE | CLNET_KIND_BWD_READS_OUTPUT,
                 relu_infer, clnet_layer_no_params, clnet_layer_no_aux, clnet_layer_no_scratch, relu_forward,
                 relu_backward, clnet_layer_no_macs, relu_label);
