/* Internal helpers shared by the op files. */
#ifndef CLNET_OPS_COMMON_H
#define CLNET_OPS_COMMON_H

#include "clnet/ops.h"
#include "ops/ref/ref.h"
#include "runtime/ctx.h"

/* Host pointer of a reference-backend buffer. */
#define F32(bufptr) ((float *)(bufptr)->host)
#define CF32(bufptr) ((const float *)(bufptr)->host)
#define I32(bufptr) ((int32_t *)(bufptr)->host)
#define CI32(bufptr) ((const int32_t *)(bufptr)->host)

/* Fails with INVALID_ARGUMENT unless `buf` holds at least `count` elements of `elem` bytes. */
clnet_status clnet_require_buf(const char *op, const char *name, const clnet_buf *buf, int64_t count,
                               size_t elem);

/* Work-group size used by simple 1-D kernels; a multiple of every common SIMD width. */
#define CLNET_WG_1D 64

/* Kernels index with int: element counts must stay below 2^31. */
clnet_status clnet_require_int_range(const char *op, int64_t count);

#endif
