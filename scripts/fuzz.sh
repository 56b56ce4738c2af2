#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, -fsanitize=fuzzer,address,undefined)
# into build-fuzz/ and runs each one in turn, at nice 19, printing its
# executions and crashes. See docs/RELIABILITY.md ("Fuzzing").
#
# usage: scripts/fuzz.sh [-t SECONDS | -r RUNS] [--make-corpus] [HARNESS...]
#   -t SECONDS     run each harness this long (default 60)
#   -r RUNS        run each harness for this many executions instead
#   --make-corpus  regenerate the seed corpus fuzz/corpus/ first (fuzz_make_corpus)
#   HARNESS        idx cifar10 safetensors checkpoint_meta history_csv
#                  program_cache conv_finddb dense_finddb clblast_params image onnx (default: all, one after
#                  another)
# Seeds come from fuzz/corpus/<h>/ and fuzz/crashes/<h>/ (read only); inputs
# the fuzzer finds interesting go to build-fuzz/corpus/<h>/ (kept between
# runs, not committed); a crashing input is written to fuzz/crashes/<h>/,
# where ctest's fuzz_replay_<h> replays it on every build. Logs:
# build-fuzz/logs/<h>.log. Exits 1 if any harness crashed.
#
# Limits per input: 10 s (-timeout), 64 MB for one allocation (-malloc_limit_mb:
# every input is a few KB, so a reader that wants more trusts a length field
# it should have checked), 2 GB RSS.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL=(idx cifar10 safetensors checkpoint_meta history_csv program_cache conv_finddb dense_finddb clblast_params image onnx)
mode=(-max_total_time=60)
make_corpus=0
harnesses=()
while [ $# -gt 0 ]; do
  case "$1" in
    -t) mode=(-max_total_time="$2"); shift 2 ;;
    -r) mode=(-runs="$2"); shift 2 ;;
    --make-corpus) make_corpus=1; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) harnesses+=("$1"); shift ;;
  esac
done
[ ${#harnesses[@]} -gt 0 ] || harnesses=("${ALL[@]}")
for h in "${harnesses[@]}"; do
  [ -f "fuzz/fuzz_$h.c" ] || { echo "fuzz.sh: no harness fuzz/fuzz_$h.c" >&2; exit 2; }
done

CC=${CC:-clang}
if [ ! -f build-fuzz/CMakeCache.txt ]; then
  CC="$CC" cmake -S . -B build-fuzz -DCLNET_FUZZ=ON -DCLNET_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
targets=()
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
[ $make_corpus -eq 0 ] || targets+=(fuzz_make_corpus)
mkdir -p build-fuzz/logs
if ! nice -n 19 cmake --build build-fuzz -j2 --target "${targets[@]}" >build-fuzz/logs/build.log 2>&1; then
  tail -40 build-fuzz/logs/build.log >&2
  exit 1
fi

if [ $make_corpus -eq 1 ]; then
  for h in "${ALL[@]}"; do mkdir -p "fuzz/corpus/$h"; done
  build-fuzz/fuzz_make_corpus fuzz/corpus
fi

count_crashes() { find "fuzz/crashes/$1" -type f ! -name .gitkeep | wc -l; }
printf '%-16s %14s %8s %8s  %s\n' harness executions crashes seconds "new inputs in"
status=0
for h in "${harnesses[@]}"; do
  mkdir -p "build-fuzz/corpus/$h" "fuzz/crashes/$h"
  before=$(count_crashes "$h")
  dict=()
  [ -f "fuzz/$h.dict" ] && dict=(-dict="fuzz/$h.dict")
  t0=$(date +%s)
  rc=0
  nice -n 19 "build-fuzz/fuzz_$h" "${mode[@]}" "${dict[@]}" -timeout=10 -malloc_limit_mb=64 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="fuzz/crashes/$h/" \
    "build-fuzz/corpus/$h" "fuzz/corpus/$h" "fuzz/crashes/$h" >"build-fuzz/logs/$h.log" 2>&1 || rc=$?
  secs=$(( $(date +%s) - t0 ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "build-fuzz/logs/$h.log" | tail -1)
  [ -n "$execs" ] || execs=$(grep -o '^#[0-9]*' "build-fuzz/logs/$h.log" | tail -1 | tr -d '#')
  crashes=$(( $(count_crashes "$h") - before ))
  if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes="rc=$rc"; fi
  [ "$rc" -eq 0 ] || status=1
  printf '%-16s %14s %8s %8s  %s\n' "$h" "${execs:-?}" "$crashes" "$secs" "build-fuzz/corpus/$h"
  if [ "$rc" -ne 0 ]; then
    echo "  crashed: see build-fuzz/logs/$h.log; the input is in fuzz/crashes/$h/" >&2
    grep -m3 -E 'ERROR:|runtime error:|contract violated' "build-fuzz/logs/$h.log" | sed 's/^/  /' >&2 || true
  fi
done
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  mode: ${mode[*]}"
exit $status
