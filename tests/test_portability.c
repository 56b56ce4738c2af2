/* Every OpenCL implementation: the quick subset covers the full table's kernels, launches honour
 * lowered device limits (CLNET_DEVICE_LIMITS), and the init-tracking path Oclgrind needs
 * (host stores by kernel, fresh buffers marked uninitialised) gives the same results on the test
 * device. The Oclgrind runs themselves are the ctest entries oclgrind_* (tests/oclgrind_check.sh). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clnet/check.h"
#include "clnet/clnet.h"
#include "runtime/ctx.h"

/* Runs the cases (all, or the quick ones) on a fresh device ctx; returns the failures and fills
 * names with the kernels launched, "\n"-separated and sorted by first launch. */
static int run_cases(int quick, char *names, size_t cap) {
  clnet_ctx *dev = NULL, *ref = NULL;
  cr_assert_eq(clnet_ctx_create(NULL, &dev), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_ctx_create("ref", &ref), CLNET_SUCCESS);
  int failed = 0;
  for (int32_t i = 0; i < clnet_check_case_count(); ++i) {
    if (quick && !clnet_check_case_quick(i)) continue;
    clnet_check_result r;
    const clnet_check_case *c = clnet_check_case_get(i);
    clnet_status st = clnet_check_run(dev, ref, c, 1 + (uint64_t)i, &r);
    if (st != CLNET_SUCCESS || !r.passed) {
      ++failed;
      cr_log_error("%s %s: %s", c->op, c->shape, r.detail[0] ? r.detail : clnet_last_error());
    }
  }
  if (names) {
    names[0] = '\0';
    char one[160];
    for (int32_t k = 0; k < clnet_ctx_kernel_count(dev); ++k) {
      clnet_ctx_kernel_name(dev, k, one, sizeof one);
      strncat(names, one, cap - strlen(names) - 2);
      strcat(names, "\n");
    }
  }
  clnet_ctx_free(dev);
  clnet_ctx_free(ref);
  return failed;
}

static int has_line(const char *text, const char *line) {
  const size_t n = strlen(line);
  for (const char *p = text; (p = strstr(p, line)); p += n)
    if ((p == text || p[-1] == '\n') && p[n] == '\n') return 1;
  return 0;
}

Test(quick, names_every_case_it_lists) {
  const char *stale = NULL;
  cr_assert_eq(clnet_check_quick_unmatched(&stale), 0, "host/check/quick.c lists '%s', which is no case", stale);
}

/* the subset launches every kernel the full table launches (kernel variants are kernels) */
Test(quick, launches_every_kernel_of_the_full_table, .timeout = 900) {
  static char full[16384], quick[16384];
  cr_assert_eq(run_cases(0, full, sizeof full), 0);
  cr_assert_eq(run_cases(1, quick, sizeof quick), 0);
  int missing = 0;
  for (char *line = full, *end; *line; line = end + 1) {
    end = strchr(line, '\n');
    *end = '\0';
    if (!has_line(quick, line)) {
      cr_log_error("clnet check --quick never launches %s: add a small case to host/check/quick.c", line);
      ++missing;
    }
    *end = '\n';
  }
  cr_assert_eq(missing, 0);
  cr_assert(strlen(full) > 1000, "the full table launched hardly any kernels:\n%s", full);
}

Test(limits, spec_parsing) {
  clnet_device_info d;
  memset(&d, 0, sizeof d);
  d.max_work_group_size = 1024;
  d.max_work_item_sizes[0] = d.max_work_item_sizes[1] = 1024, d.max_work_item_sizes[2] = 64;
  d.local_mem_bytes = 65536, d.max_alloc_bytes = 1ull << 32, d.global_mem_bytes = 1ull << 34;
  cr_assert_eq(clnet_device_limits_apply(&d, "wg=128,local=16K,alloc=64M,global=1G"), CLNET_SUCCESS);
  cr_assert_eq(d.max_work_group_size, 128);
  cr_assert_eq(d.max_work_item_sizes[0], 128);
  cr_assert_eq(d.max_work_item_sizes[2], 64, "a limit is only lowered");
  cr_assert_eq(d.local_mem_bytes, 16384);
  cr_assert_eq(d.max_alloc_bytes, 64ull << 20);
  cr_assert_eq(d.global_mem_bytes, 1ull << 30);
  cr_assert_eq(clnet_device_limits_apply(&d, "wg=4096"), CLNET_SUCCESS);
  cr_assert_eq(d.max_work_group_size, 128, "never raised");
  const char *bad[] = {"wg=0", "wg=", "wg", "threads=64", "wg=64,", "local=16Q", "wg=-1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i)
    cr_assert_eq(clnet_device_limits_apply(&d, bad[i]), CLNET_ERR_INVALID_ARGUMENT, "'%s' accepted", bad[i]);
  cr_assert(strstr(clnet_last_error(), "wg=N"), "%s", clnet_last_error());
  cr_assert_eq(clnet_device_limits_apply(&d, ""), CLNET_SUCCESS);
  d.type = CL_DEVICE_TYPE_CPU;
  cr_assert_eq(clnet_device_limits_apply(&d, "wg=64,type=gpu"), CLNET_SUCCESS);
  cr_assert_eq(d.type, CL_DEVICE_TYPE_GPU);
  cr_assert_eq(clnet_device_limits_apply(&d, "type=fpga"), CLNET_ERR_INVALID_ARGUMENT);
}

/* the quick subset on the test device with a small GPU's limits: local sizes over the group limit
 * are halved, softmax_xent picks a smaller group, chunks follow the lowered largest buffer */
static void quick_under(const char *limits) {
  setenv("CLNET_DEVICE_LIMITS", limits, 1);
  clnet_ctx *dev = NULL;
  cr_assert_eq(clnet_ctx_create(NULL, &dev), CLNET_SUCCESS, "%s", clnet_last_error());
  const clnet_device_info *di = clnet_ctx_device_info(dev);
  cr_assert(di->max_work_group_size <= 256 && di->local_mem_bytes <= 32768, "%s not applied", limits);
  clnet_ctx_free(dev);
  cr_assert_eq(run_cases(1, NULL, 0), 0, "clnet check --quick fails with CLNET_DEVICE_LIMITS=%s", limits);
  unsetenv("CLNET_DEVICE_LIMITS");
}
Test(limits, quick_wg64_local16k, .timeout = 900) { quick_under("wg=64,local=16K"); }
Test(limits, quick_wg128_local32k, .timeout = 900) { quick_under("wg=128,local=32K"); }
Test(limits, quick_wg256_local16k_alloc1m, .timeout = 900) { quick_under("wg=256,local=16K,alloc=1M"); }
Test(limits, quick_wg16_local256, .timeout = 900) { quick_under("wg=16,local=256"); }
/* the GPU-shaped paths (Winograd transform groups along channels, 8x8 GEMM groups, BN partial
 * groups over several blocks, no CPU-only barriers) on the test device */
Test(limits, quick_as_a_gpu_wg256, .timeout = 900) { quick_under("type=gpu,wg=256,local=32K"); }

/* a launch whose local memory is sized by its group cannot be halved: it says so */
Test(limits, fixed_group_that_does_not_fit_fails_clearly) {
  setenv("CLNET_DEVICE_LIMITS", "wg=32", 1);
  clnet_ctx *dev = NULL;
  cr_assert_eq(clnet_ctx_create(NULL, &dev), CLNET_SUCCESS, "%s", clnet_last_error());
  unsetenv("CLNET_DEVICE_LIMITS");
  clnet_buf b;
  cr_assert_eq(clnet_buf_alloc(dev, 1024, "t", &b), CLNET_SUCCESS);
  size_t limit = 0;
  cr_assert_eq(clnet_kernel_wg_limit(dev, "loss", "softmax_xent", &limit), CLNET_SUCCESS);
  cr_assert_eq(limit, 32);
  const size_t g = 64, l = 64;
  clnet_status st = CLNET_LAUNCH(dev, "loss", "softmax_xent", 1, &g, &l, CLNET_ARG_I32(1), CLNET_ARG_I32(1),
                                 CLNET_ARG_F32(0), CLNET_ARG_F32(1), CLNET_ARG_F32(0), CLNET_ARG_BUF(&b),
                                 CLNET_ARG_BUF(&b), CLNET_ARG_BUF(&b), CLNET_ARG_BUF(&b),
                                 CLNET_ARG_LOCAL(256), CLNET_ARG_LOCAL(256));
  cr_assert_eq(st, CLNET_ERR_TOO_LARGE, "%s", clnet_last_error());
  cr_assert(strstr(clnet_last_error(), "allows 32"), "%s", clnet_last_error());
  clnet_buf_free(dev, &b);
  clnet_ctx_free(dev);
}

/* the Oclgrind path on the test device: every write, fill and copy through cl/memory.cl, new
 * buffers filled with junk by mem_poison, no guard zones -- results must not change */
Test(init_tracking, quick_subset_unchanged, .timeout = 900) {
  setenv("CLNET_INIT_TRACKING", "1", 1);
  clnet_ctx *dev = NULL;
  cr_assert_eq(clnet_ctx_create(NULL, &dev), CLNET_SUCCESS);
  cr_assert_eq(dev->init_tracking, 1);
  /* stores by kernel: a write at an odd offset and length, a fill, a copy */
  clnet_buf a, b;
  cr_assert_eq(clnet_buf_alloc(dev, 103, "a", &a), CLNET_SUCCESS);
  cr_assert_eq(clnet_buf_alloc(dev, 103, "b", &b), CLNET_SUCCESS);
  unsigned char src[103], back[103];
  for (int i = 0; i < 103; ++i) src[i] = (unsigned char)(7 * i + 1);
  cr_assert_eq(clnet_buf_fill(dev, &a, 0, 100, 0x01020304u), CLNET_SUCCESS);
  cr_assert_eq(clnet_buf_write(dev, &a, 5, 61, src), CLNET_SUCCESS);
  cr_assert_eq(clnet_buf_copy(dev, &a, 3, &b, 1, 90), CLNET_SUCCESS);
  cr_assert_eq(clnet_buf_read(dev, &b, 1, 90, back), CLNET_SUCCESS);
  for (int i = 0; i < 90; ++i) {
    const int j = i + 3; /* byte j of a */
    const unsigned char fill = (unsigned char)(0x01020304u >> (8 * (j % 4)));
    const unsigned char want = j >= 5 && j < 66 ? src[j - 5] : fill;
    cr_assert_eq(back[i], want, "byte %d of the copy: %u, expected %u", i, back[i], want);
  }
  clnet_buf_free(dev, &a);
  clnet_buf_free(dev, &b);
  clnet_ctx_free(dev);
  cr_assert_eq(run_cases(1, NULL, 0), 0);
  unsetenv("CLNET_INIT_TRACKING");
}
