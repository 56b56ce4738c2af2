/* Layer graph: layers, their tensors and parameters; shape inference; a
 * memory plan; forward / backward / Adam update on one backend.
 *
 * A graph is first described (clnet_graph_create + clnet_graph_add_*), then
 * bound to a backend with clnet_graph_setup, which allocates everything a
 * training step of up to `max_batch` images needs. Within a step nothing
 * returns to the host but the loss and the correct-count. Tensors are NHWC;
 * per-image shapes are (H, W, C). */
#ifndef CLNET_GRAPH_H
#define CLNET_GRAPH_H

#include "clnet/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clnet_graph clnet_graph;

typedef enum clnet_param_kind {
  CLNET_PARAM_TRAINABLE = 0, /* updated by the optimizer */
  CLNET_PARAM_STATISTIC = 1, /* BN moving mean / variance: updated by the forward pass */
  CLNET_PARAM_FIXED = 2,     /* stored, never updated (BN's gamma and beta without affine) */
} clnet_param_kind;

typedef enum clnet_param_field {
  CLNET_FIELD_VALUE = 0,
  CLNET_FIELD_GRAD = 1,
  CLNET_FIELD_ADAM_M = 2,
  CLNET_FIELD_ADAM_V = 3,
} clnet_param_field;

typedef struct clnet_param_info {
  const char *name; /* "layer1.0.conv1.kernel" */
  clnet_param_kind kind;
  int32_t ndim;
  int64_t shape[4];
  int64_t count;
} clnet_param_info;

/* --- description --- */
/* The most inputs a layer takes (a concatenation of DenseNet-201's 49 feature maps fits). */
#define CLNET_LAYER_MAX_INPUTS 64

/* A graph whose input is (H, W, C) images. Tensor ids: 0 is the input; every layer adds one
 * output tensor, whose id it returns. */
clnet_status clnet_graph_create(int32_t in_h, int32_t in_w, int32_t in_c, clnet_graph **out);
void clnet_graph_free(clnet_graph *g);

/* Adds a layer of kind `kind` ("conv", "batchnorm", ...: `clnet layers` lists every kind with its
 * attributes, docs/LAYERS.md describes them) reading the tensors inputs[0..n_inputs-1], with its
 * attributes as text, "name=value" words separated by spaces, integer lists comma-separated:
 *   clnet_graph_add_layer(g, "conv", "stem.conv", (int32_t[]){0}, 1, "filters=64 kernel=3 padding=same", &t);
 * Attributes not given take the kind's default; a missing required one, an unknown name or a bad
 * value is CLNET_ERR_INVALID_ARGUMENT naming the layer, the attribute and the rule. A loss kind
 * (softmax_cross_entropy) becomes the graph's output: it must be the last layer and takes the
 * logits, a (1, 1, K) tensor, K = the number of classes.
 *   name  unique in the graph; its parameters are "<name>.<param>" ("stem.conv.kernel") */
clnet_status clnet_graph_add_layer(clnet_graph *g, const char *kind, const char *name, const int32_t *inputs,
                                   int32_t n_inputs, const char *attrs, int32_t *out);

/* Shorthands for the seed's layers (the same as add_layer with these attributes). */
clnet_status clnet_graph_add_conv(clnet_graph *g, const char *name, int32_t in, int32_t filters, int32_t k,
                                  int32_t stride, clnet_padding padding, int32_t *out);
clnet_status clnet_graph_add_batchnorm(clnet_graph *g, const char *name, int32_t in, int32_t *out);
/* In place when the graph allows it (the input has no other reader and its producer's backward
 * does not read it), else into a tensor of its own. */
clnet_status clnet_graph_add_relu(clnet_graph *g, const char *name, int32_t in, int32_t *out);
clnet_status clnet_graph_add_maxpool(clnet_graph *g, const char *name, int32_t in, int32_t k, int32_t stride,
                                     clnet_padding padding, int32_t *out);
clnet_status clnet_graph_add_add(clnet_graph *g, const char *name, int32_t a, int32_t b, int32_t *out);
clnet_status clnet_graph_add_global_avgpool(clnet_graph *g, const char *name, int32_t in, int32_t *out);
clnet_status clnet_graph_add_dense(clnet_graph *g, const char *name, int32_t in, int32_t units, int32_t *out);
/* Marks `logits` (a (1, 1, K) tensor) as the output, trained with softmax cross-entropy: adds the
 * loss layer "loss" (kind softmax_cross_entropy, no label smoothing). */
clnet_status clnet_graph_set_output(clnet_graph *g, int32_t logits);

int32_t clnet_graph_layer_count(const clnet_graph *g);
int32_t clnet_graph_tensor_count(const clnet_graph *g);

/* One layer as built: its kind, its attributes in canonical text (every attribute, defaults
 * included), its tensors and the per-image shapes (H, W, C) of its first input and its output.
 * The strings live as long as the graph. */
typedef struct clnet_layer_info {
  const char *name;
  const char *kind;   /* "conv" */
  const char *attrs;  /* "filters=64 kernel=3 stride=1 padding=same ..." */
  int32_t n_inputs;
  int32_t inputs[CLNET_LAYER_MAX_INPUTS]; /* tensor ids */
  int32_t output;     /* tensor id */
  int32_t in_h, in_w, in_c; /* first input */
  int32_t out_h, out_w, out_c;
  int32_t is_loss;    /* the graph's loss layer */
  /* once set up, how a step runs it: CLNET_RUNS_ALONE, _INSIDE (inside a fused tail, at its
   * ReLU), _BN_RELU or _BN_ADD_RELU (a ReLU that runs the fused tail) */
  int32_t runs_as;
} clnet_layer_info;
enum { CLNET_RUNS_ALONE = 0, CLNET_RUNS_INSIDE = 1, CLNET_RUNS_BN_RELU = 2, CLNET_RUNS_BN_ADD_RELU = 3 };

clnet_status clnet_graph_layer_info(const clnet_graph *g, int32_t i, clnet_layer_info *info);
/* The per-image shape of tensor t. */
clnet_status clnet_graph_tensor_shape(const clnet_graph *g, int32_t t, int32_t *h, int32_t *w, int32_t *c);

/* The graph's structure as text (JSON: input shape; per layer kind, name, input tensors and
 * attributes; docs/CHECKPOINTS.md), and a graph built from such text. *text is malloc'd: free()
 * it. Reading checks everything the builder checks; a malformed description is CLNET_ERR_FORMAT
 * naming the layer and the problem. */
clnet_status clnet_graph_describe(const clnet_graph *g, char **text);
clnet_status clnet_graph_from_description(const char *text, clnet_graph **out);

/* The layer kinds this build knows, for listings (`clnet layers`). */
typedef struct clnet_layer_kind_info {
  const char *name, *doc;
  int32_t min_inputs, max_inputs;
  int32_t n_attrs;
  const char *attr_name[12], *attr_default[12], *attr_doc[12]; /* default NULL: required */
} clnet_layer_kind_info;
int32_t clnet_layer_kinds(void);
clnet_status clnet_layer_kind_describe(int32_t i, clnet_layer_kind_info *info);

/* The fused op an OpenCL device runs at layer i (clnet_batchnorm_act_*, docs/DESIGN.md "Fused
 * BasicBlock tails"): BN_RELU at a ReLU whose input is a BN output read by nothing else;
 * BN_ADD_RELU at a ReLU whose input is an Add output read by nothing else, one of whose inputs
 * is a BN output read by nothing else; NONE elsewhere (the BN and Add layers of a pattern
 * included: the fused op runs at the ReLU's place). The pattern is a property of the graph:
 * reported whether or not fusion is on (CLNET_NO_FUSION, the reference backend).
 *   out       the pattern
 *   bn_layer  NULL, or the index of the pattern's BN layer (-1 for NONE) */
typedef enum clnet_layer_fusion {
  CLNET_FUSION_NONE = 0,
  CLNET_FUSION_BN_RELU = 1,
  CLNET_FUSION_BN_ADD_RELU = 2,
} clnet_layer_fusion;
clnet_status clnet_graph_layer_fusion(const clnet_graph *g, int32_t i, clnet_layer_fusion *out, int32_t *bn_layer);

/* The context the graph was set up on (NULL before setup). */
clnet_ctx *clnet_graph_context(const clnet_graph *g);
/* Largest batch the graph was set up for (0 before setup). */
int32_t clnet_graph_max_batch(const clnet_graph *g);
int32_t clnet_graph_classes(const clnet_graph *g); /* K of the loss layer's logits, 0 without one */
int64_t clnet_graph_param_total(const clnet_graph *g, clnet_param_kind kind); /* number of floats */
/* Forward multiply-accumulates per image (convolutions and dense). */
double clnet_graph_macs_per_image(const clnet_graph *g);

/* Device bytes a training step at `batch` needs (activations, planned
 * gradients, parameters with Adam state, scratch). Valid before setup. */
uint64_t clnet_graph_memory_bytes(const clnet_graph *g, int32_t batch);

/* --- execution --- */
/* Allocates on ctx for batches of up to max_batch and zeroes Adam state. A graph without a loss
 * layer sets up for forward passes only (clnet_graph_set_input, clnet_graph_forward). */
clnet_status clnet_graph_setup(clnet_graph *g, clnet_ctx *ctx, int32_t max_batch);
/* Keras initialisation: Glorot-uniform kernels, zero biases, gamma 1, beta 0,
 * moving mean 0, moving variance 1; Adam state zero, step 0. */
clnet_status clnet_graph_init_params(clnet_graph *g, uint64_t seed);

/* Uploads a batch: images (n, H, W, C), labels (n) in [0, classes). */
clnet_status clnet_graph_set_batch(clnet_graph *g, const float *images, const int32_t *labels, int32_t n);
/* Training-mode forward, loss, backward: gradients of every trainable
 * parameter (moving statistics updated). Reads back loss and correct-count. */
clnet_status clnet_graph_forward_backward(clnet_graph *g, float *loss, int32_t *correct);
/* forward_backward in two halves, for driving several devices from one thread:
 * step_start enqueues forward, loss and backward and returns without waiting;
 * step_finish waits, reads back loss and correct-count and the finite flag. */
clnet_status clnet_graph_step_start(clnet_graph *g);
clnet_status clnet_graph_step_finish(clnet_graph *g, float *loss, int32_t *correct);

/* Gradient streaming (data parallelism). With a host mirror set, every step_start
 * also enqueues a copy of each trainable gradient into `host` as soon as its
 * layer's backward has been enqueued, so the host can reduce early gradients
 * while the device computes later ones.
 *   host: clnet_graph_param_total(g, CLNET_PARAM_TRAINABLE) floats, trainable
 *         parameters in parameter order (clnet_graph_gradient_offset); NULL: off.
 *         It must stay valid while streaming is on. */
clnet_status clnet_graph_stream_gradients(clnet_graph *g, float *host);
/* Offset of trainable parameter i in the host layout, -1 if i is not trainable. */
int64_t clnet_graph_gradient_offset(const clnet_graph *g, int32_t i);
/* The trainable parameters in the order the backward pass produces their gradients
 * (params: room for clnet_graph_param_count entries); returns how many. */
int32_t clnet_graph_gradient_order(const clnet_graph *g, int32_t *params);
/* Waits until parameter i's gradient of the current step is in the host mirror. */
clnet_status clnet_graph_wait_gradient(clnet_graph *g, int32_t i);
/* Enqueues copies of every trainable gradient from `host` (same layout) into the
 * device without waiting; `host` must stay unchanged until the next step_finish
 * or apply_adam has returned (the queue is in order). */
clnet_status clnet_graph_write_gradients(clnet_graph *g, const float *host);

/* After forward_backward: 1 when every parameter gradient is finite (the
 * step's one extra read-back is this flag). */
int32_t clnet_graph_gradients_finite(const clnet_graph *g);
/* With `enable`, every forward_backward first copies the BN moving statistics
 * aside, so that clnet_graph_restore_statistics can undo a step's updates
 * (used to skip a step whose loss or gradients are not finite). */
clnet_status clnet_graph_keep_statistics(clnet_graph *g, int32_t enable);
clnet_status clnet_graph_restore_statistics(clnet_graph *g);
/* One Adam step (step counter + 1) over every trainable parameter. */
clnet_status clnet_graph_apply_adam(clnet_graph *g, float lr, float beta1, float beta2, float eps);
/* One optimizer step (step counter + 1) over every trainable parameter, one launch
 * (docs/DESIGN.md, "Optimizers"). Weight decay, where the optimizer has it, applies to
 * parameters of two or more dimensions (kernels, dense weights) and not to BN parameters and
 * biases unless decay_all. The moments live in the parameters' ADAM_M / ADAM_V fields (SGD: its
 * momentum buffer in ADAM_M). */
typedef enum clnet_optimizer_kind {
  CLNET_OPTIMIZER_ADAM = 0,  /* Keras' Adam (SPEC): lr, beta1, beta2, eps; no weight decay */
  CLNET_OPTIMIZER_ADAMW = 1, /* PyTorch's AdamW: lr, beta1, beta2, eps, decoupled weight_decay */
  CLNET_OPTIMIZER_SGD = 2,   /* PyTorch's SGD: lr, momentum, nesterov, decoupled weight_decay */
} clnet_optimizer_kind;
typedef struct clnet_optimizer {
  clnet_optimizer_kind kind;
  float lr;
  float beta1, beta2, eps; /* Adam, AdamW */
  float momentum;          /* SGD */
  int32_t nesterov;        /* SGD */
  float weight_decay;      /* AdamW, SGD: decoupled, p -= lr*weight_decay*p */
  int32_t decay_all;       /* 1: decay BN parameters and biases too */
} clnet_optimizer;
clnet_status clnet_graph_apply_optimizer(clnet_graph *g, const clnet_optimizer *o);

/* The exponential moving average of the weights (the trainable values and the BN statistics):
 * enable starts it at the current values; update, after each optimizer step, moves it by
 * avg = decay*avg + (1 - decay)*weights (one launch per arena); swap exchanges the average with the
 * model's weights (twice: back), so that evaluation, saving or reading parameters see the average. */
clnet_status clnet_graph_ema_enable(clnet_graph *g, float decay);
clnet_status clnet_graph_ema_update(clnet_graph *g);
clnet_status clnet_graph_ema_swap(clnet_graph *g);
int32_t clnet_graph_ema_enabled(const clnet_graph *g);

/* Forward passes without labels (any graph; one without a loss layer runs only these): uploads
 * images (n, H, W, C); runs the forward pass (training: batch statistics for BN, dropout; else
 * inference), the loss layer left out; reads tensor t of the last forward, (n, H, W, C) floats.
 * Tensors read by no layer (a graph's outputs) and the input keep their values; another tensor's
 * storage may have been reused by then (CLNET_ERR_INVALID_ARGUMENT). */
clnet_status clnet_graph_set_input(clnet_graph *g, const float *images, int32_t n);
clnet_status clnet_graph_forward(clnet_graph *g, int32_t training);
clnet_status clnet_graph_read_tensor(clnet_graph *g, int32_t t, float *dst);
/* Inference-mode forward and loss on the current batch. */
clnet_status clnet_graph_evaluate(clnet_graph *g, float *loss, int32_t *correct);
/* For benchmarks: enqueues layer i alone, forward (training mode) or backward, on the buffers
 * planned for a step of the current batch (clnet_graph_set_batch; run a step first so that they
 * hold a step's values): as a step executes it — a fused tail at its ReLU, nothing for a layer
 * run inside one, the loss layer in the forward only (its backward does nothing). The profile
 * labels its commands as a step does. */
clnet_status clnet_graph_layer_run(clnet_graph *g, int32_t i, int32_t backward);
/* What layer i costs per image: forward multiply-adds, and the bytes its forward and backward
 * read and write at the least (each tensor once: inputs and output forward; dy, the inputs'
 * gradients and what the backward reads back, backward). */
clnet_status clnet_graph_layer_cost(const clnet_graph *g, int32_t i, double *macs, double *fwd_bytes,
                                    double *bwd_bytes);
/* Logits of the last forward: (n, classes) floats. */
clnet_status clnet_graph_read_logits(clnet_graph *g, float *dst);

int32_t clnet_graph_param_count(const clnet_graph *g);
clnet_status clnet_graph_param_info(const clnet_graph *g, int32_t i, clnet_param_info *info);
/* Index of the parameter called `name`, or -1. */
int32_t clnet_graph_param_find(const clnet_graph *g, const char *name);
/* Host copies of a parameter's fields (count floats). GRAD/ADAM fields of
 * statistics do not exist (INVALID_ARGUMENT). */
clnet_status clnet_graph_param_read(clnet_graph *g, int32_t i, clnet_param_field field, float *dst);
clnet_status clnet_graph_param_write(clnet_graph *g, int32_t i, clnet_param_field field, const float *src);
int64_t clnet_graph_adam_step(const clnet_graph *g);
void clnet_graph_set_adam_step(clnet_graph *g, int64_t t);
/* Name of the layer whose output or parameter gradients hold the first
 * non-finite value after a forward_backward, or NULL when all are finite (reads back). */
clnet_status clnet_graph_find_nonfinite(clnet_graph *g, const char **layer);

/* Sets attributes of every layer of kind `kind` before setup ("momentum=0.9" on "batchnorm"; the
 * loss's "label_smoothing=0.1"): the words given replace those attributes and keep the others; what
 * would change a layer's output shape or parameters is refused. *changed (may be NULL): the layers set. */
clnet_status clnet_graph_set_kind_attrs(clnet_graph *g, const char *kind, const char *attrs, int32_t *changed);

/* --- models: the zoo (host/models/, built from this public API only) --- */
typedef struct clnet_model_config {
  int32_t in_h, in_w, in_c; /* input image */
  int32_t classes;
  int32_t width;            /* base channels (0: the model's default; ResNets: 64, the seed's) */
} clnet_model_config;

/* Builds zoo model `name`: "resnet18", "resnet34" (the seed's; clnet_resnet_build), "resnet50"
 * (bottleneck blocks), "vgg11" (with BN), "mobilenet_v2", "lenet". An input too small for the
 * model's downsampling is an error naming the layer where the size runs out. */
clnet_status clnet_model_build(const char *name, const clnet_model_config *cfg, clnet_graph **out);
/* The zoo: name, one line about it, and its default width, for listings. */
int32_t clnet_model_count(void);
const char *clnet_model_name(int32_t i);
const char *clnet_model_doc(int32_t i);
int32_t clnet_model_default_width(int32_t i);

/* --- the seed's ResNet --- */
typedef struct clnet_resnet_config {
  int32_t depth;             /* 18 ([2,2,2,2]) or 34 ([3,4,6,3]) BasicBlocks */
  int32_t width;             /* base channels: 64 in the seed */
  int32_t in_h, in_w, in_c;  /* input image */
  int32_t classes;
} clnet_resnet_config;

/* The seed's ResNet (SPEC): valid 3x3 stem conv, BN, ReLU, 2x2 stride-1 same
 * max-pool, four stages of BasicBlocks (width x 1, 2, 4, 8; stride 2 from the
 * second stage, 1x1 stride-2 conv shortcut without BN), global average pool,
 * dense to logits. */
clnet_status clnet_resnet_build(const clnet_resnet_config *cfg, clnet_graph **out);

#ifdef __cplusplus
}
#endif
#endif
