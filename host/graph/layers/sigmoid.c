/* sigmoid: y = 1 / (1 + exp(-x)). In place where the graph allows it; its backward reads only y
 * (dy * y * (1 - y)).
 * The op: host/ops/activation.c. */
#include <stdio.h>

#include "graph/layer_kind.h"

static const clnet_activation_desc sigmoid_op = {CLNET_ACT_SIGMOID, 0.0f, 0.0f};

static clnet_status sigmoid_infer(clnet_layer *l, const clnet_tshape *in, clnet_tshape *out) {
  (void)l;
  *out = in[0];
  return CLNET_SUCCESS;
}

static clnet_status sigmoid_forward(const clnet_layer *l, clnet_layer_io *io) {
  (void)l;
  return clnet_activation_forward(io->ctx, &sigmoid_op, (int64_t)io->n * clnet_tshape_size(io->ys), io->x[0], io->y);
}

static clnet_status sigmoid_backward(const clnet_layer *l, clnet_layer_io *io) {
  (void)l;
  if (!io->dx[0]) return CLNET_SUCCESS;
  return clnet_activation_backward(io->ctx, &sigmoid_op, (int64_t)io->n * clnet_tshape_size(io->ys), io->y, io->dy,
                                   io->dx[0]);
}

static void sigmoid_label(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, const char *pass,
                          char *dst, size_t cap) {
  (void)l, (void)in;
  snprintf(dst, cap, "sigmoid %s %dx%dx%d", pass, out->h, out->w, out->c);
}

CLNET_LAYER_KIND(sigmoid, "sigmoid", "y = 1 / (1 + exp(-x))", clnet_no_attrs, 1, 1, CLNET_KIND_IN_PLACE | CLNET_KIND_BWD_READS_OUTPUT,
                 sigmoid_infer, clnet_layer_no_params, clnet_layer_no_aux, clnet_layer_no_scratch, sigmoid_forward,
                 sigmoid_backward, clnet_layer_no_macs, sigmoid_label);
