/* The non-finite scan: which layer's outputs or parameter gradients first hold NaN or Inf after a
 * step (read back; only when a step was not finite). */
#include <math.h>
#include <stdlib.h>

#include "graph/graph_internal.h"

static int all_finite(const float *v, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!isfinite(v[i])) return 0;
  return 1;
}

clnet_status clnet_graph_find_nonfinite(clnet_graph *g, const char **layer_name) {
  *layer_name = NULL;
  if (!g->ctx || g->batch < 1) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph has no batch (clnet_graph_set_batch)");
  size_t max_f = 0;
  for (int32_t t = 0; t < g->n_tensors; ++t)
    if ((size_t)g_tensor_floats(&g->tensors[t], g->batch) > max_f) max_f = (size_t)g_tensor_floats(&g->tensors[t], g->batch);
  for (int32_t i = 0; i < g->n_params; ++i)
    if ((size_t)g->params[i].count > max_f) max_f = (size_t)g->params[i].count;
  float *h = malloc(max_f * sizeof *h);
  if (!h) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "NaN scan");
  clnet_status st = CLNET_SUCCESS;
  for (int32_t i = 0; i < g->n_layers && !*layer_name; ++i) {
    const g_layer *l = &g->layers[i];
    const g_tensor *y = &g->tensors[l->l.out];
    if (y->virt || g->tensors[y->storage].borrowed) continue; /* not stored, or overwritten by backward */
    const int64_t n = g_tensor_floats(y, g->batch);
    if ((st = clnet_buf_read(g->ctx, &y->value, 0, (size_t)n * 4, h)) != CLNET_SUCCESS) break;
    if (!all_finite(h, n)) *layer_name = l->l.name;
  }
  for (int32_t i = g->n_layers - 1; i >= 0 && !*layer_name && st == CLNET_SUCCESS; --i) {
    const g_layer *l = &g->layers[i];
    for (int32_t j = 0; j < l->n_p; ++j) {
      g_param *p = &g->params[l->p[j]];
      if (p->kind != CLNET_PARAM_TRAINABLE) continue;
      if ((st = clnet_buf_read(g->ctx, &p->grad, 0, (size_t)p->count * 4, h)) != CLNET_SUCCESS) break;
      if (!all_finite(h, p->count)) {
        *layer_name = l->l.name;
        break;
      }
    }
  }
  free(h);
  return st;
}
