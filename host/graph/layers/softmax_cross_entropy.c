/* softmax_cross_entropy: the loss on logits (1, 1, K) and int32 labels in [0, K): mean over the
 * batch of -log softmax(logits)[label], or with label_smoothing s (PyTorch's) of
 * -sum_j target_j log softmax_j, target = (1 - s) onehot + s/K; its forward also writes
 * dlogits = (softmax - target) / N and [loss, correct]. The op: host/ops/loss.c. */
#include <stdio.h>

#include "graph/layer_kind.h"

enum { A_SMOOTHING };
static const clnet_attr_spec xent_attrs[] = {
    {"label_smoothing", CLNET_ATTR_FLOAT, 0, 0, "0", "target = (1 - s) onehot + s / K", NULL},
    CLNET_ATTR_END};

static clnet_status xent_infer(clnet_layer *l, const clnet_tshape *in, clnet_tshape *out) {
  if (in[0].h != 1 || in[0].w != 1)
    return clnet_layer_error(l, "the logits must be a vector (1x1xK), got %dx%dx%d", in[0].h, in[0].w, in[0].c);
  if (in[0].c < 2) return clnet_layer_error(l, "%d classes: at least 2", in[0].c);
  const double s = clnet_attr_float(l, A_SMOOTHING);
  if (!(s >= 0 && s <= 1)) return clnet_layer_error(l, "label_smoothing = %g, must lie in [0, 1]", s);
  *out = (clnet_tshape){1, 1, 1};
  return CLNET_SUCCESS;
}

static clnet_status xent_forward(const clnet_layer *l, clnet_layer_io *io) {
  return clnet_softmax_xent_smoothed(io->ctx, io->n, io->xs[0]->c, (float)clnet_attr_float(l, A_SMOOTHING), io->x[0],
                                     io->labels, io->dlogits, io->result);
}

static void xent_label(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, const char *pass,
                       char *dst, size_t cap) {
  (void)l, (void)in, (void)out, (void)pass;
  snprintf(dst, cap, "softmax cross-entropy");
}

CLNET_LAYER_KIND(softmax_cross_entropy, "softmax_cross_entropy", "loss: softmax cross-entropy on logits", xent_attrs,
                 1, 1, CLNET_KIND_LOSS, xent_infer, clnet_layer_no_params, clnet_layer_no_aux, clnet_layer_no_scratch,
                 xent_forward, clnet_layer_no_backward, clnet_layer_no_macs, xent_label);
