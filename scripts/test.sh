#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds, then runs every test
# (GoogleTest suites, black-box pytest suites against real processes, the
# install/find_package consumer test) through ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${COURIER_BUILD_DIR:-$root/build}
"$root/scripts/build.sh"
cd "$build"
ctest --output-on-failure -j 2 --timeout 600 "$@"
