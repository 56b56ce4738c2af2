/* Replica set: data-parallel training over the devices of a process and the ranks of a job
 * (design in clnet/dist.h and docs/DISTRIBUTED.md).
 *
 * Gradient flow of one step (D replicas, R ranks, T trainable floats):
 *   replica i: step_start streams its gradients into mirror[i] (T floats, parameter order)
 *   host:      for each parameter in backward order, once every replica's copy has landed:
 *                sum[p] = share_0/B * mirror[0][p] + share_1/B * mirror[1][p] + ...   (float,
 *                replica order); a bucket of about BUCKET_FLOATS is then handed to MPI's
 *                non-blocking all-reduce while the devices still compute earlier layers
 *   every replica: the summed gradient is copied back and the same Adam update applied.
 * Parameters are created in layer order, so the backward order walks the parameter-order
 * layout downwards and every bucket is one contiguous range of `sum`. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "dist/comm.h"

/* ~4 MiB buckets: large enough that MPI's per-call cost is small, small enough that the
 * first bucket leaves while most of the backward pass is still running. */
#define BUCKET_FLOATS ((int64_t)1 << 20)
#define MAX_REPLICAS 64

struct clnet_replicas {
  clnet_graph **g;
  int32_t n;
  clnet_comm *comm;
  double *cum;   /* (n + 1) cumulative normalised weights, cum[0] = 0, cum[n] = 1 */
  int64_t total; /* trainable floats */
  float *mirror; /* (n, total): each replica's streamed gradients */
  float *sum;    /* (total): the reduced gradient */
  int32_t *order; /* trainable parameters in backward order */
  int32_t n_order;
  int32_t contiguous; /* the backward order walks the layout downwards without gaps */
  int32_t direct;     /* one replica, one process: plain forward_backward, no host copies */
  int32_t owner;      /* different devices: only replica 0:0 applies Adam, then broadcasts weights */
  float *weights;     /* (total) owner updates: the new weights on their way to the replicas */
  size_t image_floats; /* H * W * C of one input image */
  int32_t counts[MAX_REPLICAS];
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* FNV-1a of the device's name and driver: equal for the same kind of device and driver. */
static uint64_t ctx_signature(const clnet_ctx *c) {
  const clnet_device_info *di = clnet_ctx_device_info(c);
  const char *parts[2] = {clnet_ctx_device_name(c), di ? di->driver_version : "ref"};
  uint64_t h = 1469598103934665603ull;
  for (int k = 0; k < 2; ++k)
    for (const char *p = parts[k] ? parts[k] : ""; *p; ++p) h = (h ^ (unsigned char)*p) * 1099511628211ull;
  return h;
}

int32_t clnet_ctx_same_kind(const clnet_ctx *a, const clnet_ctx *b) {
  return a == b || ctx_signature(a) == ctx_signature(b);
}

void clnet_replicas_free(clnet_replicas *r) {
  if (!r) return;
  for (int32_t i = 0; i < r->n && r->mirror; ++i) clnet_graph_stream_gradients(r->g[i], NULL);
  free(r->g);
  free(r->cum);
  free(r->mirror);
  free(r->sum);
  free(r->order);
  free(r->weights);
  free(r);
}


clnet_status clnet_replicas_create(clnet_graph *const *graphs, int32_t n, clnet_comm *comm, clnet_replicas **out) {
  *out = NULL;
  if (n < 1 || n > MAX_REPLICAS)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%d replicas: between 1 and %d are supported", n, MAX_REPLICAS);
  for (int32_t i = 0; i < n; ++i)
    if (clnet_graph_max_batch(graphs[i]) < 1)
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "replica %d: graph is not set up", i);
  int64_t total = clnet_graph_param_total(graphs[0], CLNET_PARAM_TRAINABLE);
  for (int32_t i = 1; i < n; ++i)
    if (clnet_graph_param_total(graphs[i], CLNET_PARAM_TRAINABLE) != total ||
        clnet_graph_param_count(graphs[i]) != clnet_graph_param_count(graphs[0]))
      return clnet_set_error(CLNET_ERR_MISMATCH, "replica %d is not the same model as replica 0", i);
  clnet_replicas *r = calloc(1, sizeof *r);
  if (!r) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "replica set");
  r->n = n;
  r->comm = comm;
  r->total = total;
  r->direct = n == 1 && clnet_comm_size(comm) == 1;
  clnet_layer_info li;
  clnet_graph_layer_info(graphs[0], 0, &li); /* the first layer reads the input images */
  r->image_floats = (size_t)li.in_h * (size_t)li.in_w * (size_t)li.in_c;
  r->g = malloc((size_t)n * sizeof *r->g);
  r->cum = malloc((size_t)(n + 1) * sizeof *r->cum);
  r->order = malloc((size_t)clnet_graph_param_count(graphs[0]) * sizeof *r->order);
  if (!r->g || !r->cum || !r->order) goto oom;
  memcpy(r->g, graphs, (size_t)n * sizeof *r->g);
  for (int32_t i = 0; i <= n; ++i) r->cum[i] = (double)i / n;
  r->n_order = clnet_graph_gradient_order(graphs[0], r->order);
  /* buckets are contiguous when the backward order walks the layout from the top down */
  r->contiguous = 1;
  int64_t below = total;
  for (int32_t k = 0; k < r->n_order; ++k) {
    clnet_param_info pi;
    clnet_graph_param_info(graphs[0], r->order[k], &pi);
    int64_t off = clnet_graph_gradient_offset(graphs[0], r->order[k]);
    if (off + pi.count != below) r->contiguous = 0;
    below = off;
  }
  if (below != 0) r->contiguous = 0;
  /* owner updates when the devices differ, here or on any rank */
  uint64_t sig = ctx_signature(clnet_graph_context(graphs[0]));
  for (int32_t i = 1; i < n; ++i)
    if (ctx_signature(clnet_graph_context(graphs[i])) != sig) r->owner = 1;
  int32_t ranks = clnet_comm_size(comm);
  if (ranks > 1) {
    uint64_t *all = malloc((size_t)ranks * 2 * sizeof *all);
    if (!all) goto oom;
    clnet_status st = clnet_comm_allgather_u64(comm, sig, all);
    if (st == CLNET_SUCCESS) st = clnet_comm_allgather_u64(comm, (uint64_t)r->owner, all + ranks);
    for (int32_t k = 0; k < ranks && st == CLNET_SUCCESS; ++k)
      if (all[k] != all[0] || all[ranks + k]) r->owner = 1;
    free(all);
    if (st != CLNET_SUCCESS) {
      clnet_replicas_free(r);
      return st;
    }
  }
  if (r->owner && !(r->weights = malloc((size_t)total * sizeof *r->weights))) goto oom;
  if (!r->direct) {
    r->mirror = malloc((size_t)n * (size_t)total * sizeof *r->mirror);
    r->sum = malloc((size_t)total * sizeof *r->sum);
    if (!r->mirror || !r->sum) goto oom;
    for (int32_t i = 0; i < n; ++i) {
      clnet_status st = clnet_graph_stream_gradients(graphs[i], r->mirror + (size_t)i * (size_t)total);
      if (st != CLNET_SUCCESS) {
        clnet_replicas_free(r);
        return st;
      }
    }
  }
  *out = r;
  return CLNET_SUCCESS;
oom:
  clnet_replicas_free(r);
  return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "replica set of %d over %lld gradient floats", n,
                         (long long)total);
}

int32_t clnet_replicas_count(const clnet_replicas *r) { return r->n; }

clnet_status clnet_replicas_set_weights(clnet_replicas *r, const double *weights) {
  double s = 0;
  for (int32_t i = 0; i < r->n; ++i) {
    if (!(weights[i] > 0) || !isfinite(weights[i]))
      return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "replica %d: weight %g must be finite and > 0", i, weights[i]);
    s += weights[i];
  }
  double c = 0;
  r->cum[0] = 0;
  for (int32_t i = 0; i < r->n; ++i) {
    c += weights[i];
    r->cum[i + 1] = c / s;
  }
  r->cum[r->n] = 1;
  return CLNET_SUCCESS;
}

static int32_t bound(const clnet_replicas *r, int32_t i, int32_t n) {
  if (i <= 0) return 0;
  if (i >= r->n) return n;
  return (int32_t)floor((double)n * r->cum[i] + 1e-9);
}

int32_t clnet_replicas_share(const clnet_replicas *r, int32_t i, int32_t n) {
  return bound(r, i + 1, n) - bound(r, i, n);
}

clnet_status clnet_replicas_calibrate(clnet_replicas *r, const float *images, const int32_t *labels, int32_t n,
                                      double *weights_out) {
  for (int32_t i = 0; i < r->n; ++i) {
    int32_t m = n < clnet_graph_max_batch(r->g[i]) ? n : clnet_graph_max_batch(r->g[i]);
    if (m < 1) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "calibration needs at least one image");
    float loss = 0;
    int32_t correct = 0;
    double best = INFINITY;
    CLNET_TRY(clnet_graph_set_batch(r->g[i], images, labels, m));
    for (int32_t k = 0; k < 3; ++k) { /* the first run absorbs kernel compiles */
      double t0 = now_s();
      CLNET_TRY(clnet_graph_evaluate(r->g[i], &loss, &correct));
      double t = now_s() - t0;
      if (k > 0 && t < best) best = t;
    }
    weights_out[i] = (double)m / (best > 1e-9 ? best : 1e-9);
  }
  return clnet_replicas_set_weights(r, weights_out);
}

/* Sums parameter range [lo, hi) of the replicas' mirrors into sum, each scaled by its share. */
static void reduce_range(clnet_replicas *r, const float *scale, int64_t lo, int64_t hi) {
  float *s = r->sum;
  int32_t first = 1;
  for (int32_t i = 0; i < r->n; ++i) {
    if (!r->counts[i]) continue;
    const float *m = r->mirror + (size_t)i * (size_t)r->total;
    const float a = scale[i];
    if (first)
      for (int64_t j = lo; j < hi; ++j) s[j] = a * m[j];
    else
      for (int64_t j = lo; j < hi; ++j) s[j] += a * m[j];
    first = 0;
  }
  if (first) memset(s + lo, 0, (size_t)(hi - lo) * sizeof *s); /* no replica had images */
}

clnet_status clnet_replicas_step(clnet_replicas *r, const float *images, const int32_t *labels, int32_t n,
                                 int32_t n_global, double *loss, int64_t *correct, int32_t *finite) {
  *loss = 0;
  *correct = 0;
  *finite = 1;
  if (n_global < 1 || n < 0 || n > n_global)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "step of %d images out of %d", n, n_global);
  if (r->direct) {
    float l = 0;
    int32_t c = 0;
    CLNET_TRY(clnet_graph_set_batch(r->g[0], images, labels, n));
    CLNET_TRY(clnet_graph_forward_backward(r->g[0], &l, &c));
    *loss = l;
    *correct = c;
    *finite = isfinite(l) && clnet_graph_gradients_finite(r->g[0]);
    return CLNET_SUCCESS;
  }
  float scale[MAX_REPLICAS];
  int32_t started = 0;
  clnet_status st = CLNET_SUCCESS;
  for (int32_t i = 0; i < r->n; ++i) {
    int32_t lo = bound(r, i, n);
    r->counts[i] = bound(r, i + 1, n) - lo;
    scale[i] = (float)((double)r->counts[i] / (double)n_global);
    if (!r->counts[i]) continue;
    if (r->counts[i] > clnet_graph_max_batch(r->g[i])) {
      st = clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "replica %d: a share of %d images, set up for %d", i,
                           r->counts[i], clnet_graph_max_batch(r->g[i]));
      goto fail;
    }
    CLNET_TRY_GOTO(clnet_graph_set_batch(r->g[i], images + (size_t)lo * r->image_floats, labels + lo, r->counts[i]), st,
                   fail);
    CLNET_TRY_GOTO(clnet_graph_step_start(r->g[i]), st, fail);
    started = i + 1;
  }
  /* reduce in backward order; hand each full bucket to MPI while the devices go on */
  int64_t bucket_hi = r->total, bucket_lo = r->total;
  for (int32_t k = 0; k < r->n_order; ++k) {
    int32_t p = r->order[k];
    for (int32_t i = 0; i < r->n; ++i)
      if (r->counts[i]) CLNET_TRY_GOTO(clnet_graph_wait_gradient(r->g[i], p), st, fail);
    clnet_param_info pi;
    clnet_graph_param_info(r->g[0], p, &pi);
    int64_t off = clnet_graph_gradient_offset(r->g[0], p);
    reduce_range(r, scale, off, off + pi.count);
    if (!r->contiguous) continue;
    bucket_lo = off;
    if (bucket_hi - bucket_lo >= BUCKET_FLOATS || k == r->n_order - 1) {
      CLNET_TRY_GOTO(clnet_comm_iallreduce_sum_f32(r->comm, r->sum + bucket_lo, bucket_hi - bucket_lo), st, fail);
      bucket_hi = bucket_lo;
    } else {
      CLNET_TRY_GOTO(clnet_comm_progress(r->comm), st, fail);
    }
  }
  if (!r->contiguous) CLNET_TRY_GOTO(clnet_comm_iallreduce_sum_f32(r->comm, r->sum, r->total), st, fail);
  /* loss, correct-count and finiteness of every replica; then over the ranks */
  double stats[3] = {0, 0, 0}; /* sum of share/B * loss, correct, non-finite replicas */
  for (int32_t i = 0; i < r->n; ++i) {
    if (!r->counts[i]) continue;
    float l = 0;
    int32_t c = 0;
    CLNET_TRY_GOTO(clnet_graph_step_finish(r->g[i], &l, &c), st, fail);
    stats[0] += (double)r->counts[i] / (double)n_global * (double)l;
    stats[1] += c;
    if (!isfinite(l) || !clnet_graph_gradients_finite(r->g[i])) stats[2] += 1;
  }
  started = 0;
  CLNET_TRY_GOTO(clnet_comm_waitall(r->comm), st, fail);
  CLNET_TRY_GOTO(clnet_comm_allreduce_sum_f64(r->comm, stats, 3), st, fail);
  *loss = stats[0];
  *correct = (int64_t)llround(stats[1]);
  *finite = stats[2] == 0 && isfinite(stats[0]);
  return CLNET_SUCCESS;
fail:
  for (int32_t i = 0; i < started; ++i) {
    float l;
    int32_t c;
    if (r->counts[i]) clnet_graph_step_finish(r->g[i], &l, &c); /* drain, keep the first error */
  }
  clnet_comm_waitall(r->comm);
  return st;
}

int32_t clnet_replicas_owner_updates(const clnet_replicas *r) { return r->owner; }

/* Owner updates: replica 0:0 applies Adam; its new trainable values go to every other replica
 * (one T-float broadcast per step, on top of the gradient all-reduce). */
static clnet_status owner_update(clnet_replicas *r, const clnet_optimizer *o) {
  clnet_graph *g0 = r->g[0];
  int32_t np = clnet_graph_param_count(g0), root = clnet_comm_rank(r->comm) == 0;
  if (root) {
    CLNET_TRY(clnet_graph_write_gradients(g0, r->sum));
    CLNET_TRY(clnet_graph_apply_optimizer(g0, o));
    for (int32_t p = 0; p < np; ++p) {
      int64_t off = clnet_graph_gradient_offset(g0, p);
      if (off >= 0) CLNET_TRY(clnet_graph_param_read(g0, p, CLNET_FIELD_VALUE, r->weights + off));
    }
  }
  CLNET_TRY(clnet_comm_bcast(r->comm, r->weights, (size_t)r->total * sizeof *r->weights, 0));
  int64_t t = clnet_graph_adam_step(g0) + (root ? 0 : 1);
  for (int32_t i = root ? 1 : 0; i < r->n; ++i) {
    for (int32_t p = 0; p < np; ++p) {
      int64_t off = clnet_graph_gradient_offset(r->g[i], p);
      if (off >= 0) CLNET_TRY(clnet_graph_param_write(r->g[i], p, CLNET_FIELD_VALUE, r->weights + off));
    }
    clnet_graph_set_adam_step(r->g[i], t);
  }
  return CLNET_SUCCESS;
}

clnet_status clnet_replicas_apply_optimizer(clnet_replicas *r, const clnet_optimizer *o) {
  if (r->owner) return owner_update(r, o);
  for (int32_t i = 0; i < r->n; ++i) {
    if (!r->direct) CLNET_TRY(clnet_graph_write_gradients(r->g[i], r->sum));
    CLNET_TRY(clnet_graph_apply_optimizer(r->g[i], o));
  }
  return CLNET_SUCCESS;
}

clnet_status clnet_replicas_apply_adam(clnet_replicas *r, float lr, float beta1, float beta2, float eps) {
  const clnet_optimizer o = {.kind = CLNET_OPTIMIZER_ADAM, .lr = lr, .beta1 = beta1, .beta2 = beta2, .eps = eps};
  return clnet_replicas_apply_optimizer(r, &o);
}

clnet_status clnet_replicas_keep_statistics(clnet_replicas *r, int32_t enable) {
  for (int32_t i = 0; i < r->n; ++i) CLNET_TRY(clnet_graph_keep_statistics(r->g[i], enable));
  return CLNET_SUCCESS;
}

clnet_status clnet_replicas_restore_statistics(clnet_replicas *r) {
  for (int32_t i = 0; i < r->n; ++i)
    if (r->counts[i] || r->direct) CLNET_TRY(clnet_graph_restore_statistics(r->g[i]));
  return CLNET_SUCCESS;
}

clnet_status clnet_replicas_broadcast(clnet_replicas *r) {
  clnet_graph *g0 = r->g[0];
  int32_t np = clnet_graph_param_count(g0);
  int64_t max_count = 0;
  for (int32_t p = 0; p < np; ++p) {
    clnet_param_info pi;
    clnet_graph_param_info(g0, p, &pi);
    if (pi.count > max_count) max_count = pi.count;
  }
  float *h = malloc((size_t)max_count * sizeof *h);
  if (!h) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "broadcasting the weights");
  clnet_status st = CLNET_SUCCESS;
  int32_t root = clnet_comm_rank(r->comm) == 0;
  for (int32_t p = 0; p < np && st == CLNET_SUCCESS; ++p) {
    clnet_param_info pi;
    clnet_graph_param_info(g0, p, &pi);
    int32_t fields = pi.kind == CLNET_PARAM_TRAINABLE ? 3 : 1;
    static const clnet_param_field which[3] = {CLNET_FIELD_VALUE, CLNET_FIELD_ADAM_M, CLNET_FIELD_ADAM_V};
    for (int32_t f = 0; f < fields && st == CLNET_SUCCESS; ++f) {
      if (root) st = clnet_graph_param_read(g0, p, which[f], h);
      if (st == CLNET_SUCCESS) st = clnet_comm_bcast(r->comm, h, (size_t)pi.count * sizeof *h, 0);
      for (int32_t i = root ? 1 : 0; i < r->n && st == CLNET_SUCCESS; ++i)
        st = clnet_graph_param_write(r->g[i], p, which[f], h);
    }
  }
  free(h);
  CLNET_TRY(st);
  int64_t t = clnet_graph_adam_step(g0);
  CLNET_TRY(clnet_comm_bcast(r->comm, &t, sizeof t, 0));
  for (int32_t i = 0; i < r->n; ++i) clnet_graph_set_adam_step(r->g[i], t);
  return CLNET_SUCCESS;
}

clnet_status clnet_graph_weights_hash(clnet_graph *g, int32_t with_adam, uint64_t *hash) {
  uint64_t hsh = 1469598103934665603ull; /* FNV-1a over the bit patterns */
  int32_t np = clnet_graph_param_count(g);
  clnet_status st = CLNET_SUCCESS;
  float *buf = NULL;
  for (int32_t p = 0; p < np && st == CLNET_SUCCESS; ++p) {
    clnet_param_info pi;
    clnet_graph_param_info(g, p, &pi);
    if (pi.kind != CLNET_PARAM_TRAINABLE) continue;
    float *nb = realloc(buf, (size_t)pi.count * sizeof *buf);
    if (!nb) {
      st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "hashing the weights");
      break;
    }
    buf = nb;
    static const clnet_param_field which[3] = {CLNET_FIELD_VALUE, CLNET_FIELD_ADAM_M, CLNET_FIELD_ADAM_V};
    for (int32_t f = 0; f < (with_adam ? 3 : 1) && st == CLNET_SUCCESS; ++f) {
      st = clnet_graph_param_read(g, p, which[f], buf);
      const unsigned char *b = (const unsigned char *)buf;
      for (size_t j = 0; st == CLNET_SUCCESS && j < (size_t)pi.count * sizeof *buf; ++j)
        hsh = (hsh ^ b[j]) * 1099511628211ull;
    }
  }
  free(buf);
  if (with_adam) hsh ^= (uint64_t)clnet_graph_adam_step(g) * 0x9e3779b97f4a7c15ull;
  *hash = hsh;
  return st;
}

clnet_status clnet_replicas_verify(clnet_replicas *r) {
  uint64_t h0 = 0;
  CLNET_TRY(clnet_graph_weights_hash(r->g[0], !r->owner, &h0));
  int32_t bad_local = -1;
  for (int32_t i = 1; i < r->n && bad_local < 0; ++i) {
    uint64_t h = 0;
    CLNET_TRY(clnet_graph_weights_hash(r->g[i], !r->owner, &h));
    if (h != h0) bad_local = i;
  }
  int32_t ranks = clnet_comm_size(r->comm);
  uint64_t *all = malloc((size_t)ranks * 2 * sizeof *all);
  if (!all) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "verifying replicas");
  clnet_status st = clnet_comm_allgather_u64(r->comm, h0, all);
  if (st == CLNET_SUCCESS) st = clnet_comm_allgather_u64(r->comm, (uint64_t)(int64_t)bad_local, all + ranks);
  for (int32_t k = 0; k < ranks && st == CLNET_SUCCESS; ++k) {
    if ((int64_t)all[ranks + k] >= 0)
      st = clnet_set_error(CLNET_ERR_MISMATCH, "replica %d:%lld holds different weights%s than replica %d:0", k,
                           (long long)(int64_t)all[ranks + k], r->owner ? "" : " or Adam state", k);
    else if (all[k] != all[0])
      st = clnet_set_error(CLNET_ERR_MISMATCH, "replica %d:0 holds different weights%s than replica 0:0", k,
                           r->owner ? "" : " or Adam state");
  }
  free(all);
  return st;
}
