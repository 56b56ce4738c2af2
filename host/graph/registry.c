/* The layer kinds: the table cmake/layer_registry.cmake generates from host/graph/layers/, and
 * the helpers every descriptor file may use. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "graph/layer_kind.h"

extern const clnet_layer_kind *const clnet_layer_kind_table[];
extern const int32_t clnet_layer_kind_table_count;

int32_t clnet_layer_kind_count(void) { return clnet_layer_kind_table_count; }

const clnet_layer_kind *clnet_layer_kind_at(int32_t i) {
  return i >= 0 && i < clnet_layer_kind_table_count ? clnet_layer_kind_table[i] : NULL;
}

const clnet_layer_kind *clnet_layer_kind_find(const char *name) {
  for (int32_t i = 0; name && i < clnet_layer_kind_table_count; ++i)
    if (!strcmp(clnet_layer_kind_table[i]->name, name)) return clnet_layer_kind_table[i];
  return NULL;
}

const clnet_attr_spec clnet_no_attrs[1] = {CLNET_ATTR_END};

int32_t clnet_layer_no_params(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out,
                              clnet_param_decl *p) {
  (void)l, (void)in, (void)out, (void)p;
  return 0;
}

int32_t clnet_layer_no_aux(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, clnet_aux_decl *a) {
  (void)l, (void)in, (void)out, (void)a;
  return 0;
}

uint64_t clnet_layer_no_scratch(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out, int32_t n) {
  (void)l, (void)in, (void)out, (void)n;
  return 0;
}

double clnet_layer_no_macs(const clnet_layer *l, const clnet_tshape *in, const clnet_tshape *out) {
  (void)l, (void)in, (void)out;
  return 0;
}

clnet_status clnet_layer_no_backward(const clnet_layer *l, clnet_layer_io *io) {
  (void)io;
  return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "layer '%s' (%s) has no backward step", l->name, l->kind->name);
}

clnet_status clnet_layer_error(const clnet_layer *l, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return clnet_set_error(CLNET_ERR_INVALID_ARGUMENT, "layer '%s' (%s): %s", l->name, l->kind->name, msg);
}
