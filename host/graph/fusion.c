/* Fusion (docs/DESIGN.md, "Fused BasicBlock tails"): on an OpenCL device, unless
 * CLNET_NO_FUSION=1, a BN whose only reader is a ReLU, and a BN -> Add -> ReLU tail, run as one
 * fused op (clnet_batchnorm_act_*) at the ReLU's place, forward and backward. The BN and Add
 * layers then do nothing; the BN output of a BN -> Add -> ReLU tail is never stored. The reference
 * backend runs the layers one by one, so the whole-model check compares the fused device step
 * with the unfused one. The patterns name the kinds they fuse (batchnorm, add, relu): fusion is
 * the one concern that knows particular kinds. */
#include <stdlib.h>
#include <string.h>

#include "graph/graph_internal.h"

clnet_batchnorm_desc clnet_layer_batchnorm_desc(const clnet_layer *l, const clnet_tshape *in, int32_t n);

int32_t clnet_graph_fusion_wanted(const clnet_ctx *ctx) {
  const char *e = getenv("CLNET_NO_FUSION");
  if (e && *e && strcmp(e, "0") != 0) return 0;
  return !(ctx && ctx->is_ref);
}

static int32_t is_kind(const clnet_graph *g, int32_t layer, const clnet_layer_kind *k) {
  return layer >= 0 && g->layers[layer].l.kind == k;
}

/* The fused pattern that ends at layer i: BN_RELU (a ReLU whose input is a BN output with no other
 * reader) or BN_ADD_RELU (a ReLU whose input is an Add output with no other reader, one of whose
 * inputs is a BN output with no other reader), else NONE. *bn is the BN layer, *bn_k (BN -> Add ->
 * ReLU) the Add input that is the BN's output. */
int32_t clnet_graph_fusion_at(const clnet_graph *g, int32_t i, int32_t *bn, int32_t *bn_k) {
  const g_layer *r = &g->layers[i];
  *bn = -1;
  *bn_k = -1;
  if (r->l.kind != &clnet_layer_kind_relu) return CLNET_FUSE_NONE;
  const int32_t t = r->l.in[0];
  if (g->tensors[t].producer < 0 || g->tensors[t].n_readers != 1) return CLNET_FUSE_NONE;
  const int32_t pi = g->tensors[t].producer;
  if (is_kind(g, pi, &clnet_layer_kind_batchnorm)) {
    *bn = pi;
    return CLNET_FUSE_BN_RELU;
  }
  const g_layer *p = &g->layers[pi];
  if (!is_kind(g, pi, &clnet_layer_kind_add) || p->l.in[0] == p->l.in[1]) return CLNET_FUSE_NONE;
  for (int32_t k = 0; k < 2; ++k) {
    const int32_t bt = p->l.in[k];
    if (bt == 0 || g->tensors[bt].n_readers != 1 || !is_kind(g, g->tensors[bt].producer, &clnet_layer_kind_batchnorm))
      continue;
    *bn = g->tensors[bt].producer;
    *bn_k = k;
    return CLNET_FUSE_BN_ADD_RELU;
  }
  return CLNET_FUSE_NONE;
}

void clnet_graph_plan_fusion(clnet_graph *g, int32_t enable) {
  for (int32_t t = 0; t < g->n_tensors; ++t) g->tensors[t].virt = 0;
  for (int32_t i = 0; i < g->n_layers; ++i) {
    g_layer *l = &g->layers[i];
    l->fuse = CLNET_FUSE_NONE;
    l->fused_bn = -1;
    for (int32_t j = 0; j < l->l.n_in; ++j) l->ein[j] = l->l.in[j];
    l->en_in = l->l.n_in;
  }
  for (int32_t i = 0; enable && i < g->n_layers; ++i) {
    g_layer *r = &g->layers[i];
    int32_t b = -1, k = -1;
    const int32_t f = clnet_graph_fusion_at(g, i, &b, &k);
    if (f == CLNET_FUSE_NONE) continue;
    g_layer *bn = &g->layers[b];
    r->fuse = f;
    r->fused_bn = b;
    r->ein[0] = bn->l.in[0];
    bn->fuse = CLNET_FUSE_INSIDE;
    bn->en_in = 0;
    if (f == CLNET_FUSE_BN_RELU) {
      r->en_in = 1;
    } else {
      g_layer *add = &g->layers[g->tensors[r->l.in[0]].producer];
      r->ein[1] = add->l.in[1 - k];
      r->en_in = 2;
      add->fuse = CLNET_FUSE_INSIDE;
      add->en_in = 0;
      g->tensors[add->l.in[k]].virt = 1;
    }
  }
}

clnet_status clnet_graph_layer_fusion(const clnet_graph *g, int32_t i, clnet_layer_fusion *out, int32_t *bn_layer) {
  if (!g || !out || i < 0 || i >= g->n_layers)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_graph_layer_fusion: no layer %d", i);
  int32_t bn = -1, k = -1;
  const int32_t f = clnet_graph_fusion_at(g, i, &bn, &k);
  *out = f == CLNET_FUSE_BN_RELU ? CLNET_FUSION_BN_RELU : f == CLNET_FUSE_BN_ADD_RELU ? CLNET_FUSION_BN_ADD_RELU
                                                                                      : CLNET_FUSION_NONE;
  if (bn_layer) *bn_layer = bn;
  return CLNET_SUCCESS;
}

/* The BN layer's parameters: gamma, beta, moving mean, moving variance (layers/batchnorm.c). */
static clnet_buf *bn_param(clnet_graph *g, const g_layer *bn, int32_t i) { return &g->params[bn->p[i]].value; }

/* The fused ReLU layer l: y = relu(bn(x) [+ res]) straight into the ReLU's output. */
clnet_status clnet_graph_fused_forward(clnet_graph *g, g_layer *l, int32_t training) {
  g_layer *bn = &g->layers[l->fused_bn];
  const clnet_batchnorm_desc d = clnet_layer_batchnorm_desc(&bn->l, &g->tensors[bn->l.in[0]].s, g->batch);
  const clnet_buf *x = &g->tensors[l->ein[0]].value;
  const clnet_buf *res = l->fuse == CLNET_FUSE_BN_ADD_RELU ? &g->tensors[l->ein[1]].value : NULL;
  clnet_buf *y = &g->tensors[l->l.out].value;
  if (training)
    return clnet_batchnorm_act_forward_train(g->ctx, &d, x, bn_param(g, bn, 0), bn_param(g, bn, 1), res, y,
                                             &bn->aux[0], &bn->aux[1], bn_param(g, bn, 2), bn_param(g, bn, 3));
  return clnet_batchnorm_act_forward_infer(g->ctx, &d, x, bn_param(g, bn, 0), bn_param(g, bn, 1), res,
                                           bn_param(g, bn, 2), bn_param(g, bn, 3), y);
}

/* Backward of the fused ReLU layer l into dx0 (the BN input's gradient) and dres (the residual's,
 * NULL when it needs none). */
clnet_status clnet_graph_fused_backward(clnet_graph *g, g_layer *l, clnet_buf *dx0, clnet_buf *dres) {
  g_layer *bn = &g->layers[l->fused_bn];
  const clnet_batchnorm_desc d = clnet_layer_batchnorm_desc(&bn->l, &g->tensors[bn->l.in[0]].s, g->batch);
  return clnet_batchnorm_act_backward(g->ctx, &d, &g->tensors[l->ein[0]].value, &g->tensors[l->l.out].value,
                                      clnet_graph_grad_of(g, l->l.out), bn_param(g, bn, 0), &bn->aux[0], &bn->aux[1],
                                      dx0, dres, &g->params[bn->p[0]].grad, &g->params[bn->p[1]].grad);
}
