/* ONNX in and out: the committed fixtures (tests/onnx/, from tests/onnx/make_models.py) against
 * PyTorch's outputs; ONNX's own backend test cases (Debian's libonnx-testdata) on the reference and
 * on the OpenCL device; export -> import round trips of every zoo model with identical logits;
 * refusals that name the node, its op and the attribute or input; the command line (train on an
 * imported model, export, eval of the .onnx file, errors before any device work). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cifar_files.h"
#include "cli_run.h"
#include "clnet/graph.h"
#include "clnet/onnx.h"
#include "clnet/train.h"
#include "onnx/onnx_internal.h"

#define TESTDATA "/usr/share/libonnx-testdata/data"

static const char *src_dir(void) {
  const char *s = getenv("CLNET_TEST_SOURCE_DIR");
  cr_assert_not_null(s, "CLNET_TEST_SOURCE_DIR must point to the source tree (ctest sets it)");
  return s;
}

static int exists(const char *p) {
  struct stat s;
  return stat(p, &s) == 0;
}

/* ---- the committed fixtures, through clnet's backend-test runner ---- */
typedef struct case_log {
  int32_t ran, passed, unsupported;
  char unsupported_names[4096];
} case_log;

static void expect_pass(const clnet_onnx_case_result *r, void *user) {
  case_log *l = user;
  l->ran++;
  if (r->status == CLNET_ONNX_CASE_PASSED) l->passed++;
  if (r->status == CLNET_ONNX_CASE_UNSUPPORTED) {
    l->unsupported++;
    size_t u = strlen(l->unsupported_names);
    snprintf(l->unsupported_names + u, sizeof l->unsupported_names - u, "%s ", r->name);
  }
  /* the keras_like cases end in a Softmax, which only the training graph takes (their own test below) */
  if (!strncmp(r->name, "keras_like", 10)) {
    cr_expect_eq(r->status, CLNET_ONNX_CASE_UNSUPPORTED, "keras_like: %s", r->detail);
    cr_expect(strstr(r->detail, "Softmax") != NULL, "%s", r->detail);
    return;
  }
  cr_expect_eq(r->status, CLNET_ONNX_CASE_PASSED, "%s: %s", r->name, r->detail);
}

static void run_fixtures(const char *device) {
  clnet_ctx *ctx = NULL;
  cr_assert_eq(clnet_ctx_create(device, &ctx), CLNET_SUCCESS, "%s", clnet_last_error());
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/tests/onnx/cases", src_dir());
  case_log l = {0};
  clnet_onnx_test_summary s;
  cr_assert_eq(clnet_onnx_test_dir(ctx, dir, NULL, expect_pass, &l, &s), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_expect_geq(s.cases, 6, "the fixtures: residual, residual_train, view_head, activations, keras_like(_gap)");
  cr_expect_eq(s.failed + s.errors, 0);
  clnet_ctx_free(ctx);
}

Test(onnx, fixtures_match_pytorch_on_ref) { run_fixtures("ref"); }
Test(onnx, fixtures_match_pytorch_on_device, .timeout = 600) { run_fixtures(NULL); }

static clnet_status decode_pb(const char *path, ox_const *c) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "%s", path);
  static uint8_t buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  Onnx__TensorProto *t = onnx__tensor_proto__unpack(NULL, n, buf);
  cr_assert_not_null(t, "%s", path);
  clnet_status st = ox_tensor_decode(t, path, c);
  onnx__tensor_proto__free_unpacked(t, NULL);
  return st;
}

/* tf2onnx's shapes of Keras models: NHWC input, Transposes, a zero Pad before a valid Conv,
 * ReduceMean as global pooling, MatMul + Add, a final Softmax, which the training graph takes as its
 * loss's own: softmax(clnet's logits) is the model's output. */
static void keras_case(const char *name, const char *softmax_node, int32_t in_h, int32_t classes) {
  char p[4200];
  snprintf(p, sizeof p, "%s/tests/onnx/cases/%s/model.onnx", src_dir(), name);
  clnet_onnx_model *m = NULL;
  cr_assert_eq(clnet_onnx_read(p, &m), CLNET_SUCCESS, "%s", clnet_last_error());
  clnet_onnx_info info;
  cr_assert_eq(clnet_onnx_get_info(m, &info), CLNET_SUCCESS);
  cr_expect_eq(info.nhwc_input, 1);
  cr_expect_eq(info.in_h, in_h);
  cr_expect_eq(info.in_c, 3);
  clnet_graph *g = NULL;
  clnet_onnx_build_options bo = {.with_loss = 1};
  cr_assert_eq(clnet_onnx_build(m, &bo, &g), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_expect_eq(clnet_graph_classes(g), classes);
  clnet_ctx *ref = NULL;
  cr_assert_eq(clnet_ctx_create("ref", &ref), CLNET_SUCCESS);
  ox_const x, y;
  snprintf(p, sizeof p, "%s/tests/onnx/cases/%s/test_data_set_0/input_0.pb", src_dir(), name);
  cr_assert_eq(decode_pb(p, &x), CLNET_SUCCESS, "%s", clnet_last_error());
  snprintf(p, sizeof p, "%s/tests/onnx/cases/%s/test_data_set_0/output_0.pb", src_dir(), name);
  cr_assert_eq(decode_pb(p, &y), CLNET_SUCCESS, "%s", clnet_last_error());
  const int32_t n = (int32_t)x.dims[0];
  cr_assert_leq(n, 8);
  cr_assert_eq(clnet_graph_setup(g, ref, n), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_onnx_load_weights(m, g), CLNET_SUCCESS, "%s", clnet_last_error());
  int32_t labels[8] = {0};
  /* NHWC is clnet's own layout: the input goes in as it is */
  cr_assert_eq(clnet_graph_set_batch(g, x.f, labels, n), CLNET_SUCCESS);
  float loss;
  int32_t correct;
  cr_assert_eq(clnet_graph_evaluate(g, &loss, &correct), CLNET_SUCCESS, "%s", clnet_last_error());
  float z[8 * 16];
  cr_assert_eq(clnet_graph_read_logits(g, z), CLNET_SUCCESS);
  for (int32_t i = 0; i < n; ++i) {
    double mx = -INFINITY, s = 0;
    for (int j = 0; j < classes; ++j) mx = fmax(mx, z[i * classes + j]);
    for (int j = 0; j < classes; ++j) s += exp(z[i * classes + j] - mx);
    for (int j = 0; j < classes; ++j) {
      const double pj = exp(z[i * classes + j] - mx) / s, want = y.f[i * classes + j];
      cr_expect(fabs(pj - want) <= 1e-7 + 1e-3 * fabs(want), "%s: image %d class %d: %g, expected %g", name, i, j, pj,
                want);
    }
  }
  ox_const_free(&x);
  ox_const_free(&y);
  clnet_graph_free(g);
  /* without the loss the Softmax is refused, naming the node */
  bo.with_loss = 0;
  cr_expect_eq(clnet_onnx_build(m, &bo, &g), CLNET_ERR_UNSUPPORTED);
  char want_node[128];
  snprintf(want_node, sizeof want_node, "node '%s' (Softmax)", softmax_node);
  cr_expect(strstr(clnet_last_error(), want_node) != NULL, "%s", clnet_last_error());
  clnet_onnx_free(m);
  clnet_ctx_free(ref);
}

Test(onnx, keras_like_nhwc_matmul_softmax) { keras_case("keras_like", "sequential/dense/Softmax", 8, 5); }
Test(onnx, keras_like_pad_reducemean) { keras_case("keras_like_gap", "dense/Softmax", 6, 4); }

/* ---- ONNX's backend test cases ---- */
/* Cases of ops clnet supports that must pass: expectations, checked by name. */
static const char *const must_pass[] = {
    "node/test_relu", "node/test_basic_conv_with_padding", "node/test_basic_conv_without_padding",
    "node/test_conv_with_strides_padding", "node/test_conv_with_strides_no_padding", "node/test_conv_with_autopad_same",
    "node/test_batchnorm_example", "node/test_batchnorm_epsilon", "node/test_batchnorm_example_training_mode",
    "node/test_batchnorm_epsilon_training_mode", "node/test_maxpool_2d_default",
    "node/test_maxpool_2d_pads", "node/test_maxpool_2d_same_upper", "node/test_maxpool_2d_same_lower",
    "node/test_maxpool_2d_ceil", "node/test_maxpool_2d_strides", "node/test_maxpool_1d_default",
    "node/test_averagepool_2d_default", "node/test_averagepool_2d_pads", "node/test_averagepool_2d_ceil",
    "node/test_averagepool_2d_pads_count_include_pad", "node/test_globalaveragepool", "node/test_globalmaxpool",
    "node/test_gemm_default_vector_bias", "node/test_gemm_transposeB", "node/test_gemm_alpha", "node/test_gemm_beta",
    "node/test_gemm_default_no_bias", "node/test_matmul_2d", "node/test_flatten_axis1", "node/test_flatten_default_axis",
    "node/test_reshape_reduced_dims", "node/test_identity", "node/test_dropout_default", "node/test_clip",
    "node/test_clip_default_min", "node/test_leakyrelu", "node/test_sigmoid", "node/test_tanh", "node/test_hardswish",
    "node/test_hardsigmoid", "node/test_shape", "pytorch-converted/test_Conv2d", "pytorch-converted/test_Conv2d_no_bias",
    "pytorch-converted/test_BatchNorm2d_eval", "pytorch-converted/test_BatchNorm2d_momentum_eval",
    "pytorch-converted/test_Linear", "pytorch-converted/test_MaxPool2d", "pytorch-converted/test_ReLU",
    "pytorch-converted/test_LeakyReLU", "pytorch-converted/test_Conv1d", "pytorch-converted/test_AvgPool2d",
    /* convolutions with groups, depthwise, dilations, per-axis strides, asymmetric pads */
    "node/test_conv_with_strides_and_asymmetric_padding", "pytorch-converted/test_Conv2d_depthwise",
    "pytorch-converted/test_Conv2d_depthwise_strided", "pytorch-converted/test_Conv2d_groups",
    "pytorch-converted/test_Conv2d_dilated", "pytorch-converted/test_Conv2d_padding", "pytorch-converted/test_Conv1d_stride",
    "pytorch-converted/test_Conv1d_groups", "pytorch-converted/test_Conv1d_dilated",
};

typedef struct backend_log {
  int32_t seen[sizeof must_pass / sizeof must_pass[0]];
  int32_t bad;
} backend_log;

static void on_backend_case(const clnet_onnx_case_result *r, void *user) {
  backend_log *l = user;
  cr_expect(r->status == CLNET_ONNX_CASE_PASSED || r->status == CLNET_ONNX_CASE_UNSUPPORTED, "%s: %s", r->name,
            r->detail);
  if (r->status == CLNET_ONNX_CASE_FAILED || r->status == CLNET_ONNX_CASE_ERROR) l->bad++;
  for (size_t i = 0; i < sizeof must_pass / sizeof must_pass[0]; ++i)
    if (!strcmp(r->name, must_pass[i])) {
      l->seen[i] = 1;
      cr_expect_eq(r->status, CLNET_ONNX_CASE_PASSED, "%s: %s", r->name, r->detail);
    }
}

static void run_backend(const char *device) {
  if (!exists(TESTDATA "/node")) {
    cr_skip_test("%s is missing (Debian's libonnx-testdata)", TESTDATA);
    return;
  }
  clnet_ctx *ctx = NULL;
  cr_assert_eq(clnet_ctx_create(device, &ctx), CLNET_SUCCESS, "%s", clnet_last_error());
  backend_log l;
  memset(&l, 0, sizeof l);
  clnet_onnx_test_summary a;
  cr_assert_eq(clnet_onnx_test_dir(ctx, TESTDATA, NULL, on_backend_case, &l, &a), CLNET_SUCCESS, "%s",
               clnet_last_error());
  cr_log_info("ONNX backend cases on %s: %d, %d passed, %d unsupported", clnet_ctx_device_name(ctx), a.cases, a.passed,
              a.unsupported);
  cr_expect_gt(a.passed, 0);
  cr_expect_eq(l.bad, 0);
  for (size_t i = 0; i < sizeof must_pass / sizeof must_pass[0]; ++i)
    cr_expect(l.seen[i], "%s: not among the cases", must_pass[i]);
  clnet_ctx_free(ctx);
}

Test(onnx, backend_cases_on_ref, .timeout = 600) { run_backend("ref"); }
Test(onnx, backend_cases_on_device, .timeout = 900) { run_backend(NULL); }

/* ---- export -> import: identical logits on the reference ---- */
static void random_fill(float *x, int64_t n, uint32_t seed) {
  uint32_t s = seed * 2654435761u + 1;
  for (int64_t i = 0; i < n; ++i) {
    s = s * 1664525u + 1013904223u;
    x[i] = (float)((s >> 8) & 0xffff) / 32768.0f - 1.0f;
  }
}

static void round_trip(const char *model, int32_t h, int32_t w, int32_t c, int32_t width) {
  clnet_ctx *ref = NULL;
  cr_assert_eq(clnet_ctx_create("ref", &ref), CLNET_SUCCESS);
  clnet_model_config mc = {.in_h = h, .in_w = w, .in_c = c, .classes = 10, .width = width};
  clnet_graph *g = NULL;
  clnet_status bst = clnet_model_build(model, &mc, &g);
  if (bst != CLNET_SUCCESS && strstr(clnet_last_error(), "not supported yet")) { /* the zoo model needs a layer
                                                                                   feature this build lacks */
    cr_skip_test("%s: %s", model, clnet_last_error());
    clnet_ctx_free(ref);
    return;
  }
  cr_assert_eq(bst, CLNET_SUCCESS, "%s: %s", model, clnet_last_error());
  const int32_t n = 3;
  cr_assert_eq(clnet_graph_setup(g, ref, n), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_graph_init_params(g, 7), CLNET_SUCCESS);
  const int64_t per = (int64_t)h * w * c;
  float *x = malloc((size_t)(n * per) * sizeof *x);
  random_fill(x, n * per, 3);
  int32_t labels[3] = {1, 4, 7};
  float loss, loss2;
  int32_t correct;
  /* two training steps: moving statistics and weights away from their initial values */
  cr_assert_eq(clnet_graph_set_batch(g, x, labels, n), CLNET_SUCCESS);
  for (int s = 0; s < 2; ++s) {
    cr_assert_eq(clnet_graph_forward_backward(g, &loss, &correct), CLNET_SUCCESS, "%s", clnet_last_error());
    cr_assert_eq(clnet_graph_apply_adam(g, 1e-2f, 0.9f, 0.999f, 1e-7f), CLNET_SUCCESS);
  }
  cr_assert_eq(clnet_graph_evaluate(g, &loss, &correct), CLNET_SUCCESS);
  float a[3 * 10], b[3 * 10];
  cr_assert_eq(clnet_graph_read_logits(g, a), CLNET_SUCCESS);
  void *bytes = NULL;
  size_t size = 0;
  clnet_onnx_export_options eo = {0};
  cr_assert_eq(clnet_onnx_export_memory(g, &eo, &bytes, &size), CLNET_SUCCESS, "%s: %s", model, clnet_last_error());
  clnet_onnx_model *m = NULL;
  cr_assert_eq(clnet_onnx_read_memory(bytes, size, model, &m), CLNET_SUCCESS, "%s", clnet_last_error());
  clnet_onnx_info info;
  cr_assert_eq(clnet_onnx_get_info(m, &info), CLNET_SUCCESS);
  cr_expect_eq(info.opset, 17);
  cr_expect(info.in_c == c && info.in_h == h && info.in_w == w);
  clnet_graph *g2 = NULL;
  clnet_onnx_build_options bo = {.with_loss = 1, .classes = 10};
  cr_assert_eq(clnet_onnx_build(m, &bo, &g2), CLNET_SUCCESS, "%s: %s", model, clnet_last_error());
  cr_expect_eq(clnet_graph_layer_count(g2), clnet_graph_layer_count(g), "%s: the same layers", model);
  cr_expect_eq(clnet_graph_param_total(g2, CLNET_PARAM_TRAINABLE), clnet_graph_param_total(g, CLNET_PARAM_TRAINABLE));
  cr_assert_eq(clnet_graph_setup(g2, ref, n), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_onnx_load_weights(m, g2), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_graph_set_batch(g2, x, labels, n), CLNET_SUCCESS);
  cr_assert_eq(clnet_graph_evaluate(g2, &loss2, &correct), CLNET_SUCCESS, "%s", clnet_last_error());
  cr_assert_eq(clnet_graph_read_logits(g2, b), CLNET_SUCCESS);
  for (int i = 0; i < 30; ++i) cr_expect_eq(a[i], b[i], "%s: logit %d: %.9g after the round trip, %.9g before", model, i, b[i], a[i]);
  /* the layer names survive (initializers "<layer>.weight") */
  clnet_layer_info l1, l2;
  cr_assert_eq(clnet_graph_layer_info(g, 0, &l1), CLNET_SUCCESS);
  cr_assert_eq(clnet_graph_layer_info(g2, 0, &l2), CLNET_SUCCESS);
  cr_expect_str_eq(l2.name, l1.name);
  free(bytes);
  free(x);
  clnet_onnx_free(m);
  clnet_graph_free(g);
  clnet_graph_free(g2);
  clnet_ctx_free(ref);
}

Test(onnx, round_trip_lenet) { round_trip("lenet", 28, 28, 1, 0); }
Test(onnx, round_trip_resnet18, .timeout = 300) { round_trip("resnet18", 16, 16, 3, 4); }
Test(onnx, round_trip_resnet50, .timeout = 300) { round_trip("resnet50", 16, 16, 3, 4); }
Test(onnx, round_trip_vgg11, .timeout = 300) { round_trip("vgg11", 32, 32, 3, 4); }
Test(onnx, round_trip_mobilenet_v2, .timeout = 300) { round_trip("mobilenet_v2", 32, 32, 3, 8); }

/* ---- refusals ---- */
static void expect_refusal(const char *file, int at_read, clnet_status want, const char *const *parts) {
  char p[4200];
  snprintf(p, sizeof p, "%s/tests/onnx/bad/%s", src_dir(), file);
  clnet_onnx_model *m = NULL;
  clnet_status st = clnet_onnx_read(p, &m);
  if (!at_read) {
    cr_assert_eq(st, CLNET_SUCCESS, "%s: %s", file, clnet_last_error());
    clnet_graph *g = NULL;
    clnet_onnx_build_options bo = {.with_loss = 1};
    st = clnet_onnx_build(m, &bo, &g);
    cr_expect_null(g);
  }
  cr_expect_eq(st, want, "%s: status %d (%s)", file, st, clnet_last_error());
  for (int i = 0; parts[i]; ++i)
    cr_expect(strstr(clnet_last_error(), parts[i]) != NULL, "%s: '%s' not in: %s", file, parts[i], clnet_last_error());
  clnet_onnx_free(m);
}

Test(onnx, refusals_name_node_op_and_cause) {
  expect_refusal("unsupported_op.onnx", 0, CLNET_ERR_UNSUPPORTED, (const char *[]){"node 'erf' (Erf)", "not supported", NULL});
  expect_refusal("unsupported_attr.onnx", 0, CLNET_ERR_UNSUPPORTED,
                 (const char *[]){"node 'pool2' (MaxPool)", "'dilations' = 2", NULL});
  expect_refusal("weight_from_data.onnx", 0, CLNET_ERR_UNSUPPORTED,
                 (const char *[]){"node 'conv' (Conv)", "input 1 ('x')", "constant", NULL});
  expect_refusal("const_add.onnx", 0, CLNET_ERR_UNSUPPORTED, (const char *[]){"node 'biasadd' (Add)", "'bias'", NULL});
  expect_refusal("missing_initializer.onnx", 1, CLNET_ERR_FORMAT,
                 (const char *[]){"node 'conv' (Conv)", "'W2'", "defined nowhere", NULL});
  expect_refusal("name_collision.onnx", 1, CLNET_ERR_FORMAT, (const char *[]){"node 'relu' (Relu)", "'c'", "collide", NULL});
  expect_refusal("cycle.onnx", 1, CLNET_ERR_FORMAT, (const char *[]){"cycle", "(Add)", NULL});
}

/* Every prefix of a valid model is refused or read, never a crash, and nothing is half-built. */
Test(onnx, truncated_files) {
  char p[4200];
  snprintf(p, sizeof p, "%s/tests/onnx/cases/view_head/model.onnx", src_dir());
  FILE *f = fopen(p, "rb");
  cr_assert_not_null(f);
  static uint8_t buf[1 << 16];
  const size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  int refused = 0;
  for (size_t len = 0; len < n; len += 7) {
    clnet_onnx_model *m = NULL;
    clnet_status st = clnet_onnx_read_memory(buf, len, "truncated", &m);
    if (st == CLNET_SUCCESS) {
      clnet_graph *g = NULL;
      clnet_onnx_build_options bo = {.with_loss = 1};
      st = clnet_onnx_build(m, &bo, &g);
      clnet_graph_free(g);
      clnet_onnx_free(m);
    } else {
      cr_expect_null(m);
    }
    refused += st != CLNET_SUCCESS;
  }
  cr_expect_gt(refused, (int)(n / 7) - 2, "nearly every truncation is refused");
}

/* ---- the command line ---- */
Test(onnx, cli_train_export_eval, .timeout = 900) {
  char data[200], out[16384], args[4096], tmp[256];
  write_small_cifar_dir(data, sizeof data, "onnx");
  snprintf(tmp, sizeof tmp, "%s/run", data);
  const char *model = "tests/onnx/cases/residual/model.onnx";
  /* a model clnet cannot run: refused before any device is opened */
  snprintf(args, sizeof args, "train --model '%s/tests/onnx/bad/unsupported_op.onnx' --data '%s' --out '%s'",
           src_dir(), data, tmp);
  int rc = clnet_cli_run("", args, out, sizeof out);
  cr_expect_eq(rc, 1, "%s", out);
  cr_expect(strstr(out, "node 'erf' (Erf)") != NULL, "%s", out);
  cr_expect(strstr(out, "device:") == NULL, "no device before the refusal: %s", out);
  /* train the imported model from its initializers (H and W open: it takes the 32x32 data) */
  snprintf(args, sizeof args,
           "train --model '%s/%s' --data '%s' --out '%s' --epochs 1 --batch 32 --max-batches 4 --device ref "
           "--recipe seed", src_dir(), model, data, tmp);
  rc = clnet_cli_run("", args, out, sizeof out);
  cr_assert_eq(rc, 0, "%s", out);
  cr_expect(strstr(out, "model: custom") != NULL, "%s", out);
  cr_expect(strstr(out, "bn-momentum=-1") != NULL, "the model's own BN momentum: %s", out);
  /* export what was trained; evaluate the checkpoint and the .onnx file: the same test loss */
  snprintf(args, sizeof args, "export --checkpoint '%s/last.safetensors' --onnx '%s/out.onnx'", tmp, tmp);
  rc = clnet_cli_run("", args, out, sizeof out);
  cr_assert_eq(rc, 0, "%s", out);
  cr_expect(strstr(out, "opset 17") != NULL, "%s", out);
  char a[16384];
  snprintf(args, sizeof args, "eval --checkpoint '%s/last.safetensors' --data '%s' --device ref", tmp, data);
  cr_assert_eq(clnet_cli_run("", args, a, sizeof a), 0, "%s", a);
  snprintf(args, sizeof args, "eval --checkpoint '%s/out.onnx' --data '%s' --device ref", tmp, data);
  cr_assert_eq(clnet_cli_run("", args, out, sizeof out), 0, "%s", out);
  const char *la = strstr(a, "test loss"), *lb = strstr(out, "test loss");
  cr_assert(la && lb, "%s\n%s", a, out);
  cr_expect_eq(strncmp(la, lb, 40), 0, "the checkpoint and its export evaluate alike:\n%s\n%s", la, lb);
  cr_expect(strstr(out, "ONNX model") != NULL, "%s", out);
  /* --init random re-initialises: a different first loss */
  char r1[16384];
  snprintf(args, sizeof args,
           "train --model '%s/%s' --data '%s' --out '%s/r' --epochs 1 --batch 32 --max-batches 1 --device ref "
           "--init random --step-log '%s/r.csv'", src_dir(), model, data, tmp, tmp);
  cr_assert_eq(clnet_cli_run("", args, r1, sizeof r1), 0, "%s", r1);
  snprintf(args, sizeof args, "train --model '%s/%s' --data '%s' --out '%s/i' --epochs 1 --batch 32 --max-batches 1 "
           "--device ref --step-log '%s/i.csv'", src_dir(), model, data, tmp, tmp);
  cr_assert_eq(clnet_cli_run("", args, r1, sizeof r1), 0, "%s", r1);
  char pa[300], pb[300], la1[256] = "", lb1[256] = "";
  snprintf(pa, sizeof pa, "%s/r.csv", tmp);
  snprintf(pb, sizeof pb, "%s/i.csv", tmp);
  FILE *fa = fopen(pa, "r"), *fb = fopen(pb, "r");
  cr_assert(fa && fb);
  cr_assert_not_null(fgets(la1, sizeof la1, fa)); /* header */
  cr_assert_not_null(fgets(la1, sizeof la1, fa));
  cr_assert_not_null(fgets(lb1, sizeof lb1, fb));
  cr_assert_not_null(fgets(lb1, sizeof lb1, fb));
  fclose(fa);
  fclose(fb);
  cr_expect_str_neq(la1, lb1, "--init random starts elsewhere than the model's weights");
  /* the onnx-test command on the fixtures */
  snprintf(args, sizeof args, "onnx-test '%s/tests/onnx/cases' --device ref", src_dir());
  cr_expect_eq(clnet_cli_run("", args, out, sizeof out), 0, "%s", out);
  cr_expect(strstr(out, "0 failed, 0 errors") != NULL, "%s", out);
}
