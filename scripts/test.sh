#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds, then runs every test
# (GoogleTest suites, black-box pytest suites against real processes, the
# Python package, the install/find_package consumer test) through ctest; then
# the same C++ and black-box suites under ASan + UBSan, and the multi-threaded
# client suites under ThreadSanitizer (scripts/sanitize.sh), each in a build
# directory of its own; then the fuzz harnesses' short runs (fuzz/run.sh, a
# clang build of its own, docs/reliability.md "Fuzzing").
# COURIER_SKIP_SANITIZERS=1 skips the sanitizer runs and COURIER_SKIP_FUZZ=1
# the fuzz runs, for a quick local run (CI sets neither).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${COURIER_BUILD_DIR:-$root/build}
"$root/scripts/build.sh"
(cd "$build" && ctest --output-on-failure -j 2 --timeout 600 "$@")
if [ "${COURIER_SKIP_SANITIZERS:-0}" != 1 ]; then
  COURIER_SANITIZE_DIR=$build-asan "$root/scripts/sanitize.sh" asan
  COURIER_SANITIZE_DIR=$build-tsan "$root/scripts/sanitize.sh" tsan
fi
# About two minutes on two cores (measured in docs/reliability.md).
if [ "${COURIER_SKIP_FUZZ:-0}" != 1 ]; then
  "$root/fuzz/run.sh" "${COURIER_FUZZ_BUILD_DIR:-$build-fuzz}" ctest
fi
