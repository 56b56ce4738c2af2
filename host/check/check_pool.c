/* Check cases: max pooling (forward, argmax, backward) and global average pooling.
 *
 * Tolerances, u = 2^-24:
 * - maxpool y: a max selects one input unchanged, so device and reference
 *   agree exactly (atol = rtol = 0); argmax is compared exactly as int32.
 * - maxpool dx: each dx element is a sum of T <= ceil(k/stride)^2 values of dy
 *   (the windows that contain it and chose it). "ties" cases draw x from
 *   {0, 1, 2} so windows tie constantly, and dy from multiples of 2^-10 in
 *   [-1, 1]: sums of <= 2^14 such terms are exact in float in any order, so dx
 *   must match exactly (atol = rtol = 0). With uniform dy, summing the T terms
 *   in another order may round differently: atol = (T-1) * T * max|dy| * u,
 *   the worst-case rounding of a T-term float sum.
 * - global avgpool y: a float sum of HW terms in any order, divided by HW:
 *   atol = clnet_check_dot_atol(HW, max|x|, 1) / HW (random-walk rounding of
 *   the sum), rtol = 2u (the division and the final rounding).
 * - global avgpool dx: one division per element, <= 2.5 ulp in OpenCL C
 *   (the reference is correctly rounded): rtol = 3u.
 * - gradient checks (double reference vs central differences, h = 1e-6): the
 *   ops are piecewise linear, so the difference quotient is exact up to
 *   rounding, about 1e-16 * |L| / h ~ 1e-9 here; atol = 1e-7, rtol = 1e-6.
 *   For maxpool an input is masked when a window containing it has its two
 *   largest values within 4h (moving by h could switch the argmax). */
#include <math.h>
#include <stdlib.h>

#include "check/harness.h"

#define U24 (1.0 / 16777216.0)

typedef struct {
  int32_t n, h, w, c, k, stride;
  clnet_padding padding;
  int32_t ties; /* x from {0, 1, 2}, dy multiples of 2^-10 */
} maxpool_params;

static void fill_quantised(clnet_check_env *env, float *p, int64_t count) {
  for (int64_t i = 0; i < count; ++i) p[i] = (float)((int32_t)clnet_rng_below(&env->rng, 2049) - 1024) / 1024.0f;
}

static float max_abs_f(const float *p, int64_t count) {
  float m = 0;
  for (int64_t i = 0; i < count; ++i) m = fabsf(p[i]) > m ? fabsf(p[i]) : m;
  return m;
}

static clnet_status run_maxpool(clnet_check_env *env, const void *pp) {
  const maxpool_params *p = pp;
  clnet_pool_desc d = {.n = p->n, .in_h = p->h, .in_w = p->w, .c = p->c, .k = p->k, .stride = p->stride,
                       .padding = p->padding};
  CLNET_TRY(clnet_pool_desc_init(&d));
  const int64_t in = (int64_t)d.n * d.in_h * d.in_w * d.c, out = (int64_t)d.n * d.out_h * d.out_w * d.c;
  check_tensor x, y, am, dy, dx;
  CLNET_TRY(check_tensor_init(env, &x, in, 4, "x"));
  CLNET_TRY(check_tensor_init(env, &y, out, 4, "y"));
  CLNET_TRY(check_tensor_init(env, &am, out, 1, "argmax"));
  CLNET_TRY(check_tensor_init(env, &dy, out, 4, "dy"));
  CLNET_TRY(check_tensor_init(env, &dx, in, 4, "dx"));
  clnet_status st;
  if (p->ties) {
    float *xv = x.host;
    for (int64_t i = 0; i < in; ++i) xv[i] = (float)clnet_rng_below(&env->rng, 3);
    CLNET_TRY_GOTO(check_tensor_set(env, &x, x.host), st, out);
    fill_quantised(env, dy.host, out);
    CLNET_TRY_GOTO(check_tensor_set(env, &dy, dy.host), st, out);
  } else {
    CLNET_TRY_GOTO(check_tensor_uniform(env, &x, -1, 1), st, out);
    CLNET_TRY_GOTO(check_tensor_uniform(env, &dy, -1, 1), st, out);
  }
  /* dx starts as garbage: backward must overwrite every element */
  CLNET_TRY_GOTO(check_tensor_uniform(env, &dx, 5, 6), st, out);
  CLNET_TRY_GOTO(clnet_maxpool_forward(env->dev, &d, &x.dev, &y.dev, &am.dev), st, out);
  CLNET_TRY_GOTO(clnet_maxpool_forward(env->ref, &d, &x.ref, &y.ref, &am.ref), st, out);
  CLNET_TRY_GOTO(check_compare(env, &y, 0, 0), st, out);
  CLNET_TRY_GOTO(check_compare_ints(env, &am), st, out);
  /* backward from the reference's argmax on both sides (equal when the check above passed) */
  uint8_t *am_host = am.host;
  CLNET_TRY_GOTO(clnet_buf_read(env->ref, &am.ref, 0, (size_t)out, am_host), st, out);
  CLNET_TRY_GOTO(check_tensor_set(env, &am, am_host), st, out);
  CLNET_TRY_GOTO(clnet_maxpool_backward(env->dev, &d, &am.dev, &dy.dev, &dx.dev), st, out);
  CLNET_TRY_GOTO(clnet_maxpool_backward(env->ref, &d, &am.ref, &dy.ref, &dx.ref), st, out);
  {
    const int32_t t1 = (d.k + d.stride - 1) / d.stride, T = t1 * t1;
    const double atol = p->ties ? 0 : (double)(T - 1) * T * max_abs_f(dy.host, out) * U24;
    CLNET_TRY_GOTO(check_compare(env, &dx, atol, 0), st, out);
  }
out:
  check_tensor_free(env, &x);
  check_tensor_free(env, &y);
  check_tensor_free(env, &am);
  check_tensor_free(env, &dy);
  check_tensor_free(env, &dx);
  return st;
}

typedef struct { int32_t n, h, w, c; } gap_params;

static clnet_status run_gap(clnet_check_env *env, const void *pp) {
  const gap_params *p = pp;
  const int64_t hw = (int64_t)p->h * p->w, in = p->n * hw * p->c, out = (int64_t)p->n * p->c;
  check_tensor x, y, dy, dx;
  CLNET_TRY(check_tensor_init(env, &x, in, 4, "x"));
  CLNET_TRY(check_tensor_init(env, &y, out, 4, "y"));
  CLNET_TRY(check_tensor_init(env, &dy, out, 4, "dy"));
  CLNET_TRY(check_tensor_init(env, &dx, in, 4, "dx"));
  clnet_status st;
  CLNET_TRY_GOTO(check_tensor_uniform(env, &x, -1, 1), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &dy, -1, 1), st, out);
  CLNET_TRY_GOTO(clnet_global_avgpool_forward(env->dev, p->n, p->h, p->w, p->c, &x.dev, &y.dev), st, out);
  CLNET_TRY_GOTO(clnet_global_avgpool_forward(env->ref, p->n, p->h, p->w, p->c, &x.ref, &y.ref), st, out);
  CLNET_TRY_GOTO(check_compare(env, &y, clnet_check_dot_atol((int32_t)hw, max_abs_f(x.host, in), 1) / (double)hw,
                               2 * U24), st, out);
  CLNET_TRY_GOTO(clnet_global_avgpool_backward(env->dev, p->n, p->h, p->w, p->c, &dy.dev, &dx.dev), st, out);
  CLNET_TRY_GOTO(clnet_global_avgpool_backward(env->ref, p->n, p->h, p->w, p->c, &dy.ref, &dx.ref), st, out);
  CLNET_TRY_GOTO(check_compare(env, &dx, 0, 3 * U24), st, out);
out:
  check_tensor_free(env, &x);
  check_tensor_free(env, &y);
  check_tensor_free(env, &dy);
  check_tensor_free(env, &dx);
  return st;
}

/* ---- gradient checks on the double reference: L = <dy, forward(x)> ---- */
#define GRAD_H 1e-6
#define GRAD_MAX_SAMPLES 200

typedef struct {
  clnet_pool_desc d;
  double *x, *y, *dy;
  uint8_t *argmax;
  int64_t out;
} maxpool_grad_state;

static double maxpool_loss(void *u) {
  maxpool_grad_state *s = u;
  clnet_ref64_maxpool_forward(&s->d, s->x, s->y, s->argmax);
  return check_dot_f64(s->dy, s->y, s->out);
}

/* 1 where input i (a flat NHWC index) lies in a window whose two largest
 * valid values are within `gap` of each other. */
static void mark_near_ties(const clnet_pool_desc *d, const double *x, double gap, unsigned char *near) {
  const int64_t H = d->in_h, W = d->in_w, C = d->c;
  for (int64_t n = 0; n < d->n; ++n)
    for (int64_t oh = 0; oh < d->out_h; ++oh)
      for (int64_t ow = 0; ow < d->out_w; ++ow)
        for (int64_t c = 0; c < C; ++c) {
          double top1 = -INFINITY, top2 = -INFINITY;
          for (int pass = 0; pass < 2; ++pass)
            for (int64_t kh = 0; kh < d->k; ++kh)
              for (int64_t kw = 0; kw < d->k; ++kw) {
                const int64_t ih = oh * d->stride - d->pad_top + kh, iw = ow * d->stride - d->pad_left + kw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const int64_t i = ((n * H + ih) * W + iw) * C + c;
                if (pass == 0) {
                  if (x[i] > top1) {
                    top2 = top1;
                    top1 = x[i];
                  } else if (x[i] > top2) {
                    top2 = x[i];
                  }
                } else if (top1 - top2 < gap) {
                  near[i] = 1;
                }
              }
        }
}

static clnet_status run_maxpool_grad(clnet_check_env *env, const void *pp) {
  const maxpool_params *p = pp;
  maxpool_grad_state s = {.d = {.n = p->n, .in_h = p->h, .in_w = p->w, .c = p->c, .k = p->k,
                                .stride = p->stride, .padding = p->padding}};
  CLNET_TRY(clnet_pool_desc_init(&s.d));
  const int64_t in = (int64_t)s.d.n * s.d.in_h * s.d.in_w * s.d.c;
  s.out = (int64_t)s.d.n * s.d.out_h * s.d.out_w * s.d.c;
  s.x = check_alloc_f64(in);
  s.y = check_alloc_f64(s.out);
  s.dy = check_alloc_f64(s.out);
  s.argmax = calloc((size_t)s.out, sizeof *s.argmax);
  double *dx = check_alloc_f64(in), *num = check_alloc_f64(GRAD_MAX_SAMPLES);
  int64_t *idx = malloc(GRAD_MAX_SAMPLES * sizeof *idx);
  unsigned char *near = calloc((size_t)in, 1), *skip = calloc(GRAD_MAX_SAMPLES, 1);
  clnet_status st = CLNET_SUCCESS;
  if (!s.x || !s.y || !s.dy || !s.argmax || !dx || !num || !idx || !near || !skip) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "maxpool gradcheck");
    goto out;
  }
  check_fill_f64(env, s.x, in, -1, 1);
  check_fill_f64(env, s.dy, s.out, -1, 1);
  clnet_ref64_maxpool_forward(&s.d, s.x, s.y, s.argmax);
  clnet_ref64_maxpool_backward(&s.d, s.argmax, s.dy, dx);
  mark_near_ties(&s.d, s.x, 4 * GRAD_H, near);
  const int64_t k = check_pick_indices(env, in, GRAD_MAX_SAMPLES, idx);
  for (int64_t i = 0; i < k; ++i) skip[i] = near[idx[i]];
  check_numeric_grad(s.x, idx, k, GRAD_H, maxpool_loss, &s, num);
  check_grad_compare(env, "dx", dx, idx, num, skip, k, 1e-7, 1e-6);
out:
  free(s.x);
  free(s.y);
  free(s.dy);
  free(s.argmax);
  free(dx);
  free(num);
  free(idx);
  free(near);
  free(skip);
  return st;
}

typedef struct {
  const gap_params *p;
  double *x, *y, *dy;
} gap_grad_state;

static double gap_loss(void *u) {
  gap_grad_state *s = u;
  clnet_ref64_global_avgpool_forward(s->p->n, s->p->h, s->p->w, s->p->c, s->x, s->y);
  return check_dot_f64(s->dy, s->y, (int64_t)s->p->n * s->p->c);
}

static clnet_status run_gap_grad(clnet_check_env *env, const void *pp) {
  const gap_params *p = pp;
  const int64_t in = (int64_t)p->n * p->h * p->w * p->c, out = (int64_t)p->n * p->c;
  gap_grad_state s = {p, check_alloc_f64(in), check_alloc_f64(out), check_alloc_f64(out)};
  double *dx = check_alloc_f64(in), *num = check_alloc_f64(GRAD_MAX_SAMPLES);
  int64_t *idx = malloc(GRAD_MAX_SAMPLES * sizeof *idx);
  clnet_status st = CLNET_SUCCESS;
  if (!s.x || !s.y || !s.dy || !dx || !num || !idx) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "global avgpool gradcheck");
    goto out;
  }
  check_fill_f64(env, s.x, in, -1, 1);
  check_fill_f64(env, s.dy, out, -1, 1);
  clnet_ref64_global_avgpool_backward(p->n, p->h, p->w, p->c, s.dy, dx);
  const int64_t k = check_pick_indices(env, in, GRAD_MAX_SAMPLES, idx);
  check_numeric_grad(s.x, idx, k, GRAD_H, gap_loss, &s, num);
  check_grad_compare(env, "dx", dx, idx, num, NULL, k, 1e-7, 1e-6);
out:
  free(s.x);
  free(s.y);
  free(s.dy);
  free(dx);
  free(num);
  free(idx);
  return st;
}

#define SAME CLNET_PADDING_SAME
#define VALID CLNET_PADDING_VALID
static const maxpool_params
    mp_stem = {2, 30, 30, 64, 2, 1, SAME, 0},        /* the seed's stem: pads 0 before, 1 after */
    mp_fashion = {2, 26, 26, 64, 2, 1, SAME, 0},     /* Fashion-MNIST stem (28 -> conv valid -> 26) */
    mp_3s2_same = {2, 13, 13, 7, 3, 2, SAME, 0},     /* odd size, pads 1/1 */
    mp_3s2_same_14 = {1, 14, 14, 13, 3, 2, SAME, 0}, /* even size, pads 0/1 */
    mp_3s2_valid = {2, 13, 13, 7, 3, 2, VALID, 0},
    mp_3s2_valid_8 = {1, 8, 8, 65, 3, 2, VALID, 0},  /* drops the last row and column */
    mp_k1 = {2, 7, 7, 3, 1, 1, VALID, 0},
    mp_1x1 = {3, 1, 1, 5, 2, 1, SAME, 0},            /* 1x1 input: a window of one valid cell */
    mp_1x1_k3s2 = {1, 1, 1, 1, 3, 2, SAME, 0},
    mp_7x7 = {2, 7, 7, 13, 2, 2, SAME, 0},           /* odd: last window half padding */
    mp_13_s3 = {1, 13, 13, 3, 2, 3, SAME, 0},        /* stride > k: some inputs in no window */
    mp_ties_stem = {2, 30, 30, 64, 2, 1, SAME, 1},
    mp_ties_3s1 = {2, 13, 13, 3, 3, 1, SAME, 1},     /* an input lies in up to 9 windows */
    mp_ties_3s2 = {2, 7, 7, 13, 3, 2, SAME, 1},
    mp_ties_fashion = {1, 26, 26, 7, 2, 1, SAME, 1},
    mp_v16_3s2 = {2, 13, 13, 16, 3, 2, SAME, 0},     /* C % 16 == 0: the 16-channel kernels */
    mp_v16_valid = {1, 7, 7, 48, 3, 2, VALID, 0},
    mp_v16_s3 = {1, 13, 13, 32, 2, 3, SAME, 0},
    mp_v16_1x1 = {2, 1, 1, 16, 3, 2, SAME, 0},
    mp_ties_v16_3s1 = {2, 13, 13, 32, 3, 1, SAME, 1},
    mp_ties_v16_3s2 = {1, 14, 14, 16, 3, 2, SAME, 1};
static const maxpool_params mpg_7 = {1, 7, 7, 3, 3, 2, SAME, 0}, mpg_6 = {2, 6, 6, 2, 2, 1, SAME, 0},
                            mpg_13 = {1, 13, 13, 2, 3, 2, VALID, 0}, mpg_5 = {1, 5, 5, 2, 2, 3, SAME, 0};
static const gap_params gap_l4 = {2, 4, 4, 512}, gap_7 = {2, 7, 7, 3}, gap_1 = {3, 1, 1, 7},
                        gap_13 = {1, 13, 13, 65}, gap_b256 = {256, 4, 4, 512};
static const gap_params gapg_7 = {2, 7, 7, 3}, gapg_4 = {2, 4, 4, 5};

const clnet_check_case clnet_check_cases_pool[] = {
    {"maxpool", "n2 30x30x64 k2 s1 same", CLNET_CHECK_CROSS, run_maxpool, &mp_stem},
    {"maxpool", "n2 26x26x64 k2 s1 same", CLNET_CHECK_CROSS, run_maxpool, &mp_fashion},
    {"maxpool", "n2 13x13x7 k3 s2 same", CLNET_CHECK_CROSS, run_maxpool, &mp_3s2_same},
    {"maxpool", "n1 14x14x13 k3 s2 same", CLNET_CHECK_CROSS, run_maxpool, &mp_3s2_same_14},
    {"maxpool", "n2 13x13x7 k3 s2 valid", CLNET_CHECK_CROSS, run_maxpool, &mp_3s2_valid},
    {"maxpool", "n1 8x8x65 k3 s2 valid", CLNET_CHECK_CROSS, run_maxpool, &mp_3s2_valid_8},
    {"maxpool", "n2 7x7x3 k1 s1 valid", CLNET_CHECK_CROSS, run_maxpool, &mp_k1},
    {"maxpool", "n3 1x1x5 k2 s1 same", CLNET_CHECK_CROSS, run_maxpool, &mp_1x1},
    {"maxpool", "n1 1x1x1 k3 s2 same", CLNET_CHECK_CROSS, run_maxpool, &mp_1x1_k3s2},
    {"maxpool", "n2 7x7x13 k2 s2 same", CLNET_CHECK_CROSS, run_maxpool, &mp_7x7},
    {"maxpool", "n1 13x13x3 k2 s3 same", CLNET_CHECK_CROSS, run_maxpool, &mp_13_s3},
    {"maxpool", "ties n2 30x30x64 k2 s1 same", CLNET_CHECK_CROSS, run_maxpool, &mp_ties_stem},
    {"maxpool", "ties n2 13x13x3 k3 s1 same", CLNET_CHECK_CROSS, run_maxpool, &mp_ties_3s1},
    {"maxpool", "ties n2 7x7x13 k3 s2 same", CLNET_CHECK_CROSS, run_maxpool, &mp_ties_3s2},
    {"maxpool", "ties n1 26x26x7 k2 s1 same", CLNET_CHECK_CROSS, run_maxpool, &mp_ties_fashion},
    {"maxpool", "n2 13x13x16 k3 s2 same", CLNET_CHECK_CROSS, run_maxpool, &mp_v16_3s2},
    {"maxpool", "n1 7x7x48 k3 s2 valid", CLNET_CHECK_CROSS, run_maxpool, &mp_v16_valid},
    {"maxpool", "n1 13x13x32 k2 s3 same", CLNET_CHECK_CROSS, run_maxpool, &mp_v16_s3},
    {"maxpool", "n2 1x1x16 k3 s2 same", CLNET_CHECK_CROSS, run_maxpool, &mp_v16_1x1},
    {"maxpool", "ties n2 13x13x32 k3 s1 same", CLNET_CHECK_CROSS, run_maxpool, &mp_ties_v16_3s1},
    {"maxpool", "ties n1 14x14x16 k3 s2 same", CLNET_CHECK_CROSS, run_maxpool, &mp_ties_v16_3s2},
    {"global_avgpool", "n2 4x4x512", CLNET_CHECK_CROSS, run_gap, &gap_l4},
    {"global_avgpool", "n256 4x4x512", CLNET_CHECK_CROSS, run_gap, &gap_b256},
    {"global_avgpool", "n2 7x7x3", CLNET_CHECK_CROSS, run_gap, &gap_7},
    {"global_avgpool", "n3 1x1x7", CLNET_CHECK_CROSS, run_gap, &gap_1},
    {"global_avgpool", "n1 13x13x65", CLNET_CHECK_CROSS, run_gap, &gap_13},
    {"maxpool_backward", "n1 7x7x3 k3 s2 same", CLNET_CHECK_GRAD, run_maxpool_grad, &mpg_7},
    {"maxpool_backward", "n2 6x6x2 k2 s1 same", CLNET_CHECK_GRAD, run_maxpool_grad, &mpg_6},
    {"maxpool_backward", "n1 13x13x2 k3 s2 valid", CLNET_CHECK_GRAD, run_maxpool_grad, &mpg_13},
    {"maxpool_backward", "n1 5x5x2 k2 s3 same", CLNET_CHECK_GRAD, run_maxpool_grad, &mpg_5},
    {"global_avgpool_backward", "n2 7x7x3", CLNET_CHECK_GRAD, run_gap_grad, &gapg_7},
    {"global_avgpool_backward", "n2 4x4x5", CLNET_CHECK_GRAD, run_gap_grad, &gapg_4},
    {0},
};
