/* avgpool: the window mean. Windows kh x kw, strides, TF valid/same or explicit pads
 * (pool_window.h); padded cells count in the divisor only with count_include_pad=1 (PyTorch's
 * default), else it is the window's cells inside the input (ONNX's default, and Keras'). The op:
 * host/ops/pool.c. */
#include <stdio.h>

#include "graph/layers/pool_window.h"

enum { A_COUNT_INCLUDE_PAD = POOL_A_COUNT };
static const clnet_attr_spec avgpool_attrs[] = {
    POOL_WINDOW_ATTRS,
    {"count_include_pad", CLNET_ATTR_INT, 0, 0, "0", "1: divide by kh*kw; 0: by the window's cells inside the input",
     NULL},
    CLNET_ATTR_END};

static clnet_status avgpool_infer(clnet_layer *l, const clnet_tshape *in, clnet_tshape *out) {
  const int64_t inc = clnet_attr_int(l, A_COUNT_INCLUDE_PAD);
  if (inc != 0 && inc != 1) return clnet_layer_error(l, "count_include_pad = %lld, must be 0 or 1", (long long)inc);
  return pool_window_infer(l, "avgpool", in, (int32_t)inc, out);
}

static clnet_status avgpool_forward(const clnet_layer *l, clnet_layer_io *io) {
  const clnet_pool_desc d = pool_window_at(l, io->n);
  return clnet_avgpool_forward(io->ctx, &d, io->x[0], io->y);
}

static clnet_status avgpool_backward(const clnet_layer *l, clnet_layer_io *io) {
  if (!io->dx[0]) return CLNET_SUCCESS;
  const clnet_pool_desc d = pool_window_at(l, io->n);
  return clnet_avgpool_backward(io->ctx, &d, io->dy, io->dx[0]);
}

static void avgpool_label(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, const char *pass,
                          char *dst, size_t cap) {
  (void)out;
  char w[64];
  pool_window_text((const clnet_pool_desc *)l->cfg, w, sizeof w);
  snprintf(dst, cap, "avgpool %s %s %dx%dx%d", w, pass, in[0].h, in[0].w, in[0].c);
}

CLNET_LAYER_KIND(avgpool, "avgpool", "window mean", avgpool_attrs, 1, 1, 0, avgpool_infer, clnet_layer_no_params,
                 clnet_layer_no_aux, clnet_layer_no_scratch, avgpool_forward, avgpool_backward, clnet_layer_no_macs,
                 avgpool_label);
