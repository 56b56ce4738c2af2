/* Replay driver: feeds files to a fuzz harness's LLVMFuzzerTestOneInput
 * without libFuzzer, so that ctest re-runs the seed corpus and every input
 * that ever crashed (fuzz/corpus/<reader>/, fuzz/crashes/<reader>/) with the
 * normal compiler on every build.
 *
 *   fuzz_replay_<reader> PATH...   each PATH a file or a directory (its
 *                                  files, sorted by name; names starting
 *                                  with '.' are skipped)
 * A harness that finds a broken contract aborts, which fails the test. Exits
 * 1 if a path cannot be read, 0 after replaying every file. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "replay: %s: cannot open: %s\n", path, strerror(errno));
    return 0;
  }
  size_t cap = 4096, n = 0;
  uint8_t *buf = malloc(cap);
  for (;;) {
    if (!buf) break;
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap) break;
    uint8_t *bigger = realloc(buf, cap * 2);
    if (!bigger) {
      free(buf);
      buf = NULL;
      break;
    }
    buf = bigger;
    cap *= 2;
  }
  int ok = buf != NULL && !ferror(f);
  fclose(f);
  if (!ok) {
    fprintf(stderr, "replay: %s: cannot read\n", path);
    free(buf);
    return 0;
  }
  /* An exact-size copy, so AddressSanitizer sees reads past the input. */
  uint8_t *exact = malloc(n ? n : 1);
  if (!exact) {
    free(buf);
    return 0;
  }
  memcpy(exact, buf, n);
  free(buf);
  LLVMFuzzerTestOneInput(exact, n);
  free(exact);
  return 1;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays every file of dir; returns the number replayed, or -1 on error. */
static long replay_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "replay: %s: cannot open directory: %s\n", dir, strerror(errno));
    return -1;
  }
  char **names = NULL;
  size_t count = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    if (count == cap) {
      cap = cap ? 2 * cap : 64;
      char **more = realloc(names, cap * sizeof *names);
      if (!more) break;
      names = more;
    }
    size_t len = strlen(dir) + strlen(e->d_name) + 2;
    names[count] = malloc(len);
    if (!names[count]) break;
    snprintf(names[count], len, "%s/%s", dir, e->d_name);
    count++;
  }
  closedir(d);
  qsort(names, count, sizeof *names, cmp_names);
  long done = 0;
  int failed = 0;
  for (size_t i = 0; i < count; i++) {
    struct stat st;
    if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
      if (replay_file(names[i])) done++;
      else failed = 1;
    }
    free(names[i]);
  }
  free(names);
  return failed ? -1 : done;
}

int main(int argc, char **argv) {
  int failed = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
      failed = 1;
    } else if (S_ISDIR(st.st_mode)) {
      long n = replay_dir(argv[i]);
      if (n < 0) failed = 1;
      else printf("replay: %s: %ld file%s\n", argv[i], n, n == 1 ? "" : "s");
    } else if (!replay_file(argv[i])) {
      failed = 1;
    } else {
      printf("replay: %s\n", argv[i]);
    }
  }
  return failed;
}
