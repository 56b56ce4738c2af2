/* PNG (libpng's simplified API) and JPEG (TurboJPEG) decoding. See image.h.
 *
 * Both decoders read the header first: width x height is checked against the
 * caller's pixel limit before any pixel memory is allocated, so a small file
 * that declares 30000 x 30000 pixels (a decompression bomb) costs nothing.
 * TurboJPEG runs with TJFLAG_STOPONWARNING (a truncated or corrupt stream is an
 * error, not a half-grey picture) and TJFLAG_LIMITSCANS (a progressive JPEG
 * with thousands of scans is refused rather than decoded for minutes). */
#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "core/error.h"
#include "data/data_io.h"
#include "data/image.h"

#define PROBE_BYTES (64u << 10)

struct clnet_image_decoder {
  tjhandle tj;
  uint8_t *buf; /* the file's bytes */
  size_t cap;
};

void clnet_image_release(clnet_image *im) {
  if (!im) return;
  free(im->px);
  memset(im, 0, sizeof *im);
}

clnet_status clnet_image_decoder_create(clnet_image_decoder **out) {
  *out = NULL;
  clnet_image_decoder *d = calloc(1, sizeof *d);
  if (!d) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "image decoder: out of memory");
  d->tj = tjInitDecompress();
  if (!d->tj) {
    free(d);
    return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "image decoder: cannot start TurboJPEG: %s",
                           tjGetErrorStr2(NULL));
  }
  *out = d;
  return CLNET_SUCCESS;
}

void clnet_image_decoder_free(clnet_image_decoder *d) {
  if (!d) return;
  if (d->tj) tjDestroy(d->tj);
  free(d->buf);
  free(d);
}

static int grow(uint8_t **p, size_t *cap, size_t need) {
  if (need <= *cap) return 1;
  uint8_t *q = realloc(*p, need);
  if (!q) return 0;
  *p = q;
  *cap = need;
  return 1;
}

static int is_png(const uint8_t *b, size_t n) {
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  return n >= 8 && !memcmp(b, sig, 8);
}
static int is_jpeg(const uint8_t *b, size_t n) { return n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff; }

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static clnet_status not_an_image(const char *name, const uint8_t *b, size_t n) {
  if (n == 0) return clnet_set_error(CLNET_ERR_FORMAT, "%s: empty file, not an image", name);
  char hex[3 * 8 + 1] = "";
  for (size_t i = 0; i < n && i < 8; i++) snprintf(hex + 3 * i, 4, "%s%02x", i ? " " : "", b[i]);
  return clnet_set_error(CLNET_ERR_FORMAT, "%s: not a PNG or JPEG image (it starts with %s)", name, hex);
}

static clnet_status check_pixels(const char *name, const char *fmt, int64_t h, int64_t w, int64_t max_pixels) {
  char a[32], b[32];
  if (h < 1 || w < 1)
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: %s header declares %lldx%lld pixels", name, fmt, (long long)w,
                           (long long)h);
  if (h * w > max_pixels)
    return clnet_set_error(CLNET_ERR_TOO_LARGE,
                           "%s: %s of %lldx%lld = %s pixels, more than the limit of %s (decompression-bomb "
                           "guard; checked from the header before decoding)", name, fmt, (long long)w, (long long)h,
                           clnet_fmt_count(a, (uint64_t)(h * w)), clnet_fmt_count(b, (uint64_t)max_pixels));
  return CLNET_SUCCESS;
}

/* A library's message as one printable line. */
static const char *lib_msg(const char *m, char buf[72]) { return clnet_printable(m && *m ? m : "unknown error", buf); }

/* IHDR: length 13, "IHDR", width, height, bit depth, colour type, ... */
static clnet_status png_header(const char *name, const uint8_t *b, size_t n, int64_t max_pixels,
                               clnet_image_info *info) {
  if (n < 8 + 8 + 13)
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: PNG ends after %zu bytes, inside its header", name, n);
  if (be32(b + 8) != 13 || memcmp(b + 12, "IHDR", 4))
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: PNG does not start with an IHDR chunk", name);
  const uint32_t w = be32(b + 16), h = be32(b + 20);
  if (w > 0x7fffffffu || h > 0x7fffffffu)
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: PNG header declares %ux%u pixels", name, w, h);
  CLNET_TRY(check_pixels(name, "PNG", h, w, max_pixels));
  info->h = (int32_t)h;
  info->w = (int32_t)w;
  info->c = (b[25] & 2) ? 3 : 1; /* colour type bit 1: colour (RGB, RGBA, palette) */
  info->format = "PNG";
  return CLNET_SUCCESS;
}

static clnet_status jpeg_header(clnet_image_decoder *d, const char *name, const uint8_t *b, size_t n,
                                int64_t max_pixels, clnet_image_info *info) {
  int w = 0, h = 0, sub = 0, cs = 0;
  char m[72];
  if (tjDecompressHeader3(d->tj, b, (unsigned long)n, &w, &h, &sub, &cs) != 0)
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: corrupt JPEG header: %s", name, lib_msg(tjGetErrorStr2(d->tj), m));
  CLNET_TRY(check_pixels(name, "JPEG", h, w, max_pixels));
  if (cs == TJCS_CMYK || cs == TJCS_YCCK)
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: CMYK JPEG, only greyscale and colour (YCbCr, RGB) JPEGs are read",
                           name);
  info->h = h;
  info->w = w;
  info->c = cs == TJCS_GRAY ? 1 : 3;
  info->format = "JPEG";
  return CLNET_SUCCESS;
}

static clnet_status too_big_file(const char *path, uint64_t size, uint64_t limit);

/* Reads at most `limit` bytes of path into d->buf; *n = bytes read, *size = file size. A file
 * of more than max_size bytes is refused before anything is read. */
static clnet_status read_file(clnet_image_decoder *d, const char *path, uint64_t limit, uint64_t max_size, size_t *n,
                              uint64_t *size) {
  int fd;
  do fd = open(path, O_RDONLY | O_CLOEXEC); while (fd < 0 && errno == EINTR);
  if (fd < 0) return clnet_set_error(CLNET_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  clnet_status rc = CLNET_SUCCESS;
  if (fstat(fd, &st) != 0) {
    rc = clnet_set_error(CLNET_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    goto done;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = clnet_set_error(CLNET_ERR_IO, "%s: not a regular file", path);
    goto done;
  }
  *size = (uint64_t)st.st_size;
  if (*size > max_size) {
    rc = too_big_file(path, *size, max_size);
    goto done;
  }
  const uint64_t want = *size < limit ? *size : limit;
  if (!grow(&d->buf, &d->cap, want ? (size_t)want : 1)) {
    rc = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: cannot allocate %llu bytes to read it", path,
                         (unsigned long long)want);
    goto done;
  }
  size_t got = 0;
  while (got < want) {
    ssize_t r = read(fd, d->buf + got, (size_t)want - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      rc = clnet_set_error(CLNET_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
      goto done;
    }
    if (r == 0) break; /* shrank while we read: decode what is there */
    got += (size_t)r;
  }
  *n = got;
done:
  close(fd);
  return rc;
}

/* Largest file read for a limit of max_pixels: raw RGB plus room for metadata. */
static uint64_t file_limit(int64_t max_pixels) { return (uint64_t)max_pixels * 4u + (16u << 20); }

static clnet_status too_big_file(const char *path, uint64_t size, uint64_t limit) {
  char a[32], b[32];
  return clnet_set_error(CLNET_ERR_TOO_LARGE, "%s: file of %s bytes, more than %s for an image within the pixel limit",
                         path, clnet_fmt_count(a, size), clnet_fmt_count(b, limit));
}

clnet_status clnet_image_probe_file(clnet_image_decoder *d, const char *path, int64_t max_pixels,
                                    clnet_image_info *info) {
  memset(info, 0, sizeof *info);
  size_t n = 0;
  uint64_t size = 0;
  CLNET_TRY(read_file(d, path, PROBE_BYTES, file_limit(max_pixels), &n, &size));
  if (is_png(d->buf, n)) return png_header(path, d->buf, n, max_pixels, info);
  if (!is_jpeg(d->buf, n)) return not_an_image(path, d->buf, n);
  clnet_status st = jpeg_header(d, path, d->buf, n, max_pixels, info);
  if (st == CLNET_SUCCESS || size <= n) return st;
  /* the frame header may follow large APPn segments (EXIF thumbnails): the whole file */
  CLNET_TRY(read_file(d, path, file_limit(max_pixels), file_limit(max_pixels), &n, &size));
  return jpeg_header(d, path, d->buf, n, max_pixels, info);
}

/* Every chunk's length against what the file has left, before libpng sees it: libpng allocates a
 * chunk's declared length before reading it (a 60-byte file whose tEXt chunk declares 1 GB had it
 * ask for 1 GB; found by fuzz/fuzz_image.c). Stops at IEND; fewer than 8 bytes left (no whole
 * length and type) are libpng's to report. */
static clnet_status png_chunks(const char *name, const uint8_t *data, size_t n) {
  size_t pos = 8;
  while (pos + 8 <= n) {
    const uint32_t len = be32(data + pos);
    char type[5] = {0};
    for (int i = 0; i < 4; i++) {
      const uint8_t c = data[pos + 4 + i];
      type[i] = (char)((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ? c : '?');
    }
    if (len > 0x7fffffffu || (uint64_t)len + 12 > n - pos)
      return clnet_set_error(CLNET_ERR_FORMAT,
                             "%s: truncated or corrupt PNG: chunk '%s' at byte %zu declares %u bytes, the file has %zu "
                             "after its header", name, type, pos, len, n - pos - 8);
    pos += 12 + (size_t)len;
    if (!memcmp(type, "IEND", 4)) break;
  }
  return CLNET_SUCCESS;
}

static clnet_status decode_png(const char *name, const uint8_t *data, size_t n, int64_t max_pixels, clnet_image *out) {
  clnet_image_info info;
  CLNET_TRY(png_header(name, data, n, max_pixels, &info));
  CLNET_TRY(png_chunks(name, data, n));
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  char m[72];
  if (!png_image_begin_read_from_memory(&img, data, n)) {
    clnet_status st = clnet_set_error(CLNET_ERR_FORMAT, "%s: corrupt PNG: %s", name, lib_msg(img.message, m));
    png_image_free(&img);
    return st;
  }
  const int colour = (img.format & PNG_FORMAT_FLAG_COLOR) != 0;
  img.format = colour ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  const size_t bytes = (size_t)img.width * img.height * (colour ? 3u : 1u);
  if (img.width != (png_uint_32)info.w || img.height != (png_uint_32)info.h ||
      !grow(&out->px, &out->cap, bytes ? bytes : 1)) {
    png_image_free(&img);
    if (img.width != (png_uint_32)info.w || img.height != (png_uint_32)info.h)
      return clnet_set_error(CLNET_ERR_FORMAT, "%s: corrupt PNG header", name);
    return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: cannot allocate %zu bytes for its pixels", name, bytes);
  }
  memset(out->px, 0, bytes); /* alpha composites onto black */
  const png_color black = {0, 0, 0};
  if (!png_image_finish_read(&img, &black, out->px, 0, NULL)) {
    clnet_status st = clnet_set_error(CLNET_ERR_FORMAT, "%s: corrupt or truncated PNG: %s", name,
                                      lib_msg(img.message, m));
    png_image_free(&img);
    return st;
  }
  out->h = info.h;
  out->w = info.w;
  out->c = colour ? 3 : 1;
  return CLNET_SUCCESS;
}

static clnet_status decode_jpeg(clnet_image_decoder *d, const char *name, const uint8_t *data, size_t n,
                                int64_t max_pixels, clnet_image *out) {
  clnet_image_info info;
  CLNET_TRY(jpeg_header(d, name, data, n, max_pixels, &info));
  const size_t bytes = (size_t)info.w * (size_t)info.h * (size_t)info.c;
  if (!grow(&out->px, &out->cap, bytes))
    return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: cannot allocate %zu bytes for its pixels", name, bytes);
  char m[72];
  if (tjDecompress2(d->tj, data, (unsigned long)n, out->px, info.w, 0, info.h, info.c == 1 ? TJPF_GRAY : TJPF_RGB,
                    TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS) != 0)
    return clnet_set_error(CLNET_ERR_FORMAT, "%s: corrupt or truncated JPEG: %s", name,
                           lib_msg(tjGetErrorStr2(d->tj), m));
  out->h = info.h;
  out->w = info.w;
  out->c = info.c;
  return CLNET_SUCCESS;
}

clnet_status clnet_image_decode_mem(clnet_image_decoder *d, const char *name, const uint8_t *data, size_t n,
                                    int64_t max_pixels, clnet_image *out) {
  out->h = out->w = out->c = 0;
  if (is_png(data, n)) return decode_png(name, data, n, max_pixels, out);
  if (is_jpeg(data, n)) return decode_jpeg(d, name, data, n, max_pixels, out);
  return not_an_image(name, data, n);
}

clnet_status clnet_image_load_file(clnet_image_decoder *d, const char *path, int64_t max_pixels, clnet_image *out) {
  size_t n = 0;
  uint64_t size = 0;
  const uint64_t limit = file_limit(max_pixels);
  out->h = out->w = out->c = 0;
  CLNET_TRY(read_file(d, path, limit, limit, &n, &size));
  return clnet_image_decode_mem(d, path, d->buf, n, max_pixels, out);
}
