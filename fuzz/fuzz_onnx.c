/* Fuzz harness: clnet_onnx_read and clnet_onnx_build (host/onnx/: protobuf-c over onnx.proto, the
 * model's form, the op table).
 *
 * Input: the .onnx file as it is. Checks: the error contract of fuzz_common.h, widened by the two
 * outcomes a valid model clnet cannot run has (CLNET_ERR_UNSUPPORTED, CLNET_ERR_MISMATCH); *out is
 * NULL on failure; a model that reads converts (for inference and, when its output is logits, for
 * training) or is refused cleanly; a small graph is set up on the reference
 * backend (at most 64 Ki floats of tensors and of parameters, 1 M multiply-adds), takes the model's weights and runs
 * forward; its export reads back. */
#include "fuzz_common.h"

#include <math.h>

#include "clnet/graph.h"
#include "clnet/onnx.h"
#include "clnet/runtime.h"

static void check_status(const char *what, clnet_status st, const char *path) {
  if (st == CLNET_ERR_UNSUPPORTED || st == CLNET_ERR_MISMATCH) {
    const char *msg = clnet_last_error();
    FUZZ_REQUIRE(msg[0] && strstr(msg, path), "%s: %s without the file in '%s'", what, clnet_status_str(st), msg);
    for (const char *p = msg; *p; p++)
      FUZZ_REQUIRE((unsigned char)*p >= 0x20 && *p != 0x7f, "%s: message not one printable line: '%s'", what, msg);
    return;
  }
  fuzz_check_status(what, st, &path, 1);
}

static clnet_ctx *ref_ctx(void) {
  static clnet_ctx *ref = NULL;
  if (!ref && clnet_ctx_create("ref", &ref) != CLNET_SUCCESS) FUZZ_FAIL("no reference backend: %s", clnet_last_error());
  return ref;
}

static void run_graph(clnet_onnx_model *m, clnet_graph *g) {
  int32_t h, w, c;
  if (clnet_graph_tensor_shape(g, 0, &h, &w, &c) != CLNET_SUCCESS) FUZZ_FAIL("no input tensor");
  /* small graphs only: every tensor together at most 64 Ki floats per image, as many parameters,
   * a million multiply-adds */
  int64_t floats = 0;
  for (int32_t t = 0; t < clnet_graph_tensor_count(g); ++t) {
    int32_t th, tw, tc;
    if (clnet_graph_tensor_shape(g, t, &th, &tw, &tc) == CLNET_SUCCESS) floats += (int64_t)th * tw * tc;
  }
  if (floats > (64 << 10) || clnet_graph_param_total(g, CLNET_PARAM_TRAINABLE) > (64 << 10) ||
      clnet_graph_macs_per_image(g) > 1e6)
    return; /* the reference's loops, instrumented, would take the fuzzer's time */
  clnet_status st = clnet_graph_setup(g, ref_ctx(), 1);
  if (st == CLNET_ERR_OUT_OF_HOST_MEMORY || st == CLNET_ERR_TOO_LARGE) return;
  FUZZ_REQUIRE(st == CLNET_SUCCESS, "setup of an imported graph: %s", clnet_last_error());
  st = clnet_onnx_load_weights(m, g);
  FUZZ_REQUIRE(st == CLNET_SUCCESS, "the weights of the build do not fit its graph: %s", clnet_last_error());
  float *x = calloc((size_t)h * w * c, sizeof *x);
  if (!x) return;
  st = clnet_graph_set_input(g, x, 1);
  if (st == CLNET_SUCCESS) st = clnet_graph_forward(g, 0);
  FUZZ_REQUIRE(st == CLNET_SUCCESS, "forward of an imported graph: %s", clnet_last_error());
  free(x);
  for (int32_t i = 0; i < clnet_onnx_output_count(m); ++i) {
    clnet_onnx_value_info vi;
    FUZZ_REQUIRE(clnet_onnx_output_info(m, i, &vi) == CLNET_SUCCESS, "output %d", (int)i);
    FUZZ_REQUIRE(vi.tensor >= -1 && vi.tensor < clnet_graph_tensor_count(g), "output %d: tensor %d", (int)i, (int)vi.tensor);
  }
  /* what clnet writes, clnet reads */
  void *bytes = NULL;
  size_t size = 0;
  st = clnet_onnx_export_memory(g, NULL, &bytes, &size);
  if (st == CLNET_ERR_UNSUPPORTED) return; /* a layer the exporter cannot place (e.g. a conv on a vector) */
  FUZZ_REQUIRE(st == CLNET_SUCCESS, "export: %s", clnet_last_error());
  clnet_onnx_model *m2 = NULL;
  st = clnet_onnx_read_memory(bytes, size, "export", &m2);
  FUZZ_REQUIRE(st == CLNET_SUCCESS, "clnet's own export does not read back: %s", clnet_last_error());
  clnet_onnx_free(m2);
  free(bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file(0, data, size);
  const int fd_before = fuzz_lowest_free_fd();
  clnet_onnx_model *m = (clnet_onnx_model *)(uintptr_t)0x1; /* the reader must set it */
  clnet_clear_error();
  clnet_status st = clnet_onnx_read(path, &m);
  fuzz_check_no_fd_leak(fd_before, "clnet_onnx_read");
  check_status("clnet_onnx_read", st, path);
  if (st != CLNET_SUCCESS) {
    FUZZ_REQUIRE(m == NULL, "out not NULL after %s", clnet_status_str(st));
    return 0;
  }
  FUZZ_REQUIRE(m != NULL, "success without a model");
  clnet_onnx_info info;
  FUZZ_REQUIRE(clnet_onnx_get_info(m, &info) == CLNET_SUCCESS, "info");
  const char *shown[] = {info.producer, info.input, info.output};
  for (int i = 0; i < 3; ++i)
    for (const char *p = shown[i]; *p; p++)
      FUZZ_REQUIRE((unsigned char)*p >= 0x20 && *p != 0x7f, "info string %d not printable: '%s'", i, shown[i]);
  for (int with_loss = 0; with_loss <= 1; ++with_loss) {
    clnet_graph *g = (clnet_graph *)(uintptr_t)0x1;
    clnet_onnx_build_options bo = {.with_loss = with_loss};
    clnet_clear_error();
    st = clnet_onnx_build(m, &bo, &g);
    check_status("clnet_onnx_build", st, path);
    if (st != CLNET_SUCCESS) {
      FUZZ_REQUIRE(g == NULL, "graph not NULL after %s", clnet_status_str(st));
      break; /* the training build adds the loss to the same conversion (and takes a final Softmax): skip it */
    }
    FUZZ_REQUIRE(g != NULL, "success without a graph");
    if (!with_loss) run_graph(m, g);
    clnet_graph_free(g);
  }
  clnet_onnx_free(m);
  return 0;
}
