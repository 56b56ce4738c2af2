/* MobileNetV2 (Sandler et al.) for small inputs, as the CIFAR adaptations build it: a stride-1 3x3
 * stem of w channels (w = 32), the inverted residual blocks (expand 1x1 by t, depthwise 3x3 with
 * the block's stride, project 1x1; ReLU6 after the first two; the identity shortcut where shapes
 * allow) with (t, c, n, s) = (1,16,1,1) (6,24,2,1) (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2)
 * (6,320,1,1) — the second stage at stride 1 where ImageNet's has 2 — channels scaled by w/32, a
 * 1x1 conv to 1280 (at least), global average pool, dense. Built with include/clnet/ only. */
#include <stdio.h>

#include "clnet/graph.h"

static int32_t scaled(int32_t c, int32_t w) {
  int32_t v = (c * w + 16) / 32;
  return v < 1 ? 1 : v;
}

static clnet_status conv_bn(clnet_graph *g, const char *prefix, const char *part, int32_t in, const char *attrs, int relu6,
                            int32_t *out) {
  char name[96];
  snprintf(name, sizeof name, "%s.%s", prefix, part);
  clnet_status st = clnet_graph_add_layer(g, "conv", name, &in, 1, attrs, out);
  snprintf(name, sizeof name, "%s.%s_bn", prefix, part);
  if (st == CLNET_SUCCESS) st = clnet_graph_add_layer(g, "batchnorm", name, out, 1, "", out);
  snprintf(name, sizeof name, "%s.%s_relu6", prefix, part);
  if (st == CLNET_SUCCESS && relu6) st = clnet_graph_add_layer(g, "relu6", name, out, 1, "", out);
  return st;
}

clnet_status clnet_model_mobilenet_v2(const clnet_model_config *cfg, clnet_graph **out) {
  static const int32_t blocks[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 1}, {6, 32, 3, 2}, {6, 64, 4, 2},
                                       {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  const int32_t w = cfg->width;
  clnet_graph *g = NULL;
  clnet_status st = clnet_graph_create(cfg->in_h, cfg->in_w, cfg->in_c, &g);
  if (st != CLNET_SUCCESS) return st;
  int32_t t = 0, c = scaled(32, w);
  char attrs[160];
  snprintf(attrs, sizeof attrs, "filters=%d kernel=3 padding=same bias=0", c);
  st = conv_bn(g, "stem", "conv", t, attrs, 1, &t);
  for (int32_t s = 0; s < 7 && st == CLNET_SUCCESS; ++s)
    for (int32_t b = 0; b < blocks[s][2] && st == CLNET_SUCCESS; ++b) {
      char prefix[32];
      snprintf(prefix, sizeof prefix, "block%d.%d", s + 1, b);
      const int32_t stride = b == 0 ? blocks[s][3] : 1, hidden = c * blocks[s][0], oc = scaled(blocks[s][1], w);
      int32_t x = t;
      if (blocks[s][0] != 1) {
        snprintf(attrs, sizeof attrs, "filters=%d kernel=1 bias=0", hidden);
        st = conv_bn(g, prefix, "expand", x, attrs, 1, &x);
      }
      snprintf(attrs, sizeof attrs, "filters=%d kernel=3 stride=%d padding=explicit pads=1,1,1,1 groups=%d bias=0",
               hidden, stride, hidden);
      if (st == CLNET_SUCCESS) st = conv_bn(g, prefix, "depthwise", x, attrs, 1, &x);
      snprintf(attrs, sizeof attrs, "filters=%d kernel=1 bias=0", oc);
      if (st == CLNET_SUCCESS) st = conv_bn(g, prefix, "project", x, attrs, 0, &x);
      if (st == CLNET_SUCCESS && stride == 1 && c == oc) {
        char name[96];
        snprintf(name, sizeof name, "%s.add", prefix);
        const int32_t ab[2] = {x, t};
        st = clnet_graph_add_layer(g, "add", name, ab, 2, "", &x);
      }
      t = x;
      c = oc;
    }
  const int32_t last = scaled(1280, w) > 1280 ? scaled(1280, w) : 1280;
  snprintf(attrs, sizeof attrs, "filters=%d kernel=1 bias=0", last);
  if (st == CLNET_SUCCESS) st = conv_bn(g, "head", "conv", t, attrs, 1, &t);
  if (st == CLNET_SUCCESS) st = clnet_graph_add_global_avgpool(g, "pool", t, &t);
  if (st == CLNET_SUCCESS) st = clnet_graph_add_dense(g, "fc", t, cfg->classes, &t);
  if (st == CLNET_SUCCESS) st = clnet_graph_set_output(g, t);
  if (st != CLNET_SUCCESS) {
    clnet_graph_free(g);
    return st;
  }
  *out = g;
  return CLNET_SUCCESS;
}
