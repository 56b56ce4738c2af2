/* Internal: the float-vs-reference tolerances shared by the cross-checks (host/check/) and by
 * AUTO's check of each conv algorithm before it is trusted (host/tune/conv_algo.c). */
#ifndef CLNET_OPS_TOLERANCE_H
#define CLNET_OPS_TOLERANCE_H

#include "clnet/ops.h"

/* Absolute tolerance for a k-term dot product of values bounded by amax and bmax computed in
 * float, against a reference that sums in double: 4x the random-walk rounding bound
 * (sqrt(k) * k * amax * bmax * 2^-24) plus 1e-7; rtol = 0. See host/check/check_gemm.c. */
double clnet_dot_atol(int32_t k, double amax, double bmax);

/* Absolute tolerance of one conv2d pass's output when every input (x, w, b, dy) is in [-1, 1]:
 * clnet_dot_atol over the longest sum behind one output element,
 *   forward          y   K + 1 = KH*KW*C_in/groups products plus the bias,
 *   backward data    dx  KH*KW*C_out/groups,
 *   backward filter  dw  N*OH*OW (bias_grad = 0), or db: N*OH*OW terms |dy| <= 1 with bmax = 2
 *                    (bias_grad = 1; E|dy| = 1/2 is twice E|a*b|, see check_conv2d.c). */
double clnet_conv2d_atol(const clnet_conv2d_desc *d, clnet_pass pass, int bias_grad);

/* The same for one algorithm. GEMM, DIRECT and DEPTHWISE: clnet_conv2d_atol (the sums have the same length
 * whichever way they are partitioned). WINOGRAD F(2x2, 3x3), forward and backward data, with R
 * the reduction channels (C_in forward, C_out backward data): an output is a +-1 combination of 9
 * transformed products M[f] = sum_c V[f, c] * U[f, c], i.e. a sum of k = 9R + 1 terms (bias
 * included) like the direct sum, but each term bounded by |V| * |U| <= ||B^T||inf^2 * ||G||inf^2 =
 * 4 * 2.25 = 9 instead of 1, and each carrying the transforms' rounding (<= 2u in V, 4u in U, 4u
 * in the output transform, u for the bias: 11u of the terms' absolute sum, taken as 12):
 *   atol = clnet_dot_atol(k, 4, 2.25) + 12 * k * 9 * 2^-24.
 * WINOGRAD's filter gradient dw = G^T Z G, Z[f] = sum over the P = N*ceil(OH/2)*ceil(OW/2) tiles
 * of V[f] * W[f] (|V| <= 4, |W| = |A dY A^T| <= ||A||inf^2 = 4) and G^T's rows summing to at most
 * 2 in absolute value: dw is a sum of k = 9P terms whose absolute sum is at most 4*4*(2*2)*P =
 * 64P (direct: N*OH*OW ~ 4P terms of at most 1), with the same 12u for the transforms:
 *   atol = (sqrt(k) + 12) * 64P * 2^-24 + 1e-7;
 * its bias gradient is the shared column sum (clnet_conv2d_atol).
 * WINOGRAD4 F(4x4, 3x3): the same worst-case reasoning gives terms up to 256x direct's (|V| <= 100,
 * and A^T's rows reach 8), a bound far above any real error that would pass kernels with wrong
 * coefficients. Its tolerance is statistical instead, for the checks' data (every input U(-1, 1),
 * independent): 10 standard deviations of a rounding-error model in which every addition and
 * transform level rounds independently by at most u of its value (tolerance.c, wino4_error_sigma),
 * plus the bias's rounding. Measured errors are 0-21 % of it; a 2 % error in one filter-transform
 * coefficient fails every forward and backward-data case. See docs/CHECKS.md. */
double clnet_conv2d_algo_atol(const clnet_conv2d_desc *d, clnet_pass pass, int bias_grad, clnet_conv_algo algo);

#endif
