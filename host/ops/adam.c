/* Adam parameter update (Keras semantics, SPEC): cl/adam.cl and ops/ref/adam_ref.c. */
#include <math.h>

#include "ops/common.h"

clnet_status clnet_adam_update(clnet_ctx *ctx, const clnet_adam_desc *d, int64_t count, clnet_buf *param,
                               const clnet_buf *grad, clnet_buf *m, clnet_buf *v) {
  const char *op = "adam_update";
  if (!d) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: desc is NULL", op);
  if (d->t < 1)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: step t=%lld, must be >= 1 (the step after this update)",
                           op, (long long)d->t);
  if (!(d->beta1 >= 0 && d->beta1 < 1) || !(d->beta2 >= 0 && d->beta2 < 1))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: beta1=%g beta2=%g, each must be in [0, 1)", op,
                           (double)d->beta1, (double)d->beta2);
  if (!isfinite(d->lr) || !(d->eps >= 0) || !isfinite(d->eps))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: lr=%g eps=%g, lr must be finite and eps finite >= 0",
                           op, (double)d->lr, (double)d->eps);
  CLNET_TRY(clnet_require_int_range(op, count));
  CLNET_TRY(clnet_require_buf(op, "param", param, count, 4)); /* (count) */
  CLNET_TRY(clnet_require_buf(op, "grad", grad, count, 4));   /* (count) */
  CLNET_TRY(clnet_require_buf(op, "m", m, count, 4));         /* (count) */
  CLNET_TRY(clnet_require_buf(op, "v", v, count, 4));         /* (count) */
  if (count == 0) return CLNET_SUCCESS;
  if (ctx->is_ref) {
    clnet_ref_adam_update(d, count, F32(param), CF32(grad), F32(m), F32(v));
    return CLNET_SUCCESS;
  }
  /* Step constants in double, rounded once to float (as the reference does). */
  const double t = (double)d->t;
  const float alpha_t =
      (float)((double)d->lr * sqrt(1.0 - pow((double)d->beta2, t)) / (1.0 - pow((double)d->beta1, t)));
  const float one_m_beta1 = (float)(1.0 - (double)d->beta1), one_m_beta2 = (float)(1.0 - (double)d->beta2);
  size_t global = (size_t)count, local = CLNET_WG_1D;
  return CLNET_LAUNCH(ctx, "adam", "adam_update", 1, &global, &local, CLNET_ARG_I32(count),
                      CLNET_ARG_F32(alpha_t), CLNET_ARG_F32(one_m_beta1), CLNET_ARG_F32(one_m_beta2),
                      CLNET_ARG_F32(d->eps), CLNET_ARG_BUF(param), CLNET_ARG_BUF(grad), CLNET_ARG_BUF(m),
                      CLNET_ARG_BUF(v));
}
