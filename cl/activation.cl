/* The activation family over flat float arrays: clip (ReLU6), leaky ReLU, sigmoid, tanh, SiLU,
 * hard-swish, hard-sigmoid; elementwise multiply with an (N, 1, 1, C) broadcast; dropout.
 * Index space: 1-D, one work-item per element (global rounded up; bounds-checked), except
 * mul_bcast_grad: one per (image, channel).
 * Each activation is a forward and a backward kernel made from act_fwd / act_bwd with a constant
 * op, so the switch folds at compile time. Contraction is off so that the piecewise-linear ones
 * round exactly as the reference does. */
#pragma OPENCL FP_CONTRACT OFF

/* clnet_activation (include/clnet/ops.h) */
#define ACT_CLIP 0
#define ACT_LEAKY_RELU 1
#define ACT_SIGMOID 2
#define ACT_TANH 3
#define ACT_SILU 4
#define ACT_HARD_SWISH 5
#define ACT_HARD_SIGMOID 6

inline float act_fwd(const int op, const float x, const float a, const float b) {
  switch (op) {
    case ACT_CLIP: return fmin(fmax(x, a), b);
    case ACT_LEAKY_RELU: return x > 0.0f ? x : a * x;
    case ACT_SIGMOID: return 1.0f / (1.0f + exp(-x));
    case ACT_TANH: return tanh(x);
    case ACT_SILU: return x / (1.0f + exp(-x));
    case ACT_HARD_SWISH: return x * fmin(fmax(a * x + b, 0.0f), 1.0f);
    default: return fmin(fmax(a * x + b, 0.0f), 1.0f); /* ACT_HARD_SIGMOID */
  }
}

/* v: the forward's output y, or its input x for SiLU and hard-swish */
inline float act_bwd(const int op, const float v, const float dy, const float a, const float b) {
  switch (op) {
    case ACT_CLIP: return v > a && v < b ? dy : 0.0f;
    case ACT_LEAKY_RELU: return v > 0.0f ? dy : a * dy;
    case ACT_SIGMOID: return dy * (v * (1.0f - v));
    case ACT_TANH: return dy * (1.0f - v * v);
    case ACT_SILU: {
      const float s = 1.0f / (1.0f + exp(-v));
      return dy * (s * (1.0f + v * (1.0f - s)));
    }
    case ACT_HARD_SWISH: {
      const float t = a * v + b;
      return t <= 0.0f ? 0.0f : t >= 1.0f ? dy : dy * (t + a * v);
    }
    default: return v > 0.0f && v < 1.0f ? a * dy : 0.0f; /* ACT_HARD_SIGMOID */
  }
}

#define ACT_KERNELS(name, op)                                                                            \
  __kernel void name##_forward(const int count, const float a, const float b, __global const float *x,  \
                               __global float *y) {                                                     \
    const size_t i = get_global_id(0);                                                                   \
    if (i < (size_t)count) y[i] = act_fwd(op, x[i], a, b);                                               \
  }                                                                                                      \
  __kernel void name##_backward(const int count, const float a, const float b, __global const float *v, \
                                __global const float *dy, __global float *dx) {                         \
    const size_t i = get_global_id(0);                                                                   \
    if (i < (size_t)count) dx[i] = act_bwd(op, v[i], dy[i], a, b);                                       \
  }

ACT_KERNELS(clip, ACT_CLIP)
ACT_KERNELS(leaky_relu, ACT_LEAKY_RELU)
ACT_KERNELS(sigmoid, ACT_SIGMOID)
ACT_KERNELS(tanh, ACT_TANH)
ACT_KERNELS(silu, ACT_SILU)
ACT_KERNELS(hard_swish, ACT_HARD_SWISH)
ACT_KERNELS(hard_sigmoid, ACT_HARD_SIGMOID)

/* y = a * b; b (n, 1, 1, c) broadcast over the hw pixels of its image when bcast != 0
 * (hwc = hw * c floats per image). Also the backward's da = dy * b and unbroadcast db = dy * a. */
__kernel void mul_forward(const int count, const int hwc, const int c, const int bcast, __global const float *a,
                          __global const float *b, __global float *y) {
  const size_t i = get_global_id(0);
  if (i >= (size_t)count) return;
  const int k = (int)i;
  y[i] = a[i] * b[bcast ? (k / hwc) * c + k % c : k];
}

/* db (n, c) = sum over the hw pixels of dy * a, in pixel order: the broadcast operand's gradient.
 * Work-item j = image * c + channel; neighbours read neighbouring channels. */
__kernel void mul_bcast_grad(const int nc, const int hw, const int c, __global const float *a,
                             __global const float *dy, __global float *db) {
  const size_t j = get_global_id(0);
  if (j >= (size_t)nc) return;
  const int img = (int)j / c, ch = (int)j % c;
  const size_t base = (size_t)img * hw * c + ch;
  float s = 0.0f;
  for (int p = 0; p < hw; ++p) s += dy[base + (size_t)p * c] * a[base + (size_t)p * c];
  db[j] = s;
}

/* The mask's hash: host/ops/ref/ref.h, clnet_dropout_hash, bit for bit. */
inline uint dropout_mix(uint x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

/* y = x * scale where the hash of element i clears the threshold, else 0: dropout's forward on x
 * and its backward on dy, with the same keys. */
__kernel void dropout_apply(const int count, const uint key0, const uint key1, const uint threshold,
                            const float scale, __global const float *x, __global float *y) {
  const size_t i = get_global_id(0);
  if (i >= (size_t)count) return;
  const uint h = dropout_mix(dropout_mix((uint)i + key0) ^ key1);
  y[i] = h >= threshold ? x[i] * scale : 0.0f;
}
