/* The conv find-db: AUTO's remembered choices, in memory per ctx and on disk per device.
 * Format: conv_finddb.h; the file's rules and locking: finddb.h. */
#include "ops/conv_finddb.h"
#include "ops/conv_winograd.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const pass_names[3] = {"forward", "backward-data", "backward-filter"};

conv_fdb_key clnet_conv_fdb_key(const clnet_conv2d_desc *d, clnet_conv_pass pass) {
  return (conv_fdb_key){.pass = (int32_t)pass, .n = d->n, .h = d->in_h, .w = d->in_w, .c_in = d->in_c,
                        .c_out = d->out_c, .k_h = d->k_h, .k_w = d->k_w, .stride = d->stride,
                        .padding = (int32_t)d->padding};
}

/* ---- the conv kind of entry (finddb.h) ------------------------------------------------------ */

/* the time fields, as every find-db writes them (finddb.h) */
static int parse_ms(const char *s, double *out) { return clnet_fdb_parse_ms(s, out); }
static void format_ms(char *dst, size_t cap, double ms) { clnet_fdb_format_ms(dst, cap, ms); }

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
  if (!strcmp(gms, "-")) e->choice.ms[0] = -2; /* not timed: cannot win on this kind of device */
  else if (!parse_ms(gms, &e->choice.ms[0])) return "gemm_ms must be milliseconds >= 0, 'rejected' or '-'";
  if (!parse_ms(dms, &e->choice.ms[1])) return "times must be milliseconds >= 0 or 'rejected'";
  if (!strcmp(wms, "-")) e->choice.ms[2] = -2;
  else if (!parse_ms(wms, &e->choice.ms[2])) return "winograd_ms must be milliseconds >= 0, 'rejected' or '-'";
  if (!strcmp(w4ms, "-")) e->choice.ms[3] = -2;
  else if (!parse_ms(w4ms, &e->choice.ms[3])) return "winograd4_ms must be milliseconds >= 0, 'rejected' or '-'";
  if (e->choice.ms[clnet_conv_algo_slot(e->choice.algo)] < 0) return "the chosen algorithm is rejected or not a candidate";
  e->choice.source = CLNET_CONV_SOURCE_FINDDB;
  return NULL;
}

static const char *parse_entry(const char *line, void *entry) { return parse_line(line, entry); }

static void print_line(FILE *f, const void *entry) {
  const conv_fdb_entry *e = entry;
  char g[32], d[32], w[32], w4[32];
  format_ms(g, sizeof g, e->choice.ms[0]);
  format_ms(d, sizeof d, e->choice.ms[1]);
  format_ms(w, sizeof w, e->choice.ms[2]);
  format_ms(w4, sizeof w4, e->choice.ms[3]);
  fprintf(f, "%s %d %d %d %d %d %d %d %d %s %s %s %s %s %s\n", pass_names[e->key.pass], e->key.n, e->key.h,
          e->key.w, e->key.c_in, e->key.c_out, e->key.k_h, e->key.k_w, e->key.stride,
          e->key.padding == CLNET_PADDING_SAME ? "same" : "valid", clnet_conv_algo_str(e->choice.algo), g, d, w, w4);
}

/* the rule's in-memory fallbacks are not measured choices: not written */
static int persist(const void *entry) {
  return ((const conv_fdb_entry *)entry)->choice.source != CLNET_CONV_SOURCE_RULE;
}

/* An algorithm that does not apply to the entry's shape (WINOGRAD outside 3x3 stride-1, WINOGRAD4
 * where its filter would be too large): running it would fail every time. */
static const char *stale(const void *entry, char *why, size_t cap) {
  const conv_fdb_entry *e = entry;
  const int tile = clnet_conv_algo_winograd_tile(e->choice.algo);
  const clnet_conv2d_desc d = {.n = e->key.n, .in_h = e->key.h, .in_w = e->key.w, .in_c = e->key.c_in,
                               .out_c = e->key.c_out, .k_h = e->key.k_h, .k_w = e->key.k_w, .stride = e->key.stride,
                               .padding = (clnet_padding)e->key.padding};
  if (!tile || clnet_conv2d_winograd_tile_applies(&d, (clnet_conv_pass)e->key.pass, tile)) return NULL;
  snprintf(why, cap, "%s %dx%d stride %d, %d -> %d channels names %s, which does not apply there",
           pass_names[e->key.pass], e->key.k_h, e->key.k_w, e->key.stride, e->key.c_in, e->key.c_out,
           clnet_conv_algo_str(e->choice.algo));
  return why;
}

static const char *const kernel_files[3] = {"conv2d", "conv2d_direct", "conv2d_winograd"};
_Static_assert(sizeof(conv_fdb_key) == 10 * sizeof(int32_t), "find-db keys are compared bytewise: no padding");
static const clnet_fdb_format conv_format = {
    .what = "conv find-db",
    .prefix = "conv-algos",
    .magic = "# clnet conv find-db 1",
    .columns = "# pass n h w c_in c_out kh kw stride padding algo gemm_ms direct_ms winograd_ms winograd4_ms",
    .kernel_files = kernel_files,
    .n_kernel_files = 3,
    .entry_size = sizeof(conv_fdb_entry),
    .key_size = sizeof(conv_fdb_key),
    .parse = parse_entry,
    .print = print_line,
    .persist = persist,
    .stale = stale,
};

clnet_status clnet_conv_finddb_read_file(const char *path, uint64_t kernels_hash, conv_fdb_entry **entries,
                                         int32_t *n, int32_t *stale) {
  void *list = NULL;
  clnet_status st = clnet_fdb_read_file(&conv_format, path, kernels_hash, &list, n, stale);
  *entries = list;
  return st;
}

clnet_status clnet_conv_finddb_write_file(const char *path, uint64_t kernels_hash, const char *device_line,
                                          const conv_fdb_entry *entries, int32_t n) {
  return clnet_fdb_write_file(&conv_format, path, kernels_hash, device_line, entries, n);
}

/* ---- per ctx ---------------------------------------------------------------------------- */

void clnet_conv_finddb_free(struct clnet_conv_finddb *db) {
  if (!db) return;
  clnet_fdb_release(&db->t);
  free(db);
}

void clnet_conv_finddb_note(struct clnet_conv_finddb *db, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(db->last_note, sizeof db->last_note, fmt, ap);
  va_end(ap);
  if (db->note_fn) db->note_fn(db->note_user, db->last_note);
}

static void table_note(void *user, const char *line) { clnet_conv_finddb_note(user, "%s", line); }

clnet_status clnet_conv_finddb_state(clnet_ctx *ctx, struct clnet_conv_finddb **out) {
  if (!ctx->conv_finddb) {
    ctx->conv_finddb = calloc(1, sizeof *ctx->conv_finddb);
    if (!ctx->conv_finddb) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "conv2d: find-db state");
    ctx->conv_finddb->t.fmt = &conv_format;
    ctx->conv_finddb->t.note = table_note;
    ctx->conv_finddb->t.note_user = ctx->conv_finddb;
  }
  *out = ctx->conv_finddb;
  return CLNET_SUCCESS;
}

clnet_status clnet_conv_finddb_open(clnet_ctx *ctx, struct clnet_conv_finddb **out) {
  CLNET_TRY(clnet_conv_finddb_state(ctx, out));
  return clnet_fdb_open(&(*out)->t, &conv_format, ctx);
}

conv_fdb_entry *clnet_conv_finddb_find(struct clnet_conv_finddb *db, const conv_fdb_key *key) {
  return clnet_fdb_find(&db->t, key);
}

clnet_status clnet_conv_finddb_add(struct clnet_conv_finddb *db, const conv_fdb_entry *e, conv_fdb_entry **out) {
  void *p = NULL;
  CLNET_TRY(clnet_fdb_add(&db->t, e, &p));
  if (out) *out = p;
  return CLNET_SUCCESS;
}

clnet_status clnet_conv_finddb_commit(struct clnet_conv_finddb *db, const conv_fdb_entry *e, conv_fdb_entry **out,
                                      int32_t *persisted) {
  void *p = NULL;
  CLNET_TRY(clnet_fdb_commit(&db->t, e, &p, persisted));
  if (*persisted) *out = p;
  return CLNET_SUCCESS;
}
