/* Internal: the float-vs-reference tolerances shared by the cross-checks (host/check/) and by
 * AUTO's check of each conv algorithm before it is trusted (host/ops/conv_algo.c). */
#ifndef CLNET_OPS_TOLERANCE_H
#define CLNET_OPS_TOLERANCE_H

#include "clnet/ops.h"

/* Absolute tolerance for a k-term dot product of values bounded by amax and bmax computed in
 * float, against a reference that sums in double: 4x the random-walk rounding bound
 * (sqrt(k) * k * amax * bmax * 2^-24) plus 1e-7; rtol = 0. See host/check/check_gemm.c. */
double clnet_dot_atol(int32_t k, double amax, double bmax);

/* Absolute tolerance of one conv2d pass's output when every input (x, w, b, dy) is in [-1, 1]:
 * clnet_dot_atol over the longest sum behind one output element,
 *   forward          y   K + 1 = KH*KW*C_in products plus the bias,
 *   backward data    dx  KH*KW*C_out,
 *   backward filter  dw  N*OH*OW (bias_grad = 0), or db: N*OH*OW terms |dy| <= 1 with bmax = 2
 *                    (bias_grad = 1; E|dy| = 1/2 is twice E|a*b|, see check_conv2d.c). */
double clnet_conv2d_atol(const clnet_conv2d_desc *d, clnet_conv_pass pass, int bias_grad);

#endif
