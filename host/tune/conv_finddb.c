/* The conv find-db: AUTO's remembered choices, in memory per ctx and on disk per device.
 * Format: conv_finddb.h; the file's rules and locking: finddb.h. */
#include "tune/conv_algo.h"
#include "tune/conv_finddb.h"
#include "ops/conv_winograd.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const pass_names[3] = {"forward", "backward-data", "backward-filter"};

conv_fdb_key clnet_conv_fdb_key(const clnet_conv2d_desc *d, clnet_pass pass) {
  const int ex = d->padding == CLNET_PADDING_EXPLICIT;
  return (conv_fdb_key){.pass = (int32_t)pass, .n = d->n, .h = d->in_h, .w = d->in_w, .c_in = d->in_c,
                        .c_out = d->out_c, .k_h = d->k_h, .k_w = d->k_w, .stride_h = clnet_conv2d_stride_h(d),
                        .padding = (int32_t)d->padding, .stride_w = clnet_conv2d_stride_w(d),
                        .dilation_h = clnet_conv2d_dilation_h(d), .dilation_w = clnet_conv2d_dilation_w(d),
                        .groups = clnet_conv2d_groups(d), .pad_top = ex ? d->pad_top : 0,
                        .pad_left = ex ? d->pad_left : 0, .pad_bottom = ex ? d->pad_bottom : 0,
                        .pad_right = ex ? d->pad_right : 0};
}

/* ---- the conv kind of entry (finddb.h) ------------------------------------------------------ */

/* the time fields, as every find-db writes them (finddb.h) */
static int parse_ms(const char *s, double *out) { return clnet_fdb_parse_ms(s, out); }
static void format_ms(char *dst, size_t cap, double ms) { clnet_fdb_format_ms(dst, cap, ms); }

/* A size field: an integer in lo..2^24 (no sign, nothing after it); 1 on success. */
static int parse_size(const char *s, int32_t lo, int32_t *out) {
  if (*s < '0' || *s > '9') return 0;
  long v = 0;
  for (; *s >= '0' && *s <= '9'; ++s)
    if ((v = v * 10 + (*s - '0')) > (1 << 24)) return 0;
  if (*s || v < lo) return 0;
  *out = (int32_t)v;
  return 1;
}

/* "A,B[,...]": exactly n sizes in lo..2^24; 1 on success. */
static int parse_sizes(const char *s, int32_t n, int32_t lo, int32_t *out) {
  char buf[64];
  if (strlen(s) >= sizeof buf) return 0;
  strcpy(buf, s);
  char *p = buf;
  for (int32_t i = 0; i < n; ++i) {
    char *comma = strchr(p, ',');
    if ((comma != NULL) != (i + 1 < n)) return 0;
    if (comma) *comma = '\0';
    if (!parse_size(p, lo, &out[i])) return 0;
    if (comma) p = comma + 1; /* the last size has no comma after it */
  }
  return 1;
}

#define LINE_FIELDS 24 /* 11 key and algo fields, up to 5 times, up to 4 geometry words, and one more */

/* One entry line; returns NULL or what is wrong with it. Fields are separated by blanks. The
 * winograd_ms, winograd4_ms and depthwise_ms fields are optional (files written before those
 * algorithms existed have 13 or 14 fields): missing, or "-", means not a candidate (-2). */
static const char *parse_line(const char *line, conv_fdb_entry *e) {
  char buf[512];
  const char *f[LINE_FIELDS];
  int nf = 0;
  if (strlen(line) >= sizeof buf) return "line too long";
  strcpy(buf, line);
  for (char *p = buf;;) {
    while (*p == ' ' || *p == '\t') *p++ = '\0';
    if (!*p) break;
    if (nf == LINE_FIELDS) return "too many fields";
    f[nf++] = p;
    while (*p && *p != ' ' && *p != '\t') ++p;
  }
  int n_pos = 0; /* the positional fields: everything before the first geometry word */
  while (n_pos < nf && !strchr(f[n_pos], '=')) ++n_pos;
  if (n_pos < 13 || n_pos > 16)
    return "expected 13 to 16 fields: pass n h w c_in c_out kh kw stride padding algo gemm_ms direct_ms "
           "[winograd_ms [winograd4_ms [depthwise_ms]]], then the geometry words";
  memset(e, 0, sizeof *e);
  e->key.pass = -1;
  for (int32_t i = 0; i < 3; ++i)
    if (!strcmp(f[0], pass_names[i])) e->key.pass = i;
  if (e->key.pass < 0) return "pass must be forward, backward-data or backward-filter";
  int32_t v[8];
  for (int32_t i = 0; i < 8; ++i)
    if (!parse_size(f[1 + i], 1, &v[i])) return "sizes must be in 1..2^24";
  e->key.n = v[0], e->key.h = v[1], e->key.w = v[2], e->key.c_in = v[3], e->key.c_out = v[4];
  e->key.k_h = v[5], e->key.k_w = v[6], e->key.stride_h = e->key.stride_w = v[7];
  e->key.dilation_h = e->key.dilation_w = e->key.groups = 1;
  if (!strcmp(f[9], "valid")) e->key.padding = CLNET_PADDING_VALID;
  else if (!strcmp(f[9], "same")) e->key.padding = CLNET_PADDING_SAME;
  else if (!strcmp(f[9], "explicit")) e->key.padding = CLNET_PADDING_EXPLICIT;
  else return "padding must be valid, same or explicit";
  if (clnet_conv_algo_parse(f[10], &e->choice.algo) != CLNET_SUCCESS || clnet_conv_algo_slot(e->choice.algo) < 0)
    return "algo must be gemm, direct, winograd, winograd4 or depthwise";
  for (int k = 0; k < CLNET_CONV_ALGO_SLOTS; ++k) {
    const char *t = 11 + k < n_pos ? f[11 + k] : "-";
    if (!strcmp(t, "-")) e->choice.ms[k] = -2; /* not timed: does not apply, or cannot win here */
    else if (!parse_ms(t, &e->choice.ms[k])) return "times must be milliseconds >= 0, 'rejected' or '-'";
  }
  int seen_stride = 0, seen_dil = 0, seen_groups = 0, seen_pads = 0;
  for (int i = n_pos; i < nf; ++i) {
    const char *eq = strchr(f[i], '=');
    if (!eq) return "a time after the geometry words";
    int32_t pair[4];
    if (!strncmp(f[i], "stride=", 7)) {
      if (seen_stride++ || !parse_sizes(eq + 1, 2, 1, pair) || pair[0] != e->key.stride_h || pair[1] == pair[0])
        return "stride=SH,SW: once, SH the stride column, SW different";
      e->key.stride_w = pair[1];
    } else if (!strncmp(f[i], "dilation=", 9)) {
      if (seen_dil++ || !parse_sizes(eq + 1, 2, 1, pair) || (pair[0] == 1 && pair[1] == 1))
        return "dilation=DH,DW: once, not 1,1";
      e->key.dilation_h = pair[0], e->key.dilation_w = pair[1];
    } else if (!strncmp(f[i], "groups=", 7)) {
      if (seen_groups++ || !parse_size(eq + 1, 2, &e->key.groups) || e->key.c_in % e->key.groups ||
          e->key.c_out % e->key.groups)
        return "groups=G: once, G >= 2 dividing c_in and c_out";
    } else if (!strncmp(f[i], "pads=", 5)) {
      if (seen_pads++ || e->key.padding != CLNET_PADDING_EXPLICIT || !parse_sizes(eq + 1, 4, 0, pair))
        return "pads=T,L,B,R: once, with padding explicit";
      e->key.pad_top = pair[0], e->key.pad_left = pair[1], e->key.pad_bottom = pair[2], e->key.pad_right = pair[3];
    } else {
      return "geometry words are stride=, dilation=, groups= and pads=";
    }
  }
  if (e->key.padding == CLNET_PADDING_EXPLICIT && !seen_pads) return "padding explicit needs pads=T,L,B,R";
  if (e->choice.ms[clnet_conv_algo_slot(e->choice.algo)] < 0) return "the chosen algorithm is rejected or not a candidate";
  e->choice.source = CLNET_ALGO_SOURCE_FINDDB;
  return NULL;
}

static const char *parse_entry(const char *line, void *entry) { return parse_line(line, entry); }

static void print_line(FILE *f, const void *entry) {
  const conv_fdb_entry *e = entry;
  const conv_fdb_key *k = &e->key;
  static const char *const pad_names[3] = {"valid", "same", "explicit"};
  fprintf(f, "%s %d %d %d %d %d %d %d %d %s %s", pass_names[k->pass], k->n, k->h, k->w, k->c_in, k->c_out, k->k_h,
          k->k_w, k->stride_h, pad_names[k->padding], clnet_conv_algo_str(e->choice.algo));
  for (int s = 0; s < CLNET_CONV_ALGO_SLOTS; ++s) {
    char ms[32];
    format_ms(ms, sizeof ms, e->choice.ms[s]);
    fprintf(f, " %s", ms);
  }
  if (k->stride_w != k->stride_h) fprintf(f, " stride=%d,%d", k->stride_h, k->stride_w);
  if (k->dilation_h != 1 || k->dilation_w != 1) fprintf(f, " dilation=%d,%d", k->dilation_h, k->dilation_w);
  if (k->groups != 1) fprintf(f, " groups=%d", k->groups);
  if (k->padding == CLNET_PADDING_EXPLICIT)
    fprintf(f, " pads=%d,%d,%d,%d", k->pad_top, k->pad_left, k->pad_bottom, k->pad_right);
  fputc('\n', f);
}

/* the rule's in-memory fallbacks are not measured choices: not written */
static int persist(const void *entry) {
  return ((const conv_fdb_entry *)entry)->choice.source != CLNET_ALGO_SOURCE_RULE;
}

/* An algorithm that does not apply to the entry's geometry (a hand-edited file, or one from another
 * version: WINOGRAD outside 3x3 stride-1 ungrouped, DEPTHWISE on a dense conv): running it would fail
 * every time, so the entry is stale and its shape is timed again. */
static const char *stale(const void *entry, char *why, size_t cap) {
  const conv_fdb_entry *e = entry;
  const conv_fdb_key *k = &e->key;
  clnet_conv2d_desc d = {.n = k->n, .in_h = k->h, .in_w = k->w, .in_c = k->c_in, .out_c = k->c_out, .k_h = k->k_h,
                         .k_w = k->k_w, .stride = k->stride_h, .padding = (clnet_padding)k->padding,
                         .stride_h = k->stride_h, .stride_w = k->stride_w, .dilation_h = k->dilation_h,
                         .dilation_w = k->dilation_w, .groups = k->groups, .pad_top = k->pad_top,
                         .pad_bottom = k->pad_bottom, .pad_left = k->pad_left, .pad_right = k->pad_right};
  if (clnet_conv2d_desc_init(&d) != CLNET_SUCCESS ||
      clnet_conv2d_algo_applies(&d, (clnet_pass)k->pass, e->choice.algo))
    return NULL;
  snprintf(why, cap, "%s %dx%d stride %d, %d -> %d channels (%d groups) names %s, which does not apply there",
           pass_names[k->pass], k->k_h, k->k_w, k->stride_h, k->c_in, k->c_out, k->groups,
           clnet_conv_algo_str(e->choice.algo));
  return why;
}

static const char *const kernel_files[4] = {"conv2d", "conv2d_direct", "conv2d_winograd", "conv2d_depthwise"};
_Static_assert(sizeof(conv_fdb_key) == 18 * sizeof(int32_t), "find-db keys are compared bytewise: no padding");
static const clnet_fdb_format conv_format = {
    .what = "conv find-db",
    .prefix = "conv-algos",
    .magic = "# clnet conv find-db 1",
    .columns = "# pass n h w c_in c_out kh kw stride padding algo gemm_ms direct_ms winograd_ms winograd4_ms "
               "depthwise_ms [stride=SH,SW] [dilation=DH,DW] [groups=G] [pads=T,L,B,R]",
    .kernel_files = kernel_files,
    .n_kernel_files = 4,
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

static void finddb_free(void *p) {
  struct clnet_conv_finddb *db = p;
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

static const clnet_ctx_state_key state_key = {"conv2d: find-db state"};

struct clnet_conv_finddb *clnet_conv_finddb_peek(const clnet_ctx *ctx) { return clnet_ctx_state_get(ctx, &state_key); }

clnet_status clnet_conv_finddb_state(clnet_ctx *ctx, struct clnet_conv_finddb **out) {
  void *p = NULL;
  int32_t created = 0;
  CLNET_TRY(clnet_ctx_state_obtain(ctx, &state_key, sizeof **out, finddb_free, &p, &created));
  struct clnet_conv_finddb *db = p;
  if (created) {
    db->t.fmt = &conv_format;
    db->t.note = table_note;
    db->t.note_user = db;
  }
  *out = db;
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
