/* Fault injection: every allocation and every kernel enqueue of building,
 * setting up and running one training step fails in turn. Each must come back
 * as an error whose message names the failing call (no crash), and afterwards
 * the context holds exactly the memory it held before (the graph frees what it
 * allocated) and still works. */
#include <criterion/criterion.h>
#include <string.h>

#include "clnet/graph.h"

/* Builds, sets up and trains one step of a small ResNet; returns the first error. */
static clnet_status one_step(clnet_ctx *ctx) {
  clnet_resnet_config rc = {.depth = 18, .width = 4, .in_h = 10, .in_w = 10, .in_c = 3, .classes = 10};
  clnet_graph *g = NULL;
  clnet_status st = clnet_resnet_build(&rc, &g);
  float images[4 * 10 * 10 * 3];
  int32_t labels[4] = {1, 2, 3, 4};
  for (size_t i = 0; i < sizeof images / sizeof images[0]; ++i) images[i] = (float)(i % 17) / 17.0f - 0.5f;
  float loss;
  int32_t correct;
  if (st == CLNET_SUCCESS) st = clnet_graph_setup(g, ctx, 4);
  if (st == CLNET_SUCCESS) st = clnet_graph_init_params(g, 1);
  if (st == CLNET_SUCCESS) st = clnet_graph_set_batch(g, images, labels, 4);
  if (st == CLNET_SUCCESS) st = clnet_graph_forward_backward(g, &loss, &correct);
  if (st == CLNET_SUCCESS) st = clnet_graph_apply_adam(g, 1e-3f, 0.9f, 0.999f, 1e-7f);
  if (st == CLNET_SUCCESS) st = clnet_graph_evaluate(g, &loss, &correct);
  clnet_graph_free(g);
  clnet_status fin = clnet_ctx_finish(ctx);
  return st != CLNET_SUCCESS ? st : fin;
}

static void sweep(const char *device, int enqueue) {
  clnet_ctx *ctx = NULL;
  cr_assert_eq(clnet_ctx_create(device, &ctx), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(one_step(ctx), CLNET_SUCCESS, "fault-free run: %s", clnet_last_error()); /* warms scratch */
  uint64_t baseline = clnet_ctx_get_stats(ctx).bytes_in_use;
  int64_t n = 1, failures = 0;
  for (;; ++n) {
    clnet_ctx_inject_faults(ctx, enqueue ? 0 : n, enqueue ? n : 0);
    clnet_status st = one_step(ctx);
    clnet_ctx_inject_faults(ctx, 0, 0);
    if (st == CLNET_SUCCESS) break; /* n is past the last allocation / enqueue */
    ++failures;
    cr_assert(strstr(clnet_last_error(), "injected"), "%s #%lld failed with a different error: %s",
              enqueue ? "enqueue" : "allocation", (long long)n, clnet_last_error());
    cr_assert(strstr(clnet_last_error(), enqueue ? "clEnqueueNDRangeKernel" : "allocation of"),
              "the message must name the failing call: %s", clnet_last_error());
    cr_assert_eq(clnet_ctx_get_stats(ctx).bytes_in_use, baseline,
                 "%s #%lld: %llu bytes still allocated after the graph was freed (baseline %llu)",
                 enqueue ? "enqueue" : "allocation", (long long)n,
                 (unsigned long long)clnet_ctx_get_stats(ctx).bytes_in_use, (unsigned long long)baseline);
    cr_assert_lt(n, 100000, "no end to the failures");
  }
  cr_assert_gt(failures, 50, "only %lld fault points: the sweep did not reach the training step", (long long)failures);
  cr_assert_eq(one_step(ctx), CLNET_SUCCESS, "the context must still work: %s", clnet_last_error());
  clnet_ctx_free(ctx);
}

Test(faults, every_allocation_on_opencl, .timeout = 600) { sweep(NULL, 0); }
Test(faults, every_enqueue_on_opencl, .timeout = 600) { sweep(NULL, 1); }
Test(faults, every_allocation_on_reference, .timeout = 600) { sweep("ref", 0); }
