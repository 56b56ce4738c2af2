/* OpenCL runtime: devices, selection, the context an op runs in, buffers.
 *
 * A clnet_ctx is one backend instance: either an OpenCL device (context +
 * in-order queue + program/kernel caches + allocator) or the CPU reference
 * (plain C on host memory). Every op takes a ctx and dispatches on it, so the
 * same graph runs on either. */
#ifndef CLNET_RUNTIME_H
#define CLNET_RUNTIME_H

#include <stddef.h>
#include <stdint.h>
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "clnet/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One OpenCL device as `clnet devices` lists it. */
typedef struct clnet_device_info {
  int32_t index;          /* global index over all platforms */
  int32_t platform_index; /* P in "P:D" */
  int32_t device_index;   /* D in "P:D" */
  char name[256];
  char vendor[256];
  char platform_name[256];
  char platform_version[256];
  char driver_version[256];
  char opencl_c_version[128];
  cl_device_type type;
  uint32_t compute_units;
  uint64_t global_mem_bytes;
  uint64_t max_alloc_bytes;
  uint64_t local_mem_bytes;
  size_t max_work_group_size;
  size_t max_work_item_sizes[3]; /* per dimension of a work-group */
  uint32_t mem_base_addr_align_bytes;
  int32_t opencl_c_major, opencl_c_minor; /* from opencl_c_version ("OpenCL C 1.2 ..."); 0.0 if unreadable */
  int32_t has_fp16, has_fp64;
  cl_platform_id platform;
  cl_device_id device;
} clnet_device_info;

/* Lowers the limits in *info as `spec` says: comma-separated key=value with keys wg (work-items
 * per work-group, also caps each dimension), local (bytes of local memory), alloc (bytes in one
 * buffer), global (bytes of global memory); values take a K, M or G suffix (powers of 1024).
 * A limit is only ever lowered. type=gpu makes the device report itself a GPU, so that a CPU
 * device runs the work-group shapes and builds (no CPU-only barriers) chosen for GPUs. "" does
 * nothing. Used for CLNET_DEVICE_LIMITS, which every
 * context applies at creation, so that tests and `clnet check` can run on a device as if it had
 * a small GPU's limits (docs/RELIABILITY.md, "Device limits"). */
clnet_status clnet_device_limits_apply(clnet_device_info *info, const char *spec);

/* Lists every device of every platform. *out is malloc'd (free with free());
 * *count may be 0. */
clnet_status clnet_devices_list(clnet_device_info **out, int32_t *count);

/* "GPU", "CPU", "ACCELERATOR" or "OTHER". */
const char *clnet_device_type_str(cl_device_type type);

/* Resolves a selector against the list: a global index ("0"), "P:D", a
 * case-insensitive substring of the device name, or "ref" (returns
 * *is_ref = 1). NULL or "" means: $CLNET_DEVICE if set, else the first GPU,
 * else the first device. No match -> CLNET_ERR_DEVICE_NOT_FOUND, several ->
 * CLNET_ERR_DEVICE_AMBIGUOUS (message lists the candidates). */
clnet_status clnet_device_select(const char *selector, const clnet_device_info *devices,
                                 int32_t count, int32_t *index, int32_t *is_ref);

typedef struct clnet_ctx clnet_ctx;

/* Backend counters, for reports and for showing that a warm run compiles nothing. */
typedef struct clnet_ctx_stats {
  int32_t programs_built;     /* compiled from source this process */
  int32_t programs_cached;    /* loaded from the on-disk binary cache */
  double build_seconds;       /* time spent in clBuildProgram */
  uint64_t bytes_in_use;      /* device bytes currently allocated via clnet */
  uint64_t bytes_peak;        /* high-water mark of bytes_in_use */
} clnet_ctx_stats;

/* Creates a backend from a selector (see clnet_device_select). "ref" gives the
 * CPU reference backend. */
clnet_status clnet_ctx_create(const char *selector, clnet_ctx **out);
void clnet_ctx_free(clnet_ctx *ctx);

int32_t clnet_ctx_is_ref(const clnet_ctx *ctx);
/* Device name ("reference (CPU, plain C)" for ref). */
const char *clnet_ctx_device_name(const clnet_ctx *ctx);
/* Info of the OpenCL device; NULL for ref. */
const clnet_device_info *clnet_ctx_device_info(const clnet_ctx *ctx);
clnet_ctx_stats clnet_ctx_get_stats(const clnet_ctx *ctx);
/* Waits for all enqueued work. */
clnet_status clnet_ctx_finish(clnet_ctx *ctx);
/* The OpenCL kernels this ctx has launched so far, as "program/kernel" (cl/<program>.cl), in
 * order of first launch; i < clnet_ctx_kernel_count. CLBlast's own kernels are not among them. */
int32_t clnet_ctx_kernel_count(const clnet_ctx *ctx);
const char *clnet_ctx_kernel_name(const clnet_ctx *ctx, int32_t i, char *dst, size_t cap);

/* Measures the device's FLOP/s (chains of float16 FMAs) and copy bandwidth
 * (read + write bytes per second) with cl/peak.cl; best of 3 after a warm-up. */
clnet_status clnet_device_peaks(clnet_ctx *ctx, double *gflops, double *gbytes_per_s);

/* Fault injection, for testing error paths: the `alloc_n`-th buffer
 * allocation and the `enqueue_n`-th kernel enqueue from now on fail (as
 * CL_MEM_OBJECT_ALLOCATION_FAILURE and CL_OUT_OF_RESOURCES, the message saying
 * "injected"); 0 disables either. The environment variables
 * CLNET_FAULT_ALLOC=N and CLNET_FAULT_ENQUEUE=N set them when a context is
 * created. Works on the reference backend too (allocations only). */
void clnet_ctx_inject_faults(clnet_ctx *ctx, int64_t alloc_n, int64_t enqueue_n);

/* A device (or, for ref, host) allocation. On OpenCL, `mem` is a buffer or a
 * sub-buffer; on ref, `host` points to the floats. `bytes` is its size. */
typedef struct clnet_buf {
  cl_mem mem;
  void *host;
  size_t bytes;
  int32_t owned; /* 1 if freeing it releases the memory */
} clnet_buf;

/* Allocates `bytes` through the one place that knows the device limits. `what`
 * names the buffer in error messages ("conv2d im2col scratch"). Content is
 * undefined on OpenCL, zero on ref. */
clnet_status clnet_buf_alloc(clnet_ctx *ctx, size_t bytes, const char *what, clnet_buf *out);
/* A view of bytes [offset, offset+bytes) of `parent`. On OpenCL, offset must
 * be a multiple of the device's base-address alignment (clnet_buf_align). */
clnet_status clnet_buf_view(clnet_ctx *ctx, const clnet_buf *parent, size_t offset, size_t bytes,
                            clnet_buf *out);
/* Alignment, in bytes, that views must respect (>= 4). */
size_t clnet_buf_align(const clnet_ctx *ctx);
void clnet_buf_free(clnet_ctx *ctx, clnet_buf *buf);
/* Blocking copies between host memory and a buffer. */
clnet_status clnet_buf_write(clnet_ctx *ctx, clnet_buf *buf, size_t offset, size_t bytes,
                             const void *src);
clnet_status clnet_buf_read(clnet_ctx *ctx, const clnet_buf *buf, size_t offset, size_t bytes,
                            void *dst);
/* Fills `bytes` from `offset` with a repeated 32-bit pattern (offset, bytes multiples of 4). */
clnet_status clnet_buf_fill(clnet_ctx *ctx, clnet_buf *buf, size_t offset, size_t bytes,
                            uint32_t pattern);
/* Device-to-device copy. */
clnet_status clnet_buf_copy(clnet_ctx *ctx, const clnet_buf *src, size_t src_offset, clnet_buf *dst,
                            size_t dst_offset, size_t bytes);

/* --- Profiling: where the device time goes (host/runtime/profile.c) ---------------------------
 *
 * Off by default, and then nothing below costs anything: the queue is created without
 * CL_QUEUE_PROFILING_ENABLE and no event is requested. While it is on, every command clnet
 * enqueues on ctx — each kernel (clnet_launch), each CLBlast GEMM, each buffer write, read,
 * fill and copy — is recorded under two labels:
 *   kernel  the OpenCL kernel's name; "CLBlastSgemm" for a GEMM (its time runs from a marker
 *           enqueued just before the call to the end of CLBlast's last kernel, so CLBlast's
 *           pad/transpose helpers are included, and so is CLBlast's host time before its first
 *           kernel when the queue was empty, e.g. its program load at its first call);
 *           "write buffer", "read buffer", "fill buffer", "copy buffer" for transfers;
 *   op      the label the caller set last with clnet_profile_op ("" when none). The graph sets
 *           one per layer and pass, named by kind and shape so layers of one shape add up, e.g.
 *           "conv2d 3x3/1 fwd 30x30x64->30x30x64 winograd" (convolutions append the algorithm
 *           they ran; a conv label without one is AUTO's one-time timing of the candidates).
 * Device time is CL_PROFILING_COMMAND_END - CL_PROFILING_COMMAND_START, summed per (op, kernel)
 * pair as commands complete: events are read and released at clnet_ctx_finish, after blocking
 * reads and writes, at clnet_profile_report, and when 1024 are pending (the host then waits
 * for the older half). Memory is bounded: at most 1024 events and 4096 (op, kernel) pairs;
 * pairs beyond that are counted under "(more than 4096 labels)".
 * The reference backend has no queue to time: enabling it there is CLNET_ERR_UNSUPPORTED. */

/* Turns profiling on (1) or off (0). Either way the queue is finished and re-created with or
 * without CL_QUEUE_PROFILING_ENABLE (nothing when it is already in that state). Turning it off
 * keeps what was recorded for clnet_profile_report. */
clnet_status clnet_ctx_set_profiling(clnet_ctx *ctx, int32_t on);
/* 1 while profiling is on. */
int32_t clnet_ctx_profiling(const clnet_ctx *ctx);
/* Sets the op label later commands are recorded under (printf-style, cut at 127 bytes); NULL
 * or "" clears it. Does nothing (and formats nothing) while profiling is off. */
void clnet_profile_op(clnet_ctx *ctx, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Forgets everything recorded so far (commands still pending are waited for and dropped). */
void clnet_profile_reset(clnet_ctx *ctx);

typedef enum clnet_profile_group {
  CLNET_PROFILE_BY_KERNEL = 0,    /* label: the kernel */
  CLNET_PROFILE_BY_OP = 1,        /* label: the op label ("(no op label)" for "") */
  CLNET_PROFILE_BY_OP_KERNEL = 2, /* label: "op | kernel" */
} clnet_profile_group;

typedef struct clnet_profile_row {
  char label[200];
  int64_t count; /* commands */
  double ms;     /* summed device time */
  double share;  /* ms / the total of all rows, in [0, 1] */
} clnet_profile_row;

/* Waits for the queue, then returns what was recorded since profiling was turned on (or since
 * the last clnet_profile_reset), grouped by `by`, sorted by time (longest first; ties by
 * label). *rows is malloc'd (free with free(); NULL when *n_rows is 0). total_ms (may be NULL)
 * receives the sum of all rows. A ctx that never profiled gives 0 rows. */
clnet_status clnet_profile_report(clnet_ctx *ctx, clnet_profile_group by, clnet_profile_row **rows,
                                  int32_t *n_rows, double *total_ms);

#ifdef __cplusplus
}
#endif
#endif
