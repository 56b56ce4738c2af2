/* Fuzz harness: clnet_tune_load, the reader of `clnet tune`'s CLBlast parameter file
 * (host/tune/clblast_tune.h).
 *
 * Input: the parameter file as it is, or, when the first byte is 0x01, the rest followed by the
 * "crc32 XXXXXXXX" line it needs (the reader checks the CRC before it parses: without help the
 * fuzzer would not get past it). Checks: the error contract (fuzz_common.h); on success
 * every kernel is one clnet applies, with 1..CLNET_CLBLAST_MAX_PARAMS parameters of at most
 * 65536, and the file written back by clnet_tune_save reads back the same. */
#include "fuzz_common.h"

#include <zlib.h>

#include "tune/clblast_tune.h"

static void same_file(const clnet_tune_file *a, const clnet_tune_file *b) {
  FUZZ_REQUIRE(a->n_kernels == b->n_kernels, "%d kernels read back as %d", (int)a->n_kernels, (int)b->n_kernels);
  for (int32_t i = 0; i < a->n_kernels; ++i) {
    const clnet_tune_kernel *x = &a->kernels[i], *y = &b->kernels[i];
    FUZZ_REQUIRE(!strcmp(x->name, y->name) && x->params.count == y->params.count, "kernel %d changed", (int)i);
    for (size_t j = 0; j < x->params.count; ++j)
      FUZZ_REQUIRE(!strcmp(x->params.names[j], y->params.names[j]) && x->params.values[j] == y->params.values[j],
                   "kernel %s parameter %zu changed", x->name, j);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = NULL;
  if (size > 0 && data[0] == 0x01) {
    unsigned char *with = malloc(size + 16);
    FUZZ_REQUIRE(with != NULL, "out of memory");
    memcpy(with, data + 1, size - 1);
    const int n = snprintf((char *)with + size - 1, 17, "crc32 %08lx\n",
                           (unsigned long)crc32(0L, data + 1, (uInt)(size - 1)));
    path = fuzz_file(0, with, size - 1 + (size_t)n);
    free(with);
  } else {
    path = fuzz_file(0, data, size);
  }
  const int fd_before = fuzz_lowest_free_fd();
  clnet_tune_file f;
  clnet_clear_error();
  clnet_status st = clnet_tune_load(path, &f);
  fuzz_check_no_fd_leak(fd_before, "clnet_tune_load");
  fuzz_check_status("clnet_tune_load", st, &path, 1);
  if (st != CLNET_SUCCESS) return 0;
  FUZZ_REQUIRE(f.n_kernels >= 0 && f.n_kernels <= CLNET_TUNE_MAX_KERNELS, "%d kernels", (int)f.n_kernels);
  for (int32_t i = 0; i < f.n_kernels; ++i) {
    const clnet_tune_kernel *k = &f.kernels[i];
    FUZZ_REQUIRE(!strcmp(k->name, "Xgemm") || !strcmp(k->name, "XgemmDirect") || !strcmp(k->name, "GemmRoutine"),
                 "kernel '%.20s'", k->name);
    FUZZ_REQUIRE(k->params.count >= 1 && k->params.count <= CLNET_CLBLAST_MAX_PARAMS, "%zu parameters",
                 k->params.count);
    for (size_t j = 0; j < k->params.count; ++j)
      FUZZ_REQUIRE(k->params.values[j] <= 65536, "%s = %zu", k->params.names[j], k->params.values[j]);
  }
  /* written back and read again: the same parameters */
  static char again[64];
  if (!again[0]) /* tmpfs where there is one: the writer fsyncs */
    snprintf(again, sizeof again, "%s/clnet-fuzz-tune-%ld.txt", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
             (long)getpid());
  FUZZ_REQUIRE(clnet_tune_save(again, &f) == CLNET_SUCCESS, "cannot write back: %s", clnet_last_error());
  clnet_tune_file g;
  FUZZ_REQUIRE(clnet_tune_load(again, &g) == CLNET_SUCCESS, "the file written back does not read: %s",
               clnet_last_error());
  unlink(again);
  same_file(&f, &g);
  return 0;
}
