/* Batch loader: a background thread keeps a ring of prepared batches ahead of
 * the consumer.
 *
 * Epoch plan: at clnet_loader_start_epoch(e, k) the loader computes, from
 * (seed, e) alone, the order of the whole epoch (a Fisher-Yates permutation of
 * 0..count-1, or identity without shuffle) and one flip bit per position (all 0
 * without flip). Batch j is positions [j*batch, min((j+1)*batch, count)) of that
 * plan, so batch j is the same whether the epoch started at 0 or at k.
 *
 * Ring protocol (all counters under mu, relative to the current run's first batch):
 *   produced: batches the thread has finished; batch i lives in slot i % RING
 *   consumed: batches handed out by clnet_loader_next
 *   holding:  1 while the consumer may still read batch consumed-1
 * The thread fills batch `produced` only while produced - (consumed - holding) < RING,
 * so it never writes the slot the consumer holds. It fills without the lock; a
 * generation counter makes it drop a batch that clnet_loader_start_epoch cancelled,
 * and start_epoch waits until the thread is idle before rewriting the plan. Both
 * sides wait on condition variables: nothing spins.
 *
 * Image folders (ds->source): the thread hands the images of a batch to a pool of
 * decoding workers (host/data/pool.c), each with its own decoder and buffers; the
 * training crop of position p of epoch e draws from a key of (seed, e, p) alone, so
 * batches stay independent of thread timing. A file that fails (it changed since
 * the set was opened) fails its batch: clnet_loader_next returns the error. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clnet/data.h"
#include "core/error.h"
#include "core/rng.h"
#include "data/augment.h"
#include "data/image_source.h"
#include "data/pool.h"

#define RING 4 /* prepared batches; >= 3 */

/* Stream ids for clnet_rng_seed_stream: (epoch << 2) | purpose. */
#define STREAM_ORDER 1u
#define STREAM_FLIP 2u
#define STREAM_CROP 3u /* crop offsets and cutout centres */

struct clnet_loader {
  const clnet_dataset *ds; /* borrowed; (count, H, W, C) */
  int32_t batch, shuffle, flip; /* flip: 0 none, 1 random, 2 alternating */
  int32_t crop_pad, crop_reflect, cutout;
  uint64_t seed;
  int32_t batches;          /* per epoch: ceil(count / batch) */
  int32_t slot_cap;         /* images a slot holds: min(batch, count) */
  size_t image_elems;       /* H * W * C */
  float *lut;               /* (C, 256): ((v / 255) - mean[c]) / std[c] */
  int32_t *order;           /* (count) dataset index at each epoch position */
  uint8_t *flips;           /* (count) 1 = mirror the image at this position */
  clnet_augment_draw *draws; /* (count) crop and cutout of each position; NULL without them */
  float *slot_images[RING]; /* each (slot_cap, H, W, C) */
  int32_t *slot_labels[RING]; /* each (slot_cap) */
  int32_t slot_count[RING];
  int32_t slot_global[RING]; /* images in the whole (unsharded) batch */
  int32_t shard_index, shard_count;
  int32_t epoch;             /* of the current plan */
  clnet_status slot_status[RING]; /* a batch whose image failed: its status and message */
  char *slot_error[RING];

  /* image folders: decoding workers, one scratch and one (H, W, C) byte image each */
  clnet_pool *pool;
  clnet_image_scratch **scratch;
  uint8_t **u8;
  int32_t workers;

  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t work_cv;  /* thread waits: something to produce, or quit */
  pthread_cond_t ready_cv; /* consumer waits: a batch was produced */
  pthread_cond_t idle_cv;  /* start_epoch waits: the thread finished its fill */
  int sync_ready, thread_ready;
  int quit, active, busy, holding;
  uint64_t gen;
  int32_t first, total, produced, consumed;
};

/* img (H, W, C) bytes into dst (H, W, C) floats through the lut, mirrored when flip. */
/* The image at epoch position pos, (H, W, C) bytes, into dst as normalised floats, with the
 * position's flip and, when the loader crops or cuts out, its draw. */
static void normalise_image(const clnet_loader *l, const uint8_t *img, int32_t pos, float *dst) {
  const int32_t H = l->ds->height, W = l->ds->width, C = l->ds->channels;
  const int flip = l->flips[pos];
  if (l->draws) {
    clnet_augment_draw d = l->draws[pos];
    d.flip = (uint8_t)flip;
    clnet_augment_image(img, H, W, C, l->lut, l->crop_reflect, l->cutout, &d, dst);
    return;
  }
  if (!flip) {
    if (C == 1) {
      for (size_t i = 0; i < l->image_elems; i++) dst[i] = l->lut[img[i]];
    } else {
      for (size_t i = 0; i < l->image_elems; i += (size_t)C)
        for (int32_t c = 0; c < C; c++) dst[i + c] = l->lut[c * 256 + img[i + c]];
    }
    return;
  }
  for (int32_t h = 0; h < H; h++) {
    const uint8_t *row = img + (size_t)h * W * C;
    float *drow = dst + (size_t)h * W * C;
    for (int32_t w = 0; w < W; w++) {
      const uint8_t *px = row + (size_t)(W - 1 - w) * C;
      for (int32_t c = 0; c < C; c++) drow[(size_t)w * C + c] = l->lut[c * 256 + px[c]];
    }
  }
}

/* The training crop's randomness for epoch position p: a function of (seed, epoch, p) only. */
static uint64_t position_key(uint64_t seed, int32_t epoch, int32_t p) {
  uint64_t x = seed ^ (0x9E3779B97F4A7C15ull * ((uint64_t)epoch + 1));
  x = clnet_splitmix64(&x) ^ (0xD1B54A32D192ED03ull * ((uint64_t)p + 1));
  return clnet_splitmix64(&x);
}

/* One image-folder batch being filled by the workers. */
typedef struct {
  clnet_loader *l;
  int32_t p0;
  float *out;
  int32_t *labels;
  pthread_mutex_t mu;
  int32_t err_k; /* lowest failing item, or INT32_MAX */
  clnet_status st;
  char msg[1024];
} image_batch;

static void render_item(void *ctx, int32_t k, int32_t worker) {
  image_batch *b = ctx;
  clnet_loader *l = b->l;
  const int32_t pos = b->p0 + k, src = l->order[pos];
  uint8_t *img = l->u8[worker];
  clnet_status st = clnet_image_source_render(l->ds->source, src, position_key(l->seed, l->epoch, pos),
                                              l->scratch[worker], img);
  if (st != CLNET_SUCCESS) {
    pthread_mutex_lock(&b->mu);
    if (k < b->err_k) {
      b->err_k = k;
      b->st = st;
      snprintf(b->msg, sizeof b->msg, "%s", clnet_last_error());
    }
    pthread_mutex_unlock(&b->mu);
    return;
  }
  b->labels[k] = clnet_image_source_label(l->ds->source, src);
  normalise_image(l, img, pos, b->out + (size_t)k * l->image_elems);
}

/* Fill slot `slot` with batch `j` of the current plan. Reads only the plan, the
 * dataset and the lut, none of which change while the thread is busy. */
static void fill_batch(clnet_loader *l, int slot, int32_t j) {
  const clnet_dataset *ds = l->ds;
  int32_t whole = ds->count - j * l->batch; /* images in the global batch j */
  if (whole > l->batch) whole = l->batch;
  /* this shard's contiguous part of it: [whole*s/S, whole*(s+1)/S) */
  const int32_t lo = (int32_t)((int64_t)whole * l->shard_index / l->shard_count);
  const int32_t hi = (int32_t)((int64_t)whole * (l->shard_index + 1) / l->shard_count);
  const int32_t p0 = j * l->batch + lo;
  const int32_t n = hi - lo;
  l->slot_global[slot] = whole;
  l->slot_count[slot] = n;
  l->slot_status[slot] = CLNET_SUCCESS;
  float *out = l->slot_images[slot]; /* (n, H, W, C) */
  int32_t *labels = l->slot_labels[slot];
  if (ds->source) {
    image_batch b = {.l = l, .p0 = p0, .out = out, .labels = labels, .err_k = INT32_MAX, .st = CLNET_SUCCESS};
    pthread_mutex_init(&b.mu, NULL);
    clnet_pool_run(l->pool, n, render_item, &b);
    pthread_mutex_destroy(&b.mu);
    if (b.st != CLNET_SUCCESS) {
      l->slot_status[slot] = b.st;
      snprintf(l->slot_error[slot], 1024, "%s", b.msg);
    }
    return;
  }
  for (int32_t k = 0; k < n; k++) {
    const int32_t src = l->order[p0 + k];
    labels[k] = ds->labels[src];
    normalise_image(l, ds->images + (size_t)src * l->image_elems, p0 + k, out + (size_t)k * l->image_elems);
  }
}

static void *loader_thread(void *arg) {
  clnet_loader *l = arg;
  pthread_mutex_lock(&l->mu);
  for (;;) {
    while (!l->quit && !(l->active && l->produced < l->total &&
                         l->produced - (l->consumed - l->holding) < RING))
      pthread_cond_wait(&l->work_cv, &l->mu);
    if (l->quit) break;
    const uint64_t gen = l->gen;
    const int32_t i = l->produced, j = l->first + i;
    l->busy = 1;
    pthread_mutex_unlock(&l->mu);
    fill_batch(l, i % RING, j);
    pthread_mutex_lock(&l->mu);
    l->busy = 0;
    pthread_cond_broadcast(&l->idle_cv);
    if (gen == l->gen) {
      l->produced++;
      pthread_cond_signal(&l->ready_cv);
    }
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

void clnet_loader_free(clnet_loader *l) {
  if (!l) return;
  if (l->thread_ready) {
    pthread_mutex_lock(&l->mu);
    l->quit = 1;
    pthread_cond_broadcast(&l->work_cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
  }
  if (l->sync_ready) {
    pthread_cond_destroy(&l->idle_cv);
    pthread_cond_destroy(&l->ready_cv);
    pthread_cond_destroy(&l->work_cv);
    pthread_mutex_destroy(&l->mu);
  }
  for (int s = 0; s < RING; s++) {
    free(l->slot_images[s]);
    free(l->slot_labels[s]);
    free(l->slot_error[s]);
  }
  clnet_pool_free(l->pool);
  for (int32_t w = 0; w < l->workers; w++) {
    if (l->scratch) clnet_image_scratch_free(l->scratch[w]);
    if (l->u8) free(l->u8[w]);
  }
  free(l->scratch);
  free(l->u8);
  free(l->lut);
  free(l->order);
  free(l->flips);
  free(l->draws);
  free(l);
}

clnet_status clnet_loader_create(const clnet_dataset *ds, const clnet_loader_config *cfg, clnet_loader **out) {
  if (!out) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_loader_create: out is NULL");
  *out = NULL;
  if (!ds || !cfg) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_loader_create: ds or cfg is NULL");
  if ((!ds->source && (!ds->images || !ds->labels)) || ds->count <= 0 || ds->height <= 0 || ds->width <= 0 || ds->channels <= 0)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "clnet_loader_create: data set is empty or not loaded (count %d, %dx%dx%d)",
                           (int)ds->count, (int)ds->height, (int)ds->width, (int)ds->channels);
  if (cfg->batch < 1)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_loader_create: batch is %d, must be >= 1",
                           (int)cfg->batch);
  if (!cfg->mean || !cfg->std)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_loader_create: mean or std is NULL");
  for (int32_t c = 0; c < ds->channels; c++) {
    if (!isfinite(cfg->mean[c]) || !isfinite(cfg->std[c]) || !(cfg->std[c] > 0.0f))
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                             "clnet_loader_create: channel %d has mean %g, std %g; both must be finite "
                             "and std > 0", (int)c, (double)cfg->mean[c], (double)cfg->std[c]);
  }
  const int32_t shards = cfg->shard_count > 0 ? cfg->shard_count : 1;
  if (cfg->flip < 0 || cfg->flip > 2)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_loader_create: flip is %d, must be 0 (none), 1 (random) "
                           "or 2 (alternating)", (int)cfg->flip);
  {
    const int32_t side = ds->height < ds->width ? ds->height : ds->width;
    if (cfg->crop_pad < 0 || cfg->crop_pad >= side)
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_loader_create: crop padding %d must be 0..%d (less than "
                             "the %dx%d image's side)", (int)cfg->crop_pad, (int)side - 1, (int)ds->height, (int)ds->width);
    if (cfg->cutout < 0 || cfg->cutout > (ds->height > ds->width ? ds->height : ds->width))
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_loader_create: cutout %d must be 0..%d (the image's side)",
                             (int)cfg->cutout, (int)(ds->height > ds->width ? ds->height : ds->width));
  }
  if (cfg->shard_count < 0 || cfg->shard_index < 0 || cfg->shard_index >= shards)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_loader_create: shard %d of %d does not exist",
                           (int)cfg->shard_index, (int)cfg->shard_count);
  const int32_t slot_cap = cfg->batch < ds->count ? cfg->batch : ds->count;
  const uint64_t hw = (uint64_t)ds->height * (uint64_t)ds->width; /* < 2^62 */
  const uint64_t image_elems = hw <= SIZE_MAX / (uint64_t)ds->channels ? hw * (uint64_t)ds->channels : 0;
  if (image_elems == 0 || image_elems > SIZE_MAX / sizeof(float) / (uint64_t)slot_cap ||
      image_elems > SIZE_MAX / (uint64_t)ds->count)
    return clnet_set_error(CLNET_ERR_TOO_LARGE, "clnet_loader_create: a batch of %d images of %dx%dx%d floats "
                           "does not fit in memory", (int)slot_cap, (int)ds->height, (int)ds->width,
                           (int)ds->channels);

  clnet_loader *l = calloc(1, sizeof *l);
  if (!l) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "clnet_loader_create: out of memory");
  l->ds = ds;
  l->batch = cfg->batch;
  l->shard_index = cfg->shard_index;
  l->shard_count = shards;
  l->shuffle = cfg->shuffle != 0;
  l->flip = cfg->flip;
  l->crop_pad = cfg->crop_pad;
  l->crop_reflect = cfg->crop_reflect != 0;
  l->cutout = cfg->cutout;
  l->seed = cfg->seed;
  l->batches = (int32_t)(((int64_t)ds->count + cfg->batch - 1) / cfg->batch);
  l->slot_cap = slot_cap;
  l->image_elems = (size_t)image_elems;
  l->lut = malloc((size_t)ds->channels * 256 * sizeof *l->lut);
  l->order = malloc((size_t)ds->count * sizeof *l->order);
  l->flips = malloc((size_t)ds->count);
  if (cfg->crop_pad > 0 || cfg->cutout > 0) l->draws = malloc((size_t)ds->count * sizeof *l->draws);
  int ok = l->lut && l->order && l->flips && (l->draws || !(cfg->crop_pad > 0 || cfg->cutout > 0));
  for (int s = 0; ok && s < RING; s++) {
    l->slot_images[s] = malloc((size_t)slot_cap * l->image_elems * sizeof(float));
    l->slot_labels[s] = malloc((size_t)slot_cap * sizeof(int32_t));
    l->slot_error[s] = malloc(1024);
    ok = l->slot_images[s] && l->slot_labels[s] && l->slot_error[s];
  }
  if (ok && ds->source) {
    const int32_t workers = clnet_image_source_threads(ds->source);
    l->scratch = calloc((size_t)workers, sizeof *l->scratch);
    l->u8 = calloc((size_t)workers, sizeof *l->u8);
    ok = l->scratch && l->u8;
    if (ok) l->workers = workers;
    for (int32_t w = 0; ok && w < workers; w++) {
      ok = clnet_image_scratch_create(&l->scratch[w]) == CLNET_SUCCESS && (l->u8[w] = malloc(l->image_elems)) != NULL;
    }
    if (ok && clnet_pool_create(workers, &l->pool) != CLNET_SUCCESS) ok = 0;
  }
  if (!ok) {
    clnet_loader_free(l);
    return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY,
                           "clnet_loader_create: out of memory for %d batches of %d images", RING, (int)slot_cap);
  }
  for (int32_t c = 0; c < ds->channels; c++)
    for (int v = 0; v < 256; v++)
      l->lut[c * 256 + v] = (float)((v / 255.0 - (double)cfg->mean[c]) / (double)cfg->std[c]);

  if (pthread_mutex_init(&l->mu, NULL) != 0) {
    clnet_loader_free(l); /* sync_ready = 0: frees only the buffers */
    return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "clnet_loader_create: cannot create a mutex");
  }
  if (pthread_cond_init(&l->work_cv, NULL) != 0) goto cond0;
  if (pthread_cond_init(&l->ready_cv, NULL) != 0) goto cond1;
  if (pthread_cond_init(&l->idle_cv, NULL) != 0) goto cond2;
  l->sync_ready = 1;
  int e = pthread_create(&l->thread, NULL, loader_thread, l);
  if (e != 0) {
    clnet_loader_free(l);
    return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "clnet_loader_create: cannot start the loader thread: %s",
                           strerror(e));
  }
  l->thread_ready = 1;
  *out = l;
  return CLNET_SUCCESS;
cond2:
  pthread_cond_destroy(&l->ready_cv);
cond1:
  pthread_cond_destroy(&l->work_cv);
cond0:
  pthread_mutex_destroy(&l->mu);
  clnet_loader_free(l);
  return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "clnet_loader_create: cannot create a condition variable");
}

int32_t clnet_loader_batches_per_epoch(const clnet_loader *l) { return l ? l->batches : 0; }

clnet_status clnet_loader_start_epoch(clnet_loader *l, int32_t epoch, int32_t first_batch) {
  if (!l) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_loader_start_epoch: loader is NULL");
  if (epoch < 0)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_loader_start_epoch: epoch is %d, must be >= 0",
                           (int)epoch);
  if (first_batch < 0 || first_batch > l->batches)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "clnet_loader_start_epoch: first_batch is %d, must be 0..%d (batches per epoch)",
                           (int)first_batch, (int)l->batches);
  pthread_mutex_lock(&l->mu);
  l->gen++;        /* whatever the thread is filling now is dropped */
  l->active = 0;   /* and it starts nothing new */
  while (l->busy) pthread_cond_wait(&l->idle_cv, &l->mu);
  /* The thread is idle and waits for work_cv: the plan is ours to rewrite. */
  const int32_t n = l->ds->count;
  for (int32_t i = 0; i < n; i++) l->order[i] = i;
  clnet_rng rng;
  if (l->shuffle) {
    clnet_rng_seed_stream(&rng, l->seed, ((uint64_t)epoch << 2) | STREAM_ORDER);
    clnet_rng_shuffle_i32(&rng, l->order, n);
  }
  if (l->flip == 1) {
    clnet_rng_seed_stream(&rng, l->seed, ((uint64_t)epoch << 2) | STREAM_FLIP);
    for (int32_t i = 0; i < n; i += 64) {
      uint64_t bits = clnet_rng_u64(&rng);
      for (int32_t k = 0; k < 64 && i + k < n; k++) l->flips[i + k] = (uint8_t)((bits >> k) & 1u);
    }
  } else if (l->flip == 2) {
    /* alternating: one random bit per image (epoch 0's stream, by dataset index), inverted in
     * every odd epoch, so each image is seen both ways in every two epochs */
    clnet_rng_seed_stream(&rng, l->seed, STREAM_FLIP);
    for (int32_t i = 0; i < n; i += 64) {
      uint64_t bits = clnet_rng_u64(&rng);
      for (int32_t k = 0; k < 64 && i + k < n; k++) l->flips[i + k] = (uint8_t)((bits >> k) & 1u);
    }
    /* flips[] is indexed by position: permute the per-image bits through this epoch's order */
    for (int32_t i = 0; i < n; i++) l->flips[i] = (uint8_t)(l->flips[i] << 1); /* bit 1: the image's own */
    for (int32_t p = 0; p < n; p++) l->flips[p] |= (uint8_t)((l->flips[l->order[p]] >> 1) & 1u);
    for (int32_t p = 0; p < n; p++) l->flips[p] = (uint8_t)((l->flips[p] & 1u) ^ (uint8_t)(epoch & 1));
  } else {
    memset(l->flips, 0, (size_t)n);
  }
  if (l->draws) {
    const int32_t P = l->crop_pad, H = l->ds->height, W = l->ds->width;
    clnet_rng_seed_stream(&rng, l->seed, ((uint64_t)epoch << 2) | STREAM_CROP);
    for (int32_t p = 0; p < n; p++) {
      clnet_augment_draw *d = &l->draws[p];
      d->dy = d->dx = d->cy = d->cx = 0;
      d->flip = 0;
      if (P > 0) {
        d->dy = (int16_t)((int32_t)clnet_rng_below(&rng, (uint64_t)(2 * P + 1)) - P);
        d->dx = (int16_t)((int32_t)clnet_rng_below(&rng, (uint64_t)(2 * P + 1)) - P);
      }
      if (l->cutout > 0) {
        d->cy = (int16_t)clnet_rng_below(&rng, (uint64_t)H);
        d->cx = (int16_t)clnet_rng_below(&rng, (uint64_t)W);
      }
    }
  }
  l->epoch = epoch;
  l->first = first_batch;
  l->total = l->batches - first_batch;
  l->produced = l->consumed = l->holding = 0;
  l->active = 1;
  pthread_cond_signal(&l->work_cv);
  pthread_mutex_unlock(&l->mu);
  return CLNET_SUCCESS;
}

clnet_status clnet_loader_next(clnet_loader *l, clnet_batch *batch, int32_t *has_batch) {
  if (has_batch) *has_batch = 0;
  if (!l || !batch || !has_batch)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_loader_next: loader, batch or has_batch is NULL");
  memset(batch, 0, sizeof *batch);
  pthread_mutex_lock(&l->mu);
  if (!l->active) {
    pthread_mutex_unlock(&l->mu);
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "clnet_loader_next: no epoch started (call clnet_loader_start_epoch first)");
  }
  if (l->holding) { /* the consumer is done with the previous batch: its slot is free */
    l->holding = 0;
    pthread_cond_signal(&l->work_cv);
  }
  if (l->consumed == l->total) {
    pthread_mutex_unlock(&l->mu);
    return CLNET_SUCCESS;
  }
  while (l->produced <= l->consumed) pthread_cond_wait(&l->ready_cv, &l->mu);
  const int slot = l->consumed % RING;
  batch->count = l->slot_count[slot];
  batch->global_count = l->slot_global[slot];
  batch->index = l->first + l->consumed;
  batch->images = l->slot_images[slot];
  batch->labels = l->slot_labels[slot];
  l->consumed++;
  l->holding = 1;
  const clnet_status failed = l->slot_status[slot];
  pthread_mutex_unlock(&l->mu);
  if (failed != CLNET_SUCCESS) {
    memset(batch, 0, sizeof *batch);
    return clnet_set_error(failed, "%s", l->slot_error[slot]);
  }
  *has_batch = 1;
  return CLNET_SUCCESS;
}
