/* Planning a graph for a device and allocating it: fusion, in-place outputs, the memory plan
 * (memory_plan.h), and every buffer a training step of up to max_batch images needs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph_internal.h"

/* Where each layer's output lives: its own storage, its input's (a view, or an in-place layer
 * whose input has no other reader and whose input's producer does not read that input in its
 * backward), decided per graph once every reader is known. */
static void plan_storage(clnet_graph *g) {
  for (int32_t t = 0; t < g->n_tensors; ++t) g->tensors[t].storage = t;
  for (int32_t i = 0; i < g->n_layers; ++i) {
    g_layer *l = &g->layers[i];
    const uint32_t f = l->l.kind->flags;
    const int32_t x = l->l.in[0], y = l->l.out;
    l->in_place = 0;
    if (f & CLNET_KIND_VIEW) {
      g->tensors[y].storage = g->tensors[x].storage;
      l->in_place = 1;
      continue;
    }
    if (!(f & CLNET_KIND_IN_PLACE) || (f & CLNET_KIND_BWD_READS_INPUTS) || x == 0) continue;
    const g_tensor *xt = &g->tensors[x];
    if (xt->storage != x || xt->n_readers != 1 || xt->producer < 0) continue;
    const uint32_t pf = g->layers[xt->producer].l.kind->flags;
    if (pf & (CLNET_KIND_BWD_READS_OUTPUT | CLNET_KIND_LOSS)) continue;
    g->tensors[y].storage = x;
    l->in_place = 1;
  }
}

void clnet_graph_plan(clnet_graph *g, int32_t batch, size_t *buf_floats, int32_t *n_bufs) {
  clnet_graph_plan_fusion(g, clnet_graph_fusion_wanted(g->ctx));
  plan_storage(g);
  static _Thread_local clnet_plan_tensor pt[CLNET_PLAN_MAX_TENSORS];
  static _Thread_local clnet_plan_layer pl[CLNET_GRAPH_MAX_LAYERS];
  for (int32_t t = 0; t < g->n_tensors; ++t) {
    const g_tensor *x = &g->tensors[t];
    const int32_t loss_out = x->producer >= 0 && (g->layers[x->producer].l.kind->flags & CLNET_KIND_LOSS);
    pt[t] = (clnet_plan_tensor){.floats = (size_t)g_tensor_floats(x, batch), .storage = x->storage,
                                .virt = x->virt || loss_out, .producer = x->producer, .kept = 0, .no_grad = t == 0};
  }
  if (g->loss_layer >= 0) pt[g->layers[g->loss_layer].l.in[0]].kept = 1; /* the logits */
  for (int32_t t = 1; t < g->n_tensors; ++t) /* outputs of a graph without a loss: read after the pass */
    if (g->tensors[t].n_readers == 0 && !pt[t].virt) pt[t].kept = 1;
  for (int32_t i = 0; i < g->n_layers; ++i) {
    const g_layer *l = &g->layers[i];
    const uint32_t f = l->l.kind->flags;
    const int32_t fused = l->fuse == CLNET_FUSE_BN_RELU || l->fuse == CLNET_FUSE_BN_ADD_RELU;
    clnet_plan_layer *p = &pl[i];
    memset(p, 0, sizeof *p);
    p->skip = l->fuse == CLNET_FUSE_INSIDE;
    p->n_in = l->en_in;
    for (int32_t j = 0; j < l->en_in; ++j) p->in[j] = l->ein[j];
    p->out = l->l.out;
    if (fused) {
      p->flags = CLNET_PLAN_DX_OVER_DY | CLNET_PLAN_READS_IN0 | CLNET_PLAN_READS_OUTPUT;
      if (l->ein[0] == 0) pt[0].no_grad = 0; /* the fused BN backward writes its input's gradient */
      continue;
    }
    if (f & CLNET_KIND_LOSS) p->flags |= CLNET_PLAN_LOSS;
    if (f & CLNET_KIND_ACCUMULATES_DX) p->flags |= CLNET_PLAN_ACCUMULATES;
    if (f & CLNET_KIND_BWD_READS_INPUTS) p->flags |= CLNET_PLAN_READS_INPUTS;
    if (f & CLNET_KIND_BWD_READS_OUTPUT) p->flags |= CLNET_PLAN_READS_OUTPUT;
    if ((f & CLNET_KIND_NEEDS_DX) && !p->skip)
      for (int32_t j = 0; j < l->en_in; ++j)
        if (l->ein[j] == 0) pt[0].no_grad = 0;
  }
  clnet_memory_plan(pt, g->n_tensors, pl, g->n_layers, buf_floats, n_bufs);
  for (int32_t t = 0; t < g->n_tensors; ++t) {
    g->tensors[t].grad_buf = pt[t].grad_buf;
    g->tensors[t].fwd_buf = pt[t].fwd_buf;
    g->tensors[t].virt = pt[t].virt;
  }
  for (int32_t i = 0; i < g->n_layers; ++i)
    for (int32_t j = 0; j < CLNET_MAX_LAYER_INPUTS; ++j) {
      g->layers[i].first_writer[j] = j < CLNET_PLAN_MAX_INPUTS ? pl[i].first_writer[j] : 0;
      g->layers[i].tmp_buf[j] = j < CLNET_PLAN_MAX_INPUTS ? pl[i].tmp_buf[j] : -1;
    }
}

/* Bytes a parameter of this kind takes: value, gradient and two optimizer moments for trainables;
 * value and a gradient the backward writes for fixed ones; the value alone for statistics. */
static uint64_t param_fields(clnet_param_kind k) {
  return k == CLNET_PARAM_TRAINABLE ? 4 : k == CLNET_PARAM_FIXED ? 2 : 1;
}

uint64_t clnet_graph_memory_bytes(const clnet_graph *gc, int32_t batch) {
  clnet_graph *g = (clnet_graph *)gc; /* planning writes plan fields only */
  size_t bufs[CLNET_PLAN_MAX_BUFS];
  int32_t nb = 0;
  clnet_graph_plan(g, batch, bufs, &nb); /* set up: its device's plan; otherwise an OpenCL device's */
  uint64_t bytes = 0, scratch = 0;
  for (int32_t t = 0; t < g->n_tensors; ++t)
    if (g->tensors[t].storage == t && !g->tensors[t].virt && g->tensors[t].fwd_buf < 0)
      bytes += (uint64_t)g_tensor_floats(&g->tensors[t], batch) * 4;
  for (int32_t b = 0; b < nb; ++b) bytes += bufs[b] * 4;
  for (int32_t i = 0; i < g->n_params; ++i)
    if (g->params[i].kind == CLNET_PARAM_FIXED) bytes += (uint64_t)g->params[i].count * 4 * param_fields(g->params[i].kind);
  bytes += (uint64_t)clnet_graph_layout_stats(g, g->ctx ? clnet_buf_align(g->ctx) : 256) * 4;
  bytes += (uint64_t)clnet_graph_layout_arena(g, g->ctx ? clnet_buf_align(g->ctx) : 256, NULL) * 4 *
           param_fields(CLNET_PARAM_TRAINABLE);
  for (int32_t i = 0; i < g->n_layers; ++i) {
    const g_layer *l = &g->layers[i];
    for (int32_t a = 0; a < l->n_aux; ++a) bytes += l->aux_decl[a].per_image * (uint64_t)batch + l->aux_decl[a].fixed;
    clnet_tshape in[CLNET_MAX_LAYER_INPUTS];
    clnet_graph_layer_shapes(g, l, in);
    const uint64_t s = l->l.kind->scratch(&l->l, in, &g->tensors[l->l.out].s, batch);
    if (s > scratch) scratch = s; /* the context's one scratch buffer: the largest need of any op */
  }
  bytes += (uint64_t)batch * 4 + 8 + 4; /* labels, loss result, non-finite flag */
  if (g->ctx) clnet_graph_plan(g, g->max_batch, bufs, &nb); /* back to the plan the buffers were allocated by */
  return bytes + scratch;
}

void clnet_graph_release(clnet_graph *g) {
  if (!g->ctx) return;
  clnet_ctx *c = g->ctx;
  clnet_graph_drain_gradient_copies(g);
  g->step_started = 0;
  for (int32_t i = 0; i < g->n_tensors; ++i) {
    if (g->tensors[i].storage == i && !g->tensors[i].borrowed) clnet_buf_free(c, &g->tensors[i].value);
    memset(&g->tensors[i].value, 0, sizeof g->tensors[i].value);
    g->tensors[i].borrowed = 0;
  }
  for (int32_t i = 0; i < g->n_params; ++i) { /* views first, then the arenas they are views of */
    g_param *p = &g->params[i];
    clnet_buf *f[4] = {&p->value, &p->grad, &p->m, &p->v};
    for (int k = 0; k < 4; ++k) clnet_buf_free(c, f[k]);
  }
  clnet_buf *arenas[8] = {&g->arena_value, &g->arena_grad, &g->arena_m, &g->arena_v,
                          &g->stats, &g->stats_shadow, &g->ema_value, &g->ema_stats};
  for (int k = 0; k < 8; ++k) clnet_buf_free(c, arenas[k]);
  g->arena_floats = g->stats_floats = 0;
  g->ema_on = 0;
  for (int32_t i = 0; i < g->n_layers; ++i)
    for (int32_t a = 0; a < CLNET_MAX_LAYER_AUX; ++a) clnet_buf_free(c, &g->layers[i].aux[a]);
  for (int32_t i = 0; i < g->n_grad_bufs; ++i) clnet_buf_free(c, &g->grad_bufs[i]);
  clnet_buf_free(c, &g->labels);
  clnet_buf_free(c, &g->result);
  clnet_buf_free(c, &g->nonfinite);
  g->n_grad_bufs = 0;
  g->ctx = NULL;
}

static clnet_status alloc_param_field(clnet_graph *g, g_param *p, clnet_buf *b, const char *field) {
  char what[200];
  snprintf(what, sizeof what, "%s (%s)", p->name, field);
  CLNET_TRY(clnet_buf_alloc(g->ctx, (size_t)p->count * 4, what, b));
  return clnet_buf_fill(g->ctx, b, 0, (size_t)p->count * 4, 0);
}

clnet_status clnet_graph_setup(clnet_graph *g, clnet_ctx *ctx, int32_t max_batch) {
  if (max_batch < 1) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "batch %d must be >= 1", max_batch);
  clnet_graph_release(g);
  g->ctx = ctx;
  g->max_batch = max_batch;
  g->batch = 0;
  g->adam_t = 0;
  clnet_status st = CLNET_SUCCESS;
  char what[200];
  clnet_graph_plan(g, max_batch, g->grad_buf_floats, &g->n_grad_bufs);
  for (int32_t t = 0; t < g->n_tensors; ++t) {
    g_tensor *x = &g->tensors[t];
    if (x->storage != t || x->virt || x->fwd_buf >= 0) continue;
    snprintf(what, sizeof what, "activation %s", t == 0 ? "input" : g->layers[x->producer].l.name);
    CLNET_TRY_GOTO(clnet_buf_alloc(ctx, (size_t)g_tensor_floats(x, max_batch) * 4, what, &x->value), st, fail);
  }
  for (int32_t b = 0; b < g->n_grad_bufs; ++b)
    CLNET_TRY_GOTO(clnet_buf_alloc(ctx, g->grad_buf_floats[b] * 4, "gradient buffer", &g->grad_bufs[b]), st, fail);
  for (int32_t t = 0; t < g->n_tensors; ++t)
    if (g->tensors[t].storage == t && g->tensors[t].fwd_buf >= 0) {
      g->tensors[t].value = g->grad_bufs[g->tensors[t].fwd_buf];
      g->tensors[t].borrowed = 1;
    }
  for (int32_t t = 0; t < g->n_tensors; ++t)
    if (g->tensors[t].storage != t) g->tensors[t].value = g->tensors[g->tensors[t].storage].value;
  g->arena_floats = clnet_graph_layout_arena(g, clnet_buf_align(ctx), &g->arena_decay_floats);
  if (g->arena_floats) {
    const size_t bytes = (size_t)g->arena_floats * 4;
    clnet_buf *arenas[4] = {&g->arena_value, &g->arena_grad, &g->arena_m, &g->arena_v};
    static const char *const names[4] = {"trainable parameters (values)", "trainable parameters (gradients)",
                                        "trainable parameters (Adam m)", "trainable parameters (Adam v)"};
    for (int k = 0; k < 4; ++k) {
      CLNET_TRY_GOTO(clnet_buf_alloc(ctx, bytes, names[k], arenas[k]), st, fail);
      CLNET_TRY_GOTO(clnet_buf_fill(ctx, arenas[k], 0, bytes, 0), st, fail);
    }
  }
  g->stats_floats = clnet_graph_layout_stats(g, clnet_buf_align(ctx));
  if (g->stats_floats) {
    CLNET_TRY_GOTO(clnet_buf_alloc(ctx, (size_t)g->stats_floats * 4, "BN statistics", &g->stats), st, fail);
    CLNET_TRY_GOTO(clnet_buf_fill(ctx, &g->stats, 0, (size_t)g->stats_floats * 4, 0), st, fail);
  }
  for (int32_t i = 0; i < g->n_params; ++i) {
    g_param *p = &g->params[i];
    if (p->kind == CLNET_PARAM_STATISTIC) {
      CLNET_TRY_GOTO(clnet_buf_view(ctx, &g->stats, (size_t)p->stat_offset * 4, (size_t)p->count * 4, &p->value), st,
                     fail);
      continue;
    }
    if (p->kind == CLNET_PARAM_TRAINABLE) {
      const size_t off = (size_t)p->arena_offset * 4, bytes = (size_t)p->count * 4;
      CLNET_TRY_GOTO(clnet_buf_view(ctx, &g->arena_value, off, bytes, &p->value), st, fail);
      CLNET_TRY_GOTO(clnet_buf_view(ctx, &g->arena_grad, off, bytes, &p->grad), st, fail);
      CLNET_TRY_GOTO(clnet_buf_view(ctx, &g->arena_m, off, bytes, &p->m), st, fail);
      CLNET_TRY_GOTO(clnet_buf_view(ctx, &g->arena_v, off, bytes, &p->v), st, fail);
      continue;
    }
    CLNET_TRY_GOTO(alloc_param_field(g, p, &p->value, "value"), st, fail);
    if (p->kind == CLNET_PARAM_FIXED) CLNET_TRY_GOTO(alloc_param_field(g, p, &p->grad, "gradient"), st, fail);
  }
  for (int32_t i = 0; i < g->n_layers; ++i) {
    g_layer *l = &g->layers[i];
    for (int32_t a = 0; a < l->n_aux; ++a) {
      const uint64_t bytes = l->aux_decl[a].per_image * (uint64_t)max_batch + l->aux_decl[a].fixed;
      CLNET_TRY_GOTO(clnet_buf_alloc(ctx, (size_t)bytes, l->aux_decl[a].what, &l->aux[a]), st, fail);
    }
  }
  CLNET_TRY_GOTO(clnet_buf_alloc(ctx, (size_t)max_batch * 4, "labels", &g->labels), st, fail);
  CLNET_TRY_GOTO(clnet_buf_alloc(ctx, 8, "loss result", &g->result), st, fail);
  CLNET_TRY_GOTO(clnet_buf_alloc(ctx, 4, "non-finite gradient flag", &g->nonfinite), st, fail);
  g->keep_stats = 0;
  return CLNET_SUCCESS;
fail:
  clnet_graph_release(g);
  return st;
}

clnet_ctx *clnet_graph_context(const clnet_graph *g) { return g->ctx; }
int32_t clnet_graph_max_batch(const clnet_graph *g) { return g->ctx ? g->max_batch : 0; }
