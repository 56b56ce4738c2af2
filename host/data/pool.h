/* Internal to host/data: a fixed set of worker threads that run one job at a
 * time over items 0..n-1 (image decoding for the loader and for opening an
 * image folder). The calling thread works too, as worker 0. */
#ifndef CLNET_DATA_POOL_H
#define CLNET_DATA_POOL_H

#include <stdint.h>

#include "clnet/status.h"

typedef struct clnet_pool clnet_pool;

/* threads >= 1 workers in all (threads - 1 started here). */
clnet_status clnet_pool_create(int32_t threads, clnet_pool **out);
int32_t clnet_pool_threads(const clnet_pool *p);
/* Runs fn(ctx, item, worker) for every item in [0, n), each exactly once, items
 * handed out in increasing order to whichever worker is free; worker is in
 * [0, threads). Returns when all have finished. One run at a time. */
void clnet_pool_run(clnet_pool *p, int32_t n, void (*fn)(void *ctx, int32_t item, int32_t worker), void *ctx);
/* Stops and joins the workers. NULL is fine. */
void clnet_pool_free(clnet_pool *p);

/* Online CPUs, at least 1. */
int32_t clnet_cpu_count(void);

#endif
