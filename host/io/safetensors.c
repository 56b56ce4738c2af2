/* safetensors checkpoints: an atomic writer and a reader that validates the
 * whole header before it allocates storage for tensor data.
 *
 * Layout: u64 little-endian N | N bytes of JSON (space-padded to a multiple of
 * 8) | data section. Tensors tile the data section exactly; clnet's writer puts
 * 8-byte types first so every tensor is aligned for its type, and records the
 * data section's CRC-32 in __metadata__["clnet.crc32"]. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <zlib.h>

#include "clnet/io.h"
#include "core/error.h"
#include "io/fs.h"
#include "io/atomic_file.h"

/* The safetensors reference implementation refuses larger headers. */
#define ST_MAX_HEADER_BYTES 100000000ull
#define ST_META_KEY "__metadata__"
/* Largest integer a JSON number (a double) represents exactly. */
#define ST_MAX_JSON_INT 9007199254740992.0

int32_t clnet_dtype_size(clnet_dtype dtype) {
  switch (dtype) {
    case CLNET_DTYPE_F32: return 4;
    case CLNET_DTYPE_I32: return 4;
    case CLNET_DTYPE_I64: return 8;
  }
  return 0;
}

const char *clnet_dtype_name(clnet_dtype dtype) {
  switch (dtype) {
    case CLNET_DTYPE_F32: return "F32";
    case CLNET_DTYPE_I32: return "I32";
    case CLNET_DTYPE_I64: return "I64";
  }
  return "?";
}

static int dtype_from_name(const char *s, clnet_dtype *out) {
  static const clnet_dtype all[] = {CLNET_DTYPE_F32, CLNET_DTYPE_I32, CLNET_DTYPE_I64};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (strcmp(s, clnet_dtype_name(all[i])) == 0) {
      *out = all[i];
      return 1;
    }
  return 0;
}

static int host_is_little_endian(void) {
  const uint16_t one = 1;
  unsigned char b;
  memcpy(&b, &one, 1);
  return b == 1;
}

/* Element count and byte size of a tensor; 0 on overflow. */
static int tensor_bytes(int32_t ndim, const int64_t *shape, clnet_dtype dtype, uint64_t *bytes) {
  uint64_t n = 1;
  for (int32_t d = 0; d < ndim; d++) {
    uint64_t s = (uint64_t)shape[d];
    if (s != 0 && n > (uint64_t)INT64_MAX / s) return 0;
    n *= s;
  }
  uint64_t es = (uint64_t)clnet_dtype_size(dtype);
  if (n > (uint64_t)INT64_MAX / es) return 0;
  *bytes = n * es;
  return 1;
}

static int cmp_str_ptr(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ------------------------------------------------------------------------- */
/* writer                                                                     */
/* ------------------------------------------------------------------------- */

typedef struct strbuf {
  char *p;
  size_t len, cap;
  int oom;
} strbuf;

static void sb_put(strbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void sb_puts(strbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_i64(strbuf *b, int64_t v) {
  char tmp[32];
  int n = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
  sb_put(b, tmp, (size_t)n);
}

/* A JSON string literal: quotes, backslashes and control characters escaped;
 * other bytes (UTF-8) copied as they are. */
static void sb_json_str(strbuf *b, const char *s) {
  sb_put(b, "\"", 1);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      char esc[2] = {'\\', (char)c};
      sb_put(b, esc, 2);
    } else if (c < 0x20) {
      char esc[8];
      snprintf(esc, sizeof esc, "\\u%04x", c);
      sb_put(b, esc, 6);
    } else {
      sb_put(b, (const char *)&c, 1);
    }
  }
  sb_put(b, "\"", 1);
}

static clnet_status check_unique(const char *path, const char *const *names, int32_t n,
                                 const char *what) {
  if (n < 2) return CLNET_SUCCESS;
  const char **sorted = malloc((size_t)n * sizeof *sorted);
  if (sorted == NULL) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
  memcpy(sorted, names, (size_t)n * sizeof *sorted);
  qsort(sorted, (size_t)n, sizeof *sorted, cmp_str_ptr);
  clnet_status st = CLNET_SUCCESS;
  for (int32_t i = 1; i < n; i++)
    if (strcmp(sorted[i - 1], sorted[i]) == 0) {
      char nb[72];
      st = clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: duplicate %s '%s'", path, what,
                           clnet_printable(sorted[i], nb));
      break;
    }
  free(sorted);
  return st;
}

static clnet_status validate_write_args(const char *path, const clnet_st_tensor *tensors,
                                        int32_t n_tensors, const char *const *meta_keys,
                                        const char *const *meta_values, int32_t n_meta,
                                        uint64_t *bytes) {
  char nb[72];
  if (n_tensors < 0 || (n_tensors > 0 && tensors == NULL))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: n_tensors is %d with tensors %s", path,
                           (int)n_tensors, tensors ? "set" : "NULL");
  if (n_meta < 0 || (n_meta > 0 && (meta_keys == NULL || meta_values == NULL)))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: n_meta is %d with keys/values NULL",
                           path, (int)n_meta);
  for (int32_t i = 0; i < n_meta; i++) {
    if (meta_keys[i] == NULL || meta_keys[i][0] == '\0' || meta_values[i] == NULL)
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                             "%s: metadata entry %d has an empty key or a NULL value", path, (int)i);
    if (strcmp(meta_keys[i], CLNET_ST_CRC_KEY) == 0)
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                             "%s: metadata key '" CLNET_ST_CRC_KEY "' is reserved for the writer",
                             path);
  }
  uint64_t total = 0;
  for (int32_t i = 0; i < n_tensors; i++) {
    const clnet_st_tensor *t = &tensors[i];
    if (t->name == NULL || t->name[0] == '\0' || strcmp(t->name, ST_META_KEY) == 0)
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                             "%s: tensor %d has no name or the reserved name '" ST_META_KEY "'",
                             path, (int)i);
    if (clnet_dtype_size(t->dtype) == 0)
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: tensor '%s': invalid dtype %d", path,
                             clnet_printable(t->name, nb), (int)t->dtype);
    if (t->ndim < 0 || t->ndim > CLNET_ST_MAX_DIMS)
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                             "%s: tensor '%s': ndim is %d, must be 0..%d", path,
                             clnet_printable(t->name, nb), (int)t->ndim, CLNET_ST_MAX_DIMS);
    for (int32_t d = 0; d < t->ndim; d++)
      if (t->shape[d] < 0)
        return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                               "%s: tensor '%s': shape[%d] is %lld, must be >= 0", path,
                               clnet_printable(t->name, nb), (int)d, (long long)t->shape[d]);
    if (!tensor_bytes(t->ndim, t->shape, t->dtype, &bytes[i]) ||
        bytes[i] > (uint64_t)INT64_MAX - total || bytes[i] > (uint64_t)SIZE_MAX)
      return clnet_set_error(CLNET_ERR_TOO_LARGE, "%s: tensor '%s': byte size overflows", path,
                             clnet_printable(t->name, nb));
    total += bytes[i];
    if (bytes[i] > 0 && t->data == NULL)
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                             "%s: tensor '%s': data is NULL for %llu bytes", path,
                             clnet_printable(t->name, nb), (unsigned long long)bytes[i]);
  }
  const char **names = malloc((size_t)(n_tensors > 0 ? n_tensors : 1) * sizeof *names);
  if (names == NULL) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
  for (int32_t i = 0; i < n_tensors; i++) names[i] = tensors[i].name;
  clnet_status st = check_unique(path, names, n_tensors, "tensor name");
  free(names);
  CLNET_TRY(st);
  return check_unique(path, (const char *const *)meta_keys, n_meta, "metadata key");
}

/* CRC-32 of n bytes, fed to zlib in pieces it can take (uInt lengths). */
static uLong crc_update(uLong crc, const unsigned char *p, uint64_t n) {
  while (n > 0) {
    uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
    crc = crc32(crc, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return crc;
}

clnet_status clnet_safetensors_write(const char *path, const clnet_st_tensor *tensors,
                                     int32_t n_tensors, const char *const *meta_keys,
                                     const char *const *meta_values, int32_t n_meta) {
  if (path == NULL || path[0] == '\0')
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "safetensors write: empty path");
  if (!host_is_little_endian())
    return clnet_set_error(CLNET_ERR_UNSUPPORTED, "%s: safetensors needs a little-endian host", path);
  if (n_tensors < 0)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: n_tensors is %d", path, (int)n_tensors);

  size_t nt = (size_t)n_tensors;
  uint64_t *bytes = malloc((nt ? nt : 1) * sizeof *bytes);
  uint64_t *offset = malloc((nt ? nt : 1) * sizeof *offset);
  int32_t *order = malloc((nt ? nt : 1) * sizeof *order);
  strbuf hdr = {0};
  clnet_status st = CLNET_SUCCESS;
  if (bytes == NULL || offset == NULL || order == NULL) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
    goto done;
  }
  CLNET_TRY_GOTO(validate_write_args(path, tensors, n_tensors, meta_keys, meta_values, n_meta,
                                     bytes),
                 st, done);

  /* Data order: 8-byte types first, then 4-byte ones, each group in the
   * caller's order. The data section starts 8-aligned, so all stay aligned. */
  int32_t k = 0;
  for (int pass = 0; pass < 2; pass++)
    for (int32_t i = 0; i < n_tensors; i++)
      if ((clnet_dtype_size(tensors[i].dtype) == 8) == (pass == 0)) order[k++] = i;
  uint64_t pos = 0;
  uLong crc = crc32(0L, Z_NULL, 0);
  for (int32_t j = 0; j < n_tensors; j++) {
    int32_t i = order[j];
    offset[i] = pos;
    pos += bytes[i];
    crc = crc_update(crc, tensors[i].data, bytes[i]);
  }
  char crc_hex[16];
  snprintf(crc_hex, sizeof crc_hex, "%08lx", (unsigned long)(crc & 0xffffffffUL));

  /* Header, compact JSON: metadata first, then tensors in the caller's order. */
  sb_puts(&hdr, "{\"" ST_META_KEY "\":{");
  for (int32_t i = 0; i < n_meta; i++) {
    sb_json_str(&hdr, meta_keys[i]);
    sb_puts(&hdr, ":");
    sb_json_str(&hdr, meta_values[i]);
    sb_puts(&hdr, ",");
  }
  sb_puts(&hdr, "\"" CLNET_ST_CRC_KEY "\":\"");
  sb_puts(&hdr, crc_hex);
  sb_puts(&hdr, "\"}");
  for (int32_t i = 0; i < n_tensors; i++) {
    const clnet_st_tensor *t = &tensors[i];
    sb_puts(&hdr, ",");
    sb_json_str(&hdr, t->name);
    sb_puts(&hdr, ":{\"dtype\":\"");
    sb_puts(&hdr, clnet_dtype_name(t->dtype));
    sb_puts(&hdr, "\",\"shape\":[");
    for (int32_t d = 0; d < t->ndim; d++) {
      if (d) sb_puts(&hdr, ",");
      sb_i64(&hdr, t->shape[d]);
    }
    sb_puts(&hdr, "],\"data_offsets\":[");
    sb_i64(&hdr, (int64_t)offset[i]);
    sb_puts(&hdr, ",");
    sb_i64(&hdr, (int64_t)(offset[i] + bytes[i]));
    sb_puts(&hdr, "]}");
  }
  sb_puts(&hdr, "}");
  while (hdr.len % 8 != 0) sb_puts(&hdr, " ");
  if (hdr.oom) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
    goto done;
  }
  if ((uint64_t)hdr.len > ST_MAX_HEADER_BYTES) {
    st = clnet_set_error(CLNET_ERR_TOO_LARGE, "%s: header of %zu bytes exceeds the %llu-byte limit",
                         path, hdr.len, ST_MAX_HEADER_BYTES);
    goto done;
  }

  unsigned char len_le[8];
  for (int b = 0; b < 8; b++) len_le[b] = (unsigned char)(((uint64_t)hdr.len >> (8 * b)) & 0xff);

  clnet_atomic_file af;
  CLNET_TRY_GOTO(clnet_atomic_open(&af, path), st, done);
  st = clnet_atomic_write(&af, len_le, sizeof len_le);
  if (st == CLNET_SUCCESS) st = clnet_atomic_write(&af, hdr.p, hdr.len);
  for (int32_t j = 0; j < n_tensors && st == CLNET_SUCCESS; j++)
    st = clnet_atomic_write(&af, tensors[order[j]].data, (size_t)bytes[order[j]]);
  if (st != CLNET_SUCCESS) {
    clnet_atomic_abort(&af);
    goto done;
  }
  st = clnet_atomic_commit(&af);

done:
  free(hdr.p);
  free(bytes);
  free(offset);
  free(order);
  return st;
}

/* ------------------------------------------------------------------------- */
/* reader                                                                     */
/* ------------------------------------------------------------------------- */

typedef struct st_name {
  const char *name;
  int32_t index;
} st_name;

struct clnet_st_file {
  cJSON *root;             /* parsed header; owns the name and value strings */
  clnet_st_tensor *tensors; /* [count], header order */
  int32_t count;
  st_name *by_name;        /* [count] sorted by name */
  const char **meta_keys, **meta_values; /* [n_meta] */
  int32_t n_meta;
  unsigned char *data;     /* the data section */
  unsigned char *realigned; /* copies of tensors whose offset is misaligned */
};

void clnet_st_free(clnet_st_file *f) {
  if (f == NULL) return;
  cJSON_Delete(f->root);
  free(f->tensors);
  free(f->by_name);
  free(f->meta_keys);
  free(f->meta_values);
  free(f->data);
  free(f->realigned);
  free(f);
}

int32_t clnet_st_count(const clnet_st_file *f) { return f ? f->count : 0; }

const clnet_st_tensor *clnet_st_get(const clnet_st_file *f, int32_t i) {
  if (f == NULL || i < 0 || i >= f->count) return NULL;
  return &f->tensors[i];
}

const clnet_st_tensor *clnet_st_find(const clnet_st_file *f, const char *name) {
  if (f == NULL || name == NULL) return NULL;
  int32_t lo = 0, hi = f->count - 1;
  while (lo <= hi) {
    int32_t mid = lo + (hi - lo) / 2;
    int c = strcmp(name, f->by_name[mid].name);
    if (c == 0) return &f->tensors[f->by_name[mid].index];
    if (c < 0)
      hi = mid - 1;
    else
      lo = mid + 1;
  }
  return NULL;
}

const char *clnet_st_meta(const clnet_st_file *f, const char *key) {
  if (f == NULL || key == NULL) return NULL;
  for (int32_t i = 0; i < f->n_meta; i++)
    if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
  return NULL;
}

int32_t clnet_st_meta_count(const clnet_st_file *f) { return f ? f->n_meta : 0; }

int32_t clnet_st_meta_at(const clnet_st_file *f, int32_t i, const char **key, const char **value) {
  if (f == NULL || i < 0 || i >= f->n_meta) return 0;
  if (key) *key = f->meta_keys[i];
  if (value) *value = f->meta_values[i];
  return 1;
}

/* A JSON number that is an integer in [0, 2^53]. */
static int json_uint(const cJSON *item, int64_t *out) {
  if (!cJSON_IsNumber(item)) return 0;
  double d = item->valuedouble;
  if (!isfinite(d) || d < 0.0 || d > ST_MAX_JSON_INT || d != floor(d)) return 0;
  *out = (int64_t)d;
  return 1;
}

/* Per-tensor facts gathered while validating. */
typedef struct st_span {
  uint64_t begin, end;
  int32_t index;
} st_span;

static int cmp_span(const void *a, const void *b) {
  const st_span *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return 0;
}

static int cmp_by_name(const void *a, const void *b) {
  return strcmp(((const st_name *)a)->name, ((const st_name *)b)->name);
}

/* Check one tensor entry of the header and fill t (data left NULL). */
static clnet_status parse_tensor(const char *path, const cJSON *item, uint64_t data_len,
                                 clnet_st_tensor *t, st_span *span) {
  char nb[72];
  const char *name = clnet_printable(item->string, nb);
  if (item->string[0] == '\0') /* "" or a name starting with \u0000: clnet_st_tensor names are non-empty */
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: a tensor has an empty name", path);
  if (!cJSON_IsObject(item))
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: tensor '%s' is not a JSON object", path, name);
  const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
  const cJSON *sh = cJSON_GetObjectItemCaseSensitive(item, "shape");
  const cJSON *off = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
  if (!cJSON_IsString(dt))
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: tensor '%s' has no \"dtype\" string", path, name);
  if (!dtype_from_name(dt->valuestring, &t->dtype)) {
    char db[72];
    return clnet_set_error(CLNET_ERR_FORMAT,
                           "%s: tensor '%s' has dtype '%s'; clnet reads only F32, I32 and I64",
                           path, name, clnet_printable(dt->valuestring, db));
  }
  if (!cJSON_IsArray(sh))
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: tensor '%s' has no \"shape\" array", path, name);
  int nd = cJSON_GetArraySize(sh);
  if (nd > CLNET_ST_MAX_DIMS)
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: tensor '%s' has %d dimensions, at most %d allowed",
                           path, name, nd, CLNET_ST_MAX_DIMS);
  t->ndim = nd;
  int d = 0;
  const cJSON *dim;
  cJSON_ArrayForEach(dim, sh) {
    if (!json_uint(dim, &t->shape[d]))
      return clnet_set_error(CLNET_ERR_FORMAT,
                             "%s: tensor '%s': shape[%d] is not a non-negative integer", path, name,
                             d);
    d++;
  }
  uint64_t bytes;
  if (!tensor_bytes(t->ndim, t->shape, t->dtype, &bytes))
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: tensor '%s': shape's byte size overflows", path,
                           name);
  int64_t b, e;
  if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 ||
      !json_uint(cJSON_GetArrayItem(off, 0), &b) || !json_uint(cJSON_GetArrayItem(off, 1), &e))
    return clnet_set_error(CLNET_ERR_FORMAT,
                           "%s: tensor '%s': \"data_offsets\" must be two non-negative integers",
                           path, name);
  if (b > e)
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: tensor '%s': data_offsets [%lld, %lld] run backwards",
                           path, name, (long long)b, (long long)e);
  if ((uint64_t)e > data_len)
    return clnet_set_error(CLNET_ERR_FORMAT,
                           "%s: tensor '%s': data_offsets [%lld, %lld] lie outside the %llu-byte "
                           "data section",
                           path, name, (long long)b, (long long)e, (unsigned long long)data_len);
  if ((uint64_t)(e - b) != bytes)
    return clnet_set_error(CLNET_ERR_FORMAT,
                           "%s: tensor '%s': data_offsets [%lld, %lld] span %lld bytes but %s shape "
                           "needs %llu",
                           path, name, (long long)b, (long long)e, (long long)(e - b),
                           clnet_dtype_name(t->dtype), (unsigned long long)bytes);
  span->begin = (uint64_t)b;
  span->end = (uint64_t)e;
  return CLNET_SUCCESS;
}

static int parse_crc(const char *s, uint32_t *out) {
  if (strlen(s) != 8) return 0;
  uint32_t v = 0;
  for (int i = 0; i < 8; i++) {
    char c = s[i];
    uint32_t x;
    if (c >= '0' && c <= '9') x = (uint32_t)(c - '0');
    else if (c >= 'a' && c <= 'f') x = (uint32_t)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') x = (uint32_t)(c - 'A' + 10);
    else return 0;
    v = v << 4 | x;
  }
  *out = v;
  return 1;
}

/* Read exactly n bytes; 0 on a short read (errno or 0 at end of file). */
static int read_full(FILE *fp, void *p, size_t n) {
  errno = 0;
  return fread(p, 1, n, fp) == n;
}

static clnet_status read_error(const char *path, FILE *fp, const char *what) {
  if (ferror(fp) && errno != 0)
    return clnet_set_error(CLNET_ERR_IO, "%s: reading %s failed: %s", path, what, strerror(errno));
  return clnet_set_error(CLNET_ERR_FORMAT, "%s: file ended while reading %s (did it change?)", path,
                         what);
}

clnet_status clnet_safetensors_read(const char *path, clnet_st_file **out) {
  if (out == NULL)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "safetensors read: out is NULL");
  *out = NULL;
  if (path == NULL || path[0] == '\0')
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "safetensors read: empty path");
  if (!host_is_little_endian())
    return clnet_set_error(CLNET_ERR_UNSUPPORTED, "%s: safetensors needs a little-endian host", path);

  clnet_status st = CLNET_SUCCESS;
  char *header = NULL;
  st_span *spans = NULL;
  clnet_st_file *f = NULL;
  FILE *fp = NULL;
  CLNET_TRY(clnet_fopen_regular(path, &fp)); /* a FIFO or a directory is named, never read */

  struct stat sb;
  if (fstat(fileno(fp), &sb) != 0) {
    st = clnet_set_error(CLNET_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    goto fail;
  }
  if (!S_ISREG(sb.st_mode)) {
    st = clnet_set_error(CLNET_ERR_IO, "%s: not a regular file", path);
    goto fail;
  }
  uint64_t file_size = (uint64_t)sb.st_size;
  if (file_size < 8) {
    st = clnet_set_error(CLNET_ERR_FORMAT,
                         "%s: file is %llu bytes, too short for the 8-byte header length", path,
                         (unsigned long long)file_size);
    goto fail;
  }
  unsigned char len_le[8];
  if (!read_full(fp, len_le, 8)) {
    st = read_error(path, fp, "the header length");
    goto fail;
  }
  uint64_t n = 0;
  for (int b = 7; b >= 0; b--) n = n << 8 | len_le[b];
  if (n > ST_MAX_HEADER_BYTES) {
    st = clnet_set_error(CLNET_ERR_FORMAT,
                         "%s: header length %llu exceeds the %llu-byte limit (not a safetensors "
                         "file?)",
                         path, (unsigned long long)n, ST_MAX_HEADER_BYTES);
    goto fail;
  }
  if (n > file_size - 8) {
    st = clnet_set_error(CLNET_ERR_FORMAT,
                         "%s: header length %llu runs past the end of the %llu-byte file "
                         "(truncated?)",
                         path, (unsigned long long)n, (unsigned long long)file_size);
    goto fail;
  }
  if (n < 2) {
    st = clnet_set_error(CLNET_ERR_FORMAT, "%s: header of %llu bytes cannot hold a JSON object", path,
                         (unsigned long long)n);
    goto fail;
  }
  uint64_t data_len = file_size - 8 - n;
  header = malloc((size_t)n + 1);
  if (header == NULL) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory for a %llu-byte header",
                         path, (unsigned long long)n);
    goto fail;
  }
  if (!read_full(fp, header, (size_t)n)) {
    st = read_error(path, fp, "the header");
    goto fail;
  }
  header[n] = '\0';
  if (memchr(header, '\0', (size_t)n) != NULL) {
    st = clnet_set_error(CLNET_ERR_FORMAT, "%s: header contains a NUL byte", path);
    goto fail;
  }
  if (header[0] != '{') {
    st = clnet_set_error(CLNET_ERR_FORMAT, "%s: header does not start with '{'", path);
    goto fail;
  }

  f = calloc(1, sizeof *f);
  if (f == NULL) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
    goto fail;
  }
  const char *end = NULL;
  f->root = cJSON_ParseWithLengthOpts(header, (size_t)n, &end, 0);
  if (f->root == NULL) {
    size_t at = (end != NULL && end >= header && end <= header + n) ? (size_t)(end - header) : 0;
    st = clnet_set_error(CLNET_ERR_FORMAT, "%s: header is not valid JSON (error near byte %zu of %llu)",
                         path, at, (unsigned long long)n);
    goto fail;
  }
  for (const char *p = end; p < header + n; p++)
    if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
      st = clnet_set_error(CLNET_ERR_FORMAT,
                           "%s: header has bytes after the JSON object (at byte %zu of %llu)", path,
                           (size_t)(p - header), (unsigned long long)n);
      goto fail;
    }
  if (!cJSON_IsObject(f->root)) {
    st = clnet_set_error(CLNET_ERR_FORMAT, "%s: header is not a JSON object", path);
    goto fail;
  }
  free(header);
  header = NULL;

  /* Count entries, check the metadata object. */
  const cJSON *meta = NULL, *item;
  int64_t count = 0;
  cJSON_ArrayForEach(item, f->root) {
    if (strcmp(item->string, ST_META_KEY) == 0) {
      if (meta != NULL) {
        st = clnet_set_error(CLNET_ERR_FORMAT, "%s: header has two \"" ST_META_KEY "\" entries", path);
        goto fail;
      }
      meta = item;
    } else {
      count++;
    }
  }
  if (count > INT32_MAX) {
    st = clnet_set_error(CLNET_ERR_FORMAT, "%s: too many tensors", path);
    goto fail;
  }
  if (meta != NULL) {
    if (!cJSON_IsObject(meta)) {
      st = clnet_set_error(CLNET_ERR_FORMAT, "%s: \"" ST_META_KEY "\" is not a JSON object", path);
      goto fail;
    }
    int nm = cJSON_GetArraySize(meta);
    f->meta_keys = malloc((size_t)(nm > 0 ? nm : 1) * sizeof *f->meta_keys);
    f->meta_values = malloc((size_t)(nm > 0 ? nm : 1) * sizeof *f->meta_values);
    if (f->meta_keys == NULL || f->meta_values == NULL) {
      st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
      goto fail;
    }
    cJSON_ArrayForEach(item, meta) {
      char kb[72];
      if (!cJSON_IsString(item)) {
        st = clnet_set_error(CLNET_ERR_FORMAT, "%s: metadata value of '%s' is not a string", path,
                             clnet_printable(item->string, kb));
        goto fail;
      }
      for (int32_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], item->string) == 0) {
          st = clnet_set_error(CLNET_ERR_FORMAT, "%s: duplicate metadata key '%s'", path,
                               clnet_printable(item->string, kb));
          goto fail;
        }
      f->meta_keys[f->n_meta] = item->string;
      f->meta_values[f->n_meta] = item->valuestring;
      f->n_meta++;
    }
  }
  uint32_t want_crc = 0;
  const char *crc_text = clnet_st_meta(f, CLNET_ST_CRC_KEY);
  if (crc_text != NULL && !parse_crc(crc_text, &want_crc)) {
    char vb[72];
    st = clnet_set_error(CLNET_ERR_FORMAT, "%s: metadata " CLNET_ST_CRC_KEY " is '%s', not 8 hex digits",
                         path, clnet_printable(crc_text, vb));
    goto fail;
  }

  /* Tensors. */
  size_t nt = (size_t)count;
  f->tensors = calloc(nt ? nt : 1, sizeof *f->tensors);
  f->by_name = malloc((nt ? nt : 1) * sizeof *f->by_name);
  spans = malloc((nt ? nt : 1) * sizeof *spans);
  if (f->tensors == NULL || f->by_name == NULL || spans == NULL) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
    goto fail;
  }
  cJSON_ArrayForEach(item, f->root) {
    if (item == meta) continue;
    int32_t i = f->count;
    f->tensors[i].name = item->string;
    spans[i].index = i;
    CLNET_TRY_GOTO(parse_tensor(path, item, data_len, &f->tensors[i], &spans[i]), st, fail);
    f->by_name[i].name = item->string;
    f->by_name[i].index = i;
    f->count++;
  }
  qsort(f->by_name, nt, sizeof *f->by_name, cmp_by_name);
  for (size_t i = 1; i < nt; i++)
    if (strcmp(f->by_name[i - 1].name, f->by_name[i].name) == 0) {
      char nb[72];
      st = clnet_set_error(CLNET_ERR_FORMAT, "%s: duplicate tensor name '%s'", path,
                           clnet_printable(f->by_name[i].name, nb));
      goto fail;
    }

  /* The tensors must tile the data section: no overlap, no gap, no tail. */
  qsort(spans, nt, sizeof *spans, cmp_span);
  uint64_t cursor = 0;
  int32_t prev = -1;
  size_t realign_bytes = 0;
  for (size_t i = 0; i < nt; i++) {
    char nb[72], pb[72];
    const st_span *s = &spans[i];
    if (s->begin < cursor) {
      st = clnet_set_error(CLNET_ERR_FORMAT,
                           "%s: tensor '%s' [%llu, %llu] overlaps tensor '%s' [%llu, %llu]", path,
                           clnet_printable(f->tensors[s->index].name, nb), (unsigned long long)s->begin,
                           (unsigned long long)s->end,
                           clnet_printable(f->tensors[spans[prev].index].name, pb),
                           (unsigned long long)spans[prev].begin, (unsigned long long)spans[prev].end);
      goto fail;
    }
    if (s->begin > cursor) {
      st = clnet_set_error(CLNET_ERR_FORMAT,
                           "%s: bytes [%llu, %llu) of the data section belong to no tensor", path,
                           (unsigned long long)cursor, (unsigned long long)s->begin);
      goto fail;
    }
    if (s->end > s->begin) {
      cursor = s->end;
      prev = (int32_t)i;
    }
    uint64_t es = (uint64_t)clnet_dtype_size(f->tensors[s->index].dtype);
    if (s->end > s->begin && s->begin % es != 0) realign_bytes += (size_t)((s->end - s->begin + 7) / 8 * 8);
  }
  if (cursor != data_len) {
    st = clnet_set_error(CLNET_ERR_FORMAT,
                         "%s: data section is %llu bytes but the tensors cover %llu (truncated or "
                         "trailing bytes)",
                         path, (unsigned long long)data_len, (unsigned long long)cursor);
    goto fail;
  }
  if (data_len > (uint64_t)SIZE_MAX - 16) {
    st = clnet_set_error(CLNET_ERR_TOO_LARGE, "%s: data section of %llu bytes does not fit in memory",
                         path, (unsigned long long)data_len);
    goto fail;
  }

  /* Everything checks out: now allocate and read the data. */
  f->data = malloc(data_len ? (size_t)data_len : 1);
  if (f->data == NULL) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory for %llu bytes of data",
                         path, (unsigned long long)data_len);
    goto fail;
  }
  if (data_len > 0 && !read_full(fp, f->data, (size_t)data_len)) {
    st = read_error(path, fp, "the tensor data");
    goto fail;
  }
  if (crc_text != NULL) {
    uLong crc = crc_update(crc32(0L, Z_NULL, 0), f->data, data_len);
    if ((uint32_t)(crc & 0xffffffffUL) != want_crc) {
      st = clnet_set_error(CLNET_ERR_FORMAT,
                           "%s: checksum mismatch, file is corrupt (data CRC-32 %08lx, header says "
                           "%08lx)",
                           path, (unsigned long)(crc & 0xffffffffUL), (unsigned long)want_crc);
      goto fail;
    }
  }
  if (realign_bytes > 0) {
    f->realigned = malloc(realign_bytes);
    if (f->realigned == NULL) {
      st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
      goto fail;
    }
  }
  size_t ra = 0;
  for (size_t i = 0; i < nt; i++) {
    clnet_st_tensor *t = &f->tensors[spans[i].index];
    size_t len = (size_t)(spans[i].end - spans[i].begin);
    unsigned char *src = f->data + spans[i].begin;
    if (len == 0) {
      t->data = f->data; /* any aligned address will do */
    } else if (spans[i].begin % (uint64_t)clnet_dtype_size(t->dtype) == 0) {
      t->data = src;
    } else {
      memcpy(f->realigned + ra, src, len);
      t->data = f->realigned + ra;
      ra += (len + 7) / 8 * 8;
    }
  }
  free(spans);
  fclose(fp);
  *out = f;
  return CLNET_SUCCESS;

fail:
  free(header);
  free(spans);
  clnet_st_free(f);
  fclose(fp);
  return st;
}
