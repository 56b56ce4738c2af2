/* What clnet prints of strings it did not write itself (paths, arguments, messages that quote
 * them): bytes a terminal would act on are escaped (cli.h). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

/* Length of the UTF-8 sequence at s that is printable (not a C1 control), else 0. */
static size_t utf8_printable(const unsigned char *s) {
  const unsigned char c = s[0];
  const size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (n == 0) return 0;
  for (size_t i = 1; i < n; ++i)
    if ((s[i] & 0xc0) != 0x80) return 0;
  if (n == 2 && c == 0xc2 && s[1] < 0xa0) return 0;                 /* U+0080..U+009F: C1 controls (CSI) */
  if (n == 3 && c == 0xe0 && s[1] < 0xa0) return 0;                 /* overlong */
  if (n == 3 && c == 0xed && s[1] >= 0xa0) return 0;                /* surrogates */
  if (n == 4 && ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))) return 0;
  return n;
}

const char *cli_safe(const char *s, int keep_newlines, char *dst, size_t cap) {
  size_t o = 0;
  if (cap == 0) return dst;
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  while (*p) {
    char esc[8] = "";
    size_t take = 1;
    if (*p == '\n' && keep_newlines) {
      esc[0] = '\n';
    } else if (*p == '\n' || *p == '\t' || *p == '\r') {
      snprintf(esc, sizeof esc, "\\%c", *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r');
    } else if (*p < 0x20 || *p == 0x7f) {
      snprintf(esc, sizeof esc, "\\x%02x", *p);
    } else if (*p >= 0x80) {
      take = utf8_printable(p);
      if (take == 0) {
        snprintf(esc, sizeof esc, "\\x%02x", *p);
        take = 1;
      }
    }
    const size_t len = esc[0] ? strlen(esc) : take;
    if (o + len + 1 > cap) break;
    memcpy(dst + o, esc[0] ? esc : (const char *)p, len);
    o += len;
    p += take;
  }
  dst[o] = '\0';
  return dst;
}

void cli_put_safe(FILE *f, const char *s, int keep_newlines) {
  char buf[16384];
  fputs(cli_safe(s, keep_newlines, buf, sizeof buf), f);
}
