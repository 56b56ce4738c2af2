/* Fuzz harness: clnet_dataset_load_idx (IDX images + labels, plain or gzipped).
 *
 * Input: u32 little-endian L | the images file (min(L, rest) bytes) | the
 * labels file (the remaining bytes). Either file is gzipped when it starts
 * with 1f 8b. fuzz/make_corpus.c writes seeds in this layout.
 * Checks: the error contract (fuzz_common.h); on failure the data set is
 * zeroed; on success the shape is consistent, every label is < 10, and both
 * files' bytes come back unchanged -- for a gzipped file, compared with an
 * independent inflate of every gzip member, each of which must be complete
 * (trailer and CRC present). Leaks are LeakSanitizer's job (libFuzzer) and
 * fds are counted. */
#include "fuzz_common.h"

#include <zlib.h>

#include "clnet/data.h"

/* The file's content as the reader should see it: the bytes themselves, or
 * for gzip (magic 1f 8b) the inflated members, one after another, stopping
 * where something other than a gzip member follows (as zlib's gzread does).
 * Returns a malloc'd buffer and its length in *out_n, or NULL if a member is
 * corrupt or incomplete. */
static uint8_t *file_content(const uint8_t *in, size_t n, size_t *out_n) {
  if (!(n >= 2 && in[0] == 0x1f && in[1] == 0x8b)) {
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy) FUZZ_FAIL("out of memory");
    if (n) memcpy(copy, in, n);
    *out_n = n;
    return copy;
  }
  size_t cap = 1 << 16, len = 0;
  uint8_t *out = malloc(cap);
  if (!out) FUZZ_FAIL("out of memory");
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, 15 + 16) != Z_OK) FUZZ_FAIL("inflateInit2");
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)n;
  int ok = 0;
  for (;;) {
    if (len == cap) {
      cap *= 2;
      uint8_t *more = realloc(out, cap);
      if (!more) FUZZ_FAIL("out of memory");
      out = more;
    }
    z.next_out = out + len;
    z.avail_out = (uInt)(cap - len);
    int rc = inflate(&z, Z_NO_FLUSH);
    len = cap - z.avail_out;
    if (rc == Z_STREAM_END) {
      if (z.avail_in >= 2 && z.next_in[0] == 0x1f && z.next_in[1] == 0x8b) {
        inflateReset(&z); /* another member follows */
        continue;
      }
      ok = 1; /* end, or trailing bytes that are not a gzip member */
      break;
    }
    if (rc != Z_OK && !(rc == Z_BUF_ERROR && z.avail_out == 0)) break;
    if (z.avail_in == 0 && z.avail_out != 0) break; /* input ended inside a member */
  }
  inflateEnd(&z);
  if (!ok) {
    free(out);
    return NULL;
  }
  *out_n = len;
  return out;
}

/* On success: the file's content must be its IDX header followed by `bytes`. */
static void check_content(const char *what, const uint8_t *in, size_t n, size_t header, const uint8_t *bytes,
                          size_t count) {
  size_t len = 0;
  uint8_t *content = file_content(in, n, &len);
  FUZZ_REQUIRE(content != NULL, "%s: the reader accepted an incomplete or corrupt gzip file", what);
  FUZZ_REQUIRE(len == header + count && memcmp(content + header, bytes, count) == 0,
               "%s: %zu content bytes read back as %zu different ones", what, len, count);
  free(content);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4) return 0;
  const uint32_t L = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                     (uint32_t)data[3] << 24;
  const uint8_t *rest = data + 4;
  const size_t n_rest = size - 4, n_img = L < n_rest ? L : n_rest;
  const char *paths[2];
  paths[0] = fuzz_file(0, rest, n_img);
  paths[1] = fuzz_file(1, rest + n_img, n_rest - n_img);
  const int fd_before = fuzz_lowest_free_fd();

  clnet_dataset ds;
  memset(&ds, 0x5a, sizeof ds); /* the reader must zero it */
  clnet_clear_error();
  clnet_status st = clnet_dataset_load_idx(paths[0], paths[1], &ds);
  fuzz_check_no_fd_leak(fd_before, "clnet_dataset_load_idx");
  fuzz_check_status("clnet_dataset_load_idx", st, paths, 2);
  if (st != CLNET_SUCCESS) {
    static const clnet_dataset zero;
    FUZZ_REQUIRE(memcmp(&ds, &zero, sizeof ds) == 0, "data set not zeroed after %s", clnet_status_str(st));
    return 0;
  }
  FUZZ_REQUIRE(ds.count > 0 && ds.height > 0 && ds.width > 0 && ds.channels == 1 && ds.classes >= 1 && ds.classes <= 256 &&
                   ds.images && ds.labels,
               "bad data set: count %d, %dx%dx%d, classes %d", ds.count, ds.height, ds.width, ds.channels,
               ds.classes);
  const size_t pixels = (size_t)ds.count * (size_t)ds.height * (size_t)ds.width; /* (count, H, W, 1) */
  fuzz_touch(ds.images, pixels);
  for (int32_t i = 0; i < ds.count; i++)
    FUZZ_REQUIRE(ds.labels[i] < ds.classes, "label %u at %d", ds.labels[i], (int)i);
  check_content("images", rest, n_img, 16, ds.images, pixels);
  check_content("labels", rest + n_img, n_rest - n_img, 8, ds.labels, (size_t)ds.count);
  clnet_dataset_free(&ds);
  return 0;
}
