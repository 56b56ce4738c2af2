/* relu6: y = min(max(x, 0), 6) (MobileNet's), clip with the bounds 0 and 6. In place where the
 * graph allows it; its backward reads only y (dy where 0 < y < 6, else 0).
 * The op: host/ops/activation.c. */
#include <stdio.h>

#include "graph/layer_kind.h"

static const clnet_activation_desc relu6_op = {CLNET_ACT_CLIP, 0.0f, 6.0f};

static clnet_status relu6_infer(clnet_layer *l, const clnet_tshape *in, clnet_tshape *out) {
  (void)l;
  *out = in[0];
  return CLNET_SUCCESS;
}

static clnet_status relu6_forward(const clnet_layer *l, clnet_layer_io *io) {
  (void)l;
  return clnet_activation_forward(io->ctx, &relu6_op, (int64_t)io->n * clnet_tshape_size(io->ys), io->x[0], io->y);
}

static clnet_status relu6_backward(const clnet_layer *l, clnet_layer_io *io) {
  (void)l;
  if (!io->dx[0]) return CLNET_SUCCESS;
  return clnet_activation_backward(io->ctx, &relu6_op, (int64_t)io->n * clnet_tshape_size(io->ys), io->y, io->dy,
                                   io->dx[0]);
}

static void relu6_label(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, const char *pass,
                        char *dst, size_t cap) {
  (void)l, (void)in;
  snprintf(dst, cap, "relu6 %s %dx%dx%d", pass, out->h, out->w, out->c);
}

CLNET_LAYER_KIND(relu6, "relu6", "y = min(max(x, 0), 6)", clnet_no_attrs, 1, 1, CLNET_KIND_IN_PLACE | CLNET_KIND_BWD_READS_OUTPUT,
                 relu6_infer, clnet_layer_no_params, clnet_layer_no_aux, clnet_layer_no_scratch, relu6_forward,
                 relu6_backward, clnet_layer_no_macs, relu6_label);
