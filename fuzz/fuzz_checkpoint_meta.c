/* Fuzz harness: clnet_checkpoint_read_meta (a checkpoint's __metadata__).
 *
 * Input: the checkpoint (a safetensors file) as it is. Checks: the error
 * contract (fuzz_common.h); on success the configuration is in range (what
 * the trainer relies on before building a model: epoch >= 0, depth, width,
 * classes, batch >= 1, input 1..CLNET_MAX_CHANNELS channels, each normalisation std > 0) and
 * every integer field is the value its metadata string spells (no silent
 * truncation to 32 bits). */
#include "fuzz_common.h"

#include "clnet/io.h"
#include "clnet/train.h"

/* The integer a metadata value spells, as strtoll reads it. */
static long long meta_ll(const clnet_st_file *f, const char *key) {
  const char *s = clnet_st_meta(f, key);
  FUZZ_REQUIRE(s != NULL, "read_meta succeeded without '%s'", key);
  return strtoll(s, NULL, 10);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file(0, data, size);
  const int fd_before = fuzz_lowest_free_fd();
  clnet_checkpoint_meta m;
  memset(&m, 0x5a, sizeof m);
  clnet_clear_error();
  clnet_status st = clnet_checkpoint_read_meta(path, &m);
  fuzz_check_no_fd_leak(fd_before, "clnet_checkpoint_read_meta");
  fuzz_check_status("clnet_checkpoint_read_meta", st, &path, 1);
  if (st != CLNET_SUCCESS) return 0;
  FUZZ_REQUIRE(m.epoch >= 0 && m.depth >= 1 && m.width >= 1 && m.classes >= 1 && m.batch >= 1,
               "configuration out of range: epoch %d depth %d width %d classes %d batch %d", (int)m.epoch,
               (int)m.depth, (int)m.width, (int)m.classes, (int)m.batch);
  FUZZ_REQUIRE(m.in_h >= 1 && m.in_w >= 1 && m.in_c >= 1 && m.in_c <= CLNET_MAX_CHANNELS, "input %dx%dx%d", (int)m.in_h,
               (int)m.in_w, (int)m.in_c);
  for (int32_t c = 0; c < m.in_c; c++)
    FUZZ_REQUIRE(m.norm_std[c] > 0, "norm_std[%d] = %g", (int)c, (double)m.norm_std[c]);

  /* The same file, read again as plain safetensors: the integers must match. */
  clnet_st_file *f = NULL;
  FUZZ_REQUIRE(clnet_safetensors_read(path, &f) == CLNET_SUCCESS, "safetensors read failed the second time");
  static const char *const keys[5] = {"clnet.epoch", "clnet.depth", "clnet.width", "clnet.classes",
                                      "clnet.batch"};
  const int32_t got[5] = {m.epoch, m.depth, m.width, m.classes, m.batch};
  for (int k = 0; k < 5; k++) {
    long long want = meta_ll(f, keys[k]);
    FUZZ_REQUIRE(want == got[k], "metadata %s spells %lld but read_meta returned %d", keys[k], want,
                 (int)got[k]);
  }
  clnet_st_free(f);
  return 0;
}
