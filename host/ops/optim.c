/* AdamW and SGD with momentum over an arena of parameters: cl/optim.cl and ops/ref/optim_ref.c.
 * The step constants are computed here, in double, rounded once to float, for both backends. */
#include <math.h>

#include "ops/common.h"

static clnet_status check_count(const char *op, int64_t count, int64_t decay_count) {
  CLNET_TRY(clnet_require_int_range(op, count));
  if (decay_count < 0 || decay_count > count)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: decay_count %lld must lie in [0, count = %lld]", op,
                           (long long)decay_count, (long long)count);
  return CLNET_SUCCESS;
}

clnet_status clnet_adamw_update(clnet_ctx *ctx, const clnet_adamw_desc *d, int64_t count, int64_t decay_count,
                                clnet_buf *param, const clnet_buf *grad, clnet_buf *m, clnet_buf *v) {
  const char *op = "adamw_update";
  if (!d) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: desc is NULL", op);
  if (d->t < 1 || d->t > ((int64_t)1 << 53))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: step t=%lld, must be in 1..2^53", op, (long long)d->t);
  if (!(d->beta1 >= 0 && d->beta1 < 1) || !(d->beta2 >= 0 && d->beta2 < 1))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: beta1=%g beta2=%g, each must be in [0, 1)", op,
                           (double)d->beta1, (double)d->beta2);
  if (!isfinite(d->lr) || !(d->eps >= 0) || !isfinite(d->eps) || !(d->weight_decay >= 0) || !isfinite(d->weight_decay))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: lr=%g eps=%g weight_decay=%g must be finite, eps and "
                           "weight_decay >= 0", op, (double)d->lr, (double)d->eps, (double)d->weight_decay);
  CLNET_TRY(check_count(op, count, decay_count));
  CLNET_TRY(clnet_require_buf(op, "param", param, count, 4));
  CLNET_TRY(clnet_require_buf(op, "grad", grad, count, 4));
  CLNET_TRY(clnet_require_buf(op, "m", m, count, 4));
  CLNET_TRY(clnet_require_buf(op, "v", v, count, 4));
  if (count == 0) return CLNET_SUCCESS;
  const double t = (double)d->t;
  const clnet_optim_consts k = {.step_size = (float)((double)d->lr / (1.0 - pow((double)d->beta1, t))),
                                .inv_sqrt_bc2 = (float)(1.0 / sqrt(1.0 - pow((double)d->beta2, t))),
                                .one_m_beta1 = (float)(1.0 - (double)d->beta1), .beta2 = d->beta2,
                                .one_m_beta2 = (float)(1.0 - (double)d->beta2), .eps = d->eps,
                                .lr_wd = (float)((double)d->lr * (double)d->weight_decay)};
  if (ctx->is_ref) {
    clnet_ref_adamw_update(&k, count, decay_count, F32(param), CF32(grad), F32(m), F32(v));
    return CLNET_SUCCESS;
  }
  size_t global = (size_t)count, local = CLNET_WG_1D;
  return CLNET_LAUNCH(ctx, "optim", "adamw_update", 1, &global, &local, CLNET_ARG_I32(count), CLNET_ARG_I32(decay_count),
                      CLNET_ARG_F32(k.step_size), CLNET_ARG_F32(k.inv_sqrt_bc2), CLNET_ARG_F32(k.one_m_beta1),
                      CLNET_ARG_F32(k.beta2), CLNET_ARG_F32(k.one_m_beta2), CLNET_ARG_F32(k.eps), CLNET_ARG_F32(k.lr_wd),
                      CLNET_ARG_BUF(param), CLNET_ARG_BUF(grad), CLNET_ARG_BUF(m), CLNET_ARG_BUF(v));
}

clnet_status clnet_sgd_update(clnet_ctx *ctx, const clnet_sgd_desc *d, int64_t count, int64_t decay_count,
                              clnet_buf *param, const clnet_buf *grad, clnet_buf *buf) {
  const char *op = "sgd_update";
  if (!d) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: desc is NULL", op);
  if (!isfinite(d->lr) || !(d->momentum >= 0 && d->momentum < 1) || !(d->weight_decay >= 0) ||
      !isfinite(d->weight_decay) || !(d->l2 >= 0) || !isfinite(d->l2) || (d->nesterov != 0 && d->nesterov != 1))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "%s: lr=%g must be finite, momentum=%g in [0, 1), weight_decay=%g and l2=%g finite >= 0, "
                           "nesterov=%d 0 or 1", op, (double)d->lr, (double)d->momentum, (double)d->weight_decay,
                           (double)d->l2, (int)d->nesterov);
  CLNET_TRY(check_count(op, count, decay_count));
  CLNET_TRY(clnet_require_buf(op, "param", param, count, 4));
  CLNET_TRY(clnet_require_buf(op, "grad", grad, count, 4));
  CLNET_TRY(clnet_require_buf(op, "buf", buf, count, 4));
  if (count == 0) return CLNET_SUCCESS;
  const clnet_optim_consts k = {.lr = d->lr, .momentum = d->momentum, .l2 = d->l2,
                                .lr_wd = (float)((double)d->lr * (double)d->weight_decay), .nesterov = d->nesterov};
  if (ctx->is_ref) {
    clnet_ref_sgd_update(&k, count, decay_count, F32(param), CF32(grad), F32(buf));
    return CLNET_SUCCESS;
  }
  size_t global = (size_t)count, local = CLNET_WG_1D;
  return CLNET_LAUNCH(ctx, "optim", "sgd_update", 1, &global, &local, CLNET_ARG_I32(count), CLNET_ARG_I32(decay_count),
                      CLNET_ARG_F32(k.lr), CLNET_ARG_F32(k.momentum), CLNET_ARG_F32(k.l2), CLNET_ARG_F32(k.lr_wd),
                      CLNET_ARG_I32(k.nesterov), CLNET_ARG_BUF(param), CLNET_ARG_BUF(grad), CLNET_ARG_BUF(buf));
}

clnet_status clnet_ema_update(clnet_ctx *ctx, int64_t count, float decay, const clnet_buf *x, clnet_buf *avg) {
  const char *op = "ema_update";
  if (!(decay >= 0 && decay <= 1)) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: decay %g must lie in [0, 1]", op, (double)decay);
  CLNET_TRY(clnet_require_int_range(op, count));
  CLNET_TRY(clnet_require_buf(op, "x", x, count, 4));
  CLNET_TRY(clnet_require_buf(op, "avg", avg, count, 4));
  if (count == 0) return CLNET_SUCCESS;
  if (ctx->is_ref) {
    clnet_ref_ema_update(count, decay, CF32(x), F32(avg));
    return CLNET_SUCCESS;
  }
  const float one_m_decay = (float)(1.0 - (double)decay);
  size_t global = (size_t)count, local = CLNET_WG_1D;
  return CLNET_LAUNCH(ctx, "optim", "ema_update", 1, &global, &local, CLNET_ARG_I32(count), CLNET_ARG_F32(decay),
                      CLNET_ARG_F32(one_m_decay), CLNET_ARG_BUF(x), CLNET_ARG_BUF(avg));
}

clnet_status clnet_swap_buffers(clnet_ctx *ctx, int64_t count, clnet_buf *a, clnet_buf *b) {
  const char *op = "swap_buffers";
  CLNET_TRY(clnet_require_int_range(op, count));
  CLNET_TRY(clnet_require_buf(op, "a", a, count, 4));
  CLNET_TRY(clnet_require_buf(op, "b", b, count, 4));
  if (count == 0) return CLNET_SUCCESS;
  if (ctx->is_ref) {
    clnet_ref_swap_buffers(count, F32(a), F32(b));
    return CLNET_SUCCESS;
  }
  size_t global = (size_t)count, local = CLNET_WG_1D;
  return CLNET_LAUNCH(ctx, "optim", "swap_buffers", 1, &global, &local, CLNET_ARG_I32(count), CLNET_ARG_BUF(a),
                      CLNET_ARG_BUF(b));
}
