/* Internal: the memory plan of one training step, as a pure function of the graph's structure —
 * no device, no graph object: tests build inputs by hand (tests/test_memory_plan.c).
 *
 * Input: the tensors (floats at the planned batch, storage root, whether stored at all) and the
 * layers in executed order (layers run inside a later fused layer are marked skip), each with the
 * inputs it reads as executed, its output and what its backward does.
 * Output:
 *   - per tensor, the gradient buffer of its gradient (-1: none): a gradient lives from the
 *     backward step of its last consumer (first write) to that of its producer (last read);
 *     buffers are reused, best fit by size, between gradients whose intervals do not overlap;
 *   - per layer input, whether that layer's backward writes the gradient first (overwrites) or
 *     adds into it, and for the latter a temporary: one more interval [s, s] of the same best fit
 *     (a layer that accumulates itself needs none);
 *   - per tensor, for storage roots that no backward step reads, the gradient buffer that holds
 *     them during the forward pass (fwd_buf; best fit over forward lifetimes), else -1.
 * Backward step s of executed layer i is n_layers - 1 - i: the last layer runs first. */
#ifndef CLNET_GRAPH_MEMORY_PLAN_H
#define CLNET_GRAPH_MEMORY_PLAN_H

#include <stddef.h>
#include <stdint.h>

#define CLNET_PLAN_MAX_TENSORS 1024
#define CLNET_PLAN_MAX_INPUTS 64 /* CLNET_LAYER_MAX_INPUTS (the plan includes no public header) */
#define CLNET_PLAN_MAX_BUFS (3 * CLNET_PLAN_MAX_TENSORS)

enum {
  CLNET_PLAN_LOSS = 1u << 0,         /* writes its input's gradient before every backward step; its output needs none */
  CLNET_PLAN_ACCUMULATES = 1u << 1,  /* adds into an input's gradient itself: no temporary */
  CLNET_PLAN_DX_OVER_DY = 1u << 2,   /* may write in[0]'s gradient over its output's (same buffer when free) */
  CLNET_PLAN_READS_IN0 = 1u << 3,    /* its backward reads in[0] */
  CLNET_PLAN_READS_INPUTS = 1u << 4, /* its backward reads every input */
  CLNET_PLAN_READS_OUTPUT = 1u << 5, /* its backward reads its output */
};

typedef struct clnet_plan_tensor {
  size_t floats;    /* at the planned batch */
  int32_t storage;  /* the tensor whose storage it uses (itself unless in place) */
  int32_t virt;     /* not stored at all */
  int32_t producer; /* executed layer index, -1 for the graph input (tensor 0) */
  int32_t kept;     /* read after the step whatever the layers say (the logits) */
  int32_t no_grad;  /* needs no gradient (the graph input, unless a reader must write one) */
  /* out */
  int32_t grad_buf, fwd_buf;
} clnet_plan_tensor;

typedef struct clnet_plan_layer {
  int32_t skip;  /* runs inside a later layer: neither reads nor writes here */
  int32_t n_in;
  int32_t in[CLNET_PLAN_MAX_INPUTS];
  int32_t out;
  uint32_t flags;
  /* out */
  int32_t first_writer[CLNET_PLAN_MAX_INPUTS];
  int32_t tmp_buf[CLNET_PLAN_MAX_INPUTS];
} clnet_plan_layer;

/* Plans t (n_t tensors, tensor 0 the input) and l (n_l layers); writes the
 * gradient buffers' sizes (floats) into buf_floats (room for CLNET_PLAN_MAX_BUFS) and their count
 * into *n_bufs. */
void clnet_memory_plan(clnet_plan_tensor *t, int32_t n_t, clnet_plan_layer *l, int32_t n_l, size_t *buf_floats,
                       int32_t *n_bufs);

#endif
