/* tanh: y = tanh(x). In place where the graph allows it; its backward reads only y
 * (dy * (1 - y^2)).
 * The op: host/ops/activation.c. */
#include <stdio.h>

#include "graph/layer_kind.h"

static const clnet_activation_desc tanh_op = {CLNET_ACT_TANH, 0.0f, 0.0f};

static clnet_status tanh_infer(clnet_layer *l, const clnet_tshape *in, clnet_tshape *out) {
  (void)l;
  *out = in[0];
  return CLNET_SUCCESS;
}

static clnet_status tanh_forward(const clnet_layer *l, clnet_layer_io *io) {
  (void)l;
  return clnet_activation_forward(io->ctx, &tanh_op, (int64_t)io->n * clnet_tshape_size(io->ys), io->x[0], io->y);
}

static clnet_status tanh_backward(const clnet_layer *l, clnet_layer_io *io) {
  (void)l;
  if (!io->dx[0]) return CLNET_SUCCESS;
  return clnet_activation_backward(io->ctx, &tanh_op, (int64_t)io->n * clnet_tshape_size(io->ys), io->y, io->dy,
                                   io->dx[0]);
}

static void tanh_label(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, const char *pass,
                       char *dst, size_t cap) {
  (void)l, (void)in;
  snprintf(dst, cap, "tanh %s %dx%dx%d", pass, out->h, out->w, out->c);
}

CLNET_LAYER_KIND(tanh, "tanh", "y = tanh(x)", clnet_no_attrs, 1, 1, CLNET_KIND_IN_PLACE | CLNET_KIND_BWD_READS_OUTPUT,
                 tanh_infer, clnet_layer_no_params, clnet_layer_no_aux, clnet_layer_no_scratch, tanh_forward,
                 tanh_backward, clnet_layer_no_macs, tanh_label);
