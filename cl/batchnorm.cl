/* Batch normalisation over a (rows, C) matrix (rows = N*H*W, NHWC), Keras
 * training semantics: per-channel batch mean and biased variance.
 *
 * Statistics are deterministic two-stage reductions. The rows are split into
 * nblocks fixed blocks of rpb rows (the last may be shorter; the partition
 * depends only on the shape). Stage 1 (index space (C, nblocks), work-items
 * along C so each row is one contiguous load) reduces one block per
 * work-item; stage 2 (index space (C)) merges the blocks of one channel in
 * block order. No atomics: the same inputs give bit-identical outputs.
 *
 * Variance, in one pass over x: stage 1 works on d = x - K_c (the shift
 * K_c = x[0, c] is a value of the channel, so d is small and exact when the
 * data sit far from zero, e.g. 1000 + U(-1, 1)). Each group of BN_UNROLL rows
 * gets its exact mean and sum of squared deviations from registers, and is
 * merged into the block's running (count, mean, M2) with Chan's formula; the
 * weight BN_UNROLL / count is the same for every work-item. Stage 2 merges the
 * blocks' (count, mean, M2) in block order with the same formula. Every term
 * added to M2 is >= 0: no E[x^2] - E[x]^2 cancellation, and x is read once.
 *
 * PoCL (CPU) vectorises across work-items only inside barrier-delimited
 * regions, so on a CPU device the row loops of the reductions carry a barrier
 * (CPU_LOCKSTEP: host/runtime/program.c defines CLNET_CPU_DEVICE there): every
 * work-item runs them the same number of times (no early return; work-items
 * past C work on channel C-1 and store nothing; a work-group never spans two
 * blocks, whose row counts may differ), and the loop body handles BN_UNROLL
 * rows with independent accumulators. On a GPU the lanes already run in step:
 * a barrier per row would only stall them, so there is none.
 *
 * Scratch layout (floats), nb = nblocks:
 *   forward:  part_mean (nb, C) | part_m2 (nb, C) | coef: K (C) | mean_d (C) | gamma*invstd (C)
 *   backward: part_dy (nb, C) | part_dyxc (nb, C) | coef: gamma*invstd (C) | dbeta/M (C) | dgamma/M (C)
 * Elementwise kernels: index space (C, rows), one work-item per element. */

#define BN_UNROLL 4

#ifdef CLNET_CPU_DEVICE
#define CPU_LOCKSTEP() barrier(CLK_LOCAL_MEM_FENCE)
#else
#define CPU_LOCKSTEP()
#endif

/* Stage 1 of the forward statistics: one pass over the rows of block b,
 * groups of BN_UNROLL rows merged in order (Chan), single rows (Welford) at
 * the end. Index space (C, nblocks). */
__kernel void bn_stats_partial(const int rows, const int C, const int rpb, const int nblocks,
                               __global const float *x, /* (rows, C) */
                               __global float *scratch) /* part_mean (nb, C), part_m2 (nb, C) */
{
  const int c = get_global_id(0), b = get_global_id(1);
  const int cc = min(c, C - 1);
  const int r0 = b * rpb, r1 = min(r0 + rpb, rows);
  const float K = x[cc];
  __global const float *xc = x + cc;
  float n = 0.0f, mean = 0.0f, m2 = 0.0f; /* of d = x - K over the rows so far */
  int r = r0;
  for (; r + BN_UNROLL <= r1; r += BN_UNROLL) {
    __global const float *p = xc + (size_t)r * C;
    const float d0 = p[0] - K, d1 = p[C] - K, d2 = p[2 * C] - K, d3 = p[3 * C] - K;
    const float gm = ((d0 + d1) + (d2 + d3)) * (1.0f / BN_UNROLL);
    const float e0 = d0 - gm, e1 = d1 - gm, e2 = d2 - gm, e3 = d3 - gm;
    const float gm2 = (e0 * e0 + e1 * e1) + (e2 * e2 + e3 * e3);
    const float nt = n + (float)BN_UNROLL, w = (float)BN_UNROLL / nt;
    const float delta = gm - mean;
    mean += delta * w;
    m2 += gm2 + delta * delta * n * w;
    n = nt;
    CPU_LOCKSTEP();
  }
  for (; r < r1; ++r) {
    const float d = xc[(size_t)r * C] - K;
    n += 1.0f;
    const float delta = d - mean;
    mean += delta / n;
    m2 += delta * (d - mean);
    CPU_LOCKSTEP();
  }
  if (c < C && b < nblocks) { /* a GPU's groups span several blocks: the last may run past nblocks */
    scratch[(size_t)b * C + c] = mean;
    scratch[(size_t)(nblocks + b) * C + c] = m2;
  }
}

/* Stage 2: merge the blocks of channel c in order (Chan et al.), then write
 * save_mean, save_invstd, the moving statistics and the normalise
 * coefficients. Index space (C). */
__kernel void bn_stats_final(const int rows, const int C, const int rpb, const int nblocks, const float eps,
                             const float momentum,
                             __global const float *x,     /* (rows, C): the shift K_c = x[0, c] */
                             __global float *scratch,     /* parts (2, nb, C), coef (3, C) */
                             __global const float *gamma, /* (C) */
                             __global float *save_mean,   /* (C) */
                             __global float *save_invstd, /* (C) */
                             __global float *moving_mean, /* (C) */
                             __global float *moving_var)  /* (C) */
{
  const int c = get_global_id(0);
  if (c >= C) return;
  float n = 0.0f, mean = 0.0f, m2 = 0.0f;
  for (int b = 0; b < nblocks; ++b) {
    const float nb = (float)min(rpb, rows - b * rpb);
    const float mb = scratch[(size_t)b * C + c], m2b = scratch[(size_t)(nblocks + b) * C + c];
    const float ntot = n + nb;
    const float delta = mb - mean;
    mean += delta * (nb / ntot);
    m2 += m2b + delta * delta * n * (nb / ntot);
    n = ntot;
  }
  const float K = x[c];
  const float var = fmax(m2 / (float)rows, 0.0f); /* biased */
  const float invstd = rsqrt(var + eps);
  const float batch_mean = K + mean;
  save_mean[c] = batch_mean;
  save_invstd[c] = invstd;
  moving_mean[c] = moving_mean[c] * momentum + batch_mean * (1.0f - momentum);
  moving_var[c] = moving_var[c] * momentum + var * (1.0f - momentum);
  __global float *coef = scratch + (size_t)2 * nblocks * C;
  coef[c] = K;
  coef[C + c] = mean;
  coef[2 * C + c] = gamma[c] * invstd;
}

/* y = ((x - K) - mean_d) * gamma * invstd + beta. Index space (C, rows). */
__kernel void bn_normalize(const int rows, const int C, const int nblocks,
                           __global const float *x,       /* (rows, C) */
                           __global const float *scratch, /* coef at 2*nb*C: K, mean_d, gamma*invstd (C each) */
                           __global const float *beta,    /* (C) */
                           __global float *y)             /* (rows, C) */
{
  const int c = get_global_id(0), r = get_global_id(1);
  if (c >= C || r >= rows) return;
  __global const float *coef = scratch + (size_t)2 * nblocks * C;
  const size_t i = (size_t)r * C + c;
  y[i] = ((x[i] - coef[c]) - coef[C + c]) * coef[2 * C + c] + beta[c];
}

/* Inference: y = (x - moving_mean) * gamma / sqrt(moving_var + eps) + beta.
 * Index space (C, rows). */
__kernel void bn_infer(const int rows, const int C, const float eps,
                       __global const float *x,           /* (rows, C) */
                       __global const float *gamma,       /* (C) */
                       __global const float *beta,        /* (C) */
                       __global const float *moving_mean, /* (C) */
                       __global const float *moving_var,  /* (C) */
                       __global float *y)                 /* (rows, C) */
{
  const int c = get_global_id(0), r = get_global_id(1);
  if (c >= C || r >= rows) return;
  const size_t i = (size_t)r * C + c;
  y[i] = (x[i] - moving_mean[c]) * (gamma[c] * rsqrt(moving_var[c] + eps)) + beta[c];
}

/* Backward stage 1's body: per block, g = sum dz and h = sum dz * (x - mean) over its rows, in 4
 * interleaved partial sums, with dz = DZ(i) (dy, or dy masked by the ReLU). The kernels below
 * define gc (dy), xc (x) and, for the mask, yc (y) at channel cc. */
#define BN_BACKWARD_PARTIAL_BODY(DZ)                                                   \
  const int r0 = b * rpb, r1 = min(r0 + rpb, rows);                                    \
  const float mean = save_mean[cc];                                                    \
  float g0 = 0.0f, g1 = 0.0f, g2 = 0.0f, g3 = 0.0f; /* sum dz */                       \
  float h0 = 0.0f, h1 = 0.0f, h2 = 0.0f, h3 = 0.0f; /* sum dz * (x - mean) */          \
  int r = r0;                                                                          \
  for (; r + BN_UNROLL <= r1; r += BN_UNROLL) {                                        \
    const size_t i = (size_t)r * C;                                                    \
    const float d0 = DZ(i), d1 = DZ(i + C), d2 = DZ(i + 2 * C), d3 = DZ(i + 3 * C);    \
    g0 += d0;                                                                          \
    g1 += d1;                                                                          \
    g2 += d2;                                                                          \
    g3 += d3;                                                                          \
    h0 += d0 * (xc[i] - mean);                                                         \
    h1 += d1 * (xc[i + C] - mean);                                                     \
    h2 += d2 * (xc[i + 2 * C] - mean);                                                 \
    h3 += d3 * (xc[i + 3 * C] - mean);                                                 \
    CPU_LOCKSTEP();                                                                    \
  }                                                                                    \
  for (; r < r1; ++r) {                                                                \
    const size_t i = (size_t)r * C;                                                    \
    const float d = DZ(i);                                                             \
    g0 += d;                                                                           \
    h0 += d * (xc[i] - mean);                                                          \
    CPU_LOCKSTEP();                                                                    \
  }                                                                                    \
  if (c < C && b < nblocks) {                                                          \
    scratch[(size_t)b * C + c] = (g0 + g1) + (g2 + g3);                                \
    scratch[(size_t)(nblocks + b) * C + c] = (h0 + h1) + (h2 + h3);                    \
  }
#define BN_DZ_PLAIN(i) gc[i]
#define BN_DZ_RELU(i) (yc[i] > 0.0f ? gc[i] : 0.0f)

/* Backward stage 1: per block, sum dy and sum dy * (x - mean) in one pass.
 * Index space (C, nblocks). */
__kernel void bn_backward_partial(const int rows, const int C, const int rpb, const int nblocks,
                                  __global const float *x,         /* (rows, C) */
                                  __global const float *dy,        /* (rows, C) */
                                  __global const float *save_mean, /* (C) */
                                  __global float *scratch)         /* part_dy (nb, C), part_dyxc (nb, C) */
{
  const int c = get_global_id(0), b = get_global_id(1);
  const int cc = min(c, C - 1);
  __global const float *xc = x + cc, *gc = dy + cc;
  BN_BACKWARD_PARTIAL_BODY(BN_DZ_PLAIN)
}

/* Backward stage 2: dbeta = sum dy, dgamma = invstd * sum dy*(x - mean), summed
 * over blocks in order; coefficients for dx. Index space (C). */
__kernel void bn_backward_final(const int rows, const int C, const int nblocks,
                                __global float *scratch,           /* parts (2, nb, C), coef (3, C) */
                                __global const float *gamma,       /* (C) */
                                __global const float *save_invstd, /* (C) */
                                __global float *dgamma,            /* (C) */
                                __global float *dbeta)             /* (C) */
{
  const int c = get_global_id(0);
  if (c >= C) return;
  float s_dy = 0.0f, s_dyxc = 0.0f;
  for (int b = 0; b < nblocks; ++b) {
    s_dy += scratch[(size_t)b * C + c];
    s_dyxc += scratch[(size_t)(nblocks + b) * C + c];
  }
  const float invstd = save_invstd[c];
  const float dg = s_dyxc * invstd;
  dbeta[c] = s_dy;
  dgamma[c] = dg;
  __global float *coef = scratch + (size_t)2 * nblocks * C;
  coef[c] = gamma[c] * invstd;
  coef[C + c] = s_dy / (float)rows;
  coef[2 * C + c] = dg / (float)rows;
}

/* dx = gamma*invstd * (dy - dbeta/M - xhat * dgamma/M), xhat = (x - mean) * invstd.
 * Index space (C, rows). */
__kernel void bn_backward_dx(const int rows, const int C, const int nblocks,
                             __global const float *x,           /* (rows, C) */
                             __global const float *dy,          /* (rows, C) */
                             __global const float *save_mean,   /* (C) */
                             __global const float *save_invstd, /* (C) */
                             __global const float *scratch,     /* coef at 2*nb*C: gamma*invstd, dbeta/M, dgamma/M */
                             __global float *dx)                /* (rows, C) */
{
  const int c = get_global_id(0), r = get_global_id(1);
  if (c >= C || r >= rows) return;
  __global const float *coef = scratch + (size_t)2 * nblocks * C;
  const size_t i = (size_t)r * C + c;
  const float xhat = (x[i] - save_mean[c]) * save_invstd[c];
  dx[i] = coef[c] * ((dy[i] - coef[C + c]) - xhat * coef[2 * C + c]);
}

/* ---- fused BasicBlock tails: BN-apply + ReLU, BN-apply + residual add + ReLU ----
 * z = gamma * xhat + beta [+ res], y = max(z, 0). The BN output z is never
 * stored; backward recovers the ReLU mask from y (z > 0 exactly where y > 0)
 * and feeds dz = (y > 0 ? dy : 0) to the BN backward, and to res. */

/* Training forward, after bn_stats_final. Index space (C, rows). */
__kernel void bn_normalize_relu(const int rows, const int C, const int nblocks,
                                __global const float *x,       /* (rows, C) */
                                __global const float *scratch, /* coef at 2*nb*C: K, mean_d, gamma*invstd */
                                __global const float *beta,    /* (C) */
                                __global float *y)             /* (rows, C) */
{
  const int c = get_global_id(0), r = get_global_id(1);
  if (c >= C || r >= rows) return;
  __global const float *coef = scratch + (size_t)2 * nblocks * C;
  const size_t i = (size_t)r * C + c;
  y[i] = fmax(((x[i] - coef[c]) - coef[C + c]) * coef[2 * C + c] + beta[c], 0.0f);
}

__kernel void bn_normalize_add_relu(const int rows, const int C, const int nblocks,
                                    __global const float *x,       /* (rows, C) */
                                    __global const float *scratch, /* coef at 2*nb*C */
                                    __global const float *beta,    /* (C) */
                                    __global const float *res,     /* (rows, C) */
                                    __global float *y)             /* (rows, C) */
{
  const int c = get_global_id(0), r = get_global_id(1);
  if (c >= C || r >= rows) return;
  __global const float *coef = scratch + (size_t)2 * nblocks * C;
  const size_t i = (size_t)r * C + c;
  y[i] = fmax((((x[i] - coef[c]) - coef[C + c]) * coef[2 * C + c] + beta[c]) + res[i], 0.0f);
}

/* Inference forward with the moving statistics. Index space (C, rows). */
__kernel void bn_infer_relu(const int rows, const int C, const float eps,
                            __global const float *x, __global const float *gamma, __global const float *beta,
                            __global const float *moving_mean, __global const float *moving_var,
                            __global float *y)
{
  const int c = get_global_id(0), r = get_global_id(1);
  if (c >= C || r >= rows) return;
  const size_t i = (size_t)r * C + c;
  y[i] = fmax((x[i] - moving_mean[c]) * (gamma[c] * rsqrt(moving_var[c] + eps)) + beta[c], 0.0f);
}

__kernel void bn_infer_add_relu(const int rows, const int C, const float eps,
                                __global const float *x, __global const float *gamma, __global const float *beta,
                                __global const float *moving_mean, __global const float *moving_var,
                                __global const float *res, __global float *y)
{
  const int c = get_global_id(0), r = get_global_id(1);
  if (c >= C || r >= rows) return;
  const size_t i = (size_t)r * C + c;
  y[i] = fmax(((x[i] - moving_mean[c]) * (gamma[c] * rsqrt(moving_var[c] + eps)) + beta[c]) + res[i], 0.0f);
}

/* Backward stage 1 with the ReLU mask: per block, sum dz and sum dz * (x - mean),
 * dz = y > 0 ? dy : 0. Index space (C, nblocks); stage 2 is bn_backward_final. */
__kernel void bn_backward_partial_relu(const int rows, const int C, const int rpb, const int nblocks,
                                       __global const float *x,         /* (rows, C) */
                                       __global const float *y,         /* (rows, C): forward output */
                                       __global const float *dy,        /* (rows, C) */
                                       __global const float *save_mean, /* (C) */
                                       __global float *scratch)         /* part_dy (nb, C), part_dyxc (nb, C) */
{
  const int c = get_global_id(0), b = get_global_id(1);
  const int cc = min(c, C - 1);
  __global const float *xc = x + cc, *gc = dy + cc, *yc = y + cc;
  BN_BACKWARD_PARTIAL_BODY(BN_DZ_RELU)
}

/* dx = gamma*invstd * (dz - dbeta/M - xhat * dgamma/M). dx may alias dy (each
 * work-item reads its element before writing it). Index space (C, rows). */
__kernel void bn_backward_dx_relu(const int rows, const int C, const int nblocks,
                                  __global const float *x, __global const float *y, __global const float *dy,
                                  __global const float *save_mean, __global const float *save_invstd,
                                  __global const float *scratch, /* coef at 2*nb*C */
                                  __global float *dx)
{
  const int c = get_global_id(0), r = get_global_id(1);
  if (c >= C || r >= rows) return;
  __global const float *coef = scratch + (size_t)2 * nblocks * C;
  const size_t i = (size_t)r * C + c;
  const float dz = y[i] > 0.0f ? dy[i] : 0.0f;
  const float xhat = (x[i] - save_mean[c]) * save_invstd[c];
  dx[i] = coef[c] * ((dz - coef[C + c]) - xhat * coef[2 * C + c]);
}

/* As bn_backward_dx_relu, and dres = dz (the residual's gradient). */
__kernel void bn_backward_dx_add_relu(const int rows, const int C, const int nblocks,
                                      __global const float *x, __global const float *y, __global const float *dy,
                                      __global const float *save_mean, __global const float *save_invstd,
                                      __global const float *scratch, /* coef at 2*nb*C */
                                      __global float *dx, __global float *dres)
{
  const int c = get_global_id(0), r = get_global_id(1);
  if (c >= C || r >= rows) return;
  __global const float *coef = scratch + (size_t)2 * nblocks * C;
  const size_t i = (size_t)r * C + c;
  const float dz = y[i] > 0.0f ? dy[i] : 0.0f;
  const float xhat = (x[i] - save_mean[c]) * save_invstd[c];
  dres[i] = dz;
  dx[i] = coef[c] * ((dz - coef[C + c]) - xhat * coef[2 * C + c]);
}
