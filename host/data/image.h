/* Internal to host/data: decoding PNG (libpng) and JPEG (TurboJPEG) files into
 * 8-bit pixels, and the resampling the image-folder data sets need.
 *
 * Every function that can fail returns a clnet_status with a one-line message
 * that starts with the file's path (CLNET_ERR_IO: cannot open/read;
 * CLNET_ERR_FORMAT: not a PNG/JPEG, corrupt or truncated; CLNET_ERR_TOO_LARGE:
 * more pixels than the limit, found from the header before anything is decoded). */
#ifndef CLNET_DATA_IMAGE_H
#define CLNET_DATA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "clnet/status.h"

/* An 8-bit image, rows top to bottom, channels interleaved: px is (h, w, c). */
typedef struct clnet_image {
  int32_t h, w, c; /* c: 1 (grey) or 3 (RGB) */
  uint8_t *px;
  size_t cap; /* bytes allocated at px (grown, never shrunk, by the functions below) */
} clnet_image;

void clnet_image_release(clnet_image *im);

/* Header facts: size and whether the file stores colour. */
typedef struct clnet_image_info {
  int32_t h, w;
  int32_t c;           /* 1: grey (PNG grey/grey+alpha, greyscale JPEG), 3: colour */
  const char *format;  /* "PNG" or "JPEG" (static) */
} clnet_image_info;

/* One decoding thread's state: a TurboJPEG handle and the file buffer. Not
 * shared between threads. */
typedef struct clnet_image_decoder clnet_image_decoder;
clnet_status clnet_image_decoder_create(clnet_image_decoder **out);
void clnet_image_decoder_free(clnet_image_decoder *d);

/* The header of `path` only (reads at most the first 64 KiB unless a JPEG's
 * frame header lies further in): size, colour, format. Fails with
 * CLNET_ERR_TOO_LARGE when h * w > max_pixels (a decompression bomb is refused
 * here, before any pixel is decoded). */
clnet_status clnet_image_probe_file(clnet_image_decoder *d, const char *path, int64_t max_pixels,
                                    clnet_image_info *info);

/* Decode data[0..n) (named `name` in messages) into out at its own channel
 * count (1 or 3). The header is checked against max_pixels first. Alpha is
 * composited onto black; 16-bit PNGs are reduced to 8 bits; CMYK JPEGs are an
 * error. */
clnet_status clnet_image_decode_mem(clnet_image_decoder *d, const char *name, const uint8_t *data, size_t n,
                                    int64_t max_pixels, clnet_image *out);

/* Read and decode the file at path (clnet_image_decode_mem on its bytes). */
clnet_status clnet_image_load_file(clnet_image_decoder *d, const char *path, int64_t max_pixels, clnet_image *out);

/* ---- conversions and resampling (image_resize.c) ---- */

/* src (h, w, src->c) into dst (h, w, c): grey -> 3 channels by copying it,
 * RGB -> grey by ITU-R BT.601 luma, L = (19595 R + 38470 G + 7471 B + 2^15) >> 16
 * (what PIL's convert("L") computes). c == src->c copies. */
clnet_status clnet_image_to_channels(const clnet_image *src, int32_t c, clnet_image *dst);

/* A source rectangle in pixel units: x0, y0 (its top-left corner), cw, ch (its
 * size), all real numbers, inside [0, w] x [0, h]. */
typedef struct clnet_image_region {
  double x0, y0, cw, ch;
} clnet_image_region;

/* Resample region r of src to out_h x out_w pixels into dst (out_h, out_w, src->c),
 * bilinear (a triangle filter); when shrinking, the filter widens by the scale
 * factor so that every source pixel contributes (antialiasing, like PIL's
 * BILINEAR and torchvision's antialias=True). Output pixel (y, x) samples the
 * source at r.y0 + (y + 0.5) * r.ch / out_h - 0.5 (and likewise for x); taps that
 * fall outside the image are dropped and the weights renormalised. A region that
 * is the whole image at the same size is an exact copy.
 *   tmp: scratch, grown as needed (floats: out_w * src->h * c). */
clnet_status clnet_image_resample(const clnet_image *src, clnet_image_region r, int32_t out_h, int32_t out_w,
                                  uint8_t *dst, float **tmp, size_t *tmp_cap);

/* Region for evaluation: scale the image so that it covers out_h x out_w (the
 * shorter side, relative to the output's, fits) and take the centre. */
clnet_image_region clnet_image_center_region(int32_t h, int32_t w, int32_t out_h, int32_t out_w);

#endif
