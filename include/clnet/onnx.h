/* ONNX in and out (docs/ONNX.md): a network exported from PyTorch or Keras becomes a clnet graph
 * with its initializers as starting weights; a trained graph becomes an ONNX model that ONNX
 * Runtime (or anything that reads ONNX) runs. The files are read and written with protobuf-c over
 * the C code protoc-c generates from ONNX's own onnx.proto (docs/DESIGN.md, "ONNX").
 *
 * Layouts: ONNX tensors are NCHW and Conv weights OIHW; clnet's are NHWC and HWIO. The importer
 * converts the weights and keeps track, per tensor, of how ONNX's element order maps onto clnet's,
 * so a Flatten or x.view(n, -1) followed by Gemm reads the right columns. */
#ifndef CLNET_ONNX_H
#define CLNET_ONNX_H

#include <stddef.h>

#include "clnet/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clnet_onnx_model clnet_onnx_model;

/* Reads an ONNX model and checks its form: the protobuf, the opset (ai.onnx 7..21), every
 * node's inputs defined (graph inputs, initializers or earlier outputs), no cycle, no name
 * defined twice, initializers of sane shape and size. Converting it (clnet_onnx_build) checks
 * every node against what clnet supports. Errors are CLNET_ERR_FORMAT (a malformed file),
 * CLNET_ERR_UNSUPPORTED (valid ONNX that clnet cannot run) or CLNET_ERR_IO, naming the node, its
 * op type and the attribute or input at fault. No device is involved. */
clnet_status clnet_onnx_read(const char *path, clnet_onnx_model **out);
/* The same from bytes; `what` names them in messages. */
clnet_status clnet_onnx_read_memory(const void *data, size_t size, const char *what, clnet_onnx_model **out);
void clnet_onnx_free(clnet_onnx_model *m);

typedef struct clnet_onnx_info {
  int64_t ir_version, opset;   /* opset of the ai.onnx domain */
  char producer[64];           /* "pytorch 2.5.1" */
  char input[96], output[96];  /* the graph's (data) input and its first output; in all three strings
                                  control characters are shown as '?' */
  int32_t in_rank;             /* the input's rank (4: N, C, H, W) */
  int32_t in_c, in_h, in_w;    /* a 4-D input's per-image shape; 0 where the model leaves a dimension open */
  int32_t nhwc_input;          /* 1: the input is (N, H, W, C), transposed to NCHW inside (tf2onnx) */
  int32_t nodes, initializers;
  int32_t has_norm;            /* clnet's export wrote the input normalisation (clnet_onnx_norm) */
} clnet_onnx_info;
clnet_status clnet_onnx_get_info(const clnet_onnx_model *m, clnet_onnx_info *info);
/* The input normalisation a clnet export recorded (metadata clnet.norm_mean, clnet.norm_std):
 * 1 and the four values each when present, else 0. */
int32_t clnet_onnx_norm(const clnet_onnx_model *m, float mean[4], float std[4]);

typedef struct clnet_onnx_build_options {
  /* The per-image input shape, for a model that leaves H, W or C open; 0: the model's own. A
   * model whose shape is fixed and different is CLNET_ERR_MISMATCH. */
  int32_t in_h, in_w, in_c;
  /* 1: the graph output must be (N, K) logits, K >= 2, and the graph ends in softmax
   * cross-entropy on them (training, clnet_graph_evaluate); 0: the graph ends at the model's
   * outputs (clnet_graph_forward, clnet_onnx_output_tensor). */
  int32_t with_loss;
  int32_t classes; /* with_loss: K must equal this (0: any) */
  /* Graph inputs other than the data input, given values (the backend test cases pass weights as
   * inputs): names and their TensorProto bytes. Without one, such an input is an error. */
  int32_t n_given;
  const char *const *given_names;
  const void *const *given_data;
  const size_t *given_size;
} clnet_onnx_build_options;

/* Converts the model into a new clnet graph (not set up). Layer names are the node names (a
 * leading '/' dropped, made unique); a layer's parameters take the model's initializers, converted
 * to clnet's layouts, when clnet_onnx_load_weights is called after setup. Anything the model needs
 * that clnet does not have is CLNET_ERR_UNSUPPORTED naming the node, its op type and the attribute
 * or input; nothing is dropped or approximated. */
clnet_status clnet_onnx_build(clnet_onnx_model *m, const clnet_onnx_build_options *opt, clnet_graph **out);
/* Writes the initializers of the last build into g (built by it, or another build of the same
 * model, set up): every parameter of an imported layer gets its value; BN statistics included. */
clnet_status clnet_onnx_load_weights(const clnet_onnx_model *m, clnet_graph *g);

/* After a build: the number of graph outputs, and output i's clnet tensor (-1 when the value is a
 * constant the import folded) with its ONNX shape (dims[0] the batch). */
int32_t clnet_onnx_output_count(const clnet_onnx_model *m);
typedef struct clnet_onnx_value_info {
  char name[96];
  int32_t tensor;       /* clnet tensor id; -1 for a constant; -2 for a BN statistic after a training-mode
                           forward (BatchNormalization's running_mean / _var outputs): parameter `param` */
  char param[128];
  int32_t rank;
  int64_t dims[8];      /* an activation's: dims[0] = -1, the batch; a constant's or a statistic's: its own */
  int32_t chw;          /* 1: ONNX's element order walks clnet's (H, W, C) per image as (C, H, W) */
} clnet_onnx_value_info;
clnet_status clnet_onnx_output_info(const clnet_onnx_model *m, int32_t i, clnet_onnx_value_info *info);
clnet_status clnet_onnx_input_info(const clnet_onnx_model *m, clnet_onnx_value_info *info);
/* Converts n images between ONNX's order and clnet's for a value (per image: rank-1 elements). */
void clnet_onnx_to_clnet(const clnet_onnx_value_info *v, int32_t h, int32_t w, int32_t c, int32_t n,
                         const float *onnx, float *clnet);
void clnet_onnx_from_clnet(const clnet_onnx_value_info *v, int32_t h, int32_t w, int32_t c, int32_t n,
                           const float *clnet, float *onnx);

/* --- export --- */
typedef struct clnet_onnx_export_options {
  int64_t opset;          /* 0: 17 (13 at least: Dropout's and Squeeze's inputs) */
  const float *norm_mean; /* NULL, or the input normalisation (4 values each), kept as metadata */
  const float *norm_std;
  const char *doc;        /* NULL, or the model's doc_string */
} clnet_onnx_export_options;

/* Writes a set-up graph as ONNX: input "input" (N, C, H, W) float with a dynamic batch "N",
 * output "logits" (N, K) (or the last layer's output, without a loss layer); Conv, BN in
 * inference form, pools, Gemm with the trained weights as initializers (OIHW, NCHW order);
 * the loss layer is left out. Atomically (a temporary file renamed). Every layer kind of the
 * graph must have an export entry (host/onnx/export.c); a missing one is CLNET_ERR_UNSUPPORTED. */
clnet_status clnet_onnx_export(clnet_graph *g, const char *path, const clnet_onnx_export_options *opt);
/* The same into memory: *data is malloc'd, free() it. */
clnet_status clnet_onnx_export_memory(clnet_graph *g, const clnet_onnx_export_options *opt, void **data,
                                      size_t *size);

/* --- ONNX's backend test cases (libonnx-testdata: node/<case>/, pytorch-converted/<case>/) --- */
typedef enum clnet_onnx_case_status {
  CLNET_ONNX_CASE_PASSED = 0,
  CLNET_ONNX_CASE_FAILED = 1,      /* ran; an output differs beyond the tolerance */
  CLNET_ONNX_CASE_UNSUPPORTED = 2, /* the model needs what clnet lacks: skipped, detail says what */
  CLNET_ONNX_CASE_ERROR = 3,       /* the case could not be read or run */
} clnet_onnx_case_status;

typedef struct clnet_onnx_case_result {
  const char *name;    /* the case's directory name */
  clnet_onnx_case_status status;
  char op[32];         /* UNSUPPORTED: the op type at fault, when one is */
  char detail[512];    /* why it failed, or what is unsupported */
  int32_t data_sets;   /* test_data_set_* run */
  double max_abs_err, max_rel_err;
} clnet_onnx_case_result;

typedef struct clnet_onnx_test_summary {
  int32_t cases, passed, failed, unsupported, errors;
} clnet_onnx_test_summary;

/* Runs every case under dir (a case directory holding model.onnx and test_data_set_*, or a
 * directory of such, searched two levels deep) forward on ctx in inference mode, every data set,
 * against the expected outputs with ONNX's backend-test tolerance |out - ref| <= atol + rtol|ref|
 * (rtol 1e-3, atol 1e-7; docs/ONNX.md). Graph inputs after the first are given as weights from
 * the data set. `filter`: NULL, or a substring a case name must contain. Calls fn per case in
 * name order. */
clnet_status clnet_onnx_test_dir(clnet_ctx *ctx, const char *dir, const char *filter,
                                 void (*fn)(const clnet_onnx_case_result *r, void *user), void *user,
                                 clnet_onnx_test_summary *summary);

#ifdef __cplusplus
}
#endif
#endif
