/* Internal: training-time augmentation of one image, as the loader's plan dictates
 * (host/data/augment.c). */
#ifndef CLNET_DATA_AUGMENT_H
#define CLNET_DATA_AUGMENT_H

#include <stdint.h>

/* What happens to one image of an epoch (drawn by the loader from (seed, epoch) alone). */
typedef struct clnet_augment_draw {
  int16_t dy, dx;   /* crop offset in [-P, P]: output (h, w) reads the padded image at (h + dy, w + dx) */
  int16_t cy, cx;   /* cutout centre in [0, H) x [0, W) (cutout > 0) */
  uint8_t flip;     /* mirror left-right (after the crop) */
} clnet_augment_draw;

/* Writes dst (H, W, C floats) from src (H, W, C bytes) through lut (C, 256: the normalised value of
 * each byte per channel): crop with zero (byte 0) or reflected padding, flip, then the cutout square
 * of side `cutout` (0: none) set to 0. */
void clnet_augment_image(const uint8_t *src, int32_t H, int32_t W, int32_t C, const float *lut, int32_t reflect,
                         int32_t cutout, const clnet_augment_draw *d, float *dst);

#endif
