/* Fuzz harness: clnet_checkpoint_read_meta (a checkpoint's __metadata__).
 *
 * Input: the checkpoint (a safetensors file) as it is. Checks: the error
 * contract (fuzz_common.h); on success the configuration is in range (what
 * the trainer relies on before building a model: epoch >= 0, depth, width,
 * classes, batch >= 1, input 1..CLNET_MAX_CHANNELS channels, each normalisation std > 0), the
 * values a load relies on are sane (lr finite and > 0, best accuracy in [0, 1]
 * or -1, a position whose images fit its batches, a finite loss sum >= 0, a
 * CRC in the file), and every integer field is the value its metadata string
 * spells, whole (no silent truncation to 32 bits, no trailing characters in
 * clnet.seed or clnet.input). */
#include "fuzz_common.h"

#include <math.h>

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
  /* depth 0 and width 0: a model other than ResNet, described by clnet.graph */
  FUZZ_REQUIRE(m.epoch >= 0 && m.depth >= 0 && m.width >= 0 && m.classes >= 1 && m.batch >= 1,
               "configuration out of range: epoch %d depth %d width %d classes %d batch %d", (int)m.epoch,
               (int)m.depth, (int)m.width, (int)m.classes, (int)m.batch);
  FUZZ_REQUIRE(m.in_h >= 1 && m.in_w >= 1 && m.in_c >= 1 && m.in_c <= CLNET_MAX_CHANNELS, "input %dx%dx%d", (int)m.in_h,
               (int)m.in_w, (int)m.in_c);
  for (int32_t c = 0; c < m.in_c; c++)
    FUZZ_REQUIRE(m.norm_std[c] > 0 && isfinite(m.norm_std[c]) && isfinite(m.norm_mean[c]), "norm[%d] = %g, %g",
                 (int)c, (double)m.norm_mean[c], (double)m.norm_std[c]);
  FUZZ_REQUIRE(isfinite(m.lr) && m.lr > 0, "lr %g", m.lr);
  FUZZ_REQUIRE(m.best_val_accuracy == -1 || (m.best_val_accuracy >= 0 && m.best_val_accuracy <= 1),
               "best_val_accuracy %g", m.best_val_accuracy);
  FUZZ_REQUIRE(m.batches_done >= 0 && m.epoch_correct >= 0 && m.epoch_correct <= m.epoch_seen &&
                   m.epoch_seen <= (int64_t)m.batches_done * m.batch,
               "position %d %lld %lld at batch %d", (int)m.batches_done, (long long)m.epoch_correct,
               (long long)m.epoch_seen, (int)m.batch);
  FUZZ_REQUIRE(isfinite(m.epoch_loss_sum) && m.epoch_loss_sum >= 0, "epoch_loss_sum %g", m.epoch_loss_sum);

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
  FUZZ_REQUIRE(clnet_st_meta(f, CLNET_ST_CRC_KEY) != NULL, "accepted a checkpoint without its checksum");
  /* clnet.seed: digits only; clnet.input: H, W, C as digits between two 'x' (leading zeros are fine) */
  const char *seed = clnet_st_meta(f, "clnet.seed"), *input = clnet_st_meta(f, "clnet.input");
  int ok = seed && seed[0];
  for (const char *p = seed; ok && *p; ++p) ok = *p >= '0' && *p <= '9';
  FUZZ_REQUIRE(ok && strtoull(seed, NULL, 10) == m.seed, "clnet.seed '%.40s' read as %llu", seed ? seed : "(none)",
               (unsigned long long)m.seed);
  int xs = 0, h = 0, w = 0, c = 0;
  ok = input != NULL;
  for (const char *p = input; ok && *p; ++p) {
    ok = (*p >= '0' && *p <= '9') || *p == 'x';
    xs += *p == 'x';
  }
  ok = ok && xs == 2 && sscanf(input, "%dx%dx%d", &h, &w, &c) == 3 && h == m.in_h && w == m.in_w && c == m.in_c;
  FUZZ_REQUIRE(ok, "clnet.input '%.40s' read as %dx%dx%d", input ? input : "(none)", (int)m.in_h, (int)m.in_w,
               (int)m.in_c);
  clnet_st_free(f);
  return 0;
}
