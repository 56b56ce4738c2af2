/* ResNet-50 in the seed's family: its stem (3x3 valid conv, BN, ReLU, 2x2 stride-1 same max-pool),
 * four stages of [3, 4, 6, 3] bottleneck blocks (1x1 reduce, 3x3 with the stage's stride, 1x1
 * expand by 4; He et al., with the stride on the 3x3 as torchvision's v1.5), the shortcut a 1x1
 * conv + BN where the shape changes, global average pool, dense. Built with include/clnet/ only. */
#include <stdio.h>

#include "clnet/graph.h"

#define TRY(expr)                        \
  do {                                   \
    if ((st = (expr)) != CLNET_SUCCESS) return st; \
  } while (0)

static clnet_status layer(clnet_graph *g, const char *kind, const char *prefix, const char *part, int32_t in,
                          const char *attrs, int32_t *out) {
  char name[96];
  snprintf(name, sizeof name, "%s.%s", prefix, part);
  return clnet_graph_add_layer(g, kind, name, &in, 1, attrs, out);
}

/* conv (no bias: BN follows) -> BN [-> ReLU] */
static clnet_status conv_bn(clnet_graph *g, const char *prefix, int i, int32_t in, int32_t filters, int32_t k,
                            int32_t stride, int relu, int32_t *out) {
  clnet_status st;
  char attrs[128], part[16];
  snprintf(attrs, sizeof attrs, "filters=%d kernel=%d stride=%d padding=same bias=0", filters, k, stride);
  snprintf(part, sizeof part, "conv%d", i);
  TRY(layer(g, "conv", prefix, part, in, attrs, out));
  snprintf(part, sizeof part, "bn%d", i);
  TRY(layer(g, "batchnorm", prefix, part, *out, "", out));
  if (relu) {
    snprintf(part, sizeof part, "relu%d", i);
    TRY(layer(g, "relu", prefix, part, *out, "", out));
  }
  return CLNET_SUCCESS;
}

static clnet_status bottleneck(clnet_graph *g, const char *prefix, int32_t in, int32_t in_c, int32_t width,
                               int32_t stride, int32_t *out) {
  clnet_status st;
  int32_t t = in, shortcut = in;
  TRY(conv_bn(g, prefix, 1, t, width, 1, 1, 1, &t));
  TRY(conv_bn(g, prefix, 2, t, width, 3, stride, 1, &t));
  TRY(conv_bn(g, prefix, 3, t, 4 * width, 1, 1, 0, &t));
  if (stride != 1 || in_c != 4 * width) {
    char attrs[128];
    snprintf(attrs, sizeof attrs, "filters=%d kernel=1 stride=%d bias=0", 4 * width, stride);
    TRY(layer(g, "conv", prefix, "shortcut", in, attrs, &shortcut));
    TRY(layer(g, "batchnorm", prefix, "shortcut_bn", shortcut, "", &shortcut));
  }
  char name[96];
  snprintf(name, sizeof name, "%s.add", prefix);
  const int32_t ab[2] = {t, shortcut};
  TRY(clnet_graph_add_layer(g, "add", name, ab, 2, "", &t));
  return layer(g, "relu", prefix, "relu", t, "", out);
}

clnet_status clnet_model_resnet50(const clnet_model_config *cfg, clnet_graph **out) {
  static const int32_t blocks[4] = {3, 4, 6, 3};
  clnet_graph *g = NULL;
  clnet_status st = clnet_graph_create(cfg->in_h, cfg->in_w, cfg->in_c, &g);
  if (st != CLNET_SUCCESS) return st;
  int32_t t = 0, c = cfg->width;
  char attrs[128];
  snprintf(attrs, sizeof attrs, "filters=%d kernel=3", cfg->width);
  if ((st = clnet_graph_add_layer(g, "conv", "stem.conv", &t, 1, attrs, &t)) != CLNET_SUCCESS) goto fail;
  if ((st = clnet_graph_add_layer(g, "batchnorm", "stem.bn", &t, 1, "", &t)) != CLNET_SUCCESS) goto fail;
  if ((st = clnet_graph_add_layer(g, "relu", "stem.relu", &t, 1, "", &t)) != CLNET_SUCCESS) goto fail;
  if ((st = clnet_graph_add_layer(g, "maxpool", "stem.pool", &t, 1, "kernel=2 stride=1 padding=same", &t)) !=
      CLNET_SUCCESS)
    goto fail;
  for (int32_t s = 0; s < 4; ++s)
    for (int32_t b = 0; b < blocks[s]; ++b) {
      char prefix[32];
      snprintf(prefix, sizeof prefix, "layer%d.%d", s + 1, b);
      const int32_t width = cfg->width << s;
      if ((st = bottleneck(g, prefix, t, c, width, s > 0 && b == 0 ? 2 : 1, &t)) != CLNET_SUCCESS) goto fail;
      c = 4 * width;
    }
  if ((st = clnet_graph_add_global_avgpool(g, "pool", t, &t)) != CLNET_SUCCESS) goto fail;
  if ((st = clnet_graph_add_dense(g, "fc", t, cfg->classes, &t)) != CLNET_SUCCESS) goto fail;
  if ((st = clnet_graph_set_output(g, t)) != CLNET_SUCCESS) goto fail;
  *out = g;
  return CLNET_SUCCESS;
fail:
  clnet_graph_free(g);
  return st;
}
