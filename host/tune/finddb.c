/* A find-db's file and its in-memory table, for any kind of entry. Format and locking: finddb.h. */
#include "tune/finddb.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/atomic_file.h"
#include "io/fs.h"
#include "runtime/program_cache.h"

#define FDB_MAX_ENTRIES 100000 /* a file longer than this is not one we wrote */

#define ENTRY(list, fmt, i) ((unsigned char *)(list) + (size_t)(i) * (fmt)->entry_size)

/* FNV-1a 64 with a separator after each field. */
static void fnv(uint64_t *h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; ++i) *h = (*h ^ p[i]) * 0x100000001b3ull;
  *h = (*h ^ 0xffu) * 0x100000001b3ull;
}

static void *find_in(const clnet_fdb_format *fmt, void *list, int32_t n, const void *key) {
  for (int32_t i = 0; i < n; ++i)
    if (!memcmp(ENTRY(list, fmt, i), key, fmt->key_size)) return ENTRY(list, fmt, i);
  return NULL;
}

static clnet_status push(const clnet_fdb_format *fmt, void **list, int32_t *n, int32_t *cap, const void *e) {
  if (*n == *cap) {
    int32_t nc = *cap ? *cap * 2 : 64;
    void *p = realloc(*list, (size_t)nc * fmt->entry_size);
    if (!p) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s of %d entries", fmt->what, nc);
    *list = p;
    *cap = nc;
  }
  memcpy(ENTRY(*list, fmt, *n), e, fmt->entry_size);
  ++*n;
  return CLNET_SUCCESS;
}

void *clnet_fdb_find(clnet_fdb *t, const void *key) { return find_in(t->fmt, t->entries, t->n, key); }

clnet_status clnet_fdb_add(clnet_fdb *t, const void *entry, void **out) {
  CLNET_TRY(push(t->fmt, &t->entries, &t->n, &t->cap, entry));
  if (out) *out = ENTRY(t->entries, t->fmt, t->n - 1);
  return CLNET_SUCCESS;
}

void clnet_fdb_release(clnet_fdb *t) {
  free(t->entries);
  t->entries = NULL;
  t->n = t->cap = 0;
}

/* ---- the file ---------------------------------------------------------------------------- */

int clnet_fdb_parse_ms(const char *s, double *out) {
  if (!strcmp(s, "rejected")) {
    *out = -1;
    return 1;
  }
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 1e9) return 0;
  *out = v;
  return 1;
}

void clnet_fdb_format_ms(char *dst, size_t cap, double ms) {
  if (ms == -2) snprintf(dst, cap, "-");
  else if (ms < 0) snprintf(dst, cap, "rejected");
  else snprintf(dst, cap, "%.3f", ms);
}

clnet_status clnet_fdb_read_file(const clnet_fdb_format *fmt, const char *path, uint64_t kernels_hash,
                                 void **entries, int32_t *n, int32_t *stale) {
  *entries = NULL;
  *n = 0;
  *stale = 0;
  struct stat sb;
  if (lstat(path, &sb) != 0 && errno == ENOENT) return CLNET_SUCCESS; /* nothing recorded yet */
  FILE *f = NULL;
  CLNET_TRY(clnet_fopen_regular(path, &f)); /* a FIFO or a directory is named, never read */
  void *list = NULL;
  int32_t count = 0, cap = 0, lineno = 0, have_kernels = 0, bad_magic = 0;
  char line[512];
  const char *why = NULL;
  clnet_status st = CLNET_SUCCESS;
  void *e = malloc(fmt->entry_size);
  if (!e) st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: reading %s", fmt->what, path);
  while (st == CLNET_SUCCESS && !why && fgets(line, sizeof line, f)) {
    ++lineno;
    size_t len = strlen(line);
    if (len == 0 || line[len - 1] != '\n') {
      why = feof(f) ? "last line does not end in a newline (torn write?)" : "line longer than 511 bytes";
      break;
    }
    line[--len] = '\0';
    if (lineno == 1) {
      if (strcmp(line, fmt->magic)) bad_magic = 1, why = "";
      continue;
    }
    unsigned long long kh = 0;
    int used = 0;
    if (!strncmp(line, "# kernels:", 10)) {
      if (sscanf(line, "# kernels: %16llx%n", &kh, &used) != 1 || line[used] != '\0' || used != 27)
        why = "kernels line must be '# kernels: <16 hex digits>'";
      else if (have_kernels++)
        why = "two kernels lines";
      else if ((uint64_t)kh != kernels_hash)
        *stale = 1;
      continue;
    }
    if (line[0] == '#') continue;
    if (!have_kernels) {
      why = "an entry before the kernels line";
      break;
    }
    memset(e, 0, fmt->entry_size);
    if ((why = fmt->parse(line, e)) != NULL) break;
    if (find_in(fmt, list, count, e)) why = "a second entry for the same shape and pass";
    if (!why && count >= FDB_MAX_ENTRIES) why = "too many entries";
    if (!why && (st = push(fmt, &list, &count, &cap, e)) != CLNET_SUCCESS) break;
  }
  free(e);
  if (!why && st == CLNET_SUCCESS && ferror(f)) st = clnet_set_error(CLNET_ERR_IO, "%s: read error", path);
  if (!why && st == CLNET_SUCCESS && lineno == 0) why = "empty file";
  if (!why && st == CLNET_SUCCESS && !have_kernels) why = "no kernels line";
  fclose(f);
  if (bad_magic)
    st = clnet_set_error(CLNET_ERR_FORMAT, "%s:%d: first line must be '%s'", path, lineno, fmt->magic);
  else if (why)
    st = clnet_set_error(CLNET_ERR_FORMAT, "%s:%d: %s", path, lineno, why);
  if (st != CLNET_SUCCESS || *stale) {
    free(list);
    return st;
  }
  *entries = list;
  *n = count;
  return CLNET_SUCCESS;
}

clnet_status clnet_fdb_write_file(const clnet_fdb_format *fmt, const char *path, uint64_t kernels_hash,
                                  const char *device_line, const void *entries, int32_t n) {
  clnet_atomic_file af;
  CLNET_TRY(clnet_atomic_open(&af, path));
  fprintf(af.fp, "%s\n# %s\n# kernels: %016llx\n%s\n", fmt->magic, device_line, (unsigned long long)kernels_hash,
          fmt->columns);
  for (int32_t i = 0; i < n; ++i) fmt->print(af.fp, ENTRY(entries, fmt, i));
  return clnet_atomic_commit(&af); /* checks the stream, fsyncs, renames */
}

/* ---- per ctx ---------------------------------------------------------------------------- */

static void note(clnet_fdb *t, const char *fmt, ...) CLNET_PRINTF(2, 3);
static void note(clnet_fdb *t, const char *fmt, ...) {
  char line[640];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (t->note) t->note(t->note_user, line);
}

/* Adopts the file's entries that memory lacks (another process chose them first). A corrupt
 * file is noted and ignored; a stale one ignored. */
static clnet_status merge_file(clnet_fdb *t) {
  void *list = NULL;
  int32_t n = 0, stale = 0;
  clnet_status st = clnet_fdb_read_file(t->fmt, t->path, t->kernels_hash, &list, &n, &stale);
  if (st == CLNET_ERR_FORMAT || st == CLNET_ERR_IO) {
    if (!t->bad_file_noted++)
      note(t, "%s %s; ignored: its shapes are timed again and the file rewritten", t->fmt->what, clnet_last_error());
    return CLNET_SUCCESS;
  }
  CLNET_TRY(st);
  for (int32_t i = 0; i < n && st == CLNET_SUCCESS; ++i) {
    const void *e = ENTRY(list, t->fmt, i);
    if (clnet_fdb_find(t, e)) continue;
    char why[256];
    if (t->fmt->stale && t->fmt->stale(e, why, sizeof why)) {
      /* not adopted: the shape is timed again, and the rewritten file no longer holds it */
      if (!t->stale_noted++)
        note(t, "%s %s: stale entry (%s; a hand-edited file or one from another version); its shape is timed "
                "again", t->fmt->what, t->path, why);
      continue;
    }
    st = clnet_fdb_add(t, e, NULL);
  }
  free(list);
  return st;
}

clnet_status clnet_fdb_open(clnet_fdb *t, const clnet_fdb_format *fmt, clnet_ctx *ctx) {
  t->fmt = fmt;
  if (t->opened) return CLNET_SUCCESS;
  t->opened = 1;
  t->use_disk = !ctx->is_ref && clnet_cache_dir(t->dir, sizeof t->dir);
  if (!t->use_disk) return CLNET_SUCCESS;
  uint64_t dev = 0xcbf29ce484222325ull, ker = 0xcbf29ce484222325ull;
  /* the implementation (platform name and version: Oclgrind and PoCL on one CPU time nothing
   * alike), the device, its driver, and limits lowered by CLNET_DEVICE_LIMITS (other local sizes,
   * other chunks: their timings must not decide for the device's own limits) */
  fnv(&dev, ctx->info.platform_name, strlen(ctx->info.platform_name));
  fnv(&dev, ctx->info.name, strlen(ctx->info.name));
  fnv(&dev, ctx->info.driver_version, strlen(ctx->info.driver_version));
  fnv(&dev, ctx->info.platform_version, strlen(ctx->info.platform_version));
  fnv(&dev, ctx->limits, strlen(ctx->limits));
  snprintf(t->path, sizeof t->path, "%s/%s-%016llx.txt", t->dir, fmt->prefix, (unsigned long long)dev);
  snprintf(t->device_line, sizeof t->device_line, "device: %.150s | driver: %.150s | platform: %.150s%s%.100s",
           ctx->info.name, ctx->info.driver_version, ctx->info.platform_version, ctx->limits[0] ? " | limits: " : "",
           ctx->limits);
  /* the kernels behind every candidate: new kernels invalidate every choice */
  for (int32_t i = 0; i < fmt->n_kernel_files; ++i) {
    const char *src = NULL;
    size_t len = 0;
    int32_t owned = 0;
    CLNET_TRY(clnet_kernel_source(fmt->kernel_files[i], &src, &len, &owned));
    fnv(&ker, src, len);
    if (owned) free((void *)src);
  }
  t->kernels_hash = ker;
  return merge_file(t);
}

clnet_status clnet_fdb_commit(clnet_fdb *t, const void *entry, void **out, int32_t *persisted) {
  *persisted = 0;
  clnet_mkdir_p(t->dir);
  char lock_path[4500];
  snprintf(lock_path, sizeof lock_path, "%s.lock", t->path);
  int fd = open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0644);
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  struct stat sb;
  if (fd >= 0 && (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))) { /* a FIFO there would not lock */
    close(fd);
    fd = -1;
    errno = EINVAL;
  }
  int locked = fd >= 0;
  while (locked && fcntl(fd, F_SETLKW, &fl) != 0)
    if (errno != EINTR) locked = 0;
  clnet_status st = CLNET_SUCCESS;
  if (!locked) {
    st = clnet_set_error(CLNET_ERR_IO, "%s: cannot lock: %s", lock_path, strerror(errno));
  } else {
    st = merge_file(t);
    void *found = st == CLNET_SUCCESS ? clnet_fdb_find(t, entry) : NULL;
    if (found) { /* another process committed this key first: use its choice */
      *out = found;
      *persisted = 1;
    } else if (st == CLNET_SUCCESS) {
      /* memory's entries (the file's among them) and the new one; it joins memory only once on disk */
      void *all = malloc(((size_t)t->n + 1) * t->fmt->entry_size);
      if (!all) {
        st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s", t->fmt->what);
      } else {
        int32_t m = 0;
        for (int32_t i = 0; i < t->n; ++i)
          if (t->fmt->persist(ENTRY(t->entries, t->fmt, i)))
            memcpy(ENTRY(all, t->fmt, m++), ENTRY(t->entries, t->fmt, i), t->fmt->entry_size);
        memcpy(ENTRY(all, t->fmt, m++), entry, t->fmt->entry_size);
        st = clnet_fdb_write_file(t->fmt, t->path, t->kernels_hash, t->device_line, all, m);
        free(all);
      }
      if (st == CLNET_SUCCESS) {
        *persisted = 1;
        st = clnet_fdb_add(t, entry, out);
      }
    }
  }
  if (fd >= 0) close(fd); /* releases the lock */
  if (st == CLNET_ERR_IO) return CLNET_SUCCESS; /* not persisted: the caller falls back */
  return st;
}

int clnet_fdb_candidate_can_win(const clnet_ctx *ctx, clnet_fdb_candidate c) {
  const char *all = getenv("CLNET_TUNE_ALL");
  if (all && *all && strcmp(all, "0") != 0) return 1;
  switch (c) {
    case CLNET_FDB_CANDIDATE_CLBLAST:
    case CLNET_FDB_CANDIDATE_WINOGRAD2_BESIDE_4: return !(ctx->info.type & CL_DEVICE_TYPE_CPU);
  }
  return 1;
}
