/* Whole-model check: one training step of a small ResNet on a device and on
 * the reference, tensor by tensor (see clnet_check_model in clnet/check.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clnet/check.h"
#include "clnet/graph.h"
#include "core/error.h"
#include "core/rng.h"

#define MODEL_RTOL 1e-3
#define MODEL_ATOL_SCALE 1e-4
/* the one Adam step after the gradients (Keras' defaults) */
#define ADAM_LR 1e-3f
#define ADAM_BETA1 0.9f
#define ADAM_BETA2 0.999f
#define ADAM_EPS 1e-7f

/* scale_floor: a lower bound for the tensor's scale (see layer_grad_scale). */
static void compare(const char *name, const float *a, const float *b, int64_t n, const unsigned char *mask,
                    double scale_floor, clnet_model_check_fn fn, void *user, int32_t *failures) {
  clnet_model_check_row row;
  memset(&row, 0, sizeof row);
  snprintf(row.name, sizeof row.name, "%s", name);
  for (int64_t i = 0; i < n; ++i)
    if (fabs(b[i]) > row.scale) row.scale = fabs(b[i]);
  row.atol = MODEL_ATOL_SCALE * fmax(row.scale, scale_floor) + 1e-12;
  row.rtol = MODEL_RTOL;
  row.passed = 1;
  for (int64_t i = 0; i < n; ++i) {
    if (mask && mask[i]) {
      row.masked++;
      continue;
    }
    row.count++;
    if (!isfinite(a[i]) || !isfinite(b[i])) {
      if (isfinite(a[i]) != isfinite(b[i])) row.passed = 0;
      continue;
    }
    double err = fabs((double)a[i] - b[i]);
    if (err > row.max_abs) row.max_abs = err;
    if (fabs(b[i]) > row.atol / row.rtol && err / fabs(b[i]) > row.max_rel) row.max_rel = err / fabs(b[i]);
    if (err > row.atol + row.rtol * fabs(b[i])) row.passed = 0;
  }
  if (!row.passed) ++*failures;
  if (fn) fn(&row, user);
}

/* The momentum attribute of the layer that owns parameter `param` ("<layer>.<name>"); -1 when
 * the layer has none. */
static double owner_momentum(const clnet_graph *g, const char *param) {
  const char *dot = strrchr(param, '.');
  size_t plen = dot ? (size_t)(dot - param) : strlen(param);
  for (int32_t l = 0; l < clnet_graph_layer_count(g); ++l) {
    clnet_layer_info li;
    if (clnet_graph_layer_info(g, l, &li) != CLNET_SUCCESS) continue;
    if (strlen(li.name) != plen || strncmp(li.name, param, plen)) continue;
    const char *m = strstr(li.attrs, "momentum=");
    return m ? strtod(m + 9, NULL) : -1;
  }
  return -1;
}

/* 1 when `name` ends in `suffix`. */
static int32_t ends_with(const char *name, const char *suffix) {
  size_t n = strlen(name), k = strlen(suffix);
  return n >= k && !strcmp(name + n - k, suffix);
}

/* The scale of a moving mean's rounding error after one step: (1 - m) times its channels' largest
 * batch deviation. A mean is a sum of values of that size, so its rounding error is a share of
 * it, also when the mean itself is zero, as after a convolution of BN outputs whose beta is 0.
 * The batch variance comes from the companion moving variance: mv = m*mv0 + (1 - m)*var.
 * vb: room for the tensor. 0 when the layer has no momentum or no moving variance. */
static double mean_scale(clnet_graph *g, int32_t i_mean, float *const *stat0, float *vb) {
  clnet_param_info mi;
  clnet_graph_param_info(g, i_mean, &mi);
  double m = owner_momentum(g, mi.name);
  if (m < 0 || m >= 1) return 0;
  size_t plen = strlen(mi.name) - strlen("moving_mean");
  for (int32_t j = 0; j < clnet_graph_param_count(g); ++j) {
    clnet_param_info vi;
    clnet_graph_param_info(g, j, &vi);
    if (!stat0[j] || vi.count != mi.count || strncmp(vi.name, mi.name, plen) || strcmp(vi.name + plen, "moving_variance"))
      continue;
    if (clnet_graph_param_read(g, j, CLNET_FIELD_VALUE, vb) != CLNET_SUCCESS) return 0;
    double var = 0;
    for (int64_t c = 0; c < vi.count; ++c) var = fmax(var, stat0[j][c] + (vb[c] - stat0[j][c]) / (1 - m));
    return (1 - m) * sqrt(var);
  }
  return 0;
}

clnet_status clnet_check_model(clnet_ctx *dev, clnet_ctx *ref, uint64_t seed, clnet_model_check_fn fn, void *user,
                               int32_t *failures) {
  return clnet_check_model_of(dev, ref, "resnet18", seed, fn, user, failures);
}

clnet_status clnet_check_model_of(clnet_ctx *dev, clnet_ctx *ref, const char *model, uint64_t seed,
                                  clnet_model_check_fn fn, void *user, int32_t *failures) {
  *failures = 0;
  const int32_t batch = 4, h = 12, w = 12, c = 3, classes = 10;
  int32_t width = 4; /* narrow: a quick step whose structure is the model's */
  for (int32_t m = 0; m < clnet_model_count(); ++m)
    if (!strcmp(clnet_model_name(m), model) && clnet_model_default_width(m) < 16) width = 2;
  const clnet_model_config mc = {.in_h = h, .in_w = w, .in_c = c, .classes = classes, .width = width};
  clnet_graph *gd = NULL, *gr = NULL;
  float *images = NULL, *va = NULL, *vb = NULL;
  unsigned char *mask = NULL;
  double *layer_scale = NULL;
  float **stat0 = NULL; /* [param] the reference's statistics before the step; NULL for others */
  int32_t n_params = 0;
  int32_t labels[4];
  clnet_status st = CLNET_SUCCESS;
  CLNET_TRY_GOTO(clnet_model_build(model, &mc, &gd), st, out);
  CLNET_TRY_GOTO(clnet_model_build(model, &mc, &gr), st, out);
  CLNET_TRY_GOTO(clnet_graph_setup(gd, dev, batch), st, out);
  CLNET_TRY_GOTO(clnet_graph_setup(gr, ref, batch), st, out);
  CLNET_TRY_GOTO(clnet_graph_init_params(gd, seed), st, out);
  CLNET_TRY_GOTO(clnet_graph_init_params(gr, seed), st, out);
  clnet_rng rng;
  clnet_rng_seed(&rng, seed ^ 0x9e3779b97f4a7c15ull);
  size_t n_img = (size_t)batch * h * w * c;
  images = malloc(n_img * sizeof *images);
  int64_t max_count = classes * batch;
  for (int32_t i = 0; i < clnet_graph_param_count(gd); ++i) {
    clnet_param_info info;
    clnet_graph_param_info(gd, i, &info);
    if (info.count > max_count) max_count = info.count;
  }
  va = malloc((size_t)max_count * sizeof *va);
  vb = malloc((size_t)max_count * sizeof *vb);
  mask = malloc((size_t)max_count);
  if (!images || !va || !vb || !mask) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "model check buffers");
    goto out;
  }
  for (size_t i = 0; i < n_img; ++i) images[i] = clnet_rng_normal(&rng);
  for (int32_t i = 0; i < batch; ++i) labels[i] = (int32_t)clnet_rng_below(&rng, classes);
  CLNET_TRY_GOTO(clnet_graph_set_batch(gd, images, labels, batch), st, out);
  CLNET_TRY_GOTO(clnet_graph_set_batch(gr, images, labels, batch), st, out);
  /* the moving statistics before the step: a moving mean's rounding error scales with its
   * channel's batch deviation, which the variance's update tells (see below) */
  n_params = clnet_graph_param_count(gr);
  stat0 = calloc((size_t)n_params, sizeof *stat0);
  if (!stat0) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "model check buffers");
    goto out;
  }
  for (int32_t i = 0; i < n_params; ++i) {
    clnet_param_info info;
    clnet_graph_param_info(gr, i, &info);
    if (info.kind != CLNET_PARAM_STATISTIC) continue;
    stat0[i] = malloc((size_t)info.count * sizeof **stat0);
    if (!stat0[i]) {
      st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "model check buffers");
      goto out;
    }
    CLNET_TRY_GOTO(clnet_graph_param_read(gr, i, CLNET_FIELD_VALUE, stat0[i]), st, out);
  }
  float loss_d, loss_r;
  int32_t corr_d, corr_r;
  CLNET_TRY_GOTO(clnet_graph_forward_backward(gd, &loss_d, &corr_d), st, out);
  CLNET_TRY_GOTO(clnet_graph_forward_backward(gr, &loss_r, &corr_r), st, out);
  compare("loss", &loss_d, &loss_r, 1, NULL, 0, fn, user, failures);
  CLNET_TRY_GOTO(clnet_graph_read_logits(gd, va), st, out);
  CLNET_TRY_GOTO(clnet_graph_read_logits(gr, vb), st, out);
  compare("logits", va, vb, (int64_t)batch * classes, NULL, 0, fn, user, failures);
  char name[200];
  int32_t np = clnet_graph_param_count(gd);
  layer_scale = calloc((size_t)np, sizeof *layer_scale);
  if (!layer_scale) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "model check buffers");
    goto out;
  }
  /* A layer's kernel and bias gradients come from the same dy, so rounding
   * errors scale with the layer's largest gradient: a conv bias followed by
   * BN has an exactly-zero true gradient (BN removes any constant), which both
   * backends compute as rounding noise of that size. */
  for (int32_t i = 0; i < np; ++i) {
    clnet_param_info info;
    clnet_graph_param_info(gd, i, &info);
    if (info.kind != CLNET_PARAM_TRAINABLE) continue;
    CLNET_TRY_GOTO(clnet_graph_param_read(gr, i, CLNET_FIELD_GRAD, vb), st, out);
    double m = 0;
    for (int64_t j = 0; j < info.count; ++j) m = fmax(m, fabs(vb[j]));
    const char *dot = strrchr(info.name, '.');
    size_t plen = dot ? (size_t)(dot - info.name) : strlen(info.name);
    for (int32_t j = 0; j < np; ++j) {
      clnet_param_info other;
      clnet_graph_param_info(gd, j, &other);
      if (!strncmp(other.name, info.name, plen) && other.name[plen] == '.') layer_scale[j] = fmax(layer_scale[j], m);
    }
  }
  for (int32_t i = 0; i < np; ++i) {
    clnet_param_info info;
    clnet_graph_param_info(gd, i, &info);
    clnet_param_field f = info.kind == CLNET_PARAM_TRAINABLE ? CLNET_FIELD_GRAD : CLNET_FIELD_VALUE;
    CLNET_TRY_GOTO(clnet_graph_param_read(gd, i, f, va), st, out);
    snprintf(name, sizeof name, "%s %s", f == CLNET_FIELD_GRAD ? "grad" : "stat", info.name);
    double floor = f == CLNET_FIELD_GRAD ? layer_scale[i] : 0;
    if (f == CLNET_FIELD_VALUE && ends_with(info.name, ".moving_mean")) floor = mean_scale(gr, i, stat0, vb); /* vb as scratch */
    CLNET_TRY_GOTO(clnet_graph_param_read(gr, i, f, vb), st, out);
    compare(name, va, vb, info.count, NULL, floor, fn, user, failures);
  }
  CLNET_TRY_GOTO(clnet_graph_apply_adam(gd, ADAM_LR, ADAM_BETA1, ADAM_BETA2, ADAM_EPS), st, out);
  CLNET_TRY_GOTO(clnet_graph_apply_adam(gr, ADAM_LR, ADAM_BETA1, ADAM_BETA2, ADAM_EPS), st, out);
  for (int32_t i = 0; i < np; ++i) {
    clnet_param_info info;
    clnet_graph_param_info(gd, i, &info);
    if (info.kind != CLNET_PARAM_TRAINABLE) continue;
    /* Mask the weights whose update the gradient's tolerance does not determine. Adam's first
     * step from m = v = 0 moves a weight by lr*g/(|g| + e) with e = eps/sqrt(1 - beta2), whose
     * slope is lr*e/(|g| + e)^2: a gradient error within its tolerance tol moves the update by up
     * to lr*e*tol/(|g| + e)^2, which may exceed the update's own tolerance, rtol*lr*|g|/(|g| + e),
     * when |g| is not large against e or tol (a gradient that is zero up to rounding, the
     * extreme case). */
    CLNET_TRY_GOTO(clnet_graph_param_read(gr, i, CLNET_FIELD_GRAD, vb), st, out);
    double gscale = layer_scale[i];
    const double e = ADAM_EPS / sqrt(1.0 - ADAM_BETA2);
    for (int64_t j = 0; j < info.count; ++j) {
      double g = fabs(vb[j]), tol = MODEL_ATOL_SCALE * gscale + MODEL_RTOL * g + 1e-12;
      mask[j] = e * tol / (g + e) > MODEL_RTOL * g;
    }
    CLNET_TRY_GOTO(clnet_graph_param_read(gd, i, CLNET_FIELD_VALUE, va), st, out);
    CLNET_TRY_GOTO(clnet_graph_param_read(gr, i, CLNET_FIELD_VALUE, vb), st, out);
    snprintf(name, sizeof name, "updated %s", info.name);
    compare(name, va, vb, info.count, mask, 0, fn, user, failures);
  }
out:
  if (stat0)
    for (int32_t i = 0; i < n_params; ++i) free(stat0[i]);
  free(stat0);
  free(layer_scale);
  free(images);
  free(va);
  free(vb);
  free(mask);
  clnet_graph_free(gd);
  clnet_graph_free(gr);
  return st;
}
