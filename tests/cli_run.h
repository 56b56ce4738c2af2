/* Test helper: running the clnet executable (CLNET_CLI, set by ctest) and capturing what it
 * prints, for the end-to-end tests. */
#ifndef CLNET_TESTS_CLI_RUN_H
#define CLNET_TESTS_CLI_RUN_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

static inline const char *clnet_cli_path(void) {
  const char *p = getenv("CLNET_CLI");
  cr_assert_not_null(p, "CLNET_CLI must point to the clnet executable (ctest sets it)");
  return p;
}

/* Runs `CI=1 PREFIX clnet ARGS` (PREFIX: environment assignments or a launcher such as
 * mpirun; "" for none) with stdout and stderr together into out (NUL-terminated, at most
 * cap - 1 bytes); returns the exit status, -1 if it did not exit normally. */
static inline int clnet_cli_run(const char *prefix, const char *args, char *out, size_t cap) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "CI=1 %s '%s' %s 2>&1", prefix, clnet_cli_path(), args);
  FILE *p = popen(cmd, "r");
  cr_assert_not_null(p);
  size_t n = fread(out, 1, cap - 1, p);
  out[n] = '\0';
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#endif
