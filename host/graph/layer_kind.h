/* Internal: a layer kind is one descriptor — everything the graph needs to know about a kind of
 * layer, in one table of facts and functions. The graph core (builder, fusion, memory plan,
 * executor, gradient streaming, diagnostics) and the tools above it (bench, tune, the model
 * description in checkpoints) iterate over descriptors and never switch on the kind.
 *
 * Adding a kind touches (docs/DESIGN.md, "Adding a layer kind"):
 *   cl/<op>.cl                     its kernels (if it needs new ones)
 *   host/ops/ref/<op>_ref.c        their plain-C reference (one CLNET_REF_DECLARE line in ref.h)
 *   host/graph/layers/<kind>.c     its descriptor, defined with CLNET_LAYER_KIND (below)
 *   host/check/check_<op>.c        its cross-check and gradient-check cases
 * CMake finds the descriptor file and registers it (cmake/layer_registry.cmake: the file
 * host/graph/layers/<kind>.c must define clnet_layer_kind_<kind>); CLNET_LAYER_KIND takes every
 * entry of the table positionally, so a missing entry does not compile.
 *
 * Shapes are per image, NHWC: (H, W, C); a vector is (1, 1, C). */
#ifndef CLNET_GRAPH_LAYER_KIND_H
#define CLNET_GRAPH_LAYER_KIND_H

#include <stddef.h>
#include <stdint.h>

#include "clnet/graph.h"
#include "core/error.h"

#define CLNET_MAX_LAYER_INPUTS CLNET_LAYER_MAX_INPUTS
#define CLNET_MAX_LAYER_PARAMS 4
#define CLNET_MAX_LAYER_AUX 2
#define CLNET_MAX_ATTRS 12
#define CLNET_ATTR_MAX_INTS 8
#define CLNET_LAYER_CFG_BYTES 256

typedef struct clnet_tshape {
  int32_t h, w, c;
} clnet_tshape;

static inline int64_t clnet_tshape_size(const clnet_tshape *s) { return (int64_t)s->h * s->w * s->c; }

/* ---- attributes: "name=v" or "name=v1,v2,..." words, in the kind's schema ---- */
typedef enum clnet_attr_type {
  CLNET_ATTR_INT = 0,   /* one integer */
  CLNET_ATTR_INTS = 1,  /* min_count..max_count integers */
  CLNET_ATTR_FLOAT = 2, /* one number */
  CLNET_ATTR_ENUM = 3,  /* one word of `choices`, stored as its index */
} clnet_attr_type;

typedef struct clnet_attr_spec {
  const char *name;
  clnet_attr_type type;
  int32_t min_count, max_count; /* INTS only */
  const char *def;              /* default in the attribute syntax ("1", "0,0,0,0"); NULL: required */
  const char *doc;              /* one line, for `clnet layers` */
  const char *choices;          /* ENUM only: "same|valid|explicit"; the value is the index */
} clnet_attr_spec;

typedef struct clnet_attr_value {
  int32_t n;                          /* integers given (INT: 1) */
  int64_t i[CLNET_ATTR_MAX_INTS];
  double f;
} clnet_attr_value;

/* ---- one layer as the kind sees it ---- */
typedef struct clnet_layer_kind clnet_layer_kind;

typedef struct clnet_layer {
  const clnet_layer_kind *kind;
  char name[96];
  int32_t in[CLNET_MAX_LAYER_INPUTS], n_in, out; /* tensor ids */
  clnet_attr_value attrs[CLNET_MAX_ATTRS];       /* in the order of kind->attrs */
  /* the kind's parsed configuration (filled by infer; e.g. a conv desc without the batch) */
  _Alignas(8) unsigned char cfg[CLNET_LAYER_CFG_BYTES];
} clnet_layer;

/* The integer(s) / number of attribute `i` of l. */
static inline int64_t clnet_attr_int(const clnet_layer *l, int32_t i) { return l->attrs[i].i[0]; }
static inline double clnet_attr_float(const clnet_layer *l, int32_t i) { return l->attrs[i].f; }

/* ---- what a kind declares ---- */
typedef enum clnet_param_init {
  CLNET_INIT_ZEROS = 0,
  CLNET_INIT_ONES = 1,
  CLNET_INIT_GLOROT_UNIFORM = 2, /* U(-l, l), l = sqrt(6 / (fan_in + fan_out)) (Keras' default) */
} clnet_param_init;

typedef struct clnet_param_decl {
  const char *suffix;    /* the parameter is "<layer>.<suffix>" */
  clnet_param_kind kind; /* trainable, statistic or fixed */
  int32_t ndim;
  int64_t shape[4];
  clnet_param_init init;
  int64_t fan_in, fan_out;
} clnet_param_decl;

/* An auxiliary buffer a layer keeps between its forward and backward (BN's saved mean, max-pool's
 * argmax): per_image bytes for each image of the batch plus fixed bytes. */
typedef struct clnet_aux_decl {
  const char *what;
  uint64_t per_image, fixed;
} clnet_aux_decl;

/* Facts (flags). */
enum {
  /* the output may share the input's storage (the executor decides per graph: only when the
   * input has no other reader and its producer's backward does not read it) */
  CLNET_KIND_IN_PLACE = 1u << 0,
  /* the backward reads the layer's inputs / its output: those activations are kept for it */
  CLNET_KIND_BWD_READS_INPUTS = 1u << 1,
  CLNET_KIND_BWD_READS_OUTPUT = 1u << 2,
  /* the backward can add into an input's gradient itself (io->dx_accumulate), so no temporary is
   * planned when another layer wrote that gradient first */
  CLNET_KIND_ACCUMULATES_DX = 1u << 3,
  /* a loss: the last layer, fed the labels; its forward writes its input's gradient and the
   * [loss, correct] result (in training and evaluation); it has no backward step */
  CLNET_KIND_LOSS = 1u << 4,
  /* the output's storage is the input's, always (a view: flatten); implies IN_PLACE */
  CLNET_KIND_VIEW = 1u << 5,
  /* the backward cannot skip its input's gradient (BN): one is planned even for the graph input */
  CLNET_KIND_NEEDS_DX = 1u << 6,
};

/* What forward and backward get. Buffers are the layer's as planned for this step. */
typedef struct clnet_layer_io {
  clnet_ctx *ctx;
  int32_t n;                                    /* images in the batch */
  int32_t training;                             /* forward: training mode (batch statistics, dropout) */
  const clnet_tshape *xs[CLNET_MAX_LAYER_INPUTS], *ys;
  const clnet_buf *x[CLNET_MAX_LAYER_INPUTS];   /* (n, H, W, C) each */
  clnet_buf *y;                                 /* (n, H, W, C) */
  clnet_buf *p[CLNET_MAX_LAYER_PARAMS];         /* parameter values, in declaration order */
  clnet_buf *dp[CLNET_MAX_LAYER_PARAMS];        /* their gradients (backward; NULL for statistics) */
  clnet_buf *aux[CLNET_MAX_LAYER_AUX];
  const clnet_buf *dy;                          /* backward: dL/dy */
  clnet_buf *dx[CLNET_MAX_LAYER_INPUTS];        /* backward: where dL/dx_j goes; NULL: not needed */
  int32_t dx_accumulate[CLNET_MAX_LAYER_INPUTS]; /* ACCUMULATES_DX kinds: add into dx_j, don't overwrite */
  const clnet_buf *labels;                      /* loss: (n) int32 */
  clnet_buf *dlogits;                           /* loss: its input's gradient */
  clnet_buf *result;                            /* loss: [loss, correct] floats */
  uint64_t seed, step;                          /* the graph's seed and its optimizer step count (dropout) */
  /* names the pass that follows for profiling ("bwd-data"); the core names fwd/eval/bwd itself */
  void (*profile_pass)(const struct clnet_layer_io *io, const char *pass);
  const void *profile_user;
} clnet_layer_io;

struct clnet_layer_kind {
  const char *name; /* "conv": the serialisation name, in descriptions and checkpoints */
  const char *doc;  /* one line, for `clnet layers` */
  const clnet_attr_spec *attrs;
  int32_t n_attrs;
  int32_t min_inputs, max_inputs;
  uint32_t flags;
  /* Validates the attributes against the input shapes, fills l->cfg and the output shape.
   * Errors name the layer (l->name), the attribute and the rule. */
  clnet_status (*infer)(clnet_layer *l, const clnet_tshape *in, clnet_tshape *out);
  /* Declares the parameters (at most CLNET_MAX_LAYER_PARAMS) into p; returns how many. */
  int32_t (*params)(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, clnet_param_decl *p);
  /* Declares the auxiliary buffers into a; returns how many. */
  int32_t (*aux)(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, clnet_aux_decl *a);
  /* Bytes of the context's scratch buffer forward or backward uses at batch n on an OpenCL device
   * (an upper bound; the memory plan counts the largest of all layers). */
  uint64_t (*scratch)(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, int32_t n);
  clnet_status (*forward)(const clnet_layer *l, clnet_layer_io *io);
  clnet_status (*backward)(const clnet_layer *l, clnet_layer_io *io);
  /* Forward multiply-accumulates per image (0 for layers that do none). */
  double (*macs)(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out);
  /* The profile label of `pass` ("fwd", "eval", "bwd"), made of the kind and the shapes, not the
   * layer's name, so that layers of one shape add up: "conv2d 3x3/2 fwd 30x30x64->15x15x128". */
  void (*label)(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, const char *pass,
                char *dst, size_t cap);
};

/* Defines the descriptor clnet_layer_kind_<id>; every entry is required (a missing one is a
 * compile error: the macro takes exactly these arguments). Use the clnet_layer_no_* helpers below
 * for a kind without parameters, auxiliary buffers, scratch or multiply-adds. */
#define CLNET_LAYER_KIND(id, name_, doc_, attrs_, min_in, max_in, flags_, infer_, params_, aux_, scratch_, \
                         forward_, backward_, macs_, label_)                                               \
  const clnet_layer_kind clnet_layer_kind_##id = {                                                       \
      .name = name_, .doc = doc_, .attrs = attrs_, .n_attrs = (int32_t)(sizeof attrs_ / sizeof attrs_[0]) - 1, \
      .min_inputs = min_in, .max_inputs = max_in, .flags = flags_, .infer = infer_, .params = params_,      \
      .aux = aux_, .scratch = scratch_, .forward = forward_, .backward = backward_, .macs = macs_,          \
      .label = label_}

/* Every attribute table ends with CLNET_ATTR_END; a kind without attributes passes clnet_no_attrs. */
#define CLNET_ATTR_END {NULL, CLNET_ATTR_INT, 0, 0, NULL, NULL, NULL}
extern const clnet_attr_spec clnet_no_attrs[1];

int32_t clnet_layer_no_params(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out,
                              clnet_param_decl *p);
int32_t clnet_layer_no_aux(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, clnet_aux_decl *a);
uint64_t clnet_layer_no_scratch(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, int32_t n);
double clnet_layer_no_macs(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out);
/* A backward for kinds that have none (losses). */
clnet_status clnet_layer_no_backward(const clnet_layer *l, clnet_layer_io *io);

/* ---- the registry (host/graph/registry.c over the generated table) ---- */
int32_t clnet_layer_kind_count(void);
const clnet_layer_kind *clnet_layer_kind_at(int32_t i);
const clnet_layer_kind *clnet_layer_kind_find(const char *name); /* NULL if none */

/* ---- attribute text (host/graph/attrs.c) ---- */
/* Parses "a=1 b=2,3 c=0.5" against kind's schema into l->attrs (defaults filled in). Errors name
 * the layer, the attribute and what is wrong. */
clnet_status clnet_attrs_parse(const clnet_layer_kind *kind, const char *layer_name, const char *text,
                               clnet_attr_value *out);
/* The canonical text of the attributes (every attribute, schema order, floats round-tripping). */
void clnet_attrs_format(const clnet_layer_kind *kind, const clnet_attr_value *v, char *dst, size_t cap);

/* Helpers for infer functions: an error naming the layer. */
clnet_status clnet_layer_error(const clnet_layer *l, const char *fmt, ...) CLNET_PRINTF(2, 3);

#endif
