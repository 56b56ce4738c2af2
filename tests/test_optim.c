/* The graph's optimizer step and weight average (clnet_graph_apply_optimizer, clnet_graph_ema_*):
 * which parameters weight decay reaches, the average's closed form and its swap, on PoCL and on
 * the reference. (PyTorch's optimizers against clnet's: tests/test_golden.c.) */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "clnet/clnet.h"

static clnet_graph *small_graph(clnet_ctx *ctx) {
  clnet_graph *g = NULL;
  int32_t t = 0, in0 = 0;
  cr_assert_eq(clnet_graph_create(4, 4, 2, &g), CLNET_SUCCESS);
  cr_assert_eq(clnet_graph_add_layer(g, "conv", "c", &in0, 1, "filters=3 kernel=3 padding=same", &t), CLNET_SUCCESS);
  cr_assert_eq(clnet_graph_add_layer(g, "batchnorm", "b", &t, 1, "", &t), CLNET_SUCCESS);
  cr_assert_eq(clnet_graph_add_global_avgpool(g, "p", t, &t), CLNET_SUCCESS);
  cr_assert_eq(clnet_graph_add_dense(g, "d", t, 5, &t), CLNET_SUCCESS);
  cr_assert_eq(clnet_graph_set_output(g, t), CLNET_SUCCESS);
  cr_assert_eq(clnet_graph_setup(g, ctx, 1), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_graph_init_params(g, 1), CLNET_SUCCESS);
  return g;
}

static void fill(clnet_graph *g, const char *name, clnet_param_field f, float v) {
  const int32_t i = clnet_graph_param_find(g, name);
  clnet_param_info info;
  cr_assert_eq(clnet_graph_param_info(g, i, &info), CLNET_SUCCESS);
  float h[64];
  for (int64_t j = 0; j < info.count; ++j) h[j] = v;
  cr_assert_eq(clnet_graph_param_write(g, i, f, h), CLNET_SUCCESS, "%s", clnet_last_error());
}

static float first(clnet_graph *g, const char *name) {
  float h[64];
  cr_assert_eq(clnet_graph_param_read(g, clnet_graph_param_find(g, name), CLNET_FIELD_VALUE, h), CLNET_SUCCESS);
  return h[0];
}

/* With zero gradients, decoupled weight decay alone moves the parameters: kernels by
 * p*(1 - lr*wd), BN parameters and biases not at all unless decay_all. */
Test(optim, weight_decay_reaches_kernels_and_only_them_unless_asked) {
  for (int dev = 0; dev < 2; ++dev) {
    clnet_ctx *ctx = NULL;
    cr_assert_eq(clnet_ctx_create(dev ? "ref" : NULL, &ctx), CLNET_SUCCESS, "%s", clnet_last_error());
    for (int all = 0; all < 2; ++all)
      for (int kind = 1; kind <= 2; ++kind) {
        clnet_graph *g = small_graph(ctx);
        const char *names[6] = {"c.kernel", "c.bias", "b.gamma", "b.beta", "d.kernel", "d.bias"};
        for (int k = 0; k < 6; ++k) {
          fill(g, names[k], CLNET_FIELD_VALUE, 0.5f);
          fill(g, names[k], CLNET_FIELD_GRAD, 0.0f);
        }
        clnet_optimizer o = {.kind = (clnet_optimizer_kind)kind, .lr = 0.1f, .beta1 = 0.9f, .beta2 = 0.999f,
                             .eps = 1e-8f, .momentum = 0.9f, .weight_decay = 0.5f, .decay_all = all};
        cr_assert_eq(clnet_graph_apply_optimizer(g, &o), CLNET_SUCCESS, "%s", clnet_last_error());
        for (int k = 0; k < 6; ++k) {
          const int kernel = strstr(names[k], "kernel") != NULL;
          const float want = kernel || all ? 0.5f * (1 - 0.1f * 0.5f) : 0.5f;
          cr_assert_float_eq(first(g, names[k]), want, 1e-6, "%s %s decay_all=%d on %s", kind == 1 ? "AdamW" : "SGD",
                             names[k], all, dev ? "ref" : "PoCL");
        }
        cr_assert_eq(clnet_graph_adam_step(g), 1);
        clnet_graph_free(g);
      }
    clnet_ctx_free(ctx);
  }
}

Test(optim, adam_with_weight_decay_is_refused) {
  clnet_ctx *ctx = NULL;
  cr_assert_eq(clnet_ctx_create("ref", &ctx), CLNET_SUCCESS);
  clnet_graph *g = small_graph(ctx);
  clnet_optimizer o = {.kind = CLNET_OPTIMIZER_ADAM, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-7f,
                       .weight_decay = 0.1f};
  cr_assert_eq(clnet_graph_apply_optimizer(g, &o), CLNET_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(clnet_last_error(), "AdamW"), "%s", clnet_last_error());
  cr_assert_eq(clnet_graph_adam_step(g), 0, "a refused step is not counted");
  clnet_graph_free(g);
  clnet_ctx_free(ctx);
}

/* avg = decay*avg + (1 - decay)*w, over the trainable values and the BN statistics; a swap puts
 * it in the model's place and a second one back. */
Test(optim, the_weight_average_and_its_swap) {
  for (int dev = 0; dev < 2; ++dev) {
    clnet_ctx *ctx = NULL;
    cr_assert_eq(clnet_ctx_create(dev ? "ref" : NULL, &ctx), CLNET_SUCCESS, "%s", clnet_last_error());
    clnet_graph *g = small_graph(ctx);
    cr_assert_eq(clnet_graph_ema_update(g), CLNET_ERR_INVALID_ARGUMENT, "off until enabled");
    fill(g, "d.bias", CLNET_FIELD_VALUE, 1.0f);
    fill(g, "b.moving_variance", CLNET_FIELD_VALUE, 2.0f);
    cr_assert_eq(clnet_graph_ema_enable(g, 0.75f), CLNET_SUCCESS, "%s", clnet_last_error());
    cr_assert(clnet_graph_ema_enabled(g));
    fill(g, "d.bias", CLNET_FIELD_VALUE, 3.0f);
    fill(g, "b.moving_variance", CLNET_FIELD_VALUE, 6.0f);
    cr_assert_eq(clnet_graph_ema_update(g), CLNET_SUCCESS, "%s", clnet_last_error());
    cr_assert_eq(clnet_graph_ema_update(g), CLNET_SUCCESS);
    /* 1 -> 0.75*1 + 0.25*3 = 1.5 -> 0.75*1.5 + 0.75 = 1.875; statistics 2 -> 3 -> 3.75 */
    cr_assert_float_eq(first(g, "d.bias"), 3.0f, 0, "the model keeps its weights");
    cr_assert_eq(clnet_graph_ema_swap(g), CLNET_SUCCESS, "%s", clnet_last_error());
    cr_assert_float_eq(first(g, "d.bias"), 1.875f, 1e-6, "%s", dev ? "ref" : "PoCL");
    cr_assert_float_eq(first(g, "b.moving_variance"), 3.75f, 1e-6, "%s", dev ? "ref" : "PoCL");
    cr_assert_eq(clnet_graph_ema_swap(g), CLNET_SUCCESS);
    cr_assert_float_eq(first(g, "d.bias"), 3.0f, 0, "swapped back");
    cr_assert_float_eq(first(g, "b.moving_variance"), 6.0f, 0);
    clnet_graph_free(g);
    clnet_ctx_free(ctx);
  }
}
