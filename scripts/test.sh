#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds, then runs every test
# (GoogleTest suites, black-box pytest suites against real processes, the
# Python package, the install/find_package consumer test) through ctest; then
# the same C++ and black-box suites under ASan + UBSan, and the multi-threaded
# client suites under ThreadSanitizer (scripts/sanitize.sh), each in a build
# directory of its own. COURIER_SKIP_SANITIZERS=1 skips those two for a quick
# local run (CI never sets it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${COURIER_BUILD_DIR:-$root/build}
"$root/scripts/build.sh"
(cd "$build" && ctest --output-on-failure -j 2 --timeout 600 "$@")
if [ "${COURIER_SKIP_SANITIZERS:-0}" != 1 ]; then
  COURIER_SANITIZE_DIR=$build-asan "$root/scripts/sanitize.sh" asan
  COURIER_SANITIZE_DIR=$build-tsan "$root/scripts/sanitize.sh" tsan
fi
