/* Strict parsers (core/parse.h). */
#include "core/parse.h"

/* Decimal digits at *s up to a character that is not one: 1 and the value (1..max), else 0. */
static int digits(const char **s, int32_t max, int32_t *out) {
  int64_t v = 0;
  const char *p = *s;
  if (*p < '0' || *p > '9') return 0;
  for (; *p >= '0' && *p <= '9'; ++p)
    if ((v = v * 10 + (*p - '0')) > max) return 0;
  if (v < 1) return 0;
  *s = p;
  *out = (int32_t)v;
  return 1;
}

int clnet_parse_hwc(const char *s, int32_t max, int32_t *h, int32_t *w, int32_t *c) {
  int32_t v[3];
  for (int i = 0; i < 3; ++i) {
    if (i && *s++ != 'x') return 0;
    if (!digits(&s, max, &v[i])) return 0;
  }
  if (*s != '\0') return 0;
  *h = v[0], *w = v[1], *c = v[2];
  return 1;
}
