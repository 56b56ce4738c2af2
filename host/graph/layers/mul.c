/* mul: y = a * b elementwise, both of one shape, or one of them (1, 1, C) and broadcast over the
 * other's H x W (squeeze-and-excitation gating: features * sigmoid(excitation)). Its backward reads
 * both inputs: da = dy * b, db = dy * a, summed over H x W for the broadcast one. The op:
 * host/ops/activation.c. */
#include <stdio.h>
#include <string.h>

#include "graph/layer_kind.h"

/* l->cfg: which input is full-size, which is multiplied in (the broadcast one, if any) */
typedef struct mul_cfg {
  int32_t full, other, bcast;
} mul_cfg;
static const mul_cfg *cfg(const clnet_layer *l) { return (const mul_cfg *)l->cfg; }

static int is_vector(const clnet_tshape *s) { return s->h == 1 && s->w == 1; }

static clnet_status mul_infer(clnet_layer *l, const clnet_tshape *in, clnet_tshape *out) {
  const clnet_tshape *a = &in[0], *b = &in[1];
  mul_cfg c = {0, 1, 0};
  if (a->c != b->c || ((a->h != b->h || a->w != b->w) && !is_vector(a) && !is_vector(b)))
    return clnet_layer_error(l, "multiplying %dx%dx%d by %dx%dx%d: the shapes must match, or one be 1x1xC", a->h, a->w,
                             a->c, b->h, b->w, b->c);
  if (a->h != b->h || a->w != b->w) c = is_vector(b) ? (mul_cfg){0, 1, 1} : (mul_cfg){1, 0, 1};
  memcpy(l->cfg, &c, sizeof c);
  *out = in[c.full];
  return CLNET_SUCCESS;
}

static clnet_status mul_forward(const clnet_layer *l, clnet_layer_io *io) {
  const mul_cfg *c = cfg(l);
  return clnet_mul_forward(io->ctx, io->n, io->ys->h * io->ys->w, io->ys->c, c->bcast, io->x[c->full],
                           io->x[c->other], io->y);
}

static clnet_status mul_backward(const clnet_layer *l, clnet_layer_io *io) {
  const mul_cfg *c = cfg(l);
  if (!io->dx[0] && !io->dx[1]) return CLNET_SUCCESS;
  return clnet_mul_backward(io->ctx, io->n, io->ys->h * io->ys->w, io->ys->c, c->bcast, io->x[c->full],
                            io->x[c->other], io->dy, io->dx[c->full], io->dx[c->other]);
}

static void mul_label(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, const char *pass,
                      char *dst, size_t cap) {
  const clnet_tshape *b = &in[cfg(l)->other];
  snprintf(dst, cap, "mul %s %dx%dx%d*%dx%dx%d", pass, out->h, out->w, out->c, b->h, b->w, b->c);
}

CLNET_LAYER_KIND(mul, "mul", "y = a * b (same shapes, or one 1x1xC broadcast over H x W)", clnet_no_attrs, 2, 2,
                 CLNET_KIND_BWD_READS_INPUTS, mul_infer, clnet_layer_no_params, clnet_layer_no_aux,
                 clnet_layer_no_scratch, mul_forward, mul_backward, clnet_layer_no_macs, mul_label);
