/* Batch normalisation (Keras training/inference semantics, SPEC), plain and
 * fused with the ReLU (and residual add) that follows it in a BasicBlock:
 * cl/batchnorm.cl and ops/ref/batchnorm_ref.c. Tensors are (rows, C) with
 * rows = N*H*W of an NHWC activation. */
#include <math.h>

#include "ops/common.h"

/* Fixed row partition of the two-stage reductions: blocks of at least
 * BN_MIN_ROWS rows, at most BN_MAX_BLOCKS of them. Depends only on `rows`,
 * so results are reproducible run after run. */
#define BN_MIN_ROWS 16
#define BN_MAX_BLOCKS 256

typedef struct bn_partition {
  int32_t rpb;     /* rows per block */
  int32_t nblocks; /* ceil(rows / rpb) */
} bn_partition;

static bn_partition bn_partition_of(int32_t rows) {
  int32_t rpb = (int32_t)((rows + BN_MAX_BLOCKS - 1) / BN_MAX_BLOCKS);
  if (rpb < BN_MIN_ROWS) rpb = BN_MIN_ROWS;
  bn_partition p = {rpb, (rows + rpb - 1) / rpb};
  return p;
}

uint64_t clnet_batchnorm_scratch_bytes(const clnet_batchnorm_desc *d) {
  if (!d || d->rows < 1 || d->c < 1) return 0;
  return (uint64_t)(2 * (int64_t)bn_partition_of(d->rows).nblocks + 3) * (uint64_t)d->c * 4;
}

static clnet_status bn_check_desc(const char *op, const clnet_batchnorm_desc *d) {
  if (!d) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: desc is NULL", op);
  if (d->rows < 1 || d->c < 1)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: rows %d and channels %d must both be >= 1", op,
                           d->rows, d->c);
  CLNET_TRY(clnet_require_int_range(op, (int64_t)d->rows * d->c));
  if (!(d->eps > 0.0f) || isinf(d->eps))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: eps %g must be finite and > 0", op, (double)d->eps);
  if (!(d->momentum >= 0.0f && d->momentum <= 1.0f))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: momentum %g must lie in [0, 1]", op,
                           (double)d->momentum);
  return CLNET_SUCCESS;
}

/* Work-items along C (contiguous). A group is lc channels wide: 64 (CLNET_WG_1D) from 64 channels
 * up, else min(BN_LC, C rounded up to a power of two). On a CPU device the partial reductions take
 * one block per group (lc x 1; their loops carry barriers there, so every work-item of a group
 * must run the same trip count), on others (no barriers) lc x WG_1D/lc blocks, so that a group
 * fills a 32- or 64-wide wave; the final reductions (lc x 1) one channel each; elementwise kernels
 * fill the group with rows (lc x WG_1D/lc). Two widths, not one per channel count: a CPU
 * implementation that specialises kernels per local size (PoCL) compiles each kernel once per
 * width, which on a cold start of ResNet-18 (16/32/64/128 channels) was 16 extra compilations with
 * one width per power of two; 16 channels wide everywhere compiled once but ran the width-64
 * step 6 % slower (docs/PERFORMANCE.md, "Cold start"). The local size does not change any result. */
#define BN_LC 16

typedef struct bn_geometry {
  size_t part[2], red[2], elem[2];
} bn_geometry;

static bn_geometry bn_geometry_of(const clnet_ctx *ctx, int64_t C) {
  size_t lc = 1;
  while (lc < (size_t)C && lc < BN_LC) lc *= 2;
  if ((size_t)C >= CLNET_WG_1D) lc = CLNET_WG_1D;
  const size_t part_rows = (ctx->info.type & CL_DEVICE_TYPE_CPU) ? 1 : CLNET_WG_1D / lc;
  bn_geometry g = {{lc, part_rows}, {lc, 1}, {lc, CLNET_WG_1D / lc}};
  return g;
}

/* act: BN_PLAIN y = bn(x); BN_RELU y = relu(bn(x)); BN_ADD_RELU y = relu(bn(x) + res). */
enum { BN_PLAIN, BN_RELU, BN_ADD_RELU };

static clnet_status bn_forward_train(clnet_ctx *ctx, const char *op, int act, const clnet_batchnorm_desc *d,
                                     const clnet_buf *x, const clnet_buf *gamma, const clnet_buf *beta,
                                     const clnet_buf *res, clnet_buf *y, clnet_buf *save_mean,
                                     clnet_buf *save_invstd, clnet_buf *moving_mean, clnet_buf *moving_var) {
  CLNET_TRY(bn_check_desc(op, d));
  const int64_t count = (int64_t)d->rows * d->c, C = d->c;
  CLNET_TRY(clnet_require_buf(op, "x", x, count, 4));
  if (act == BN_ADD_RELU) CLNET_TRY(clnet_require_buf(op, "res", res, count, 4));
  CLNET_TRY(clnet_require_buf(op, "gamma", gamma, C, 4));
  CLNET_TRY(clnet_require_buf(op, "beta", beta, C, 4));
  CLNET_TRY(clnet_require_buf(op, "y", y, count, 4));
  CLNET_TRY(clnet_require_buf(op, "save_mean", save_mean, C, 4));
  CLNET_TRY(clnet_require_buf(op, "save_invstd", save_invstd, C, 4));
  CLNET_TRY(clnet_require_buf(op, "moving_mean", moving_mean, C, 4));
  CLNET_TRY(clnet_require_buf(op, "moving_var", moving_var, C, 4));
  if (ctx->is_ref) {
    if (act == BN_PLAIN)
      clnet_ref_batchnorm_forward_train(d, CF32(x), CF32(gamma), CF32(beta), F32(y), F32(save_mean),
                                        F32(save_invstd), F32(moving_mean), F32(moving_var));
    else
      clnet_ref_batchnorm_act_forward_train(d, CF32(x), CF32(gamma), CF32(beta), act == BN_ADD_RELU ? CF32(res) : NULL,
                                            F32(y), F32(save_mean), F32(save_invstd), F32(moving_mean),
                                            F32(moving_var));
    return CLNET_SUCCESS;
  }
  const bn_partition p = bn_partition_of(d->rows);
  clnet_buf scratch; /* parts (2, nblocks, C), coef (3, C) */
  CLNET_TRY(clnet_scratch_get(ctx, (size_t)(2 * (int64_t)p.nblocks + 3) * (size_t)C * 4, &scratch));
  const size_t g_part[2] = {(size_t)C, (size_t)p.nblocks}, g_chan[2] = {(size_t)C, 1},
               g_elem[2] = {(size_t)C, (size_t)d->rows};
  const bn_geometry geo = bn_geometry_of(ctx, C);
  CLNET_TRY(CLNET_LAUNCH(ctx, "batchnorm", "bn_stats_partial", 2, g_part, geo.part, CLNET_ARG_I32(d->rows),
                         CLNET_ARG_I32(C), CLNET_ARG_I32(p.rpb), CLNET_ARG_I32(p.nblocks), CLNET_ARG_BUF(x),
                         CLNET_ARG_BUF(&scratch)));
  CLNET_TRY(CLNET_LAUNCH(ctx, "batchnorm", "bn_stats_final", 2, g_chan, geo.red, CLNET_ARG_I32(d->rows),
                         CLNET_ARG_I32(C), CLNET_ARG_I32(p.rpb), CLNET_ARG_I32(p.nblocks), CLNET_ARG_F32(d->eps),
                         CLNET_ARG_F32(d->momentum), CLNET_ARG_BUF(x), CLNET_ARG_BUF(&scratch),
                         CLNET_ARG_BUF(gamma), CLNET_ARG_BUF(save_mean), CLNET_ARG_BUF(save_invstd),
                         CLNET_ARG_BUF(moving_mean), CLNET_ARG_BUF(moving_var)));
  if (act == BN_ADD_RELU)
    return CLNET_LAUNCH(ctx, "batchnorm", "bn_normalize_add_relu", 2, g_elem, geo.elem, CLNET_ARG_I32(d->rows),
                        CLNET_ARG_I32(C), CLNET_ARG_I32(p.nblocks), CLNET_ARG_BUF(x), CLNET_ARG_BUF(&scratch),
                        CLNET_ARG_BUF(beta), CLNET_ARG_BUF(res), CLNET_ARG_BUF(y));
  return CLNET_LAUNCH(ctx, "batchnorm", act == BN_RELU ? "bn_normalize_relu" : "bn_normalize", 2, g_elem, geo.elem,
                      CLNET_ARG_I32(d->rows), CLNET_ARG_I32(C), CLNET_ARG_I32(p.nblocks), CLNET_ARG_BUF(x),
                      CLNET_ARG_BUF(&scratch), CLNET_ARG_BUF(beta), CLNET_ARG_BUF(y));
}

clnet_status clnet_batchnorm_forward_train(clnet_ctx *ctx, const clnet_batchnorm_desc *d, const clnet_buf *x,
                                           const clnet_buf *gamma, const clnet_buf *beta, clnet_buf *y,
                                           clnet_buf *save_mean, clnet_buf *save_invstd, clnet_buf *moving_mean,
                                           clnet_buf *moving_var) {
  return bn_forward_train(ctx, "batchnorm_forward_train", BN_PLAIN, d, x, gamma, beta, NULL, y, save_mean,
                          save_invstd, moving_mean, moving_var);
}

clnet_status clnet_batchnorm_act_forward_train(clnet_ctx *ctx, const clnet_batchnorm_desc *d, const clnet_buf *x,
                                               const clnet_buf *gamma, const clnet_buf *beta, const clnet_buf *res,
                                               clnet_buf *y, clnet_buf *save_mean, clnet_buf *save_invstd,
                                               clnet_buf *moving_mean, clnet_buf *moving_var) {
  return bn_forward_train(ctx, "batchnorm_act_forward_train", res ? BN_ADD_RELU : BN_RELU, d, x, gamma, beta, res,
                          y, save_mean, save_invstd, moving_mean, moving_var);
}

static clnet_status bn_forward_infer(clnet_ctx *ctx, const char *op, int act, const clnet_batchnorm_desc *d,
                                     const clnet_buf *x, const clnet_buf *gamma, const clnet_buf *beta,
                                     const clnet_buf *res, const clnet_buf *moving_mean,
                                     const clnet_buf *moving_var, clnet_buf *y) {
  CLNET_TRY(bn_check_desc(op, d));
  const int64_t count = (int64_t)d->rows * d->c, C = d->c;
  CLNET_TRY(clnet_require_buf(op, "x", x, count, 4));
  if (act == BN_ADD_RELU) CLNET_TRY(clnet_require_buf(op, "res", res, count, 4));
  CLNET_TRY(clnet_require_buf(op, "gamma", gamma, C, 4));
  CLNET_TRY(clnet_require_buf(op, "beta", beta, C, 4));
  CLNET_TRY(clnet_require_buf(op, "moving_mean", moving_mean, C, 4));
  CLNET_TRY(clnet_require_buf(op, "moving_var", moving_var, C, 4));
  CLNET_TRY(clnet_require_buf(op, "y", y, count, 4));
  if (ctx->is_ref) {
    if (act == BN_PLAIN)
      clnet_ref_batchnorm_forward_infer(d, CF32(x), CF32(gamma), CF32(beta), CF32(moving_mean), CF32(moving_var),
                                        F32(y));
    else
      clnet_ref_batchnorm_act_forward_infer(d, CF32(x), CF32(gamma), CF32(beta), act == BN_ADD_RELU ? CF32(res) : NULL,
                                            CF32(moving_mean), CF32(moving_var), F32(y));
    return CLNET_SUCCESS;
  }
  const size_t g_elem[2] = {(size_t)C, (size_t)d->rows};
  const bn_geometry geo = bn_geometry_of(ctx, C);
  if (act == BN_ADD_RELU)
    return CLNET_LAUNCH(ctx, "batchnorm", "bn_infer_add_relu", 2, g_elem, geo.elem, CLNET_ARG_I32(d->rows),
                        CLNET_ARG_I32(C), CLNET_ARG_F32(d->eps), CLNET_ARG_BUF(x), CLNET_ARG_BUF(gamma),
                        CLNET_ARG_BUF(beta), CLNET_ARG_BUF(moving_mean), CLNET_ARG_BUF(moving_var),
                        CLNET_ARG_BUF(res), CLNET_ARG_BUF(y));
  return CLNET_LAUNCH(ctx, "batchnorm", act == BN_RELU ? "bn_infer_relu" : "bn_infer", 2, g_elem, geo.elem,
                      CLNET_ARG_I32(d->rows), CLNET_ARG_I32(C), CLNET_ARG_F32(d->eps), CLNET_ARG_BUF(x),
                      CLNET_ARG_BUF(gamma), CLNET_ARG_BUF(beta), CLNET_ARG_BUF(moving_mean),
                      CLNET_ARG_BUF(moving_var), CLNET_ARG_BUF(y));
}

clnet_status clnet_batchnorm_forward_infer(clnet_ctx *ctx, const clnet_batchnorm_desc *d, const clnet_buf *x,
                                           const clnet_buf *gamma, const clnet_buf *beta,
                                           const clnet_buf *moving_mean, const clnet_buf *moving_var,
                                           clnet_buf *y) {
  return bn_forward_infer(ctx, "batchnorm_forward_infer", BN_PLAIN, d, x, gamma, beta, NULL, moving_mean, moving_var,
                          y);
}

clnet_status clnet_batchnorm_act_forward_infer(clnet_ctx *ctx, const clnet_batchnorm_desc *d, const clnet_buf *x,
                                               const clnet_buf *gamma, const clnet_buf *beta, const clnet_buf *res,
                                               const clnet_buf *moving_mean, const clnet_buf *moving_var,
                                               clnet_buf *y) {
  return bn_forward_infer(ctx, "batchnorm_act_forward_infer", res ? BN_ADD_RELU : BN_RELU, d, x, gamma, beta, res,
                          moving_mean, moving_var, y);
}

/* act != BN_PLAIN: dy is the gradient of y = relu(z); dz = y > 0 ? dy : 0 goes
 * to the BN backward and, with BN_ADD_RELU, into dres. */
static clnet_status bn_backward(clnet_ctx *ctx, const char *op, int act, const clnet_batchnorm_desc *d,
                                const clnet_buf *x, const clnet_buf *y, const clnet_buf *dy, const clnet_buf *gamma,
                                const clnet_buf *save_mean, const clnet_buf *save_invstd, clnet_buf *dx,
                                clnet_buf *dres, clnet_buf *dgamma, clnet_buf *dbeta) {
  CLNET_TRY(bn_check_desc(op, d));
  const int64_t count = (int64_t)d->rows * d->c, C = d->c;
  CLNET_TRY(clnet_require_buf(op, "x", x, count, 4));
  if (act != BN_PLAIN) CLNET_TRY(clnet_require_buf(op, "y", y, count, 4));
  CLNET_TRY(clnet_require_buf(op, "dy", dy, count, 4));
  CLNET_TRY(clnet_require_buf(op, "gamma", gamma, C, 4));
  CLNET_TRY(clnet_require_buf(op, "save_mean", save_mean, C, 4));
  CLNET_TRY(clnet_require_buf(op, "save_invstd", save_invstd, C, 4));
  CLNET_TRY(clnet_require_buf(op, "dx", dx, count, 4));
  if (act == BN_ADD_RELU) CLNET_TRY(clnet_require_buf(op, "dres", dres, count, 4));
  CLNET_TRY(clnet_require_buf(op, "dgamma", dgamma, C, 4));
  CLNET_TRY(clnet_require_buf(op, "dbeta", dbeta, C, 4));
  if (ctx->is_ref) {
    if (act == BN_PLAIN)
      clnet_ref_batchnorm_backward(d, CF32(x), CF32(dy), CF32(gamma), CF32(save_mean), CF32(save_invstd), F32(dx),
                                   F32(dgamma), F32(dbeta));
    else
      clnet_ref_batchnorm_act_backward(d, CF32(x), CF32(y), CF32(dy), CF32(gamma), CF32(save_mean),
                                       CF32(save_invstd), F32(dx), act == BN_ADD_RELU ? F32(dres) : NULL,
                                       F32(dgamma), F32(dbeta));
    return CLNET_SUCCESS;
  }
  const bn_partition p = bn_partition_of(d->rows);
  clnet_buf scratch; /* parts (2, nblocks, C), coef (3, C) */
  CLNET_TRY(clnet_scratch_get(ctx, (size_t)(2 * (int64_t)p.nblocks + 3) * (size_t)C * 4, &scratch));
  const size_t g_part[2] = {(size_t)C, (size_t)p.nblocks}, g_chan[2] = {(size_t)C, 1},
               g_elem[2] = {(size_t)C, (size_t)d->rows};
  const bn_geometry geo = bn_geometry_of(ctx, C);
  if (act == BN_PLAIN)
    CLNET_TRY(CLNET_LAUNCH(ctx, "batchnorm", "bn_backward_partial", 2, g_part, geo.part, CLNET_ARG_I32(d->rows),
                           CLNET_ARG_I32(C), CLNET_ARG_I32(p.rpb), CLNET_ARG_I32(p.nblocks), CLNET_ARG_BUF(x),
                           CLNET_ARG_BUF(dy), CLNET_ARG_BUF(save_mean), CLNET_ARG_BUF(&scratch)));
  else
    CLNET_TRY(CLNET_LAUNCH(ctx, "batchnorm", "bn_backward_partial_relu", 2, g_part, geo.part, CLNET_ARG_I32(d->rows),
                           CLNET_ARG_I32(C), CLNET_ARG_I32(p.rpb), CLNET_ARG_I32(p.nblocks), CLNET_ARG_BUF(x),
                           CLNET_ARG_BUF(y), CLNET_ARG_BUF(dy), CLNET_ARG_BUF(save_mean), CLNET_ARG_BUF(&scratch)));
  CLNET_TRY(CLNET_LAUNCH(ctx, "batchnorm", "bn_backward_final", 2, g_chan, geo.red, CLNET_ARG_I32(d->rows),
                         CLNET_ARG_I32(C), CLNET_ARG_I32(p.nblocks), CLNET_ARG_BUF(&scratch), CLNET_ARG_BUF(gamma),
                         CLNET_ARG_BUF(save_invstd), CLNET_ARG_BUF(dgamma), CLNET_ARG_BUF(dbeta)));
  if (act == BN_PLAIN)
    return CLNET_LAUNCH(ctx, "batchnorm", "bn_backward_dx", 2, g_elem, geo.elem, CLNET_ARG_I32(d->rows),
                        CLNET_ARG_I32(C), CLNET_ARG_I32(p.nblocks), CLNET_ARG_BUF(x), CLNET_ARG_BUF(dy),
                        CLNET_ARG_BUF(save_mean), CLNET_ARG_BUF(save_invstd), CLNET_ARG_BUF(&scratch),
                        CLNET_ARG_BUF(dx));
  if (act == BN_RELU)
    return CLNET_LAUNCH(ctx, "batchnorm", "bn_backward_dx_relu", 2, g_elem, geo.elem, CLNET_ARG_I32(d->rows),
                        CLNET_ARG_I32(C), CLNET_ARG_I32(p.nblocks), CLNET_ARG_BUF(x), CLNET_ARG_BUF(y),
                        CLNET_ARG_BUF(dy), CLNET_ARG_BUF(save_mean), CLNET_ARG_BUF(save_invstd),
                        CLNET_ARG_BUF(&scratch), CLNET_ARG_BUF(dx));
  return CLNET_LAUNCH(ctx, "batchnorm", "bn_backward_dx_add_relu", 2, g_elem, geo.elem, CLNET_ARG_I32(d->rows),
                      CLNET_ARG_I32(C), CLNET_ARG_I32(p.nblocks), CLNET_ARG_BUF(x), CLNET_ARG_BUF(y),
                      CLNET_ARG_BUF(dy), CLNET_ARG_BUF(save_mean), CLNET_ARG_BUF(save_invstd),
                      CLNET_ARG_BUF(&scratch), CLNET_ARG_BUF(dx), CLNET_ARG_BUF(dres));
}

clnet_status clnet_batchnorm_backward(clnet_ctx *ctx, const clnet_batchnorm_desc *d, const clnet_buf *x,
                                      const clnet_buf *dy, const clnet_buf *gamma, const clnet_buf *save_mean,
                                      const clnet_buf *save_invstd, clnet_buf *dx, clnet_buf *dgamma,
                                      clnet_buf *dbeta) {
  return bn_backward(ctx, "batchnorm_backward", BN_PLAIN, d, x, NULL, dy, gamma, save_mean, save_invstd, dx, NULL,
                     dgamma, dbeta);
}

clnet_status clnet_batchnorm_act_backward(clnet_ctx *ctx, const clnet_batchnorm_desc *d, const clnet_buf *x,
                                          const clnet_buf *y, const clnet_buf *dy, const clnet_buf *gamma,
                                          const clnet_buf *save_mean, const clnet_buf *save_invstd, clnet_buf *dx,
                                          clnet_buf *dres, clnet_buf *dgamma, clnet_buf *dbeta) {
  return bn_backward(ctx, "batchnorm_act_backward", dres ? BN_ADD_RELU : BN_RELU, d, x, y, dy, gamma, save_mean,
                     save_invstd, dx, dres, dgamma, dbeta);
}
