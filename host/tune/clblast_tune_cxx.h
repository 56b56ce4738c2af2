/* Internal: the extern "C" entry into CLBlast's C++ tuning API (clblast_tune_cxx.cpp). */
#ifndef CLNET_TUNE_CLBLAST_TUNE_CXX_H
#define CLNET_TUNE_CLBLAST_TUNE_CXX_H

#include <stddef.h>
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLNET_CLBLAST_MAX_PARAMS 24

/* One kernel's parameter set, e.g. Xgemm's GEMMK=0 KREG=1 KWG=32 ... (names sorted). */
typedef struct clnet_clblast_params {
  char names[CLNET_CLBLAST_MAX_PARAMS][32];
  size_t values[CLNET_CLBLAST_MAX_PARAMS];
  size_t count;
} clnet_clblast_params;

/* Runs clblast::TuneXgemm<float> (direct = 0) or TuneXgemmDirect<float> (direct = 1) for one
 * (m, n, k) on the queue's device, trying `fraction` of CLBlast's configurations; the best
 * (fastest that verified) is stored in *out. Returns CLBlast's status code (0 = success). */
int clnet_clblast_tune_run(cl_command_queue queue, int direct, size_t m, size_t n, size_t k, double fraction,
                           clnet_clblast_params *out);
/* The parameters CLBlast uses now for `kernel` ("Xgemm", "XgemmDirect", "GemmRoutine", ...) in
 * single precision on `device`: its database entry, or what CLBlastOverrideParameters set.
 * Returns CLBlast's status code. */
int clnet_clblast_retrieve(cl_device_id device, const char *kernel, clnet_clblast_params *out);

#ifdef __cplusplus
}
#endif
#endif
