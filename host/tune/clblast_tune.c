/* CLBlast tuning: the GEMM log, the per-device parameter file, applying it, and the tuning run.
 * See clblast_tune.h. */
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <clblast_c.h>

#include "io/atomic_file.h"
#include "io/fs.h"
#include "clnet/ops.h"
#include "tune/clblast_tune.h"
#include "runtime/ctx.h"

#define TUNE_MAGIC "clnet-clblast-tune 1"
#define TUNE_MAX_FILE_BYTES (64 * 1024)
#define TUNE_MAX_VALUE 65536 /* no CLBlast GEMM parameter comes near (largest: 256) */

/* ---- where the file lives ---------------------------------------------------------------------- */

static int env_on(const char *name) {
  const char *v = getenv(name);
  return v && *v && strcmp(v, "0") != 0;
}

int32_t clnet_tune_disabled(void) { return env_on("CLNET_NO_TUNE"); }

/* The program cache's directory rule (runtime/program.c). */
static int cache_dir(char *dst, size_t cap) {
  if (env_on("CLNET_NO_CACHE")) return 0;
  const char *d = getenv("CLNET_CACHE_DIR");
  int n;
  if (d && *d) n = snprintf(dst, cap, "%s", d);
  else if ((d = getenv("XDG_CACHE_HOME")) && *d) n = snprintf(dst, cap, "%s/clnet", d);
  else if ((d = getenv("HOME")) && *d) n = snprintf(dst, cap, "%s/.cache/clnet", d);
  else return 0;
  return n > 0 && (size_t)n < cap;
}

static uint64_t fnv1a(uint64_t h, const char *s) {
  for (; *s; ++s) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return (h ^ 0xffu) * 0x100000001b3ull; /* field separator */
}

int32_t clnet_tune_path(const clnet_device_info *dev, char *path, size_t cap) {
  char dir[4096];
  if (!cache_dir(dir, sizeof dir)) return 0;
  uint64_t h = 0xcbf29ce484222325ull;
  h = fnv1a(h, dev->name);
  h = fnv1a(h, dev->driver_version);
  h = fnv1a(h, dev->platform_version);
  int n = snprintf(path, cap, "%s/clblast-tune-%016llx.txt", dir, (unsigned long long)h);
  return n > 0 && (size_t)n < cap;
}

/* Device strings as stored: one line, control bytes as '?'. */
static void one_line(char *dst, size_t cap, const char *src) {
  size_t i = 0;
  for (; src[i] && i + 1 < cap; ++i) dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ? '?' : src[i];
  dst[i] = '\0';
}

/* ---- writing ----------------------------------------------------------------------------------- */

static int append(char *buf, size_t cap, size_t *len, const char *fmt, ...) CLNET_PRINTF(4, 5);
static int append(char *buf, size_t cap, size_t *len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= cap - *len) return 0;
  *len += (size_t)n;
  return 1;
}

clnet_status clnet_tune_save(const char *path, const clnet_tune_file *f) {
  char *buf = malloc(TUNE_MAX_FILE_BYTES);
  if (!buf) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: writing", path);
  size_t len = 0;
  char dev[256], plat[256], drv[256], work[256];
  one_line(dev, sizeof dev, f->device);
  one_line(plat, sizeof plat, f->platform);
  one_line(drv, sizeof drv, f->driver);
  one_line(work, sizeof work, f->workload);
  int ok = append(buf, TUNE_MAX_FILE_BYTES, &len,
                  "%s\ndevice %s\nplatform %s\ndriver %s\nworkload %s\ngflops %.3f %.3f\n", TUNE_MAGIC, dev, plat,
                  drv, work, f->workload_gflops_before, f->workload_gflops_after);
  for (int32_t i = 0; ok && i < f->n_kernels; ++i) {
    const clnet_tune_kernel *k = &f->kernels[i];
    ok = append(buf, TUNE_MAX_FILE_BYTES, &len, "kernel %s", k->name);
    for (size_t j = 0; ok && j < k->params.count; ++j)
      ok = append(buf, TUNE_MAX_FILE_BYTES, &len, " %s=%zu", k->params.names[j], k->params.values[j]);
    ok = ok && append(buf, TUNE_MAX_FILE_BYTES, &len, "\n");
  }
  uLong crc = crc32(0L, (const Bytef *)buf, (uInt)len);
  ok = ok && append(buf, TUNE_MAX_FILE_BYTES, &len, "crc32 %08lx\n", crc);
  if (!ok) {
    free(buf);
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "%s: parameter set too large to write", path);
  }
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash && slash != dir) {
    *slash = '\0';
    clnet_mkdir_p(dir);
  }
  clnet_atomic_file af;
  clnet_status st = clnet_atomic_open(&af, path);
  if (st == CLNET_SUCCESS) st = clnet_atomic_write(&af, buf, len);
  if (st == CLNET_SUCCESS) st = clnet_atomic_commit(&af);
  else if (af.fp) clnet_atomic_abort(&af);
  free(buf);
  return st;
}

/* ---- reading ----------------------------------------------------------------------------------- */

static clnet_status corrupt(const char *path, int line, const char *why) {
  return clnet_set_error(CLNET_ERR_FORMAT,
                         "%s: corrupt CLBlast parameter file (line %d: %s); delete it or rerun 'clnet tune' "
                         "(CLNET_NO_TUNE=1 ignores it)",
                         path, line, why);
}

/* "key rest-of-line": copies rest into dst (cap); 0 when the key does not match or it is too long. */
static int keyed(const char *line, const char *key, char *dst, size_t cap) {
  size_t n = strlen(key);
  if (strncmp(line, key, n) != 0 || line[n] != ' ') return 0;
  const char *v = line + n + 1;
  if (strlen(v) >= cap) return 0;
  memcpy(dst, v, strlen(v) + 1);
  return 1;
}

static int valid_param_name(const char *s, size_t n) {
  if (n == 0 || n >= sizeof ((clnet_clblast_params *)0)->names[0]) return 0;
  for (size_t i = 0; i < n; ++i)
    if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_')) return 0;
  return 1;
}

static int parse_kernel(char *rest, clnet_tune_kernel *k, const char **why) {
  char *save = NULL, *tok = strtok_r(rest, " ", &save);
  if (!tok || (strcmp(tok, "Xgemm") && strcmp(tok, "XgemmDirect") && strcmp(tok, "GemmRoutine"))) {
    *why = "kernel must be Xgemm, XgemmDirect or GemmRoutine";
    return 0;
  }
  snprintf(k->name, sizeof k->name, "%s", tok);
  k->params.count = 0;
  while ((tok = strtok_r(NULL, " ", &save))) {
    char *eq = strchr(tok, '=');
    if (!eq || !valid_param_name(tok, (size_t)(eq - tok))) {
      *why = "parameter is not NAME=VALUE";
      return 0;
    }
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(eq + 1, &end, 10);
    if (errno || end == eq + 1 || *end || eq[1] == '-' || v > TUNE_MAX_VALUE) {
      *why = "parameter value is not an integer in 0..65536";
      return 0;
    }
    if (k->params.count >= CLNET_CLBLAST_MAX_PARAMS) {
      *why = "too many parameters";
      return 0;
    }
    for (size_t j = 0; j < k->params.count; ++j)
      if (!strncmp(k->params.names[j], tok, (size_t)(eq - tok)) && k->params.names[j][eq - tok] == '\0') {
        *why = "parameter repeated";
        return 0;
      }
    memcpy(k->params.names[k->params.count], tok, (size_t)(eq - tok));
    k->params.names[k->params.count][eq - tok] = '\0';
    k->params.values[k->params.count++] = v;
  }
  if (k->params.count == 0) {
    *why = "kernel without parameters";
    return 0;
  }
  return 1;
}

clnet_status clnet_tune_load(const char *path, clnet_tune_file *out) {
  memset(out, 0, sizeof *out);
  FILE *fp = NULL;
  CLNET_TRY(clnet_fopen_regular(path, &fp)); /* a FIFO or a directory is named, never read; errno kept */
  char *buf = malloc(TUNE_MAX_FILE_BYTES + 1);
  size_t len = buf ? fread(buf, 1, TUNE_MAX_FILE_BYTES + 1, fp) : 0;
  int rerr = ferror(fp);
  fclose(fp);
  if (!buf) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: reading", path);
  clnet_status st = CLNET_SUCCESS;
  if (rerr) {
    st = clnet_set_error(CLNET_ERR_IO, "%s: read error", path);
    goto done;
  }
  if (len > TUNE_MAX_FILE_BYTES) {
    st = corrupt(path, 0, "larger than 64 KiB");
    goto done;
  }
  buf[len] = '\0';
  if (memchr(buf, '\0', len)) {
    st = corrupt(path, 0, "contains a NUL byte");
    goto done;
  }
  /* the last line is "crc32 XXXXXXXX" over every byte before it */
  if (len < 2 || buf[len - 1] != '\n') {
    st = corrupt(path, 0, "truncated: no final newline");
    goto done;
  }
  buf[len - 1] = '\0';
  char *last = strrchr(buf, '\n');
  size_t body = last ? (size_t)(last - buf) + 1 : 0;
  unsigned long want = 0;
  char *end = NULL;
  if (!last || strncmp(last + 1, "crc32 ", 6) || strlen(last + 7) != 8 ||
      (want = strtoul(last + 7, &end, 16), *end)) {
    st = corrupt(path, 0, "no crc32 line at the end");
    goto done;
  }
  if (want != crc32(0L, (const Bytef *)buf, (uInt)body)) {
    st = corrupt(path, 0, "crc32 does not match the content");
    goto done;
  }
  *last = '\0';
  int line_no = 0;
  char *save = NULL;
  const char *why = NULL;
  for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    ++line_no;
    switch (line_no) {
      case 1:
        if (strcmp(line, TUNE_MAGIC)) why = "first line is not '" TUNE_MAGIC "'";
        break;
      case 2:
        if (!keyed(line, "device", out->device, sizeof out->device)) why = "expected 'device NAME'";
        break;
      case 3:
        if (!keyed(line, "platform", out->platform, sizeof out->platform)) why = "expected 'platform VERSION'";
        break;
      case 4:
        if (!keyed(line, "driver", out->driver, sizeof out->driver)) why = "expected 'driver VERSION'";
        break;
      case 5:
        if (!keyed(line, "workload", out->workload, sizeof out->workload)) why = "expected 'workload TEXT'";
        break;
      case 6: {
        char rest[64], tail = 0;
        if (!keyed(line, "gflops", rest, sizeof rest) ||
            sscanf(rest, "%lf %lf %c", &out->workload_gflops_before, &out->workload_gflops_after, &tail) != 2 ||
            !(out->workload_gflops_before >= 0) || !(out->workload_gflops_after >= 0) ||
            out->workload_gflops_before > 1e9 || out->workload_gflops_after > 1e9)
          why = "expected 'gflops BEFORE AFTER'";
        break;
      }
      default: {
        char rest[1024];
        if (out->n_kernels >= CLNET_TUNE_MAX_KERNELS) {
          why = "more than three kernel lines";
        } else if (!keyed(line, "kernel", rest, sizeof rest)) {
          why = "expected 'kernel NAME P=V ...'";
        } else if (parse_kernel(rest, &out->kernels[out->n_kernels], &why)) {
          for (int32_t i = 0; i < out->n_kernels && !why; ++i)
            if (!strcmp(out->kernels[i].name, out->kernels[out->n_kernels].name)) why = "kernel repeated";
          ++out->n_kernels;
        }
      }
    }
    if (why) {
      st = corrupt(path, line_no, why);
      goto done;
    }
  }
  if (line_no < 6) st = corrupt(path, line_no, "header incomplete");
done:
  free(buf);
  if (st != CLNET_SUCCESS) memset(out, 0, sizeof *out);
  return st;
}

/* ---- applying ---------------------------------------------------------------------------------- */

static clnet_status override(const clnet_device_info *dev, const char *kernel, const clnet_clblast_params *p,
                             const char *source) {
  const char *names[CLNET_CLBLAST_MAX_PARAMS];
  for (size_t i = 0; i < p->count; ++i) names[i] = p->names[i];
  CLBlastStatusCode s =
      CLBlastOverrideParameters(dev->device, kernel, CLBlastPrecisionSingle, p->count, names, p->values);
  if (s != CLBlastSuccess)
    return clnet_set_error(CLNET_ERR_CLBLAST, "%s: CLBlastOverrideParameters(%s) on %s failed (%d)%s", source,
                           kernel, dev->name, (int)s,
                           s == CLBlastMissingOverrideParameter ? ": a parameter CLBlast needs is missing" : "");
  return CLNET_SUCCESS;
}

clnet_status clnet_tune_apply_file(const clnet_device_info *dev, const clnet_tune_file *f, const char *path) {
  char name[256], plat[256], drv[256];
  one_line(name, sizeof name, dev->name);
  one_line(plat, sizeof plat, dev->platform_version);
  one_line(drv, sizeof drv, dev->driver_version);
  if (strcmp(f->device, name) || strcmp(f->platform, plat) || strcmp(f->driver, drv)) {
    char a[72], b[72];
    return clnet_set_error(CLNET_ERR_MISMATCH,
                           "%s: CLBlast parameters for '%s' (driver %s), not for this device '%s' (driver %s); "
                           "delete it or rerun 'clnet tune'",
                           path, clnet_printable(f->device, a), f->driver, clnet_printable(name, b), drv);
  }
  for (int32_t i = 0; i < f->n_kernels; ++i)
    CLNET_TRY(override(dev, f->kernels[i].name, &f->kernels[i].params, path));
  return CLNET_SUCCESS;
}

/* the path of the parameter file applied at creation, attached to the ctx (malloc'd) */
static const clnet_ctx_state_key applied_key = {"the applied CLBlast parameter file"};

clnet_status clnet_tune_apply_for_ctx(clnet_ctx *ctx) {
  CLNET_TRY(clnet_ctx_state_set(ctx, &applied_key, NULL, NULL));
  if (ctx->is_ref || clnet_tune_disabled()) return CLNET_SUCCESS;
  char path[512];
  if (!clnet_tune_path(&ctx->info, path, sizeof path)) return CLNET_SUCCESS;
  clnet_tune_file f;
  clnet_status st = clnet_tune_load(path, &f);
  if (st == CLNET_ERR_IO && (errno == ENOENT || errno == ENOTDIR)) {
    clnet_clear_error();
    return CLNET_SUCCESS; /* never tuned, or no usable cache directory: CLBlast's defaults */
  }
  CLNET_TRY(st);
  CLNET_TRY(clnet_tune_apply_file(&ctx->info, &f, path));
  char *kept = malloc(strlen(path) + 1);
  if (!kept) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "CLBlast parameters: the file's path");
  strcpy(kept, path);
  st = clnet_ctx_state_set(ctx, &applied_key, kept, free);
  if (st != CLNET_SUCCESS) free(kept);
  return st;
}

const char *clnet_tune_applied(const clnet_ctx *ctx) { return clnet_ctx_state_get(ctx, &applied_key); }

clnet_status clnet_tune_current(const clnet_ctx *ctx, const char *kernel, clnet_clblast_params *out) {
  if (ctx->is_ref) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "CLBlast parameters: the reference has none");
  int s = clnet_clblast_retrieve(ctx->info.device, kernel, out);
  if (s != 0)
    return clnet_set_error(CLNET_ERR_CLBLAST, "clblast::RetrieveParameters(%s) on %s failed (%d)", kernel,
                           ctx->info.name, s);
  return CLNET_SUCCESS;
}

/* ---- tuning ------------------------------------------------------------------------------------ */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct tune_bufs {
  clnet_buf a, b, c;
} tune_bufs;

static clnet_status run_shape(clnet_ctx *ctx, const clnet_gemm_shape *s, tune_bufs *bf) {
  int32_t lda = s->trans_a ? s->m : s->k, ldb = s->trans_b ? s->k : s->n;
  return clnet_gemm(ctx, s->trans_a, s->trans_b, s->m, s->n, s->k, 1.0f, &bf->a, 0, lda, &bf->b, 0, ldb, 0.0f,
                    &bf->c, 0, s->n);
}

/* Seconds of the whole workload (sum over shapes of calls x best time per call); per-shape times
 * into t[]. Each shape runs once untimed first (the first call after an override compiles). Stops
 * early with *total = HUGE_VAL once the sum passes `limit` (a candidate already lost; a bad tile
 * configuration can be 10x slower on shapes it was not tuned for). */
static clnet_status time_workload(clnet_ctx *ctx, const clnet_gemm_log *log, tune_bufs *bf, int32_t repeat,
                                  double limit, double *t, double *total) {
  *total = 0;
  for (int32_t i = 0; i < log->count; ++i) {
    if (*total > limit) {
      *total = HUGE_VAL;
      return CLNET_SUCCESS;
    }
    CLNET_TRY(run_shape(ctx, &log->shapes[i], bf));
    CLNET_TRY(clnet_ctx_finish(ctx));
    double best = 1e30;
    for (int32_t r = 0; r < repeat; ++r) {
      double t0 = now_s();
      CLNET_TRY(run_shape(ctx, &log->shapes[i], bf));
      CLNET_TRY(clnet_ctx_finish(ctx));
      double dt = now_s() - t0;
      if (dt < best) best = dt;
    }
    t[i] = best;
    *total += best * log->shapes[i].calls;
  }
  return CLNET_SUCCESS;
}

int clnet_tune_shape_here(void *user, clnet_ctx *ctx, int direct, size_t m, size_t n, size_t k, double fraction,
                          clnet_clblast_params *out) {
  (void)user;
  return clnet_clblast_tune_run(ctx->queue, direct, m, n, k, fraction, out);
}

clnet_status clnet_tune_time_workload(void *user, clnet_ctx *ctx, const clnet_gemm_log *log, int32_t repeat,
                                      double limit, const clnet_tune_kernel *overrides, int32_t n_overrides,
                                      double *t, double *total) {
  (void)user;
  for (int32_t i = 0; i < n_overrides; ++i)
    CLNET_TRY(override(&ctx->info, overrides[i].name, &overrides[i].params, "clnet tune"));
  size_t na = 1, nb = 1, nc = 1;
  for (int32_t i = 0; i < log->count; ++i) {
    const clnet_gemm_shape *s = &log->shapes[i];
    if ((size_t)s->m * s->k > na) na = (size_t)s->m * s->k;
    if ((size_t)s->k * s->n > nb) nb = (size_t)s->k * s->n;
    if ((size_t)s->m * s->n > nc) nc = (size_t)s->m * s->n;
  }
  tune_bufs bf;
  memset(&bf, 0, sizeof bf);
  clnet_status st = CLNET_SUCCESS;
  CLNET_TRY_GOTO(clnet_buf_alloc(ctx, na * 4, "tune A", &bf.a), st, done);
  CLNET_TRY_GOTO(clnet_buf_alloc(ctx, nb * 4, "tune B", &bf.b), st, done);
  CLNET_TRY_GOTO(clnet_buf_alloc(ctx, nc * 4, "tune C", &bf.c), st, done);
  CLNET_TRY_GOTO(clnet_buf_fill(ctx, &bf.a, 0, bf.a.bytes, 0x3c23d70au), st, done); /* 0.01f */
  CLNET_TRY_GOTO(clnet_buf_fill(ctx, &bf.b, 0, bf.b.bytes, 0x3c23d70au), st, done);
  st = time_workload(ctx, log, &bf, repeat, limit, t, total);
done:
  clnet_buf_free(ctx, &bf.a);
  clnet_buf_free(ctx, &bf.b);
  clnet_buf_free(ctx, &bf.c);
  return st;
}

static double shape_volume(const clnet_gemm_shape *s) { return (double)s->m * s->n * s->k; }

static size_t round_up(size_t v, size_t m) { return (v + m - 1) / m * m; }

static int same_params(const clnet_clblast_params *a, const clnet_clblast_params *b) {
  if (a->count != b->count) return 0;
  for (size_t i = 0; i < a->count; ++i)
    if (strcmp(a->names[i], b->names[i]) || a->values[i] != b->values[i]) return 0;
  return 1;
}

typedef struct tune_job {
  clnet_ctx *ctx;
  const clnet_gemm_log *log;
  const clnet_tune_options *opt;
  clnet_tune_progress_fn progress;
  void *user;
  tune_bufs *bf;
  double *scratch_t;
  double min_indirect_volume; /* m*n*k at and above which CLBlast uses Xgemm */
  double limit;               /* evaluations stop past this many seconds */
  clnet_tune_kernel kept[CLNET_TUNE_MAX_KERNELS + 1]; /* choices so far (+ the candidate) */
  int32_t n_kept;
} tune_job;

static void say(const tune_job *j, const char *stage, int32_t i, int32_t n, const char *fmt, ...)
    CLNET_PRINTF(5, 6);
static void say(const tune_job *j, const char *stage, int32_t i, int32_t n, const char *fmt, ...) {
  if (!j->progress) return;
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  j->progress(j->user, stage, i, n, line);
}

/* The workload with the choices so far plus `cand`, through the evaluation callback. A failure
 * (e.g. the child evaluating it crashed) is reported and counts as "slower". */
static double evaluate(tune_job *j, const clnet_tune_kernel *cand, const char *what) {
  int32_t n = 0;
  clnet_tune_kernel list[CLNET_TUNE_MAX_KERNELS + 1];
  for (int32_t i = 0; i < j->n_kept; ++i)
    if (strcmp(j->kept[i].name, cand->name)) list[n++] = j->kept[i];
  list[n++] = *cand;
  double total = HUGE_VAL;
  clnet_tune_eval_fn fn = j->opt->evaluate ? j->opt->evaluate : clnet_tune_time_workload;
  clnet_status st = fn(j->opt->evaluate_user, j->ctx, j->log, j->opt->repeat, j->limit, list, n, j->scratch_t, &total);
  if (st != CLNET_SUCCESS) {
    say(j, "evaluate", 1, 1, "%s: failed (%s); discarded", what, clnet_last_error());
    clnet_clear_error();
    return HUGE_VAL;
  }
  return total;
}

/* Records a choice for later evaluations. */
static void keep(tune_job *j, const clnet_tune_kernel *k) {
  for (int32_t i = 0; i < j->n_kept; ++i)
    if (!strcmp(j->kept[i].name, k->name)) {
      j->kept[i] = *k;
      return;
    }
  j->kept[j->n_kept++] = *k;
}


/* Tunes one kernel: CLBlast's tuner on the `n_shapes` shapes that take the most time under the
 * current parameters (t_now), then every distinct winner timed on the whole workload against the
 * current parameters; the fastest stays applied. *chosen says what happened. */
static clnet_status tune_kernel(tune_job *j, int direct, const clnet_clblast_params *defaults, double *t_now,
                                double *total_now, clnet_tune_kernel *kept, int32_t *was_tuned, char *chosen,
                                size_t chosen_cap) {
  const char *kernel = direct ? "XgemmDirect" : "Xgemm";
  char stage[32];
  snprintf(stage, sizeof stage, "tune %s", kernel);
  *was_tuned = 0;
  snprintf(chosen, chosen_cap, "defaults kept");
  /* the heaviest shapes this kernel serves, by time */
  int32_t order[64], n_pick = 0, want = direct ? j->opt->direct_shapes : j->opt->xgemm_shapes;
  if (want > 64) want = 64;
  for (int32_t p = 0; p < want; ++p) {
    int32_t best = -1;
    for (int32_t i = 0; i < j->log->count; ++i) {
      const clnet_gemm_shape *s = &j->log->shapes[i];
      int is_direct = shape_volume(s) < j->min_indirect_volume, taken = 0;
      for (int32_t q = 0; q < n_pick; ++q) taken |= order[q] == i;
      if (is_direct != direct || taken) continue;
      if (best < 0 || t_now[i] * s->calls > t_now[best] * j->log->shapes[best].calls) best = i;
    }
    if (best < 0) break;
    order[n_pick++] = best;
  }
  if (n_pick == 0) {
    snprintf(chosen, chosen_cap, "defaults kept (no recorded GEMM uses it)");
    say(j, stage, 0, 0, "no recorded GEMM uses %s", kernel);
    return CLNET_SUCCESS;
  }
  clnet_tune_kernel cand[64];
  int32_t n_cand = 0, from_shape[64];
  for (int32_t p = 0; p < n_pick; ++p) {
    const clnet_gemm_shape *s = &j->log->shapes[order[p]];
    /* CLBlast's tuner runs its kernels without the routine's padding: sizes that are multiples
     * of the largest tile it tries (Xgemm: 128 in m and n, 32 in k; XgemmDirect: 64). And
     * CLBlast 1.5.3's TuneXgemm corrupts memory or fails (-2039) when m != n (seen at
     * 512 x 1024 x 512, 1024 x 512 x 512, 3712 x 1152 x 128; 1024 x 1024 x 128 is fine), so
     * m = n = the geometric mean of the shape's m and n, rounded up, at most 2048: e.g. the
     * backward-data chunk 3632 x 1152 x 128 is tuned as 2048 x 2048 x 128. */
    size_t mt = direct ? 64 : 128, kt = direct ? 64 : 32;
    size_t side = round_up((size_t)ceil(sqrt((double)s->m * s->n)), mt);
    if (side > 2048) side = 2048;
    size_t m = side, n = side, k = round_up((size_t)s->k, kt);
    double fraction = direct ? j->opt->direct_fraction : j->opt->xgemm_fraction;
    say(j, stage, p, n_pick, "shape %d x %d x %d (%s%s, %d calls, %.2f ms each) as %zu x %zu x %zu", s->m, s->n,
        s->k, s->trans_a ? "T" : "N", s->trans_b ? "T" : "N", s->calls, t_now[order[p]] * 1e3, m, n, k);
    double t0 = now_s();
    clnet_clblast_params found;
    clnet_tuner_fn tuner = j->opt->tuner ? j->opt->tuner : clnet_tune_shape_here;
    int rc = tuner(j->opt->tuner_user, j->ctx, direct, m, n, k, fraction, &found);
    if (rc != 0) {
      say(j, stage, p + 1, n_pick, "CLBlast's tuner failed on this shape (status %d, %.1f s); skipped", rc,
          now_s() - t0);
      continue;
    }
    int dup = same_params(&found, defaults);
    for (int32_t q = 0; q < n_cand && !dup; ++q) dup = same_params(&found, &cand[q].params);
    say(j, stage, p + 1, n_pick, "done in %.1f s%s", now_s() - t0, dup ? " (same parameters as before)" : "");
    if (dup) continue;
    snprintf(cand[n_cand].name, sizeof cand[n_cand].name, "%s", kernel);
    cand[n_cand].params = found;
    from_shape[n_cand++] = order[p];
  }
  /* every candidate on the whole workload; the current parameters, timed again now (the load on
   * a shared machine changes over minutes of tuning), are the bar */
  int32_t best = -1;
  if (n_cand > 0) {
    clnet_tune_kernel now_k = {.params = *defaults};
    snprintf(now_k.name, sizeof now_k.name, "%s", kernel);
    j->limit = HUGE_VAL;
    char what[64];
    snprintf(what, sizeof what, "%s current parameters", kernel);
    double t = evaluate(j, &now_k, what);
    if (t != HUGE_VAL) *total_now = t;
    say(j, "evaluate", 0, n_cand, "%s current parameters: workload %.1f ms", kernel, *total_now * 1e3);
  }
  double best_total = *total_now;
  for (int32_t c = 0; c < n_cand; ++c) {
    say(j, "evaluate", c, n_cand, "%s candidate %d of %d on all %d shapes", kernel, c + 1, n_cand, j->log->count);
    char what[64];
    snprintf(what, sizeof what, "%s candidate %d", kernel, c + 1);
    j->limit = best_total;
    double total = evaluate(j, &cand[c], what);
    if (total == HUGE_VAL)
      say(j, "evaluate", c + 1, n_cand, "%s candidate %d: slower than %.1f ms, stopped early", kernel, c + 1,
          best_total * 1e3);
    else
      say(j, "evaluate", c + 1, n_cand, "%s candidate %d: workload %.1f ms (current %.1f ms)", kernel, c + 1,
          total * 1e3, *total_now * 1e3);
    /* 2 %: below that, timing noise on a busy machine decides, and CLBlast's defaults are kept */
    if (total < 0.98 * best_total) {
      best = c;
      best_total = total;
      memcpy(t_now, j->scratch_t, (size_t)j->log->count * sizeof *t_now);
    }
  }
  if (best < 0) return CLNET_SUCCESS;
  keep(j, &cand[best]);
  *kept = cand[best];
  *was_tuned = 1;
  *total_now = best_total;
  const clnet_gemm_shape *s = &j->log->shapes[from_shape[best]];
  snprintf(chosen, chosen_cap, "tuned (best for %d x %d x %d)", s->m, s->n, s->k);
  return CLNET_SUCCESS;
}

/* GemmRoutine's XGEMM_MIN_INDIRECT_SIZE: CLBlast runs a GEMM with XgemmDirect when m*n*k is
 * below its cube, else pads/transposes and runs Xgemm. With both kernels tuned the crossover
 * moves, so a few values around the current one are timed on the whole workload (a change
 * recompiles CLBlast's GEMM program, no tuner run). */
static clnet_status tune_threshold(tune_job *j, const clnet_clblast_params *routine, double *total_now,
                                   clnet_tune_kernel *kept, int32_t *was_tuned, char *chosen, size_t chosen_cap) {
  *was_tuned = 0;
  snprintf(chosen, chosen_cap, "defaults kept");
  size_t at = routine->count;
  for (size_t i = 0; i < routine->count; ++i)
    if (!strcmp(routine->names[i], "XGEMM_MIN_INDIRECT_SIZE")) at = i;
  if (at == routine->count) {
    snprintf(chosen, chosen_cap, "not tunable (no XGEMM_MIN_INDIRECT_SIZE)");
    return CLNET_SUCCESS;
  }
  const size_t now = routine->values[at];
  /* halves and doubles of the current value: 576 -> 144, 288, 1152, 2304 */
  const size_t cands[4] = {now / 4, now / 2, now * 2, now * 4};
  size_t best = now;
  double best_total = *total_now;
  clnet_clblast_params p = *routine;
  for (int c = 0; c < 4; ++c) {
    if (cands[c] < 16) continue;
    p.values[at] = cands[c];
    say(j, "threshold", c, 4, "XGEMM_MIN_INDIRECT_SIZE %zu (now %zu) on all %d shapes", cands[c], now, j->log->count);
    clnet_tune_kernel k = {.name = "GemmRoutine", .params = p};
    char what[64];
    snprintf(what, sizeof what, "XGEMM_MIN_INDIRECT_SIZE %zu", cands[c]);
    j->limit = best_total;
    double total = evaluate(j, &k, what);
    if (total == HUGE_VAL)
      say(j, "threshold", c + 1, 4, "XGEMM_MIN_INDIRECT_SIZE %zu: slower than %.1f ms, stopped early", cands[c],
          best_total * 1e3);
    else
      say(j, "threshold", c + 1, 4, "XGEMM_MIN_INDIRECT_SIZE %zu: workload %.1f ms (best so far %.1f ms)",
          cands[c], total * 1e3, best_total * 1e3);
    if (total < 0.98 * best_total) {
      best = cands[c];
      best_total = total;
    }
  }
  p.values[at] = best;
  if (best == now) return CLNET_SUCCESS;
  snprintf(kept->name, sizeof kept->name, "GemmRoutine");
  kept->params = p;
  keep(j, kept);
  *was_tuned = 1;
  *total_now = best_total;
  snprintf(chosen, chosen_cap, "XGEMM_MIN_INDIRECT_SIZE %zu (default %zu)", best, now);
  return CLNET_SUCCESS;
}

void clnet_tune_result_free(clnet_tune_result *r) {
  free(r->before_s);
  free(r->after_s);
  r->before_s = r->after_s = NULL;
}

clnet_status clnet_tune_run(clnet_ctx *ctx, const clnet_gemm_log *log, const clnet_tune_options *opt,
                            clnet_tune_progress_fn progress, void *user, clnet_tune_result *out) {
  char workload[sizeof out->file.workload];
  snprintf(workload, sizeof workload, "%s", out->file.workload);
  memset(out, 0, sizeof *out);
  snprintf(out->file.workload, sizeof out->file.workload, "%s", workload);
  if (ctx->is_ref) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet tune: the reference has no CLBlast");
  if (!log || log->count == 0) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet tune: no GEMM recorded");
  if (clnet_tune_applied(ctx))
    return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT,
                           "clnet tune: %s is applied; tuning starts from CLBlast's defaults",
                           clnet_tune_applied(ctx));
  one_line(out->file.device, sizeof out->file.device, ctx->info.name);
  one_line(out->file.platform, sizeof out->file.platform, ctx->info.platform_version);
  one_line(out->file.driver, sizeof out->file.driver, ctx->info.driver_version);
  clnet_status st = CLNET_SUCCESS;
  clnet_clblast_params def_x, def_d, routine;
  CLNET_TRY(clnet_tune_current(ctx, "Xgemm", &def_x));
  CLNET_TRY(clnet_tune_current(ctx, "XgemmDirect", &def_d));
  CLNET_TRY(clnet_tune_current(ctx, "GemmRoutine", &routine));
  double min_indirect = 0;
  for (size_t i = 0; i < routine.count; ++i)
    if (!strcmp(routine.names[i], "XGEMM_MIN_INDIRECT_SIZE"))
      min_indirect = (double)routine.values[i] * routine.values[i] * routine.values[i];
  size_t na = 0, nb = 0, nc = 0;
  double flops = 0;
  for (int32_t i = 0; i < log->count; ++i) {
    const clnet_gemm_shape *s = &log->shapes[i];
    if ((size_t)s->m * s->k > na) na = (size_t)s->m * s->k;
    if ((size_t)s->k * s->n > nb) nb = (size_t)s->k * s->n;
    if ((size_t)s->m * s->n > nc) nc = (size_t)s->m * s->n;
    flops += 2.0 * shape_volume(s) * s->calls;
  }
  tune_bufs bf;
  memset(&bf, 0, sizeof bf);
  double *t_now = calloc((size_t)log->count, sizeof *t_now);
  double *scratch = calloc((size_t)log->count, sizeof *scratch);
  out->before_s = calloc((size_t)log->count, sizeof *out->before_s);
  out->after_s = calloc((size_t)log->count, sizeof *out->after_s);
  if (!t_now || !scratch || !out->before_s || !out->after_s) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "clnet tune: %d shapes", log->count);
    goto done;
  }
  CLNET_TRY_GOTO(clnet_buf_alloc(ctx, na * 4, "tune A", &bf.a), st, done);
  CLNET_TRY_GOTO(clnet_buf_alloc(ctx, nb * 4, "tune B", &bf.b), st, done);
  CLNET_TRY_GOTO(clnet_buf_alloc(ctx, nc * 4, "tune C", &bf.c), st, done);
  CLNET_TRY_GOTO(clnet_buf_fill(ctx, &bf.a, 0, bf.a.bytes, 0x3c23d70au), st, done); /* 0.01f */
  CLNET_TRY_GOTO(clnet_buf_fill(ctx, &bf.b, 0, bf.b.bytes, 0x3c23d70au), st, done);
  tune_job j = {.ctx = ctx, .log = log, .opt = opt, .progress = progress, .user = user, .bf = &bf,
               .scratch_t = scratch, .min_indirect_volume = min_indirect};
  double total = 0;
  say(&j, "defaults", 0, 1, "timing %d GEMM shapes with CLBlast's defaults", log->count);
  CLNET_TRY_GOTO(time_workload(ctx, log, &bf, opt->repeat, HUGE_VAL, t_now, &total), st, done);
  say(&j, "defaults", 1, 1, "workload %.1f ms, %.2f GFLOP/s", total * 1e3, flops / total / 1e9);
  for (int direct = 0; direct <= 1; ++direct) {
    int32_t tuned = 0;
    clnet_tune_kernel kept;
    CLNET_TRY_GOTO(tune_kernel(&j, direct, direct ? &def_d : &def_x, t_now, &total, &kept, &tuned,
                               out->chosen[direct], sizeof out->chosen[direct]),
                   st, done);
    if (tuned) out->file.kernels[out->file.n_kernels++] = kept;
  }
  if (opt->threshold) {
    int32_t tuned = 0;
    clnet_tune_kernel kept;
    CLNET_TRY_GOTO(tune_threshold(&j, &routine, &total, &kept, &tuned, out->chosen[2], sizeof out->chosen[2]), st,
                   done);
    if (tuned) out->file.kernels[out->file.n_kernels++] = kept;
  } else {
    snprintf(out->chosen[2], sizeof out->chosen[2], "defaults kept (not tried)");
  }
  /* the final figures: both choices applied, timed afresh in the same run as the defaults */
  say(&j, "final", 0, 1, "timing %d GEMM shapes with CLBlast's defaults, then the choice", log->count);
  /* defaults (again) and the choice back to back, so both see the same load on the machine */
  CLNET_TRY_GOTO(override(&ctx->info, "Xgemm", &def_x, "clnet tune"), st, done);
  CLNET_TRY_GOTO(override(&ctx->info, "XgemmDirect", &def_d, "clnet tune"), st, done);
  CLNET_TRY_GOTO(override(&ctx->info, "GemmRoutine", &routine, "clnet tune"), st, done);
  CLNET_TRY_GOTO(time_workload(ctx, log, &bf, opt->repeat, HUGE_VAL, out->before_s, &total), st, done);
  out->file.workload_gflops_before = flops / total / 1e9;
  for (int32_t i = 0; i < out->file.n_kernels; ++i)
    CLNET_TRY_GOTO(override(&ctx->info, out->file.kernels[i].name, &out->file.kernels[i].params, "clnet tune"), st,
                   done);
  CLNET_TRY_GOTO(time_workload(ctx, log, &bf, opt->repeat, HUGE_VAL, out->after_s, &total), st, done);
  out->file.workload_gflops_after = flops / total / 1e9;
  say(&j, "final", 1, 1, "workload %.1f ms, %.2f GFLOP/s", total * 1e3, out->file.workload_gflops_after);
done:
  clnet_buf_free(ctx, &bf.a);
  clnet_buf_free(ctx, &bf.b);
  clnet_buf_free(ctx, &bf.c);
  free(t_now);
  free(scratch);
  if (st != CLNET_SUCCESS) clnet_tune_result_free(out);
  return st;
}
