/* Data parallelism: a communicator over processes (MPI) and a replica set over
 * the devices of one process. docs/DISTRIBUTED.md describes the design.
 *
 * One training step of a replica set with D local replicas in a job of R ranks:
 *   the global batch of B images is cut into R contiguous rank shares (the
 *   loader hands each rank only its own), each rank share into D device shares
 *   (by the replicas' weights); every replica runs forward and backward on its
 *   share with batch-norm statistics of that share alone; the gradients, each
 *   scaled by share/B, are summed over the replicas of the process in replica
 *   order and then over the ranks by MPI all-reduce (in buckets, started as soon
 *   as the backward pass has produced them); every replica applies the same Adam
 *   update to the same weights, so the weights stay identical.
 * That last step assumes every replica runs the same kernels on the same kind of device.
 * When the devices differ (by name or driver, in the process or across ranks), the same
 * Adam arithmetic may round differently, so then only rank 0's replica 0 applies the
 * update and broadcasts the new weights to every other replica ("owner updates"). */
#ifndef CLNET_DIST_H
#define CLNET_DIST_H

#include "clnet/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- communicator ---- */
typedef struct clnet_comm clnet_comm;

/* 1 when clnet was built with MPI. */
int32_t clnet_mpi_built(void);
/* 1 when an MPI launcher (mpirun, mpiexec, srun) started this process. */
int32_t clnet_mpi_launched(void);
/* A communicator over every process of the job: MPI_COMM_WORLD after MPI_Init_thread
 * (MPI_THREAD_FUNNELED) when built with MPI and launched by an MPI launcher, otherwise a
 * single-process one (rank 0 of 1). argc/argv may be NULL. */
clnet_status clnet_comm_create(int *argc, char ***argv, clnet_comm **out);
/* Finalizes MPI when this communicator initialised it. NULL is fine. */
void clnet_comm_free(clnet_comm *c);
int32_t clnet_comm_rank(const clnet_comm *c);
int32_t clnet_comm_size(const clnet_comm *c);
/* Rank among the processes on this machine and how many there are. */
int32_t clnet_comm_local_rank(const clnet_comm *c);
int32_t clnet_comm_local_size(const clnet_comm *c);
/* Collective operations over every rank (no-ops for one process). */
clnet_status clnet_comm_allreduce_sum_f64(clnet_comm *c, double *values, int32_t n);
clnet_status clnet_comm_allreduce_max_i32(clnet_comm *c, int32_t *values, int32_t n);
clnet_status clnet_comm_bcast(clnet_comm *c, void *data, size_t bytes, int32_t root);
/* Gathers one uint64 from every rank into all (clnet_comm_size entries). */
clnet_status clnet_comm_allgather_u64(clnet_comm *c, uint64_t value, uint64_t *all);
/* Ends every process of the job (MPI_Abort); for a rank that failed while the others
 * wait in a collective. Returns only for one process. */
void clnet_comm_abort(clnet_comm *c, int code);

/* ---- replica set ---- */
/* 1 when two contexts are the same kind of device with the same driver (same name and driver
 * version, or both ref): replicas on them compute bit-identical updates. */
int32_t clnet_ctx_same_kind(const clnet_ctx *a, const clnet_ctx *b);

typedef struct clnet_replicas clnet_replicas;

/* A replica set over graphs that are set up (each on its own or a shared context),
 * built from the same description and initialised identically.
 *   graphs: n >= 1 graphs, borrowed; comm: borrowed, NULL for one process.
 * With one graph and one process a step is exactly clnet_graph_forward_backward. */
clnet_status clnet_replicas_create(clnet_graph *const *graphs, int32_t n, clnet_comm *comm,
                                   clnet_replicas **out);
void clnet_replicas_free(clnet_replicas *r);
int32_t clnet_replicas_count(const clnet_replicas *r);
/* Relative speed of each replica (n weights > 0, e.g. images/s); device shares follow
 * them. Default: equal. */
clnet_status clnet_replicas_set_weights(clnet_replicas *r, const double *weights);
/* Images replica i takes from a process share of n images (0 <= i < count). */
int32_t clnet_replicas_share(const clnet_replicas *r, int32_t i, int32_t n);
/* Measures each replica's inference speed on `n` images (the first images of the batch
 * given) and sets the weights from it; *weights_out (count entries) receives them. Changes
 * nothing in the graphs but their current batch. */
clnet_status clnet_replicas_calibrate(clnet_replicas *r, const float *images, const int32_t *labels, int32_t n,
                                      double *weights_out);

/* One data-parallel forward/backward and gradient all-reduce (no update).
 *   images (n, H, W, C), labels (n): this process's share of the global batch
 *   n: images in this process's share (may be 0); n_global: images in the whole batch
 *   loss, correct: the global batch's mean loss and correct-count (identical on every rank)
 *   finite: 1 when every replica's loss and gradients on every rank are finite */
clnet_status clnet_replicas_step(clnet_replicas *r, const float *images, const int32_t *labels, int32_t n,
                                 int32_t n_global, double *loss, int64_t *correct, int32_t *finite);
/* The same Adam update on every replica. */
clnet_status clnet_replicas_apply_adam(clnet_replicas *r, float lr, float beta1, float beta2, float eps);
/* The same optimizer step on every replica (clnet_graph_apply_optimizer). */
clnet_status clnet_replicas_apply_optimizer(clnet_replicas *r, const clnet_optimizer *o);
/* Undo the last step's BN statistic updates on every replica (needs keep_statistics). */
clnet_status clnet_replicas_restore_statistics(clnet_replicas *r);
clnet_status clnet_replicas_keep_statistics(clnet_replicas *r, int32_t enable);
/* Copies every parameter, statistic and the Adam state of replica 0 to the others. */
clnet_status clnet_replicas_broadcast(clnet_replicas *r);
/* 1 when only rank 0's replica 0 applies Adam and broadcasts the weights (different devices). */
int32_t clnet_replicas_owner_updates(const clnet_replicas *r);
/* Checks that every replica of every rank holds bit-identical weights and Adam state (with
 * owner updates: weights only). Reads everything back: for tests and --verify-replicas.
 * CLNET_ERR_MISMATCH names the first replica (rank:replica) that differs from 0:0. */
clnet_status clnet_replicas_verify(clnet_replicas *r);
/* A 64-bit hash of graph g's trainable values, and with `with_adam` its Adam moments and
 * step (bit patterns). */
clnet_status clnet_graph_weights_hash(clnet_graph *g, int32_t with_adam, uint64_t *hash);

#ifdef __cplusplus
}
#endif
#endif
