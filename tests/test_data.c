/* Tests for the data layer (host/data) and the RNG (host/core/rng):
 * IDX and CIFAR-10 decoding, format detection, rejection of malformed files,
 * normalisation statistics, and the prefetching batch loader. Files are written
 * to a fresh mkdtemp directory per test. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "clnet/data.h"
#include "core/rng.h"

/* ---- helpers ----------------------------------------------------------------- */

static char tmpdir[256];

static void rm_rf(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(path);
    if (d) {
      struct dirent *e;
      while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        rm_rf(sub);
      }
      closedir(d);
    }
    rmdir(path);
  } else {
    unlink(path);
  }
}

static void setup_tmp(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/clnet_test_data_XXXXXX");
  cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp failed");
}
static void teardown_tmp(void) { rm_rf(tmpdir); }

/* tmpdir/name in a static rotating buffer (several may be alive at once). */
static const char *tpath(const char *name) {
  static char bufs[8][512];
  static int next = 0;
  char *b = bufs[next++ % 8];
  snprintf(b, 512, "%s/%s", tmpdir, name);
  return b;
}

static void write_bytes(const char *name, const void *data, size_t n) {
  FILE *f = fopen(tpath(name), "wb");
  cr_assert_not_null(f, "cannot create %s", name);
  if (n) cr_assert_eq(fwrite(data, 1, n, f), n);
  fclose(f);
}

static void write_gz(const char *name, const void *data, size_t n) {
  gzFile g = gzopen(tpath(name), "wb6");
  cr_assert_not_null(g);
  if (n) cr_assert_eq(gzwrite(g, data, (unsigned)n), (int)n);
  gzclose(g);
}

static void make_subdir(const char *name) { cr_assert_eq(mkdir(tpath(name), 0755), 0); }

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* Pixel of IDX test image i at (h, w). */
static uint8_t idx_px(int i, int h, int w) { return (uint8_t)(i * 31 + h * 7 + w * 3 + 1); }
static uint8_t idx_label(int i) { return (uint8_t)((i * 3 + 1) % 10); }

/* IDX images file: header (n, rows, cols) + pixels; caller frees. */
static uint8_t *idx_images(uint32_t n, uint32_t rows, uint32_t cols, size_t *size) {
  *size = 16 + (size_t)n * rows * cols;
  uint8_t *b = malloc(*size);
  put_be32(b, 0x00000803);
  put_be32(b + 4, n);
  put_be32(b + 8, rows);
  put_be32(b + 12, cols);
  for (uint32_t i = 0; i < n; i++)
    for (uint32_t h = 0; h < rows; h++)
      for (uint32_t w = 0; w < cols; w++) b[16 + ((size_t)i * rows + h) * cols + w] = idx_px((int)i, (int)h, (int)w);
  return b;
}

static uint8_t *idx_labels(uint32_t n, size_t *size) {
  *size = 8 + n;
  uint8_t *b = malloc(*size);
  put_be32(b, 0x00000801);
  put_be32(b + 4, n);
  for (uint32_t i = 0; i < n; i++) b[8 + i] = idx_label((int)i);
  return b;
}

static void write_idx_pair(const char *img_name, const char *lbl_name, uint32_t n, uint32_t rows, uint32_t cols,
                           int gz) {
  size_t si, sl;
  uint8_t *im = idx_images(n, rows, cols, &si), *lb = idx_labels(n, &sl);
  if (gz) {
    write_gz(img_name, im, si);
    write_gz(lbl_name, lb, sl);
  } else {
    write_bytes(img_name, im, si);
    write_bytes(lbl_name, lb, sl);
  }
  free(im);
  free(lb);
}

/* CIFAR record r (global index) plane c at (h, w), and its label. */
static uint8_t cifar_px(int r, int c, int h, int w) { return (uint8_t)(r * 13 + c * 85 + h * 5 + w * 2); }
static uint8_t cifar_label(int r) { return (uint8_t)((r * 7 + 3) % 10); }

/* n records starting at global index r0; caller frees. */
static uint8_t *cifar_records(int r0, int n) {
  uint8_t *b = malloc((size_t)n * 3073);
  for (int i = 0; i < n; i++) {
    uint8_t *rec = b + (size_t)i * 3073;
    rec[0] = cifar_label(r0 + i);
    for (int c = 0; c < 3; c++)
      for (int h = 0; h < 32; h++)
        for (int w = 0; w < 32; w++) rec[1 + c * 1024 + h * 32 + w] = cifar_px(r0 + i, c, h, w);
  }
  return b;
}

static void write_cifar(const char *name, int r0, int n) {
  uint8_t *b = cifar_records(r0, n);
  write_bytes(name, b, (size_t)n * 3073);
  free(b);
}

static int ds_is_zero(const clnet_dataset *d) {
  return d->count == 0 && d->height == 0 && d->width == 0 && d->channels == 0 && d->classes == 0 &&
         d->images == NULL && d->labels == NULL;
}

/* Expect a failing status whose message names `file` and contains `what`. */
#define EXPECT_ERR(st_expr, want_status, file, what)                                                         \
  do {                                                                                                       \
    clnet_status st_ = (st_expr);                                                                            \
    cr_assert_eq(st_, (want_status), "status %s (%d), expected %s; message: %s", clnet_status_str(st_),      \
                 (int)st_, clnet_status_str(want_status), clnet_last_error());                               \
    cr_assert_not_null(strstr(clnet_last_error(), (file)), "message does not name %s: %s", (file),           \
                       clnet_last_error());                                                                  \
    cr_assert_not_null(strstr(clnet_last_error(), (what)), "message lacks \"%s\": %s", (what),               \
                       clnet_last_error());                                                                  \
    cr_assert_null(strchr(clnet_last_error(), '\n'), "message is not one line: %s", clnet_last_error());     \
  } while (0)

/* ---- RNG ------------------------------------------------------------------- */

Test(rng, deterministic_and_ranges) {
  clnet_rng a, b;
  clnet_rng_seed(&a, 123);
  clnet_rng_seed(&b, 123);
  for (int i = 0; i < 1000; i++) cr_assert_eq(clnet_rng_u64(&a), clnet_rng_u64(&b));
  clnet_rng_seed(&b, 124);
  int same = 0;
  for (int i = 0; i < 100; i++) same += clnet_rng_u64(&a) == clnet_rng_u64(&b);
  cr_assert_lt(same, 2);
  clnet_rng_seed(&a, 0); /* seed 0 must still work */
  uint64_t acc = 0;
  for (int i = 0; i < 10; i++) acc |= clnet_rng_u64(&a);
  cr_assert_neq(acc, 0);

  double sum = 0;
  for (int i = 0; i < 100000; i++) {
    float u = clnet_rng_uniform(&a);
    cr_assert(u >= 0.0f && u < 1.0f);
    sum += u;
  }
  cr_assert_float_eq(sum / 100000, 0.5, 0.01);

  int hist[7] = {0};
  for (int i = 0; i < 70000; i++) {
    uint32_t k = clnet_rng_below(&a, 7);
    cr_assert_lt(k, 7u);
    hist[k]++;
  }
  for (int k = 0; k < 7; k++) cr_assert(hist[k] > 9400 && hist[k] < 10600, "bucket %d: %d", k, hist[k]);
  cr_assert_eq(clnet_rng_below(&a, 1), 0u);
  cr_assert_eq(clnet_rng_below(&a, 0), 0u);
  for (int i = 0; i < 1000; i++) cr_assert_lt(clnet_rng_below(&a, 0x80000001u), 0x80000001u);

  double s1 = 0, s2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; i++) {
    float z = clnet_rng_normal(&a);
    cr_assert(isfinite(z));
    s1 += z;
    s2 += (double)z * z;
  }
  cr_assert_float_eq(s1 / n, 0.0, 0.01);
  cr_assert_float_eq(s2 / n, 1.0, 0.02);
}

Test(rng, streams_differ_and_shuffle_is_permutation) {
  clnet_rng a, b;
  clnet_rng_seed_stream(&a, 7, 1);
  clnet_rng_seed_stream(&b, 7, 2);
  cr_assert_neq(clnet_rng_u64(&a), clnet_rng_u64(&b));
  clnet_rng_seed_stream(&a, 7, 1);
  clnet_rng_seed_stream(&b, 7, 1);
  cr_assert_eq(clnet_rng_u64(&a), clnet_rng_u64(&b));

  int32_t p[1000];
  int seen[1000] = {0}, fixed = 0;
  for (int i = 0; i < 1000; i++) p[i] = i;
  clnet_rng_shuffle_i32(&a, p, 1000);
  for (int i = 0; i < 1000; i++) {
    cr_assert(p[i] >= 0 && p[i] < 1000);
    seen[p[i]]++;
    fixed += p[i] == i;
  }
  for (int i = 0; i < 1000; i++) cr_assert_eq(seen[i], 1);
  cr_assert_lt(fixed, 10);
  clnet_rng_shuffle_i32(&a, p, 0); /* no-ops */
  clnet_rng_shuffle_i32(&a, p, 1);
}

/* ---- IDX ----------------------------------------------------------------------- */

/* classes: 1 + the largest label of the file (or of the pair, for a directory) */
static void check_idx_content(const clnet_dataset *d, int n, int rows, int cols, int classes) {
  cr_assert_eq(d->count, n);
  cr_assert_eq(d->height, rows);
  cr_assert_eq(d->width, cols);
  cr_assert_eq(d->channels, 1);
  cr_assert_eq(d->classes, classes);
  for (int i = 0; i < n; i++) {
    cr_assert_eq(d->labels[i], idx_label(i), "label %d", i);
    for (int h = 0; h < rows; h++)
      for (int w = 0; w < cols; w++)
        cr_assert_eq(d->images[((size_t)i * rows + h) * cols + w], idx_px(i, h, w), "image %d (%d,%d)", i, h, w);
  }
}

Test(idx, plain, .init = setup_tmp, .fini = teardown_tmp) {
  write_idx_pair("im", "lb", 7, 5, 3, 0);
  clnet_dataset d;
  cr_assert_eq(clnet_dataset_load_idx(tpath("im"), tpath("lb"), &d), CLNET_SUCCESS, "%s", clnet_last_error());
  check_idx_content(&d, 7, 5, 3, 10);
  clnet_dataset_free(&d);
  cr_assert(ds_is_zero(&d));
  clnet_dataset_free(&d); /* twice is fine */
  clnet_dataset_free(NULL);
}

Test(idx, gzip_detected_by_magic_not_name, .init = setup_tmp, .fini = teardown_tmp) {
  write_idx_pair("images_no_suffix", "labels.gz", 13, 4, 6, 1);
  clnet_dataset d;
  cr_assert_eq(clnet_dataset_load_idx(tpath("images_no_suffix"), tpath("labels.gz"), &d), CLNET_SUCCESS, "%s",
               clnet_last_error());
  check_idx_content(&d, 13, 4, 6, 10);
  clnet_dataset_free(&d);
  /* a plain file named .gz is read as plain */
  write_idx_pair("plain.gz", "plainlab.gz", 2, 3, 3, 0);
  cr_assert_eq(clnet_dataset_load_idx(tpath("plain.gz"), tpath("plainlab.gz"), &d), CLNET_SUCCESS, "%s",
               clnet_last_error());
  check_idx_content(&d, 2, 3, 3, 5); /* labels 1 and 4 */
  clnet_dataset_free(&d);
}

Test(idx, rejects_malformed, .init = setup_tmp, .fini = teardown_tmp) {
  clnet_dataset d;
  size_t si, sl;
  uint8_t *im = idx_images(5, 4, 4, &si), *lb = idx_labels(5, &sl);
  write_bytes("good_lb", lb, sl);
  write_bytes("good_im", im, si);

  /* missing file */
  EXPECT_ERR(clnet_dataset_load_idx(tpath("nope-images"), tpath("good_lb"), &d), CLNET_ERR_IO, "nope-images",
             "cannot open");
  cr_assert(ds_is_zero(&d));
  /* header truncated */
  write_bytes("short_im", im, 10);
  EXPECT_ERR(clnet_dataset_load_idx(tpath("short_im"), tpath("good_lb"), &d), CLNET_ERR_FORMAT, "short_im",
             "file is 10 bytes, an IDX images header needs 16");
  cr_assert(ds_is_zero(&d));
  write_bytes("empty_lb", lb, 0);
  EXPECT_ERR(clnet_dataset_load_idx(tpath("good_im"), tpath("empty_lb"), &d), CLNET_ERR_FORMAT, "empty_lb",
             "file is 0 bytes");
  /* wrong magic: labels given as images and the reverse, and garbage */
  EXPECT_ERR(clnet_dataset_load_idx(tpath("good_lb"), tpath("good_lb"), &d), CLNET_ERR_FORMAT, "good_lb",
             "0x00000801, expected 0x00000803");
  EXPECT_ERR(clnet_dataset_load_idx(tpath("good_im"), tpath("good_im"), &d), CLNET_ERR_FORMAT, "good_im",
             "expected 0x00000801");
  uint8_t bad[64];
  memcpy(bad, im, 64);
  memcpy(bad, "\x89PNG", 4);
  write_bytes("png_im", bad, 64);
  EXPECT_ERR(clnet_dataset_load_idx(tpath("png_im"), tpath("good_lb"), &d), CLNET_ERR_FORMAT, "png_im",
             "not an IDX file");
  memcpy(bad, im, 64);
  bad[2] = 0x0D; /* float data */
  write_bytes("float_im", bad, 64);
  EXPECT_ERR(clnet_dataset_load_idx(tpath("float_im"), tpath("good_lb"), &d), CLNET_ERR_FORMAT, "float_im",
             "unsigned-byte");
  /* payload truncated / extended (plain: checked against the file size before allocating) */
  write_bytes("trunc_im", im, si - 1);
  EXPECT_ERR(clnet_dataset_load_idx(tpath("trunc_im"), tpath("good_lb"), &d), CLNET_ERR_FORMAT, "trunc_im",
             "file is 95 bytes, but its header declares 5 images of 4x4 = 96 bytes");
  uint8_t *longer = calloc(si + 3, 1);
  memcpy(longer, im, si);
  write_bytes("long_im", longer, si + 3);
  EXPECT_ERR(clnet_dataset_load_idx(tpath("long_im"), tpath("good_lb"), &d), CLNET_ERR_FORMAT, "long_im",
             "file is 99 bytes");
  free(longer);
  write_bytes("trunc_lb", lb, sl - 2);
  EXPECT_ERR(clnet_dataset_load_idx(tpath("good_im"), tpath("trunc_lb"), &d), CLNET_ERR_FORMAT, "trunc_lb",
             "header declares 5 labels = 13 bytes");
  /* zero and overflowing dimensions */
  memcpy(bad, im, 64);
  put_be32(bad + 8, 0);
  write_bytes("zero_im", bad, 64);
  EXPECT_ERR(clnet_dataset_load_idx(tpath("zero_im"), tpath("good_lb"), &d), CLNET_ERR_FORMAT, "zero_im",
             "rows = 0");
  memcpy(bad, im, 64);
  put_be32(bad + 4, 0xFFFFFFFFu);
  write_bytes("huge_count_im", bad, 64);
  EXPECT_ERR(clnet_dataset_load_idx(tpath("huge_count_im"), tpath("good_lb"), &d), CLNET_ERR_FORMAT,
             "huge_count_im", "count = 4294967295");
  memcpy(bad, im, 64);
  put_be32(bad + 8, 0x7FFFFFFFu);
  put_be32(bad + 12, 0x7FFFFFFFu);
  write_bytes("huge_dims_im", bad, 64);
  EXPECT_ERR(clnet_dataset_load_idx(tpath("huge_dims_im"), tpath("good_lb"), &d), CLNET_ERR_FORMAT,
             "huge_dims_im", "pixels each");
  memcpy(bad, im, 64);
  put_be32(bad + 4, 0x7FFFFFFFu);
  put_be32(bad + 8, 0xFFFFu);
  put_be32(bad + 12, 0x7FFFu);
  write_bytes("big_im", bad, 64); /* 2^31 * 2^31 bytes claimed: rejected by size, not by malloc */
  EXPECT_ERR(clnet_dataset_load_idx(tpath("big_im"), tpath("good_lb"), &d), CLNET_ERR_FORMAT, "big_im",
             "file is 64 bytes");
  /* any label: the classes follow the largest (EMNIST has 47 or 62) */
  lb[8 + 3] = 61;
  write_bytes("label_61", lb, sl);
  cr_assert_eq(clnet_dataset_load_idx(tpath("good_im"), tpath("label_61"), &d), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(d.classes, 62);
  cr_assert_eq(d.labels[3], 61);
  clnet_dataset_free(&d);
  lb[8 + 3] = 255;
  write_bytes("label_255", lb, sl);
  cr_assert_eq(clnet_dataset_load_idx(tpath("good_im"), tpath("label_255"), &d), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(d.classes, 256);
  clnet_dataset_free(&d);
  /* count mismatch */
  size_t sl6;
  uint8_t *lb6 = idx_labels(6, &sl6);
  write_bytes("six_lb", lb6, sl6);
  EXPECT_ERR(clnet_dataset_load_idx(tpath("good_im"), tpath("six_lb"), &d), CLNET_ERR_FORMAT, "six_lb",
             "has 5 images but");
  cr_assert_not_null(strstr(clnet_last_error(), "good_im"));
  cr_assert_not_null(strstr(clnet_last_error(), "has 6 labels"));
  free(lb6);
  free(im);
  free(lb);
}

Test(idx, rejects_malformed_gzip, .init = setup_tmp, .fini = teardown_tmp) {
  clnet_dataset d;
  size_t si, sl;
  uint8_t *im = idx_images(300, 28, 28, &si), *lb = idx_labels(300, &sl);
  write_gz("good_lb.gz", lb, sl);
  /* gzip stream cut short */
  write_gz("full.gz", im, si);
  FILE *f = fopen(tpath("full.gz"), "rb");
  uint8_t buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  cr_assert_gt(n, 200u);
  write_bytes("cut.gz", buf, n / 2);
  EXPECT_ERR(clnet_dataset_load_idx(tpath("cut.gz"), tpath("good_lb.gz"), &d), CLNET_ERR_FORMAT, "cut.gz",
             "truncated");
  cr_assert(ds_is_zero(&d));
  /* corrupt deflate data */
  memcpy(buf + 40, "garbage garbage garbage garbage!", 32);
  memset(buf + 100, 0xFF, 64);
  write_bytes("corrupt.gz", buf, n);
  clnet_status st = clnet_dataset_load_idx(tpath("corrupt.gz"), tpath("good_lb.gz"), &d);
  cr_assert_eq(st, CLNET_ERR_FORMAT, "%s", clnet_last_error());
  cr_assert_not_null(strstr(clnet_last_error(), "corrupt.gz"), "%s", clnet_last_error());
  /* decompressed size disagrees with the header */
  write_gz("short_payload.gz", im, si - 5);
  EXPECT_ERR(clnet_dataset_load_idx(tpath("short_payload.gz"), tpath("good_lb.gz"), &d), CLNET_ERR_FORMAT,
             "short_payload.gz", "ends after 235,211 decompressed bytes, its IDX header declares 235,216");
  uint8_t *longer = calloc(si + 1, 1);
  memcpy(longer, im, si);
  write_gz("long_payload.gz", longer, si + 1);
  EXPECT_ERR(clnet_dataset_load_idx(tpath("long_payload.gz"), tpath("good_lb.gz"), &d), CLNET_ERR_FORMAT,
             "long_payload.gz", "continues past the 235,216 bytes");
  free(longer);
  /* header claims far more than a file this small can decompress to: no allocation attempted */
  uint8_t hdr[16];
  memcpy(hdr, im, 16);
  put_be32(hdr + 4, 2000000000u);
  write_gz("claims_too_much.gz", hdr, 16);
  EXPECT_ERR(clnet_dataset_load_idx(tpath("claims_too_much.gz"), tpath("good_lb.gz"), &d), CLNET_ERR_FORMAT,
             "claims_too_much.gz", "more than a");
  /* gzip of only part of a header */
  write_gz("tiny.gz", im, 7);
  EXPECT_ERR(clnet_dataset_load_idx(tpath("tiny.gz"), tpath("good_lb.gz"), &d), CLNET_ERR_FORMAT, "tiny.gz",
             "after 7 bytes, an IDX images header needs 16");
  /* the last label of a gzipped file, the largest: it sets the classes */
  lb[8 + 299] = 200;
  write_gz("lb200.gz", lb, sl);
  write_gz("good_im.gz", im, si);
  cr_assert_eq(clnet_dataset_load_idx(tpath("good_im.gz"), tpath("lb200.gz"), &d), CLNET_SUCCESS, "%s",
               clnet_last_error());
  cr_assert_eq(d.classes, 201);
  clnet_dataset_free(&d);
  free(im);
  free(lb);
}

/* ---- CIFAR-10 ---------------------------------------------------------------- */

static void check_cifar_content(const clnet_dataset *d, int n, int r0) {
  cr_assert_eq(d->count, n);
  cr_assert_eq(d->height, 32);
  cr_assert_eq(d->width, 32);
  cr_assert_eq(d->channels, 3);
  cr_assert_eq(d->classes, 10);
  for (int i = 0; i < n; i++) {
    cr_assert_eq(d->labels[i], cifar_label(r0 + i));
    for (int h = 0; h < 32; h++)
      for (int w = 0; w < 32; w++)
        for (int c = 0; c < 3; c++)
          cr_assert_eq(d->images[(((size_t)i * 32 + h) * 32 + w) * 3 + c], cifar_px(r0 + i, c, h, w),
                       "image %d (%d,%d,%d)", i, h, w, c);
  }
}

Test(cifar10, decodes_planes_to_hwc_and_concatenates, .init = setup_tmp, .fini = teardown_tmp) {
  write_cifar("a.bin", 0, 3);
  write_cifar("b.bin", 3, 2);
  const char *paths[2] = {tpath("a.bin"), tpath("b.bin")};
  clnet_dataset d;
  cr_assert_eq(clnet_dataset_load_cifar10(paths, 2, &d), CLNET_SUCCESS, "%s", clnet_last_error());
  check_cifar_content(&d, 5, 0);
  /* spot-check one pixel against the raw layout by hand: record 4, G plane, row 2, col 7 */
  cr_assert_eq(d.images[((4 * 32 + 2) * 32 + 7) * 3 + 1], (uint8_t)(4 * 13 + 85 + 10 + 14));
  clnet_dataset_free(&d);
  /* a larger file than one internal read chunk */
  write_cifar("big.bin", 0, 1500);
  const char *big = tpath("big.bin");
  cr_assert_eq(clnet_dataset_load_cifar10(&big, 1, &d), CLNET_SUCCESS, "%s", clnet_last_error());
  check_cifar_content(&d, 1500, 0);
  clnet_dataset_free(&d);
}

Test(cifar10, rejects_malformed, .init = setup_tmp, .fini = teardown_tmp) {
  clnet_dataset d;
  uint8_t *recs = cifar_records(0, 12);
  write_bytes("ok.bin", recs, 3073);
  write_bytes("data_batch_1.bin", recs, 30720); /* the example from the style guide */
  const char *p[2] = {tpath("ok.bin"), tpath("data_batch_1.bin")};
  EXPECT_ERR(clnet_dataset_load_cifar10(p, 2, &d), CLNET_ERR_FORMAT, "data_batch_1.bin",
             "file is 30,720 bytes, a CIFAR-10 batch must be a multiple of 3,073");
  cr_assert(ds_is_zero(&d));
  write_bytes("empty.bin", recs, 0);
  const char *e = tpath("empty.bin");
  EXPECT_ERR(clnet_dataset_load_cifar10(&e, 1, &d), CLNET_ERR_FORMAT, "empty.bin", "file is 0 bytes");
  recs[3073 * 2] = 10;
  write_bytes("bad_label.bin", recs, 3073 * 3);
  const char *b = tpath("bad_label.bin");
  EXPECT_ERR(clnet_dataset_load_cifar10(&b, 1, &d), CLNET_ERR_FORMAT, "bad_label.bin",
             "record 2 (byte offset 6,146) has label 10, CIFAR-10 labels are 0..9");
  cr_assert(ds_is_zero(&d));
  write_gz("zipped.bin", recs, 3073);
  const char *z = tpath("zipped.bin");
  EXPECT_ERR(clnet_dataset_load_cifar10(&z, 1, &d), CLNET_ERR_FORMAT, "zipped.bin", "gzip-compressed");
  const char *m[2] = {tpath("ok.bin"), tpath("missing.bin")};
  EXPECT_ERR(clnet_dataset_load_cifar10(m, 2, &d), CLNET_ERR_IO, "missing.bin", "cannot open");
  const char *dirp = tmpdir;
  EXPECT_ERR(clnet_dataset_load_cifar10(&dirp, 1, &d), CLNET_ERR_IO, tmpdir, "not a regular file");
  cr_assert_eq(clnet_dataset_load_cifar10(p, 0, &d), CLNET_ERR_INVALID_ARGUMENT);
  cr_assert_eq(clnet_dataset_load_cifar10(NULL, 1, &d), CLNET_ERR_INVALID_ARGUMENT);
  free(recs);
}

/* ---- format detection ------------------------------------------------------------ */

Test(open_dir, cifar_in_dir_and_subdir, .init = setup_tmp, .fini = teardown_tmp) {
  write_cifar("data_batch_1.bin", 0, 2);
  write_cifar("data_batch_2.bin", 2, 3);
  write_cifar("data_batch_3.bin", 5, 1);
  write_cifar("test_batch.bin", 50, 2);
  clnet_dataset tr, te;
  const char *fmt = NULL;
  cr_assert_eq(clnet_dataset_open_dir(tmpdir, &tr, &te, &fmt), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_str_eq(fmt, "cifar10");
  check_cifar_content(&tr, 6, 0);
  check_cifar_content(&te, 2, 50);
  clnet_dataset_free(&tr);
  clnet_dataset_free(&te);
  teardown_tmp();
  setup_tmp();
  make_subdir("cifar-10-batches-bin");
  write_cifar("cifar-10-batches-bin/data_batch_1.bin", 0, 4);
  write_cifar("cifar-10-batches-bin/test_batch.bin", 9, 1);
  cr_assert_eq(clnet_dataset_open_dir(tmpdir, &tr, &te, NULL), CLNET_SUCCESS, "%s", clnet_last_error());
  check_cifar_content(&tr, 4, 0);
  check_cifar_content(&te, 1, 9);
  clnet_dataset_free(&tr);
  clnet_dataset_free(&te);
}

Test(open_dir, idx_mixed_gzip_and_plain, .init = setup_tmp, .fini = teardown_tmp) {
  write_idx_pair("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte", 9, 6, 5, 1);
  write_idx_pair("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte.gz", 4, 6, 5, 0);
  /* t10k-labels-idx1-ubyte.gz is plain despite its name: detection is by content */
  clnet_dataset tr, te;
  const char *fmt = NULL;
  cr_assert_eq(clnet_dataset_open_dir(tmpdir, &tr, &te, &fmt), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_str_eq(fmt, "idx");
  check_idx_content(&tr, 9, 6, 5, 10);
  check_idx_content(&te, 4, 6, 5, 10); /* labels 1, 4, 7, 0: the pair's 10 */
  clnet_dataset_free(&tr);
  clnet_dataset_free(&te);
}

Test(open_dir, errors, .init = setup_tmp, .fini = teardown_tmp) {
  clnet_dataset tr, te;
  const char *fmt = "x";
  /* nothing there */
  EXPECT_ERR(clnet_dataset_open_dir(tmpdir, &tr, &te, &fmt), CLNET_ERR_IO, tmpdir, "no data set found");
  const char *msg = clnet_last_error();
  cr_assert_not_null(strstr(msg, "data_batch_1.bin"));
  cr_assert_not_null(strstr(msg, "test_batch.bin"));
  cr_assert_not_null(strstr(msg, "cifar-10-batches-bin"));
  cr_assert_not_null(strstr(msg, "train-images-idx3-ubyte"));
  cr_assert_not_null(strstr(msg, "t10k-labels-idx1-ubyte"));
  cr_assert_null(fmt);
  cr_assert(ds_is_zero(&tr) && ds_is_zero(&te));
  /* not a directory */
  EXPECT_ERR(clnet_dataset_open_dir(tpath("nonexistent"), &tr, &te, NULL), CLNET_ERR_IO, "nonexistent",
             "cannot open data directory");
  /* partial IDX */
  write_idx_pair("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 3, 2, 2, 1);
  write_idx_pair("t10k-images-idx3-ubyte.gz", "other", 3, 2, 2, 1);
  EXPECT_ERR(clnet_dataset_open_dir(tmpdir, &tr, &te, NULL), CLNET_ERR_IO, "t10k-labels-idx1-ubyte",
             "IDX data set is incomplete");
  /* complete IDX whose test images have a different size */
  write_idx_pair("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte", 3, 3, 2, 1);
  EXPECT_ERR(clnet_dataset_open_dir(tmpdir, &tr, &te, NULL), CLNET_ERR_FORMAT, "t10k-images-idx3-ubyte.gz",
             "has 2x2 images but");
  cr_assert(ds_is_zero(&tr) && ds_is_zero(&te));
  /* broken test split inside an otherwise valid IDX set: train is freed */
  write_bytes("t10k-labels-idx1-ubyte", "\0\0\x08\x01\0\0", 6);
  EXPECT_ERR(clnet_dataset_open_dir(tmpdir, &tr, &te, NULL), CLNET_ERR_FORMAT, "t10k-labels-idx1-ubyte",
             "file is 6 bytes, an IDX labels header needs 8");
  cr_assert(ds_is_zero(&tr) && ds_is_zero(&te));
  teardown_tmp();
  setup_tmp();
  /* partial CIFAR */
  write_cifar("data_batch_1.bin", 0, 1);
  EXPECT_ERR(clnet_dataset_open_dir(tmpdir, &tr, &te, NULL), CLNET_ERR_IO, "test_batch.bin",
             "CIFAR-10 data set is incomplete");
  /* malformed CIFAR batch found by detection */
  write_bytes("test_batch.bin", "abc", 3);
  EXPECT_ERR(clnet_dataset_open_dir(tmpdir, &tr, &te, NULL), CLNET_ERR_FORMAT, "test_batch.bin",
             "file is 3 bytes");
  cr_assert(ds_is_zero(&tr) && ds_is_zero(&te));
}

/* ---- statistics ---------------------------------------------------------------- */

Test(stats, channel_stats_and_default_norm) {
  /* 2 images 1x2, 2 channels: channel 0 values {0, 255, 255, 255}, channel 1 all 51 */
  uint8_t images[8] = {0, 51, 255, 51, 255, 51, 255, 51};
  uint8_t labels[2] = {0, 1};
  clnet_dataset d = {.count = 2, .height = 1, .width = 2, .channels = 2, .classes = 10,
                     .images = images, .labels = labels};
  float mean[2], std[2];
  clnet_dataset_channel_stats(&d, mean, std);
  cr_assert_float_eq(mean[0], 0.75f, 1e-7);
  cr_assert_float_eq(std[0], (float)sqrt(0.1875), 1e-7);
  cr_assert_float_eq(mean[1], 0.2f, 1e-7);
  cr_assert_eq(std[1], 1.0f, "a constant channel reports std 1");
  clnet_dataset_default_norm(&d, mean, std); /* 2 channels -> own stats */
  cr_assert_float_eq(mean[0], 0.75f, 1e-7);

  uint8_t one[6] = {10, 20, 30, 40, 50, 60};
  clnet_dataset g = {.count = 2, .height = 1, .width = 3, .channels = 1, .classes = 10,
                     .images = one, .labels = labels};
  clnet_dataset_default_norm(&g, mean, std);
  double m = (10 + 20 + 30 + 40 + 50 + 60) / 6.0 / 255.0, v = 0;
  for (int i = 0; i < 6; i++) v += (one[i] / 255.0 - m) * (one[i] / 255.0 - m);
  cr_assert_float_eq(mean[0], (float)m, 1e-7);
  cr_assert_float_eq(std[0], (float)sqrt(v / 6), 1e-7);

  uint8_t rgb[3] = {1, 2, 3};
  clnet_dataset c = {.count = 1, .height = 1, .width = 1, .channels = 3, .classes = 10, .images = rgb,
                     .labels = labels};
  float m3[3], s3[3];
  clnet_dataset_default_norm(&c, m3, s3);
  cr_assert_eq(m3[0], 0.485f);
  cr_assert_eq(m3[1], 0.456f);
  cr_assert_eq(m3[2], 0.406f);
  cr_assert_eq(s3[0], 0.229f);
  cr_assert_eq(s3[1], 0.224f);
  cr_assert_eq(s3[2], 0.225f);

  /* 5 channels takes the per-channel path */
  uint8_t five[10] = {0, 10, 20, 30, 40, 255, 10, 20, 30, 50};
  clnet_dataset f5 = {.count = 2, .height = 1, .width = 1, .channels = 5, .classes = 10, .images = five,
                      .labels = labels};
  float m5[5], s5[5];
  clnet_dataset_channel_stats(&f5, m5, s5);
  cr_assert_float_eq(m5[0], 0.5f, 1e-7);
  cr_assert_float_eq(s5[0], 0.5f, 1e-7);
  cr_assert_float_eq(m5[4], 45 / 255.0f, 1e-7);
  cr_assert_eq(s5[1], 1.0f);
}

/* ---- loader ------------------------------------------------------------------- */

/* Loader test set: N images 3x4x2, image i at (h, w, c) = i + 17*w + 5*h + 101*c (mod 256),
 * label i % 10. N <= 256 so the id is recoverable, flipped or not. */
#define LH 3
#define LW 4
#define LC 2
static uint8_t lpx(int i, int h, int w, int c) { return (uint8_t)(i + 17 * w + 5 * h + 101 * c); }

static clnet_dataset make_loader_set(int n) {
  clnet_dataset d = {.count = n, .height = LH, .width = LW, .channels = LC, .classes = 10};
  d.images = malloc((size_t)n * LH * LW * LC);
  d.labels = malloc((size_t)n);
  for (int i = 0; i < n; i++) {
    d.labels[i] = (uint8_t)(i % 10);
    for (int h = 0; h < LH; h++)
      for (int w = 0; w < LW; w++)
        for (int c = 0; c < LC; c++) d.images[((i * LH + h) * LW + w) * LC + c] = lpx(i, h, w, c);
  }
  return d;
}

static const float zero_mean[LC] = {0, 0}, unit_std[LC] = {1, 1};

/* Recover (id, flipped) of image k of a batch normalised with mean 0 std 1, and
 * check every element against the expected pixels. */
static void decode(const clnet_batch *b, int k, int *id, int *flipped) {
  const float *img = b->images + (size_t)k * LH * LW * LC; /* (H, W, C) */
  int p00 = (int)lroundf(img[0] * 255.0f), p01 = (int)lroundf(img[LC] * 255.0f);
  int diff = (p01 - p00 + 256) % 256;
  cr_assert(diff == 17 || diff == 256 - 17, "image %d of batch %d is neither plain nor flipped", k, b->index);
  *flipped = diff != 17;
  *id = (p00 - (*flipped ? 17 * (LW - 1) : 0) + 256) % 256;
  for (int h = 0; h < LH; h++)
    for (int w = 0; w < LW; w++)
      for (int c = 0; c < LC; c++) {
        int sw = *flipped ? LW - 1 - w : w;
        float want = lpx(*id, h, sw, c) / 255.0f;
        cr_assert_float_eq(img[(h * LW + w) * LC + c], want, 1e-6, "batch %d image %d (%d,%d,%d)", b->index, k,
                           h, w, c);
      }
  cr_assert_eq(b->labels[k], *id % 10);
}

/* Run one epoch; record ids and flips in order. Returns the number of images. */
static int run_epoch(clnet_loader *l, int32_t epoch, int32_t first, int *ids, int *flips, int batch, int n) {
  cr_assert_eq(clnet_loader_start_epoch(l, epoch, first), CLNET_SUCCESS, "%s", clnet_last_error());
  clnet_batch b;
  int32_t has = 0, got = 0, expect_index = first;
  const int nb = clnet_loader_batches_per_epoch(l);
  for (;;) {
    cr_assert_eq(clnet_loader_next(l, &b, &has), CLNET_SUCCESS, "%s", clnet_last_error());
    if (!has) break;
    cr_assert_eq(b.index, expect_index++);
    int want = b.index == nb - 1 ? n - (nb - 1) * batch : batch;
    cr_assert_eq(b.count, want, "batch %d has %d images, expected %d", b.index, b.count, want);
    for (int k = 0; k < b.count; k++) decode(&b, k, &ids[got + k], &flips[got + k]);
    got += b.count;
  }
  cr_assert_eq(expect_index, nb);
  /* stays at the end */
  cr_assert_eq(clnet_loader_next(l, &b, &has), CLNET_SUCCESS);
  cr_assert_eq(has, 0);
  return got;
}

Test(loader, every_image_once_last_partial_batch) {
  const int n = 103, batch = 10;
  clnet_dataset d = make_loader_set(n);
  clnet_loader_config cfg = {.batch = batch, .shuffle = 1, .flip = 0, .seed = 42, .mean = zero_mean,
                             .std = unit_std};
  clnet_loader *l = NULL;
  cr_assert_eq(clnet_loader_create(&d, &cfg, &l), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_loader_batches_per_epoch(l), 11);
  int ids[103], flips[103];
  for (int e = 0; e < 3; e++) {
    cr_assert_eq(run_epoch(l, e, 0, ids, flips, batch, n), n);
    int seen[103] = {0}, in_order = 0;
    for (int i = 0; i < n; i++) {
      cr_assert(ids[i] >= 0 && ids[i] < n);
      seen[ids[i]]++;
      in_order += ids[i] == i;
      cr_assert_eq(flips[i], 0, "flip off, but image %d was flipped", ids[i]);
    }
    for (int i = 0; i < n; i++) cr_assert_eq(seen[i], 1, "epoch %d: image %d seen %d times", e, i, seen[i]);
    cr_assert_lt(in_order, 20, "shuffle on, but the order looks unshuffled");
  }
  clnet_loader_free(l);
  /* without shuffle: file order */
  cfg.shuffle = 0;
  cr_assert_eq(clnet_loader_create(&d, &cfg, &l), CLNET_SUCCESS);
  run_epoch(l, 5, 0, ids, flips, batch, n);
  for (int i = 0; i < n; i++) cr_assert_eq(ids[i], i);
  clnet_loader_free(l);
  /* batch larger than the set: one batch of everything; batch 1 */
  cfg.batch = 500;
  cr_assert_eq(clnet_loader_create(&d, &cfg, &l), CLNET_SUCCESS);
  cr_assert_eq(clnet_loader_batches_per_epoch(l), 1);
  cr_assert_eq(run_epoch(l, 0, 0, ids, flips, 500, n), n);
  clnet_loader_free(l);
  cfg.batch = 1;
  cfg.shuffle = 1;
  cr_assert_eq(clnet_loader_create(&d, &cfg, &l), CLNET_SUCCESS);
  cr_assert_eq(clnet_loader_batches_per_epoch(l), n);
  cr_assert_eq(run_epoch(l, 0, 0, ids, flips, 1, n), n);
  clnet_loader_free(l);
  clnet_dataset_free(&d);
}

Test(loader, order_depends_only_on_seed_and_epoch) {
  const int n = 103, batch = 7;
  clnet_dataset d = make_loader_set(n);
  clnet_loader_config cfg = {.batch = batch, .shuffle = 1, .flip = 1, .seed = 1234, .mean = zero_mean,
                             .std = unit_std};
  clnet_loader *a = NULL, *b = NULL;
  cr_assert_eq(clnet_loader_create(&d, &cfg, &a), CLNET_SUCCESS);
  cr_assert_eq(clnet_loader_create(&d, &cfg, &b), CLNET_SUCCESS);
  int ia[4][103], fa[4][103], ib[103], fb[103];
  for (int e = 0; e < 4; e++) run_epoch(a, e, 0, ia[e], fa[e], batch, n);
  /* a fresh loader jumping straight to epoch 3, then 1: same as the loader that ran 0..3 */
  run_epoch(b, 3, 0, ib, fb, batch, n);
  cr_assert_arr_eq(ib, ia[3], sizeof ib);
  cr_assert_arr_eq(fb, fa[3], sizeof fb);
  run_epoch(b, 1, 0, ib, fb, batch, n);
  cr_assert_arr_eq(ib, ia[1], sizeof ib);
  cr_assert_arr_eq(fb, fa[1], sizeof fb);
  /* different epochs differ */
  for (int e = 1; e < 4; e++) {
    int same = 0, same_flip = 0;
    for (int i = 0; i < n; i++) {
      same += ia[e][i] == ia[0][i];
      same_flip += fa[e][i] == fa[0][i];
    }
    cr_assert_lt(same, 20, "epoch %d order equals epoch 0's in %d places", e, same);
    cr_assert_lt(same_flip, 90, "epoch %d flips equal epoch 0's in %d places", e, same_flip);
  }
  clnet_loader_free(b);
  /* a different seed gives a different order */
  cfg.seed = 1235;
  cr_assert_eq(clnet_loader_create(&d, &cfg, &b), CLNET_SUCCESS);
  run_epoch(b, 0, 0, ib, fb, batch, n);
  int same = 0;
  for (int i = 0; i < n; i++) same += ib[i] == ia[0][i];
  cr_assert_lt(same, 20);
  clnet_loader_free(a);
  clnet_loader_free(b);
  clnet_dataset_free(&d);
}

Test(loader, resume_at_first_batch_matches_uninterrupted_epoch) {
  const int n = 103, batch = 8; /* 13 batches, last has 7 */
  clnet_dataset d = make_loader_set(n);
  const float mean[LC] = {0.3f, 0.6f}, std[LC] = {0.2f, 0.45f};
  clnet_loader_config cfg = {.batch = batch, .shuffle = 1, .flip = 1, .seed = 99, .mean = mean, .std = std};
  clnet_loader *full = NULL, *resumed = NULL;
  cr_assert_eq(clnet_loader_create(&d, &cfg, &full), CLNET_SUCCESS);
  cr_assert_eq(clnet_loader_create(&d, &cfg, &resumed), CLNET_SUCCESS);
  const int nb = clnet_loader_batches_per_epoch(full);
  cr_assert_eq(nb, 13);
  const size_t per = (size_t)LH * LW * LC;
  float *ref = malloc((size_t)n * per * sizeof(float));
  int32_t ref_labels[103], counts[13];
  /* advance `resumed` through a different epoch partway first, to show history does not matter */
  clnet_batch b;
  int32_t has;
  cr_assert_eq(clnet_loader_start_epoch(resumed, 4, 0), CLNET_SUCCESS);
  for (int i = 0; i < 5; i++) cr_assert_eq(clnet_loader_next(resumed, &b, &has), CLNET_SUCCESS);

  cr_assert_eq(clnet_loader_start_epoch(full, 2, 0), CLNET_SUCCESS);
  for (int j = 0; j < nb; j++) {
    cr_assert_eq(clnet_loader_next(full, &b, &has), CLNET_SUCCESS);
    cr_assert_eq(has, 1);
    counts[j] = b.count;
    memcpy(ref + (size_t)j * batch * per, b.images, (size_t)b.count * per * sizeof(float));
    memcpy(ref_labels + j * batch, b.labels, (size_t)b.count * sizeof(int32_t));
  }
  cr_assert_eq(counts[12], 7);
  for (int k = 0; k <= nb; k++) {
    cr_assert_eq(clnet_loader_start_epoch(resumed, 2, k), CLNET_SUCCESS);
    for (int j = k; j < nb; j++) {
      cr_assert_eq(clnet_loader_next(resumed, &b, &has), CLNET_SUCCESS);
      cr_assert_eq(has, 1);
      cr_assert_eq(b.index, j);
      cr_assert_eq(b.count, counts[j]);
      cr_assert_arr_eq(b.images, ref + (size_t)j * batch * per, (size_t)b.count * per * sizeof(float),
                       "resume at %d: batch %d differs", k, j);
      cr_assert_arr_eq(b.labels, ref_labels + j * batch, (size_t)b.count * sizeof(int32_t));
    }
    cr_assert_eq(clnet_loader_next(resumed, &b, &has), CLNET_SUCCESS);
    cr_assert_eq(has, 0);
  }
  free(ref);
  clnet_loader_free(full);
  clnet_loader_free(resumed);
  clnet_dataset_free(&d);
}

Test(loader, flip_only_when_asked_and_normalisation) {
  const int n = 200, batch = 32;
  clnet_dataset d = make_loader_set(n);
  clnet_loader_config cfg = {.batch = batch, .shuffle = 0, .flip = 1, .seed = 5, .mean = zero_mean,
                             .std = unit_std};
  clnet_loader *l = NULL;
  cr_assert_eq(clnet_loader_create(&d, &cfg, &l), CLNET_SUCCESS);
  int ids[200], flips[200];
  run_epoch(l, 0, 0, ids, flips, batch, n);
  int nflip = 0;
  for (int i = 0; i < n; i++) {
    cr_assert_eq(ids[i], i, "flip must not change the order");
    nflip += flips[i];
  }
  cr_assert(nflip > 60 && nflip < 140, "%d of %d flipped", nflip, n);
  clnet_loader_free(l);

  /* normalisation: every value is ((x/255) - mean[c]) / std[c] */
  const float mean[LC] = {0.485f, 0.25f}, std[LC] = {0.229f, 0.4f};
  cfg.flip = 0;
  cfg.mean = mean;
  cfg.std = std;
  cr_assert_eq(clnet_loader_create(&d, &cfg, &l), CLNET_SUCCESS);
  cr_assert_eq(clnet_loader_start_epoch(l, 0, 0), CLNET_SUCCESS);
  clnet_batch b;
  int32_t has;
  int seen = 0;
  while (clnet_loader_next(l, &b, &has) == CLNET_SUCCESS && has) {
    for (int k = 0; k < b.count; k++) {
      const int i = b.index * batch + k;
      for (int h = 0; h < LH; h++)
        for (int w = 0; w < LW; w++)
          for (int c = 0; c < LC; c++) {
            float want = ((float)lpx(i, h, w, c) / 255.0f - mean[c]) / std[c];
            float got = b.images[(((size_t)k * LH + h) * LW + w) * LC + c];
            cr_assert_float_eq(got, want, 1e-5f, "image %d (%d,%d,%d): %f vs %f", i, h, w, c, got, want);
          }
    }
    seen += b.count;
  }
  cr_assert_eq(seen, n);
  clnet_loader_free(l);
  clnet_dataset_free(&d);
}

Test(loader, argument_errors_and_abandoned_epochs) {
  clnet_dataset d = make_loader_set(50);
  clnet_loader_config cfg = {.batch = 0, .shuffle = 1, .flip = 1, .seed = 1, .mean = zero_mean, .std = unit_std};
  clnet_loader *l = (clnet_loader *)&d;
  cr_assert_eq(clnet_loader_create(&d, &cfg, &l), CLNET_ERR_INVALID_ARGUMENT);
  cr_assert_null(l);
  cr_assert_not_null(strstr(clnet_last_error(), "batch is 0"));
  cfg.batch = 4;
  const float bad_std[LC] = {1, 0};
  cfg.std = bad_std;
  cr_assert_eq(clnet_loader_create(&d, &cfg, &l), CLNET_ERR_INVALID_ARGUMENT);
  cr_assert_not_null(strstr(clnet_last_error(), "channel 1"));
  cfg.std = NULL;
  cr_assert_eq(clnet_loader_create(&d, &cfg, &l), CLNET_ERR_INVALID_ARGUMENT);
  cfg.std = unit_std;
  clnet_dataset empty = {0};
  cr_assert_eq(clnet_loader_create(&empty, &cfg, &l), CLNET_ERR_INVALID_ARGUMENT);

  cr_assert_eq(clnet_loader_create(&d, &cfg, &l), CLNET_SUCCESS);
  clnet_batch b;
  int32_t has = 7;
  cr_assert_eq(clnet_loader_next(l, &b, &has), CLNET_ERR_INVALID_ARGUMENT, "next before start_epoch");
  cr_assert_eq(has, 0);
  cr_assert_eq(clnet_loader_start_epoch(l, -1, 0), CLNET_ERR_INVALID_ARGUMENT);
  cr_assert_eq(clnet_loader_start_epoch(l, 0, 14), CLNET_ERR_INVALID_ARGUMENT);
  cr_assert_eq(clnet_loader_start_epoch(l, 0, -1), CLNET_ERR_INVALID_ARGUMENT);
  cr_assert_eq(clnet_loader_start_epoch(l, 0, 13), CLNET_SUCCESS); /* empty remainder */
  cr_assert_eq(clnet_loader_next(l, &b, &has), CLNET_SUCCESS);
  cr_assert_eq(has, 0);
  /* abandon epochs at every point, many times: no deadlock, right data afterwards */
  int ids[50], flips[50], ref_ids[50], ref_flips[50];
  run_epoch(l, 9, 0, ref_ids, ref_flips, 4, 50);
  for (int rep = 0; rep < 200; rep++) {
    cr_assert_eq(clnet_loader_start_epoch(l, rep, 0), CLNET_SUCCESS);
    for (int j = 0; j < rep % 15; j++) clnet_loader_next(l, &b, &has);
  }
  run_epoch(l, 9, 0, ids, flips, 4, 50);
  cr_assert_arr_eq(ids, ref_ids, sizeof ids);
  cr_assert_arr_eq(flips, ref_flips, sizeof flips);
  /* free with batches in flight */
  cr_assert_eq(clnet_loader_start_epoch(l, 0, 0), CLNET_SUCCESS);
  clnet_loader_free(l);
  clnet_loader_free(NULL);
  clnet_dataset_free(&d);
}

/* ---- the real Fashion-MNIST (Debian package dataset-fashion-mnist) ---------- */

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

Test(fashion_mnist, loads_real_files, .timeout = 120) {
  struct stat st;
  if (stat(FASHION_DIR, &st) != 0 || !S_ISDIR(st.st_mode)) cr_skip_test(FASHION_DIR " is absent");
  clnet_dataset tr, te;
  const char *fmt = NULL;
  double t0 = now_s();
  cr_assert_eq(clnet_dataset_open_dir(FASHION_DIR, &tr, &te, &fmt), CLNET_SUCCESS, "%s", clnet_last_error());
  double t_load = now_s() - t0;
  cr_log_info("Fashion-MNIST: 70,000 images loaded in %.3f s", t_load);
  cr_assert_str_eq(fmt, "idx");
  cr_assert_eq(tr.count, 60000);
  cr_assert_eq(te.count, 10000);
  cr_assert_eq(tr.height, 28);
  cr_assert_eq(tr.width, 28);
  cr_assert_eq(tr.channels, 1);
  cr_assert_eq(tr.classes, 10);
  cr_assert_eq(te.height, 28);
  int hist_tr[10] = {0}, hist_te[10] = {0};
  for (int i = 0; i < tr.count; i++) hist_tr[tr.labels[i]]++;
  for (int i = 0; i < te.count; i++) hist_te[te.labels[i]]++;
  for (int c = 0; c < 10; c++) {
    cr_assert_eq(hist_tr[c], 6000, "train class %d: %d", c, hist_tr[c]);
    cr_assert_eq(hist_te[c], 1000, "test class %d: %d", c, hist_te[c]);
  }
  /* the well-known statistics of Fashion-MNIST's training split */
  float mean, std;
  clnet_dataset_default_norm(&tr, &mean, &std);
  cr_log_info("Fashion-MNIST train mean %.6f std %.6f", (double)mean, (double)std);
  cr_assert_float_eq(mean, 0.2860f, 5e-4);
  cr_assert_float_eq(std, 0.3530f, 5e-4);

  /* one full training epoch through the loader */
  clnet_loader_config cfg = {.batch = 256, .shuffle = 1, .flip = 1, .seed = 7, .mean = &mean, .std = &std};
  clnet_loader *l = NULL;
  cr_assert_eq(clnet_loader_create(&tr, &cfg, &l), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_loader_batches_per_epoch(l), 235);
  t0 = now_s();
  cr_assert_eq(clnet_loader_start_epoch(l, 0, 0), CLNET_SUCCESS);
  clnet_batch b;
  int32_t has;
  int total = 0, nbatches = 0;
  double sum = 0;
  while (clnet_loader_next(l, &b, &has) == CLNET_SUCCESS && has) {
    for (int i = 0; i < b.count * 784; i++) sum += b.images[i];
    total += b.count;
    nbatches++;
  }
  cr_log_info("Fashion-MNIST: one epoch of 235 batches in %.3f s", now_s() - t0);
  cr_assert_eq(total, 60000);
  cr_assert_eq(nbatches, 235);
  cr_assert_eq(b.count, 0);
  cr_assert_float_eq(sum / (60000.0 * 784), 0.0, 1e-3, "normalised mean %g", sum / (60000.0 * 784));
  clnet_loader_free(l);
  clnet_dataset_free(&tr);
  clnet_dataset_free(&te);
  cr_assert_lt(t_load, 5.0, "loading took %.2f s", t_load);
}
