/* The memory plan as a pure function (host/graph/memory_plan.h), on graphs written by hand: no
 * device, no graph object. */
#include <criterion/criterion.h>
#include <string.h>

#include "graph/memory_plan.h"

static clnet_plan_tensor tensor(size_t floats, int32_t producer) {
  return (clnet_plan_tensor){.floats = floats, .storage = -1, .producer = producer};
}

static void roots(clnet_plan_tensor *t, int32_t n) {
  for (int32_t i = 0; i < n; ++i)
    if (t[i].storage < 0) t[i].storage = i;
  t[0].no_grad = 1;
}

/* A chain x0 -> L0 -> t1 -> L1 -> t2 -> L2 -> t3 -> loss: t2's and t3's gradients live at
 * overlapping steps, t1's after t3's is dead: two buffers, the first reused. */
Test(memory_plan, a_chain_reuses_gradient_buffers) {
  clnet_plan_tensor t[5] = {tensor(100, -1), tensor(400, 0), tensor(300, 1), tensor(200, 2), tensor(1, 3)};
  roots(t, 5);
  t[4].virt = 1;
  t[3].kept = 1;
  clnet_plan_layer l[4] = {{.n_in = 1, .in = {0}, .out = 1, .flags = CLNET_PLAN_READS_INPUTS},
                           {.n_in = 1, .in = {1}, .out = 2, .flags = CLNET_PLAN_READS_INPUTS},
                           {.n_in = 1, .in = {2}, .out = 3, .flags = CLNET_PLAN_READS_INPUTS},
                           {.n_in = 1, .in = {3}, .out = 4, .flags = CLNET_PLAN_LOSS}};
  size_t bufs[CLNET_PLAN_MAX_BUFS];
  int32_t nb = -1;
  clnet_memory_plan(t, 5, l, 4, bufs, &nb);
  cr_assert_eq(t[0].grad_buf, -1, "the images get no gradient");
  cr_assert_eq(t[4].grad_buf, -1, "the loss output needs none");
  cr_assert(t[1].grad_buf >= 0 && t[2].grad_buf >= 0 && t[3].grad_buf >= 0);
  cr_assert_neq(t[2].grad_buf, t[3].grad_buf, "dL/dt3 is read while dL/dt2 is written");
  cr_assert_neq(t[1].grad_buf, t[2].grad_buf, "dL/dt2 is read while dL/dt1 is written");
  cr_assert_eq(t[1].grad_buf, t[3].grad_buf, "dL/dt3 is dead when dL/dt1 is born: its buffer is reused");
  cr_assert_eq(nb, 2);
  cr_assert_eq(bufs[t[1].grad_buf], 400, "the shared buffer grows to its largest user");
  for (int i = 0; i < 3; ++i) cr_assert_eq(l[i].first_writer[0], i > 0, "layer %d", i);
  cr_assert_eq(l[3].first_writer[0], 1, "the loss writes the logits' gradient");
  for (int i = 1; i < 5; ++i) cr_assert_eq(t[i].fwd_buf, -1, "every activation is read by a backward");
}

/* A tensor with two readers: the later one in backward order writes its gradient first, the other
 * accumulates through a temporary; a layer that accumulates itself needs none. */
Test(memory_plan, a_second_reader_accumulates) {
  /* x0 -> A -> t1; t1 -> B -> t2; t1 -> C -> t3; add(t2, t3) -> t4; loss(t4) -> t5 */
  clnet_plan_tensor t[6] = {tensor(10, -1), tensor(50, 0), tensor(50, 1), tensor(50, 2), tensor(50, 3), tensor(1, 4)};
  roots(t, 6);
  t[5].virt = 1;
  clnet_plan_layer l[5] = {{.n_in = 1, .in = {0}, .out = 1},
                           {.n_in = 1, .in = {1}, .out = 2},
                           {.n_in = 1, .in = {1}, .out = 3},
                           {.n_in = 2, .in = {2, 3}, .out = 4, .flags = CLNET_PLAN_ACCUMULATES},
                           {.n_in = 1, .in = {4}, .out = 5, .flags = CLNET_PLAN_LOSS}};
  size_t bufs[CLNET_PLAN_MAX_BUFS];
  int32_t nb = 0;
  clnet_memory_plan(t, 6, l, 5, bufs, &nb);
  cr_assert_eq(l[2].first_writer[0], 1, "C runs first backward: it writes dL/dt1");
  cr_assert_eq(l[1].first_writer[0], 0, "B adds into it");
  cr_assert_geq(l[1].tmp_buf[0], 0, "through a temporary");
  cr_assert_eq(l[2].tmp_buf[0], -1);
  cr_assert_neq(l[1].tmp_buf[0], t[1].grad_buf, "the temporary is not the gradient it adds into");
  cr_assert_neq(l[1].tmp_buf[0], t[2].grad_buf, "nor B's dy, read at the same step");
  cr_assert_eq(l[3].tmp_buf[0], -1, "an accumulating layer needs no temporary");
  cr_assert_eq(l[3].tmp_buf[1], -1);
  /* x + x: one input twice, the second occurrence accumulates */
  clnet_plan_tensor u[4] = {tensor(10, -1), tensor(20, 0), tensor(20, 1), tensor(1, 2)};
  roots(u, 4);
  u[3].virt = 1;
  clnet_plan_layer m[3] = {{.n_in = 1, .in = {0}, .out = 1},
                           {.n_in = 2, .in = {1, 1}, .out = 2, .flags = CLNET_PLAN_ACCUMULATES},
                           {.n_in = 1, .in = {2}, .out = 3, .flags = CLNET_PLAN_LOSS}};
  clnet_memory_plan(u, 4, m, 3, bufs, &nb);
  cr_assert(m[1].first_writer[0] && !m[1].first_writer[1], "x + x: the first operand writes, the second adds");
}

/* An activation no backward reads (a shortcut's output, read only by an add) lives in a gradient
 * buffer during the forward pass; one a backward reads keeps its own storage. */
Test(memory_plan, forward_only_activations_borrow_gradient_buffers) {
  /* x0 -> conv A -> t1 (A reads x0); t1 -> conv B -> t2 (reads t1); t1 -> shortcut S -> t3;
   * add(t2, t3) -> t4 -> dense D -> t5 -> loss -> t6 */
  clnet_plan_tensor t[7] = {tensor(64, -1), tensor(64, 0), tensor(64, 1), tensor(64, 2),
                            tensor(64, 3),  tensor(8, 4),  tensor(1, 5)};
  roots(t, 7);
  t[6].virt = 1;
  t[5].kept = 1;
  clnet_plan_layer l[6] = {{.n_in = 1, .in = {0}, .out = 1, .flags = CLNET_PLAN_READS_INPUTS},
                           {.n_in = 1, .in = {1}, .out = 2, .flags = CLNET_PLAN_READS_INPUTS},
                           {.n_in = 1, .in = {1}, .out = 3, .flags = CLNET_PLAN_READS_INPUTS},
                           {.n_in = 2, .in = {2, 3}, .out = 4, .flags = CLNET_PLAN_ACCUMULATES},
                           {.n_in = 1, .in = {4}, .out = 5, .flags = CLNET_PLAN_READS_INPUTS},
                           {.n_in = 1, .in = {5}, .out = 6, .flags = CLNET_PLAN_LOSS}};
  size_t bufs[CLNET_PLAN_MAX_BUFS];
  int32_t nb = 0;
  clnet_memory_plan(t, 7, l, 6, bufs, &nb);
  cr_assert_geq(t[2].fwd_buf, 0, "B's output is read by the add only");
  cr_assert_geq(t[3].fwd_buf, 0, "so is the shortcut's");
  cr_assert_neq(t[2].fwd_buf, t[3].fwd_buf, "both are alive at the add");
  cr_assert_eq(t[1].fwd_buf, -1, "B and S read t1 backward");
  cr_assert_eq(t[4].fwd_buf, -1, "the dense layer reads t4 backward");
  cr_assert_eq(t[5].fwd_buf, -1, "the logits are kept");
}
