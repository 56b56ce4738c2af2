/* Oclgrind 21.10 (Debian 12) gets these wrong under --uninitialized; clnet works around each
 * (docs/RELIABILITY.md, "Oclgrind"). Not part of the build:
 *   cc tests/oclgrind/repro.c -lOpenCL -o repro && for i in 1 2 3 4 5 6 7; do oclgrind --uninitialized ./repro $i; done
 * Every case reads one float that the host or a kernel did write (or, case 5, one nobody wrote)
 * and stores it: a report of "Uninitialized value written" is false in 1-4, missing in 5.
 *   1 a full write, then a partial one: the rest of the buffer reads as uninitialised
 *   2 a write at a byte offset (a sub-buffer view, guard zones): uninitialised
 *   3 clEnqueueFillBuffer over the whole buffer: uninitialised
 *   4 a buffer on a freed buffer's slot, written by a kernel past the old buffer's size
 *   5 a buffer on a freed buffer's slot, never written: not reported (the old shadow says written)
 *   6 the kernel contains LLVM's freeze (x / t and x % t): "Unsupported instruction: freeze",
 *     the work-item stops, its stores never happen
 *   7 a shuffle with undefined lanes (v.s0 + v.s7 of a float8): the process segfaults
 * 6 and 7 only arise in optimised code: with --build-options -cl-opt-disable both run. */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdio.h>
#include <stdlib.h>

static const char *src =
    "__kernel void copy1(__global const float *a, const int i, __global float *out) { out[0] = a[i]; }\n"
    "__kernel void fill(__global float *a, const int n) { for (int i = 0; i < n; ++i) a[i] = i; }\n"
    "__kernel void divrem(__global const float *a, const int t, __global float *out) {\n"
    "  const int i = get_global_id(0) + 5; out[0] = (float)(i / t + i % t); }\n"
    "__kernel void lanes(__global const float *a, const int i, __global float *out) {\n"
    "  const float8 v = vload8(0, a); out[0] = v.s0 + v.s7; }\n";

int main(int argc, char **argv) {
  const int which = argc > 1 ? atoi(argv[1]) : 1;
  cl_platform_id p;
  cl_device_id d;
  cl_int e;
  clGetPlatformIDs(1, &p, NULL);
  clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 1, &d, NULL);
  cl_context c = clCreateContext(NULL, 1, &d, NULL, NULL, &e);
  cl_command_queue q = clCreateCommandQueue(c, d, 0, &e);
  cl_program pr = clCreateProgramWithSource(c, 1, &src, NULL, &e);
  clBuildProgram(pr, 1, &d, "", NULL, NULL);
  float h[16];
  for (int i = 0; i < 16; ++i) h[i] = (float)i;
  cl_mem out = clCreateBuffer(c, CL_MEM_READ_WRITE, 4, NULL, &e), a = NULL;
  const char *kernel = "copy1";
  int i = 0;
  if (which == 1 || which == 2 || which == 3 || which >= 6) {
    a = clCreateBuffer(c, CL_MEM_READ_WRITE, sizeof h, NULL, &e);
    if (which == 1) { /* all 16 floats, then floats 0..3 again; read 6 */
      clEnqueueWriteBuffer(q, a, CL_TRUE, 0, sizeof h, h, 0, NULL, NULL);
      clEnqueueWriteBuffer(q, a, CL_TRUE, 0, 16, h, 0, NULL, NULL);
      i = 6;
    } else if (which == 2) { /* floats 4..15 at byte offset 16; read 4 */
      clEnqueueWriteBuffer(q, a, CL_TRUE, 16, sizeof h - 16, h + 4, 0, NULL, NULL);
      i = 4;
    } else if (which == 3) { /* all 16 floats filled; read 0 */
      const float zero = 0.0f;
      clEnqueueFillBuffer(q, a, &zero, sizeof zero, 0, sizeof h, 0, NULL, NULL);
    } else {
      clEnqueueWriteBuffer(q, a, CL_TRUE, 0, sizeof h, h, 0, NULL, NULL);
      kernel = which == 6 ? "divrem" : "lanes";
      i = 3;
    }
  } else { /* 4, 5: a 4-float buffer written and freed, then a 16-float one on its slot */
    cl_mem old = clCreateBuffer(c, CL_MEM_READ_WRITE, which == 4 ? 16 : sizeof h, NULL, &e);
    clEnqueueWriteBuffer(q, old, CL_TRUE, 0, which == 4 ? 16 : sizeof h, h, 0, NULL, NULL);
    clReleaseMemObject(old);
    a = clCreateBuffer(c, CL_MEM_READ_WRITE, sizeof h, NULL, &e);
    if (which == 4) { /* a kernel writes all 16 floats; read 10 */
      cl_kernel f = clCreateKernel(pr, "fill", &e);
      const int n = 16;
      size_t one = 1;
      clSetKernelArg(f, 0, sizeof a, &a);
      clSetKernelArg(f, 1, sizeof n, &n);
      clEnqueueNDRangeKernel(q, f, 1, NULL, &one, NULL, 0, NULL, NULL);
      i = 10;
    } else { /* nothing writes it; read 3 */
      i = 3;
    }
  }
  cl_kernel k = clCreateKernel(pr, kernel, &e);
  clSetKernelArg(k, 0, sizeof a, &a);
  clSetKernelArg(k, 1, sizeof i, &i);
  clSetKernelArg(k, 2, sizeof out, &out);
  size_t g = 1;
  clEnqueueNDRangeKernel(q, k, 1, NULL, &g, NULL, 0, NULL, NULL);
  float r = -1;
  clEnqueueReadBuffer(q, out, CL_TRUE, 0, 4, &r, 0, NULL, NULL);
  printf("case %d: %s read %g\n", which, kernel, r);
  return 0;
}
