/* Layer graph: description, shape inference, memory plan, executor.
 *
 * Storage plan (one training step, batch up to max_batch):
 * - activations: every tensor the backward pass reads is kept for the step;
 *   in-place ReLUs share their input's storage.
 * - gradients: a tensor's gradient lives from the backward step of its last
 *   consumer (first write) to the backward step of its producer (last read);
 *   buffers are reused between tensors whose intervals do not overlap
 *   (best fit by size), see plan_gradients().
 * - a tensor read by several layers gets its gradient summed: the first
 *   writer in backward order overwrites, later ones write into a temporary
 *   and accumulate. The temporary is one more interval [s, s] of the same
 *   best fit, so it takes a gradient buffer that is idle at that step.
 * - a fused BN backward writes its input's gradient over its output's
 *   gradient (elementwise, each read before it is written), so the two share
 *   a buffer.
 * - activations that no backward step reads (a shortcut convolution's output,
 *   read only by the Add) live in a gradient buffer: those are idle during
 *   the forward pass (best fit over forward lifetimes, see place_forward_only).
 * - parameters: value, gradient, Adam m and v for trainables; value for BN
 *   statistics.
 *
 * Fusion (plan_fusion): on an OpenCL device, unless CLNET_NO_FUSION=1, a BN
 * whose only reader is a ReLU, and a BN -> Add -> ReLU tail, run as one fused
 * op (clnet_batchnorm_act_*) at the ReLU's place, forward and backward. The
 * BN and Add layers then do nothing; the BN output of a BN -> Add -> ReLU tail
 * is never stored. The reference backend runs the layers one by one, so the
 * whole-model check compares the fused device step with the unfused one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clnet/graph.h"
#include "core/error.h"
#include "core/rng.h"
#include "runtime/ctx.h"
#include "ops/conv_winograd.h"

#define MAX_LAYERS 256
#define MAX_TENSORS 256
#define MAX_PARAMS 512
#define NAME_LEN 96
#define MAX_GRAD_BUFS (MAX_TENSORS + 2 * MAX_LAYERS) /* a tensor gradient or a temporary each, at most */

enum { F_NONE, F_INSIDE, F_BN_RELU, F_BN_ADD_RELU };

/* Same values as the public clnet_layer_kind. */
typedef enum { L_CONV, L_BN, L_RELU, L_MAXPOOL, L_ADD, L_GAP, L_DENSE } layer_kind;
#define L_KIND_COUNT 7
_Static_assert((int)L_CONV == (int)CLNET_LAYER_CONV && (int)L_DENSE == (int)CLNET_LAYER_DENSE,
               "layer_kind and clnet_layer_kind must agree");

typedef struct {
  int32_t h, w, c;     /* per image */
  int32_t producer;    /* layer index, -1 for the input */
  int32_t storage;     /* tensor whose storage this one uses (itself unless in place) */
  int32_t n_readers;
  int32_t grad_buf;    /* planned gradient buffer, -1 if none */
  int32_t grad_first;  /* backward step of the first gradient write */
  int32_t grad_last;   /* backward step of the last gradient read */
  int32_t virt;        /* never stored: the BN output inside a fused BN -> Add -> ReLU */
  int32_t fwd_buf;     /* storage root that no backward step reads: the gradient buffer holding it, or -1 */
  int32_t borrowed;    /* set up with value = a gradient buffer (fwd_buf), not owned */
  clnet_buf value;
} tensor;

typedef struct {
  char name[NAME_LEN];
  clnet_param_kind kind;
  int32_t ndim;
  int64_t shape[4];
  int64_t count;
  int32_t init; /* 0 zeros, 1 ones, 2 glorot */
  int64_t fan_in, fan_out;
  clnet_buf value, grad, m, v;
  clnet_buf shadow; /* statistics only, with keep_stats: the value before the last step */
} param;

typedef struct {
  layer_kind kind;
  char name[NAME_LEN];
  int32_t in[2], n_in, out;
  int32_t p[4]; /* conv: kernel, bias; bn: gamma, beta, moving_mean, moving_variance; dense: kernel, bias */
  int32_t filters, k, stride, units;
  clnet_padding padding;
  int32_t fuse;      /* F_NONE, F_INSIDE (runs inside a later fused ReLU), F_BN_RELU, F_BN_ADD_RELU (a ReLU) */
  int32_t fused_bn;  /* F_BN_*: the BN layer */
  int32_t ein[2], en_in; /* inputs as executed: in[], or for a fused ReLU the BN's input and the residual */
  int32_t first_writer[2]; /* 1 when this layer's backward is the first to write ein[i]'s gradient */
  int32_t tmp_buf[2];      /* otherwise: the gradient buffer it writes into before accumulating, or -1 */
  clnet_buf save_mean, save_invstd, argmax;
} layer;

struct clnet_graph {
  layer layers[MAX_LAYERS];
  int32_t n_layers;
  tensor tensors[MAX_TENSORS];
  int32_t n_tensors;
  param params[MAX_PARAMS];
  int32_t n_params;
  int32_t output; /* logits tensor */
  /* bound state */
  clnet_ctx *ctx;
  int32_t max_batch, batch;
  clnet_buf labels, result;
  clnet_buf nonfinite;   /* int32 flag: some parameter gradient of the last step is NaN/Inf */
  int32_t grads_finite;  /* read back with the loss */
  int32_t keep_stats;    /* shadow the BN statistics before each training forward */
  clnet_buf grad_bufs[MAX_GRAD_BUFS];
  size_t grad_buf_floats[MAX_GRAD_BUFS];
  int32_t n_grad_bufs;
  int64_t adam_t;
  int32_t planned;
  /* gradient streaming (clnet_graph_stream_gradients): during the backward pass each trainable
   * gradient is copied, without waiting, into grad_host + grad_offset[i] as soon as its layer's
   * backward has been enqueued; grad_event[i] completes when the copy has landed. */
  float *grad_host;
  int64_t grad_offset[MAX_PARAMS]; /* set as parameters are added; -1 for statistics */
  int64_t trainable_floats;
  cl_event grad_event[MAX_PARAMS];
  int64_t grad_step[MAX_PARAMS]; /* step_serial of the step whose copy was last enqueued */
  int64_t step_serial;           /* counts step_start calls */
  int32_t step_started; /* clnet_graph_step_start without its step_finish yet */
};

static int64_t tensor_floats(const tensor *t, int32_t n) { return (int64_t)n * t->h * t->w * t->c; }

clnet_status clnet_graph_create(int32_t in_h, int32_t in_w, int32_t in_c, clnet_graph **out) {
  *out = NULL;
  if (in_h < 1 || in_w < 1 || in_c < 1)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph input %dx%dx%d: every size must be >= 1", in_h, in_w, in_c);
  clnet_graph *g = calloc(1, sizeof *g);
  if (!g) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "allocating a graph");
  g->tensors[0] = (tensor){.h = in_h, .w = in_w, .c = in_c, .producer = -1, .storage = 0, .grad_buf = -1};
  g->n_tensors = 1;
  g->output = -1;
  *out = g;
  return CLNET_SUCCESS;
}

static void drain_gradient_copies(clnet_graph *g) {
  for (int32_t i = 0; i < g->n_params; ++i) clnet_event_wait_release(&g->grad_event[i]);
}

static void release(clnet_graph *g) {
  if (!g->ctx) return;
  clnet_ctx *c = g->ctx;
  drain_gradient_copies(g);
  g->step_started = 0;
  for (int32_t i = 0; i < g->n_tensors; ++i) {
    if (g->tensors[i].storage == i && !g->tensors[i].borrowed) clnet_buf_free(c, &g->tensors[i].value);
    memset(&g->tensors[i].value, 0, sizeof g->tensors[i].value);
    g->tensors[i].borrowed = 0;
  }
  for (int32_t i = 0; i < g->n_params; ++i) {
    clnet_buf_free(c, &g->params[i].value);
    clnet_buf_free(c, &g->params[i].grad);
    clnet_buf_free(c, &g->params[i].m);
    clnet_buf_free(c, &g->params[i].v);
    clnet_buf_free(c, &g->params[i].shadow);
  }
  for (int32_t i = 0; i < g->n_layers; ++i) {
    clnet_buf_free(c, &g->layers[i].save_mean);
    clnet_buf_free(c, &g->layers[i].save_invstd);
    clnet_buf_free(c, &g->layers[i].argmax);
  }
  for (int32_t i = 0; i < g->n_grad_bufs; ++i) clnet_buf_free(c, &g->grad_bufs[i]);
  clnet_buf_free(c, &g->labels);
  clnet_buf_free(c, &g->result);
  clnet_buf_free(c, &g->nonfinite);
  g->n_grad_bufs = 0;
  g->ctx = NULL;
}

void clnet_graph_free(clnet_graph *g) {
  if (!g) return;
  release(g);
  free(g);
}

static clnet_status check_tensor_id(const clnet_graph *g, const char *name, int32_t t) {
  if (t < 0 || t >= g->n_tensors)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "layer '%s': input tensor %d does not exist", name, t);
  return CLNET_SUCCESS;
}

static clnet_status new_layer(clnet_graph *g, layer_kind kind, const char *name, layer **out) {
  if (g->ctx) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "layer '%s': graph already set up", name);
  if (g->n_layers == MAX_LAYERS || g->n_tensors == MAX_TENSORS)
    return clnet_set_error(CLNET_ERR_TOO_LARGE, "layer '%s': graph limit of %d layers reached", name, MAX_LAYERS);
  layer *l = &g->layers[g->n_layers];
  memset(l, 0, sizeof *l);
  l->kind = kind;
  snprintf(l->name, sizeof l->name, "%s", name);
  for (int i = 0; i < 4; ++i) l->p[i] = -1;
  *out = l;
  return CLNET_SUCCESS;
}

static int32_t new_tensor(clnet_graph *g, int32_t h, int32_t w, int32_t c) {
  int32_t id = g->n_tensors++;
  g->tensors[id] = (tensor){.h = h, .w = w, .c = c, .producer = g->n_layers, .storage = id, .grad_buf = -1};
  return id;
}

static clnet_status new_param(clnet_graph *g, const char *layer_name, const char *suffix, clnet_param_kind kind,
                              int32_t ndim, const int64_t *shape, int32_t init, int64_t fan_in, int64_t fan_out,
                              int32_t *id) {
  if (g->n_params == MAX_PARAMS)
    return clnet_set_error(CLNET_ERR_TOO_LARGE, "layer '%s': graph limit of %d parameters reached", layer_name, MAX_PARAMS);
  param *p = &g->params[g->n_params];
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s.%s", layer_name, suffix);
  p->kind = kind;
  p->ndim = ndim;
  p->count = 1;
  for (int32_t i = 0; i < ndim; ++i) {
    p->shape[i] = shape[i];
    p->count *= shape[i];
  }
  p->init = init;
  p->fan_in = fan_in;
  p->fan_out = fan_out;
  /* place in the host gradient layout: trainable parameters back to back, in creation order */
  g->grad_offset[g->n_params] = kind == CLNET_PARAM_TRAINABLE ? g->trainable_floats : -1;
  if (kind == CLNET_PARAM_TRAINABLE) g->trainable_floats += p->count;
  *id = g->n_params++;
  return CLNET_SUCCESS;
}

static void add_reader(clnet_graph *g, int32_t t) { g->tensors[t].n_readers++; }

clnet_status clnet_graph_add_conv(clnet_graph *g, const char *name, int32_t in, int32_t filters, int32_t k,
                                  int32_t stride, clnet_padding padding, int32_t *out) {
  layer *l = NULL;
  CLNET_TRY(check_tensor_id(g, name, in));
  CLNET_TRY(new_layer(g, L_CONV, name, &l));
  const tensor *x = &g->tensors[in];
  clnet_conv2d_desc d = {.n = 1, .in_h = x->h, .in_w = x->w, .in_c = x->c, .out_c = filters, .k_h = k, .k_w = k,
                         .stride = stride, .padding = padding, .has_bias = 1};
  CLNET_TRY(clnet_conv2d_desc_init(&d) == CLNET_SUCCESS ? CLNET_SUCCESS : clnet_wrap_error(CLNET_ERR_INVALID_ARGUMENT, "layer '%s'", name));
  int64_t kshape[4] = {k, k, x->c, filters}, bshape[1] = {filters};
  CLNET_TRY(new_param(g, name, "kernel", CLNET_PARAM_TRAINABLE, 4, kshape, 2, (int64_t)k * k * x->c,
                      (int64_t)k * k * filters, &l->p[0]));
  CLNET_TRY(new_param(g, name, "bias", CLNET_PARAM_TRAINABLE, 1, bshape, 0, 0, 0, &l->p[1]));
  l->in[0] = in;
  l->n_in = 1;
  l->filters = filters;
  l->k = k;
  l->stride = stride;
  l->padding = padding;
  add_reader(g, in);
  l->out = *out = new_tensor(g, d.out_h, d.out_w, filters);
  g->n_layers++;
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_add_batchnorm(clnet_graph *g, const char *name, int32_t in, int32_t *out) {
  layer *l = NULL;
  CLNET_TRY(check_tensor_id(g, name, in));
  CLNET_TRY(new_layer(g, L_BN, name, &l));
  const tensor *x = &g->tensors[in];
  int64_t shape[1] = {x->c};
  CLNET_TRY(new_param(g, name, "gamma", CLNET_PARAM_TRAINABLE, 1, shape, 1, 0, 0, &l->p[0]));
  CLNET_TRY(new_param(g, name, "beta", CLNET_PARAM_TRAINABLE, 1, shape, 0, 0, 0, &l->p[1]));
  CLNET_TRY(new_param(g, name, "moving_mean", CLNET_PARAM_STATISTIC, 1, shape, 0, 0, 0, &l->p[2]));
  CLNET_TRY(new_param(g, name, "moving_variance", CLNET_PARAM_STATISTIC, 1, shape, 1, 0, 0, &l->p[3]));
  l->in[0] = in;
  l->n_in = 1;
  add_reader(g, in);
  l->out = *out = new_tensor(g, x->h, x->w, x->c);
  g->n_layers++;
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_add_relu(clnet_graph *g, const char *name, int32_t in, int32_t *out) {
  layer *l = NULL;
  CLNET_TRY(check_tensor_id(g, name, in));
  if (in == 0 || g->tensors[in].n_readers > 0)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "layer '%s': an in-place ReLU needs an input that no other layer reads", name);
  int32_t prod = g->tensors[in].producer;
  layer_kind pk = g->layers[prod].kind;
  if (pk != L_BN && pk != L_ADD && pk != L_CONV && pk != L_DENSE)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "layer '%s': in-place ReLU after a layer whose backward reads its output", name);
  CLNET_TRY(new_layer(g, L_RELU, name, &l));
  const tensor *x = &g->tensors[in];
  l->in[0] = in;
  l->n_in = 1;
  add_reader(g, in);
  l->out = *out = new_tensor(g, x->h, x->w, x->c);
  g->tensors[l->out].storage = g->tensors[in].storage;
  g->n_layers++;
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_add_maxpool(clnet_graph *g, const char *name, int32_t in, int32_t k, int32_t stride,
                                     clnet_padding padding, int32_t *out) {
  layer *l = NULL;
  CLNET_TRY(check_tensor_id(g, name, in));
  CLNET_TRY(new_layer(g, L_MAXPOOL, name, &l));
  const tensor *x = &g->tensors[in];
  clnet_pool_desc d = {.n = 1, .in_h = x->h, .in_w = x->w, .c = x->c, .k = k, .stride = stride, .padding = padding};
  CLNET_TRY(clnet_pool_desc_init(&d) == CLNET_SUCCESS ? CLNET_SUCCESS : clnet_wrap_error(CLNET_ERR_INVALID_ARGUMENT, "layer '%s'", name));
  l->in[0] = in;
  l->n_in = 1;
  l->k = k;
  l->stride = stride;
  l->padding = padding;
  add_reader(g, in);
  l->out = *out = new_tensor(g, d.out_h, d.out_w, x->c);
  g->n_layers++;
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_add_add(clnet_graph *g, const char *name, int32_t a, int32_t b, int32_t *out) {
  layer *l = NULL;
  CLNET_TRY(check_tensor_id(g, name, a));
  CLNET_TRY(check_tensor_id(g, name, b));
  const tensor *ta = &g->tensors[a], *tb = &g->tensors[b];
  if (ta->h != tb->h || ta->w != tb->w || ta->c != tb->c)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "layer '%s': adding %dx%dx%d to %dx%dx%d", name, ta->h, ta->w,
                           ta->c, tb->h, tb->w, tb->c);
  CLNET_TRY(new_layer(g, L_ADD, name, &l));
  l->in[0] = a;
  l->in[1] = b;
  l->n_in = 2;
  add_reader(g, a);
  add_reader(g, b);
  l->out = *out = new_tensor(g, ta->h, ta->w, ta->c);
  g->n_layers++;
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_add_global_avgpool(clnet_graph *g, const char *name, int32_t in, int32_t *out) {
  layer *l = NULL;
  CLNET_TRY(check_tensor_id(g, name, in));
  CLNET_TRY(new_layer(g, L_GAP, name, &l));
  l->in[0] = in;
  l->n_in = 1;
  add_reader(g, in);
  l->out = *out = new_tensor(g, 1, 1, g->tensors[in].c);
  g->n_layers++;
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_add_dense(clnet_graph *g, const char *name, int32_t in, int32_t units, int32_t *out) {
  layer *l = NULL;
  CLNET_TRY(check_tensor_id(g, name, in));
  if (units < 1) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "layer '%s': units %d must be >= 1", name, units);
  CLNET_TRY(new_layer(g, L_DENSE, name, &l));
  const tensor *x = &g->tensors[in];
  int64_t fan_in = (int64_t)x->h * x->w * x->c;
  int64_t kshape[2] = {units, fan_in}, bshape[1] = {units};
  CLNET_TRY(new_param(g, name, "kernel", CLNET_PARAM_TRAINABLE, 2, kshape, 2, fan_in, units, &l->p[0]));
  CLNET_TRY(new_param(g, name, "bias", CLNET_PARAM_TRAINABLE, 1, bshape, 0, 0, 0, &l->p[1]));
  l->in[0] = in;
  l->n_in = 1;
  l->units = units;
  add_reader(g, in);
  l->out = *out = new_tensor(g, 1, 1, units);
  g->n_layers++;
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_set_output(clnet_graph *g, int32_t logits) {
  CLNET_TRY(check_tensor_id(g, "output", logits));
  const tensor *t = &g->tensors[logits];
  if (t->h != 1 || t->w != 1 || logits == 0)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph output must be a vector of logits, got %dx%dx%d", t->h,
                           t->w, t->c);
  g->output = logits;
  return CLNET_SUCCESS;
}

int32_t clnet_graph_layer_count(const clnet_graph *g) { return g->n_layers; }
const char *clnet_layer_kind_str(clnet_layer_kind kind) {
  static const char *const names[] = {"conv", "batchnorm", "relu", "maxpool", "add", "global_avgpool", "dense"};
  _Static_assert(sizeof names / sizeof names[0] == L_KIND_COUNT, "one name per layer kind");
  return (int)kind >= 0 && (int)kind < L_KIND_COUNT ? names[kind] : "unknown";
}

clnet_status clnet_graph_layer_info(const clnet_graph *g, int32_t i, clnet_layer_info *info) {
  if (i < 0 || i >= g->n_layers) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "no layer %d", i);
  const layer *l = &g->layers[i];
  const tensor *x = &g->tensors[l->in[0]], *y = &g->tensors[l->out];
  *info = (clnet_layer_info){.name = l->name, .kind = (clnet_layer_kind)l->kind, .in_h = x->h, .in_w = x->w,
                             .in_c = x->c, .out_h = y->h, .out_w = y->w, .out_c = y->c, .k = l->k,
                             .stride = l->stride, .padding = l->padding};
  return CLNET_SUCCESS;
}

clnet_ctx *clnet_graph_context(const clnet_graph *g) { return g->ctx; }
int32_t clnet_graph_max_batch(const clnet_graph *g) { return g->ctx ? g->max_batch : 0; }
int32_t clnet_graph_classes(const clnet_graph *g) { return g->output >= 0 ? g->tensors[g->output].c : 0; }

int64_t clnet_graph_param_total(const clnet_graph *g, clnet_param_kind kind) {
  int64_t n = 0;
  for (int32_t i = 0; i < g->n_params; ++i)
    if (g->params[i].kind == kind) n += g->params[i].count;
  return n;
}

double clnet_graph_macs_per_image(const clnet_graph *g) {
  double macs = 0;
  for (int32_t i = 0; i < g->n_layers; ++i) {
    const layer *l = &g->layers[i];
    const tensor *x = &g->tensors[l->in[0]], *y = &g->tensors[l->out];
    if (l->kind == L_CONV) macs += (double)y->h * y->w * y->c * l->k * l->k * x->c;
    if (l->kind == L_DENSE) macs += (double)x->h * x->w * x->c * l->units;
  }
  return macs;
}

/* ---- planning ---- */

/* CLNET_NO_FUSION=1 runs every layer on its own (for timing and debugging). */
static int32_t fusion_wanted(const clnet_ctx *ctx) {
  const char *e = getenv("CLNET_NO_FUSION");
  if (e && *e && strcmp(e, "0") != 0) return 0;
  return !(ctx && ctx->is_ref);
}

/* The fused pattern that ends at layer i by the rules at the top of the file: F_BN_RELU (a ReLU
 * whose input is a BN output with no other reader) or F_BN_ADD_RELU (a ReLU whose input is an Add
 * output with no other reader, one of whose inputs is a BN output with no other reader), else
 * F_NONE. *bn is the BN layer, *bn_k (BN -> Add -> ReLU) the Add input that is the BN's output. */
static int32_t fusion_at(const clnet_graph *g, int32_t i, int32_t *bn, int32_t *bn_k) {
  const layer *r = &g->layers[i];
  *bn = -1;
  *bn_k = -1;
  const int32_t t = r->in[0];
  if (r->kind != L_RELU || g->tensors[t].producer < 0 || g->tensors[t].n_readers != 1) return F_NONE;
  const layer *p = &g->layers[g->tensors[t].producer];
  if (p->kind == L_BN) {
    *bn = g->tensors[t].producer;
    return F_BN_RELU;
  }
  if (p->kind != L_ADD || p->in[0] == p->in[1]) return F_NONE;
  for (int32_t k = 0; k < 2; ++k) {
    const int32_t bt = p->in[k];
    if (bt == 0 || g->tensors[bt].n_readers != 1 || g->layers[g->tensors[bt].producer].kind != L_BN) continue;
    *bn = g->tensors[bt].producer;
    *bn_k = k;
    return F_BN_ADD_RELU;
  }
  return F_NONE;
}

/* Marks the fused patterns (fusion_at) and sets every layer's executed inputs ein[]. */
static void plan_fusion(clnet_graph *g, int32_t enable) {
  for (int32_t t = 0; t < g->n_tensors; ++t) g->tensors[t].virt = 0;
  for (int32_t i = 0; i < g->n_layers; ++i) {
    layer *l = &g->layers[i];
    l->fuse = F_NONE;
    l->fused_bn = -1;
    l->ein[0] = l->in[0];
    l->ein[1] = l->in[1];
    l->en_in = l->n_in;
  }
  for (int32_t i = 0; enable && i < g->n_layers; ++i) {
    layer *r = &g->layers[i];
    int32_t b = -1, k = -1;
    const int32_t f = fusion_at(g, i, &b, &k);
    if (f == F_NONE) continue;
    layer *bn = &g->layers[b];
    r->fuse = f;
    r->fused_bn = b;
    r->ein[0] = bn->in[0];
    bn->fuse = F_INSIDE;
    bn->en_in = 0;
    if (f == F_BN_RELU) {
      r->en_in = 1;
    } else {
      layer *add = &g->layers[g->tensors[r->in[0]].producer];
      r->ein[1] = add->in[1 - k];
      r->en_in = 2;
      add->fuse = F_INSIDE;
      add->en_in = 0;
      g->tensors[add->in[k]].virt = 1;
    }
  }
}

clnet_status clnet_graph_layer_fusion(const clnet_graph *g, int32_t i, clnet_layer_fusion *out, int32_t *bn_layer) {
  if (!g || !out || i < 0 || i >= g->n_layers)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_graph_layer_fusion: no layer %d", i);
  int32_t bn = -1, k = -1;
  const int32_t f = fusion_at(g, i, &bn, &k);
  *out = f == F_BN_RELU ? CLNET_FUSION_BN_RELU : f == F_BN_ADD_RELU ? CLNET_FUSION_BN_ADD_RELU : CLNET_FUSION_NONE;
  if (bn_layer) *bn_layer = bn;
  return CLNET_SUCCESS;
}

/* Backward step of layer i (the last layer runs first). */
static int32_t bstep(const clnet_graph *g, int32_t layer_index) { return g->n_layers - 1 - layer_index; }

static void plan_gradients(clnet_graph *g, int32_t batch, size_t *buf_floats, int32_t *n_bufs) {
  /* intervals */
  for (int32_t t = 0; t < g->n_tensors; ++t) {
    g->tensors[t].grad_first = INT32_MAX;
    g->tensors[t].grad_last = -1;
    g->tensors[t].grad_buf = -1;
  }
  /* the loss writes the logits gradient before any backward step */
  g->tensors[g->output].grad_first = -1;
  for (int32_t i = 0; i < g->n_layers; ++i) {
    layer *l = &g->layers[i];
    if (l->fuse == F_INSIDE) continue; /* runs inside a later fused layer */
    int32_t s = bstep(g, i);
    for (int32_t j = 0; j < l->en_in; ++j) {
      int32_t t = l->ein[j];
      if (t == 0) continue; /* no gradient for the images */
      if (s < g->tensors[t].grad_first) g->tensors[t].grad_first = s;
    }
    tensor *o = &g->tensors[l->out];
    if (s > o->grad_last) o->grad_last = s;
  }
  /* first writer flags: the smallest backward step among the readers */
  for (int32_t i = 0; i < g->n_layers; ++i) {
    layer *l = &g->layers[i];
    l->first_writer[0] = l->first_writer[1] = 0;
    for (int32_t j = 0; j < l->en_in; ++j)
      l->first_writer[j] = l->ein[j] != 0 && g->tensors[l->ein[j]].grad_first == bstep(g, i) &&
                           !(j == 1 && l->ein[0] == l->ein[1]);
  }
  /* items: each tensor's gradient over [grad_first, grad_last], and the
   * temporary of each layer that adds into a gradient another layer wrote
   * first, over [s, s] */
  typedef struct {
    int32_t first, last, prefer; /* prefer: tensor whose gradient buffer to take over in place */
    size_t need;
    int32_t *out;
  } item;
  item items[MAX_GRAD_BUFS];
  int32_t prefer[MAX_TENSORS], n = 0;
  for (int32_t t = 0; t < g->n_tensors; ++t) prefer[t] = -1;
  for (int32_t i = 0; i < g->n_layers; ++i) {
    layer *l = &g->layers[i];
    if ((l->fuse == F_BN_RELU || l->fuse == F_BN_ADD_RELU) && l->first_writer[0]) prefer[l->ein[0]] = l->out;
  }
  for (int32_t t = 1; t < g->n_tensors; ++t) {
    tensor *x = &g->tensors[t];
    if (x->grad_last >= 0 || t == g->output)
      items[n++] = (item){x->grad_first, x->grad_last < 0 ? INT32_MAX : x->grad_last, prefer[t],
                          (size_t)tensor_floats(x, batch), &x->grad_buf};
  }
  for (int32_t i = 0; i < g->n_layers; ++i) {
    layer *l = &g->layers[i];
    l->tmp_buf[0] = l->tmp_buf[1] = -1;
    if (l->fuse == F_INSIDE || l->kind == L_ADD) continue; /* Add accumulates dy itself */
    for (int32_t j = 0; j < l->en_in; ++j)
      if (l->ein[j] != 0 && !l->first_writer[j])
        items[n++] = (item){bstep(g, i), bstep(g, i), -1, (size_t)tensor_floats(&g->tensors[l->ein[j]], batch),
                            &l->tmp_buf[j]};
  }
  /* stable sort by first use */
  for (int32_t a = 1; a < n; ++a) {
    item it = items[a];
    int32_t k = a;
    for (; k > 0 && items[k - 1].first > it.first; --k) items[k] = items[k - 1];
    items[k] = it;
  }
  int32_t busy_until[MAX_GRAD_BUFS];
  *n_bufs = 0;
  for (int32_t a = 0; a < n; ++a) {
    const item *t = &items[a];
    size_t need = t->need;
    int32_t best = -1;
    if (t->prefer >= 0) {
      int32_t pb = g->tensors[t->prefer].grad_buf; /* its interval ends at this item's first step */
      if (pb >= 0 && busy_until[pb] == t->first) best = pb;
    }
    for (int32_t b = 0, in_place = best >= 0; !in_place && b < *n_bufs; ++b) {
      if (busy_until[b] >= t->first) continue;
      if (best < 0 || (buf_floats[b] >= need) > (buf_floats[best] >= need) ||
          ((buf_floats[b] >= need) == (buf_floats[best] >= need) &&
           (buf_floats[b] >= need ? buf_floats[b] < buf_floats[best] : buf_floats[b] > buf_floats[best])))
        best = b;
    }
    if (best < 0) {
      best = (*n_bufs)++;
      buf_floats[best] = 0;
    }
    if (buf_floats[best] < need) buf_floats[best] = need;
    busy_until[best] = t->last;
    *t->out = best;
  }
}

/* Storage roots that no backward step reads go into gradient buffers, which
 * hold nothing during the forward pass: best fit by size among buffers at
 * least as large, over forward lifetimes [producer, last reader] (layer
 * order as executed). The input and the logits keep their own storage. */
static void place_forward_only(clnet_graph *g, int32_t batch, const size_t *buf_floats, int32_t n_bufs) {
  int32_t bwd_read[MAX_TENSORS] = {0}, last_read[MAX_TENSORS];
  for (int32_t t = 0; t < g->n_tensors; ++t) {
    g->tensors[t].fwd_buf = -1;
    last_read[t] = -1;
  }
  bwd_read[0] = bwd_read[g->tensors[g->output].storage] = 1;
  for (int32_t i = 0; i < g->n_layers; ++i) {
    const layer *l = &g->layers[i];
    if (l->fuse == F_INSIDE) continue;
    for (int32_t j = 0; j < l->en_in; ++j) {
      int32_t r = g->tensors[l->ein[j]].storage;
      if (i > last_read[r]) last_read[r] = i;
    }
    if (l->fuse != F_NONE || l->kind == L_RELU) bwd_read[g->tensors[l->out].storage] = 1; /* the mask */
    if (l->fuse != F_NONE || l->kind == L_CONV || l->kind == L_BN || l->kind == L_DENSE)
      bwd_read[g->tensors[l->ein[0]].storage] = 1;
  }
  int32_t busy_until[MAX_TENSORS];
  for (int32_t b = 0; b < n_bufs; ++b) busy_until[b] = -1;
  for (int32_t t = 1; t < g->n_tensors; ++t) {
    tensor *x = &g->tensors[t];
    if (x->storage != t || x->virt || bwd_read[t]) continue;
    size_t need = (size_t)tensor_floats(x, batch);
    int32_t best = -1;
    for (int32_t b = 0; b < n_bufs; ++b)
      if (busy_until[b] < x->producer && buf_floats[b] >= need && (best < 0 || buf_floats[b] < buf_floats[best]))
        best = b;
    if (best < 0) continue;
    busy_until[best] = last_read[t] > x->producer ? last_read[t] : x->producer;
    x->fwd_buf = best;
  }
}

/* Scratch the conv op (host/ops/conv2d.c) may hold for one layer: the GEMM
 * path's im2col chunk (at most 16 MiB, at least one image), the direct path's
 * repacked weights (plus a zero row) and its filter-gradient partial sums
 * (capped at 16 MiB, or none with a single block). */
static uint64_t conv_scratch_bytes(const clnet_graph *g, int32_t batch) {
  uint64_t worst = 0;
  const uint64_t cap = 16ull << 20;
  for (int32_t i = 0; i < g->n_layers; ++i) {
    const layer *l = &g->layers[i];
    if (l->kind != L_CONV) continue;
    const tensor *x = &g->tensors[l->in[0]], *y = &g->tensors[l->out];
    uint64_t per_image = (uint64_t)y->h * y->w * l->k * l->k * x->c * 4;
    uint64_t images = cap / per_image;
    if (images < 1) images = 1;
    if (images > (uint64_t)batch) images = (uint64_t)batch;
    uint64_t col = per_image * images;
    uint64_t packed = ((uint64_t)l->k * l->k * x->c * y->c + (uint64_t)(x->c > y->c ? x->c : y->c) + 16) * 4;
    uint64_t need = col > packed ? col : packed;
    if (need < cap) need = cap; /* direct filter-gradient partials */
    /* Winograd F(2x2) and F(4x4) (3x3 stride 1, whichever pass AUTO picks them for): transformed
     * filter + a chunk */
    clnet_conv2d_desc d = {.n = batch, .in_h = x->h, .in_w = x->w, .in_c = x->c, .out_c = l->filters, .k_h = l->k,
                           .k_w = l->k, .stride = l->stride, .padding = l->padding, .has_bias = 1};
    if (clnet_conv2d_desc_init(&d) == CLNET_SUCCESS) {
      const clnet_conv_pass passes[3] = {CLNET_CONV_PASS_FORWARD, CLNET_CONV_PASS_BACKWARD_DATA,
                                           CLNET_CONV_PASS_BACKWARD_FILTER};
      for (int32_t k = 0; k < 3; ++k)
        for (int tile = 2; tile <= 4; tile += 2)
          if (clnet_conv2d_winograd_tile_applies(&d, passes[k], tile)) {
            uint64_t w = clnet_conv2d_winograd_scratch_bytes(&d, tile);
            if (w > need) need = w;
          }
    }
    if (need > worst) worst = need;
  }
  return worst;
}

uint64_t clnet_graph_memory_bytes(const clnet_graph *gc, int32_t batch) {
  clnet_graph *g = (clnet_graph *)gc; /* planning writes scratch fields only */
  /* set up: the plan of its device; otherwise that of an OpenCL device */
  if (!g->ctx) plan_fusion(g, fusion_wanted(NULL));
  uint64_t bytes = 0;
  size_t bufs[MAX_GRAD_BUFS];
  int32_t nb = 0;
  plan_gradients(g, batch, bufs, &nb);
  place_forward_only(g, batch, bufs, nb);
  for (int32_t t = 0; t < g->n_tensors; ++t)
    if (g->tensors[t].storage == t && !g->tensors[t].virt && g->tensors[t].fwd_buf < 0)
      bytes += (uint64_t)tensor_floats(&g->tensors[t], batch) * 4;
  for (int32_t b = 0; b < nb; ++b) bytes += bufs[b] * 4;
  for (int32_t i = 0; i < g->n_params; ++i)
    bytes += (uint64_t)g->params[i].count * 4 * (g->params[i].kind == CLNET_PARAM_TRAINABLE ? 4 : 1);
  for (int32_t i = 0; i < g->n_layers; ++i) {
    const layer *l = &g->layers[i];
    if (l->kind == L_BN) bytes += 2ull * 4 * (uint64_t)g->tensors[l->out].c;
    if (l->kind == L_MAXPOOL) bytes += (uint64_t)tensor_floats(&g->tensors[l->out], batch); /* uint8 argmax */
  }
  bytes += (uint64_t)batch * 4 + 8 + 4; /* labels, loss result, non-finite flag */
  /* the context's one scratch buffer: the largest need of any op */
  uint64_t scratch = conv_scratch_bytes(g, batch);
  for (int32_t i = 0; i < g->n_layers; ++i)
    if (g->layers[i].kind == L_BN) {
      clnet_batchnorm_desc d = {.rows = batch * g->tensors[g->layers[i].out].h * g->tensors[g->layers[i].out].w,
                                .c = g->tensors[g->layers[i].out].c, .eps = 1e-3f, .momentum = 0.99f};
      uint64_t b = clnet_batchnorm_scratch_bytes(&d);
      if (b > scratch) scratch = b;
    }
  return bytes + scratch;
}

static clnet_status alloc_param_field(clnet_graph *g, param *p, clnet_buf *b, const char *field) {
  char what[160];
  snprintf(what, sizeof what, "%s (%s)", p->name, field);
  CLNET_TRY(clnet_buf_alloc(g->ctx, (size_t)p->count * 4, what, b));
  return clnet_buf_fill(g->ctx, b, 0, (size_t)p->count * 4, 0);
}

clnet_status clnet_graph_setup(clnet_graph *g, clnet_ctx *ctx, int32_t max_batch) {
  if (g->output < 0) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph has no output (clnet_graph_set_output)");
  if (max_batch < 1) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "batch %d must be >= 1", max_batch);
  release(g);
  g->ctx = ctx;
  g->max_batch = max_batch;
  g->batch = 0;
  g->adam_t = 0;
  clnet_status st = CLNET_SUCCESS;
  char what[160];
  plan_fusion(g, fusion_wanted(ctx));
  plan_gradients(g, max_batch, g->grad_buf_floats, &g->n_grad_bufs);
  place_forward_only(g, max_batch, g->grad_buf_floats, g->n_grad_bufs);
  for (int32_t t = 0; t < g->n_tensors; ++t) {
    tensor *x = &g->tensors[t];
    if (x->storage != t || x->virt || x->fwd_buf >= 0) continue;
    snprintf(what, sizeof what, "activation %s", t == 0 ? "input" : g->layers[x->producer].name);
    CLNET_TRY_GOTO(clnet_buf_alloc(ctx, (size_t)tensor_floats(x, max_batch) * 4, what, &x->value), st, fail);
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
  for (int32_t i = 0; i < g->n_params; ++i) {
    param *p = &g->params[i];
    CLNET_TRY_GOTO(alloc_param_field(g, p, &p->value, "value"), st, fail);
    if (p->kind != CLNET_PARAM_TRAINABLE) continue;
    CLNET_TRY_GOTO(alloc_param_field(g, p, &p->grad, "gradient"), st, fail);
    CLNET_TRY_GOTO(alloc_param_field(g, p, &p->m, "Adam m"), st, fail);
    CLNET_TRY_GOTO(alloc_param_field(g, p, &p->v, "Adam v"), st, fail);
  }
  for (int32_t i = 0; i < g->n_layers; ++i) {
    layer *l = &g->layers[i];
    const tensor *y = &g->tensors[l->out];
    if (l->kind == L_BN) {
      CLNET_TRY_GOTO(clnet_buf_alloc(ctx, (size_t)y->c * 4, "batchnorm saved mean", &l->save_mean), st, fail);
      CLNET_TRY_GOTO(clnet_buf_alloc(ctx, (size_t)y->c * 4, "batchnorm saved invstd", &l->save_invstd), st, fail);
    } else if (l->kind == L_MAXPOOL) {
      CLNET_TRY_GOTO(clnet_buf_alloc(ctx, (size_t)tensor_floats(y, max_batch), "maxpool argmax", &l->argmax), st, fail);
    }
  }
  CLNET_TRY_GOTO(clnet_buf_alloc(ctx, (size_t)max_batch * 4, "labels", &g->labels), st, fail);
  CLNET_TRY_GOTO(clnet_buf_alloc(ctx, 8, "loss result", &g->result), st, fail);
  CLNET_TRY_GOTO(clnet_buf_alloc(ctx, 4, "non-finite gradient flag", &g->nonfinite), st, fail);
  g->keep_stats = 0;
  return CLNET_SUCCESS;
fail:
  release(g);
  return st;
}

clnet_status clnet_graph_init_params(clnet_graph *g, uint64_t seed) {
  if (!g->ctx) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph is not set up");
  clnet_rng rng;
  clnet_rng_seed(&rng, seed);
  for (int32_t i = 0; i < g->n_params; ++i) {
    param *p = &g->params[i];
    float *h = malloc((size_t)p->count * sizeof *h);
    if (!h) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "initialising %s", p->name);
    double limit = p->init == 2 ? sqrt(6.0 / (double)(p->fan_in + p->fan_out)) : 0;
    for (int64_t j = 0; j < p->count; ++j)
      h[j] = p->init == 2 ? (float)((2.0 * clnet_rng_uniform_double(&rng) - 1.0) * limit) : (float)p->init;
    clnet_status st = clnet_buf_write(g->ctx, &p->value, 0, (size_t)p->count * 4, h);
    free(h);
    CLNET_TRY(st);
    if (p->kind == CLNET_PARAM_TRAINABLE) {
      CLNET_TRY(clnet_buf_fill(g->ctx, &p->m, 0, (size_t)p->count * 4, 0));
      CLNET_TRY(clnet_buf_fill(g->ctx, &p->v, 0, (size_t)p->count * 4, 0));
      CLNET_TRY(clnet_buf_fill(g->ctx, &p->grad, 0, (size_t)p->count * 4, 0));
    }
  }
  g->adam_t = 0;
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_set_batch(clnet_graph *g, const float *images, const int32_t *labels, int32_t n) {
  if (!g->ctx) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph is not set up");
  if (n < 1 || n > g->max_batch)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "batch of %d images, graph was set up for 1..%d", n, g->max_batch);
  int32_t classes = clnet_graph_classes(g);
  for (int32_t i = 0; i < n; ++i)
    if (labels[i] < 0 || labels[i] >= classes)
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "label %d of image %d is outside [0, %d)", labels[i], i, classes);
  g->batch = n;
  clnet_profile_op(g->ctx, "upload batch");
  CLNET_TRY(clnet_buf_write(g->ctx, &g->tensors[0].value, 0, (size_t)tensor_floats(&g->tensors[0], n) * 4, images));
  CLNET_TRY(clnet_buf_write(g->ctx, &g->labels, 0, (size_t)n * 4, labels));
  clnet_profile_op(g->ctx, NULL);
  return CLNET_SUCCESS;
}

/* ---- execution ---- */

static clnet_buf *grad_of(clnet_graph *g, int32_t t) { return &g->grad_bufs[g->tensors[t].grad_buf]; }

static clnet_conv2d_desc conv_desc(const clnet_graph *g, const layer *l) {
  const tensor *x = &g->tensors[l->in[0]];
  clnet_conv2d_desc d = {.n = g->batch, .in_h = x->h, .in_w = x->w, .in_c = x->c, .out_c = l->filters, .k_h = l->k,
                         .k_w = l->k, .stride = l->stride, .padding = l->padding, .has_bias = 1};
  clnet_conv2d_desc_init(&d); /* validated when the layer was added */
  return d;
}

static clnet_pool_desc pool_desc(const clnet_graph *g, const layer *l) {
  const tensor *x = &g->tensors[l->in[0]];
  clnet_pool_desc d = {.n = g->batch, .in_h = x->h, .in_w = x->w, .c = x->c, .k = l->k, .stride = l->stride,
                       .padding = l->padding};
  clnet_pool_desc_init(&d);
  return d;
}

static clnet_batchnorm_desc bn_desc(const clnet_graph *g, const layer *l) {
  const tensor *x = &g->tensors[l->in[0]];
  return (clnet_batchnorm_desc){.rows = g->batch * x->h * x->w, .c = x->c, .eps = 1e-3f, .momentum = 0.99f};
}

/* While profiling: the op label of layer l's `pass` ("fwd", "eval", "bwd", "bwd-data",
 * "bwd-filter"), made of the kind and the shapes but not the layer's name, so that the layers
 * of one shape add up, e.g. "conv2d 3x3/2 fwd 30x30x64->15x15x128" (the conv appends its
 * algorithm), "bn+add+relu bwd 15x15x128", "dense fwd 512->10". */
static void profile_layer(clnet_graph *g, const layer *l, const char *pass) {
  if (!clnet_ctx_profiling(g->ctx)) return;
  const tensor *x = &g->tensors[l->in[0]], *y = &g->tensors[l->out];
  switch (l->kind) {
    case L_CONV:
      clnet_profile_op(g->ctx, "conv2d %dx%d/%d %s %dx%dx%d->%dx%dx%d", l->k, l->k, l->stride, pass, x->h, x->w, x->c,
                       y->h, y->w, y->c);
      break;
    case L_BN: clnet_profile_op(g->ctx, "batchnorm %s %dx%dx%d", pass, y->h, y->w, y->c); break;
    case L_RELU:
      clnet_profile_op(g->ctx, "%s %s %dx%dx%d",
                       l->fuse == F_BN_ADD_RELU ? "bn+add+relu" : l->fuse == F_BN_RELU ? "bn+relu" : "relu", pass,
                       y->h, y->w, y->c);
      break;
    case L_MAXPOOL: clnet_profile_op(g->ctx, "maxpool %dx%d/%d %s %dx%dx%d", l->k, l->k, l->stride, pass, x->h, x->w, x->c); break;
    case L_ADD: clnet_profile_op(g->ctx, "add %s %dx%dx%d", pass, y->h, y->w, y->c); break;
    case L_GAP: clnet_profile_op(g->ctx, "global_avgpool %s %dx%dx%d", pass, x->h, x->w, x->c); break;
    case L_DENSE: clnet_profile_op(g->ctx, "dense %s %d->%d", pass, x->h * x->w * x->c, l->units); break;
  }
}

/* The fused ReLU layer l: y = relu(bn(x) [+ res]) straight into the ReLU's output. */
static clnet_status fused_forward(clnet_graph *g, layer *l, int32_t training) {
  layer *bn = &g->layers[l->fused_bn];
  clnet_batchnorm_desc d = bn_desc(g, bn);
  param *p = g->params;
  const clnet_buf *x = &g->tensors[l->ein[0]].value, *res = l->fuse == F_BN_ADD_RELU ? &g->tensors[l->ein[1]].value : NULL;
  clnet_buf *y = &g->tensors[l->out].value;
  if (training)
    return clnet_batchnorm_act_forward_train(g->ctx, &d, x, &p[bn->p[0]].value, &p[bn->p[1]].value, res, y,
                                             &bn->save_mean, &bn->save_invstd, &p[bn->p[2]].value, &p[bn->p[3]].value);
  return clnet_batchnorm_act_forward_infer(g->ctx, &d, x, &p[bn->p[0]].value, &p[bn->p[1]].value, res,
                                           &p[bn->p[2]].value, &p[bn->p[3]].value, y);
}

static clnet_status forward(clnet_graph *g, int32_t training) {
  clnet_ctx *c = g->ctx;
  for (int32_t i = 0; i < g->n_layers; ++i) {
    layer *l = &g->layers[i];
    tensor *x = &g->tensors[l->in[0]], *y = &g->tensors[l->out];
    clnet_status st = CLNET_SUCCESS;
    if (l->fuse == F_INSIDE) continue;
    profile_layer(g, l, training ? "fwd" : "eval");
    if (l->fuse != F_NONE) {
      st = fused_forward(g, l, training);
      if (st != CLNET_SUCCESS) return clnet_wrap_error(st, "forward of layer '%s' (fused)", l->name);
      continue;
    }
    switch (l->kind) {
      case L_CONV: {
        clnet_conv2d_desc d = conv_desc(g, l);
        st = clnet_conv2d_forward(c, &d, &x->value, &g->params[l->p[0]].value, &g->params[l->p[1]].value, &y->value);
        break;
      }
      case L_BN: {
        clnet_batchnorm_desc d = bn_desc(g, l);
        param *p = g->params;
        if (training)
          st = clnet_batchnorm_forward_train(c, &d, &x->value, &p[l->p[0]].value, &p[l->p[1]].value, &y->value,
                                             &l->save_mean, &l->save_invstd, &p[l->p[2]].value, &p[l->p[3]].value);
        else
          st = clnet_batchnorm_forward_infer(c, &d, &x->value, &p[l->p[0]].value, &p[l->p[1]].value,
                                             &p[l->p[2]].value, &p[l->p[3]].value, &y->value);
        break;
      }
      case L_RELU: st = clnet_relu_forward(c, tensor_floats(x, g->batch), &x->value, &y->value); break;
      case L_MAXPOOL: {
        clnet_pool_desc d = pool_desc(g, l);
        st = clnet_maxpool_forward(c, &d, &x->value, &y->value, &l->argmax);
        break;
      }
      case L_ADD:
        st = clnet_add_forward(c, tensor_floats(x, g->batch), &x->value, &g->tensors[l->in[1]].value, &y->value);
        break;
      case L_GAP: st = clnet_global_avgpool_forward(c, g->batch, x->h, x->w, x->c, &x->value, &y->value); break;
      case L_DENSE:
        st = clnet_dense_forward(c, g->batch, x->h * x->w * x->c, l->units, &x->value, &g->params[l->p[0]].value,
                                 &g->params[l->p[1]].value, &y->value);
        break;
    }
    if (st != CLNET_SUCCESS) return clnet_wrap_error(st, "forward of layer '%s'", l->name);
  }
  return CLNET_SUCCESS;
}

/* Enqueues the loss kernel: dlogits into the output's gradient, [loss, correct] into g->result. */
static clnet_status loss_enqueue(clnet_graph *g) {
  tensor *o = &g->tensors[g->output];
  clnet_profile_op(g->ctx, "softmax cross-entropy");
  return clnet_softmax_xent(g->ctx, g->batch, o->c, &o->value, &g->labels, grad_of(g, g->output), &g->result);
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

/* Where layer l's backward writes the gradient of input j: the planned buffer
 * (first writer) or the temporary (then accumulated). */
static clnet_buf *dx_target(clnet_graph *g, const layer *l, int32_t j) {
  return l->first_writer[j] ? grad_of(g, l->ein[j]) : &g->grad_bufs[l->tmp_buf[j]];
}

static clnet_status dx_finish(clnet_graph *g, const layer *l, int32_t j) {
  if (l->first_writer[j]) return CLNET_SUCCESS;
  int32_t t = l->ein[j];
  return clnet_accumulate(g->ctx, tensor_floats(&g->tensors[t], g->batch), &g->grad_bufs[l->tmp_buf[j]], grad_of(g, t));
}

/* Backward of the fused ReLU layer l: the gradients of the BN's input and of
 * the residual (when it has one). */
static clnet_status fused_backward(clnet_graph *g, layer *l) {
  layer *bn = &g->layers[l->fused_bn];
  clnet_batchnorm_desc d = bn_desc(g, bn);
  param *p = g->params;
  const int32_t has_dres = l->fuse == F_BN_ADD_RELU && l->ein[1] != 0;
  CLNET_TRY(clnet_batchnorm_act_backward(g->ctx, &d, &g->tensors[l->ein[0]].value, &g->tensors[l->out].value,
                                         grad_of(g, l->out), &p[bn->p[0]].value, &bn->save_mean, &bn->save_invstd,
                                         dx_target(g, l, 0), has_dres ? dx_target(g, l, 1) : NULL,
                                         &p[bn->p[0]].grad, &p[bn->p[1]].grad));
  CLNET_TRY(dx_finish(g, l, 0));
  return has_dres ? dx_finish(g, l, 1) : CLNET_SUCCESS;
}

/* With streaming on: enqueue the host copies of layer l's parameter gradients (just enqueued). */
static clnet_status stream_layer_gradients(clnet_graph *g, const layer *l) {
  if (!g->grad_host || !(l->kind == L_CONV || l->kind == L_BN || l->kind == L_DENSE)) return CLNET_SUCCESS;
  clnet_profile_op(g->ctx, "gradients to host");
  for (int32_t j = 0; j < 2; ++j) {
    int32_t i = l->p[j];
    param *p = &g->params[i];
    clnet_event_wait_release(&g->grad_event[i]); /* a copy of an abandoned step */
    g->grad_step[i] = g->step_serial;
    CLNET_TRY(clnet_buf_read_async(g->ctx, &p->grad, 0, (size_t)p->count * 4, g->grad_host + g->grad_offset[i],
                                   &g->grad_event[i]));
  }
  return CLNET_SUCCESS;
}

static clnet_status backward(clnet_graph *g) {
  clnet_ctx *c = g->ctx;
  for (int32_t i = g->n_layers - 1; i >= 0; --i) {
    layer *l = &g->layers[i];
    tensor *x = &g->tensors[l->in[0]], *y = &g->tensors[l->out];
    if (l->fuse == F_INSIDE) continue;
    profile_layer(g, l, l->kind == L_CONV ? "bwd-filter" : "bwd");
    if (l->fuse != F_NONE) {
      clnet_status st = fused_backward(g, l);
      if (st == CLNET_SUCCESS) st = stream_layer_gradients(g, &g->layers[l->fused_bn]); /* the BN's gamma, beta */
      if (st != CLNET_SUCCESS) return clnet_wrap_error(st, "backward of layer '%s' (fused)", l->name);
      continue;
    }
    clnet_buf *dy = grad_of(g, l->out);
    int32_t need_dx = l->in[0] != 0;
    clnet_status st = CLNET_SUCCESS;
    param *p = g->params;
    switch (l->kind) {
      case L_CONV: {
        clnet_conv2d_desc d = conv_desc(g, l);
        st = clnet_conv2d_backward_filter(c, &d, &x->value, dy, &p[l->p[0]].grad, &p[l->p[1]].grad);
        if (need_dx) profile_layer(g, l, "bwd-data");
        if (st == CLNET_SUCCESS && need_dx) st = clnet_conv2d_backward_data(c, &d, dy, &p[l->p[0]].value, dx_target(g, l, 0));
        break;
      }
      case L_BN: {
        clnet_batchnorm_desc d = bn_desc(g, l);
        st = clnet_batchnorm_backward(c, &d, &x->value, dy, &p[l->p[0]].value, &l->save_mean, &l->save_invstd,
                                      dx_target(g, l, 0), &p[l->p[0]].grad, &p[l->p[1]].grad);
        break;
      }
      case L_RELU: st = clnet_relu_backward(c, tensor_floats(y, g->batch), &y->value, dy, dx_target(g, l, 0)); break;
      case L_MAXPOOL: {
        clnet_pool_desc d = pool_desc(g, l);
        st = clnet_maxpool_backward(c, &d, &l->argmax, dy, dx_target(g, l, 0));
        break;
      }
      case L_ADD:
        for (int32_t j = 0; j < 2 && st == CLNET_SUCCESS; ++j) {
          if (l->in[j] == 0) continue;
          int64_t n = tensor_floats(y, g->batch);
          st = l->first_writer[j] ? clnet_buf_copy(c, dy, 0, grad_of(g, l->in[j]), 0, (size_t)n * 4)
                                  : clnet_accumulate(c, n, dy, grad_of(g, l->in[j]));
        }
        need_dx = 0; /* done above */
        break;
      case L_GAP: st = clnet_global_avgpool_backward(c, g->batch, x->h, x->w, x->c, dy, dx_target(g, l, 0)); break;
      case L_DENSE:
        st = clnet_dense_backward(c, g->batch, x->h * x->w * x->c, l->units, &x->value, &p[l->p[0]].value, dy,
                                  need_dx ? dx_target(g, l, 0) : NULL, &p[l->p[0]].grad, &p[l->p[1]].grad);
        break;
    }
    if (st == CLNET_SUCCESS && need_dx) st = dx_finish(g, l, 0);
    if (st == CLNET_SUCCESS) st = stream_layer_gradients(g, l);
    if (st != CLNET_SUCCESS) return clnet_wrap_error(st, "backward of layer '%s'", l->name);
  }
  return CLNET_SUCCESS;
}

static clnet_status require_batch(const clnet_graph *g) {
  if (!g->ctx || g->batch < 1) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph has no batch (clnet_graph_set_batch)");
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_step_start(clnet_graph *g) {
  CLNET_TRY(require_batch(g));
  g->step_started = 0;
  g->step_serial++;
  clnet_profile_op(g->ctx, "bn statistics backup");
  for (int32_t i = 0; g->keep_stats && i < g->n_params; ++i)
    if (g->params[i].kind == CLNET_PARAM_STATISTIC)
      CLNET_TRY(clnet_buf_copy(g->ctx, &g->params[i].value, 0, &g->params[i].shadow, 0, (size_t)g->params[i].count * 4));
  CLNET_TRY(forward(g, 1));
  CLNET_TRY(loss_enqueue(g));
  CLNET_TRY(backward(g)); /* enqueued before any read-back so the device never idles */
  clnet_profile_op(g->ctx, "nonfinite check");
  CLNET_TRY(clnet_buf_fill(g->ctx, &g->nonfinite, 0, 4, 0));
  for (int32_t i = 0; i < g->n_params; ++i)
    if (g->params[i].kind == CLNET_PARAM_TRAINABLE)
      CLNET_TRY(clnet_nonfinite_flag(g->ctx, g->params[i].count, &g->params[i].grad, &g->nonfinite));
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
  drain_gradient_copies(g); /* the queue is past them: no waiting, only releases */
  g->grads_finite = !flag;
  return st;
}

clnet_status clnet_graph_forward_backward(clnet_graph *g, float *loss_out, int32_t *correct) {
  CLNET_TRY(clnet_graph_step_start(g));
  return clnet_graph_step_finish(g, loss_out, correct);
}

clnet_status clnet_graph_stream_gradients(clnet_graph *g, float *host) {
  if (!g->ctx) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph is not set up");
  drain_gradient_copies(g);
  g->grad_host = host;
  return CLNET_SUCCESS;
}

int64_t clnet_graph_gradient_offset(const clnet_graph *g, int32_t i) {
  return i < 0 || i >= g->n_params ? -1 : g->grad_offset[i];
}

int32_t clnet_graph_gradient_order(const clnet_graph *g, int32_t *params) {
  int32_t n = 0;
  for (int32_t i = g->n_layers - 1; i >= 0; --i) {
    const layer *l = &g->layers[i];
    if (l->kind == L_CONV || l->kind == L_BN || l->kind == L_DENSE)
      for (int32_t j = 0; j < 2; ++j) params[n++] = l->p[j];
  }
  return n;
}

clnet_status clnet_graph_wait_gradient(clnet_graph *g, int32_t i) {
  if (!g->grad_host) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "gradient streaming is off (clnet_graph_stream_gradients)");
  if (i < 0 || i >= g->n_params || g->params[i].kind != CLNET_PARAM_TRAINABLE)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "parameter %d is not trainable", i);
  if (g->grad_step[i] != g->step_serial) /* a layer kind whose backward does not stream its parameters */
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "the gradient of %s was not streamed in this step",
                           g->params[i].name);
  return clnet_event_wait_release(&g->grad_event[i]);
}

clnet_status clnet_graph_write_gradients(clnet_graph *g, const float *host) {
  if (!g->ctx) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph is not set up");
  clnet_profile_op(g->ctx, "gradients from host");
  for (int32_t i = 0; i < g->n_params; ++i) {
    param *p = &g->params[i];
    if (p->kind == CLNET_PARAM_TRAINABLE)
      CLNET_TRY(clnet_buf_write_async(g->ctx, &p->grad, 0, (size_t)p->count * 4, host + g->grad_offset[i]));
  }
  clnet_profile_op(g->ctx, NULL);
  return CLNET_SUCCESS;
}

int32_t clnet_graph_gradients_finite(const clnet_graph *g) { return g->grads_finite; }

clnet_status clnet_graph_keep_statistics(clnet_graph *g, int32_t enable) {
  if (!g->ctx) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph is not set up");
  for (int32_t i = 0; enable && i < g->n_params; ++i) {
    param *p = &g->params[i];
    if (p->kind != CLNET_PARAM_STATISTIC || p->shadow.bytes) continue;
    char what[160];
    snprintf(what, sizeof what, "%s (before the step)", p->name);
    CLNET_TRY(clnet_buf_alloc(g->ctx, (size_t)p->count * 4, what, &p->shadow));
  }
  g->keep_stats = enable;
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_restore_statistics(clnet_graph *g) {
  if (!g->keep_stats) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "statistics were not kept (clnet_graph_keep_statistics)");
  clnet_profile_op(g->ctx, "bn statistics restore");
  for (int32_t i = 0; i < g->n_params; ++i)
    if (g->params[i].kind == CLNET_PARAM_STATISTIC)
      CLNET_TRY(clnet_buf_copy(g->ctx, &g->params[i].shadow, 0, &g->params[i].value, 0, (size_t)g->params[i].count * 4));
  clnet_profile_op(g->ctx, NULL);
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_apply_adam(clnet_graph *g, float lr, float beta1, float beta2, float eps) {
  if (!g->ctx) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph is not set up");
  clnet_adam_desc d = {.lr = lr, .beta1 = beta1, .beta2 = beta2, .eps = eps, .t = g->adam_t + 1};
  clnet_profile_op(g->ctx, "adam");
  for (int32_t i = 0; i < g->n_params; ++i) {
    param *p = &g->params[i];
    if (p->kind != CLNET_PARAM_TRAINABLE) continue;
    clnet_status st = clnet_adam_update(g->ctx, &d, p->count, &p->value, &p->grad, &p->m, &p->v);
    if (st != CLNET_SUCCESS) return clnet_wrap_error(st, "Adam update of '%s'", p->name);
  }
  g->adam_t++;
  clnet_profile_op(g->ctx, NULL);
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_evaluate(clnet_graph *g, float *loss_out, int32_t *correct) {
  CLNET_TRY(require_batch(g));
  CLNET_TRY(forward(g, 0));
  CLNET_TRY(loss_enqueue(g));
  return loss_read(g, loss_out, correct);
}

clnet_status clnet_graph_read_logits(clnet_graph *g, float *dst) {
  CLNET_TRY(require_batch(g));
  const tensor *o = &g->tensors[g->output];
  clnet_profile_op(g->ctx, "read logits");
  CLNET_TRY(clnet_buf_read(g->ctx, &o->value, 0, (size_t)tensor_floats(o, g->batch) * 4, dst));
  clnet_profile_op(g->ctx, NULL);
  return CLNET_SUCCESS;
}

int32_t clnet_graph_param_count(const clnet_graph *g) { return g->n_params; }

clnet_status clnet_graph_param_info(const clnet_graph *g, int32_t i, clnet_param_info *info) {
  if (i < 0 || i >= g->n_params) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "no parameter %d", i);
  const param *p = &g->params[i];
  info->name = p->name;
  info->kind = p->kind;
  info->ndim = p->ndim;
  memcpy(info->shape, p->shape, sizeof info->shape);
  info->count = p->count;
  return CLNET_SUCCESS;
}

int32_t clnet_graph_param_find(const clnet_graph *g, const char *name) {
  for (int32_t i = 0; i < g->n_params; ++i)
    if (!strcmp(g->params[i].name, name)) return i;
  return -1;
}

static clnet_status field_buf(clnet_graph *g, int32_t i, clnet_param_field f, clnet_buf **out) {
  if (!g->ctx) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "graph is not set up");
  if (i < 0 || i >= g->n_params) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "no parameter %d", i);
  param *p = &g->params[i];
  if (f != CLNET_FIELD_VALUE && p->kind != CLNET_PARAM_TRAINABLE)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s is a statistic: it has no gradient or Adam state", p->name);
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

static int all_finite(const float *v, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!isfinite(v[i])) return 0;
  return 1;
}

clnet_status clnet_graph_find_nonfinite(clnet_graph *g, const char **layer_name) {
  *layer_name = NULL;
  CLNET_TRY(require_batch(g));
  size_t max_f = 0;
  for (int32_t t = 0; t < g->n_tensors; ++t)
    if ((size_t)tensor_floats(&g->tensors[t], g->batch) > max_f) max_f = (size_t)tensor_floats(&g->tensors[t], g->batch);
  for (int32_t i = 0; i < g->n_params; ++i)
    if ((size_t)g->params[i].count > max_f) max_f = (size_t)g->params[i].count;
  float *h = malloc(max_f * sizeof *h);
  if (!h) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "NaN scan");
  clnet_status st = CLNET_SUCCESS;
  for (int32_t i = 0; i < g->n_layers && !*layer_name; ++i) {
    layer *l = &g->layers[i];
    const tensor *y = &g->tensors[l->out];
    if (y->virt || g->tensors[y->storage].borrowed) continue; /* not stored, or overwritten by backward */
    int64_t n = tensor_floats(y, g->batch);
    if ((st = clnet_buf_read(g->ctx, &y->value, 0, (size_t)n * 4, h)) != CLNET_SUCCESS) break;
    if (!all_finite(h, n)) *layer_name = l->name;
  }
  for (int32_t i = g->n_layers - 1; i >= 0 && !*layer_name && st == CLNET_SUCCESS; --i) {
    layer *l = &g->layers[i];
    for (int32_t j = 0; j < 2 && l->p[j] >= 0 && (l->kind == L_CONV || l->kind == L_DENSE || l->kind == L_BN); ++j) {
      param *p = &g->params[l->p[j]];
      if ((st = clnet_buf_read(g->ctx, &p->grad, 0, (size_t)p->count * 4, h)) != CLNET_SUCCESS) break;
      if (!all_finite(h, p->count)) {
        *layer_name = l->name;
        break;
      }
    }
  }
  free(h);
  return st;
}
