/* The memory plan of a training step (memory_plan.h). */
#include "graph/memory_plan.h"

#include <string.h>

typedef struct plan_item {
  int32_t first, last, prefer; /* prefer: tensor whose gradient buffer to take over in place, or -1 */
  size_t need;
  int32_t *out;
} plan_item;

/* Backward step of executed layer i: the last layer runs first. */
static int32_t bstep(int32_t n_l, int32_t i) { return n_l - 1 - i; }

static void plan_gradients(clnet_plan_tensor *t, int32_t n_t, clnet_plan_layer *l, int32_t n_l, size_t *buf_floats,
                           int32_t *n_bufs) {
  int32_t grad_first[CLNET_PLAN_MAX_TENSORS], grad_last[CLNET_PLAN_MAX_TENSORS], prefer[CLNET_PLAN_MAX_TENSORS],
      busy_until[CLNET_PLAN_MAX_BUFS];
  plan_item items[CLNET_PLAN_MAX_BUFS]; /* ~74 KiB on the stack: reentrant */
  for (int32_t k = 0; k < n_t; ++k) {
    grad_first[k] = INT32_MAX;
    grad_last[k] = -1;
    prefer[k] = -1;
    t[k].grad_buf = -1;
  }
  /* intervals: the first write of a gradient is its last consumer's backward, the last read its
   * producer's */
  for (int32_t i = 0; i < n_l; ++i) {
    if (l[i].skip) continue;
    const int32_t s = bstep(n_l, i);
    for (int32_t j = 0; j < l[i].n_in; ++j) {
      const int32_t x = l[i].in[j];
      if (!t[x].no_grad && s < grad_first[x]) grad_first[x] = s;
    }
    if (!(l[i].flags & CLNET_PLAN_LOSS) && s > grad_last[l[i].out]) grad_last[l[i].out] = s;
  }
  /* first writers: the smallest backward step among a gradient's readers, once per layer */
  for (int32_t i = 0; i < n_l; ++i)
    for (int32_t j = 0; j < l[i].n_in; ++j) {
      const int32_t x = l[i].in[j];
      int32_t repeated = 0;
      for (int32_t k = 0; k < j; ++k) repeated |= l[i].in[k] == x;
      l[i].first_writer[j] = !l[i].skip && !t[x].no_grad && grad_first[x] == bstep(n_l, i) && !repeated;
    }
  for (int32_t i = 0; i < n_l; ++i)
    if (!l[i].skip && (l[i].flags & CLNET_PLAN_DX_OVER_DY) && l[i].first_writer[0]) prefer[l[i].in[0]] = l[i].out;
  /* items: each gradient over [first, last], and the temporary of each layer that adds into a
   * gradient another layer wrote first, over [s, s] */
  int32_t n = 0;
  for (int32_t k = 0; k < n_t; ++k)
    if (!t[k].no_grad && (grad_last[k] >= 0 || grad_first[k] != INT32_MAX))
      items[n++] = (plan_item){grad_first[k], grad_last[k] < 0 ? INT32_MAX : grad_last[k], prefer[k], t[k].floats,
                               &t[k].grad_buf};
  for (int32_t i = 0; i < n_l; ++i) {
    for (int32_t j = 0; j < CLNET_PLAN_MAX_INPUTS; ++j) l[i].tmp_buf[j] = -1;
    if (l[i].skip || (l[i].flags & CLNET_PLAN_ACCUMULATES)) continue;
    for (int32_t j = 0; j < l[i].n_in; ++j) {
      const int32_t x = l[i].in[j];
      if (!t[x].no_grad && !l[i].first_writer[j])
        items[n++] = (plan_item){bstep(n_l, i), bstep(n_l, i), -1, t[x].floats, &l[i].tmp_buf[j]};
    }
  }
  /* stable sort by first use */
  for (int32_t a = 1; a < n; ++a) {
    plan_item it = items[a];
    int32_t k = a;
    for (; k > 0 && items[k - 1].first > it.first; --k) items[k] = items[k - 1];
    items[k] = it;
  }
  *n_bufs = 0;
  for (int32_t a = 0; a < n; ++a) {
    const plan_item *it = &items[a];
    const size_t need = it->need;
    int32_t best = -1;
    if (it->prefer >= 0) {
      const int32_t pb = t[it->prefer].grad_buf; /* its interval ends at this item's first step */
      if (pb >= 0 && busy_until[pb] == it->first) best = pb;
    }
    for (int32_t b = 0, in_place = best >= 0; !in_place && b < *n_bufs; ++b) {
      if (busy_until[b] >= it->first) continue;
      const int fits = buf_floats[b] >= need, best_fits = best >= 0 && buf_floats[best] >= need;
      if (best < 0 || fits > best_fits ||
          (fits == best_fits && (fits ? buf_floats[b] < buf_floats[best] : buf_floats[b] > buf_floats[best])))
        best = b;
    }
    if (best < 0) {
      best = (*n_bufs)++;
      buf_floats[best] = 0;
    }
    if (buf_floats[best] < need) buf_floats[best] = need;
    busy_until[best] = it->last;
    *it->out = best;
  }
}

/* Storage roots that no backward step reads go into gradient buffers, which hold nothing during
 * the forward pass: best fit by size among buffers at least as large, over forward lifetimes
 * [producer, last reader] (executed order). The input and kept tensors keep their own storage. */
static void place_forward_only(clnet_plan_tensor *t, int32_t n_t, const clnet_plan_layer *l, int32_t n_l,
                               const size_t *buf_floats, int32_t n_bufs) {
  int32_t bwd_read[CLNET_PLAN_MAX_TENSORS], last_read[CLNET_PLAN_MAX_TENSORS], busy_until[CLNET_PLAN_MAX_BUFS];
  for (int32_t k = 0; k < n_t; ++k) {
    t[k].fwd_buf = -1;
    last_read[k] = -1;
    bwd_read[k] = 0;
  }
  bwd_read[0] = 1;
  for (int32_t k = 0; k < n_t; ++k)
    if (t[k].kept) bwd_read[t[k].storage] = 1;
  for (int32_t i = 0; i < n_l; ++i) {
    if (l[i].skip) continue;
    for (int32_t j = 0; j < l[i].n_in; ++j) {
      const int32_t r = t[l[i].in[j]].storage;
      if (i > last_read[r]) last_read[r] = i;
      if (l[i].flags & CLNET_PLAN_READS_INPUTS) bwd_read[r] = 1;
    }
    if (l[i].flags & CLNET_PLAN_READS_OUTPUT) bwd_read[t[l[i].out].storage] = 1; /* e.g. ReLU's mask */
    if ((l[i].flags & CLNET_PLAN_READS_IN0) && l[i].n_in > 0) bwd_read[t[l[i].in[0]].storage] = 1;
  }
  for (int32_t b = 0; b < n_bufs; ++b) busy_until[b] = -1;
  for (int32_t k = 1; k < n_t; ++k) {
    clnet_plan_tensor *x = &t[k];
    if (x->storage != k || x->virt || bwd_read[k]) continue;
    int32_t best = -1;
    for (int32_t b = 0; b < n_bufs; ++b)
      if (busy_until[b] < x->producer && buf_floats[b] >= x->floats && (best < 0 || buf_floats[b] < buf_floats[best]))
        best = b;
    if (best < 0) continue;
    busy_until[best] = last_read[k] > x->producer ? last_read[k] : x->producer;
    x->fwd_buf = best;
  }
}

void clnet_memory_plan(clnet_plan_tensor *t, int32_t n_t, clnet_plan_layer *l, int32_t n_l, size_t *buf_floats,
                       int32_t *n_bufs) {
  plan_gradients(t, n_t, l, n_l, buf_floats, n_bufs);
  place_forward_only(t, n_t, l, n_l, buf_floats, *n_bufs);
}
