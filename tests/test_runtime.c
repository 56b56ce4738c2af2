/* Runtime: device selection, allocator limits, program build errors and the
 * on-disk program cache. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clnet/clnet.h"
#include "runtime/ctx.h"

static clnet_device_info fake(int32_t index, int32_t p, int32_t d, const char *name, cl_device_type type) {
  clnet_device_info i;
  memset(&i, 0, sizeof i);
  i.index = index;
  i.platform_index = p;
  i.device_index = d;
  snprintf(i.name, sizeof i.name, "%s", name);
  i.type = type;
  return i;
}

static clnet_device_info devs[3];
static void setup_fakes(void) {
  unsetenv("CLNET_DEVICE");
  devs[0] = fake(0, 0, 0, "pthread-skylake CPU", CL_DEVICE_TYPE_CPU);
  devs[1] = fake(1, 1, 0, "NVIDIA H200", CL_DEVICE_TYPE_GPU);
  devs[2] = fake(2, 1, 1, "NVIDIA H100", CL_DEVICE_TYPE_GPU);
}

Test(select, by_index_pd_name_ref, .init = setup_fakes) {
  int32_t idx = -1, is_ref = 0;
  cr_assert_eq(clnet_device_select("2", devs, 3, &idx, &is_ref), CLNET_SUCCESS);
  cr_assert_eq(idx, 2);
  cr_assert_eq(clnet_device_select("1:0", devs, 3, &idx, &is_ref), CLNET_SUCCESS);
  cr_assert_eq(idx, 1);
  cr_assert_eq(clnet_device_select("h100", devs, 3, &idx, &is_ref), CLNET_SUCCESS);
  cr_assert_eq(idx, 2);
  cr_assert_eq(clnet_device_select("SKYLAKE", devs, 3, &idx, &is_ref), CLNET_SUCCESS);
  cr_assert_eq(idx, 0);
  cr_assert_eq(clnet_device_select("ref", devs, 3, &idx, &is_ref), CLNET_SUCCESS);
  cr_assert_eq(is_ref, 1);
}

Test(select, default_prefers_gpu_then_env, .init = setup_fakes) {
  int32_t idx = -1, is_ref = 0;
  cr_assert_eq(clnet_device_select(NULL, devs, 3, &idx, &is_ref), CLNET_SUCCESS);
  cr_assert_eq(idx, 1, "first GPU expected, got %d", idx);
  cr_assert_eq(clnet_device_select(NULL, devs, 1, &idx, &is_ref), CLNET_SUCCESS);
  cr_assert_eq(idx, 0, "no GPU: first device");
  setenv("CLNET_DEVICE", "0:0", 1);
  cr_assert_eq(clnet_device_select(NULL, devs, 3, &idx, &is_ref), CLNET_SUCCESS);
  cr_assert_eq(idx, 0);
  cr_assert_eq(clnet_device_select("2", devs, 3, &idx, &is_ref), CLNET_SUCCESS);
  cr_assert_eq(idx, 2, "--device wins over CLNET_DEVICE");
}

Test(select, errors_list_devices, .init = setup_fakes) {
  int32_t idx = -1, is_ref = 0;
  cr_assert_eq(clnet_device_select("nosuchdevice", devs, 3, &idx, &is_ref), CLNET_ERR_DEVICE_NOT_FOUND);
  cr_assert(strstr(clnet_last_error(), "nosuchdevice") && strstr(clnet_last_error(), "NVIDIA H200") &&
                strstr(clnet_last_error(), "1:1"),
            "message: %s", clnet_last_error());
  cr_assert_eq(clnet_device_select("nvidia", devs, 3, &idx, &is_ref), CLNET_ERR_DEVICE_AMBIGUOUS);
  cr_assert(strstr(clnet_last_error(), "H100") && strstr(clnet_last_error(), "H200"), "%s", clnet_last_error());
  cr_assert_eq(clnet_device_select("7", devs, 3, &idx, &is_ref), CLNET_ERR_DEVICE_NOT_FOUND);
  cr_assert_eq(clnet_device_select("3:0", devs, 3, &idx, &is_ref), CLNET_ERR_DEVICE_NOT_FOUND);
  cr_assert_eq(clnet_device_select(NULL, devs, 0, &idx, &is_ref), CLNET_ERR_DEVICE_NOT_FOUND);
}

Test(runtime, lists_a_real_device) {
  clnet_device_info *list = NULL;
  int32_t n = 0;
  cr_assert_eq(clnet_devices_list(&list, &n), CLNET_SUCCESS);
  cr_assert_gt(n, 0, "no OpenCL device (PoCL expected)");
  cr_assert_gt(list[0].global_mem_bytes, 0);
  cr_assert_gt(list[0].max_alloc_bytes, 0);
  cr_assert_gt(strlen(list[0].name), 0);
  free(list);
}

Test(runtime, allocation_beyond_limits_is_refused_with_sizes) {
  clnet_ctx *ctx = NULL;
  cr_assert_eq(clnet_ctx_create(NULL, &ctx), CLNET_SUCCESS, "%s", clnet_last_error());
  const clnet_device_info *info = clnet_ctx_device_info(ctx);
  clnet_buf b;
  cr_assert_eq(clnet_buf_alloc(ctx, (size_t)info->max_alloc_bytes + 4096, "huge tensor", &b), CLNET_ERR_TOO_LARGE);
  cr_assert(strstr(clnet_last_error(), "huge tensor") && strstr(clnet_last_error(), "GiB"), "%s", clnet_last_error());
  /* many allocations that together exceed global memory */
  clnet_buf bufs[64];
  int n = 0;
  clnet_status st = CLNET_SUCCESS;
  while (n < 64 && (st = clnet_buf_alloc(ctx, (size_t)info->max_alloc_bytes, "block", &bufs[n])) == CLNET_SUCCESS) ++n;
  cr_assert_eq(st, CLNET_ERR_TOO_LARGE, "global memory limit not enforced after %d blocks", n);
  cr_assert(strstr(clnet_last_error(), "global memory"), "%s", clnet_last_error());
  for (int i = 0; i < n; ++i) clnet_buf_free(ctx, &bufs[i]);
  cr_assert_eq(clnet_ctx_get_stats(ctx).bytes_in_use, 0);
  clnet_ctx_free(ctx);
}

Test(runtime, buffers_views_roundtrip) {
  const char *sel[] = {NULL, "ref"};
  for (int s = 0; s < 2; ++s) {
    clnet_ctx *ctx = NULL;
    cr_assert_eq(clnet_ctx_create(sel[s], &ctx), CLNET_SUCCESS);
    size_t al = clnet_buf_align(ctx);
    clnet_buf b, v;
    cr_assert_eq(clnet_buf_alloc(ctx, 8 * al + 64, "t", &b), CLNET_SUCCESS);
    cr_assert_eq(clnet_buf_fill(ctx, &b, 0, b.bytes, 0x01020304u), CLNET_SUCCESS);
    cr_assert_eq(clnet_buf_view(ctx, &b, al, 4 * al + 16, &v), CLNET_SUCCESS);
    float data[4] = {1, 2, 3, 4}, back[4];
    cr_assert_eq(clnet_buf_write(ctx, &v, 0, sizeof data, data), CLNET_SUCCESS);
    cr_assert_eq(clnet_buf_read(ctx, &b, al, sizeof back, back), CLNET_SUCCESS);
    cr_assert_arr_eq(data, back, sizeof data);
    uint32_t before;
    cr_assert_eq(clnet_buf_read(ctx, &b, al - 4, 4, &before), CLNET_SUCCESS);
    cr_assert_eq(before, 0x01020304u);
    cr_assert_eq(clnet_buf_read(ctx, &v, 4 * al + 8, 16, back), CLNET_ERR_INVALID_ARGUMENT, "read past a view");
    if (al > 4) cr_assert_eq(clnet_buf_view(ctx, &b, 4, 8, &v), CLNET_ERR_INVALID_ARGUMENT, "misaligned view");
    clnet_buf_free(ctx, &v);
    clnet_buf_free(ctx, &b);
    clnet_ctx_free(ctx);
  }
}

static char tmpdir[256];
static void make_tmp(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/clnet-rt-XXXXXX");
  cr_assert_not_null(mkdtemp(tmpdir));
}

static int run_relu_once(void) {
  clnet_ctx *ctx = NULL;
  cr_assert_eq(clnet_ctx_create(NULL, &ctx), CLNET_SUCCESS, "%s", clnet_last_error());
  clnet_buf x;
  cr_assert_eq(clnet_buf_alloc(ctx, 64, "x", &x), CLNET_SUCCESS);
  clnet_status st = clnet_relu_forward(ctx, 16, &x, &x);
  if (st == CLNET_SUCCESS) st = clnet_ctx_finish(ctx);
  clnet_ctx_stats s = clnet_ctx_get_stats(ctx);
  clnet_buf_free(ctx, &x);
  clnet_ctx_free(ctx);
  return st != CLNET_SUCCESS ? -1 : s.programs_built * 100 + s.programs_cached;
}

/* The binary cache itself, forced on (PoCL caches its builds and clnet does not store its
 * binaries there by default: program_binaries_are_not_stored_on_pocl). */
Test(program, disk_cache_second_run_compiles_nothing, .init = make_tmp) {
  setenv("CLNET_CACHE_DIR", tmpdir, 1);
  setenv("CLNET_PROGRAM_BINARIES", "1", 1);
  unsetenv("CLNET_NO_CACHE");
  cr_assert_eq(run_relu_once(), 100, "first run must build from source");
  cr_assert_eq(run_relu_once(), 1, "second run must load from the cache and build nothing");
  /* a corrupt cache entry is rebuilt, not trusted */
  char cmd[512];
  snprintf(cmd, sizeof cmd, "for f in %s/*.bin; do printf 'garbage' > \"$f\"; done", tmpdir);
  cr_assert_eq(system(cmd), 0);
  cr_assert_eq(run_relu_once(), 100, "corrupt entry must be rebuilt");
  setenv("CLNET_NO_CACHE", "1", 1);
  cr_assert_eq(run_relu_once(), 100, "CLNET_NO_CACHE=1 must bypass the cache");
  unsetenv("CLNET_NO_CACHE");
  setenv("CLNET_PROGRAM_BINARIES", "0", 1);
  cr_assert_eq(run_relu_once(), 100, "CLNET_PROGRAM_BINARIES=0 must bypass the cache");
  unsetenv("CLNET_PROGRAM_BINARIES");
}

/* On PoCL, asking for a program's binary compiles every kernel of the program, and PoCL keeps its
 * own cache of builds: clnet stores no binary there unless told to. */
Test(program, program_binaries_are_not_stored_on_pocl, .init = make_tmp) {
  setenv("CLNET_CACHE_DIR", tmpdir, 1);
  unsetenv("CLNET_NO_CACHE");
  unsetenv("CLNET_PROGRAM_BINARIES");
  clnet_ctx *ctx = NULL;
  cr_assert_eq(clnet_ctx_create(NULL, &ctx), CLNET_SUCCESS, "%s", clnet_last_error());
  const int pocl = strstr(clnet_ctx_device_info(ctx)->platform_name, "Portable Computing Language") != NULL;
  clnet_ctx_free(ctx);
  cr_assert(pocl, "the suite runs on PoCL");
  cr_assert_eq(run_relu_once(), 100);
  cr_assert_eq(run_relu_once(), 100, "no binary was stored, so the second run builds again (from PoCL's cache)");
  char cmd[512];
  snprintf(cmd, sizeof cmd, "ls %s/*.bin >/dev/null 2>&1", tmpdir);
  cr_assert_neq(system(cmd), 0, "a program binary was written to %s", tmpdir);
}

Test(program, kernel_dir_build_error_names_the_file, .init = make_tmp) {
  setenv("CLNET_NO_CACHE", "1", 1);
  char path[512];
  snprintf(path, sizeof path, "%s/eltwise.cl", tmpdir);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs("__kernel void relu_forward(const int n, __global float *x, __global float *y) { y[0] = undefined_thing; }\n", f);
  fclose(f);
  setenv("CLNET_KERNEL_DIR", tmpdir, 1);
  clnet_ctx *ctx = NULL;
  cr_assert_eq(clnet_ctx_create(NULL, &ctx), CLNET_SUCCESS);
  clnet_buf x;
  cr_assert_eq(clnet_buf_alloc(ctx, 64, "x", &x), CLNET_SUCCESS);
  cr_assert_eq(clnet_relu_forward(ctx, 16, &x, &x), CLNET_ERR_BUILD);
  cr_assert(strstr(clnet_last_error(), "cl/eltwise.cl") && strstr(clnet_last_error(), "undefined_thing"),
            "message must name the file and carry the compiler log: %s", clnet_last_error());
  /* a file missing from the directory is an error, never an empty program */
  cr_assert_eq(clnet_add_forward(ctx, 4, &x, &x, &x), CLNET_ERR_BUILD, "same file, still broken");
  unlink(path);
  clnet_buf_free(ctx, &x);
  clnet_ctx_free(ctx);
  clnet_ctx *ctx2 = NULL;
  cr_assert_eq(clnet_ctx_create(NULL, &ctx2), CLNET_SUCCESS);
  cr_assert_eq(clnet_buf_alloc(ctx2, 64, "x", &x), CLNET_SUCCESS);
  cr_assert_eq(clnet_relu_forward(ctx2, 16, &x, &x), CLNET_ERR_KERNEL_NOT_FOUND);
  cr_assert(strstr(clnet_last_error(), "eltwise.cl"), "%s", clnet_last_error());
  clnet_buf_free(ctx2, &x);
  clnet_ctx_free(ctx2);
}

Test(status, names) {
  cr_assert_str_eq(clnet_status_str(CLNET_SUCCESS), "CLNET_SUCCESS");
  cr_assert_str_eq(clnet_status_str(-5), "CL_OUT_OF_RESOURCES");
  cr_assert_str_eq(clnet_status_str(CLNET_ERR_FORMAT), "CLNET_ERR_FORMAT");
}

Test(ops, shape_errors_are_reported) {
  clnet_ctx *ctx = NULL;
  cr_assert_eq(clnet_ctx_create("ref", &ctx), CLNET_SUCCESS);
  clnet_buf x;
  cr_assert_eq(clnet_buf_alloc(ctx, 16, "x", &x), CLNET_SUCCESS);
  cr_assert_eq(clnet_relu_forward(ctx, 5, &x, &x), CLNET_ERR_INVALID_ARGUMENT, "5 floats do not fit 16 bytes");
  cr_assert(strstr(clnet_last_error(), "relu_forward"), "%s", clnet_last_error());
  int32_t out = 0, pad = 0;
  cr_assert_eq(clnet_padding_out(30, 3, 2, CLNET_PADDING_SAME, &out, &pad), CLNET_SUCCESS);
  cr_assert(out == 15 && pad == 0, "30/3/2 same: out %d pad_before %d", out, pad);
  cr_assert_eq(clnet_padding_out(30, 2, 1, CLNET_PADDING_SAME, &out, &pad), CLNET_SUCCESS);
  cr_assert(out == 30 && pad == 0, "maxpool 2x2 s1 same pads 0 before, 1 after");
  cr_assert_eq(clnet_padding_out(32, 3, 1, CLNET_PADDING_VALID, &out, &pad), CLNET_SUCCESS);
  cr_assert_eq(out, 30);
  cr_assert_eq(clnet_padding_out(15, 3, 2, CLNET_PADDING_SAME, &out, &pad), CLNET_SUCCESS);
  cr_assert(out == 8 && pad == 1, "15/3/2 same: out %d pad %d", out, pad);
  cr_assert_eq(clnet_padding_out(2, 3, 1, CLNET_PADDING_VALID, &out, &pad), CLNET_ERR_INVALID_ARGUMENT);
  clnet_buf_free(ctx, &x);
  clnet_ctx_free(ctx);
}

/* ---- attached state (clnet_ctx_state_get / _set) ---- */

static char destroyed[16];
static int n_destroyed;
static void note_destroy(void *v) { destroyed[n_destroyed++] = *(char *)v; }

Test(state, attach_replace_detach_and_free_in_reverse_order) {
  static const clnet_ctx_state_key ka = {"a"}, kb = {"b"}, kc = {"c"};
  static char va = 'a', vb = 'b', vc = 'c', vd = 'd';
  clnet_ctx *ctx = NULL;
  cr_assert_eq(clnet_ctx_create("ref", &ctx), CLNET_SUCCESS);
  n_destroyed = 0;
  cr_assert_null(clnet_ctx_state_get(ctx, &ka));
  cr_assert_eq(clnet_ctx_state_set(ctx, &ka, &va, note_destroy), CLNET_SUCCESS);
  cr_assert_eq(clnet_ctx_state_set(ctx, &kb, &vb, note_destroy), CLNET_SUCCESS);
  cr_assert_eq(clnet_ctx_state_set(ctx, &kc, &vc, note_destroy), CLNET_SUCCESS);
  cr_assert_eq(clnet_ctx_state_get(ctx, &kb), &vb);
  cr_assert_eq(clnet_ctx_state_set(ctx, &kb, &vd, note_destroy), CLNET_SUCCESS); /* replaced: b destroyed */
  cr_assert_eq(clnet_ctx_state_get(ctx, &kb), &vd);
  cr_assert_eq(clnet_ctx_state_set(ctx, &kc, NULL, NULL), CLNET_SUCCESS); /* detached: c destroyed */
  cr_assert_null(clnet_ctx_state_get(ctx, &kc));
  cr_assert_eq(n_destroyed, 2);
  cr_assert_eq(destroyed[0], 'b');
  cr_assert_eq(destroyed[1], 'c');
  clnet_ctx_free(ctx); /* the last attached first: d, then a */
  cr_assert_eq(n_destroyed, 4);
  cr_assert_eq(destroyed[2], 'd');
  cr_assert_eq(destroyed[3], 'a');
}

Test(state, full_slots_are_refused_with_a_message) {
  static const clnet_ctx_state_key keys[CLNET_CTX_STATE_SLOTS + 1] = {{"k"}};
  static int v;
  clnet_ctx *ctx = NULL;
  cr_assert_eq(clnet_ctx_create("ref", &ctx), CLNET_SUCCESS);
  clnet_status st = CLNET_SUCCESS;
  for (int32_t i = 0; i <= CLNET_CTX_STATE_SLOTS && st == CLNET_SUCCESS; ++i)
    st = clnet_ctx_state_set(ctx, &keys[i], &v, NULL);
  cr_assert_eq(st, CLNET_ERR_OUT_OF_HOST_MEMORY);
  cr_assert_eq(ctx->n_state, CLNET_CTX_STATE_SLOTS);
  cr_assert(strstr(clnet_last_error(), "state slots"));
  clnet_ctx_free(ctx);
}
