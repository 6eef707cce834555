#!/usr/bin/env bash
# Runs tests/browser/dashboard_test.js (ctest: proxy_dashboard_browser).
#
#   tests/browser/run.sh PROXY CLI WORKDIR
#
# Test-only dependencies are fetched here, never by the build: Debian's
# `chromium` (apt, when root or sudo can install it) and playwright-core
# exactly as package-lock.json pins it (`npm ci` into WORKDIR, no browser
# download). When either cannot be had, the test is skipped (exit 77) and
# says why; any other failure is a failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
proxy=${1:?usage: run.sh PROXY CLI WORKDIR}
cli=${2:?usage: run.sh PROXY CLI WORKDIR}
work=${3:?usage: run.sh PROXY CLI WORKDIR}
skip() { echo "SKIPPED: $*" >&2; exit 77; }

chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  echo "browser test: installing Debian's chromium" >&2
  if ! (DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >&2 ||
        { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
          $sudo apt-get install -y -qq --no-install-recommends chromium; } >&2); then
    skip "chromium is not installed and could not be (apt-get install chromium as root)"
  fi
  [ -x "$chromium" ] || skip "no $chromium after installing chromium"
fi
command -v node >/dev/null && command -v npm >/dev/null || skip "node and npm are needed (Debian: nodejs, npm)"

# Absolute paths: node resolves require() from the script's directory.
mkdir -p "$work"
work=$(cd "$work" && pwd)
proxy=$(realpath "$proxy")
cli=$(realpath "$cli")

# npm ci only when the lock changed since the last run: it wipes node_modules.
if ! cmp -s "$here/package-lock.json" "$work/package-lock.json" || [ ! -d "$work/node_modules/playwright-core" ]; then
  cp "$here/package.json" "$here/package-lock.json" "$work/"
  (cd "$work" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund >&2) ||
    skip "npm ci could not install playwright-core (offline?)"
fi

COURIER_PROXY=$proxy COURIER_CLI=$cli COURIER_BROWSER_DEPS=$work COURIER_ARTIFACTS=$work/artifacts \
  CHROMIUM=$chromium exec node "$here/dashboard_test.js"
