/* Channel conversion and separable bilinear resampling with antialiasing. See image.h.
 *
 * Resampling runs one axis at a time: each output coordinate gets its taps
 * (first source index, count, normalised weights) from a triangle filter whose
 * half-width is max(1, scale) source pixels, scale = region size / output size.
 * The vertical taps are computed first, so the horizontal pass only touches the
 * source rows they read: (rows, out_w, c) floats in tmp. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/image.h"

clnet_status clnet_image_to_channels(const clnet_image *src, int32_t c, clnet_image *dst) {
  const size_t n = (size_t)src->h * (size_t)src->w, bytes = n * (size_t)c;
  if (dst->cap < bytes) {
    uint8_t *p = realloc(dst->px, bytes ? bytes : 1);
    if (!p) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "image: cannot allocate %zu bytes", bytes);
    dst->px = p;
    dst->cap = bytes;
  }
  const uint8_t *s = src->px;
  uint8_t *d = dst->px;
  if (c == src->c) {
    memcpy(d, s, bytes);
  } else if (c == 3 && src->c == 1) {
    for (size_t i = 0; i < n; i++) d[3 * i] = d[3 * i + 1] = d[3 * i + 2] = s[i];
  } else if (c == 1 && src->c == 3) {
    for (size_t i = 0; i < n; i++)
      d[i] = (uint8_t)((19595u * s[3 * i] + 38470u * s[3 * i + 1] + 7471u * s[3 * i + 2] + 32768u) >> 16);
  } else {
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "image: cannot convert %d channels to %d", (int)src->c, (int)c);
  }
  dst->h = src->h;
  dst->w = src->w;
  dst->c = c;
  return CLNET_SUCCESS;
}

/* Taps of one axis: for output o, source indices first[o] .. first[o] + count[o] - 1 with
 * weights w[o * kmax ...]. */
typedef struct {
  int32_t *first, *count;
  float *w;
  int32_t kmax;
} taps;

static void taps_free(taps *t) {
  free(t->first);
  free(t->count);
  free(t->w);
}

static int taps_make(taps *t, int32_t n_in, double start, double len, int32_t n_out) {
  const double scale = len / n_out, support = scale > 1.0 ? scale : 1.0;
  t->kmax = (int32_t)ceil(2.0 * support) + 3; /* hi - lo <= 2 * support + 2 */
  t->first = malloc((size_t)n_out * sizeof *t->first);
  t->count = malloc((size_t)n_out * sizeof *t->count);
  t->w = malloc((size_t)n_out * (size_t)t->kmax * sizeof *t->w);
  if (!t->first || !t->count || !t->w) return 0;
  for (int32_t o = 0; o < n_out; o++) {
    const double centre = start + (o + 0.5) * scale; /* source pixel i spans [i, i + 1) */
    int32_t lo = (int32_t)floor(centre - support - 0.5), hi = (int32_t)ceil(centre + support - 0.5);
    if (lo < 0) lo = 0;
    if (hi > n_in - 1) hi = n_in - 1;
    if (hi - lo + 1 > t->kmax) hi = lo + t->kmax - 1;
    float *w = t->w + (size_t)o * t->kmax;
    double sum = 0.0;
    int32_t k = 0;
    for (int32_t i = lo; i <= hi; i++) {
      double x = fabs((i + 0.5 - centre) / support);
      double v = x < 1.0 ? 1.0 - x : 0.0;
      w[k++] = (float)v;
      sum += v;
    }
    if (sum <= 0.0) { /* the centre lies outside every tap's reach: the nearest pixel */
      int32_t i = (int32_t)floor(centre);
      lo = i < 0 ? 0 : i > n_in - 1 ? n_in - 1 : i;
      k = 1;
      w[0] = 1.0f;
      sum = 1.0;
    }
    int32_t skip = 0; /* taps of weight 0 at the ends (the filter's edges): not worth a multiply */
    while (skip < k - 1 && w[skip] == 0.0f) skip++;
    while (k - 1 > skip && w[k - 1] == 0.0f) k--;
    for (int32_t j = skip; j < k; j++) w[j - skip] = (float)(w[j] / sum);
    t->first[o] = lo + skip;
    t->count[o] = k - skip;
  }
  return 1;
}

clnet_image_region clnet_image_center_region(int32_t h, int32_t w, int32_t out_h, int32_t out_w) {
  const double s = fmax((double)out_h / h, (double)out_w / w); /* scale that covers the output */
  clnet_image_region r;
  r.cw = fmin(out_w / s, (double)w);
  r.ch = fmin(out_h / s, (double)h);
  r.x0 = (w - r.cw) / 2;
  r.y0 = (h - r.ch) / 2;
  return r;
}

static inline uint8_t to_u8(float v) {
  v += 0.5f;
  return v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)v;
}

clnet_status clnet_image_resample(const clnet_image *src, clnet_image_region r, int32_t out_h, int32_t out_w,
                                  uint8_t *dst, float **tmp, size_t *tmp_cap) {
  const int32_t h = src->h, w = src->w, c = src->c;
  if (h < 1 || w < 1 || out_h < 1 || out_w < 1 || !(r.cw > 0) || !(r.ch > 0))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "image: cannot resample %dx%d region %gx%g to %dx%d", (int)w,
                           (int)h, r.cw, r.ch, (int)out_w, (int)out_h);
  if (out_h == h && out_w == w && r.x0 == 0 && r.y0 == 0 && r.cw == w && r.ch == h) {
    memcpy(dst, src->px, (size_t)h * w * c);
    return CLNET_SUCCESS;
  }
  taps tx = {0}, ty = {0};
  clnet_status st = CLNET_SUCCESS;
  if (!taps_make(&tx, w, r.x0, r.cw, out_w) || !taps_make(&ty, h, r.y0, r.ch, out_h)) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "image: out of memory for resampling to %dx%d", (int)out_w,
                         (int)out_h);
    goto out;
  }
  /* rows the vertical taps read */
  int32_t row0 = h, row1 = 0;
  for (int32_t o = 0; o < out_h; o++) {
    if (ty.first[o] < row0) row0 = ty.first[o];
    if (ty.first[o] + ty.count[o] > row1) row1 = ty.first[o] + ty.count[o];
  }
  const size_t need = (size_t)(row1 - row0 + 1) * out_w * c; /* the rows read, and one accumulator row */
  if (*tmp_cap < need) {
    float *p = realloc(*tmp, need * sizeof *p);
    if (!p) {
      st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "image: out of memory for resampling to %dx%d", (int)out_w,
                           (int)out_h);
      goto out;
    }
    *tmp = p;
    *tmp_cap = need;
  }
  float *restrict t = *tmp; /* (row1 - row0, out_w, c) */
  const size_t trow_n = (size_t)out_w * c;
  for (int32_t y = row0; y < row1; y++) {
    const uint8_t *restrict srow = src->px + (size_t)y * w * c;
    float *restrict trow = t + (size_t)(y - row0) * trow_n;
    for (int32_t o = 0; o < out_w; o++) {
      const float *restrict wt = tx.w + (size_t)o * tx.kmax;
      const uint8_t *restrict s = srow + (size_t)tx.first[o] * c;
      const int32_t cnt = tx.count[o];
      if (c == 1) {
        float acc = 0.0f;
        for (int32_t k = 0; k < cnt; k++) acc += wt[k] * s[k];
        trow[o] = acc;
      } else if (c == 3) {
        float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f;
        for (int32_t k = 0; k < cnt; k++) {
          a0 += wt[k] * s[3 * k];
          a1 += wt[k] * s[3 * k + 1];
          a2 += wt[k] * s[3 * k + 2];
        }
        trow[3 * o] = a0, trow[3 * o + 1] = a1, trow[3 * o + 2] = a2;
      } else {
        for (int32_t ch = 0; ch < c; ch++) {
          float acc = 0.0f;
          for (int32_t k = 0; k < cnt; k++) acc += wt[k] * s[k * c + ch];
          trow[o * c + ch] = acc;
        }
      }
    }
  }
  float *restrict acc = t + (size_t)(row1 - row0) * trow_n;
  for (int32_t o = 0; o < out_h; o++) { /* rows of t weighted into acc, one row at a time (vectorises) */
    const float *restrict wt = ty.w + (size_t)o * ty.kmax;
    const float *restrict base = t + (size_t)(ty.first[o] - row0) * trow_n;
    uint8_t *restrict drow = dst + (size_t)o * trow_n;
    const int32_t cnt = ty.count[o];
    for (size_t i = 0; i < trow_n; i++) acc[i] = wt[0] * base[i];
    for (int32_t k = 1; k < cnt; k++) {
      const float wk = wt[k];
      const float *restrict row = base + (size_t)k * trow_n;
      for (size_t i = 0; i < trow_n; i++) acc[i] += wk * row[i];
    }
    for (size_t i = 0; i < trow_n; i++) drow[i] = to_u8(acc[i]);
  }
out:
  taps_free(&tx);
  taps_free(&ty);
  return st;
}
