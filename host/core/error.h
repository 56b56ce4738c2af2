/* Internal: recording errors. Library code reports a failure as
 *   return clnet_set_error(CLNET_ERR_FORMAT, "%s: file is %zu bytes, ...", path, n);
 * which stores the one-line message for clnet_last_error() and returns the status. */
#ifndef CLNET_CORE_ERROR_H
#define CLNET_CORE_ERROR_H

#include "clnet/status.h"

#if defined(__GNUC__)
#define CLNET_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLNET_PRINTF(a, b)
#endif

clnet_status clnet_set_error(clnet_status status, const char *fmt, ...) CLNET_PRINTF(2, 3);
/* Prepends "context: " to the current message (keeps the status). */
clnet_status clnet_wrap_error(clnet_status status, const char *fmt, ...) CLNET_PRINTF(2, 3);

/* A short, single-line rendering of an untrusted string for messages: control
 * bytes become '?', and more than 64 bytes are cut with "...". Returns buf. */
const char *clnet_printable(const char *s, char buf[72]);

/* Evaluate an OpenCL call; on failure record "<call> failed: CL_... (file:line)"
 * and return the OpenCL code from the enclosing function. */
#define CLNET_CL_CHECK(call)                                                          \
  do {                                                                                \
    cl_int clnet_err_ = (call);                                                       \
    if (clnet_err_ != CL_SUCCESS)                                                     \
      return clnet_set_error(clnet_err_, "%s failed: %s (%s:%d)", #call,              \
                             clnet_status_str(clnet_err_), __FILE__, __LINE__);       \
  } while (0)

/* Same, but stores the status in `st` and jumps to `label` (for cleanup paths). */
#define CLNET_CL_GOTO(call, st, label)                                                \
  do {                                                                                \
    cl_int clnet_err_ = (call);                                                       \
    if (clnet_err_ != CL_SUCCESS) {                                                   \
      (st) = clnet_set_error(clnet_err_, "%s failed: %s (%s:%d)", #call,              \
                             clnet_status_str(clnet_err_), __FILE__, __LINE__);       \
      goto label;                                                                     \
    }                                                                                 \
  } while (0)

/* Propagate a clnet_status. */
#define CLNET_TRY(expr)                                                               \
  do {                                                                                \
    clnet_status clnet_st_ = (expr);                                                  \
    if (clnet_st_ != CLNET_SUCCESS) return clnet_st_;                                 \
  } while (0)

#define CLNET_TRY_GOTO(expr, st, label)                                               \
  do {                                                                                \
    (st) = (expr);                                                                    \
    if ((st) != CLNET_SUCCESS) goto label;                                            \
  } while (0)

#endif
