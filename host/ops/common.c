#include <limits.h>

#include "ops/common.h"

clnet_status clnet_require_buf(const char *op, const char *name, const clnet_buf *buf, int64_t count,
                               size_t elem) {
  if (!buf || (!buf->mem && !buf->host))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: buffer '%s' is missing", op, name);
  if (count < 0 || (uint64_t)count * elem > buf->bytes)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: buffer '%s' holds %zu bytes, the shape needs %lld",
                           op, name, buf->bytes, (long long)count * (long long)elem);
  return CLNET_SUCCESS;
}

clnet_status clnet_require_int_range(const char *op, int64_t count) {
  if (count < 0 || count > INT_MAX)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: %lld elements, kernels index below 2^31", op,
                           (long long)count);
  return CLNET_SUCCESS;
}
