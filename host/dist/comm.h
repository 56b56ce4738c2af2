/* Internal: the non-blocking gradient all-reduce of the communicator (clnet/dist.h). */
#ifndef CLNET_DIST_COMM_H
#define CLNET_DIST_COMM_H

#include "clnet/dist.h"

/* Starts an in-place sum of n floats over every rank; `data` must stay untouched until
 * clnet_comm_waitall. No-op for one process. */
clnet_status clnet_comm_iallreduce_sum_f32(clnet_comm *c, float *data, int64_t n);
/* Lets MPI advance the pending all-reduces (called between waits for the device). */
clnet_status clnet_comm_progress(clnet_comm *c);
/* Waits for every pending all-reduce. */
clnet_status clnet_comm_waitall(clnet_comm *c);

#endif
