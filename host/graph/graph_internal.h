/* Internal: the graph's data structure, shared by the files of host/graph/ (one per concern):
 *   builder.c      creating a graph, adding layers by kind, parameters, queries
 *   describe.c     the graph as text (model description) and back
 *   fusion.c       the fused BN -> ReLU and BN -> Add -> ReLU tails
 *   memory_plan.c  the memory plan (a pure function over plan_input; testable without a device)
 *   setup.c        planning a graph for a device and allocating it
 *   params.c       parameter initialisation, host access, the Adam update
 *   executor.c     forward, loss, backward, a step
 *   streaming.c    gradients to and from the host during a step (data parallelism)
 *   diagnostics.c  the non-finite scan
 *   layers/<kind>.c the layer kinds (layer_kind.h) */
#ifndef CLNET_GRAPH_INTERNAL_H
#define CLNET_GRAPH_INTERNAL_H

#include "graph/layer_kind.h"
#include "graph/memory_plan.h"
#include "runtime/ctx.h"

#define CLNET_GRAPH_MAX_LAYERS 512
#define CLNET_GRAPH_MAX_TENSORS (CLNET_GRAPH_MAX_LAYERS + 1)
#define CLNET_GRAPH_MAX_PARAMS 1024
_Static_assert(CLNET_PLAN_MAX_INPUTS == CLNET_MAX_LAYER_INPUTS, "the memory plan takes every input of a layer");

/* fusion roles (fusion.c) */
enum { CLNET_FUSE_NONE = 0, CLNET_FUSE_INSIDE, CLNET_FUSE_BN_RELU, CLNET_FUSE_BN_ADD_RELU };

typedef struct g_tensor {
  clnet_tshape s;    /* per image */
  int32_t producer;  /* layer index, -1 for the input */
  int32_t n_readers;
  /* planned (setup.c, memory_plan.c) */
  int32_t storage;   /* tensor whose storage this one uses (itself unless in place) */
  int32_t grad_buf;  /* gradient buffer, -1 if none */
  int32_t virt;      /* never stored: the BN output inside a fused BN -> Add -> ReLU */
  int32_t fwd_buf;   /* a storage root no backward step reads: the gradient buffer holding it, or -1 */
  int32_t borrowed;  /* value is a gradient buffer (fwd_buf), not owned */
  clnet_buf value;
} g_tensor;

typedef struct g_param {
  char name[160];
  clnet_param_kind kind;
  int32_t ndim;
  int64_t shape[4];
  int64_t count;
  clnet_param_init init;
  int64_t fan_in, fan_out;
  int32_t layer;
  int64_t arena_offset; /* trainable: its first float in the trainable arenas, -1 otherwise */
  int64_t stat_offset;  /* statistic: its first float in the statistics arena, -1 otherwise */
  clnet_buf value, grad, m, v; /* trainable: views of the arenas */
} g_param;

typedef struct g_layer {
  clnet_layer l; /* kind, name, inputs, output, attributes, cfg */
  char attrs_text[512]; /* the attributes in canonical text (clnet_attrs_format) */
  int32_t p[CLNET_MAX_LAYER_PARAMS], n_p;
  clnet_aux_decl aux_decl[CLNET_MAX_LAYER_AUX];
  int32_t n_aux;
  clnet_buf aux[CLNET_MAX_LAYER_AUX];
  /* planned */
  int32_t fuse;      /* CLNET_FUSE_*: INSIDE (runs inside a later fused ReLU), BN_RELU, BN_ADD_RELU (a ReLU) */
  int32_t fused_bn;  /* BN_*: the BN layer */
  int32_t ein[CLNET_MAX_LAYER_INPUTS], en_in; /* inputs as executed (a fused ReLU: the BN's input, the residual) */
  int32_t first_writer[CLNET_MAX_LAYER_INPUTS]; /* this backward writes ein[j]'s gradient first */
  int32_t tmp_buf[CLNET_MAX_LAYER_INPUTS];      /* otherwise the buffer it writes into before accumulating, -1 */
  int32_t in_place;  /* the output shares its input's storage */
} g_layer;

struct clnet_graph {
  g_layer layers[CLNET_GRAPH_MAX_LAYERS];
  int32_t n_layers;
  g_tensor tensors[CLNET_GRAPH_MAX_TENSORS];
  int32_t n_tensors;
  g_param params[CLNET_GRAPH_MAX_PARAMS];
  int32_t n_params;
  int32_t loss_layer; /* the loss layer, -1 until set */
  uint64_t seed;      /* clnet_graph_init_params' seed (dropout masks) */
  /* bound state */
  clnet_ctx *ctx;
  int32_t max_batch, batch;
  clnet_buf labels, result;
  clnet_buf nonfinite;  /* int32 flag: some parameter gradient of the last step is NaN/Inf */
  int32_t grads_finite; /* read back with the loss */
  int32_t keep_stats;   /* shadow the BN statistics before each training forward */
  /* The trainable parameters' values, gradients and Adam moments, each field one buffer (the
   * arenas; params.c): every parameter is a view at arena_offset, aligned, the gaps zero, so the
   * optimizer, the non-finite check and a statistics backup are one launch each. */
  clnet_buf arena_value, arena_grad, arena_m, arena_v;
  int64_t arena_floats;
  int64_t arena_decay_floats; /* the first part of the arenas: parameters of >= 2 dimensions */
  /* the BN statistics likewise in one arena (every statistic a view), its copy before the last
   * step (keep_stats) */
  clnet_buf stats, stats_shadow;
  int64_t stats_floats;
  /* exponential moving average of the trainable values and the statistics (clnet_graph_ema_*) */
  clnet_buf ema_value, ema_stats;
  float ema_decay;
  int32_t ema_on;
  clnet_buf grad_bufs[CLNET_PLAN_MAX_BUFS];
  size_t grad_buf_floats[CLNET_PLAN_MAX_BUFS];
  int32_t n_grad_bufs;
  int64_t adam_t;
  uint64_t step_serial; /* counts step_start calls */
  /* gradient streaming (streaming.c): during the backward pass each trainable gradient is copied,
   * without waiting, into grad_host + grad_offset[i] as soon as its layer's backward has been
   * enqueued; grad_event[i] completes when the copy has landed. */
  float *grad_host;
  int64_t grad_offset[CLNET_GRAPH_MAX_PARAMS]; /* set as parameters are added; -1 unless trainable */
  int64_t trainable_floats;
  cl_event grad_event[CLNET_GRAPH_MAX_PARAMS];
  uint64_t grad_step[CLNET_GRAPH_MAX_PARAMS]; /* step_serial of the step whose copy was last enqueued */
  int32_t step_started; /* clnet_graph_step_start without its step_finish yet */
};

static inline int64_t g_tensor_floats(const g_tensor *t, int32_t n) { return (int64_t)n * clnet_tshape_size(&t->s); }

/* The layer's input shapes and its output shape, as the kind functions take them. */
void clnet_graph_layer_shapes(const clnet_graph *g, const g_layer *l, clnet_tshape *in);

/* fusion.c */
int32_t clnet_graph_fusion_wanted(const clnet_ctx *ctx); /* OpenCL device and not CLNET_NO_FUSION */
int32_t clnet_graph_fusion_at(const clnet_graph *g, int32_t i, int32_t *bn, int32_t *bn_k);
void clnet_graph_plan_fusion(clnet_graph *g, int32_t enable);
clnet_status clnet_graph_fused_forward(clnet_graph *g, g_layer *l, int32_t training);
clnet_status clnet_graph_fused_backward(clnet_graph *g, g_layer *l, clnet_buf *dx0, clnet_buf *dres);
extern const clnet_layer_kind clnet_layer_kind_batchnorm, clnet_layer_kind_relu, clnet_layer_kind_add;

/* setup.c: the plan of every buffer for batch n (also before setup, for clnet_graph_memory_bytes) */
void clnet_graph_plan(clnet_graph *g, int32_t batch, size_t *buf_floats, int32_t *n_bufs);
void clnet_graph_release(clnet_graph *g);

/* params.c: the trainable arenas' layout (floats, each parameter aligned to `align` bytes):
 * parameters of two or more dimensions first (the weight-decayed ones), then the others, each
 * group in creation order; *decay_floats (may be NULL) ends the first group */
int64_t clnet_graph_layout_arena(clnet_graph *g, size_t align, int64_t *decay_floats);
/* the statistics arena's layout (floats), likewise aligned */
int64_t clnet_graph_layout_stats(clnet_graph *g, size_t align);

/* executor.c */
clnet_buf *clnet_graph_grad_of(clnet_graph *g, int32_t t);
void clnet_graph_profile_layer(clnet_graph *g, const g_layer *l, const char *pass);

/* streaming.c */
void clnet_graph_drain_gradient_copies(clnet_graph *g);
clnet_status clnet_graph_stream_layer_gradients(clnet_graph *g, const g_layer *l);

#endif
