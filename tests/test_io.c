/* Checkpoint (safetensors), history CSV and curves-figure tests. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "clnet/io.h"
#include "clnet/status.h"

/* Under -fsanitize=address: fontconfig (used by PLplot's cairo driver through
 * pango) keeps one-time caches that are never freed; they do not grow per
 * call. Suppress only that library's leaks. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libfontconfig.so\n"; }
/* Keep LeakSanitizer quiet about that at exit (stderr may be a closed pipe). */
const char *__lsan_default_options(void);
const char *__lsan_default_options(void) { return "print_suppressions=0"; }

/* ------------------------------------------------------------------------- */
/* helpers                                                                    */
/* ------------------------------------------------------------------------- */

static char tmp_dir[256];

static void dir_setup(void) {
  snprintf(tmp_dir, sizeof tmp_dir, "/tmp/clnet_test_io.XXXXXX");
  cr_assert_not_null(mkdtemp(tmp_dir), "mkdtemp: %s", strerror(errno));
}

static void dir_teardown(void) {
  if (tmp_dir[0] == '\0') return;
  chmod(tmp_dir, 0700);
  DIR *d = opendir(tmp_dir);
  if (d != NULL) {
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
      snprintf(p, sizeof p, "%s/%s", tmp_dir, e->d_name);
      unlink(p);
    }
    closedir(d);
  }
  rmdir(tmp_dir);
}

static const char *tpath(const char *name) {
  static char buf[4][512];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", tmp_dir, name);
  return buf[k];
}

static int count_dir_entries(void) {
  int n = 0;
  DIR *d = opendir(tmp_dir);
  cr_assert_not_null(d);
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
  closedir(d);
  return n;
}

static unsigned char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "open %s: %s", path, strerror(errno));
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *buf = malloc((size_t)n + 1);
  cr_assert_not_null(buf);
  cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return buf;
}

static void spit(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f, "create %s: %s", path, strerror(errno));
  if (len) cr_assert_eq(fwrite(data, 1, len, f), len);
  cr_assert_eq(fclose(f), 0);
}

static char *find_bytes(unsigned char *hay, size_t len, const char *needle) {
  size_t n = strlen(needle);
  for (size_t i = 0; i + n <= len; i++)
    if (memcmp(hay + i, needle, n) == 0) return (char *)hay + i;
  return NULL;
}

/* A safetensors file from a header string and `data_len` data bytes. */
static void write_raw_st(const char *path, const char *header, const void *data, size_t data_len) {
  size_t n = strlen(header);
  unsigned char *buf = malloc(8 + n + data_len + 1);
  for (int b = 0; b < 8; b++) buf[b] = (unsigned char)(((uint64_t)n >> (8 * b)) & 0xff);
  memcpy(buf + 8, header, n);
  if (data_len) memcpy(buf + 8 + n, data, data_len);
  spit(path, buf, 8 + n + data_len);
  free(buf);
}

/* Expect read to fail with `status` and a message naming the file and
 * containing `needle`. */
static void expect_read_fails(const char *path, clnet_status status, const char *needle) {
  clnet_st_file *f = (clnet_st_file *)0x1;
  clnet_clear_error();
  clnet_status st = clnet_safetensors_read(path, &f);
  cr_assert_eq(st, status, "%s: expected %s, got %s (%s)", needle ? needle : "", clnet_status_str(status),
               clnet_status_str(st), clnet_last_error());
  cr_assert_null(f, "out must be NULL on failure");
  const char *msg = clnet_last_error();
  cr_assert(strstr(msg, path) != NULL, "message does not name the file: '%s'", msg);
  cr_assert(strchr(msg, '\n') == NULL, "message is not one line: '%s'", msg);
  if (needle) cr_assert(strstr(msg, needle) != NULL, "message '%s' lacks '%s'", msg, needle);
}

/* A small valid file used by several tests; returns its path. */
static const char *write_small_valid(const char *name) {
  static const float w[6] = {1.5f, -2.0f, 3.25f, 0.0f, -0.5f, 8.0f};
  static const int64_t steps[3] = {1, -2, 1LL << 40};
  static const int32_t idx[2] = {7, -9};
  clnet_st_tensor t[3] = {
      {.name = "layer.w", .dtype = CLNET_DTYPE_F32, .ndim = 2, .shape = {2, 3}, .data = w},
      {.name = "step", .dtype = CLNET_DTYPE_I64, .ndim = 1, .shape = {3}, .data = steps},
      {.name = "idx", .dtype = CLNET_DTYPE_I32, .ndim = 1, .shape = {2}, .data = idx},
  };
  const char *keys[] = {"format"};
  const char *vals[] = {"clnet"};
  const char *path = tpath(name);
  cr_assert_eq(clnet_safetensors_write(path, t, 3, keys, vals, 1), CLNET_SUCCESS, "%s",
               clnet_last_error());
  return path;
}

TestSuite(io, .init = dir_setup, .fini = dir_teardown);

/* ------------------------------------------------------------------------- */
/* safetensors: round trip and exact layout                                   */
/* ------------------------------------------------------------------------- */

Test(io, safetensors_round_trip) {
  float a[2 * 3 * 5];
  for (int i = 0; i < 30; i++) a[i] = (float)i * 0.25f - 3.0f;
  int64_t b[7] = {0, 1, -1, INT64_MAX, INT64_MIN, 42, 1LL << 50};
  int32_t c[13];
  for (int i = 0; i < 13; i++) c[i] = i * i - 50;
  float scalar = 3.5f;
  float odd[7] = {1, 2, 3, 4, 5, 6, 7};
  clnet_st_tensor t[6] = {
      {.name = "conv1.weight", .dtype = CLNET_DTYPE_F32, .ndim = 3, .shape = {2, 3, 5}, .data = a},
      {.name = "odd", .dtype = CLNET_DTYPE_F32, .ndim = 1, .shape = {7}, .data = odd},
      {.name = "opt.step", .dtype = CLNET_DTYPE_I64, .ndim = 1, .shape = {7}, .data = b},
      {.name = "labels", .dtype = CLNET_DTYPE_I32, .ndim = 2, .shape = {1, 13}, .data = c},
      {.name = "lr", .dtype = CLNET_DTYPE_F32, .ndim = 0, .data = &scalar},
      {.name = "empty \"quoted\"\n", .dtype = CLNET_DTYPE_F32, .ndim = 2, .shape = {0, 4}, .data = NULL},
  };
  const char *keys[] = {"model", "note", "unicode"};
  const char *vals[] = {"resnet18", "a \"quote\", a \\ and a\ttab\nnewline", "\xc3\xa9\xe2\x82\xac"};
  const char *path = tpath("rt.safetensors");
  cr_assert_eq(clnet_safetensors_write(path, t, 6, keys, vals, 3), CLNET_SUCCESS, "%s",
               clnet_last_error());
  cr_assert_eq(count_dir_entries(), 1, "temporary file left behind");

  clnet_st_file *f = NULL;
  cr_assert_eq(clnet_safetensors_read(path, &f), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_st_count(f), 6);
  for (int i = 0; i < 6; i++) {
    const clnet_st_tensor *g = clnet_st_get(f, i);
    cr_assert_not_null(g);
    cr_assert_str_eq(g->name, t[i].name, "header order must be the writer's order");
    cr_assert_eq(g->dtype, t[i].dtype);
    cr_assert_eq(g->ndim, t[i].ndim);
    int64_t elems = 1;
    for (int d = 0; d < g->ndim; d++) {
      cr_assert_eq(g->shape[d], t[i].shape[d]);
      elems *= g->shape[d];
    }
    size_t bytes = (size_t)elems * (size_t)clnet_dtype_size(g->dtype);
    cr_assert_not_null(g->data);
    cr_assert_eq((uintptr_t)g->data % (uintptr_t)clnet_dtype_size(g->dtype), 0, "misaligned %s",
                 g->name);
    if (bytes) cr_assert_eq(memcmp(g->data, t[i].data, bytes), 0, "data of %s differs", g->name);
    cr_assert_eq(clnet_st_find(f, t[i].name), g);
  }
  cr_assert_null(clnet_st_get(f, 6));
  cr_assert_null(clnet_st_get(f, -1));
  cr_assert_null(clnet_st_find(f, "nope"));
  for (int i = 0; i < 3; i++) cr_assert_str_eq(clnet_st_meta(f, keys[i]), vals[i]);
  const char *crc = clnet_st_meta(f, CLNET_ST_CRC_KEY);
  cr_assert_not_null(crc);
  cr_assert_eq(strlen(crc), 8);
  cr_assert_null(clnet_st_meta(f, "absent"));
  cr_assert_eq(clnet_st_meta_count(f), 4);
  const char *k = NULL, *v = NULL;
  cr_assert_eq(clnet_st_meta_at(f, 0, &k, &v), 1);
  cr_assert_str_eq(k, "model");
  cr_assert_str_eq(v, "resnet18");
  cr_assert_eq(clnet_st_meta_at(f, 4, &k, &v), 0);
  clnet_st_free(f);
  clnet_st_free(NULL);

  /* Overwrite in place: the new content replaces the old. */
  cr_assert_eq(clnet_safetensors_write(path, t, 1, NULL, NULL, 0), CLNET_SUCCESS, "%s",
               clnet_last_error());
  cr_assert_eq(clnet_safetensors_read(path, &f), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_st_count(f), 1);
  cr_assert_null(clnet_st_meta(f, "model"));
  clnet_st_free(f);

  /* No tensors at all is a valid file. */
  cr_assert_eq(clnet_safetensors_write(path, NULL, 0, NULL, NULL, 0), CLNET_SUCCESS, "%s",
               clnet_last_error());
  cr_assert_eq(clnet_safetensors_read(path, &f), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_st_count(f), 0);
  cr_assert_null(clnet_st_find(f, "conv1.weight"));
  clnet_st_free(f);
}

Test(io, safetensors_exact_bytes) {
  const float w[2] = {1.0f, -2.0f};
  const int64_t step = 7;
  clnet_st_tensor t[2] = {
      {.name = "w", .dtype = CLNET_DTYPE_F32, .ndim = 1, .shape = {2}, .data = w},
      {.name = "step", .dtype = CLNET_DTYPE_I64, .ndim = 0, .data = &step},
  };
  const char *keys[] = {"epoch"};
  const char *vals[] = {"3"};
  const char *path = tpath("tiny.safetensors");
  cr_assert_eq(clnet_safetensors_write(path, t, 2, keys, vals, 1), CLNET_SUCCESS, "%s",
               clnet_last_error());

  /* Expected: 8-byte types first in the data section, so "step" at [0, 8)
   * and "w" at [8, 16); the header keeps the caller's order. */
  unsigned char data[16];
  memcpy(data, &step, 8);
  memcpy(data + 8, w, 8);
  /* Little-endian bytes, spelled out. */
  static const unsigned char data_le[16] = {7, 0, 0, 0, 0, 0, 0, 0,            /* int64 7 */
                                            0x00, 0x00, 0x80, 0x3f,            /* 1.0f */
                                            0x00, 0x00, 0x00, 0xc0};           /* -2.0f */
  cr_assert_eq(memcmp(data, data_le, 16), 0);
  unsigned long crc = crc32(0L, data_le, 16) & 0xffffffffUL;
  char json[512];
  int jn = snprintf(json, sizeof json,
                    "{\"__metadata__\":{\"epoch\":\"3\",\"clnet.crc32\":\"%08lx\"},"
                    "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
                    "\"step\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]}}",
                    crc);
  /* By hand: {"__metadata__":{ 17, "epoch":"3", 12, "clnet.crc32":"xxxxxxxx" 24,
   * }, 2, "w":{ 5, "dtype":"F32", 14, "shape":[2], 12, "data_offsets":[8,16] 21,
   * }, 2, "step":{ 8, "dtype":"I64", 14, "shape":[], 11, "data_offsets":[0,8] 20,
   * }} 2 = 164 bytes, padded with 4 spaces to 168 = 21 * 8. */
  cr_assert_eq(jn, 164, "hand-computed JSON length");
  size_t header_len = 168;
  memset(json + jn, ' ', header_len - (size_t)jn);

  size_t len;
  unsigned char *got = slurp(path, &len);
  cr_assert_eq(len, 8 + header_len + 16, "file is %zu bytes", len);
  static const unsigned char len_le[8] = {168, 0, 0, 0, 0, 0, 0, 0};
  cr_assert_eq(memcmp(got, len_le, 8), 0, "header length field");
  cr_assert_eq(memcmp(got + 8, json, header_len), 0, "header JSON:\n got '%.*s'\nwant '%.*s'",
               (int)header_len, (const char *)got + 8, (int)header_len, json);
  cr_assert_eq(memcmp(got + 8 + header_len, data_le, 16), 0, "data section");
  free(got);
}

/* A file written by another tool: no checksum, misaligned 8-byte tensor,
 * header without padding, extra whitespace. */
Test(io, safetensors_foreign_file) {
  unsigned char data[12];
  float f1 = 0.5f;
  int64_t big = -123456789012345LL;
  memcpy(data, &f1, 4);
  memcpy(data + 4, &big, 8);
  const char *path = tpath("foreign.safetensors");
  write_raw_st(path,
               "{ \"b\" : {\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[4,12]},\n"
               "  \"a\": {\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]} } \n",
               data, 12);
  clnet_st_file *f = NULL;
  cr_assert_eq(clnet_safetensors_read(path, &f), CLNET_SUCCESS, "%s", clnet_last_error());
  const clnet_st_tensor *b = clnet_st_find(f, "b");
  cr_assert_not_null(b);
  cr_assert_eq((uintptr_t)b->data % 8, 0, "I64 data must be realigned");
  cr_assert_eq(*(const int64_t *)b->data, big);
  cr_assert_eq(*(const float *)clnet_st_find(f, "a")->data, 0.5f);
  cr_assert_null(clnet_st_meta(f, CLNET_ST_CRC_KEY));
  clnet_st_free(f);
}

/* ------------------------------------------------------------------------- */
/* safetensors: malformed input                                               */
/* ------------------------------------------------------------------------- */

Test(io, safetensors_every_truncation_rejected) {
  const char *path = write_small_valid("full.safetensors");
  size_t len;
  unsigned char *full = slurp(path, &len);
  const char *cut = tpath("cut.safetensors");
  for (size_t n = 0; n < len; n++) {
    spit(cut, full, n);
    clnet_st_file *f = NULL;
    clnet_status st = clnet_safetensors_read(cut, &f);
    cr_assert_eq(st, CLNET_ERR_FORMAT, "prefix of %zu/%zu bytes: got %s (%s)", n, len,
                 clnet_status_str(st), clnet_last_error());
    cr_assert_null(f);
    cr_assert(strstr(clnet_last_error(), cut) != NULL, "prefix %zu: '%s'", n, clnet_last_error());
  }
  /* And one byte too many. */
  unsigned char *longer = malloc(len + 1);
  memcpy(longer, full, len);
  longer[len] = 0;
  spit(cut, longer, len + 1);
  expect_read_fails(cut, CLNET_ERR_FORMAT, "cover");
  free(longer);
  free(full);
}

/* Random byte mutations (fixed seed): every result is a clean success or a
 * one-line CLNET_ERR_FORMAT naming the file; run under ASan to catch the rest. */
Test(io, safetensors_random_mutations) {
  const char *path = write_small_valid("seed.safetensors");
  size_t len;
  unsigned char *orig = slurp(path, &len);
  unsigned char *buf = malloc(len);
  const char *mut = tpath("mut.safetensors");
  const unsigned seed = 20240611u;
  uint32_t state = seed;
  int ok = 0;
  for (int iter = 0; iter < 3000; iter++) {
    memcpy(buf, orig, len);
    int edits = 1 + iter % 3;
    for (int e = 0; e < edits; e++) {
      state = state * 1664525u + 1013904223u;
      size_t at = (state >> 8) % len;
      state = state * 1664525u + 1013904223u;
      static const char interesting[] = "{}[]\",:0123456789-.e \\\x00\xff";
      buf[at] = (state >> 24) & 1 ? (unsigned char)(state >> 8)
                                  : (unsigned char)interesting[(state >> 12) % (sizeof interesting - 1)];
    }
    spit(mut, buf, len);
    clnet_st_file *f = NULL;
    clnet_status st = clnet_safetensors_read(mut, &f);
    if (st == CLNET_SUCCESS) {
      ok++;
      cr_assert_not_null(f);
      for (int32_t i = 0; i < clnet_st_count(f); i++) cr_assert_not_null(clnet_st_get(f, i)->data);
      clnet_st_free(f);
    } else {
      cr_assert_eq(st, CLNET_ERR_FORMAT, "seed %u iter %d: %s (%s)", seed, iter,
                   clnet_status_str(st), clnet_last_error());
      cr_assert_null(f);
      cr_assert(strstr(clnet_last_error(), mut) != NULL, "seed %u iter %d: '%s'", seed, iter,
                clnet_last_error());
      cr_assert(strchr(clnet_last_error(), '\n') == NULL, "seed %u iter %d: '%s'", seed, iter,
                clnet_last_error());
    }
  }
  cr_log_info("%d of 3000 mutated files still valid", ok);
  free(buf);
  free(orig);
}

Test(io, safetensors_checksum_mismatch) {
  const char *path = write_small_valid("crc.safetensors");
  size_t len;
  unsigned char *buf = slurp(path, &len);
  buf[len - 3] ^= 0x10; /* one bit in the data section */
  const char *bad = tpath("crc_bad.safetensors");
  spit(bad, buf, len);
  expect_read_fails(bad, CLNET_ERR_FORMAT, "checksum mismatch, file is corrupt");

  /* A damaged checksum text is caught too. */
  buf[len - 3] ^= 0x10;
  char *p = find_bytes(buf, len, "clnet.crc32\":\"");
  cr_assert_not_null(p);
  p[14] = p[14] == 'z' ? 'y' : 'z';
  spit(bad, buf, len);
  expect_read_fails(bad, CLNET_ERR_FORMAT, "not 8 hex digits");
  p[14] = p[14] == '0' ? '1' : '0';
  spit(bad, buf, len);
  expect_read_fails(bad, CLNET_ERR_FORMAT, "checksum mismatch");
  free(buf);
}

typedef struct bad_case {
  const char *header;
  size_t data_len;
  const char *needle;
} bad_case;

Test(io, safetensors_malformed_headers) {
  static const bad_case cases[] = {
      {"{not json}", 0, "not valid JSON"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 4, "not valid JSON"},
      {"[1, 2, 3]", 0, "start with '{'"},
      {"{}  x", 0, "after the JSON object"},
      {"{} {}", 0, "after the JSON object"},
      {"{\"a\":5}", 0, "not a JSON object"},
      {"{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "dtype"},
      {"{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "F16"},
      {"{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "dtype"},
      {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "shape"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "shape[0]"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "shape[0]"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, "shape[0]"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
       "9 dimensions"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4,
       "overflows"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[9007199254740992,9007199254740992],"
       "\"data_offsets\":[0,4]}}",
       4, "overflows"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,4]}}", 4, "shape[0]"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "data_offsets"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "data_offsets"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4, "data_offsets"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, "data_offsets"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "backwards"},
      /* offsets out of range */
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "outside"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[1000000,1000004]}}", 8, "outside"},
      /* wrong sizes */
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 12"},
      {"{\"a\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "needs 16"},
      /* overlapping */
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
       12, "overlaps"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
       8, "overlaps"},
      /* gaps and tails */
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "belong to no tensor"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "cover"},
      /* names and metadata */
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
       "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
       8, "duplicate tensor name"},
      {"{\"__metadata__\":{\"k\":1}}", 0, "not a string"},
      {"{\"__metadata__\":[]}", 0, "not a JSON object"},
      {"{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"}}", 0, "duplicate metadata key"},
      {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, "two"},
      {"{\"__metadata__\":{\"clnet.crc32\":\"123\"}}", 0, "not 8 hex digits"},
  };
  const char *path = tpath("bad.safetensors");
  unsigned char zeros[64] = {0};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    write_raw_st(path, cases[i].header, zeros, cases[i].data_len);
    expect_read_fails(path, CLNET_ERR_FORMAT, cases[i].needle);
  }
}

Test(io, safetensors_bad_lengths) {
  const char *path = tpath("len.safetensors");
  /* Huge header length. */
  unsigned char buf[64] = {0};
  for (int b = 0; b < 8; b++) buf[b] = 0xff;
  memcpy(buf + 8, "{}", 2);
  spit(path, buf, 16);
  expect_read_fails(path, CLNET_ERR_FORMAT, "limit");
  /* Header length just past the end of the file. */
  memset(buf, 0, 8);
  buf[0] = 9;
  spit(path, buf, 16);
  expect_read_fails(path, CLNET_ERR_FORMAT, "past the end");
  /* 200 MB claimed in a small file. */
  buf[0] = 0x00, buf[1] = 0xc2, buf[2] = 0xeb, buf[3] = 0x0b;
  spit(path, buf, 16);
  expect_read_fails(path, CLNET_ERR_FORMAT, "limit");
  /* Zero-length header, tiny files. */
  memset(buf, 0, 8);
  spit(path, buf, 8);
  expect_read_fails(path, CLNET_ERR_FORMAT, "cannot hold");
  spit(path, buf, 3);
  expect_read_fails(path, CLNET_ERR_FORMAT, "too short");
  spit(path, buf, 0);
  expect_read_fails(path, CLNET_ERR_FORMAT, "too short");
  /* NUL inside the header. */
  buf[0] = 8;
  memcpy(buf + 8, "{}\0     ", 8);
  spit(path, buf, 16);
  expect_read_fails(path, CLNET_ERR_FORMAT, "NUL");
  /* Missing file, directory. */
  expect_read_fails(tpath("missing.safetensors"), CLNET_ERR_IO, "No such file");
  expect_read_fails(tmp_dir, CLNET_ERR_IO, NULL);
}

/* ------------------------------------------------------------------------- */
/* safetensors: writer arguments and atomicity                                */
/* ------------------------------------------------------------------------- */

Test(io, safetensors_write_rejects_bad_arguments) {
  float x[2] = {1, 2};
  const char *path = tpath("args.safetensors");
  clnet_st_tensor dup[2] = {
      {.name = "a", .dtype = CLNET_DTYPE_F32, .ndim = 1, .shape = {2}, .data = x},
      {.name = "a", .dtype = CLNET_DTYPE_F32, .ndim = 1, .shape = {2}, .data = x},
  };
  cr_assert_eq(clnet_safetensors_write(path, dup, 2, NULL, NULL, 0), CLNET_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(clnet_last_error(), "duplicate") != NULL, "%s", clnet_last_error());

  clnet_st_tensor t = {.name = "a", .dtype = CLNET_DTYPE_F32, .ndim = 1, .shape = {2}, .data = NULL};
  cr_assert_eq(clnet_safetensors_write(path, &t, 1, NULL, NULL, 0), CLNET_ERR_INVALID_ARGUMENT);
  t.data = x;
  t.ndim = 9;
  cr_assert_eq(clnet_safetensors_write(path, &t, 1, NULL, NULL, 0), CLNET_ERR_INVALID_ARGUMENT);
  t.ndim = 1;
  t.shape[0] = -2;
  cr_assert_eq(clnet_safetensors_write(path, &t, 1, NULL, NULL, 0), CLNET_ERR_INVALID_ARGUMENT);
  t.shape[0] = 2;
  t.name = "__metadata__";
  cr_assert_eq(clnet_safetensors_write(path, &t, 1, NULL, NULL, 0), CLNET_ERR_INVALID_ARGUMENT);
  t.name = "a";
  t.dtype = (clnet_dtype)99;
  cr_assert_eq(clnet_safetensors_write(path, &t, 1, NULL, NULL, 0), CLNET_ERR_INVALID_ARGUMENT);
  t.dtype = CLNET_DTYPE_F32;
  const char *k[] = {CLNET_ST_CRC_KEY}, *v[] = {"00000000"};
  cr_assert_eq(clnet_safetensors_write(path, &t, 1, k, v, 1), CLNET_ERR_INVALID_ARGUMENT);
  const char *k2[] = {"x", "x"}, *v2[] = {"1", "2"};
  cr_assert_eq(clnet_safetensors_write(path, &t, 1, k2, v2, 2), CLNET_ERR_INVALID_ARGUMENT);
  t.ndim = 2;
  t.shape[0] = INT64_MAX / 2;
  t.shape[1] = 4;
  cr_assert_eq(clnet_safetensors_write(path, &t, 1, NULL, NULL, 0), CLNET_ERR_TOO_LARGE);
  cr_assert_eq(count_dir_entries(), 0, "nothing may be created on bad arguments");
}

Test(io, safetensors_write_missing_directory) {
  float x[2] = {1, 2};
  clnet_st_tensor t = {.name = "a", .dtype = CLNET_DTYPE_F32, .ndim = 1, .shape = {2}, .data = x};
  const char *path = "/nonexistent-clnet-dir/ckpt.safetensors";
  cr_assert_eq(clnet_safetensors_write(path, &t, 1, NULL, NULL, 0), CLNET_ERR_IO);
  cr_assert(strstr(clnet_last_error(), path) != NULL, "%s", clnet_last_error());
  cr_assert(strstr(clnet_last_error(), strerror(ENOENT)) != NULL, "%s", clnet_last_error());

  /* A path through a regular file. */
  spit(tpath("plain"), "x", 1);
  const char *through = tpath("plain/ckpt.safetensors");
  cr_assert_eq(clnet_safetensors_write(through, &t, 1, NULL, NULL, 0), CLNET_ERR_IO);
  cr_assert(strstr(clnet_last_error(), through) != NULL, "%s", clnet_last_error());
  cr_assert(strstr(clnet_last_error(), strerror(ENOTDIR)) != NULL, "%s", clnet_last_error());
}

Test(io, safetensors_write_unwritable_dir_keeps_old_file) {
  const char *path = write_small_valid("keep.safetensors");
  size_t old_len;
  unsigned char *old = slurp(path, &old_len);
  float x[2] = {1, 2};
  clnet_st_tensor t = {.name = "a", .dtype = CLNET_DTYPE_F32, .ndim = 1, .shape = {2}, .data = x};
  cr_assert_eq(chmod(tmp_dir, 0500), 0);
  if (access(tmp_dir, W_OK) == 0) {
    free(old);
    dir_teardown(); /* a skipped test does not reach .fini */
    cr_skip_test("running with privileges that ignore directory permissions");
  }
  clnet_status st = clnet_safetensors_write(path, &t, 1, NULL, NULL, 0);
  chmod(tmp_dir, 0700);
  cr_assert_eq(st, CLNET_ERR_IO, "%s", clnet_status_str(st));
  cr_assert(strstr(clnet_last_error(), path) != NULL, "%s", clnet_last_error());
  cr_assert(strstr(clnet_last_error(), strerror(EACCES)) != NULL, "%s", clnet_last_error());
  size_t now_len;
  unsigned char *now = slurp(path, &now_len);
  cr_assert_eq(now_len, old_len);
  cr_assert_eq(memcmp(now, old, old_len), 0, "existing file was modified");
  free(now);
  free(old);
}

/* Disk full, simulated with a file-size limit: the write fails, the temporary
 * file is removed and the existing checkpoint is untouched. */
Test(io, safetensors_write_disk_full_keeps_old_file) {
  const char *path = write_small_valid("full.safetensors");
  size_t old_len;
  unsigned char *old = slurp(path, &old_len);
  enum { N = 1 << 16 };
  float *big = calloc(N, sizeof *big);
  clnet_st_tensor t = {.name = "big", .dtype = CLNET_DTYPE_F32, .ndim = 1, .shape = {N}, .data = big};
  signal(SIGXFSZ, SIG_IGN);
  struct rlimit rl;
  cr_assert_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
  struct rlimit small = {.rlim_cur = 4096, .rlim_max = rl.rlim_max};
  cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
  clnet_status st = clnet_safetensors_write(path, &t, 1, NULL, NULL, 0);
  setrlimit(RLIMIT_FSIZE, &rl);
  cr_assert_eq(st, CLNET_ERR_IO, "%s", clnet_status_str(st));
  cr_assert(strstr(clnet_last_error(), path) != NULL, "%s", clnet_last_error());
  cr_assert(strstr(clnet_last_error(), strerror(EFBIG)) != NULL, "%s", clnet_last_error());
  cr_assert_eq(count_dir_entries(), 1, "temporary file left behind");
  size_t now_len;
  unsigned char *now = slurp(path, &now_len);
  cr_assert_eq(now_len, old_len);
  cr_assert_eq(memcmp(now, old, old_len), 0, "existing file was modified");
  clnet_st_file *f = NULL;
  cr_assert_eq(clnet_safetensors_read(path, &f), CLNET_SUCCESS, "%s", clnet_last_error());
  clnet_st_free(f);
  free(now);
  free(old);
  free(big);
}

/* ------------------------------------------------------------------------- */
/* history                                                                    */
/* ------------------------------------------------------------------------- */

static clnet_epoch_record sample_record(int32_t epoch) {
  clnet_epoch_record r = {
      .epoch = epoch,
      .loss = 2.0 / (epoch + 1) + 0.1,
      .accuracy = 1.0 - 0.9 / (epoch + 1),
      .val_loss = 2.2 / (epoch + 1) + 0.3,
      .val_accuracy = 0.95 - 0.9 / (epoch + 2),
      .seconds = 31.25 + epoch * 1e-3,
      .images_per_s = 1600.0 / 3.0,
      .lr = 1e-3 / epoch,
  };
  return r;
}

static void assert_same_double(double a, double b, const char *what, int row) {
  if (isnan(a) || isnan(b))
    cr_assert(isnan(a) && isnan(b), "row %d %s: %g vs %g", row, what, a, b);
  else
    cr_assert(a == b, "row %d %s: %.17g vs %.17g", row, what, a, b);
}

Test(io, history_append_and_csv_round_trip) {
  clnet_history h = {0};
  for (int e = 1; e <= 12; e++) {
    clnet_epoch_record r = sample_record(e);
    cr_assert_eq(clnet_history_append(&h, &r), CLNET_SUCCESS, "%s", clnet_last_error());
  }
  h.rows[3].val_loss = NAN;
  h.rows[4].loss = INFINITY;
  h.rows[5].loss = -INFINITY;
  h.rows[6].accuracy = 0.0;
  h.rows[7].seconds = 5e-324;
  clnet_epoch_record bad = sample_record(14);
  cr_assert_eq(clnet_history_append(&h, &bad), CLNET_ERR_INVALID_ARGUMENT, "gap must be refused");
  bad.epoch = 12;
  cr_assert_eq(clnet_history_append(&h, &bad), CLNET_ERR_INVALID_ARGUMENT, "repeat refused");
  cr_assert_eq(h.count, 12);

  const char *path = tpath("history.csv");
  cr_assert_eq(clnet_history_write_csv(&h, path), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(count_dir_entries(), 1);
  size_t len;
  char *text = (char *)slurp(path, &len);
  text[len] = '\0';
  const char *hdr = "epoch,loss,accuracy,val_loss,val_accuracy,seconds,images_per_s,lr\n";
  cr_assert_eq(strncmp(text, hdr, strlen(hdr)), 0, "header: %s", text);
  cr_assert(strstr(text, "\n4,") != NULL && strstr(text, ",nan,") != NULL, "%s", text);
  cr_assert(strstr(text, "\n5,inf,") != NULL && strstr(text, "\n6,-inf,") != NULL, "%s", text);
  free(text);

  /* Read into a history that already holds rows: they are replaced. */
  clnet_history back = {0};
  clnet_epoch_record r0 = sample_record(0);
  cr_assert_eq(clnet_history_append(&back, &r0), CLNET_SUCCESS);
  cr_assert_eq(clnet_history_read_csv(path, &back), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(back.count, h.count);
  for (int i = 0; i < h.count; i++) {
    const clnet_epoch_record *a = &h.rows[i], *b = &back.rows[i];
    cr_assert_eq(a->epoch, b->epoch);
    assert_same_double(a->loss, b->loss, "loss", i);
    assert_same_double(a->accuracy, b->accuracy, "accuracy", i);
    assert_same_double(a->val_loss, b->val_loss, "val_loss", i);
    assert_same_double(a->val_accuracy, b->val_accuracy, "val_accuracy", i);
    assert_same_double(a->seconds, b->seconds, "seconds", i);
    assert_same_double(a->images_per_s, b->images_per_s, "images_per_s", i);
  }
  /* Resuming continues the numbering. */
  clnet_epoch_record next = sample_record(13);
  cr_assert_eq(clnet_history_append(&back, &next), CLNET_SUCCESS, "%s", clnet_last_error());

  /* An empty history writes and reads back as the header alone. */
  clnet_history empty = {0};
  cr_assert_eq(clnet_history_write_csv(&empty, path), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_history_read_csv(path, &back), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(back.count, 0);

  /* CRLF line endings are accepted. */
  const char *crlf = "epoch,loss,accuracy,val_loss,val_accuracy,seconds,images_per_s\r\n"
                     "0,1.5,0.25,1.75,0.2,10,500\r\n1,1.25,0.5,1.5,0.4,10,500\r\n";
  spit(path, crlf, strlen(crlf));
  cr_assert_eq(clnet_history_read_csv(path, &back), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(back.count, 2);
  cr_assert_eq(back.rows[1].accuracy, 0.5);
  /* a file from before the lr column (this header) reads back with lr = NaN */
  cr_assert(isnan(back.rows[0].lr) && isnan(back.rows[1].lr));

  clnet_history_free(&back);
  clnet_history_free(&h);
  cr_assert_null(h.rows);
  cr_assert_eq(h.count, 0);
  clnet_history_free(NULL);
}

Test(io, history_malformed_csv) {
#define HDR "epoch,loss,accuracy,val_loss,val_accuracy,seconds,images_per_s\n"
  static const struct {
    const char *text;
    const char *needle;
  } cases[] = {
      {"", "empty"},
      {"epoch,loss\n", "header"},
      {"Epoch,loss,accuracy,val_loss,val_accuracy,seconds,images_per_s\n", "header"},
      {HDR "1,0.5,0.5,0.5,0.5,1\n", ":2: expected 7"},
      {"epoch,loss,accuracy,val_loss,val_accuracy,seconds,images_per_s,lr\n1,0.5,0.5,0.5,0.5,1,2\n", ":2: expected 8"},
      {HDR "1,0.5,0.5,0.5,0.5,1,2,3\n", ":2: expected 7"},
      {HDR "1,0.5,0.9x,0.5,0.5,1,2\n", "field 3 (accuracy) is not a number: '0.9x'"},
      {HDR "1,0.5,,0.5,0.5,1,2\n", "field 3 (accuracy)"},
      {HDR "1, 0.5,0.5,0.5,0.5,1,2\n", "field 2 (loss)"},
      {HDR "1,0.5,0.5,0.5,0.5,1,2 \n", "field 7 (images_per_s)"},
      {HDR "1,0.5,0.5,0.5,0.5,1,1e999\n", "field 7"},
      {HDR "x,0.5,0.5,0.5,0.5,1,2\n", "field 1 (epoch)"},
      {HDR "-1,0.5,0.5,0.5,0.5,1,2\n", "field 1 (epoch)"},
      {HDR "1.5,0.5,0.5,0.5,0.5,1,2\n", "field 1 (epoch)"},
      {HDR "99999999999,0.5,0.5,0.5,0.5,1,2\n", "field 1 (epoch)"},
      {HDR "1,0.5,0.5,0.5,0.5,1,2\n3,0.5,0.5,0.5,0.5,1,2\n", ":3: epoch 3 does not follow epoch 1"},
      {HDR "2,0.5,0.5,0.5,0.5,1,2\n2,0.5,0.5,0.5,0.5,1,2\n", "does not follow"},
      {HDR "1,0.5,0.5,0.5,0.5,1,2\n\n2,0.5,0.5,0.5,0.5,1,2\n", ":3: empty line"},
      {HDR "1;0.5;0.5;0.5;0.5;1;2\n", "expected 7"},
  };
  const char *path = tpath("bad.csv");
  clnet_history h = {0};
  clnet_epoch_record r = sample_record(5);
  cr_assert_eq(clnet_history_append(&h, &r), CLNET_SUCCESS);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    spit(path, cases[i].text, strlen(cases[i].text));
    clnet_status st = clnet_history_read_csv(path, &h);
    cr_assert_eq(st, CLNET_ERR_FORMAT, "case %zu: got %s", i, clnet_status_str(st));
    const char *msg = clnet_last_error();
    cr_assert(strstr(msg, path) != NULL, "case %zu: '%s'", i, msg);
    cr_assert(strstr(msg, cases[i].needle) != NULL, "case %zu: '%s' lacks '%s'", i, msg,
              cases[i].needle);
    cr_assert(strchr(msg, '\n') == NULL, "case %zu: multi-line message", i);
    cr_assert_eq(h.count, 1, "a failed read must leave the history unchanged");
    cr_assert_eq(h.rows[0].epoch, 5);
  }
  /* A NUL byte and an overlong line. */
  char nul[] = HDR "1,0.5,0.5,0.5,0.5,1,2\n";
  nul[strlen(HDR) + 3] = '\0';
  spit(path, nul, sizeof nul - 1);
  cr_assert_eq(clnet_history_read_csv(path, &h), CLNET_ERR_FORMAT);
  cr_assert(strstr(clnet_last_error(), "NUL") != NULL, "%s", clnet_last_error());
  size_t big = 10000;
  char *longline = malloc(strlen(HDR) + big + 2);
  strcpy(longline, HDR);
  memset(longline + strlen(HDR), '1', big);
  longline[strlen(HDR) + big] = '\0';
  spit(path, longline, strlen(longline));
  cr_assert_eq(clnet_history_read_csv(path, &h), CLNET_ERR_FORMAT);
  cr_assert(strstr(clnet_last_error(), "longer than") != NULL, "%s", clnet_last_error());
  free(longline);
  /* Missing file; unwritable target. */
  const char *missing = tpath("missing.csv");
  cr_assert_eq(clnet_history_read_csv(missing, &h), CLNET_ERR_IO);
  cr_assert(strstr(clnet_last_error(), missing) != NULL, "%s", clnet_last_error());
  cr_assert_eq(clnet_history_write_csv(&h, "/nonexistent-clnet-dir/h.csv"), CLNET_ERR_IO);
  cr_assert(strstr(clnet_last_error(), "/nonexistent-clnet-dir/h.csv") != NULL, "%s",
            clnet_last_error());
  clnet_history_free(&h);
#undef HDR
}

/* ------------------------------------------------------------------------- */
/* curves figure                                                              */
/* ------------------------------------------------------------------------- */

static void assert_png_width(const char *path, uint32_t width) {
  size_t len;
  unsigned char *png = slurp(path, &len);
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  cr_assert_geq(len, 2000, "%s is only %zu bytes", path, len);
  cr_assert_leq(len, 8u << 20, "%s is %zu bytes", path, len);
  cr_assert_eq(memcmp(png, sig, 8), 0, "PNG signature");
  cr_assert_eq(memcmp(png + 12, "IHDR", 4), 0);
  uint32_t w = (uint32_t)png[16] << 24 | (uint32_t)png[17] << 16 | (uint32_t)png[18] << 8 | png[19];
  uint32_t hgt = (uint32_t)png[20] << 24 | (uint32_t)png[21] << 16 | (uint32_t)png[22] << 8 | png[23];
  cr_assert_eq(w, width, "width %u, expected %u", w, width);
  cr_assert_eq(hgt, 500, "height %u", hgt);
  cr_assert_eq(memcmp(png + len - 8, "IEND", 4), 0, "PNG must end with IEND");
  free(png);
}

/* with learning rates: three panels, 2100 pixels wide; without (older histories): two, 1500 */
static void assert_png(const char *path) { assert_png_width(path, 2100); }

Test(io, history_plot, .init = cr_redirect_stderr) {
  clnet_history h = {0};
  clnet_epoch_record r = sample_record(1);
  cr_assert_eq(clnet_history_append(&h, &r), CLNET_SUCCESS);
  const char *one = tpath("one.png");
  cr_assert_eq(clnet_history_plot(&h, one), CLNET_SUCCESS, "%s", clnet_last_error());
  assert_png(one);

  for (int e = 2; e <= 25; e++) {
    r = sample_record(e);
    cr_assert_eq(clnet_history_append(&h, &r), CLNET_SUCCESS);
  }
  h.rows[10].val_loss = NAN; /* a hole in one line */
  const char *many = tpath("curves.png");
  for (int k = 0; k < 3; k++) {
    cr_assert_eq(clnet_history_plot(&h, many), CLNET_SUCCESS, "call %d: %s", k, clnet_last_error());
    assert_png(many);
  }
  cr_assert_eq(count_dir_entries(), 2, "temporary files left behind");

  /* Failures are reported, never fatal. */
  cr_assert_eq(clnet_history_plot(&h, "/nonexistent-clnet-dir/c.png"), CLNET_ERR_IO);
  cr_assert(strstr(clnet_last_error(), "/nonexistent-clnet-dir/c.png") != NULL, "%s",
            clnet_last_error());
  for (int32_t i = 0; i < h.count; ++i) h.rows[i].lr = NAN;
  cr_assert_eq(clnet_history_plot(&h, many), CLNET_SUCCESS, "%s", clnet_last_error());
  assert_png_width(many, 1500);
  clnet_history empty = {0};
  cr_assert_eq(clnet_history_plot(&empty, many), CLNET_ERR_INVALID_ARGUMENT);
  cr_assert_eq(clnet_history_plot(&h, many), CLNET_SUCCESS, "after a failure: %s",
               clnet_last_error());
  clnet_history_free(&h);

  fflush(stderr);
  cr_assert_stderr_eq_str("", "the library must not print");
}
