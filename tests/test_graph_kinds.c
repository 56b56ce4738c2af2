/* The layer kinds beyond the seed's in one graph built through the public API: explicit-pad max
 * and average pools, concat of four inputs (one of them twice, and one also read by a conv, so its
 * gradient is summed), global max pool, flatten (a view), dense without a bias, and the loss with
 * label smoothing. A training step on the OpenCL device matches the reference, and on the
 * reference the largest gradients of each weight match central differences of the whole loss
 * (which checks the gradient routing of the graph, shared by both backends). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "clnet/clnet.h"

enum { H = 9, W = 9, C = 3, CLASSES = 5, BATCH = 3 };

static int32_t add(clnet_graph *g, const char *kind, const char *name, const int32_t *in, int32_t n_in,
                   const char *attrs) {
  int32_t t = -1;
  cr_assert_eq(clnet_graph_add_layer(g, kind, name, in, n_in, attrs, &t), CLNET_SUCCESS, "%s: %s", name,
               clnet_last_error());
  return t;
}

static clnet_graph *build(void) {
  clnet_graph *g = NULL;
  cr_assert_eq(clnet_graph_create(H, W, C, &g), CLNET_SUCCESS);
  const int32_t x = 0;
  const int32_t c1 = add(g, "conv", "c1", &x, 1, "filters=6 kernel=3 padding=same");
  const int32_t b1 = add(g, "batchnorm", "b1", &c1, 1, "eps=1e-5 momentum=0.9 affine=0");
  const int32_t r1 = add(g, "relu", "r1", &b1, 1, "");
  const int32_t p1 = add(g, "maxpool", "p1", &r1, 1, "kernel=3 stride=2 padding=explicit pads=1,1,1,1"); /* 5x5x6 */
  const int32_t a1 = add(g, "avgpool", "a1", &r1, 1,
                         "kernel=3 stride=2 padding=explicit pads=1,1,1,1 count_include_pad=1"); /* 5x5x6 */
  const int32_t c2 = add(g, "conv", "c2", &p1, 1, "filters=5 kernel=1");                          /* 5x5x5 */
  const int32_t cat_in[4] = {p1, a1, c2, p1};
  const int32_t cat = add(g, "concat", "cat", cat_in, 4, "");                                    /* 5x5x23 */
  const int32_t gm = add(g, "global_maxpool", "gm", &cat, 1, "");                                /* 1x1x23 */
  const int32_t a2 = add(g, "avgpool", "a2", &cat, 1, "kernel=2 stride=2");                      /* 2x2x23 */
  const int32_t f = add(g, "flatten", "f", &a2, 1, "");                                          /* 1x1x92 */
  const int32_t head_in[2] = {gm, f};
  const int32_t head = add(g, "concat", "head", head_in, 2, "");                                 /* 1x1x115 */
  char units[32];
  snprintf(units, sizeof units, "units=%d bias=0", CLASSES);
  const int32_t logits = add(g, "dense", "fc", &head, 1, units);
  add(g, "softmax_cross_entropy", "loss", &logits, 1, "label_smoothing=0.1");
  int32_t h = 0, w = 0, c = 0;
  cr_assert_eq(clnet_graph_tensor_shape(g, cat, &h, &w, &c), CLNET_SUCCESS);
  cr_assert(h == 5 && w == 5 && c == 23, "concat %dx%dx%d", h, w, c);
  cr_assert_eq(clnet_graph_tensor_shape(g, f, &h, &w, &c), CLNET_SUCCESS);
  cr_assert(h == 1 && w == 1 && c == 92, "flatten %dx%dx%d", h, w, c);
  cr_assert_eq(clnet_graph_param_find(g, "fc.bias"), -1, "bias=0: no bias parameter");
  cr_assert_eq(clnet_graph_classes(g), CLASSES);
  return g;
}

static void batch(float *images, int32_t *labels) {
  for (int i = 0; i < BATCH * H * W * C; ++i) images[i] = (float)((i * 7919) % 23) / 11.0f - 1.0f;
  for (int i = 0; i < BATCH; ++i) labels[i] = (i * 3 + 1) % CLASSES;
}

static clnet_graph *step_on(clnet_ctx *ctx, float *loss) {
  clnet_graph *g = build();
  cr_assert_eq(clnet_graph_setup(g, ctx, BATCH), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_graph_init_params(g, 5), CLNET_SUCCESS);
  static float images[BATCH * H * W * C];
  int32_t labels[BATCH], correct = 0;
  batch(images, labels);
  cr_assert_eq(clnet_graph_set_batch(g, images, labels, BATCH), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_graph_forward_backward(g, loss, &correct), CLNET_SUCCESS, "%s", clnet_last_error());
  return g;
}

/* The largest |reference value| over the parameters of the layer that owns parameter i (a conv
 * bias before a batch norm has a true gradient of zero: both backends give rounding noise the size
 * of the layer's kernel gradient, as clnet check --model allows). */
static double layer_scale(clnet_graph *g, int32_t i, clnet_param_field f) {
  clnet_param_info info, other;
  clnet_graph_param_info(g, i, &info);
  const size_t prefix = (size_t)(strrchr(info.name, '.') - info.name);
  static float v[4096];
  double scale = 0;
  for (int32_t j = 0; j < clnet_graph_param_count(g); ++j) {
    clnet_graph_param_info(g, j, &other);
    if (other.kind != info.kind || strncmp(other.name, info.name, prefix) || other.name[prefix] != '.') continue;
    cr_assert_eq(clnet_graph_param_read(g, j, f, v), CLNET_SUCCESS);
    for (int64_t k = 0; k < other.count; ++k) scale = fmax(scale, fabs(v[k]));
  }
  return scale;
}

/* Every trainable gradient and statistic of the device's step against the reference's, at the
 * whole-model check's tolerance (clnet check --model): 1e-3 relative plus 1e-4 of the layer's
 * largest reference value. */
Test(graph_kinds, a_step_on_the_device_matches_the_reference, .timeout = 300) {
  clnet_ctx *dev = NULL, *ref = NULL;
  cr_assert_eq(clnet_ctx_create(NULL, &dev), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_ctx_create("ref", &ref), CLNET_SUCCESS);
  float ld = 0, lr = 0;
  clnet_graph *gd = step_on(dev, &ld), *gr = step_on(ref, &lr);
  cr_assert(isfinite(lr) && lr > 0, "loss %g", lr);
  cr_assert(fabsf(ld - lr) <= 1e-4f * fabsf(lr) + 1e-6f, "loss: device %.9g, reference %.9g", ld, lr);
  static float a[BATCH * CLASSES], b[BATCH * CLASSES];
  cr_assert_eq(clnet_graph_read_logits(gd, a), CLNET_SUCCESS);
  cr_assert_eq(clnet_graph_read_logits(gr, b), CLNET_SUCCESS);
  for (int i = 0; i < BATCH * CLASSES; ++i) cr_expect(fabsf(a[i] - b[i]) <= 1e-4f + 1e-3f * fabsf(b[i]), "logit %d", i);
  int compared = 0;
  for (int32_t i = 0; i < clnet_graph_param_count(gd); ++i) {
    clnet_param_info info;
    clnet_graph_param_info(gd, i, &info);
    if (info.kind == CLNET_PARAM_FIXED) continue;
    const clnet_param_field f = info.kind == CLNET_PARAM_TRAINABLE ? CLNET_FIELD_GRAD : CLNET_FIELD_VALUE;
    static float va[4096], vb[4096];
    cr_assert_leq(info.count, 4096);
    cr_assert_eq(clnet_graph_param_read(gd, i, f, va), CLNET_SUCCESS);
    cr_assert_eq(clnet_graph_param_read(gr, i, f, vb), CLNET_SUCCESS);
    const double scale = layer_scale(gr, i, f);
    cr_assert_gt(scale, 0, "%s: all zero", info.name);
    for (int64_t j = 0; j < info.count; ++j)
      cr_expect(fabs((double)va[j] - vb[j]) <= 1e-4 * scale + 1e-3 * fabs(vb[j]), "%s[%lld]: device %g, reference %g",
                info.name, (long long)j, va[j], vb[j]);
    ++compared;
  }
  cr_assert_eq(compared, 7, "c1 and c2 kernels and biases, fc.kernel, b1's two statistics: %d", compared);
  clnet_graph_free(gd);
  clnet_graph_free(gr);
  clnet_ctx_free(dev);
  clnet_ctx_free(ref);
}

/* As the ResNet test (tests/test_model.c): the loss is computed in float, so h = 1e-3 and only the
 * largest gradients of each weight are compared, at 5% + 2e-3; a routing error (a concat slice to
 * the wrong input, a summed gradient overwritten) is O(1). */
Test(graph_kinds, gradients_match_finite_differences_of_the_loss, .timeout = 300) {
  clnet_ctx *ref = NULL;
  cr_assert_eq(clnet_ctx_create("ref", &ref), CLNET_SUCCESS);
  float loss = 0;
  clnet_graph *g = step_on(ref, &loss);
  const char *names[] = {"c1.kernel", "c1.bias", "c2.kernel", "c2.bias", "fc.kernel"};
  static float grad[4096], value[4096];
  int compared = 0;
  for (size_t p = 0; p < sizeof names / sizeof names[0]; ++p) {
    const int32_t i = clnet_graph_param_find(g, names[p]);
    cr_assert_neq(i, -1, "%s", names[p]);
    clnet_param_info info;
    clnet_graph_param_info(g, i, &info);
    cr_assert_leq(info.count, 4096);
    cr_assert_eq(clnet_graph_param_read(g, i, CLNET_FIELD_GRAD, grad), CLNET_SUCCESS);
    cr_assert_eq(clnet_graph_param_read(g, i, CLNET_FIELD_VALUE, value), CLNET_SUCCESS);
    for (int pick = 0; pick < 3; ++pick) {
      int64_t best = 0;
      for (int64_t j = 1; j < info.count; ++j)
        if (fabsf(grad[j]) > fabsf(grad[best])) best = j;
      const float analytic = grad[best], h = 1e-3f, saved = value[best];
      grad[best] = 0; /* the next pick: the next largest */
      float lp = 0, lm = 0;
      int32_t correct = 0;
      value[best] = saved + h;
      cr_assert_eq(clnet_graph_param_write(g, i, CLNET_FIELD_VALUE, value), CLNET_SUCCESS);
      cr_assert_eq(clnet_graph_forward_backward(g, &lp, &correct), CLNET_SUCCESS);
      value[best] = saved - h;
      cr_assert_eq(clnet_graph_param_write(g, i, CLNET_FIELD_VALUE, value), CLNET_SUCCESS);
      cr_assert_eq(clnet_graph_forward_backward(g, &lm, &correct), CLNET_SUCCESS);
      value[best] = saved;
      cr_assert_eq(clnet_graph_param_write(g, i, CLNET_FIELD_VALUE, value), CLNET_SUCCESS);
      const double numeric = ((double)lp - (double)lm) / (2.0 * h);
      cr_expect(fabs(numeric - analytic) <= 2e-3 + 0.05 * fabs(analytic), "%s[%lld]: backward %.6g, differences %.6g",
                names[p], (long long)best, analytic, numeric);
      ++compared;
    }
  }
  cr_assert_eq(compared, 15);
  clnet_graph_free(g);
  clnet_ctx_free(ref);
}
