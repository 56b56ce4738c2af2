/* ResNet-18/34 as the seed builds it (SPEC, "Network"). */
#include <stdio.h>

#include "clnet/graph.h"
#include "core/error.h"

/* BasicBlock: conv3x3(stride, same) -> BN -> ReLU -> conv3x3(1, same) -> BN;
 * shortcut = identity, or conv1x1(stride, valid, bias, no BN) when stride != 1;
 * out = ReLU(main + shortcut). */
static clnet_status basic_block(clnet_graph *g, const char *prefix, int32_t in, int32_t filters, int32_t stride,
                                int32_t *out) {
  char n[96];
  int32_t t, shortcut = in;
#define NAME(s) (snprintf(n, sizeof n, "%s.%s", prefix, s), n)
  CLNET_TRY(clnet_graph_add_conv(g, NAME("conv1"), in, filters, 3, stride, CLNET_PADDING_SAME, &t));
  CLNET_TRY(clnet_graph_add_batchnorm(g, NAME("bn1"), t, &t));
  CLNET_TRY(clnet_graph_add_relu(g, NAME("relu1"), t, &t));
  CLNET_TRY(clnet_graph_add_conv(g, NAME("conv2"), t, filters, 3, 1, CLNET_PADDING_SAME, &t));
  CLNET_TRY(clnet_graph_add_batchnorm(g, NAME("bn2"), t, &t));
  if (stride != 1)
    CLNET_TRY(clnet_graph_add_conv(g, NAME("shortcut"), in, filters, 1, stride, CLNET_PADDING_VALID, &shortcut));
  CLNET_TRY(clnet_graph_add_add(g, NAME("add"), t, shortcut, &t));
  CLNET_TRY(clnet_graph_add_relu(g, NAME("relu2"), t, out));
#undef NAME
  return CLNET_SUCCESS;
}

clnet_status clnet_resnet_build(const clnet_resnet_config *cfg, clnet_graph **out) {
  *out = NULL;
  static const int32_t blocks18[4] = {2, 2, 2, 2}, blocks34[4] = {3, 4, 6, 3};
  if (cfg->depth != 18 && cfg->depth != 34)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "ResNet depth %d: only 18 and 34 are built", cfg->depth);
  if (cfg->width < 1 || cfg->classes < 1)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "ResNet width %d and classes %d must be >= 1", cfg->width,
                           cfg->classes);
  const int32_t *blocks = cfg->depth == 18 ? blocks18 : blocks34;
  clnet_graph *g = NULL;
  CLNET_TRY(clnet_graph_create(cfg->in_h, cfg->in_w, cfg->in_c, &g));
  clnet_status st;
  int32_t t = 0;
  CLNET_TRY_GOTO(clnet_graph_add_conv(g, "stem.conv", 0, cfg->width, 3, 1, CLNET_PADDING_VALID, &t), st, fail);
  CLNET_TRY_GOTO(clnet_graph_add_batchnorm(g, "stem.bn", t, &t), st, fail);
  CLNET_TRY_GOTO(clnet_graph_add_relu(g, "stem.relu", t, &t), st, fail);
  CLNET_TRY_GOTO(clnet_graph_add_maxpool(g, "stem.pool", t, 2, 1, CLNET_PADDING_SAME, &t), st, fail);
  for (int32_t s = 0; s < 4; ++s)
    for (int32_t b = 0; b < blocks[s]; ++b) {
      char prefix[32];
      snprintf(prefix, sizeof prefix, "layer%d.%d", s + 1, b);
      int32_t stride = (s > 0 && b == 0) ? 2 : 1;
      CLNET_TRY_GOTO(basic_block(g, prefix, t, cfg->width << s, stride, &t), st, fail);
    }
  CLNET_TRY_GOTO(clnet_graph_add_global_avgpool(g, "pool", t, &t), st, fail);
  CLNET_TRY_GOTO(clnet_graph_add_dense(g, "fc", t, cfg->classes, &t), st, fail);
  CLNET_TRY_GOTO(clnet_graph_set_output(g, t), st, fail);
  *out = g;
  return CLNET_SUCCESS;
fail:
  clnet_graph_free(g);
  return st;
}
