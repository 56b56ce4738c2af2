/* LeNet-5 (LeCun et al.) as it is trained today on MNIST-sized data: conv 5x5 of w channels
 * (w = 6; "same" so a 28x28 image keeps its size, as the original's 32x32 padded input), ReLU, 2x2
 * max-pool, conv 5x5 of 16w/6 channels (valid), ReLU, max-pool, dense 120w/6, ReLU, dense 84w/6,
 * ReLU, dense to the classes. Built with include/clnet/ only. */
#include <stdio.h>

#include "clnet/graph.h"

clnet_status clnet_model_lenet(const clnet_model_config *cfg, clnet_graph **out) {
  const int32_t w = cfg->width;
  const int32_t c2 = (16 * w + 3) / 6, f1 = (120 * w + 3) / 6, f2 = (84 * w + 3) / 6;
  clnet_graph *g = NULL;
  clnet_status st = clnet_graph_create(cfg->in_h, cfg->in_w, cfg->in_c, &g);
  if (st != CLNET_SUCCESS) return st;
  int32_t t = 0;
  char a[128];
  snprintf(a, sizeof a, "filters=%d kernel=5 padding=same", w);
  st = clnet_graph_add_layer(g, "conv", "conv1", &t, 1, a, &t);
  if (st == CLNET_SUCCESS) st = clnet_graph_add_layer(g, "relu", "relu1", &t, 1, "", &t);
  if (st == CLNET_SUCCESS) st = clnet_graph_add_layer(g, "maxpool", "pool1", &t, 1, "kernel=2 stride=2", &t);
  snprintf(a, sizeof a, "filters=%d kernel=5", c2 < 1 ? 1 : c2);
  if (st == CLNET_SUCCESS) st = clnet_graph_add_layer(g, "conv", "conv2", &t, 1, a, &t);
  if (st == CLNET_SUCCESS) st = clnet_graph_add_layer(g, "relu", "relu2", &t, 1, "", &t);
  if (st == CLNET_SUCCESS) st = clnet_graph_add_layer(g, "maxpool", "pool2", &t, 1, "kernel=2 stride=2", &t);
  if (st == CLNET_SUCCESS) st = clnet_graph_add_dense(g, "fc1", t, f1 < 1 ? 1 : f1, &t);
  if (st == CLNET_SUCCESS) st = clnet_graph_add_layer(g, "relu", "relu3", &t, 1, "", &t);
  if (st == CLNET_SUCCESS) st = clnet_graph_add_dense(g, "fc2", t, f2 < 1 ? 1 : f2, &t);
  if (st == CLNET_SUCCESS) st = clnet_graph_add_layer(g, "relu", "relu4", &t, 1, "", &t);
  if (st == CLNET_SUCCESS) st = clnet_graph_add_dense(g, "fc3", t, cfg->classes, &t);
  if (st == CLNET_SUCCESS) st = clnet_graph_set_output(g, t);
  if (st != CLNET_SUCCESS) {
    clnet_graph_free(g);
    return st;
  }
  *out = g;
  return CLNET_SUCCESS;
}
