/* Internal: strict parsers for values given as text (flags, metadata): the whole string or nothing. */
#ifndef CLNET_CORE_PARSE_H
#define CLNET_CORE_PARSE_H

#include <stdint.h>

/* "HxWxC" (decimal digits only, e.g. "32x32x3"), each in 1..max: 1 and the three values, else 0
 * (trailing characters, a fourth dimension, signs, spaces or overflow all give 0). */
int clnet_parse_hwc(const char *s, int32_t max, int32_t *h, int32_t *w, int32_t *c);

#endif
