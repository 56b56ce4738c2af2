/* Data-set directories, freeing, and normalisation statistics. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clnet/data.h"
#include "core/error.h"
#include "io/fs.h"
#include "data/data_io.h"
#include "data/image_source.h"

void clnet_dataset_free(clnet_dataset *ds) {
  if (!ds) return;
  free(ds->images);
  free(ds->labels);
  if (ds->class_names)
    for (int32_t c = 0; c < ds->classes; c++) free(ds->class_names[c]);
  free(ds->class_names);
  clnet_image_source_free(ds->source);
  memset(ds, 0, sizeof *ds);
}

int32_t clnet_dataset_label(const clnet_dataset *ds, int32_t i) {
  if (!ds || i < 0 || i >= ds->count) return -1;
  return ds->source ? clnet_image_source_label(ds->source, i) : ds->labels[i];
}

const char *clnet_dataset_image_path(const clnet_dataset *ds, int32_t i) {
  if (!ds || !ds->source || i < 0 || i >= ds->count) return NULL;
  return clnet_image_source_path(ds->source, i);
}

/* ---- statistics ---------------------------------------------------------- */

/* Mean and population std of x/255 from a 256-bin histogram of byte values. */
void clnet_stats_from_hist(const uint64_t hist[256], float *mean, float *std) {
  uint64_t n = 0;
  double sum = 0.0;
  for (int v = 0; v < 256; v++) {
    n += hist[v];
    sum += (double)hist[v] * (v / 255.0);
  }
  if (n == 0) {
    *mean = 0.0f;
    *std = 1.0f;
    return;
  }
  const double m = sum / (double)n;
  double var = 0.0;
  for (int v = 0; v < 256; v++) {
    const double d = v / 255.0 - m;
    var += (double)hist[v] * d * d;
  }
  var /= (double)n;
  *mean = (float)m;
  *std = var > 0.0 ? (float)sqrt(var) : 1.0f;
}

void clnet_dataset_channel_stats(const clnet_dataset *ds, float *mean, float *std) {
  const int32_t C = ds->channels;
  if (C <= 0) return;
  if (ds->has_norm && C <= 4) { /* image folders: taken when the set was opened */
    memcpy(mean, ds->norm_mean, (size_t)C * sizeof *mean);
    memcpy(std, ds->norm_std, (size_t)C * sizeof *std);
    return;
  }
  const size_t pixels = ds->images ? (size_t)ds->count * ds->height * ds->width : 0; /* per channel */
  const uint8_t *x = ds->images; /* (count, H, W, C) */
  enum { MAXC = 4 };
  if (C <= MAXC) { /* one pass over the data */
    uint64_t hist[MAXC][256];
    memset(hist, 0, sizeof hist);
    if (C == 1) {
      for (size_t i = 0; i < pixels; i++) hist[0][x[i]]++;
    } else {
      for (size_t i = 0; i < pixels; i++)
        for (int32_t c = 0; c < C; c++) hist[c][x[i * C + c]]++;
    }
    for (int32_t c = 0; c < C; c++) clnet_stats_from_hist(hist[c], &mean[c], &std[c]);
  } else { /* one strided pass per channel */
    for (int32_t c = 0; c < C; c++) {
      uint64_t hist[256];
      memset(hist, 0, sizeof hist);
      for (size_t i = 0; i < pixels; i++) hist[x[i * C + c]]++;
      clnet_stats_from_hist(hist, &mean[c], &std[c]);
    }
  }
}

void clnet_dataset_default_norm(const clnet_dataset *train, float *mean, float *std) {
  if (train->has_norm) {
    clnet_dataset_channel_stats(train, mean, std);
  } else if (train->channels == 3) {
    static const float m[3] = {0.485f, 0.456f, 0.406f}, s[3] = {0.229f, 0.224f, 0.225f};
    memcpy(mean, m, sizeof m);
    memcpy(std, s, sizeof s);
  } else {
    clnet_dataset_channel_stats(train, mean, std);
  }
}

/* ---- directories ----------------------------------------------------------- */

/* malloc'd "a/b" (or "a/b/c" when c is not NULL); NULL when out of memory. */
static char *path_join(const char *a, const char *b, const char *c) {
  size_t n = strlen(a) + strlen(b) + (c ? strlen(c) + 1 : 0) + 2;
  char *p = malloc(n);
  if (!p) return NULL;
  if (c) snprintf(p, n, "%s/%s/%s", a, b, c);
  else snprintf(p, n, "%s/%s", a, b);
  return p;
}

static clnet_status oom(const char *dir) {
  return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: out of memory while building file names", dir);
}

/* dir/[sub/]name: *found = 1 and *out set (malloc'd) when it is a regular file, *found = 0 (*out
 * NULL) when nothing is there; an error when something else is there (a FIFO, a directory: named
 * as what it is, not taken for a missing file), or out of memory. */
static clnet_status find_file(const char *dir, const char *sub, const char *name, char **out, int *found) {
  *found = 0;
  *out = sub ? path_join(dir, sub, name) : path_join(dir, name, NULL);
  if (!*out) return oom(dir);
  struct stat st;
  if (stat(*out, &st) == 0 && S_ISREG(st.st_mode)) {
    *found = 1;
    return CLNET_SUCCESS;
  }
  clnet_status r = CLNET_SUCCESS;
  if (lstat(*out, &st) == 0) /* there, but not a regular file (or a link to nothing) */
    r = clnet_set_error(CLNET_ERR_IO, "%s: not a regular file (%s)", *out,
                        stat(*out, &st) == 0 ? clnet_file_kind((unsigned)st.st_mode) : "a link to nothing");
  free(*out);
  *out = NULL;
  return r;
}

static void free_strings(char **s, int32_t n) {
  if (!s) return;
  for (int32_t i = 0; i < n; i++) free(s[i]);
  free(s);
}

#define CIFAR_SUBDIR "cifar-10-batches-bin"

/* A data_batch_<k>.bin in dir[/sub] with k > n (n consecutive ones were found): an error naming
 * it and the first missing one, so that no training file is silently left out. */
static clnet_status check_no_later_batch(const char *dir, const char *sub, int32_t n) {
  char *where = sub ? path_join(dir, sub, NULL) : path_join(dir, ".", NULL);
  if (!where) return oom(dir);
  DIR *d = opendir(where);
  long later = 0;
  struct dirent *e;
  while (d && (e = readdir(d)) != NULL) {
    const char *q = e->d_name;
    if (strncmp(q, "data_batch_", 11)) continue;
    q += 11;
    if (*q < '1' || *q > '9') continue;
    long k = 0;
    while (*q >= '0' && *q <= '9' && k < 100000000) k = k * 10 + (*q++ - '0');
    if (!strcmp(q, ".bin") && k > n && (later == 0 || k < later)) later = k;
  }
  if (d) closedir(d);
  clnet_status st = CLNET_SUCCESS;
  if (later)
    st = clnet_set_error(CLNET_ERR_IO, "%s: data_batch_%ld.bin is there but data_batch_%d.bin is not: the training "
                         "files must follow one another from data_batch_1.bin", sub ? where : dir, later, (int)n + 1);
  free(where);
  return st;
}

/* Load data_batch_1.bin, data_batch_2.bin, ... (as long as they exist; a later one after a gap
 * is an error) and test_batch.bin from dir[/sub]; train NULL: test_batch.bin alone. */
static clnet_status load_cifar_at(const char *dir, const char *sub, clnet_dataset *train,
                                  clnet_dataset *test) {
  int32_t n = 0, cap = 8;
  char **paths = malloc((size_t)cap * sizeof *paths), *testp = NULL;
  clnet_status st = CLNET_SUCCESS;
  if (!paths) return oom(dir);
  while (train) {
    char name[48], *p = NULL;
    snprintf(name, sizeof name, "data_batch_%d.bin", (int)n + 1);
    int r = 0;
    st = find_file(dir, sub, name, &p, &r);
    if (st != CLNET_SUCCESS || r == 0) break;
    if (n == cap) {
      char **grown = cap < INT32_MAX / 2 ? realloc(paths, (size_t)cap * 2 * sizeof *paths) : NULL;
      if (!grown) {
        free(p);
        st = oom(dir);
        break;
      }
      paths = grown;
      cap *= 2;
    }
    paths[n++] = p;
  }
  if (st == CLNET_SUCCESS && train) st = check_no_later_batch(dir, sub, n);
  if (st == CLNET_SUCCESS) {
    int r = 0;
    st = find_file(dir, sub, "test_batch.bin", &testp, &r);
    if (st == CLNET_SUCCESS && r == 0) st = clnet_set_error(CLNET_ERR_IO, "%s: test_batch.bin disappeared while loading", dir);
  }
  if (st == CLNET_SUCCESS && train) st = clnet_dataset_load_cifar10((const char *const *)paths, n, train);
  if (st == CLNET_SUCCESS) {
    const char *tp = testp;
    st = clnet_dataset_load_cifar10(&tp, 1, test);
    if (st != CLNET_SUCCESS && train) clnet_dataset_free(train);
  }
  free_strings(paths, n);
  free(testp);
  return st;
}

/* CIFAR-10 in dir, else in dir/cifar-10-batches-bin: *found = 1 and both splits
 * loaded from the first place that has data_batch_1.bin and test_batch.bin;
 * an error when only one of the two exists; *found = 0 when neither does. */
static clnet_status try_cifar(const char *dir, clnet_dataset *train, clnet_dataset *test, int *found) {
  static const char *const subs[2] = {NULL, CIFAR_SUBDIR};
  int partial = -1, partial_has_first = 0;
  *found = 0;
  for (int s = 0; s < 2; s++) {
    char *first = NULL, *testp = NULL;
    int has_first = 0, has_test = 0;
    clnet_status st = find_file(dir, subs[s], "data_batch_1.bin", &first, &has_first);
    if (st == CLNET_SUCCESS) st = find_file(dir, subs[s], "test_batch.bin", &testp, &has_test);
    free(first);
    free(testp);
    CLNET_TRY(st);
    if ((has_first || !train) && has_test) { /* the test split alone needs no training file */
      *found = 1;
      return load_cifar_at(dir, subs[s], train, test);
    }
    if ((has_first || has_test) && partial < 0) {
      partial = s;
      partial_has_first = has_first;
    }
  }
  if (partial < 0) return CLNET_SUCCESS;
  *found = 1;
  return clnet_set_error(CLNET_ERR_IO, "%s%s%s: CIFAR-10 data set is incomplete: found %s but not %s", dir,
                         subs[partial] ? "/" : "", subs[partial] ? subs[partial] : "",
                         partial_has_first ? "data_batch_1.bin" : "test_batch.bin",
                         partial_has_first ? "test_batch.bin" : "data_batch_1.bin");
}

/* IDX in dir: *found = 1 and both splits loaded, or *found = 0 when none of the
 * four files exists. */
static clnet_status try_idx(const char *dir, clnet_dataset *train, clnet_dataset *test, int *found) {
  static const char *const names[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                       "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  char *p[4] = {NULL, NULL, NULL, NULL};
  int have = 0, missing = -1, present = -1;
  clnet_status st = CLNET_SUCCESS;
  *found = 0;
  const int first = train ? 0 : 2, need = 4 - first; /* the test split alone: the t10k files */
  for (int i = first; i < 4; i++) {
    char gzname[40];
    snprintf(gzname, sizeof gzname, "%s.gz", names[i]);
    int r = 0;
    CLNET_TRY_GOTO(find_file(dir, NULL, names[i], &p[i], &r), st, done);
    if (r == 0) CLNET_TRY_GOTO(find_file(dir, NULL, gzname, &p[i], &r), st, done);
    if (r) {
      have++;
      if (present < 0) present = i;
    } else if (missing < 0) {
      missing = i;
    }
  }
  if (have == 0) goto done;
  *found = 1;
  if (have < need) {
    st = clnet_set_error(CLNET_ERR_IO, "%s: IDX data set is incomplete: found %s but not %s[.gz]", dir,
                         clnet_path_base(p[present]), names[missing]);
    goto done;
  }
  if (train) CLNET_TRY_GOTO(clnet_dataset_load_idx(p[0], p[1], train), st, done);
  st = clnet_dataset_load_idx(p[2], p[3], test);
  if (st == CLNET_SUCCESS && train && (train->height != test->height || train->width != test->width ||
                              train->channels != test->channels))
    st = clnet_set_error(CLNET_ERR_FORMAT, "%s has %dx%d images but %s has %dx%d", p[0], (int)train->height,
                         (int)train->width, p[2], (int)test->height, (int)test->width);
  if (st == CLNET_SUCCESS && train) /* the classes of the pair: a split may lack the last ones */
    train->classes = test->classes = train->classes > test->classes ? train->classes : test->classes;
  if (st != CLNET_SUCCESS) {
    if (train) clnet_dataset_free(train);
    clnet_dataset_free(test);
  }
done:
  for (int i = 0; i < 4; i++) free(p[i]);
  return st;
}

clnet_status clnet_dataset_open_dir(const char *dir, clnet_dataset *train, clnet_dataset *test,
                                    const char **format_name) {
  return clnet_dataset_open_dir_ex(dir, NULL, train, test, format_name);
}

/* Image options that only image folders can follow (an evaluation's input size is the checkpoint's,
 * whatever the format). */
static clnet_status fixed_format(const char *dir, const char *fmt, const clnet_dataset *train,
                                 const clnet_image_options *o) {
  if (!o || o->eval_only || (!o->height && !o->channels && !(o->val_split > 0))) return CLNET_SUCCESS;
  if (o->val_split > 0)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: %s files have their own test split; a validation split "
                           "(--val-split) is for image folders", dir, fmt);
  if ((o->height && (o->height != train->height || o->width != train->width)) ||
      (o->channels && o->channels != train->channels))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: %s images are %dx%dx%d; another input size (--input) is "
                           "for image folders", dir, fmt, (int)train->height, (int)train->width, (int)train->channels);
  return CLNET_SUCCESS;
}

clnet_status clnet_dataset_open_dir_ex(const char *dir, const clnet_image_options *o, clnet_dataset *train,
                                       clnet_dataset *test, const char **format_name) {
  /* train may be NULL: the test split alone (evaluation reads and checks no training files) */
  if (!test) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_dataset_open_dir: test is NULL");
  if (train) memset(train, 0, sizeof *train);
  memset(test, 0, sizeof *test);
  if (format_name) *format_name = NULL;
  if (!dir) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_dataset_open_dir: dir is NULL");
  struct stat st;
  if (stat(dir, &st) != 0)
    return clnet_set_error(CLNET_ERR_IO, "%s: cannot open data directory: %s", dir, strerror(errno));
  if (!S_ISDIR(st.st_mode)) return clnet_set_error(CLNET_ERR_IO, "%s: not a directory", dir);
  int found = 0;
  const char *fmt = "cifar10";
  CLNET_TRY(try_cifar(dir, train, test, &found));
  if (!found) {
    fmt = "idx";
    CLNET_TRY(try_idx(dir, train, test, &found));
  }
  if (found) {
    clnet_status rc = train ? fixed_format(dir, fmt, train, o) : CLNET_SUCCESS;
    if (rc != CLNET_SUCCESS) {
      clnet_dataset_free(train);
      clnet_dataset_free(test);
      return rc;
    }
    if (format_name) *format_name = fmt;
    return CLNET_SUCCESS;
  }
  clnet_dataset scratch = {0}; /* an image folder's split needs the training files listed */
  CLNET_TRY(clnet_image_folder_open(dir, o, train ? train : &scratch, test, &found));
  if (!train) clnet_dataset_free(&scratch);
  if (found) {
    if (format_name) *format_name = "images";
    return CLNET_SUCCESS;
  }
  return clnet_set_error(CLNET_ERR_IO,
                         "%s: no data set found: looked for CIFAR-10 (data_batch_1.bin ... data_batch_5.bin "
                         "and test_batch.bin, here or in " CIFAR_SUBDIR "/), IDX (train-images-idx3-ubyte, "
                         "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each "
                         "optionally .gz) and image folders (train/<class>/ and val/<class>/, or <class>/, "
                         "holding .png or .jpg files)", dir);
}
