/* Program sources, build, and the two-level program cache.
 *
 * In memory: one cl_program per (ctx, file, options). On disk: the program
 * binary under $CLNET_CACHE_DIR (default $XDG_CACHE_HOME/clnet or
 * ~/.cache/clnet), keyed by a 128-bit hash of (format version, source, options,
 * device name, driver version, platform version). Entries are written to a
 * temp file, fsync'd and renamed, and carry a CRC so a torn or corrupt entry
 * is rebuilt from source instead of trusted. CLNET_NO_CACHE=1 turns the disk
 * cache off. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "io/atomic_file.h"
#include "io/fs.h"
#include "runtime/ctx.h"
#include "runtime/embedded.h"
#include "runtime/program_cache.h"

#define CACHE_MAGIC 0x424e4c43u /* "CLNB" */
#define CACHE_VERSION 1u

/* -cl-std follows the device's OpenCL C version: CL1.2 from 1.2 on (OpenCL 2.x and 3.0 devices
 * compile 1.2 code; clnet's kernels use nothing newer, and 3.0 devices need not support 2.0),
 * CL1.1 on a 1.1 device, nothing when the version cannot be read. Every kernel compiles as
 * OpenCL C 1.2 without fp64 or fp16 (tests: kernels_cl12). */
static const char *default_options(const clnet_ctx *ctx) {
  const int v = ctx->info.opencl_c_major * 10 + ctx->info.opencl_c_minor;
  /* CLNET_CPU_DEVICE: the kernels' barriers that only keep PoCL's work-item loops in step
   * (cl/batchnorm.cl, cl/pool.cl) */
  if (ctx->info.type & CL_DEVICE_TYPE_CPU)
    return v >= 12 ? "-cl-std=CL1.2 -DCLNET_CPU_DEVICE" : v == 11 ? "-cl-std=CL1.1 -DCLNET_CPU_DEVICE" : "-DCLNET_CPU_DEVICE";
  return v >= 12 ? "-cl-std=CL1.2" : v == 11 ? "-cl-std=CL1.1" : "";
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

clnet_status clnet_kernel_source(const char *name, const char **source, size_t *length,
                                 int32_t *owned) {
  *owned = 0;
  const char *dir = getenv("CLNET_KERNEL_DIR");
  if (dir && *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.cl", dir, name);
    FILE *f = NULL;
    clnet_status st = clnet_fopen_regular(path, &f); /* a FIFO or a directory is named, never read */
    if (st != CLNET_SUCCESS)
      return clnet_wrap_error(errno == ENOENT ? CLNET_ERR_KERNEL_NOT_FOUND : st, "kernel file (CLNET_KERNEL_DIR=%s)",
                              dir);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 && n < (1L << 30) ? malloc((size_t)n + 1) : NULL;
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
      free(buf);
      fclose(f);
      return clnet_set_error(CLNET_ERR_IO, "%s: cannot read kernel file", path);
    }
    fclose(f);
    buf[n] = '\0';
    *source = buf;
    *length = (size_t)n;
    *owned = 1;
    return CLNET_SUCCESS;
  }
  for (const clnet_embedded_source *e = clnet_embedded_sources; e->name; ++e)
    if (!strcmp(e->name, name)) {
      *source = e->source;
      *length = e->length;
      return CLNET_SUCCESS;
    }
  return clnet_set_error(CLNET_ERR_KERNEL_NOT_FOUND, "no kernel file cl/%s.cl is built into clnet", name);
}

/* Two independent FNV-1a-64 streams give a 128-bit key. */
typedef struct { uint64_t a, b; } hash128;
static void hash_bytes(hash128 *h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; ++i) {
    h->a = (h->a ^ p[i]) * 0x100000001b3ull;
    h->b = (h->b ^ p[i]) * 0x100000001b3ull;
    h->b ^= h->b >> 29;
  }
  unsigned char sep = 0xff; /* field separator */
  h->a = (h->a ^ sep) * 0x100000001b3ull;
  h->b = (h->b ^ sep) * 0x100000001b3ull;
}

int clnet_cache_dir(char *dst, size_t cap) {
  const char *off = getenv("CLNET_NO_CACHE");
  if (off && *off && strcmp(off, "0")) return 0;
  const char *d = getenv("CLNET_CACHE_DIR");
  if (d && *d) {
    snprintf(dst, cap, "%s", d);
  } else if ((d = getenv("XDG_CACHE_HOME")) && *d) {
    snprintf(dst, cap, "%s/clnet", d);
  } else if ((d = getenv("HOME")) && *d) {
    snprintf(dst, cap, "%s/.cache/clnet", d);
  } else {
    return 0;
  }
  return 1;
}

/* See program_cache.h. Returns a malloc'd binary or NULL (absent, unreadable
 * or corrupt: all mean rebuild). */
unsigned char *clnet_program_cache_load(const char *path, size_t *size) {
  const int fd = clnet_open_regular_fd(path, NULL); /* a FIFO or a directory: rebuild, never block */
  FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
  if (!f) {
    if (fd >= 0) close(fd);
    return NULL;
  }
  uint32_t hdr[2];
  uint64_t n = 0;
  unsigned char *bin = NULL;
  if (fread(hdr, sizeof hdr, 1, f) != 1 || hdr[0] != CACHE_MAGIC || hdr[1] != CACHE_VERSION ||
      fread(&n, sizeof n, 1, f) != 1 || n == 0 || n > (1ull << 30))
    goto bad;
  struct stat st; /* the entry is exactly header + n + CRC: check before allocating n */
  if (fstat(fileno(f), &st) != 0 || (uint64_t)st.st_size != 16 + n + 4) goto bad;
  bin = malloc((size_t)n);
  uint32_t crc = 0;
  if (!bin || fread(bin, 1, (size_t)n, f) != n || fread(&crc, sizeof crc, 1, f) != 1 ||
      crc != (uint32_t)crc32(0L, bin, (uInt)n) || fgetc(f) != EOF)
    goto bad;
  fclose(f);
  *size = (size_t)n;
  return bin;
bad:
  free(bin);
  fclose(f);
  return NULL;
}

/* program_cache.h. Best effort: a cache that cannot be written only costs a rebuild next time. */
void clnet_program_cache_store(const char *dir, const char *path, const unsigned char *bin, size_t n) {
  clnet_mkdir_p(dir);
  uint32_t hdr[2] = {CACHE_MAGIC, CACHE_VERSION};
  uint64_t n64 = n;
  uint32_t crc = (uint32_t)crc32(0L, bin, (uInt)n);
  clnet_atomic_file af;
  if (clnet_atomic_open(&af, path) != CLNET_SUCCESS) return;
  clnet_status st = clnet_atomic_write(&af, hdr, sizeof hdr);
  if (st == CLNET_SUCCESS) st = clnet_atomic_write(&af, &n64, sizeof n64);
  if (st == CLNET_SUCCESS) st = clnet_atomic_write(&af, bin, n);
  if (st == CLNET_SUCCESS) st = clnet_atomic_write(&af, &crc, sizeof crc);
  if (st == CLNET_SUCCESS) clnet_atomic_commit(&af);
  else clnet_atomic_abort(&af);
}

static clnet_status build_log_error(clnet_ctx *ctx, cl_program prog, const char *name, cl_int err) {
  size_t n = 0;
  clGetProgramBuildInfo(prog, ctx->info.device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n);
  char *log = malloc(n + 1);
  if (log) {
    log[0] = '\0';
    clGetProgramBuildInfo(prog, ctx->info.device, CL_PROGRAM_BUILD_LOG, n, log, NULL);
    log[n] = '\0';
  }
  clnet_status st = clnet_set_error(CLNET_ERR_BUILD, "cl/%s.cl failed to build on %s (%s):\n%s", name,
                                    ctx->info.name, clnet_status_str(err), log ? log : "(no log)");
  free(log);
  return st;
}

/* Whether clnet keeps this device's program binaries on disk. Not on Oclgrind (below), nor on
 * PoCL, which caches every build itself (~/.cache/pocl, keyed by source, options and device) and whose
 * clGetProgramInfo(CL_PROGRAM_BINARIES) first compiles a generic work-group function for every
 * kernel of the program, used or not: on a cold start of the default training run that was 87
 * extra kernel compilations, 31.7 s to the first step against 18.2 s without (measured with
 * CLNET_CONV_ALGO=direct; docs/PERFORMANCE.md, "Cold start"). CLNET_PROGRAM_BINARIES=1 stores
 * them anyway (the cache's tests), =0 never. */
static int store_binaries(const clnet_ctx *ctx) {
  const char *e = getenv("CLNET_PROGRAM_BINARIES");
  if (e && *e) return strcmp(e, "0") != 0;
  /* nor on Oclgrind: it is there to check the kernels, so it builds each one from its source, and
   * its reports name source lines */
  return strstr(ctx->info.platform_name, "Portable Computing Language") == NULL &&
         strstr(ctx->info.platform_name, "Oclgrind") == NULL;
}

static clnet_status build_program(clnet_ctx *ctx, const char *name, const char *options,
                                  cl_program *out) {
  const char *src = NULL;
  size_t len = 0;
  int32_t owned = 0;
  CLNET_TRY(clnet_kernel_source(name, &src, &len, &owned));

  char dir[4096], path[4400];
  int use_cache = store_binaries(ctx) && clnet_cache_dir(dir, sizeof dir);
  if (use_cache) {
    hash128 h = {0xcbf29ce484222325ull, 0x84222325cbf29ce4ull};
    uint32_t v = CACHE_VERSION;
    hash_bytes(&h, &v, sizeof v);
    hash_bytes(&h, src, len);
    hash_bytes(&h, options, strlen(options));
    /* the implementation (platform name and version: Oclgrind, PoCL, a vendor's driver), the
     * device and its driver: a binary is only ever loaded where it was built */
    hash_bytes(&h, ctx->info.platform_name, strlen(ctx->info.platform_name));
    hash_bytes(&h, ctx->info.platform_version, strlen(ctx->info.platform_version));
    hash_bytes(&h, ctx->info.vendor, strlen(ctx->info.vendor));
    hash_bytes(&h, ctx->info.name, strlen(ctx->info.name));
    hash_bytes(&h, ctx->info.driver_version, strlen(ctx->info.driver_version));
    hash_bytes(&h, ctx->info.opencl_c_version, strlen(ctx->info.opencl_c_version));
    snprintf(path, sizeof path, "%s/%s-%016llx%016llx.bin", dir, name, (unsigned long long)h.a,
             (unsigned long long)h.b);
  }

  cl_int err = CL_SUCCESS;
  cl_program prog = NULL;
  double t0 = now_seconds();
  if (use_cache) {
    size_t n = 0;
    unsigned char *bin = clnet_program_cache_load(path, &n);
    if (bin) {
      const unsigned char *bins[1] = {bin};
      cl_int bin_status = CL_SUCCESS;
      prog = clCreateProgramWithBinary(ctx->context, 1, &ctx->info.device, &n, bins, &bin_status, &err);
      free(bin);
      if (prog && err == CL_SUCCESS && bin_status == CL_SUCCESS &&
          clBuildProgram(prog, 1, &ctx->info.device, options, NULL, NULL) == CL_SUCCESS) {
        ctx->stats.programs_cached++;
        ctx->stats.build_seconds += now_seconds() - t0;
        if (owned) free((void *)src);
        *out = prog;
        return CLNET_SUCCESS;
      }
      if (prog) clReleaseProgram(prog); /* stale or foreign binary: rebuild from source */
      prog = NULL;
    }
  }
  prog = clCreateProgramWithSource(ctx->context, 1, &src, &len, &err);
  if (owned) free((void *)src);
  if (err != CL_SUCCESS)
    return clnet_set_error(err, "clCreateProgramWithSource(cl/%s.cl) failed: %s", name, clnet_status_str(err));
  err = clBuildProgram(prog, 1, &ctx->info.device, options, NULL, NULL);
  if (err != CL_SUCCESS) {
    clnet_status st = build_log_error(ctx, prog, name, err);
    clReleaseProgram(prog);
    return st;
  }
  ctx->stats.programs_built++;
  ctx->stats.build_seconds += now_seconds() - t0;
  if (use_cache) {
    size_t n = 0;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof n, &n, NULL) == CL_SUCCESS && n > 0) {
      unsigned char *bin = malloc(n);
      unsigned char *bins[1] = {bin};
      if (bin && clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS)
        clnet_program_cache_store(dir, path, bin, n);
      free(bin);
    }
  }
  *out = prog;
  return CLNET_SUCCESS;
}

clnet_status clnet_program_get(clnet_ctx *ctx, const char *name, const char *options,
                               cl_program *out) {
  if (!options) options = default_options(ctx);
  for (int32_t i = 0; i < ctx->n_programs; ++i)
    if (!strcmp(ctx->programs[i].name, name) && !strcmp(ctx->programs[i].options, options)) {
      *out = ctx->programs[i].program;
      return CLNET_SUCCESS;
    }
  if (ctx->n_programs == CLNET_MAX_PROGRAMS)
    return clnet_set_error(CLNET_ERR_TOO_LARGE, "too many distinct programs (%d)", CLNET_MAX_PROGRAMS);
  if (strlen(name) >= sizeof ctx->programs[0].name || strlen(options) >= sizeof ctx->programs[0].options)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "program name or options too long: %s", name);
  cl_program prog = NULL;
  CLNET_TRY(build_program(ctx, name, options, &prog));
  clnet_program_entry *e = &ctx->programs[ctx->n_programs++];
  snprintf(e->name, sizeof e->name, "%s", name);
  snprintf(e->options, sizeof e->options, "%s", options);
  e->program = prog;
  *out = prog;
  return CLNET_SUCCESS;
}

clnet_status clnet_kernel_get(clnet_ctx *ctx, const char *program, const char *kernel, cl_kernel *out) {
  for (int32_t i = 0; i < ctx->n_kernels; ++i)
    if (!strcmp(ctx->kernels[i].name, kernel) && !strcmp(ctx->kernels[i].program, program)) {
      *out = ctx->kernels[i].kernel;
      return CLNET_SUCCESS;
    }
  if (ctx->n_kernels == CLNET_MAX_KERNELS)
    return clnet_set_error(CLNET_ERR_TOO_LARGE, "too many distinct kernels (%d)", CLNET_MAX_KERNELS);
  cl_program prog = NULL;
  CLNET_TRY(clnet_program_get(ctx, program, NULL, &prog));
  cl_int err = CL_SUCCESS;
  cl_kernel k = clCreateKernel(prog, kernel, &err);
  if (err != CL_SUCCESS)
    return clnet_set_error(err == CL_INVALID_KERNEL_NAME ? CLNET_ERR_KERNEL_NOT_FOUND : err,
                           "cl/%s.cl has no kernel '%s' (%s)", program, kernel, clnet_status_str(err));
  size_t kwg = 0;
  cl_ulong klocal = 0;
  if (clGetKernelWorkGroupInfo(k, ctx->info.device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kwg, &kwg, NULL) != CL_SUCCESS)
    kwg = 0;
  if (clGetKernelWorkGroupInfo(k, ctx->info.device, CL_KERNEL_LOCAL_MEM_SIZE, sizeof klocal, &klocal, NULL) !=
      CL_SUCCESS)
    klocal = 0;
  clnet_kernel_entry *e = &ctx->kernels[ctx->n_kernels++];
  snprintf(e->program, sizeof e->program, "%s", program);
  snprintf(e->name, sizeof e->name, "%s", kernel);
  e->kernel = k;
  e->wg_limit = kwg && kwg < ctx->info.max_work_group_size ? kwg : ctx->info.max_work_group_size;
  if (e->wg_limit == 0) e->wg_limit = 1;
  e->static_local = klocal;
  *out = k;
  return CLNET_SUCCESS;
}

static const clnet_kernel_entry *kernel_entry(const clnet_ctx *ctx, cl_kernel k) {
  for (int32_t i = 0; i < ctx->n_kernels; ++i)
    if (ctx->kernels[i].kernel == k) return &ctx->kernels[i];
  return NULL;
}

clnet_status clnet_kernel_wg_limit(clnet_ctx *ctx, const char *program, const char *kernel, size_t *out) {
  cl_kernel k = NULL;
  CLNET_TRY(clnet_kernel_get(ctx, program, kernel, &k));
  *out = kernel_entry(ctx, k)->wg_limit;
  return CLNET_SUCCESS;
}

/* Fits a launch's local size to the device and the kernel (see clnet_launch in ctx.h). */
static clnet_status fit_local(const clnet_ctx *ctx, const clnet_kernel_entry *e, int32_t dims, const size_t *local,
                              int32_t nargs, const clnet_karg *args, size_t *fitted) {
  int has_local = 0;
  uint64_t local_bytes = e->static_local;
  for (int32_t i = 0; i < nargs; ++i)
    if (args[i].kind == CLNET_KARG_LOCAL) has_local = 1, local_bytes += args[i].v.local_bytes;
  size_t total = 1;
  int over = 0;
  for (int32_t d = 0; d < dims; ++d) {
    fitted[d] = local[d] ? local[d] : 1;
    total *= fitted[d];
    over |= fitted[d] > ctx->info.max_work_item_sizes[d];
  }
  if (local_bytes > ctx->info.local_mem_bytes)
    return clnet_set_error(CLNET_ERR_TOO_LARGE, "%s needs %llu bytes of local memory, %s has %llu", e->name,
                           (unsigned long long)local_bytes, ctx->info.name,
                           (unsigned long long)ctx->info.local_mem_bytes);
  if (total <= e->wg_limit && !over) return CLNET_SUCCESS;
  if (has_local)
    return clnet_set_error(CLNET_ERR_TOO_LARGE,
                           "%s needs work-groups of %zu work-items, %s allows %zu for it (its local memory is sized "
                           "by the group: the caller must choose the size with clnet_kernel_wg_limit)",
                           e->name, total, ctx->info.name, e->wg_limit);
  /* halve the largest dimension until the group fits: these kernels only use their global index */
  for (;;) {
    int32_t big = -1;
    total = 1;
    for (int32_t d = 0; d < dims; ++d) {
      if (fitted[d] > ctx->info.max_work_item_sizes[d]) big = d;
      total *= fitted[d];
    }
    if (big < 0 && total <= e->wg_limit) return CLNET_SUCCESS;
    if (big < 0)
      for (int32_t d = 0; d < dims; ++d)
        if (big < 0 || fitted[d] > fitted[big]) big = d;
    fitted[big] = (fitted[big] + 1) / 2;
  }
}

clnet_status clnet_launch(clnet_ctx *ctx, const char *program, const char *kernel, int32_t dims,
                          const size_t *global, const size_t *local, int32_t nargs,
                          const clnet_karg *args) {
  cl_kernel k = NULL;
  CLNET_TRY(clnet_kernel_get(ctx, program, kernel, &k));
  for (int32_t i = 0; i < nargs; ++i) {
    cl_int err = CL_SUCCESS;
    switch (args[i].kind) {
      case CLNET_KARG_MEM: err = clSetKernelArg(k, (cl_uint)i, sizeof(cl_mem), &args[i].v.mem); break;
      case CLNET_KARG_I32: err = clSetKernelArg(k, (cl_uint)i, sizeof(int32_t), &args[i].v.i32); break;
      case CLNET_KARG_F32: err = clSetKernelArg(k, (cl_uint)i, sizeof(float), &args[i].v.f32); break;
      case CLNET_KARG_LOCAL: err = clSetKernelArg(k, (cl_uint)i, args[i].v.local_bytes, NULL); break;
    }
    if (err != CL_SUCCESS)
      return clnet_set_error(err, "clSetKernelArg(%s, arg %d) failed: %s", kernel, i, clnet_status_str(err));
  }
  size_t g[3] = {1, 1, 1}, l[3] = {1, 1, 1};
  if (local) CLNET_TRY(fit_local(ctx, kernel_entry(ctx, k), dims, local, nargs, args, l));
  for (int32_t d = 0; d < dims; ++d) {
    g[d] = local ? clnet_round_up(global[d], l[d]) : global[d];
    if (g[d] == 0) return CLNET_SUCCESS; /* empty index space: nothing to do */
  }
  cl_event ev;
  cl_int err = clnet_fault_enqueue_now(ctx) ? CL_OUT_OF_RESOURCES
                                            : clEnqueueNDRangeKernel(ctx->queue, k, (cl_uint)dims, NULL, g, local ? l : NULL,
                                                                     0, NULL, clnet_profile_event(ctx, &ev));
  if (err != CL_SUCCESS)
    return clnet_set_error(err, "clEnqueueNDRangeKernel(%s) on %s failed: %s (global %zux%zux%zu, local %zux%zux%zu)%s",
                           kernel, ctx->info.name, clnet_status_str(err), g[0], g[1], g[2],
                           local ? l[0] : 0, local && dims > 1 ? l[1] : 1, local && dims > 2 ? l[2] : 1,
                           ctx->fault_enqueue_at && ctx->enqueues_seen == ctx->fault_enqueue_at ? " (injected fault)" : "");
  clnet_profile_record(ctx, kernel, NULL, ev);
  return CLNET_SUCCESS;
}
