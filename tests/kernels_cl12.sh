#!/bin/sh
# ctest kernels_cl12: every cl/*.cl compiles as OpenCL C 1.2 and 1.1 with every extension off
# (no cl_khr_fp64: no double; no cl_khr_fp16: no half; no 2.0-only built-ins, attributes or
# sub-groups), warnings as errors -- what an OpenCL 1.2 GPU without fp64 accepts
# (docs/RELIABILITY.md, "OpenCL 1.2 devices").
#   kernels_cl12.sh CLANG CL_DIR
set -u
clang=${1:?usage: kernels_cl12.sh CLANG CL_DIR}
dir=${2:?usage: kernels_cl12.sh CLANG CL_DIR}
fail=0
n=0
# as built for a GPU and for a CPU device (host/runtime/program.c adds -DCLNET_CPU_DEVICE there)
for f in "$dir"/*.cl; do
  for std in CL1.2 CL1.1; do
    for def in -DCLNET_GPU_BUILD -DCLNET_CPU_DEVICE; do
      n=$((n + 1))
      if ! out=$("$clang" -x cl -cl-std=$std $def -Xclang -finclude-default-header -Xclang -cl-ext=-all \
            -Wall -Werror -fsyntax-only -target spir64 "$f" 2>&1); then
        echo "FAIL: $(basename "$f") as OpenCL C ${std#CL} ($def) without extensions:"
        echo "$out" | head -n 20
        fail=1
      fi
    done
  done
done
# and the check itself must be able to fail: a double and a 2.0 built-in are rejected
probe=$(mktemp "${TMPDIR:-/tmp}/clnet-cl12.XXXXXX")
trap 'rm -f "$probe" "$probe.cl"' EXIT
printf '__kernel void k(__global float *x) { double d = x[0]; x[0] = (float)d; }\n' >"$probe.cl"
if "$clang" -x cl -cl-std=CL1.2 -Xclang -finclude-default-header -Xclang -cl-ext=-all -fsyntax-only \
     -target spir64 "$probe.cl" >/dev/null 2>&1; then
  echo "FAIL: $clang accepts a double with cl_khr_fp64 off: this check would pass anything"
  fail=1
fi
printf '__kernel void k(__global float *x) { x[0] = work_group_reduce_add(x[0]); }\n' >"$probe.cl"
if "$clang" -x cl -cl-std=CL1.2 -Xclang -finclude-default-header -Xclang -cl-ext=-all -fsyntax-only \
     -target spir64 "$probe.cl" >/dev/null 2>&1; then
  echo "FAIL: $clang accepts an OpenCL 2.0 built-in as 1.2: this check would pass anything"
  fail=1
fi
[ $fail -eq 0 ] && echo "ok: $((n / 4)) kernel files compile as OpenCL C 1.2 and 1.1 without fp64 or fp16"
exit $fail
