#!/usr/bin/env bash
# Installs clnet's dependencies from Debian 12 packages and builds it into build/.
# Run from anywhere; uses sudo for apt-get when not run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(
  build-essential cmake pkg-config          # toolchain
  ocl-icd-opencl-dev opencl-headers clinfo  # OpenCL loader and headers
  pocl-opencl-icd                           # an OpenCL device on the CPU
  oclgrind                                  # a strict OpenCL 1.2 simulator: races, bounds, uninitialised reads (ctest oclgrind_*)
  clang                                     # ctest kernels_cl12: every kernel compiles as OpenCL C 1.1/1.2 without fp64/fp16
  libclblast-dev                            # GEMMs
  libcriterion-dev                          # tests
  zlib1g-dev                                # gzipped IDX files, checksums
  libcjson-dev                              # safetensors headers
  libplplot-dev plplot-driver-cairo         # curves.png
  libpng-dev                                # image folders: PNG decoding (docs/DESIGN.md, "Image folders")
  libturbojpeg0-dev                         # image folders: JPEG decoding (libjpeg-turbo's TurboJPEG API)
  libopenmpi-dev openmpi-bin                # data-parallel training across processes (mpirun)
  libopenblas0                              # clnet bench: OpenBLAS SGEMM as the CPU limit (loaded at run time)
  dataset-fashion-mnist                     # the default data set
  libonnx-dev                               # onnx.proto, the schema clnet's ONNX reader and writer use
  protobuf-c-compiler libprotobuf-c-dev     # C code for onnx.proto at build time, and its runtime
  libonnx-testdata                          # ONNX's backend test cases (clnet onnx-test, tests/test_onnx.c)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
echo "setup: built build/clnet"
