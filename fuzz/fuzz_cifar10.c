/* Fuzz harness: clnet_dataset_load_cifar10 on one batch file.
 *
 * Input: the batch file as it is. Checks: the error contract (fuzz_common.h);
 * on failure the data set is zeroed; on success there is one image per
 * 3,073-byte record and every pixel is the record's plane byte, interleaved:
 * out[h][w][c] = plane_c[h*32 + w]. */
#include "fuzz_common.h"

#include "clnet/data.h"

#define RECORD 3073
#define PLANE 1024

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file(0, data, size);
  const int fd_before = fuzz_lowest_free_fd();
  clnet_dataset ds;
  memset(&ds, 0x5a, sizeof ds);
  clnet_clear_error();
  const char *const paths[1] = {path};
  clnet_status st = clnet_dataset_load_cifar10(paths, 1, &ds);
  fuzz_check_no_fd_leak(fd_before, "clnet_dataset_load_cifar10");
  fuzz_check_status("clnet_dataset_load_cifar10", st, paths, 1);
  if (st != CLNET_SUCCESS) {
    static const clnet_dataset zero;
    FUZZ_REQUIRE(memcmp(&ds, &zero, sizeof ds) == 0, "data set not zeroed after %s", clnet_status_str(st));
    return 0;
  }
  FUZZ_REQUIRE(size % RECORD == 0 && ds.count == (int32_t)(size / RECORD) && ds.height == 32 &&
                   ds.width == 32 && ds.channels == 3 && ds.classes == 10,
               "bad data set for %zu bytes: count %d, %dx%dx%d, classes %d", size, ds.count, ds.height,
               ds.width, ds.channels, ds.classes);
  for (int32_t r = 0; r < ds.count; r++) {
    const uint8_t *rec = data + (size_t)r * RECORD;
    const uint8_t *img = ds.images + (size_t)r * 3 * PLANE; /* (32, 32, 3) */
    FUZZ_REQUIRE(ds.labels[r] == rec[0] && rec[0] < 10, "record %d: label %u, file says %u", (int)r,
                 ds.labels[r], rec[0]);
    for (int p = 0; p < PLANE; p++)
      for (int c = 0; c < 3; c++)
        FUZZ_REQUIRE(img[3 * p + c] == rec[1 + c * PLANE + p], "record %d pixel %d channel %d differs",
                     (int)r, p, c);
  }
  clnet_dataset_free(&ds);
  return 0;
}
