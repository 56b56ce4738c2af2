/* Conv2d (NHWC, weights (KH, KW, C_in/groups, C_out), strides, dilations, TF or explicit pads:
 * clnet/ops.h). Five OpenCL algorithms, each for the convs clnet_conv2d_algo_applies says, chosen
 * per call and pass by host/tune/conv_algo.c through the ctx's chooser (ops/algo_choice.h; forced,
 * the fixed rule, or AUTO's timed find-db):
 *   GEMM    im2col + CLBlast GEMM (cl/conv2d.cl), every conv, described here;
 *   DIRECT  clnet's register-tiled kernels (cl/conv2d_direct.cl), every conv but depthwise ones:
 *           forward and backward data compute tiles of 8 output pixels x 8 or 16 channels of one
 *           group per work-item from repacked weights; the filter gradient reduces over fixed
 *           blocks of output rows, then sums the blocks in order. Scratch: the repacked weights,
 *           or the per-block partials (at most DIRECT_WGRAD_PARTIAL_BYTES; none with a single block).
 *   WINOGRAD F(2x2, 3x3) and WINOGRAD4 F(4x4, 3x3) for 3x3 stride-1 undilated convs of one group,
 *           all three passes (host/ops/conv2d_winograd.c, cl/conv2d_winograd.cl; its filter
 *           gradient leaves db to the shared column sum);
 *   DEPTHWISE depthwise convs (groups = C_in > 1; host/ops/conv2d_depthwise.c,
 *           cl/conv2d_depthwise.cl; db is the shared column sum too).
 * The reference backend runs direct loops (ops/ref/conv2d_ref.c). The bias gradient is the same
 * two-stage column sum for every algorithm but DIRECT (which sums it with dw). Every path is
 * deterministic.
 *
 * GEMM path, per group g of CG = C_in/G input and OG = C_out/G output channels (a column block of
 * x, W and y, reached through the GEMMs' leading dimensions and offsets; G = 1 is the whole conv).
 * With K = KH*KW*CG and P = OH*OW output pixels per image:
 *   forward          col (nc*P, K) = im2col(x chunk, group g); y chunk (nc*P, C_out)[:, g] =
 *                    col . W (K, C_out)[:, g] (NHWC: the GEMM output is the y chunk itself, no
 *                    transpose), then y += b. A long K is reduced in slices of ~CONV_GEMM_K_SLICE
 *                    (see gemm_split_k).
 *   backward data    dcol (nc*P, K) = dy chunk (nc*P, C_out)[:, g] . W[:, g]^T; dx chunk[:, g] =
 *                    col2im(dcol) (gather).
 *   backward filter  dW[:, g] (K, OG) = sum over chunks of col^T . dy chunk[:, g] (beta = 1 after the
 *                    first chunk); db (C_out) = column sums of dy (N*P, C_out), two-stage fixed order.
 * A chunk is nc images, as many as keep col within a byte limit (16 MiB; 4 MiB for the filter
 * gradient, see below; always at least one image). col lives in the ctx scratch buffer.
 * 1x1 stride-1 convs without pads skip im2col: x (N*H*W, C_in)[:, g] is already the col matrix and
 * one GEMM per group covers the whole batch. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ops/common.h"
#include "ops/conv_algo.h"
#include "ops/conv_depthwise.h"
#include "ops/conv_winograd.h"

/* Chunk sizes (images per chunk = as many as keep col within the limit, at least one).
 * Forward and backward data: 16 MiB. Measured with CLBlast on PoCL (ResNet-18 shapes, batch
 * 64): 8-16 MiB chunks run the GEMMs ~20% faster in total than 32-64 MiB ones (the col operand
 * of each GEMM stays in cache), while much smaller chunks drop CLBlast into its slower
 * small-size (direct) GEMM for the 30x30x64 layers.
 * Backward filter: 4 MiB. There the chunk rows are the GEMM's reduction length and its output
 * (K, C_out) is small; CLBlast on PoCL runs 2-5x slower reducing over tens of thousands of rows
 * in one call than over a chain of shorter calls accumulating with beta = 1, and the extra
 * read/write of the small dW per chunk is cheap. */
#define CONV_COL_LIMIT_BYTES ((size_t)16 << 20)
#define CONV_WGRAD_COL_LIMIT_BYTES ((size_t)4 << 20)
/* Forward GEMMs reduce over K in slices of about this many columns, accumulated with beta = 1
 * in slice order. Measured with CLBlast on PoCL: for the layer3/layer4 convs (K = 2304, 4608)
 * one GEMM over all of K runs at 12-14 GFLOP/s, slices of 512-768 at 40-48 (~3x); slices of
 * 384 or less are slower again. K <= 864 (every conv up to layer2's 3x3 with 64 inputs) is
 * one GEMM. */
#define CONV_GEMM_K_SLICE 576
/* fixed local sizes: dim0 along the contiguous channel-like dimension */
static const size_t conv_local2[2] = {16, 16}; /* (channel, row) */
static const size_t conv_local3[3] = {16, 4, 4}; /* (channel, column, image row) */
#define CONV_BIAS_ROWS 64 /* rows summed per partial of the bias gradient */

/* One dimension's output size and pads: TensorFlow's VALID / SAME over the dilated kernel
 * (clnet_padding_out), or the given pads. */
static clnet_status dim_out(const char *what, int32_t in, int32_t k, int32_t dil, int32_t stride, clnet_padding padding,
                            int32_t *pad_before, int32_t *pad_after, int32_t *out) {
  const int64_t ke = (int64_t)(k - 1) * dil + 1; /* the dilated kernel's extent */
  if (ke > INT_MAX)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "conv2d: %s: dilated kernel (%d - 1) * %d + 1 is too large", what,
                           k, dil);
  const char *kname = dil > 1 ? "dilated kernel" : "kernel";
  if (padding == CLNET_PADDING_EXPLICIT) {
    if (*pad_before < 0 || *pad_after < 0)
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "conv2d: %s: pads %d, %d must be >= 0", what, *pad_before,
                             *pad_after);
    const int64_t padded = (int64_t)in + *pad_before + *pad_after;
    if (padded < ke)
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                             "conv2d: %s: padded input %lld (%d + pads %d, %d) is smaller than the %s %lld", what,
                             (long long)padded, in, *pad_before, *pad_after, kname, (long long)ke);
    if (padded > INT_MAX) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "conv2d: %s: pads too large", what);
    *out = (int32_t)((padded - ke) / stride + 1);
    return CLNET_SUCCESS;
  }
  if (padding == CLNET_PADDING_VALID && in < ke)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "conv2d: padding 'valid' needs %s >= the %s, got %d < %lld",
                           what, kname, in, (long long)ke);
  CLNET_TRY(clnet_padding_out(in, (int32_t)ke, stride, padding, out, pad_before));
  const int64_t total = padding == CLNET_PADDING_SAME ? (int64_t)(*out - 1) * stride + ke - in : 0;
  *pad_after = total > 0 ? (int32_t)(total - *pad_before) : 0;
  return CLNET_SUCCESS;
}

clnet_status clnet_conv2d_desc_init(clnet_conv2d_desc *d) {
  if (!d) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "conv2d: desc is NULL");
  d->out_h = d->out_w = 0;
#define CONV_REQUIRE_POS(field, what)                                                                    \
  if (d->field < 1)                                                                                      \
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "conv2d: " #field " (%s) = %d, must be >= 1", what, \
                           (int)d->field);
#define CONV_REQUIRE_OPT(field, what, def)                                                                \
  if (d->field < 0)                                                                                       \
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "conv2d: " #field " (%s) = %d, must be >= 1 (or 0: " def ")", \
                           what, (int)d->field);
  CONV_REQUIRE_POS(n, "batch size")
  CONV_REQUIRE_POS(in_h, "input height")
  CONV_REQUIRE_POS(in_w, "input width")
  CONV_REQUIRE_POS(in_c, "input channels")
  CONV_REQUIRE_POS(out_c, "output channels")
  CONV_REQUIRE_POS(k_h, "kernel height")
  CONV_REQUIRE_POS(k_w, "kernel width")
  CONV_REQUIRE_OPT(stride_h, "height stride", "stride")
  CONV_REQUIRE_OPT(stride_w, "width stride", "stride")
  CONV_REQUIRE_OPT(dilation_h, "height dilation", "1")
  CONV_REQUIRE_OPT(dilation_w, "width dilation", "1")
  CONV_REQUIRE_OPT(groups, "channel groups", "1")
  if (!d->stride_h || !d->stride_w) CONV_REQUIRE_POS(stride, "stride in both dimensions")
#undef CONV_REQUIRE_POS
#undef CONV_REQUIRE_OPT
  const int32_t g = clnet_conv2d_groups(d);
  if (d->in_c % g || d->out_c % g)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "conv2d: groups = %d must divide the input channels (%d) and the output channels (%d)", g,
                           d->in_c, d->out_c);
  if (d->padding != CLNET_PADDING_VALID && d->padding != CLNET_PADDING_SAME && d->padding != CLNET_PADDING_EXPLICIT)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "conv2d: padding = %d, must be CLNET_PADDING_VALID (0), CLNET_PADDING_SAME (1) or "
                           "CLNET_PADDING_EXPLICIT (2)",
                           (int)d->padding);
  if (d->has_bias != 0 && d->has_bias != 1)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "conv2d: has_bias = %d, must be 0 or 1", (int)d->has_bias);
  int32_t oh, ow, pt = d->pad_top, pb = d->pad_bottom, pl = d->pad_left, pr = d->pad_right;
  if (d->padding != CLNET_PADDING_EXPLICIT) pt = pb = pl = pr = 0;
  CLNET_TRY(dim_out("in_h", d->in_h, d->k_h, clnet_conv2d_dilation_h(d), clnet_conv2d_stride_h(d), d->padding, &pt,
                    &pb, &oh));
  CLNET_TRY(dim_out("in_w", d->in_w, d->k_w, clnet_conv2d_dilation_w(d), clnet_conv2d_stride_w(d), d->padding, &pl,
                    &pr, &ow));
  /* kernels and GEMMs index with int */
  const int64_t k = (int64_t)d->k_h * d->k_w * (d->in_c / g); /* one group's im2col row */
  const struct { const char *what; int64_t count; } sizes[] = {
      {"x: n*in_h*in_w*in_c", (int64_t)d->n * d->in_h * d->in_w * d->in_c},
      {"y: n*out_h*out_w*out_c", (int64_t)d->n * oh * ow * d->out_c},
      {"w: k_h*k_w*(in_c/groups)*out_c", k * d->out_c},
      {"im2col of one image: out_h*out_w*k_h*k_w*in_c/groups", (int64_t)oh * ow * k},
  };
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; ++i)
    if (sizes[i].count > INT_MAX)
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "conv2d: %s = %lld elements, must be < 2^31",
                             sizes[i].what, (long long)sizes[i].count);
  d->out_h = oh;
  d->out_w = ow;
  d->pad_top = pt, d->pad_bottom = pb, d->pad_left = pl, d->pad_right = pr;
  return CLNET_SUCCESS;
}

/* The desc must be valid and its derived fields those clnet_conv2d_desc_init computes. */
static clnet_status check_desc(const char *op, const clnet_conv2d_desc *d) {
  if (!d) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: desc is NULL", op);
  clnet_conv2d_desc t = *d;
  clnet_status st = clnet_conv2d_desc_init(&t);
  if (st != CLNET_SUCCESS) return clnet_wrap_error(st, "%s", op);
  if (t.out_h != d->out_h || t.out_w != d->out_w || t.pad_top != d->pad_top || t.pad_left != d->pad_left ||
      t.pad_bottom != d->pad_bottom || t.pad_right != d->pad_right)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "%s: derived fields (out %dx%d, pads %d,%d,%d,%d) do not match the desc (expected out "
                           "%dx%d, pads %d,%d,%d,%d): call clnet_conv2d_desc_init after setting the fields",
                           op, d->out_h, d->out_w, d->pad_top, d->pad_bottom, d->pad_left, d->pad_right, t.out_h,
                           t.out_w, t.pad_top, t.pad_bottom, t.pad_left, t.pad_right);
  return CLNET_SUCCESS;
}

static int32_t groups_of(const clnet_conv2d_desc *d) { return clnet_conv2d_groups(d); }
static int64_t x_count(const clnet_conv2d_desc *d) { return (int64_t)d->n * d->in_h * d->in_w * d->in_c; }
static int64_t y_count(const clnet_conv2d_desc *d) { return (int64_t)d->n * d->out_h * d->out_w * d->out_c; }
/* one group's im2col row: KH*KW*C_in/groups */
static int32_t col_k(const clnet_conv2d_desc *d) { return d->k_h * d->k_w * (d->in_c / groups_of(d)); }
static int64_t w_count(const clnet_conv2d_desc *d) { return (int64_t)col_k(d) * d->out_c; }

/* 1x1, stride 1, no pads: x (N*H*W, C_in) is the col matrix (each group's: its columns). */
static int is_pointwise(const clnet_conv2d_desc *d) {
  return d->k_h == 1 && d->k_w == 1 && clnet_conv2d_stride_h(d) == 1 && clnet_conv2d_stride_w(d) == 1 &&
         !d->pad_top && !d->pad_bottom && !d->pad_left && !d->pad_right;
}

/* A scratch byte limit within the device's largest buffer (CL_DEVICE_MAX_MEM_ALLOC_SIZE, or a
 * lower CLNET_DEVICE_LIMITS alloc): smaller devices get smaller chunks, not a failed allocation. */
static size_t device_limit(const clnet_ctx *ctx, size_t limit) {
  return ctx->info.max_alloc_bytes < limit ? (size_t)ctx->info.max_alloc_bytes : limit;
}

/* Images per chunk: col (nc*OH*OW, K) stays <= limit bytes, at least one image. */
static int32_t chunk_images(const clnet_conv2d_desc *d, size_t limit) {
  size_t per_image = (size_t)d->out_h * d->out_w * (size_t)col_k(d) * sizeof(float);
  size_t nc = limit / per_image;
  if (nc < 1) nc = 1;
  if (nc > (size_t)d->n) nc = (size_t)d->n;
  return (int32_t)nc;
}

/* The geometry arguments every conv kernel of cl/conv2d.cl and cl/conv2d_direct.cl takes after the
 * shape: strides, dilations, leading pads. */
#define CONV_GEOM_ARGS(d)                                                                                      \
  CLNET_ARG_I32(clnet_conv2d_stride_h(d)), CLNET_ARG_I32(clnet_conv2d_stride_w(d)),                           \
      CLNET_ARG_I32(clnet_conv2d_dilation_h(d)), CLNET_ARG_I32(clnet_conv2d_dilation_w(d)),                   \
      CLNET_ARG_I32((d)->pad_top), CLNET_ARG_I32((d)->pad_left)

/* col (nc*OH*OW, K) = im2col of images [n0, n0+nc) of x (N, H, W, C_in), group g's channels. */
static clnet_status launch_im2col(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *x, int32_t n0,
                                  int32_t nc, int32_t g, clnet_buf *col) {
  const int32_t cg = d->in_c / groups_of(d);
  size_t global[3] = {(size_t)d->k_w * cg, (size_t)d->out_w, (size_t)nc * d->out_h};
  return CLNET_LAUNCH(ctx, "conv2d", "conv2d_im2col", 3, global, conv_local3, CLNET_ARG_BUF(x),
                      CLNET_ARG_I32((int64_t)n0 * d->in_h * d->in_w * d->in_c + (int64_t)g * cg), CLNET_ARG_BUF(col),
                      CLNET_ARG_I32(nc), CLNET_ARG_I32(d->in_h), CLNET_ARG_I32(d->in_w), CLNET_ARG_I32(d->in_c),
                      CLNET_ARG_I32(cg), CLNET_ARG_I32(d->out_h), CLNET_ARG_I32(d->out_w), CLNET_ARG_I32(d->k_h),
                      CLNET_ARG_I32(d->k_w), CONV_GEOM_ARGS(d));
}

/* C (m, n) = A (m, K) . B (K, n) (row-major, leading dimensions lda, ldb, ldc; offsets in floats),
 * reduced over K in n_slices = round(K / CONV_GEMM_K_SLICE) equal slices: C = A[:, s0] . B[s0, :],
 * then C += A[:, s1] . B[s1, :], ... in slice order (deterministic). */
static clnet_status gemm_split_k(clnet_ctx *ctx, int32_t m, int32_t n, int32_t K, const clnet_buf *a, size_t a_off,
                                 int32_t lda, const clnet_buf *b, size_t b_off, int32_t ldb, clnet_buf *c, size_t c_off,
                                 int32_t ldc) {
  int32_t n_slices = (K + CONV_GEMM_K_SLICE / 2) / CONV_GEMM_K_SLICE;
  if (n_slices < 1) n_slices = 1;
  const int32_t ks = (K + n_slices - 1) / n_slices;
  for (int32_t k0 = 0; k0 < K; k0 += ks) {
    const int32_t kl = K - k0 < ks ? K - k0 : ks;
    CLNET_TRY(clnet_gemm(ctx, 0, 0, m, n, kl, 1.0f, a, a_off + (size_t)k0, lda, b, b_off + (size_t)k0 * ldb, ldb,
                         k0 == 0 ? 0.0f : 1.0f, c, c_off, ldc));
  }
  return CLNET_SUCCESS;
}

/* ---- direct kernels (cl/conv2d_direct.cl) ------------------------------------------------- */

#define DIRECT_PT 8  /* output pixels per work-item: CONV_PT in the .cl file */
static const size_t direct_local2[2] = {64, 1}; /* (pixel tile, channel tile) */
/* Forward of a strided conv with small outputs (ResNet-18's k3 s2 into 15x15x128, 8x8x256,
 * 4x4x512 at batch 64): its input is ~4x its output, so a work-group of 64 pixel tiles x 1
 * channel tile streams 1.5-2 MiB of x per channel tile, more than a core's L2 keeps, and
 * re-reads it for every channel tile. 16 pixel tiles x 4 channel tiles (PoCL runs the pixel
 * tiles innermost) reads its 0.4-0.5 MiB of x once for 4 channel tiles: measured 6-12% faster
 * on PoCL (stride 1 and 1x1 layers: no clear gain, so they keep 64 x 1). */
static const size_t direct_local_fwd_small[2] = {16, 4};
/* Filter gradient partition: each block of output rows covers about DIRECT_WGRAD_BLOCK_PIXELS
 * output pixels. Consecutive work-items share a block, so a block's x and dy rows (512 pixels
 * x (C_in + C_out) floats: 1 MiB at 256 + 256 channels) stay in cache while every filter tile
 * of the block reads them; fewer, longer blocks stream x and dy from memory once per filter
 * tile (measured: 8x8x256->256 at batch 64 ran 3x slower as one block than as 7). The partials
 * (n_blocks, K*C_out + C_out) are capped at DIRECT_WGRAD_PARTIAL_BYTES (blocks grow to fit),
 * the forward im2col chunk limit that the graph's memory estimate already budgets for. */
#define DIRECT_WGRAD_BLOCK_PIXELS 512
#define DIRECT_WGRAD_PARTIAL_BYTES CONV_COL_LIMIT_BYTES

/* Channel tile (kernel variant) for a dimension of c channels: 8 for narrow, else 16. */
static int32_t direct_tile(int32_t c) { return c <= 8 ? 8 : 16; }

/* The filter-gradient kernel for d and its tile of *ci input x *co output channels per work-item
 * (within one group of CG = C_in/groups input and OG = C_out/groups output channels):
 * conv2d_direct_wgrad_t32_c8 (8 x 32: two dy loads and 8 x loads per 16 FMAs; 1.05-1.35x faster
 * than 16 x 16 on every such ResNet-18 layer, PoCL, batch 64, alternating runs) where
 * CG % 8 == 0 and OG % 32 == 0 (it has no partial tiles), else conv2d_direct_wgrad_tT_cCT with
 * T = direct_tile(OG) and CT = 16 from 16 input channels up, else 8. */
static const char *direct_wgrad_kernel(const clnet_conv2d_desc *d, int32_t *ci, int32_t *co) {
  const int32_t cg = d->in_c / groups_of(d), og = d->out_c / groups_of(d);
  if (cg % 8 == 0 && og % 32 == 0) {
    *ci = 8, *co = 32;
    return "conv2d_direct_wgrad_t32_c8";
  }
  *ci = cg >= 16 ? 16 : 8, *co = direct_tile(og);
  static const char *const names[2][2] = {{"conv2d_direct_wgrad_t8_c8", "conv2d_direct_wgrad_t8_c16"},
                                          {"conv2d_direct_wgrad_t16_c8", "conv2d_direct_wgrad_t16_c16"}};
  return names[*co == 16][*ci == 16];
}
static int32_t round_up_i32(int32_t n, int32_t m) { return (n + m - 1) / m * m; }
static int32_t gcd_i32(int32_t a, int32_t b) {
  while (b) {
    const int32_t t = a % b;
    a = b, b = t;
  }
  return a;
}
static int32_t ceil_div_i32(int32_t n, int32_t m) { return (n + m - 1) / m; }

/* scratch = [zeros (zero_len) | w repacked (G*tpg tiles, taps, a, tile)], tpg = ceil(b / tile) tiles
 * per group: see conv2d_direct_pack. Group g's element (t, b, a) is w[(t*sb + g*b_step + b)*sa +
 * g*a_step + a]. */
static clnet_status direct_pack(clnet_ctx *ctx, const clnet_buf *w, int32_t zero_len, int32_t taps, int32_t a,
                                int32_t b, int32_t tile, int32_t G, int32_t sb, int32_t sa, int32_t b_step,
                                int32_t a_step, clnet_buf *packed) {
  const int32_t tpg = ceil_div_i32(b, tile);
  const int64_t total = (int64_t)zero_len + (int64_t)G * tpg * taps * a * tile;
  CLNET_TRY(clnet_require_int_range("conv2d (direct): repacked weights", total));
  CLNET_TRY(clnet_scratch_get(ctx, (size_t)total * sizeof(float), packed));
  size_t global = (size_t)total, local = CLNET_WG_1D;
  int32_t tile_log2 = 0; /* the kernel indexes its tile by shift and mask: tile is a power of two */
  while ((1 << tile_log2) < tile) ++tile_log2;
  return CLNET_LAUNCH(ctx, "conv2d_direct", "conv2d_direct_pack", 1, &global, &local, CLNET_ARG_BUF(w),
                      CLNET_ARG_BUF(packed), CLNET_ARG_I32(zero_len), CLNET_ARG_I32(taps), CLNET_ARG_I32(a),
                      CLNET_ARG_I32(b), CLNET_ARG_I32(tile_log2), CLNET_ARG_I32(tpg), CLNET_ARG_I32(G), CLNET_ARG_I32(sb),
                      CLNET_ARG_I32(sa), CLNET_ARG_I32(b_step), CLNET_ARG_I32(a_step));
}

/* Zeros in front of the packed weights: as long as the longest channel row a kernel reads. */
static int32_t direct_zero_len(const clnet_conv2d_desc *d) {
  return round_up_i32(d->in_c > d->out_c ? d->in_c : d->out_c, 16);
}

static clnet_status direct_forward(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *x,
                                   const clnet_buf *w, const clnet_buf *b, clnet_buf *y) {
  const int32_t G = groups_of(d), og = d->out_c / G;
  const int32_t T = direct_tile(og), Z = direct_zero_len(d);
  clnet_buf wp; /* zeros (Z), w per group (G, OG/T, K, T) */
  CLNET_TRY(direct_pack(ctx, w, Z, col_k(d), 1, og, T, G, d->out_c, 1, og, 0, &wp));
  const int64_t pixels = y_count(d) / d->out_c; /* N*OH*OW, in tiles of DIRECT_PT */
  CLNET_TRY(clnet_require_int_range("conv2d_forward (direct): output pixels rounded up to a tile",
                                    pixels + DIRECT_PT));
  size_t global[2] = {(size_t)((pixels + DIRECT_PT - 1) / DIRECT_PT), (size_t)G * ceil_div_i32(og, T)};
  const int small_strided = (clnet_conv2d_stride_h(d) > 1 || clnet_conv2d_stride_w(d) > 1) && d->k_h * d->k_w > 1 &&
                            d->out_h * d->out_w <= 256;
  return CLNET_LAUNCH(ctx, "conv2d_direct", T == 8 ? "conv2d_direct_fwd_t8" : "conv2d_direct_fwd_t16", 2, global,
                      small_strided ? direct_local_fwd_small : direct_local2, CLNET_ARG_BUF(x), CLNET_ARG_BUF(&wp),
                      CLNET_ARG_BUF(d->has_bias ? b : w), CLNET_ARG_BUF(y), CLNET_ARG_I32(d->n),
                      CLNET_ARG_I32(d->in_h), CLNET_ARG_I32(d->in_w), CLNET_ARG_I32(d->in_c), CLNET_ARG_I32(d->out_h),
                      CLNET_ARG_I32(d->out_w), CLNET_ARG_I32(d->out_c), CLNET_ARG_I32(d->k_h), CLNET_ARG_I32(d->k_w),
                      CONV_GEOM_ARGS(d), CLNET_ARG_I32(G), CLNET_ARG_I32(d->has_bias), CLNET_ARG_I32(Z));
}

static clnet_status direct_backward_data(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *dy,
                                         const clnet_buf *w, clnet_buf *dx) {
  const int32_t G = groups_of(d), cg = d->in_c / G, og = d->out_c / G;
  const int32_t T = direct_tile(cg), Z = direct_zero_len(d);
  clnet_buf wp; /* zeros (Z), w^T per group (G, CG/T, KH*KW, OG, T) */
  CLNET_TRY(direct_pack(ctx, w, Z, d->k_h * d->k_w, og, cg, T, G, cg, d->out_c, 0, og, &wp));
  /* s*s classes of dx pixels (ih mod s, iw mod s), each (N, ceil(H/s), ceil(W/s)) in tiles */
  const int64_t sh = clnet_conv2d_stride_h(d), sw = clnet_conv2d_stride_w(d);
  const int64_t class_pixels = d->n * ((d->in_h + sh - 1) / sh) * ((d->in_w + sw - 1) / sw);
  const int64_t tiles = sh * sw * ((class_pixels + DIRECT_PT - 1) / DIRECT_PT);
  /* the live taps of a class repeat every s / gcd(s, dilation) taps (direct_bwd_data in the .cl) */
  const int32_t gh = gcd_i32((int32_t)sh, clnet_conv2d_dilation_h(d)), gw = gcd_i32((int32_t)sw, clnet_conv2d_dilation_w(d));
  CLNET_TRY(clnet_require_int_range("conv2d_backward_data (direct): pixel tiles x tile", tiles * DIRECT_PT));
  size_t global[2] = {(size_t)tiles, (size_t)G * ceil_div_i32(cg, T)};
  return CLNET_LAUNCH(ctx, "conv2d_direct", T == 8 ? "conv2d_direct_bwd_data_t8" : "conv2d_direct_bwd_data_t16", 2,
                      global, direct_local2, CLNET_ARG_BUF(dy), CLNET_ARG_BUF(&wp), CLNET_ARG_BUF(dx),
                      CLNET_ARG_I32(d->n), CLNET_ARG_I32(d->in_h), CLNET_ARG_I32(d->in_w), CLNET_ARG_I32(d->in_c),
                      CLNET_ARG_I32(d->out_h), CLNET_ARG_I32(d->out_w), CLNET_ARG_I32(d->out_c),
                      CLNET_ARG_I32(d->k_h), CLNET_ARG_I32(d->k_w), CONV_GEOM_ARGS(d), CLNET_ARG_I32(G),
                      CLNET_ARG_I32(sh / gh),
                      CLNET_ARG_I32(sw / gw), CLNET_ARG_I32(clnet_conv2d_dilation_h(d) / gh),
                      CLNET_ARG_I32(clnet_conv2d_dilation_w(d) / gw), CLNET_ARG_I32(Z));
}

/* The filter gradient's fixed partition: output rows (n*OH + oh) in blocks of rows_per_block.
 * Depends on the shape only, so every run sums in the same order. */
static void direct_wgrad_blocks(const clnet_ctx *ctx, const clnet_conv2d_desc *d, int32_t *rows_per_block,
                                int32_t *n_blocks) {
  const int32_t rows = d->n * d->out_h;
  const size_t per_block = ((size_t)w_count(d) + (size_t)d->out_c) * sizeof(float); /* dw, db partials */
  const size_t max_blocks = device_limit(ctx, DIRECT_WGRAD_PARTIAL_BYTES) / per_block;
  int32_t nb = ceil_div_i32(rows, ceil_div_i32(DIRECT_WGRAD_BLOCK_PIXELS, d->out_w));
  if ((size_t)nb > max_blocks) nb = max_blocks > 1 ? (int32_t)max_blocks : 1;
  *rows_per_block = ceil_div_i32(rows, nb);
  *n_blocks = ceil_div_i32(rows, *rows_per_block); /* <= nb, every block non-empty */
}

/* dw (and db): per block of output rows, partials (n_blocks, K, C_out) and (n_blocks, C_out) in
 * scratch, then each summed over the blocks in order. A single block writes dw and db itself. */
static clnet_status direct_backward_filter(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *x,
                                           const clnet_buf *dy, clnet_buf *dw, clnet_buf *db) {
  const int32_t KC = (int32_t)w_count(d);
  int32_t rpb, n_blocks;
  direct_wgrad_blocks(ctx, d, &rpb, &n_blocks);
  clnet_buf pw = *dw, pb = d->has_bias ? *db : *dw; /* partial dw, partial db (unused without bias) */
  int32_t db_off = 0;                               /* floats from pb's start to partial db */
  if (n_blocks > 1) {
    /* scratch: partial dw (n_blocks, K*C_out), then partial db (n_blocks, C_out) */
    CLNET_TRY(clnet_scratch_get(ctx, (size_t)n_blocks * ((size_t)KC + (size_t)d->out_c) * sizeof(float), &pw));
    pb = pw;
    db_off = n_blocks * KC;
  }
  int32_t ci_tile, co_tile;
  const char *kname = direct_wgrad_kernel(d, &ci_tile, &co_tile);
  const int32_t G = groups_of(d);
  size_t global = (size_t)n_blocks * G * ceil_div_i32(d->out_c / G, co_tile) * ceil_div_i32(d->in_c / G, ci_tile) *
                  d->k_h * d->k_w;
  size_t local = CLNET_WG_1D;
  CLNET_TRY(CLNET_LAUNCH(ctx, "conv2d_direct", kname, 1,
                         &global, &local, CLNET_ARG_BUF(x), CLNET_ARG_BUF(dy), CLNET_ARG_BUF(&pw), CLNET_ARG_BUF(&pb),
                         CLNET_ARG_I32(d->n), CLNET_ARG_I32(d->in_h), CLNET_ARG_I32(d->in_w), CLNET_ARG_I32(d->in_c),
                         CLNET_ARG_I32(d->out_h), CLNET_ARG_I32(d->out_w), CLNET_ARG_I32(d->out_c),
                         CLNET_ARG_I32(d->k_h), CLNET_ARG_I32(d->k_w), CONV_GEOM_ARGS(d), CLNET_ARG_I32(G), CLNET_ARG_I32(rpb),
                         CLNET_ARG_I32(n_blocks), CLNET_ARG_I32(d->has_bias), CLNET_ARG_I32(db_off)));
  if (n_blocks == 1) return CLNET_SUCCESS;
  /* dw (K*C_out), db (C_out) = sums over the blocks of the partials, in block order */
  size_t g2 = (size_t)KC, l2 = CLNET_WG_1D;
  CLNET_TRY(CLNET_LAUNCH(ctx, "conv2d_direct", "conv2d_direct_sum_blocks", 1, &g2, &l2, CLNET_ARG_BUF(&pw),
                         CLNET_ARG_I32(0), CLNET_ARG_BUF(dw), CLNET_ARG_I32(n_blocks), CLNET_ARG_I32(KC)));
  if (!d->has_bias) return CLNET_SUCCESS;
  g2 = (size_t)d->out_c;
  return CLNET_LAUNCH(ctx, "conv2d_direct", "conv2d_direct_sum_blocks", 1, &g2, &l2, CLNET_ARG_BUF(&pb),
                      CLNET_ARG_I32(db_off), CLNET_ARG_BUF(db), CLNET_ARG_I32(n_blocks), CLNET_ARG_I32(d->out_c));
}

/* ---- the ops ---------------------------------------------------------------------------------- */

static clnet_status gemm_forward(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *x,
                                 const clnet_buf *w, const clnet_buf *b, clnet_buf *y);
static clnet_status gemm_backward_data(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *dy,
                                       const clnet_buf *w, clnet_buf *dx);
static clnet_status gemm_backward_filter(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *x,
                                         const clnet_buf *dy, clnet_buf *dw);
static clnet_status bias_grad(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *dy, clnet_buf *db);
static clnet_status run_algo(clnet_ctx *ctx, const clnet_conv2d_desc *d, clnet_pass pass,
                             clnet_conv_algo algo, const clnet_conv_io *io);

clnet_status clnet_conv2d_forward(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *x,
                                  const clnet_buf *w, const clnet_buf *b, clnet_buf *y) {
  const char *op = "conv2d_forward";
  CLNET_TRY(check_desc(op, d));
  CLNET_TRY(clnet_require_buf(op, "x", x, x_count(d), 4));
  CLNET_TRY(clnet_require_buf(op, "w", w, w_count(d), 4));
  if (d->has_bias) CLNET_TRY(clnet_require_buf(op, "b", b, d->out_c, 4));
  CLNET_TRY(clnet_require_buf(op, "y", y, y_count(d), 4));
  if (ctx->is_ref) {
    clnet_ref_conv2d_forward(d, CF32(x), CF32(w), d->has_bias ? CF32(b) : NULL, F32(y));
    return CLNET_SUCCESS;
  }
  const clnet_conv_io io = {.x = x, .w = w, .b = d->has_bias ? b : NULL, .y = y};
  clnet_conv_algo_choice c;
  CLNET_TRY(clnet_conv_algo_resolve(ctx, d, CLNET_PASS_FORWARD, &io, &c));
  clnet_profile_op_detail(ctx, clnet_conv_algo_str(c.algo));
  return run_algo(ctx, d, CLNET_PASS_FORWARD, c.algo, &io);
}

static clnet_status gemm_forward(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *x,
                                 const clnet_buf *w, const clnet_buf *b, clnet_buf *y) {
  /* col row length, output pixels per image; groups of cg input and og output channels */
  const int32_t K = col_k(d), P = d->out_h * d->out_w, G = groups_of(d);
  const int32_t cg = d->in_c / G, og = d->out_c / G;
  if (is_pointwise(d)) {
    /* y (N*H*W, C_out)[:, group] = x (N*H*W, C_in)[:, group] . w (C_in/G, C_out)[:, group] */
    for (int32_t g = 0; g < G; ++g)
      CLNET_TRY(gemm_split_k(ctx, d->n * P, og, K, x, (size_t)g * cg, d->in_c, w, (size_t)g * og, d->out_c, y,
                             (size_t)g * og, d->out_c));
  } else {
    const int32_t chunk = chunk_images(d, device_limit(ctx, CONV_COL_LIMIT_BYTES));
    clnet_buf col; /* (chunk*P, K) */
    CLNET_TRY(clnet_scratch_get(ctx, (size_t)chunk * P * (size_t)K * sizeof(float), &col));
    for (int32_t n0 = 0; n0 < d->n; n0 += chunk) {
      const int32_t nc = d->n - n0 < chunk ? d->n - n0 : chunk;
      for (int32_t g = 0; g < G; ++g) {
        CLNET_TRY(launch_im2col(ctx, d, x, n0, nc, g, &col));
        /* y[n0 .. n0+nc) (nc*P, C_out)[:, group] = col (nc*P, K) . w (K, C_out)[:, group] */
        CLNET_TRY(gemm_split_k(ctx, nc * P, og, K, &col, 0, K, w, (size_t)g * og, d->out_c, y,
                               (size_t)n0 * P * d->out_c + (size_t)g * og, d->out_c));
      }
    }
  }
  if (d->has_bias) {
    const int32_t rows = d->n * P;
    size_t global[2] = {(size_t)d->out_c, (size_t)rows};
    CLNET_TRY(CLNET_LAUNCH(ctx, "conv2d", "conv2d_bias_add", 2, global, conv_local2, CLNET_ARG_BUF(y),
                           CLNET_ARG_BUF(b), CLNET_ARG_I32(rows), CLNET_ARG_I32(d->out_c)));
  }
  return CLNET_SUCCESS;
}

clnet_status clnet_conv2d_backward_data(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *dy,
                                        const clnet_buf *w, clnet_buf *dx) {
  const char *op = "conv2d_backward_data";
  CLNET_TRY(check_desc(op, d));
  CLNET_TRY(clnet_require_buf(op, "dy", dy, y_count(d), 4));
  CLNET_TRY(clnet_require_buf(op, "w", w, w_count(d), 4));
  CLNET_TRY(clnet_require_buf(op, "dx", dx, x_count(d), 4));
  if (ctx->is_ref) {
    clnet_ref_conv2d_backward_data(d, CF32(dy), CF32(w), F32(dx));
    return CLNET_SUCCESS;
  }
  const clnet_conv_io io = {.dy = dy, .w = w, .dx = dx};
  clnet_conv_algo_choice c;
  CLNET_TRY(clnet_conv_algo_resolve(ctx, d, CLNET_PASS_BACKWARD_DATA, &io, &c));
  clnet_profile_op_detail(ctx, clnet_conv_algo_str(c.algo));
  return run_algo(ctx, d, CLNET_PASS_BACKWARD_DATA, c.algo, &io);
}

static clnet_status gemm_backward_data(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *dy,
                                       const clnet_buf *w, clnet_buf *dx) {
  const int32_t K = col_k(d), P = d->out_h * d->out_w, G = groups_of(d);
  const int32_t cg = d->in_c / G, og = d->out_c / G;
  if (is_pointwise(d)) {
    /* dx (N*H*W, C_in)[:, group] = dy (N*H*W, C_out)[:, group] . w^T (w is (C_in/G, C_out)[:, group]) */
    for (int32_t g = 0; g < G; ++g)
      CLNET_TRY(clnet_gemm(ctx, 0, 1, d->n * P, K, og, 1.0f, dy, (size_t)g * og, d->out_c, w, (size_t)g * og,
                           d->out_c, 0.0f, dx, (size_t)g * cg, d->in_c));
    return CLNET_SUCCESS;
  }
  const int32_t chunk = chunk_images(d, device_limit(ctx, CONV_COL_LIMIT_BYTES));
  clnet_buf dcol; /* (chunk*P, K) */
  CLNET_TRY(clnet_scratch_get(ctx, (size_t)chunk * P * (size_t)K * sizeof(float), &dcol));
  for (int32_t n0 = 0; n0 < d->n; n0 += chunk) {
    const int32_t nc = d->n - n0 < chunk ? d->n - n0 : chunk;
    for (int32_t g = 0; g < G; ++g) {
      /* dcol (nc*P, K) = dy[n0 .. n0+nc) (nc*P, C_out)[:, group] . w^T (w is (K, C_out)[:, group]) */
      CLNET_TRY(clnet_gemm(ctx, 0, 1, nc * P, K, og, 1.0f, dy, (size_t)n0 * P * d->out_c + (size_t)g * og, d->out_c,
                           w, (size_t)g * og, d->out_c, 0.0f, &dcol, 0, K));
      /* dx[n0 .. n0+nc) (nc, H, W, C_in)[group's channels] = col2im(dcol) */
      size_t global[3] = {(size_t)cg, (size_t)d->in_w, (size_t)nc * d->in_h};
      CLNET_TRY(CLNET_LAUNCH(ctx, "conv2d", "conv2d_col2im", 3, global, conv_local3, CLNET_ARG_BUF(&dcol),
                             CLNET_ARG_BUF(dx), CLNET_ARG_I32((int64_t)n0 * d->in_h * d->in_w * d->in_c + (int64_t)g * cg),
                             CLNET_ARG_I32(nc), CLNET_ARG_I32(d->in_h), CLNET_ARG_I32(d->in_w),
                             CLNET_ARG_I32(d->in_c), CLNET_ARG_I32(cg), CLNET_ARG_I32(d->out_h), CLNET_ARG_I32(d->out_w),
                             CLNET_ARG_I32(d->k_h), CLNET_ARG_I32(d->k_w), CONV_GEOM_ARGS(d)));
    }
  }
  return CLNET_SUCCESS;
}

clnet_status clnet_conv2d_backward_filter(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *x,
                                          const clnet_buf *dy, clnet_buf *dw, clnet_buf *db) {
  const char *op = "conv2d_backward_filter";
  CLNET_TRY(check_desc(op, d));
  CLNET_TRY(clnet_require_buf(op, "x", x, x_count(d), 4));
  CLNET_TRY(clnet_require_buf(op, "dy", dy, y_count(d), 4));
  CLNET_TRY(clnet_require_buf(op, "dw", dw, w_count(d), 4));
  if (d->has_bias) CLNET_TRY(clnet_require_buf(op, "db", db, d->out_c, 4));
  if (ctx->is_ref) {
    clnet_ref_conv2d_backward_filter(d, CF32(x), CF32(dy), F32(dw), d->has_bias ? F32(db) : NULL);
    return CLNET_SUCCESS;
  }
  const clnet_conv_io io = {.x = x, .dy = dy, .dw = dw, .db = d->has_bias ? db : NULL};
  clnet_conv_algo_choice c;
  CLNET_TRY(clnet_conv_algo_resolve(ctx, d, CLNET_PASS_BACKWARD_FILTER, &io, &c));
  clnet_profile_op_detail(ctx, clnet_conv_algo_str(c.algo));
  return run_algo(ctx, d, CLNET_PASS_BACKWARD_FILTER, c.algo, &io);
}

int clnet_conv2d_algo_applies(const clnet_conv2d_desc *d, clnet_pass pass, clnet_conv_algo algo) {
  switch (algo) {
    case CLNET_CONV_ALGO_GEMM: return 1;
    case CLNET_CONV_ALGO_DIRECT: return !clnet_conv2d_is_depthwise(d);
    case CLNET_CONV_ALGO_WINOGRAD:
    case CLNET_CONV_ALGO_WINOGRAD4: return clnet_conv2d_winograd_tile_applies(d, pass, clnet_conv_algo_winograd_tile(algo));
    case CLNET_CONV_ALGO_DEPTHWISE: return clnet_conv2d_is_depthwise(d);
    default: return 0;
  }
}

/* One pass with one algorithm; buffers already checked. */
static clnet_status run_algo(clnet_ctx *ctx, const clnet_conv2d_desc *d, clnet_pass pass,
                             clnet_conv_algo algo, const clnet_conv_io *io) {
  if (!clnet_conv2d_algo_applies(d, pass, algo))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "conv2d: %s does not apply to %dx%d stride %d,%d dilation %d,%d groups %d, %d -> %d channels",
                           clnet_conv_algo_str(algo), d->k_h, d->k_w, clnet_conv2d_stride_h(d), clnet_conv2d_stride_w(d),
                           clnet_conv2d_dilation_h(d), clnet_conv2d_dilation_w(d), groups_of(d), d->in_c, d->out_c);
  const int direct = algo == CLNET_CONV_ALGO_DIRECT;
  const int tile = clnet_conv_algo_winograd_tile(algo);
  if (tile || algo == CLNET_CONV_ALGO_DEPTHWISE) {
    const int dw = algo == CLNET_CONV_ALGO_DEPTHWISE;
    if (pass == CLNET_PASS_FORWARD)
      return dw ? clnet_conv2d_depthwise_forward(ctx, d, io->x, io->w, io->b, io->y)
                : clnet_conv2d_winograd_forward(ctx, d, tile, io->x, io->w, io->b, io->y);
    if (pass == CLNET_PASS_BACKWARD_DATA)
      return dw ? clnet_conv2d_depthwise_backward_data(ctx, d, io->dy, io->w, io->dx)
                : clnet_conv2d_winograd_backward_data(ctx, d, tile, io->dy, io->w, io->dx);
    /* db first, as on the GEMM path: the in-order queue keeps the two uses of scratch apart */
    if (d->has_bias) CLNET_TRY(bias_grad(ctx, d, io->dy, io->db));
    return dw ? clnet_conv2d_depthwise_backward_filter(ctx, d, io->x, io->dy, io->dw)
              : clnet_conv2d_winograd_backward_filter(ctx, d, tile, io->x, io->dy, io->dw);
  }
  switch (pass) {
    case CLNET_PASS_FORWARD:
      return direct ? direct_forward(ctx, d, io->x, io->w, io->b, io->y) : gemm_forward(ctx, d, io->x, io->w, io->b, io->y);
    case CLNET_PASS_BACKWARD_DATA:
      return direct ? direct_backward_data(ctx, d, io->dy, io->w, io->dx) : gemm_backward_data(ctx, d, io->dy, io->w, io->dx);
    default:
      if (direct) return direct_backward_filter(ctx, d, io->x, io->dy, io->dw, io->db);
      /* db (C_out) = column sums of dy (N*OH*OW, C_out) */
      if (d->has_bias) CLNET_TRY(bias_grad(ctx, d, io->dy, io->db));
      return gemm_backward_filter(ctx, d, io->x, io->dy, io->dw);
  }
}

clnet_status clnet_conv2d_run_algo(clnet_ctx *ctx, const clnet_conv2d_desc *d, clnet_pass pass,
                                   clnet_conv_algo algo, const clnet_conv_io *io) {
  const char *op = "conv2d (algorithm check)";
  CLNET_TRY(check_desc(op, d));
  if (ctx->is_ref || !clnet_conv2d_algo_applies(d, pass, algo))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: algo %s on %s", op, clnet_conv_algo_str(algo),
                           ctx->info.name);
  const int fwd = pass == CLNET_PASS_FORWARD, bwd_data = pass == CLNET_PASS_BACKWARD_DATA;
  CLNET_TRY(clnet_require_buf(op, "w", fwd || bwd_data ? io->w : io->dw, w_count(d), 4));
  CLNET_TRY(clnet_require_buf(op, "x", bwd_data ? io->dx : io->x, x_count(d), 4));
  CLNET_TRY(clnet_require_buf(op, "y", fwd ? io->y : io->dy, y_count(d), 4));
  if (d->has_bias && !bwd_data) CLNET_TRY(clnet_require_buf(op, "b", fwd ? io->b : io->db, d->out_c, 4));
  return run_algo(ctx, d, pass, algo, io);
}

/* db (C_out) = sum over the N*OH*OW rows of dy: partial sums of CONV_BIAS_ROWS rows each (in row
 * order) into scratch (n_blocks, C_out), then their sum in block order. */
static clnet_status bias_grad(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *dy, clnet_buf *db) {
  const int32_t rows = d->n * d->out_h * d->out_w;
  const int32_t n_blocks = (rows + CONV_BIAS_ROWS - 1) / CONV_BIAS_ROWS;
  clnet_buf partial; /* (n_blocks, C_out) */
  CLNET_TRY(clnet_scratch_get(ctx, (size_t)n_blocks * d->out_c * sizeof(float), &partial));
  size_t g1[2] = {(size_t)d->out_c, (size_t)n_blocks};
  CLNET_TRY(CLNET_LAUNCH(ctx, "conv2d", "conv2d_bias_grad_partial", 2, g1, conv_local2, CLNET_ARG_BUF(dy),
                         CLNET_ARG_BUF(&partial), CLNET_ARG_I32(rows), CLNET_ARG_I32(d->out_c),
                         CLNET_ARG_I32(CONV_BIAS_ROWS)));
  size_t g2 = (size_t)d->out_c, l2 = CLNET_WG_1D;
  return CLNET_LAUNCH(ctx, "conv2d", "conv2d_bias_grad_final", 1, &g2, &l2, CLNET_ARG_BUF(&partial),
                      CLNET_ARG_BUF(db), CLNET_ARG_I32(n_blocks), CLNET_ARG_I32(d->out_c));
}

/* dw (K, C_out) = col^T . dy, chunked (see the file comment), per group. Runs after bias_grad: the
 * in-order queue keeps the two uses of scratch apart. */
static clnet_status gemm_backward_filter(clnet_ctx *ctx, const clnet_conv2d_desc *d, const clnet_buf *x,
                                         const clnet_buf *dy, clnet_buf *dw) {
  const int32_t K = col_k(d), P = d->out_h * d->out_w, rows = d->n * P, G = groups_of(d);
  const int32_t cg = d->in_c / G, og = d->out_c / G;
  if (is_pointwise(d)) {
    /* dw (C_in/G, C_out)[:, group] = x^T (x is (N*H*W, C_in)[:, group]) . dy (N*H*W, C_out)[:, group] */
    for (int32_t g = 0; g < G; ++g)
      CLNET_TRY(clnet_gemm(ctx, 1, 0, K, og, rows, 1.0f, x, (size_t)g * cg, d->in_c, dy, (size_t)g * og, d->out_c,
                           0.0f, dw, (size_t)g * og, d->out_c));
    return CLNET_SUCCESS;
  }
  const int32_t chunk = chunk_images(d, device_limit(ctx, CONV_WGRAD_COL_LIMIT_BYTES));
  clnet_buf scratch; /* col (chunk*P, K) */
  CLNET_TRY(clnet_scratch_get(ctx, (size_t)chunk * P * (size_t)K * sizeof(float), &scratch));
  for (int32_t n0 = 0; n0 < d->n; n0 += chunk) {
    const int32_t nc = d->n - n0 < chunk ? d->n - n0 : chunk;
    for (int32_t g = 0; g < G; ++g) {
      CLNET_TRY(launch_im2col(ctx, d, x, n0, nc, g, &scratch));
      /* dw (K, C_out)[:, group] (+)= col^T (col is (nc*P, K)) . dy[n0 .. n0+nc) (nc*P, C_out)[:, group] */
      CLNET_TRY(clnet_gemm(ctx, 1, 0, K, og, nc * P, 1.0f, &scratch, 0, K, dy,
                           (size_t)n0 * P * d->out_c + (size_t)g * og, d->out_c, n0 == 0 ? 0.0f : 1.0f, dw,
                           (size_t)g * og, d->out_c));
    }
  }
  return CLNET_SUCCESS;
}
