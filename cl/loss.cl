/* Softmax cross-entropy on logits, mean over the batch.
 *
 * softmax_xent: for each row r of logits z (N, K) with label l = labels[r]:
 *   m = max_j z[j]; s = sum_j exp(z[j] - m)           (stable: every exponent <= 0)
 *   loss_r = log(s) - (z[l] - m)                       (= logsumexp(z) - z[l])
 *   dlogits[r][j] = (exp(z[j] - m) / s - [j == l]) / N
 *   correct_r = [argmax_j z[j] == l], argmax = first maximum on ties
 * result[0] = (sum_r loss_r) / N, result[1] = sum_r correct_r (as a float).
 * Label smoothing s (PyTorch's): the target is t_j = (1 - s)[j == l] + s/K,
 *   loss_r = log(s) - sum_j t_j (z[j] - m)
 *          = log(s) - (1 - s)(z[l] - m) - (s/K) sum_j (z[j] - m)
 *   dlogits[r][j] = (exp(z[j] - m) / s - t_j) / N
 * with t_l = on = 1 - s + s/K and t_j = off = s/K otherwise (the host rounds
 * them once); at s = 0 they are 1 and 0 and the loss is the plain one, so the
 * results are the unsmoothed kernel's bit for bit.
 * A label outside [0, K) is never used as an index: its row's loss and its
 * whole dlogits row are NaN (so result[0] is NaN and the caller notices), and
 * the row does not count as correct.
 *
 * Index space: ONE work-group (global = local = the host's fixed work-group
 * size, a power of two). Work-item t handles rows t, t + WG, t + 2*WG, ... in
 * that order, accumulating its loss and correct count privately; then a tree
 * reduction in local memory in a fixed pattern. Same inputs give bit-identical
 * results run after run (no atomics). N is at most a few thousand, so one
 * work-group is plenty. */

__kernel void softmax_xent(const int n, const int k,
                           const float smoothing, const float on, const float off, /* see above */
                           __global const float *logits, /* (N, K) */
                           __global const int *labels,   /* (N) */
                           __global float *dlogits,      /* (N, K) */
                           __global float *result,       /* (2): mean loss, correct count */
                           __local float *part_loss,     /* (WG) */
                           __local float *part_correct) { /* (WG) */
  const int lid = get_local_id(0), wg = get_local_size(0);
  const float fn = (float)n;
  float loss_sum = 0.0f, correct = 0.0f;
  for (int r = lid; r < n; r += wg) {
    __global const float *z = logits + (size_t)r * (size_t)k; /* (K) */
    __global float *dz = dlogits + (size_t)r * (size_t)k;     /* (K) */
    const int label = labels[r];
    if (label < 0 || label >= k) {
      loss_sum += NAN;
      for (int j = 0; j < k; ++j) dz[j] = NAN;
      continue;
    }
    float zmax = z[0];
    int arg = 0;
    for (int j = 1; j < k; ++j)
      if (z[j] > zmax) {
        zmax = z[j];
        arg = j;
      }
    float s = 0.0f;
    for (int j = 0; j < k; ++j) {
      const float e = exp(z[j] - zmax);
      dz[j] = e; /* unnormalised, finished below */
      s += e;
    }
    if (smoothing == 0.0f) {
      loss_sum += log(s) - (z[label] - zmax);
    } else {
      float sz = 0.0f; /* sum_j (z[j] - m) */
      for (int j = 0; j < k; ++j) sz += z[j] - zmax;
      loss_sum += log(s) - (1.0f - smoothing) * (z[label] - zmax) - off * sz;
    }
    correct += arg == label ? 1.0f : 0.0f;
    for (int j = 0; j < k; ++j) dz[j] = (dz[j] / s - (j == label ? on : off)) / fn;
  }
  part_loss[lid] = loss_sum;
  part_correct[lid] = correct;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int span = wg / 2; span > 0; span /= 2) {
    if (lid < span) {
      part_loss[lid] += part_loss[lid + span];
      part_correct[lid] += part_correct[lid + span];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lid == 0) {
    result[0] = part_loss[0] / fn;
    result[1] = part_correct[0];
  }
}
