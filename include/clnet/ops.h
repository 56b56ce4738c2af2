/* Ops: each runs on the backend of its ctx (OpenCL kernels, or the plain-C
 * reference). All activations are NHWC, fp32, densely packed:
 *   activation (N, H, W, C)      conv weight (KH, KW, C_in/groups, C_out)  [Keras HWIO]
 *   dense weight (OUT, IN)        vectors (C)
 * On OpenCL every call only enqueues work on the ctx's in-order queue; nothing
 * is read back unless the function says so. Shape rules are checked and a
 * violation returns CLNET_ERR_INVALID_ARGUMENT with a message naming the op,
 * the value and the rule. Buffers must be at least as large as their shape. */
#ifndef CLNET_OPS_H
#define CLNET_OPS_H

#include "clnet/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- padding (SPEC: TensorFlow semantics) ---------------------------------- */
/* EXPLICIT: the pads are given by the op's desc (convolutions: pad_top, pad_bottom, pad_left,
 * pad_right; pooling: its pads); clnet_padding_out knows VALID and SAME only. */
typedef enum clnet_padding { CLNET_PADDING_VALID = 0, CLNET_PADDING_SAME = 1, CLNET_PADDING_EXPLICIT = 2 } clnet_padding;

/* Output size and leading pad of one spatial dimension.
 * valid: out = (in - k) / stride + 1 (floor), pad_before = 0 (in >= k required).
 * same:  out = ceil(in / stride), pad_total = max((out-1)*stride + k - in, 0),
 *        pad_before = pad_total / 2 (floor). Returns INVALID_ARGUMENT if out < 1. */
clnet_status clnet_padding_out(int32_t in, int32_t k, int32_t stride, clnet_padding padding,
                               int32_t *out, int32_t *pad_before);

/* ---- conv2d --------------------------------------------------------------- */
/* A 2-D convolution. Weights (KH, KW, C_in/groups, C_out) (Keras HWIO; groups = 1: (KH, KW, C_in,
 * C_out)). Output channel co belongs to group g = co / (C_out/groups) and reads input channels
 * [g*C_in/groups, (g+1)*C_in/groups). Depthwise: groups = C_in, C_out = C_in*m (channel multiplier
 * m; output co reads input co / m); its weights (KH, KW, 1, C_in*m) are Keras' DepthwiseConv2D
 * kernel (KH, KW, C_in, m) in the same memory order. With dilation (dh, dw) tap (kh, kw) reads
 * input (oh*sh - pad_top + kh*dh, ow*sw - pad_left + kw*dw); outside the input reads 0.
 * Optional fields left 0 take their default, so a desc written for square strides, no dilation
 * and no groups keeps its meaning. */
typedef struct clnet_conv2d_desc {
  int32_t n, in_h, in_w, in_c; /* input (N, H, W, C_in) */
  int32_t out_c;               /* C_out */
  int32_t k_h, k_w;            /* kernel size */
  int32_t stride;              /* the stride of both dimensions where stride_h / stride_w are 0 */
  clnet_padding padding;       /* VALID, SAME (TensorFlow, with the dilated kernel) or EXPLICIT */
  int32_t has_bias;
  /* optional (0: the default) */
  int32_t stride_h, stride_w;     /* per dimension; 0: stride */
  int32_t dilation_h, dilation_w; /* 0: 1 */
  int32_t groups;                 /* 0: 1; divides C_in and C_out */
  /* the pads: given with padding EXPLICIT (each >= 0); derived by clnet_conv2d_desc_init for VALID
   * (all 0) and SAME (TensorFlow: the odd pixel after) */
  int32_t pad_top, pad_bottom, pad_left, pad_right;
  /* derived by clnet_conv2d_desc_init:
   *   out = (in + pads - ((k-1)*dilation + 1)) / stride + 1 (floor), >= 1 */
  int32_t out_h, out_w;
} clnet_conv2d_desc;

/* Validates the desc and fills the derived fields. */
clnet_status clnet_conv2d_desc_init(clnet_conv2d_desc *d);

/* The effective values of the optional fields of a valid desc. */
static inline int32_t clnet_conv2d_stride_h(const clnet_conv2d_desc *d) { return d->stride_h ? d->stride_h : d->stride; }
static inline int32_t clnet_conv2d_stride_w(const clnet_conv2d_desc *d) { return d->stride_w ? d->stride_w : d->stride; }
static inline int32_t clnet_conv2d_dilation_h(const clnet_conv2d_desc *d) { return d->dilation_h ? d->dilation_h : 1; }
static inline int32_t clnet_conv2d_dilation_w(const clnet_conv2d_desc *d) { return d->dilation_w ? d->dilation_w : 1; }
static inline int32_t clnet_conv2d_groups(const clnet_conv2d_desc *d) { return d->groups ? d->groups : 1; }
/* 1 for a depthwise conv: groups = C_in > 1 (C_out = C_in * the channel multiplier). */
static inline int clnet_conv2d_is_depthwise(const clnet_conv2d_desc *d) {
  return clnet_conv2d_groups(d) > 1 && clnet_conv2d_groups(d) == d->in_c;
}

/* How OpenCL convolutions are computed (the reference backend ignores it).
 * GEMM: im2col + CLBlast GEMM (cl/conv2d.cl), per group; every conv. DIRECT: clnet's
 * register-tiled kernels (cl/conv2d_direct.cl), per group, every conv but depthwise ones. WINOGRAD: Winograd F(2x2, 3x3)
 * (cl/conv2d_winograd.cl), for 3x3 stride-1 undilated convs of one group only (all three passes);
 * WINOGRAD4: Winograd F(4x4, 3x3), the same convs up to 256 x 256 channels. DEPTHWISE: clnet's
 * depthwise kernels (cl/conv2d_depthwise.cl), for depthwise convs only (groups = C_in > 1).
 * Forced on a conv it does not apply to, an algorithm falls back to AUTO's choice there, with a note
 * (clnet_ctx_set_algo_note_fn); RULE: per call and pass,
 * the fixed rule documented at conv_rule_algo in
 * host/tune/conv_algo.c (DEPTHWISE for depthwise convs; otherwise DIRECT for C_in*C_out <= 64*64
 * per group; wider convs: DIRECT on CPUs except a
 * forward pass with under 64 output pixels, GEMM on other devices).
 * AUTO (the default): per (shape, pass), every algorithm that applies is checked against the float
 * reference on a sub-batch of at most 2
 * images, at that algorithm's tolerance, and the ones that pass are timed on the device at the first
 * call; the fastest is recorded in the find-db, a text file per device in the kernel cache directory
 * (clnet_conv_algo_db_path), before it is used, and later processes read it from there, so every
 * process sharing a cache directory runs the same algorithm for the same shape (training and
 * --resume stay bit-identical). Without a cache directory (CLNET_NO_CACHE=1, or one that cannot be
 * written) AUTO uses RULE: a choice that is not persisted could differ between processes.
 * Every algorithm is deterministic: the same call on the same device gives bit-identical results. */
typedef enum clnet_conv_algo {
  CLNET_CONV_ALGO_AUTO = 0,
  CLNET_CONV_ALGO_GEMM = 1,
  CLNET_CONV_ALGO_DIRECT = 2,
  CLNET_CONV_ALGO_RULE = 3,
  CLNET_CONV_ALGO_WINOGRAD = 4,  /* Winograd F(2x2, 3x3): 3x3 stride-1 convs */
  CLNET_CONV_ALGO_WINOGRAD4 = 5, /* Winograd F(4x4, 3x3): 3x3 stride-1 convs, fewer multiplies, wider rounding */
  CLNET_CONV_ALGO_DEPTHWISE = 6  /* depthwise convs (groups = C_in > 1) */
} clnet_conv_algo;

/* Sets the conv algorithm for all later conv2d calls on ctx.
 *   ctx   any context (a reference ctx keeps the setting and ignores it)
 *   algo  CLNET_CONV_ALGO_AUTO, _GEMM, _DIRECT, _RULE, _WINOGRAD, _WINOGRAD4 or _DEPTHWISE; anything else is
 *         CLNET_ERR_INVALID_ARGUMENT
 * Until it is called, a ctx uses the environment variable CLNET_CONV_ALGO (gemm | direct | winograd | winograd4 |
 * depthwise | rule | auto; unset or empty = auto), read at its first convolution; an unknown value makes that
 * convolution fail with CLNET_ERR_INVALID_ARGUMENT. The setter takes precedence. */
clnet_status clnet_ctx_set_conv_algo(clnet_ctx *ctx, clnet_conv_algo algo);

/* The passes of an op with learned weights (convolutions, the dense layer), each with its own
 * algorithm choice. */
typedef enum clnet_pass {
  CLNET_PASS_FORWARD = 0,
  CLNET_PASS_BACKWARD_DATA = 1,
  CLNET_PASS_BACKWARD_FILTER = 2,
} clnet_pass;

/* Where the algorithm of one (shape, pass) came from (convolutions and the dense layer's GEMMs). */
typedef enum clnet_algo_source {
  CLNET_ALGO_SOURCE_FORCED = 0, /* set by clnet_ctx_set_conv_algo / CLNET_CONV_ALGO (dense: _dense_ / _DENSE_) */
  CLNET_ALGO_SOURCE_RULE = 1,   /* the fixed rule: RULE set, or AUTO without a usable cache */
  CLNET_ALGO_SOURCE_TIMED = 2,  /* AUTO: checked and timed by this process */
  CLNET_ALGO_SOURCE_FINDDB = 3, /* AUTO: read from the find-db (written by an earlier or a concurrent process) */
} clnet_algo_source;

typedef struct clnet_conv_algo_choice {
  clnet_conv_algo algo;          /* GEMM, DIRECT, WINOGRAD, WINOGRAD4 or DEPTHWISE, never AUTO or RULE */
  clnet_algo_source source;
  /* timed or find-db only: best measured ms of [0] GEMM, [1] DIRECT, [2] WINOGRAD, [3] WINOGRAD4,
   * [4] DEPTHWISE; -1 for a candidate that failed the reference check (never chosen); -2 for an
   * algorithm that does not apply (the Winograd ones outside 3x3 stride-1 convs, DIRECT on
   * depthwise convs, DEPTHWISE outside depthwise convs) or was not timed */
  double ms[5];
} clnet_conv_algo_choice;

/* The algorithm a call of `pass` with desc `d` runs on ctx, and where it came from: what
 * `clnet bench` reports per layer. Under AUTO a shape not seen yet is checked and timed now, on
 * buffers allocated for the purpose. */
clnet_status clnet_conv2d_algo_choice(clnet_ctx *ctx, const clnet_conv2d_desc *d, clnet_pass pass,
                                      clnet_conv_algo_choice *out);
/* The same, the algorithm only (GEMM, DIRECT, WINOGRAD, WINOGRAD4 or DEPTHWISE). */
clnet_status clnet_conv2d_algo_chosen(clnet_ctx *ctx, const clnet_conv2d_desc *d, clnet_pass pass,
                                      clnet_conv_algo *out);
/* "auto", "gemm", "direct", "rule", "winograd", "winograd4", "depthwise"; parse returns INVALID_ARGUMENT for
 * anything else. */
const char *clnet_conv_algo_str(clnet_conv_algo algo);
clnet_status clnet_conv_algo_parse(const char *name, clnet_conv_algo *out);
/* "forced", "rule", "timed", "find-db". */
const char *clnet_algo_source_str(clnet_algo_source source);

/* The find-db file of ctx's device: $CLNET_CACHE_DIR (default ~/.cache/clnet)
 * /conv-algos-<hash of device name, driver, platform>.txt. Writes "" when there is no cache
 * (CLNET_NO_CACHE=1) or ctx is the reference. Format: see host/tune/conv_finddb.h. */
void clnet_conv_algo_db_path(clnet_ctx *ctx, char *dst, size_t cap);

/* What AUTO did in this process on ctx, for convolutions (clnet_conv_algo_get_stats) or the dense
 * layer's GEMMs (clnet_dense_algo_get_stats). Times are wall clock. */
typedef struct clnet_algo_stats {
  int32_t timed;       /* (shape, pass) pairs checked and timed */
  int32_t from_finddb; /* (shape, pass) pairs read from the find-db */
  int32_t from_rule;   /* (shape, pass) pairs resolved by the rule */
  int32_t rejected;    /* candidates that failed the reference check */
  double tune_seconds;       /* checking and timing, kernel builds and first calls excluded */
  double first_call_seconds; /* first call of each candidate at each shape (CLBlast compiles there) */
  double build_seconds;      /* clnet kernel builds during the timing */
} clnet_algo_stats;
clnet_algo_stats clnet_conv_algo_get_stats(clnet_ctx *ctx);

/* Notes about AUTO that are not errors (the library never prints): a candidate that failed the
 * reference check, a corrupt find-db file that was ignored, a find-db that could not be written;
 * for convolutions and for the dense layer's GEMMs (clnet_dense_algo).
 * Each is one line; `fn` (NULL to stop) receives each as it happens, and the last one is kept
 * (clnet_algo_last_note, "" if none). */
typedef void (*clnet_algo_note_fn)(void *user, const char *line);
/* Progress of AUTO's timing (a first run on a device spends seconds there): `fn` (NULL to stop)
 * is called before each (shape, pass) is checked and timed, with what it is, e.g.
 * "conv2d forward n256 28x28x1->16 k3x3 s1 valid" or "dense backward-data n256 64->10". */
typedef void (*clnet_algo_progress_fn)(void *user, const char *what);
void clnet_ctx_set_algo_progress_fn(clnet_ctx *ctx, clnet_algo_progress_fn fn, void *user);
void clnet_ctx_set_algo_note_fn(clnet_ctx *ctx, clnet_algo_note_fn fn, void *user);
const char *clnet_algo_last_note(clnet_ctx *ctx);

/* y (N, OH, OW, C_out) = conv(x (N, H, W, C_in), w (KH, KW, C_in/groups, C_out)) + b (C_out).
 * b is ignored when !has_bias. */
clnet_status clnet_conv2d_forward(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *x,
                                  const clnet_buf *w, const clnet_buf *b, clnet_buf *y);
/* dx (N, H, W, C_in) = gradient of the forward w.r.t. x, given dy (N, OH, OW, C_out). Overwrites dx. */
clnet_status clnet_conv2d_backward_data(clnet_ctx *ctx, const clnet_conv2d_desc *d,
                                        const clnet_buf *dy, const clnet_buf *w, clnet_buf *dx);
/* dw (KH, KW, C_in/groups, C_out) and db (C_out; skipped when !has_bias). Overwrites. */
clnet_status clnet_conv2d_backward_filter(clnet_ctx *ctx, const clnet_conv2d_desc *d,
                                          const clnet_buf *x, const clnet_buf *dy, clnet_buf *dw,
                                          clnet_buf *db);

/* ---- batch normalisation over (N*H*W) rows of C channels --------------------
 * Keras semantics (SPEC): biased batch variance, eps, moving = moving*momentum
 * + batch*(1-momentum). */
typedef struct clnet_batchnorm_desc {
  int32_t rows; /* N*H*W */
  int32_t c;    /* channels */
  float eps;      /* 1e-3 */
  float momentum; /* 0.99 */
} clnet_batchnorm_desc;

/* Training mode. y (rows, C) = gamma*(x-mean)*invstd + beta with batch stats.
 * Writes save_mean (C) and save_invstd (C) (= 1/sqrt(var+eps)) for backward,
 * and updates moving_mean / moving_var (C) in place. */
clnet_status clnet_batchnorm_forward_train(clnet_ctx *ctx, const clnet_batchnorm_desc *d,
                                           const clnet_buf *x, const clnet_buf *gamma,
                                           const clnet_buf *beta, clnet_buf *y,
                                           clnet_buf *save_mean, clnet_buf *save_invstd,
                                           clnet_buf *moving_mean, clnet_buf *moving_var);
/* Inference mode: uses moving statistics. */
clnet_status clnet_batchnorm_forward_infer(clnet_ctx *ctx, const clnet_batchnorm_desc *d,
                                           const clnet_buf *x, const clnet_buf *gamma,
                                           const clnet_buf *beta, const clnet_buf *moving_mean,
                                           const clnet_buf *moving_var, clnet_buf *y);
/* Backward of training mode. dx (rows, C), dgamma (C), dbeta (C), overwritten. */
clnet_status clnet_batchnorm_backward(clnet_ctx *ctx, const clnet_batchnorm_desc *d,
                                      const clnet_buf *x, const clnet_buf *dy,
                                      const clnet_buf *gamma, const clnet_buf *save_mean,
                                      const clnet_buf *save_invstd, clnet_buf *dx,
                                      clnet_buf *dgamma, clnet_buf *dbeta);

/* Bytes of the context's scratch buffer (clnet_ctx scratch) a training
 * forward or backward of d uses on an OpenCL device; for memory planning. */
uint64_t clnet_batchnorm_scratch_bytes(const clnet_batchnorm_desc *d);

/* Fused BN-apply + ReLU (res NULL) or BN-apply + residual add + ReLU (the
 * BasicBlock tail): y (rows, C) = max(gamma*xhat + beta [+ res], 0), with the
 * statistics, save_* and moving_* of clnet_batchnorm_forward_train. The BN
 * output itself is not stored. y must not alias x or res. */
clnet_status clnet_batchnorm_act_forward_train(clnet_ctx *ctx, const clnet_batchnorm_desc *d,
                                               const clnet_buf *x, const clnet_buf *gamma,
                                               const clnet_buf *beta, const clnet_buf *res, clnet_buf *y,
                                               clnet_buf *save_mean, clnet_buf *save_invstd,
                                               clnet_buf *moving_mean, clnet_buf *moving_var);
/* Inference mode of the same: moving statistics. */
clnet_status clnet_batchnorm_act_forward_infer(clnet_ctx *ctx, const clnet_batchnorm_desc *d,
                                               const clnet_buf *x, const clnet_buf *gamma,
                                               const clnet_buf *beta, const clnet_buf *res,
                                               const clnet_buf *moving_mean, const clnet_buf *moving_var,
                                               clnet_buf *y);
/* Backward of the fused training forward, given its output y and dy = dL/dy:
 * dz = (y > 0 ? dy : 0); dx, dgamma, dbeta as clnet_batchnorm_backward of dz;
 * dres = dz when dres is not NULL (then res was used). All overwritten.
 * dx may alias dy. */
clnet_status clnet_batchnorm_act_backward(clnet_ctx *ctx, const clnet_batchnorm_desc *d,
                                          const clnet_buf *x, const clnet_buf *y, const clnet_buf *dy,
                                          const clnet_buf *gamma, const clnet_buf *save_mean,
                                          const clnet_buf *save_invstd, clnet_buf *dx, clnet_buf *dres,
                                          clnet_buf *dgamma, clnet_buf *dbeta);

/* ---- elementwise over `count` floats -------------------------------------- */
/* y = max(x, 0). y may alias x. */
clnet_status clnet_relu_forward(clnet_ctx *ctx, int64_t count, const clnet_buf *x, clnet_buf *y);
/* dx = dy where y > 0, else 0 (y is the forward output). dx may alias dy. */
clnet_status clnet_relu_backward(clnet_ctx *ctx, int64_t count, const clnet_buf *y,
                                 const clnet_buf *dy, clnet_buf *dx);
/* y = a + b (the residual). y may alias a or b. */
clnet_status clnet_add_forward(clnet_ctx *ctx, int64_t count, const clnet_buf *a,
                               const clnet_buf *b, clnet_buf *y);
/* y += x (gradient accumulation where a tensor has two consumers). */
clnet_status clnet_accumulate(clnet_ctx *ctx, int64_t count, const clnet_buf *x, clnet_buf *y);

/* flag (one int32) = 1 when any of the `count` floats of x is NaN or Inf;
 * left as it is otherwise, so one zeroed flag can collect several tensors. */
clnet_status clnet_nonfinite_flag(clnet_ctx *ctx, int64_t count, const clnet_buf *x, clnet_buf *flag);

/* ---- activations, elementwise multiply, dropout (cl/activation.cl) -------- */
typedef enum clnet_activation {
  CLNET_ACT_CLIP = 0,         /* y = min(max(x, alpha), beta) (ReLU6: 0, 6) */
  CLNET_ACT_LEAKY_RELU = 1,   /* y = x > 0 ? x : alpha*x, alpha >= 0 */
  CLNET_ACT_SIGMOID = 2,      /* y = 1 / (1 + exp(-x)) */
  CLNET_ACT_TANH = 3,         /* y = tanh(x) */
  CLNET_ACT_SILU = 4,         /* y = x * sigmoid(x) (swish) */
  CLNET_ACT_HARD_SWISH = 5,   /* y = x * min(max(alpha*x + beta, 0), 1) (ONNX: 1/6, 1/2) */
  CLNET_ACT_HARD_SIGMOID = 6, /* y = min(max(alpha*x + beta, 0), 1) */
} clnet_activation;

typedef struct clnet_activation_desc {
  clnet_activation op;
  float alpha, beta; /* as each op says; unused ones ignored */
} clnet_activation_desc;

/* 1 when the op's backward reads its input x (SiLU, hard-swish), 0 when it reads its output y
 * (the others, which can then run in place). */
int clnet_activation_backward_reads_input(clnet_activation op);
/* y = op(x) over `count` floats. y may alias x. */
clnet_status clnet_activation_forward(clnet_ctx *ctx, const clnet_activation_desc *d, int64_t count,
                                      const clnet_buf *x, clnet_buf *y);
/* dx = dy * op'(x). `v` is x where clnet_activation_backward_reads_input(op), else the forward's
 * output y; the derivative at a kink is that of the side the output lies on (clip: 0 at its
 * bounds). dx may alias dy. */
clnet_status clnet_activation_backward(clnet_ctx *ctx, const clnet_activation_desc *d, int64_t count,
                                       const clnet_buf *v, const clnet_buf *dy, clnet_buf *dx);

/* y (n, hw, c) = a * b, with b (n, hw, c), or (n, 1, c) broadcast over hw when bcast != 0
 * (squeeze-and-excitation gating). y may alias a. */
clnet_status clnet_mul_forward(clnet_ctx *ctx, int32_t n, int32_t hw, int32_t c, int32_t bcast,
                               const clnet_buf *a, const clnet_buf *b, clnet_buf *y);
/* da = dy * b (b broadcast as in the forward), db = dy * a, or for a broadcast b its sum over hw
 * (one sum per (image, channel), in order). A NULL gradient is not computed; all overwritten. */
clnet_status clnet_mul_backward(clnet_ctx *ctx, int32_t n, int32_t hw, int32_t c, int32_t bcast,
                                const clnet_buf *a, const clnet_buf *b, const clnet_buf *dy, clnet_buf *da,
                                clnet_buf *db);

/* Dropout in training: element i of the batch is kept with probability 1 - rate, decided by a
 * counter-based hash of (seed, step, salt, i), and scaled by 1 / (1 - rate); dropped, it is 0.
 * The same desc gives the same mask, so the backward regenerates it and no mask is stored. */
typedef struct clnet_dropout_desc {
  float rate;          /* in [0, 1) */
  uint64_t seed, step; /* the graph's seed and its step counter */
  uint32_t salt;       /* tells layers apart (a hash of the layer's name) */
} clnet_dropout_desc;
/* y = mask * x / (1 - rate). y may alias x. */
clnet_status clnet_dropout_forward(clnet_ctx *ctx, const clnet_dropout_desc *d, int64_t count, const clnet_buf *x,
                                   clnet_buf *y);
/* dx = mask * dy / (1 - rate), the forward's mask. dx may alias dy. */
clnet_status clnet_dropout_backward(clnet_ctx *ctx, const clnet_dropout_desc *d, int64_t count, const clnet_buf *dy,
                                    clnet_buf *dx);

/* ---- pooling --------------------------------------------------------------- */
/* Windows of kh x kw cells, strides sh, sw. Padding: valid or same (TensorFlow, clnet_padding_out),
 * or explicit pads (top, left, bottom, right: ONNX's order), each smaller than the window along
 * its dimension, so that every window holds at least one input cell: out = (in + before + after
 * - k) / s + 1 (floor). Padded cells never win a max and never count in an average unless
 * count_include_pad (then every window divides by kh*kw: no window reaches past the padding). */
typedef struct clnet_pool_desc {
  int32_t n, in_h, in_w, c;     /* input (N, H, W, C) */
  int32_t k_h, k_w;             /* window */
  int32_t stride_h, stride_w;
  clnet_padding padding;        /* VALID, SAME or EXPLICIT (pads) */
  int32_t pads[4];              /* EXPLICIT only: top, left, bottom, right */
  int32_t count_include_pad;    /* average pool: 1 divides by kh*kw, 0 by the cells inside the input */
  /* derived by clnet_pool_desc_init: */
  int32_t out_h, out_w, pad_top, pad_left;
} clnet_pool_desc;

clnet_status clnet_pool_desc_init(clnet_pool_desc *d);
/* y (N, OH, OW, C) = window max; argmax (N, OH, OW, C) uint8 = kh*k_w + kw, the
 * winning input's place in its window (first max in row-major window order on
 * ties), kept for backward: one byte per output, so k_h, k_w <= CLNET_MAXPOOL_MAX_K. */
#define CLNET_MAXPOOL_MAX_K 16
clnet_status clnet_maxpool_forward(clnet_ctx *ctx, const clnet_pool_desc *d, const clnet_buf *x,
                                   clnet_buf *y, clnet_buf *argmax);
/* dx (N, H, W, C) = sum of dy over the outputs whose argmax is this input. Overwrites dx. */
clnet_status clnet_maxpool_backward(clnet_ctx *ctx, const clnet_pool_desc *d,
                                    const clnet_buf *argmax, const clnet_buf *dy, clnet_buf *dx);
/* y (N, OH, OW, C) = the window's sum over its input cells / its divisor (count_include_pad). */
clnet_status clnet_avgpool_forward(clnet_ctx *ctx, const clnet_pool_desc *d, const clnet_buf *x, clnet_buf *y);
/* dx (N, H, W, C) = sum over the windows holding the input of dy / that window's divisor. Overwrites dx. */
clnet_status clnet_avgpool_backward(clnet_ctx *ctx, const clnet_pool_desc *d, const clnet_buf *dy,
                                    clnet_buf *dx);
/* y (N, C) = mean over H, W of x (N, H, W, C). */
clnet_status clnet_global_avgpool_forward(clnet_ctx *ctx, int32_t n, int32_t h, int32_t w,
                                          int32_t c, const clnet_buf *x, clnet_buf *y);
/* dx (N, H, W, C) = dy (N, C) / (H*W). */
clnet_status clnet_global_avgpool_backward(clnet_ctx *ctx, int32_t n, int32_t h, int32_t w,
                                           int32_t c, const clnet_buf *dy, clnet_buf *dx);
/* y (N, C) = max over H, W of x (N, H, W, C); argmax (N, C) int32 = h*W + w of the first maximum
 * in row-major order, kept for backward. */
clnet_status clnet_global_maxpool_forward(clnet_ctx *ctx, int32_t n, int32_t h, int32_t w, int32_t c,
                                          const clnet_buf *x, clnet_buf *y, clnet_buf *argmax);
/* dx (N, H, W, C) = dy (N, C) at the argmax, 0 elsewhere. Overwrites dx. */
clnet_status clnet_global_maxpool_backward(clnet_ctx *ctx, int32_t n, int32_t h, int32_t w, int32_t c,
                                           const clnet_buf *argmax, const clnet_buf *dy, clnet_buf *dx);

/* ---- concatenation along channels ------------------------------------------ */
/* One input of a concatenation: x (rows, C) is the channel slice [offset, offset + C) of
 * y (rows, C_total), rows = N*H*W (NHWC). */
clnet_status clnet_concat_forward(clnet_ctx *ctx, int32_t rows, int32_t c, int32_t c_total, int32_t offset,
                                  const clnet_buf *x, clnet_buf *y);
/* dx (rows, C) = that slice of dy (rows, C_total); with accumulate, dx += it. */
clnet_status clnet_concat_backward(clnet_ctx *ctx, int32_t rows, int32_t c, int32_t c_total, int32_t offset,
                                   int32_t accumulate, const clnet_buf *dy, clnet_buf *dx);

/* ---- dense: y (N, OUT) = x (N, IN) . w^T (w is (OUT, IN)) + b (OUT) ---------- */
/* b NULL: no bias (and db NULL in backward). */
clnet_status clnet_dense_forward(clnet_ctx *ctx, int32_t n, int32_t in, int32_t out,
                                 const clnet_buf *x, const clnet_buf *w, const clnet_buf *b,
                                 clnet_buf *y);
/* dx (N, IN) = dy . w (NULL dx skips it); dw (OUT, IN) = dy^T . x; db (OUT) = sum_n dy (NULL db
 * skips it). */
clnet_status clnet_dense_backward(clnet_ctx *ctx, int32_t n, int32_t in, int32_t out,
                                  const clnet_buf *x, const clnet_buf *w, const clnet_buf *dy,
                                  clnet_buf *dx, clnet_buf *dw, clnet_buf *db);

/* How OpenCL dense layers compute their three GEMMs, one per clnet_pass: FORWARD
 * y = x . w^T, BACKWARD_DATA dx = dy . w, BACKWARD_FILTER dw = dy^T . x (the reference backend
 * ignores it). CLBLAST: clnet_gemm (CLBlast, with any `clnet tune` parameters); CLNET: clnet's own
 * register-tiled kernel (cl/gemm.cl); RULE: the fixed rule documented at dense_rule_algo in
 * host/tune/dense_algo.c. AUTO (the default): per (n, in, out, pass), as for convolutions: at the
 * first call both are checked against the float reference GEMM and the ones that pass are timed;
 * the fastest is recorded in the dense find-db, a text file per device next to the conv find-db
 * (clnet_dense_algo_db_path), before it is used, and later processes read it from there. Without a
 * cache directory AUTO uses RULE. Both are deterministic. Notes (a rejected candidate, a corrupt
 * file) go to the ctx's conv note function (clnet_ctx_set_algo_note_fn). */
typedef enum clnet_dense_algo {
  CLNET_DENSE_ALGO_AUTO = 0,
  CLNET_DENSE_ALGO_CLBLAST = 1,
  CLNET_DENSE_ALGO_CLNET = 2,
  CLNET_DENSE_ALGO_RULE = 3,
} clnet_dense_algo;

/* Sets the dense GEMM algorithm for all later dense calls on ctx.
 *   algo  CLNET_DENSE_ALGO_AUTO, _CLBLAST, _CLNET or _RULE; anything else is CLNET_ERR_INVALID_ARGUMENT
 * Until it is called, a ctx uses the environment variable CLNET_DENSE_ALGO (clblast | clnet | rule |
 * auto; unset or empty = auto), read at its first dense call; an unknown value makes that call
 * fail with CLNET_ERR_INVALID_ARGUMENT. The setter takes precedence. */
clnet_status clnet_ctx_set_dense_algo(clnet_ctx *ctx, clnet_dense_algo algo);

typedef struct clnet_dense_algo_choice {
  clnet_dense_algo algo;         /* CLBLAST or CLNET, never AUTO or RULE */
  clnet_algo_source source; /* forced, rule, timed or find-db, as for convolutions */
  /* timed or find-db only: best measured ms of [0] CLBLAST, [1] CLNET; -1 for a candidate that
   * failed the reference check (never chosen) */
  double ms[2];
} clnet_dense_algo_choice;

/* The algorithm the GEMM of `pass` of a dense call (n, in, out) runs on ctx, and where it came
 * from: what `clnet bench` reports. Under AUTO a shape not seen yet is checked and timed now, on
 * buffers allocated for the purpose. The reference ctx: CLNET_ERR_UNSUPPORTED. */
clnet_status clnet_dense_gemm_choice(clnet_ctx *ctx, int32_t n, int32_t in, int32_t out, clnet_pass pass,
                                     clnet_dense_algo_choice *out_choice);
/* "auto", "clblast", "clnet", "rule"; parse returns INVALID_ARGUMENT for anything else. */
const char *clnet_dense_algo_str(clnet_dense_algo algo);
clnet_status clnet_dense_algo_parse(const char *name, clnet_dense_algo *out);
/* The dense find-db file of ctx's device: $CLNET_CACHE_DIR/dense-gemm-<hash of device name,
 * driver, platform>.txt; "" without a cache (CLNET_NO_CACHE=1) or for the reference. Format: see
 * host/tune/dense_algo.h. */
void clnet_dense_algo_db_path(clnet_ctx *ctx, char *dst, size_t cap);
/* What AUTO did for dense GEMMs in this process on ctx (the fields as for convolutions). */
clnet_algo_stats clnet_dense_algo_get_stats(clnet_ctx *ctx);

/* ---- softmax cross-entropy on logits, mean over the batch ----------------- */
/* logits (N, K), labels (N) int32 in [0, K). Writes dlogits (N, K) =
 * (softmax - onehot) / N and result[0] = mean loss, result[1] = count of rows
 * whose argmax (first on ties) equals the label (as a float). `result` is a
 * 2-float buffer; nothing is read back. */
clnet_status clnet_softmax_xent(clnet_ctx *ctx, int32_t n, int32_t k, const clnet_buf *logits,
                                const clnet_buf *labels, clnet_buf *dlogits, clnet_buf *result);
/* The same with label smoothing s in [0, 1] (PyTorch's): the target is (1 - s) onehot + s/K, so
 * dlogits = (softmax - target) / N and a row's loss is -sum_j target_j log softmax_j. s = 0 is
 * clnet_softmax_xent, bit for bit. */
clnet_status clnet_softmax_xent_smoothed(clnet_ctx *ctx, int32_t n, int32_t k, float smoothing,
                                         const clnet_buf *logits, const clnet_buf *labels, clnet_buf *dlogits,
                                         clnet_buf *result);

/* ---- Adam as Keras (SPEC) ---------------------------------------------------
 * t is the step number after this update (1 for the first). For each element:
 *   m += (g - m)*(1-beta1); v += (g*g - v)*(1-beta2);
 *   p -= alpha_t * m / (sqrt(v) + eps),  alpha_t = lr*sqrt(1-beta2^t)/(1-beta1^t). */
typedef struct clnet_adam_desc {
  float lr, beta1, beta2, eps; /* 1e-3, 0.9, 0.999, 1e-7 */
  int64_t t;
} clnet_adam_desc;

clnet_status clnet_adam_update(clnet_ctx *ctx, const clnet_adam_desc *d, int64_t count,
                               clnet_buf *param, const clnet_buf *grad, clnet_buf *m, clnet_buf *v);

/* ---- AdamW and SGD with momentum over `count` floats; the first decay_count are weight-decayed
 * (cl/optim.cl has the formulas) ---------------------------------------------------------------- */
/* AdamW as PyTorch's: t is the step number after this update (1 for the first). */
typedef struct clnet_adamw_desc {
  float lr, beta1, beta2, eps; /* 1e-3, 0.9, 0.999, 1e-8 in PyTorch */
  float weight_decay;          /* decoupled: p *= 1 - lr*weight_decay */
  int64_t t;
} clnet_adamw_desc;
clnet_status clnet_adamw_update(clnet_ctx *ctx, const clnet_adamw_desc *d, int64_t count, int64_t decay_count,
                                clnet_buf *param, const clnet_buf *grad, clnet_buf *m, clnet_buf *v);
/* SGD with momentum as PyTorch's (no dampening), Nesterov optional; l2 is PyTorch's weight_decay
 * (added to the gradient), weight_decay the decoupled one (p -= lr*weight_decay*p). buf is the
 * momentum buffer (zero before the first step). */
typedef struct clnet_sgd_desc {
  float lr, momentum;
  int32_t nesterov;
  float weight_decay, l2;
} clnet_sgd_desc;
clnet_status clnet_sgd_update(clnet_ctx *ctx, const clnet_sgd_desc *d, int64_t count, int64_t decay_count,
                              clnet_buf *param, const clnet_buf *grad, clnet_buf *buf);

/* avg (count) = decay*avg + (1 - decay)*x: the moving average of the weights. */
clnet_status clnet_ema_update(clnet_ctx *ctx, int64_t count, float decay, const clnet_buf *x, clnet_buf *avg);
/* Exchanges the first count floats of a and b. */
clnet_status clnet_swap_buffers(clnet_ctx *ctx, int64_t count, clnet_buf *a, clnet_buf *b);

/* ---- GEMM (row-major): C (M, N) = alpha * op(A) . op(B) + beta * C ----------
 * op(A) is (M, K): A stored (M, K) with lda >= K, or (K, M) with lda >= M when
 * trans_a. Likewise op(B) (K, N). Offsets are in floats. OpenCL: CLBlast. */
clnet_status clnet_gemm(clnet_ctx *ctx, int32_t trans_a, int32_t trans_b, int32_t m, int32_t n,
                        int32_t k, float alpha, const clnet_buf *a, size_t a_off, int32_t lda,
                        const clnet_buf *b, size_t b_off, int32_t ldb, float beta, clnet_buf *c,
                        size_t c_off, int32_t ldc);

#ifdef __cplusplus
}
#endif
#endif
