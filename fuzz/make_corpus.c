/* Writes the fuzz harnesses' seed corpus: small valid files and near-valid
 * ones (one field wrong), one directory per harness.
 *
 *   fuzz_make_corpus OUT_DIR     writes OUT_DIR/<reader>/<name> (OUT_DIR/<reader>
 *                                must exist; scripts/fuzz.sh --make-corpus
 *                                runs it on fuzz/corpus)
 * The output is deterministic: fixed contents, gzip with no name and mtime 0,
 * safetensors and history files written by clnet's own writers. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <png.h>
#include <turbojpeg.h>
#include <zlib.h>

#include "tune/clblast_tune.h"
#include "clnet/graph.h"
#include "clnet/io.h"
#include "clnet/onnx.h"
#include "clnet/runtime.h"

static const char *out_dir;
static int failures;

static void put(const char *reader, const char *name, const void *data, size_t n) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s/%s", out_dir, reader, name);
  FILE *f = fopen(path, "wb");
  if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
    fprintf(stderr, "make_corpus: cannot write %s\n", path);
    failures++;
  }
}

static void put_str(const char *reader, const char *name, const char *s) { put(reader, name, s, strlen(s)); }

/* Whole file into a malloc'd buffer; NULL on failure. */
static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char *buf = malloc(1 << 20);
  *n = buf ? fread(buf, 1, 1 << 20, f) : 0;
  fclose(f);
  return buf;
}

/* gzip (RFC 1952, no name, mtime 0) of in[0..n) into out; returns its length. */
static size_t gzip(const unsigned char *in, size_t n, unsigned char *out, size_t cap) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return 0;
  z.next_in = (unsigned char *)in;
  z.avail_in = (uInt)n;
  z.next_out = out;
  z.avail_out = (uInt)cap;
  int rc = deflate(&z, Z_FINISH);
  size_t len = z.total_out;
  deflateEnd(&z);
  return rc == Z_STREAM_END ? len : 0;
}

static void be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

/* ---- IDX: u32 LE length of the images file | images file | labels file ---- */

/* An IDX images file (count, rows, cols) with a fixed pattern; returns its length. */
static size_t idx_images(unsigned char *p, uint32_t magic, uint32_t count, uint32_t rows, uint32_t cols) {
  be32(p, magic);
  be32(p + 4, count);
  be32(p + 8, rows);
  be32(p + 12, cols);
  size_t n = (size_t)count * rows * cols;
  for (size_t i = 0; i < n; i++) p[16 + i] = (unsigned char)(i * 37 + 11);
  return 16 + n;
}

static size_t idx_labels(unsigned char *p, uint32_t count, unsigned char first_label) {
  be32(p, 0x00000801u);
  be32(p + 4, count);
  for (uint32_t i = 0; i < count; i++) p[8 + i] = (unsigned char)((first_label + i) % 10);
  if (first_label >= 10 && count > 0) p[8] = first_label;
  return 8 + count;
}

static void idx_pair(const char *name, const unsigned char *im, size_t n_im, const unsigned char *lb,
                     size_t n_lb) {
  static unsigned char buf[65536];
  buf[0] = (unsigned char)n_im;
  buf[1] = (unsigned char)(n_im >> 8);
  buf[2] = (unsigned char)(n_im >> 16);
  buf[3] = (unsigned char)(n_im >> 24);
  memcpy(buf + 4, im, n_im);
  memcpy(buf + 4 + n_im, lb, n_lb);
  put("idx", name, buf, 4 + n_im + n_lb);
}

static void make_idx(void) {
  static unsigned char im[8192], lb[256], gim[8192], glb[1024];
  size_t n_im = idx_images(im, 0x00000803u, 3, 5, 7);
  size_t n_lb = idx_labels(lb, 3, 4);
  idx_pair("plain_valid", im, n_im, lb, n_lb);
  size_t n_gim = gzip(im, n_im, gim, sizeof gim), n_glb = gzip(lb, n_lb, glb, sizeof glb);
  idx_pair("gzip_valid", gim, n_gim, glb, n_glb);
  idx_pair("gzip_images_plain_labels", gim, n_gim, lb, n_lb);
  idx_pair("plain_images_gzip_labels", im, n_im, glb, n_glb);
  idx_pair("gzip_truncated", gim, n_gim - 6, glb, n_glb);
  idx_pair("gzip_header_only", gim, 10, lb, n_lb);
  idx_pair("plain_truncated", im, n_im - 1, lb, n_lb);
  im[n_im] = 0;
  idx_pair("plain_trailing_byte", im, n_im + 1, lb, n_lb);
  idx_pair("swapped", lb, n_lb, im, n_im);
  idx_pair("short_header", im, 9, lb, n_lb);
  n_lb = idx_labels(lb, 3, 10);
  idx_pair("label_10", im, n_im, lb, n_lb);
  n_lb = idx_labels(lb, 2, 0);
  idx_pair("count_mismatch", im, n_im, lb, n_lb);
  n_lb = idx_labels(lb, 1, 9);
  n_im = idx_images(im, 0x00000803u, 1, 28, 28);
  idx_pair("one_28x28", im, n_im, lb, n_lb);
  n_im = idx_images(im, 0x00000803u, 1, 0, 7);
  idx_pair("zero_rows", im, n_im, lb, n_lb);
  n_im = idx_images(im, 0x00000c03u, 1, 2, 2);
  idx_pair("float_type", im, n_im, lb, n_lb);
  /* a gzip stream that declares far more than it holds */
  be32(im, 0x00000803u);
  be32(im + 4, 1);
  be32(im + 8, 60000);
  be32(im + 12, 60000);
  n_gim = gzip(im, 16, gim, sizeof gim);
  idx_pair("gzip_huge_declared", gim, n_gim, lb, n_lb);
}

/* ---- CIFAR-10: 3,073-byte records ---- */

static void make_cifar10(void) {
  static unsigned char rec[3 * 3073 + 1];
  for (size_t i = 0; i < sizeof rec; i++) rec[i] = (unsigned char)(i * 13 + 5);
  rec[0] = 3;
  rec[3073] = 9;
  rec[2 * 3073] = 0;
  put("cifar10", "one_record", rec, 3073);
  put("cifar10", "two_records", rec, 2 * 3073);
  put("cifar10", "short_record", rec, 3072);
  put("cifar10", "record_and_a_byte", rec, 3074);
  put("cifar10", "empty", rec, 0);
  rec[3073] = 10;
  put("cifar10", "label_10_in_second", rec, 2 * 3073);
  unsigned char gz[4096];
  rec[3073] = 9;
  size_t n = gzip(rec, 3073, gz, sizeof gz);
  put("cifar10", "gzipped", gz, n);
}

/* ---- safetensors ---- */

static void st_write(const char *reader, const char *name, const clnet_st_tensor *t, int32_t nt,
                     const char *const *keys, const char *const *vals, int32_t nm) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s/%s", out_dir, reader, name);
  if (clnet_safetensors_write(path, t, nt, keys, vals, nm) != CLNET_SUCCESS) {
    fprintf(stderr, "make_corpus: %s\n", clnet_last_error());
    failures++;
  }
}

/* A hand-written file: u64 LE header length | header | data. */
static void st_raw(const char *name, const char *header, const unsigned char *data, size_t n) {
  static unsigned char buf[8192];
  size_t h = strlen(header);
  for (int b = 0; b < 8; b++) buf[b] = (unsigned char)((uint64_t)h >> (8 * b));
  memcpy(buf + 8, header, h);
  memcpy(buf + 8 + h, data, n);
  put("safetensors", name, buf, 8 + h + n);
}

static void make_safetensors(void) {
  float w[6] = {1, -2, 3.5f, 0, 1e-3f, -7};
  int64_t step = 42;
  int32_t i = 7;
  clnet_st_tensor t[4] = {
      {.name = "w", .dtype = CLNET_DTYPE_F32, .ndim = 2, .shape = {2, 3}, .data = w},
      {.name = "adam.step", .dtype = CLNET_DTYPE_I64, .ndim = 1, .shape = {1}, .data = &step},
      {.name = "scalar", .dtype = CLNET_DTYPE_I32, .ndim = 0, .data = &i},
      {.name = "empty", .dtype = CLNET_DTYPE_F32, .ndim = 2, .shape = {0, 4}, .data = NULL},
  };
  const char *keys[2] = {"note", "clnet.epoch"}, *vals[2] = {"a \"quoted\"\nvalue", "3"};
  st_write("safetensors", "valid", t, 4, keys, vals, 2);
  st_write("safetensors", "no_tensors", t, 0, NULL, NULL, 0);

  /* the valid file with one data byte flipped: CRC mismatch */
  char path[1024];
  snprintf(path, sizeof path, "%s/safetensors/valid", out_dir);
  size_t n = 0;
  unsigned char *buf = slurp(path, &n);
  if (buf && n > 8) {
    buf[n - 1] ^= 0x40;
    put("safetensors", "bad_crc", buf, n);
    put("safetensors", "truncated", buf, n - 3);
  }
  free(buf);

  const unsigned char d[16] = {1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0};
  /* other tools' files: no CRC; an I64 at offset 4 (read through the realign path) */
  st_raw("no_crc_misaligned",
         "{\"a\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"b\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[4,12]},"
         "\"c\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[12,16]}}",
         d, 16);
  st_raw("overlap",
         "{\"a\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[4,12]}}",
         d, 12);
  st_raw("gap", "{\"a\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[4,8]}}", d, 8);
  st_raw("trailing_data", "{\"a\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}", d, 8);
  st_raw("shape_mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", d, 8);
  st_raw("bad_dtype", "{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", d, 4);
  st_raw("nine_dims", "{\"a\":{\"dtype\":\"I32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", d, 4);
  st_raw("duplicate_names",
         "{\"a\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         d, 8);
  st_raw("meta_not_string", "{\"__metadata__\":{\"k\":1},\"a\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
         d, 4);
  st_raw("huge_shape",
         "{\"a\":{\"dtype\":\"I64\",\"shape\":[9007199254740992,9007199254740992],\"data_offsets\":[0,8]}}", d, 8);
  st_raw("not_json", "{\"a\":[1,2", d, 0);
  st_raw("json_then_garbage", "{}  x", d, 0);
  static const unsigned char big_len[16] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, '{', '}'};
  put("safetensors", "header_past_end", big_len, 10);
}

/* ---- checkpoint metadata: safetensors with clnet.* metadata ---- */

static void make_checkpoint_meta(void) {
  int64_t step = 5;
  float w[2] = {0.5f, -0.5f};
  clnet_st_tensor t[2] = {
      {.name = "fc.bias", .dtype = CLNET_DTYPE_F32, .ndim = 1, .shape = {2}, .data = w},
      {.name = "adam.step", .dtype = CLNET_DTYPE_I64, .ndim = 1, .shape = {1}, .data = &step},
  };
  enum { N = 14 };
  const char *keys[N] = {"clnet.format",  "clnet.epoch",   "clnet.depth",     "clnet.width",
                         "clnet.input",   "clnet.classes", "clnet.batch",     "clnet.lr",
                         "clnet.seed",    "clnet.best_val_accuracy", "clnet.norm_mean", "clnet.norm_std",
                         "clnet.data_order", "clnet.layout"};
  const char *good[N] = {"clnet-checkpoint-1", "3", "18", "8", "28x28x1", "10", "256", "0.001", "1234",
                         "0.875", "0.286", "0.353", "epoch 3 of seed 1234 starts at batch 0", "NHWC"};
  const char *vals[N];
  struct {
    const char *name;
    int key;           /* which value to replace, -1 for none */
    const char *value; /* NULL: drop the key */
  } cases[] = {
      {"valid", -1, NULL},
      {"valid_rgb", 4, "32x32x3"},
      {"missing_format", 0, NULL},
      {"wrong_format", 0, "clnet-checkpoint-2"},
      {"epoch_not_integer", 1, "3x"},
      {"epoch_negative", 1, "-1"},
      {"epoch_2_to_32", 1, "4294967296"},
      {"depth_zero", 2, "0"},
      {"input_5_channels", 4, "28x28x5"}, /* one normalisation value for five channels */
      {"input_65_channels", 4, "28x28x65"},
      {"input_malformed", 4, "28x28"},
      {"norm_std_zero", 11, "0"},
      {"norm_missing", 10, NULL},
      {"seed_missing", 8, NULL},
      {"seed_junk", 8, "12abc"},
      {"lr_nan", 7, "nan"},
      {"best_accuracy_nan", 9, "nan"},
      {"input_junk", 4, "28x28x1junk"},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    int32_t nm = 0;
    const char *k[N];
    for (int i = 0; i < N; i++) {
      const char *v = good[i];
      if (i == cases[c].key) {
        if (!cases[c].value) continue;
        v = cases[c].value;
      }
      if (i == 11 && cases[c].key == 4 && strstr(cases[c].value, "x3")) v = "0.229,0.224,0.225";
      if (i == 10 && cases[c].key == 4 && strstr(cases[c].value, "x3")) v = "0.485,0.456,0.406";
      k[nm] = keys[i];
      vals[nm] = v;
      nm++;
    }
    st_write("checkpoint_meta", cases[c].name, t, 2, k, vals, nm);
  }
}

/* ---- history CSV ---- */

static void make_history_csv(void) {
  clnet_history h = {0};
  for (int32_t e = 0; e < 3; e++) {
    clnet_epoch_record r = {.epoch = e, .loss = 2.0 / (e + 1), .accuracy = 0.3 + 0.2 * e,
                            .val_loss = 1.0 / 3, .val_accuracy = 0.5, .seconds = 12.25, .images_per_s = 4900};
    if (e == 2) r.val_loss = NAN; /* a diverged run is recorded as it is */
    if (e == 2) r.seconds = INFINITY;
    clnet_history_append(&h, &r);
  }
  char path[1024];
  snprintf(path, sizeof path, "%s/history_csv/valid", out_dir);
  if (clnet_history_write_csv(&h, path) != CLNET_SUCCESS) failures++;
  clnet_history_free(&h);
  snprintf(path, sizeof path, "%s/history_csv/header_only", out_dir);
  if (clnet_history_write_csv(&h, path) != CLNET_SUCCESS) failures++;

#define HDR "epoch,loss,accuracy,val_loss,val_accuracy,seconds,images_per_s"
  put_str("history_csv", "crlf", HDR "\r\n4,0.5,0.9,0.6,0.85,10,5000\r\n5,inf,0.9,-inf,0.85,1e-310,5000\r\n");
  put_str("history_csv", "no_final_newline", HDR "\n0,1,0,1,0,1,1");
  put_str("history_csv", "bad_number", HDR "\n0,1,0.9x,1,0,1,1\n");
  put_str("history_csv", "six_fields", HDR "\n0,1,0,1,0,1\n");
  put_str("history_csv", "not_consecutive", HDR "\n0,1,0,1,0,1,1\n2,1,0,1,0,1,1\n");
  put_str("history_csv", "epoch_int32_max", HDR "\n2147483646,1,0,1,0,1,1\n2147483647,1,0,1,0,1,1\n");
  put_str("history_csv", "epoch_too_big", HDR "\n2147483648,1,0,1,0,1,1\n");
  put_str("history_csv", "wrong_header", "epoch,loss\n0,1\n");
  put_str("history_csv", "empty_line", HDR "\n\n");
  put_str("history_csv", "overflow", HDR "\n0,1e999,0,1,0,1,1\n");
  put("history_csv", "nul_byte", HDR "\n0,1\0,0,1,0,1,1\n", sizeof HDR + 16);
  put_str("history_csv", "empty", "");
#undef HDR
}

/* ---- program cache entries: "CLNB" | u32 version | u64 n | n bytes | u32 CRC ---- */

static void cache_entry(const char *name, uint32_t magic, uint32_t version, uint64_t n_declared,
                        const unsigned char *bin, size_t n, int crc_delta, int trailing) {
  unsigned char buf[512];
  uint32_t hdr[2] = {magic, version};
  uint32_t crc = (uint32_t)crc32(0L, bin, (uInt)n) + (uint32_t)crc_delta;
  memcpy(buf, hdr, 8);
  memcpy(buf + 8, &n_declared, 8);
  memcpy(buf + 16, bin, n);
  memcpy(buf + 16 + n, &crc, 4);
  buf[20 + n] = 0;
  put("program_cache", name, buf, 20 + n + (trailing ? 1 : 0));
}

static void make_program_cache(void) {
  unsigned char bin[64];
  for (int i = 0; i < 64; i++) bin[i] = (unsigned char)(i * 7 + 1);
  const uint32_t M = 0x424e4c43u;
  cache_entry("valid", M, 1, 64, bin, 64, 0, 0);
  cache_entry("one_byte", M, 1, 1, bin, 1, 0, 0);
  cache_entry("bad_crc", M, 1, 64, bin, 64, 1, 0);
  cache_entry("trailing_byte", M, 1, 64, bin, 64, 0, 1);
  cache_entry("wrong_version", M, 2, 64, bin, 64, 0, 0);
  cache_entry("wrong_magic", 0x434c4e42u, 1, 64, bin, 64, 0, 0);
  cache_entry("zero_length", M, 1, 0, bin, 0, 0, 0);
  cache_entry("length_past_end", M, 1, 65, bin, 64, 0, 0);
  put("program_cache", "header_only", "CLNB\1\0\0\0", 8);
}

/* ---- CLBlast parameter files (clnet tune), from clnet's writer ---- */

static void make_clblast_params(void) {
  clnet_tune_file f;
  memset(&f, 0, sizeof f);
  snprintf(f.device, sizeof f.device, "pthread-skylake-avx512-Intel(R) Xeon(R) Processor");
  snprintf(f.platform, sizeof f.platform, "OpenCL 3.0 PoCL 3.1");
  snprintf(f.driver, sizeof f.driver, "3.1");
  snprintf(f.workload, sizeof f.workload, "ResNet-18 width 16, 28x28x1, batch 256");
  f.workload_gflops_before = 41.5;
  f.workload_gflops_after = 47.25;
  static const char *const names[2] = {"Xgemm", "XgemmDirect"};
  static const char *const params[4] = {"MWG", "NWG", "KWG", "VWM"};
  for (int k = 0; k < 2; ++k) {
    snprintf(f.kernels[k].name, sizeof f.kernels[k].name, "%s", names[k]);
    for (int j = 0; j < 4; ++j) {
      snprintf(f.kernels[k].params.names[j], sizeof f.kernels[k].params.names[j], "%s", params[j]);
      f.kernels[k].params.values[j] = (size_t)(16 << (j % 3));
    }
    f.kernels[k].params.count = 4;
  }
  f.n_kernels = 2;
  char path[1024];
  snprintf(path, sizeof path, "%s/clblast_params/valid", out_dir);
  if (clnet_tune_save(path, &f) != CLNET_SUCCESS) failures++;
  size_t n = 0;
  unsigned char *b = slurp(path, &n);
  if (!b || n < 16) {
    failures++;
    free(b);
    return;
  }
  /* the body alone, for the harness's "append the CRC line" mode (first byte 0x01) */
  size_t body = n - 15; /* "crc32 XXXXXXXX\n" */
  unsigned char *raw = malloc(body + 1);
  if (raw) {
    raw[0] = 0x01;
    memcpy(raw + 1, b, body);
    put("clblast_params", "body_for_crc", raw, body + 1);
    free(raw);
  }
  b[n - 2] = b[n - 2] == '0' ? '1' : '0';
  put("clblast_params", "bad_crc", b, n);
  put("clblast_params", "truncated", b, n / 2);
  free(b);
}

/* ---- images: small PNGs (each colour type, 16-bit, interlaced) and JPEGs (grey, 4:2:0,
 * progressive), truncated and bit-flipped copies, a bomb header ---- */
static size_t png_mem(unsigned char *buf, size_t cap, int w, int h, png_uint_32 format, const void *px) {
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = (png_uint_32)w;
  img.height = (png_uint_32)h;
  img.format = format;
  png_alloc_size_t n = cap;
  if (!png_image_write_to_memory(&img, buf, &n, 0, px, 0, NULL)) {
    fprintf(stderr, "make_corpus: PNG %dx%d: %s\n", w, h, img.message);
    failures++;
    return 0;
  }
  return (size_t)n;
}

static void jpeg_put(const char *name, int w, int h, int grey, int samp, int flags, const unsigned char *px) {
  tjhandle tj = tjInitCompress();
  unsigned char *buf = NULL;
  unsigned long n = 0;
  if (!tj || tjCompress2(tj, px, w, 0, h, grey ? TJPF_GRAY : TJPF_RGB, &buf, &n, samp, 75, flags) != 0) {
    fprintf(stderr, "make_corpus: JPEG %s: %s\n", name, tjGetErrorStr2(tj));
    failures++;
  } else {
    put("image", name, buf, n);
    char cut[64];
    snprintf(cut, sizeof cut, "%s_truncated", name);
    put("image", cut, buf, n * 2 / 3);
  }
  tjFree(buf);
  if (tj) tjDestroy(tj);
}

static void make_image(void) {
  unsigned char px[16 * 12 * 4], buf[8192];
  uint16_t px16[8 * 8];
  for (size_t i = 0; i < sizeof px; i++) px[i] = (unsigned char)(i * 37 + (i >> 3));
  for (int i = 0; i < 64; i++) px16[i] = (uint16_t)(i * 1021);
  static const struct { const char *name; png_uint_32 format; int w, h; } pngs[] = {
      {"png_grey_1x1", PNG_FORMAT_GRAY, 1, 1},   {"png_grey", PNG_FORMAT_GRAY, 16, 12},
      {"png_grey_alpha", PNG_FORMAT_GA, 7, 5},   {"png_rgb", PNG_FORMAT_RGB, 16, 12},
      {"png_rgba", PNG_FORMAT_RGBA, 9, 4},       {"png_bgr", PNG_FORMAT_BGR, 3, 11},
  };
  for (size_t k = 0; k < sizeof pngs / sizeof pngs[0]; k++) {
    size_t n = png_mem(buf, sizeof buf, pngs[k].w, pngs[k].h, pngs[k].format, px);
    if (!n) continue;
    put("image", pngs[k].name, buf, n);
    if (k == 3) {
      char name[64];
      snprintf(name, sizeof name, "%s_truncated", pngs[k].name);
      put("image", name, buf, n - 15);
      buf[n / 2] ^= 0x20; /* a flipped bit in the image data: its chunk's CRC fails */
      snprintf(name, sizeof name, "%s_bitflip", pngs[k].name);
      put("image", name, buf, n);
    }
  }
  size_t n = png_mem(buf, sizeof buf, 8, 8, PNG_FORMAT_LINEAR_Y, px16); /* 16-bit grey */
  if (n) put("image", "png_grey16", buf, n);
  /* a header that declares 30000 x 30000 (valid CRC), nothing after it */
  unsigned char bomb[33] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
  be32(bomb + 16, 30000);
  be32(bomb + 20, 30000);
  bomb[24] = 8;
  be32(bomb + 29, (uint32_t)crc32(0, bomb + 12, 17));
  put("image", "png_bomb_header", bomb, sizeof bomb);
  jpeg_put("jpeg_grey", 16, 12, 1, TJSAMP_GRAY, 0, px);
  jpeg_put("jpeg_420", 16, 12, 0, TJSAMP_420, 0, px);
  jpeg_put("jpeg_444_progressive", 9, 7, 0, TJSAMP_444, TJFLAG_PROGRESSIVE, px);
  put_str("image", "not_an_image", "P6\n2 2\n255\n");
  put("image", "jpeg_soi_only", "\xff\xd8\xff", 3);
  put("image", "empty", "", 0);
}

/* ONNX: clnet's own export of a small graph (conv, BN, ReLU, pools, add, SiLU-style gate, dense)
 * and a cut copy. fuzz/corpus/onnx/ also holds copies of tests/onnx/'s PyTorch fixtures and refusals
 * and of some of libonnx-testdata's node models. */
static void onnx_export(const char *name, clnet_graph *g) {
  clnet_ctx *ref = NULL;
  void *bytes = NULL;
  size_t n = 0;
  if (clnet_ctx_create("ref", &ref) != CLNET_SUCCESS || clnet_graph_setup(g, ref, 1) != CLNET_SUCCESS ||
      clnet_graph_init_params(g, 1) != CLNET_SUCCESS || clnet_onnx_export_memory(g, NULL, &bytes, &n) != CLNET_SUCCESS) {
    fprintf(stderr, "make_corpus: onnx %s: %s\n", name, clnet_last_error());
    failures++;
  } else {
    char cut[96];
    put("onnx", name, bytes, n);
    snprintf(cut, sizeof cut, "%s_cut_half", name);
    put("onnx", cut, bytes, n / 2);
  }
  free(bytes);
  clnet_graph_free(g);
  clnet_ctx_free(ref);
}

static void make_onnx(void) {
  clnet_graph *g = NULL;
  int32_t t[16];
  if (clnet_graph_create(8, 8, 3, &g) != CLNET_SUCCESS) return;
  int ok = clnet_graph_add_layer(g, "conv", "conv", (int32_t[]){0}, 1, "filters=4 kernel=3 padding=same", &t[0]) == 0 &&
           clnet_graph_add_layer(g, "batchnorm", "bn", &t[0], 1, "", &t[1]) == 0 &&
           clnet_graph_add_layer(g, "relu", "relu", &t[1], 1, "", &t[2]) == 0 &&
           clnet_graph_add_layer(g, "maxpool", "pool", &t[2], 1, "kernel=2 stride=2", &t[3]) == 0 &&
           clnet_graph_add_layer(g, "conv", "conv2", &t[3], 1, "filters=4 kernel=1", &t[4]) == 0 &&
           clnet_graph_add_layer(g, "add", "add", (int32_t[]){t[3], t[4]}, 2, "", &t[5]) == 0 &&
           clnet_graph_add_layer(g, "sigmoid", "sig", &t[5], 1, "", &t[6]) == 0 &&
           clnet_graph_add_layer(g, "mul", "mul", (int32_t[]){t[5], t[6]}, 2, "", &t[7]) == 0 &&
           clnet_graph_add_layer(g, "avgpool", "avg", &t[7], 1, "kernel=2 stride=1", &t[8]) == 0 &&
           clnet_graph_add_layer(g, "dense", "fc", &t[8], 1, "units=3", &t[9]) == 0 && clnet_graph_set_output(g, t[9]) == 0;
  if (!ok) {
    fprintf(stderr, "make_corpus: onnx graph: %s\n", clnet_last_error());
    failures++;
    clnet_graph_free(g);
    return;
  }
  onnx_export("small_graph", g);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s OUT_DIR   (writes OUT_DIR/<reader>/*; the directories must exist)\n", argv[0]);
    return 2;
  }
  out_dir = argv[1];
  make_idx();
  make_cifar10();
  make_safetensors();
  make_checkpoint_meta();
  make_history_csv();
  make_program_cache();
  make_clblast_params();
  make_image();
  make_onnx();
  return failures ? 1 : 0;
}
