/* dense: y (N, units) = x (N, H*W*C, flattened in NHWC order) . w^T (+ b with bias=1), w (units, H*W*C). The op and its GEMM
 * choice: host/ops/dense.c, host/tune/dense_algo.c. */
#include <stdio.h>

#include "graph/layer_kind.h"

enum { A_UNITS, A_BIAS };
static const clnet_attr_spec dense_attrs[] = {
    {"units", CLNET_ATTR_INT, 0, 0, NULL, "outputs per image", NULL},
    {"bias", CLNET_ATTR_INT, 0, 0, "1", "1: add a bias per output; 0: none", NULL},
    CLNET_ATTR_END};

static clnet_status dense_infer(clnet_layer *l, const clnet_tshape *in, clnet_tshape *out) {
  const int64_t units = clnet_attr_int(l, A_UNITS);
  if (units < 1) return clnet_layer_error(l, "units %lld must be >= 1", (long long)units);
  const int64_t bias = clnet_attr_int(l, A_BIAS);
  if (bias != 0 && bias != 1) return clnet_layer_error(l, "bias = %lld, must be 0 or 1", (long long)bias);
  if (clnet_tshape_size(&in[0]) > INT32_MAX) return clnet_layer_error(l, "input of %lld values per image is too large",
                                                                      (long long)clnet_tshape_size(&in[0]));
  *out = (clnet_tshape){1, 1, (int32_t)units};
  return CLNET_SUCCESS;
}

static int32_t dense_params(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out,
                            clnet_param_decl *p) {
  const int64_t fan_in = clnet_tshape_size(&in[0]);
  p[0] = (clnet_param_decl){.suffix = "kernel", .kind = CLNET_PARAM_TRAINABLE, .ndim = 2, .shape = {out->c, fan_in},
                            .init = CLNET_INIT_GLOROT_UNIFORM, .fan_in = fan_in, .fan_out = out->c};
  if (!clnet_attr_int(l, A_BIAS)) return 1;
  p[1] = (clnet_param_decl){.suffix = "bias", .kind = CLNET_PARAM_TRAINABLE, .ndim = 1, .shape = {out->c},
                            .init = CLNET_INIT_ZEROS};
  return 2;
}

static clnet_status dense_forward(const clnet_layer *l, clnet_layer_io *io) {
  return clnet_dense_forward(io->ctx, io->n, (int32_t)clnet_tshape_size(io->xs[0]), io->ys->c, io->x[0], io->p[0],
                             clnet_attr_int(l, A_BIAS) ? io->p[1] : NULL, io->y);
}

static clnet_status dense_backward(const clnet_layer *l, clnet_layer_io *io) {
  return clnet_dense_backward(io->ctx, io->n, (int32_t)clnet_tshape_size(io->xs[0]), io->ys->c, io->x[0], io->p[0],
                              io->dy, io->dx[0], io->dp[0], clnet_attr_int(l, A_BIAS) ? io->dp[1] : NULL);
}

static double dense_macs(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out) {
  (void)l;
  return (double)clnet_tshape_size(&in[0]) * out->c;
}

static void dense_label(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, const char *pass,
                        char *dst, size_t cap) {
  (void)l;
  snprintf(dst, cap, "dense %s %lld->%d", pass, (long long)clnet_tshape_size(&in[0]), out->c);
}

CLNET_LAYER_KIND(dense, "dense", "fully connected on the flattened input", dense_attrs, 1, 1,
                 CLNET_KIND_BWD_READS_INPUTS, dense_infer, dense_params, clnet_layer_no_aux, clnet_layer_no_scratch,
                 dense_forward, dense_backward, dense_macs, dense_label);
