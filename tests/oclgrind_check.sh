#!/bin/sh
# The Oclgrind entries of ctest (CMakeLists.txt registers them when oclgrind is installed):
#   oclgrind_check.sh quick   CLNET  clnet check --quick under Oclgrind, every checker on
#   oclgrind_check.sh model   CLNET  clnet check --model resnet18 --algo auto (one step of the small
#                                    ResNet-18: fused BN tails, residual adds, pools, AUTO's find-db)
#   oclgrind_check.sh planted CLNET  the entries must fail on a planted bug: a missing barrier
#                                    (a data race) and a read one past the end of a buffer, both
#                                    of which pass `clnet check` on PoCL
# A run fails when clnet fails or when Oclgrind reports anything: its log (--log) must stay
# empty. Two passes (docs/RELIABILITY.md, "Oclgrind"):
#   1. --data-races --check-api on the kernels as clnet builds them (optimised);
#   2. --uninitialized --data-races --check-api with -cl-opt-disable: Oclgrind 21.10's
#      uninitialised-value checker aborts the work-item on LLVM's `freeze` instruction and crashes
#      on shuffles with undefined lanes, both of which only optimised code contains (fixed after
#      21.10, Oclgrind #220).
# CLNET_KERNEL_DIR, when set, is passed on (the planted bugs use it). Each run has its own cache.
set -u
mode=${1:?usage: oclgrind_check.sh quick|model|planted CLNET}
clnet=${2:?usage: oclgrind_check.sh quick|model|planted CLNET}
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/clnet-oclgrind.XXXXXX")
trap 'rm -rf "$work"' EXIT

# run NAME [oclgrind options] -- clnet arguments: 0 when clnet passed and Oclgrind said nothing
run() {
  name=$1
  shift
  opts=""
  while [ "$1" != "--" ]; do
    opts="$opts $1"
    shift
  done
  shift
  log="$work/$name.log"
  mkdir -p "$work/cache-$name"
  start=$(date +%s)
  # shellcheck disable=SC2086
  CLNET_CACHE_DIR="$work/cache-$name" oclgrind $opts --log "$log" "$clnet" "$@" >"$work/$name.out" 2>&1
  rc=$?
  lines=0
  [ -f "$log" ] && lines=$(wc -l <"$log")
  echo "== $name: oclgrind$opts clnet $*: exit $rc, $(($(date +%s) - start)) s, $lines lines of Oclgrind reports"
  tail -n 3 "$work/$name.out"
  if [ -s "$log" ]; then
    echo "-- Oclgrind reported (first 60 lines of $(wc -l <"$log")):"
    head -n 60 "$log"
    return 1
  fi
  if [ $rc -ne 0 ]; then
    echo "-- clnet failed:"
    grep -E "FAIL|seed|error" "$work/$name.out" | head -n 30
    return 1
  fi
  return 0
}

strict="--data-races --check-api"
uninit="--uninitialized --data-races --check-api --build-options -cl-opt-disable"

case "$mode" in
  quick)
    ok=0
    run quick-optimised $strict -- check --quick || ok=1
    run quick-uninitialized $uninit -- check --quick || ok=1
    exit $ok
    ;;
  model)
    ok=0
    run model-optimised $strict -- check --model resnet18 --algo auto --dense-algo auto || ok=1
    run model-uninitialized $uninit -- check --model resnet18 --algo auto --dense-algo auto || ok=1
    exit $ok
    ;;
  planted)
    # each planted bug must be reported by Oclgrind (and the run then fails)
    ok=0
    mkdir -p "$work/barrier" "$work/past_end"
    cp "$src"/cl/*.cl "$work/barrier/"
    cp "$src"/cl/*.cl "$work/past_end/"
    # Both bugs pass `clnet check` on PoCL; on a GPU the first gives wrong sums, the second reads
    # memory it does not own.
    # softmax_xent without the barrier between writing the partial sums and the tree reduction
    awk '/part_correct\[lid\] = correct;/ { print; getline; if ($0 ~ /barrier/) next } { print }' \
      "$src/cl/loss.cl" >"$work/barrier/loss.cl"
    # relu_forward loading x one element past its end at the last i (and discarding it)
    sed 's|if (i < (size_t)count) y\[i\] = fmax(x\[i\], 0.0f);|if (i < (size_t)count) { const float next = x[i + 1]; y[i] = fmax(x[i], 0.0f) + (i + 1 < (size_t)count ? 0.0f * next : 0.0f); }|' \
      "$src/cl/eltwise.cl" >"$work/past_end/eltwise.cl"
    if cmp -s "$src/cl/loss.cl" "$work/barrier/loss.cl" || cmp -s "$src/cl/eltwise.cl" "$work/past_end/eltwise.cl"; then
      echo "the planted bugs no longer apply to cl/loss.cl or cl/eltwise.cl: update tests/oclgrind_check.sh"
      exit 1
    fi
    if CLNET_KERNEL_DIR="$work/barrier" run planted-barrier $strict -- check --quick --op softmax_xent; then
      echo "FAIL: the missing barrier in softmax_xent went unreported"
      ok=1
    elif ! grep -q "data race" "$work/planted-barrier.log"; then
      echo "FAIL: the missing barrier gave no data-race report"
      ok=1
    else
      echo "ok: the missing barrier is reported as a data race"
    fi
    if CLNET_KERNEL_DIR="$work/past_end" run planted-past-end $strict -- check --quick --op relu; then
      echo "FAIL: the read past the end in relu_forward went unreported"
      ok=1
    elif ! grep -q "Invalid read" "$work/planted-past-end.log"; then
      echo "FAIL: the read past the end gave no invalid-read report"
      ok=1
    else
      echo "ok: the read one past the end is reported as an invalid read"
    fi
    exit $ok
    ;;
  *)
    echo "unknown mode '$mode' (quick, model, planted)"
    exit 2
    ;;
esac
