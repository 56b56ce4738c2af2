#!/usr/bin/env bash
# Data-parallel throughput on one machine: training images/s of the same job on
# one device, two replicas on one device, two OpenCL devices in one process and
# two MPI ranks, interleaved over several rounds (the machine's noise hits every
# configuration alike). Prints one line per run and the median per configuration.
#
#   bench/dist_scaling.sh [--rounds N] [--batches N] [-- extra clnet train flags]
#
# On a CPU through PoCL the "two devices" are two PoCL pthread devices
# (POCL_DEVICES="pthread pthread") sharing the same cores; on a machine with two
# GPUs pass --device 0,1 style lists through CLNET_DIST_DEVICES (default 0,1).
set -euo pipefail
cd "$(dirname "$0")/.."
CLNET=${CLNET:-./build/clnet}
rounds=3
batches=20
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --batches) batches=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "usage: $0 [--rounds N] [--batches N] [-- clnet train flags]" >&2; exit 2 ;;
  esac
done
two=${CLNET_DIST_DEVICES:-0,1}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
base=(train --epochs 1 --max-batches "$batches" --max-eval 256 --overwrite "${extra[@]}") # each round replaces the last

names=("1 device" "2 replicas, 1 device" "2 devices, 1 process" "2 MPI ranks")
run_config() { # $1 = index; prints images/s of the training part of the epoch
  local k=$1 log="$out/run$1.txt"
  case $k in
    0) CI=1 "$CLNET" "${base[@]}" --out "$out/o$k" > "$log" 2>&1 ;;
    1) CI=1 "$CLNET" "${base[@]}" --device 0,0 --out "$out/o$k" > "$log" 2>&1 ;;
    2) if [ "$two" = 0,1 ] && [ -z "${POCL_DEVICES:-}" ]; then
         CI=1 POCL_DEVICES="pthread pthread" "$CLNET" "${base[@]}" --device "$two" --out "$out/o$k" > "$log" 2>&1
       else
         CI=1 "$CLNET" "${base[@]}" --device "$two" --out "$out/o$k" > "$log" 2>&1
       fi ;;
    3) CI=1 mpirun -np 2 --oversubscribe "$CLNET" "${base[@]}" --out "$out/o$k" > "$log" 2>&1 ;;
  esac || { echo "run failed: ${names[$k]}" >&2; cat "$log" >&2; exit 1; }
  sed -n 's/^epoch 1: .* \([0-9.]*\) img\/s.*/\1/p' "$log"
}

configs=(0 1 2 3)
command -v mpirun > /dev/null || { echo "mpirun not found: skipping the MPI configuration" >&2; configs=(0 1 2); }
declare -A results
for r in $(seq 1 "$rounds"); do
  for k in "${configs[@]}"; do
    ips=$(run_config "$k")
    echo "round $r: ${names[$k]}: $ips images/s"
    results[$k]="${results[$k]:-} $ips"
  done
done
echo
echo "median images/s over $rounds rounds (${batches} batches each; flags: ${base[*]}):"
for k in "${configs[@]}"; do
  med=$(echo ${results[$k]} | tr ' ' '\n' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '  %-22s %8s\n' "${names[$k]}" "$med"
done
