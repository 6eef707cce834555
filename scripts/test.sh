#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds, then runs every test
# (GoogleTest suites, black-box pytest suites against real processes, the
# install/find_package consumer test) through ctest, then the fuzz harnesses'
# short runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${COURIER_BUILD_DIR:-$root/build}
"$root/scripts/build.sh"
(cd "$build" && ctest --output-on-failure -j 2 --timeout 600 "$@")
# The fuzz harnesses' short runs (fuzz/, docs/reliability.md "Fuzzing"): a
# clang build of their own, about two minutes on two cores.
# COURIER_SKIP_FUZZ=1 leaves them out.
if [ "${COURIER_SKIP_FUZZ:-0}" != 1 ]; then
  "$root/fuzz/run.sh" "${COURIER_FUZZ_BUILD_DIR:-$root/build-fuzz}" ctest
fi
