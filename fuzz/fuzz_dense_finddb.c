/* Fuzz harness: the dense GEMM find-db reader, clnet_dense_finddb_read_file (host/tune/dense_algo.h;
 * the file layer it shares with the conv find-db is host/tune/finddb.c).
 *
 * Input: the find-db text file as it is, read with kernels hash 0xab. Checks: no crash, leak or
 * fd leak; errors follow the file-reader contract (fuzz_check_status); a stale file returns no
 * entries; every accepted entry is well formed (sizes >= 1, a known pass and GEMM, the chosen GEMM
 * timed, not rejected), no key repeats, and writing the entries and reading them back gives the
 * same entries. */
#include "fuzz_common.h"

#include <math.h>

#include "tune/dense_algo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file(0, data, size);
  const int fd_before = fuzz_lowest_free_fd();
  dense_fdb_entry *e = NULL;
  int32_t n = 0, stale = 0;
  clnet_status st = clnet_dense_finddb_read_file(path, 0xab, &e, &n, &stale);
  fuzz_check_no_fd_leak(fd_before, "clnet_dense_finddb_read_file");
  fuzz_check_status("clnet_dense_finddb_read_file", st, &path, 1);
  if (st != CLNET_SUCCESS || stale) {
    FUZZ_REQUIRE(e == NULL && n == 0, "entries returned with status %d, stale %d", (int)st, (int)stale);
    return 0;
  }
  for (int32_t i = 0; i < n; ++i) {
    const dense_fdb_key *k = &e[i].key;
    FUZZ_REQUIRE(k->pass >= 0 && k->pass <= 2 && k->n >= 1 && k->in >= 1 && k->out >= 1,
                 "entry %d: a malformed key was accepted", (int)i);
    const clnet_dense_algo_choice *c = &e[i].choice;
    FUZZ_REQUIRE(c->algo == CLNET_DENSE_ALGO_CLBLAST || c->algo == CLNET_DENSE_ALGO_CLNET, "entry %d: algo %d",
                 (int)i, (int)c->algo);
    FUZZ_REQUIRE(c->ms[c->algo == CLNET_DENSE_ALGO_CLBLAST ? 0 : 1] >= 0, "entry %d: the chosen GEMM is rejected",
                 (int)i);
    for (int32_t j = 0; j < i; ++j)
      FUZZ_REQUIRE(memcmp(&e[j].key, k, sizeof *k) != 0, "entries %d and %d share a key", (int)j, (int)i);
  }
  /* a real file: the writer replaces it by rename, which a memfd path cannot take */
  char copy[64];
  snprintf(copy, sizeof copy, "/tmp/clnet-fuzz-densedb-%ld.txt", (long)getpid());
  FUZZ_REQUIRE(clnet_dense_finddb_write_file(copy, 0xab, "device: fuzz", e, n) == CLNET_SUCCESS, "write: %s",
               clnet_last_error());
  dense_fdb_entry *again = NULL;
  int32_t m = 0;
  FUZZ_REQUIRE(clnet_dense_finddb_read_file(copy, 0xab, &again, &m, &stale) == CLNET_SUCCESS && !stale && m == n,
               "the written file does not read back: %s", clnet_last_error());
  for (int32_t i = 0; i < n; ++i) {
    FUZZ_REQUIRE(!memcmp(&again[i].key, &e[i].key, sizeof e[i].key) && again[i].choice.algo == e[i].choice.algo,
                 "entry %d differs after a write and read", (int)i);
    for (int s = 0; s < 2; ++s) /* written with 3 decimals; -1 rejected */
      FUZZ_REQUIRE((e[i].choice.ms[s] < 0) == (again[i].choice.ms[s] < 0) &&
                       (e[i].choice.ms[s] < 0 || fabs(again[i].choice.ms[s] - e[i].choice.ms[s]) <= 5e-4 +
                                                     1e-12 * e[i].choice.ms[s]),
                   "entry %d ms[%d]: %.17g read back as %.17g", (int)i, s, e[i].choice.ms[s], again[i].choice.ms[s]);
  }
  unlink(copy);
  free(again);
  free(e);
  return 0;
}
