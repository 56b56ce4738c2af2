/* Internal: the ONNX part (include/clnet/onnx.h), shared by its files, one per concern:
 *   model.c        reading a file: the protobuf, its checks, the value table and the node order
 *   tensor.c       TensorProto <-> host arrays (constants, initializers, test data)
 *   import.c       the conversion driver: values, layouts, attributes, emitting layers, weights
 *   import_ops.c   the op table: one mapping entry per ONNX op type
 *   export.c       a set-up graph as an ONNX model, one entry per layer kind
 *   conformance.c  ONNX's backend test cases (clnet onnx-test)
 * The protobuf structs are the C that protoc-c generates from /usr/include/onnx/onnx.proto at
 * build time (CMakeLists.txt). */
#ifndef CLNET_ONNX_INTERNAL_H
#define CLNET_ONNX_INTERNAL_H

#include <stdint.h>

#include "clnet/onnx.h"
#include "core/error.h"
#include "onnx.pb-c.h"

#define OX_MAX_RANK 8
#define OX_BATCH INT64_MIN          /* the batch dimension, inside a folded shape */
#define OX_MAX_ELEMENTS (1ll << 31) /* one tensor's elements */
#define OX_MAX_NODES 100000
#define OX_MIN_OPSET 1
#define OX_MAX_OPSET 21

/* ---- constants: folded values, initializers, test data ---- */
typedef enum ox_dtype { OX_F32 = 1, OX_I64 = 2 } ox_dtype;

typedef struct ox_const {
  ox_dtype type;
  int32_t rank;
  int64_t dims[OX_MAX_RANK];
  int64_t count;
  float *f;   /* OX_F32 */
  int64_t *i; /* OX_I64; may hold OX_BATCH */
} ox_const;

void ox_const_free(ox_const *c);
/* A copy (deep). */
clnet_status ox_const_copy(const ox_const *src, ox_const *dst);
/* Allocates count elements of type (zeroed). */
clnet_status ox_const_alloc(ox_const *c, ox_dtype type, int32_t rank, const int64_t *dims);
/* A TensorProto as a constant: float, double and float16 become OX_F32, the integer and bool types
 * OX_I64. Sizes are checked against the data. Errors name `what`. */
clnet_status ox_tensor_decode(const Onnx__TensorProto *t, const char *what, ox_const *out);
/* Element type name for messages ("float", "uint8"). */
const char *ox_dtype_name(int32_t onnx_type);
/* The value of element k as a double (F32 or I64). */
static inline double ox_const_at(const ox_const *c, int64_t k) { return c->type == OX_F32 ? c->f[k] : (double)c->i[k]; }

/* ---- the model as read (model.c): immutable after clnet_onnx_read ---- */
typedef struct ox_value {
  const char *name;                 /* in the protobuf */
  int32_t producer;                 /* node index; -1: a graph input or an initializer */
  int32_t output_slot;              /* the producer's output index */
  const Onnx__TensorProto *init;    /* an initializer */
  const Onnx__ValueInfoProto *input;/* a graph input (not an initializer) */
  int32_t n_consumers;              /* node inputs that name it */
  int32_t graph_output;             /* listed in graph.output */
} ox_value;

typedef struct ox_weight {
  char name[160]; /* the clnet parameter */
  float *data;    /* in clnet's layout */
  int64_t count;
} ox_weight;

struct clnet_onnx_model {
  Onnx__ModelProto *pb;
  char what[256];
  int64_t opset;
  ox_value *values;
  int32_t n_values;
  int32_t *hash; /* open addressing over values by name, -1 empty */
  int32_t hash_cap;
  /* per node: its inputs and outputs as value indices (-1: an absent optional one) */
  int32_t *node_in_at, *node_out_at; /* offsets into in_idx / out_idx, per node */
  int32_t *in_idx, *out_idx;
  int32_t *order;    /* nodes in an order where every input is defined first */
  int32_t n_nodes;
  int32_t *consumer_at, *consumers; /* per value: the nodes reading it (consumer_at[v]..[v+1]) */
  int32_t data_input; /* value index of the data input, -1 if none */
  int32_t n_inputs;   /* graph inputs that are not initializers */
  int32_t nhwc_input; /* the data input is (N, H, W, C), read only through Transpose(0,3,1,2) */
  /* the last build */
  ox_weight *weights;
  int32_t n_weights;
  clnet_onnx_value_info input_info;
  clnet_onnx_value_info *outputs;
  ox_const *output_consts; /* per output: the folded value of a constant output (type 0 if none) */
  int32_t n_outputs;
  int32_t training_nodes; /* nodes whose ONNX semantics are training mode (BN training_mode=1) */
  int32_t random_nodes;   /* of those, nodes whose output is random (training-mode dropout) */
  char fail_op[32];       /* the op type of the node the last build failed at ("" if none) */
};

int32_t ox_value_find(const clnet_onnx_model *m, const char *name); /* -1 if none */
static inline const Onnx__NodeProto *ox_node_pb(const clnet_onnx_model *m, int32_t k) { return m->pb->graph->node[k]; }
/* "node 'name' (Op)" or "node #k (Op, output 'y')" into buf */
const char *ox_node_label(const clnet_onnx_model *m, int32_t k, char *buf, size_t cap);
void ox_weights_clear(clnet_onnx_model *m);

/* ---- a build (import.c) ---- */
typedef enum ox_kind { OX_UNDEF = 0, OX_ACT = 1, OX_CONST = 2, OX_STAT = 3 } ox_kind;

/* A value during a build: an activation (a clnet tensor and how ONNX sees it) or a constant. */
typedef struct ox_val {
  ox_kind kind;
  /* OX_ACT */
  int32_t t;                  /* clnet tensor */
  int32_t h, w, c;            /* its clnet shape per image */
  int32_t rank;               /* ONNX rank; dims[0] is the batch */
  int64_t dims[OX_MAX_RANK];
  int32_t chw;                /* ONNX's order per image walks (H, W, C) as (C, H, W) */
  int32_t pend[4];            /* a zero Pad folded into the Conv that reads this (top, left, bottom, right):
                                 dims include it, the clnet tensor does not */
  /* OX_CONST */
  ox_const c_;
  /* OX_STAT: a BN layer's moving statistic after a training-mode forward (BatchNormalization's
   * running_mean / running_var outputs), the clnet parameter's name */
  char param[128];
} ox_val;

typedef struct ox_build ox_build;

typedef struct ox_node {
  ox_build *b;
  int32_t k;                   /* node index */
  const Onnx__NodeProto *pb;
  const int32_t *in, *out;     /* value indices, -1 absent */
  int32_t n_in, n_out;
  uint64_t attr_used;          /* bit per attribute read */
  char layer[96];              /* the name of the node's (first) layer */
  int32_t n_layers;            /* layers emitted so far */
  char label[160];             /* for messages */
} ox_node;

struct ox_op;
typedef clnet_status (*ox_map_fn)(ox_node *n, const struct ox_op *op);
/* One entry of the op table (import_ops.c): an ONNX op type of the ai.onnx domain, the clnet
 * layer kind it becomes (NULL: folded, a view, or chosen inside map), its mapping function. */
typedef struct ox_op {
  const char *op_type;
  const char *kind;
  ox_map_fn map;
  const char *doc; /* for docs/ONNX.md: what it becomes */
} ox_op;
const ox_op *ox_op_find(const char *op_type);
int32_t ox_op_count(void);
const ox_op *ox_op_at(int32_t i);

/* errors: "node 'x' (Conv): <message>" */
clnet_status ox_fail(ox_node *n, clnet_status st, const char *fmt, ...) CLNET_PRINTF(3, 4);
clnet_status ox_unsupported(ox_node *n, const char *fmt, ...) CLNET_PRINTF(2, 3);

int64_t ox_opset(const ox_node *n);
clnet_onnx_model *ox_model(const ox_node *n);
/* Attributes (each read marks it used; one the mapping never reads is an error after it). A
 * present attribute of the wrong type is CLNET_ERR_FORMAT. */
clnet_status ox_attr_int(ox_node *n, const char *name, int64_t def, int64_t *v);
clnet_status ox_attr_float(ox_node *n, const char *name, double def, double *v);
/* ints: *count = -1 when absent; more than max values is an error */
clnet_status ox_attr_ints(ox_node *n, const char *name, int32_t max, int64_t *v, int32_t *count);
clnet_status ox_attr_floats(ox_node *n, const char *name, int32_t max, float *v, int32_t *count);
clnet_status ox_attr_string(ox_node *n, const char *name, const char *def, char *dst, size_t cap);
/* a tensor-valued attribute: NULL when absent */
clnet_status ox_attr_tensor(ox_node *n, const char *name, const Onnx__TensorProto **t);
int32_t ox_attr_present(ox_node *n, const char *name); /* does not mark it used */
void ox_attr_ignore(ox_node *n, const char *name);      /* read and deliberately without effect */

/* Inputs: NULL when absent. */
ox_val *ox_in(ox_node *n, int32_t j);
const char *ox_in_name(ox_node *n, int32_t j);
clnet_status ox_in_act(ox_node *n, int32_t j, ox_val **v);       /* must be an activation */
clnet_status ox_in_const(ox_node *n, int32_t j, ox_const **c);   /* must be a constant */
/* An optional output must be unused (no reader, not a graph output). */
clnet_status ox_out_unused(ox_node *n, int32_t j, const char *what);
int32_t ox_out_used(ox_node *n, int32_t j);
/* The nodes that read output j of n: count, and the i-th. */
int32_t ox_out_readers(ox_node *n, int32_t j);
int32_t ox_out_reader(ox_node *n, int32_t j, int32_t i);
/* Marks node k as done by n (a pattern n absorbed: MatMul + Add). */
void ox_absorb(ox_node *n, int32_t k);
/* Node k's input j (NULL when absent); whether node k is still to run (live, not absorbed). */
ox_val *ox_node_input(ox_node *n, int32_t k, int32_t j);
int32_t ox_node_usable(ox_node *n, int32_t k);
/* n's ONNX semantics are training mode (BN training_mode=1): the test runner runs such models so. */
void ox_training_node(ox_node *n);
void ox_random_node(ox_node *n);
int32_t ox_with_loss(const ox_node *n);

/* Outputs. */
ox_val *ox_out(ox_node *n, int32_t j); /* NULL when absent */
void ox_set_act(ox_node *n, int32_t j, int32_t t, int32_t rank, const int64_t *dims, int32_t chw);
void ox_set_alias(ox_node *n, int32_t j, const ox_val *src); /* the same activation or a copy of a constant */
void ox_set_const(ox_node *n, int32_t j, ox_const *c);       /* takes c */
void ox_set_stat(ox_node *n, int32_t j, const char *param, int64_t count);
/* As ox_set_alias, for node k's output j (a node n absorbed). */
void ox_set_alias_of(ox_node *n, int32_t k, int32_t j, const ox_val *src);

/* Layers. Adds a layer of `kind` reading tensors in[0..n_in-1] with attributes fmt (printf); the
 * node's first layer is named n->layer, later ones n->layer + "_2", "_3"... A kind this build
 * lacks, or the builder refusing the attributes, is an error naming the node. */
clnet_status ox_emit(ox_node *n, const char *kind, const int32_t *in, int32_t n_in, int32_t *out, const char *fmt,
                     ...) CLNET_PRINTF(6, 7);
const char *ox_last_layer(ox_node *n); /* the name of the layer ox_emit added last */
/* A starting weight for parameter "<layer>.<suffix>" (data in clnet's layout; taken). */
clnet_status ox_weight_add(ox_node *n, const char *layer, const char *suffix, float *data, int64_t count);
/* Whether this build of clnet has a layer kind. */
int32_t ox_have_kind(const char *kind);

/* The batch-size dimension of the build's input (OX_BATCH unless fixed), for Reshape targets. */
int64_t ox_input_batch(const ox_node *n);

/* Layout checks: v as an image tensor (N, C, H, W) (or (N, C, L): H = 1) whose channels are clnet's
 * C: CLNET_SUCCESS, else an error naming input j. */
clnet_status ox_need_image(ox_node *n, int32_t j, const ox_val *v, int32_t *rank);

/* Element order conversion of one image between ONNX (rank-1 per-image dims) and clnet (h, w, c). */
static inline int64_t ox_clnet_index(int32_t chw, int32_t h, int32_t w, int32_t c, int64_t onnx_k) {
  if (!chw || (int64_t)h * w == 1 || c == 1) return onnx_k;
  const int64_t hw = (int64_t)h * w, cc = onnx_k / hw, p = onnx_k % hw;
  return p * c + cc;
}

/* export.c */
clnet_status ox_export_model(clnet_graph *g, const clnet_onnx_export_options *opt, uint8_t **data, size_t *size);

#endif
