/* Linked into every test executable: before any test runs, the runner points CLNET_CACHE_DIR
 * at a fresh temporary directory of its own (kernel cache, find-dbs, CLBlast parameters), so no
 * test reads or writes the user's ~/.cache/clnet and every executable starts from an empty
 * cache, whatever ran before it or runs beside it (ctest -j). Tests that need a warm cache warm
 * it themselves; tests that want a cache of their own still set CLNET_CACHE_DIR. The directory
 * is removed when the run ends. Criterion forks each test from the runner, so the tests inherit
 * the variable. */
#define _XOPEN_SOURCE 700
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char hermetic_dir[256];

ReportHook(PRE_ALL)(struct criterion_test_set *set) {
  (void)set;
  const char *tmp = getenv("TMPDIR");
  snprintf(hermetic_dir, sizeof hermetic_dir, "%s/clnet-test-cache-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(hermetic_dir)) {
    fprintf(stderr, "tests: cannot create a temporary cache directory under %s\n", tmp && *tmp ? tmp : "/tmp");
    exit(1);
  }
  setenv("CLNET_CACHE_DIR", hermetic_dir, 1);
  unsetenv("CLNET_NO_CACHE");
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats) {
  (void)stats;
  if (hermetic_dir[0]) nftw(hermetic_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
