/* clnet's own GEMM (host/ops/gemm.c, clnet_gemm_tiled), the alternative to CLBlast for the dense
 * layer's GEMMs (host/ops/dense_algo.c chooses per shape and pass). Row-major fp32:
 *   C (M, N) = op(A) (M, K) . op(B) (K, N), C overwritten (alpha 1, beta 0),
 * leading dimensions lda, ldb, ldc in floats, no offsets. The forms the dense layer uses:
 *   gemm_nt  C = A . B^T, A (M, K), B (N, K)      forward      y (N, OUT) = x (N, IN) . w^T
 *   gemm_nn  C = A . B,   A (M, K), B (K, N)      backward data dx (N, IN) = dy (N, OUT) . w
 *   gemm_tn  C = A^T . B, A (K, M), B (K, N)      filter grad  dw (OUT, IN) = dy^T . x
 *
 * gemm_nn, gemm_tn: work-item (dim0, dim1) = (column tile, row tile) holds a register tile of
 *   GEMM_TM rows x 8 columns of C, one float8 accumulator per row (explicit vectors: the SIMD
 *   width does not depend on the compiler vectorising across work-items). Per p = 0 .. K-1 in
 *   order: one float8 load of B's row p, GEMM_TM scalars of op(A), GEMM_TM vector FMAs. Each C
 *   element is one fma chain over p ascending.
 * gemm_nt: both operands run along K, so the work-item's GEMM_TM x GEMM_TN tile of C is a set of
 *   dot products, each a float8 of partial sums (lane l sums p = 8q + l over the whole blocks of
 *   8, q ascending), reduced in a fixed tree (hsum8), then the last K % 8 terms added in order.
 *
 * Bounds: global sizes are rounded up to the work-group size and a work-item whose tile starts
 * past M or N returns. Rows past M (and for nt, B rows past N) read the last valid row and are
 * not stored; the last column tile of nn/tn (N % 8 columns) loads its columns one by one,
 * clamped to column N - 1. So no read leaves the matrices, every element of C is written by
 * exactly one work-item, and its sum order depends on K alone: bit-identical results run to run,
 * whatever the work-group size. Sizes are int (the host keeps every matrix below 2^31 floats);
 * addresses are formed in size_t. */

#define GEMM_TM 4 /* rows of C per work-item */
#define GEMM_TN 4 /* gemm_nt: columns of C per work-item */

/* the tile's row r = r0 + i, clamped into the matrix (rows past the end are computed, not stored) */
#define CLAMP_ROW(r0, i, M) min((r0) + (i), (M)-1)

/* C's tile rows r0 .. r0 + GEMM_TM - 1 (those below M), columns c0 .. c0 + 7 (those below N) */
#define STORE_ROWS8(C, ldc, r0, c0, M, N, acc)                                   \
  do {                                                                           \
    _Pragma("unroll") for (int i_ = 0; i_ < GEMM_TM; ++i_) {                     \
      if ((r0) + i_ >= (M)) break;                                               \
      __global float *dst_ = (C) + (size_t)((r0) + i_) * (ldc) + (c0);           \
      if ((c0) + 8 <= (N)) {                                                     \
        vstore8(acc[i_], 0, dst_);                                               \
      } else {                                                                   \
        float t_[8];                                                             \
        vstore8(acc[i_], 0, t_);                                                 \
        for (int j_ = 0; j_ < (N) - (c0); ++j_) dst_[j_] = t_[j_];               \
      }                                                                          \
    }                                                                            \
  } while (0)

/* B's row p, columns c0 .. c0 + 7: one vector load, or for the last partial tile one column at a
 * time with columns past N clamped to N - 1 */
inline float8 load_row8(__global const float *B, const int ldb, const int p, const int c0, const int N) {
  __global const float *row = B + (size_t)p * ldb;
  if (c0 + 8 <= N) return vload8(0, row + c0);
  float t[8];
  for (int j = 0; j < 8; ++j) t[j] = row[min(c0 + j, N - 1)];
  return vload8(0, t);
}

/* A_AT(i, p): op(A)[row i of the tile, p] */
#define DEFINE_GEMM_ROWS8(NAME, A_AT)                                                             \
  __kernel void NAME(const int M, const int N, const int K, __global const float *A, const int lda, \
                     __global const float *B, const int ldb, __global float *C, const int ldc) {   \
    const int c0 = get_global_id(0) * 8, r0 = get_global_id(1) * GEMM_TM;                          \
    if (c0 >= N || r0 >= M) return;                                                             \
    int row[GEMM_TM];                                                                           \
    _Pragma("unroll") for (int i = 0; i < GEMM_TM; ++i) row[i] = CLAMP_ROW(r0, i, M);            \
    float8 acc[GEMM_TM];                                                                        \
    _Pragma("unroll") for (int i = 0; i < GEMM_TM; ++i) acc[i] = (float8)(0.0f);                 \
    if (c0 + 8 <= N) {                                                                          \
      for (int p = 0; p < K; ++p) {                                                             \
        const float8 b = vload8(0, B + (size_t)p * ldb + c0);                                   \
        _Pragma("unroll") for (int i = 0; i < GEMM_TM; ++i) acc[i] = fma((float8)(A_AT(i, p)), b, acc[i]); \
      }                                                                                         \
    } else {                                                                                    \
      for (int p = 0; p < K; ++p) {                                                             \
        const float8 b = load_row8(B, ldb, p, c0, N);                                           \
        _Pragma("unroll") for (int i = 0; i < GEMM_TM; ++i) acc[i] = fma((float8)(A_AT(i, p)), b, acc[i]); \
      }                                                                                         \
    }                                                                                           \
    STORE_ROWS8(C, ldc, r0, c0, M, N, acc);                                                     \
  }

#define A_NN(i, p) A[(size_t)row[i] * lda + (p)] /* A (M, K) */
#define A_TN(i, p) A[(size_t)(p)*lda + row[i]]   /* A (K, M) */
DEFINE_GEMM_ROWS8(gemm_nn, A_NN)
DEFINE_GEMM_ROWS8(gemm_tn, A_TN)

/* the lanes' sum in a fixed order */
inline float hsum8(const float8 v) {
  const float4 a = v.lo + v.hi;
  const float2 b = a.lo + a.hi;
  return b.x + b.y;
}

/* C (M, N) = A (M, K) . B^T with B (N, K). Work-item (dim0, dim1) = (column tile, row tile) of
 * GEMM_TM x GEMM_TN outputs. */
__kernel void gemm_nt(const int M, const int N, const int K, __global const float *A, const int lda,
                      __global const float *B, const int ldb, __global float *C, const int ldc) {
  const int c0 = get_global_id(0) * GEMM_TN, r0 = get_global_id(1) * GEMM_TM;
  if (c0 >= N || r0 >= M) return;
  __global const float *a[GEMM_TM], *b[GEMM_TN];
  _Pragma("unroll") for (int i = 0; i < GEMM_TM; ++i) a[i] = A + (size_t)CLAMP_ROW(r0, i, M) * lda;
  _Pragma("unroll") for (int j = 0; j < GEMM_TN; ++j) b[j] = B + (size_t)CLAMP_ROW(c0, j, N) * ldb;
  float8 acc[GEMM_TM][GEMM_TN];
  _Pragma("unroll") for (int i = 0; i < GEMM_TM; ++i)
    _Pragma("unroll") for (int j = 0; j < GEMM_TN; ++j) acc[i][j] = (float8)(0.0f);
  const int k8 = K - K % 8;
  for (int p = 0; p < k8; p += 8) {
    float8 av[GEMM_TM], bv[GEMM_TN];
    _Pragma("unroll") for (int i = 0; i < GEMM_TM; ++i) av[i] = vload8(0, a[i] + p);
    _Pragma("unroll") for (int j = 0; j < GEMM_TN; ++j) bv[j] = vload8(0, b[j] + p);
    _Pragma("unroll") for (int i = 0; i < GEMM_TM; ++i)
      _Pragma("unroll") for (int j = 0; j < GEMM_TN; ++j) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
  }
  /* guarded stores, not early exits: a loop with a break cannot be fully unrolled */
  _Pragma("unroll") for (int i = 0; i < GEMM_TM; ++i)
    _Pragma("unroll") for (int j = 0; j < GEMM_TN; ++j) {
      float s = hsum8(acc[i][j]);
      for (int p = k8; p < K; ++p) s = fma(a[i][p], b[j][p], s);
      if (r0 + i < M && c0 + j < N) C[(size_t)(r0 + i) * ldc + c0 + j] = s;
    }
}
