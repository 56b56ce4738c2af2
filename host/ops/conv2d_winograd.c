/* Winograd F(2x2, 3x3) convolution (CLNET_CONV_ALGO_WINOGRAD) for 3x3 stride-1 convs: forward,
 * backward data and the filter gradient (at the end of this file); kernels and transforms in
 * cl/conv2d_winograd.cl.
 *
 * Both passes are one "correlation" in -> out over planes of channels:
 *   forward        in = x (N, H, W, C_in), out = y (N, OH, OW, C_out), g = w, pads (pad_top, pad_left);
 *   backward data  in = dy (N, OH, OW, C_out), out = dx (N, H, W, C_in), g = w flipped in both taps
 *                  and transposed (g[i, j, co, ci] = w[2-i, 2-j, ci, co]), pads 2 - pad (so 'valid'
 *                  becomes the full correlation and TF 'same' stays 1 before).
 * Steps: U = filter transform of g (once per call); then per chunk of images: V = input transform
 * of the chunk's m x m-output tiles (m = 2 for F(2x2), 4 for F(4x4)), the F = (m+2)^2
 * per-frequency GEMMs M[f] = V[f] . U[f], and the output transform (+ bias) into out. Scratch
 * (floats): U (F, KT, R, T) | V (F, Pc, R) | M (F, Pc, KT*T) with R the reduction channels, T the
 * GEMM's channel tile (8, 16 or 32), KT = ceil(out channels / T) and Pc the tiles of one chunk. A
 * chunk is as many images as keep V + M within WINO_CHUNK_BYTES (WINO4_CHUNK_BYTES; at least one).
 * Fixed partition and fixed sum orders: bit-identical run to run. */
#include "ops/conv_winograd.h"

#include <stdio.h>

#include "ops/common.h"

/* V + M of one chunk. F(2x2), measured on PoCL (2-core AVX-512, ResNet-18 width 64, batch 64, every
 * 3x3 stride-1 layer, both passes): chunks of 2, 4, 8, 16 and 32 MiB within the noise of each
 * other (the GEMM dominates); the smaller keeps scratch close to what the graph plans for convs.
 * F(4x4): 16 MiB. Its tiles cover 4x the pixels, so a chunk has a quarter of the GEMM rows per
 * image, and with 4 MiB the filter gradient's Z round trip and the per-chunk launches showed:
 * 16 MiB made layers of 64-256 channels 1.05-1.15x faster (the same session, alternating), and
 * its scratch (at most 9 MiB of transformed filter + 16 MiB) stays near F(2x2)'s 512-channel
 * need (16 + 4 MiB). */
#define WINO_CHUNK_BYTES ((size_t)4 << 20)
#define WINO4_CHUNK_BYTES ((size_t)16 << 20)
#define WINO_PT 8 /* GEMM rows per work-item: WINO_PT in the .cl file */

/* (row tile, channel tile, frequency): 16 x 1 x 1 on a CPU; elsewhere 4 frequencies too, so that
 * a group fills a 32- or 64-wide wave (16 and 36 frequencies are multiples of 4) */
static const size_t wino_gemm_local[3] = {16, 1, 1}, wino_gemm_local_gpu[3] = {16, 1, 4};

int clnet_conv_algo_winograd_tile(clnet_conv_algo algo) {
  return algo == CLNET_CONV_ALGO_WINOGRAD ? 2 : algo == CLNET_CONV_ALGO_WINOGRAD4 ? 4 : 0;
}

int clnet_conv2d_winograd_applies(const clnet_conv2d_desc *d, clnet_pass pass) {
  return d->k_h == 3 && d->k_w == 3 && clnet_conv2d_stride_h(d) == 1 && clnet_conv2d_stride_w(d) == 1 &&
         clnet_conv2d_dilation_h(d) == 1 && clnet_conv2d_dilation_w(d) == 1 && clnet_conv2d_groups(d) == 1 &&
         (pass == CLNET_PASS_FORWARD || pass == CLNET_PASS_BACKWARD_DATA ||
          pass == CLNET_PASS_BACKWARD_FILTER);
}

int clnet_conv2d_winograd_tile_applies(const clnet_conv2d_desc *d, clnet_pass pass, int tile) {
  if (tile == 2) return clnet_conv2d_winograd_applies(d, pass);
  return tile == 4 && clnet_conv2d_winograd_applies(d, pass) &&
         (uint64_t)36 * (uint64_t)d->in_c * (uint64_t)d->out_c * sizeof(float) <= CLNET_WINO4_MAX_FILTER_BYTES;
}

/* The geometry of one correlation. */
typedef struct wino_geom {
  int32_t m, nf;         /* output tile m x m (2 or 4), frequencies (m + 2)^2 */
  int32_t n, ih, iw, r;  /* input planes: images, height, width, reduction channels */
  int32_t oh, ow, k;     /* output planes: height, width, channels */
  int32_t pad_top, pad_left;
  int32_t t, kt, kp;     /* channel tile, tiles, padded output channels kt*t */
  int32_t th, tw;        /* m x m output tiles per image: ceil(oh/m), ceil(ow/m) */
  int32_t nc;            /* images per chunk */
} wino_geom;

/* Channels per work-item of a transform: 16 or 8 when they divide c (and `also`), else 1. */
static int32_t vec_width(int32_t c, int32_t also) {
  return c % 16 == 0 && also % 16 == 0 ? 16 : c % 8 == 0 && also % 8 == 0 ? 8 : 1;
}

/* Work-group of a transform over (channel groups, tiles): 64 work-items, dim0 as wide as the
 * channel groups (up to 16), so that neighbouring work-items read neighbouring channel vectors and
 * narrow layers do not leave a group idle. An implementation that compiles a kernel once per local
 * size (PoCL) then compiles a transform up to 5 times on a cold start; one channel vector by 64
 * tiles on CPU devices compiled it once, but ran ResNet-18's width-64 step 9 % slower (about 1 s
 * of cold start against 9 % of every step: docs/PERFORMANCE.md, "Cold start"). */
static int32_t cpu_device(const clnet_ctx *ctx) { return (ctx->info.type & CL_DEVICE_TYPE_CPU) != 0; }

static void transform_local(size_t groups, size_t local[2]) {
  size_t l0 = 1;
  while (l0 < groups && l0 < 16) l0 *= 2;
  local[0] = l0;
  local[1] = 64 / l0;
}

/* Images per chunk: as many as keep the chunk's V + M (or V + W) within WINO_CHUNK_BYTES
 * (WINO4_CHUNK_BYTES for F(4x4)) and U + chunk within max_alloc (the device's largest buffer:
 * the scratch is one), at least one. */
static int32_t chunk_images(const wino_geom *g, uint64_t max_alloc) {
  const size_t per_image = (size_t)g->nf * g->th * g->tw * ((size_t)g->r + (size_t)g->kp) * sizeof(float);
  const uint64_t u = (uint64_t)g->nf * g->kp * g->r * sizeof(float);
  size_t limit = g->m == 4 ? WINO4_CHUNK_BYTES : WINO_CHUNK_BYTES;
  if (max_alloc < u + limit) limit = max_alloc > u ? (size_t)(max_alloc - u) : 0;
  size_t nc = limit / per_image;
  if (nc < 1) nc = 1;
  if (nc > (size_t)g->n) nc = (size_t)g->n;
  return (int32_t)nc;
}

static wino_geom geom(const clnet_conv2d_desc *d, int tile, int backward, uint64_t max_alloc) {
  wino_geom g;
  g.m = tile, g.nf = (tile + 2) * (tile + 2);
  g.n = d->n;
  if (!backward) {
    g.ih = d->in_h, g.iw = d->in_w, g.r = d->in_c, g.oh = d->out_h, g.ow = d->out_w, g.k = d->out_c;
    g.pad_top = d->pad_top, g.pad_left = d->pad_left;
  } else {
    g.ih = d->out_h, g.iw = d->out_w, g.r = d->out_c, g.oh = d->in_h, g.ow = d->in_w, g.k = d->in_c;
    g.pad_top = 2 - d->pad_top, g.pad_left = 2 - d->pad_left;
  }
  g.t = g.k <= 8 ? 8 : g.k <= 16 ? 16 : 32;
  g.kt = (g.k + g.t - 1) / g.t;
  g.kp = g.kt * g.t;
  g.th = (g.oh + tile - 1) / tile;
  g.tw = (g.ow + tile - 1) / tile;
  g.nc = chunk_images(&g, max_alloc);
  return g;
}

static int64_t u_floats(const wino_geom *g) { return (int64_t)g->nf * g->kp * g->r; }
static int64_t chunk_floats(const wino_geom *g) {
  return (int64_t)g->nf * g->nc * g->th * g->tw * ((int64_t)g->r + g->kp);
}

/* The filter gradient's geometry: the forward's, with 32-channel tiles (wino_wgemm_t32). */
static wino_geom wgrad_geom(const clnet_conv2d_desc *d, int tile, uint64_t max_alloc) {
  wino_geom g = geom(d, tile, 0, max_alloc);
  g.t = 32;
  g.kt = (g.k + 31) / 32;
  g.kp = g.kt * 32;
  g.nc = chunk_images(&g, max_alloc);
  return g;
}

uint64_t clnet_conv2d_winograd_scratch_bytes(const clnet_conv2d_desc *d, int tile) {
  uint64_t worst = 0;
  for (int i = 0; i < 3; ++i) {
    const wino_geom g = i < 2 ? geom(d, tile, i, UINT64_MAX) : wgrad_geom(d, tile, UINT64_MAX);
    const uint64_t b = (uint64_t)(u_floats(&g) + chunk_floats(&g)) * sizeof(float);
    if (b > worst) worst = b;
  }
  return worst;
}

/* Kernel name: prefix "wino_" (F(2x2)) or "wino4_" (F(4x4)), then the stem and vector width. */
static const char *kname(char *dst, size_t cap, const wino_geom *g, const char *stem, int32_t vw) {
  if (vw > 0) snprintf(dst, cap, "%s_%s_v%d", g->m == 4 ? "wino4" : "wino", stem, (int)vw);
  else snprintf(dst, cap, "%s_%s", g->m == 4 ? "wino4" : "wino", stem);
  return dst;
}

static clnet_status correlate(clnet_ctx *ctx, const clnet_conv2d_desc *d, int tile, int backward,
                              const clnet_buf *in, const clnet_buf *w, const clnet_buf *b, clnet_buf *out) {
  const char *op = backward ? "conv2d_backward_data (winograd)" : "conv2d_forward (winograd)";
  const wino_geom g = geom(d, tile, backward, ctx->info.max_alloc_bytes);
  const int64_t pc = (int64_t)g.nc * g.th * g.tw; /* tiles of a full chunk */
  const int64_t u_off = 0, v_off = u_floats(&g), m_off = v_off + g.nf * pc * g.r;
  CLNET_TRY(clnet_require_int_range(op, m_off + g.nf * pc * g.kp + (int64_t)WINO_PT * g.kp));
  clnet_buf s;
  CLNET_TRY(clnet_scratch_get(ctx, (size_t)(m_off + g.nf * pc * g.kp) * sizeof(float), &s));
  char fname[32], iname[32], oname[32];
  /* U from w: forward g[t, c, k] = w[t, c, k]; backward g[t, co, ci] = w[8 - t, ci, co] */
  const int32_t tap_stride = d->in_c * d->out_c;
  const int32_t c_stride = backward ? 1 : d->out_c, k_stride = backward ? d->out_c : 1;
  const int32_t vf = g.k % 8 == 0 ? 8 : 1;
  size_t gf[2] = {(size_t)(g.kp / vf), (size_t)g.r}, lf[2];
  transform_local(gf[0], lf);
  /* backward reads w with stride C_out per output channel: a group along c alone (1, 64) reads
   * whole cache lines of w (4x4x512 backward data: 40 -> 25 ms, PoCL, batch 64) */
  if (backward) lf[0] = 1, lf[1] = 64;
  CLNET_TRY(CLNET_LAUNCH(ctx, "conv2d_winograd", kname(fname, sizeof fname, &g, "filter", vf), 2, gf, lf,
                         CLNET_ARG_BUF(w),
                         CLNET_ARG_BUF(&s), CLNET_ARG_I32(u_off), CLNET_ARG_I32(g.r), CLNET_ARG_I32(g.k),
                         CLNET_ARG_I32(g.t), CLNET_ARG_I32(g.kt), CLNET_ARG_I32(c_stride), CLNET_ARG_I32(k_stride),
                         CLNET_ARG_I32(tap_stride), CLNET_ARG_I32(backward)));
  const int has_bias = !backward && d->has_bias;
  const int32_t vi = vec_width(g.r, g.r), vo = vec_width(g.k, g.t);
  const char *in_kernel = kname(iname, sizeof iname, &g, "input", vi);
  const char *out_kernel = kname(oname, sizeof oname, &g, "output", vo);
  const char *gemm_kernel = g.t == 8 ? "wino_gemm_t8" : g.t == 16 ? "wino_gemm_t16" : "wino_gemm_t32";
  for (int32_t n0 = 0; n0 < g.n; n0 += g.nc) {
    const int32_t nc = g.n - n0 < g.nc ? g.n - n0 : g.nc;
    const int32_t p = nc * g.th * g.tw;
    size_t gi[2] = {(size_t)(g.r / vi), (size_t)p}, li[2];
    transform_local(gi[0], li);
    CLNET_TRY(CLNET_LAUNCH(ctx, "conv2d_winograd", in_kernel, 2, gi, li, CLNET_ARG_BUF(in),
                           CLNET_ARG_BUF(&s), CLNET_ARG_I32(v_off), CLNET_ARG_I32(n0), CLNET_ARG_I32(nc),
                           CLNET_ARG_I32(g.ih), CLNET_ARG_I32(g.iw), CLNET_ARG_I32(g.r), CLNET_ARG_I32(g.th),
                           CLNET_ARG_I32(g.tw), CLNET_ARG_I32(g.pad_top), CLNET_ARG_I32(g.pad_left)));
    size_t gg[3] = {(size_t)((p + WINO_PT - 1) / WINO_PT), (size_t)g.kt, (size_t)g.nf};
    CLNET_TRY(CLNET_LAUNCH(ctx, "conv2d_winograd", gemm_kernel, 3, gg,
                           cpu_device(ctx) ? wino_gemm_local : wino_gemm_local_gpu, CLNET_ARG_BUF(&s), CLNET_ARG_I32(v_off), CLNET_ARG_I32(u_off),
                           CLNET_ARG_I32(m_off), CLNET_ARG_I32(p), CLNET_ARG_I32(g.r), CLNET_ARG_I32(g.kt)));
    size_t go[2] = {(size_t)(g.k / vo), (size_t)p}, lo[2];
    transform_local(go[0], lo);
    CLNET_TRY(CLNET_LAUNCH(ctx, "conv2d_winograd", out_kernel, 2, go, lo, CLNET_ARG_BUF(&s),
                           CLNET_ARG_I32(m_off), CLNET_ARG_BUF(has_bias ? b : out), CLNET_ARG_BUF(out),
                           CLNET_ARG_I32(n0), CLNET_ARG_I32(nc), CLNET_ARG_I32(g.oh), CLNET_ARG_I32(g.ow),
                           CLNET_ARG_I32(g.k), CLNET_ARG_I32(g.kp), CLNET_ARG_I32(g.th), CLNET_ARG_I32(g.tw),
                           CLNET_ARG_I32(has_bias)));
  }
  return CLNET_SUCCESS;
}

clnet_status clnet_conv2d_winograd_forward(clnet_ctx *ctx, const clnet_conv2d_desc *d, int tile, const clnet_buf *x,
                                           const clnet_buf *w, const clnet_buf *b, clnet_buf *y) {
  return correlate(ctx, d, tile, 0, x, w, b, y);
}

clnet_status clnet_conv2d_winograd_backward_data(clnet_ctx *ctx, const clnet_conv2d_desc *d, int tile,
                                                 const clnet_buf *dy, const clnet_buf *w, clnet_buf *dx) {
  return correlate(ctx, d, tile, 1, dy, w, NULL, dx);
}

/* dw = G^T Z G with Z[f] = sum over tiles of V[f]^T . W[f] (cl/conv2d_winograd.cl, "filter
 * gradient"). Scratch (floats): Z (16, C_in, KP) | V (16, Pc, C_in) | W (16, Pc, KP); Z accumulates
 * over the chunks in order. */
clnet_status clnet_conv2d_winograd_backward_filter(clnet_ctx *ctx, const clnet_conv2d_desc *d, int tile,
                                                   const clnet_buf *x, const clnet_buf *dy, clnet_buf *dw) {
  const char *op = "conv2d_backward_filter (winograd)";
  const wino_geom g = wgrad_geom(d, tile, ctx->info.max_alloc_bytes);
  const int64_t pc = (int64_t)g.nc * g.th * g.tw;
  const int64_t z_off = 0, v_off = u_floats(&g), w_off = v_off + g.nf * pc * g.r;
  CLNET_TRY(clnet_require_int_range(op, w_off + g.nf * pc * g.kp + (int64_t)WINO_PT * g.kp));
  clnet_buf s;
  CLNET_TRY(clnet_scratch_get(ctx, (size_t)(w_off + g.nf * pc * g.kp) * sizeof(float), &s));
  const int32_t vi = vec_width(g.r, g.r), vd = vec_width(g.k, g.k);
  char iname[32], dname[32], oname[32];
  const char *in_kernel = kname(iname, sizeof iname, &g, "input", vi);
  const char *dy_kernel = kname(dname, sizeof dname, &g, "dy", vd);
  for (int32_t n0 = 0; n0 < g.n; n0 += g.nc) {
    const int32_t nc = g.n - n0 < g.nc ? g.n - n0 : g.nc;
    const int32_t p = nc * g.th * g.tw;
    size_t gi[2] = {(size_t)(g.r / vi), (size_t)p}, li[2];
    transform_local(gi[0], li);
    CLNET_TRY(CLNET_LAUNCH(ctx, "conv2d_winograd", in_kernel, 2, gi, li, CLNET_ARG_BUF(x), CLNET_ARG_BUF(&s),
                           CLNET_ARG_I32(v_off), CLNET_ARG_I32(n0), CLNET_ARG_I32(nc), CLNET_ARG_I32(g.ih),
                           CLNET_ARG_I32(g.iw), CLNET_ARG_I32(g.r), CLNET_ARG_I32(g.th), CLNET_ARG_I32(g.tw),
                           CLNET_ARG_I32(g.pad_top), CLNET_ARG_I32(g.pad_left)));
    size_t gd[2] = {(size_t)(g.kp / vd), (size_t)p}, ld[2];
    transform_local(gd[0], ld);
    CLNET_TRY(CLNET_LAUNCH(ctx, "conv2d_winograd", dy_kernel, 2, gd, ld, CLNET_ARG_BUF(dy), CLNET_ARG_BUF(&s),
                           CLNET_ARG_I32(w_off), CLNET_ARG_I32(n0), CLNET_ARG_I32(nc), CLNET_ARG_I32(g.oh),
                           CLNET_ARG_I32(g.ow), CLNET_ARG_I32(g.k), CLNET_ARG_I32(g.kp), CLNET_ARG_I32(g.th),
                           CLNET_ARG_I32(g.tw)));
    const size_t c_tiles = (size_t)((g.r + WINO_PT - 1) / WINO_PT);
    size_t gg[3] = {c_tiles, (size_t)g.kt, (size_t)g.nf}, lg[2], lg3[3];
    transform_local(c_tiles, lg);
    /* on a CPU device one work-item per group (one variant compiled; as fast, within 2 %) */
    lg3[0] = cpu_device(ctx) ? 1 : lg[0], lg3[1] = 1, lg3[2] = cpu_device(ctx) ? 1 : 4; /* 4 frequencies too, as the GEMMs */
    CLNET_TRY(CLNET_LAUNCH(ctx, "conv2d_winograd", "wino_wgemm_t32", 3, gg, lg3, CLNET_ARG_BUF(&s),
                           CLNET_ARG_I32(v_off), CLNET_ARG_I32(w_off), CLNET_ARG_I32(z_off), CLNET_ARG_I32(p),
                           CLNET_ARG_I32(g.r), CLNET_ARG_I32(g.kt), CLNET_ARG_I32(n0 > 0)));
  }
  size_t go[2] = {(size_t)g.k, (size_t)g.r}, lo[2];
  transform_local(go[0], lo); /* one scalar per work-item: neighbours along the output channels */
  return CLNET_LAUNCH(ctx, "conv2d_winograd", kname(oname, sizeof oname, &g, "wgrad_out", 0), 2, go, lo, CLNET_ARG_BUF(&s), CLNET_ARG_I32(z_off),
                      CLNET_ARG_BUF(dw), CLNET_ARG_I32(g.r), CLNET_ARG_I32(g.k), CLNET_ARG_I32(g.kp));
}
