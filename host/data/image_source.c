/* Image-folder data sets: opening (check every file's header, decode every
 * file once on worker threads: errors, statistics, the cache) and making one
 * network input from one file. See image_source.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/rng.h"
#include "data/data_io.h"
#include "data/image.h"
#include "data/image_source.h"
#include "data/imagefolder.h"
#include "data/pool.h"

#define MAX_THREADS_DEFAULT 8
#define MAX_NOTED_BAD 20 /* bad files named one by one; the summary counts all */

struct clnet_image_source {
  int32_t n;
  char **paths;           /* (n) */
  int32_t *labels;        /* (n) */
  int32_t H, W, C;        /* the network's input */
  int32_t train;          /* 1: the crop mode applies; 0: evaluation's centre */
  clnet_image_crop crop;
  int32_t max_side;       /* stored images: shorter side at most this */
  int64_t max_pixels;
  int32_t threads;
  uint8_t **cache;        /* (n) stored images (sh[i], sw[i], C), or NULL: not cached */
  int32_t *sh, *sw;
};

struct clnet_image_scratch {
  clnet_image_decoder *dec;
  clnet_image raw, conv, stored;
  float *tmp;
  size_t tmp_cap;
};

clnet_status clnet_image_scratch_create(clnet_image_scratch **out) {
  *out = NULL;
  clnet_image_scratch *s = calloc(1, sizeof *s);
  if (!s) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "image scratch: out of memory");
  clnet_status st = clnet_image_decoder_create(&s->dec);
  if (st != CLNET_SUCCESS) {
    free(s);
    return st;
  }
  *out = s;
  return CLNET_SUCCESS;
}

void clnet_image_scratch_free(clnet_image_scratch *s) {
  if (!s) return;
  clnet_image_decoder_free(s->dec);
  clnet_image_release(&s->raw);
  clnet_image_release(&s->conv);
  clnet_image_release(&s->stored);
  free(s->tmp);
  free(s);
}

void clnet_image_source_free(clnet_image_source *src) {
  if (!src) return;
  for (int32_t i = 0; i < src->n; i++) {
    free(src->paths[i]);
    if (src->cache) free(src->cache[i]);
  }
  free(src->paths);
  free(src->labels);
  free(src->cache);
  free(src->sh);
  free(src->sw);
  free(src);
}

int32_t clnet_image_source_threads(const clnet_image_source *src) { return src->threads; }
void clnet_image_source_set_threads(clnet_image_source *src, int32_t threads) { src->threads = threads < 1 ? 1 : threads; }
int32_t clnet_image_source_label(const clnet_image_source *src, int32_t i) { return src->labels[i]; }
const char *clnet_image_source_path(const clnet_image_source *src, int32_t i) { return src->paths[i]; }

/* ---- one image ------------------------------------------------------------------ */

/* Size of the stored image of an h x w one: the shorter side at most max_side. */
static void stored_size(int32_t h, int32_t w, int32_t max_side, int32_t *sh, int32_t *sw) {
  const int32_t m = h < w ? h : w;
  if (m <= max_side) {
    *sh = h;
    *sw = w;
    return;
  }
  const double s = (double)max_side / m;
  *sh = h == m ? max_side : (int32_t)fmax(1.0, floor(h * s + 0.5));
  *sw = w == m ? max_side : (int32_t)fmax(1.0, floor(w * s + 0.5));
}

/* The stored image of file i, decoded now (into s) or from the cache. */
static clnet_status stored_image(const clnet_image_source *src, int32_t i, clnet_image_scratch *s, clnet_image *view) {
  if (src->cache) {
    *view = (clnet_image){.h = src->sh[i], .w = src->sw[i], .c = src->C, .px = src->cache[i]};
    return CLNET_SUCCESS;
  }
  CLNET_TRY(clnet_image_load_file(s->dec, src->paths[i], src->max_pixels, &s->raw));
  CLNET_TRY(clnet_image_to_channels(&s->raw, src->C, &s->conv));
  int32_t sh, sw;
  stored_size(s->conv.h, s->conv.w, src->max_side, &sh, &sw);
  if (sh == s->conv.h && sw == s->conv.w) {
    *view = s->conv;
    return CLNET_SUCCESS;
  }
  const size_t bytes = (size_t)sh * sw * src->C;
  if (s->stored.cap < bytes) {
    uint8_t *p = realloc(s->stored.px, bytes);
    if (!p) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: out of memory for %dx%d pixels", src->paths[i], sw, sh);
    s->stored.px = p;
    s->stored.cap = bytes;
  }
  const clnet_image_region whole = {0, 0, s->conv.w, s->conv.h};
  clnet_status st = clnet_image_resample(&s->conv, whole, sh, sw, s->stored.px, &s->tmp, &s->tmp_cap);
  if (st != CLNET_SUCCESS) return clnet_wrap_error(st, "%s", src->paths[i]);
  s->stored.h = sh;
  s->stored.w = sw;
  s->stored.c = src->C;
  *view = s->stored;
  return CLNET_SUCCESS;
}

/* The training crop of an h x w stored image for the given key. */
static clnet_image_region train_region(const clnet_image_source *src, int32_t h, int32_t w, uint64_t key) {
  clnet_rng r;
  clnet_rng_seed(&r, key);
  clnet_image_region g;
  if (src->crop == CLNET_IMAGE_CROP_RANDOM) {
    /* scale so that it covers 9/8 of the input, then an input-sized window anywhere in it */
    const double s = fmax(1.125 * src->H / h, 1.125 * src->W / w);
    g.cw = fmin(src->W / s, (double)w);
    g.ch = fmin(src->H / s, (double)h);
    g.x0 = clnet_rng_uniform_double(&r) * (w - g.cw);
    g.y0 = clnet_rng_uniform_double(&r) * (h - g.ch);
    return g;
  }
  if (src->crop == CLNET_IMAGE_CROP_RRC) { /* torchvision's RandomResizedCrop, scale (0.08, 1), ratio (3/4, 4/3) */
    const double area = (double)h * w, lr0 = log(3.0 / 4.0), lr1 = log(4.0 / 3.0);
    for (int attempt = 0; attempt < 10; attempt++) {
      const double target = area * (0.08 + 0.92 * clnet_rng_uniform_double(&r));
      const double ar = exp(lr0 + (lr1 - lr0) * clnet_rng_uniform_double(&r));
      const double cw = sqrt(target * ar), ch = sqrt(target / ar);
      if (cw <= w && ch <= h) {
        g.cw = cw;
        g.ch = ch;
        g.x0 = clnet_rng_uniform_double(&r) * (w - cw);
        g.y0 = clnet_rng_uniform_double(&r) * (h - ch);
        return g;
      }
    }
    const double ratio = (double)w / h; /* fallback: the centre at the nearest allowed aspect */
    g.cw = w;
    g.ch = h;
    if (ratio < 3.0 / 4.0) g.ch = w / (3.0 / 4.0);
    else if (ratio > 4.0 / 3.0) g.cw = h * (4.0 / 3.0);
    g.x0 = (w - g.cw) / 2;
    g.y0 = (h - g.ch) / 2;
    return g;
  }
  return clnet_image_center_region(h, w, src->H, src->W);
}

clnet_status clnet_image_source_render(const clnet_image_source *src, int32_t i, uint64_t key, clnet_image_scratch *s,
                                       uint8_t *dst) {
  clnet_image im;
  CLNET_TRY(stored_image(src, i, s, &im));
  const clnet_image_region g =
      src->train ? train_region(src, im.h, im.w, key) : clnet_image_center_region(im.h, im.w, src->H, src->W);
  clnet_status st = clnet_image_resample(&im, g, src->H, src->W, dst, &s->tmp, &s->tmp_cap);
  return st == CLNET_SUCCESS ? st : clnet_wrap_error(st, "%s", src->paths[i]);
}

/* ---- opening ------------------------------------------------------------------------- */

typedef struct {
  clnet_status st; /* CLNET_SUCCESS, or why the file is bad */
  char *msg;       /* its message (malloc'd) when st is not CLNET_SUCCESS */
  clnet_image_info info;
} file_result;

typedef struct {
  clnet_image_source cfg; /* H, W, C, max_side, max_pixels of both splits; paths of all files; cache NULL */
  int32_t n_train;
  file_result *res;
  clnet_image_scratch **scratch; /* per worker */
  int caching;
  uint8_t **cache;          /* (n) stored images when caching */
  int32_t *sh, *sw;
  int32_t stats;            /* 1: histograms of the training split */
  uint64_t (*hist)[3][256]; /* per worker */
} open_job;

static void fail_item(file_result *r, clnet_status st) {
  r->st = st;
  r->msg = strdup(clnet_last_error());
  if (!r->msg) r->msg = strdup("(out of memory for the message)");
}

static void probe_item(void *ctx, int32_t i, int32_t worker) {
  open_job *j = ctx;
  clnet_status st = clnet_image_probe_file(j->scratch[worker]->dec, j->cfg.paths[i], j->cfg.max_pixels, &j->res[i].info);
  if (st != CLNET_SUCCESS) fail_item(&j->res[i], st);
}

static void decode_item(void *ctx, int32_t i, int32_t worker) {
  open_job *j = ctx;
  if (j->res[i].st != CLNET_SUCCESS) return;
  clnet_image im;
  clnet_status st = stored_image(&j->cfg, i, j->scratch[worker], &im);
  if (st != CLNET_SUCCESS) {
    fail_item(&j->res[i], st);
    return;
  }
  const size_t px = (size_t)im.h * im.w, bytes = px * im.c;
  if (j->caching) {
    j->cache[i] = malloc(bytes);
    if (!j->cache[i]) {
      fail_item(&j->res[i], clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY,
                                            "%s: out of memory for caching its %dx%d pixels", j->cfg.paths[i], im.w, im.h));
      return;
    }
    memcpy(j->cache[i], im.px, bytes);
    j->sh[i] = im.h;
    j->sw[i] = im.w;
  }
  if (j->stats && i < j->n_train) {
    uint64_t(*h)[256] = j->hist[worker];
    for (size_t p = 0; p < px; p++)
      for (int32_t c = 0; c < im.c; c++) h[c][im.px[p * im.c + c]]++;
  }
}

/* Bytes the system can give now (MemAvailable), 0 when unknown. */
static uint64_t memory_available(void) {
  FILE *f = fopen("/proc/meminfo", "r");
  uint64_t kb = 0;
  if (f) {
    char line[256];
    while (fgets(line, sizeof line, f))
      if (sscanf(line, "MemAvailable: %llu kB", (unsigned long long *)&kb) == 1) break;
    fclose(f);
  }
  if (kb) return kb * 1024u;
  long pages = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

static void note(const clnet_image_options *o, const char *fmt, ...) CLNET_PRINTF(2, 3);
#include <stdarg.h>
static void note(const clnet_image_options *o, const char *fmt, ...) {
  if (!o->note) return;
  char line[4600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  o->note(o->note_user, line);
}

static const char *fmt_mib(char buf[32], uint64_t bytes) {
  if (bytes >= (1ull << 30)) snprintf(buf, 32, "%.1f GiB", (double)bytes / (1ull << 30));
  else snprintf(buf, 32, "%.1f MiB", (double)bytes / (1ull << 20));
  return buf;
}

static clnet_status check_options(const clnet_image_options *o) {
  if (o->height < 0 || o->width < 0 || o->height > 65536 || o->width > 65536 || (!o->height != !o->width))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "image input %dx%d: give both sides, each in 1..65536",
                           (int)o->height, (int)o->width);
  if (o->channels != 0 && o->channels != 1 && o->channels != 3)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "image input channels %d: 1 (grey) or 3 (colour)", (int)o->channels);
  if (!(o->val_split >= 0 && o->val_split < 1))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "validation split %g: must be in [0, 1)", o->val_split);
  if ((unsigned)o->cache > CLNET_IMAGE_CACHE_NONE || (unsigned)o->norm > CLNET_IMAGE_NORM_IMAGENET ||
      (unsigned)o->crop > CLNET_IMAGE_CROP_NONE)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "image options: unknown cache, norm or crop mode");
  if (o->threads < 0 || o->threads > 256)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "decoding threads %d: must be in 0..256", (int)o->threads);
  if (o->max_pixels < 0 || o->max_pixels > (1ll << 40))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "image pixel limit %lld: must be in 1..2^40",
                           (long long)o->max_pixels);
  if (o->eval_only && (!o->height || !o->channels))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "reading only the test split needs the input size and channels");
  return CLNET_SUCCESS;
}

/* A source over the good files of [lo, hi) of the job (moving their paths and cache). */
static clnet_status make_source(open_job *j, const clnet_image_list *all, int32_t lo, int32_t hi, int32_t train,
                                const clnet_image_options *o, clnet_image_source **out) {
  *out = NULL;
  clnet_image_source *s = calloc(1, sizeof *s);
  if (!s) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "image set: out of memory");
  *s = j->cfg;
  s->paths = NULL;
  s->n = 0;
  s->train = train;
  s->crop = o->crop;
  const size_t cap = (size_t)(hi - lo) + 1;
  s->paths = calloc(cap, sizeof *s->paths);
  s->labels = calloc(cap, sizeof *s->labels);
  if (j->caching) {
    s->cache = calloc(cap, sizeof *s->cache);
    s->sh = calloc(cap, sizeof *s->sh);
    s->sw = calloc(cap, sizeof *s->sw);
  }
  if (!s->paths || !s->labels || (j->caching && (!s->cache || !s->sh || !s->sw))) {
    clnet_image_source_free(s);
    return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "image set: out of memory");
  }
  for (int32_t i = lo; i < hi; i++) {
    if (j->res[i].st != CLNET_SUCCESS) continue;
    s->paths[s->n] = j->cfg.paths[i];
    j->cfg.paths[i] = NULL;
    s->labels[s->n] = all->labels[i];
    if (j->caching) {
      s->cache[s->n] = j->cache[i];
      j->cache[i] = NULL;
      s->sh[s->n] = j->sh[i];
      s->sw[s->n] = j->sw[i];
    }
    s->n++;
  }
  *out = s;
  return CLNET_SUCCESS;
}

static clnet_status copy_names(char **names, int32_t n, clnet_dataset *ds) {
  ds->class_names = calloc((size_t)n + 1, sizeof *ds->class_names);
  if (!ds->class_names) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "class names: out of memory");
  for (int32_t c = 0; c < n; c++)
    if (!(ds->class_names[c] = strdup(names[c]))) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "class names: out of memory");
  return CLNET_SUCCESS;
}

static void stats_norm(const clnet_image_options *o, int32_t C, uint64_t (*hist)[256], float *mean, float *std) {
  if (o->norm == CLNET_IMAGE_NORM_IMAGENET) {
    static const float m3[3] = {0.485f, 0.456f, 0.406f}, s3[3] = {0.229f, 0.224f, 0.225f};
    if (C == 3) {
      memcpy(mean, m3, sizeof m3);
      memcpy(std, s3, sizeof s3);
    } else {
      mean[0] = 0.449f;
      std[0] = 0.226f;
    }
    return;
  }
  for (int32_t c = 0; c < C; c++) clnet_stats_from_hist(hist[c], &mean[c], &std[c]);
}

/* Files that failed the last pass: the first is the error, or all go to `bad` (skip_bad). */
static clnet_status collect_bad(open_job *j, const clnet_image_options *o, clnet_bad_list *bad, const char *dir) {
  for (int32_t i = 0; i < j->cfg.n; i++) {
    file_result *r = &j->res[i];
    if (r->st == CLNET_SUCCESS || !r->msg) continue;
    if (!o->skip_bad) return clnet_set_error(r->st, "%s", r->msg);
    if (!clnet_bad_list_add(bad, r->msg)) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: out of memory", dir);
    free(r->msg);
    r->msg = NULL; /* counted; r->st keeps it out */
  }
  return CLNET_SUCCESS;
}

/* The network's input from the training headers (or the options). */
static clnet_status input_size(open_job *j, const clnet_image_list *all, const clnet_image_options *o, const char *dir) {
  j->cfg.H = o->height;
  j->cfg.W = o->width;
  j->cfg.C = o->channels;
  if (!o->eval_only) {
    int32_t first = -1, other = -1, colour = 0;
    for (int32_t i = 0; i < j->n_train; i++) {
      const clnet_image_info *f = &j->res[i].info;
      if (j->res[i].st != CLNET_SUCCESS) continue;
      colour |= f->c == 3;
      if (first < 0) first = i;
      else if (other < 0 && (f->h != j->res[first].info.h || f->w != j->res[first].info.w)) other = i;
    }
    if (first < 0) return clnet_set_error(CLNET_ERR_FORMAT, "%s: no readable training images", dir);
    if (!o->height && other >= 0)
      return clnet_set_error(CLNET_ERR_FORMAT,
                             "%s: the training images differ in size (%s is %dx%d, %s is %dx%d): give the network's "
                             "input size (--input HxW)", dir, all->paths[first], j->res[first].info.w,
                             j->res[first].info.h, all->paths[other], j->res[other].info.w, j->res[other].info.h);
    if (!o->height) {
      j->cfg.H = j->res[first].info.h;
      j->cfg.W = j->res[first].info.w;
    }
    if (!o->channels) j->cfg.C = colour ? 3 : 1;
  }
  j->cfg.max_side = 2 * (j->cfg.H > j->cfg.W ? j->cfg.H : j->cfg.W);
  return CLNET_SUCCESS;
}

/* Opens the files of `all` ([0, n_train) training, the rest test) as two sets.
 * bad: what the scan left out already (skip_bad); the files found bad here join it. */
static clnet_status open_lists(const char *dir, clnet_image_list *all, int32_t n_train, clnet_bad_list *bad,
                               int32_t classes, char **class_names, const clnet_image_options *o, clnet_dataset *train,
                               clnet_dataset *test) {
  const int32_t n = all->n, scan_bad = bad->n;
  const int32_t cpus = clnet_cpu_count();
  open_job j;
  memset(&j, 0, sizeof j);
  j.cfg.paths = all->paths;
  j.cfg.n = n;
  j.cfg.max_pixels = o->max_pixels ? o->max_pixels : CLNET_IMAGE_MAX_PIXELS;
  j.cfg.threads = o->threads ? o->threads : cpus < MAX_THREADS_DEFAULT ? cpus : MAX_THREADS_DEFAULT;
  j.n_train = n_train;
  clnet_pool *pool = NULL;
  clnet_image_source *src_train = NULL, *src_test = NULL;
  clnet_status st = CLNET_SUCCESS;
  char a[32], b[32];
  j.res = calloc((size_t)n + 1, sizeof *j.res);
  j.scratch = calloc((size_t)j.cfg.threads, sizeof *j.scratch);
  if (!j.res || !j.scratch) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: out of memory for %d images", dir, (int)n);
    goto out;
  }
  for (int32_t w = 0; w < j.cfg.threads; w++) CLNET_TRY_GOTO(clnet_image_scratch_create(&j.scratch[w]), st, out);
  CLNET_TRY_GOTO(clnet_pool_create(j.cfg.threads, &pool), st, out);

  /* 1. every header: size and colour; bombs are refused here, before anything is decoded */
  clnet_pool_run(pool, n, probe_item, &j);
  CLNET_TRY_GOTO(collect_bad(&j, o, bad, dir), st, out);
  CLNET_TRY_GOTO(input_size(&j, all, o, dir), st, out);

  /* 2. the cache: the stored images of both splits, if they fit */
  uint64_t need = 0;
  for (int32_t i = 0; i < n; i++)
    if (j.res[i].st == CLNET_SUCCESS) {
      int32_t sh, sw;
      stored_size(j.res[i].info.h, j.res[i].info.w, j.cfg.max_side, &sh, &sw);
      need += (uint64_t)sh * sw * j.cfg.C;
    }
  const uint64_t avail = memory_available();
  j.caching = o->cache == CLNET_IMAGE_CACHE_RAM || (o->cache == CLNET_IMAGE_CACHE_AUTO && avail && need <= avail / 2);
  if (j.caching) {
    j.cache = calloc((size_t)n + 1, sizeof *j.cache);
    j.sh = calloc((size_t)n + 1, sizeof *j.sh);
    j.sw = calloc((size_t)n + 1, sizeof *j.sw);
    if (!j.cache || !j.sh || !j.sw) {
      st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: out of memory for the image cache", dir);
      goto out;
    }
  }
  j.stats = !o->eval_only && o->norm == CLNET_IMAGE_NORM_DATA;
  if (j.stats && !(j.hist = calloc((size_t)j.cfg.threads, sizeof *j.hist))) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: out of memory", dir);
    goto out;
  }

  /* 3. decode every file once: corrupt and truncated ones show here */
  clnet_pool_run(pool, n, decode_item, &j);
  CLNET_TRY_GOTO(collect_bad(&j, o, bad, dir), st, out);

  /* 4. what is left: every training class keeps an image, and there is something to validate on */
  for (int32_t c = 0, i = 0; !o->eval_only && c < classes; c++) {
    int32_t good = 0, first = i;
    while (i < n_train && all->labels[i] == c) good += j.res[i++].st == CLNET_SUCCESS;
    if (!good) {
      st = clnet_set_error(CLNET_ERR_FORMAT, "%s: class '%s' has no readable training images left (the first was %s)",
                           dir, class_names[c], first < n_train ? all->paths[first] : "none");
      goto out;
    }
  }
  int32_t test_good = 0;
  for (int32_t i = n_train; i < n; i++) test_good += j.res[i].st == CLNET_SUCCESS;
  if (test_good == 0) {
    st = clnet_set_error(CLNET_ERR_FORMAT, "%s: none of its %d %simages could be read", dir, (int)(n - n_train),
                         n_train ? "validation " : "");
    goto out;
  }
  if (o->skip_bad) {
    for (int32_t i = 0; i < bad->n && i < MAX_NOTED_BAD; i++) note(o, "skipped %s", bad->lines[i]);
    if (bad->n > MAX_NOTED_BAD) note(o, "... and %d more", (int)(bad->n - MAX_NOTED_BAD));
    note(o, "skipped %d bad image%s of %d (--skip-bad-images)", (int)bad->n, bad->n == 1 ? "" : "s", (int)(n + scan_bad));
  }
  if (o->eval_only) {
    /* evaluation and prediction: the training split's cache is not theirs to report */
  } else if (j.caching)
    note(o, "decoded images cached in memory: %s (%s)", fmt_mib(a, need),
         o->cache == CLNET_IMAGE_CACHE_RAM ? "--cache-images ram" : "they fit in half of the memory available");
  else if (o->cache == CLNET_IMAGE_CACHE_AUTO)
    note(o, "decoded images not cached: they need %s, %s is available; every epoch decodes the files again",
         fmt_mib(a, need), fmt_mib(b, avail));

  CLNET_TRY_GOTO(make_source(&j, all, 0, n_train, 1, o, &src_train), st, out);
  CLNET_TRY_GOTO(make_source(&j, all, n_train, n, 0, o, &src_test), st, out);
  float mean[4] = {0}, std[4] = {1, 1, 1, 1};
  const int32_t has_norm = !(o->eval_only && o->norm == CLNET_IMAGE_NORM_DATA); /* eval brings its own */
  if (has_norm) {
    uint64_t sum[3][256];
    memset(sum, 0, sizeof sum);
    for (int32_t w = 0; j.hist && w < j.cfg.threads; w++)
      for (int32_t c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) sum[c][v] += j.hist[w][c][v];
    stats_norm(o, j.cfg.C, sum, mean, std);
  }
  clnet_dataset *sets[2] = {train, test};
  clnet_image_source *srcs[2] = {src_train, src_test};
  src_train = src_test = NULL;
  for (int k = 0; k < 2; k++) {
    clnet_dataset *d = sets[k];
    d->count = srcs[k]->n;
    d->height = j.cfg.H;
    d->width = j.cfg.W;
    d->channels = j.cfg.C;
    d->classes = classes;
    d->source = srcs[k];
    d->has_norm = has_norm;
    memcpy(d->norm_mean, mean, sizeof mean);
    memcpy(d->norm_std, std, sizeof std);
    CLNET_TRY_GOTO(copy_names(class_names, classes, d), st, out);
  }
  train->skipped = n_train - train->count;
  test->skipped = n - n_train - test->count;
out:
  clnet_pool_free(pool);
  for (int32_t w = 0; j.scratch && w < j.cfg.threads; w++) clnet_image_scratch_free(j.scratch[w]);
  free(j.scratch);
  for (int32_t i = 0; j.res && i < n; i++) free(j.res[i].msg);
  free(j.res);
  if (j.cache)
    for (int32_t i = 0; i < n; i++) free(j.cache[i]);
  free(j.cache);
  free(j.sh);
  free(j.sw);
  free(j.hist);
  clnet_image_source_free(src_train);
  clnet_image_source_free(src_test);
  if (st != CLNET_SUCCESS) {
    clnet_dataset_free(train);
    clnet_dataset_free(test);
  }
  return st;
}

/* all = a's paths then b's (moved, not copied); a and b are left empty. */
static clnet_status concat_move(clnet_image_list *a, clnet_image_list *b, clnet_image_list *all) {
  memset(all, 0, sizeof *all);
  const int32_t n = a->n + b->n;
  all->paths = calloc((size_t)n + 1, sizeof *all->paths);
  all->labels = calloc((size_t)n + 1, sizeof *all->labels);
  if (!all->paths || !all->labels) {
    free(all->paths);
    free(all->labels);
    memset(all, 0, sizeof *all);
    return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "image set of %d files: out of memory", (int)n);
  }
  clnet_image_list *parts[2] = {a, b};
  for (int k = 0; k < 2; k++) {
    for (int32_t i = 0; i < parts[k]->n; i++) {
      all->paths[all->n] = parts[k]->paths[i];
      all->labels[all->n++] = parts[k]->labels[i];
    }
    parts[k]->n = 0;
    clnet_image_list_free(parts[k]);
  }
  all->cap = n + 1;
  return CLNET_SUCCESS;
}

clnet_status clnet_image_folder_open(const char *dir, const clnet_image_options *opts, clnet_dataset *train,
                                     clnet_dataset *test, int *found) {
  static const clnet_image_options defaults;
  const clnet_image_options *o = opts ? opts : &defaults;
  const clnet_tree_options to = {.val_split = o->val_split, .split_seed = o->split_seed, .eval_only = o->eval_only,
                                 .skip_bad = o->skip_bad};
  clnet_image_tree t;
  CLNET_TRY(check_options(o));
  CLNET_TRY(clnet_image_tree_scan(dir, &to, &t, found));
  if (!*found) return CLNET_SUCCESS;
  note(o, "image folder %s: %s, %d class%s (%s%s%s)", dir, t.layout, (int)t.classes, t.classes == 1 ? "" : "es",
       t.class_names[0],
       t.classes > 1 ? t.classes > 2 ? ", ..., " : ", " : "", t.classes > 1 ? t.class_names[t.classes - 1] : "");
  if (t.ignored)
    note(o, "ignored %d file%s that %s not .png, .jpg or .jpeg images inside class folders (e.g. %s)", (int)t.ignored,
         t.ignored == 1 ? "" : "s", t.ignored == 1 ? "is" : "are", t.ignored_example ? t.ignored_example : "?");
  const int32_t n_train = t.train.n;
  clnet_image_list all;
  clnet_status st = concat_move(&t.train, &t.test, &all);
  if (st == CLNET_SUCCESS)
    st = open_lists(dir, &all, n_train, &t.bad, t.classes, t.class_names, o, train, test);
  clnet_image_list_free(&all);
  clnet_image_tree_free(&t);
  return st;
}

clnet_status clnet_dataset_open_images(const char *const *paths, int32_t n, const clnet_image_options *opts,
                                       clnet_dataset *out) {
  if (!out) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_dataset_open_images: out is NULL");
  memset(out, 0, sizeof *out);
  if (!paths || n < 1 || !opts)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_dataset_open_images: no paths or no options");
  clnet_image_options o = *opts;
  o.eval_only = 1;
  o.val_split = 0;
  CLNET_TRY(check_options(&o));
  clnet_image_list all;
  CLNET_TRY(clnet_image_paths_collect(paths, n, &all));
  clnet_bad_list bad = {0};
  char *names[1] = {"0"};
  clnet_dataset unused = {0};
  clnet_status st = open_lists(n == 1 ? paths[0] : "the images given", &all, 0, &bad, 1, names, &o, &unused, out);
  clnet_dataset_free(&unused);
  clnet_image_list_free(&all);
  clnet_bad_list_free(&bad);
  return st;
}
