/* clnet's SGD with momentum and Nesterov against ONNX's own Momentum test cases (Debian's
 * libonnx-testdata: node/test_momentum, test_nesterov_momentum, test_momentum_multiple), on the
 * reference and on the device.
 *
 * Where the semantics coincide: ONNX's Momentum (ai.onnx.preview.training) computes
 *   G' = norm_coefficient * X + G;  V' = alpha * V + beta_t * G' (beta_t = 1 when T == 0);
 *   standard: X' = X - R * V';  nesterov: X' = X - R * (G' + alpha * V')
 * which is PyTorch's SGD without dampening (clnet_sgd_update) with momentum = alpha, lr = R and
 * coupled L2 = norm_coefficient, when beta_t is 1: every case of the package has T = 0. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clnet/ops.h"
#include "clnet/runtime.h"
#include "onnx/onnx_internal.h"

#define TESTDATA "/usr/share/libonnx-testdata/data/node"

static uint8_t *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)len + 1);
  *n = b && fread(b, 1, (size_t)len, f) == (size_t)len ? (size_t)len : 0;
  fclose(f);
  return b;
}

/* The k-th input or output tensor of the case's test_data_set_0 as floats. */
static void read_tensor(const char *case_dir, const char *kind, int k, ox_const *out) {
  char path[512];
  snprintf(path, sizeof path, "%s/test_data_set_0/%s_%d.pb", case_dir, kind, k);
  size_t n = 0;
  uint8_t *b = slurp(path, &n);
  cr_assert(b && n, "%s unreadable", path);
  Onnx__TensorProto *t = onnx__tensor_proto__unpack(NULL, n, b);
  cr_assert_not_null(t, "%s: not a TensorProto", path);
  cr_assert_eq(ox_tensor_decode(t, path, out), CLNET_SUCCESS, "%s", clnet_last_error());
  onnx__tensor_proto__free_unpacked(t, NULL);
  free(b);
}

static double attr_float(const Onnx__NodeProto *node, const char *name) {
  for (size_t i = 0; i < node->n_attribute; ++i)
    if (!strcmp(node->attribute[i]->name, name)) return node->attribute[i]->f;
  cr_assert_fail("attribute %s missing", name);
  return NAN;
}

static void run_case(const char *name) {
  char case_dir[256], path[512];
  snprintf(case_dir, sizeof case_dir, "%s/%s", TESTDATA, name);
  snprintf(path, sizeof path, "%s/model.onnx", case_dir);
  size_t n = 0;
  uint8_t *b = slurp(path, &n);
  if (!b) cr_skip_test("%s is missing (Debian's libonnx-testdata)", path);
  Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, n, b);
  cr_assert(m && m->graph && m->graph->n_node == 1, "%s", path);
  const Onnx__NodeProto *node = m->graph->node[0];
  cr_assert_str_eq(node->op_type, "Momentum");
  const double alpha = attr_float(node, "alpha"), beta = attr_float(node, "beta"),
               norm = attr_float(node, "norm_coefficient");
  const char *mode = NULL;
  for (size_t i = 0; i < node->n_attribute; ++i)
    if (!strcmp(node->attribute[i]->name, "mode")) mode = (const char *)node->attribute[i]->s.data;
  cr_assert_not_null(mode);
  const int nesterov = !strncmp(mode, "nesterov", 8);
  /* inputs R, T, then X_1..X_k, G_1..G_k, V_1..V_k; outputs X_1'..X_k', V_1'..V_k' */
  const int k = (int)(node->n_input - 2) / 3;
  ox_const R, T;
  read_tensor(case_dir, "input", 0, &R);
  read_tensor(case_dir, "input", 1, &T);
  cr_assert_eq(ox_const_at(&T, 0), 0, "%s: T = %g: the cases this checks have T = 0 (beta taken as 1)", name,
               ox_const_at(&T, 0));
  (void)beta; /* beta_t = 1 at T = 0 */
  for (int dev = 0; dev < 2; ++dev) {
    clnet_ctx *ctx = NULL;
    cr_assert_eq(clnet_ctx_create(dev ? NULL : "ref", &ctx), CLNET_SUCCESS, "%s", clnet_last_error());
    for (int j = 0; j < k; ++j) {
      ox_const X, G, V, Xw, Vw;
      read_tensor(case_dir, "input", 2 + j, &X);
      read_tensor(case_dir, "input", 2 + k + j, &G);
      read_tensor(case_dir, "input", 2 + 2 * k + j, &V);
      read_tensor(case_dir, "output", j, &Xw);
      read_tensor(case_dir, "output", k + j, &Vw);
      const int64_t c = X.count;
      const size_t bytes = (size_t)c * sizeof(float);
      clnet_buf bx, bg, bv;
      cr_assert_eq(clnet_buf_alloc(ctx, bytes, "X", &bx), CLNET_SUCCESS);
      cr_assert_eq(clnet_buf_alloc(ctx, bytes, "G", &bg), CLNET_SUCCESS);
      cr_assert_eq(clnet_buf_alloc(ctx, bytes, "V", &bv), CLNET_SUCCESS);
      cr_assert_eq(clnet_buf_write(ctx, &bx, 0, bytes, X.f), CLNET_SUCCESS);
      cr_assert_eq(clnet_buf_write(ctx, &bg, 0, bytes, G.f), CLNET_SUCCESS);
      cr_assert_eq(clnet_buf_write(ctx, &bv, 0, bytes, V.f), CLNET_SUCCESS);
      const clnet_sgd_desc d = {.lr = (float)ox_const_at(&R, 0), .momentum = (float)alpha, .nesterov = nesterov,
                                .weight_decay = 0, .l2 = (float)norm};
      cr_assert_eq(clnet_sgd_update(ctx, &d, c, c, &bx, &bg, &bv), CLNET_SUCCESS, "%s", clnet_last_error());
      float *x1 = malloc(bytes), *v1 = malloc(bytes);
      cr_assert_eq(clnet_buf_read(ctx, &bx, 0, bytes, x1), CLNET_SUCCESS);
      cr_assert_eq(clnet_buf_read(ctx, &bv, 0, bytes, v1), CLNET_SUCCESS);
      for (int64_t e = 0; e < c; ++e) { /* a few float roundings on numbers of order 1 */
        cr_assert_float_eq(x1[e], Xw.f[e], 1e-6 * (1 + fabs(Xw.f[e])), "%s on %s: X%d[%lld] = %.9g, ONNX %.9g", name,
                           dev ? "the device" : "ref", j + 1, (long long)e, x1[e], Xw.f[e]);
        cr_assert_float_eq(v1[e], Vw.f[e], 1e-6 * (1 + fabs(Vw.f[e])), "%s on %s: V%d[%lld] = %.9g, ONNX %.9g", name,
                           dev ? "the device" : "ref", j + 1, (long long)e, v1[e], Vw.f[e]);
      }
      free(x1);
      free(v1);
      clnet_buf_free(ctx, &bx);
      clnet_buf_free(ctx, &bg);
      clnet_buf_free(ctx, &bv);
      ox_const_free(&X), ox_const_free(&G), ox_const_free(&V), ox_const_free(&Xw), ox_const_free(&Vw);
    }
    clnet_ctx_free(ctx);
  }
  ox_const_free(&R);
  ox_const_free(&T);
  onnx__model_proto__free_unpacked(m, NULL);
  free(b);
}

Test(onnx_momentum, sgd_momentum_matches_onnx_test_momentum) { run_case("test_momentum"); }
Test(onnx_momentum, nesterov_matches_onnx_test_nesterov_momentum) { run_case("test_nesterov_momentum"); }
Test(onnx_momentum, two_tensors_match_onnx_test_momentum_multiple) { run_case("test_momentum_multiple"); }
