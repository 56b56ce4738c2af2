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
    CLNET_TRY_GOTO(clnet_graph_param_read(gr, i, f, vb), st, out);
    snprintf(name, sizeof name, "%s %s", f == CLNET_FIELD_GRAD ? "grad" : "stat", info.name);
    compare(name, va, vb, info.count, NULL, f == CLNET_FIELD_GRAD ? layer_scale[i] : 0, fn, user, failures);
  }
  CLNET_TRY_GOTO(clnet_graph_apply_adam(gd, 1e-3f, 0.9f, 0.999f, 1e-7f), st, out);
  CLNET_TRY_GOTO(clnet_graph_apply_adam(gr, 1e-3f, 0.9f, 0.999f, 1e-7f), st, out);
  for (int32_t i = 0; i < np; ++i) {
    clnet_param_info info;
    clnet_graph_param_info(gd, i, &info);
    if (info.kind != CLNET_PARAM_TRAINABLE) continue;
    /* mask weights whose gradient is zero within the gradient tolerance */
    CLNET_TRY_GOTO(clnet_graph_param_read(gr, i, CLNET_FIELD_GRAD, vb), st, out);
    double gscale = layer_scale[i];
    for (int64_t j = 0; j < info.count; ++j)
      mask[j] = fabs(vb[j]) <= MODEL_ATOL_SCALE * gscale + MODEL_RTOL * fabs(vb[j]) + 1e-12;
    CLNET_TRY_GOTO(clnet_graph_param_read(gd, i, CLNET_FIELD_VALUE, va), st, out);
    CLNET_TRY_GOTO(clnet_graph_param_read(gr, i, CLNET_FIELD_VALUE, vb), st, out);
    snprintf(name, sizeof name, "updated %s", info.name);
    compare(name, va, vb, info.count, mask, 0, fn, user, failures);
  }
out:
  free(layer_scale);
  free(images);
  free(va);
  free(vb);
  free(mask);
  clnet_graph_free(gd);
  clnet_graph_free(gr);
  return st;
}
