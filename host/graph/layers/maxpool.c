/* maxpool: the window maximum; padding never wins. Its backward routes dy through a one-byte
 * argmax per output (kept from the forward). The op: host/ops/pool.c. */
#include <stdio.h>
#include <string.h>

#include "graph/layer_kind.h"

enum { A_KERNEL, A_STRIDE, A_PADDING, A_PADS };
static const clnet_attr_spec maxpool_attrs[] = {
    {"kernel", CLNET_ATTR_INTS, 1, 2, NULL, "window: k, or kh,kw", NULL},
    {"stride", CLNET_ATTR_INTS, 1, 2, NULL, "stride: s, or sh,sw", NULL},
    {"padding", CLNET_ATTR_ENUM, 0, 0, "valid", "valid, same (TensorFlow) or explicit (pads)", "valid|same|explicit"},
    {"pads", CLNET_ATTR_INTS, 4, 4, "0,0,0,0", "padding=explicit: top,left,bottom,right", NULL},
    CLNET_ATTR_END};

static const clnet_pool_desc *cfg(const clnet_layer *l) { return (const clnet_pool_desc *)l->cfg; }
static int64_t pair_at(const clnet_attr_value *v, int i) { return v->n > 1 ? v->i[i] : v->i[0]; }

static clnet_status maxpool_infer(clnet_layer *l, const clnet_tshape *in, clnet_tshape *out) {
  const clnet_attr_value *a = l->attrs;
  if (pair_at(&a[A_KERNEL], 0) != pair_at(&a[A_KERNEL], 1) || pair_at(&a[A_STRIDE], 0) != pair_at(&a[A_STRIDE], 1))
    return clnet_layer_error(l, "rectangular windows and strides are not supported yet");
  if (a[A_PADDING].i[0] == 2) return clnet_layer_error(l, "padding=explicit is not supported yet");
  clnet_pool_desc d = {.n = 1, .in_h = in[0].h, .in_w = in[0].w, .c = in[0].c, .k = (int32_t)pair_at(&a[A_KERNEL], 0),
                       .stride = (int32_t)pair_at(&a[A_STRIDE], 0),
                       .padding = a[A_PADDING].i[0] == 1 ? CLNET_PADDING_SAME : CLNET_PADDING_VALID};
  if (clnet_pool_desc_init(&d) != CLNET_SUCCESS)
    return clnet_wrap_error(CLNET_ERR_INVALID_ARGUMENT, "layer '%s' (maxpool) on a %dx%dx%d input", l->name, in[0].h,
                            in[0].w, in[0].c);
  if (d.k > CLNET_MAXPOOL_MAX_K) return clnet_layer_error(l, "window %d: at most %d", d.k, CLNET_MAXPOOL_MAX_K);
  memcpy(l->cfg, &d, sizeof d);
  *out = (clnet_tshape){d.out_h, d.out_w, in[0].c};
  return CLNET_SUCCESS;
}

static int32_t maxpool_aux(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, clnet_aux_decl *a) {
  (void)l, (void)in;
  a[0] = (clnet_aux_decl){"maxpool argmax", (uint64_t)clnet_tshape_size(out), 0}; /* uint8 per output */
  return 1;
}

static clnet_pool_desc desc_at(const clnet_layer *l, int32_t n) {
  clnet_pool_desc d = *cfg(l);
  d.n = n;
  clnet_pool_desc_init(&d); /* validated by infer */
  return d;
}

static clnet_status maxpool_forward(const clnet_layer *l, clnet_layer_io *io) {
  const clnet_pool_desc d = desc_at(l, io->n);
  return clnet_maxpool_forward(io->ctx, &d, io->x[0], io->y, io->aux[0]);
}

static clnet_status maxpool_backward(const clnet_layer *l, clnet_layer_io *io) {
  if (!io->dx[0]) return CLNET_SUCCESS;
  const clnet_pool_desc d = desc_at(l, io->n);
  return clnet_maxpool_backward(io->ctx, &d, io->aux[0], io->dy, io->dx[0]);
}

static void maxpool_label(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, const char *pass,
                          char *dst, size_t cap) {
  (void)out;
  snprintf(dst, cap, "maxpool %dx%d/%d %s %dx%dx%d", cfg(l)->k, cfg(l)->k, cfg(l)->stride, pass, in[0].h, in[0].w,
           in[0].c);
}

CLNET_LAYER_KIND(maxpool, "maxpool", "window maximum", maxpool_attrs, 1, 1, 0, maxpool_infer, clnet_layer_no_params,
                 maxpool_aux, clnet_layer_no_scratch, maxpool_forward, maxpool_backward, clnet_layer_no_macs,
                 maxpool_label);
