/* Backend context: create/free, stats, finish. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ctx.h"

void clnet_ctx_inject_faults(clnet_ctx *ctx, int64_t alloc_n, int64_t enqueue_n) {
  ctx->fault_alloc_at = alloc_n > 0 ? alloc_n : 0;
  ctx->fault_enqueue_at = enqueue_n > 0 ? enqueue_n : 0;
  ctx->allocs_seen = ctx->enqueues_seen = 0;
}

int32_t clnet_fault_alloc_now(clnet_ctx *ctx) {
  return ctx->fault_alloc_at > 0 && ++ctx->allocs_seen == ctx->fault_alloc_at;
}

int32_t clnet_fault_enqueue_now(clnet_ctx *ctx) {
  return ctx->fault_enqueue_at > 0 && ++ctx->enqueues_seen == ctx->fault_enqueue_at;
}

/* A count from the environment (unset or empty: 0); anything but digits is an error naming it. */
static clnet_status env_count(const char *name, int64_t *out) {
  const char *v = getenv(name);
  *out = 0;
  if (!v || !*v) return CLNET_SUCCESS;
  char *end = NULL, vb[72];
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (v[0] < '0' || v[0] > '9' || *end || errno == ERANGE)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "environment variable %s = '%s': not a count (a number >= 0)",
                           name, clnet_printable(v, vb));
  *out = n;
  return CLNET_SUCCESS;
}

clnet_status clnet_runtime_ctx_create(const char *selector, clnet_ctx **out) {
  *out = NULL;
  clnet_device_info *devs = NULL;
  int32_t count = 0, index = -1, is_ref = 0;
  clnet_status st = CLNET_SUCCESS;
  int64_t fault_alloc = 0, fault_enqueue = 0; /* CLNET_FAULT_ALLOC / _ENQUEUE (docs/RELIABILITY.md) */
  CLNET_TRY(env_count("CLNET_FAULT_ALLOC", &fault_alloc));
  CLNET_TRY(env_count("CLNET_FAULT_ENQUEUE", &fault_enqueue));
  /* "ref" needs no OpenCL at all */
  const char *sel = selector && *selector ? selector : getenv("CLNET_DEVICE");
  if (!(sel && !strcmp(sel, "ref"))) CLNET_TRY(clnet_devices_list(&devs, &count));
  CLNET_TRY_GOTO(clnet_device_select(selector, devs, count, &index, &is_ref), st, fail);
  clnet_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "allocating the context");
    goto fail;
  }
  if (is_ref) {
    ctx->is_ref = 1;
    snprintf(ctx->info.name, sizeof ctx->info.name, "reference (CPU, plain C)");
    ctx->info.index = -1;
    ctx->info.mem_base_addr_align_bytes = 4;
    free(devs);
    clnet_ctx_inject_faults(ctx, fault_alloc, fault_enqueue);
    *out = ctx;
    return CLNET_SUCCESS;
  }
  ctx->info = devs[index];
  free(devs);
  devs = NULL;
  /* lowered limits for tests and `clnet check` (clnet_device_limits_apply) */
  const char *limits = getenv("CLNET_DEVICE_LIMITS");
  if (limits && *limits) {
    st = clnet_device_limits_apply(&ctx->info, limits);
    if (st != CLNET_SUCCESS) {
      free(ctx);
      return st;
    }
    snprintf(ctx->limits, sizeof ctx->limits, "%s", limits);
  }
  cl_int err = CL_SUCCESS;
  cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ctx->info.platform, 0};
  ctx->context = clCreateContext(props, 1, &ctx->info.device, NULL, NULL, &err);
  if (err != CL_SUCCESS) {
    st = clnet_set_error(err, "clCreateContext(%s) failed: %s", ctx->info.name, clnet_status_str(err));
    free(ctx);
    goto fail;
  }
  ctx->queue = clCreateCommandQueue(ctx->context, ctx->info.device, 0, &err);
  if (err != CL_SUCCESS) {
    st = clnet_set_error(err, "clCreateCommandQueue(%s) failed: %s", ctx->info.name, clnet_status_str(err));
    clReleaseContext(ctx->context);
    free(ctx);
    goto fail;
  }
  clnet_ctx_inject_faults(ctx, fault_alloc, fault_enqueue);
  ctx->init_tracking = clnet_init_tracking_default(&ctx->info);
  *out = ctx;
  return CLNET_SUCCESS;
fail:
  free(devs);
  return st;
}

void clnet_ctx_free(clnet_ctx *ctx) {
  if (!ctx) return;
  if (!ctx->is_ref && ctx->queue) clFinish(ctx->queue);
  clnet_profile_free(ctx);
  clnet_buf_free(ctx, &ctx->scratch);
  for (int32_t i = ctx->n_state - 1; i >= 0; --i)
    if (ctx->state[i].destroy) ctx->state[i].destroy(ctx->state[i].value);
  for (int32_t i = 0; i < ctx->n_kernels; ++i) clReleaseKernel(ctx->kernels[i].kernel);
  for (int32_t i = 0; i < ctx->n_programs; ++i) clReleaseProgram(ctx->programs[i].program);
  if (ctx->queue) clReleaseCommandQueue(ctx->queue);
  if (ctx->context) clReleaseContext(ctx->context);
  free(ctx);
}

void *clnet_ctx_state_get(const clnet_ctx *ctx, const clnet_ctx_state_key *key) {
  for (int32_t i = 0; i < ctx->n_state; ++i)
    if (ctx->state[i].key == key) return ctx->state[i].value;
  return NULL;
}

clnet_status clnet_ctx_state_set(clnet_ctx *ctx, const clnet_ctx_state_key *key, void *value,
                                 void (*destroy)(void *value)) {
  int32_t i = 0;
  while (i < ctx->n_state && ctx->state[i].key != key) ++i;
  if (i < ctx->n_state) { /* replaced or detached */
    clnet_ctx_state_slot old = ctx->state[i];
    for (; i + 1 < ctx->n_state; ++i) ctx->state[i] = ctx->state[i + 1];
    --ctx->n_state;
    if (old.destroy && old.value != value) old.destroy(old.value);
  }
  if (!value) return CLNET_SUCCESS;
  if (ctx->n_state == CLNET_CTX_STATE_SLOTS)
    return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "attaching %s to the context: all %d state slots are taken",
                           key->what, CLNET_CTX_STATE_SLOTS);
  ctx->state[ctx->n_state++] = (clnet_ctx_state_slot){.key = key, .value = value, .destroy = destroy};
  return CLNET_SUCCESS;
}

clnet_status clnet_ctx_state_obtain(clnet_ctx *ctx, const clnet_ctx_state_key *key, size_t bytes,
                                    void (*destroy)(void *value), void **out, int32_t *created) {
  *created = 0;
  *out = clnet_ctx_state_get(ctx, key);
  if (*out) return CLNET_SUCCESS;
  void *v = calloc(1, bytes);
  if (!v) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s (%zu bytes)", key->what, bytes);
  clnet_status st = clnet_ctx_state_set(ctx, key, v, destroy);
  if (st != CLNET_SUCCESS) {
    free(v);
    return st;
  }
  *out = v;
  *created = 1;
  return CLNET_SUCCESS;
}

int32_t clnet_ctx_is_ref(const clnet_ctx *ctx) { return ctx->is_ref; }
const char *clnet_ctx_device_name(const clnet_ctx *ctx) { return ctx->info.name; }
const clnet_device_info *clnet_ctx_device_info(const clnet_ctx *ctx) {
  return ctx->is_ref ? NULL : &ctx->info;
}
clnet_ctx_stats clnet_ctx_get_stats(const clnet_ctx *ctx) { return ctx->stats; }

clnet_status clnet_ctx_finish(clnet_ctx *ctx) {
  if (ctx->is_ref) return CLNET_SUCCESS;
  CLNET_CL_CHECK(clFinish(ctx->queue));
  clnet_profile_collect(ctx);
  return CLNET_SUCCESS;
}

int32_t clnet_ctx_kernel_count(const clnet_ctx *ctx) { return ctx->is_ref ? 0 : ctx->n_kernels; }

const char *clnet_ctx_kernel_name(const clnet_ctx *ctx, int32_t i, char *dst, size_t cap) {
  if (i < 0 || i >= clnet_ctx_kernel_count(ctx)) return NULL;
  snprintf(dst, cap, "%s/%s", ctx->kernels[i].program, ctx->kernels[i].name);
  return dst;
}
