/* Internal to host/data: the image files behind an image-folder data set
 * (clnet_dataset.source), and making one network input from one of them.
 *
 * Pipeline of one image (image_source.c):
 *   file -> decode (1 or 3 channels) -> the network's C -> "stored" image (the
 *   shorter side reduced to at most 2 * max(H, W), antialiased; larger images
 *   only) -> a region of it (training: the crop mode with randomness from a
 *   per-position key; evaluation: centre, covering) resampled to H x W.
 * With the cache on, stored images are kept in memory when the set is opened,
 * so only the last step runs per epoch. Results do not depend on the cache. */
#ifndef CLNET_DATA_IMAGE_SOURCE_H
#define CLNET_DATA_IMAGE_SOURCE_H

#include <stdint.h>

#include "clnet/data.h"

typedef struct clnet_image_source clnet_image_source;

/* One worker thread's decoder and buffers. */
typedef struct clnet_image_scratch clnet_image_scratch;
clnet_status clnet_image_scratch_create(clnet_image_scratch **out);
void clnet_image_scratch_free(clnet_image_scratch *s);

/* Image i as the network's input into dst (H, W, C) uint8. key: the training
 * crop's randomness (ignored by evaluation sets); the same (i, key) gives the
 * same bytes. Thread-safe for distinct scratches. Errors name the file. */
clnet_status clnet_image_source_render(const clnet_image_source *src, int32_t i, uint64_t key, clnet_image_scratch *s,
                                       uint8_t *dst);

int32_t clnet_image_source_threads(const clnet_image_source *src);
/* The decoding threads of loaders created from now on (clnet bench --data). */
void clnet_image_source_set_threads(clnet_image_source *src, int32_t threads);
int32_t clnet_image_source_label(const clnet_image_source *src, int32_t i);
const char *clnet_image_source_path(const clnet_image_source *src, int32_t i);
void clnet_image_source_free(clnet_image_source *src);

/* clnet_dataset_open_dir_ex's image-folder part: *found = 0 when dir is not an
 * image folder (no subdirectories). */
clnet_status clnet_image_folder_open(const char *dir, const clnet_image_options *o, clnet_dataset *train,
                                     clnet_dataset *test, int *found);

#endif
