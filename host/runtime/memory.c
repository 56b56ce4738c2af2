/* The one allocator: every device buffer clnet makes goes through here, so
 * limits are checked and usage is counted in one place. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ctx.h"

static void fmt_bytes(char *dst, size_t cap, uint64_t b) {
  if (b >= (1ull << 30)) snprintf(dst, cap, "%.2f GiB", (double)b / (double)(1ull << 30));
  else if (b >= (1ull << 20)) snprintf(dst, cap, "%.1f MiB", (double)b / (double)(1ull << 20));
  else snprintf(dst, cap, "%llu bytes", (unsigned long long)b);
}

/* ---- init tracking (ctx->init_tracking) ----
 * Oclgrind's --uninitialized keeps one shadow ("which bytes are initialised") per allocation slot,
 * and gets two things wrong (Uninitialized::hostMemoryStore -> ShadowMemory::allocate, Oclgrind
 * 21.10 to 26.03; docs/RELIABILITY.md, "Oclgrind"):
 * - every host store -- clEnqueueWriteBuffer, FillBuffer, CopyBuffer -- replaces the slot's shadow
 *   by a fresh one the size of that store, marked initialised only when the store starts at byte
 *   0: data written earlier, or at an offset (every sub-buffer view: the arenas, the check
 *   harness's guard zones), then reads as uninitialised -- a false report per element;
 * - a released buffer's shadow stays with its slot, and Oclgrind hands freed slots to new
 *   buffers: a new buffer inherits the old one's initialised bytes (hiding reads of memory never
 *   written) and its size (stores past it are not recorded, reads past it are reported).
 * Stores made by kernels are tracked byte by byte. So on such a device:
 * - a new buffer gets one host write of zeros over all of it (a fresh shadow of its size) and
 *   then mem_poison, whose copies from never-written local memory mark it uninitialised without a
 *   report, as a new buffer is (buffers under 16 bytes stay marked written: a smaller copy is a
 *   plain store, which Oclgrind would report);
 * - a write lands in a fresh staging buffer of exactly its size at offset 0 (the one host store
 *   that is marked right) and a kernel copies it into place; fills and copies are kernels. */

int32_t clnet_init_tracking_default(const clnet_device_info *info) {
  const char *e = getenv("CLNET_INIT_TRACKING");
  if (e && *e) return strcmp(e, "0") != 0;
  return strstr(info->platform_name, "Oclgrind") != NULL;
}

static clnet_status fits_int(size_t v, const char *what) {
  if (v > (size_t)INT32_MAX)
    return clnet_set_error(CLNET_ERR_TOO_LARGE, "%s of %zu does not fit a kernel store (stores by kernel)", what, v);
  return CLNET_SUCCESS;
}

#define POISON_BLOCK 16 /* bytes per mem_poison copy (cl/memory.cl) */

/* A fresh shadow over the whole of a new buffer, then (from POISON_BLOCK bytes) uninitialised. */
static clnet_status init_tracking_new(clnet_ctx *ctx, cl_mem mem, size_t bytes) {
  void *zeros = calloc(1, bytes);
  if (!zeros) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "zeroing a new %zu-byte buffer", bytes);
  cl_int err = clEnqueueWriteBuffer(ctx->queue, mem, CL_TRUE, 0, bytes, zeros, 0, NULL, NULL);
  free(zeros);
  if (err != CL_SUCCESS)
    return clnet_set_error(err, "clEnqueueWriteBuffer(new buffer, %zu bytes) failed: %s", bytes, clnet_status_str(err));
  if (bytes < POISON_BLOCK) return CLNET_SUCCESS;
  CLNET_TRY(fits_int(bytes, "buffer size"));
  const size_t n = bytes / POISON_BLOCK;
  const clnet_karg args[] = {{.kind = CLNET_KARG_MEM, .v.mem = mem}, CLNET_ARG_I32(bytes)};
  return clnet_launch(ctx, "memory", "mem_poison", 1, &n, NULL, 2, args);
}

/* dst[dst_off, +bytes) = src[src_off, +bytes) by a kernel: words when everything is 4-aligned. */
static clnet_status copy_by_kernel(clnet_ctx *ctx, cl_mem src, size_t src_off, cl_mem dst, size_t dst_off,
                                   size_t bytes) {
  const int words = src_off % 4 == 0 && dst_off % 4 == 0 && bytes % 4 == 0;
  const size_t unit = words ? 4 : 1, n = bytes / unit;
  CLNET_TRY(fits_int(src_off / unit + n, "copy source end"));
  CLNET_TRY(fits_int(dst_off / unit + n, "copy destination end"));
  const clnet_karg args[] = {{.kind = CLNET_KARG_MEM, .v.mem = src}, CLNET_ARG_I32(src_off / unit),
                             {.kind = CLNET_KARG_MEM, .v.mem = dst}, CLNET_ARG_I32(dst_off / unit), CLNET_ARG_I32(n)};
  return clnet_launch(ctx, "memory", words ? "mem_copy_words" : "mem_copy_bytes", 1, &n, NULL, 5, args);
}

static clnet_status write_by_kernel(clnet_ctx *ctx, clnet_buf *buf, size_t offset, size_t bytes, const void *src,
                                    cl_bool blocking) {
  cl_int err = CL_SUCCESS;
  cl_mem staging = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
  if (err != CL_SUCCESS)
    return clnet_set_error(err, "clCreateBuffer for a %zu-byte staging buffer on %s failed: %s", bytes,
                           ctx->info.name, clnet_status_str(err));
  clnet_status st = CLNET_SUCCESS;
  err = clEnqueueWriteBuffer(ctx->queue, staging, blocking, 0, bytes, src, 0, NULL, NULL);
  if (err != CL_SUCCESS)
    st = clnet_set_error(err, "clEnqueueWriteBuffer(staging, %zu bytes) failed: %s", bytes, clnet_status_str(err));
  if (st == CLNET_SUCCESS) st = copy_by_kernel(ctx, staging, 0, buf->mem, offset, bytes);
  if (st == CLNET_SUCCESS && blocking) {
    err = clFinish(ctx->queue);
    if (err != CL_SUCCESS) st = clnet_set_error(err, "clFinish after a write failed: %s", clnet_status_str(err));
    clnet_profile_collect(ctx);
  }
  clReleaseMemObject(staging); /* the queue keeps it until the copy has run */
  return st;
}

clnet_status clnet_buf_alloc(clnet_ctx *ctx, size_t bytes, const char *what, clnet_buf *out) {
  memset(out, 0, sizeof *out);
  if (bytes == 0) bytes = 4; /* keep every buffer valid as a kernel argument */
  char req[32], lim[32], used[32];
  fmt_bytes(req, sizeof req, bytes);
  if (clnet_fault_alloc_now(ctx)) {
    fmt_bytes(used, sizeof used, ctx->stats.bytes_in_use);
    return clnet_set_error(CL_MEM_OBJECT_ALLOCATION_FAILURE,
                           "allocation of '%s' (%s) on %s failed: CL_MEM_OBJECT_ALLOCATION_FAILURE "
                           "(injected fault, allocation #%lld; clnet already uses %s)",
                           what, req, ctx->info.name, (long long)ctx->fault_alloc_at, used);
  }
  if (ctx->is_ref) {
    out->host = calloc(1, bytes);
    if (!out->host)
      return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "cannot allocate %s for '%s' on the reference backend",
                             req, what);
  } else {
    if (bytes > ctx->info.max_alloc_bytes) {
      fmt_bytes(lim, sizeof lim, ctx->info.max_alloc_bytes);
      return clnet_set_error(CLNET_ERR_TOO_LARGE,
                             "cannot allocate '%s': %s requested, %s allows at most %s in one buffer",
                             what, req, ctx->info.name, lim);
    }
    if (ctx->stats.bytes_in_use + bytes > ctx->info.global_mem_bytes) {
      fmt_bytes(lim, sizeof lim, ctx->info.global_mem_bytes);
      fmt_bytes(used, sizeof used, ctx->stats.bytes_in_use);
      return clnet_set_error(CLNET_ERR_TOO_LARGE,
                             "cannot allocate '%s': %s requested, %s has %s of global memory and clnet already uses %s",
                             what, req, ctx->info.name, lim, used);
    }
    cl_int err = CL_SUCCESS;
    out->mem = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) {
      fmt_bytes(used, sizeof used, ctx->stats.bytes_in_use);
      return clnet_set_error(err, "clCreateBuffer for '%s' (%s) on %s failed: %s (clnet already uses %s)", what,
                             req, ctx->info.name, clnet_status_str(err), used);
    }
    if (ctx->init_tracking) {
      clnet_status st = init_tracking_new(ctx, out->mem, bytes);
      if (st != CLNET_SUCCESS) {
        clReleaseMemObject(out->mem);
        out->mem = NULL;
        return st;
      }
    }
  }
  out->bytes = bytes;
  out->owned = 1;
  ctx->stats.bytes_in_use += bytes;
  if (ctx->stats.bytes_in_use > ctx->stats.bytes_peak) ctx->stats.bytes_peak = ctx->stats.bytes_in_use;
  return CLNET_SUCCESS;
}

size_t clnet_buf_align(const clnet_ctx *ctx) {
  return ctx->is_ref ? 4 : ctx->info.mem_base_addr_align_bytes;
}

clnet_status clnet_buf_view(clnet_ctx *ctx, const clnet_buf *parent, size_t offset, size_t bytes,
                            clnet_buf *out) {
  memset(out, 0, sizeof *out);
  if (offset + bytes > parent->bytes || offset % clnet_buf_align(ctx))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "buffer view [%zu, %zu) does not fit a %zu-byte buffer or is not %zu-aligned", offset,
                           offset + bytes, parent->bytes, clnet_buf_align(ctx));
  if (ctx->is_ref) {
    out->host = (char *)parent->host + offset;
  } else {
    cl_buffer_region region = {offset, bytes};
    cl_int err = CL_SUCCESS;
    out->mem = clCreateSubBuffer(parent->mem, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &region, &err);
    if (err != CL_SUCCESS)
      return clnet_set_error(err, "clCreateSubBuffer(offset %zu, %zu bytes) failed: %s", offset, bytes,
                             clnet_status_str(err));
  }
  out->bytes = bytes;
  out->owned = 0;
  return CLNET_SUCCESS;
}

void clnet_buf_free(clnet_ctx *ctx, clnet_buf *buf) {
  if (!buf || (!buf->mem && !buf->host)) return;
  if (ctx->is_ref) {
    if (buf->owned) free(buf->host);
  } else {
    clReleaseMemObject(buf->mem); /* views hold their own reference */
  }
  if (buf->owned) ctx->stats.bytes_in_use -= buf->bytes;
  memset(buf, 0, sizeof *buf);
}

static clnet_status range_check(const clnet_buf *buf, size_t offset, size_t bytes, const char *what) {
  if (offset > buf->bytes || bytes > buf->bytes - offset)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s of [%zu, %zu) outside a %zu-byte buffer", what,
                           offset, offset + bytes, buf->bytes);
  return CLNET_SUCCESS;
}

/* A write, blocking or not. A blocking one has passed everything queued before it, so the
 * profile collects there. */
static clnet_status buf_write(clnet_ctx *ctx, clnet_buf *buf, size_t offset, size_t bytes, const void *src,
                              cl_bool blocking) {
  CLNET_TRY(range_check(buf, offset, bytes, "write"));
  if (bytes == 0) return CLNET_SUCCESS;
  if (ctx->is_ref) {
    memcpy((char *)buf->host + offset, src, bytes);
    return CLNET_SUCCESS;
  }
  if (ctx->init_tracking) return write_by_kernel(ctx, buf, offset, bytes, src, blocking);
  cl_event ev;
  CLNET_CL_CHECK(clEnqueueWriteBuffer(ctx->queue, buf->mem, blocking, offset, bytes, src, 0, NULL,
                                      clnet_profile_event(ctx, &ev)));
  clnet_profile_record(ctx, "write buffer", NULL, ev);
  if (blocking) clnet_profile_collect(ctx);
  return CLNET_SUCCESS;
}

clnet_status clnet_buf_write(clnet_ctx *ctx, clnet_buf *buf, size_t offset, size_t bytes, const void *src) {
  return buf_write(ctx, buf, offset, bytes, src, CL_TRUE);
}

clnet_status clnet_buf_write_async(clnet_ctx *ctx, clnet_buf *buf, size_t offset, size_t bytes, const void *src) {
  return buf_write(ctx, buf, offset, bytes, src, CL_FALSE);
}

/* A read: blocking when done is NULL, else non-blocking with its event in *done (NULL when there
 * was nothing to wait for: an empty read, or the reference, which has finished when it returns). */
static clnet_status buf_read(clnet_ctx *ctx, const clnet_buf *buf, size_t offset, size_t bytes, void *dst,
                             cl_event *done) {
  if (done) *done = NULL;
  CLNET_TRY(range_check(buf, offset, bytes, "read"));
  if (bytes == 0) return CLNET_SUCCESS;
  if (ctx->is_ref) {
    memcpy(dst, (const char *)buf->host + offset, bytes);
    return CLNET_SUCCESS;
  }
  if (done) {
    CLNET_CL_CHECK(clEnqueueReadBuffer(ctx->queue, buf->mem, CL_FALSE, offset, bytes, dst, 0, NULL, done));
    if (ctx->profiling && clRetainEvent(*done) == CL_SUCCESS) clnet_profile_record(ctx, "read buffer", NULL, *done);
    return CLNET_SUCCESS;
  }
  cl_event ev;
  CLNET_CL_CHECK(clEnqueueReadBuffer(ctx->queue, buf->mem, CL_TRUE, offset, bytes, dst, 0, NULL,
                                     clnet_profile_event(ctx, &ev)));
  clnet_profile_record(ctx, "read buffer", NULL, ev);
  clnet_profile_collect(ctx); /* a blocking read: the queue has passed everything before it */
  return CLNET_SUCCESS;
}

clnet_status clnet_buf_read(clnet_ctx *ctx, const clnet_buf *buf, size_t offset, size_t bytes, void *dst) {
  return buf_read(ctx, buf, offset, bytes, dst, NULL);
}

clnet_status clnet_buf_read_async(clnet_ctx *ctx, const clnet_buf *buf, size_t offset, size_t bytes, void *dst,
                                  cl_event *done) {
  return buf_read(ctx, buf, offset, bytes, dst, done);
}

clnet_status clnet_event_wait_release(cl_event *ev) {
  if (!*ev) return CLNET_SUCCESS;
  cl_int err = clWaitForEvents(1, ev);
  clReleaseEvent(*ev);
  *ev = NULL;
  if (err != CL_SUCCESS)
    return clnet_set_error(err, "waiting for a device-to-host copy failed: %s", clnet_status_str(err));
  return CLNET_SUCCESS;
}

clnet_status clnet_buf_fill(clnet_ctx *ctx, clnet_buf *buf, size_t offset, size_t bytes, uint32_t pattern) {
  CLNET_TRY(range_check(buf, offset, bytes, "fill"));
  if (offset % 4 || bytes % 4)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "fill offset %zu and size %zu must be multiples of 4",
                           offset, bytes);
  if (bytes == 0) return CLNET_SUCCESS;
  if (ctx->is_ref) {
    uint32_t *p = (uint32_t *)((char *)buf->host + offset);
    for (size_t i = 0; i < bytes / 4; ++i) p[i] = pattern;
    return CLNET_SUCCESS;
  }
  if (ctx->init_tracking) {
    int32_t p;
    memcpy(&p, &pattern, sizeof p);
    const size_t n = bytes / 4;
    CLNET_TRY(fits_int(offset / 4 + n, "fill end"));
    return CLNET_LAUNCH(ctx, "memory", "mem_fill_words", 1, &n, NULL, CLNET_ARG_BUF(buf), CLNET_ARG_I32(offset / 4),
                        CLNET_ARG_I32(n), CLNET_ARG_I32(p));
  }
  cl_event ev;
  CLNET_CL_CHECK(clEnqueueFillBuffer(ctx->queue, buf->mem, &pattern, sizeof pattern, offset, bytes, 0, NULL,
                                     clnet_profile_event(ctx, &ev)));
  clnet_profile_record(ctx, "fill buffer", NULL, ev);
  return CLNET_SUCCESS;
}

clnet_status clnet_buf_copy(clnet_ctx *ctx, const clnet_buf *src, size_t src_offset, clnet_buf *dst,
                            size_t dst_offset, size_t bytes) {
  CLNET_TRY(range_check(src, src_offset, bytes, "copy source"));
  CLNET_TRY(range_check(dst, dst_offset, bytes, "copy destination"));
  if (bytes == 0) return CLNET_SUCCESS;
  if (ctx->is_ref) {
    memmove((char *)dst->host + dst_offset, (const char *)src->host + src_offset, bytes);
    return CLNET_SUCCESS;
  }
  if (ctx->init_tracking) return copy_by_kernel(ctx, src->mem, src_offset, dst->mem, dst_offset, bytes);
  cl_event ev;
  CLNET_CL_CHECK(clEnqueueCopyBuffer(ctx->queue, src->mem, dst->mem, src_offset, dst_offset, bytes, 0, NULL,
                                     clnet_profile_event(ctx, &ev)));
  clnet_profile_record(ctx, "copy buffer", NULL, ev);
  return CLNET_SUCCESS;
}

clnet_status clnet_scratch_get(clnet_ctx *ctx, size_t bytes, clnet_buf *out) {
  if (ctx->scratch.bytes < bytes) {
    clnet_buf_free(ctx, &ctx->scratch);
    CLNET_TRY(clnet_buf_alloc(ctx, bytes, "scratch", &ctx->scratch));
  }
  *out = ctx->scratch;
  return CLNET_SUCCESS;
}
