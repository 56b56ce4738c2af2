/* Check cases: every layer kind of the seed through its descriptor (check_layer): its attributes,
 * shape inference, parameters and the forward and backward the graph runs, on the device against
 * the reference. The ops behind them have their own families with finite-difference gradient
 * checks (conv2d, batchnorm, eltwise, pool, dense, loss). */
#include "check/harness.h"
#include "graph/layer_kind.h"

typedef struct layer_case {
  const char *kind, *attrs;
  clnet_tshape in[2];
  int32_t n_in, batch;
  double atol, rtol;
} layer_case;

static clnet_status run_layer_case(clnet_check_env *env, const void *p) {
  const layer_case *c = p;
  return check_layer(env, c->kind, c->attrs, c->in, c->n_in, c->batch, c->atol, c->rtol);
}

#define LAYER_CASE(name, shape, ...)                                                              \
  {name, shape, CLNET_CHECK_CROSS, run_layer_case, &(const layer_case){__VA_ARGS__}}

/* conv: sums of up to 3*3*16 products of U(-1, 1) values in any order and algorithm (Winograd
 * F(4x4)'s rounding is the widest: docs/CHECKS.md) */
const clnet_check_case clnet_check_cases_layers[] = {
    LAYER_CASE("layer conv", "n2 9x9x3 -> 8 k3 s1 same", "conv", "filters=8 kernel=3 padding=same", {{9, 9, 3}}, 1, 2,
               2e-3, 1e-3),
    LAYER_CASE("layer conv", "n3 7x7x16 -> 5 k3 s2 valid", "conv", "filters=5 kernel=3 stride=2", {{7, 7, 16}}, 1, 3,
               2e-3, 1e-3),
    LAYER_CASE("layer conv", "n2 5x5x4 -> 6 k1 s1, no bias", "conv", "filters=6 kernel=1 bias=0", {{5, 5, 4}}, 1, 2,
               1e-4, 1e-4),
    LAYER_CASE("layer conv", "n2 9x9x12 depthwise k3 s2 pads 1,1,1,1", "conv",
               "filters=12 kernel=3 stride=2 padding=explicit pads=1,1,1,1 groups=12 bias=0", {{9, 9, 12}}, 1, 2, 1e-4,
               1e-4),
    LAYER_CASE("layer conv", "n2 7x7x5 -> 10 depthwise x2 k5 d2 same", "conv",
               "filters=10 kernel=5 dilation=2 padding=same groups=5", {{7, 7, 5}}, 1, 2, 1e-4, 1e-4),
    LAYER_CASE("layer conv", "n2 8x7x6 -> 9 g3 k3x1 s2x1 pads 0,1,2,0", "conv",
               "filters=9 kernel=3,1 stride=2,1 padding=explicit pads=0,1,2,0 groups=3", {{8, 7, 6}}, 1, 2, 1e-4, 1e-4),
    LAYER_CASE("layer conv", "n2 13x13x3 -> 4 k1x7 d1x2 same", "conv", "filters=4 kernel=1,7 dilation=1,2 padding=same",
               {{13, 13, 3}}, 1, 2, 1e-4, 1e-4),
    LAYER_CASE("layer batchnorm", "n4 3x3x7", "batchnorm", "", {{3, 3, 7}}, 1, 4, 1e-4, 1e-3),
    LAYER_CASE("layer batchnorm", "n2 5x5x16 eps 1e-5 momentum 0.9 (PyTorch's)", "batchnorm", "eps=1e-5 momentum=0.9",
               {{5, 5, 16}}, 1, 2, 1e-4, 1e-3),
    LAYER_CASE("layer batchnorm", "n2 4x4x3 without affine", "batchnorm", "affine=0", {{4, 4, 3}}, 1, 2, 1e-4, 1e-3),
    LAYER_CASE("layer relu", "n2 7x7x13", "relu", "", {{7, 7, 13}}, 1, 2, 0, 0),
    LAYER_CASE("layer maxpool", "n2 7x7x5 k2 s1 same", "maxpool", "kernel=2 stride=1 padding=same", {{7, 7, 5}}, 1, 2,
               0, 0),
    LAYER_CASE("layer maxpool", "n3 8x8x16 k3 s2 valid", "maxpool", "kernel=3 stride=2", {{8, 8, 16}}, 1, 3, 0, 0),
    LAYER_CASE("layer add", "n2 5x5x9", "add", "", {{5, 5, 9}, {5, 5, 9}}, 2, 2, 0, 0),
    LAYER_CASE("layer global_avgpool", "n3 7x7x13", "global_avgpool", "", {{7, 7, 13}}, 1, 3, 1e-6, 1e-5),
    LAYER_CASE("layer dense", "n4 3x3x5 -> 7", "dense", "units=7", {{3, 3, 5}}, 1, 4, 1e-4, 1e-4),
    LAYER_CASE("layer softmax_cross_entropy", "n5 1x1x10", "softmax_cross_entropy", "", {{1, 1, 10}}, 1, 5, 1e-6,
               1e-5),
    {0}};
