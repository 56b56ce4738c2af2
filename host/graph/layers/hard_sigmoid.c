/* hard_sigmoid: y = min(max(alpha*x + beta, 0), 1) (ONNX HardSigmoid and its defaults 0.2, 0.5;
 * PyTorch's hardsigmoid is alpha = 1/6). In place where the graph allows it; its backward reads
 * only y (alpha*dy where 0 < y < 1, else 0). The op: host/ops/activation.c. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "graph/layer_kind.h"

enum { A_ALPHA, A_BETA };
static const clnet_attr_spec hsig_attrs[] = {
    {"alpha", CLNET_ATTR_FLOAT, 0, 0, "0.2", "slope", NULL},
    {"beta", CLNET_ATTR_FLOAT, 0, 0, "0.5", "offset", NULL},
    CLNET_ATTR_END};

/* l->cfg: the op */
static const clnet_activation_desc *cfg(const clnet_layer *l) { return (const clnet_activation_desc *)l->cfg; }

static clnet_status hsig_infer(clnet_layer *l, const clnet_tshape *in, clnet_tshape *out) {
  const double alpha = clnet_attr_float(l, A_ALPHA), beta = clnet_attr_float(l, A_BETA);
  if (fabs(alpha) > 3.4028234663852886e38 || fabs(beta) > 3.4028234663852886e38)
    return clnet_layer_error(l, "alpha = %g, beta = %g: must be floats", alpha, beta);
  const clnet_activation_desc d = {CLNET_ACT_HARD_SIGMOID, (float)alpha, (float)beta};
  memcpy(l->cfg, &d, sizeof d);
  *out = in[0];
  return CLNET_SUCCESS;
}

static clnet_status hsig_forward(const clnet_layer *l, clnet_layer_io *io) {
  return clnet_activation_forward(io->ctx, cfg(l), (int64_t)io->n * clnet_tshape_size(io->ys), io->x[0], io->y);
}

static clnet_status hsig_backward(const clnet_layer *l, clnet_layer_io *io) {
  if (!io->dx[0]) return CLNET_SUCCESS;
  return clnet_activation_backward(io->ctx, cfg(l), (int64_t)io->n * clnet_tshape_size(io->ys), io->y, io->dy,
                                   io->dx[0]);
}

static void hsig_label(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, const char *pass,
                       char *dst, size_t cap) {
  (void)l, (void)in;
  snprintf(dst, cap, "hard_sigmoid %s %dx%dx%d", pass, out->h, out->w, out->c);
}

CLNET_LAYER_KIND(hard_sigmoid, "hard_sigmoid", "y = min(max(alpha*x + beta, 0), 1)", hsig_attrs, 1, 1,
                 CLNET_KIND_IN_PLACE | CLNET_KIND_BWD_READS_OUTPUT, hsig_infer, clnet_layer_no_params,
                 clnet_layer_no_aux, clnet_layer_no_scratch, hsig_forward, hsig_backward, clnet_layer_no_macs,
                 hsig_label);
