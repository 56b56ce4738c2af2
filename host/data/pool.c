/* Worker threads for one job at a time. See pool.h.
 *
 * A job is (fn, ctx, n) and a generation number; workers sleep on start_cv
 * until the generation changes, then take items from an atomic counter until
 * it passes n, and the last one to finish signals done_cv. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "data/pool.h"

typedef struct worker_arg {
  struct clnet_pool *pool;
  int32_t id;
} worker_arg;

struct clnet_pool {
  int32_t threads, started;
  pthread_t *tid;
  worker_arg *args;
  pthread_mutex_t mu;
  pthread_cond_t start_cv, done_cv;
  uint64_t gen;
  int quit;
  int32_t busy; /* helpers still in the current job */
  void (*fn)(void *, int32_t, int32_t);
  void *ctx;
  int32_t n;
  atomic_int next;
};

static void work(clnet_pool *p, int32_t id) {
  for (;;) {
    int32_t i = atomic_fetch_add(&p->next, 1);
    if (i >= p->n) break;
    p->fn(p->ctx, i, id);
  }
}

static void *worker_main(void *arg) {
  worker_arg *a = arg;
  clnet_pool *p = a->pool;
  uint64_t seen = 0;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->quit && p->gen == seen) pthread_cond_wait(&p->start_cv, &p->mu);
    if (p->quit) break;
    seen = p->gen;
    pthread_mutex_unlock(&p->mu);
    work(p, a->id);
    pthread_mutex_lock(&p->mu);
    if (--p->busy == 0) pthread_cond_signal(&p->done_cv);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

int32_t clnet_cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > 1024 ? 1024 : (int32_t)n;
}

clnet_status clnet_pool_create(int32_t threads, clnet_pool **out) {
  *out = NULL;
  if (threads < 1) threads = 1;
  clnet_pool *p = calloc(1, sizeof *p);
  if (!p) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "decoding threads: out of memory");
  p->threads = threads;
  p->tid = calloc((size_t)threads, sizeof *p->tid);
  p->args = calloc((size_t)threads, sizeof *p->args);
  if (!p->tid || !p->args || pthread_mutex_init(&p->mu, NULL) != 0) {
    free(p->tid);
    free(p->args);
    free(p);
    return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "decoding threads: out of memory");
  }
  pthread_cond_init(&p->start_cv, NULL);
  pthread_cond_init(&p->done_cv, NULL);
  atomic_init(&p->next, 0);
  for (int32_t i = 1; i < threads; i++) {
    p->args[i] = (worker_arg){p, i};
    int e = pthread_create(&p->tid[i], NULL, worker_main, &p->args[i]);
    if (e != 0) {
      clnet_pool_free(p);
      return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "cannot start decoding thread %d of %d: %s", (int)i + 1,
                             (int)threads, strerror(e));
    }
    p->started = i;
  }
  *out = p;
  return CLNET_SUCCESS;
}

int32_t clnet_pool_threads(const clnet_pool *p) { return p ? p->threads : 0; }

void clnet_pool_run(clnet_pool *p, int32_t n, void (*fn)(void *ctx, int32_t item, int32_t worker), void *ctx) {
  if (n <= 0) return;
  pthread_mutex_lock(&p->mu);
  p->fn = fn;
  p->ctx = ctx;
  p->n = n;
  atomic_store(&p->next, 0);
  p->busy = p->started;
  p->gen++;
  pthread_cond_broadcast(&p->start_cv);
  pthread_mutex_unlock(&p->mu);
  work(p, 0);
  pthread_mutex_lock(&p->mu);
  while (p->busy > 0) pthread_cond_wait(&p->done_cv, &p->mu);
  pthread_mutex_unlock(&p->mu);
}

void clnet_pool_free(clnet_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->quit = 1;
  pthread_cond_broadcast(&p->start_cv);
  pthread_mutex_unlock(&p->mu);
  for (int32_t i = 1; i <= p->started; i++) pthread_join(p->tid[i], NULL);
  pthread_cond_destroy(&p->start_cv);
  pthread_cond_destroy(&p->done_cv);
  pthread_mutex_destroy(&p->mu);
  free(p->tid);
  free(p->args);
  free(p);
}
