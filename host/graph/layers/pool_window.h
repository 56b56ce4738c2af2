/* Internal to the pooling descriptors (maxpool.c, avgpool.c): their shared window attributes and
 * the op's descriptor made from them. A header, so the layer registry (which takes every .c file
 * here for a kind) does not see it. */
#ifndef CLNET_GRAPH_LAYERS_POOL_WINDOW_H
#define CLNET_GRAPH_LAYERS_POOL_WINDOW_H

#include <stdio.h>
#include <string.h>

#include "graph/layer_kind.h"

/* The first attributes of both kinds, in this order. */
enum { POOL_A_KERNEL, POOL_A_STRIDE, POOL_A_PADDING, POOL_A_PADS, POOL_A_COUNT };
#define POOL_WINDOW_ATTRS                                                                                         \
  {"kernel", CLNET_ATTR_INTS, 1, 2, NULL, "window: k, or kh,kw", NULL},                                           \
      {"stride", CLNET_ATTR_INTS, 1, 2, NULL, "stride: s, or sh,sw", NULL},                                       \
      {"padding", CLNET_ATTR_ENUM, 0, 0, "valid", "valid, same (TensorFlow) or explicit (pads)",                  \
       "valid|same|explicit"},                                                                                    \
      {"pads", CLNET_ATTR_INTS, 4, 4, "0,0,0,0",                                                                  \
       "padding=explicit: top,left,bottom,right (ONNX's order), each smaller than the window", NULL}

static inline int64_t pool_pair_at(const clnet_attr_value *v, int i) { return v->n > 1 ? v->i[i] : v->i[0]; }

/* l's window on input `in` into l->cfg (a clnet_pool_desc for one image), and the output shape. */
static inline clnet_status pool_window_infer(clnet_layer *l, const char *kind, const clnet_tshape *in,
                                             int32_t count_include_pad, clnet_tshape *out) {
  const clnet_attr_value *a = l->attrs;
  const int64_t padding = a[POOL_A_PADDING].i[0];
  if (padding != 2)
    for (int i = 0; i < 4; ++i)
      if (a[POOL_A_PADS].i[i] != 0) return clnet_layer_error(l, "pads are given, but padding is not explicit");
  for (int i = 0; i < 2; ++i)
    if (pool_pair_at(&a[POOL_A_KERNEL], i) < 1 || pool_pair_at(&a[POOL_A_STRIDE], i) < 1)
      return clnet_layer_error(l, "kernel and stride must be >= 1");
  clnet_pool_desc d = {.n = 1, .in_h = in[0].h, .in_w = in[0].w, .c = in[0].c,
                       .k_h = (int32_t)pool_pair_at(&a[POOL_A_KERNEL], 0),
                       .k_w = (int32_t)pool_pair_at(&a[POOL_A_KERNEL], 1),
                       .stride_h = (int32_t)pool_pair_at(&a[POOL_A_STRIDE], 0),
                       .stride_w = (int32_t)pool_pair_at(&a[POOL_A_STRIDE], 1),
                       .padding = padding == 2   ? CLNET_PADDING_EXPLICIT
                                  : padding == 1 ? CLNET_PADDING_SAME
                                                 : CLNET_PADDING_VALID,
                       .pads = {(int32_t)a[POOL_A_PADS].i[0], (int32_t)a[POOL_A_PADS].i[1],
                                (int32_t)a[POOL_A_PADS].i[2], (int32_t)a[POOL_A_PADS].i[3]},
                       .count_include_pad = count_include_pad};
  if (clnet_pool_desc_init(&d) != CLNET_SUCCESS)
    return clnet_wrap_error(CLNET_ERR_INVALID_ARGUMENT, "layer '%s' (%s) on a %dx%dx%d input", l->name, kind, in[0].h,
                            in[0].w, in[0].c);
  _Static_assert(sizeof(clnet_pool_desc) <= CLNET_LAYER_CFG_BYTES, "pool desc fits the layer's cfg");
  memcpy(l->cfg, &d, sizeof d);
  *out = (clnet_tshape){d.out_h, d.out_w, in[0].c};
  return CLNET_SUCCESS;
}

/* l's descriptor at batch n (validated by infer). */
static inline clnet_pool_desc pool_window_at(const clnet_layer *l, int32_t n) {
  clnet_pool_desc d;
  memcpy(&d, l->cfg, sizeof d);
  d.n = n;
  clnet_pool_desc_init(&d);
  return d;
}

/* "3x3/2" or "3x2/2x1", with " pads t,l,b,r" when explicit. */
static inline void pool_window_text(const clnet_pool_desc *d, char *dst, size_t cap) {
  int u = snprintf(dst, cap, "%dx%d", d->k_h, d->k_w);
  if (u < 0 || (size_t)u >= cap) return;
  u += d->stride_h == d->stride_w ? snprintf(dst + u, cap - (size_t)u, "/%d", d->stride_h)
                                  : snprintf(dst + u, cap - (size_t)u, "/%dx%d", d->stride_h, d->stride_w);
  if (u < 0 || (size_t)u >= cap || d->padding != CLNET_PADDING_EXPLICIT) return;
  snprintf(dst + u, cap - (size_t)u, " pads %d,%d,%d,%d", d->pads[0], d->pads[1], d->pads[2], d->pads[3]);
}

#endif
