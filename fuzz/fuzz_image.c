/* Fuzz harness: the image reader (host/data/image_decode.c: libpng's simplified
 * API and TurboJPEG behind a header check), then what the loader does with an
 * image: channel conversion and resampling (host/data/image_resize.c).
 *
 * Input: the file as it is. Limit: 2^18 pixels (so that one decode stays small
 * and fast). Checks: the error contract (fuzz_common.h); the header probe and
 * the decoder agree (a file the decoder reads has the size and colour the probe
 * reported, and a probe failure is a decode failure too); on success the
 * pixels are all readable, converting to the other channel count and back keeps
 * the size, and resampling a region chosen from the input's bytes (inside the
 * image, any size) to a small output writes every output byte. */
#include "fuzz_common.h"

#include "data/image.h"

#define MAX_PIXELS (1 << 18)

static clnet_image_decoder *dec;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!dec && clnet_image_decoder_create(&dec) != CLNET_SUCCESS) FUZZ_FAIL("cannot create the decoder");
  const char *path = fuzz_file(0, data, size);
  const char *const paths[1] = {path};
  const int fd_before = fuzz_lowest_free_fd();
  clnet_image_info info;
  clnet_clear_error();
  clnet_status pst = clnet_image_probe_file(dec, path, MAX_PIXELS, &info);
  fuzz_check_no_fd_leak(fd_before, "clnet_image_probe_file");
  fuzz_check_status("clnet_image_probe_file", pst, paths, 1);
  clnet_image im = {0};
  clnet_clear_error();
  clnet_status st = clnet_image_load_file(dec, path, MAX_PIXELS, &im);
  fuzz_check_no_fd_leak(fd_before, "clnet_image_load_file");
  fuzz_check_status("clnet_image_load_file", st, paths, 1);
  if (st != CLNET_SUCCESS) {
    clnet_image_release(&im);
    return 0;
  }
  FUZZ_REQUIRE(pst == CLNET_SUCCESS, "the decoder read a file the probe refused: %s", clnet_status_str(pst));
  FUZZ_REQUIRE(im.h == info.h && im.w == info.w && im.c == info.c, "probe says %dx%dx%d, decoder %dx%dx%d", info.h,
               info.w, info.c, im.h, im.w, im.c);
  FUZZ_REQUIRE(im.h >= 1 && im.w >= 1 && (int64_t)im.h * im.w <= MAX_PIXELS && (im.c == 1 || im.c == 3),
               "decoded %dx%dx%d", im.h, im.w, im.c);
  fuzz_touch(im.px, (size_t)im.h * im.w * im.c);

  clnet_image other = {0}, back = {0};
  FUZZ_REQUIRE(clnet_image_to_channels(&im, im.c == 1 ? 3 : 1, &other) == CLNET_SUCCESS, "channel conversion failed");
  FUZZ_REQUIRE(clnet_image_to_channels(&other, im.c, &back) == CLNET_SUCCESS, "channel conversion back failed");
  FUZZ_REQUIRE(back.h == im.h && back.w == im.w && back.c == im.c, "conversion changed the size");
  if (im.c == 1) FUZZ_REQUIRE(!memcmp(back.px, im.px, (size_t)im.h * im.w), "grey -> RGB -> grey is not the identity");

  /* a region from the input's last bytes: fractions of the image */
  uint8_t k[6] = {0};
  for (size_t i = 0; i < 6 && i < size; i++) k[i] = data[size - 1 - i];
  clnet_image_region r;
  r.cw = im.w * ((k[0] + 1) / 256.0);
  r.ch = im.h * ((k[1] + 1) / 256.0);
  r.x0 = (im.w - r.cw) * (k[2] / 255.0);
  r.y0 = (im.h - r.ch) * (k[3] / 255.0);
  const int32_t oh = 1 + k[4] % 17, ow = 1 + k[5] % 13;
  uint8_t *dst = malloc((size_t)oh * ow * im.c);
  memset(dst, 0xa5, (size_t)oh * ow * im.c);
  float *tmp = NULL;
  size_t cap = 0;
  FUZZ_REQUIRE(clnet_image_resample(&im, r, oh, ow, dst, &tmp, &cap) == CLNET_SUCCESS, "resampling failed: %s",
               clnet_last_error());
  fuzz_touch(dst, (size_t)oh * ow * im.c);
  const clnet_image_region c = clnet_image_center_region(im.h, im.w, oh, ow);
  FUZZ_REQUIRE(c.x0 >= 0 && c.y0 >= 0 && c.x0 + c.cw <= im.w + 1e-9 && c.y0 + c.ch <= im.h + 1e-9,
               "centre region outside the image");
  FUZZ_REQUIRE(clnet_image_resample(&im, c, oh, ow, dst, &tmp, &cap) == CLNET_SUCCESS, "centre resampling failed");
  free(tmp);
  free(dst);
  clnet_image_release(&other);
  clnet_image_release(&back);
  clnet_image_release(&im);
  return 0;
}
