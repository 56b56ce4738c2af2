/* Gradient streaming (data parallelism, docs/DISTRIBUTED.md): each trainable gradient is copied
 * to the host mirror as soon as its layer's backward has been enqueued, and summed gradients are
 * written back before the update. The host layout is the trainable parameters in creation order;
 * the backward pass produces them in reverse layer order. */
#include "graph/graph_internal.h"

void clnet_graph_drain_gradient_copies(clnet_graph *g) {
  for (int32_t i = 0; i < g->n_params; ++i) clnet_event_wait_release(&g->grad_event[i]);
}

clnet_status clnet_graph_stream_layer_gradients(clnet_graph *g, const g_layer *l) {
  if (!g->grad_host) return CLNET_SUCCESS;
  int32_t any = 0;
  for (int32_t j = 0; j < l->n_p; ++j) {
    const int32_t i = l->p[j];
    g_param *p = &g->params[i];
    if (p->kind != CLNET_PARAM_TRAINABLE) continue;
    if (!any++) clnet_profile_op(g->ctx, "gradients to host");
    clnet_event_wait_release(&g->grad_event[i]); /* a copy of an abandoned step */
    g->grad_step[i] = g->step_serial;
    CLNET_TRY(clnet_buf_read_async(g->ctx, &p->grad, 0, (size_t)p->count * 4, g->grad_host + g->grad_offset[i],
                                   &g->grad_event[i]));
  }
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_stream_gradients(clnet_graph *g, float *host) {
  if (!g->ctx) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph is not set up");
  clnet_graph_drain_gradient_copies(g);
  g->grad_host = host;
  return CLNET_SUCCESS;
}

int64_t clnet_graph_gradient_offset(const clnet_graph *g, int32_t i) {
  return i < 0 || i >= g->n_params ? -1 : g->grad_offset[i];
}

int32_t clnet_graph_gradient_order(const clnet_graph *g, int32_t *params) {
  int32_t n = 0;
  for (int32_t i = g->n_layers - 1; i >= 0; --i) {
    const g_layer *l = &g->layers[i];
    for (int32_t j = 0; j < l->n_p; ++j)
      if (g->params[l->p[j]].kind == CLNET_PARAM_TRAINABLE) params[n++] = l->p[j];
  }
  return n;
}

clnet_status clnet_graph_wait_gradient(clnet_graph *g, int32_t i) {
  if (!g->grad_host) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "gradient streaming is off (clnet_graph_stream_gradients)");
  if (i < 0 || i >= g->n_params || g->params[i].kind != CLNET_PARAM_TRAINABLE)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "parameter %d is not trainable", i);
  if (g->grad_step[i] != g->step_serial)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "the gradient of %s was not streamed in this step",
                           g->params[i].name);
  return clnet_event_wait_release(&g->grad_event[i]);
}

clnet_status clnet_graph_write_gradients(clnet_graph *g, const float *host) {
  if (!g->ctx) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph is not set up");
  clnet_profile_op(g->ctx, "gradients from host");
  for (int32_t i = 0; i < g->n_params; ++i) {
    g_param *p = &g->params[i];
    if (p->kind == CLNET_PARAM_TRAINABLE)
      CLNET_TRY(clnet_buf_write_async(g->ctx, &p->grad, 0, (size_t)p->count * 4, host + g->grad_offset[i]));
  }
  clnet_profile_op(g->ctx, NULL);
  return CLNET_SUCCESS;
}
