/* hard_swish: y = x * min(max(x/6 + 1/2, 0), 1) (ONNX HardSwish; PyTorch's
 * x * relu6(x + 3) / 6). Its backward reads x, so it never runs in place.
 * The op: host/ops/activation.c. */
#include <stdio.h>

#include "graph/layer_kind.h"

static const clnet_activation_desc hard_swish_op = {CLNET_ACT_HARD_SWISH, 1.0f / 6.0f, 0.5f};

static clnet_status hard_swish_infer(clnet_layer *l, const clnet_tshape *in, clnet_tshape *out) {
  (void)l;
  *out = in[0];
  return CLNET_SUCCESS;
}

static clnet_status hard_swish_forward(const clnet_layer *l, clnet_layer_io *io) {
  (void)l;
  return clnet_activation_forward(io->ctx, &hard_swish_op, (int64_t)io->n * clnet_tshape_size(io->ys), io->x[0], io->y);
}

static clnet_status hard_swish_backward(const clnet_layer *l, clnet_layer_io *io) {
  (void)l;
  if (!io->dx[0]) return CLNET_SUCCESS;
  return clnet_activation_backward(io->ctx, &hard_swish_op, (int64_t)io->n * clnet_tshape_size(io->ys), io->x[0], io->dy,
                                   io->dx[0]);
}

static void hard_swish_label(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, const char *pass,
                             char *dst, size_t cap) {
  (void)l, (void)in;
  snprintf(dst, cap, "hard_swish %s %dx%dx%d", pass, out->h, out->w, out->c);
}

CLNET_LAYER_KIND(hard_swish, "hard_swish", "y = x * min(max(x/6 + 1/2, 0), 1)", clnet_no_attrs, 1, 1, CLNET_KIND_BWD_READS_INPUTS,
                 hard_swish_infer, clnet_layer_no_params, clnet_layer_no_aux, clnet_layer_no_scratch, hard_swish_forward,
                 hard_swish_backward, clnet_layer_no_macs, hard_swish_label);
