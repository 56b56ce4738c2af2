/* Training-time augmentation of one image: random translation (pad and crop, zero or reflected
 * padding), left-right flip and cutout, in one pass from the dataset's bytes to normalised floats.
 * Images are (H, W, C), channels last. */
#include <stddef.h>

#include "data/augment.h"

/* PyTorch's "reflect" padding: -1 -> 1, n -> n - 2 (the border pixel is not repeated). Offsets are
 * at most n - 1 (the loader caps P), so one reflection suffices. */
static inline int32_t reflect_index(int32_t i, int32_t n) {
  if (n == 1) return 0;
  if (i < 0) return -i;
  if (i >= n) return 2 * (n - 1) - i;
  return i;
}

void clnet_augment_image(const uint8_t *src, int32_t H, int32_t W, int32_t C, const float *lut, int32_t reflect,
                         int32_t cutout, const clnet_augment_draw *d, float *dst) {
  for (int32_t h = 0; h < H; h++) {
    int32_t sh = h + d->dy;
    const int32_t row_out = sh < 0 || sh >= H;
    if (row_out && reflect) sh = reflect_index(sh, H);
    float *drow = dst + (size_t)h * W * C;
    for (int32_t w = 0; w < W; w++) {
      const int32_t ww = d->flip ? W - 1 - w : w; /* flip after the crop: mirror the output column */
      int32_t sw = ww + d->dx;
      const int32_t col_out = sw < 0 || sw >= W;
      float *px = drow + (size_t)w * C;
      if ((row_out || col_out) && !reflect) {
        for (int32_t c = 0; c < C; c++) px[c] = lut[c * 256]; /* black: byte 0 */
        continue;
      }
      if (col_out) sw = reflect_index(sw, W);
      const uint8_t *s = src + ((size_t)sh * W + (size_t)sw) * C;
      for (int32_t c = 0; c < C; c++) px[c] = lut[c * 256 + s[c]];
    }
  }
  if (cutout > 0) {
    const int32_t h0 = d->cy - cutout / 2, w0 = d->cx - cutout / 2;
    for (int32_t h = h0 < 0 ? 0 : h0; h < h0 + cutout && h < H; h++)
      for (int32_t w = w0 < 0 ? 0 : w0; w < w0 + cutout && w < W; w++)
        for (int32_t c = 0; c < C; c++) dst[((size_t)h * W + (size_t)w) * C + c] = 0.0f;
  }
}
