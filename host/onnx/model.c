/* Reading an ONNX model: the protobuf (protobuf-c over the generated onnx.pb-c.c), then its form
 * checked once — opset, every name defined once, every node input defined, no cycle — into a
 * value table (name -> value) and an order of the nodes in which each input is defined first. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/fs.h"
#include "onnx/onnx_internal.h"

#define OX_MAX_FILE_BYTES (2ull << 30) /* protobuf's own limit for one message */

static uint32_t hash_str(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; ++s) h = (h ^ (uint8_t)*s) * 16777619u;
  return h;
}

int32_t ox_value_find(const clnet_onnx_model *m, const char *name) {
  if (!name || !*name || !m->hash_cap) return -1;
  for (uint32_t i = hash_str(name) & (uint32_t)(m->hash_cap - 1);; i = (i + 1) & (uint32_t)(m->hash_cap - 1)) {
    const int32_t v = m->hash[i];
    if (v < 0) return -1;
    if (!strcmp(m->values[v].name, name)) return v;
  }
}

/* Adds a value; -2 if the name exists already (its index in *existing). */
static int32_t value_add(clnet_onnx_model *m, const char *name, int32_t *existing) {
  uint32_t i = hash_str(name) & (uint32_t)(m->hash_cap - 1);
  for (; m->hash[i] >= 0; i = (i + 1) & (uint32_t)(m->hash_cap - 1))
    if (!strcmp(m->values[m->hash[i]].name, name)) {
      *existing = m->hash[i];
      return -2;
    }
  const int32_t v = m->n_values++;
  memset(&m->values[v], 0, sizeof m->values[v]);
  m->values[v].name = name;
  m->values[v].producer = -1;
  m->hash[i] = v;
  return v;
}

const char *ox_node_label(const clnet_onnx_model *m, int32_t k, char *buf, size_t cap) {
  const Onnx__NodeProto *n = ox_node_pb(m, k);
  char a[72], b[72];
  const char *op = n->op_type && *n->op_type ? clnet_printable(n->op_type, a) : "?";
  if (n->name && *n->name) snprintf(buf, cap, "node '%s' (%s)", clnet_printable(n->name, b), op);
  else if (n->n_output && n->output[0] && *n->output[0])
    snprintf(buf, cap, "node #%d (%s, output '%s')", k, op, clnet_printable(n->output[0], b));
  else snprintf(buf, cap, "node #%d (%s)", k, op);
  return buf;
}

void ox_weights_clear(clnet_onnx_model *m) {
  for (int32_t i = 0; i < m->n_weights; ++i) free(m->weights[i].data);
  free(m->weights);
  m->weights = NULL;
  m->n_weights = 0;
  for (int32_t i = 0; i < m->n_outputs; ++i) ox_const_free(&m->output_consts[i]);
  free(m->outputs);
  free(m->output_consts);
  m->outputs = NULL;
  m->output_consts = NULL;
  m->n_outputs = 0;
}

void clnet_onnx_free(clnet_onnx_model *m) {
  if (!m) return;
  ox_weights_clear(m);
  if (m->pb) onnx__model_proto__free_unpacked(m->pb, NULL);
  free(m->values);
  free(m->hash);
  free(m->node_in_at);
  free(m->node_out_at);
  free(m->in_idx);
  free(m->out_idx);
  free(m->order);
  free(m->consumer_at);
  free(m->consumers);
  free(m);
}

static clnet_status fmt_err(clnet_onnx_model *m, clnet_status st, const char *fmt, const char *a, const char *b) {
  char pa[72], pb[72];
  char msg[512];
  snprintf(msg, sizeof msg, fmt, a ? clnet_printable(a, pa) : "", b ? clnet_printable(b, pb) : "");
  return clnet_set_error(st, "%s: %s", m->what, msg);
}

/* Transpose(perm = 0,3,1,2): what tf2onnx puts after an NHWC input. */
static int is_nhwc_to_nchw(const Onnx__NodeProto *n) {
  if (!n->op_type || strcmp(n->op_type, "Transpose") || (n->domain && *n->domain && strcmp(n->domain, "ai.onnx")))
    return 0;
  for (size_t a = 0; a < n->n_attribute; ++a) {
    const Onnx__AttributeProto *at = n->attribute[a];
    if (at->name && !strcmp(at->name, "perm"))
      return at->n_ints == 4 && at->ints[0] == 0 && at->ints[1] == 3 && at->ints[2] == 1 && at->ints[3] == 2;
  }
  return 0;
}

static clnet_status index_model(clnet_onnx_model *m) {
  const Onnx__GraphProto *g = m->pb->graph;
  if (!g) return clnet_set_error(CLNET_ERR_FORMAT, "%s: the model has no graph", m->what);
  /* the ai.onnx opset */
  m->opset = -1;
  for (size_t i = 0; i < m->pb->n_opset_import; ++i) {
    const Onnx__OperatorSetIdProto *o = m->pb->opset_import[i];
    if (!o->domain || !*o->domain || !strcmp(o->domain, "ai.onnx")) m->opset = o->has_version ? o->version : 1;
  }
  if (m->opset < 0)
    return clnet_set_error(m->pb->n_opset_import ? CLNET_ERR_UNSUPPORTED : CLNET_ERR_FORMAT,
                           "%s: the model imports no ai.onnx opset%s", m->what,
                           m->pb->n_opset_import ? " (only other domains)" : "");
  if (m->opset < OX_MIN_OPSET || m->opset > OX_MAX_OPSET)
    return clnet_set_error(CLNET_ERR_UNSUPPORTED, "%s: opset %lld; clnet reads opsets %d to %d", m->what,
                           (long long)m->opset, OX_MIN_OPSET, OX_MAX_OPSET);
  if (g->n_node > OX_MAX_NODES)
    return clnet_set_error(CLNET_ERR_TOO_LARGE, "%s: %zu nodes (at most %d)", m->what, g->n_node, OX_MAX_NODES);
  m->n_nodes = (int32_t)g->n_node;
  size_t n_in = 0, n_out = 0;
  for (size_t k = 0; k < g->n_node; ++k) {
    n_in += g->node[k]->n_input;
    n_out += g->node[k]->n_output;
  }
  const size_t cap_values = g->n_initializer + g->n_input + n_out + 1;
  if (cap_values > (size_t)INT32_MAX / 4 || n_in > (size_t)INT32_MAX / 2)
    return clnet_set_error(CLNET_ERR_TOO_LARGE, "%s: too many values", m->what);
  size_t hc = 16;
  while (hc < 2 * cap_values) hc *= 2;
  m->hash_cap = (int32_t)hc;
  m->hash = malloc(hc * sizeof *m->hash);
  m->values = calloc(cap_values, sizeof *m->values);
  m->node_in_at = calloc(g->n_node + 1, sizeof(int32_t));
  m->node_out_at = calloc(g->n_node + 1, sizeof(int32_t));
  m->in_idx = calloc(n_in + 1, sizeof(int32_t));
  m->out_idx = calloc(n_out + 1, sizeof(int32_t));
  m->order = calloc(g->n_node + 1, sizeof(int32_t));
  if (!m->hash || !m->values || !m->node_in_at || !m->node_out_at || !m->in_idx || !m->out_idx || !m->order)
    return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: indexing %zu nodes", m->what, g->n_node);
  memset(m->hash, 0xff, hc * sizeof *m->hash);
  int32_t ex = -1;
  for (size_t i = 0; i < g->n_initializer; ++i) {
    const Onnx__TensorProto *t = g->initializer[i];
    if (!t->name || !*t->name) return clnet_set_error(CLNET_ERR_FORMAT, "%s: initializer %zu has no name", m->what, i);
    const int32_t v = value_add(m, t->name, &ex);
    if (v == -2) return fmt_err(m, CLNET_ERR_FORMAT, "initializer '%s' is defined twice", t->name, NULL);
    m->values[v].init = t;
  }
  if (g->n_sparse_initializer)
    return clnet_set_error(CLNET_ERR_UNSUPPORTED, "%s: sparse initializers", m->what);
  m->data_input = -1;
  for (size_t i = 0; i < g->n_input; ++i) {
    const Onnx__ValueInfoProto *in = g->input[i];
    if (!in->name || !*in->name) return clnet_set_error(CLNET_ERR_FORMAT, "%s: graph input %zu has no name", m->what, i);
    const int32_t v = value_add(m, in->name, &ex);
    if (v == -2) {
      if (m->values[ex].init && !m->values[ex].input) continue; /* an initializer listed as input (IR < 4) */
      return fmt_err(m, CLNET_ERR_FORMAT, "graph input '%s' is defined twice", in->name, NULL);
    }
    m->values[v].input = in;
    if (m->data_input < 0) m->data_input = v;
    m->n_inputs++;
  }
  /* node outputs, then inputs (an input may name an output of a later node: the order comes next) */
  int32_t pi = 0, po = 0;
  for (size_t k = 0; k < g->n_node; ++k) {
    const Onnx__NodeProto *n = g->node[k];
    char lab[160];
    m->node_out_at[k] = po;
    for (size_t j = 0; j < n->n_output; ++j) {
      const char *name = n->output[j];
      if (!name || !*name) {
        m->out_idx[po++] = -1;
        continue;
      }
      const int32_t v = value_add(m, name, &ex);
      if (v == -2) {
        ox_node_label(m, (int32_t)k, lab, sizeof lab);
        char pn[72];
        return clnet_set_error(CLNET_ERR_FORMAT, "%s: %s: output '%s' is defined already (names collide)", m->what,
                               lab, clnet_printable(name, pn));
      }
      m->values[v].producer = (int32_t)k;
      m->values[v].output_slot = (int32_t)j;
      m->out_idx[po++] = v;
    }
  }
  m->node_out_at[g->n_node] = po;
  for (size_t k = 0; k < g->n_node; ++k) {
    const Onnx__NodeProto *n = g->node[k];
    m->node_in_at[k] = pi;
    for (size_t j = 0; j < n->n_input; ++j) {
      const char *name = n->input[j];
      if (!name || !*name) {
        m->in_idx[pi++] = -1;
        continue;
      }
      const int32_t v = ox_value_find(m, name);
      if (v < 0) {
        char lab[160], pn[72];
        ox_node_label(m, (int32_t)k, lab, sizeof lab);
        return clnet_set_error(CLNET_ERR_FORMAT,
                               "%s: %s: input %zu '%s' is defined nowhere (no initializer, graph input or node output)",
                               m->what, lab, j, clnet_printable(name, pn));
      }
      m->values[v].n_consumers++;
      m->in_idx[pi++] = v;
    }
  }
  m->node_in_at[g->n_node] = pi;
  for (size_t i = 0; i < g->n_output; ++i) {
    const char *name = g->output[i]->name;
    const int32_t v = ox_value_find(m, name);
    if (v < 0) return fmt_err(m, CLNET_ERR_FORMAT, "graph output '%s' is computed by no node", name ? name : "", NULL);
    m->values[v].graph_output = 1;
  }
  if (!g->n_output) return clnet_set_error(CLNET_ERR_FORMAT, "%s: the graph has no output", m->what);
  /* readers of each value */
  m->consumer_at = calloc((size_t)m->n_values + 1, sizeof(int32_t));
  m->consumers = calloc((size_t)pi + 1, sizeof(int32_t));
  int32_t *fill = calloc((size_t)m->n_values + 1, sizeof(int32_t));
  int32_t *indeg = calloc(g->n_node + 1, sizeof(int32_t));
  if (!m->consumer_at || !m->consumers || !fill || !indeg) {
    free(fill);
    free(indeg);
    return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: indexing", m->what);
  }
  for (int32_t v = 0; v < m->n_values; ++v) m->consumer_at[v + 1] = m->consumer_at[v] + m->values[v].n_consumers;
  for (size_t k = 0; k < g->n_node; ++k)
    for (int32_t j = m->node_in_at[k]; j < m->node_in_at[k + 1]; ++j) {
      const int32_t v = m->in_idx[j];
      if (v < 0) continue;
      m->consumers[m->consumer_at[v] + fill[v]++] = (int32_t)k;
      if (m->values[v].producer >= 0) indeg[k]++;
    }
  /* Kahn's order: a node comes once every value it reads is defined */
  int32_t head = 0, tail = 0;
  for (size_t k = 0; k < g->n_node; ++k)
    if (!indeg[k]) m->order[tail++] = (int32_t)k;
  while (head < tail) {
    const int32_t k = m->order[head++];
    for (int32_t o = m->node_out_at[k]; o < m->node_out_at[k + 1]; ++o) {
      const int32_t v = m->out_idx[o];
      if (v < 0) continue;
      for (int32_t c = m->consumer_at[v]; c < m->consumer_at[v + 1]; ++c)
        if (--indeg[m->consumers[c]] == 0) m->order[tail++] = m->consumers[c];
    }
  }
  clnet_status st = CLNET_SUCCESS;
  if (tail != (int32_t)g->n_node) {
    for (size_t k = 0; k < g->n_node; ++k)
      if (indeg[k] > 0) {
        char lab[160];
        ox_node_label(m, (int32_t)k, lab, sizeof lab);
        st = clnet_set_error(CLNET_ERR_FORMAT, "%s: the graph has a cycle through %s", m->what, lab);
        break;
      }
  }
  free(fill);
  free(indeg);
  if (st != CLNET_SUCCESS) return st;
  if (m->data_input >= 0) {
    const int32_t v = m->data_input;
    int all = m->consumer_at[v + 1] > m->consumer_at[v];
    for (int32_t c = m->consumer_at[v]; c < m->consumer_at[v + 1]; ++c)
      all &= is_nhwc_to_nchw(g->node[m->consumers[c]]);
    m->nhwc_input = all;
  }
  return CLNET_SUCCESS;
}

clnet_status clnet_onnx_read_memory(const void *data, size_t size, const char *what, clnet_onnx_model **out) {
  if (!out) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_onnx_read_memory: NULL argument");
  *out = NULL;
  clnet_onnx_model *m = calloc(1, sizeof *m);
  if (!m) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "reading an ONNX model");
  snprintf(m->what, sizeof m->what, "%s", what ? what : "ONNX model");
  m->pb = onnx__model_proto__unpack(NULL, size, data);
  if (!m->pb) {
    clnet_status st = clnet_set_error(CLNET_ERR_FORMAT, "%s: not an ONNX model (%zu bytes that do not parse as "
                                      "onnx.ModelProto)", m->what, size);
    clnet_onnx_free(m);
    return st;
  }
  clnet_status st = index_model(m);
  if (st != CLNET_SUCCESS) {
    clnet_onnx_free(m);
    return st;
  }
  *out = m;
  return CLNET_SUCCESS;
}

clnet_status clnet_onnx_read(const char *path, clnet_onnx_model **out) {
  if (!path || !out) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_onnx_read: NULL argument");
  *out = NULL;
  FILE *f; /* a regular file only: a FIFO would block, a directory reads as nothing */
  CLNET_TRY(clnet_fopen_regular(path, &f));
  uint8_t *buf = NULL;
  size_t n = 0, cap = 0;
  clnet_status st = CLNET_SUCCESS;
  for (;;) {
    if (n == cap) {
      if (cap >= OX_MAX_FILE_BYTES) {
        st = clnet_set_error(CLNET_ERR_TOO_LARGE, "%s: larger than 2 GiB (protobuf's limit)", path);
        break;
      }
      cap = cap ? cap * 2 : 1 << 20;
      uint8_t *nb = realloc(buf, cap);
      if (!nb) {
        st = clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "%s: reading", path);
        break;
      }
      buf = nb;
    }
    const size_t r = fread(buf + n, 1, cap - n, f);
    n += r;
    if (r == 0) {
      if (ferror(f)) st = clnet_set_error(CLNET_ERR_IO, "%s: read failed: %s", path, strerror(errno));
      break;
    }
  }
  fclose(f);
  if (st == CLNET_SUCCESS) st = clnet_onnx_read_memory(buf, n, path, out);
  free(buf);
  return st;
}

/* info's strings are for display: a file's control characters become '?' */
static void copy_printable(char *dst, size_t size, const char *a, const char *b, const char *c) {
  snprintf(dst, size, "%s%s%s", a, b, c);
  for (char *p = dst; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
}

clnet_status clnet_onnx_get_info(const clnet_onnx_model *m, clnet_onnx_info *info) {
  if (!m || !info) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "clnet_onnx_get_info: NULL argument");
  memset(info, 0, sizeof *info);
  info->ir_version = m->pb->has_ir_version ? m->pb->ir_version : 0;
  info->opset = m->opset;
  copy_printable(info->producer, sizeof info->producer, m->pb->producer_name ? m->pb->producer_name : "",
                 m->pb->producer_version && *m->pb->producer_version ? " " : "",
                 m->pb->producer_version ? m->pb->producer_version : "");
  const Onnx__GraphProto *g = m->pb->graph;
  info->nodes = (int32_t)g->n_node;
  info->initializers = (int32_t)g->n_initializer;
  copy_printable(info->output, sizeof info->output, g->output[0]->name ? g->output[0]->name : "", "", "");
  info->nhwc_input = m->nhwc_input;
  if (m->data_input >= 0) {
    const Onnx__ValueInfoProto *in = m->values[m->data_input].input;
    copy_printable(info->input, sizeof info->input, in->name, "", "");
    const Onnx__TypeProto *tp = in->type;
    if (tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && tp->tensor_type && tp->tensor_type->shape) {
      const Onnx__TensorShapeProto *s = tp->tensor_type->shape;
      info->in_rank = (int32_t)s->n_dim;
      if (s->n_dim == 4) {
        int64_t d[4];
        for (int i = 0; i < 4; ++i)
          d[i] = s->dim[i]->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                         s->dim[i]->dim_value > 0 && s->dim[i]->dim_value < INT32_MAX
                     ? s->dim[i]->dim_value
                     : 0;
        info->in_c = (int32_t)(m->nhwc_input ? d[3] : d[1]);
        info->in_h = (int32_t)(m->nhwc_input ? d[1] : d[2]);
        info->in_w = (int32_t)(m->nhwc_input ? d[2] : d[3]);
      }
    }
  }
  float mean[4], sd[4];
  info->has_norm = clnet_onnx_norm(m, mean, sd);
  return CLNET_SUCCESS;
}

static int parse4(const char *s, float v[4]) {
  if (!s) return 0;
  for (int i = 0; i < 4; ++i) {
    char *end = NULL;
    v[i] = strtof(s, &end);
    if (end == s) return 0;
    s = end;
    while (*s == ',' || *s == ' ') ++s;
  }
  return *s == '\0';
}

int32_t clnet_onnx_norm(const clnet_onnx_model *m, float mean[4], float std[4]) {
  const char *a = NULL, *b = NULL;
  for (size_t i = 0; i < m->pb->n_metadata_props; ++i) {
    const Onnx__StringStringEntryProto *e = m->pb->metadata_props[i];
    if (!e->key) continue;
    if (!strcmp(e->key, "clnet.norm_mean")) a = e->value;
    if (!strcmp(e->key, "clnet.norm_std")) b = e->value;
  }
  float x[4], y[4];
  if (!parse4(a, x) || !parse4(b, y)) return 0;
  for (int i = 0; i < 4; ++i)
    if (!(y[i] > 0)) return 0;
  memcpy(mean, x, sizeof x);
  memcpy(std, y, sizeof y);
  return 1;
}
