/* clip: y = min(max(x, min), max) (ONNX Clip, PyTorch's hardtanh; relu6 is clip 0..6). In place
 * where the graph allows it; its backward reads only y (dy where min < y < max, else 0, so the
 * bounds themselves get 0). The op: host/ops/activation.c. */
#include <stdio.h>
#include <string.h>

#include "graph/layer_kind.h"

enum { A_MIN, A_MAX };
static const clnet_attr_spec clip_attrs[] = {
    {"min", CLNET_ATTR_FLOAT, 0, 0, "-3.4028234663852886e+38", "lower bound (default: the lowest float)", NULL},
    {"max", CLNET_ATTR_FLOAT, 0, 0, "3.4028234663852886e+38", "upper bound (default: the largest float)", NULL},
    CLNET_ATTR_END};

/* l->cfg: the op */
static const clnet_activation_desc *cfg(const clnet_layer *l) { return (const clnet_activation_desc *)l->cfg; }

static clnet_status clip_infer(clnet_layer *l, const clnet_tshape *in, clnet_tshape *out) {
  const double lo = clnet_attr_float(l, A_MIN), hi = clnet_attr_float(l, A_MAX);
  if (!(lo <= hi)) return clnet_layer_error(l, "min = %g is above max = %g", lo, hi);
  if (lo < -3.4028234663852886e38 || hi > 3.4028234663852886e38)
    return clnet_layer_error(l, "min = %g, max = %g: the bounds must be floats", lo, hi);
  const clnet_activation_desc d = {CLNET_ACT_CLIP, (float)lo, (float)hi};
  memcpy(l->cfg, &d, sizeof d);
  *out = in[0];
  return CLNET_SUCCESS;
}

static clnet_status clip_forward(const clnet_layer *l, clnet_layer_io *io) {
  return clnet_activation_forward(io->ctx, cfg(l), (int64_t)io->n * clnet_tshape_size(io->ys), io->x[0], io->y);
}

static clnet_status clip_backward(const clnet_layer *l, clnet_layer_io *io) {
  if (!io->dx[0]) return CLNET_SUCCESS;
  return clnet_activation_backward(io->ctx, cfg(l), (int64_t)io->n * clnet_tshape_size(io->ys), io->y, io->dy,
                                   io->dx[0]);
}

static void clip_label(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, const char *pass,
                       char *dst, size_t cap) {
  (void)in;
  snprintf(dst, cap, "clip %g..%g %s %dx%dx%d", cfg(l)->alpha, cfg(l)->beta, pass, out->h, out->w, out->c);
}

CLNET_LAYER_KIND(clip, "clip", "y = min(max(x, min), max)", clip_attrs, 1, 1,
                 CLNET_KIND_IN_PLACE | CLNET_KIND_BWD_READS_OUTPUT, clip_infer, clnet_layer_no_params,
                 clnet_layer_no_aux, clnet_layer_no_scratch, clip_forward, clip_backward, clnet_layer_no_macs,
                 clip_label);
