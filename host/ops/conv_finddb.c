/* The conv find-db: AUTO's remembered choices, in memory per ctx and on disk per device.
 * Format and locking: conv_finddb.h. */
#include "core/fs.h"
#include "ops/conv_finddb.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/program_cache.h"

#define FDB_MAGIC_LINE "# clnet conv find-db 1"
#define FDB_MAX_ENTRIES 100000 /* a file longer than this is not one we wrote */

static const char *const pass_names[3] = {"forward", "backward-data", "backward-filter"};

conv_fdb_key clnet_conv_fdb_key(const clnet_conv2d_desc *d, clnet_conv_pass pass) {
  return (conv_fdb_key){.pass = (int32_t)pass, .n = d->n, .h = d->in_h, .w = d->in_w, .c_in = d->in_c,
                        .c_out = d->out_c, .k_h = d->k_h, .k_w = d->k_w, .stride = d->stride,
                        .padding = (int32_t)d->padding};
}

static int key_eq(const conv_fdb_key *a, const conv_fdb_key *b) { return !memcmp(a, b, sizeof *a); }

/* FNV-1a 64 with a separator after each field. */
static void fnv(uint64_t *h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; ++i) *h = (*h ^ p[i]) * 0x100000001b3ull;
  *h = (*h ^ 0xffu) * 0x100000001b3ull;
}

void clnet_conv_finddb_free(struct clnet_conv_finddb *db) {
  if (!db) return;
  free(db->entries);
  free(db);
}

clnet_status clnet_conv_finddb_state(clnet_ctx *ctx, struct clnet_conv_finddb **out) {
  if (!ctx->conv_finddb) {
    ctx->conv_finddb = calloc(1, sizeof *ctx->conv_finddb);
    if (!ctx->conv_finddb) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "conv2d: find-db state");
  }
  *out = ctx->conv_finddb;
  return CLNET_SUCCESS;
}

void clnet_conv_finddb_note(struct clnet_conv_finddb *db, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(db->last_note, sizeof db->last_note, fmt, ap);
  va_end(ap);
  if (db->note_fn) db->note_fn(db->note_user, db->last_note);
}

conv_fdb_entry *clnet_conv_finddb_find(struct clnet_conv_finddb *db, const conv_fdb_key *key) {
  for (int32_t i = 0; i < db->n; ++i)
    if (key_eq(&db->entries[i].key, key)) return &db->entries[i];
  return NULL;
}

static clnet_status push(conv_fdb_entry **entries, int32_t *n, int32_t *cap, const conv_fdb_entry *e) {
  if (*n == *cap) {
    int32_t nc = *cap ? *cap * 2 : 64;
    conv_fdb_entry *p = realloc(*entries, (size_t)nc * sizeof *p);
    if (!p) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "conv2d: find-db of %d entries", nc);
    *entries = p;
    *cap = nc;
  }
  (*entries)[(*n)++] = *e;
  return CLNET_SUCCESS;
}

clnet_status clnet_conv_finddb_add(struct clnet_conv_finddb *db, const conv_fdb_entry *e, conv_fdb_entry **out) {
  CLNET_TRY(push(&db->entries, &db->n, &db->cap, e));
  if (out) *out = &db->entries[db->n - 1];
  return CLNET_SUCCESS;
}

/* ---- the file ---------------------------------------------------------------------------- */

static int parse_ms(const char *s, double *out) {
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

/* One entry line; returns NULL or what is wrong with it. The winograd_ms and winograd4_ms fields
 * are optional (files written before those algorithms existed have 13 or 14 fields): missing, or
 * "-", means not a candidate (-2). */
static const char *parse_line(const char *line, conv_fdb_entry *e) {
  char pass[32], pad[16], algo[16], gms[40], dms[40], wms[40] = "-", w4ms[40] = "-";
  int32_t v[8];
  int used = 0, used14 = 0, used15 = 0;
  const int got = sscanf(line, "%31s %d %d %d %d %d %d %d %d %15s %15s %39s %39s %n%39s %n%39s %n", pass, &v[0],
                         &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], pad, algo, gms, dms, &used, wms, &used14,
                         w4ms, &used15);
  if (got == 14) used = used14;
  if (got == 15) used = used15;
  if (got < 13 || line[used] != '\0')
    return "expected 13 to 15 fields: pass n h w c_in c_out kh kw stride padding algo gemm_ms direct_ms "
           "[winograd_ms [winograd4_ms]]";
  memset(e, 0, sizeof *e);
  e->key.pass = -1;
  for (int32_t i = 0; i < 3; ++i)
    if (!strcmp(pass, pass_names[i])) e->key.pass = i;
  if (e->key.pass < 0) return "pass must be forward, backward-data or backward-filter";
  for (int32_t i = 0; i < 8; ++i)
    if (v[i] < 1 || v[i] > (1 << 24)) return "sizes must be in 1..2^24";
  e->key.n = v[0], e->key.h = v[1], e->key.w = v[2], e->key.c_in = v[3], e->key.c_out = v[4];
  e->key.k_h = v[5], e->key.k_w = v[6], e->key.stride = v[7];
  if (!strcmp(pad, "valid")) e->key.padding = CLNET_PADDING_VALID;
  else if (!strcmp(pad, "same")) e->key.padding = CLNET_PADDING_SAME;
  else return "padding must be valid or same";
  if (!strcmp(algo, "gemm")) e->choice.algo = CLNET_CONV_ALGO_GEMM;
  else if (!strcmp(algo, "direct")) e->choice.algo = CLNET_CONV_ALGO_DIRECT;
  else if (!strcmp(algo, "winograd")) e->choice.algo = CLNET_CONV_ALGO_WINOGRAD;
  else if (!strcmp(algo, "winograd4")) e->choice.algo = CLNET_CONV_ALGO_WINOGRAD4;
  else return "algo must be gemm, direct, winograd or winograd4";
  if (!parse_ms(gms, &e->choice.ms[0]) || !parse_ms(dms, &e->choice.ms[1]))
    return "times must be milliseconds >= 0 or 'rejected'";
  if (!strcmp(wms, "-")) e->choice.ms[2] = -2;
  else if (!parse_ms(wms, &e->choice.ms[2])) return "winograd_ms must be milliseconds >= 0, 'rejected' or '-'";
  if (!strcmp(w4ms, "-")) e->choice.ms[3] = -2;
  else if (!parse_ms(w4ms, &e->choice.ms[3])) return "winograd4_ms must be milliseconds >= 0, 'rejected' or '-'";
  if (e->choice.ms[clnet_conv_algo_slot(e->choice.algo)] < 0) return "the chosen algorithm is rejected or not a candidate";
  e->choice.source = CLNET_CONV_SOURCE_FINDDB;
  return NULL;
}

clnet_status clnet_conv_finddb_read_file(const char *path, uint64_t kernels_hash, conv_fdb_entry **entries,
                                         int32_t *n, int32_t *stale) {
  *entries = NULL;
  *n = 0;
  *stale = 0;
  FILE *f = fopen(path, "r");
  if (!f) {
    if (errno == ENOENT) return CLNET_SUCCESS;
    return clnet_set_error(CLNET_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  }
  conv_fdb_entry *list = NULL;
  int32_t count = 0, cap = 0, lineno = 0, have_kernels = 0;
  char line[512];
  const char *why = NULL;
  clnet_status st = CLNET_SUCCESS;
  while (!why && fgets(line, sizeof line, f)) {
    ++lineno;
    size_t len = strlen(line);
    if (len == 0 || line[len - 1] != '\n') {
      why = feof(f) ? "last line does not end in a newline (torn write?)" : "line longer than 511 bytes";
      break;
    }
    line[--len] = '\0';
    if (lineno == 1) {
      if (strcmp(line, FDB_MAGIC_LINE)) why = "first line must be '" FDB_MAGIC_LINE "'";
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
    conv_fdb_entry e;
    if ((why = parse_line(line, &e)) != NULL) break;
    for (int32_t i = 0; i < count && !why; ++i)
      if (key_eq(&list[i].key, &e.key)) why = "a second entry for the same shape and pass";
    if (!why && count >= FDB_MAX_ENTRIES) why = "too many entries";
    if (!why && (st = push(&list, &count, &cap, &e)) != CLNET_SUCCESS) break;
  }
  if (!why && st == CLNET_SUCCESS && ferror(f)) st = clnet_set_error(CLNET_ERR_IO, "%s: read error", path);
  if (!why && st == CLNET_SUCCESS && lineno == 0) why = "empty file";
  if (!why && st == CLNET_SUCCESS && !have_kernels) why = "no kernels line";
  fclose(f);
  if (why) st = clnet_set_error(CLNET_ERR_FORMAT, "%s:%d: %s", path, lineno, why);
  if (st != CLNET_SUCCESS || *stale) {
    free(list);
    return st;
  }
  *entries = list;
  *n = count;
  return CLNET_SUCCESS;
}

static void format_ms(char *dst, size_t cap, double ms) {
  if (ms == -2) snprintf(dst, cap, "-");
  else if (ms < 0) snprintf(dst, cap, "rejected");
  else snprintf(dst, cap, "%.3f", ms);
}

clnet_status clnet_conv_finddb_write_file(const char *path, uint64_t kernels_hash, const char *device_line,
                                          const conv_fdb_entry *entries, int32_t n) {
  char tmp[4600];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "w");
  if (!f) return clnet_set_error(CLNET_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
  fprintf(f, FDB_MAGIC_LINE "\n# %s\n# kernels: %016llx\n", device_line, (unsigned long long)kernels_hash);
  fprintf(f, "# pass n h w c_in c_out kh kw stride padding algo gemm_ms direct_ms winograd_ms winograd4_ms\n");
  for (int32_t i = 0; i < n; ++i) {
    const conv_fdb_entry *e = &entries[i];
    char g[32], d[32], w[32], w4[32];
    format_ms(g, sizeof g, e->choice.ms[0]);
    format_ms(d, sizeof d, e->choice.ms[1]);
    format_ms(w, sizeof w, e->choice.ms[2]);
    format_ms(w4, sizeof w4, e->choice.ms[3]);
    fprintf(f, "%s %d %d %d %d %d %d %d %d %s %s %s %s %s %s\n", pass_names[e->key.pass], e->key.n, e->key.h,
            e->key.w, e->key.c_in, e->key.c_out, e->key.k_h, e->key.k_w, e->key.stride,
            e->key.padding == CLNET_PADDING_SAME ? "same" : "valid", clnet_conv_algo_str(e->choice.algo), g, d, w, w4);
  }
  int ok = fflush(f) == 0 && !ferror(f) && fsync(fileno(f)) == 0;
  ok = fclose(f) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) {
    int err = errno;
    unlink(tmp);
    return clnet_set_error(CLNET_ERR_IO, "%s: cannot write: %s", path, strerror(err));
  }
  return CLNET_SUCCESS;
}

/* ---- per ctx ---------------------------------------------------------------------------- */

/* Adopts the file's entries that memory lacks (another process chose them first). A corrupt
 * file is noted and ignored; a stale one ignored. */
static clnet_status merge_file(struct clnet_conv_finddb *db) {
  conv_fdb_entry *list = NULL;
  int32_t n = 0, stale = 0;
  clnet_status st = clnet_conv_finddb_read_file(db->path, db->kernels_hash, &list, &n, &stale);
  if (st == CLNET_ERR_FORMAT || st == CLNET_ERR_IO) {
    if (!db->bad_file_noted++)
      clnet_conv_finddb_note(db, "conv find-db %s; ignored: its shapes are timed again and the file rewritten",
                             clnet_last_error());
    return CLNET_SUCCESS;
  }
  CLNET_TRY(st);
  for (int32_t i = 0; i < n && st == CLNET_SUCCESS; ++i)
    if (!clnet_conv_finddb_find(db, &list[i].key)) st = clnet_conv_finddb_add(db, &list[i], NULL);
  free(list);
  return st;
}

clnet_status clnet_conv_finddb_open(clnet_ctx *ctx, struct clnet_conv_finddb **out) {
  struct clnet_conv_finddb *db = NULL;
  CLNET_TRY(clnet_conv_finddb_state(ctx, &db));
  *out = db;
  if (db->opened) return CLNET_SUCCESS;
  db->opened = 1;
  db->use_disk = !ctx->is_ref && clnet_cache_dir(db->dir, sizeof db->dir);
  if (!db->use_disk) return CLNET_SUCCESS;
  uint64_t dev = 0xcbf29ce484222325ull, ker = 0xcbf29ce484222325ull;
  fnv(&dev, ctx->info.name, strlen(ctx->info.name));
  fnv(&dev, ctx->info.driver_version, strlen(ctx->info.driver_version));
  fnv(&dev, ctx->info.platform_version, strlen(ctx->info.platform_version));
  snprintf(db->path, sizeof db->path, "%s/conv-algos-%016llx.txt", db->dir, (unsigned long long)dev);
  snprintf(db->device_line, sizeof db->device_line, "device: %.200s | driver: %.150s | platform: %.200s",
           ctx->info.name, ctx->info.driver_version, ctx->info.platform_version);
  /* the kernels behind every algorithm: new kernels invalidate every choice */
  static const char *const files[3] = {"conv2d", "conv2d_direct", "conv2d_winograd"};
  for (int i = 0; i < 3; ++i) {
    const char *src = NULL;
    size_t len = 0;
    int32_t owned = 0;
    CLNET_TRY(clnet_kernel_source(files[i], &src, &len, &owned));
    fnv(&ker, src, len);
    if (owned) free((void *)src);
  }
  db->kernels_hash = ker;
  return merge_file(db);
}

clnet_status clnet_conv_finddb_commit(struct clnet_conv_finddb *db, const conv_fdb_entry *e, conv_fdb_entry **out,
                                      int32_t *persisted) {
  *persisted = 0;
  clnet_mkdir_p(db->dir);
  char lock_path[4500];
  snprintf(lock_path, sizeof lock_path, "%s.lock", db->path);
  int fd = open(lock_path, O_RDWR | O_CREAT, 0644);
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  int locked = fd >= 0;
  while (locked && fcntl(fd, F_SETLKW, &fl) != 0)
    if (errno != EINTR) locked = 0;
  clnet_status st = CLNET_SUCCESS;
  if (!locked) {
    st = clnet_set_error(CLNET_ERR_IO, "%s: cannot lock: %s", lock_path, strerror(errno));
  } else {
    st = merge_file(db);
    conv_fdb_entry *found = st == CLNET_SUCCESS ? clnet_conv_finddb_find(db, &e->key) : NULL;
    if (found) { /* another process committed this shape first: use its choice */
      *out = found;
      *persisted = 1;
    } else if (st == CLNET_SUCCESS) {
      /* memory's entries (the file's among them) and e; e joins memory only once it is on disk */
      conv_fdb_entry *all = malloc(((size_t)db->n + 1) * sizeof *all);
      if (!all) {
        st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "conv2d: find-db");
      } else {
        int32_t m = 0; /* the rule's in-memory fallbacks are not measured choices: not written */
        for (int32_t i = 0; i < db->n; ++i)
          if (db->entries[i].choice.source != CLNET_CONV_SOURCE_RULE) all[m++] = db->entries[i];
        all[m++] = *e;
        st = clnet_conv_finddb_write_file(db->path, db->kernels_hash, db->device_line, all, m);
        free(all);
      }
      if (st == CLNET_SUCCESS) {
        *persisted = 1;
        st = clnet_conv_finddb_add(db, e, out);
      }
    }
  }
  if (fd >= 0) close(fd); /* releases the lock */
  if (st == CLNET_ERR_IO) return CLNET_SUCCESS; /* not persisted: the caller falls back */
  return st;
}
