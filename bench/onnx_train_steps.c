/* Trains an imported ONNX model for a number of steps on given batches and prints the loss of each
 * step: the clnet side of tests/onnx/check_torch_training.py, which runs PyTorch on the same model,
 * weights and batches. Public API only.
 *
 *   bench_onnx_train_steps MODEL.onnx BATCHES.bin [--device D] [--steps N] [--optimizer sgd|adam]
 *                          [--lr X] [--momentum M] [--logits OUT.bin]
 * BATCHES.bin: int32 little-endian "CLB1", batches, batch, C, H, W; then per batch the images
 * (batch, C, H, W) as float32 and the labels (batch) as int32. Step s uses batch s mod batches.
 * Prints "step,loss" lines (the loss before the step's update, as PyTorch's loss.item()). With
 * --logits: no training; the inference-mode logits of every batch, (batches * batch, K) float32, into
 * OUT.bin (tests/onnx/check_ort.py runs models whose input no data set of clnet's has this way). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clnet/graph.h"
#include "clnet/onnx.h"
#include "clnet/runtime.h"

static int fail(const char *what) {
  fprintf(stderr, "onnx_train_steps: %s: %s\n", what, clnet_last_error());
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s MODEL.onnx BATCHES.bin [--device D] [--steps N] [--optimizer sgd|adam] [--lr X] "
                    "[--momentum M]\n", argv[0]);
    return 2;
  }
  const char *device = NULL, *logits_path = NULL;
  int steps = 20;
  clnet_optimizer opt = {.kind = CLNET_OPTIMIZER_SGD, .lr = 0.01f, .momentum = 0.9f, .beta1 = 0.9f, .beta2 = 0.999f,
                         .eps = 1e-7f};
  for (int i = 3; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--device")) device = argv[i + 1];
    else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--lr")) opt.lr = strtof(argv[i + 1], NULL);
    else if (!strcmp(argv[i], "--logits")) logits_path = argv[i + 1];
    else if (!strcmp(argv[i], "--momentum")) opt.momentum = strtof(argv[i + 1], NULL);
    else if (!strcmp(argv[i], "--optimizer")) opt.kind = strcmp(argv[i + 1], "adam") ? CLNET_OPTIMIZER_SGD : CLNET_OPTIMIZER_ADAM;
    else {
      fprintf(stderr, "onnx_train_steps: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  FILE *f = fopen(argv[2], "rb");
  int32_t hdr[6];
  if (!f || fread(hdr, sizeof hdr[0], 6, f) != 6 || memcmp(hdr, "CLB1", 4) || hdr[1] < 1 || hdr[2] < 1) {
    fprintf(stderr, "onnx_train_steps: %s: not a batches file\n", argv[2]);
    return 1;
  }
  const int32_t nb = hdr[1], n = hdr[2], C = hdr[3], H = hdr[4], W = hdr[5];
  const size_t per = (size_t)C * H * W;
  float *images = malloc((size_t)nb * n * per * sizeof *images), *x = malloc((size_t)n * per * sizeof *x);
  int32_t *labels = malloc((size_t)nb * n * sizeof *labels);
  for (int32_t b = 0; b < nb; ++b)
    if (fread(images + (size_t)b * n * per, sizeof *images, (size_t)n * per, f) != (size_t)n * per ||
        fread(labels + (size_t)b * n, sizeof *labels, (size_t)n, f) != (size_t)n) {
      fprintf(stderr, "onnx_train_steps: %s: short\n", argv[2]);
      return 1;
    }
  fclose(f);
  clnet_onnx_model *m = NULL;
  if (clnet_onnx_read(argv[1], &m) != CLNET_SUCCESS) return fail("read");
  clnet_graph *g = NULL;
  clnet_onnx_build_options bo = {.in_c = C, .in_h = H, .in_w = W, .with_loss = 1};
  if (clnet_onnx_build(m, &bo, &g) != CLNET_SUCCESS) return fail("import");
  clnet_ctx *ctx = NULL;
  if (clnet_ctx_create(device, &ctx) != CLNET_SUCCESS) return fail("device");
  if (clnet_graph_setup(g, ctx, n) != CLNET_SUCCESS || clnet_graph_init_params(g, 1) != CLNET_SUCCESS ||
      clnet_onnx_load_weights(m, g) != CLNET_SUCCESS)
    return fail("setup");
  clnet_onnx_value_info in;
  if (clnet_onnx_input_info(m, &in) != CLNET_SUCCESS) return fail("input");
  int32_t h, w, c;
  clnet_graph_tensor_shape(g, 0, &h, &w, &c);
  fprintf(stderr, "onnx_train_steps: %s on %s, %d layers, batch %d\n", argv[1], clnet_ctx_device_name(ctx),
          clnet_graph_layer_count(g), n);
  if (logits_path) {
    const int32_t k = clnet_graph_classes(g);
    float *z = malloc((size_t)n * k * sizeof *z);
    FILE *o = fopen(logits_path, "wb");
    if (!z || !o) return fail(logits_path);
    for (int32_t b = 0; b < nb; ++b) {
      float loss;
      int32_t correct;
      clnet_onnx_to_clnet(&in, h, w, c, n, images + (size_t)b * n * per, x);
      if (clnet_graph_set_batch(g, x, labels + (size_t)b * n, n) != CLNET_SUCCESS ||
          clnet_graph_evaluate(g, &loss, &correct) != CLNET_SUCCESS || clnet_graph_read_logits(g, z) != CLNET_SUCCESS)
        return fail("forward");
      fwrite(z, sizeof *z, (size_t)n * k, o);
    }
    fclose(o);
    free(z);
    return 0;
  }
  printf("step,loss\n");
  for (int s = 0; s < steps; ++s) {
    const int32_t b = s % nb;
    clnet_onnx_to_clnet(&in, h, w, c, n, images + (size_t)b * n * per, x);
    float loss;
    int32_t correct;
    if (clnet_graph_set_batch(g, x, labels + (size_t)b * n, n) != CLNET_SUCCESS ||
        clnet_graph_forward_backward(g, &loss, &correct) != CLNET_SUCCESS ||
        clnet_graph_apply_optimizer(g, &opt) != CLNET_SUCCESS)
      return fail("step");
    printf("%d,%.9g\n", s, loss);
    fflush(stdout);
  }
  clnet_graph_free(g);
  clnet_onnx_free(m);
  clnet_ctx_free(ctx);
  free(images);
  free(labels);
  free(x);
  return 0;
}
