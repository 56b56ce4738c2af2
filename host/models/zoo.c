/* The model zoo: one builder per file of host/models/, each using only include/clnet/; this table
 * names them. Adding a model touches its file and one row here. */
#include <string.h>

#include "clnet/graph.h"
#include "core/error.h"

clnet_status clnet_model_resnet50(const clnet_model_config *cfg, clnet_graph **out);
clnet_status clnet_model_vgg11(const clnet_model_config *cfg, clnet_graph **out);
clnet_status clnet_model_mobilenet_v2(const clnet_model_config *cfg, clnet_graph **out);
clnet_status clnet_model_lenet(const clnet_model_config *cfg, clnet_graph **out);

static clnet_status resnet(int32_t depth, const clnet_model_config *cfg, clnet_graph **out) {
  const clnet_resnet_config rc = {.depth = depth, .width = cfg->width, .in_h = cfg->in_h, .in_w = cfg->in_w,
                                  .in_c = cfg->in_c, .classes = cfg->classes};
  return clnet_resnet_build(&rc, out);
}
static clnet_status resnet18(const clnet_model_config *cfg, clnet_graph **out) { return resnet(18, cfg, out); }
static clnet_status resnet34(const clnet_model_config *cfg, clnet_graph **out) { return resnet(34, cfg, out); }

static const struct {
  const char *name, *doc;
  int32_t width;
  clnet_status (*build)(const clnet_model_config *cfg, clnet_graph **out);
} zoo[] = {
    {"resnet18", "the seed's ResNet-18: 3x3 stem, 2x2 max-pool, 4 stages of 2 BasicBlocks, conv shortcuts", 64, resnet18},
    {"resnet34", "the seed's ResNet-34: as resnet18 with [3, 4, 6, 3] BasicBlocks", 64, resnet34},
    {"resnet50", "ResNet-50: the seed's stem, [3, 4, 6, 3] bottleneck blocks (x4 expansion), BN shortcuts", 64,
     clnet_model_resnet50},
    {"vgg11", "VGG-11 with batch norm: 8 conv3x3+BN+ReLU, 5 max-pools, one dense layer", 64, clnet_model_vgg11},
    {"mobilenet_v2", "MobileNetV2 (stride-1 stem for small inputs): inverted residuals, depthwise 3x3, ReLU6", 32,
     clnet_model_mobilenet_v2},
    {"lenet", "LeNet-5 for MNIST-sized data: 2 conv5x5 + max-pool, 3 dense layers", 6, clnet_model_lenet},
};
#define ZOO_SIZE ((int32_t)(sizeof zoo / sizeof zoo[0]))

int32_t clnet_model_count(void) { return ZOO_SIZE; }
const char *clnet_model_name(int32_t i) { return i >= 0 && i < ZOO_SIZE ? zoo[i].name : NULL; }
const char *clnet_model_doc(int32_t i) { return i >= 0 && i < ZOO_SIZE ? zoo[i].doc : NULL; }
int32_t clnet_model_default_width(int32_t i) { return i >= 0 && i < ZOO_SIZE ? zoo[i].width : 0; }

clnet_status clnet_model_build(const char *name, const clnet_model_config *cfg, clnet_graph **out) {
  *out = NULL;
  for (int32_t i = 0; name && i < ZOO_SIZE; ++i)
    if (!strcmp(zoo[i].name, name)) {
      clnet_model_config c = *cfg;
      if (c.width == 0) c.width = zoo[i].width;
      if (c.width < 1 || c.classes < 2 || c.in_h < 1 || c.in_w < 1 || c.in_c < 1)
        return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                               "model %s: width %d (>= 1), classes %d (>= 2) and input %dx%dx%d (>= 1 each)", name,
                               c.width, c.classes, c.in_h, c.in_w, c.in_c);
      clnet_status st = zoo[i].build(&c, out);
      return st == CLNET_SUCCESS ? st : clnet_wrap_error(st, "model %s on %dx%dx%d input", name, c.in_h, c.in_w, c.in_c);
    }
  char known[256] = "";
  for (int32_t i = 0; i < ZOO_SIZE; ++i) {
    strcat(known, i ? ", " : "");
    strcat(known, zoo[i].name);
  }
  return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "no model '%s' in the zoo (%s)", name ? name : "(null)", known);
}
