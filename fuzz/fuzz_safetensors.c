/* Fuzz harness: clnet_safetensors_read.
 *
 * Input: the safetensors file as it is. Checks: the error contract
 * (fuzz_common.h); *out is NULL on failure; on success every tensor has a
 * valid dtype, ndim and shape, its data is aligned for its dtype and readable
 * for its whole byte size, the tensors together are exactly the file's data
 * section, clnet_st_find finds each tensor by name, out-of-range lookups
 * return NULL, and every metadata entry is found again by its key. */
#include "fuzz_common.h"

#include "clnet/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file(0, data, size);
  const int fd_before = fuzz_lowest_free_fd();
  clnet_st_file *f = (clnet_st_file *)(uintptr_t)0x1; /* the reader must set it */
  clnet_clear_error();
  clnet_status st = clnet_safetensors_read(path, &f);
  fuzz_check_no_fd_leak(fd_before, "clnet_safetensors_read");
  fuzz_check_status("clnet_safetensors_read", st, &path, 1);
  if (st != CLNET_SUCCESS) {
    FUZZ_REQUIRE(f == NULL, "out not NULL after %s", clnet_status_str(st));
    return 0;
  }
  FUZZ_REQUIRE(f != NULL && size >= 8, "success without a file");
  uint64_t header = 0;
  for (int b = 7; b >= 0; b--) header = header << 8 | data[b];
  FUZZ_REQUIRE(header <= size - 8, "header length %llu past the end", (unsigned long long)header);
  const uint64_t data_len = size - 8 - header;

  const int32_t n = clnet_st_count(f);
  FUZZ_REQUIRE(n >= 0, "count %d", (int)n);
  uint64_t total = 0;
  for (int32_t i = 0; i < n; i++) {
    const clnet_st_tensor *t = clnet_st_get(f, i);
    FUZZ_REQUIRE(t && t->name && t->name[0], "tensor %d missing or unnamed", (int)i);
    const int32_t es = clnet_dtype_size(t->dtype);
    FUZZ_REQUIRE(es == 4 || es == 8, "tensor %d: dtype %d", (int)i, (int)t->dtype);
    FUZZ_REQUIRE(t->ndim >= 0 && t->ndim <= CLNET_ST_MAX_DIMS, "tensor %d: ndim %d", (int)i, (int)t->ndim);
    uint64_t elems = 1;
    for (int32_t d = 0; d < t->ndim; d++) {
      FUZZ_REQUIRE(t->shape[d] >= 0, "tensor %d: shape[%d] = %lld", (int)i, (int)d, (long long)t->shape[d]);
      elems *= (uint64_t)t->shape[d]; /* the reader proved it does not overflow */
    }
    const uint64_t bytes = elems * (uint64_t)es;
    FUZZ_REQUIRE(bytes <= data_len - total, "tensors hold more than the %llu-byte data section",
                 (unsigned long long)data_len);
    total += bytes;
    FUZZ_REQUIRE(bytes == 0 || t->data != NULL, "tensor %d: NULL data", (int)i);
    FUZZ_REQUIRE(t->data == NULL || (uintptr_t)t->data % (uintptr_t)es == 0, "tensor %d: misaligned data",
                 (int)i);
    if (bytes) fuzz_touch(t->data, (size_t)bytes);
    FUZZ_REQUIRE(clnet_st_find(f, t->name) == t, "clnet_st_find does not find tensor %d", (int)i);
  }
  FUZZ_REQUIRE(total == data_len, "tensors cover %llu of %llu data bytes", (unsigned long long)total,
               (unsigned long long)data_len);
  FUZZ_REQUIRE(clnet_st_get(f, n) == NULL && clnet_st_get(f, -1) == NULL, "out-of-range clnet_st_get");
  const int32_t nm = clnet_st_meta_count(f);
  for (int32_t i = 0; i < nm; i++) {
    const char *k = NULL, *v = NULL;
    FUZZ_REQUIRE(clnet_st_meta_at(f, i, &k, &v) == 1 && k && v, "metadata entry %d", (int)i);
    FUZZ_REQUIRE(clnet_st_meta(f, k) == v, "metadata key %d not found again", (int)i);
  }
  FUZZ_REQUIRE(clnet_st_meta_at(f, nm, NULL, NULL) == 0, "out-of-range clnet_st_meta_at");
  clnet_st_free(f);
  return 0;
}
