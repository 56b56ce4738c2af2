/* VGG-11 with batch norm (Simonyan & Zisserman's configuration A, BN after each conv as
 * torchvision's vgg11_bn), for small inputs: 3x3 same convs of [w, M, 2w, M, 4w, 4w, M, 8w, 8w, M,
 * 8w, 8w, M] channels (w = 64), 2x2 stride-2 same max-pools (a 28x28 image still reaches 1x1),
 * global average pool, one dense layer. Built with include/clnet/ only. */
#include <stdio.h>

#include "clnet/graph.h"

clnet_status clnet_model_vgg11(const clnet_model_config *cfg, clnet_graph **out) {
  static const int32_t plan[] = {1, 0, 2, 0, 4, 4, 0, 8, 8, 0, 8, 8, 0}; /* channels / w; 0: max-pool */
  clnet_graph *g = NULL;
  clnet_status st = clnet_graph_create(cfg->in_h, cfg->in_w, cfg->in_c, &g);
  if (st != CLNET_SUCCESS) return st;
  int32_t t = 0, conv = 0, pool = 0;
  for (size_t i = 0; i < sizeof plan / sizeof plan[0] && st == CLNET_SUCCESS; ++i) {
    char name[64], attrs[128];
    if (!plan[i]) {
      snprintf(name, sizeof name, "pool%d", ++pool);
      st = clnet_graph_add_layer(g, "maxpool", name, &t, 1, "kernel=2 stride=2 padding=same", &t);
      continue;
    }
    ++conv;
    snprintf(name, sizeof name, "conv%d", conv);
    snprintf(attrs, sizeof attrs, "filters=%d kernel=3 padding=same bias=0", plan[i] * cfg->width);
    st = clnet_graph_add_layer(g, "conv", name, &t, 1, attrs, &t);
    snprintf(name, sizeof name, "bn%d", conv);
    if (st == CLNET_SUCCESS) st = clnet_graph_add_layer(g, "batchnorm", name, &t, 1, "", &t);
    snprintf(name, sizeof name, "relu%d", conv);
    if (st == CLNET_SUCCESS) st = clnet_graph_add_layer(g, "relu", name, &t, 1, "", &t);
  }
  if (st == CLNET_SUCCESS) st = clnet_graph_add_global_avgpool(g, "gap", t, &t);
  if (st == CLNET_SUCCESS) st = clnet_graph_add_dense(g, "fc", t, cfg->classes, &t);
  if (st == CLNET_SUCCESS) st = clnet_graph_set_output(g, t);
  if (st != CLNET_SUCCESS) {
    clnet_graph_free(g);
    return st;
  }
  *out = g;
  return CLNET_SUCCESS;
}
