/* Fuzz harness: the on-disk program cache's entry reader,
 * clnet_program_cache_load (host/runtime/program_cache.h).
 *
 * Input: the cache entry file as it is. The reader records no error by design
 * (any bad entry just means "rebuild from source"), so the checks are: no
 * crash, leak or fd leak; and an entry it accepts is well formed -- magic,
 * version, length n in 1..2^30 equal to what the file holds, the binary
 * returned byte for byte, a matching CRC-32 and nothing after it. */
#include "fuzz_common.h"

#include <zlib.h>

#include "runtime/program_cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file(0, data, size);
  const int fd_before = fuzz_lowest_free_fd();
  size_t n = 0;
  unsigned char *bin = clnet_program_cache_load(path, &n);
  fuzz_check_no_fd_leak(fd_before, "clnet_program_cache_load");
  if (bin == NULL) return 0;
  uint32_t hdr[2], crc;
  uint64_t n64;
  FUZZ_REQUIRE(size >= 20, "accepted a %zu-byte entry", size);
  memcpy(hdr, data, sizeof hdr);
  memcpy(&n64, data + 8, sizeof n64);
  FUZZ_REQUIRE(hdr[0] == 0x424e4c43u && hdr[1] == 1u, "accepted magic %08x version %u", hdr[0], hdr[1]);
  FUZZ_REQUIRE(n >= 1 && n <= (1u << 30) && n == n64 && size == 20 + n,
               "accepted n = %zu (header %llu) from a %zu-byte entry", n, (unsigned long long)n64, size);
  FUZZ_REQUIRE(memcmp(bin, data + 16, n) == 0, "binary differs from the file");
  memcpy(&crc, data + 16 + n, sizeof crc);
  FUZZ_REQUIRE(crc == (uint32_t)crc32(0L, data + 16, (uInt)n), "accepted a bad CRC");
  free(bin);
  return 0;
}
