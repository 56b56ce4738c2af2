/* The layer registry and the generic builder: every kind's table is complete, attributes parse
 * against their schema with errors that name what is wrong, the builder rejects what it must, and
 * a ReLU whose input has another reader runs out of place with the right values. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clnet/clnet.h"
#include "graph/layer_kind.h"

Test(layers, every_kind_is_complete_and_its_defaults_parse) {
  const int32_t n = clnet_layer_kind_count();
  cr_assert_geq(n, 8, "the seed's kinds and the loss at least");
  for (int32_t i = 0; i < n; ++i) {
    const clnet_layer_kind *k = clnet_layer_kind_at(i);
    cr_assert_not_null(k);
    cr_assert(k->name && *k->name && k->doc && *k->doc, "kind %d", i);
    cr_assert(k->infer && k->params && k->aux && k->scratch && k->forward && k->backward && k->macs && k->label,
              "%s: a table entry is missing", k->name);
    cr_assert(k->min_inputs >= 1 && k->max_inputs >= k->min_inputs && k->max_inputs <= CLNET_MAX_LAYER_INPUTS, "%s",
              k->name);
    cr_assert(k->n_attrs >= 0 && k->n_attrs <= CLNET_MAX_ATTRS, "%s", k->name);
    cr_assert_eq(clnet_layer_kind_find(k->name), k, "%s: names are unique", k->name);
    for (int32_t a = 0; a < k->n_attrs; ++a) {
      cr_assert(k->attrs[a].name && k->attrs[a].doc, "%s attribute %d", k->name, a);
      cr_assert(k->attrs[a].type != CLNET_ATTR_ENUM || k->attrs[a].choices, "%s.%s", k->name, k->attrs[a].name);
    }
    clnet_layer_kind_info info;
    cr_assert_eq(clnet_layer_kind_describe(i, &info), CLNET_SUCCESS);
    cr_assert_str_eq(info.name, k->name);
  }
  cr_assert_null(clnet_layer_kind_find("no-such-kind"));
}

Test(layers, attributes_parse_against_the_schema) {
  const clnet_layer_kind *conv = clnet_layer_kind_find("conv");
  cr_assert_not_null(conv);
  clnet_attr_value v[CLNET_MAX_ATTRS];
  cr_assert_eq(clnet_attrs_parse(conv, "c", "filters=8 kernel=3,3 stride=2 padding=same", v), CLNET_SUCCESS, "%s",
               clnet_last_error());
  char text[512];
  clnet_attrs_format(conv, v, text, sizeof text);
  cr_assert(strstr(text, "filters=8") && strstr(text, "kernel=3,3") && strstr(text, "padding=same") &&
                strstr(text, "bias=1"),
            "canonical text with the defaults: %s", text);
  clnet_attr_value w[CLNET_MAX_ATTRS];
  cr_assert_eq(clnet_attrs_parse(conv, "c", text, w), CLNET_SUCCESS, "the canonical text parses back");
  cr_assert_eq(memcmp(v, w, sizeof v), 0, "to the same values");
  static const struct {
    const char *text, *msg;
  } bad[] = {
      {"kernel=3", "filters"},                              /* required */
      {"filters=8 kernel=3 strdie=2", "strdie"},            /* unknown name */
      {"filters=8 kernel=3 stride=two", "stride"},          /* not integers */
      {"filters=8 kernel=3 kernel=5", "given twice"},       /* repeated */
      {"filters=8 kernel=3 padding=full", "valid|same"},    /* not a choice */
      {"filters=8 kernel=3,3,3", "kernel"},                 /* too many values */
      {"filters=8 kernel", "name=value"},                   /* no value */
      {"filters=8 kernel=3,", "ends with a comma"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    cr_assert_eq(clnet_attrs_parse(conv, "layer9", bad[i].text, v), CLNET_ERR_INVALID_ARGUMENT, "'%s'", bad[i].text);
    cr_assert(strstr(clnet_last_error(), "layer9") && strstr(clnet_last_error(), bad[i].msg),
              "'%s': the message must name the layer and '%s': %s", bad[i].text, bad[i].msg, clnet_last_error());
  }
  const clnet_layer_kind *bn = clnet_layer_kind_find("batchnorm");
  cr_assert_eq(clnet_attrs_parse(bn, "b", "eps=1e-5 momentum=0.9", v), CLNET_SUCCESS);
  cr_assert_float_eq(v[0].f, 1e-5, 1e-12);
  cr_assert_eq(clnet_attrs_parse(bn, "b", "eps=nan", v), CLNET_ERR_INVALID_ARGUMENT);
}

Test(layers, the_builder_rejects_what_it_must) {
  clnet_graph *g = NULL;
  cr_assert_eq(clnet_graph_create(8, 8, 3, &g), CLNET_SUCCESS);
  int32_t t = -1, in0 = 0;
  cr_assert_eq(clnet_graph_add_layer(g, "convolution", "c", &in0, 1, "", &t), CLNET_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(clnet_last_error(), "unknown kind 'convolution'") && strstr(clnet_last_error(), "conv"), "%s",
            clnet_last_error());
  cr_assert_eq(clnet_graph_add_layer(g, "add", "a", &in0, 1, "", &t), CLNET_ERR_INVALID_ARGUMENT, "add takes 2 inputs");
  const int32_t nine = 9;
  cr_assert_eq(clnet_graph_add_layer(g, "relu", "r", &nine, 1, "", &t), CLNET_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(clnet_last_error(), "tensor 9"), "%s", clnet_last_error());
  cr_assert_eq(clnet_graph_add_layer(g, "conv", "c1", &in0, 1, "filters=4 kernel=3", &t), CLNET_SUCCESS, "%s",
               clnet_last_error());
  cr_assert_eq(clnet_graph_add_layer(g, "conv", "c1", &t, 1, "filters=4 kernel=3", &t), CLNET_ERR_INVALID_ARGUMENT,
               "layer names are unique");
  /* 6x6 -> valid 3x3 -> 4x4 -> 2x2 -> a 3x3 valid conv no longer fits: the message names the layer */
  int32_t u = t;
  cr_assert_eq(clnet_graph_add_layer(g, "conv", "c2", &u, 1, "filters=4 kernel=3", &u), CLNET_SUCCESS);
  cr_assert_eq(clnet_graph_add_layer(g, "conv", "c3", &u, 1, "filters=4 kernel=3", &u), CLNET_SUCCESS);
  cr_assert_eq(clnet_graph_add_layer(g, "conv", "too-far", &u, 1, "filters=4 kernel=3", &u), CLNET_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(clnet_last_error(), "too-far"), "%s", clnet_last_error());
  clnet_layer_info li;
  cr_assert_eq(clnet_graph_layer_info(g, 0, &li), CLNET_SUCCESS);
  cr_assert_str_eq(li.kind, "conv");
  cr_assert(strstr(li.attrs, "filters=4"), "%s", li.attrs);
  cr_assert_eq(clnet_graph_layer_count(g), 3);
  clnet_graph_free(g);
}

/* The conv kind's general attributes: output shapes, the grouped kernel's shape, and the errors
 * that name the rule (pads without padding=explicit, groups that do not divide, a padded input
 * smaller than the dilated kernel). */
Test(layers, conv_groups_dilation_strides_and_pads) {
  clnet_graph *g = NULL;
  cr_assert_eq(clnet_graph_create(13, 12, 6, &g), CLNET_SUCCESS);
  int32_t in0 = 0, t = -1;
  cr_assert_eq(clnet_graph_add_layer(g, "conv", "dw", &in0, 1,
                                     "filters=12 kernel=3 stride=2 padding=explicit pads=1,0,1,2 groups=6 bias=0", &t),
               CLNET_SUCCESS, "%s", clnet_last_error());
  int32_t h, w, c;
  clnet_graph_tensor_shape(g, t, &h, &w, &c);
  cr_assert(h == 7 && w == 6 && c == 12, "(13 + 1 + 1 - 3) / 2 + 1 = 7, (12 + 0 + 2 - 3) / 2 + 1 = 6: %dx%dx%d", h, w,
            c);
  const int32_t k = clnet_graph_param_find(g, "dw.kernel");
  cr_assert_geq(k, 0);
  clnet_param_info pi;
  cr_assert_eq(clnet_graph_param_info(g, k, &pi), CLNET_SUCCESS);
  cr_assert(pi.ndim == 4 && pi.shape[0] == 3 && pi.shape[1] == 3 && pi.shape[2] == 1 && pi.shape[3] == 12,
            "a depthwise kernel is (KH, KW, 1, C_out)");
  cr_assert_eq(clnet_graph_param_find(g, "dw.bias"), -1);
  cr_assert_eq(clnet_graph_add_layer(g, "conv", "g", &t, 1, "filters=8 kernel=1,5 stride=1,2 dilation=1,2 "
                                     "padding=same groups=4", &t), CLNET_SUCCESS, "%s", clnet_last_error());
  clnet_graph_tensor_shape(g, t, &h, &w, &c);
  cr_assert(h == 7 && w == 3 && c == 8, "same: ceil(7/1) x ceil(6/2): %dx%dx%d", h, w, c);
  cr_assert_eq(clnet_graph_add_layer(g, "conv", "bad", &t, 1, "filters=8 kernel=3 pads=1,1,1,1", &t),
               CLNET_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(clnet_last_error(), "padding=explicit"), "%s", clnet_last_error());
  cr_assert_eq(clnet_graph_add_layer(g, "conv", "bad", &t, 1, "filters=8 kernel=3 groups=3", &t),
               CLNET_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(clnet_last_error(), "groups = 3 must divide"), "%s", clnet_last_error());
  cr_assert_eq(clnet_graph_add_layer(g, "conv", "bad", &t, 1, "filters=8 kernel=3 dilation=4", &t),
               CLNET_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(clnet_last_error(), "bad") && strstr(clnet_last_error(), "dilated kernel"), "%s",
            clnet_last_error());
  clnet_graph_free(g);
}

/* logits = fc(gap(relu(c) + c)), c = conv3x3 same (2 -> 2 channels) of x (2, 4, 4, 2), on the host */
static void host_logits(const float *x, const float *k, const float *b, const float *fk, const float *fb, float *out) {
  for (int n = 0; n < 2; ++n) {
    double pooled[2] = {0, 0};
    for (int h = 0; h < 4; ++h)
      for (int w = 0; w < 4; ++w)
        for (int co = 0; co < 2; ++co) {
          double c = b[co];
          for (int kh = 0; kh < 3; ++kh)
            for (int kw = 0; kw < 3; ++kw) {
              const int ih = h + kh - 1, iw = w + kw - 1;
              if (ih < 0 || ih >= 4 || iw < 0 || iw >= 4) continue;
              for (int ci = 0; ci < 2; ++ci)
                c += (double)x[((n * 4 + ih) * 4 + iw) * 2 + ci] * k[((kh * 3 + kw) * 2 + ci) * 2 + co];
            }
          pooled[co] += (c > 0 ? c : 0) + c;
        }
    for (int o = 0; o < 3; ++o)
      out[n * 3 + o] = (float)(fb[o] + pooled[0] / 16 * fk[o * 2] + pooled[1] / 16 * fk[o * 2 + 1]);
  }
}

/* conv -> relu and the same conv output read by an add: the ReLU must not overwrite its input (it
 * gets storage of its own); the logits equal the host's on PoCL and on the reference. */
Test(layers, relu_whose_input_has_another_reader_runs_out_of_place) {
  float logits[2][2 * 3];
  for (int dev = 0; dev < 2; ++dev) {
    clnet_ctx *ctx = NULL;
    cr_assert_eq(clnet_ctx_create(dev ? "ref" : NULL, &ctx), CLNET_SUCCESS, "%s", clnet_last_error());
    clnet_graph *g = NULL;
    cr_assert_eq(clnet_graph_create(4, 4, 2, &g), CLNET_SUCCESS);
    int32_t c = 0, r = 0, a = 0, p = 0, d = 0;
    cr_assert_eq(clnet_graph_add_conv(g, "conv", 0, 2, 3, 1, CLNET_PADDING_SAME, &c), CLNET_SUCCESS);
    cr_assert_eq(clnet_graph_add_relu(g, "relu", c, &r), CLNET_SUCCESS, "%s", clnet_last_error());
    cr_assert_eq(clnet_graph_add_add(g, "add", r, c, &a), CLNET_SUCCESS, "%s", clnet_last_error());
    cr_assert_eq(clnet_graph_add_global_avgpool(g, "pool", a, &p), CLNET_SUCCESS);
    cr_assert_eq(clnet_graph_add_dense(g, "fc", p, 3, &d), CLNET_SUCCESS);
    cr_assert_eq(clnet_graph_set_output(g, d), CLNET_SUCCESS);
    cr_assert_eq(clnet_graph_setup(g, ctx, 2), CLNET_SUCCESS, "%s", clnet_last_error());
    cr_assert_eq(clnet_graph_init_params(g, 3), CLNET_SUCCESS);
    float x[2 * 4 * 4 * 2];
    for (int i = 0; i < 64; ++i) x[i] = (float)((i * 37) % 23) / 11.0f - 1.0f;
    const int32_t labels[2] = {0, 2};
    float loss = 0;
    int32_t correct = 0;
    cr_assert_eq(clnet_graph_set_batch(g, x, labels, 2), CLNET_SUCCESS);
    cr_assert_eq(clnet_graph_forward_backward(g, &loss, &correct), CLNET_SUCCESS, "%s", clnet_last_error());
    cr_assert_eq(clnet_graph_read_logits(g, logits[dev]), CLNET_SUCCESS);
    cr_assert(isfinite(loss));
    float k[36], b[2], fk[6], fb[3], want[6];
    const char *names[4] = {"conv.kernel", "conv.bias", "fc.kernel", "fc.bias"};
    float *dst[4] = {k, b, fk, fb};
    for (int i = 0; i < 4; ++i)
      cr_assert_eq(clnet_graph_param_read(g, clnet_graph_param_find(g, names[i]), CLNET_FIELD_VALUE, dst[i]),
                   CLNET_SUCCESS, "%s", names[i]);
    host_logits(x, k, b, fk, fb, want);
    for (int i = 0; i < 6; ++i)
      cr_assert(fabsf(logits[dev][i] - want[i]) < 1e-4f, "%s logit %d: %g, the host says %g", dev ? "ref" : "PoCL", i,
                logits[dev][i], want[i]);
    clnet_graph_free(g);
    clnet_ctx_free(ctx);
  }
  for (int i = 0; i < 6; ++i) cr_assert(fabsf(logits[0][i] - logits[1][i]) < 1e-5f, "logit %d: %g vs %g", i, logits[0][i], logits[1][i]);
}

/* Every activation kind, mul (broadcast and not) and dropout in one graph, with in-place and
 * out-of-place layers (c3 has two readers): x (3, 6, 6, 3) -> conv -> BN -> relu6 -> conv1x1 ->
 * hard_swish, gated by a squeeze-excitation branch (global_avgpool -> dense -> leaky_relu -> dense ->
 * hard_sigmoid, then mul) -> dropout -> silu -> conv c3 -> clip(tanh(c3)) * sigmoid(c3) -> pool ->
 * dense. */
static clnet_graph *activation_graph(void) {
  clnet_graph *g = NULL;
  cr_assert_eq(clnet_graph_create(6, 6, 3, &g), CLNET_SUCCESS);
  int32_t t = 0, hs, gate, c3, a, b;
#define ADD(kind, name, attrs, in, out)                                                                   \
  cr_assert_eq(clnet_graph_add_layer(g, kind, name, (int32_t[]){in}, 1, attrs, &out), CLNET_SUCCESS, "%s: %s", name, \
               clnet_last_error())
  ADD("conv", "c1", "filters=8 kernel=3 padding=same bias=0", t, t); /* BN follows */
  ADD("batchnorm", "bn1", "", t, t);
  ADD("relu6", "r6", "", t, t);
  ADD("conv", "c2", "filters=8 kernel=1", t, t);
  ADD("hard_swish", "hs", "", t, hs);
  ADD("global_avgpool", "se.pool", "", hs, gate);
  ADD("dense", "se.fc1", "units=4", gate, gate);
  ADD("leaky_relu", "se.act", "alpha=0.1", gate, gate);
  ADD("dense", "se.fc2", "units=8", gate, gate);
  ADD("hard_sigmoid", "se.gate", "alpha=0.5 beta=0.5", gate, gate);
  cr_assert_eq(clnet_graph_add_layer(g, "mul", "se.mul", (int32_t[]){hs, gate}, 2, "", &t), CLNET_SUCCESS, "%s",
               clnet_last_error());
  ADD("dropout", "drop", "rate=0.25", t, t);
  ADD("silu", "silu", "", t, t);
  ADD("conv", "c3", "filters=6 kernel=3 padding=same", t, c3);
  ADD("tanh", "tanh", "", c3, a);
  ADD("clip", "clip", "min=-0.5 max=0.5", a, a);
  ADD("sigmoid", "sigmoid", "", c3, b);
  cr_assert_eq(clnet_graph_add_layer(g, "mul", "mul", (int32_t[]){a, b}, 2, "", &t), CLNET_SUCCESS, "%s",
               clnet_last_error());
  ADD("global_avgpool", "pool", "", t, t);
  ADD("dense", "fc", "units=5", t, t);
#undef ADD
  cr_assert_eq(clnet_graph_set_output(g, t), CLNET_SUCCESS);
  return g;
}

/* One training step on PoCL and on the reference: the same loss, logits and gradients (dropout
 * draws the same mask on both); the step is reproducible; evaluation has no dropout (two
 * evaluations agree, and differ from the training forward). */
Test(layers, activation_kinds_in_a_graph_match_the_reference, .timeout = 300) {
  enum { N = 3, X = N * 6 * 6 * 3 };
  float x[X], loss[2] = {0, 0}, logits[2][N * 5];
  for (int i = 0; i < X; ++i) x[i] = (float)((i * 37) % 23) / 11.0f - 1.0f;
  const int32_t labels[N] = {0, 4, 2};
  float *grads[2][64] = {{0}};
  int32_t np = 0;
  for (int dev = 0; dev < 2; ++dev) {
    clnet_ctx *ctx = NULL;
    cr_assert_eq(clnet_ctx_create(dev ? "ref" : NULL, &ctx), CLNET_SUCCESS, "%s", clnet_last_error());
    clnet_graph *g = activation_graph();
    cr_assert_eq(clnet_graph_setup(g, ctx, N), CLNET_SUCCESS, "%s", clnet_last_error());
    cr_assert_eq(clnet_graph_init_params(g, 5), CLNET_SUCCESS);
    cr_assert_eq(clnet_graph_set_batch(g, x, labels, N), CLNET_SUCCESS);
    int32_t correct = 0;
    float eval[2];
    cr_assert_eq(clnet_graph_evaluate(g, &eval[0], &correct), CLNET_SUCCESS, "%s", clnet_last_error());
    cr_assert_eq(clnet_graph_evaluate(g, &eval[1], &correct), CLNET_SUCCESS);
    cr_assert_eq(eval[0], eval[1], "evaluation is deterministic");
    cr_assert_eq(clnet_graph_forward_backward(g, &loss[dev], &correct), CLNET_SUCCESS, "%s", clnet_last_error());
    cr_assert(isfinite(loss[dev]) && loss[dev] != eval[0], "training loss %g vs evaluation %g: dropout is on in training",
              loss[dev], eval[0]);
    cr_assert(clnet_graph_gradients_finite(g));
    cr_assert_eq(clnet_graph_read_logits(g, logits[dev]), CLNET_SUCCESS);
    np = clnet_graph_param_count(g);
    cr_assert_leq(np, 64);
    for (int32_t i = 0; i < np; ++i) {
      clnet_param_info info;
      cr_assert_eq(clnet_graph_param_info(g, i, &info), CLNET_SUCCESS);
      grads[dev][i] = calloc((size_t)info.count, sizeof(float));
      if (info.kind == CLNET_PARAM_TRAINABLE)
        cr_assert_eq(clnet_graph_param_read(g, i, CLNET_FIELD_GRAD, grads[dev][i]), CLNET_SUCCESS, "%s", info.name);
    }
    if (!dev) { /* the same graph and seed on the device again: the same step, bit for bit */
      clnet_graph *h = activation_graph();
      float again = 0;
      cr_assert_eq(clnet_graph_setup(h, ctx, N), CLNET_SUCCESS);
      cr_assert_eq(clnet_graph_init_params(h, 5), CLNET_SUCCESS);
      cr_assert_eq(clnet_graph_set_batch(h, x, labels, N), CLNET_SUCCESS);
      cr_assert_eq(clnet_graph_forward_backward(h, &again, &correct), CLNET_SUCCESS);
      cr_assert_eq(again, loss[0], "reproducible: %.9g vs %.9g", again, loss[0]);
      clnet_graph_free(h);
    }
    clnet_graph_free(g);
    clnet_ctx_free(ctx);
  }
  cr_assert(fabsf(loss[0] - loss[1]) <= 1e-5f * fabsf(loss[1]) + 1e-6f, "loss %.9g vs reference %.9g", loss[0], loss[1]);
  for (int i = 0; i < N * 5; ++i)
    cr_assert(fabsf(logits[0][i] - logits[1][i]) < 1e-5f, "logit %d: %g vs %g", i, logits[0][i], logits[1][i]);
  clnet_graph *g = activation_graph();
  for (int32_t i = 0; i < np; ++i) {
    clnet_param_info info;
    cr_assert_eq(clnet_graph_param_info(g, i, &info), CLNET_SUCCESS);
    /* as clnet check --model: 1e-4 of the tensor's largest reference gradient, 1e-3 relative */
    double scale = 0;
    for (int64_t e = 0; e < info.count; ++e) scale = fmax(scale, fabs(grads[1][i][e]));
    for (int64_t e = 0; e < info.count; ++e)
      cr_assert(fabs(grads[0][i][e] - grads[1][i][e]) <= 1e-4 * scale + 1e-3 * fabs(grads[1][i][e]),
                "grad %s[%lld]: %g vs reference %g", info.name, (long long)e, grads[0][i][e], grads[1][i][e]);
    free(grads[0][i]);
    free(grads[1][i]);
  }
  clnet_graph_free(g);
}
