/* clnet status codes.
 *
 * Every library function returns a clnet_status. 0 is success. Negative values
 * from -1 to -999 are OpenCL's own error codes passed through unchanged (e.g.
 * -4 CL_MEM_OBJECT_ALLOCATION_FAILURE); clnet's own codes live from -1000 down.
 * CLBlast's codes are mapped to CLNET_ERR_CLBLAST with the detail in the
 * message. On failure the library records a one-line, human-readable message
 * (naming the call, file, op or sizes involved) retrievable with
 * clnet_last_error(); the library never prints and never exits. */
#ifndef CLNET_STATUS_H
#define CLNET_STATUS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int32_t clnet_status;

enum {
  CLNET_SUCCESS = 0,
  CLNET_ERR_INVALID_ARGUMENT = -1000, /* a parameter breaks a documented rule */
  CLNET_ERR_OUT_OF_HOST_MEMORY = -1001,
  CLNET_ERR_DEVICE_NOT_FOUND = -1002,  /* selector matched no device */
  CLNET_ERR_DEVICE_AMBIGUOUS = -1003,  /* selector matched several devices */
  CLNET_ERR_TOO_LARGE = -1004,         /* request exceeds a device limit */
  CLNET_ERR_IO = -1005,                /* open/read/write/rename failed */
  CLNET_ERR_FORMAT = -1006,            /* a file's content is malformed */
  CLNET_ERR_BUILD = -1007,             /* an OpenCL program failed to build */
  CLNET_ERR_KERNEL_NOT_FOUND = -1008,  /* no such .cl file or kernel */
  CLNET_ERR_CLBLAST = -1009,           /* a CLBlast routine failed */
  CLNET_ERR_UNSUPPORTED = -1010,       /* valid request this backend cannot do */
  CLNET_ERR_NUMERIC = -1011,           /* NaN or Inf where none may be */
  CLNET_ERR_CHECK_FAILED = -1012,      /* a cross-check exceeded its tolerance */
  CLNET_ERR_MISMATCH = -1013,          /* e.g. checkpoint does not fit the model */
  CLNET_ERR_INTERRUPTED = -1014,       /* stopped on request (SIGINT) */
};

/* Short constant name of a status, e.g. "CL_OUT_OF_RESOURCES" or
 * "CLNET_ERR_FORMAT". Never NULL. */
const char *clnet_status_str(clnet_status status);

/* The message recorded by the most recent failing call on this thread, or ""
 * if none. Valid until the next failing call on this thread. */
const char *clnet_last_error(void);

/* Forget the recorded message. */
void clnet_clear_error(void);

#ifdef __cplusplus
}
#endif
#endif
