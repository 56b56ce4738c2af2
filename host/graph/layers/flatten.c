/* flatten: (H, W, C) -> (1, 1, H*W*C), a view: the output is the input's storage, in NHWC order
 * (h, w, c; PyTorch flattens NCHW as c, h, w, so a dense layer after it sees its inputs in another
 * order than PyTorch's). Nothing runs forward in a graph; backward copies dy into dx, which the
 * memory plan keeps in a buffer of its own. */
#include <stdio.h>

#include "graph/layer_kind.h"

static clnet_status flatten_infer(clnet_layer *l, const clnet_tshape *in, clnet_tshape *out) {
  const int64_t size = clnet_tshape_size(&in[0]);
  if (size > INT32_MAX) return clnet_layer_error(l, "%lld values per image: too many", (long long)size);
  *out = (clnet_tshape){1, 1, (int32_t)size};
  return CLNET_SUCCESS;
}

static int same_buffer(const clnet_buf *a, const clnet_buf *b) { return a->mem == b->mem && a->host == b->host; }

/* In a graph y is x (CLNET_KIND_VIEW); a caller with separate buffers (the cross-checks) gets a copy. */
static clnet_status flatten_forward(const clnet_layer *l, clnet_layer_io *io) {
  (void)l;
  if (same_buffer(io->x[0], io->y)) return CLNET_SUCCESS;
  return clnet_buf_copy(io->ctx, io->x[0], 0, io->y, 0, (size_t)io->n * (size_t)clnet_tshape_size(io->ys) * 4);
}

static clnet_status flatten_backward(const clnet_layer *l, clnet_layer_io *io) {
  (void)l;
  if (!io->dx[0] || same_buffer(io->dy, io->dx[0])) return CLNET_SUCCESS;
  return clnet_buf_copy(io->ctx, io->dy, 0, io->dx[0], 0, (size_t)io->n * (size_t)clnet_tshape_size(io->ys) * 4);
}

static void flatten_label(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, const char *pass,
                          char *dst, size_t cap) {
  (void)l;
  snprintf(dst, cap, "flatten %s %dx%dx%d->%d", pass, in[0].h, in[0].w, in[0].c, out->c);
}

CLNET_LAYER_KIND(flatten, "flatten", "(H, W, C) -> (1, 1, H*W*C) in NHWC order, a view", clnet_no_attrs, 1, 1,
                 CLNET_KIND_VIEW | CLNET_KIND_IN_PLACE, flatten_infer, clnet_layer_no_params, clnet_layer_no_aux,
                 clnet_layer_no_scratch, flatten_forward, flatten_backward, clnet_layer_no_macs, flatten_label);
