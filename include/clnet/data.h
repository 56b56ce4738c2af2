/* clnet data sets: readers for CIFAR-10 (binary version), IDX (MNIST,
 * Fashion-MNIST; plain or gzipped) and image-folder trees of PNG and JPEG
 * files, per-channel normalisation statistics, and a loader that prepares
 * shuffled, augmented, normalised float batches on a background thread.
 *
 * Knows nothing of OpenCL. Every function that can fail returns a clnet_status
 * and records a one-line message naming the file and the problem, e.g.
 *   "data_batch_1.bin: file is 30,720 bytes, a CIFAR-10 batch must be a multiple of 3,073"
 * (see clnet_last_error()). Sizes are checked before anything is allocated; on
 * failure nothing is leaked and the output is left zeroed. */
#ifndef CLNET_DATA_H
#define CLNET_DATA_H

#include <stdint.h>

#include "clnet/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most channels an image may have where per-channel values are kept in a fixed array (the
 * normalisation of a training run and of its checkpoint). */
#define CLNET_MAX_CHANNELS 64

struct clnet_image_source; /* host/data/image_source.h */

/* A data set: uint8 images and their class labels, in memory (CIFAR-10, IDX),
 * or image files decoded as the loader needs them (image folders). */
typedef struct clnet_dataset {
  int32_t count;    /* number of images (> 0 once loaded) */
  int32_t height;   /* H, rows per image (image folders: the network's input, what the loader makes) */
  int32_t width;    /* W, columns per image */
  int32_t channels; /* C: 3 for CIFAR-10, 1 for IDX; image folders: 1 or 3 */
  int32_t classes;  /* number of classes; every label is < classes. CIFAR-10: 10; IDX: 1 + the largest label */
  uint8_t *images;  /* (count, H, W, C) uint8, HWC interleaved (CIFAR planes are converted); NULL for image folders */
  uint8_t *labels;  /* (count) class indices in [0, classes); NULL for image folders (clnet_dataset_label) */
  /* Image folders only (NULL / 0 otherwise): */
  char **class_names;                 /* (classes) the class folders' names, sorted */
  struct clnet_image_source *source;  /* the files, their labels and (when cached) their decoded pixels */
  int32_t skipped;                    /* bad files left out (clnet_image_options.skip_bad) */
  int32_t has_norm;                   /* 1: norm_mean/norm_std hold the normalisation chosen when it was opened */
  float norm_mean[CLNET_MAX_CHANNELS], norm_std[CLNET_MAX_CHANNELS];
} clnet_dataset;

/* Load an IDX pair (MNIST / Fashion-MNIST layout). Each file may be gzipped or
 * plain: gzip is detected by its magic bytes (1f 8b), not by the file name.
 *   images_path: IDX ubyte, 3 dimensions (magic 0x00000803): (count, H, W) -> channels = 1
 *   labels_path: IDX ubyte, 1 dimension  (magic 0x00000801): (count); classes = 1 + the largest
 *   out:         receives the data set; free with clnet_dataset_free(). Zeroed on failure.
 * Both headers are read and checked (magic, dimensions, counts equal, declared size
 * equal to a plain file's size) before anything is allocated. A gzip file's
 * decompressed size is only known by decompressing it: its declared size must be
 * one that a file of its size can hold (deflate expands at most ~1032:1), and a
 * stream that ends early or goes on past the declared size is an error.
 * Errors: CLNET_ERR_IO (cannot open/read), CLNET_ERR_FORMAT (bad magic, truncated,
 * trailing data, zero or overflowing dimensions, corrupt gzip, image and label
 * counts differ), CLNET_ERR_OUT_OF_HOST_MEMORY, CLNET_ERR_INVALID_ARGUMENT. */
clnet_status clnet_dataset_load_idx(const char *images_path, const char *labels_path,
                                    clnet_dataset *out);

/* Load and concatenate CIFAR-10 binary-version batch files, in the order given.
 * Each record is 1 label byte (0..9) then 3,072 bytes: the R, G and B planes of a
 * 32x32 image, each row-major; the planes are interleaved into HWC on load.
 *   paths:   n_paths file names (plain files, any number of records each, >= 1)
 *   n_paths: >= 1
 *   out:     receives a (count, 32, 32, 3) data set; free with clnet_dataset_free().
 *            Zeroed on failure.
 * Every file's size is checked before anything is allocated. Errors: CLNET_ERR_IO,
 * CLNET_ERR_FORMAT (size not a positive multiple of 3,073, label >= 10, total
 * count too large), CLNET_ERR_OUT_OF_HOST_MEMORY, CLNET_ERR_INVALID_ARGUMENT. */
clnet_status clnet_dataset_load_cifar10(const char *const *paths, int32_t n_paths,
                                        clnet_dataset *out);

/* Find and load the training and test splits in a directory.
 * Looks for, in this order:
 *   CIFAR-10: data_batch_1.bin, data_batch_2.bin, ... (as many consecutive ones as
 *             exist, at least data_batch_1.bin; a later one after a gap is an error) +
 *             test_batch.bin, in dir or in
 *             dir/cifar-10-batches-bin/;
 *   IDX:      train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
 *             t10k-labels-idx1-ubyte, each with or without a ".gz" suffix; both
 *             splits get the classes of the larger of their largest labels.
 *   dir:         the directory
 *   train, test: receive the splits; free both with clnet_dataset_free(). Zeroed on failure.
 *                train may be NULL: the test split alone is looked for and loaded (eval), and
 *                the training files need not be there.
 *   format_name: if not NULL, receives "cifar10" or "idx" (a static string)
 * Errors: CLNET_ERR_IO when dir cannot be opened, when neither format is found
 * (the message lists what was looked for) or when a format is only partly
 * present (the message names the missing file); any error of the loaders above. */
clnet_status clnet_dataset_open_dir(const char *dir, clnet_dataset *train, clnet_dataset *test,
                                    const char **format_name);

/* ---- image folders ----------------------------------------------------------- */

/* Decoded images kept in memory between epochs. */
typedef enum clnet_image_cache {
  CLNET_IMAGE_CACHE_AUTO = 0, /* when both splits fit in half of the memory available now */
  CLNET_IMAGE_CACHE_RAM = 1,  /* always (an error when they do not fit) */
  CLNET_IMAGE_CACHE_NONE = 2, /* never: every epoch decodes every file again */
} clnet_image_cache;

/* Normalisation of image folders. */
typedef enum clnet_image_norm {
  CLNET_IMAGE_NORM_DATA = 0,     /* the training split's per-channel mean and std, computed when it is opened */
  CLNET_IMAGE_NORM_IMAGENET = 1, /* mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225); 1 channel: 0.449, 0.226 */
} clnet_image_norm;

/* How training images are cropped to the input (evaluation always scales the
 * image so that it covers the input, shorter side first, and takes the centre). */
typedef enum clnet_image_crop {
  CLNET_IMAGE_CROP_RANDOM = 0, /* scale to cover 9/8 of the input, then a random input-sized crop */
  CLNET_IMAGE_CROP_RRC = 1,    /* random-resized crop: 8%..100% of the area, aspect 3/4..4/3 (torchvision's) */
  CLNET_IMAGE_CROP_NONE = 2,   /* as evaluation: an image of the input's size is used as it is */
} clnet_image_crop;

/* Decompression-bomb guard: images of more pixels are refused from their header. */
#define CLNET_IMAGE_MAX_PIXELS 100000000

typedef struct clnet_image_options {
  /* The network's input. 0: from the data: the size every training image shares (an error when
   * they differ), and 3 channels when any training image is colour, else 1. Grey images are
   * expanded to 3 channels and colour ones reduced to 1 (BT.601 luma) as C asks. */
  int32_t height, width, channels;
  double val_split;        /* one-tree layouts (DIR/<class>/): fraction of each class held out, in (0, 1) */
  uint64_t split_seed;     /* which images are held out depends only on this and the file names */
  clnet_image_cache cache;
  clnet_image_norm norm;
  clnet_image_crop crop;   /* training split only */
  int32_t skip_bad;        /* nonzero: leave out files that cannot be read or decoded (each one and a summary go
                              to note); zero: the first one is an error naming it */
  int32_t threads;         /* decoding threads; 0: one per online CPU, at most 8 */
  int64_t max_pixels;      /* 0: CLNET_IMAGE_MAX_PIXELS */
  int32_t eval_only;       /* only the test split is read (train is left empty); a one-tree layout without
                              val_split is then all test. Needs height, width and channels. */
  /* Informational lines (what was found, cached, skipped); may be NULL. */
  void (*note)(void *user, const char *line);
  void *note_user;
} clnet_image_options;

/* clnet_dataset_open_dir, and image-folder trees after CIFAR-10 and IDX:
 *   DIR/train/<class>/<images> with DIR/val/<class>/ (or DIR/test/<class>/), or
 *   DIR/<class>/<images> (or DIR/train/<class>/ alone) with o->val_split held out,
 * class names = the class folders' names, sorted by byte value; the images are the
 * *.png, *.jpg, *.jpeg files below each class folder (any depth, case-insensitive,
 * symbolic links followed, hidden names skipped), sorted by path; the data set holds
 * them class by class in that order. Every image is checked from its header (size
 * against the pixel limit), then decoded once (in parallel): files that fail are an
 * error naming them, or left out with skip_bad. Nothing of the pixels is kept unless
 * cached; the loader decodes, crops and resizes on its worker threads.
 *   o: NULL for the defaults (all zero). format_name: also "images".
 * Errors (each names the folder or file): CLNET_ERR_IO (unreadable, symbolic-link
 * loop), CLNET_ERR_FORMAT (empty class folder, no images, not a PNG/JPEG, corrupt,
 * truncated, training images of different sizes without a size in o),
 * CLNET_ERR_TOO_LARGE (more pixels than the limit), CLNET_ERR_INVALID_ARGUMENT
 * (bad options, a one-tree layout without val_split). */
clnet_status clnet_dataset_open_dir_ex(const char *dir, const clnet_image_options *o, clnet_dataset *train,
                                       clnet_dataset *test, const char **format_name);

/* Image files to predict on: each path a file or a folder (every image below it,
 * sorted); labels are all 0 and classes 1. o->height, width and channels must be
 * set (the network's input); evaluation's centre crop. Errors as above. */
clnet_status clnet_dataset_open_images(const char *const *paths, int32_t n, const clnet_image_options *o,
                                       clnet_dataset *out);

/* Label of image i (any data set). */
int32_t clnet_dataset_label(const clnet_dataset *ds, int32_t i);
/* Path of image i of an image-folder set, NULL for in-memory sets. */
const char *clnet_dataset_image_path(const clnet_dataset *ds, int32_t i);

/* Free a data set's arrays and zero it. NULL, or an already zeroed set, is fine. */
void clnet_dataset_free(clnet_dataset *ds);

/* Per-channel mean and population standard deviation of x / 255 over every pixel
 * of every image, computed exactly (per-value histograms, double arithmetic).
 *   ds:   a loaded data set
 *   mean: out, length ds->channels
 *   std:  out, length ds->channels; a channel whose std is 0 (constant) reports 1,
 *         so that dividing by it is always safe
 * An empty data set gives mean 0, std 1. */
void clnet_dataset_channel_stats(const clnet_dataset *ds, float *mean, float *std);
/* (Image folders: the statistics computed when the set was opened.) */

/* The normalisation SPEC prescribes for a training split:
 *   image folders -> what was chosen when it was opened (norm_mean, norm_std);
 *   3 channels -> mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225) (ImageNet constants,
 *                 as the CIFAR-10 seed uses);
 *   otherwise  -> clnet_dataset_channel_stats(train).
 *   mean, std: out, length train->channels. Use the same values for the test split. */
void clnet_dataset_default_norm(const clnet_dataset *train, float *mean, float *std);

/* How a loader prepares batches. */
typedef struct clnet_loader_config {
  int32_t batch;   /* images per batch, >= 1 (e.g. 256) */
  int32_t shuffle; /* nonzero: a full seeded shuffle every epoch; zero: file order */
  int32_t flip;    /* left-right flips (training only): 0 none, 1 random with probability 1/2,
                      2 alternating (random in epoch 0, then each image the other way every epoch) */
  int32_t crop_pad;     /* P > 0: each image padded by P on every side, then cropped back at a random
                           offset in [-P, P]^2 (translation) */
  int32_t crop_reflect; /* the padding: 1 mirrors the image at its border, 0 is pixel value 0 */
  int32_t cutout;       /* S > 0: an S x S square at a random centre (clipped) set to 0 after
                           normalisation (the mean) */
  uint64_t seed;   /* order, flips, crops and cutouts of epoch e depend only on (seed, e) */
  const float *mean; /* per channel, length = channels; copied at create */
  const float *std;  /* per channel, length = channels, each finite and > 0; copied at create */
  /* Data parallelism: with shard_count S > 1 the loader hands out only shard s =
   * shard_index of every batch, positions [n*s/S, n*(s+1)/S) of a batch of n images
   * (same order and flips as unsharded). 0 or 1: the whole batch. */
  int32_t shard_index, shard_count;
} clnet_loader_config;

/* One prepared batch. */
typedef struct clnet_batch {
  int32_t count;         /* images in this batch: batch, or fewer for the last one
                            (no drop, like tf.data's batch) */
  int32_t global_count;  /* images in the whole batch (= count unless sharded) */
  int32_t index;         /* batch number within the epoch, 0-based */
  const float *images;   /* (count, H, W, C) float, ((x / 255) - mean[c]) / std[c] */
  const int32_t *labels; /* (count) class indices */
} clnet_batch;

/* A batch producer whose background thread keeps up to 3 batches prepared ahead
 * of the one the consumer holds (a ring of 4); it sleeps on condition variables,
 * never spins. Opaque. Use one loader from one thread at a time. */
typedef struct clnet_loader clnet_loader;

/* Create a loader over ds (which must stay alive and unchanged until
 * clnet_loader_free) and start its thread. No epoch runs until
 * clnet_loader_start_epoch is called.
 *   ds:  a loaded data set (count, H, W, C > 0)
 *   cfg: see clnet_loader_config; copied
 *   out: receives the loader; NULL on failure
 * Errors: CLNET_ERR_INVALID_ARGUMENT (bad ds or cfg: batch < 1, NULL or non-finite
 * mean/std, std <= 0), CLNET_ERR_TOO_LARGE (batch buffers overflow size_t),
 * CLNET_ERR_OUT_OF_HOST_MEMORY (buffers, or the thread could not be started). */
clnet_status clnet_loader_create(const clnet_dataset *ds, const clnet_loader_config *cfg,
                                 clnet_loader **out);

/* Start epoch `epoch` (0-based) at batch `first_batch` (for resume), discarding
 * whatever the current epoch had left. The order and flips of epoch e depend ONLY
 * on (seed, e) -- never on thread timing or on how many epochs ran before in this
 * process -- so a resumed run sees exactly the same data: batch k of epoch e is
 * the same whether the epoch started at 0 or at k.
 *   epoch:       >= 0
 *   first_batch: 0 .. clnet_loader_batches_per_epoch(l) (equal to it: an empty epoch)
 * Invalidates the batch returned by the previous clnet_loader_next.
 * Errors: CLNET_ERR_INVALID_ARGUMENT. */
clnet_status clnet_loader_start_epoch(clnet_loader *l, int32_t epoch, int32_t first_batch);

/* Batches in one epoch: ceil(count / batch). */
int32_t clnet_loader_batches_per_epoch(const clnet_loader *l);

/* Next batch of the current epoch, waiting (without spinning) until it is ready.
 * Image folders: the loader's thread hands the batch's images to its own decoding
 * threads (the data set's `threads`); the training split's crops draw from (seed,
 * epoch, position) only, so batches are the same whatever the threads and the cache.
 *   batch:     out; its arrays stay valid until the next call to clnet_loader_next,
 *              clnet_loader_start_epoch or clnet_loader_free
 *   has_batch: out; 1 if *batch was filled, 0 at the end of the epoch
 * Errors: CLNET_ERR_INVALID_ARGUMENT (NULL argument, or no epoch started); image
 * folders: a file that can no longer be read or decoded (the message names it). */
clnet_status clnet_loader_next(clnet_loader *l, clnet_batch *batch, int32_t *has_batch);

/* Stop the thread and free everything. NULL is fine. */
void clnet_loader_free(clnet_loader *l);

#ifdef __cplusplus
}
#endif
#endif
