/* AUTO's conv algorithm choice: the find-db file round trip, corrupt files, a wrong candidate
 * rejected by the reference check, the rule without a cache, and two processes sharing a cache
 * directory choosing the same algorithms. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clnet/ops.h"
#include "tune/conv_algo.h"
#include "tune/conv_finddb.h"
#include "runtime/ctx.h"

static char tmpdir[256];

static void make_tmp(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/clnet-convalgo-XXXXXX");
  cr_assert_not_null(mkdtemp(tmpdir));
  setenv("CLNET_CACHE_DIR", tmpdir, 1);
  unsetenv("CLNET_NO_CACHE");
  unsetenv("CLNET_CONV_ALGO");
  /* these tests are about AUTO's checking and timing of every candidate; which candidates a CPU
   * device times by default is cpu_devices_do_not_time_clblast's */
  setenv("CLNET_TUNE_ALL", "1", 1);
}


static clnet_conv2d_desc small_desc(void) {
  clnet_conv2d_desc d = {.n = 3, .in_h = 8, .in_w = 8, .in_c = 4, .out_c = 8, .k_h = 3, .k_w = 3, .stride = 1,
                         .padding = CLNET_PADDING_SAME, .has_bias = 1};
  cr_assert_eq(clnet_conv2d_desc_init(&d), CLNET_SUCCESS);
  return d;
}

static clnet_ctx *open_ctx(void) {
  clnet_ctx *ctx = NULL;
  cr_assert_eq(clnet_ctx_create(NULL, &ctx), CLNET_SUCCESS, "%s", clnet_last_error());
  return ctx;
}

static void last_line(void *user, const char *line) { snprintf(user, 1024, "%s", line); }

/* The key of a conv (clnet_conv_fdb_key): the effective strides, dilations and groups. */
static conv_fdb_key key_of(int32_t pass, clnet_conv2d_desc d) {
  cr_assert_eq(clnet_conv2d_desc_init(&d), CLNET_SUCCESS, "%s", clnet_last_error());
  return clnet_conv_fdb_key(&d, (clnet_pass)pass);
}

Test(finddb, file_round_trip, .init = make_tmp) {
  conv_fdb_entry in[6];
  memset(in, 0, sizeof in);
  in[0].key = key_of(0, (clnet_conv2d_desc){.n = 256, .in_h = 28, .in_w = 28, .in_c = 1, .out_c = 16, .k_h = 3,
                                            .k_w = 3, .stride = 1, .padding = CLNET_PADDING_VALID});
  in[0].choice = (clnet_conv_algo_choice){.algo = CLNET_CONV_ALGO_WINOGRAD, .ms = {41.25, 3.5, 2.25, -1, -2}};
  in[1].key = key_of(2, (clnet_conv2d_desc){.n = 64, .in_h = 4, .in_w = 4, .in_c = 512, .out_c = 512, .k_h = 3,
                                            .k_w = 3, .stride = 1, .padding = CLNET_PADDING_SAME});
  in[1].choice = (clnet_conv_algo_choice){.algo = CLNET_CONV_ALGO_WINOGRAD4, .ms = {15.125, -1, -1, 4.5, -2}};
  in[2].key = key_of(1, (clnet_conv2d_desc){.n = 7, .in_h = 9, .in_w = 5, .in_c = 3, .out_c = 2, .k_h = 1, .k_w = 2,
                                            .stride = 2, .padding = CLNET_PADDING_SAME});
  in[2].choice = (clnet_conv_algo_choice){.algo = CLNET_CONV_ALGO_GEMM, .ms = {0.5, 0.75, -2, -2, -2}};
  /* the geometry words: a depthwise conv with explicit pads, a grouped dilated one with
   * rectangular strides, a dilated one */
  in[3].key = key_of(0, (clnet_conv2d_desc){.n = 64, .in_h = 32, .in_w = 32, .in_c = 96, .out_c = 96, .k_h = 3,
                                            .k_w = 3, .stride = 2, .padding = CLNET_PADDING_EXPLICIT, .groups = 96,
                                            .pad_top = 1, .pad_bottom = 0, .pad_left = 1, .pad_right = 2});
  in[3].choice = (clnet_conv_algo_choice){.algo = CLNET_CONV_ALGO_DEPTHWISE, .ms = {-2, -2, -2, -2, 0.875}};
  in[4].key = key_of(2, (clnet_conv2d_desc){.n = 2, .in_h = 13, .in_w = 11, .in_c = 6, .out_c = 9, .k_h = 1,
                                            .k_w = 7, .stride_h = 1, .stride_w = 2, .dilation_h = 2, .dilation_w = 1,
                                            .groups = 3, .padding = CLNET_PADDING_SAME});
  in[4].choice = (clnet_conv_algo_choice){.algo = CLNET_CONV_ALGO_GEMM, .ms = {2.5, -2, -2, -2, -2}};
  in[5].key = key_of(1, (clnet_conv2d_desc){.n = 1, .in_h = 7, .in_w = 7, .in_c = 4, .out_c = 4, .k_h = 3, .k_w = 3,
                                            .stride = 1, .dilation_h = 2, .dilation_w = 2, .padding = CLNET_PADDING_VALID});
  in[5].choice = (clnet_conv_algo_choice){.algo = CLNET_CONV_ALGO_DIRECT, .ms = {-2, 0.25, -2, -2, -2}};
  char path[512];
  snprintf(path, sizeof path, "%s/db.txt", tmpdir);
  cr_assert_eq(clnet_conv_finddb_write_file(path, 0x1234abcdull, "device: test", in, 6), CLNET_SUCCESS, "%s",
               clnet_last_error());
  conv_fdb_entry *out = NULL;
  int32_t n = 0, stale = 1;
  cr_assert_eq(clnet_conv_finddb_read_file(path, 0x1234abcdull, &out, &n, &stale), CLNET_SUCCESS, "%s",
               clnet_last_error());
  cr_assert_eq(stale, 0);
  cr_assert_eq(n, 6);
  for (int i = 0; i < 6; ++i) {
    cr_assert(!memcmp(&out[i].key, &in[i].key, sizeof in[i].key), "entry %d: key differs after the round trip", i);
    cr_assert_eq(out[i].choice.algo, in[i].choice.algo, "entry %d", i);
    cr_assert_eq(out[i].choice.source, CLNET_ALGO_SOURCE_FINDDB);
    for (int k = 0; k < CLNET_CONV_ALGO_SLOTS; ++k)
      cr_assert_float_eq(out[i].choice.ms[k], in[i].choice.ms[k], 1e-9, "entry %d ms[%d]", i, k);
  }
  free(out);
  /* lines without winograd_ms, winograd4_ms or depthwise_ms and without geometry words (written
   * before those existed) read as "not a candidate", with the keys of today's descs for those convs */
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs("# clnet conv find-db 1\n# kernels: 000000001234abcd\nforward 1 8 8 4 8 3 3 1 valid direct 1.0 2.0\n"
        "backward-data 1 8 8 4 8 3 3 1 valid winograd 1.0 2.0 0.5\n"
        "backward-filter 2 9 7 4 8 3 3 2 same winograd4 1.0 2.0 - 0.5\n", f);
  fclose(f);
  cr_assert_eq(clnet_conv_finddb_read_file(path, 0x1234abcdull, &out, &n, &stale), CLNET_SUCCESS, "%s",
               clnet_last_error());
  cr_assert_eq(n, 3);
  cr_assert_float_eq(out[0].choice.ms[2], -2, 1e-9);
  cr_assert_float_eq(out[0].choice.ms[3], -2, 1e-9);
  cr_assert_float_eq(out[1].choice.ms[2], 0.5, 1e-9);
  cr_assert_float_eq(out[1].choice.ms[3], -2, 1e-9);
  for (int i = 0; i < 3; ++i) cr_assert_float_eq(out[i].choice.ms[4], -2, 1e-9, "entry %d: no depthwise time", i);
  const clnet_conv2d_desc old = {.n = 1, .in_h = 8, .in_w = 8, .in_c = 4, .out_c = 8, .k_h = 3, .k_w = 3, .stride = 1,
                                 .padding = CLNET_PADDING_VALID};
  const conv_fdb_key k0 = key_of(0, old), k1 = key_of(1, old);
  const conv_fdb_key k2 = key_of(2, (clnet_conv2d_desc){.n = 2, .in_h = 9, .in_w = 7, .in_c = 4, .out_c = 8, .k_h = 3,
                                                        .k_w = 3, .stride = 2, .padding = CLNET_PADDING_SAME});
  cr_assert(!memcmp(&out[0].key, &k0, sizeof k0), "an old line reads as today's key");
  cr_assert(!memcmp(&out[1].key, &k1, sizeof k1), "an old line reads as today's key");
  cr_assert(!memcmp(&out[2].key, &k2, sizeof k2), "an old line reads as today's key");
  free(out);
  /* other kernels: stale, no entries, no error */
  cr_assert_eq(clnet_conv_finddb_read_file(path, 0x999ull, &out, &n, &stale), CLNET_SUCCESS);
  cr_assert_eq(stale, 1);
  cr_assert_eq(n, 0);
  cr_assert_null(out);
}

/* Each way a file can be broken is rejected with the file and line named. */
Test(finddb, corrupt_files_are_rejected, .init = make_tmp) {
  static const char *const bodies[] = {
      "",
      "not a find-db\n",
      "# clnet conv find-db 1\n# kernels: 00000000000000ab\nforward 1 2 3\n",
      "# clnet conv find-db 1\n# kernels: 00000000000000ab\nforward 1 8 8 4 8 3 3 1 valid direct 1.0 2.0",
      "# clnet conv find-db 1\n# kernels: 00000000000000ab\nsideways 1 8 8 4 8 3 3 1 valid direct 1.0 2.0\n",
      "# clnet conv find-db 1\n# kernels: 00000000000000ab\nforward 0 8 8 4 8 3 3 1 valid direct 1.0 2.0\n",
      "# clnet conv find-db 1\n# kernels: 00000000000000ab\nforward 1 8 8 4 8 3 3 1 valid direct 1.0 rejected\n",
      "# clnet conv find-db 1\n# kernels: 00000000000000ab\nforward 1 8 8 4 8 3 3 1 valid direct nan 2.0\n",
      "# clnet conv find-db 1\n# kernels: 00000000000000ab\nforward 1 8 8 4 8 3 3 1 valid direct 1 2\n"
      "forward 1 8 8 4 8 3 3 1 valid gemm 1 2\n",
      "# clnet conv find-db 1\nforward 1 8 8 4 8 3 3 1 valid direct 1 2\n",
      "# clnet conv find-db 1\n# kernels: 00000000000000ab\nforward 1 8 8 4 8 3 3 1 valid winograd 1 2 -\n",
      "# clnet conv find-db 1\n# kernels: 00000000000000ab\nforward 1 8 8 4 8 3 3 1 valid direct 1 2 3 4 5 6\n",
      /* geometry words: unknown, repeated, inconsistent, or pads without explicit padding */
      "# clnet conv find-db 1\n# kernels: 00000000000000ab\nforward 1 8 8 4 8 3 3 1 valid direct 1 2 - - - warp=1\n",
      "# clnet conv find-db 1\n# kernels: 00000000000000ab\nforward 1 8 8 4 8 3 3 1 valid gemm 1 - - - - groups=2 "
      "groups=2\n",
      "# clnet conv find-db 1\n# kernels: 00000000000000ab\nforward 1 8 8 4 8 3 3 1 valid gemm 1 - - - - groups=3\n",
      "# clnet conv find-db 1\n# kernels: 00000000000000ab\nforward 1 8 8 4 8 3 3 2 valid direct 1 2 - - - "
      "stride=1,2\n",
      "# clnet conv find-db 1\n# kernels: 00000000000000ab\nforward 1 8 8 4 8 3 3 1 valid direct 1 2 - - - "
      "pads=1,1,1,1\n",
      "# clnet conv find-db 1\n# kernels: 00000000000000ab\nforward 1 8 8 4 8 3 3 1 explicit direct 1 2 - - -\n",
      "# clnet conv find-db 1\n# kernels: 00000000000000ab\nforward 1 8 8 4 8 3 3 1 valid direct 1 2 - - - "
      "dilation=1,1\n",
      "# clnet conv find-db 1\n# kernels: 00000000000000ab\nforward 1 8 8 4 4 3 3 1 valid depthwise 1 2 - - -\n",
      "# clnet conv find-db 1\n# kernels: 00000000000000ab\nforward 1 8 8 4 8 3 3 1 valid winograd4 1 2 3 -\n",
  };
  char path[512];
  snprintf(path, sizeof path, "%s/bad.txt", tmpdir);
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; ++i) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(bodies[i], f);
    fclose(f);
    conv_fdb_entry *out = NULL;
    int32_t n = 0, stale = 0;
    cr_assert_eq(clnet_conv_finddb_read_file(path, 0xab, &out, &n, &stale), CLNET_ERR_FORMAT,
                 "body %zu must be rejected", i);
    cr_assert(strstr(clnet_last_error(), path), "body %zu: the message must name the file: %s", i,
              clnet_last_error());
    cr_assert_null(out);
  }
}

/* Timed in one ctx, read back from the file by the next; a corrupt file is noted and rewritten. */
Test(finddb, timed_choice_is_stored_reread_and_survives_corruption, .init = make_tmp) {
  const clnet_conv2d_desc d = small_desc();
  clnet_ctx *ctx = open_ctx();
  clnet_conv_algo_choice first[3];
  for (int p = 0; p < 3; ++p) {
    cr_assert_eq(clnet_conv2d_algo_choice(ctx, &d, (clnet_pass)p, &first[p]), CLNET_SUCCESS, "%s",
                 clnet_last_error());
    cr_assert_eq(first[p].source, CLNET_ALGO_SOURCE_TIMED, "pass %d: a fresh cache must be timed", p);
    cr_assert(first[p].ms[0] >= 0 && first[p].ms[1] >= 0, "pass %d: gemm and direct pass and are timed", p);
    /* a 3x3 stride-1 conv: both Winograd algorithms are candidates for every pass */
    cr_assert(first[p].ms[2] >= 0, "pass %d: winograd passes and is timed", p);
    cr_assert(first[p].ms[3] >= 0, "pass %d: winograd4 passes and is timed", p);
    int fastest = 0;
    for (int k = 1; k < CLNET_CONV_ALGO_SLOTS; ++k)
      if (first[p].ms[k] >= 0 && first[p].ms[k] < first[p].ms[fastest]) fastest = k;
    static const clnet_conv_algo by_slot[CLNET_CONV_ALGO_SLOTS] = {CLNET_CONV_ALGO_GEMM, CLNET_CONV_ALGO_DIRECT,
                                                                  CLNET_CONV_ALGO_WINOGRAD, CLNET_CONV_ALGO_WINOGRAD4};
    cr_assert(first[p].algo == by_slot[fastest] || first[p].ms[clnet_conv_algo_slot(first[p].algo)] == first[p].ms[fastest],
              "pass %d: the fastest one is chosen", p);
  }
  cr_assert_eq(clnet_conv_algo_get_stats(ctx).timed, 3);
  char path[4600];
  clnet_conv_algo_db_path(ctx, path, sizeof path);
  cr_assert(!strncmp(path, tmpdir, strlen(tmpdir)), "the find-db lives in CLNET_CACHE_DIR: %s", path);
  cr_assert_eq(access(path, R_OK), 0, "%s must exist", path);
  clnet_ctx_free(ctx);

  ctx = open_ctx();
  for (int p = 0; p < 3; ++p) {
    clnet_conv_algo_choice c;
    cr_assert_eq(clnet_conv2d_algo_choice(ctx, &d, (clnet_pass)p, &c), CLNET_SUCCESS, "%s", clnet_last_error());
    cr_assert_eq(c.source, CLNET_ALGO_SOURCE_FINDDB, "pass %d: a second process must read the find-db", p);
    cr_assert_eq(c.algo, first[p].algo, "pass %d", p);
    for (int k = 0; k < CLNET_CONV_ALGO_SLOTS; ++k)
      cr_assert_float_eq(c.ms[k], first[p].ms[k], 1e-3, "pass %d ms[%d]", p, k);
  }
  cr_assert_eq(clnet_conv_algo_get_stats(ctx).timed, 0);
  clnet_ctx_free(ctx);

  FILE *f = fopen(path, "a");
  cr_assert_not_null(f);
  fputs("forward 3 8 8 4 8 3 3 1 same direct fast slow\n", f);
  fclose(f);
  ctx = open_ctx();
  char note[1024] = "";
  clnet_ctx_set_algo_note_fn(ctx, last_line, note);
  clnet_conv_algo_choice c;
  cr_assert_eq(clnet_conv2d_algo_choice(ctx, &d, CLNET_PASS_FORWARD, &c), CLNET_SUCCESS, "%s",
               clnet_last_error());
  cr_assert_eq(c.source, CLNET_ALGO_SOURCE_TIMED, "a corrupt find-db must not be trusted");
  cr_assert(strstr(note, path) && strstr(note, "ignored"), "the note must name the file: '%s'", note);
  cr_assert_str_eq(clnet_algo_last_note(ctx), note);
  clnet_ctx_free(ctx);
  conv_fdb_entry *out = NULL;
  int32_t n = 0, stale = 0;
  FILE *g = fopen(path, "r");
  cr_assert_not_null(g);
  char l1[128], l2[1024], l3[128];
  cr_assert_not_null(fgets(l1, sizeof l1, g));
  cr_assert_not_null(fgets(l2, sizeof l2, g));
  cr_assert_not_null(fgets(l3, sizeof l3, g));
  fclose(g);
  unsigned long long kh = 0;
  cr_assert_eq(sscanf(l3, "# kernels: %llx", &kh), 1, "%s", l3);
  cr_assert_eq(clnet_conv_finddb_read_file(path, kh, &out, &n, &stale), CLNET_SUCCESS,
               "the rewritten file must be valid: %s", clnet_last_error());
  cr_assert_eq(n, 1, "only the entry timed again");
  free(out);
}

/* A candidate whose output is wrong is never chosen, and the rejection is noted and stored. */
Test(finddb, wrong_candidate_is_rejected, .init = make_tmp) {
  const clnet_conv2d_desc d = small_desc();
  static const int bads[4] = {CLNET_CONV_ALGO_GEMM, CLNET_CONV_ALGO_DIRECT, CLNET_CONV_ALGO_WINOGRAD,
                              CLNET_CONV_ALGO_WINOGRAD4};
  for (int bi = 0; bi < 4; ++bi) {
    const int bad = bads[bi];
    const int n_rejected = 3;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/%d", tmpdir, bad);
    setenv("CLNET_CACHE_DIR", dir, 1);
    clnet_ctx *ctx = open_ctx();
    char note[1024] = "";
    clnet_ctx_set_algo_note_fn(ctx, last_line, note);
    clnet_conv_algo_test_sabotage(ctx, (clnet_conv_algo)bad);
    for (int p = 0; p < n_rejected; ++p) {
      clnet_conv_algo_choice c;
      cr_assert_eq(clnet_conv2d_algo_choice(ctx, &d, (clnet_pass)p, &c), CLNET_SUCCESS, "%s",
                   clnet_last_error());
      cr_assert_neq(c.algo, bad, "pass %d: the wrong %s was chosen", p, clnet_conv_algo_str((clnet_conv_algo)bad));
      cr_assert_eq(c.ms[clnet_conv_algo_slot((clnet_conv_algo)bad)], -1, "pass %d: the rejection is recorded", p);
      cr_assert(strstr(note, "fails the reference check") && strstr(note, clnet_conv_algo_str((clnet_conv_algo)bad)),
                "pass %d: note '%s'", p, note);
    }
    cr_assert_eq(clnet_conv_algo_get_stats(ctx).rejected, n_rejected);
    /* the real op still runs, with the other algorithm */
    clnet_buf x, w, b, y;
    cr_assert_eq(clnet_buf_alloc(ctx, (size_t)d.n * 8 * 8 * 4 * 4, "x", &x), CLNET_SUCCESS);
    cr_assert_eq(clnet_buf_alloc(ctx, 3 * 3 * 4 * 8 * 4, "w", &w), CLNET_SUCCESS);
    cr_assert_eq(clnet_buf_alloc(ctx, 8 * 4, "b", &b), CLNET_SUCCESS);
    cr_assert_eq(clnet_buf_alloc(ctx, (size_t)d.n * 8 * 8 * 8 * 4, "y", &y), CLNET_SUCCESS);
    cr_assert_eq(clnet_buf_fill(ctx, &x, 0, x.bytes, 0x3f800000u), CLNET_SUCCESS);
    cr_assert_eq(clnet_buf_fill(ctx, &w, 0, w.bytes, 0x3f800000u), CLNET_SUCCESS);
    cr_assert_eq(clnet_buf_fill(ctx, &b, 0, b.bytes, 0), CLNET_SUCCESS);
    cr_assert_eq(clnet_conv2d_forward(ctx, &d, &x, &w, &b, &y), CLNET_SUCCESS, "%s", clnet_last_error());
    float centre = 0;
    cr_assert_eq(clnet_buf_read(ctx, &y, (size_t)(3 * 8 + 3) * 8 * 4, 4, &centre), CLNET_SUCCESS);
    cr_assert_float_eq(centre, 36.0f, 1e-4, "an interior output of all-ones data is 3*3*4 = 36");
    clnet_buf *bufs[] = {&x, &w, &b, &y};
    for (int i = 0; i < 4; ++i) clnet_buf_free(ctx, bufs[i]);
    clnet_ctx_free(ctx);
  }
}

Test(finddb, no_cache_means_the_rule, .init = make_tmp) {
  setenv("CLNET_NO_CACHE", "1", 1);
  const clnet_conv2d_desc d = small_desc();
  clnet_ctx *ctx = open_ctx();
  clnet_conv_algo_choice c;
  cr_assert_eq(clnet_conv2d_algo_choice(ctx, &d, CLNET_PASS_FORWARD, &c), CLNET_SUCCESS, "%s",
               clnet_last_error());
  cr_assert_eq(c.source, CLNET_ALGO_SOURCE_RULE);
  char path[64] = "x";
  clnet_conv_algo_db_path(ctx, path, sizeof path);
  cr_assert_str_eq(path, "");
  clnet_ctx_free(ctx);
  /* a forced algorithm is reported as forced */
  unsetenv("CLNET_NO_CACHE");
  ctx = open_ctx();
  cr_assert_eq(clnet_ctx_set_conv_algo(ctx, CLNET_CONV_ALGO_GEMM), CLNET_SUCCESS);
  cr_assert_eq(clnet_conv2d_algo_choice(ctx, &d, CLNET_PASS_FORWARD, &c), CLNET_SUCCESS);
  cr_assert_eq(c.source, CLNET_ALGO_SOURCE_FORCED);
  cr_assert_eq(c.algo, CLNET_CONV_ALGO_GEMM);
  /* winograd forced: forced where it applies (3x3 stride 1); elsewhere auto's choice, with a note */
  char note[1024] = "";
  clnet_ctx_set_algo_note_fn(ctx, last_line, note);
  cr_assert_eq(clnet_ctx_set_conv_algo(ctx, CLNET_CONV_ALGO_WINOGRAD), CLNET_SUCCESS);
  cr_assert_eq(clnet_conv2d_algo_choice(ctx, &d, CLNET_PASS_BACKWARD_FILTER, &c), CLNET_SUCCESS);
  cr_assert_eq(c.source, CLNET_ALGO_SOURCE_FORCED);
  cr_assert_eq(c.algo, CLNET_CONV_ALGO_WINOGRAD);
  clnet_conv2d_desc s2 = d;
  s2.stride = 2;
  cr_assert_eq(clnet_conv2d_desc_init(&s2), CLNET_SUCCESS);
  cr_assert_eq(clnet_conv2d_algo_choice(ctx, &s2, CLNET_PASS_FORWARD, &c), CLNET_SUCCESS, "%s",
               clnet_last_error());
  cr_assert_neq(c.algo, CLNET_CONV_ALGO_WINOGRAD);
  cr_assert_eq(c.source, CLNET_ALGO_SOURCE_TIMED, "auto's choice");
  cr_assert_eq(c.ms[2], -2, "winograd is no candidate for a stride-2 conv");
  cr_assert(strstr(note, "winograd applies only to"), "note '%s'", note);
  /* winograd4 forced: the same, and also auto's choice where its transformed filter would be too
   * large (512 x 512 channels) */
  cr_assert_eq(clnet_ctx_set_conv_algo(ctx, CLNET_CONV_ALGO_WINOGRAD4), CLNET_SUCCESS);
  cr_assert_eq(clnet_conv2d_algo_choice(ctx, &d, CLNET_PASS_FORWARD, &c), CLNET_SUCCESS);
  cr_assert_eq(c.source, CLNET_ALGO_SOURCE_FORCED);
  cr_assert_eq(c.algo, CLNET_CONV_ALGO_WINOGRAD4);
  clnet_conv2d_desc wide = d;
  wide.n = 1, wide.in_h = wide.in_w = 2, wide.in_c = wide.out_c = 512;
  cr_assert_eq(clnet_conv2d_desc_init(&wide), CLNET_SUCCESS);
  cr_assert_eq(clnet_conv2d_algo_choice(ctx, &wide, CLNET_PASS_FORWARD, &c), CLNET_SUCCESS, "%s",
               clnet_last_error());
  cr_assert_neq(c.algo, CLNET_CONV_ALGO_WINOGRAD4);
  cr_assert_eq(c.ms[3], -2, "winograd4 is no candidate at 512 x 512 channels");
  cr_assert(c.ms[2] >= 0, "winograd is");
  cr_assert(strstr(note, "winograd4 applies only to"), "note '%s'", note);
  cr_assert_eq(clnet_ctx_set_conv_algo(ctx, CLNET_CONV_ALGO_RULE), CLNET_SUCCESS);
  cr_assert_eq(clnet_conv2d_algo_choice(ctx, &d, CLNET_PASS_FORWARD, &c), CLNET_SUCCESS);
  cr_assert_eq(c.source, CLNET_ALGO_SOURCE_RULE);
  clnet_ctx_free(ctx);
}

/* The algorithm of every conv row of a `clnet bench --op conv` output ("conv2d 3x3/1 fwd
 * 12x12x3->12x12x8 direct  n4 ..."): keys[i] the label without the algorithm, algos[i] the
 * algorithm; sorted by key (the rows of a layer come longest first, which may differ). */
static int conv_rows(const char *file, char keys[][96], char algos[][16], int cap) {
  FILE *f = fopen(file, "r");
  cr_assert_not_null(f, "%s", file);
  char line[512];
  int n = 0;
  while (fgets(line, sizeof line, f) && n < cap) {
    if (strncmp(line, "conv2d ", 7)) continue;
    char *end = strstr(line, "  ");
    cr_assert_not_null(end, "%s", line);
    *end = '\0';
    char *sp = strrchr(line, ' ');
    cr_assert_not_null(sp);
    snprintf(algos[n], 16, "%s", sp + 1);
    *sp = '\0';
    snprintf(keys[n], 96, "%.95s", line);
    ++n;
  }
  fclose(f);
  for (int i = 1; i < n; ++i)
    for (int j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; --j) {
      char tk[96], ta[16];
      memcpy(tk, keys[j], 96), memcpy(keys[j], keys[j - 1], 96), memcpy(keys[j - 1], tk, 96);
      memcpy(ta, algos[j], 16), memcpy(algos[j], algos[j - 1], 16), memcpy(algos[j - 1], ta, 16);
    }
  return n;
}

/* Two processes timing the same shapes at the same time into one cache directory end with the
 * same algorithm for every shape and pass (first writer wins), and a third reads them all back. */
Test(finddb, processes_sharing_a_cache_agree, .init = make_tmp, .timeout = 600) {
  const char *cli = getenv("CLNET_CLI");
  cr_assert_not_null(cli, "CLNET_CLI must point to the clnet executable (ctest sets it)");
  const char *args = "bench --op conv --batch 4 --width 8 --input 12x12x3 --repeat 1";
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s %s > %s/a.txt 2>&1 & %s %s > %s/b.txt 2>&1 & wait; %s %s > %s/c.txt 2>&1", cli,
           args, tmpdir, cli, args, tmpdir, cli, args, tmpdir);
  cr_assert_eq(system(cmd), 0);
  static char keys[3][64][96], algos[3][64][16];
  int n[3];
  for (int r = 0; r < 3; ++r) {
    char file[512];
    snprintf(file, sizeof file, "%s/%c.txt", tmpdir, 'a' + r);
    n[r] = conv_rows(file, keys[r], algos[r], 64);
  }
  cr_assert_gt(n[0], 10, "the bench must print its conv rows");
  cr_assert_eq(n[0], n[1]);
  cr_assert_eq(n[0], n[2]);
  for (int i = 0; i < n[0]; ++i) {
    cr_assert_str_eq(keys[0][i], keys[1][i]);
    cr_assert_str_eq(keys[0][i], keys[2][i]);
    cr_assert_str_eq(algos[0][i], algos[1][i], "%s: the two concurrent processes disagree", keys[0][i]);
    cr_assert_str_eq(algos[0][i], algos[2][i], "%s: the later process disagrees", keys[0][i]);
  }
  /* the later process timed nothing: every choice came from the find-db */
  char file[512], text[1 << 15];
  snprintf(file, sizeof file, "%s/c.txt", tmpdir);
  FILE *f = fopen(file, "r");
  cr_assert_not_null(f);
  size_t got = fread(text, 1, sizeof text - 1, f);
  text[got] = '\0';
  fclose(f);
  const char *stats = strstr(text, "conv algorithms: ");
  int timed = -1, from_db = -1;
  cr_assert(stats && sscanf(stats, "conv algorithms: %d (shape, pass) timed", &timed) == 1, "%s", text);
  const char *fd = strstr(stats, " from the find-db");
  cr_assert_not_null(fd);
  while (fd > stats && fd[-1] != ' ') --fd;
  cr_assert_eq(sscanf(fd, "%d", &from_db), 1);
  cr_assert_eq(timed, 0, "the later process must read the find-db: %s", stats);
  cr_assert_gt(from_db, 10, "%s", stats);
}

/* First writer wins: an entry another process commits while this one is timing the same shape
 * is adopted, even when this process measured the other algorithm as faster. */
Test(finddb, a_concurrent_commit_is_adopted, .init = make_tmp) {
  const clnet_conv2d_desc d = small_desc();
  clnet_ctx *ctx = open_ctx();
  char path[4600];
  clnet_conv_algo_db_path(ctx, path, sizeof path); /* opens the (empty) find-db */
  cr_assert_neq(path[0], '\0');
  cr_assert_not_null(clnet_conv_finddb_peek(ctx));
  /* "another process" commits gemm, measured absurdly slow, after this one read the file */
  conv_fdb_entry other = {.key = clnet_conv_fdb_key(&d, CLNET_PASS_FORWARD),
                          .choice = {.algo = CLNET_CONV_ALGO_GEMM, .ms = {999.0, 1.0}}};
  cr_assert_eq(clnet_conv_finddb_write_file(path, clnet_conv_finddb_peek(ctx)->t.kernels_hash, "device: other process", &other, 1),
               CLNET_SUCCESS, "%s", clnet_last_error());
  clnet_conv_algo_choice c;
  cr_assert_eq(clnet_conv2d_algo_choice(ctx, &d, CLNET_PASS_FORWARD, &c), CLNET_SUCCESS, "%s",
               clnet_last_error());
  cr_assert_eq(c.source, CLNET_ALGO_SOURCE_FINDDB, "the entry committed first must be adopted");
  cr_assert_eq(c.algo, CLNET_CONV_ALGO_GEMM);
  cr_assert_float_eq(c.ms[0], 999.0, 1e-9);
  cr_assert_eq(clnet_conv_algo_get_stats(ctx).timed, 0);
  /* a pass nobody committed is timed and appended; the adopted entry stays */
  cr_assert_eq(clnet_conv2d_algo_choice(ctx, &d, CLNET_PASS_BACKWARD_DATA, &c), CLNET_SUCCESS);
  cr_assert_eq(c.source, CLNET_ALGO_SOURCE_TIMED);
  clnet_ctx_free(ctx);
  conv_fdb_entry *out = NULL;
  int32_t n = 0, stale = 0;
  clnet_ctx *probe = open_ctx();
  clnet_conv_algo_db_path(probe, path, sizeof path);
  cr_assert_eq(clnet_conv_finddb_read_file(path, clnet_conv_finddb_peek(probe)->t.kernels_hash, &out, &n, &stale), CLNET_SUCCESS);
  clnet_ctx_free(probe);
  cr_assert_eq(n, 2);
  cr_assert_eq(out[0].choice.algo, CLNET_CONV_ALGO_GEMM);
  free(out);
}

/* A cache directory that cannot be written: the timed choice could not be kept, so the rule
 * decides (the same in every process), and the note says why. */
Test(finddb, unwritable_cache_falls_back_to_the_rule, .init = make_tmp) {
  char blocker[300], dir[400];
  snprintf(blocker, sizeof blocker, "%s/a-file", tmpdir);
  FILE *f = fopen(blocker, "w");
  cr_assert_not_null(f);
  fclose(f);
  snprintf(dir, sizeof dir, "%s/cache", blocker); /* below a regular file: mkdir and open fail */
  setenv("CLNET_CACHE_DIR", dir, 1);
  const clnet_conv2d_desc d = small_desc();
  clnet_ctx *ctx = open_ctx();
  char note[1024] = "";
  clnet_ctx_set_algo_note_fn(ctx, last_line, note);
  clnet_conv_algo_choice c;
  cr_assert_eq(clnet_conv2d_algo_choice(ctx, &d, CLNET_PASS_FORWARD, &c), CLNET_SUCCESS, "%s",
               clnet_last_error());
  cr_assert_eq(c.source, CLNET_ALGO_SOURCE_RULE);
  cr_assert(strstr(note, "cannot record") && strstr(note, "fixed rule"), "note: '%s'", note);
  /* later shapes go straight to the rule, without timing */
  cr_assert_eq(clnet_conv2d_algo_choice(ctx, &d, CLNET_PASS_BACKWARD_DATA, &c), CLNET_SUCCESS);
  cr_assert_eq(c.source, CLNET_ALGO_SOURCE_RULE);
  cr_assert_eq(clnet_conv_algo_get_stats(ctx).timed, 0);
  cr_assert_eq(clnet_conv_algo_get_stats(ctx).from_rule, 2);
  clnet_ctx_free(ctx);
}

/* On a CPU device AUTO does not time the im2col + CLBlast path (it cannot win there and would cost
 * CLBlast's compilation): its column reads "-", in memory and in the file, and forcing it still
 * works. */
Test(finddb, cpu_devices_do_not_time_clblast, .init = make_tmp) {
  unsetenv("CLNET_TUNE_ALL");
  const clnet_conv2d_desc d = small_desc();
  clnet_ctx *ctx = open_ctx();
  cr_assert(clnet_ctx_device_info(ctx)->type & CL_DEVICE_TYPE_CPU, "the suite runs on PoCL's CPU device");
  for (int p = 0; p < 3; ++p) {
    clnet_conv_algo_choice c;
    cr_assert_eq(clnet_conv2d_algo_choice(ctx, &d, (clnet_pass)p, &c), CLNET_SUCCESS, "%s", clnet_last_error());
    cr_assert_eq(c.source, CLNET_ALGO_SOURCE_TIMED, "pass %d", p);
    cr_assert_eq(c.ms[0], -2, "pass %d: gemm must not be timed (%g ms)", p, c.ms[0]);
    cr_assert(c.ms[1] >= 0, "pass %d: direct is timed", p);
    cr_assert_neq(c.algo, CLNET_CONV_ALGO_GEMM, "pass %d", p);
  }
  char path[4600];
  clnet_conv_algo_db_path(ctx, path, sizeof path);
  clnet_ctx_free(ctx);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f, "%s", path);
  char line[512];
  int entries = 0;
  while (fgets(line, sizeof line, f))
    if (line[0] != '#') {
      char algo[16], gms[16];
      cr_assert_eq(sscanf(line, "%*s %*d %*d %*d %*d %*d %*d %*d %*d %*s %15s %15s", algo, gms), 2, "%s", line);
      cr_assert_str_eq(gms, "-", "gemm_ms of an untimed gemm: %s", line);
      ++entries;
    }
  fclose(f);
  cr_assert_eq(entries, 3);
  ctx = open_ctx();
  clnet_conv_algo_choice c;
  cr_assert_eq(clnet_conv2d_algo_choice(ctx, &d, CLNET_PASS_FORWARD, &c), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(c.source, CLNET_ALGO_SOURCE_FINDDB, "a '-' column must read back");
  cr_assert_eq(c.ms[0], -2);
  cr_assert_eq(clnet_ctx_set_conv_algo(ctx, CLNET_CONV_ALGO_GEMM), CLNET_SUCCESS);
  cr_assert_eq(clnet_conv2d_algo_choice(ctx, &d, CLNET_PASS_FORWARD, &c), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert(c.algo == CLNET_CONV_ALGO_GEMM && c.source == CLNET_ALGO_SOURCE_FORCED, "forcing gemm still works");
  clnet_ctx_free(ctx);
}

static void count_progress(void *user, const char *what) {
  int *n = user;
  cr_assert(!strncmp(what, "conv2d ", 7) || !strncmp(what, "dense ", 6), "progress names its shape: '%s'", what);
  ++*n;
}

/* The progress function hears of every (shape, pass) AUTO times, and of nothing read back. */
Test(finddb, progress_is_reported_for_each_timed_shape, .init = make_tmp) {
  const clnet_conv2d_desc d = small_desc();
  int calls = 0;
  clnet_ctx *ctx = open_ctx();
  clnet_ctx_set_algo_progress_fn(ctx, count_progress, &calls);
  clnet_conv_algo_choice c;
  for (int p = 0; p < 3; ++p)
    cr_assert_eq(clnet_conv2d_algo_choice(ctx, &d, (clnet_pass)p, &c), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(calls, 3);
  cr_assert_eq(clnet_conv2d_algo_choice(ctx, &d, CLNET_PASS_FORWARD, &c), CLNET_SUCCESS);
  cr_assert_eq(calls, 3, "asked again: nothing timed");
  clnet_ctx_free(ctx);
  ctx = open_ctx();
  clnet_ctx_set_algo_progress_fn(ctx, count_progress, &calls);
  cr_assert_eq(clnet_conv2d_algo_choice(ctx, &d, CLNET_PASS_FORWARD, &c), CLNET_SUCCESS);
  cr_assert_eq(c.source, CLNET_ALGO_SOURCE_FINDDB);
  cr_assert_eq(calls, 3, "read from the find-db: nothing timed");
  clnet_dense_algo_choice dc;
  cr_assert_eq(clnet_dense_gemm_choice(ctx, 4, 32, 10, CLNET_PASS_FORWARD, &dc), CLNET_SUCCESS, "%s",
               clnet_last_error());
  cr_assert_eq(calls, 4, "the dense layer's GEMMs report too");
  clnet_ctx_free(ctx);
}

/* AUTO checks and times only the algorithms that apply to a conv: DIRECT never on depthwise convs,
 * the Winograd ones never on grouped or dilated ones, DEPTHWISE only on depthwise ones; forcing an
 * algorithm that does not apply falls back to AUTO's choice with a note; the rule picks DEPTHWISE
 * for depthwise convs and DIRECT for small grouped ones. */
Test(finddb, only_algorithms_that_apply_are_candidates, .init = make_tmp) {
  clnet_conv2d_desc dw = {.n = 2, .in_h = 9, .in_w = 9, .in_c = 16, .out_c = 16, .k_h = 3, .k_w = 3, .stride = 1,
                          .padding = CLNET_PADDING_EXPLICIT, .groups = 16, .pad_top = 1, .pad_bottom = 1,
                          .pad_left = 1, .pad_right = 1};
  clnet_conv2d_desc grouped = {.n = 2, .in_h = 7, .in_w = 7, .in_c = 8, .out_c = 6, .k_h = 3, .k_w = 3, .stride = 1,
                               .padding = CLNET_PADDING_SAME, .groups = 2, .has_bias = 1};
  clnet_conv2d_desc dilated = {.n = 2, .in_h = 9, .in_w = 9, .in_c = 4, .out_c = 8, .k_h = 3, .k_w = 3, .stride = 1,
                               .padding = CLNET_PADDING_SAME, .dilation_h = 2, .dilation_w = 2};
  cr_assert_eq(clnet_conv2d_desc_init(&dw), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_conv2d_desc_init(&grouped), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_conv2d_desc_init(&dilated), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert(dw.out_h == 9 && dw.out_w == 9 && dilated.out_h == 9 && dilated.pad_top == 2 && dilated.pad_bottom == 2);
  clnet_ctx *ctx = open_ctx();
  for (int p = 0; p < 3; ++p) {
    clnet_conv_algo_choice c;
    cr_assert_eq(clnet_conv2d_algo_choice(ctx, &grouped, (clnet_pass)p, &c), CLNET_SUCCESS, "%s",
                 clnet_last_error());
    cr_assert(c.ms[0] >= 0 && c.ms[1] >= 0, "pass %d: grouped: gemm and direct timed", p);
    cr_assert(c.ms[2] == -2 && c.ms[3] == -2 && c.ms[4] == -2, "pass %d: grouped: nothing else", p);
    cr_assert_eq(clnet_conv2d_algo_choice(ctx, &dw, (clnet_pass)p, &c), CLNET_SUCCESS, "%s", clnet_last_error());
    cr_assert(c.ms[1] == -2 && c.ms[2] == -2 && c.ms[3] == -2, "pass %d: depthwise: direct, winograd not candidates", p);
    cr_assert(c.ms[0] >= 0 && c.ms[4] >= 0, "pass %d: depthwise: gemm and depthwise timed", p);
    cr_assert(c.algo == CLNET_CONV_ALGO_GEMM || c.algo == CLNET_CONV_ALGO_DEPTHWISE);
    cr_assert_eq(clnet_conv2d_algo_choice(ctx, &dilated, (clnet_pass)p, &c), CLNET_SUCCESS, "%s",
                 clnet_last_error());
    cr_assert(c.ms[2] == -2 && c.ms[3] == -2 && c.ms[4] == -2 && c.ms[1] >= 0, "pass %d: dilated", p);
  }
  char note[1024] = "";
  clnet_ctx_set_algo_note_fn(ctx, last_line, note);
  cr_assert_eq(clnet_ctx_set_conv_algo(ctx, CLNET_CONV_ALGO_DIRECT), CLNET_SUCCESS);
  clnet_conv_algo_choice c;
  cr_assert_eq(clnet_conv2d_algo_choice(ctx, &dw, CLNET_PASS_FORWARD, &c), CLNET_SUCCESS);
  cr_assert(c.algo != CLNET_CONV_ALGO_DIRECT && c.source == CLNET_ALGO_SOURCE_TIMED, "auto's choice, timed above");
  cr_assert(strstr(note, "direct applies only to convs that are not depthwise"), "note '%s'", note);
  cr_assert_eq(clnet_conv2d_algo_choice(ctx, &grouped, CLNET_PASS_FORWARD, &c), CLNET_SUCCESS);
  cr_assert(c.algo == CLNET_CONV_ALGO_DIRECT && c.source == CLNET_ALGO_SOURCE_FORCED);
  cr_assert_eq(clnet_ctx_set_conv_algo(ctx, CLNET_CONV_ALGO_DEPTHWISE), CLNET_SUCCESS);
  cr_assert_eq(clnet_conv2d_algo_choice(ctx, &dilated, CLNET_PASS_FORWARD, &c), CLNET_SUCCESS);
  cr_assert_neq(c.algo, CLNET_CONV_ALGO_DEPTHWISE);
  cr_assert(strstr(note, "depthwise applies only to depthwise convs"), "note '%s'", note);
  cr_assert_eq(clnet_conv2d_algo_choice(ctx, &dw, CLNET_PASS_FORWARD, &c), CLNET_SUCCESS);
  cr_assert(c.algo == CLNET_CONV_ALGO_DEPTHWISE && c.source == CLNET_ALGO_SOURCE_FORCED);
  cr_assert_eq(clnet_ctx_set_conv_algo(ctx, CLNET_CONV_ALGO_RULE), CLNET_SUCCESS);
  cr_assert_eq(clnet_conv2d_algo_choice(ctx, &dw, CLNET_PASS_BACKWARD_FILTER, &c), CLNET_SUCCESS);
  cr_assert(c.algo == CLNET_CONV_ALGO_DEPTHWISE && c.source == CLNET_ALGO_SOURCE_RULE);
  cr_assert_eq(clnet_conv2d_algo_choice(ctx, &grouped, CLNET_PASS_BACKWARD_DATA, &c), CLNET_SUCCESS);
  cr_assert_eq(c.algo, CLNET_CONV_ALGO_DIRECT);
  clnet_ctx_free(ctx);
}
