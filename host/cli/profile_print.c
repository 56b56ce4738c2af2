/* The --profile table of `clnet bench --model` and `clnet train`: device time by kernel and by op
 * (clnet_profile_report), longest first. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"

static void print_count(double c) {
  if (c == floor(c)) printf(" %10.0f", c);
  else printf(" %10.1f", c);
}

/* One grouping: the first max_rows rows and one line for the rest. */
static clnet_status print_group(clnet_ctx *ctx, clnet_profile_group by, const char *title, int32_t per,
                                const char *unit, int32_t max_rows) {
  clnet_profile_row *rows = NULL;
  int32_t n = 0;
  clnet_status st = clnet_profile_report(ctx, by, &rows, &n, NULL);
  if (st != CLNET_SUCCESS) return st;
  printf("%-60s %10s %10s %7s\n", title, per > 1 ? "calls/step" : "calls", unit, "share");
  int64_t rest_count = 0;
  double rest_ms = 0, rest_share = 0;
  for (int32_t i = 0; i < n; ++i) {
    if (i >= max_rows) {
      rest_count += rows[i].count;
      rest_ms += rows[i].ms;
      rest_share += rows[i].share;
      continue;
    }
    printf("  %-58.58s", rows[i].label);
    print_count((double)rows[i].count / per);
    printf(" %10.2f %6.1f%%\n", rows[i].ms / per, 100 * rows[i].share);
  }
  if (n > max_rows) {
    char more[64];
    snprintf(more, sizeof more, "(%d more)", (int)(n - max_rows));
    printf("  %-58s", more);
    print_count((double)rest_count / per);
    printf(" %10.2f %6.1f%%\n", rest_ms / per, 100 * rest_share);
  }
  free(rows);
  return CLNET_SUCCESS;
}

clnet_status cli_print_profile(clnet_ctx *ctx, int32_t steps, double wall_s, int32_t max_rows) {
  const int32_t per = steps > 0 ? steps : 1;
  clnet_profile_row *rows = NULL;
  int32_t n = 0;
  double total_ms = 0;
  clnet_status st = clnet_profile_report(ctx, CLNET_PROFILE_BY_KERNEL, &rows, &n, &total_ms);
  if (st != CLNET_SUCCESS) return st;
  int64_t commands = 0;
  for (int32_t i = 0; i < n; ++i) commands += rows[i].count;
  free(rows);
  const char *unit = steps > 0 ? "ms/step" : "ms";
  if (steps > 0)
    printf("profile of %d step%s (device time of every command from its OpenCL events, per step):\n", (int)steps,
           steps == 1 ? "" : "s");
  else
    printf("profile (device time of every command from its OpenCL events):\n");
  printf("  device time %.1f %s in %.0f commands", total_ms / per, unit, (double)commands / per);
  if (wall_s > 0)
    printf("; wall %.1f %s: the sum is %.1f %% of the wall time", wall_s * 1e3 / per, unit,
           100 * total_ms / (wall_s * 1e3));
  printf("\n");
  st = print_group(ctx, CLNET_PROFILE_BY_KERNEL, "by kernel", per, unit, max_rows);
  if (st == CLNET_SUCCESS) st = print_group(ctx, CLNET_PROFILE_BY_OP, "by op (layers of one shape and pass add up)", per, unit, max_rows);
  return st;
}
