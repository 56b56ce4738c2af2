/* One training step of a small ResNet-18 on the OpenCL device against the
 * reference (clnet check --model), and graph-level properties. */
#include <criterion/criterion.h>
#include <string.h>

#include "clnet/check.h"
#include "clnet/graph.h"

static void report(const clnet_model_check_row *r, void *user) {
  int *rows = user;
  ++*rows;
  cr_expect(r->passed, "%s: max abs %g (atol %g, rtol %g, max |ref| %g)", r->name, r->max_abs, r->atol, r->rtol,
            r->scale);
}

Test(model, one_step_matches_reference, .timeout = 600) {
  clnet_ctx *dev = NULL, *ref = NULL;
  cr_assert_eq(clnet_ctx_create(NULL, &dev), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_ctx_create("ref", &ref), CLNET_SUCCESS);
  int rows = 0;
  int32_t failures = -1;
  cr_assert_eq(clnet_check_model(dev, ref, 1, report, &rows, &failures), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(failures, 0);
  cr_assert_gt(rows, 100, "expected loss, logits and every parameter's gradient and update");
  clnet_ctx_free(dev);
  clnet_ctx_free(ref);
}

Test(model, resnet18_shapes_and_sizes) {
  clnet_resnet_config rc = {.depth = 18, .width = 64, .in_h = 32, .in_w = 32, .in_c = 3, .classes = 10};
  clnet_graph *g = NULL;
  cr_assert_eq(clnet_resnet_build(&rc, &g), CLNET_SUCCESS, "%s", clnet_last_error());
  /* SPEC: about 11.2 M parameters, about 0.56 GMAC forward per 32x32x3 image */
  int64_t params = clnet_graph_param_total(g, CLNET_PARAM_TRAINABLE);
  cr_assert(params > 11000000 && params < 11400000, "params %lld", (long long)params);
  double macs = clnet_graph_macs_per_image(g);
  cr_assert(macs > 0.5e9 && macs < 0.62e9, "MACs %g", macs);
  cr_assert_eq(clnet_graph_classes(g), 10);
  cr_assert_neq(clnet_graph_param_find(g, "layer2.0.shortcut.kernel"), -1);
  cr_assert_eq(clnet_graph_param_find(g, "layer1.0.shortcut.kernel"), -1, "stride-1 blocks use identity shortcuts");
  cr_assert_neq(clnet_graph_param_find(g, "stem.bn.moving_variance"), -1);
  /* memory grows with the batch, and gradient buffers are reused */
  uint64_t m64 = clnet_graph_memory_bytes(g, 64), m128 = clnet_graph_memory_bytes(g, 128);
  cr_assert_gt(m128, m64);
  clnet_graph_free(g);
  rc.depth = 34;
  cr_assert_eq(clnet_resnet_build(&rc, &g), CLNET_SUCCESS);
  int64_t p34 = clnet_graph_param_total(g, CLNET_PARAM_TRAINABLE);
  cr_assert(p34 > 21000000 && p34 < 21600000, "ResNet-34 params %lld", (long long)p34);
  clnet_graph_free(g);
  rc.depth = 50;
  cr_assert_eq(clnet_resnet_build(&rc, &g), CLNET_ERR_INVALID_ARGUMENT);
}

/* Training a tiny network on the reference lowers the loss on a fixed batch. */
Test(model, reference_training_lowers_loss, .timeout = 300) {
  clnet_ctx *ref = NULL;
  cr_assert_eq(clnet_ctx_create("ref", &ref), CLNET_SUCCESS);
  clnet_resnet_config rc = {.depth = 18, .width = 4, .in_h = 8, .in_w = 8, .in_c = 1, .classes = 3};
  clnet_graph *g = NULL;
  cr_assert_eq(clnet_resnet_build(&rc, &g), CLNET_SUCCESS);
  cr_assert_eq(clnet_graph_setup(g, ref, 6), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_graph_init_params(g, 3), CLNET_SUCCESS);
  float images[6 * 64];
  int32_t labels[6] = {0, 1, 2, 0, 1, 2};
  for (int i = 0; i < 6; ++i)
    for (int p = 0; p < 64; ++p) images[i * 64 + p] = (p % 3 == labels[i]) ? 1.0f : -0.5f;
  cr_assert_eq(clnet_graph_set_batch(g, images, labels, 6), CLNET_SUCCESS);
  float first = 0, loss = 0;
  int32_t correct = 0;
  for (int step = 0; step < 30; ++step) {
    cr_assert_eq(clnet_graph_forward_backward(g, &loss, &correct), CLNET_SUCCESS, "%s", clnet_last_error());
    if (step == 0) first = loss;
    cr_assert_eq(clnet_graph_apply_adam(g, 1e-2f, 0.9f, 0.999f, 1e-7f), CLNET_SUCCESS);
  }
  cr_assert_lt(loss, first * 0.5f, "loss %g -> %g", first, loss);
  cr_assert_eq(clnet_graph_adam_step(g), 30);
  clnet_graph_free(g);
  clnet_ctx_free(ref);
}
