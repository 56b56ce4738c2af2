/* Profiling (clnet_ctx_set_profiling, clnet_profile_report): a known sequence of commands comes
 * back with the right labels and counts, non-negative times and shares summing to 1; nothing is
 * recorded while it is off; more commands than the pending ring holds are all counted; the
 * graph labels its ops; the reference backend refuses; and the --profile tables of the CLI. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clnet/clnet.h"
#include "runtime/ctx.h"
#include "cifar_files.h"
#include "cli_run.h"

static clnet_ctx *open_ctx(void) {
  unsetenv("CLNET_DEVICE");
  clnet_ctx *ctx = NULL;
  cr_assert_eq(clnet_ctx_create(NULL, &ctx), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert(!clnet_ctx_is_ref(ctx), "an OpenCL device (PoCL) is expected");
  return ctx;
}

/* The row labelled `label`, or NULL. */
static const clnet_profile_row *row(const clnet_profile_row *rows, int32_t n, const char *label) {
  for (int32_t i = 0; i < n; ++i)
    if (!strcmp(rows[i].label, label)) return &rows[i];
  return NULL;
}

/* Rows of one grouping, checked for what every report must satisfy: times >= 0 and sorted
 * longest first, shares in [0, 1] summing to 1, total_ms the sum of the rows. */
static clnet_profile_row *report(clnet_ctx *ctx, clnet_profile_group by, int32_t *n) {
  clnet_profile_row *rows = NULL;
  double total = -1;
  cr_assert_eq(clnet_profile_report(ctx, by, &rows, n, &total), CLNET_SUCCESS, "%s", clnet_last_error());
  double sum_ms = 0, sum_share = 0;
  for (int32_t i = 0; i < *n; ++i) {
    cr_assert(rows[i].ms >= 0 && isfinite(rows[i].ms), "row '%s': %g ms", rows[i].label, rows[i].ms);
    cr_assert(rows[i].share >= 0 && rows[i].share <= 1, "row '%s': share %g", rows[i].label, rows[i].share);
    cr_assert_gt(rows[i].count, 0, "row '%s'", rows[i].label);
    if (i > 0) cr_assert(rows[i - 1].ms >= rows[i].ms, "rows %d and %d are not sorted by time", i - 1, i);
    sum_ms += rows[i].ms;
    sum_share += rows[i].share;
  }
  cr_assert(fabs(total - sum_ms) <= 1e-9 * (1 + sum_ms), "total %g ms, rows sum to %g ms", total, sum_ms);
  if (*n > 0 && total > 0) cr_assert(fabs(sum_share - 1) < 1e-9, "shares sum to %.12f", sum_share);
  return rows;
}

static void expect(const clnet_profile_row *rows, int32_t n, const char *label, int64_t count) {
  const clnet_profile_row *r = row(rows, n, label);
  cr_assert_not_null(r, "no row '%s' (of %d)", label, n);
  cr_assert_eq(r->count, count, "row '%s': %lld commands, expected %lld", label, (long long)r->count,
               (long long)count);
}

Test(profile, a_known_sequence_by_kernel_by_op_and_both) {
  clnet_ctx *ctx = open_ctx();
  cr_assert_eq(clnet_ctx_set_profiling(ctx, 1), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_ctx_profiling(ctx), 1);
  const int64_t count = 4096;
  clnet_buf x, y, a, c;
  cr_assert_eq(clnet_buf_alloc(ctx, count * 4, "x", &x), CLNET_SUCCESS);
  cr_assert_eq(clnet_buf_alloc(ctx, count * 4, "y", &y), CLNET_SUCCESS);
  cr_assert_eq(clnet_buf_alloc(ctx, 64 * 64 * 4, "a", &a), CLNET_SUCCESS);
  cr_assert_eq(clnet_buf_alloc(ctx, 64 * 64 * 4, "c", &c), CLNET_SUCCESS);
  clnet_profile_op(ctx, "op %s", "A");
  for (int i = 0; i < 2; ++i) cr_assert_eq(clnet_buf_fill(ctx, &x, 0, count * 4, 0x3f800000u), CLNET_SUCCESS);
  for (int i = 0; i < 3; ++i) cr_assert_eq(clnet_relu_forward(ctx, count, &x, &y), CLNET_SUCCESS);
  clnet_profile_op(ctx, "B");
  cr_assert_eq(clnet_buf_copy(ctx, &y, 0, &x, 0, count * 4), CLNET_SUCCESS);
  cr_assert_eq(clnet_relu_forward(ctx, count, &x, &y), CLNET_SUCCESS);
  cr_assert_eq(clnet_gemm(ctx, 0, 0, 64, 64, 64, 1.0f, &a, 0, 64, &a, 0, 64, 0.0f, &c, 0, 64), CLNET_SUCCESS,
               "%s", clnet_last_error());
  cl_event done = NULL;
  float host[16];
  cr_assert_eq(clnet_buf_read_async(ctx, &y, 0, sizeof host, host, &done), CLNET_SUCCESS);
  cr_assert_eq(clnet_event_wait_release(&done), CLNET_SUCCESS);
  cr_assert_eq(host[3], 1.0f);
  clnet_profile_op(ctx, NULL);
  cr_assert_eq(clnet_buf_write(ctx, &x, 0, sizeof host, host), CLNET_SUCCESS);
  cr_assert_eq(clnet_buf_read(ctx, &x, 0, sizeof host, host), CLNET_SUCCESS);

  int32_t n = 0;
  clnet_profile_row *rows = report(ctx, CLNET_PROFILE_BY_KERNEL, &n);
  cr_assert_eq(n, 6, "kernel rows: %d", n);
  expect(rows, n, "relu_forward", 4);
  expect(rows, n, "fill buffer", 2);
  expect(rows, n, "copy buffer", 1);
  expect(rows, n, "CLBlastSgemm", 1);
  expect(rows, n, "read buffer", 2);
  expect(rows, n, "write buffer", 1);
  double total = 0;
  for (int32_t i = 0; i < n; ++i) total += rows[i].ms;
  cr_assert_gt(total, 0, "8 kernels on 4096 floats and a 64^3 GEMM took no device time");
  cr_assert_gt(row(rows, n, "CLBlastSgemm")->ms, 0);
  free(rows);

  rows = report(ctx, CLNET_PROFILE_BY_OP, &n);
  cr_assert_eq(n, 3, "op rows: %d", n);
  expect(rows, n, "op A", 5);
  expect(rows, n, "B", 4);
  expect(rows, n, "(no op label)", 2);
  free(rows);

  rows = report(ctx, CLNET_PROFILE_BY_OP_KERNEL, &n);
  cr_assert_eq(n, 8, "op | kernel rows: %d", n);
  expect(rows, n, "op A | fill buffer", 2);
  expect(rows, n, "op A | relu_forward", 3);
  expect(rows, n, "B | relu_forward", 1);
  expect(rows, n, "B | copy buffer", 1);
  expect(rows, n, "B | CLBlastSgemm", 1);
  expect(rows, n, "B | read buffer", 1);
  expect(rows, n, "(no op label) | write buffer", 1);
  expect(rows, n, "(no op label) | read buffer", 1);
  free(rows);

  /* a report does not consume what it reports; a reset does */
  rows = report(ctx, CLNET_PROFILE_BY_KERNEL, &n);
  expect(rows, n, "relu_forward", 4);
  free(rows);
  clnet_profile_reset(ctx);
  rows = report(ctx, CLNET_PROFILE_BY_KERNEL, &n);
  cr_assert_eq(n, 0);
  cr_assert_null(rows);
  cr_assert_eq(clnet_profile_report(ctx, (clnet_profile_group)7, &rows, &n, NULL), CLNET_ERR_INVALID_ARGUMENT);
  clnet_buf_free(ctx, &x);
  clnet_buf_free(ctx, &y);
  clnet_buf_free(ctx, &a);
  clnet_buf_free(ctx, &c);
  clnet_ctx_free(ctx);
}

Test(profile, nothing_is_recorded_while_off) {
  clnet_ctx *ctx = open_ctx();
  cr_assert_eq(clnet_ctx_profiling(ctx), 0, "profiling must be off by default");
  clnet_buf x, y;
  cr_assert_eq(clnet_buf_alloc(ctx, 1024 * 4, "x", &x), CLNET_SUCCESS);
  cr_assert_eq(clnet_buf_alloc(ctx, 1024 * 4, "y", &y), CLNET_SUCCESS);
  clnet_profile_op(ctx, "ignored while off");
  cr_assert_eq(clnet_buf_fill(ctx, &x, 0, 1024 * 4, 0), CLNET_SUCCESS);
  cr_assert_eq(clnet_relu_forward(ctx, 1024, &x, &y), CLNET_SUCCESS);
  cr_assert_eq(clnet_ctx_finish(ctx), CLNET_SUCCESS);
  int32_t n = -1;
  clnet_profile_row *rows = report(ctx, CLNET_PROFILE_BY_KERNEL, &n);
  cr_assert_eq(n, 0, "a ctx that never profiled reported %d rows", n);
  cr_assert_null(rows);
  /* on for exactly one command, then off again: that one command and nothing after it */
  cr_assert_eq(clnet_ctx_set_profiling(ctx, 1), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_ctx_set_profiling(ctx, 1), CLNET_SUCCESS, "turning it on twice is fine");
  cr_assert_eq(clnet_relu_forward(ctx, 1024, &x, &y), CLNET_SUCCESS);
  cr_assert_eq(clnet_ctx_set_profiling(ctx, 0), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_ctx_profiling(ctx), 0);
  clnet_profile_op(ctx, "ignored while off");
  for (int i = 0; i < 5; ++i) cr_assert_eq(clnet_relu_forward(ctx, 1024, &x, &y), CLNET_SUCCESS);
  cr_assert_eq(clnet_buf_fill(ctx, &x, 0, 1024 * 4, 0), CLNET_SUCCESS);
  cr_assert_eq(clnet_ctx_finish(ctx), CLNET_SUCCESS);
  rows = report(ctx, CLNET_PROFILE_BY_OP_KERNEL, &n);
  cr_assert_eq(n, 1, "%d rows after profiling one command", n);
  expect(rows, n, "(no op label) | relu_forward", 1);
  free(rows);
  clnet_buf_free(ctx, &x);
  clnet_buf_free(ctx, &y);
  clnet_ctx_free(ctx);
}

/* More commands in flight than the 1024-entry pending ring: the host waits for the older half
 * and every command is still counted once. */
Test(profile, more_commands_than_the_pending_ring) {
  clnet_ctx *ctx = open_ctx();
  cr_assert_eq(clnet_ctx_set_profiling(ctx, 1), CLNET_SUCCESS, "%s", clnet_last_error());
  clnet_buf x;
  cr_assert_eq(clnet_buf_alloc(ctx, 256 * 4, "x", &x), CLNET_SUCCESS);
  const int fills = 3001;
  clnet_profile_op(ctx, "many");
  for (int i = 0; i < fills; ++i) cr_assert_eq(clnet_buf_fill(ctx, &x, 0, 256 * 4, (uint32_t)i), CLNET_SUCCESS);
  int32_t n = 0;
  clnet_profile_row *rows = report(ctx, CLNET_PROFILE_BY_OP_KERNEL, &n);
  cr_assert_eq(n, 1);
  expect(rows, n, "many | fill buffer", fills);
  free(rows);
  clnet_buf_free(ctx, &x);
  clnet_ctx_free(ctx); /* with nothing pending; and below, with commands still pending */
  ctx = open_ctx();
  cr_assert_eq(clnet_ctx_set_profiling(ctx, 1), CLNET_SUCCESS);
  cr_assert_eq(clnet_buf_alloc(ctx, 256 * 4, "x", &x), CLNET_SUCCESS);
  for (int i = 0; i < 100; ++i) cr_assert_eq(clnet_buf_fill(ctx, &x, 0, 256 * 4, 0), CLNET_SUCCESS);
  clnet_buf_free(ctx, &x);
  clnet_ctx_free(ctx);
}

/* A training step of a small ResNet: every op is labelled by the graph (one adam launch for every
 * trainable parameter, convolutions with their algorithm), and kernels and ops account for the same
 * commands. */
Test(profile, graph_step_labels) {
  clnet_ctx *ctx = open_ctx();
  cr_assert_eq(clnet_ctx_set_conv_algo(ctx, CLNET_CONV_ALGO_RULE), CLNET_SUCCESS);
  clnet_graph *g = NULL;
  clnet_resnet_config cfg = {.depth = 18, .width = 4, .in_h = 12, .in_w = 12, .in_c = 3, .classes = 10};
  cr_assert_eq(clnet_resnet_build(&cfg, &g), CLNET_SUCCESS, "%s", clnet_last_error());
  const int32_t batch = 2;
  cr_assert_eq(clnet_graph_setup(g, ctx, batch), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_graph_init_params(g, 1), CLNET_SUCCESS);
  float images[2 * 12 * 12 * 3];
  for (int i = 0; i < 2 * 12 * 12 * 3; ++i) images[i] = (float)(i % 17) / 17.0f - 0.5f;
  int32_t labels[2] = {3, 7}, correct = 0;
  float loss = 0;
  /* a warm-up step first: on an empty cache it chooses the dense layer's GEMMs by timing both
   * candidates, whose commands are not the step's */
  cr_assert_eq(clnet_graph_set_batch(g, images, labels, batch), CLNET_SUCCESS);
  cr_assert_eq(clnet_graph_forward_backward(g, &loss, &correct), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_ctx_finish(ctx), CLNET_SUCCESS);
  cr_assert_eq(clnet_ctx_set_profiling(ctx, 1), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_graph_set_batch(g, images, labels, batch), CLNET_SUCCESS);
  cr_assert_eq(clnet_graph_forward_backward(g, &loss, &correct), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_graph_apply_adam(g, 1e-3f, 0.9f, 0.999f, 1e-7f), CLNET_SUCCESS);
  cr_assert_eq(clnet_ctx_finish(ctx), CLNET_SUCCESS);
  int32_t trainable = 0;
  for (int32_t i = 0; i < clnet_graph_param_count(g); ++i) {
    clnet_param_info info;
    cr_assert_eq(clnet_graph_param_info(g, i, &info), CLNET_SUCCESS);
    trainable += info.kind == CLNET_PARAM_TRAINABLE;
  }
  int32_t nk = 0, no = 0;
  clnet_profile_row *kern = report(ctx, CLNET_PROFILE_BY_KERNEL, &nk);
  clnet_profile_row *ops = report(ctx, CLNET_PROFILE_BY_OP, &no);
  cr_assert_gt(trainable, 1);
  expect(kern, nk, "adam_update", 1); /* one launch over every trainable parameter */
  expect(ops, no, "adam", 1);
  expect(ops, no, "upload batch", 2);
  expect(ops, no, "softmax cross-entropy", 1);
  expect(ops, no, "read loss", 1);
  expect(ops, no, "dense fwd 32->10 clnet", 2); /* the dense GEMM (the rule on a CPU) + dense_bias_add */
  cr_assert_not_null(row(ops, no, "conv2d 3x3/1 fwd 12x12x3->10x10x4 direct"), "the stem's forward");
  cr_assert_not_null(row(ops, no, "bn+relu fwd 10x10x4"), "the stem's fused BN + ReLU");
  cr_assert_null(row(ops, no, "(no op label)"), "every command of a step belongs to an op");
  int64_t ck = 0, co = 0;
  int convs = 0;
  for (int32_t i = 0; i < nk; ++i) ck += kern[i].count;
  for (int32_t i = 0; i < no; ++i) {
    co += ops[i].count;
    if (!strncmp(ops[i].label, "conv2d ", 7)) {
      ++convs;
      const char *alg = strrchr(ops[i].label, ' ') + 1;
      cr_assert(!strcmp(alg, "direct") || !strcmp(alg, "gemm"), "conv op '%s' does not name its algorithm",
                ops[i].label);
    }
  }
  cr_assert_eq(ck, co, "%lld commands by kernel, %lld by op", (long long)ck, (long long)co);
  cr_assert_geq(convs, 10, "conv ops: %d", convs);
  free(kern);
  free(ops);
  clnet_graph_free(g);
  clnet_ctx_free(ctx);
}

Test(profile, the_reference_backend_refuses) {
  clnet_ctx *ctx = NULL;
  cr_assert_eq(clnet_ctx_create("ref", &ctx), CLNET_SUCCESS);
  cr_assert_eq(clnet_ctx_set_profiling(ctx, 1), CLNET_ERR_UNSUPPORTED);
  cr_assert(strstr(clnet_last_error(), "reference"), "message: %s", clnet_last_error());
  cr_assert_eq(clnet_ctx_profiling(ctx), 0);
  cr_assert_eq(clnet_ctx_set_profiling(ctx, 0), CLNET_SUCCESS);
  clnet_profile_op(ctx, "x");
  int32_t n = -1;
  clnet_profile_row *rows = NULL;
  cr_assert_eq(clnet_profile_report(ctx, CLNET_PROFILE_BY_KERNEL, &rows, &n, NULL), CLNET_SUCCESS);
  cr_assert_eq(n, 0);
  clnet_ctx_free(ctx);
}

static char out[1 << 17];

/* The first number after `label` on its line of a --profile table, or -1. */
static double table_value(const char *text, const char *label) {
  const char *p = strstr(text, label);
  if (!p) return -1;
  double v = -1;
  return sscanf(p + strlen(label), "%lf", &v) == 1 ? v : -1;
}

Test(profile_cli, bench_model_profile_prints_the_tables, .timeout = 300) {
  int rc = clnet_cli_run("", "bench --model resnet18 --width 4 --batch 2 --input 12x12x3 --steps 2 --algo rule --profile",
                         out, sizeof out);
  cr_assert_eq(rc, 0, "clnet bench --profile failed (%d):\n%s", rc, out);
  cr_assert(strstr(out, "profile of 2 steps") && strstr(out, "% of the wall time"), "no summary line:\n%s", out);
  const char *k = strstr(out, "\nby kernel"), *o = strstr(out, "\nby op");
  cr_assert(k && o && k < o, "no 'by kernel' then 'by op' table:\n%s", out);
  cr_assert(strstr(k, "calls/step") && strstr(o, "\n  conv2d 3x3/") && strstr(o, " direct "), "%s", out);
  cr_assert_gt(table_value(out, "\n  device time "), 0, "%s", out);

  rc = clnet_cli_run("", "bench --profile --width 4", out, sizeof out);
  cr_assert_eq(rc, 2, "--profile without --model must be a usage error (%d):\n%s", rc, out);
  rc = clnet_cli_run("", "bench --model resnet18 --device ref --width 4 --batch 2 --input 12x12x3 --steps 1 --profile",
                     out, sizeof out);
  cr_assert_eq(rc, 1, "the reference backend cannot profile (%d):\n%s", rc, out);
  cr_assert(strstr(out, "reference"), "%s", out);
}

Test(profile_cli, train_with_clnet_profile_prints_a_table_per_epoch, .timeout = 300) {
  char dir[] = "/tmp/clnet-profile-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  char p[512], args[1024];
  snprintf(p, sizeof p, "%s/data_batch_1.bin", dir);
  write_cifar(p, 64, 1);
  snprintf(p, sizeof p, "%s/test_batch.bin", dir);
  write_cifar(p, 32, 3);
  snprintf(args, sizeof args, "train --data %s --epochs 2 --batch 32 --width 4 --algo rule --out %s/run", dir, dir);
  int rc = clnet_cli_run("CLNET_PROFILE=1", args, out, sizeof out);
  cr_assert_eq(rc, 0, "clnet train with CLNET_PROFILE=1 failed (%d):\n%s", rc, out);
  const char *e1 = strstr(out, "epoch 1, training and validation: profile"),
             *e2 = strstr(out, "epoch 2, training and validation: profile");
  cr_assert(e1 && e2 && e1 < e2, "no profile after each epoch:\n%s", out);
  cr_assert(strstr(e2, "by kernel") && strstr(e2, "by op"), "epoch 2's table:\n%s", out);
  /* each epoch's table is that epoch's alone, not the run so far: epoch 2 runs the same steps
   * and validation as epoch 1 but not its set-up (parameter initialisation), so it cannot have
   * more commands, as the run so far would */
  const char *d1 = strstr(e1, "\n  device time "), *d2 = strstr(e2, "\n  device time ");
  cr_assert(d1 && d2, "%s", out);
  double c1 = table_value(strstr(d1, " in "), " in "), c2 = table_value(strstr(d2, " in "), " in ");
  cr_assert(c1 > 0 && c2 > 0 && c2 <= c1, "commands: epoch 1 %g, epoch 2 %g:\n%s", c1, c2, out);
  snprintf(p, sizeof p, "rm -rf '%s'", dir);
  cr_assert_eq(system(p), 0);
}
