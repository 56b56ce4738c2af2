/* The dense kind of find-db (tune/finddb.h): the dense GEMM choice's entries and their line format
 * (tune/dense_algo.h). */
#include "tune/dense_algo.h"

#include <stdio.h>
#include <string.h>

static const char *const pass_names[3] = {"forward", "backward-data", "backward-filter"};

static int algo_slot(clnet_dense_algo a) { return a == CLNET_DENSE_ALGO_CLBLAST ? 0 : 1; }

static const char *parse_line(const char *line, void *entry) {
  dense_fdb_entry *e = entry;
  char pass[32], algo[16], bms[40], cms[40];
  int32_t v[3];
  int used = 0;
  if (sscanf(line, "%31s %d %d %d %15s %39s %39s %n", pass, &v[0], &v[1], &v[2], algo, bms, cms, &used) != 7 ||
      line[used] != '\0')
    return "expected 7 fields: pass n in out algo clblast_ms clnet_ms";
  memset(e, 0, sizeof *e);
  e->key.pass = -1;
  for (int32_t i = 0; i < 3; ++i)
    if (!strcmp(pass, pass_names[i])) e->key.pass = i;
  if (e->key.pass < 0) return "pass must be forward, backward-data or backward-filter";
  for (int32_t i = 0; i < 3; ++i)
    if (v[i] < 1 || v[i] > (1 << 24)) return "sizes must be in 1..2^24";
  e->key.n = v[0], e->key.in = v[1], e->key.out = v[2];
  if (!strcmp(algo, "clblast")) e->choice.algo = CLNET_DENSE_ALGO_CLBLAST;
  else if (!strcmp(algo, "clnet")) e->choice.algo = CLNET_DENSE_ALGO_CLNET;
  else return "algo must be clblast or clnet";
  if (!strcmp(bms, "-")) e->choice.ms[0] = -2; /* not timed: cannot win on this kind of device */
  else if (!clnet_fdb_parse_ms(bms, &e->choice.ms[0])) return "clblast_ms must be milliseconds >= 0, 'rejected' or '-'";
  if (!clnet_fdb_parse_ms(cms, &e->choice.ms[1])) return "times must be milliseconds >= 0 or 'rejected'";
  if (e->choice.ms[algo_slot(e->choice.algo)] < 0) return "the chosen algorithm is rejected";
  e->choice.source = CLNET_ALGO_SOURCE_FINDDB;
  return NULL;
}

static void print_line(FILE *f, const void *entry) {
  const dense_fdb_entry *e = entry;
  char b[32], c[32];
  clnet_fdb_format_ms(b, sizeof b, e->choice.ms[0]);
  clnet_fdb_format_ms(c, sizeof c, e->choice.ms[1]);
  fprintf(f, "%s %d %d %d %s %s %s\n", pass_names[e->key.pass], e->key.n, e->key.in, e->key.out,
          clnet_dense_algo_str(e->choice.algo), b, c);
}

/* the rule's in-memory fallbacks are not measured choices: not written */
static int persist(const void *entry) {
  return ((const dense_fdb_entry *)entry)->choice.source != CLNET_ALGO_SOURCE_RULE;
}

static const char *const kernel_files[1] = {"gemm"};
_Static_assert(sizeof(dense_fdb_key) == 4 * sizeof(int32_t), "find-db keys are compared bytewise: no padding");
const clnet_fdb_format clnet_dense_finddb_format = {
    .what = "dense GEMM find-db",
    .prefix = "dense-gemm",
    .magic = "# clnet dense GEMM find-db 1",
    .columns = "# pass n in out algo clblast_ms clnet_ms",
    .kernel_files = kernel_files,
    .n_kernel_files = 1,
    .entry_size = sizeof(dense_fdb_entry),
    .key_size = sizeof(dense_fdb_key),
    .parse = parse_line,
    .print = print_line,
    .persist = persist,
};

clnet_status clnet_dense_finddb_read_file(const char *path, uint64_t kernels_hash, dense_fdb_entry **entries,
                                          int32_t *n, int32_t *stale) {
  void *list = NULL;
  clnet_status st = clnet_fdb_read_file(&clnet_dense_finddb_format, path, kernels_hash, &list, n, stale);
  *entries = list;
  return st;
}

clnet_status clnet_dense_finddb_write_file(const char *path, uint64_t kernels_hash, const char *device_line,
                                           const dense_fdb_entry *entries, int32_t n) {
  return clnet_fdb_write_file(&clnet_dense_finddb_format, path, kernels_hash, device_line, entries, n);
}

