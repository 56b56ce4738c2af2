/* Profiling: device time per (op label, kernel), from OpenCL events (clnet/runtime.h).
 *
 * While profiling is on, each enqueue passes an event (clnet_profile_event) and hands it to
 * clnet_profile_record, which resolves its (op, kernel) key at once and appends
 * {start event, end event, key} to a ring of at most PENDING entries. Completed entries are read
 * (CL_PROFILING_COMMAND_START/END), added to their key and released at sync points
 * (clnet_profile_collect) or when the ring is full (then the host waits for the older half).
 * Keys live in an array (keys[0] is the overflow key) found through an open-addressing hash of
 * "op \x1f kernel"; there are at most MAX_KEYS. So memory stays bounded however long a run is. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ctx.h"

#define PENDING 1024
#define MAX_KEYS 4096
#define SLOTS (2 * MAX_KEYS) /* power of two, load factor <= 1/2 */
#define OP_CHARS 128
#define KERNEL_CHARS 64
#define OVERFLOW_LABEL "(more than 4096 labels)"

typedef struct prof_key {
  char op[OP_CHARS];
  char kernel[KERNEL_CHARS];
  int64_t count;
  uint64_t ns;
} prof_key;

typedef struct prof_pending {
  cl_event start, end; /* start: NULL, or an event whose END opens the interval */
  int32_t key;
} prof_pending;

struct clnet_profile {
  char op[OP_CHARS]; /* current op label */
  prof_key *keys;    /* [n_keys]; keys[0]: the overflow key */
  int32_t n_keys, cap_keys;
  int32_t slots[SLOTS]; /* key index + 1; 0: empty */
  prof_pending ring[PENDING];
  int32_t head, n_pending;
};

static uint32_t label_hash(const char *op, const char *kernel) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (const char *p = op; *p; ++p) h = (h ^ (uint8_t)*p) * 16777619u;
  h = (h ^ 0x1fu) * 16777619u;
  for (const char *p = kernel; *p; ++p) h = (h ^ (uint8_t)*p) * 16777619u;
  return h;
}

/* Index of the (op, kernel) key, added if new; 0 (the overflow key) when full. */
static int32_t key_find(struct clnet_profile *p, const char *op, const char *kernel) {
  uint32_t s = label_hash(op, kernel) & (SLOTS - 1);
  for (;; s = (s + 1) & (SLOTS - 1)) {
    int32_t k = p->slots[s] - 1;
    if (k < 0) break;
    if (!strncmp(p->keys[k].op, op, OP_CHARS - 1) && !strncmp(p->keys[k].kernel, kernel, KERNEL_CHARS - 1)) return k;
  }
  if (p->n_keys == MAX_KEYS) return 0;
  if (p->n_keys == p->cap_keys) {
    int32_t cap = p->cap_keys * 2 > MAX_KEYS ? MAX_KEYS : p->cap_keys * 2;
    prof_key *k = realloc(p->keys, (size_t)cap * sizeof *k);
    if (!k) return 0;
    p->keys = k;
    p->cap_keys = cap;
  }
  prof_key *k = &p->keys[p->n_keys];
  memset(k, 0, sizeof *k);
  snprintf(k->op, sizeof k->op, "%s", op);
  snprintf(k->kernel, sizeof k->kernel, "%s", kernel);
  p->slots[s] = ++p->n_keys;
  return p->n_keys - 1;
}

static void keys_clear(struct clnet_profile *p) {
  memset(p->slots, 0, sizeof p->slots);
  p->n_keys = 1;
  memset(&p->keys[0], 0, sizeof p->keys[0]);
  snprintf(p->keys[0].op, sizeof p->keys[0].op, OVERFLOW_LABEL);
  snprintf(p->keys[0].kernel, sizeof p->keys[0].kernel, OVERFLOW_LABEL);
}

static struct clnet_profile *profile_new(void) {
  struct clnet_profile *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->cap_keys = 256;
  p->keys = malloc((size_t)p->cap_keys * sizeof *p->keys);
  if (!p->keys) {
    free(p);
    return NULL;
  }
  keys_clear(p);
  return p;
}

static cl_ulong event_time(cl_event ev, cl_profiling_info what, int32_t *ok) {
  cl_ulong t = 0;
  if (clGetEventProfilingInfo(ev, what, sizeof t, &t, NULL) != CL_SUCCESS) *ok = 0;
  return t;
}

/* Takes the oldest pending entry off the ring: adds its time to its key (when `keep`) and
 * releases its events. Times that cannot be read (a failed command) add nothing. */
static void pop_oldest(struct clnet_profile *p, int32_t keep) {
  prof_pending *e = &p->ring[p->head];
  if (keep) {
    int32_t ok = 1;
    cl_ulong t1 = event_time(e->end, CL_PROFILING_COMMAND_END, &ok);
    cl_ulong t0 = e->start ? event_time(e->start, CL_PROFILING_COMMAND_END, &ok)
                           : event_time(e->end, CL_PROFILING_COMMAND_START, &ok);
    prof_key *k = &p->keys[e->key];
    k->count++;
    if (ok && t1 > t0) k->ns += t1 - t0;
  }
  if (e->start) clReleaseEvent(e->start);
  clReleaseEvent(e->end);
  p->head = (p->head + 1) % PENDING;
  p->n_pending--;
}

static int32_t complete(cl_event ev) {
  cl_int status = CL_QUEUED;
  if (clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL) != CL_SUCCESS) return 1;
  return status == CL_COMPLETE || status < 0; /* < 0: the command failed, it will not run */
}

/* Pops entries: the first `wait_n` after waiting for them, then as long as they are complete. */
static void drain(struct clnet_profile *p, int32_t wait_n, int32_t keep) {
  for (int32_t i = 0; p->n_pending > 0; ++i) {
    prof_pending *e = &p->ring[p->head];
    if (i < wait_n) clWaitForEvents(1, &e->end); /* an error shows as a status < 0: nothing added */
    else if (!complete(e->end)) break;
    pop_oldest(p, keep);
  }
}

void clnet_profile_record(clnet_ctx *ctx, const char *kernel, cl_event start, cl_event end) {
  struct clnet_profile *p = ctx->prof;
  if (!end || !p || !ctx->profiling) {
    if (start) clReleaseEvent(start);
    if (end) clReleaseEvent(end);
    return;
  }
  if (p->n_pending == PENDING) {
    drain(p, 0, 1);
    if (p->n_pending == PENDING) drain(p, PENDING / 2, 1);
  }
  prof_pending *e = &p->ring[(p->head + p->n_pending) % PENDING];
  e->start = start;
  e->end = end;
  e->key = key_find(p, p->op, kernel);
  p->n_pending++;
}

void clnet_profile_collect(clnet_ctx *ctx) {
  if (ctx->prof) drain(ctx->prof, 0, 1);
}

void clnet_profile_free(clnet_ctx *ctx) {
  struct clnet_profile *p = ctx->prof;
  if (!p) return;
  drain(p, PENDING, 0);
  free(p->keys);
  free(p);
  ctx->prof = NULL;
  ctx->profiling = 0;
}

clnet_status clnet_ctx_set_profiling(clnet_ctx *ctx, int32_t on) {
  on = on != 0;
  if (ctx->is_ref) {
    if (!on) return CLNET_SUCCESS;
    return clnet_set_error(CLNET_ERR_UNSUPPORTED,
                           "profiling times OpenCL commands by their events; the reference backend "
                           "(--device ref) runs plain C on the host and has no queue to profile");
  }
  if (on == ctx->profiling) return CLNET_SUCCESS;
  if (on && !ctx->prof && !(ctx->prof = profile_new()))
    return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "allocating the profiling state");
  CLNET_CL_CHECK(clFinish(ctx->queue));
  cl_int err = CL_SUCCESS;
  cl_command_queue q =
      clCreateCommandQueue(ctx->context, ctx->info.device, on ? CL_QUEUE_PROFILING_ENABLE : 0, &err);
  if (err != CL_SUCCESS)
    return clnet_set_error(err, "clCreateCommandQueue(%s, %s) failed: %s", ctx->info.name,
                           on ? "CL_QUEUE_PROFILING_ENABLE" : "no profiling", clnet_status_str(err));
  drain(ctx->prof, PENDING, 1); /* turning off: the commands recorded while on count */
  clReleaseCommandQueue(ctx->queue);
  ctx->queue = q;
  ctx->profiling = on;
  return CLNET_SUCCESS;
}

int32_t clnet_ctx_profiling(const clnet_ctx *ctx) { return ctx->profiling; }

void clnet_profile_op(clnet_ctx *ctx, const char *fmt, ...) {
  if (!ctx->profiling) return;
  if (!fmt) {
    ctx->prof->op[0] = '\0';
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ctx->prof->op, sizeof ctx->prof->op, fmt, ap);
  va_end(ap);
}

void clnet_profile_op_detail(clnet_ctx *ctx, const char *detail) {
  if (!ctx->profiling || !ctx->prof->op[0]) return;
  size_t n = strlen(ctx->prof->op);
  snprintf(ctx->prof->op + n, sizeof ctx->prof->op - n, " %s", detail);
}

void clnet_profile_reset(clnet_ctx *ctx) {
  struct clnet_profile *p = ctx->prof;
  if (!p) return;
  drain(p, PENDING, 0);
  keys_clear(p);
}

/* Sorting rows: by label (grouping), then by time, longest first. */
static int by_label(const void *a, const void *b) {
  return strcmp(((const clnet_profile_row *)a)->label, ((const clnet_profile_row *)b)->label);
}
static int by_time(const void *a, const void *b) {
  const clnet_profile_row *x = a, *y = b;
  if (x->ms != y->ms) return x->ms < y->ms ? 1 : -1;
  return strcmp(x->label, y->label);
}

clnet_status clnet_profile_report(clnet_ctx *ctx, clnet_profile_group by, clnet_profile_row **rows,
                                  int32_t *n_rows, double *total_ms) {
  *rows = NULL;
  *n_rows = 0;
  if (total_ms) *total_ms = 0;
  if (by != CLNET_PROFILE_BY_KERNEL && by != CLNET_PROFILE_BY_OP && by != CLNET_PROFILE_BY_OP_KERNEL)
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_profile_report: grouping %d is not a clnet_profile_group",
                           (int)by);
  struct clnet_profile *p = ctx->prof;
  if (!p) return CLNET_SUCCESS;
  if (ctx->profiling) CLNET_CL_CHECK(clFinish(ctx->queue));
  drain(p, PENDING, 1);
  clnet_profile_row *r = calloc((size_t)p->n_keys, sizeof *r);
  if (!r) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "clnet_profile_report: %d rows", p->n_keys);
  int32_t n = 0;
  for (int32_t i = 0; i < p->n_keys; ++i) {
    const prof_key *k = &p->keys[i];
    if (!k->count) continue;
    const char *op = k->op[0] ? k->op : "(no op label)";
    if (by == CLNET_PROFILE_BY_KERNEL) snprintf(r[n].label, sizeof r[n].label, "%s", k->kernel);
    else if (by == CLNET_PROFILE_BY_OP || i == 0) snprintf(r[n].label, sizeof r[n].label, "%s", op);
    else snprintf(r[n].label, sizeof r[n].label, "%s | %s", op, k->kernel);
    r[n].count = k->count;
    r[n].ms = (double)k->ns * 1e-6;
    ++n;
  }
  /* group equal labels, then sort by time */
  qsort(r, (size_t)n, sizeof *r, by_label);
  int32_t m = 0;
  for (int32_t i = 0; i < n; ++i) {
    if (m > 0 && !strcmp(r[m - 1].label, r[i].label)) {
      r[m - 1].count += r[i].count;
      r[m - 1].ms += r[i].ms;
    } else {
      r[m++] = r[i];
    }
  }
  double total = 0;
  for (int32_t i = 0; i < m; ++i) total += r[i].ms;
  for (int32_t i = 0; i < m; ++i) r[i].share = total > 0 ? r[i].ms / total : 0;
  qsort(r, (size_t)m, sizeof *r, by_time);
  if (m == 0) {
    free(r);
    r = NULL;
  }
  *rows = r;
  *n_rows = m;
  if (total_ms) *total_ms = total;
  return CLNET_SUCCESS;
}
