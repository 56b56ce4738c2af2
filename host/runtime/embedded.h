/* Kernel sources embedded at build time by cmake/embed_cl.cmake (one per .cl file in cl/). */
#ifndef CLNET_RUNTIME_EMBEDDED_H
#define CLNET_RUNTIME_EMBEDDED_H
#include <stddef.h>
typedef struct clnet_embedded_source {
  const char *name;   /* file stem: "conv2d" for cl/conv2d.cl */
  const char *source; /* NUL-terminated */
  size_t length;      /* bytes, without the NUL */
} clnet_embedded_source;
extern const clnet_embedded_source clnet_embedded_sources[]; /* ends with {0,0,0} */
extern const int clnet_embedded_source_count;
#endif
