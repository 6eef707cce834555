#!/usr/bin/env bash
# The Python suite, run against the package as a user gets it: creates (once)
# a virtual environment with the python3 on PATH, installs the pinned test
# requirements, builds and installs courier with `pip install .` (build
# isolation on, as a user's pip does), then runs pytest, whose suite includes
# mypy's stubtest of the .pyi stubs. Exits with pytest's status.
#
#   bindings/python/run_tests.sh [pytest arguments...]
#   COURIER_BUILD_DIR=/tmp/b bindings/python/run_tests.sh -k unpack
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${COURIER_BUILD_DIR:-$root/build}
venv=$build/python-venv

# The C++ dependencies of the native module (libzmq, cppzmq, msgpack-cxx).
"$root/scripts/setup-deps.sh"

# Reuse the environment only if it was made from the same interpreter.
describe='import sys; print(sys.version, sys.base_prefix)'
want=$(python3 -c "$describe")
if [ ! -x "$venv/bin/python" ] || [ "$("$venv/bin/python" -c "$describe" 2>/dev/null)" != "$want" ]; then
  echo "run_tests: creating $venv with $(command -v python3) ($(python3 --version))"
  rm -rf "$venv"
  mkdir -p "$build"
  python3 -m venv "$venv"
fi

pip=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)
"${pip[@]}" install -r "$here/requirements-test.txt"
echo "run_tests: pip install $root"
start=$SECONDS
"${pip[@]}" install "$root"
echo "run_tests: built and installed courier in $((SECONDS - start)) s"

# The venv's pytest script, from a neutral directory: nothing puts the source
# tree's courier/ (which has no compiled module) ahead of the installed one.
cd "$build"
exec "$venv/bin/pytest" -c "$here/pytest.ini" --rootdir "$here" "$here/tests" "$@"
