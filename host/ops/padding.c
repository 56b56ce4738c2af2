/* TensorFlow padding arithmetic (SPEC). */
#include "ops/common.h"

clnet_status clnet_padding_out(int32_t in, int32_t k, int32_t stride, clnet_padding padding, int32_t *out,
                               int32_t *pad_before) {
  *out = 0;
  *pad_before = 0;
  if (in < 1 || k < 1 || stride < 1)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "padding: input %d, kernel %d, stride %d must all be >= 1",
                           in, k, stride);
  if (padding == CLNET_PADDING_VALID) {
    if (in < k)
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                             "padding 'valid': input size %d is smaller than the kernel size %d", in, k);
    *out = (in - k) / stride + 1;
    return CLNET_SUCCESS;
  }
  if (padding != CLNET_PADDING_SAME)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "padding: unknown mode %d", (int)padding);
  int32_t o = (in + stride - 1) / stride;
  int32_t total = (o - 1) * stride + k - in;
  if (total < 0) total = 0;
  *out = o;
  *pad_before = total / 2;
  return CLNET_SUCCESS;
}
