/* Running a set-up graph: a batch in, the forward pass layer by layer (fused tails at their
 * ReLU), the loss layer (the logits' gradient and [loss, correct]), the backward pass in reverse
 * order with each input's gradient overwritten by its first writer and accumulated by the others,
 * the non-finite flag, and the one read-back of a step. Every layer runs through its kind's
 * descriptor (layer_kind.h); nothing here knows a kind. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "graph/graph_internal.h"

clnet_buf *clnet_graph_grad_of(clnet_graph *g, int32_t t) { return &g->grad_bufs[g->tensors[t].grad_buf]; }

static const char *fused_label(int32_t fuse) { return fuse == CLNET_FUSE_BN_ADD_RELU ? "bn+add+relu" : "bn+relu"; }

/* While profiling: the op label of layer l's pass ("fwd", "eval", "bwd", or what the kind names),
 * e.g. "conv2d 3x3/2 fwd 30x30x64->15x15x128" (a conv appends its algorithm), "bn+add+relu bwd
 * 15x15x128", "dense fwd 512->10". */
void clnet_graph_profile_layer(clnet_graph *g, const g_layer *l, const char *pass) {
  if (!clnet_ctx_profiling(g->ctx)) return;
  const g_tensor *y = &g->tensors[l->l.out];
  if (l->fuse == CLNET_FUSE_BN_RELU || l->fuse == CLNET_FUSE_BN_ADD_RELU) {
    clnet_profile_op(g->ctx, "%s %s %dx%dx%d", fused_label(l->fuse), pass, y->s.h, y->s.w, y->s.c);
    return;
  }
  clnet_tshape in[CLNET_MAX_LAYER_INPUTS];
  clnet_graph_layer_shapes(g, l, in);
  char label[256];
  l->l.kind->label(&l->l, in, &y->s, pass, label, sizeof label);
  clnet_profile_op(g->ctx, "%s", label);
}

typedef struct profile_ref {
  clnet_graph *g;
  const g_layer *l;
} profile_ref;

static void io_profile_pass(const clnet_layer_io *io, const char *pass) {
  const profile_ref *r = io->profile_user;
  clnet_graph_profile_layer(r->g, r->l, pass);
}

/* The io of layer l as planned: its tensors, parameters and auxiliary buffers. */
static void layer_io(clnet_graph *g, g_layer *l, clnet_tshape *in, clnet_layer_io *io, profile_ref *pr) {
  memset(io, 0, sizeof *io);
  clnet_graph_layer_shapes(g, l, in);
  io->ctx = g->ctx;
  io->n = g->batch;
  for (int32_t j = 0; j < l->l.n_in; ++j) {
    io->xs[j] = &in[j];
    io->x[j] = &g->tensors[l->l.in[j]].value;
  }
  io->ys = &g->tensors[l->l.out].s;
  io->y = &g->tensors[l->l.out].value;
  for (int32_t i = 0; i < l->n_p; ++i) {
    g_param *p = &g->params[l->p[i]];
    io->p[i] = &p->value;
    io->dp[i] = p->kind == CLNET_PARAM_STATISTIC ? NULL : &p->grad;
  }
  for (int32_t a = 0; a < l->n_aux; ++a) io->aux[a] = &l->aux[a];
  io->labels = &g->labels;
  io->result = &g->result;
  io->seed = g->seed;
  io->step = (uint64_t)g->adam_t; /* the optimizer step: restored by checkpoints, so a resumed run draws the same masks */
  *pr = (profile_ref){g, l};
  io->profile_pass = io_profile_pass;
  io->profile_user = pr;
}

static clnet_status forward(clnet_graph *g, int32_t training, int32_t with_loss) {
  for (int32_t i = 0; i < g->n_layers; ++i) {
    g_layer *l = &g->layers[i];
    if (l->fuse == CLNET_FUSE_INSIDE) continue;
    const int32_t loss = (l->l.kind->flags & CLNET_KIND_LOSS) != 0;
    if (loss && !with_loss) continue;
    clnet_graph_profile_layer(g, l, training ? "fwd" : "eval");
    clnet_status st;
    if (l->fuse != CLNET_FUSE_NONE) {
      st = clnet_graph_fused_forward(g, l, training);
      if (st != CLNET_SUCCESS) return clnet_wrap_error(st, "forward of layer '%s' (fused)", l->l.name);
      continue;
    }
    clnet_tshape in[CLNET_MAX_LAYER_INPUTS];
    clnet_layer_io io;
    profile_ref pr;
    layer_io(g, l, in, &io, &pr);
    io.training = training;
    if (loss) io.dlogits = clnet_graph_grad_of(g, l->l.in[0]);
    st = l->l.kind->forward(&l->l, &io);
    if (st != CLNET_SUCCESS) return clnet_wrap_error(st, "forward of layer '%s'", l->l.name);
  }
  return CLNET_SUCCESS;
}

/* The one read-back of a step. */
static clnet_status loss_read(clnet_graph *g, float *loss_out, int32_t *correct) {
  float r[2];
  clnet_profile_op(g->ctx, "read loss");
  CLNET_TRY(clnet_buf_read(g->ctx, &g->result, 0, sizeof r, r));
  clnet_profile_op(g->ctx, NULL);
  *loss_out = r[0];
  *correct = (int32_t)lrintf(r[1]);
  return CLNET_SUCCESS;
}

/* Where layer l's backward writes the gradient of executed input j: the planned buffer (first
 * writer), or the temporary that is then accumulated; NULL when the input needs no gradient. */
static clnet_buf *dx_target(clnet_graph *g, const g_layer *l, int32_t j) {
  const int32_t t = l->ein[j];
  if (g->tensors[t].grad_buf < 0) return NULL;
  if (l->first_writer[j]) return clnet_graph_grad_of(g, t);
  return l->tmp_buf[j] >= 0 ? &g->grad_bufs[l->tmp_buf[j]] : NULL;
}

static clnet_status dx_finish(clnet_graph *g, const g_layer *l, int32_t j) {
  const int32_t t = l->ein[j];
  if (l->first_writer[j] || g->tensors[t].grad_buf < 0 || l->tmp_buf[j] < 0) return CLNET_SUCCESS;
  return clnet_accumulate(g->ctx, g_tensor_floats(&g->tensors[t], g->batch), &g->grad_bufs[l->tmp_buf[j]],
                          clnet_graph_grad_of(g, t));
}

static clnet_status backward_layer(clnet_graph *g, g_layer *l) {
  if (l->fuse != CLNET_FUSE_NONE) {
    const int32_t has_dres = l->fuse == CLNET_FUSE_BN_ADD_RELU && g->tensors[l->ein[1]].grad_buf >= 0;
    CLNET_TRY(clnet_graph_fused_backward(g, l, dx_target(g, l, 0), has_dres ? dx_target(g, l, 1) : NULL));
    CLNET_TRY(dx_finish(g, l, 0));
    if (has_dres) CLNET_TRY(dx_finish(g, l, 1));
    return clnet_graph_stream_layer_gradients(g, &g->layers[l->fused_bn]); /* the BN's gamma, beta */
  }
  clnet_tshape in[CLNET_MAX_LAYER_INPUTS];
  clnet_layer_io io;
  profile_ref pr;
  layer_io(g, l, in, &io, &pr);
  io.dy = clnet_graph_grad_of(g, l->l.out);
  const int32_t accumulates = (l->l.kind->flags & CLNET_KIND_ACCUMULATES_DX) != 0;
  for (int32_t j = 0; j < l->l.n_in; ++j) {
    const int32_t t = l->ein[j];
    if (g->tensors[t].grad_buf < 0) continue;
    if (accumulates) {
      io.dx[j] = clnet_graph_grad_of(g, t);
      io.dx_accumulate[j] = !l->first_writer[j];
    } else {
      io.dx[j] = dx_target(g, l, j);
    }
  }
  CLNET_TRY(l->l.kind->backward(&l->l, &io));
  for (int32_t j = 0; !accumulates && j < l->l.n_in; ++j) CLNET_TRY(dx_finish(g, l, j));
  return clnet_graph_stream_layer_gradients(g, l);
}

static clnet_status backward(clnet_graph *g) {
  for (int32_t i = g->n_layers - 1; i >= 0; --i) {
    g_layer *l = &g->layers[i];
    if (l->fuse == CLNET_FUSE_INSIDE || (l->l.kind->flags & CLNET_KIND_LOSS)) continue;
    clnet_graph_profile_layer(g, l, "bwd");
    clnet_status st = backward_layer(g, l);
    if (st != CLNET_SUCCESS)
      return clnet_wrap_error(st, "backward of layer '%s'%s", l->l.name, l->fuse != CLNET_FUSE_NONE ? " (fused)" : "");
  }
  return CLNET_SUCCESS;
}

static clnet_status require_batch(const clnet_graph *g) {
  if (!g->ctx || g->batch < 1) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph has no batch (clnet_graph_set_batch)");
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_set_batch(clnet_graph *g, const float *images, const int32_t *labels, int32_t n) {
  if (!g->ctx) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph is not set up");
  if (n < 1 || n > g->max_batch)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "batch of %d images, graph was set up for 1..%d", n, g->max_batch);
  const int32_t classes = clnet_graph_classes(g);
  for (int32_t i = 0; i < n; ++i)
    if (labels[i] < 0 || labels[i] >= classes)
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "label %d of image %d is outside [0, %d)", labels[i], i, classes);
  g->batch = n;
  clnet_profile_op(g->ctx, "upload batch");
  CLNET_TRY(clnet_buf_write(g->ctx, &g->tensors[0].value, 0, (size_t)g_tensor_floats(&g->tensors[0], n) * 4, images));
  CLNET_TRY(clnet_buf_write(g->ctx, &g->labels, 0, (size_t)n * 4, labels));
  clnet_profile_op(g->ctx, NULL);
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_step_start(clnet_graph *g) {
  CLNET_TRY(require_batch(g));
  if (g->loss_layer < 0)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "graph has no loss layer (clnet_graph_set_output, or a softmax_cross_entropy layer)");
  g->step_started = 0;
  g->step_serial++;
  clnet_profile_op(g->ctx, "bn statistics backup");
  if (g->keep_stats && g->stats_floats)
    CLNET_TRY(clnet_buf_copy(g->ctx, &g->stats, 0, &g->stats_shadow, 0, (size_t)g->stats_floats * 4));
  CLNET_TRY(forward(g, 1, 1)); /* the loss layer included */
  CLNET_TRY(backward(g));   /* enqueued before any read-back so the device never idles */
  clnet_profile_op(g->ctx, "nonfinite check");
  CLNET_TRY(clnet_buf_fill(g->ctx, &g->nonfinite, 0, 4, 0));
  if (g->arena_floats) /* every trainable gradient at once (the gaps are zero) */
    CLNET_TRY(clnet_nonfinite_flag(g->ctx, g->arena_floats, &g->arena_grad, &g->nonfinite));
  if (!g->ctx->is_ref) CLNET_CL_CHECK(clFlush(g->ctx->queue)); /* start the device while the host goes on */
  clnet_profile_op(g->ctx, NULL);
  g->step_started = 1;
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_step_finish(clnet_graph *g, float *loss_out, int32_t *correct) {
  if (!g->step_started)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "step_finish without a step_start before it");
  g->step_started = 0;
  clnet_status st = loss_read(g, loss_out, correct);
  int32_t flag = 0;
  clnet_profile_op(g->ctx, "nonfinite check");
  if (st == CLNET_SUCCESS) st = clnet_buf_read(g->ctx, &g->nonfinite, 0, 4, &flag);
  clnet_profile_op(g->ctx, NULL);
  clnet_graph_drain_gradient_copies(g); /* the queue is past them: no waiting, only releases */
  g->grads_finite = !flag;
  return st;
}

clnet_status clnet_graph_forward_backward(clnet_graph *g, float *loss_out, int32_t *correct) {
  CLNET_TRY(clnet_graph_step_start(g));
  return clnet_graph_step_finish(g, loss_out, correct);
}

int32_t clnet_graph_gradients_finite(const clnet_graph *g) { return g->grads_finite; }

clnet_status clnet_graph_set_input(clnet_graph *g, const float *images, int32_t n) {
  if (!g->ctx) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph is not set up");
  if (n < 1 || n > g->max_batch)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "batch of %d images, graph was set up for 1..%d", n, g->max_batch);
  g->batch = n;
  clnet_profile_op(g->ctx, "upload batch");
  CLNET_TRY(clnet_buf_write(g->ctx, &g->tensors[0].value, 0, (size_t)g_tensor_floats(&g->tensors[0], n) * 4, images));
  clnet_profile_op(g->ctx, NULL);
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_forward(clnet_graph *g, int32_t training) {
  CLNET_TRY(require_batch(g));
  return forward(g, training, 0);
}

clnet_status clnet_graph_read_tensor(clnet_graph *g, int32_t t, float *dst) {
  CLNET_TRY(require_batch(g));
  if (t < 0 || t >= g->n_tensors) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "no tensor %d", t);
  const g_tensor *x = &g->tensors[t];
  if (t != 0 && x->n_readers != 0)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "tensor %d (output of layer '%s') is read by %d layers: its storage may be reused", t,
                           g->layers[x->producer].l.name, x->n_readers);
  if (x->virt) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "tensor %d is never stored", t);
  CLNET_TRY(clnet_buf_read(g->ctx, &x->value, 0, (size_t)g_tensor_floats(x, g->batch) * 4, dst));
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_evaluate(clnet_graph *g, float *loss_out, int32_t *correct) {
  CLNET_TRY(require_batch(g));
  if (g->loss_layer < 0) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph has no loss layer");
  CLNET_TRY(forward(g, 0, 1));
  return loss_read(g, loss_out, correct);
}

clnet_status clnet_graph_read_logits(clnet_graph *g, float *dst) {
  CLNET_TRY(require_batch(g));
  if (g->loss_layer < 0) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph has no loss layer (no logits)");
  const g_tensor *o = &g->tensors[g->layers[g->loss_layer].l.in[0]];
  clnet_profile_op(g->ctx, "read logits");
  CLNET_TRY(clnet_buf_read(g->ctx, &o->value, 0, (size_t)g_tensor_floats(o, g->batch) * 4, dst));
  clnet_profile_op(g->ctx, NULL);
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_layer_run(clnet_graph *g, int32_t i, int32_t backward_pass) {
  CLNET_TRY(require_batch(g));
  if (i < 0 || i >= g->n_layers) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "no layer %d", i);
  g_layer *l = &g->layers[i];
  const int32_t loss = (l->l.kind->flags & CLNET_KIND_LOSS) != 0;
  if (l->fuse == CLNET_FUSE_INSIDE || (backward_pass && loss)) return CLNET_SUCCESS;
  clnet_graph_profile_layer(g, l, backward_pass ? "bwd" : "fwd");
  clnet_status st;
  if (backward_pass) {
    st = backward_layer(g, l);
  } else if (l->fuse != CLNET_FUSE_NONE) {
    st = clnet_graph_fused_forward(g, l, 1);
  } else {
    clnet_tshape in[CLNET_MAX_LAYER_INPUTS];
    clnet_layer_io io;
    profile_ref pr;
    layer_io(g, l, in, &io, &pr);
    io.training = 1;
    if (loss) io.dlogits = clnet_graph_grad_of(g, l->l.in[0]);
    st = l->l.kind->forward(&l->l, &io);
  }
  clnet_profile_op(g->ctx, NULL);
  return st == CLNET_SUCCESS ? st : clnet_wrap_error(st, "layer '%s'", l->l.name);
}

clnet_status clnet_graph_layer_cost(const clnet_graph *g, int32_t i, double *macs, double *fwd_bytes,
                                    double *bwd_bytes) {
  if (!g || i < 0 || i >= g->n_layers) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "no layer %d", i);
  const g_layer *l = &g->layers[i];
  clnet_tshape in[CLNET_MAX_LAYER_INPUTS];
  clnet_graph_layer_shapes(g, l, in);
  const clnet_tshape *y = &g->tensors[l->l.out].s;
  const uint32_t f = l->l.kind->flags;
  double ins = 0;
  for (int32_t j = 0; j < l->l.n_in; ++j) ins += 4.0 * (double)clnet_tshape_size(&in[j]);
  const double out = 4.0 * (double)clnet_tshape_size(y);
  if (macs) *macs = l->l.kind->macs(&l->l, in, y);
  if (l->fuse == CLNET_FUSE_BN_RELU || l->fuse == CLNET_FUSE_BN_ADD_RELU) {
    /* the fused tail: reads x (and the residual), writes y; backward reads x, y and dy, writes dx
     * (and the residual's gradient); the statistics' second read of x not counted */
    const double add = l->fuse == CLNET_FUSE_BN_ADD_RELU;
    if (fwd_bytes) *fwd_bytes = (2 + add) * out;
    if (bwd_bytes) *bwd_bytes = (4 + add) * out;
    return CLNET_SUCCESS;
  }
  if (fwd_bytes) *fwd_bytes = ins + out;
  if (bwd_bytes)
    *bwd_bytes = out + ins + ((f & CLNET_KIND_BWD_READS_INPUTS) ? ins : 0) + ((f & CLNET_KIND_BWD_READS_OUTPUT) ? out : 0);
  return CLNET_SUCCESS;
}
