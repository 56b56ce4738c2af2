/* The model zoo and the model description: every zoo model builds at CIFAR and MNIST sizes and
 * runs a training step on PoCL with a finite loss; an input too small names the layer where it runs
 * out; a description rebuilds the same graph, and malformed descriptions are errors that say why. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clnet/clnet.h"

static void same_structure(clnet_graph *a, clnet_graph *b) {
  cr_assert_eq(clnet_graph_layer_count(a), clnet_graph_layer_count(b));
  cr_assert_eq(clnet_graph_param_count(a), clnet_graph_param_count(b));
  for (int32_t i = 0; i < clnet_graph_layer_count(a); ++i) {
    clnet_layer_info x, y;
    cr_assert_eq(clnet_graph_layer_info(a, i, &x), CLNET_SUCCESS);
    cr_assert_eq(clnet_graph_layer_info(b, i, &y), CLNET_SUCCESS);
    cr_assert_str_eq(x.name, y.name);
    cr_assert_str_eq(x.kind, y.kind);
    cr_assert_str_eq(x.attrs, y.attrs);
    cr_assert_eq(x.n_inputs, y.n_inputs);
    for (int32_t j = 0; j < x.n_inputs; ++j) cr_assert_eq(x.inputs[j], y.inputs[j], "%s input %d", x.name, j);
    cr_assert(x.out_h == y.out_h && x.out_w == y.out_w && x.out_c == y.out_c, "%s", x.name);
  }
  for (int32_t i = 0; i < clnet_graph_param_count(a); ++i) {
    clnet_param_info p, q;
    clnet_graph_param_info(a, i, &p);
    clnet_graph_param_info(b, i, &q);
    cr_assert_str_eq(p.name, q.name);
    cr_assert_eq(p.count, q.count, "%s", p.name);
    cr_assert_eq(p.kind, q.kind, "%s", p.name);
  }
}

Test(zoo, every_model_builds_describes_and_steps, .timeout = 900) {
  clnet_ctx *ctx = NULL;
  cr_assert_eq(clnet_ctx_create(NULL, &ctx), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_geq(clnet_model_count(), 6);
  static const int32_t inputs[2][3] = {{32, 32, 3}, {28, 28, 1}};
  for (int32_t m = 0; m < clnet_model_count(); ++m) {
    const char *name = clnet_model_name(m);
    cr_assert(clnet_model_doc(m) && clnet_model_default_width(m) > 0, "%s", name);
    for (int k = 0; k < 2; ++k) {
      /* narrow models so that a step is quick; the structure is the zoo's */
      const int32_t width = clnet_model_default_width(m) >= 16 ? 4 : 2;
      const clnet_model_config cfg = {.in_h = inputs[k][0], .in_w = inputs[k][1], .in_c = inputs[k][2],
                                      .classes = 10, .width = width};
      clnet_graph *g = NULL;
      cr_assert_eq(clnet_model_build(name, &cfg, &g), CLNET_SUCCESS, "%s: %s", name, clnet_last_error());
      char *text = NULL;
      cr_assert_eq(clnet_graph_describe(g, &text), CLNET_SUCCESS);
      clnet_graph *h = NULL;
      cr_assert_eq(clnet_graph_from_description(text, &h), CLNET_SUCCESS, "%s: %s", name, clnet_last_error());
      same_structure(g, h);
      char *again = NULL;
      cr_assert_eq(clnet_graph_describe(h, &again), CLNET_SUCCESS);
      cr_assert_str_eq(text, again, "%s: a description reads back to itself", name);
      free(text);
      free(again);
      clnet_graph_free(h);
      cr_assert_eq(clnet_graph_setup(g, ctx, 2), CLNET_SUCCESS, "%s: %s", name, clnet_last_error());
      cr_assert_eq(clnet_graph_init_params(g, 1), CLNET_SUCCESS);
      const size_t n = (size_t)2 * cfg.in_h * cfg.in_w * cfg.in_c;
      float *x = malloc(n * sizeof *x);
      for (size_t i = 0; i < n; ++i) x[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
      const int32_t labels[2] = {1, 7};
      float loss = 0;
      int32_t correct = 0;
      cr_assert_eq(clnet_graph_set_batch(g, x, labels, 2), CLNET_SUCCESS);
      cr_assert_eq(clnet_graph_forward_backward(g, &loss, &correct), CLNET_SUCCESS, "%s: %s", name, clnet_last_error());
      cr_assert(isfinite(loss) && loss > 0, "%s %dx%dx%d: loss %g", name, cfg.in_h, cfg.in_w, cfg.in_c, loss);
      cr_assert(clnet_graph_gradients_finite(g), "%s: gradients", name);
      free(x);
      clnet_graph_free(g);
    }
  }
  clnet_ctx_free(ctx);
}

Test(zoo, an_input_too_small_names_the_layer) {
  const clnet_model_config cfg = {.in_h = 3, .in_w = 3, .in_c = 1, .classes = 10, .width = 2};
  clnet_graph *g = NULL;
  cr_assert_eq(clnet_model_build("lenet", &cfg, &g), CLNET_ERR_INVALID_ARGUMENT);
  cr_assert_null(g);
  cr_assert(strstr(clnet_last_error(), "lenet") && strstr(clnet_last_error(), "layer '"), "%s", clnet_last_error());
  cr_assert_eq(clnet_model_build("resnet99", &cfg, &g), CLNET_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(clnet_last_error(), "resnet50"), "the message lists the zoo: %s", clnet_last_error());
}

Test(zoo, malformed_descriptions_say_why) {
  static const struct {
    const char *text, *msg;
  } bad[] = {
      {"not json", "not JSON"},
      {"{\"format\": \"onnx\", \"version\": 1}", "format"},
      {"{\"format\": \"clnet-graph\", \"version\": 2}", "version"},
      {"{\"format\": \"clnet-graph\", \"version\": 1, \"input\": [28, 28]}", "input"},
      {"{\"format\": \"clnet-graph\", \"version\": 1, \"input\": [28, 28, 1], \"layers\": []}", "layers"},
      {"{\"format\": \"clnet-graph\", \"version\": 1, \"input\": [4, 4, 1], \"layers\": "
       "[{\"kind\": \"relu\", \"name\": \"r\", \"inputs\": [1], \"attrs\": \"\"}]}",
       "earlier tensor"},
      {"{\"format\": \"clnet-graph\", \"version\": 1, \"input\": [4, 4, 1], \"layers\": "
       "[{\"kind\": \"warp\", \"name\": \"r\", \"inputs\": [0], \"attrs\": \"\"}]}",
       "unknown kind"},
      {"{\"format\": \"clnet-graph\", \"version\": 1, \"input\": [4, 4, 1], \"layers\": "
       "[{\"kind\": \"relu\", \"name\": \"r\", \"inputs\": [0], \"attrs\": \"\"}]}",
       "no loss layer"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    clnet_graph *g = (clnet_graph *)1;
    cr_assert_eq(clnet_graph_from_description(bad[i].text, &g), CLNET_ERR_FORMAT, "%s", bad[i].text);
    cr_assert_null(g);
    cr_assert(strstr(clnet_last_error(), bad[i].msg), "'%s': %s", bad[i].text, clnet_last_error());
  }
}
