/* dropout: in training, each element is zeroed with probability `rate` and the others scaled by
 * 1 / (1 - rate) (inverted dropout, as PyTorch and Keras); in evaluation, the identity. The mask
 * is a counter-based hash of the graph's seed, its step counter, the layer's name and the
 * element's index, so a run is reproducible and the backward regenerates the forward's mask: no
 * mask is stored, and its backward reads neither x nor y (in place where the graph allows it).
 * The op: host/ops/activation.c. */
#include <stdio.h>
#include <string.h>

#include "graph/layer_kind.h"

enum { A_RATE };
static const clnet_attr_spec dropout_attrs[] = {
    {"rate", CLNET_ATTR_FLOAT, 0, 0, "0.5", "probability of zeroing an element in training, in [0, 1)", NULL},
    CLNET_ATTR_END};

/* l->cfg */
typedef struct dropout_cfg {
  float rate;
  uint32_t salt; /* FNV-1a of the layer's name: two dropout layers draw different masks */
} dropout_cfg;
static const dropout_cfg *cfg(const clnet_layer *l) { return (const dropout_cfg *)l->cfg; }

static clnet_status dropout_infer(clnet_layer *l, const clnet_tshape *in, clnet_tshape *out) {
  const double rate = clnet_attr_float(l, A_RATE);
  if (!(rate >= 0 && (float)rate < 1.0f)) return clnet_layer_error(l, "rate = %g, must lie in [0, 1)", rate);
  dropout_cfg c = {(float)rate, 2166136261u};
  for (const char *p = l->name; *p; ++p) c.salt = (c.salt ^ (unsigned char)*p) * 16777619u;
  memcpy(l->cfg, &c, sizeof c);
  *out = in[0];
  return CLNET_SUCCESS;
}

static clnet_dropout_desc desc_of(const clnet_layer *l, const clnet_layer_io *io) {
  return (clnet_dropout_desc){.rate = cfg(l)->rate, .seed = io->seed, .step = io->step, .salt = cfg(l)->salt};
}

static clnet_status dropout_forward(const clnet_layer *l, clnet_layer_io *io) {
  const int64_t count = (int64_t)io->n * clnet_tshape_size(io->ys);
  if (io->training) {
    const clnet_dropout_desc d = desc_of(l, io);
    return clnet_dropout_forward(io->ctx, &d, count, io->x[0], io->y);
  }
  if (io->x[0]->mem == io->y->mem && io->x[0]->host == io->y->host) return CLNET_SUCCESS; /* in place */
  return clnet_buf_copy(io->ctx, io->x[0], 0, io->y, 0, (size_t)count * 4);
}

static clnet_status dropout_backward(const clnet_layer *l, clnet_layer_io *io) {
  if (!io->dx[0]) return CLNET_SUCCESS;
  const clnet_dropout_desc d = desc_of(l, io);
  return clnet_dropout_backward(io->ctx, &d, (int64_t)io->n * clnet_tshape_size(io->ys), io->dy, io->dx[0]);
}

static void dropout_label(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, const char *pass,
                          char *dst, size_t cap) {
  (void)l, (void)in;
  snprintf(dst, cap, "dropout %s %dx%dx%d", pass, out->h, out->w, out->c);
}

CLNET_LAYER_KIND(dropout, "dropout", "training: zero with probability rate, scale the rest by 1/(1-rate); eval: y = x",
                 dropout_attrs, 1, 1, CLNET_KIND_IN_PLACE, dropout_infer, clnet_layer_no_params, clnet_layer_no_aux,
                 clnet_layer_no_scratch, dropout_forward, dropout_backward, clnet_layer_no_macs, dropout_label);
