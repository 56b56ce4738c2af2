/* The dense layer's GEMM choice (clnet_dense_algo): the dense find-db file round trip and corrupt
 * files, a timed choice recorded and re-read by the next context, a wrong candidate rejected by
 * the reference check, forcing (setter and CLNET_DENSE_ALGO), the rule without a cache, a choice
 * another process committed first adopted, and processes sharing a cache directory agreeing on
 * every choice (what `clnet bench` reports). The GEMM kernel itself and the dense op with each
 * GEMM forced are cross-checked against the reference by the check table (test_ops: gemm_tiled,
 * dense ... clblast / clnet). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clnet/ops.h"
#include "tune/dense_algo.h"
#include "runtime/ctx.h"

static char tmpdir[256];

static void make_tmp(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/clnet-densealgo-XXXXXX");
  cr_assert_not_null(mkdtemp(tmpdir));
  setenv("CLNET_CACHE_DIR", tmpdir, 1);
  unsetenv("CLNET_NO_CACHE");
  unsetenv("CLNET_DENSE_ALGO");
  /* these tests are about AUTO's checking and timing of both GEMMs; which ones a CPU device times
   * by default is cpu_devices_do_not_time_clblast's */
  setenv("CLNET_TUNE_ALL", "1", 1);
}

static void remove_tmp(void) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
}

static clnet_ctx *open_ctx(void) {
  clnet_ctx *ctx = NULL;
  cr_assert_eq(clnet_ctx_create(NULL, &ctx), CLNET_SUCCESS, "%s", clnet_last_error());
  return ctx;
}

static void last_line(void *user, const char *line) { snprintf(user, 1024, "%s", line); }

/* an awkward layer: no dimension a multiple of a tile */
enum { N = 13, IN = 37, OUT = 10 };

Test(dense_finddb, file_round_trip, .init = make_tmp, .fini = remove_tmp) {
  dense_fdb_entry in[3];
  memset(in, 0, sizeof in);
  in[0].key = (dense_fdb_key){.pass = CLNET_PASS_FORWARD, .n = 256, .in = 128, .out = 10};
  in[0].choice = (clnet_dense_algo_choice){.algo = CLNET_DENSE_ALGO_CLNET, .ms = {0.25, 0.125}};
  in[1].key = (dense_fdb_key){.pass = CLNET_PASS_BACKWARD_DATA, .n = 7, .in = 1, .out = 3};
  in[1].choice = (clnet_dense_algo_choice){.algo = CLNET_DENSE_ALGO_CLBLAST, .ms = {1.5, -1}};
  in[2].key = (dense_fdb_key){.pass = CLNET_PASS_BACKWARD_FILTER, .n = 64, .in = 512, .out = 1000};
  in[2].choice = (clnet_dense_algo_choice){.algo = CLNET_DENSE_ALGO_CLNET, .ms = {-1, 3.75}};
  char path[512];
  snprintf(path, sizeof path, "%s/db.txt", tmpdir);
  cr_assert_eq(clnet_dense_finddb_write_file(path, 0x1234abcdull, "device: test", in, 3), CLNET_SUCCESS, "%s",
               clnet_last_error());
  dense_fdb_entry *out = NULL;
  int32_t n = 0, stale = 1;
  cr_assert_eq(clnet_dense_finddb_read_file(path, 0x1234abcdull, &out, &n, &stale), CLNET_SUCCESS, "%s",
               clnet_last_error());
  cr_assert_eq(stale, 0);
  cr_assert_eq(n, 3);
  for (int i = 0; i < 3; ++i) {
    cr_assert(!memcmp(&out[i].key, &in[i].key, sizeof in[i].key), "entry %d: key differs after the round trip", i);
    cr_assert_eq(out[i].choice.algo, in[i].choice.algo, "entry %d", i);
    cr_assert_eq(out[i].choice.source, CLNET_ALGO_SOURCE_FINDDB);
    for (int k = 0; k < 2; ++k)
      cr_assert_float_eq(out[i].choice.ms[k], in[i].choice.ms[k], 1e-9, "entry %d ms[%d]", i, k);
  }
  free(out);
  /* other kernels: stale, no entries, no error */
  cr_assert_eq(clnet_dense_finddb_read_file(path, 0x999ull, &out, &n, &stale), CLNET_SUCCESS);
  cr_assert_eq(stale, 1);
  cr_assert_eq(n, 0);
  cr_assert_null(out);
}

/* Each way a file can be broken is rejected with the file and line named. */
Test(dense_finddb, corrupt_files_are_rejected, .init = make_tmp, .fini = remove_tmp) {
#define HEAD "# clnet dense GEMM find-db 1\n# kernels: 00000000000000ab\n"
  static const char *const bodies[] = {
      "",
      "# clnet conv find-db 1\n# kernels: 00000000000000ab\n", /* another kind's file */
      HEAD "forward 1 2 3\n",
      HEAD "forward 1 2 3 clnet 1.0 2.0", /* torn: no newline */
      HEAD "sideways 1 2 3 clnet 1.0 2.0\n",
      HEAD "forward 0 2 3 clnet 1.0 2.0\n",
      HEAD "forward 1 2 3 cublas 1.0 2.0\n",
      HEAD "forward 1 2 3 clnet 1.0 rejected\n",
      HEAD "forward 1 2 3 clblast nan 2.0\n",
      HEAD "forward 1 2 3 clnet 1 2\nforward 1 2 3 clblast 1 2\n",
      HEAD "forward 1 2 3 clnet 1 2 3\n",
      "# clnet dense GEMM find-db 1\nforward 1 2 3 clnet 1 2\n",
  };
#undef HEAD
  char path[512];
  snprintf(path, sizeof path, "%s/bad.txt", tmpdir);
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; ++i) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(bodies[i], f);
    fclose(f);
    dense_fdb_entry *out = NULL;
    int32_t n = 0, stale = 0;
    cr_assert_eq(clnet_dense_finddb_read_file(path, 0xab, &out, &n, &stale), CLNET_ERR_FORMAT,
                 "body %zu must be rejected", i);
    cr_assert(strstr(clnet_last_error(), path), "body %zu: the message must name the file: %s", i,
              clnet_last_error());
    cr_assert_null(out);
  }
}

/* Timed in one ctx, read back from the file by the next; a corrupt file is noted and rewritten. */
Test(dense_finddb, timed_choice_is_stored_reread_and_survives_corruption, .init = make_tmp, .fini = remove_tmp,
     .timeout = 300) {
  clnet_ctx *ctx = open_ctx();
  clnet_dense_algo_choice first[3];
  for (int p = 0; p < 3; ++p) {
    cr_assert_eq(clnet_dense_gemm_choice(ctx, N, IN, OUT, (clnet_pass)p, &first[p]), CLNET_SUCCESS, "%s",
                 clnet_last_error());
    cr_assert_eq(first[p].source, CLNET_ALGO_SOURCE_TIMED, "pass %d: a fresh cache must be timed", p);
    cr_assert(first[p].ms[0] >= 0 && first[p].ms[1] >= 0, "pass %d: both GEMMs pass the check and are timed", p);
    const clnet_dense_algo fastest = first[p].ms[1] <= first[p].ms[0] ? CLNET_DENSE_ALGO_CLNET : CLNET_DENSE_ALGO_CLBLAST;
    cr_assert_eq(first[p].algo, fastest, "pass %d: the faster one (%.4f / %.4f ms) is chosen", p, first[p].ms[0],
                 first[p].ms[1]);
  }
  cr_assert_eq(clnet_dense_algo_get_stats(ctx).timed, 3);
  char path[4600];
  clnet_dense_algo_db_path(ctx, path, sizeof path);
  cr_assert(!strncmp(path, tmpdir, strlen(tmpdir)) && strstr(path, "/dense-gemm-"),
            "the dense find-db lives in CLNET_CACHE_DIR: %s", path);
  cr_assert_eq(access(path, R_OK), 0, "%s must exist", path);
  /* asking again in the same process neither times nor counts again */
  clnet_dense_algo_choice again;
  cr_assert_eq(clnet_dense_gemm_choice(ctx, N, IN, OUT, CLNET_PASS_FORWARD, &again), CLNET_SUCCESS);
  cr_assert_eq(again.algo, first[0].algo);
  cr_assert_eq(clnet_dense_algo_get_stats(ctx).timed, 3);
  clnet_ctx_free(ctx);

  ctx = open_ctx();
  for (int p = 0; p < 3; ++p) {
    clnet_dense_algo_choice c;
    cr_assert_eq(clnet_dense_gemm_choice(ctx, N, IN, OUT, (clnet_pass)p, &c), CLNET_SUCCESS, "%s",
                 clnet_last_error());
    cr_assert_eq(c.source, CLNET_ALGO_SOURCE_FINDDB, "pass %d: a second process must read the find-db", p);
    cr_assert_eq(c.algo, first[p].algo, "pass %d", p);
    for (int k = 0; k < 2; ++k) cr_assert_float_eq(c.ms[k], first[p].ms[k], 1e-3, "pass %d ms[%d]", p, k);
  }
  cr_assert_eq(clnet_dense_algo_get_stats(ctx).timed, 0);
  cr_assert_eq(clnet_dense_algo_get_stats(ctx).from_finddb, 3);
  clnet_ctx_free(ctx);

  FILE *f = fopen(path, "a");
  cr_assert_not_null(f);
  fputs("forward 13 37 10 clnet fast slow\n", f);
  fclose(f);
  ctx = open_ctx();
  char note[1024] = "";
  clnet_ctx_set_algo_note_fn(ctx, last_line, note);
  clnet_dense_algo_choice c;
  cr_assert_eq(clnet_dense_gemm_choice(ctx, N, IN, OUT, CLNET_PASS_FORWARD, &c), CLNET_SUCCESS, "%s",
               clnet_last_error());
  cr_assert_eq(c.source, CLNET_ALGO_SOURCE_TIMED, "a corrupt find-db must not be trusted");
  cr_assert(strstr(note, path) && strstr(note, "dense GEMM find-db") && strstr(note, "ignored"),
            "the note must name the file: '%s'", note);
  const uint64_t kh = clnet_dense_finddb_kernels_hash(ctx);
  clnet_ctx_free(ctx);
  dense_fdb_entry *out = NULL;
  int32_t n = 0, stale = 0;
  cr_assert_eq(clnet_dense_finddb_read_file(path, kh, &out, &n, &stale), CLNET_SUCCESS,
               "the rewritten file must be valid: %s", clnet_last_error());
  cr_assert_eq(n, 1, "only the entry timed again");
  free(out);
}

/* A GEMM whose output is wrong is never chosen; the rejection is noted and stored, and the dense
 * op still runs, with the other GEMM. */
Test(dense_finddb, wrong_candidate_is_rejected, .init = make_tmp, .fini = remove_tmp, .timeout = 300) {
  static const clnet_dense_algo bads[2] = {CLNET_DENSE_ALGO_CLBLAST, CLNET_DENSE_ALGO_CLNET};
  for (int bi = 0; bi < 2; ++bi) {
    const clnet_dense_algo bad = bads[bi];
    char dir[300];
    snprintf(dir, sizeof dir, "%s/%d", tmpdir, (int)bad);
    setenv("CLNET_CACHE_DIR", dir, 1);
    clnet_ctx *ctx = open_ctx();
    char note[1024] = "";
    clnet_ctx_set_algo_note_fn(ctx, last_line, note);
    clnet_dense_algo_test_sabotage(ctx, bad);
    for (int p = 0; p < 3; ++p) {
      clnet_dense_algo_choice c;
      cr_assert_eq(clnet_dense_gemm_choice(ctx, N, IN, OUT, (clnet_pass)p, &c), CLNET_SUCCESS, "%s",
                   clnet_last_error());
      cr_assert_neq(c.algo, bad, "pass %d: the wrong %s was chosen", p, clnet_dense_algo_str(bad));
      cr_assert_eq(c.ms[bad == CLNET_DENSE_ALGO_CLBLAST ? 0 : 1], -1, "pass %d: the rejection is recorded", p);
      cr_assert(strstr(note, "fails the reference check") && strstr(note, clnet_dense_algo_str(bad)),
                "pass %d: note '%s'", p, note);
    }
    cr_assert_eq(clnet_dense_algo_get_stats(ctx).rejected, 3);
    /* y = x . w^T + b with x, w all ones and b = 0: every output is IN */
    clnet_buf x, w, b, y;
    cr_assert_eq(clnet_buf_alloc(ctx, (size_t)N * IN * 4, "x", &x), CLNET_SUCCESS);
    cr_assert_eq(clnet_buf_alloc(ctx, (size_t)OUT * IN * 4, "w", &w), CLNET_SUCCESS);
    cr_assert_eq(clnet_buf_alloc(ctx, (size_t)OUT * 4, "b", &b), CLNET_SUCCESS);
    cr_assert_eq(clnet_buf_alloc(ctx, (size_t)N * OUT * 4, "y", &y), CLNET_SUCCESS);
    cr_assert_eq(clnet_buf_fill(ctx, &x, 0, x.bytes, 0x3f800000u), CLNET_SUCCESS);
    cr_assert_eq(clnet_buf_fill(ctx, &w, 0, w.bytes, 0x3f800000u), CLNET_SUCCESS);
    cr_assert_eq(clnet_buf_fill(ctx, &b, 0, b.bytes, 0), CLNET_SUCCESS);
    cr_assert_eq(clnet_dense_forward(ctx, N, IN, OUT, &x, &w, &b, &y), CLNET_SUCCESS, "%s", clnet_last_error());
    float last = 0;
    cr_assert_eq(clnet_buf_read(ctx, &y, ((size_t)N * OUT - 1) * 4, 4, &last), CLNET_SUCCESS);
    cr_assert_float_eq(last, (float)IN, 1e-4);
    clnet_buf *bufs[] = {&x, &w, &b, &y};
    for (int i = 0; i < 4; ++i) clnet_buf_free(ctx, bufs[i]);
    clnet_ctx_free(ctx);
  }
}

/* No cache: the rule; the setter and CLNET_DENSE_ALGO force a GEMM; a bad value is an error. */
Test(dense_finddb, forced_rule_and_no_cache, .init = make_tmp, .fini = remove_tmp) {
  setenv("CLNET_NO_CACHE", "1", 1);
  clnet_ctx *ctx = open_ctx();
  clnet_dense_algo_choice c;
  cr_assert_eq(clnet_dense_gemm_choice(ctx, N, IN, OUT, CLNET_PASS_FORWARD, &c), CLNET_SUCCESS, "%s",
               clnet_last_error());
  cr_assert_eq(c.source, CLNET_ALGO_SOURCE_RULE);
  cr_assert_eq(clnet_dense_algo_get_stats(ctx).from_rule, 1);
  char path[64] = "x";
  clnet_dense_algo_db_path(ctx, path, sizeof path);
  cr_assert_str_eq(path, "");
  clnet_ctx_free(ctx);
  unsetenv("CLNET_NO_CACHE");

  ctx = open_ctx();
  cr_assert_eq(clnet_ctx_set_dense_algo(ctx, CLNET_DENSE_ALGO_CLNET), CLNET_SUCCESS);
  for (int p = 0; p < 3; ++p) {
    cr_assert_eq(clnet_dense_gemm_choice(ctx, N, IN, OUT, (clnet_pass)p, &c), CLNET_SUCCESS);
    cr_assert_eq(c.source, CLNET_ALGO_SOURCE_FORCED);
    cr_assert_eq(c.algo, CLNET_DENSE_ALGO_CLNET);
  }
  cr_assert_eq(clnet_ctx_set_dense_algo(ctx, CLNET_DENSE_ALGO_RULE), CLNET_SUCCESS);
  cr_assert_eq(clnet_dense_gemm_choice(ctx, N, IN, OUT, CLNET_PASS_FORWARD, &c), CLNET_SUCCESS);
  cr_assert_eq(c.source, CLNET_ALGO_SOURCE_RULE);
  cr_assert_eq(clnet_ctx_set_dense_algo(ctx, (clnet_dense_algo)7), CLNET_ERR_INVALID_ARGUMENT);
  cr_assert_eq(clnet_dense_algo_get_stats(ctx).timed, 0, "forcing and the rule time nothing");
  clnet_ctx_free(ctx);

  setenv("CLNET_DENSE_ALGO", "clblast", 1);
  ctx = open_ctx();
  cr_assert_eq(clnet_dense_gemm_choice(ctx, N, IN, OUT, CLNET_PASS_BACKWARD_FILTER, &c), CLNET_SUCCESS);
  cr_assert_eq(c.source, CLNET_ALGO_SOURCE_FORCED);
  cr_assert_eq(c.algo, CLNET_DENSE_ALGO_CLBLAST);
  clnet_ctx_free(ctx);
  setenv("CLNET_DENSE_ALGO", "fastest", 1);
  ctx = open_ctx();
  cr_assert_eq(clnet_dense_gemm_choice(ctx, N, IN, OUT, CLNET_PASS_FORWARD, &c), CLNET_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(clnet_last_error(), "CLNET_DENSE_ALGO") && strstr(clnet_last_error(), "fastest"), "%s",
            clnet_last_error());
  clnet_ctx_free(ctx);
  unsetenv("CLNET_DENSE_ALGO");
  clnet_dense_algo a;
  cr_assert_eq(clnet_dense_algo_parse("clnet", &a), CLNET_SUCCESS);
  cr_assert_eq(a, CLNET_DENSE_ALGO_CLNET);
  cr_assert_str_eq(clnet_dense_algo_str(CLNET_DENSE_ALGO_CLBLAST), "clblast");
  cr_assert_eq(clnet_dense_algo_parse("gemm", &a), CLNET_ERR_INVALID_ARGUMENT);
}

/* First writer wins: an entry another process commits while this one is timing the same shape
 * is adopted, even when this process would have measured the other GEMM as faster. */
Test(dense_finddb, a_concurrent_commit_is_adopted, .init = make_tmp, .fini = remove_tmp, .timeout = 300) {
  clnet_ctx *ctx = open_ctx();
  char path[4600];
  clnet_dense_algo_db_path(ctx, path, sizeof path); /* opens the (empty) find-db */
  cr_assert_neq(path[0], '\0');
  dense_fdb_entry other = {.key = {.pass = CLNET_PASS_FORWARD, .n = N, .in = IN, .out = OUT},
                           .choice = {.algo = CLNET_DENSE_ALGO_CLBLAST, .ms = {999.0, 1.0}}};
  cr_assert_eq(clnet_dense_finddb_write_file(path, clnet_dense_finddb_kernels_hash(ctx), "device: other process",
                                             &other, 1),
               CLNET_SUCCESS, "%s", clnet_last_error());
  clnet_dense_algo_choice c;
  cr_assert_eq(clnet_dense_gemm_choice(ctx, N, IN, OUT, CLNET_PASS_FORWARD, &c), CLNET_SUCCESS, "%s",
               clnet_last_error());
  cr_assert_eq(c.source, CLNET_ALGO_SOURCE_FINDDB, "the entry committed first must be adopted");
  cr_assert_eq(c.algo, CLNET_DENSE_ALGO_CLBLAST);
  cr_assert_float_eq(c.ms[0], 999.0, 1e-9);
  cr_assert_eq(clnet_dense_algo_get_stats(ctx).timed, 0);
  /* a pass nobody committed is timed and appended; the adopted entry stays */
  cr_assert_eq(clnet_dense_gemm_choice(ctx, N, IN, OUT, CLNET_PASS_BACKWARD_DATA, &c), CLNET_SUCCESS);
  cr_assert_eq(c.source, CLNET_ALGO_SOURCE_TIMED);
  const uint64_t kh = clnet_dense_finddb_kernels_hash(ctx);
  clnet_ctx_free(ctx);
  dense_fdb_entry *out = NULL;
  int32_t n = 0, stale = 0;
  cr_assert_eq(clnet_dense_finddb_read_file(path, kh, &out, &n, &stale), CLNET_SUCCESS);
  cr_assert_eq(n, 2);
  cr_assert_eq(out[0].choice.algo, CLNET_DENSE_ALGO_CLBLAST);
  free(out);
}

/* The forward dense row of a `clnet bench --op dense` output names its GEMM ("dense fwd 192->10
 * clnet"): into algo; and the dense stats line's count of timed (shape, pass) pairs into *timed
 * (-1 without the line). Returns the number of dense rows. */
static int dense_rows(const char *file, char *algo, size_t cap, int *timed) {
  FILE *f = fopen(file, "r");
  cr_assert_not_null(f, "%s", file);
  char line[1024];
  int n = 0;
  *timed = -1;
  algo[0] = '\0';
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, "dense GEMMs: ", 13)) cr_assert_eq(sscanf(line, "dense GEMMs: %d", timed), 1, "%s", line);
    if (strncmp(line, "dense ", 6) || !strncmp(line, "dense GEMMs", 11)) continue;
    ++n;
    if (strncmp(line, "dense fwd ", 10)) continue;
    char *end = strstr(line, "  ");
    cr_assert_not_null(end, "%s", line);
    *end = '\0';
    snprintf(algo, cap, "%s", strrchr(line, ' ') + 1);
  }
  fclose(f);
  return n;
}

/* Two processes timing the same shapes at the same time into one cache directory end with the
 * same GEMM for every pass (first writer wins), and a third reads them all back. */
Test(dense_finddb, processes_sharing_a_cache_agree, .init = make_tmp, .fini = remove_tmp, .timeout = 600) {
  const char *cli = getenv("CLNET_CLI");
  cr_assert_not_null(cli, "CLNET_CLI must point to the clnet executable (ctest sets it)");
  const char *args = "bench --op dense --batch 6 --width 8 --input 12x12x3 --repeat 1";
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s %s > %s/a.txt 2>&1 & %s %s > %s/b.txt 2>&1 & wait; %s %s > %s/c.txt 2>&1", cli,
           args, tmpdir, cli, args, tmpdir, cli, args, tmpdir);
  cr_assert_eq(system(cmd), 0);
  char algos[3][24];
  int timed[3];
  for (int r = 0; r < 3; ++r) {
    char file[512];
    snprintf(file, sizeof file, "%s/%c.txt", tmpdir, 'a' + r);
    cr_assert_eq(dense_rows(file, algos[r], sizeof algos[r], &timed[r]), 2, "run %c: a forward and a backward dense row",
                 'a' + r);
    cr_assert(algos[r][0], "run %c: the forward row names its GEMM", 'a' + r);
  }
  cr_assert_str_eq(algos[0], algos[1], "the two concurrent processes disagree");
  cr_assert_str_eq(algos[0], algos[2], "the later process disagrees");
  cr_assert_eq(timed[2], 0, "the later process must read the find-db");
  /* --dense-algo forces, and a bad value is a usage error */
  snprintf(cmd, sizeof cmd, "%s %s --dense-algo clblast > %s/d.txt 2>&1", cli, args, tmpdir);
  cr_assert_eq(system(cmd), 0);
  char file[512], forced[24];
  int t = 0;
  snprintf(file, sizeof file, "%s/d.txt", tmpdir);
  cr_assert_eq(dense_rows(file, forced, sizeof forced, &t), 2);
  cr_assert_str_eq(forced, "clblast");
  snprintf(cmd, sizeof cmd, "%s %s --dense-algo fastest > /dev/null 2>&1", cli, args);
  const int rc = system(cmd);
  cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 2, "a bad --dense-algo is a usage error (status %d)", rc);
}

/* On a CPU device AUTO does not time CLBlast for the dense layer: its column reads "-" and reads
 * back; forcing it still works. */
Test(dense_finddb, cpu_devices_do_not_time_clblast, .init = make_tmp, .fini = remove_tmp) {
  unsetenv("CLNET_TUNE_ALL");
  clnet_ctx *ctx = open_ctx();
  cr_assert(clnet_ctx_device_info(ctx)->type & CL_DEVICE_TYPE_CPU, "the suite runs on PoCL's CPU device");
  for (int p = 0; p < 3; ++p) {
    clnet_dense_algo_choice c;
    cr_assert_eq(clnet_dense_gemm_choice(ctx, N, IN, OUT, (clnet_pass)p, &c), CLNET_SUCCESS, "%s",
                 clnet_last_error());
    cr_assert_eq(c.source, CLNET_ALGO_SOURCE_TIMED, "pass %d", p);
    cr_assert_eq(c.ms[0], -2, "pass %d: CLBlast must not be timed (%g ms)", p, c.ms[0]);
    cr_assert(c.ms[1] >= 0 && c.algo == CLNET_DENSE_ALGO_CLNET, "pass %d", p);
  }
  clnet_ctx_free(ctx);
  ctx = open_ctx();
  clnet_dense_algo_choice c;
  cr_assert_eq(clnet_dense_gemm_choice(ctx, N, IN, OUT, CLNET_PASS_FORWARD, &c), CLNET_SUCCESS, "%s",
               clnet_last_error());
  cr_assert(c.source == CLNET_ALGO_SOURCE_FINDDB && c.ms[0] == -2, "a '-' column must read back");
  cr_assert_eq(clnet_ctx_set_dense_algo(ctx, CLNET_DENSE_ALGO_CLBLAST), CLNET_SUCCESS);
  cr_assert_eq(clnet_dense_gemm_choice(ctx, N, IN, OUT, CLNET_PASS_FORWARD, &c), CLNET_SUCCESS, "%s",
               clnet_last_error());
  cr_assert(c.algo == CLNET_DENSE_ALGO_CLBLAST && c.source == CLNET_ALGO_SOURCE_FORCED, "forcing CLBlast still works");
  clnet_ctx_free(ctx);
}
