/* Range-checked option values (cli.h): a value that parses but cannot mean anything is a usage
 * error up front, not a failure after the data loads or a run that silently does nothing. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "cli/cli.h"

int cli_parse_real(const char *s, double lo, double hi, double *out) {
  double v = 0;
  /* cli_parse_double refuses trailing junk, NaN, infinities and ERANGE (overflow and underflow) */
  if (!cli_parse_double(s, &v) || !(v >= lo && v <= hi)) return 0;
  *out = v;
  return 1;
}
