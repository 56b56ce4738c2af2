/* leaky_relu: y = x > 0 ? x : alpha*x (ONNX LeakyRelu, PyTorch's negative_slope). In place where
 * the graph allows it; its backward reads only y, which tells the sides apart for alpha >= 0, so
 * a negative alpha is refused. The op: host/ops/activation.c. */
#include <stdio.h>
#include <string.h>

#include "graph/layer_kind.h"

enum { A_ALPHA };
static const clnet_attr_spec leaky_attrs[] = {
    {"alpha", CLNET_ATTR_FLOAT, 0, 0, "0.01", "slope for x < 0 (>= 0; ONNX's and PyTorch's default)", NULL},
    CLNET_ATTR_END};

/* l->cfg: the op */
static const clnet_activation_desc *cfg(const clnet_layer *l) { return (const clnet_activation_desc *)l->cfg; }

static clnet_status leaky_infer(clnet_layer *l, const clnet_tshape *in, clnet_tshape *out) {
  const double alpha = clnet_attr_float(l, A_ALPHA);
  if (!(alpha >= 0 && alpha <= 3.4028234663852886e38))
    return clnet_layer_error(l, "alpha = %g, must be >= 0 (the backward tells x < 0 from y's sign)", alpha);
  const clnet_activation_desc d = {CLNET_ACT_LEAKY_RELU, (float)alpha, 0.0f};
  memcpy(l->cfg, &d, sizeof d);
  *out = in[0];
  return CLNET_SUCCESS;
}

static clnet_status leaky_forward(const clnet_layer *l, clnet_layer_io *io) {
  return clnet_activation_forward(io->ctx, cfg(l), (int64_t)io->n * clnet_tshape_size(io->ys), io->x[0], io->y);
}

static clnet_status leaky_backward(const clnet_layer *l, clnet_layer_io *io) {
  if (!io->dx[0]) return CLNET_SUCCESS;
  return clnet_activation_backward(io->ctx, cfg(l), (int64_t)io->n * clnet_tshape_size(io->ys), io->y, io->dy,
                                   io->dx[0]);
}

static void leaky_label(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, const char *pass,
                        char *dst, size_t cap) {
  (void)l, (void)in;
  snprintf(dst, cap, "leaky_relu %s %dx%dx%d", pass, out->h, out->w, out->c);
}

CLNET_LAYER_KIND(leaky_relu, "leaky_relu", "y = x > 0 ? x : alpha*x", leaky_attrs, 1, 1,
                 CLNET_KIND_IN_PLACE | CLNET_KIND_BWD_READS_OUTPUT, leaky_infer, clnet_layer_no_params,
                 clnet_layer_no_aux, clnet_layer_no_scratch, leaky_forward, leaky_backward, clnet_layer_no_macs,
                 leaky_label);
