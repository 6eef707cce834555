#!/usr/bin/env bash
# Configures and builds everything (library, proxy, CLI, examples, tests,
# benchmarks) into ${COURIER_BUILD_DIR:-build}. Release with debug info, so that
# perf/callgrind profiles of the same binaries are readable.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${COURIER_BUILD_DIR:-$root/build}
"$root/scripts/setup-deps.sh"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DPython_EXECUTABLE=/usr/bin/python3 >/dev/null
cmake --build "$build" -j "$(nproc)"
