/* batchnorm: batch normalisation over the N*H*W rows of each channel (Keras semantics, SPEC:
 * biased batch variance; moving = moving*momentum + batch*(1-momentum), as ONNX's). Keras' defaults
 * are the defaults here (eps=0.001 momentum=0.99); PyTorch's are eps=1e-5 momentum=0.9 (its
 * momentum 0.1 is this 1 - momentum; its moving variance takes the unbiased batch variance, rows/
 * (rows-1) times the biased one this takes). Without affine, gamma and beta are fixed at 1 and 0.
 * The op: host/ops/batchnorm.c. */
#include <stdio.h>
#include <string.h>

#include "graph/layer_kind.h"

enum { A_EPS, A_MOMENTUM, A_AFFINE };
static const clnet_attr_spec bn_attrs[] = {
    {"eps", CLNET_ATTR_FLOAT, 0, 0, "0.001", "added to the variance", NULL},
    {"momentum", CLNET_ATTR_FLOAT, 0, 0, "0.99", "weight of the old moving statistics (Keras' convention)", NULL},
    {"affine", CLNET_ATTR_INT, 0, 0, "1", "1: learn gamma and beta; 0: fixed at 1 and 0", NULL},
    CLNET_ATTR_END};

typedef struct bn_cfg {
  float eps, momentum;
  int32_t affine;
} bn_cfg;
static const bn_cfg *cfg(const clnet_layer *l) { return (const bn_cfg *)l->cfg; }

static clnet_status bn_infer(clnet_layer *l, const clnet_tshape *in, clnet_tshape *out) {
  const double eps = clnet_attr_float(l, A_EPS), mom = clnet_attr_float(l, A_MOMENTUM);
  if (!(eps > 0)) return clnet_layer_error(l, "eps = %g, must be > 0", eps);
  if (!(mom >= 0 && mom <= 1)) return clnet_layer_error(l, "momentum = %g, must lie in [0, 1]", mom);
  if (clnet_attr_int(l, A_AFFINE) != 0 && clnet_attr_int(l, A_AFFINE) != 1)
    return clnet_layer_error(l, "affine = %lld, must be 0 or 1", (long long)clnet_attr_int(l, A_AFFINE));
  bn_cfg c = {(float)eps, (float)mom, (int32_t)clnet_attr_int(l, A_AFFINE)};
  memcpy(l->cfg, &c, sizeof c);
  *out = in[0];
  return CLNET_SUCCESS;
}

static int32_t bn_params(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, clnet_param_decl *p) {
  (void)out;
  const clnet_param_kind learned = cfg(l)->affine ? CLNET_PARAM_TRAINABLE : CLNET_PARAM_FIXED;
  p[0] = (clnet_param_decl){.suffix = "gamma", .kind = learned, .ndim = 1, .shape = {in[0].c}, .init = CLNET_INIT_ONES};
  p[1] = (clnet_param_decl){.suffix = "beta", .kind = learned, .ndim = 1, .shape = {in[0].c}, .init = CLNET_INIT_ZEROS};
  p[2] = (clnet_param_decl){.suffix = "moving_mean", .kind = CLNET_PARAM_STATISTIC, .ndim = 1, .shape = {in[0].c},
                            .init = CLNET_INIT_ZEROS};
  p[3] = (clnet_param_decl){.suffix = "moving_variance", .kind = CLNET_PARAM_STATISTIC, .ndim = 1,
                            .shape = {in[0].c}, .init = CLNET_INIT_ONES};
  return 4;
}

static int32_t bn_aux(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, clnet_aux_decl *a) {
  (void)l, (void)out;
  a[0] = (clnet_aux_decl){"batchnorm saved mean", 0, 4 * (uint64_t)in[0].c};
  a[1] = (clnet_aux_decl){"batchnorm saved invstd", 0, 4 * (uint64_t)in[0].c};
  return 2;
}

/* The op's descriptor at batch n. */
clnet_batchnorm_desc clnet_layer_batchnorm_desc(const clnet_layer *l, const clnet_tshape *in, int32_t n) {
  return (clnet_batchnorm_desc){.rows = n * in->h * in->w, .c = in->c, .eps = cfg(l)->eps,
                                .momentum = cfg(l)->momentum};
}

static uint64_t bn_scratch(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, int32_t n) {
  (void)out;
  const clnet_batchnorm_desc d = clnet_layer_batchnorm_desc(l, &in[0], n);
  return clnet_batchnorm_scratch_bytes(&d);
}

static clnet_status bn_forward(const clnet_layer *l, clnet_layer_io *io) {
  const clnet_batchnorm_desc d = clnet_layer_batchnorm_desc(l, io->xs[0], io->n);
  if (io->training)
    return clnet_batchnorm_forward_train(io->ctx, &d, io->x[0], io->p[0], io->p[1], io->y, io->aux[0], io->aux[1],
                                         io->p[2], io->p[3]);
  return clnet_batchnorm_forward_infer(io->ctx, &d, io->x[0], io->p[0], io->p[1], io->p[2], io->p[3], io->y);
}

static clnet_status bn_backward(const clnet_layer *l, clnet_layer_io *io) {
  const clnet_batchnorm_desc d = clnet_layer_batchnorm_desc(l, io->xs[0], io->n);
  return clnet_batchnorm_backward(io->ctx, &d, io->x[0], io->dy, io->p[0], io->aux[0], io->aux[1], io->dx[0],
                                  io->dp[0], io->dp[1]);
}

static void bn_label(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, const char *pass,
                     char *dst, size_t cap) {
  (void)l, (void)in;
  snprintf(dst, cap, "batchnorm %s %dx%dx%d", pass, out->h, out->w, out->c);
}

CLNET_LAYER_KIND(batchnorm, "batchnorm", "batch normalisation per channel (training: batch statistics)", bn_attrs, 1,
                 1, CLNET_KIND_BWD_READS_INPUTS | CLNET_KIND_NEEDS_DX, bn_infer, bn_params, bn_aux, bn_scratch,
                 bn_forward, bn_backward, clnet_layer_no_macs, bn_label);
