/* clnet tune and the CLBlast parameter file: a quick tuning run writes a file that a second
 * process applies; parameters from a file reach CLBlast and GEMMs stay correct with them; corrupt
 * or foreign files are rejected naming the file; clnet bench emits the OpenBLAS comparison and the
 * rows of the fused batch-norm ops. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clnet/clnet.h"
#include "tune/clblast_tune.h"
#include "cli_run.h"

static char tmpdir[256];

static void setup(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/clnet_tune_test_XXXXXX");
  cr_assert_not_null(mkdtemp(tmpdir));
  setenv("CLNET_CACHE_DIR", tmpdir, 1);
  unsetenv("CLNET_NO_CACHE");
  unsetenv("CLNET_NO_TUNE");
  unsetenv("CLNET_DEVICE");
}

static void teardown(void) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
}


static int run_cli(const char *args, char *o, size_t cap) { return clnet_cli_run("", args, o, cap); }

/* The one parameter file in tmpdir, or "" */
static void find_param_file(char *path, size_t cap) {
  path[0] = '\0';
  DIR *d = opendir(tmpdir);
  cr_assert_not_null(d);
  for (struct dirent *e; (e = readdir(d));)
    if (!strncmp(e->d_name, "clblast-tune-", 13)) snprintf(path, cap, "%s/%s", tmpdir, e->d_name);
  closedir(d);
}

static char out[1 << 20];

Test(tune, quick_run_writes_a_file_a_second_process_applies, .init = setup, .fini = teardown, .timeout = 300) {
  int rc = run_cli("tune --quick --width 4 --batch 8 --input 16x16x1", out, sizeof out);
  cr_assert_eq(rc, 0, "clnet tune --quick failed (%d):\n%s", rc, out);
  cr_assert(strstr(out, "GF/s") && strstr(out, "saved "), "no before/after table or save line:\n%s", out);
  char path[512];
  find_param_file(path, sizeof path);
  cr_assert(path[0], "no clblast-tune-*.txt in %s:\n%s", tmpdir, out);
  clnet_tune_file f;
  cr_assert_eq(clnet_tune_load(path, &f), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert(strstr(f.workload, "width 4"), "workload: %s", f.workload);
  cr_assert_gt(f.workload_gflops_before, 0);
  cr_assert_gt(f.workload_gflops_after, 0);
  /* a second process applies it when it opens the device */
  rc = run_cli("tune --show", out, sizeof out);
  cr_assert_eq(rc, 0, "%s", out);
  cr_assert(strstr(out, "applied: yes") && strstr(out, path), "not applied:\n%s", out);
  rc = run_cli("bench --op sgemm --width 4 --batch 2 --input 12x12x1 --repeat 1", out, sizeof out);
  cr_assert_eq(rc, 0, "%s", out);
  cr_assert(strstr(out, "CLBlast GEMM parameters: from 'clnet tune'") && strstr(out, path), "%s", out);
  /* and not with CLNET_NO_TUNE=1 */
  setenv("CLNET_NO_TUNE", "1", 1);
  rc = run_cli("tune --show", out, sizeof out);
  unsetenv("CLNET_NO_TUNE");
  cr_assert_eq(rc, 0, "%s", out);
  cr_assert(strstr(out, "applied: no (CLNET_NO_TUNE is set)"), "%s", out);
}

/* A file with Xgemm's VWM (and XgemmDirect's VWMD) changed from CLBlast's defaults to 1 (always
 * valid: the tile sizes stay multiples of it): the values reach CLBlast in another process and
 * every GEMM check still passes with them. */
Test(tune, file_parameters_reach_clblast_and_gemms_stay_correct, .init = setup, .fini = teardown, .timeout = 300) {
  setenv("CLNET_NO_TUNE", "1", 1);
  clnet_ctx *ctx = NULL;
  cr_assert_eq(clnet_ctx_create(NULL, &ctx), CLNET_SUCCESS, "%s", clnet_last_error());
  unsetenv("CLNET_NO_TUNE");
  cr_assert_null(clnet_tune_applied(ctx));
  clnet_tune_file f;
  memset(&f, 0, sizeof f);
  const clnet_device_info *dev = clnet_ctx_device_info(ctx);
  snprintf(f.device, sizeof f.device, "%s", dev->name);
  snprintf(f.platform, sizeof f.platform, "%s", dev->platform_version);
  snprintf(f.driver, sizeof f.driver, "%s", dev->driver_version);
  snprintf(f.workload, sizeof f.workload, "test");
  const char *kernels[2] = {"Xgemm", "XgemmDirect"}, *vw[2] = {"VWM", "VWMD"};
  for (int i = 0; i < 2; ++i) {
    snprintf(f.kernels[i].name, sizeof f.kernels[i].name, "%s", kernels[i]);
    cr_assert_eq(clnet_tune_current(ctx, kernels[i], &f.kernels[i].params), CLNET_SUCCESS, "%s", clnet_last_error());
    int found = 0;
    for (size_t j = 0; j < f.kernels[i].params.count; ++j)
      if (!strcmp(f.kernels[i].params.names[j], vw[i])) {
        cr_assert_neq(f.kernels[i].params.values[j], 1, "CLBlast's default %s is already 1 here", vw[i]);
        f.kernels[i].params.values[j] = 1;
        found = 1;
      }
    cr_assert(found, "%s has no %s", kernels[i], vw[i]);
  }
  f.n_kernels = 2;
  char path[512];
  cr_assert(clnet_tune_path(dev, path, sizeof path));
  cr_assert(strstr(path, tmpdir) == path, "path %s not under CLNET_CACHE_DIR %s", path, tmpdir);
  cr_assert_eq(clnet_tune_save(path, &f), CLNET_SUCCESS, "%s", clnet_last_error());
  clnet_ctx_free(ctx);
  int rc = run_cli("tune --show", out, sizeof out);
  cr_assert_eq(rc, 0, "%s", out);
  const char *x = strstr(out, "  Xgemm "), *d = strstr(out, "  XgemmDirect ");
  cr_assert(x && d, "%s", out);
  cr_assert(strstr(x, " VWM=1 ") && strstr(d, " VWMD=1 "), "overridden values not in effect:\n%s", out);
  /* the same GEMMs clnet check runs, with these parameters (direct and indirect sizes) */
  rc = run_cli("check --op gemm", out, sizeof out);
  cr_assert_eq(rc, 0, "clnet check --op gemm failed with overridden parameters:\n%s", out);
  rc = run_cli("check --op dense", out, sizeof out);
  cr_assert_eq(rc, 0, "clnet check --op dense failed with overridden parameters:\n%s", out);
}

static void write_text(const char *path, const char *text) {
  FILE *fp = fopen(path, "wb");
  cr_assert_not_null(fp);
  fputs(text, fp);
  fclose(fp);
}

Test(tune, corrupt_or_foreign_files_are_rejected_naming_the_file, .init = setup, .fini = teardown) {
  clnet_device_info *devs = NULL;
  int32_t n = 0;
  cr_assert_eq(clnet_devices_list(&devs, &n), CLNET_SUCCESS);
  cr_assert_gt(n, 0);
  int32_t idx = -1, is_ref = 0;
  cr_assert_eq(clnet_device_select(NULL, devs, n, &idx, &is_ref), CLNET_SUCCESS);
  char path[512];
  cr_assert(clnet_tune_path(&devs[idx], path, sizeof path));
  /* a valid file for another device: CRC fine, device wrong */
  clnet_tune_file f;
  memset(&f, 0, sizeof f);
  snprintf(f.device, sizeof f.device, "some other device");
  snprintf(f.platform, sizeof f.platform, "%s", devs[idx].platform_version);
  snprintf(f.driver, sizeof f.driver, "%s", devs[idx].driver_version);
  cr_assert_eq(clnet_tune_save(path, &f), CLNET_SUCCESS, "%s", clnet_last_error());
  clnet_ctx *ctx = NULL;
  cr_assert_eq(clnet_ctx_create(NULL, &ctx), CLNET_ERR_MISMATCH);
  cr_assert(strstr(clnet_last_error(), path), "%s", clnet_last_error());
  /* corruptions of a good file */
  snprintf(f.device, sizeof f.device, "%s", devs[idx].name);
  f.n_kernels = 1;
  snprintf(f.kernels[0].name, sizeof f.kernels[0].name, "Xgemm");
  f.kernels[0].params.count = 1;
  snprintf(f.kernels[0].params.names[0], sizeof f.kernels[0].params.names[0], "MWG");
  f.kernels[0].params.values[0] = 64;
  cr_assert_eq(clnet_tune_save(path, &f), CLNET_SUCCESS);
  FILE *fp = fopen(path, "rb");
  char good[8192];
  size_t len = fread(good, 1, sizeof good - 1, fp);
  fclose(fp);
  good[len] = '\0';
  clnet_tune_file g;
  cr_assert_eq(clnet_tune_load(path, &g), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(g.n_kernels, 1);
  cr_assert_eq(g.kernels[0].params.values[0], 64);
  char bad[8192];
  /* a flipped digit (CRC), a truncation, an empty file, garbage */
  snprintf(bad, sizeof bad, "%s", good);
  *strstr(bad, "MWG=64") = 'N';
  const char *cases[4] = {bad, NULL, "", "\x7f" "ELF garbage\n"};
  char trunc[8192];
  snprintf(trunc, sizeof trunc, "%.*s", (int)(len / 2), good);
  cases[1] = trunc;
  for (int i = 0; i < 4; ++i) {
    write_text(path, cases[i]);
    cr_assert_eq(clnet_tune_load(path, &g), CLNET_ERR_FORMAT, "case %d loaded", i);
    cr_assert(strstr(clnet_last_error(), path) && strstr(clnet_last_error(), "corrupt CLBlast parameter file"),
              "case %d: %s", i, clnet_last_error());
    cr_assert_eq(clnet_ctx_create(NULL, &ctx), CLNET_ERR_FORMAT, "case %d: context created", i);
    cr_assert_null(strchr(clnet_last_error(), '\n'), "not one line: %s", clnet_last_error());
  }
  /* the CLI: exit 1 with the message naming the file; CLNET_NO_TUNE=1 gets past it */
  int rc = run_cli("tune --show", out, sizeof out);
  cr_assert_eq(rc, 1, "%s", out);
  cr_assert(strstr(out, path) && strstr(out, "corrupt CLBlast parameter file"), "%s", out);
  setenv("CLNET_NO_TUNE", "1", 1);
  rc = run_cli("tune --show", out, sizeof out);
  unsetenv("CLNET_NO_TUNE");
  cr_assert_eq(rc, 0, "%s", out);
  free(devs);
}

static const cJSON *find_row(const cJSON *results, const char *op) {
  const cJSON *row;
  cJSON_ArrayForEach(row, results) {
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(row, "op");
    if (cJSON_IsString(o) && !strcmp(o->valuestring, op)) return row;
  }
  return NULL;
}

static cJSON *read_json(const char *path) {
  FILE *fp = fopen(path, "rb");
  cr_assert_not_null(fp, "%s not written", path);
  static char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf - 1, fp);
  fclose(fp);
  buf[n] = '\0';
  cJSON *j = cJSON_Parse(buf);
  cr_assert_not_null(j, "%s is not JSON:\n%s", path, buf);
  return j;
}

static double num(const cJSON *row, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, key);
  cr_assert(cJSON_IsNumber(v), "field %s missing", key);
  return v->valuedouble;
}

Test(bench, openblas_comparison_fields, .init = setup, .fini = teardown, .timeout = 300) {
  void *lib = dlopen("libopenblas.so.0", RTLD_NOW);
  if (!lib) lib = dlopen("libopenblas.so", RTLD_NOW);
  char json[512], args[1024];
  snprintf(json, sizeof json, "%s/bench.json", tmpdir);
  snprintf(args, sizeof args, "bench --width 4 --batch 2 --input 12x12x1 --repeat 1 --json %s", json);
  int rc = run_cli(args, out, sizeof out);
  cr_assert_eq(rc, 0, "%s", out);
  cJSON *j = read_json(json);
  const cJSON *results = cJSON_GetObjectItemCaseSensitive(j, "results");
  cr_assert(cJSON_IsArray(results));
  const cJSON *sg = find_row(results, "sgemm (clnet_gemm, CLBlast)");
  cr_assert_not_null(sg, "no 1024^3 sgemm row:\n%s", out);
  cr_assert_gt(num(sg, "gflops"), 0);
  if (!lib) {
    const cJSON *skip = find_row(results, "openblas sgemm");
    cr_assert(skip && cJSON_GetObjectItemCaseSensitive(skip, "skipped"), "no skip row without OpenBLAS");
    cr_assert(strstr(out, "OpenBLAS comparison skipped"), "%s", out);
    cJSON_Delete(j);
    cr_skip_test("OpenBLAS is not installed: only the skip path was checked");
  }
  dlclose(lib);
  cr_assert(strstr(out, "OpenBLAS comparison: libopenblas"), "%s", out);
  const cJSON *ob = find_row(results, "openblas sgemm");
  cr_assert_not_null(ob, "no OpenBLAS 1024^3 row");
  cr_assert_gt(num(ob, "openblas_gflops_1_thread"), 0);
  cr_assert_gt(num(ob, "openblas_gflops_threads"), 0);
  cr_assert_geq(num(ob, "openblas_threads"), 1);
  cr_assert_gt(num(ob, "clnet_share_of_openblas"), 0);
  /* one GEMM-equivalent row per distinct conv shape; the stem: n2 12x12x1 -> 10x10x4, k3 */
  int rows = 0;
  const cJSON *row;
  cJSON_ArrayForEach(row, results) {
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(row, "op");
    if (!cJSON_IsString(o) || strcmp(o->valuestring, "openblas sgemm (GEMM-equivalent)")) continue;
    if (rows++ == 0) {
      cr_assert_eq(num(row, "m"), 2 * 10 * 10);
      cr_assert_eq(num(row, "n"), 4);
      cr_assert_eq(num(row, "k"), 9);
    }
    cr_assert_gt(num(row, "openblas_gflops_threads"), 0);
    const cJSON *share = cJSON_GetObjectItemCaseSensitive(row, "clnet_share_of_openblas");
    cr_assert(cJSON_IsObject(share));
    int passes = 0; /* one share per pass row of the layer: fwd, bwd-filter (, bwd-data) */
    const cJSON *v;
    cJSON_ArrayForEach(v, share) {
      cr_assert(cJSON_IsNumber(v) && v->valuedouble > 0, "share of %s", v->string);
      ++passes;
    }
    cr_assert_geq(passes, 2);
  }
  int convs = 0; /* layers with multiply-adds: the convs and the dense layer, one forward row each */
  cJSON_ArrayForEach(row, results) {
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(row, "op");
    convs += cJSON_IsString(o) && (!strncmp(o->valuestring, "conv2d ", 7) || !strncmp(o->valuestring, "dense ", 6)) &&
             strstr(o->valuestring, " fwd ");
  }
  cr_assert_gt(rows, 0);
  cr_assert_eq(rows, convs, "%d OpenBLAS rows for %d conv and dense shapes", rows, convs);
  cJSON_Delete(j);
}

/* The fused BasicBlock tails get rows at each distinct shape where the model runs them (width 4,
 * 12x12x1: 10x10x4, 5x5x8, 3x3x16, 2x2x32 for both), selected by --op batchnorm; batchnorm+
 * selects only them. */
Test(bench, fused_batchnorm_rows, .init = setup, .fini = teardown, .timeout = 300) {
  char json[512], args[1024];
  snprintf(json, sizeof json, "%s/bench.json", tmpdir);
  snprintf(args, sizeof args, "bench --op batchnorm --width 4 --batch 2 --input 12x12x1 --repeat 1 --json %s", json);
  int rc = run_cli(args, out, sizeof out);
  cr_assert_eq(rc, 0, "%s", out);
  cJSON *j = read_json(json);
  const cJSON *results = cJSON_GetObjectItemCaseSensitive(j, "results");
  cr_assert(cJSON_IsArray(results));
  static const char *const ops[] = {"bn+relu fwd", "bn+relu bwd", "bn+add+relu fwd", "bn+add+relu bwd"};
  static const char *const shapes[] = {"10x10x4", "5x5x8", "3x3x16", "2x2x32"};
  for (int o = 0; o < 4; ++o) {
    int found[4] = {0, 0, 0, 0}, rows = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, results) {
      const cJSON *op = cJSON_GetObjectItemCaseSensitive(row, "op");
      if (!cJSON_IsString(op) || strncmp(op->valuestring, ops[o], strlen(ops[o])) ||
          op->valuestring[strlen(ops[o])] != ' ')
        continue;
      ++rows;
      for (int k = 0; k < 4; ++k) found[k] += !strcmp(op->valuestring + strlen(ops[o]) + 1, shapes[k]);
      cr_assert_gt(num(row, "gbytes_per_s"), 0, "%s", op->valuestring);
      cr_assert_gt(num(row, "ms"), 0);
    }
    cr_assert_eq(rows, 4, "%s: %d rows, one per distinct shape expected:\n%s", ops[o], rows, out);
    for (int k = 0; k < 4; ++k) cr_assert_eq(found[k], 1, "%s at %s:\n%s", ops[o], shapes[k], out);
  }
  cJSON_Delete(j);
  rc = run_cli("bench --op batchnorm+ --width 4 --batch 2 --input 12x12x1 --repeat 1", out, sizeof out);
  cr_assert_eq(rc, 0, "%s", out);
  cr_assert(strstr(out, "\nbn+add+relu bwd ") && strstr(out, "\nbn+relu fwd ") && !strstr(out, "\nconv2d ") &&
                !strstr(out, "\nadd fwd"), "%s", out);
}
