/* One training step of a small ResNet-18 on the OpenCL device against the
 * reference (clnet check --model), and graph-level properties. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "clnet/check.h"
#include "clnet/graph.h"
#include "clnet/ops.h"

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

/* Every zoo model's step, as `clnet check --model NAME`: convolutions and dense GEMMs on the fixed
 * rule, as the CLI's default, so that the result does not depend on which algorithm won a timing.
 * MobileNetV2 has moving means that are zero up to rounding (an expand conv of BN outputs whose
 * beta is 0) and Adam updates of gradients near eps, which the check's tolerances must cover
 * without masking real errors. */
Test(model, every_zoo_model_matches_reference, .timeout = 600) {
  clnet_ctx *dev = NULL, *ref = NULL;
  cr_assert_eq(clnet_ctx_create(NULL, &dev), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_ctx_create("ref", &ref), CLNET_SUCCESS);
  cr_assert_eq(clnet_ctx_set_conv_algo(dev, CLNET_CONV_ALGO_RULE), CLNET_SUCCESS);
  cr_assert_eq(clnet_ctx_set_dense_algo(dev, CLNET_DENSE_ALGO_RULE), CLNET_SUCCESS);
  for (int32_t m = 0; m < clnet_model_count(); ++m) {
    int rows = 0;
    int32_t failures = -1;
    cr_assert_eq(clnet_check_model_of(dev, ref, clnet_model_name(m), 1, report, &rows, &failures), CLNET_SUCCESS,
                 "%s: %s", clnet_model_name(m), clnet_last_error());
    cr_expect_eq(failures, 0, "%s: %d tensors failed", clnet_model_name(m), failures);
    cr_expect_gt(rows, 10, "%s", clnet_model_name(m));
  }
  clnet_ctx_free(dev);
  clnet_ctx_free(ref);
}

/* The models whose one-step gradients are well conditioned at the check's size pass with every
 * conv algorithm forced, Winograd F(4x4, 3x3) included (docs/CHECKS.md: MobileNetV2's and
 * ResNet-50's steps amplify its wider rounding past the tolerance, so they are checked on the
 * rule only). */
Test(model, conditioned_models_match_with_every_conv_algorithm, .timeout = 600) {
  const char *models[] = {"resnet18", "vgg11"};
  const clnet_conv_algo algos[] = {CLNET_CONV_ALGO_GEMM, CLNET_CONV_ALGO_DIRECT, CLNET_CONV_ALGO_WINOGRAD,
                                   CLNET_CONV_ALGO_WINOGRAD4};
  clnet_ctx *ref = NULL;
  cr_assert_eq(clnet_ctx_create("ref", &ref), CLNET_SUCCESS);
  for (size_t a = 0; a < sizeof algos / sizeof algos[0]; ++a) {
    clnet_ctx *dev = NULL;
    cr_assert_eq(clnet_ctx_create(NULL, &dev), CLNET_SUCCESS, "%s", clnet_last_error());
    cr_assert_eq(clnet_ctx_set_conv_algo(dev, algos[a]), CLNET_SUCCESS);
    for (size_t m = 0; m < sizeof models / sizeof models[0]; ++m) {
      int rows = 0;
      int32_t failures = -1;
      cr_assert_eq(clnet_check_model_of(dev, ref, models[m], 1, report, &rows, &failures), CLNET_SUCCESS, "%s: %s",
                   models[m], clnet_last_error());
      cr_expect_eq(failures, 0, "%s with conv algo %d: %d tensors failed", models[m], (int)algos[a], failures);
    }
    clnet_ctx_free(dev);
  }
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

/* The graph's gradient routing (residual sums, shortcut, in-place ReLU, the
 * planned and reused gradient buffers) against central differences of the
 * whole network's loss on the reference. The loss is computed in float, so
 * with h = 1e-4 the numeric derivative carries ~1e-3 of noise (and at
 * 1e-3 this small network is curved enough to be off by 15%): only the
 * largest gradients of each parameter are compared, at 5% + 2e-3. A routing
 * error (a missing residual branch, a buffer reused too early) is O(1). */
Test(model, whole_graph_gradients_match_finite_differences, .timeout = 300) {
  clnet_ctx *ref = NULL;
  cr_assert_eq(clnet_ctx_create("ref", &ref), CLNET_SUCCESS);
  clnet_resnet_config rc = {.depth = 18, .width = 4, .in_h = 9, .in_w = 9, .in_c = 2, .classes = 4};
  clnet_graph *g = NULL;
  cr_assert_eq(clnet_resnet_build(&rc, &g), CLNET_SUCCESS);
  cr_assert_eq(clnet_graph_setup(g, ref, 5), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_graph_init_params(g, 11), CLNET_SUCCESS);
  float images[5 * 81 * 2];
  int32_t labels[5] = {0, 1, 2, 3, 1};
  for (int i = 0; i < 5 * 81 * 2; ++i) images[i] = (float)((i * 7919) % 23) / 11.0f - 1.0f;
  cr_assert_eq(clnet_graph_set_batch(g, images, labels, 5), CLNET_SUCCESS);
  float loss;
  int32_t correct;
  cr_assert_eq(clnet_graph_forward_backward(g, &loss, &correct), CLNET_SUCCESS);
  const char *names[] = {"stem.conv.kernel", "layer1.0.conv1.kernel", "layer1.1.bn2.gamma",
                         "layer2.0.shortcut.kernel", "layer3.0.conv2.kernel", "layer4.1.bn1.beta",
                         "fc.kernel", "fc.bias"};
  static float grad[8192], value[8192];
  int compared = 0;
  for (size_t p = 0; p < sizeof names / sizeof names[0]; ++p) {
    int32_t i = clnet_graph_param_find(g, names[p]);
    cr_assert_neq(i, -1, "%s", names[p]);
    clnet_param_info info;
    clnet_graph_param_info(g, i, &info);
    cr_assert_leq(info.count, 8192);
    cr_assert_eq(clnet_graph_param_read(g, i, CLNET_FIELD_GRAD, grad), CLNET_SUCCESS);
    cr_assert_eq(clnet_graph_param_read(g, i, CLNET_FIELD_VALUE, value), CLNET_SUCCESS);
    for (int pick = 0; pick < 2; ++pick) {
      int64_t best = 0;
      for (int64_t j = 1; j < info.count; ++j)
        if (fabsf(grad[j]) > fabsf(grad[best])) best = j;
      float analytic = grad[best];
      grad[best] = 0; /* next pick: the second largest */
      const float h = 1e-4f;
      float saved = value[best], lp, lm;
      value[best] = saved + h;
      cr_assert_eq(clnet_graph_param_write(g, i, CLNET_FIELD_VALUE, value), CLNET_SUCCESS);
      cr_assert_eq(clnet_graph_forward_backward(g, &lp, &correct), CLNET_SUCCESS);
      value[best] = saved - h;
      cr_assert_eq(clnet_graph_param_write(g, i, CLNET_FIELD_VALUE, value), CLNET_SUCCESS);
      cr_assert_eq(clnet_graph_forward_backward(g, &lm, &correct), CLNET_SUCCESS);
      value[best] = saved;
      cr_assert_eq(clnet_graph_param_write(g, i, CLNET_FIELD_VALUE, value), CLNET_SUCCESS);
      double numeric = ((double)lp - (double)lm) / (2.0 * h);
      cr_expect(fabs(numeric - analytic) <= 2e-3 + 0.05 * fabs(analytic), "%s[%lld]: backward %.6g, finite differences %.6g",
                names[p], (long long)best, analytic, numeric);
      ++compared;
    }
  }
  cr_assert_eq(compared, 16);
  clnet_graph_free(g);
  clnet_ctx_free(ref);
}

/* clnet_graph_layer_fusion: ResNet-18's fused tails (the stem's BN + ReLU, each block's bn1 +
 * relu1 and bn2 + add + relu2), and a BN whose output has a second reader is not fused. */
Test(model, fused_tails_are_reported) {
  clnet_resnet_config rc = {.depth = 18, .width = 4, .in_h = 12, .in_w = 12, .in_c = 1, .classes = 3};
  clnet_graph *g = NULL;
  cr_assert_eq(clnet_resnet_build(&rc, &g), CLNET_SUCCESS);
  int bn_relu = 0, bn_add_relu = 0;
  for (int32_t i = 0; i < clnet_graph_layer_count(g); ++i) {
    clnet_layer_fusion f = CLNET_FUSION_NONE;
    int32_t bn = -2;
    cr_assert_eq(clnet_graph_layer_fusion(g, i, &f, &bn), CLNET_SUCCESS);
    clnet_layer_info li, lb;
    clnet_graph_layer_info(g, i, &li);
    if (f == CLNET_FUSION_NONE) {
      cr_assert_eq(bn, -1, "layer %s", li.name);
      continue;
    }
    cr_assert_str_eq(li.kind, "relu", "layer %s: only a ReLU ends a fused tail", li.name);
    cr_assert(bn >= 0 && bn < i, "layer %s: BN layer %d", li.name, bn);
    clnet_graph_layer_info(g, bn, &lb);
    cr_assert_str_eq(lb.kind, "batchnorm", "layer %s: fused with %s", li.name, lb.name);
    cr_assert(lb.in_h == li.in_h && lb.in_w == li.in_w && lb.in_c == li.in_c, "layer %s", li.name);
    const char *want = f == CLNET_FUSION_BN_RELU ? (i < 4 ? "stem.bn" : ".bn1") : ".bn2";
    cr_assert(strstr(lb.name, want), "layer %s fused with %s, expected *%s", li.name, lb.name, want);
    bn_relu += f == CLNET_FUSION_BN_RELU;
    bn_add_relu += f == CLNET_FUSION_BN_ADD_RELU;
  }
  cr_assert_eq(bn_relu, 9, "the stem and 8 blocks' bn1 + relu1");
  cr_assert_eq(bn_add_relu, 8, "8 blocks' bn2 + add + relu2");
  clnet_layer_fusion f;
  cr_assert_eq(clnet_graph_layer_fusion(g, clnet_graph_layer_count(g), &f, NULL), CLNET_ERR_INVALID_ARGUMENT);
  clnet_graph_free(g);

  /* conv -> BN -> ReLU, and the BN output also feeds an Add: not fusable */
  cr_assert_eq(clnet_graph_create(4, 4, 2, &g), CLNET_SUCCESS);
  int32_t c = 0, b = 0, r = 0, a = 0;
  cr_assert_eq(clnet_graph_add_conv(g, "conv", 0, 2, 3, 1, CLNET_PADDING_SAME, &c), CLNET_SUCCESS);
  cr_assert_eq(clnet_graph_add_batchnorm(g, "bn", c, &b), CLNET_SUCCESS);
  cr_assert_eq(clnet_graph_add_relu(g, "relu", b, &r), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_graph_add_add(g, "add", b, c, &a), CLNET_SUCCESS, "%s", clnet_last_error());
  for (int32_t i = 0; i < clnet_graph_layer_count(g); ++i) {
    cr_assert_eq(clnet_graph_layer_fusion(g, i, &f, NULL), CLNET_SUCCESS);
    cr_assert_eq(f, CLNET_FUSION_NONE, "layer %d", i);
  }
  clnet_graph_free(g);
}
