/* Optimizer updates over one arena of parameters (the graph's trainable parameters, back to back;
 * gaps hold zeros and stay zero): one launch for every parameter of a model. Elements
 * i < decay_count are weight-decayed (the graph puts kernels first; BN parameters and biases
 * after, unless asked). Index space: 1-D, one work-item per element, bounds-checked.
 * Purely elementwise: deterministic. Constants that depend on the step are computed on the host
 * in double and passed rounded to float (clnet_adamw_update, clnet_sgd_update; twins in
 * host/ops/ref/optim_ref.c).
 *
 * adamw_update (Loshchilov & Hutter, as PyTorch's AdamW):
 *   p *= 1 - lr*wd (decayed elements)
 *   m += (g - m)*(1 - beta1);  v = v*beta2 + (1 - beta2)*g*g
 *   p -= step_size * m / (sqrt(v)*inv_sqrt_bc2 + eps),
 *   step_size = lr/(1 - beta1^t), inv_sqrt_bc2 = 1/sqrt(1 - beta2^t)
 * sgd_update (momentum mu, Nesterov optional, as PyTorch's SGD without dampening; l2 is PyTorch's
 * coupled weight_decay, wd the decoupled one):
 *   g' = g + l2*p (decayed elements);  b = mu*b + g'
 *   s = nesterov ? g' + mu*b : b
 *   p -= lr*s + lr*wd*p (decayed elements; p is the value before the step) */

__kernel void adamw_update(const int count, const int decay_count, const float step_size, const float inv_sqrt_bc2,
                           const float one_m_beta1, const float beta2, const float one_m_beta2, const float eps,
                           const float lr_wd,
                           __global float *param,      /* (count), in place */
                           __global const float *grad, /* (count) */
                           __global float *m,          /* (count), first moment, in place */
                           __global float *v) {        /* (count), second moment, in place */
  const size_t i = get_global_id(0);
  if (i >= (size_t)count) return;
  const float g = grad[i];
  float p = param[i];
  if (i < (size_t)decay_count) p -= lr_wd * p;
  float mi = m[i], vi = v[i];
  mi += (g - mi) * one_m_beta1;
  vi = vi * beta2 + one_m_beta2 * (g * g);
  m[i] = mi;
  v[i] = vi;
  param[i] = p - step_size * mi / (sqrt(vi) * inv_sqrt_bc2 + eps);
}

__kernel void sgd_update(const int count, const int decay_count, const float lr, const float momentum,
                         const float l2, const float lr_wd, const int nesterov,
                         __global float *param,      /* (count), in place */
                         __global const float *grad, /* (count) */
                         __global float *buf) {      /* (count), momentum buffer, in place */
  const size_t i = get_global_id(0);
  if (i >= (size_t)count) return;
  const float p = param[i];
  const int decayed = i < (size_t)decay_count;
  const float g = decayed ? grad[i] + l2 * p : grad[i];
  const float b = momentum * buf[i] + g;
  buf[i] = b;
  const float s = nesterov ? g + momentum * b : b;
  param[i] = decayed ? p - lr * s - lr_wd * p : p - lr * s;
}

/* The exponential moving average of the weights: avg = decay*avg + (1 - decay)*x, in place. */
__kernel void ema_update(const int count, const float decay, const float one_m_decay,
                         __global const float *x, /* (count) */
                         __global float *avg) {   /* (count), in place */
  const size_t i = get_global_id(0);
  if (i >= (size_t)count) return;
  avg[i] = decay * avg[i] + one_m_decay * x[i];
}

/* Exchanges a and b element by element (putting the average in the model's place and back). */
__kernel void swap_buffers(const int count, __global float *a, __global float *b) {
  const size_t i = get_global_id(0);
  if (i >= (size_t)count) return;
  const float t = a[i];
  a[i] = b[i];
  b[i] = t;
}
