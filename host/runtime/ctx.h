/* Internal: the backend context and the helpers ops use to launch kernels. */
#ifndef CLNET_RUNTIME_CTX_H
#define CLNET_RUNTIME_CTX_H

#include <stdint.h>

#include "clnet/runtime.h"
#include "core/error.h"

#define CLNET_MAX_PROGRAMS 32
#define CLNET_MAX_KERNELS 256

typedef struct clnet_program_entry {
  char name[64]; /* .cl file stem */
  char options[256];
  cl_program program;
} clnet_program_entry;

typedef struct clnet_kernel_entry {
  char program[64];
  char name[64];
  cl_kernel kernel;
  size_t wg_limit;      /* work-items per group: CL_KERNEL_WORK_GROUP_SIZE within the device's limit */
  uint64_t static_local; /* CL_KERNEL_LOCAL_MEM_SIZE: local memory the kernel declares itself */
} clnet_kernel_entry;

/* Attached state: what a higher part keeps per ctx (its choices, tables, callbacks). The runtime
 * knows nothing of it but the key and how to free it. A key is the address of an object its owner
 * defines once (static const clnet_ctx_state_key k = {"what"};), so keys never collide. */
typedef struct clnet_ctx_state_key {
  const char *what; /* in messages */
} clnet_ctx_state_key;

#define CLNET_CTX_STATE_SLOTS 8

typedef struct clnet_ctx_state_slot {
  const clnet_ctx_state_key *key;
  void *value;
  void (*destroy)(void *value); /* called by clnet_ctx_free (and when the value is replaced); may be NULL */
} clnet_ctx_state_slot;

struct clnet_ctx {
  int32_t is_ref;
  clnet_device_info info; /* zeroed for ref, name set */
  cl_context context;
  cl_command_queue queue;
  clnet_program_entry programs[CLNET_MAX_PROGRAMS];
  int32_t n_programs;
  clnet_kernel_entry kernels[CLNET_MAX_KERNELS];
  int32_t n_kernels;
  clnet_ctx_stats stats;
  /* scratch: one growable buffer ops may use between enqueues (e.g. im2col).
   * Only one op uses it at a time; the in-order queue serialises users. */
  clnet_buf scratch;
  /* state that higher parts keep per ctx (clnet_ctx_state_get / _set) */
  clnet_ctx_state_slot state[CLNET_CTX_STATE_SLOTS];
  int32_t n_state;
  /* fault injection (clnet_ctx_inject_faults): fail the Nth allocation /
   * kernel enqueue counted from the call; 0 = off */
  int64_t fault_alloc_at, fault_enqueue_at, allocs_seen, enqueues_seen;
  /* profiling (host/runtime/profile.c, clnet_ctx_set_profiling): NULL until first turned on;
   * kept after it is turned off so the report survives */
  struct clnet_profile *prof;
  int32_t profiling; /* 1 while on: the queue has CL_QUEUE_PROFILING_ENABLE and enqueues record */
  /* 1 on a device that checks reads of uninitialised memory (Oclgrind --uninitialized): host
   * writes, fills and copies are done by kernels (cl/memory.cl) and a new buffer starts out
   * uninitialised to the checker (host/runtime/memory.c, "init tracking") */
  int32_t init_tracking;
  /* CLNET_DEVICE_LIMITS as applied to info ("" when the device's own): part of the find-db's key */
  char limits[128];
};

/* clnet_ctx_create without what higher parts add to a new ctx (host/tune/ctx_create.c: this
 * device's CLBlast parameters): the device, context and queue, the fault injection and limits of
 * the environment. */
clnet_status clnet_runtime_ctx_create(const char *selector, clnet_ctx **out);

/* The value attached to ctx under key, or NULL. */
void *clnet_ctx_state_get(const clnet_ctx *ctx, const clnet_ctx_state_key *key);
/* Attaches value under key with its destructor, replacing (and destroying) what was there; value
 * NULL detaches. clnet_ctx_free destroys every value, the last attached first, before it releases
 * the ctx's OpenCL objects. Errors: CLNET_ERR_OUT_OF_HOST_MEMORY when all CLNET_CTX_STATE_SLOTS
 * are taken (value is not attached; the caller still owns it). */
clnet_status clnet_ctx_state_set(clnet_ctx *ctx, const clnet_ctx_state_key *key, void *value,
                                 void (*destroy)(void *value));
/* The value under key; when there is none, a zeroed block of `bytes` (malloc'd) attached with
 * destroy (which frees it), and *created = 1 so that the caller initialises it. Errors:
 * CLNET_ERR_OUT_OF_HOST_MEMORY. */
clnet_status clnet_ctx_state_obtain(clnet_ctx *ctx, const clnet_ctx_state_key *key, size_t bytes,
                                    void (*destroy)(void *value), void **out, int32_t *created);

/* 1 when this allocation / enqueue is the one to fail (counts every call). */
int32_t clnet_fault_alloc_now(clnet_ctx *ctx);
int32_t clnet_fault_enqueue_now(clnet_ctx *ctx);

/* Non-blocking copies for overlapping transfers with compute (data-parallel gradients).
 * read_async enqueues the copy into dst and returns its event in *done (NULL when the copy
 * has already happened, as on ref); dst must stay valid until the event completes.
 * write_async enqueues the copy; src must stay unchanged until the queue has passed it (the
 * in-order queue orders it before every later enqueue). */
clnet_status clnet_buf_read_async(clnet_ctx *ctx, const clnet_buf *buf, size_t offset, size_t bytes, void *dst,
                                  cl_event *done);
clnet_status clnet_buf_write_async(clnet_ctx *ctx, clnet_buf *buf, size_t offset, size_t bytes, const void *src);
/* Waits for *ev (NULL: nothing to wait for), releases it and sets it to NULL. */
clnet_status clnet_event_wait_release(cl_event *ev);

/* Profiling, for the few places that enqueue (clnet_launch, memory.c, gemm.c):
 *   cl_event ev;
 *   clEnqueue...(..., clnet_profile_event(ctx, &ev));
 *   clnet_profile_record(ctx, "read buffer", NULL, ev);
 * clnet_profile_event returns NULL (request no event) while profiling is off, and
 * clnet_profile_record then does nothing. record takes over the references to `start` (an
 * event whose end opens the interval instead of `end`'s start, as the marker before a CLBlast
 * call; may be NULL) and `end`. */
static inline cl_event *clnet_profile_event(clnet_ctx *ctx, cl_event *slot) {
  *slot = NULL;
  return ctx->profiling ? slot : NULL;
}
void clnet_profile_record(clnet_ctx *ctx, const char *kernel, cl_event start, cl_event end);
/* Reads and releases the recorded events that have completed (all of them after a clFinish or
 * a blocking transfer, which the in-order queue orders after everything before it). */
void clnet_profile_collect(clnet_ctx *ctx);
/* Appends " <detail>" to the current op label (a conv's algorithm); nothing when there is no
 * label or profiling is off. */
void clnet_profile_op_detail(clnet_ctx *ctx, const char *detail);
/* Drops the pending events and frees the state (clnet_ctx_free). */
void clnet_profile_free(clnet_ctx *ctx);

/* One kernel argument. Build with the CLNET_ARG_* macros. */
typedef struct clnet_karg {
  enum { CLNET_KARG_MEM, CLNET_KARG_I32, CLNET_KARG_F32, CLNET_KARG_LOCAL } kind;
  union {
    cl_mem mem;
    int32_t i32;
    float f32;
    size_t local_bytes;
  } v;
} clnet_karg;

#define CLNET_ARG_BUF(bufptr) ((clnet_karg){.kind = CLNET_KARG_MEM, .v.mem = (bufptr)->mem})
#define CLNET_ARG_I32(x) ((clnet_karg){.kind = CLNET_KARG_I32, .v.i32 = (int32_t)(x)})
#define CLNET_ARG_F32(x) ((clnet_karg){.kind = CLNET_KARG_F32, .v.f32 = (float)(x)})
#define CLNET_ARG_LOCAL(bytes) ((clnet_karg){.kind = CLNET_KARG_LOCAL, .v.local_bytes = (bytes)})

/* Enqueues kernel `kernel` of program `program` (cl/<program>.cl, built on
 * first use with the default options). global[] is rounded up to a multiple
 * of local[] when local is given; kernels bounds-check their index space.
 * Device limits: a local size over the kernel's work-group limit (clnet_kernel_wg_limit) or a
 * dimension over CL_DEVICE_MAX_WORK_ITEM_SIZES is halved, largest dimension first, until it fits
 * -- kernels without local-memory arguments only depend on their global index, so the result is
 * the same. A launch with local-memory arguments keeps its local size: if that does not fit, or
 * its local memory exceeds the device's, it fails with CLNET_ERR_TOO_LARGE and says so instead
 * of CL_INVALID_WORK_GROUP_SIZE / CL_OUT_OF_RESOURCES. */
clnet_status clnet_launch(clnet_ctx *ctx, const char *program, const char *kernel, int32_t dims,
                          const size_t *global, const size_t *local, int32_t nargs,
                          const clnet_karg *args);

#define CLNET_LAUNCH(ctx, program, kernel, dims, global, local, ...)                          \
  clnet_launch((ctx), (program), (kernel), (dims), (global), (local),                       \
               (int32_t)(sizeof((clnet_karg[]){__VA_ARGS__}) / sizeof(clnet_karg)),         \
               (clnet_karg[]){__VA_ARGS__})

/* The cl_program for cl/<name>.cl, built (or loaded from cache) on first use. */
clnet_status clnet_program_get(clnet_ctx *ctx, const char *name, const char *options,
                               cl_program *out);
/* The kernel object, cached per ctx. */
clnet_status clnet_kernel_get(clnet_ctx *ctx, const char *program, const char *kernel,
                              cl_kernel *out);
/* The most work-items one work-group of this kernel may have on ctx's device: the device's limit
 * (CL_DEVICE_MAX_WORK_GROUP_SIZE, or CLNET_DEVICE_LIMITS' wg) and the compiled kernel's
 * CL_KERNEL_WORK_GROUP_SIZE. For kernels whose work-group size is part of their contract (local
 * memory sized by it, one group doing the whole job): the caller picks a size that fits. */
clnet_status clnet_kernel_wg_limit(clnet_ctx *ctx, const char *program, const char *kernel, size_t *out);
/* Source text of cl/<name>.cl: from $CLNET_KERNEL_DIR if set, else embedded.
 * *owned is 1 when the caller must free(*source). */
clnet_status clnet_kernel_source(const char *name, const char **source, size_t *length,
                                 int32_t *owned);

/* Whether ctx->init_tracking is on for this device: on Oclgrind, or as CLNET_INIT_TRACKING says
 * (1 on, 0 off; lets the tests run the path on any device). */
int32_t clnet_init_tracking_default(const clnet_device_info *info);

/* Ensures ctx->scratch holds at least `bytes`; returns it in *out. */
clnet_status clnet_scratch_get(clnet_ctx *ctx, size_t bytes, clnet_buf *out);

static inline size_t clnet_round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

#endif
