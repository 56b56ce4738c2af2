/* The plain-C reference: one obviously correct twin for every OpenCL kernel.
 *
 * Each host/ops/ref/ file is written once against `real` and REF(name) and
 * compiled twice by CMake: as float (clnet_ref_*, the `--device ref` backend and
 * the cross-check oracle) and as double (clnet_ref64_*, used by the
 * finite-difference gradient checks). Written for trust, not speed: loops
 * follow the math, sums accumulate in double. Shapes are as in clnet/ops.h. */
#ifndef CLNET_OPS_REF_H
#define CLNET_OPS_REF_H

#include <stdint.h>

#include "clnet/ops.h"

/* The step constants of an optimizer update, as the kernels get them (host/ops/optim.c). */
typedef struct clnet_optim_consts {
  float step_size, inv_sqrt_bc2, one_m_beta1, beta2, one_m_beta2, eps, lr_wd; /* AdamW */
  float lr, momentum, l2;                                                     /* SGD (and lr_wd) */
  int32_t nesterov;
} clnet_optim_consts;

/* A dropout mask as the kernels get it (host/ops/activation.c derives it from clnet_dropout_desc):
 * element i is kept when clnet_dropout_hash(i, key0, key1) >= threshold, and then scaled. */
typedef struct clnet_dropout_consts {
  uint32_t key0, key1, threshold;
  float scale;
} clnet_dropout_consts;

/* The counter-based hash of cl/activation.cl, bit for bit: two rounds of a 32-bit integer mix
 * ("lowbias32", C. Wellons), each a bijection, keyed by the 64-bit key. */
static inline uint32_t clnet_dropout_mix(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}
static inline uint32_t clnet_dropout_hash(uint32_t i, uint32_t key0, uint32_t key1) {
  return clnet_dropout_mix(clnet_dropout_mix(i + key0) ^ key1);
}

#define CLNET_REF_DECLARE(real, REF) \
  /* eltwise */ \
  void REF(relu_forward)(int64_t count, const real *x, real *y); \
  void REF(relu_backward)(int64_t count, const real *y, const real *dy, real *dx); \
  void REF(add_forward)(int64_t count, const real *a, const real *b, real *y); \
  void REF(accumulate)(int64_t count, const real *x, real *y); \
  void REF(nonfinite_flag)(int64_t count, const real *x, int32_t *flag); \
  /* activation: v is x or y as clnet_activation_backward says; mul: b broadcast over hw if bcast */ \
  void REF(activation_forward)(const clnet_activation_desc *d, int64_t count, const real *x, real *y); \
  void REF(activation_backward)(const clnet_activation_desc *d, int64_t count, const real *v, const real *dy, \
                                real *dx); \
  void REF(mul_forward)(int32_t n, int32_t hw, int32_t c, int32_t bcast, const real *a, const real *b, real *y); \
  void REF(mul_backward)(int32_t n, int32_t hw, int32_t c, int32_t bcast, const real *a, const real *b, \
                         const real *dy, real *da, real *db); \
  void REF(dropout_apply)(const clnet_dropout_consts *k, int64_t count, const real *x, real *y); \
  /* gemm: row-major, see clnet_gemm */ \
  void REF(gemm)(int32_t trans_a, int32_t trans_b, int32_t m, int32_t n, int32_t k, real alpha, \
                 const real *a, int32_t lda, const real *b, int32_t ldb, real beta, real *c, int32_t ldc); \
  /* conv2d */ \
  void REF(conv2d_forward)(const clnet_conv2d_desc *d, const real *x, const real *w, const real *b, real *y); \
  void REF(conv2d_backward_data)(const clnet_conv2d_desc *d, const real *dy, const real *w, real *dx); \
  void REF(conv2d_backward_filter)(const clnet_conv2d_desc *d, const real *x, const real *dy, real *dw, \
                                   real *db); \
  /* batchnorm */ \
  void REF(batchnorm_forward_train)(const clnet_batchnorm_desc *d, const real *x, const real *gamma, \
                                    const real *beta, real *y, real *save_mean, real *save_invstd, \
                                    real *moving_mean, real *moving_var); \
  void REF(batchnorm_forward_infer)(const clnet_batchnorm_desc *d, const real *x, const real *gamma, \
                                    const real *beta, const real *moving_mean, const real *moving_var, \
                                    real *y); \
  void REF(batchnorm_backward)(const clnet_batchnorm_desc *d, const real *x, const real *dy, \
                               const real *gamma, const real *save_mean, const real *save_invstd, \
                               real *dx, real *dgamma, real *dbeta); \
  /* fused BN + ReLU (res NULL) / BN + add + ReLU */ \
  void REF(batchnorm_act_forward_train)(const clnet_batchnorm_desc *d, const real *x, const real *gamma, \
                                        const real *beta, const real *res, real *y, real *save_mean, \
                                        real *save_invstd, real *moving_mean, real *moving_var); \
  void REF(batchnorm_act_forward_infer)(const clnet_batchnorm_desc *d, const real *x, const real *gamma, \
                                        const real *beta, const real *res, const real *moving_mean, \
                                        const real *moving_var, real *y); \
  void REF(batchnorm_act_backward)(const clnet_batchnorm_desc *d, const real *x, const real *y, const real *dy, \
                                   const real *gamma, const real *save_mean, const real *save_invstd, real *dx, \
                                   real *dres, real *dgamma, real *dbeta); \
  /* pooling */ \
  void REF(maxpool_forward)(const clnet_pool_desc *d, const real *x, real *y, uint8_t *argmax); \
  void REF(maxpool_backward)(const clnet_pool_desc *d, const uint8_t *argmax, const real *dy, real *dx); \
  void REF(global_avgpool_forward)(int32_t n, int32_t h, int32_t w, int32_t c, const real *x, real *y); \
  void REF(global_avgpool_backward)(int32_t n, int32_t h, int32_t w, int32_t c, const real *dy, real *dx); \
  void REF(avgpool_forward)(const clnet_pool_desc *d, const real *x, real *y); \
  void REF(avgpool_backward)(const clnet_pool_desc *d, const real *dy, real *dx); \
  void REF(global_maxpool_forward)(int32_t n, int32_t h, int32_t w, int32_t c, const real *x, real *y, \
                                   int32_t *argmax); \
  void REF(global_maxpool_backward)(int32_t n, int32_t h, int32_t w, int32_t c, const int32_t *argmax, \
                                    const real *dy, real *dx); \
  /* concat along channels: one input's slice */ \
  void REF(concat_forward)(int32_t rows, int32_t c, int32_t c_total, int32_t offset, const real *x, real *y); \
  void REF(concat_backward)(int32_t rows, int32_t c, int32_t c_total, int32_t offset, int32_t accumulate, \
                            const real *dy, real *dx); \
  /* dense */ \
  void REF(dense_forward)(int32_t n, int32_t in, int32_t out, const real *x, const real *w, const real *b, \
                          real *y); \
  void REF(dense_backward)(int32_t n, int32_t in, int32_t out, const real *x, const real *w, const real *dy, \
                           real *dx, real *dw, real *db); \
  /* loss: result[0] = mean loss, result[1] = correct count */ \
  void REF(softmax_xent)(int32_t n, int32_t k, float smoothing, const real *logits, const int32_t *labels, \
                         real *dlogits, real *result); \
  /* optimizers over an arena (cl/optim.cl; clnet_optim_consts below) */ \
  void REF(adamw_update)(const clnet_optim_consts *k, int64_t count, int64_t decay_count, real *param, \
                         const real *grad, real *m, real *v); \
  void REF(sgd_update)(const clnet_optim_consts *k, int64_t count, int64_t decay_count, real *param, \
                       const real *grad, real *buf); \
  void REF(ema_update)(int64_t count, float decay, const real *x, real *avg); \
  void REF(swap_buffers)(int64_t count, real *a, real *b); \
  /* adam */ \
  void REF(adam_update)(const clnet_adam_desc *d, int64_t count, real *param, const real *grad, real *m, \
                        real *v);

#define CLNET_REF_F32(name) clnet_ref_##name
#define CLNET_REF_F64(name) clnet_ref64_##name
CLNET_REF_DECLARE(float, CLNET_REF_F32)
CLNET_REF_DECLARE(double, CLNET_REF_F64)

/* For the implementation files: `real` and REF() of the variant being compiled. */
#ifdef CLNET_REF_DOUBLE
typedef double real;
#define REF(name) clnet_ref64_##name
#else
typedef float real;
#define REF(name) clnet_ref_##name
#endif

#endif
