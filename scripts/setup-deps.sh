#!/usr/bin/env bash
# Installs every build and test dependency of courier from Debian 12 packages.
# Idempotent: packages already present are not touched, and apt-get update runs
# only when something is missing. Safe to call from every other script.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libzmq3-dev cppzmq-dev libmsgpack-cxx-dev liblmdb-dev lmdb-utils
  libgtest-dev libgmock-dev libcli11-dev nlohmann-json3-dev libspdlog-dev
  libcpp-httplib-dev libssl-dev etcd-server etcd-client
  python3 python3-zmq python3-msgpack python3-pytest pybind11-dev python3-dev
  python3-prometheus-client
  procps
  clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "setup-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
