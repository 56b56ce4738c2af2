#!/bin/bash
# Packs what a GPU run needs into .gpu/ (ignored by git, so it travels to a device machine only
# when named in `carry`), for a machine that has a GPU driver
# but no package registry: the clnet binary (Release, without MPI) and every shared library it
# loads that is not part of the C runtime (OpenCL ICD loader, CLBlast, cJSON, PLplot, ...),
# copied from this Debian 12 machine. scripts/gpu_check.sh runs there against that folder.
#
#   scripts/gpu_pack.sh            # then carry .gpu (and run scripts/gpu_check.sh there)
#
# The folder is about 8 MiB. Libraries of the C runtime (libc, libm, libstdc++, libgcc_s, the
# dynamic loader) are left to the target, which must be at least as new (glibc >= 2.36).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/.gpu"
build="$root/build-gpu"

echo "gpu_pack: building clnet (Release, CLNET_MPI=OFF) in $build"
mkdir -p "$build"
log="$build/gpu_pack.log"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCLNET_MPI=OFF > "$log" 2>&1 || { cat "$log"; exit 1; }
# clnet_cli is the executable (clnet is the library it links)
cmake --build "$build" --target clnet_cli -j"$(nproc)" >> "$log" 2>&1 || { tail -40 "$log"; exit 1; }

rm -rf "$out"
mkdir -p "$out/lib"
cp "$build/clnet" "$out/clnet"

# every library clnet resolves to a file, minus the C runtime
ldd "$out/clnet" | awk '/=> \// {print $1, $3}' | while read -r name path; do
  case "$name" in
    libc.so.*|libm.so.*|libstdc++.so.*|libgcc_s.so.*|ld-linux*|libpthread.so.*|libdl.so.*|librt.so.*) continue ;;
  esac
  cp -L "$path" "$out/lib/$name"
done

echo "gpu_pack: $(ls "$out/lib" | wc -l) libraries, $(du -sh "$out" | cut -f1) in $out"
