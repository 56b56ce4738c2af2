/* Check cases: conv2d forward, backward data, backward filter (+ bias gradient).
 *
 * Every cross-check case runs once per OpenCL algorithm that applies (im2col + GEMM, and the direct
 * kernels, or for depthwise convs the depthwise kernels), forced with clnet_ctx_set_conv_algo on the
 * device under test; the tolerances are the same for all because they follow from the length of
 * each sum (one group's, for grouped convs), which is the same whichever way it is partitioned. The 3x3 stride-1 shapes also run all three passes with
 * WINOGRAD forced, at its own, wider tolerance (clnet_conv2d_algo_atol in ops/tolerance.h: its
 * transforms scale each term by up to 9 (64 for dw) and add rounding; docs/CHECKS.md; db is the
 * shared column sum, at the usual tolerance).
 * Mutation runs (CLNET_KERNEL_DIR on an edited copy of cl/conv2d_winograd.cl): see docs/CHECKS.md.
 *
 * Cross-checks (device vs the float reference, which sums in double): every
 * input, weight, bias and dy is U(-1, 1), so each output is a dot product of
 * terms bounded by 1 and we use clnet_conv2d_atol = clnet_check_dot_atol(len, 1, 1) (see
 * check_gemm.c: 4x the random-walk rounding of a float sum of `len` products,
 * rtol = 0) with len the longest sum behind one output element:
 *   y      K + 1 = KH*KW*C_in/groups products plus the bias,
 *   dx     KH*KW*C_out/groups (GEMM over C_out/groups, then up to KH*KW taps summed by col2im;
 *          direct and depthwise: one running sum over the taps and the channels),
 *   dw     N*OH*OW (over all images: the per-chunk GEMMs accumulate with beta = 1; direct: per
 *          block of output rows, then the blocks in order),
 *   db     N*OH*OW terms of |dy| <= 1, E|dy| = 1/2 (twice E|a*b| = 1/4): bmax = 2 keeps the margin.
 *
 * Gradient checks (double reference vs central differences) of L = <dy, conv(x, w, b)>.
 * L is linear in each of x, w, b, so central differences have no truncation
 * error; what remains is rounding, about 1e-16 * sum|terms of L| / h ~ 1e-12 with
 * h = 1e-3. atol = rtol = 1e-8 leaves room for that and still fails any
 * wrong tap, index or padding (errors of order 1). */
#include <stdlib.h>
#include <string.h>

#include "check/harness.h"
#include "tune/conv_algo.h"
#include "ops/tolerance.h"

/* stride is the height stride, and the width's too unless sw is set; dh, dw, groups 0 mean 1;
 * pads (top, left, bottom, right, the layer attribute's order) with padding E only. */
typedef struct conv_params {
  int32_t n, h, w, c, oc, kh, kw, stride;
  clnet_padding padding;
  int32_t bias;
  int32_t sw, dh, dw, groups;
  int32_t pads[4];
} conv_params;

static clnet_status make_desc(const conv_params *p, clnet_conv2d_desc *d) {
  *d = (clnet_conv2d_desc){.n = p->n, .in_h = p->h, .in_w = p->w, .in_c = p->c, .out_c = p->oc, .k_h = p->kh,
                           .k_w = p->kw, .stride = p->stride, .padding = p->padding, .has_bias = p->bias,
                           .stride_w = p->sw, .dilation_h = p->dh, .dilation_w = p->dw, .groups = p->groups,
                           .pad_top = p->pads[0], .pad_left = p->pads[1], .pad_bottom = p->pads[2],
                           .pad_right = p->pads[3]};
  return clnet_conv2d_desc_init(d);
}

static int64_t xc(const clnet_conv2d_desc *d) { return (int64_t)d->n * d->in_h * d->in_w * d->in_c; }
static int64_t yc(const clnet_conv2d_desc *d) { return (int64_t)d->n * d->out_h * d->out_w * d->out_c; }
static int64_t wc(const clnet_conv2d_desc *d) {
  return (int64_t)d->k_h * d->k_w * (d->in_c / clnet_conv2d_groups(d)) * d->out_c;
}

/* ---- cross-checks ---------------------------------------------------------- */

enum { RUN_FORWARD, RUN_BACKWARD_DATA, RUN_BACKWARD_FILTER };

/* One cross-check case: a shape and the algorithm forced on the device under test; max_alloc > 0
 * lowers the device's largest buffer for the case, so that a small shape still runs the chunked
 * paths (several im2col / Winograd chunks) that the real limits only reach at large shapes. */
typedef struct conv_cross {
  const conv_params *p;
  clnet_conv_algo algo;
  uint64_t max_alloc;
} conv_cross;

static clnet_status run_cross_algo(clnet_check_env *env, const conv_params *p, int which, clnet_conv_algo algo);

/* Runs the case with the device's conv algorithm forced to c->algo, then restores the device's
 * setting (including "not chosen yet", so CLNET_CONV_ALGO still applies to later users). */
static clnet_status run_cross(clnet_check_env *env, const conv_cross *c, int which) {
  const int32_t saved = clnet_conv_algo_setting_save(env->dev);
  const uint64_t saved_alloc = env->dev->info.max_alloc_bytes;
  if (c->max_alloc && c->max_alloc < saved_alloc) env->dev->info.max_alloc_bytes = c->max_alloc;
  clnet_status st = clnet_ctx_set_conv_algo(env->dev, c->algo);
  if (st == CLNET_SUCCESS) st = run_cross_algo(env, c->p, which, c->algo);
  clnet_conv_algo_setting_restore(env->dev, saved);
  env->dev->info.max_alloc_bytes = saved_alloc;
  return st;
}

/* The op under test on one backend. */
static clnet_status run_op(clnet_ctx *ctx, const clnet_conv2d_desc *d, int which, int on_dev, check_tensor *x,
                           check_tensor *w, check_tensor *b, check_tensor *y) {
#define SIDE(t) (on_dev ? &(t)->dev : &(t)->ref)
  switch (which) {
    case RUN_FORWARD: return clnet_conv2d_forward(ctx, d, SIDE(x), SIDE(w), SIDE(b), SIDE(y));
    case RUN_BACKWARD_DATA: return clnet_conv2d_backward_data(ctx, d, SIDE(y), SIDE(w), SIDE(x));
    default: return clnet_conv2d_backward_filter(ctx, d, SIDE(x), SIDE(y), SIDE(w), SIDE(b));
  }
#undef SIDE
}

/* Fails the case unless the device values of t equal `first` (count floats) bit for bit. */
static clnet_status check_same_bits(clnet_check_env *env, const check_tensor *t, const float *first) {
  float *again = malloc((size_t)t->count * sizeof(float));
  if (!again) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "conv2d check: %s", t->name);
  clnet_status st = clnet_buf_read(env->dev, &t->dev, 0, (size_t)t->count * sizeof(float), again);
  for (int64_t i = 0; st == CLNET_SUCCESS && i < t->count; ++i)
    if (memcmp(&again[i], &first[i], sizeof(float))) {
      check_fail(env, "%s[%lld]: a second identical run gave %.9g, the first %.9g (not deterministic)", t->name,
                 (long long)i, again[i], first[i]);
      break;
    }
  free(again);
  return st;
}

/* Random inputs; the output starts random too (the op must overwrite it). The device runs the
 * op twice: the second result is compared with the reference and must equal the first bit for
 * bit (every algorithm sums in a fixed order). */
static clnet_status run_cross_algo(clnet_check_env *env, const conv_params *p, int which, clnet_conv_algo algo) {
  clnet_conv2d_desc d;
  CLNET_TRY(make_desc(p, &d));
  check_tensor x, w, b, y;
  float *first = NULL, *first_db = NULL; /* the device's first result (dy-shaped output, db) */
  int nt = 0; /* tensors initialised, for cleanup */
  clnet_status st;
  CLNET_TRY_GOTO(check_tensor_init(env, &x, xc(&d), 4,
                                   which == RUN_BACKWARD_DATA ? "dx" : "x"), st, out);
  nt++;
  CLNET_TRY_GOTO(check_tensor_init(env, &w, wc(&d), 4, which == RUN_BACKWARD_FILTER ? "dw" : "w"), st, out);
  nt++;
  CLNET_TRY_GOTO(check_tensor_init(env, &b, d.out_c, 4, which == RUN_BACKWARD_FILTER ? "db" : "b"), st, out);
  nt++;
  CLNET_TRY_GOTO(check_tensor_init(env, &y, yc(&d), 4, which == RUN_FORWARD ? "y" : "dy"), st, out);
  nt++;
  /* x, w, b, y all U(-1, 1): inputs, and outputs that must be overwritten */
  CLNET_TRY_GOTO(check_tensor_uniform(env, &x, -1, 1), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &w, -1, 1), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &b, -1, 1), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &y, -1, 1), st, out);
  check_tensor *out_t = which == RUN_FORWARD ? &y : which == RUN_BACKWARD_DATA ? &x : &w;
  first = malloc((size_t)out_t->count * sizeof(float));
  first_db = malloc((size_t)d.out_c * sizeof(float));
  if (!first || !first_db) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "conv2d check");
    goto out;
  }
  CLNET_TRY_GOTO(run_op(env->dev, &d, which, 1, &x, &w, &b, &y), st, out);
  CLNET_TRY_GOTO(clnet_buf_read(env->dev, &out_t->dev, 0, (size_t)out_t->count * sizeof(float), first), st, out);
  CLNET_TRY_GOTO(clnet_buf_read(env->dev, &b.dev, 0, (size_t)d.out_c * sizeof(float), first_db), st, out);
  CLNET_TRY_GOTO(run_op(env->dev, &d, which, 1, &x, &w, &b, &y), st, out);
  CLNET_TRY_GOTO(run_op(env->ref, &d, which, 0, &x, &w, &b, &y), st, out);
  switch (which) {
    case RUN_FORWARD:
      CLNET_TRY_GOTO(check_compare(env, &y, clnet_conv2d_algo_atol(&d, CLNET_PASS_FORWARD, 0, algo), 0), st, out);
      break;
    case RUN_BACKWARD_DATA:
      CLNET_TRY_GOTO(check_compare(env, &x, clnet_conv2d_algo_atol(&d, CLNET_PASS_BACKWARD_DATA, 0, algo), 0),
                     st, out);
      break;
    default:
      CLNET_TRY_GOTO(check_compare(env, &w, clnet_conv2d_algo_atol(&d, CLNET_PASS_BACKWARD_FILTER, 0, algo), 0),
                     st, out);
      /* without bias db must be left alone: both sides still hold the same random values */
      CLNET_TRY_GOTO(check_compare(env, &b, d.has_bias ? clnet_conv2d_atol(&d, CLNET_PASS_BACKWARD_FILTER, 1) : 0, 0), st, out);
      CLNET_TRY_GOTO(check_same_bits(env, &b, first_db), st, out);
      break;
  }
  CLNET_TRY_GOTO(check_same_bits(env, out_t, first), st, out);
out:
  free(first);
  free(first_db);
  if (nt > 3) check_tensor_free(env, &y);
  if (nt > 2) check_tensor_free(env, &b);
  if (nt > 1) check_tensor_free(env, &w);
  if (nt > 0) check_tensor_free(env, &x);
  return st;
}

static clnet_status run_forward(clnet_check_env *env, const void *p) { return run_cross(env, p, RUN_FORWARD); }
static clnet_status run_backward_data(clnet_check_env *env, const void *p) {
  return run_cross(env, p, RUN_BACKWARD_DATA);
}
static clnet_status run_backward_filter(clnet_check_env *env, const void *p) {
  return run_cross(env, p, RUN_BACKWARD_FILTER);
}

/* ---- gradient checks on the double reference -------------------------------- */

typedef struct conv_grad_state {
  clnet_conv2d_desc d;
  double *x, *w, *b, *y, *dy; /* (N,H,W,C_in) (KH,KW,C_in/G,C_out) (C_out) (N,OH,OW,C_out) x2 */
} conv_grad_state;

static double conv_loss(void *u) {
  conv_grad_state *s = u;
  clnet_ref64_conv2d_forward(&s->d, s->x, s->w, s->b, s->y);
  return check_dot_f64(s->dy, s->y, yc(&s->d));
}

#define GRAD_SAMPLES 64 /* finite-difference samples per tensor */

/* which: RUN_BACKWARD_DATA checks dx; RUN_BACKWARD_FILTER checks dw and db. */
static clnet_status run_grad(clnet_check_env *env, const conv_params *p, int which) {
  conv_grad_state s;
  CLNET_TRY(make_desc(p, &s.d));
  const double h = 1e-3, tol = 1e-8;
  s.x = check_alloc_f64(xc(&s.d));
  s.w = check_alloc_f64(wc(&s.d));
  s.b = check_alloc_f64(s.d.out_c);
  s.y = check_alloc_f64(yc(&s.d));
  s.dy = check_alloc_f64(yc(&s.d));
  double *gx = check_alloc_f64(xc(&s.d)), *gw = check_alloc_f64(wc(&s.d)), *gb = check_alloc_f64(s.d.out_c);
  double *num = check_alloc_f64(GRAD_SAMPLES);
  int64_t *idx = malloc(GRAD_SAMPLES * sizeof *idx);
  clnet_status st = CLNET_SUCCESS;
  if (!s.x || !s.w || !s.b || !s.y || !s.dy || !gx || !gw || !gb || !num || !idx) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "conv2d gradcheck");
    goto out;
  }
  check_fill_f64(env, s.x, xc(&s.d), -1, 1);
  check_fill_f64(env, s.w, wc(&s.d), -1, 1);
  if (s.d.has_bias) check_fill_f64(env, s.b, s.d.out_c, -1, 1);
  check_fill_f64(env, s.dy, yc(&s.d), -1, 1);
  if (which == RUN_BACKWARD_DATA) {
    clnet_ref64_conv2d_backward_data(&s.d, s.dy, s.w, gx);
    int64_t k = check_pick_indices(env, xc(&s.d), GRAD_SAMPLES, idx);
    check_numeric_grad(s.x, idx, k, h, conv_loss, &s, num);
    check_grad_compare(env, "dx", gx, idx, num, NULL, k, tol, tol);
  } else {
    clnet_ref64_conv2d_backward_filter(&s.d, s.x, s.dy, gw, s.d.has_bias ? gb : NULL);
    int64_t k = check_pick_indices(env, wc(&s.d), GRAD_SAMPLES, idx);
    check_numeric_grad(s.w, idx, k, h, conv_loss, &s, num);
    check_grad_compare(env, "dw", gw, idx, num, NULL, k, tol, tol);
    if (s.d.has_bias) {
      k = check_pick_indices(env, s.d.out_c, GRAD_SAMPLES, idx);
      check_numeric_grad(s.b, idx, k, h, conv_loss, &s, num);
      check_grad_compare(env, "db", gb, idx, num, NULL, k, tol, tol);
    }
  }
out:
  free(s.x);
  free(s.w);
  free(s.b);
  free(s.y);
  free(s.dy);
  free(gx);
  free(gw);
  free(gb);
  free(num);
  free(idx);
  return st;
}

static clnet_status run_grad_data(clnet_check_env *env, const void *p) { return run_grad(env, p, RUN_BACKWARD_DATA); }
static clnet_status run_grad_filter(clnet_check_env *env, const void *p) {
  return run_grad(env, p, RUN_BACKWARD_FILTER);
}

/* ---- shapes ------------------------------------------------------------------ */
#define V CLNET_PADDING_VALID
#define S CLNET_PADDING_SAME
#define E CLNET_PADDING_EXPLICIT
/* the first ten fields of conv_params; the rest by name */
#define Q(n_, h_, w_, c_, oc_, kh_, kw_, s_, pad_, bias_) \
  .n = n_, .h = h_, .w = w_, .c = c_, .oc = oc_, .kh = kh_, .kw = kw_, .stride = s_, .padding = pad_, .bias = bias_

/* ResNet-18 on 32x32x3, batch 2 (SPEC): every conv shape; Keras convs have a bias. */
static const conv_params r_stem = {Q(2, 32, 32, 3, 64, 3, 3, 1, V, 1)},
                         r_l1 = {Q(2, 30, 30, 64, 64, 3, 3, 1, S, 1)},
                         r_l2a = {Q(2, 30, 30, 64, 128, 3, 3, 2, S, 1)},
                         r_l2b = {Q(2, 15, 15, 128, 128, 3, 3, 1, S, 1)},
                         r_l2s = {Q(2, 30, 30, 64, 128, 1, 1, 2, V, 1)},
                         r_l3a = {Q(2, 15, 15, 128, 256, 3, 3, 2, S, 1)},
                         r_l3b = {Q(2, 8, 8, 256, 256, 3, 3, 1, S, 1)},
                         r_l3s = {Q(2, 15, 15, 128, 256, 1, 1, 2, V, 1)},
                         r_l4a = {Q(2, 8, 8, 256, 512, 3, 3, 2, S, 1)},
                         r_l4b = {Q(2, 4, 4, 512, 512, 3, 3, 1, S, 1)},
                         r_l4s = {Q(2, 8, 8, 256, 512, 1, 1, 2, V, 1)},
                         /* Fashion-MNIST stem */
                         f_stem = {Q(2, 28, 28, 1, 64, 3, 3, 1, V, 1)},
                         /* the default run: ResNet-18 at width 8 on 28x28x1 (its other convs
                          * repeat these channel pairs at these sizes) */
                         w8_stem = {Q(2, 28, 28, 1, 8, 3, 3, 1, V, 1)},
                         w8_l1 = {Q(2, 26, 26, 8, 8, 3, 3, 1, S, 1)},
                         w8_l2a = {Q(2, 26, 26, 8, 16, 3, 3, 2, S, 1)},
                         w8_l2s = {Q(2, 26, 26, 8, 16, 1, 1, 2, V, 1)},
                         w8_l3a = {Q(2, 13, 13, 16, 32, 3, 3, 2, S, 1)},
                         w8_l3b = {Q(2, 7, 7, 32, 32, 3, 3, 1, S, 1)},
                         w8_l4a = {Q(2, 7, 7, 32, 64, 3, 3, 2, S, 1)},
                         w8_l4b = {Q(2, 4, 4, 64, 64, 3, 3, 1, S, 1)},
                         /* awkward shapes */
                         a_1x1_pw = {Q(1, 1, 1, 5, 7, 1, 1, 1, V, 1)},
                         a_1x1_k3 = {Q(3, 1, 1, 5, 7, 3, 3, 1, S, 1)},
                         a_7_s2 = {Q(1, 7, 7, 13, 7, 3, 3, 2, S, 1)},
                         a_13_k5 = {Q(3, 13, 13, 7, 13, 5, 5, 1, S, 0)},
                         a_13_s3 = {Q(2, 13, 13, 3, 5, 3, 3, 3, V, 1)},
                         a_rect = {Q(2, 13, 7, 5, 6, 2, 3, 2, S, 1)},
                         a_k31 = {Q(2, 13, 13, 2, 3, 3, 1, 3, S, 1)},
                         a_7_c1 = {Q(1, 7, 7, 1, 1, 3, 3, 1, V, 0)},
                         a_pw_odd = {Q(3, 13, 13, 17, 19, 1, 1, 1, V, 0)},
                         a_pw_split = {Q(1, 3, 3, 1200, 5, 1, 1, 1, V, 1)}, /* K = 1200: two GEMM slices */
                         a_k7_full = {Q(2, 7, 7, 3, 4, 7, 7, 1, V, 1)},
                         a_k4_s2 = {Q(3, 7, 7, 6, 5, 4, 4, 2, S, 1)},
                         /* col of one image is 6.25 MiB: forward/backward-data chunks of 2, 2, 1
                          * images (16 MiB limit), filter-gradient chunks of one image each (4 MiB
                          * limit, below one image) */
                         a_chunked = {Q(5, 32, 32, 64, 3, 5, 5, 1, S, 1)},
                         /* col of one image is 1.56 MiB: filter-gradient chunks of 2, 1 images */
                         a_chunked_w = {Q(3, 16, 16, 64, 5, 5, 5, 1, S, 1)},
                         /* Winograd F(2x2, 3x3): odd sizes (partial 2x2 tiles), channel counts off
                          * the 8/16 tiles, a 1x1 output, and one image per 2x2 tile */
                         wi_odd = {Q(3, 13, 11, 5, 19, 3, 3, 1, S, 1)},
                         wi_odd_v = {Q(2, 9, 7, 17, 7, 3, 3, 1, V, 0)},
                         wi_out1 = {Q(1, 3, 3, 20, 9, 3, 3, 1, V, 1)},
                         wi_thin = {Q(2, 2, 5, 3, 33, 3, 3, 1, S, 1)},
                         /* V + M of one image is 1.8 MiB: chunks of 2, 2 and 1 images (4 MiB limit) */
                         wi_chunked = {Q(5, 30, 30, 64, 64, 3, 3, 1, S, 1)},
                         /* F(4x4): V + M of one image is 6.0 MiB: chunks of 2 and 1 images
                          * (16 MiB limit) */
                         wi4_chunked = {Q(3, 72, 72, 64, 64, 3, 3, 1, S, 1)},
                         /* the quick subset's chunked paths (host/check/quick.c) at small shapes:
                          * with 8 KiB buffers im2col (3.5 KiB an image) runs chunks of 2 and 1
                          * images in all three passes; with 70 KiB, F(2x2) chunks of 3+2 (forward:
                          * V + M 18.8 KiB an image), 3+2 (backward data, 21.9 KiB) and 1 image each
                          * (filter gradient, 56.3 KiB), F(4x4) 4+1, 3+2 and 1 each */
                         q_chunk_gemm = {Q(3, 5, 5, 4, 6, 3, 3, 1, S, 1)},
                         q_chunk = {Q(5, 9, 9, 4, 6, 3, 3, 1, S, 1)},
                         /* the direct filter gradient in 2 row blocks (722 output pixels, blocks of
                          * 27 rows of 19), summed by conv2d_direct_sum_blocks, dw and db */
                         q_blocks = {Q(2, 19, 19, 3, 5, 3, 3, 1, S, 1)},
                         /* the smallest shapes for the variants the quick subset needs: Winograd's
                          * v8 transforms (8 channels; partial tiles), its v16 transforms with the
                          * T32 GEMM forward and T16 backward, direct wgrad t32_c8 with a T16
                          * forward, and a K of 900 (the gemm path's split K, direct wgrad t8_c16) */
                         q_wino_v8 = {Q(1, 5, 6, 8, 8, 3, 3, 1, S, 1)},
                         q_wino_v16 = {Q(1, 3, 5, 16, 32, 3, 3, 1, S, 1)},
                         q_t32 = {Q(1, 3, 3, 8, 32, 3, 3, 1, S, 1)},
                         q_k900 = {Q(1, 2, 2, 900, 3, 1, 1, 1, V, 1)},
                         /* strided im2col / col2im and the direct forward's small strided work-group;
                          * direct wgrad t16_c16 (no bias, 17 in: T16 backward data) and t16_c8;
                          * Winograd's partial tiles at odd sizes and channel counts */
                         q_s2 = {Q(1, 5, 5, 3, 4, 3, 3, 2, S, 1)},
                         q_c16 = {Q(1, 3, 3, 17, 9, 1, 1, 1, V, 0)},
                         q_c8_t16 = {Q(1, 5, 5, 8, 16, 1, 1, 2, V, 1)},
                         q_wino_odd = {Q(1, 7, 5, 9, 7, 3, 3, 1, V, 0)},
                         /* the depthwise filter gradient in 2 row blocks (722 output pixels, blocks
                          * of 27 rows of 19), summed by conv2d_dw_sum_blocks */
                         q_dw_blocks = {Q(2, 19, 19, 5, 5, 3, 3, 1, E, 1), .groups = 5, .pads = {1, 1, 1, 1}};

/* MobileNetV2 on 32x32x3 (host/models/mobilenet_v2.c at width 32), batch 2: its depthwise 3x3 convs
 * (pads 1, stride 1 or 2, no bias) and some of its 1x1 expand / project convs */
static const conv_params m_dw1 = {Q(2, 32, 32, 32, 32, 3, 3, 1, E, 0), .groups = 32, .pads = {1, 1, 1, 1}},
                         m_dw2 = {Q(2, 32, 32, 96, 96, 3, 3, 1, E, 0), .groups = 96, .pads = {1, 1, 1, 1}},
                         m_dw3s = {Q(2, 32, 32, 144, 144, 3, 3, 2, E, 0), .groups = 144, .pads = {1, 1, 1, 1}},
                         m_dw4 = {Q(2, 16, 16, 192, 192, 3, 3, 1, E, 0), .groups = 192, .pads = {1, 1, 1, 1}},
                         m_dw5 = {Q(2, 8, 8, 576, 576, 3, 3, 1, E, 0), .groups = 576, .pads = {1, 1, 1, 1}},
                         m_dw6s = {Q(2, 8, 8, 576, 576, 3, 3, 2, E, 0), .groups = 576, .pads = {1, 1, 1, 1}},
                         m_dw7 = {Q(2, 4, 4, 960, 960, 3, 3, 1, E, 0), .groups = 960, .pads = {1, 1, 1, 1}},
                         m_exp = {Q(2, 32, 32, 16, 96, 1, 1, 1, V, 0)},
                         m_proj = {Q(2, 8, 8, 384, 64, 1, 1, 1, V, 0)},
                         m_head = {Q(2, 4, 4, 320, 1280, 1, 1, 1, V, 0)},
                         /* awkward depthwise: odd channels (none a multiple of the 8-channel tile),
                          * sizes 1, 7, 13, channel multipliers, k 1..7, dilation, rectangular
                          * kernels and strides, asymmetric and large pads */
                         d_odd = {Q(3, 13, 13, 7, 7, 3, 3, 1, E, 1), .groups = 7, .pads = {1, 1, 1, 1}},
                         d_m3 = {Q(2, 7, 7, 5, 15, 3, 3, 2, S, 1), .groups = 5},
                         d_k7 = {Q(2, 13, 13, 13, 13, 7, 7, 1, E, 1), .groups = 13, .pads = {3, 3, 3, 3}},
                         d_1 = {Q(3, 1, 1, 9, 9, 3, 3, 1, E, 1), .groups = 9, .pads = {1, 1, 1, 1}},
                         d_dil2 = {Q(2, 13, 13, 11, 11, 3, 3, 1, E, 0), .dh = 2, .dw = 2, .groups = 11, .pads = {2, 2, 2, 2}},
                         d_1x7 = {Q(2, 13, 9, 6, 6, 1, 7, 1, E, 1), .groups = 6, .pads = {0, 3, 0, 3}},
                         d_7x1 = {Q(2, 9, 13, 6, 12, 7, 1, 1, E, 0), .groups = 6, .pads = {3, 0, 3, 0}},
                         d_asym = {Q(2, 13, 13, 17, 34, 3, 3, 2, E, 1), .groups = 17, .pads = {0, 1, 2, 0}},
                         d_s21 = {Q(2, 7, 13, 10, 10, 3, 5, 2, S, 1), .sw = 1, .groups = 10},
                         d_s2d2 = {Q(2, 13, 13, 9, 9, 3, 3, 2, E, 1), .dh = 2, .dw = 2, .groups = 9, .pads = {2, 2, 2, 2}},
                         d_k5s3 = {Q(1, 7, 7, 3, 6, 5, 5, 3, E, 1), .dh = 2, .dw = 1, .groups = 3, .pads = {4, 1, 0, 3}},
                         d_k1 = {Q(2, 7, 7, 33, 33, 1, 1, 1, V, 1), .groups = 33},
                         d_bigpad = {Q(1, 3, 3, 4, 4, 3, 3, 1, E, 1), .groups = 4, .pads = {4, 0, 1, 5}},
                         /* grouped (not depthwise): group widths off the tiles, groups that do not
                          * divide 8, 1x1 (the GEMM path's pointwise case), dilation, strides */
                         gr_3 = {Q(2, 13, 13, 12, 18, 3, 3, 1, S, 1), .groups = 3},
                         gr_5 = {Q(2, 7, 7, 15, 10, 3, 1, 1, S, 0), .groups = 5},
                         gr_pw = {Q(2, 13, 13, 8, 12, 1, 1, 1, V, 1), .groups = 4},
                         /* direct's filter-gradient tiles per group: 8 x 32 (t32_c8), 16 x 16, and
                          * ResNeXt's 32 groups of 4 */
                         gr_t32 = {Q(2, 8, 8, 32, 128, 3, 3, 1, S, 1), .groups = 4},
                         gr_c16 = {Q(2, 7, 7, 64, 48, 3, 3, 2, S, 1), .groups = 2},
                         gr_x32 = {Q(2, 8, 8, 128, 128, 3, 3, 1, S, 0), .groups = 32},
                         gr_dil = {Q(2, 13, 11, 6, 9, 3, 3, 2, E, 1), .sw = 1, .dh = 2, .dw = 3, .groups = 3, .pads = {1, 2, 0, 3}},
                         /* one group, the new geometry: dilation (with strides sharing a factor
                          * with it, and not), rectangular strides, kernels 1x7 / 7x1, asymmetric
                          * and large pads, a 1x1 conv with pads (not the pointwise GEMM path) */
                         o_dil2 = {Q(2, 13, 13, 5, 7, 3, 3, 1, S, 1), .dh = 2, .dw = 2},
                         o_s2d2 = {Q(2, 13, 13, 6, 5, 3, 3, 2, E, 1), .dh = 2, .dw = 2, .pads = {2, 2, 1, 2}},
                         o_s3d2 = {Q(2, 13, 13, 4, 9, 3, 3, 3, S, 0), .dh = 2, .dw = 2},
                         o_s2d3 = {Q(1, 13, 13, 3, 17, 3, 3, 2, V, 1), .dh = 3, .dw = 1},
                         o_s21 = {Q(2, 13, 7, 5, 6, 3, 3, 2, S, 1), .sw = 1},
                         o_s12 = {Q(2, 7, 13, 9, 3, 2, 3, 1, V, 1), .sw = 2},
                         o_1x7 = {Q(2, 13, 13, 7, 8, 1, 7, 1, E, 1), .pads = {0, 3, 0, 3}},
                         o_7x1 = {Q(2, 13, 13, 7, 8, 7, 1, 1, E, 0), .pads = {3, 0, 3, 0}},
                         o_asym = {Q(2, 13, 13, 16, 16, 3, 3, 2, E, 1), .pads = {0, 1, 2, 0}},
                         o_bigpad = {Q(1, 3, 3, 5, 7, 3, 3, 1, E, 1), .pads = {4, 0, 1, 5}},
                         o_pw_pad = {Q(2, 7, 7, 9, 5, 1, 1, 1, E, 1), .pads = {1, 0, 0, 2}},
                         o_k7_s2 = {Q(2, 13, 13, 3, 16, 7, 7, 2, E, 0), .pads = {3, 3, 3, 3}},
                         /* Winograd with asymmetric explicit pads (its backward data runs with
                          * pads 2 - pad, negative here) */
                         wi_asym = {Q(2, 9, 11, 6, 10, 3, 3, 1, E, 1), .pads = {0, 2, 3, 1}};

/* gradient-check shapes */
static const conv_params g_s2_asym = {Q(2, 6, 6, 2, 3, 3, 3, 2, S, 1)},   /* pad 0 before, 1 after */
                         g_k1_s2 = {Q(1, 5, 5, 3, 4, 1, 1, 2, V, 1)},
                         g_rect = {Q(2, 7, 5, 2, 3, 2, 3, 1, S, 1)},      /* pad h 0/1, w 1/1 */
                         g_k5_s3 = {Q(1, 8, 8, 2, 2, 5, 5, 3, S, 0)},     /* pad 1/2 */
                         g_1x1_k3 = {Q(3, 1, 1, 3, 2, 3, 3, 1, S, 1)},    /* only the centre tap is real */
                         g_pw = {Q(2, 4, 4, 3, 2, 1, 1, 1, V, 1)},
                         g_s2_same7 = {Q(2, 7, 7, 2, 2, 3, 3, 2, S, 1)},  /* pad 1/1, 4x4 out */
                         /* depthwise, grouped, dilated, rectangular, asymmetric */
                         g_dw_s2 = {Q(2, 7, 7, 3, 3, 3, 3, 2, E, 1), .groups = 3, .pads = {0, 1, 2, 1}},
                         g_dw_m2 = {Q(1, 6, 7, 2, 6, 3, 3, 1, E, 1), .dh = 2, .dw = 2, .groups = 2, .pads = {2, 1, 2, 3}},
                         g_grp = {Q(2, 7, 6, 6, 4, 3, 2, 2, E, 1), .sw = 1, .dh = 1, .dw = 2, .groups = 2, .pads = {1, 1, 1, 0}},
                         g_dil_s2 = {Q(2, 9, 9, 2, 3, 3, 3, 2, S, 0), .dh = 2, .dw = 2},   /* shares the factor 2 */
                         g_1x7 = {Q(1, 5, 9, 2, 2, 1, 7, 1, E, 1), .pads = {0, 3, 0, 3}},
                         g_7x1 = {Q(1, 9, 5, 2, 2, 7, 1, 2, E, 1), .sw = 1, .pads = {3, 0, 2, 0}},
                         g_bigpad = {Q(1, 3, 3, 2, 2, 3, 3, 1, E, 1), .pads = {3, 0, 1, 4}};

/* the three passes of one shape with one algorithm (file-scope compound literals are static) */
#define CROSS3_ALGO(label, sh, al)                                                                     \
  {"conv2d_forward", label, CLNET_CHECK_CROSS, run_forward, &(const conv_cross){.p = &(sh), .algo = al}},           \
  {"conv2d_backward_data", label, CLNET_CHECK_CROSS, run_backward_data, &(const conv_cross){.p = &(sh), .algo = al}}, \
  {"conv2d_backward_filter", label, CLNET_CHECK_CROSS, run_backward_filter, &(const conv_cross){.p = &(sh), .algo = al}}
#define CROSS3(label, p)                                   \
  CROSS3_ALGO(label " gemm", p, CLNET_CONV_ALGO_GEMM),     \
  CROSS3_ALGO(label " direct", p, CLNET_CONV_ALGO_DIRECT)
/* Winograd's three passes of a 3x3 stride-1 shape: F(2x2, 3x3) ("winograd") and F(4x4, 3x3)
 * ("winograd4") */
#define WINO_ALGO(label, sh, al)                                                                        \
  {"conv2d_forward", label, CLNET_CHECK_CROSS, run_forward, &(const conv_cross){.p = &(sh), .algo = al}},           \
  {"conv2d_backward_data", label, CLNET_CHECK_CROSS, run_backward_data, &(const conv_cross){.p = &(sh), .algo = al}}, \
  {"conv2d_backward_filter", label, CLNET_CHECK_CROSS, run_backward_filter, &(const conv_cross){.p = &(sh), .algo = al}}
/* the three passes with the device's largest buffer lowered to max_alloc bytes */
#define LIMITED_ALGO(label, sh, algo, bytes)                                                                        \
  {"conv2d_forward", label, CLNET_CHECK_CROSS, run_forward, &(const conv_cross){&(sh), algo, bytes}},               \
  {"conv2d_backward_data", label, CLNET_CHECK_CROSS, run_backward_data, &(const conv_cross){&(sh), algo, bytes}},   \
  {"conv2d_backward_filter", label, CLNET_CHECK_CROSS, run_backward_filter, &(const conv_cross){&(sh), algo, bytes}}
#define WINO2(label, p) WINO_ALGO(label " winograd", p, CLNET_CONV_ALGO_WINOGRAD)
#define WINO4(label, p) WINO_ALGO(label " winograd4", p, CLNET_CONV_ALGO_WINOGRAD4)
/* a depthwise conv: GEMM (per group of one channel) and DEPTHWISE (DIRECT does not apply: forcing it
 * would fall back to AUTO's choice); other grouped convs run CROSS3 (GEMM and DIRECT, per group) */
#define DWISE3(label, p)                               \
  CROSS3_ALGO(label " gemm", p, CLNET_CONV_ALGO_GEMM), \
  CROSS3_ALGO(label " depthwise", p, CLNET_CONV_ALGO_DEPTHWISE)
#define GRAD2(label, p)                                                           \
  {"conv2d_backward_data", label, CLNET_CHECK_GRAD, run_grad_data, &(p)},        \
  {"conv2d_backward_filter", label, CLNET_CHECK_GRAD, run_grad_filter, &(p)}

const clnet_check_case clnet_check_cases_conv2d[] = {
    CROSS3("n2 32x32x3->64 k3 s1 valid", r_stem),
    CROSS3("n2 30x30x64->64 k3 s1 same", r_l1),
    CROSS3("n2 30x30x64->128 k3 s2 same", r_l2a),
    CROSS3("n2 15x15x128->128 k3 s1 same", r_l2b),
    CROSS3("n2 30x30x64->128 k1 s2 valid", r_l2s),
    CROSS3("n2 15x15x128->256 k3 s2 same", r_l3a),
    CROSS3("n2 8x8x256->256 k3 s1 same", r_l3b),
    CROSS3("n2 15x15x128->256 k1 s2 valid", r_l3s),
    CROSS3("n2 8x8x256->512 k3 s2 same", r_l4a),
    CROSS3("n2 4x4x512->512 k3 s1 same", r_l4b),
    CROSS3("n2 8x8x256->512 k1 s2 valid", r_l4s),
    CROSS3("n2 28x28x1->64 k3 s1 valid", f_stem),
    CROSS3("n2 28x28x1->8 k3 s1 valid", w8_stem),
    CROSS3("n2 26x26x8->8 k3 s1 same", w8_l1),
    CROSS3("n2 26x26x8->16 k3 s2 same", w8_l2a),
    CROSS3("n2 26x26x8->16 k1 s2 valid", w8_l2s),
    CROSS3("n2 13x13x16->32 k3 s2 same", w8_l3a),
    CROSS3("n2 7x7x32->32 k3 s1 same", w8_l3b),
    CROSS3("n2 7x7x32->64 k3 s2 same", w8_l4a),
    CROSS3("n2 4x4x64->64 k3 s1 same", w8_l4b),
    CROSS3("n1 1x1x5->7 k1 s1 valid", a_1x1_pw),
    CROSS3("n3 1x1x5->7 k3 s1 same", a_1x1_k3),
    CROSS3("n1 7x7x13->7 k3 s2 same", a_7_s2),
    CROSS3("n3 13x13x7->13 k5 s1 same nobias", a_13_k5),
    CROSS3("n2 13x13x3->5 k3 s3 valid", a_13_s3),
    CROSS3("n2 13x7x5->6 k2x3 s2 same", a_rect),
    CROSS3("n2 13x13x2->3 k3x1 s3 same", a_k31),
    CROSS3("n1 7x7x1->1 k3 s1 valid nobias", a_7_c1),
    CROSS3("n3 13x13x17->19 k1 s1 valid nobias", a_pw_odd),
    CROSS3("n1 3x3x1200->5 k1 s1 valid", a_pw_split),
    CROSS3("n2 7x7x3->4 k7 s1 valid", a_k7_full),
    CROSS3("n3 7x7x6->5 k4 s2 same", a_k4_s2),
    CROSS3("n5 32x32x64->3 k5 s1 same chunked", a_chunked),
    CROSS3("n3 16x16x64->5 k5 s1 same chunked", a_chunked_w),
    WINO2("n2 32x32x3->64 k3 s1 valid", r_stem),
    WINO2("n2 30x30x64->64 k3 s1 same", r_l1),
    WINO2("n2 15x15x128->128 k3 s1 same", r_l2b),
    WINO2("n2 8x8x256->256 k3 s1 same", r_l3b),
    WINO2("n2 4x4x512->512 k3 s1 same", r_l4b),
    WINO2("n2 28x28x1->64 k3 s1 valid", f_stem),
    WINO2("n2 28x28x1->8 k3 s1 valid", w8_stem),
    WINO2("n2 26x26x8->8 k3 s1 same", w8_l1),
    WINO2("n2 7x7x32->32 k3 s1 same", w8_l3b),
    WINO2("n2 4x4x64->64 k3 s1 same", w8_l4b),
    WINO2("n3 1x1x5->7 k3 s1 same", a_1x1_k3),
    WINO2("n1 7x7x1->1 k3 s1 valid nobias", a_7_c1),
    WINO2("n3 13x11x5->19 k3 s1 same", wi_odd),
    WINO2("n2 9x7x17->7 k3 s1 valid nobias", wi_odd_v),
    WINO2("n1 3x3x20->9 k3 s1 valid", wi_out1),
    WINO2("n2 2x5x3->33 k3 s1 same", wi_thin),
    WINO2("n5 30x30x64->64 k3 s1 same chunked", wi_chunked),
    WINO4("n2 32x32x3->64 k3 s1 valid", r_stem),
    WINO4("n2 30x30x64->64 k3 s1 same", r_l1),
    WINO4("n2 15x15x128->128 k3 s1 same", r_l2b),
    WINO4("n2 8x8x256->256 k3 s1 same", r_l3b),
    /* (F(4x4) does not apply to 512 x 512 channels: r_l4b is not a WINO4 case) */
    WINO4("n2 28x28x1->64 k3 s1 valid", f_stem),
    WINO4("n2 28x28x1->8 k3 s1 valid", w8_stem),
    WINO4("n2 26x26x8->8 k3 s1 same", w8_l1),
    WINO4("n2 7x7x32->32 k3 s1 same", w8_l3b),
    WINO4("n2 4x4x64->64 k3 s1 same", w8_l4b),
    WINO4("n3 1x1x5->7 k3 s1 same", a_1x1_k3),
    WINO4("n1 7x7x1->1 k3 s1 valid nobias", a_7_c1),
    WINO4("n3 13x11x5->19 k3 s1 same", wi_odd),
    WINO4("n2 9x7x17->7 k3 s1 valid nobias", wi_odd_v),
    WINO4("n1 3x3x20->9 k3 s1 valid", wi_out1),
    WINO4("n2 2x5x3->33 k3 s1 same", wi_thin),
    WINO4("n5 30x30x64->64 k3 s1 same", wi_chunked),
    WINO4("n3 72x72x64->64 k3 s1 same chunked", wi4_chunked),
    DWISE3("n2 32x32x32 dw k3 s1 pads 1", m_dw1),
    DWISE3("n2 32x32x96 dw k3 s1 pads 1", m_dw2),
    DWISE3("n2 32x32x144 dw k3 s2 pads 1", m_dw3s),
    DWISE3("n2 16x16x192 dw k3 s1 pads 1", m_dw4),
    DWISE3("n2 8x8x576 dw k3 s1 pads 1", m_dw5),
    DWISE3("n2 8x8x576 dw k3 s2 pads 1", m_dw6s),
    DWISE3("n2 4x4x960 dw k3 s1 pads 1", m_dw7),
    CROSS3("n2 32x32x16->96 k1 s1 valid nobias", m_exp),
    CROSS3("n2 8x8x384->64 k1 s1 valid nobias", m_proj),
    CROSS3("n2 4x4x320->1280 k1 s1 valid nobias", m_head),
    DWISE3("n3 13x13x7 dw k3 pads 1", d_odd),
    DWISE3("n2 7x7x5->15 dw x3 k3 s2 same", d_m3),
    DWISE3("n2 13x13x13 dw k7 pads 3", d_k7),
    DWISE3("n3 1x1x9 dw k3 pads 1", d_1),
    DWISE3("n2 13x13x11 dw k3 d2 pads 2 nobias", d_dil2),
    DWISE3("n2 13x9x6 dw k1x7 pads 0,3,0,3", d_1x7),
    DWISE3("n2 9x13x6->12 dw x2 k7x1 pads 3,0,3,0 nobias", d_7x1),
    DWISE3("n2 13x13x17->34 dw x2 k3 s2 pads 0,1,2,0", d_asym),
    DWISE3("n2 7x13x10 dw k3x5 s2x1 same", d_s21),
    DWISE3("n2 13x13x9 dw k3 s2 d2 pads 2", d_s2d2),
    DWISE3("n1 7x7x3->6 dw x2 k5 s3 d2x1 pads 4,1,0,3", d_k5s3),
    DWISE3("n2 7x7x33 dw k1", d_k1),
    DWISE3("n1 3x3x4 dw k3 pads 4,0,1,5", d_bigpad),
    CROSS3("n2 13x13x12->18 g3 k3 same", gr_3),
    CROSS3("n2 7x7x15->10 g5 k3x1 same nobias", gr_5),
    CROSS3("n2 13x13x8->12 g4 k1", gr_pw),
    CROSS3("n2 13x11x6->9 g3 k3 s2x1 d2x3 pads 1,2,0,3", gr_dil),
    CROSS3("n2 8x8x32->128 g4 k3 same", gr_t32),
    CROSS3("n2 7x7x64->48 g2 k3 s2 same", gr_c16),
    CROSS3("n2 8x8x128->128 g32 k3 same nobias", gr_x32),
    CROSS3("n2 13x13x5->7 k3 d2 same", o_dil2),
    CROSS3("n2 13x13x6->5 k3 s2 d2 pads 2,2,1,2", o_s2d2),
    CROSS3("n2 13x13x4->9 k3 s3 d2 same nobias", o_s3d2),
    CROSS3("n1 13x13x3->17 k3 s2 d3x1 valid", o_s2d3),
    CROSS3("n2 13x7x5->6 k3 s2x1 same", o_s21),
    CROSS3("n2 7x13x9->3 k2x3 s1x2 valid", o_s12),
    CROSS3("n2 13x13x7->8 k1x7 pads 0,3,0,3", o_1x7),
    CROSS3("n2 13x13x7->8 k7x1 pads 3,0,3,0 nobias", o_7x1),
    CROSS3("n2 13x13x16->16 k3 s2 pads 0,1,2,0", o_asym),
    CROSS3("n1 3x3x5->7 k3 pads 4,0,1,5", o_bigpad),
    CROSS3("n2 7x7x9->5 k1 pads 1,0,0,2", o_pw_pad),
    CROSS3("n2 13x13x3->16 k7 s2 pads 3 nobias", o_k7_s2),
    CROSS3("n2 9x11x6->10 k3 pads 0,2,3,1", wi_asym),
    WINO2("n2 9x11x6->10 k3 pads 0,2,3,1", wi_asym),
    WINO4("n2 9x11x6->10 k3 pads 0,2,3,1", wi_asym),
    LIMITED_ALGO("quick n3 5x5x4->6 k3 s1 same, 8K buffers gemm", q_chunk_gemm, CLNET_CONV_ALGO_GEMM, 8 << 10),
    LIMITED_ALGO("quick n5 9x9x4->6 k3 s1 same, 70K buffers winograd", q_chunk, CLNET_CONV_ALGO_WINOGRAD, 70 << 10),
    LIMITED_ALGO("quick n5 9x9x4->6 k3 s1 same, 70K buffers winograd4", q_chunk, CLNET_CONV_ALGO_WINOGRAD4, 70 << 10),
    CROSS3_ALGO("quick n2 19x19x3->5 k3 s1 same direct", q_blocks, CLNET_CONV_ALGO_DIRECT),
    WINO2("quick n1 5x6x8->8 k3 s1 same", q_wino_v8),
    WINO4("quick n1 5x6x8->8 k3 s1 same", q_wino_v8),
    WINO2("quick n1 3x5x16->32 k3 s1 same", q_wino_v16),
    WINO4("quick n1 3x5x16->32 k3 s1 same", q_wino_v16),
    CROSS3_ALGO("quick n1 3x3x8->32 k3 s1 same direct", q_t32, CLNET_CONV_ALGO_DIRECT),
    CROSS3("quick n1 2x2x900->3 k1 s1 valid", q_k900),
    CROSS3("quick n1 5x5x3->4 k3 s2 same", q_s2),
    CROSS3_ALGO("quick n1 3x3x17->9 k1 s1 valid nobias direct", q_c16, CLNET_CONV_ALGO_DIRECT),
    CROSS3_ALGO("quick n1 5x5x8->16 k1 s2 valid direct", q_c8_t16, CLNET_CONV_ALGO_DIRECT),
    WINO2("quick n1 7x5x9->7 k3 s1 valid nobias", q_wino_odd),
    WINO4("quick n1 7x5x9->7 k3 s1 valid nobias", q_wino_odd),
    CROSS3_ALGO("quick n2 19x19x5 dw k3 pads 1 depthwise", q_dw_blocks, CLNET_CONV_ALGO_DEPTHWISE),
    GRAD2("n2 6x6x2->3 k3 s2 same (pad 0/1)", g_s2_asym),
    GRAD2("n1 5x5x3->4 k1 s2 valid", g_k1_s2),
    GRAD2("n2 7x5x2->3 k2x3 s1 same", g_rect),
    GRAD2("n1 8x8x2->2 k5 s3 same nobias", g_k5_s3),
    GRAD2("n3 1x1x3->2 k3 s1 same", g_1x1_k3),
    GRAD2("n2 4x4x3->2 k1 s1 valid", g_pw),
    GRAD2("n2 7x7x2->2 k3 s2 same", g_s2_same7),
    GRAD2("n2 7x7x3 dw k3 s2 pads 0,1,2,1", g_dw_s2),
    GRAD2("n1 6x7x2->6 dw x3 k3 d2 pads 2,1,2,3", g_dw_m2),
    GRAD2("n2 7x6x6->4 g2 k3x2 s2x1 d1x2 pads 1,1,1,0", g_grp),
    GRAD2("n2 9x9x2->3 k3 s2 d2 same nobias", g_dil_s2),
    GRAD2("n1 5x9x2->2 k1x7 pads 0,3,0,3", g_1x7),
    GRAD2("n1 9x5x2->2 k7x1 s2x1 pads 3,0,2,0", g_7x1),
    GRAD2("n1 3x3x2->2 k3 pads 3,0,1,4", g_bigpad),
    {0},
};
