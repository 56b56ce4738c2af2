/* A graph as text and back (docs/CHECKPOINTS.md, "The model description"): the structure only —
 * input shape, and per layer its kind, name, input tensors and attributes in canonical text — so
 * that a checkpoint can rebuild the network it was trained with, whoever built it:
 *
 *   {"format": "clnet-graph", "version": 1, "input": [28, 28, 1],
 *    "layers": [{"kind": "conv", "name": "stem.conv", "inputs": [0], "attrs": "filters=16 kernel=3 ..."},
 *               ...]}
 *
 * Tensor 0 is the input and layer i's output is tensor i + 1, so inputs name earlier tensors only
 * (the graph is a DAG in layer order). Reading rebuilds through clnet_graph_add_layer, so every
 * check of the builder applies to a description read from a file. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph_internal.h"

#define DESCRIPTION_VERSION 1
#define MAX_DESCRIPTION_BYTES (16u << 20)

clnet_status clnet_graph_describe(const clnet_graph *g, char **text) {
  *text = NULL;
  cJSON *root = cJSON_CreateObject(), *layers = cJSON_CreateArray();
  const int in[3] = {g->tensors[0].s.h, g->tensors[0].s.w, g->tensors[0].s.c};
  int ok = root && layers && cJSON_AddStringToObject(root, "format", "clnet-graph") &&
           cJSON_AddNumberToObject(root, "version", DESCRIPTION_VERSION) &&
           cJSON_AddItemToObject(root, "input", cJSON_CreateIntArray(in, 3));
  if (ok) ok = cJSON_AddItemToObject(root, "layers", layers);
  else cJSON_Delete(layers);
  for (int32_t i = 0; ok && i < g->n_layers; ++i) {
    const g_layer *l = &g->layers[i];
    cJSON *o = cJSON_CreateObject();
    int ins[CLNET_MAX_LAYER_INPUTS];
    for (int32_t j = 0; j < l->l.n_in; ++j) ins[j] = l->l.in[j];
    ok = o && cJSON_AddStringToObject(o, "kind", l->l.kind->name) && cJSON_AddStringToObject(o, "name", l->l.name) &&
         cJSON_AddItemToObject(o, "inputs", cJSON_CreateIntArray(ins, l->l.n_in)) &&
         cJSON_AddStringToObject(o, "attrs", l->attrs_text);
    if (ok) ok = cJSON_AddItemToArray(layers, o);
    else cJSON_Delete(o);
  }
  char *s = ok ? cJSON_PrintUnformatted(root) : NULL;
  cJSON_Delete(root);
  if (!s) return clnet_set_error(CLNET_ERR_OUT_OF_HOST_MEMORY, "describing the graph");
  *text = s;
  return CLNET_SUCCESS;
}

/* An integer of a JSON number in [lo, hi]. */
static int json_int(const cJSON *v, int64_t lo, int64_t hi, int32_t *out) {
  if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int64_t)v->valuedouble) return 0;
  const int64_t x = (int64_t)v->valuedouble;
  if (x < lo || x > hi) return 0;
  *out = (int32_t)x;
  return 1;
}

static clnet_status bad(const char *what, int32_t layer) {
  if (layer < 0) return clnet_set_error(CLNET_ERR_FORMAT, "model description: %s", what);
  return clnet_set_error(CLNET_ERR_FORMAT, "model description: layer %d: %s", layer, what);
}

clnet_status clnet_graph_from_description(const char *text, clnet_graph **out) {
  *out = NULL;
  if (!text) return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "model description: NULL");
  if (strlen(text) > MAX_DESCRIPTION_BYTES) return bad("longer than 16 MiB", -1);
  cJSON *root = cJSON_Parse(text);
  if (!root) return bad("not JSON", -1);
  clnet_status st = CLNET_SUCCESS;
  clnet_graph *g = NULL;
  const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format"),
              *ver = cJSON_GetObjectItemCaseSensitive(root, "version"),
              *input = cJSON_GetObjectItemCaseSensitive(root, "input"),
              *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
  int32_t version = 0, shape[3] = {0, 0, 0};
  if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "clnet-graph")) {
    st = bad("\"format\" must be \"clnet-graph\"", -1);
    goto done;
  }
  if (!json_int(ver, 1, 1000000, &version) || version != DESCRIPTION_VERSION) {
    st = bad("\"version\" must be 1 (this build reads version 1)", -1);
    goto done;
  }
  if (!cJSON_IsArray(input) || cJSON_GetArraySize(input) != 3) {
    st = bad("\"input\" must be [H, W, C]", -1);
    goto done;
  }
  for (int k = 0; k < 3; ++k)
    if (!json_int(cJSON_GetArrayItem(input, k), 1, 1 << 16, &shape[k])) {
      st = bad("\"input\" sizes must be integers in 1..65536", -1);
      goto done;
    }
  if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) < 1 || cJSON_GetArraySize(layers) > CLNET_GRAPH_MAX_LAYERS) {
    st = bad("\"layers\" must be an array of 1 to 512 layers", -1);
    goto done;
  }
  CLNET_TRY_GOTO(clnet_graph_create(shape[0], shape[1], shape[2], &g), st, done);
  int32_t i = 0;
  const cJSON *l;
  cJSON_ArrayForEach(l, layers) {
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(l, "kind"), *name = cJSON_GetObjectItemCaseSensitive(l, "name"),
                *ins = cJSON_GetObjectItemCaseSensitive(l, "inputs"), *attrs = cJSON_GetObjectItemCaseSensitive(l, "attrs");
    if (!cJSON_IsString(kind) || !cJSON_IsString(name) || !cJSON_IsString(attrs) || !cJSON_IsArray(ins)) {
      st = bad("needs \"kind\", \"name\", \"attrs\" (strings) and \"inputs\" (an array)", i);
      goto done;
    }
    const int n_in = cJSON_GetArraySize(ins);
    int32_t in[CLNET_MAX_LAYER_INPUTS];
    if (n_in < 1 || n_in > CLNET_MAX_LAYER_INPUTS) {
      st = bad("\"inputs\" must hold 1 to 16 tensor ids", i);
      goto done;
    }
    for (int j = 0; j < n_in; ++j)
      if (!json_int(cJSON_GetArrayItem(ins, j), 0, i, &in[j])) {
        st = bad("an input must be an earlier tensor: 0 (the input) .. its own index", i);
        goto done;
      }
    int32_t t = -1;
    st = clnet_graph_add_layer(g, kind->valuestring, name->valuestring, in, n_in, attrs->valuestring, &t);
    if (st != CLNET_SUCCESS) {
      st = clnet_wrap_error(CLNET_ERR_FORMAT, "model description: layer %d", i);
      goto done;
    }
    ++i;
  }
  if (g->loss_layer < 0) st = bad("no loss layer at the end", -1);
done:
  cJSON_Delete(root);
  if (st != CLNET_SUCCESS) {
    clnet_graph_free(g);
    return st;
  }
  *out = g;
  return CLNET_SUCCESS;
}
