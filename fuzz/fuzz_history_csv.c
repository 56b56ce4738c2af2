/* Fuzz harness: clnet_history_read_csv.
 *
 * Input: the CSV file as it is. The history passed in already holds one row
 * (epoch 7). Checks: the error contract (fuzz_common.h); on failure that row
 * is untouched; on success the old row was replaced (LeakSanitizer checks it
 * was freed) and the rows are consecutive epochs from a value >= 0. */
#include "fuzz_common.h"

#include "clnet/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file(0, data, size);
  clnet_history h = {0};
  const clnet_epoch_record seed_row = {.epoch = 7, .loss = 1.5, .accuracy = 0.25};
  FUZZ_REQUIRE(clnet_history_append(&h, &seed_row) == CLNET_SUCCESS, "append: %s", clnet_last_error());
  const clnet_epoch_record *old_rows = h.rows;
  const int fd_before = fuzz_lowest_free_fd();
  clnet_clear_error();
  clnet_status st = clnet_history_read_csv(path, &h);
  fuzz_check_no_fd_leak(fd_before, "clnet_history_read_csv");
  fuzz_check_status("clnet_history_read_csv", st, &path, 1);
  if (st != CLNET_SUCCESS) {
    FUZZ_REQUIRE(h.count == 1 && h.rows == old_rows && h.rows[0].epoch == 7 && h.rows[0].loss == 1.5,
                 "history changed by a failed read (count %d)", (int)h.count);
  } else {
    FUZZ_REQUIRE(h.count >= 0 && h.count <= h.capacity && (h.count == 0 || h.rows != NULL),
                 "history count %d capacity %d", (int)h.count, (int)h.capacity);
    for (int32_t i = 0; i < h.count; i++) {
      FUZZ_REQUIRE(h.rows[i].epoch >= 0, "row %d: epoch %d", (int)i, (int)h.rows[i].epoch);
      if (i > 0)
        FUZZ_REQUIRE((int64_t)h.rows[i].epoch == (int64_t)h.rows[i - 1].epoch + 1,
                     "row %d: epoch %d after %d", (int)i, (int)h.rows[i].epoch, (int)h.rows[i - 1].epoch);
    }
  }
  clnet_history_free(&h);
  return 0;
}
