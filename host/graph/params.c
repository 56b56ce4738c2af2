/* Parameters: their arenas' layout, initialisation, host access, the BN-statistics shadow, the
 * optimizer step, and the moving average of the weights. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "graph/graph_internal.h"

int64_t clnet_graph_layout_arena(clnet_graph *g, size_t align, int64_t *decay_floats) {
  const int64_t step = (int64_t)(align < 256 ? 256 : align) / 4; /* floats */
  int64_t n = 0;
  for (int32_t i = 0; i < g->n_params; ++i) g->params[i].arena_offset = -1;
  for (int group = 0; group < 2; ++group) {
    for (int32_t i = 0; i < g->n_params; ++i) {
      g_param *p = &g->params[i];
      if (p->kind != CLNET_PARAM_TRAINABLE || (p->ndim >= 2) != (group == 0)) continue;
      p->arena_offset = n;
      n += (p->count + step - 1) / step * step;
    }
    if (group == 0 && decay_floats) *decay_floats = n;
  }
  return n;
}

int64_t clnet_graph_layout_stats(clnet_graph *g, size_t align) {
  const int64_t step = (int64_t)(align < 256 ? 256 : align) / 4;
  int64_t n = 0;
  for (int32_t i = 0; i < g->n_params; ++i) {
    g_param *p = &g->params[i];
    p->stat_offset = -1;
    if (p->kind != CLNET_PARAM_STATISTIC) continue;
    p->stat_offset = n;
    n += (p->count + step - 1) / step * step;
  }
  return n;
}

/* Keras initialisation (SPEC): Glorot-uniform kernels, zero biases, gamma 1, beta 0, moving mean 0,
 * moving variance 1; Adam state zero, step 0. One RNG stream over the parameters in order. */
clnet_status clnet_graph_init_params(clnet_graph *g, uint64_t seed) {
  if (!g->ctx) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph is not set up");
  clnet_rng rng;
  clnet_rng_seed(&rng, seed);
  g->seed = seed;
  for (int32_t i = 0; i < g->n_params; ++i) {
    g_param *p = &g->params[i];
    float *h = malloc((size_t)p->count * sizeof *h);
    if (!h) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "initialising %s", p->name);
    const int glorot = p->init == CLNET_INIT_GLOROT_UNIFORM;
    const double limit = glorot ? sqrt(6.0 / (double)(p->fan_in + p->fan_out)) : 0;
    for (int64_t j = 0; j < p->count; ++j)
      h[j] = glorot ? (float)((2.0 * clnet_rng_uniform_double(&rng) - 1.0) * limit)
                    : (p->init == CLNET_INIT_ONES ? 1.0f : 0.0f);
    clnet_status st = clnet_buf_write(g->ctx, &p->value, 0, (size_t)p->count * 4, h);
    free(h);
    CLNET_TRY(st);
    if (p->kind == CLNET_PARAM_FIXED) CLNET_TRY(clnet_buf_fill(g->ctx, &p->grad, 0, (size_t)p->count * 4, 0));
  }
  const size_t arena = (size_t)g->arena_floats * 4; /* gradients and moments, gaps included */
  if (arena) {
    CLNET_TRY(clnet_buf_fill(g->ctx, &g->arena_grad, 0, arena, 0));
    CLNET_TRY(clnet_buf_fill(g->ctx, &g->arena_m, 0, arena, 0));
    CLNET_TRY(clnet_buf_fill(g->ctx, &g->arena_v, 0, arena, 0));
  }
  g->adam_t = 0;
  return CLNET_SUCCESS;
}

static clnet_status field_buf(clnet_graph *g, int32_t i, clnet_param_field f, clnet_buf **out) {
  if (!g->ctx) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph is not set up");
  if (i < 0 || i >= g->n_params) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "no parameter %d", i);
  g_param *p = &g->params[i];
  if (f != CLNET_FIELD_VALUE && p->kind != CLNET_PARAM_TRAINABLE)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s is %s: it has no gradient or Adam state", p->name,
                           p->kind == CLNET_PARAM_STATISTIC ? "a statistic" : "fixed");
  *out = f == CLNET_FIELD_VALUE ? &p->value : f == CLNET_FIELD_GRAD ? &p->grad : f == CLNET_FIELD_ADAM_M ? &p->m : &p->v;
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_param_read(clnet_graph *g, int32_t i, clnet_param_field f, float *dst) {
  clnet_buf *b = NULL;
  CLNET_TRY(field_buf(g, i, f, &b));
  return clnet_buf_read(g->ctx, b, 0, (size_t)g->params[i].count * 4, dst);
}

clnet_status clnet_graph_param_write(clnet_graph *g, int32_t i, clnet_param_field f, const float *src) {
  clnet_buf *b = NULL;
  CLNET_TRY(field_buf(g, i, f, &b));
  return clnet_buf_write(g->ctx, b, 0, (size_t)g->params[i].count * 4, src);
}

int64_t clnet_graph_adam_step(const clnet_graph *g) { return g->adam_t; }
void clnet_graph_set_adam_step(clnet_graph *g, int64_t t) { g->adam_t = t; }

clnet_status clnet_graph_keep_statistics(clnet_graph *g, int32_t enable) {
  if (!g->ctx) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph is not set up");
  if (enable && g->stats_floats && !g->stats_shadow.bytes)
    CLNET_TRY(clnet_buf_alloc(g->ctx, (size_t)g->stats_floats * 4, "BN statistics (before the step)", &g->stats_shadow));
  g->keep_stats = enable;
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_restore_statistics(clnet_graph *g) {
  if (!g->keep_stats) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "statistics were not kept (clnet_graph_keep_statistics)");
  clnet_profile_op(g->ctx, "bn statistics restore");
  if (g->stats_floats) CLNET_TRY(clnet_buf_copy(g->ctx, &g->stats_shadow, 0, &g->stats, 0, (size_t)g->stats_floats * 4));
  clnet_profile_op(g->ctx, NULL);
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_apply_adam(clnet_graph *g, float lr, float beta1, float beta2, float eps) {
  if (!g->ctx) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph is not set up");
  clnet_adam_desc d = {.lr = lr, .beta1 = beta1, .beta2 = beta2, .eps = eps, .t = g->adam_t + 1};
  clnet_profile_op(g->ctx, "adam");
  /* one launch over every trainable parameter: the arenas; a gap has g = m = v = 0 and stays 0 */
  if (g->arena_floats) {
    clnet_status st = clnet_adam_update(g->ctx, &d, g->arena_floats, &g->arena_value, &g->arena_grad, &g->arena_m,
                                        &g->arena_v);
    if (st != CLNET_SUCCESS) return clnet_wrap_error(st, "Adam update of the %lld trainable floats", (long long)g->arena_floats);
  }
  g->adam_t++;
  clnet_profile_op(g->ctx, NULL);
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_apply_optimizer(clnet_graph *g, const clnet_optimizer *o) {
  if (!g->ctx) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph is not set up");
  if (!o) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_graph_apply_optimizer: NULL optimizer");
  if (o->kind == CLNET_OPTIMIZER_ADAM) {
    if (o->weight_decay != 0)
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "Adam (Keras') has no weight decay: use AdamW for weight_decay %g",
                             (double)o->weight_decay);
    return clnet_graph_apply_adam(g, o->lr, o->beta1, o->beta2, o->eps);
  }
  if (o->kind != CLNET_OPTIMIZER_ADAMW && o->kind != CLNET_OPTIMIZER_SGD)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "optimizer kind %d: must be ADAM (0), ADAMW (1) or SGD (2)",
                           (int)o->kind);
  const int64_t decay = o->decay_all ? g->arena_floats : g->arena_decay_floats;
  clnet_status st = CLNET_SUCCESS;
  clnet_profile_op(g->ctx, o->kind == CLNET_OPTIMIZER_SGD ? "sgd" : "adamw");
  if (g->arena_floats && o->kind == CLNET_OPTIMIZER_ADAMW) {
    const clnet_adamw_desc d = {.lr = o->lr, .beta1 = o->beta1, .beta2 = o->beta2, .eps = o->eps,
                                .weight_decay = o->weight_decay, .t = g->adam_t + 1};
    st = clnet_adamw_update(g->ctx, &d, g->arena_floats, decay, &g->arena_value, &g->arena_grad, &g->arena_m,
                            &g->arena_v);
  } else if (g->arena_floats) {
    const clnet_sgd_desc d = {.lr = o->lr, .momentum = o->momentum, .nesterov = o->nesterov,
                              .weight_decay = o->weight_decay};
    st = clnet_sgd_update(g->ctx, &d, g->arena_floats, decay, &g->arena_value, &g->arena_grad, &g->arena_m);
  }
  clnet_profile_op(g->ctx, NULL);
  if (st != CLNET_SUCCESS) return clnet_wrap_error(st, "optimizer step %lld", (long long)g->adam_t + 1);
  g->adam_t++;
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_ema_enable(clnet_graph *g, float decay) {
  if (!g->ctx) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph is not set up");
  if (!(decay >= 0 && decay < 1)) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "EMA decay %g must lie in [0, 1)", (double)decay);
  if (!g->ema_value.bytes && g->arena_floats)
    CLNET_TRY(clnet_buf_alloc(g->ctx, (size_t)g->arena_floats * 4, "weight average (trainable)", &g->ema_value));
  if (!g->ema_stats.bytes && g->stats_floats)
    CLNET_TRY(clnet_buf_alloc(g->ctx, (size_t)g->stats_floats * 4, "weight average (statistics)", &g->ema_stats));
  if (g->arena_floats) CLNET_TRY(clnet_buf_copy(g->ctx, &g->arena_value, 0, &g->ema_value, 0, (size_t)g->arena_floats * 4));
  if (g->stats_floats) CLNET_TRY(clnet_buf_copy(g->ctx, &g->stats, 0, &g->ema_stats, 0, (size_t)g->stats_floats * 4));
  g->ema_decay = decay;
  g->ema_on = 1;
  return CLNET_SUCCESS;
}

int32_t clnet_graph_ema_enabled(const clnet_graph *g) { return g->ema_on; }

clnet_status clnet_graph_ema_update(clnet_graph *g) {
  if (!g->ema_on) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "the weight average is off (clnet_graph_ema_enable)");
  clnet_profile_op(g->ctx, "weight average");
  CLNET_TRY(clnet_ema_update(g->ctx, g->arena_floats, g->ema_decay, &g->arena_value, &g->ema_value));
  CLNET_TRY(clnet_ema_update(g->ctx, g->stats_floats, g->ema_decay, &g->stats, &g->ema_stats));
  clnet_profile_op(g->ctx, NULL);
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_ema_swap(clnet_graph *g) {
  if (!g->ema_on) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "the weight average is off (clnet_graph_ema_enable)");
  CLNET_TRY(clnet_swap_buffers(g->ctx, g->arena_floats, &g->arena_value, &g->ema_value));
  return clnet_swap_buffers(g->ctx, g->stats_floats, &g->stats, &g->ema_stats);
}
