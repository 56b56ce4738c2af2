/* silu (swish): y = x * sigmoid(x). Its backward reads x (y does not determine x), so it never runs
 * in place: dy * (s + x s (1 - s)), s = sigmoid(x).
 * The op: host/ops/activation.c. */
#include <stdio.h>

#include "graph/layer_kind.h"

static const clnet_activation_desc silu_op = {CLNET_ACT_SILU, 0.0f, 0.0f};

static clnet_status silu_infer(clnet_layer *l, const clnet_tshape *in, clnet_tshape *out) {
  (void)l;
  *out = in[0];
  return CLNET_SUCCESS;
}

static clnet_status silu_forward(const clnet_layer *l, clnet_layer_io *io) {
  (void)l;
  return clnet_activation_forward(io->ctx, &silu_op, (int64_t)io->n * clnet_tshape_size(io->ys), io->x[0], io->y);
}

static clnet_status silu_backward(const clnet_layer *l, clnet_layer_io *io) {
  (void)l;
  if (!io->dx[0]) return CLNET_SUCCESS;
  return clnet_activation_backward(io->ctx, &silu_op, (int64_t)io->n * clnet_tshape_size(io->ys), io->x[0], io->dy,
                                   io->dx[0]);
}

static void silu_label(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, const char *pass,
                       char *dst, size_t cap) {
  (void)l, (void)in;
  snprintf(dst, cap, "silu %s %dx%dx%d", pass, out->h, out->w, out->c);
}

CLNET_LAYER_KIND(silu, "silu", "SiLU (swish): y = x * sigmoid(x)", clnet_no_attrs, 1, 1, CLNET_KIND_BWD_READS_INPUTS,
                 silu_infer, clnet_layer_no_params, clnet_layer_no_aux, clnet_layer_no_scratch, silu_forward,
                 silu_backward, clnet_layer_no_macs, silu_label);
