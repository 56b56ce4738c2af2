/* Image folders (host/data/imagefolder.c, image_source.c, image_decode.c,
 * image_resize.c): tree detection in both layouts, the seeded stratified
 * validation split, bad files (each named, or skipped and counted), the
 * decompression-bomb limit, decoding and resampling, batches identical to the
 * same images in memory; and end to end through the clnet executable: training
 * on PNG and JPEG trees made from Fashion-MNIST images, the same run as on CIFAR
 * files of the same images, exact resume, eval by class name and predict. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>
#include <zlib.h>

#include "cli_run.h"
#include "clnet/data.h"
#include "clnet/io.h"
#include "clnet/train.h"
#include "data/image.h"

/* ---- files ---------------------------------------------------------------------- */

static char root[256];

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

static void make_root(void) {
  snprintf(root, sizeof root, "/tmp/clnet-images-XXXXXX");
  cr_assert_not_null(mkdtemp(root));
}
static void drop_root(void) { rm_rf(root); }

/* root/rel in a rotating static buffer */
static const char *rp(const char *fmt, ...) {
  static char bufs[16][1280];
  static int next = 0;
  char *b = bufs[next++ % 16], rel[900];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(rel, sizeof rel, fmt, ap);
  va_end(ap);
  snprintf(b, 1280, "%s/%s", root, rel);
  return b;
}

static void mkdirs(const char *path) {
  char p[1024];
  snprintf(p, sizeof p, "%s", path);
  for (char *s = p + 1; *s; s++)
    if (*s == '/') {
      *s = '\0';
      mkdir(p, 0755);
      *s = '/';
    }
  mkdir(p, 0755);
}

static void parent_dirs(const char *path) {
  char p[1024];
  snprintf(p, sizeof p, "%s", path);
  char *slash = strrchr(p, '/');
  if (slash) {
    *slash = '\0';
    mkdirs(p);
  }
}

static void write_file(const char *path, const void *data, size_t n) {
  parent_dirs(path);
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f, "cannot write %s", path);
  if (n) cr_assert_eq(fwrite(data, 1, n, f), n);
  fclose(f);
}

static uint8_t *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "cannot read %s", path);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(*n + 1);
  cr_assert_eq(fread(b, 1, *n, f), *n);
  fclose(f);
  return b;
}

static void write_png(const char *path, int h, int w, int c, const uint8_t *px) {
  parent_dirs(path);
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = (png_uint_32)w;
  img.height = (png_uint_32)h;
  img.format = c == 1 ? PNG_FORMAT_GRAY : c == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
  cr_assert(png_image_write_to_file(&img, path, 0, px, 0, NULL), "%s: %s", path, img.message);
}

static void write_jpeg(const char *path, int h, int w, int c, const uint8_t *px, int quality) {
  parent_dirs(path);
  tjhandle tj = tjInitCompress();
  unsigned char *buf = NULL;
  unsigned long size = 0;
  cr_assert_eq(tjCompress2(tj, px, w, 0, h, c == 1 ? TJPF_GRAY : TJPF_RGB, &buf, &size, c == 1 ? TJSAMP_GRAY : TJSAMP_444,
                           quality, 0), 0, "%s", tjGetErrorStr2(tj));
  write_file(path, buf, size);
  tjFree(buf);
  tjDestroy(tj);
}

/* A PNG whose IHDR declares w x h (valid CRC) and nothing else: a decompression bomb's header. */
static void write_png_header_only(const char *path, uint32_t w, uint32_t h) {
  uint8_t b[8 + 25] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
  uint8_t *p = b + 16;
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(w >> (24 - 8 * i)), p[4 + i] = (uint8_t)(h >> (24 - 8 * i));
  p[8] = 8;  /* bit depth */
  p[9] = 0;  /* grey */
  uLong crc = crc32(0, b + 12, 17);
  for (int i = 0; i < 4; i++) b[29 + i] = (uint8_t)(crc >> (24 - 8 * i));
  write_file(path, b, sizeof b);
}

/* ---- Fashion-MNIST images ------------------------------------------------------------ */

/* n test images of Fashion-MNIST (28x28 grey) and their labels. */
static clnet_dataset fmnist(void) {
  clnet_dataset d;
  cr_assert_eq(clnet_dataset_load_idx(CLNET_DEFAULT_DATA_DIR "/t10k-images-idx3-ubyte.gz",
                                      CLNET_DEFAULT_DATA_DIR "/t10k-labels-idx1-ubyte.gz", &d),
               CLNET_SUCCESS, "Fashion-MNIST (dataset-fashion-mnist): %s", clnet_last_error());
  return d;
}

/* Image i of d as 32x32 RGB: zero border of 2, grey in each channel (what CIFAR files hold). */
static void rgb32(const clnet_dataset *d, int i, uint8_t out[32 * 32 * 3]) {
  memset(out, 0, 32 * 32 * 3);
  const uint8_t *g = d->images + (size_t)i * 784;
  for (int y = 0; y < 28; y++)
    for (int x = 0; x < 28; x++)
      for (int c = 0; c < 3; c++) out[((y + 2) * 32 + x + 2) * 3 + c] = g[y * 28 + x];
}

/* The smallest n >= at_least such that images [first, first + n) of d hold every class. */
static int span_all_classes(const clnet_dataset *d, int first, int at_least) {
  for (int n = at_least; first + n <= d->count; n++) {
    int seen = 0;
    for (int i = first; i < first + n; i++) seen |= 1 << d->labels[i];
    if (seen == 0x3ff) return n;
  }
  cr_assert_fail("no span of Fashion-MNIST holds every class");
  return 0;
}

enum { FMT_PNG, FMT_JPEG };

/* An image folder of images [first, first + n) of d, class by class (each in d's order),
 * into dir/<class>/NNNNN.<ext>: classes named "<label>_c" so that they sort in label order.
 * rgb: as 32x32 RGB. Returns those images in the folder's order as an in-memory set
 * (labels too), and writes them as a CIFAR batch to cifar_path when it is not NULL. */
static clnet_dataset write_tree(const clnet_dataset *d, int first, int n, const char *dir, int fmt, int rgb,
                                const char *cifar_path) {
  const int H = rgb ? 32 : 28, W = H, C = rgb ? 3 : 1, size = H * W * C;
  clnet_dataset m = {.count = n, .height = H, .width = W, .channels = C, .classes = 10};
  m.images = malloc((size_t)n * size);
  m.labels = malloc((size_t)n);
  FILE *cf = cifar_path ? fopen(cifar_path, "wb") : NULL;
  if (cifar_path) cr_assert_not_null(cf);
  int at = 0;
  uint8_t px[32 * 32 * 3];
  for (int k = 0; k < 10; k++) {
    int count = 0;
    for (int i = first; i < first + n; i++) {
      if (d->labels[i] != k) continue;
      if (rgb) rgb32(d, i, px);
      else memcpy(px, d->images + (size_t)i * 784, 784);
      char path[1024];
      snprintf(path, sizeof path, "%s/%d_c/%05d.%s", dir, k, count++, fmt == FMT_PNG ? "png" : "jpg");
      if (fmt == FMT_PNG) write_png(path, H, W, C, px);
      else write_jpeg(path, H, W, C, px, 95);
      memcpy(m.images + (size_t)at * size, px, (size_t)size);
      m.labels[at++] = (uint8_t)k;
      if (cf) {
        uint8_t rec[3073];
        rec[0] = (uint8_t)k;
        for (int p = 0; p < 1024; p++)
          for (int c = 0; c < 3; c++) rec[1 + c * 1024 + p] = px[p * 3 + c];
        cr_assert_eq(fwrite(rec, 1, sizeof rec, cf), sizeof rec);
      }
    }
  }
  if (cf) fclose(cf);
  cr_assert_eq(at, n);
  return m;
}

/* A small grey PNG of value v. */
static void small_png(const char *path, int h, int w, uint8_t v) {
  uint8_t *px = malloc((size_t)h * w);
  memset(px, v, (size_t)h * w);
  write_png(path, h, w, 1, px);
  free(px);
}

/* ---- notes ---------------------------------------------------------------------------- */

static char notes[1 << 16];
static void collect_note(void *user, const char *line) {
  (void)user;
  size_t n = strlen(notes);
  snprintf(notes + n, sizeof notes - n, "%s\n", line);
}

/* open_dir_ex must fail with `status`, naming `path` and saying `what`. */
static void expect_bad(const clnet_image_options *o, clnet_status status, const char *path, const char *what) {
  clnet_dataset tr, te;
  clnet_status st = clnet_dataset_open_dir_ex(root, o, &tr, &te, NULL);
  const char *msg = clnet_last_error();
  cr_assert_eq(st, status, "expected %s, got %s: %s", clnet_status_str(status), clnet_status_str(st), msg);
  cr_assert(strstr(msg, path), "the message does not name %s: %s", path, msg);
  cr_assert(strstr(msg, what), "the message does not say '%s': %s", what, msg);
  cr_assert(tr.count == 0 && te.count == 0 && tr.source == NULL && te.source == NULL, "not zeroed on failure");
}

/* ---- tree detection --------------------------------------------------------------------- */

Test(tree, train_and_val_classes_sorted_files_in_path_order, .init = make_root, .fini = drop_root) {
  /* classes created out of order; a nested folder; upper-case extensions; a hidden file */
  const char *cls[3] = {"zebra", "ant", "moth"};
  for (int c = 0; c < 3; c++) {
    small_png(rp("train/%s/b.png", cls[c]), 5, 6, 10);
    small_png(rp("train/%s/a.PNG", cls[c]), 5, 6, 20);
    small_png(rp("train/%s/sub/c.png", cls[c]), 5, 6, 30);
    small_png(rp("val/%s/x.png", cls[c]), 7, 9, 40);
  }
  write_file(rp("train/ant/.hidden.png"), "x", 1);
  write_file(rp("train/ant/notes.txt"), "hello", 5);
  notes[0] = '\0';
  clnet_image_options o = {.note = collect_note};
  clnet_dataset tr, te;
  const char *fmt = NULL;
  cr_assert_eq(clnet_dataset_open_dir_ex(root, &o, &tr, &te, &fmt), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_str_eq(fmt, "images");
  cr_assert_eq(tr.classes, 3);
  cr_assert_str_eq(tr.class_names[0], "ant");
  cr_assert_str_eq(tr.class_names[1], "moth");
  cr_assert_str_eq(tr.class_names[2], "zebra");
  cr_assert_str_eq(te.class_names[2], "zebra");
  cr_assert_eq(tr.count, 9);
  cr_assert_eq(te.count, 3);
  cr_assert(tr.height == 5 && tr.width == 6 && tr.channels == 1, "the input is the training images' size: %dx%dx%d",
            tr.height, tr.width, tr.channels);
  cr_assert(te.height == 5 && te.width == 6, "the test split is made to the same input");
  const char *order[3] = {"a.PNG", "b.png", "sub/c.png"};
  for (int i = 0; i < 9; i++) {
    cr_assert_eq(clnet_dataset_label(&tr, i), i / 3);
    char want[512];
    snprintf(want, sizeof want, "%s/train/%s/%s", root, tr.class_names[i / 3], order[i % 3]);
    cr_assert_str_eq(clnet_dataset_image_path(&tr, i), want);
  }
  cr_assert(strstr(notes, "ignored 1 file") && strstr(notes, "notes.txt"), "the ignored file is said:\n%s", notes);
  cr_assert(tr.has_norm, "image folders bring their normalisation");
  float m[1], s[1];
  clnet_dataset_default_norm(&tr, m, s); /* pixels 10, 20, 30 in equal numbers */
  cr_assert_float_eq(m[0], 20 / 255.0f, 1e-6);
  cr_assert_float_eq(s[0], (float)(sqrt(200.0 / 3) / 255), 1e-6);
  clnet_dataset_free(&tr);
  clnet_dataset_free(&te);
}

Test(tree, test_folder_and_class_mismatch, .init = make_root, .fini = drop_root) {
  small_png(rp("train/a/1.png"), 4, 4, 1);
  small_png(rp("train/b/1.png"), 4, 4, 1);
  small_png(rp("test/a/1.png"), 4, 4, 1);
  small_png(rp("test/c/1.png"), 4, 4, 1);
  expect_bad(NULL, CLNET_ERR_FORMAT, rp("train/b"), "missing from the validation folder");
  rm_rf(rp("train/b"));
  expect_bad(NULL, CLNET_ERR_FORMAT, rp("test/c"), "missing from train/");
  small_png(rp("train/c/1.png"), 4, 4, 1);
  clnet_dataset tr, te;
  cr_assert_eq(clnet_dataset_open_dir_ex(root, NULL, &tr, &te, NULL), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(te.count, 2);
  clnet_dataset_free(&tr);
  clnet_dataset_free(&te);
  /* a validation split where train/ and test/ exist is a mistake */
  clnet_image_options o = {.val_split = 0.2};
  expect_bad(&o, CLNET_ERR_INVALID_ARGUMENT, root, "--val-split");
}

Test(tree, one_tree_needs_a_validation_split, .init = make_root, .fini = drop_root) {
  for (int c = 0; c < 2; c++)
    for (int i = 0; i < 5; i++) small_png(rp("k%d/%d.png", c, i), 3, 3, (uint8_t)i);
  expect_bad(NULL, CLNET_ERR_INVALID_ARGUMENT, root, "--val-split");
  clnet_image_options o = {.val_split = 0.4};
  clnet_dataset tr, te;
  cr_assert_eq(clnet_dataset_open_dir_ex(root, &o, &tr, &te, NULL), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(tr.count, 6);
  cr_assert_eq(te.count, 4);
  clnet_dataset_free(&tr);
  clnet_dataset_free(&te);
  /* evaluation of a one-tree layout without a split: all of it */
  clnet_image_options e = {.eval_only = 1, .height = 3, .width = 3, .channels = 1};
  cr_assert_eq(clnet_dataset_open_dir_ex(root, &e, &tr, &te, NULL), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(te.count, 10);
  cr_assert_eq(tr.count, 0);
  clnet_dataset_free(&tr);
  clnet_dataset_free(&te);
}

/* Held out per class: round(F * n), at least 1, never all; the same seed holds out the same files,
 * another seed others; train and test partition the files. */
Test(split, stratified_and_seeded, .init = make_root, .fini = drop_root) {
  const int per[4] = {10, 20, 7, 2};
  for (int c = 0; c < 4; c++)
    for (int i = 0; i < per[c]; i++) small_png(rp("train/c%d/%02d.png", c, i), 2, 2, (uint8_t)c);
  char held[3][64][512];
  int held_n[3] = {0};
  const uint64_t seeds[3] = {7, 7, 8};
  for (int run = 0; run < 3; run++) {
    clnet_image_options o = {.val_split = 0.25, .split_seed = seeds[run]};
    clnet_dataset tr, te;
    cr_assert_eq(clnet_dataset_open_dir_ex(root, &o, &tr, &te, NULL), CLNET_SUCCESS, "%s", clnet_last_error());
    int counts[4] = {0}, train_counts[4] = {0};
    for (int i = 0; i < te.count; i++) {
      counts[clnet_dataset_label(&te, i)]++;
      snprintf(held[run][held_n[run]++], 512, "%s", clnet_dataset_image_path(&te, i));
    }
    for (int i = 0; i < tr.count; i++) {
      train_counts[clnet_dataset_label(&tr, i)]++;
      for (int j = 0; j < te.count; j++)
        cr_assert_str_neq(clnet_dataset_image_path(&tr, i), clnet_dataset_image_path(&te, j), "in both splits");
    }
    const int want[4] = {3, 5, 2, 1}; /* round(2.5) = 3, 5, round(1.75) = 2, round(0.5) = 1 */
    for (int c = 0; c < 4; c++) {
      cr_assert_eq(counts[c], want[c], "class %d: %d held out, expected %d", c, counts[c], want[c]);
      cr_assert_eq(train_counts[c] + counts[c], per[c]);
    }
    clnet_dataset_free(&tr);
    clnet_dataset_free(&te);
  }
  cr_assert_eq(held_n[0], held_n[1]);
  for (int i = 0; i < held_n[0]; i++) cr_assert_str_eq(held[0][i], held[1][i], "the same seed holds out the same files");
  int differ = 0;
  for (int i = 0; i < held_n[0]; i++) differ |= strcmp(held[0][i], held[2][i]) != 0;
  cr_assert(differ, "another split seed holds out other files");
}

/* ---- bad input: each one named -------------------------------------------------------------- */

static void good_tree(void) {
  for (int c = 0; c < 2; c++) {
    small_png(rp("train/c%d/ok1.png", c), 8, 8, 50);
    small_png(rp("train/c%d/ok2.png", c), 8, 8, 60);
    small_png(rp("val/c%d/ok.png", c), 8, 8, 70);
  }
}

Test(bad, each_kind_is_named, .init = make_root, .fini = drop_root) {
  good_tree();
  uint8_t px[8 * 8 * 3]; /* the good images' size: a size that differs is its own error */
  for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 7 + (i * i) % 13);
  /* truncated PNG */
  write_png(rp("full.png"), 8, 8, 3, px);
  size_t n;
  uint8_t *png = read_file(rp("full.png"), &n);
  unlink(rp("full.png"));
  write_file(rp("train/c0/truncated.png"), png, n / 2);
  expect_bad(NULL, CLNET_ERR_FORMAT, rp("train/c0/truncated.png"), "PNG");
  unlink(rp("train/c0/truncated.png"));
  /* corrupt PNG: a flipped byte in the image data fails its CRC */
  png[n / 2] ^= 0x55;
  write_file(rp("train/c1/corrupt.png"), png, n);
  expect_bad(NULL, CLNET_ERR_FORMAT, rp("train/c1/corrupt.png"), "corrupt");
  unlink(rp("train/c1/corrupt.png"));
  free(png);
  /* truncated JPEG */
  write_jpeg(rp("full.jpg"), 8, 8, 3, px, 90);
  uint8_t *jpg = read_file(rp("full.jpg"), &n);
  unlink(rp("full.jpg"));
  write_file(rp("val/c0/truncated.jpg"), jpg, n * 2 / 3);
  expect_bad(NULL, CLNET_ERR_FORMAT, rp("val/c0/truncated.jpg"), "JPEG");
  unlink(rp("val/c0/truncated.jpg"));
  /* a JPEG header with garbage after it */
  write_file(rp("val/c0/garbage.jpeg"), jpg, 40);
  expect_bad(NULL, CLNET_ERR_FORMAT, rp("val/c0/garbage.jpeg"), "JPEG");
  unlink(rp("val/c0/garbage.jpeg"));
  free(jpg);
  /* not an image */
  write_file(rp("train/c0/text.png"), "hello world\n", 12);
  expect_bad(NULL, CLNET_ERR_FORMAT, rp("train/c0/text.png"), "not a PNG or JPEG image");
  unlink(rp("train/c0/text.png"));
  write_file(rp("train/c0/empty.jpg"), "", 0);
  expect_bad(NULL, CLNET_ERR_FORMAT, rp("train/c0/empty.jpg"), "empty file");
  unlink(rp("train/c0/empty.jpg"));
  /* unreadable: a link to nothing (and, when not root, a file without read permission) */
  cr_assert_eq(symlink("/nonexistent/clnet.png", rp("train/c1/gone.png")), 0);
  expect_bad(NULL, CLNET_ERR_IO, rp("train/c1/gone.png"), "a symbolic link to nothing");
  unlink(rp("train/c1/gone.png"));
  if (geteuid() != 0) {
    small_png(rp("train/c1/secret.png"), 8, 8, 1);
    chmod(rp("train/c1/secret.png"), 0);
    expect_bad(NULL, CLNET_ERR_IO, rp("train/c1/secret.png"), "Permission denied");
    unlink(rp("train/c1/secret.png"));
  }
  /* symbolic-link loops: a folder that links back up, a link to itself */
  cr_assert_eq(symlink("..", rp("train/c0/up")), 0);
  expect_bad(NULL, CLNET_ERR_IO, rp("train/c0/up"), "symbolic-link loop");
  unlink(rp("train/c0/up"));
  cr_assert_eq(symlink("self.png", rp("train/c0/self.png")), 0);
  expect_bad(NULL, CLNET_ERR_IO, rp("train/c0/self.png"), "symbolic-link loop");
  unlink(rp("train/c0/self.png"));
  /* an empty class folder; a class folder without images */
  mkdirs(rp("train/c2"));
  mkdirs(rp("val/c2"));
  small_png(rp("val/c2/x.png"), 8, 8, 1);
  expect_bad(NULL, CLNET_ERR_FORMAT, rp("train/c2"), "empty class folder");
  write_file(rp("train/c2/readme.txt"), "x", 1);
  expect_bad(NULL, CLNET_ERR_FORMAT, rp("train/c2"), "without .png, .jpg or .jpeg images");
  rm_rf(rp("train/c2"));
  rm_rf(rp("val/c2"));
  /* what is left opens */
  clnet_dataset tr, te;
  cr_assert_eq(clnet_dataset_open_dir_ex(root, NULL, &tr, &te, NULL), CLNET_SUCCESS, "%s", clnet_last_error());
  clnet_dataset_free(&tr);
  clnet_dataset_free(&te);
}

/* A header that declares 30000 x 30000 pixels is refused from the header alone (the file is 33
 * bytes: nothing else could be decoded); the limit is the caller's. */
Test(bad, decompression_bomb_limit_from_the_header, .init = make_root, .fini = drop_root) {
  good_tree();
  write_png_header_only(rp("train/c0/bomb.png"), 30000, 30000);
  expect_bad(NULL, CLNET_ERR_TOO_LARGE, rp("train/c0/bomb.png"), "900,000,000 pixels, more than the limit of 100,000,000");
  unlink(rp("train/c0/bomb.png"));
  /* a JPEG whose frame header says 30000 x 30000: patch a small JPEG's SOF0 */
  uint8_t px[16 * 16];
  memset(px, 9, sizeof px);
  write_jpeg(rp("s.jpg"), 16, 16, 1, px, 80);
  size_t n;
  uint8_t *j = read_file(rp("s.jpg"), &n);
  unlink(rp("s.jpg"));
  size_t sof = 0;
  for (size_t i = 2; i + 9 < n && !sof; i++)
    if (j[i] == 0xff && j[i + 1] == 0xc0) sof = i;
  cr_assert_gt(sof, 0, "no SOF0 marker");
  j[sof + 5] = 30000 >> 8, j[sof + 6] = 30000 & 0xff, j[sof + 7] = 30000 >> 8, j[sof + 8] = 30000 & 0xff;
  write_file(rp("val/c1/bomb.jpg"), j, n);
  free(j);
  expect_bad(NULL, CLNET_ERR_TOO_LARGE, rp("val/c1/bomb.jpg"), "more than the limit");
  unlink(rp("val/c1/bomb.jpg"));
  /* the limit is an option: 8x8 = 64 pixels against 63 */
  clnet_image_options o = {.max_pixels = 63};
  expect_bad(&o, CLNET_ERR_TOO_LARGE, rp("train/c0/ok1.png"), "64 pixels, more than the limit of 63");
  o.max_pixels = 64;
  clnet_dataset tr, te;
  cr_assert_eq(clnet_dataset_open_dir_ex(root, &o, &tr, &te, NULL), CLNET_SUCCESS, "%s", clnet_last_error());
  clnet_dataset_free(&tr);
  clnet_dataset_free(&te);
}

Test(bad, skipped_and_counted, .init = make_root, .fini = drop_root) {
  good_tree();
  write_file(rp("train/c0/text.png"), "hello", 5);
  write_png_header_only(rp("train/c1/bomb.png"), 30000, 30000);
  cr_assert_eq(symlink("/nonexistent.png", rp("val/c0/gone.jpg")), 0);
  uint8_t px[32 * 32];
  memset(px, 3, sizeof px);
  write_png(rp("x.png"), 32, 32, 1, px);
  size_t n;
  uint8_t *b = read_file(rp("x.png"), &n);
  unlink(rp("x.png"));
  write_file(rp("val/c1/half.png"), b, n - 20);
  free(b);
  notes[0] = '\0';
  clnet_image_options o = {.skip_bad = 1, .note = collect_note};
  clnet_dataset tr, te;
  cr_assert_eq(clnet_dataset_open_dir_ex(root, &o, &tr, &te, NULL), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(tr.count, 4);
  cr_assert_eq(te.count, 2);
  cr_assert_eq(tr.skipped, 2);
  cr_assert_eq(te.skipped, 1, "the link to nothing never reaches the list; the truncated file does");
  cr_assert(strstr(notes, "skipped 4 bad images of 10"), "no summary:\n%s", notes);
  const char *named[4] = {"train/c0/text.png", "train/c1/bomb.png", "val/c0/gone.jpg", "val/c1/half.png"};
  for (int i = 0; i < 4; i++) cr_assert(strstr(notes, rp("%s", named[i])), "%s is not named:\n%s", named[i], notes);
  clnet_dataset_free(&tr);
  clnet_dataset_free(&te);
  /* a class whose every training image is bad is still an error */
  unlink(rp("train/c1/ok1.png"));
  unlink(rp("train/c1/ok2.png"));
  expect_bad(&o, CLNET_ERR_FORMAT, "class 'c1'", "no readable training images left");
}

/* ---- decoding and resampling -------------------------------------------------------------------- */

Test(decode, png_exact_jpeg_close_channels_converted, .init = make_root, .fini = drop_root) {
  enum { H = 13, W = 17 };
  uint8_t rgb[H * W * 3], grey[H * W];
  for (int i = 0; i < H * W; i++) {
    rgb[3 * i] = (uint8_t)(i * 3), rgb[3 * i + 1] = (uint8_t)(255 - i), rgb[3 * i + 2] = (uint8_t)(i * i);
    grey[i] = (uint8_t)(i * 5);
  }
  write_png(rp("c.png"), H, W, 3, rgb);
  write_png(rp("g.png"), H, W, 1, grey);
  write_jpeg(rp("g.jpg"), H, W, 1, grey, 100);
  clnet_image_decoder *d = NULL;
  cr_assert_eq(clnet_image_decoder_create(&d), CLNET_SUCCESS);
  clnet_image im = {0}, conv = {0};
  clnet_image_info info;
  cr_assert_eq(clnet_image_probe_file(d, rp("c.png"), 1000, &info), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert(info.h == H && info.w == W && info.c == 3);
  cr_assert_eq(clnet_image_load_file(d, rp("c.png"), 1000, &im), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert(im.h == H && im.w == W && im.c == 3);
  cr_assert_eq(memcmp(im.px, rgb, sizeof rgb), 0, "PNG decoding is exact");
  cr_assert_eq(clnet_image_to_channels(&im, 1, &conv), CLNET_SUCCESS);
  for (int i = 0; i < H * W; i++) {
    const uint8_t want = (uint8_t)((19595u * rgb[3 * i] + 38470u * rgb[3 * i + 1] + 7471u * rgb[3 * i + 2] + 32768u) >> 16);
    cr_assert_eq(conv.px[i], want, "luma of pixel %d", i);
  }
  cr_assert_eq(clnet_image_load_file(d, rp("g.png"), 1000, &im), CLNET_SUCCESS);
  cr_assert_eq(clnet_image_to_channels(&im, 3, &conv), CLNET_SUCCESS);
  for (int i = 0; i < H * W; i++)
    cr_assert(conv.px[3 * i] == grey[i] && conv.px[3 * i + 1] == grey[i] && conv.px[3 * i + 2] == grey[i]);
  cr_assert_eq(clnet_image_load_file(d, rp("g.jpg"), 1000, &im), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert(im.c == 1, "a greyscale JPEG decodes to one channel");
  double err = 0;
  for (int i = 0; i < H * W; i++) err += fabs((double)im.px[i] - grey[i]);
  cr_assert_lt(err / (H * W), 3.0, "JPEG at quality 100 is close: mean error %g", err / (H * W));
  /* RGBA: alpha composited onto black */
  uint8_t rgba[4] = {200, 100, 50, 0};
  write_png(rp("a.png"), 1, 1, 4, rgba);
  cr_assert_eq(clnet_image_load_file(d, rp("a.png"), 1000, &im), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert(im.c == 3 && im.px[0] == 0 && im.px[1] == 0 && im.px[2] == 0, "transparent -> black");
  clnet_image_release(&im);
  clnet_image_release(&conv);
  clnet_image_decoder_free(d);
}

Test(resample, identity_antialias_centre) {
  enum { N = 16 };
  clnet_image src = {.h = N, .w = N, .c = 1};
  src.px = malloc(N * N);
  for (int y = 0; y < N; y++)
    for (int x = 0; x < N; x++) src.px[y * N + x] = (uint8_t)(((x + y) & 1) ? 255 : 0); /* checkerboard */
  float *tmp = NULL;
  size_t cap = 0;
  uint8_t out[N * N];
  const clnet_image_region whole = {0, 0, N, N};
  cr_assert_eq(clnet_image_resample(&src, whole, N, N, out, &tmp, &cap), CLNET_SUCCESS);
  cr_assert_eq(memcmp(out, src.px, N * N), 0, "same size: exact");
  /* the whole image moved by a quarter pixel still is the image's values blended: not a copy */
  const clnet_image_region shifted = {0.25, 0, N - 0.25, N};
  cr_assert_eq(clnet_image_resample(&src, shifted, N, N, out, &tmp, &cap), CLNET_SUCCESS);
  cr_assert_neq(memcmp(out, src.px, N * N), 0);
  /* shrinking a checkerboard 4x: antialiased, every output is the average grey */
  cr_assert_eq(clnet_image_resample(&src, whole, N / 4, N / 4, out, &tmp, &cap), CLNET_SUCCESS);
  for (int i = 0; i < (N / 4) * (N / 4); i++) cr_assert(abs((int)out[i] - 128) <= 2, "output %d is %d, not grey", i, out[i]);
  /* growing a 1x1 image: constant */
  clnet_image one = {.h = 1, .w = 1, .c = 1, .px = (uint8_t[]){77}};
  const clnet_image_region dot = {0, 0, 1, 1};
  cr_assert_eq(clnet_image_resample(&one, dot, 5, 3, out, &tmp, &cap), CLNET_SUCCESS);
  for (int i = 0; i < 15; i++) cr_assert_eq(out[i], 77);
  /* centre region: covering, centred */
  clnet_image_region r = clnet_image_center_region(100, 200, 50, 50); /* scale 0.5: 100x100 in the middle */
  cr_assert(r.cw == 100 && r.ch == 100 && r.x0 == 50 && r.y0 == 0, "%g %g %g %g", r.x0, r.y0, r.cw, r.ch);
  free(tmp);
  free(src.px);
}

/* ---- batches ------------------------------------------------------------------------------------------- */

static void expect_same_batches(const clnet_dataset *a, const clnet_dataset *b, int flip, int epochs) {
  float mean[3] = {0.3f, 0.4f, 0.5f}, std[3] = {0.2f, 0.25f, 0.3f};
  const clnet_loader_config lc = {.batch = 16, .shuffle = 1, .flip = flip, .seed = 11, .mean = mean, .std = std};
  clnet_loader *la = NULL, *lb = NULL;
  cr_assert_eq(clnet_loader_create(a, &lc, &la), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_loader_create(b, &lc, &lb), CLNET_SUCCESS, "%s", clnet_last_error());
  const size_t elems = (size_t)a->height * a->width * a->channels;
  for (int e = 0; e < epochs; e++) {
    cr_assert_eq(clnet_loader_start_epoch(la, e, 0), CLNET_SUCCESS);
    cr_assert_eq(clnet_loader_start_epoch(lb, e, 0), CLNET_SUCCESS);
    for (;;) {
      clnet_batch x, y;
      int32_t hx = 0, hy = 0;
      cr_assert_eq(clnet_loader_next(la, &x, &hx), CLNET_SUCCESS, "%s", clnet_last_error());
      cr_assert_eq(clnet_loader_next(lb, &y, &hy), CLNET_SUCCESS, "%s", clnet_last_error());
      cr_assert_eq(hx, hy);
      if (!hx) break;
      cr_assert_eq(x.count, y.count);
      cr_assert_eq(memcmp(x.labels, y.labels, (size_t)x.count * sizeof *x.labels), 0, "epoch %d batch %d labels", e,
                   x.index);
      cr_assert_eq(memcmp(x.images, y.images, (size_t)x.count * elems * sizeof(float)), 0, "epoch %d batch %d differs",
                   e, x.index);
    }
  }
  clnet_loader_free(la);
  clnet_loader_free(lb);
}

/* PNG decoding is exact and --crop none leaves an image of the input's size as it is: the batches
 * are bit for bit those of the same images in memory, shuffled and flipped alike. */
Test(batches, png_folder_equals_the_images_in_memory, .init = make_root, .fini = drop_root) {
  clnet_dataset fm = fmnist();
  const int nt = span_all_classes(&fm, 0, 120), nv = span_all_classes(&fm, nt, 30);
  clnet_dataset mem = write_tree(&fm, 0, nt, rp("train"), FMT_PNG, 0, NULL);
  clnet_dataset memv = write_tree(&fm, nt, nv, rp("val"), FMT_PNG, 0, NULL);
  clnet_image_options o = {.crop = CLNET_IMAGE_CROP_NONE, .cache = CLNET_IMAGE_CACHE_NONE, .threads = 3};
  clnet_dataset tr, te;
  cr_assert_eq(clnet_dataset_open_dir_ex(root, &o, &tr, &te, NULL), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert(tr.height == 28 && tr.width == 28 && tr.channels == 1);
  expect_same_batches(&mem, &tr, 1, 2);
  expect_same_batches(&memv, &te, 0, 1);
  /* the normalisation is the training split's, exactly as for the same images in memory */
  float m1[1], s1[1], m2[1], s2[1];
  clnet_dataset_default_norm(&mem, m1, s1);
  clnet_dataset_default_norm(&tr, m2, s2);
  cr_assert(m1[0] == m2[0] && s1[0] == s2[0], "mean %g/%g std %g/%g", m1[0], m2[0], s1[0], s2[0]);
  clnet_dataset_free(&tr);
  clnet_dataset_free(&te);
  /* grey PNGs as a 3-channel input: the grey value in each channel */
  o.channels = 3;
  cr_assert_eq(clnet_dataset_open_dir_ex(root, &o, &tr, &te, NULL), CLNET_SUCCESS, "%s", clnet_last_error());
  clnet_dataset mem3 = {.count = mem.count, .height = 28, .width = 28, .channels = 3, .classes = 10, .labels = mem.labels};
  mem3.images = malloc((size_t)mem.count * 784 * 3);
  for (size_t i = 0; i < (size_t)mem.count * 784; i++) mem3.images[3 * i] = mem3.images[3 * i + 1] = mem3.images[3 * i + 2] = mem.images[i];
  expect_same_batches(&mem3, &tr, 1, 1);
  free(mem3.images);
  clnet_dataset_free(&tr);
  clnet_dataset_free(&te);
  clnet_dataset_free(&mem);
  clnet_dataset_free(&memv);
  clnet_dataset_free(&fm);
}

/* The training crops depend on (seed, epoch, position) only: the same batches with the cache or
 * without, on 1 decoding thread or 3, for each crop mode; images of other sizes are made to the input. */
Test(batches, crops_independent_of_cache_and_threads, .init = make_root, .fini = drop_root) {
  uint8_t px[40 * 50 * 3];
  for (int i = 0; i < 24; i++) {
    const int h = 20 + i, w = 50 - i; /* sizes differ; some above twice the input (stored smaller) */
    for (int k = 0; k < h * w * 3; k++) px[k] = (uint8_t)(k * (i + 3) + i);
    if (i % 2) write_png(rp("train/c%d/%02d.png", i % 3, i), h, w, 3, px);
    else write_jpeg(rp("train/c%d/%02d.jpg", i % 3, i), h, w, 3, px, 90);
    if (i < 6) write_png(rp("val/c%d/%02d.png", i % 3, i), h, w, 3, px);
  }
  write_png(rp("train/c0/tiny.png"), 1, 1, 3, px); /* 1x1: upscaled like any other */
  clnet_image_options o = {0};
  expect_bad(&o, CLNET_ERR_FORMAT, root, "the training images differ in size");
  const clnet_image_crop crops[3] = {CLNET_IMAGE_CROP_RANDOM, CLNET_IMAGE_CROP_RRC, CLNET_IMAGE_CROP_NONE};
  for (int k = 0; k < 3; k++) {
    clnet_image_options a = {.height = 12, .width = 10, .crop = crops[k], .cache = CLNET_IMAGE_CACHE_RAM, .threads = 1};
    clnet_image_options b = a;
    b.cache = CLNET_IMAGE_CACHE_NONE;
    b.threads = 3;
    clnet_dataset tra, tea, trb, teb;
    cr_assert_eq(clnet_dataset_open_dir_ex(root, &a, &tra, &tea, NULL), CLNET_SUCCESS, "%s", clnet_last_error());
    cr_assert_eq(clnet_dataset_open_dir_ex(root, &b, &trb, &teb, NULL), CLNET_SUCCESS, "%s", clnet_last_error());
    cr_assert(tra.height == 12 && tra.width == 10 && tra.channels == 3);
    expect_same_batches(&tra, &trb, 1, 2);
    expect_same_batches(&tea, &teb, 0, 1);
    clnet_dataset_free(&tra);
    clnet_dataset_free(&tea);
    clnet_dataset_free(&trb);
    clnet_dataset_free(&teb);
  }
}

/* Two epochs of a random crop differ (the crops are per epoch), and differ from evaluation's. */
Test(batches, random_crops_change_per_epoch, .init = make_root, .fini = drop_root) {
  uint8_t px[24 * 24];
  for (int i = 0; i < 8; i++) {
    for (int k = 0; k < 24 * 24; k++) px[k] = (uint8_t)(k * 13 + i * 7);
    write_png(rp("train/c%d/%d.png", i % 2, i), 24, 24, 1, px);
    write_png(rp("val/c%d/%d.png", i % 2, i), 24, 24, 1, px);
  }
  clnet_image_options o = {.crop = CLNET_IMAGE_CROP_RANDOM};
  clnet_dataset tr, te;
  cr_assert_eq(clnet_dataset_open_dir_ex(root, &o, &tr, &te, NULL), CLNET_SUCCESS, "%s", clnet_last_error());
  const float mean[1] = {0}, std[1] = {1};
  const clnet_loader_config lc = {.batch = 8, .shuffle = 0, .flip = 0, .seed = 3, .mean = mean, .std = std};
  clnet_loader *l = NULL, *lv = NULL;
  cr_assert_eq(clnet_loader_create(&tr, &lc, &l), CLNET_SUCCESS);
  cr_assert_eq(clnet_loader_create(&te, &lc, &lv), CLNET_SUCCESS);
  float *ep[2];
  for (int e = 0; e < 2; e++) {
    clnet_batch b;
    int32_t has;
    cr_assert_eq(clnet_loader_start_epoch(l, e, 0), CLNET_SUCCESS);
    cr_assert_eq(clnet_loader_next(l, &b, &has), CLNET_SUCCESS);
    ep[e] = malloc(8 * 576 * sizeof(float));
    memcpy(ep[e], b.images, 8 * 576 * sizeof(float));
  }
  clnet_batch v;
  int32_t has;
  cr_assert_eq(clnet_loader_start_epoch(lv, 0, 0), CLNET_SUCCESS);
  cr_assert_eq(clnet_loader_next(lv, &v, &has), CLNET_SUCCESS);
  cr_assert_neq(memcmp(ep[0], ep[1], 8 * 576 * sizeof(float)), 0, "epochs 1 and 2 crop alike");
  cr_assert_neq(memcmp(ep[0], v.images, 8 * 576 * sizeof(float)), 0, "training crops equal evaluation's");
  for (int i = 0; i < 576; i++) /* evaluation of a 24x24 image at 24x24: the image itself */
    cr_assert_eq(v.images[i], (float)((uint8_t)(i * 13) / 255.0));
  free(ep[0]);
  free(ep[1]);
  clnet_loader_free(l);
  clnet_loader_free(lv);
  clnet_dataset_free(&tr);
  clnet_dataset_free(&te);
}

/* ---- end to end --------------------------------------------------------------------------------------------- */

static char out[1 << 17];
static int run(const char *args) { return clnet_cli_run("", args, out, sizeof out); }

/* The final checkpoints and histories of two runs hold the same numbers. */
static void expect_same_runs(const char *a_dir, const char *b_dir) {
  char a[1024], b[1024];
  snprintf(a, sizeof a, "%s/last.safetensors", a_dir);
  snprintf(b, sizeof b, "%s/last.safetensors", b_dir);
  clnet_st_file *fa = NULL, *fb = NULL;
  cr_assert_eq(clnet_safetensors_read(a, &fa), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_safetensors_read(b, &fb), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_st_count(fa), clnet_st_count(fb));
  for (int32_t i = 0; i < clnet_st_count(fa); ++i) {
    const clnet_st_tensor *ta = clnet_st_get(fa, i), *tb = clnet_st_find(fb, ta->name);
    cr_assert_not_null(tb, "%s missing", ta->name);
    int64_t n = 1;
    for (int32_t d = 0; d < ta->ndim; ++d) n *= ta->shape[d];
    cr_assert_eq(memcmp(ta->data, tb->data, (size_t)n * (size_t)clnet_dtype_size(ta->dtype)), 0,
                 "tensor %s differs between %s and %s", ta->name, a_dir, b_dir);
  }
  clnet_st_free(fa);
  clnet_st_free(fb);
  snprintf(a, sizeof a, "%s/history.csv", a_dir);
  snprintf(b, sizeof b, "%s/history.csv", b_dir);
  clnet_history x = {0}, y = {0};
  cr_assert_eq(clnet_history_read_csv(a, &x), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_history_read_csv(b, &y), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(x.count, y.count);
  for (int i = 0; i < x.count; ++i)
    cr_assert(x.rows[i].loss == y.rows[i].loss && x.rows[i].accuracy == y.rows[i].accuracy &&
                  x.rows[i].val_loss == y.rows[i].val_loss && x.rows[i].val_accuracy == y.rows[i].val_accuracy,
              "epoch %d differs: val_accuracy %.17g vs %.17g", i + 1, x.rows[i].val_accuracy, y.rows[i].val_accuracy);
  clnet_history_free(&x);
  clnet_history_free(&y);
}

/* A PNG folder and CIFAR files of the same images in the same order: the same run, bit for bit
 * (crop none, the CIFAR runs' ImageNet normalisation). */
Test(cli, png_folder_trains_as_the_same_images_in_cifar_files, .init = make_root, .fini = drop_root, .timeout = 600) {
  clnet_dataset fm = fmnist();
  mkdirs(rp("cifar"));
  const int nt = span_all_classes(&fm, 0, 160), nv = span_all_classes(&fm, nt, 64);
  clnet_dataset a = write_tree(&fm, 0, nt, rp("png/train"), FMT_PNG, 1, rp("cifar/data_batch_1.bin"));
  clnet_dataset b = write_tree(&fm, nt, nv, rp("png/val"), FMT_PNG, 1, rp("cifar/test_batch.bin"));
  clnet_dataset_free(&a);
  clnet_dataset_free(&b);
  clnet_dataset_free(&fm);
  char args[4096];
  snprintf(args, sizeof args, "train --data %s --model lenet --epochs 2 --batch 32 --seed 3 --out %s", rp("cifar"),
           rp("run_cifar"));
  cr_assert_eq(run(args), 0, "%s", out);
  snprintf(args, sizeof args, "train --data %s --model lenet --epochs 2 --batch 32 --seed 3 --out %s --crop none --norm imagenet",
           rp("png"), rp("run_png"));
  cr_assert_eq(run(args), 0, "%s", out);
  char want[128];
  snprintf(want, sizeof want, "(images): %d training and %d test images, 32x32x3, 10 classes", nt, nv);
  cr_assert(strstr(out, want), "%s", out);
  expect_same_runs(rp("run_cifar"), rp("run_png"));
}

/* A JPEG one-tree folder with a validation split: train, stop mid-epoch and resume exactly,
 * evaluate with the class names, predict by name (text and JSON). */
Test(cli, jpeg_tree_resume_eval_predict, .init = make_root, .fini = drop_root, .timeout = 600) {
  clnet_dataset fm = fmnist();
  clnet_dataset m = write_tree(&fm, 0, 200, rp("jpg"), FMT_JPEG, 0, NULL);
  int per[10] = {0}, held = 0; /* what --val-split 0.2 holds out: round(0.2 n) per class, at least 1 */
  for (int i = 0; i < m.count; i++) per[m.labels[i]]++;
  for (int k = 0; k < 10; k++) {
    int h = (int)(0.2 * per[k] + 0.5);
    if (h == 0 && per[k] >= 2) h = 1;
    held += h;
  }
  clnet_dataset_free(&m);
  clnet_dataset_free(&fm);
  const char *common = "--model lenet --epochs 2 --batch 32 --seed 5 --val-split 0.2 --crop random --cache-images none";
  char args[4096];
  snprintf(args, sizeof args, "train --data %s %s --out %s", rp("jpg"), common, rp("full"));
  cr_assert_eq(run(args), 0, "%s", out);
  cr_assert(strstr(out, "<class>/ with a validation split") && strstr(out, "28x28x1"), "%s", out);
  snprintf(args, sizeof args, "train --data %s %s --out %s --stop-after 3", rp("jpg"), common, rp("part"));
  cr_assert_eq(run(args), 130, "%s", out);
  snprintf(args, sizeof args, "train --data %s %s --out %s --resume", rp("jpg"), common, rp("part"));
  cr_assert_eq(run(args), 0, "%s", out);
  cr_assert(strstr(out, "inside epoch 1, 3 batches done"), "%s", out);
  expect_same_runs(rp("full"), rp("part"));

  /* eval: the held-out part, per-class accuracy by name */
  snprintf(args, sizeof args, "eval --checkpoint %s/last.safetensors --data %s --val-split 0.2", rp("full"), rp("jpg"));
  cr_assert_eq(run(args), 0, "%s", out);
  cr_assert(strstr(out, "class  0 0_c:") && strstr(out, "class  9 9_c:"), "no class names:\n%s", out);
  char over[64];
  snprintf(over, sizeof over, "over %d images", held);
  cr_assert(strstr(out, over), "the held-out fifth of 200 is %d images:\n%s", held, out);
  /* another seed's split is another set of images: the whole tree without a split is all 200 */
  snprintf(args, sizeof args, "eval --checkpoint %s/last.safetensors --data %s", rp("full"), rp("jpg"));
  cr_assert_eq(run(args), 0, "%s", out);
  cr_assert(strstr(out, "over 200 images"), "%s", out);

  /* predict: a file and a folder, top 3 by name, probabilities in decreasing order */
  snprintf(args, sizeof args, "predict --checkpoint %s/last.safetensors --top 3 %s %s", rp("full"),
           rp("jpg/3_c/00000.jpg"), rp("jpg/7_c"));
  cr_assert_eq(run(args), 0, "%s", out);
  char want[1024];
  snprintf(want, sizeof want, "%s:", rp("jpg/3_c/00000.jpg"));
  cr_assert(strstr(out, want), "%s", out);
  int lines = 0;
  for (const char *p = out; (p = strstr(p, ".jpg: ")) != NULL; p++) lines++;
  int in_7 = 0;
  DIR *d = opendir(rp("jpg/7_c"));
  for (struct dirent *e; (e = readdir(d)) != NULL;) in_7 += e->d_name[0] != '.';
  closedir(d);
  cr_assert_eq(lines, 1 + in_7, "one line per image:\n%s", out);
  snprintf(args, sizeof args, "predict --checkpoint %s/last.safetensors --top 4 --json --batch 7 %s", rp("full"), rp("jpg/7_c"));
  cr_assert_eq(clnet_cli_run("", args, out, sizeof out), 0, "%s", out);
  const char *json = strchr(out, '[');
  cr_assert_not_null(json, "%s", out);
  cJSON *arr = cJSON_Parse(json);
  cr_assert(cJSON_IsArray(arr), "not JSON:\n%s", out);
  cr_assert_eq(cJSON_GetArraySize(arr), in_7);
  double correct = 0;
  for (int i = 0; i < in_7; i++) {
    cJSON *it = cJSON_GetArrayItem(arr, i), *top = cJSON_GetObjectItem(it, "top");
    cr_assert(cJSON_IsString(cJSON_GetObjectItem(it, "file")));
    cr_assert_eq(cJSON_GetArraySize(top), 4);
    double prev = 2, sum = 0;
    for (int j = 0; j < 4; j++) {
      cJSON *e = cJSON_GetArrayItem(top, j);
      double p = cJSON_GetObjectItem(e, "probability")->valuedouble;
      const char *name = cJSON_GetObjectItem(e, "class")->valuestring;
      const int index = cJSON_GetObjectItem(e, "index")->valueint;
      char nm[16];
      snprintf(nm, sizeof nm, "%d_c", index);
      cr_assert_str_eq(name, nm, "class %d is named %s", index, name);
      cr_assert(p <= prev && p >= 0, "probabilities not in decreasing order");
      prev = p;
      sum += p;
      if (j == 0) correct += index == 7;
    }
    cr_assert(sum <= 1.0 + 1e-9, "top-4 probabilities sum to %g", sum);
  }
  cJSON_Delete(arr);
  cr_assert_gt(correct, 0, "not one sneaker recognised after two epochs");
  /* a bad file among them: named, or skipped with a count */
  write_file(rp("jpg/7_c/broken.jpg"), "not a jpeg", 10);
  snprintf(args, sizeof args, "predict --checkpoint %s/last.safetensors %s", rp("full"), rp("jpg/7_c"));
  cr_assert_eq(run(args), 1, "%s", out);
  cr_assert(strstr(out, rp("jpg/7_c/broken.jpg")) && strstr(out, "not a PNG or JPEG image"), "%s", out);
  snprintf(args, sizeof args, "predict --checkpoint %s/last.safetensors --skip-bad-images %s", rp("full"), rp("jpg/7_c"));
  cr_assert_eq(run(args), 0, "%s", out);
  cr_assert(strstr(out, "skipped 1 bad image of"), "%s", out);
}

/* train --input and the flags' usage errors */
Test(cli, input_flag_and_usage_errors, .init = make_root, .fini = drop_root, .timeout = 300) {
  char args[2048];
  cr_assert_eq(run("train --input 0x3"), 2, "%s", out);
  cr_assert(strstr(out, "--input must be HxW"), "%s", out);
  cr_assert_eq(run("train --input 32x32x2"), 2, "%s", out);
  cr_assert_eq(run("train --val-split 1.5"), 2, "%s", out);
  cr_assert_eq(run("train --cache-images sometimes"), 2, "%s", out);
  cr_assert_eq(run("predict --checkpoint x.safetensors"), 2, "%s", out);
  cr_assert(strstr(out, "no images given"), "%s", out);
  uint8_t px[32 * 30 * 3]; /* the largest image below: 31 x 30 */
  for (int i = 0; i < 12; i++) {
    for (size_t k = 0; k < sizeof px; k++) px[k] = (uint8_t)(k * (i % 2 ? 1 : 3));
    write_png(rp("d/train/%s/%d.png", i % 2 ? "odd" : "even", i), 20 + i, 30, 3, px);
    write_png(rp("d/val/%s/%d.png", i % 2 ? "odd" : "even", i), 20, 30 - i, 3, px);
  }
  snprintf(args, sizeof args, "train --data %s --model lenet --epochs 1 --batch 4 --out %s", rp("d"), rp("r"));
  cr_assert_eq(run(args), 1, "%s", out);
  cr_assert(strstr(out, "differ in size") && strstr(out, "--input"), "%s", out);
  snprintf(args, sizeof args, "train --data %s --model lenet --epochs 1 --batch 4 --input 16x16x1 --crop rrc --out %s",
           rp("d"), rp("r"));
  cr_assert_eq(run(args), 0, "%s", out);
  cr_assert(strstr(out, "16x16x1, 2 classes"), "%s", out);
  snprintf(args, sizeof args, "eval --checkpoint %s/last.safetensors --data %s", rp("r"), rp("d"));
  cr_assert_eq(run(args), 0, "%s", out);
  cr_assert(strstr(out, "class  0 even:") && strstr(out, "class  1 odd:"), "%s", out);
  /* --input on CIFAR-format data is refused */
  snprintf(args, sizeof args, "train --data %s --input 16x16", CLNET_DEFAULT_DATA_DIR);
  cr_assert_eq(run(args), 1, "%s", out);
  cr_assert(strstr(out, "for image folders"), "%s", out);
}
