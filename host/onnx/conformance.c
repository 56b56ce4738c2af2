/* ONNX's backend test cases (Debian's libonnx-testdata): per case a model.onnx and data sets
 * test_data_set_<k>/ of input_<i>.pb and output_<i>.pb (TensorProto). Each case is imported (graph
 * inputs after the data input are given their values from the data set, as ONNX's runner feeds
 * them), run forward on the device and compared with the expected outputs at ONNX's backend-test
 * tolerance: |out - ref| <= atol + rtol |ref|, rtol 1e-3, atol 1e-7 (onnx/backend/test/runner). */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/fs.h"
#include "onnx/onnx_internal.h"

#define OX_RTOL 1e-3
#define OX_ATOL 1e-7
#define OX_MAX_CASE_FILES 64

static int is_dir(const char *p) {
  struct stat s;
  return stat(p, &s) == 0 && S_ISDIR(s.st_mode);
}

static int is_file(const char *p) {
  struct stat s;
  return stat(p, &s) == 0 && S_ISREG(s.st_mode);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted entries of dir whose names start with prefix (all when NULL), as malloc'd paths. */
static int32_t list_dir(const char *dir, const char *prefix, char ***out) {
  *out = NULL;
  DIR *d = opendir(dir);
  if (!d) return 0;
  int32_t n = 0, cap = 0;
  char **v = NULL;
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    if (prefix && strncmp(e->d_name, prefix, strlen(prefix))) continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      char **nv = realloc(v, (size_t)cap * sizeof *nv);
      if (!nv) break;
      v = nv;
    }
    const size_t len = strlen(dir) + strlen(e->d_name) + 2;
    v[n] = malloc(len);
    if (!v[n]) break;
    snprintf(v[n], len, "%s/%s", dir, e->d_name);
    ++n;
  }
  closedir(d);
  if (n) qsort(v, (size_t)n, sizeof *v, cmp_str);
  *out = v;
  return n;
}

static void free_list(char **v, int32_t n) {
  for (int32_t i = 0; i < n; ++i) free(v[i]);
  free(v);
}

static clnet_status read_file(const char *path, uint8_t **data, size_t *size) {
  FILE *f;
  CLNET_TRY(clnet_fopen_regular(path, &f));
  fseek(f, 0, SEEK_END);
  const long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  if (len < 0 || len > (1l << 30)) {
    fclose(f);
    return clnet_set_error(CLNET_ERR_IO, "%s: cannot size it", path);
  }
  *data = malloc((size_t)len + 1);
  if (!*data) {
    fclose(f);
    return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s", path);
  }
  *size = fread(*data, 1, (size_t)len, f);
  fclose(f);
  if (*size != (size_t)len) {
    free(*data);
    return clnet_set_error(CLNET_ERR_IO, "%s: short read", path);
  }
  return CLNET_SUCCESS;
}

static clnet_status decode_file(const char *path, ox_const *c) {
  uint8_t *data = NULL;
  size_t size = 0;
  CLNET_TRY(read_file(path, &data, &size));
  Onnx__TensorProto *t = onnx__tensor_proto__unpack(NULL, size, data);
  free(data);
  if (!t) return clnet_set_error(CLNET_ERR_FORMAT, "%s: not a TensorProto", path);
  clnet_status st = ox_tensor_decode(t, path, c);
  onnx__tensor_proto__free_unpacked(t, NULL);
  return st;
}

typedef struct case_inputs {
  int32_t n;
  char *path[OX_MAX_CASE_FILES];
  uint8_t *data[OX_MAX_CASE_FILES];
  size_t size[OX_MAX_CASE_FILES];
  const char *names[OX_MAX_CASE_FILES];
} case_inputs;

static void inputs_free(case_inputs *ci) {
  for (int32_t i = 0; i < ci->n; ++i) {
    free(ci->path[i]);
    free(ci->data[i]);
  }
  memset(ci, 0, sizeof *ci);
}

/* Compares got with want elementwise; returns the number of elements out of tolerance. */
static int64_t compare(const float *got, const ox_const *want, int64_t n, double *max_abs, double *max_rel,
                       int64_t *first_bad) {
  int64_t bad = 0;
  *first_bad = -1;
  for (int64_t k = 0; k < n; ++k) {
    const double w = ox_const_at(want, k), g = got[k];
    if (isnan(w) && isnan(g)) continue;
    const double e = fabs(g - w);
    if (!(e <= OX_ATOL + OX_RTOL * fabs(w)) && !(isinf(w) && g == w)) {
      if (!bad) *first_bad = k;
      ++bad;
    }
    if (isfinite(e)) {
      if (e > *max_abs) *max_abs = e;
      const double r = fabs(w) > 0 ? e / fabs(w) : 0;
      if (r > *max_rel && fabs(w) > 1e-6) *max_rel = r;
    } else if (!(isinf(w) && g == w)) {
      *max_abs = INFINITY;
    }
  }
  return bad;
}

/* One data set of one case. */
static clnet_status run_data_set(clnet_ctx *ctx, clnet_onnx_model *m, const char *set, clnet_onnx_case_result *r) {
  char **files = NULL;
  const int32_t nf = list_dir(set, "input_", &files);
  case_inputs ci;
  memset(&ci, 0, sizeof ci);
  clnet_status st = CLNET_SUCCESS;
  ox_const x;
  memset(&x, 0, sizeof x);
  float *host = NULL, *out = NULL;
  clnet_graph *g = NULL;
  /* input_<i>.pb pairs with the i-th graph input that is not an initializer */
  const Onnx__GraphProto *gp = m->pb->graph;
  if (m->data_input < 0) {
    st = clnet_set_error(CLNET_ERR_UNSUPPORTED, "the model has no data input");
    goto out;
  }
  {
    const Onnx__TypeProto *tp = m->values[m->data_input].input->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type) {
      st = clnet_set_error(CLNET_ERR_UNSUPPORTED, "the data input is not a tensor");
      goto out;
    }
  }
  int32_t data_file = -1;
  for (size_t i = 0, k = 0; i < gp->n_input && ci.n < OX_MAX_CASE_FILES; ++i) {
    const int32_t v = ox_value_find(m, gp->input[i]->name);
    if (v < 0 || m->values[v].input != gp->input[i]) continue;
    char p[4200];
    snprintf(p, sizeof p, "%s/input_%zu.pb", set, k++);
    if (!is_file(p)) {
      char pn[72];
      st = clnet_set_error(CLNET_ERR_FORMAT, "%s: missing (for graph input '%s')", p, clnet_printable(gp->input[i]->name, pn));
      goto out;
    }
    if (v == m->data_input) data_file = ci.n;
    ci.path[ci.n] = strdup(p);
    ci.names[ci.n] = m->values[v].name;
    CLNET_TRY_GOTO(read_file(p, &ci.data[ci.n], &ci.size[ci.n]), st, out);
    ci.n++;
  }
  if (data_file < 0) {
    st = clnet_set_error(CLNET_ERR_FORMAT, "%s: no data input", set);
    goto out;
  }
  CLNET_TRY_GOTO(decode_file(ci.path[data_file], &x), st, out);
  if (x.type != OX_F32) {
    st = clnet_set_error(CLNET_ERR_UNSUPPORTED, "the data input is not float");
    snprintf(r->op, sizeof r->op, "%s", "");
    goto out;
  }
  if (x.rank < 1 || x.dims[0] < 1) {
    st = clnet_set_error(CLNET_ERR_UNSUPPORTED, "the data input has no batch dimension (rank %d)", x.rank);
    goto out;
  }
  const int32_t batch = (int32_t)x.dims[0];
  clnet_onnx_build_options bo = {0};
  if (x.rank == 4) {
    bo.in_c = (int32_t)(m->nhwc_input ? x.dims[3] : x.dims[1]);
    bo.in_h = (int32_t)(m->nhwc_input ? x.dims[1] : x.dims[2]);
    bo.in_w = (int32_t)(m->nhwc_input ? x.dims[2] : x.dims[3]);
  } else if (x.rank == 3) {
    bo.in_c = (int32_t)x.dims[1], bo.in_h = 1, bo.in_w = (int32_t)x.dims[2];
  } else if (x.rank == 2) {
    bo.in_c = (int32_t)x.dims[1];
  }
  const char *gnames[OX_MAX_CASE_FILES];
  const void *gdata[OX_MAX_CASE_FILES];
  size_t gsize[OX_MAX_CASE_FILES];
  for (int32_t i = 0; i < ci.n; ++i) gnames[i] = ci.names[i], gdata[i] = ci.data[i], gsize[i] = ci.size[i];
  bo.n_given = ci.n;
  bo.given_names = gnames;
  bo.given_data = gdata;
  bo.given_size = gsize;
  st = clnet_onnx_build(m, &bo, &g);
  if (st != CLNET_SUCCESS) {
    snprintf(r->op, sizeof r->op, "%s", m->fail_op);
    goto out;
  }
  if (m->random_nodes) {
    st = clnet_set_error(CLNET_ERR_UNSUPPORTED, "training-mode dropout: the expected output holds one random mask "
                         "(numpy's), clnet draws its own");
    snprintf(r->op, sizeof r->op, "Dropout");
    goto out;
  }
  /* the data as clnet sees it */
  clnet_onnx_value_info in;
  CLNET_TRY_GOTO(clnet_onnx_input_info(m, &in), st, out);
  int32_t ih, iw, ic;
  CLNET_TRY_GOTO(clnet_graph_tensor_shape(g, 0, &ih, &iw, &ic), st, out);
  const int64_t in_per = (int64_t)ih * iw * ic;
  if (in_per * batch != x.count) {
    st = clnet_set_error(CLNET_ERR_FORMAT, "the data input holds %lld values, the model takes %lld per sample x %d",
                         (long long)x.count, (long long)in_per, batch);
    goto out;
  }
  host = malloc((size_t)x.count * sizeof *host);
  if (!host) {
    st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "test input");
    goto out;
  }
  clnet_onnx_to_clnet(&in, ih, iw, ic, batch, x.f, host);
  int ran = 0;
  for (int32_t o = 0; o < m->n_outputs; ++o) {
    const clnet_onnx_value_info *oi = &m->outputs[o];
    char pname[72];
    char p[4200];
    snprintf(p, sizeof p, "%s/output_%d.pb", set, o);
    ox_const want;
    CLNET_TRY_GOTO(decode_file(p, &want), st, out);
    int64_t n_got = 0;
    float *got = NULL;
    if (oi->tensor == -2) { /* a BN statistic after the (training-mode) forward */
      const int32_t pi = clnet_graph_param_find(g, oi->param);
      clnet_param_info info;
      if (!ran) {
        st = clnet_graph_setup(g, ctx, batch);
        if (st == CLNET_SUCCESS) st = clnet_onnx_load_weights(m, g);
        if (st == CLNET_SUCCESS) st = clnet_graph_set_input(g, host, batch);
        if (st == CLNET_SUCCESS) st = clnet_graph_forward(g, m->training_nodes > 0);
        ran = 1;
      }
      if (st == CLNET_SUCCESS && pi < 0) st = clnet_set_error(CLNET_ERR_MISMATCH, "no parameter %s", oi->param);
      if (st == CLNET_SUCCESS) st = clnet_graph_param_info(g, pi, &info);
      n_got = st == CLNET_SUCCESS ? info.count : 0;
      got = malloc((size_t)(n_got ? n_got : 1) * sizeof *got);
      if (st == CLNET_SUCCESS && got) st = clnet_graph_param_read(g, pi, CLNET_FIELD_VALUE, got);
      if (st != CLNET_SUCCESS) {
        free(got);
        ox_const_free(&want);
        goto out;
      }
    } else if (oi->tensor < 0) { /* a folded constant: the batch symbol is this data set's batch */
      const ox_const *c = &m->output_consts[o];
      n_got = c->count;
      got = malloc((size_t)(n_got ? n_got : 1) * sizeof *got);
      for (int64_t k = 0; got && k < n_got; ++k)
        got[k] = c->type == OX_I64 && c->i[k] == OX_BATCH ? (float)batch : (float)ox_const_at(c, k);
    } else {
      int32_t h, w, c;
      CLNET_TRY_GOTO(clnet_graph_tensor_shape(g, oi->tensor, &h, &w, &c), st, out);
      n_got = (int64_t)h * w * c * batch;
      float *raw = malloc((size_t)n_got * sizeof *raw);
      got = malloc((size_t)n_got * sizeof *got);
      if (raw && got) {
        if (oi->tensor == 0) {
          memcpy(raw, host, (size_t)n_got * sizeof *raw);
        } else {
          if (!ran) {
            st = clnet_graph_setup(g, ctx, batch);
            if (st == CLNET_SUCCESS) st = clnet_onnx_load_weights(m, g);
            if (st == CLNET_SUCCESS) st = clnet_graph_set_input(g, host, batch);
            if (st == CLNET_SUCCESS) st = clnet_graph_forward(g, m->training_nodes > 0);
            ran = 1;
          }
          if (st == CLNET_SUCCESS) {
            st = clnet_graph_read_tensor(g, oi->tensor, raw);
            if (st == CLNET_ERR_INVALID_ARGUMENT) /* an output that layers read on: its storage is reused */
              st = clnet_wrap_error(CLNET_ERR_UNSUPPORTED, "output %d", o);
          }
        }
        if (st == CLNET_SUCCESS) clnet_onnx_from_clnet(oi, h, w, c, batch, raw, got);
      }
      free(raw);
    }
    if (!got) st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "test output");
    if (st == CLNET_SUCCESS && n_got != want.count)
      st = clnet_set_error(CLNET_ERR_CHECK_FAILED, "output %d ('%s') has %lld values, expected %lld", o,
                           clnet_printable(oi->name, pname), (long long)n_got, (long long)want.count);
    if (st == CLNET_SUCCESS) {
      int64_t first = -1;
      const int64_t bad = compare(got, &want, n_got, &r->max_abs_err, &r->max_rel_err, &first);
      if (bad)
        st = clnet_set_error(CLNET_ERR_CHECK_FAILED, "output %d ('%s'): %lld of %lld values off (first at %lld: %g, "
                             "expected %g)", o, clnet_printable(oi->name, pname), (long long)bad, (long long)n_got, (long long)first,
                             got[first], ox_const_at(&want, first));
    }
    free(got);
    ox_const_free(&want);
    if (st != CLNET_SUCCESS) goto out;
  }
out:
  clnet_graph_free(g);
  free(host);
  free(out);
  ox_const_free(&x);
  inputs_free(&ci);
  free_list(files, nf);
  return st;
}

static void run_case(clnet_ctx *ctx, const char *dir, const char *name, clnet_onnx_case_result *r) {
  char path[4200];
  snprintf(path, sizeof path, "%s/model.onnx", dir);
  clnet_onnx_model *m = NULL;
  clnet_status st = clnet_onnx_read(path, &m);
  char **sets = NULL;
  int32_t ns = 0;
  if (st == CLNET_SUCCESS) {
    ns = list_dir(dir, "test_data_set_", &sets);
    if (!ns) st = clnet_set_error(CLNET_ERR_FORMAT, "%s: no test_data_set_*", dir);
  }
  for (int32_t i = 0; i < ns && st == CLNET_SUCCESS; ++i) {
    st = run_data_set(ctx, m, sets[i], r);
    if (st == CLNET_SUCCESS) r->data_sets++;
  }
  r->name = name;
  if (st == CLNET_SUCCESS) r->status = CLNET_ONNX_CASE_PASSED;
  else if (st == CLNET_ERR_UNSUPPORTED) r->status = CLNET_ONNX_CASE_UNSUPPORTED;
  else if (st == CLNET_ERR_CHECK_FAILED) r->status = CLNET_ONNX_CASE_FAILED;
  else r->status = CLNET_ONNX_CASE_ERROR;
  if (st != CLNET_SUCCESS) {
    const char *msg = clnet_last_error();
    /* the model's path is the case's name already */
    const char *p = strstr(msg, "model.onnx: ");
    snprintf(r->detail, sizeof r->detail, "%s", p ? p + 12 : msg);
  }
  free_list(sets, ns);
  clnet_onnx_free(m);
}

clnet_status clnet_onnx_test_dir(clnet_ctx *ctx, const char *dir, const char *filter,
                                 void (*fn)(const clnet_onnx_case_result *r, void *user), void *user,
                                 clnet_onnx_test_summary *summary) {
  if (!ctx || !dir) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_onnx_test_dir: NULL argument");
  clnet_onnx_test_summary s;
  memset(&s, 0, sizeof s);
  char path[4200];
  snprintf(path, sizeof path, "%s/model.onnx", dir);
  char **cases = NULL;
  int32_t nc = 0;
  if (is_file(path)) {
    cases = malloc(sizeof *cases);
    if (cases && (cases[0] = strdup(dir))) nc = 1;
  } else {
    if (!is_dir(dir)) return clnet_set_error(CLNET_ERR_IO, "%s: not a directory", dir);
    char **top = NULL;
    const int32_t nt = list_dir(dir, NULL, &top);
    int32_t cap = 0;
    for (int32_t i = 0; i < nt; ++i) {
      char **sub = NULL;
      int32_t nsub = 0;
      snprintf(path, sizeof path, "%s/model.onnx", top[i]);
      if (is_file(path)) {
        sub = malloc(sizeof *sub);
        if (sub && (sub[0] = strdup(top[i]))) nsub = 1;
      } else if (is_dir(top[i])) {
        char **all = NULL;
        const int32_t na = list_dir(top[i], NULL, &all);
        sub = malloc((size_t)(na ? na : 1) * sizeof *sub);
        for (int32_t j = 0; sub && j < na; ++j) {
          snprintf(path, sizeof path, "%s/model.onnx", all[j]);
          if (is_file(path)) sub[nsub++] = strdup(all[j]);
        }
        free_list(all, na);
      }
      for (int32_t j = 0; j < nsub; ++j) {
        if (nc == cap) {
          cap = cap ? 2 * cap : 256;
          char **nv = realloc(cases, (size_t)cap * sizeof *nv);
          if (!nv) break;
          cases = nv;
        }
        cases[nc++] = sub[j];
      }
      free(sub);
    }
    free_list(top, nt);
    if (nc) qsort(cases, (size_t)nc, sizeof *cases, cmp_str);
  }
  for (int32_t i = 0; i < nc; ++i) {
    /* the case's path below dir ("node/test_relu"), or its directory name for a case given alone */
    const size_t dl = strlen(dir);
    const char *name = !strncmp(cases[i], dir, dl) && cases[i][dl] == '/' ? cases[i] + dl + 1 : strrchr(cases[i], '/');
    if (!name) name = cases[i];
    else if (*name == '/') ++name;
    if (filter && !strstr(cases[i], filter)) continue;
    clnet_onnx_case_result r;
    memset(&r, 0, sizeof r);
    run_case(ctx, cases[i], name, &r);
    s.cases++;
    if (r.status == CLNET_ONNX_CASE_PASSED) s.passed++;
    else if (r.status == CLNET_ONNX_CASE_FAILED) s.failed++;
    else if (r.status == CLNET_ONNX_CASE_UNSUPPORTED) s.unsupported++;
    else s.errors++;
    if (fn) fn(&r, user);
  }
  free_list(cases, nc);
  if (summary) *summary = s;
  if (!s.cases) return clnet_set_error(CLNET_ERR_IO, "%s: no ONNX test cases (model.onnx + test_data_set_*)", dir);
  return CLNET_SUCCESS;
}
