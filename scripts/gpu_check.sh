#!/bin/bash
# The GPU run of docs/PERFORMANCE.md, in one command, on a machine prepared by
# scripts/gpu_pack.sh (the .gpu/ folder next to this repository's root) with an NVIDIA driver:
#
#   scripts/gpu_check.sh [LOG_DIR]     # default LOG_DIR: $OUT if set, else ./gpu-logs
#
# 1. finds NVIDIA's OpenCL driver library and points the packed ICD loader at it
#    (OCL_ICD_VENDORS, a private .icd file: nothing outside /tmp is written);
# 2. clnet devices, clnet check (every op against the CPU reference) and clnet check --model;
# 3. clnet bench (every op, with the conv algorithms auto picks) and bench --model at batch 64;
# 4. bench/pytorch_resnet18.py with PyTorch on CUDA (fp32, TF32 off) against clnet on the GPU.
# Each step's output goes to LOG_DIR/<step>.txt and a summary to LOG_DIR/summary.txt; a failing
# step is reported and the next one still runs. Exit status: the number of failed steps.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
pack="$root/.gpu"
logs="${1:-${OUT:-$root/gpu-logs}}"
mkdir -p "$logs"
summary="$logs/summary.txt"
: > "$summary"
say() { echo "$*" | tee -a "$summary"; }

[ -x "$pack/clnet" ] || { say "gpu_check: $pack/clnet missing: run scripts/gpu_pack.sh first and carry .gpu"; exit 1; }
export LD_LIBRARY_PATH="$pack/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# NVIDIA's OpenCL implementation: wherever the driver put it
icd_lib=""
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib; do
  for f in "$d"/libnvidia-opencl.so.1 "$d"/libnvidia-opencl.so.*; do
    [ -e "$f" ] && { icd_lib="$f"; break 2; }
  done
done
if [ -n "$icd_lib" ]; then
  mkdir -p /tmp/clnet-icd
  echo "$icd_lib" > /tmp/clnet-icd/nvidia.icd
  export OCL_ICD_VENDORS=/tmp/clnet-icd
  say "OpenCL driver: $icd_lib"
else
  say "OpenCL driver: no libnvidia-opencl.so found; using the system's ICD files (/etc/OpenCL/vendors)"
fi
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$summary"

clnet="$pack/clnet"
export CLNET_CACHE_DIR="${CLNET_CACHE_DIR:-/tmp/clnet-cache}"
failed=0
step() { # step NAME COMMAND...: runs it, logs it, notes the status and the wall time
  local name=$1
  shift
  local t0=$SECONDS
  "$@" > "$logs/$name.txt" 2>&1
  local rc=$?
  say "$name: exit $rc, $((SECONDS - t0)) s ($*)"
  [ $rc -eq 0 ] || failed=$((failed + 1))
  return $rc
}

step devices "$clnet" devices
# the GPU: the first OpenCL device whose type is GPU (clnet devices lists them)
gpu=$(awk '$1 ~ /^[0-9]+$/ && $3 == "GPU" {print $1; exit}' "$logs/devices.txt")
[ -n "$gpu" ] || gpu=0
say "device under test: $gpu"
step check "$clnet" check --device "$gpu"
step check_model "$clnet" check --device "$gpu" --model
step bench_ops "$clnet" bench --device "$gpu" --json "$logs/bench_ops.json"
step bench_model "$clnet" bench --device "$gpu" --model resnet18 --batch 64 --steps 20 --profile
step pytorch_cuda python3 "$root/bench/pytorch_resnet18.py" --batch 64 --steps 20 --clnet "$clnet" \
  --device "$gpu" --torch-device cuda
grep -h -E "images/s|clnet / PyTorch|peak device memory|first training step" "$logs/bench_model.txt" \
  "$logs/pytorch_cuda.txt" 2>/dev/null | tee -a "$summary"
tail -n 2 "$logs/check.txt" "$logs/check_model.txt" 2>/dev/null | tee -a "$summary"
say "gpu_check: $failed step(s) failed; logs in $logs"
exit $failed
