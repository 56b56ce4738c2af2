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
 * - avgpool y: a float sum of at most K = kh*kw terms, divided by the window's
 *   divisor (>= 1): atol = clnet_check_dot_atol(K, max|x|, 1) (the sum's
 *   rounding; the division only shrinks it), rtol = 3u (the division, <= 2.5
 *   ulp, and the reference's final rounding).
 * - avgpool dx: a float sum of T <= ceil(kh/sh)*ceil(kw/sw) quotients
 *   dy/divisor, each within 2.5 ulp: atol = T*(T+2)*max|dy|*u (2.5u per term,
 *   (T-1)*T*u for the sum in any order, 0.5u*T the reference's rounding).
 * - global maxpool y, argmax and dx: a max selects, the backward copies one
 *   value or writes 0: exact.
 * - gradient checks (double reference vs central differences, h = 1e-6): the
 *   ops are piecewise linear, so the difference quotient is exact up to
 *   rounding, about 1e-16 * |L| / h ~ 1e-9 here; atol = 1e-7, rtol = 1e-6.
 *   For maxpool an input is masked when a window containing it has its two
 *   largest values within 4h (moving by h could switch the argmax); for the
 *   global maxpool when its channel's two largest values are.
 * - the kinds through their descriptors (check_layer): max pools exact, the
 *   average pools at the op's tolerance for their shapes at |x|, |dy| < 1. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check/harness.h"
#include "graph/layer_kind.h"

#define U24 (1.0 / 16777216.0)

/* A windowed pool: input, window kh x kw, strides, padding (pads for EXPLICIT: top, left,
 * bottom, right), and for max pooling whether x ties, for average pooling count_include_pad. */
typedef struct {
  int32_t n, h, w, c, kh, kw, sh, sw;
  clnet_padding padding;
  int32_t pads[4];
  int32_t ties; /* maxpool: x from {0, 1, 2}, dy multiples of 2^-10; avgpool: count_include_pad */
} maxpool_params;

/* square windows and strides, TF padding */
#define SQ(n, h, w, c, k, s, pad, ties) {n, h, w, c, k, k, s, s, pad, {0, 0, 0, 0}, ties}
/* explicit pads t, l, b, r */
#define EX(n, h, w, c, kh, kw, sh, sw, t, l, b, r, ties) {n, h, w, c, kh, kw, sh, sw, CLNET_PADDING_EXPLICIT, {t, l, b, r}, ties}

static clnet_status pool_desc_of(const maxpool_params *p, int32_t avg, clnet_pool_desc *d) {
  *d = (clnet_pool_desc){.n = p->n, .in_h = p->h, .in_w = p->w, .c = p->c, .k_h = p->kh, .k_w = p->kw,
                         .stride_h = p->sh, .stride_w = p->sw, .padding = p->padding,
                         .pads = {p->pads[0], p->pads[1], p->pads[2], p->pads[3]},
                         .count_include_pad = avg ? p->ties : 0};
  return clnet_pool_desc_init(d);
}

/* Terms of a backward gather: the windows that can hold one input. */
static int32_t pool_terms(const clnet_pool_desc *d) {
  return ((d->k_h + d->stride_h - 1) / d->stride_h) * ((d->k_w + d->stride_w - 1) / d->stride_w);
}

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
  clnet_pool_desc d;
  CLNET_TRY(pool_desc_of(p, 0, &d));
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
    const int32_t T = pool_terms(&d);
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

/* the op state of maxpool's gradient check: its window, the forward's argmax, and the inputs
 * whose window's two largest values are within 4h (a central difference there crosses a tie) */
typedef struct {
  clnet_pool_desc d;
  uint8_t *argmax;
  unsigned char *near;
} maxpool_grad_state;

static void maxpool_grad_forward(check_unary_grad *g) {
  maxpool_grad_state *s = g->op;
  clnet_ref64_maxpool_forward(&s->d, g->x, g->y, s->argmax);
}

static void mark_near_ties(const clnet_pool_desc *d, const double *x, double gap, unsigned char *near) {
  const int64_t H = d->in_h, W = d->in_w, C = d->c;
  for (int64_t n = 0; n < d->n; ++n)
    for (int64_t oh = 0; oh < d->out_h; ++oh)
      for (int64_t ow = 0; ow < d->out_w; ++ow)
        for (int64_t c = 0; c < C; ++c) {
          double top1 = -INFINITY, top2 = -INFINITY;
          for (int pass = 0; pass < 2; ++pass)
            for (int64_t kh = 0; kh < d->k_h; ++kh)
              for (int64_t kw = 0; kw < d->k_w; ++kw) {
                const int64_t ih = oh * d->stride_h - d->pad_top + kh, iw = ow * d->stride_w - d->pad_left + kw;
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

static void maxpool_grad_backward(check_unary_grad *g, double *dx) {
  maxpool_grad_state *s = g->op;
  clnet_ref64_maxpool_backward(&s->d, s->argmax, g->dy, dx);
  mark_near_ties(&s->d, g->x, 4 * g->h, s->near);
}

static int32_t maxpool_grad_skip(check_unary_grad *g, int64_t i) { return ((maxpool_grad_state *)g->op)->near[i]; }

static clnet_status run_maxpool_grad(clnet_check_env *env, const void *pp) {
  maxpool_grad_state s;
  memset(&s, 0, sizeof s);
  CLNET_TRY(pool_desc_of(pp, 0, &s.d));
  check_unary_grad g = {.what = "maxpool gradcheck", .in = (int64_t)s.d.n * s.d.in_h * s.d.in_w * s.d.c,
                        .out = (int64_t)s.d.n * s.d.out_h * s.d.out_w * s.d.c, .max_samples = GRAD_MAX_SAMPLES,
                        .h = GRAD_H, .atol = 1e-7, .rtol = 1e-6, .op = &s, .forward = maxpool_grad_forward,
                        .backward = maxpool_grad_backward, .skip = maxpool_grad_skip};
  s.argmax = calloc((size_t)g.out, sizeof *s.argmax);
  s.near = calloc((size_t)g.in, 1);
  clnet_status st = s.argmax && s.near ? check_unary_gradient(env, &g)
                                       : clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "maxpool gradcheck");
  free(s.argmax);
  free(s.near);
  return st;
}

static void gap_grad_forward(check_unary_grad *g) {
  const gap_params *p = g->op;
  clnet_ref64_global_avgpool_forward(p->n, p->h, p->w, p->c, g->x, g->y);
}

static void gap_grad_backward(check_unary_grad *g, double *dx) {
  const gap_params *p = g->op;
  clnet_ref64_global_avgpool_backward(p->n, p->h, p->w, p->c, g->dy, dx);
}

static clnet_status run_gap_grad(clnet_check_env *env, const void *pp) {
  const gap_params *p = pp;
  check_unary_grad g = {.what = "global avgpool gradcheck", .in = (int64_t)p->n * p->h * p->w * p->c,
                        .out = (int64_t)p->n * p->c, .max_samples = GRAD_MAX_SAMPLES, .h = GRAD_H, .atol = 1e-7,
                        .rtol = 1e-6, .op = (void *)p, .forward = gap_grad_forward, .backward = gap_grad_backward};
  return check_unary_gradient(env, &g);
}

/* ---- average pooling: cross-check and gradient check ---- */
static clnet_status run_avgpool(clnet_check_env *env, const void *pp) {
  const maxpool_params *p = pp;
  clnet_pool_desc d;
  CLNET_TRY(pool_desc_of(p, 1, &d));
  const int64_t in = (int64_t)d.n * d.in_h * d.in_w * d.c, out = (int64_t)d.n * d.out_h * d.out_w * d.c;
  check_tensor x, y, dy, dx;
  CLNET_TRY(check_tensor_init(env, &x, in, 4, "x"));
  CLNET_TRY(check_tensor_init(env, &y, out, 4, "y"));
  CLNET_TRY(check_tensor_init(env, &dy, out, 4, "dy"));
  CLNET_TRY(check_tensor_init(env, &dx, in, 4, "dx"));
  clnet_status st;
  CLNET_TRY_GOTO(check_tensor_uniform(env, &x, -1, 1), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &dy, -1, 1), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &y, 5, 6), st, out);  /* garbage: every element must be written */
  CLNET_TRY_GOTO(check_tensor_uniform(env, &dx, 5, 6), st, out);
  CLNET_TRY_GOTO(clnet_avgpool_forward(env->dev, &d, &x.dev, &y.dev), st, out);
  CLNET_TRY_GOTO(clnet_avgpool_forward(env->ref, &d, &x.ref, &y.ref), st, out);
  CLNET_TRY_GOTO(check_compare(env, &y, clnet_check_dot_atol(d.k_h * d.k_w, max_abs_f(x.host, in), 1), 3 * U24), st,
                 out);
  CLNET_TRY_GOTO(clnet_avgpool_backward(env->dev, &d, &dy.dev, &dx.dev), st, out);
  CLNET_TRY_GOTO(clnet_avgpool_backward(env->ref, &d, &dy.ref, &dx.ref), st, out);
  {
    const int32_t T = pool_terms(&d);
    CLNET_TRY_GOTO(check_compare(env, &dx, (double)T * (T + 2) * max_abs_f(dy.host, out) * U24, 0), st, out);
  }
out:
  check_tensor_free(env, &x);
  check_tensor_free(env, &y);
  check_tensor_free(env, &dy);
  check_tensor_free(env, &dx);
  return st;
}

static void avgpool_grad_forward(check_unary_grad *g) { clnet_ref64_avgpool_forward(g->op, g->x, g->y); }
static void avgpool_grad_backward(check_unary_grad *g, double *dx) { clnet_ref64_avgpool_backward(g->op, g->dy, dx); }

static clnet_status run_avgpool_grad(clnet_check_env *env, const void *pp) {
  clnet_pool_desc d;
  CLNET_TRY(pool_desc_of(pp, 1, &d));
  check_unary_grad g = {.what = "avgpool gradcheck", .in = (int64_t)d.n * d.in_h * d.in_w * d.c,
                        .out = (int64_t)d.n * d.out_h * d.out_w * d.c, .max_samples = GRAD_MAX_SAMPLES, .h = GRAD_H,
                        .atol = 1e-7, .rtol = 1e-6, .op = &d, .forward = avgpool_grad_forward,
                        .backward = avgpool_grad_backward};
  return check_unary_gradient(env, &g);
}

/* ---- global max pooling: cross-check and gradient check ---- */
typedef struct { int32_t n, h, w, c, ties; } gmp_params;

static clnet_status run_gmp(clnet_check_env *env, const void *pp) {
  const gmp_params *p = pp;
  const int64_t hw = (int64_t)p->h * p->w, in = p->n * hw * p->c, out = (int64_t)p->n * p->c;
  check_tensor x, y, am, dy, dx;
  CLNET_TRY(check_tensor_init(env, &x, in, 4, "x"));
  CLNET_TRY(check_tensor_init(env, &y, out, 4, "y"));
  CLNET_TRY(check_tensor_init(env, &am, out, 4, "argmax"));
  CLNET_TRY(check_tensor_init(env, &dy, out, 4, "dy"));
  CLNET_TRY(check_tensor_init(env, &dx, in, 4, "dx"));
  clnet_status st;
  if (p->ties) { /* x from {0, 1, 2}: the first maximum must win */
    float *xv = x.host;
    for (int64_t i = 0; i < in; ++i) xv[i] = (float)clnet_rng_below(&env->rng, 3);
    CLNET_TRY_GOTO(check_tensor_set(env, &x, x.host), st, out);
  } else {
    CLNET_TRY_GOTO(check_tensor_uniform(env, &x, -1, 1), st, out);
  }
  CLNET_TRY_GOTO(check_tensor_uniform(env, &dy, -1, 1), st, out);
  CLNET_TRY_GOTO(check_tensor_uniform(env, &dx, 5, 6), st, out);
  CLNET_TRY_GOTO(clnet_global_maxpool_forward(env->dev, p->n, p->h, p->w, p->c, &x.dev, &y.dev, &am.dev), st, out);
  CLNET_TRY_GOTO(clnet_global_maxpool_forward(env->ref, p->n, p->h, p->w, p->c, &x.ref, &y.ref, &am.ref), st, out);
  CLNET_TRY_GOTO(check_compare(env, &y, 0, 0), st, out);
  CLNET_TRY_GOTO(check_compare_ints(env, &am), st, out);
  /* backward from the reference's argmax on both sides (equal when the check above passed) */
  CLNET_TRY_GOTO(clnet_buf_read(env->ref, &am.ref, 0, (size_t)out * 4, am.host), st, out);
  CLNET_TRY_GOTO(check_tensor_set(env, &am, am.host), st, out);
  CLNET_TRY_GOTO(clnet_global_maxpool_backward(env->dev, p->n, p->h, p->w, p->c, &am.dev, &dy.dev, &dx.dev), st, out);
  CLNET_TRY_GOTO(clnet_global_maxpool_backward(env->ref, p->n, p->h, p->w, p->c, &am.ref, &dy.ref, &dx.ref), st, out);
  CLNET_TRY_GOTO(check_compare(env, &dx, 0, 0), st, out);
out:
  check_tensor_free(env, &x);
  check_tensor_free(env, &y);
  check_tensor_free(env, &am);
  check_tensor_free(env, &dy);
  check_tensor_free(env, &dx);
  return st;
}

typedef struct {
  const gmp_params *p;
  int32_t *argmax;
} gmp_grad_state;

static void gmp_grad_forward(check_unary_grad *g) {
  gmp_grad_state *s = g->op;
  clnet_ref64_global_maxpool_forward(s->p->n, s->p->h, s->p->w, s->p->c, g->x, g->y, s->argmax);
}

static void gmp_grad_backward(check_unary_grad *g, double *dx) {
  gmp_grad_state *s = g->op;
  clnet_ref64_global_maxpool_backward(s->p->n, s->p->h, s->p->w, s->p->c, s->argmax, g->dy, dx);
}

/* masked when its channel's two largest values are within 4h */
static int32_t gmp_grad_skip(check_unary_grad *g, int64_t i) {
  const gmp_params *p = ((gmp_grad_state *)g->op)->p;
  const int64_t hw = (int64_t)p->h * p->w, n = i / (hw * p->c), c = i % p->c;
  double top1 = -INFINITY, top2 = -INFINITY;
  for (int64_t q = 0; q < hw; ++q) {
    const double v = g->x[(n * hw + q) * p->c + c];
    if (v > top1) {
      top2 = top1;
      top1 = v;
    } else if (v > top2) {
      top2 = v;
    }
  }
  return top1 - top2 < 4 * g->h;
}

static clnet_status run_gmp_grad(clnet_check_env *env, const void *pp) {
  const gmp_params *p = pp;
  gmp_grad_state s = {p, malloc((size_t)p->n * p->c * sizeof(int32_t))};
  check_unary_grad g = {.what = "global maxpool gradcheck", .in = (int64_t)p->n * p->h * p->w * p->c,
                        .out = (int64_t)p->n * p->c, .max_samples = GRAD_MAX_SAMPLES, .h = GRAD_H, .atol = 1e-7,
                        .rtol = 1e-6, .op = &s, .forward = gmp_grad_forward, .backward = gmp_grad_backward,
                        .skip = gmp_grad_skip};
  clnet_status st =
      s.argmax ? check_unary_gradient(env, &g) : clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "global maxpool gradcheck");
  free(s.argmax);
  return st;
}

/* ---- the kinds through their descriptors ---- */
typedef struct pool_layer_case {
  const char *kind, *attrs;
  clnet_tshape in;
  int32_t batch;
  double atol, rtol;
} pool_layer_case;

static clnet_status run_pool_layer(clnet_check_env *env, const void *pp) {
  const pool_layer_case *c = pp;
  return check_layer(env, c->kind, c->attrs, &c->in, 1, c->batch, c->atol, c->rtol);
}

#define POOL_LAYER(name, shape, ...) {name, shape, CLNET_CHECK_CROSS, run_pool_layer, &(const pool_layer_case){__VA_ARGS__}}

#define SAME CLNET_PADDING_SAME
#define VALID CLNET_PADDING_VALID
static const maxpool_params
    mp_stem = SQ(2, 30, 30, 64, 2, 1, SAME, 0),        /* the seed's stem: pads 0 before, 1 after */
    mp_fashion = SQ(2, 26, 26, 64, 2, 1, SAME, 0),     /* Fashion-MNIST stem (28 -> conv valid -> 26) */
    mp_3s2_same = SQ(2, 13, 13, 7, 3, 2, SAME, 0),     /* odd size, pads 1/1 */
    mp_3s2_same_14 = SQ(1, 14, 14, 13, 3, 2, SAME, 0), /* even size, pads 0/1 */
    mp_3s2_valid = SQ(2, 13, 13, 7, 3, 2, VALID, 0),
    mp_3s2_valid_8 = SQ(1, 8, 8, 65, 3, 2, VALID, 0),  /* drops the last row and column */
    mp_k1 = SQ(2, 7, 7, 3, 1, 1, VALID, 0),
    mp_1x1 = SQ(3, 1, 1, 5, 2, 1, SAME, 0),            /* 1x1 input: a window of one valid cell */
    mp_1x1_k3s2 = SQ(1, 1, 1, 1, 3, 2, SAME, 0),
    mp_7x7 = SQ(2, 7, 7, 13, 2, 2, SAME, 0),           /* odd: last window half padding */
    mp_13_s3 = SQ(1, 13, 13, 3, 2, 3, SAME, 0),        /* stride > k: some inputs in no window */
    mp_ties_stem = SQ(2, 30, 30, 64, 2, 1, SAME, 1),
    mp_ties_3s1 = SQ(2, 13, 13, 3, 3, 1, SAME, 1),     /* an input lies in up to 9 windows */
    mp_ties_3s2 = SQ(2, 7, 7, 13, 3, 2, SAME, 1),
    mp_ties_fashion = SQ(1, 26, 26, 7, 2, 1, SAME, 1),
    mp_v16_3s2 = SQ(2, 13, 13, 16, 3, 2, SAME, 0),     /* C % 16 == 0: the 16-channel kernels */
    mp_v16_valid = SQ(1, 7, 7, 48, 3, 2, VALID, 0),
    mp_v16_s3 = SQ(1, 13, 13, 32, 2, 3, SAME, 0),
    mp_v16_1x1 = SQ(2, 1, 1, 16, 3, 2, SAME, 0),
    mp_ties_v16_3s1 = SQ(2, 13, 13, 32, 3, 1, SAME, 1),
    mp_ties_v16_3s2 = SQ(1, 14, 14, 16, 3, 2, SAME, 1);
static const maxpool_params mpg_7 = SQ(1, 7, 7, 3, 3, 2, SAME, 0), mpg_6 = SQ(2, 6, 6, 2, 2, 1, SAME, 0),
                            mpg_13 = SQ(1, 13, 13, 2, 3, 2, VALID, 0), mpg_5 = SQ(1, 5, 5, 2, 2, 3, SAME, 0);
/* explicit pads (ONNX, PyTorch: symmetric; here also lopsided), pads larger than the stride,
 * rectangular windows and strides */
static const maxpool_params
    mp_ex_stem = EX(2, 30, 30, 64, 3, 3, 2, 2, 1, 1, 1, 1, 0),   /* ResNet's 3x3/2 pad 1 stem pool (32x32 data) */
    mp_ex_56 = EX(1, 56, 56, 16, 3, 3, 2, 2, 1, 1, 1, 1, 0),     /* ResNet on 224x224 */
    mp_ex_s1p2 = EX(2, 13, 13, 7, 3, 3, 1, 1, 2, 2, 2, 2, 0),   /* pads 2 > stride 1 */
    mp_ex_lop = EX(1, 7, 7, 13, 3, 3, 2, 2, 0, 2, 2, 1, 0),     /* t,l,b,r all different */
    mp_ex_rect = EX(2, 13, 7, 5, 3, 2, 2, 1, 2, 1, 0, 1, 0),    /* 3x2 window, strides 2,1 */
    mp_ex_1x1 = EX(3, 1, 1, 16, 2, 2, 1, 1, 1, 1, 0, 0, 0),     /* 1x1 input: every window one valid cell */
    mp_ex_ties = EX(2, 13, 13, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1),
    mp_ex_ties_lop = EX(1, 7, 7, 3, 4, 3, 3, 2, 3, 0, 1, 2, 1), /* pads 3 >= stride 3 */
    mp_rect_valid = {2, 8, 9, 16, 2, 3, 2, 3, VALID, {0, 0, 0, 0}, 0};
static const maxpool_params mpg_ex = EX(1, 7, 7, 3, 3, 3, 2, 2, 1, 1, 1, 1, 0),
                            mpg_ex_rect = EX(1, 6, 7, 2, 3, 2, 1, 2, 2, 0, 1, 1, 0);
/* average pools: the last field is count_include_pad */
static const maxpool_params
    ap_2s2 = SQ(2, 8, 8, 16, 2, 2, VALID, 0),          /* VGG/DenseNet transition */
    ap_3s2_same = SQ(2, 13, 13, 7, 3, 2, SAME, 0),     /* Keras: pads excluded */
    ap_3s2_same_inc = SQ(2, 13, 13, 7, 3, 2, SAME, 1),
    ap_3s1_p1 = EX(2, 7, 7, 13, 3, 3, 1, 1, 1, 1, 1, 1, 0), /* Inception's 3x3/1 pad 1 */
    ap_3s1_p1_inc = EX(2, 7, 7, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1),
    ap_s1p2 = EX(1, 13, 13, 32, 3, 3, 1, 1, 2, 2, 2, 2, 0), /* pads 2 > stride 1, mostly padding at the edge */
    ap_s1p2_inc = EX(1, 13, 13, 32, 3, 3, 1, 1, 2, 2, 2, 2, 1),
    ap_lop = EX(2, 7, 7, 3, 3, 2, 2, 1, 2, 0, 1, 1, 0),
    ap_lop_inc = EX(2, 7, 7, 3, 3, 2, 2, 1, 2, 0, 1, 1, 1),
    ap_1x1 = EX(3, 1, 1, 5, 2, 2, 1, 1, 1, 1, 1, 1, 0),
    ap_1x1_inc = EX(3, 1, 1, 5, 2, 2, 1, 1, 1, 1, 1, 1, 1),
    ap_7_s3 = SQ(1, 7, 7, 48, 2, 3, SAME, 0),          /* stride > k: inputs in no window get 0 */
    ap_k1 = SQ(2, 7, 7, 3, 1, 1, VALID, 0);
static const maxpool_params apg_ex = EX(1, 7, 7, 3, 3, 3, 2, 2, 1, 1, 1, 1, 0),
                            apg_ex_inc = EX(1, 7, 7, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1),
                            apg_lop = EX(2, 6, 5, 2, 3, 2, 1, 2, 2, 1, 0, 1, 0),
                            apg_same = SQ(1, 13, 13, 2, 3, 2, SAME, 0);
static const gmp_params gmp_l4 = {2, 4, 4, 512, 0}, gmp_7 = {2, 7, 7, 3, 0}, gmp_1 = {3, 1, 1, 7, 0},
                        gmp_13 = {1, 13, 13, 65, 0}, gmp_ties = {2, 7, 7, 13, 1}, gmp_ties_1 = {2, 1, 13, 5, 1};
static const gmp_params gmpg_7 = {2, 7, 7, 3, 0}, gmpg_4 = {2, 4, 4, 5, 0};
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
    {"maxpool", "n2 30x30x64 k3 s2 pads 1,1,1,1", CLNET_CHECK_CROSS, run_maxpool, &mp_ex_stem},
    {"maxpool", "n1 56x56x16 k3 s2 pads 1,1,1,1", CLNET_CHECK_CROSS, run_maxpool, &mp_ex_56},
    {"maxpool", "n2 13x13x7 k3 s1 pads 2,2,2,2", CLNET_CHECK_CROSS, run_maxpool, &mp_ex_s1p2},
    {"maxpool", "n1 7x7x13 k3 s2 pads 0,2,2,1", CLNET_CHECK_CROSS, run_maxpool, &mp_ex_lop},
    {"maxpool", "n2 13x7x5 k3x2 s2x1 pads 2,1,0,1", CLNET_CHECK_CROSS, run_maxpool, &mp_ex_rect},
    {"maxpool", "n3 1x1x16 k2 s1 pads 1,1,0,0", CLNET_CHECK_CROSS, run_maxpool, &mp_ex_1x1},
    {"maxpool", "ties n2 13x13x32 k3 s1 pads 1,1,1,1", CLNET_CHECK_CROSS, run_maxpool, &mp_ex_ties},
    {"maxpool", "ties n1 7x7x3 k4x3 s3x2 pads 3,0,1,2", CLNET_CHECK_CROSS, run_maxpool, &mp_ex_ties_lop},
    {"maxpool", "n2 8x9x16 k2x3 s2x3 valid", CLNET_CHECK_CROSS, run_maxpool, &mp_rect_valid},
    {"maxpool_backward", "n1 7x7x3 k3 s2 pads 1,1,1,1", CLNET_CHECK_GRAD, run_maxpool_grad, &mpg_ex},
    {"maxpool_backward", "n1 6x7x2 k3x2 s1x2 pads 2,0,1,1", CLNET_CHECK_GRAD, run_maxpool_grad, &mpg_ex_rect},
    {"avgpool", "n2 8x8x16 k2 s2 valid", CLNET_CHECK_CROSS, run_avgpool, &ap_2s2},
    {"avgpool", "n2 13x13x7 k3 s2 same", CLNET_CHECK_CROSS, run_avgpool, &ap_3s2_same},
    {"avgpool", "n2 13x13x7 k3 s2 same count_include_pad", CLNET_CHECK_CROSS, run_avgpool, &ap_3s2_same_inc},
    {"avgpool", "n2 7x7x13 k3 s1 pads 1,1,1,1", CLNET_CHECK_CROSS, run_avgpool, &ap_3s1_p1},
    {"avgpool", "n2 7x7x13 k3 s1 pads 1,1,1,1 count_include_pad", CLNET_CHECK_CROSS, run_avgpool, &ap_3s1_p1_inc},
    {"avgpool", "n1 13x13x32 k3 s1 pads 2,2,2,2", CLNET_CHECK_CROSS, run_avgpool, &ap_s1p2},
    {"avgpool", "n1 13x13x32 k3 s1 pads 2,2,2,2 count_include_pad", CLNET_CHECK_CROSS, run_avgpool, &ap_s1p2_inc},
    {"avgpool", "n2 7x7x3 k3x2 s2x1 pads 2,0,1,1", CLNET_CHECK_CROSS, run_avgpool, &ap_lop},
    {"avgpool", "n2 7x7x3 k3x2 s2x1 pads 2,0,1,1 count_include_pad", CLNET_CHECK_CROSS, run_avgpool, &ap_lop_inc},
    {"avgpool", "n3 1x1x5 k2 s1 pads 1,1,1,1", CLNET_CHECK_CROSS, run_avgpool, &ap_1x1},
    {"avgpool", "n3 1x1x5 k2 s1 pads 1,1,1,1 count_include_pad", CLNET_CHECK_CROSS, run_avgpool, &ap_1x1_inc},
    {"avgpool", "n1 7x7x48 k2 s3 same", CLNET_CHECK_CROSS, run_avgpool, &ap_7_s3},
    {"avgpool", "n2 7x7x3 k1 s1 valid", CLNET_CHECK_CROSS, run_avgpool, &ap_k1},
    {"avgpool_backward", "n1 7x7x3 k3 s2 pads 1,1,1,1", CLNET_CHECK_GRAD, run_avgpool_grad, &apg_ex},
    {"avgpool_backward", "n1 7x7x3 k3 s2 pads 1,1,1,1 count_include_pad", CLNET_CHECK_GRAD, run_avgpool_grad,
     &apg_ex_inc},
    {"avgpool_backward", "n2 6x5x2 k3x2 s1x2 pads 2,1,0,1", CLNET_CHECK_GRAD, run_avgpool_grad, &apg_lop},
    {"avgpool_backward", "n1 13x13x2 k3 s2 same", CLNET_CHECK_GRAD, run_avgpool_grad, &apg_same},
    {"global_maxpool", "n2 4x4x512", CLNET_CHECK_CROSS, run_gmp, &gmp_l4},
    {"global_maxpool", "n2 7x7x3", CLNET_CHECK_CROSS, run_gmp, &gmp_7},
    {"global_maxpool", "n3 1x1x7", CLNET_CHECK_CROSS, run_gmp, &gmp_1},
    {"global_maxpool", "n1 13x13x65", CLNET_CHECK_CROSS, run_gmp, &gmp_13},
    {"global_maxpool", "ties n2 7x7x13", CLNET_CHECK_CROSS, run_gmp, &gmp_ties},
    {"global_maxpool", "ties n2 1x13x5", CLNET_CHECK_CROSS, run_gmp, &gmp_ties_1},
    {"global_maxpool_backward", "n2 7x7x3", CLNET_CHECK_GRAD, run_gmp_grad, &gmpg_7},
    {"global_maxpool_backward", "n2 4x4x5", CLNET_CHECK_GRAD, run_gmp_grad, &gmpg_4},
    /* through the descriptors (avgpool: sums of <= 9 values in (-1, 1), divided) */
    POOL_LAYER("layer maxpool", "n2 7x7x5 k3 s2 pads 1,1,1,1", "maxpool", "kernel=3 stride=2 padding=explicit pads=1,1,1,1",
               {7, 7, 5}, 2, 0, 0),
    POOL_LAYER("layer maxpool", "n2 13x13x16 k3x2 s1x2 pads 2,0,1,1", "maxpool",
               "kernel=3,2 stride=1,2 padding=explicit pads=2,0,1,1", {13, 13, 16}, 2, 0, 0),
    POOL_LAYER("layer avgpool", "n2 8x8x16 k2 s2", "avgpool", "kernel=2 stride=2", {8, 8, 16}, 2, 1e-6, 1e-5),
    POOL_LAYER("layer avgpool", "n2 7x7x13 k3 s1 pads 1,1,1,1", "avgpool",
               "kernel=3 stride=1 padding=explicit pads=1,1,1,1", {7, 7, 13}, 2, 1e-6, 1e-5),
    POOL_LAYER("layer avgpool", "n2 7x7x13 k3 s1 pads 1,1,1,1 count_include_pad", "avgpool",
               "kernel=3 stride=1 padding=explicit pads=1,1,1,1 count_include_pad=1", {7, 7, 13}, 2, 1e-6, 1e-5),
    POOL_LAYER("layer avgpool", "n3 13x13x3 k3 s2 same", "avgpool", "kernel=3 stride=2 padding=same", {13, 13, 3}, 3,
               1e-6, 1e-5),
    POOL_LAYER("layer avgpool", "n2 1x1x7 k2 s1 pads 1,0,0,1 count_include_pad", "avgpool",
               "kernel=2 stride=1 padding=explicit pads=1,0,0,1 count_include_pad=1", {1, 1, 7}, 2, 1e-6, 1e-5),
    POOL_LAYER("layer global_maxpool", "n3 7x7x13", "global_maxpool", "", {7, 7, 13}, 3, 0, 0),
    POOL_LAYER("layer global_maxpool", "n2 1x1x16", "global_maxpool", "", {1, 1, 16}, 2, 0, 0),
    {0},
};
