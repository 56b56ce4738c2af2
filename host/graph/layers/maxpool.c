/* maxpool: the window maximum; padding never wins. Windows kh x kw, strides, TF valid/same or
 * explicit pads (pool_window.h). Its backward routes dy through a one-byte argmax per output (kept
 * from the forward). The op: host/ops/pool.c. */
#include <stdio.h>

#include "graph/layers/pool_window.h"

static const clnet_attr_spec maxpool_attrs[] = {POOL_WINDOW_ATTRS, CLNET_ATTR_END};

static clnet_status maxpool_infer(clnet_layer *l, const clnet_tshape *in, clnet_tshape *out) {
  CLNET_TRY(pool_window_infer(l, "maxpool", in, 0, out));
  const clnet_pool_desc *d = (const clnet_pool_desc *)l->cfg;
  if (d->k_h > CLNET_MAXPOOL_MAX_K || d->k_w > CLNET_MAXPOOL_MAX_K)
    return clnet_layer_error(l, "window %dx%d: at most %d on each side", d->k_h, d->k_w, CLNET_MAXPOOL_MAX_K);
  return CLNET_SUCCESS;
}

static int32_t maxpool_aux(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, clnet_aux_decl *a) {
  (void)l, (void)in;
  a[0] = (clnet_aux_decl){"maxpool argmax", (uint64_t)clnet_tshape_size(out), 0}; /* uint8 per output */
  return 1;
}

static clnet_status maxpool_forward(const clnet_layer *l, clnet_layer_io *io) {
  const clnet_pool_desc d = pool_window_at(l, io->n);
  return clnet_maxpool_forward(io->ctx, &d, io->x[0], io->y, io->aux[0]);
}

static clnet_status maxpool_backward(const clnet_layer *l, clnet_layer_io *io) {
  if (!io->dx[0]) return CLNET_SUCCESS;
  const clnet_pool_desc d = pool_window_at(l, io->n);
  return clnet_maxpool_backward(io->ctx, &d, io->aux[0], io->dy, io->dx[0]);
}

static void maxpool_label(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, const char *pass,
                          char *dst, size_t cap) {
  (void)out;
  char w[64];
  pool_window_text((const clnet_pool_desc *)l->cfg, w, sizeof w);
  snprintf(dst, cap, "maxpool %s %s %dx%dx%d", w, pass, in[0].h, in[0].w, in[0].c);
}

CLNET_LAYER_KIND(maxpool, "maxpool", "window maximum", maxpool_attrs, 1, 1, 0, maxpool_infer, clnet_layer_no_params,
                 maxpool_aux, clnet_layer_no_scratch, maxpool_forward, maxpool_backward, clnet_layer_no_macs,
                 maxpool_label);
