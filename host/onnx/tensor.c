/* TensorProto <-> host arrays. Every size is checked against the data before anything is copied:
 * a file's dims are untrusted. raw_data is little-endian (ONNX's rule; so are the hosts clnet runs
 * on). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_internal.h"

void ox_const_free(ox_const *c) {
  if (!c) return;
  free(c->f);
  free(c->i);
  memset(c, 0, sizeof *c);
}

clnet_status ox_const_alloc(ox_const *c, ox_dtype type, int32_t rank, const int64_t *dims) {
  memset(c, 0, sizeof *c);
  if (rank < 0 || rank > OX_MAX_RANK)
    return clnet_set_error(CLNET_ERR_UNSUPPORTED, "a tensor of rank %d (at most %d)", rank, OX_MAX_RANK);
  int64_t n = 1;
  for (int32_t i = 0; i < rank; ++i) {
    if (dims[i] < 0) return clnet_set_error(CLNET_ERR_FORMAT, "dimension %d is %lld", i, (long long)dims[i]);
    c->dims[i] = dims[i];
    if (dims[i] && n > OX_MAX_ELEMENTS / dims[i])
      return clnet_set_error(CLNET_ERR_TOO_LARGE, "a tensor of more than %lld elements", (long long)OX_MAX_ELEMENTS);
    n *= dims[i];
  }
  c->type = type;
  c->rank = rank;
  c->count = n;
  const size_t bytes = (size_t)(n ? n : 1) * (type == OX_F32 ? sizeof(float) : sizeof(int64_t));
  void *p = calloc(1, bytes);
  if (!p) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "a tensor of %lld elements", (long long)n);
  if (type == OX_F32) c->f = p;
  else c->i = p;
  return CLNET_SUCCESS;
}

clnet_status ox_const_copy(const ox_const *src, ox_const *dst) {
  CLNET_TRY(ox_const_alloc(dst, src->type, src->rank, src->dims));
  if (src->type == OX_F32) memcpy(dst->f, src->f, (size_t)src->count * sizeof(float));
  else memcpy(dst->i, src->i, (size_t)src->count * sizeof(int64_t));
  return CLNET_SUCCESS;
}

const char *ox_dtype_name(int32_t t) {
  static const char *const names[] = {"undefined", "float", "uint8", "int8", "uint16", "int16", "int32", "int64",
                                      "string", "bool", "float16", "double", "uint32", "uint64", "complex64",
                                      "complex128", "bfloat16"};
  if (t >= 0 && t < (int32_t)(sizeof names / sizeof names[0])) return names[t];
  return "an unknown type";
}

static float half_to_float(uint16_t h) {
  const int32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
  const float s = (h & 0x8000) ? -1.0f : 1.0f;
  if (e == 0) return s * ldexpf((float)m, -24);
  if (e == 31) return m ? NAN : s * INFINITY;
  return s * ldexpf((float)(m | 0x400), e - 25);
}

static float bf16_to_float(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/* bytes per element in raw_data; 0 for types clnet does not read */
static size_t raw_size(int32_t t) {
  switch (t) {
  case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
  case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: return 4;
  case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
  case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: return 8;
  case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16: case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16:
  case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16: return 2;
  case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
  case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: return 1;
  default: return 0;
  }
}

/* element k of raw little-endian data of type t, as float / int64 */
static double raw_at(const uint8_t *p, int32_t t, int64_t k) {
  switch (t) {
  case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: { float v; memcpy(&v, p + 4 * k, 4); return v; }
  case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: { double v; memcpy(&v, p + 8 * k, 8); return v; }
  case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16: { uint16_t v; memcpy(&v, p + 2 * k, 2); return half_to_float(v); }
  case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16: { uint16_t v; memcpy(&v, p + 2 * k, 2); return bf16_to_float(v); }
  default: return 0;
  }
}

static int64_t raw_int_at(const uint8_t *p, int32_t t, int64_t k) {
  switch (t) {
  case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: { int64_t v; memcpy(&v, p + 8 * k, 8); return v; }
  case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: { uint64_t v; memcpy(&v, p + 8 * k, 8); return (int64_t)v; }
  case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: { int32_t v; memcpy(&v, p + 4 * k, 4); return v; }
  case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: { uint32_t v; memcpy(&v, p + 4 * k, 4); return v; }
  case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: { int16_t v; memcpy(&v, p + 2 * k, 2); return v; }
  case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16: { uint16_t v; memcpy(&v, p + 2 * k, 2); return v; }
  case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: return (int8_t)p[k];
  case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8: case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: return p[k];
  default: return 0;
  }
}

static int is_float_type(int32_t t) {
  return t == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || t == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE ||
         t == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16 || t == ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16;
}

clnet_status ox_tensor_decode(const Onnx__TensorProto *t, const char *what, ox_const *out) {
  memset(out, 0, sizeof *out);
  if (!t) return clnet_set_error(CLNET_ERR_FORMAT, "%s: no tensor", what);
  if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
    return clnet_set_error(CLNET_ERR_UNSUPPORTED, "%s: its data is in an external file (clnet reads one-file models)",
                           what);
  if (t->segment) return clnet_set_error(CLNET_ERR_UNSUPPORTED, "%s: a segmented tensor", what);
  const int32_t type = t->has_data_type ? t->data_type : 0;
  const size_t rs = raw_size(type);
  if (!rs)
    return clnet_set_error(CLNET_ERR_UNSUPPORTED, "%s: element type %s (%d) is not one clnet reads", what,
                           ox_dtype_name(type), type);
  if (t->n_dims > OX_MAX_RANK)
    return clnet_set_error(CLNET_ERR_UNSUPPORTED, "%s: rank %zu (at most %d)", what, t->n_dims, OX_MAX_RANK);
  const int fl = is_float_type(type);
  /* the element count from the dims, checked against the data before anything is allocated */
  int64_t n = 1;
  for (size_t i = 0; i < t->n_dims; ++i) {
    if (t->dims[i] < 0) return clnet_set_error(CLNET_ERR_FORMAT, "%s: dimension %zu is %lld", what, i, (long long)t->dims[i]);
    if (t->dims[i] && n > OX_MAX_ELEMENTS / t->dims[i])
      return clnet_set_error(CLNET_ERR_TOO_LARGE, "%s: more than %lld elements", what, (long long)OX_MAX_ELEMENTS);
    n *= t->dims[i];
  }
  const int raw = t->has_raw_data && t->raw_data.len;
  if (raw && (t->raw_data.len / rs != (size_t)n || t->raw_data.len % rs))
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: raw_data holds %zu bytes, %lld %s elements need %lld", what,
                           t->raw_data.len, (long long)n, ox_dtype_name(type), (long long)(n * (int64_t)rs));
  size_t have = 0;
  switch (type) {
  case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: have = t->n_float_data; break;
  case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: have = t->n_double_data; break;
  case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: have = t->n_int64_data; break;
  case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: have = t->n_uint64_data; break;
  default: have = t->n_int32_data; break; /* int32 and narrower, bool, float16, bfloat16 */
  }
  if (!raw && have != (size_t)n)
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: holds %zu values, its dims say %lld", what, have, (long long)n);
  clnet_status st = ox_const_alloc(out, fl ? OX_F32 : OX_I64, (int32_t)t->n_dims, t->dims);
  if (st != CLNET_SUCCESS) return clnet_wrap_error(st, "%s", what);
  if (raw) {
    for (int64_t k = 0; k < n; ++k) {
      if (fl) out->f[k] = (float)raw_at(t->raw_data.data, type, k);
      else out->i[k] = raw_int_at(t->raw_data.data, type, k);
    }
    return CLNET_SUCCESS;
  }
  for (int64_t k = 0; k < n; ++k) {
    switch (type) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: out->f[k] = t->float_data[k]; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: out->f[k] = (float)t->double_data[k]; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16: out->f[k] = half_to_float((uint16_t)t->int32_data[k]); break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16: out->f[k] = bf16_to_float((uint16_t)t->int32_data[k]); break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: out->i[k] = t->int64_data[k]; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
      out->i[k] = (int64_t)t->uint64_data[k];
      break;
    default: out->i[k] = t->int32_data[k]; break;
    }
  }
  return CLNET_SUCCESS;
}
