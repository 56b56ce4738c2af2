/* One training step of clnet's ResNet-18 (depth 18, width 4, 12x12x3 input,
 * 10 classes, batch 4) against golden values from an independent PyTorch
 * implementation computed in float64 (tests/golden/make_golden.py; the file
 * tests/golden/resnet18_w4_step.safetensors is committed, so no Python is
 * needed here). The golden file also holds the initial parameter values, which
 * are written into clnet with clnet_graph_param_write: nothing depends on
 * clnet's initialiser. Run on the reference backend and on the default OpenCL
 * device.
 *
 * Tolerances. clnet computes in float32, the golden values are float64
 * rounded once to float32, so every comparison is an absolute tolerance
 * relative to the scale of the quantity it compares (elementwise relative
 * tolerances are meaningless for values that are sums of cancelling terms):
 *
 *  - logits, loss, BN moving statistics: |clnet - golden| <= TOL * max|golden|
 *    over the tensor.
 *  - gradients: |clnet - golden| <= TOL * (largest |golden gradient| of the same
 *    layer, kernel and bias or gamma and beta together). A layer's parameter
 *    gradients come from the same upstream gradient dy, so their rounding
 *    errors have dy's size, not their own: the bias of a conv followed by BN
 *    has a gradient that is exactly zero in exact arithmetic (BN removes any
 *    per-channel constant); float32 computes it as rounding noise of ~1e-7 of
 *    the layer's largest gradient (the golden holds ~1e-17).
 *  - updated weights (one Adam step, t = 1): the step is
 *    s(g) = lr * g / (|g| + eps / sqrt(1 - b2)) (Keras' formula at t = 1), so
 *    for |g| >> 3.2e-6 every weight moves by about lr = 1e-3 and the sign of g
 *    decides the direction. Weights whose golden gradient is zero within the
 *    gradient tolerance (|g| <= gtol) are masked: their direction is rounding
 *    noise (e.g. the conv biases before BN; also kernel rows reading a channel
 *    that the ReLU zeroed for the whole batch, whose gradient is exactly 0);
 *    they are only required to have moved by at most one step, 2 lr from the
 *    golden value. For the others the tolerance is
 *      UPD_ROUND * max|w| + UPD_STEP * lr + max over g' in [g - gtol, g + gtol]
 *      of |s(g') - s(g)|,
 *    i.e. float32 rounding of the weight, a small relative error of the step
 *    itself, and how far the step can legitimately move given a gradient
 *    that is only known to within gtol (this term is tiny unless |g| is close
 *    to gtol or to 3.2e-6).
 *
 * TOL: a float32 implementation of this network differs from the float64
 * golden by ~1e-6 of these scales (make_golden.py prints its own float32 run:
 * worst 1.5e-6, on a gradient; clnet's reference backend 0.8e-6 and PoCL
 * 3.8e-6, also on gradients; the test prints each category's worst), so
 * TOL = 1e-4 leaves a 25x margin for other devices' summation orders, while
 * semantic slips move these quantities by far more: BN eps 1e-5 or even
 * 1.1e-3 instead of 1e-3, unbiased variance (in the normalisation or only in
 * the moving variance), BN momentum 0.9, "same" padding swapped or symmetric,
 * a missing shortcut bias, a summed loss, Adam without bias correction or with
 * PyTorch's eps placement all fail: the unbiased moving variance and the Adam
 * eps placement by 5-6x their tolerance, the others by 290x or more. The
 * updated-weight tolerance is ~1e-6 absolute (0.1% of a step); both backends
 * come within 1.5e-8 (one float32 ulp). Max-pool padding with 0 instead of
 * -inf is NOT detectable here: the pool follows a ReLU, so the two agree. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clnet/graph.h"
#include "clnet/io.h"
#include "clnet/runtime.h"

#define GOLDEN_PATH "/tests/golden/resnet18_w4_step.safetensors"
#define TOL 1e-4
#define UPD_ROUND 2.5e-7 /* about 2 float32 ulps of the largest weight */
#define UPD_STEP 1e-3    /* relative error of the Adam step */
#define LR 1e-3
#define BETA1 0.9
#define BETA2 0.999
#define ADAM_EPS 1e-7
#define BATCH 4
#define CLASSES 10

/* Worst comparison of one category (logits, loss, grad, stat, updated). */
typedef struct category {
  const char *name;
  int32_t tensors, failed;
  int64_t masked;
  double worst_ratio; /* max over tensors of max|err| / atol */
  double worst_err, worst_atol, worst_scale;
  char worst_tensor[200];
} category;

typedef struct result {
  category cat[5];
  int32_t failed;
  double worst_ratio;
  char worst[300];
} result;

enum { CAT_LOGITS, CAT_LOSS, CAT_GRAD, CAT_STAT, CAT_UPDATED };

static void record(result *r, int32_t c, const char *tensor, double err, double atol, double scale, int64_t masked,
                   int passed) {
  category *k = &r->cat[c];
  k->tensors++;
  k->masked += masked;
  double ratio = atol > 0 ? err / atol : (err > 0 ? INFINITY : 0);
  if (!passed) {
    k->failed++;
    r->failed++;
    fprintf(stderr, "golden FAIL %-10s %-36s max|err| %.3e > atol %.3e (scale %.3e, %.1fx)\n", k->name, tensor, err,
            atol, scale, ratio);
  }
  if (ratio >= k->worst_ratio) {
    k->worst_ratio = ratio;
    k->worst_err = err;
    k->worst_atol = atol;
    k->worst_scale = scale;
    snprintf(k->worst_tensor, sizeof k->worst_tensor, "%s", tensor);
  }
  if (ratio >= r->worst_ratio) {
    r->worst_ratio = ratio;
    snprintf(r->worst, sizeof r->worst, "%s %s: max|err| %.3e, atol %.3e (%.2fx of atol)", k->name, tensor, err, atol,
             ratio);
  }
}

static double max_abs(const float *v, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = fmax(m, fabs((double)v[i]));
  return m;
}

/* |got - want| <= atol elementwise (non-finite values fail). */
static void compare(result *r, int32_t c, const char *tensor, const float *got, const float *want, int64_t n,
                    double scale) {
  double atol = TOL * scale, err = 0;
  int passed = 1;
  for (int64_t i = 0; i < n; ++i) {
    double e = fabs((double)got[i] - (double)want[i]);
    if (!isfinite(e)) e = INFINITY;
    if (e > err) err = e;
    if (!(e <= atol)) passed = 0;
  }
  record(r, c, tensor, err, atol, scale, 0, passed);
}

/* Keras Adam's step at t = 1 from zero moments, in double. */
static double adam_step1(double g) {
  double m = (1 - BETA1) * g, v = (1 - BETA2) * g * g;
  double alpha = LR * sqrt(1 - BETA2) / (1 - BETA1);
  return alpha * m / (sqrt(v) + ADAM_EPS);
}

static void compare_updated(result *r, const char *tensor, const float *got, const float *want, const float *grad,
                            double gtol, int64_t n) {
  double wscale = max_abs(want, n);
  double base = UPD_ROUND * wscale + UPD_STEP * LR, err = 0, worst_atol = base;
  int64_t masked = 0;
  int passed = 1;
  for (int64_t i = 0; i < n; ++i) {
    double g = grad[i];
    if (fabs(g) <= gtol) { /* direction unknown: only bound the move to one step */
      masked++;
      double e = fabs((double)got[i] - (double)want[i]);
      if (!(e <= 2 * LR + base)) {
        passed = 0;
        err = e;
        worst_atol = 2 * LR + base;
      }
      continue;
    }
    double s = adam_step1(g);
    double slack = fmax(fabs(adam_step1(g + gtol) - s), fabs(adam_step1(g - gtol) - s));
    double atol = base + slack;
    double e = fabs((double)got[i] - (double)want[i]);
    if (!isfinite(e)) e = INFINITY;
    if (e / atol > err / worst_atol || !isfinite(e)) {
      err = e;
      worst_atol = atol;
    }
    if (!(e <= atol)) passed = 0;
  }
  record(r, CAT_UPDATED, tensor, err, worst_atol, wscale, masked, passed);
}

static const clnet_st_tensor *golden(const clnet_st_file *f, const char *name, int64_t count) {
  const clnet_st_tensor *t = clnet_st_find(f, name);
  cr_assert_not_null(t, "golden file lacks tensor '%s'", name);
  cr_assert_eq(t->dtype, CLNET_DTYPE_F32, "golden tensor '%s' is not F32", name);
  int64_t n = 1;
  for (int32_t d = 0; d < t->ndim; ++d) n *= t->shape[d];
  cr_assert_eq(n, count, "golden tensor '%s' has %lld elements, expected %lld", name, (long long)n, (long long)count);
  return t;
}

/* Same shape as the graph's parameter: checks clnet's layouts (HWIO conv
 * kernels, (OUT, IN) dense kernel) against the reference's. */
static const float *golden_param(const clnet_st_file *f, const char *prefix, const clnet_param_info *info) {
  char name[200];
  snprintf(name, sizeof name, "%s%s", prefix, info->name);
  const clnet_st_tensor *t = golden(f, name, info->count);
  cr_assert_eq(t->ndim, info->ndim, "'%s': golden rank %d, clnet rank %d", name, t->ndim, info->ndim);
  for (int32_t d = 0; d < t->ndim; ++d)
    cr_assert_eq(t->shape[d], info->shape[d], "'%s': dimension %d is %lld in the golden file, %lld in clnet", name, d,
                 (long long)t->shape[d], (long long)info->shape[d]);
  return t->data;
}

static void run_golden(const char *selector) {
  const char *src = getenv("CLNET_TEST_SOURCE_DIR");
  cr_assert_not_null(src, "CLNET_TEST_SOURCE_DIR is not set (ctest sets it)");
  char path[4096];
  snprintf(path, sizeof path, "%s%s", src, GOLDEN_PATH);
  clnet_st_file *f = NULL;
  cr_assert_eq(clnet_safetensors_read(path, &f), CLNET_SUCCESS, "%s", clnet_last_error());

  clnet_ctx *ctx = NULL;
  cr_assert_eq(clnet_ctx_create(selector, &ctx), CLNET_SUCCESS, "%s", clnet_last_error());
  clnet_resnet_config rc = {.depth = 18, .width = 4, .in_h = 12, .in_w = 12, .in_c = 3, .classes = CLASSES};
  clnet_graph *g = NULL;
  cr_assert_eq(clnet_resnet_build(&rc, &g), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_graph_setup(g, ctx, BATCH), CLNET_SUCCESS, "%s", clnet_last_error());

  /* every parameter's initial value from the golden file; the file holds
   * exactly the graph's parameters plus images, labels, logits, loss and the
   * grad./stat./updated. tensors */
  int32_t np = clnet_graph_param_count(g), n_trainable = 0, n_stat = 0;
  int64_t max_count = BATCH * CLASSES;
  for (int32_t i = 0; i < np; ++i) {
    clnet_param_info info;
    cr_assert_eq(clnet_graph_param_info(g, i, &info), CLNET_SUCCESS);
    const float *v = golden_param(f, "", &info);
    cr_assert_eq(clnet_graph_param_write(g, i, CLNET_FIELD_VALUE, v), CLNET_SUCCESS, "%s", clnet_last_error());
    if (info.count > max_count) max_count = info.count;
    if (info.kind == CLNET_PARAM_TRAINABLE)
      n_trainable++;
    else
      n_stat++;
  }
  cr_assert_eq(clnet_st_count(f), 4 + np + 2 * n_trainable + n_stat,
               "golden file has %d tensors, the graph %d parameters (%d trainable)", clnet_st_count(f), np, n_trainable);

  const clnet_st_tensor *images = golden(f, "images", (int64_t)BATCH * 12 * 12 * 3);
  const clnet_st_tensor *labels = clnet_st_find(f, "labels");
  cr_assert(labels && labels->dtype == CLNET_DTYPE_I32 && labels->ndim == 1 && labels->shape[0] == BATCH,
            "golden labels: I32 (%d)", BATCH);
  cr_assert_eq(clnet_graph_set_batch(g, images->data, labels->data, BATCH), CLNET_SUCCESS, "%s", clnet_last_error());
  float loss = 0;
  int32_t correct = 0;
  cr_assert_eq(clnet_graph_forward_backward(g, &loss, &correct), CLNET_SUCCESS, "%s", clnet_last_error());

  result r;
  memset(&r, 0, sizeof r);
  const char *cat_names[5] = {"logits", "loss", "grad", "stat", "updated"};
  for (int32_t c = 0; c < 5; ++c) r.cat[c].name = cat_names[c];
  float *got = malloc((size_t)max_count * sizeof *got);
  double *layer_scale = calloc((size_t)np, sizeof *layer_scale);
  cr_assert(got && layer_scale);

  const float *want = golden(f, "loss", 1)->data;
  compare(&r, CAT_LOSS, "loss", &loss, want, 1, fabs((double)want[0]));
  want = golden(f, "logits", BATCH * CLASSES)->data;
  cr_assert_eq(clnet_graph_read_logits(g, got), CLNET_SUCCESS, "%s", clnet_last_error());
  compare(&r, CAT_LOGITS, "logits", got, want, BATCH * CLASSES, max_abs(want, BATCH * CLASSES));

  /* a layer's gradient scale: its largest golden gradient over all its
   * trainable parameters ("layer1.0.conv1.kernel" and ".bias" share one) */
  for (int32_t i = 0; i < np; ++i) {
    clnet_param_info info;
    clnet_graph_param_info(g, i, &info);
    if (info.kind != CLNET_PARAM_TRAINABLE) continue;
    double m = max_abs(golden_param(f, "grad.", &info), info.count);
    size_t plen = (size_t)(strrchr(info.name, '.') - info.name);
    for (int32_t j = 0; j < np; ++j) {
      clnet_param_info other;
      clnet_graph_param_info(g, j, &other);
      if (!strncmp(other.name, info.name, plen) && other.name[plen] == '.') layer_scale[j] = fmax(layer_scale[j], m);
    }
  }
  for (int32_t i = 0; i < np; ++i) {
    clnet_param_info info;
    clnet_graph_param_info(g, i, &info);
    int trainable = info.kind == CLNET_PARAM_TRAINABLE;
    const float *w = golden_param(f, trainable ? "grad." : "stat.", &info);
    cr_assert_eq(clnet_graph_param_read(g, i, trainable ? CLNET_FIELD_GRAD : CLNET_FIELD_VALUE, got), CLNET_SUCCESS,
                 "%s", clnet_last_error());
    compare(&r, trainable ? CAT_GRAD : CAT_STAT, info.name, got, w, info.count,
            trainable ? layer_scale[i] : max_abs(w, info.count));
  }

  cr_assert_eq(clnet_graph_apply_adam(g, (float)LR, (float)BETA1, (float)BETA2, (float)ADAM_EPS), CLNET_SUCCESS, "%s",
               clnet_last_error());
  cr_assert_eq(clnet_graph_adam_step(g), 1);
  for (int32_t i = 0; i < np; ++i) {
    clnet_param_info info;
    clnet_graph_param_info(g, i, &info);
    if (info.kind != CLNET_PARAM_TRAINABLE) continue;
    cr_assert_eq(clnet_graph_param_read(g, i, CLNET_FIELD_VALUE, got), CLNET_SUCCESS, "%s", clnet_last_error());
    compare_updated(&r, info.name, got, golden_param(f, "updated.", &info), golden_param(f, "grad.", &info),
                    TOL * layer_scale[i], info.count);
  }

  const char *dev = clnet_ctx_device_name(ctx);
  fprintf(stderr, "golden on %s: loss %.7f (golden %.7f)\n", dev ? dev : (selector ? selector : "default device"),
          (double)loss, (double)((const float *)golden(f, "loss", 1)->data)[0]);
  for (int32_t c = 0; c < 5; ++c) {
    const category *k = &r.cat[c];
    fprintf(stderr, "  %-8s %3d tensors, %d failed, %lld masked; worst %-34s max|err| %.3e = %.4f x atol (scale %.3e)\n",
            k->name, k->tensors, k->failed, (long long)k->masked, k->worst_tensor, k->worst_err, k->worst_ratio,
            k->worst_scale);
  }
  cr_expect_eq(r.failed, 0, "%d tensors differ from the PyTorch float64 golden; worst: %s", r.failed, r.worst);
  cr_expect_eq(r.cat[CAT_GRAD].tensors, n_trainable);
  cr_expect_eq(r.cat[CAT_UPDATED].tensors, n_trainable);
  cr_expect_eq(r.cat[CAT_STAT].tensors, n_stat);

  free(got);
  free(layer_scale);
  clnet_graph_free(g);
  clnet_ctx_free(ctx);
  clnet_st_free(f);
}

Test(golden, reference_backend_matches_pytorch, .timeout = 300) { run_golden("ref"); }

Test(golden, default_device_matches_pytorch, .timeout = 600) { run_golden(NULL); }

/* ---- the optimizers against PyTorch's (tests/golden/make_optim_golden.py) ----
 * Three steps of AdamW, SGD with momentum and SGD with Nesterov momentum on a small graph's
 * trainable parameters, with the golden gradients written straight into the gradient fields.
 * Each update rounds in float32 where PyTorch's golden ran in float64: the values stay within
 * a few ulps of |p| <= 2 per step, and AdamW's step is the same relative error on lr = 1e-2:
 * atol 3 * (4 ulp(2) + 1e-4 * lr) covers the three steps; a wrong decay group, a missing bias
 * correction or Nesterov term moves a value by about lr * wd, lr or more. */
static void run_optim_golden(const char *selector) {
  const char *src = getenv("CLNET_TEST_SOURCE_DIR");
  cr_assert_not_null(src, "CLNET_TEST_SOURCE_DIR is not set (ctest sets it)");
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/golden/optim_steps.safetensors", src);
  clnet_st_file *f = NULL;
  cr_assert_eq(clnet_safetensors_read(path, &f), CLNET_SUCCESS, "%s", clnet_last_error());
  static const struct {
    const char *name;
    clnet_optimizer o;
  } opts[] = {
      {"adamw", {.kind = CLNET_OPTIMIZER_ADAMW, .lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                 .weight_decay = 0.1f}},
      {"sgd", {.kind = CLNET_OPTIMIZER_SGD, .lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.01f}},
      {"nesterov", {.kind = CLNET_OPTIMIZER_SGD, .lr = 0.1f, .momentum = 0.9f, .nesterov = 1, .weight_decay = 0.01f}},
  };
  for (size_t k = 0; k < sizeof opts / sizeof opts[0]; ++k) {
    clnet_ctx *ctx = NULL;
    cr_assert_eq(clnet_ctx_create(selector, &ctx), CLNET_SUCCESS, "%s", clnet_last_error());
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
    for (int32_t i = 0; i < clnet_graph_param_count(g); ++i) {
      clnet_param_info info;
      clnet_graph_param_info(g, i, &info);
      if (info.kind != CLNET_PARAM_TRAINABLE) continue;
      cr_assert_eq(clnet_graph_param_write(g, i, CLNET_FIELD_VALUE, golden_param(f, "p0.", &info)), CLNET_SUCCESS);
    }
    for (int s = 1; s <= 3; ++s) {
      char prefix[16];
      snprintf(prefix, sizeof prefix, "grad%d.", s);
      for (int32_t i = 0; i < clnet_graph_param_count(g); ++i) {
        clnet_param_info info;
        clnet_graph_param_info(g, i, &info);
        if (info.kind != CLNET_PARAM_TRAINABLE) continue;
        cr_assert_eq(clnet_graph_param_write(g, i, CLNET_FIELD_GRAD, golden_param(f, prefix, &info)), CLNET_SUCCESS);
      }
      cr_assert_eq(clnet_graph_apply_optimizer(g, &opts[k].o), CLNET_SUCCESS, "%s: %s", opts[k].name, clnet_last_error());
    }
    cr_assert_eq(clnet_graph_adam_step(g), 3);
    const double atol = 3 * (4 * ldexp(1.0, -22) + 1e-4 * opts[k].o.lr);
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%s.", opts[k].name);
    int compared = 0;
    for (int32_t i = 0; i < clnet_graph_param_count(g); ++i) {
      clnet_param_info info;
      clnet_graph_param_info(g, i, &info);
      if (info.kind != CLNET_PARAM_TRAINABLE) continue;
      const float *want = golden_param(f, prefix, &info);
      float got[64];
      cr_assert_leq(info.count, 64);
      cr_assert_eq(clnet_graph_param_read(g, i, CLNET_FIELD_VALUE, got), CLNET_SUCCESS);
      for (int64_t j = 0; j < info.count; ++j, ++compared)
        cr_assert(fabs((double)got[j] - want[j]) <= atol, "%s on %s: %s[%lld] = %.9g, PyTorch %.9g (atol %.3g)",
                  opts[k].name, selector ? selector : "the default device", info.name, (long long)j, got[j], want[j],
                  atol);
    }
    cr_assert_gt(compared, 60);
    clnet_graph_free(g);
    clnet_ctx_free(ctx);
  }
  clnet_st_free(f);
}

Test(golden, optimizers_match_pytorch_on_the_reference) { run_optim_golden("ref"); }
Test(golden, optimizers_match_pytorch_on_the_default_device) { run_optim_golden(NULL); }
