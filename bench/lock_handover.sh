#!/usr/bin/env bash
# Lock hand-over time between two processes (issue 9): two holders of one
# courier::Lock take turns; each time one acquires right after the OTHER
# released, the time from that release to this acquire is one sample
# (CLOCK_MONOTONIC, shared by both processes). Prints p50/p99 in µs.
#
#   bench/lock_handover.sh [TURNS]      (default 200 per process)
#
# Uses tests/lock_child from the build (its "alternate" mode) and a fresh
# courier-proxy with fsync on, on loopback.
set -euo pipefail
TURNS=${1:-200}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${COURIER_BUILD_DIR:-$root/build}
work=$(mktemp -d /tmp/lock-handover.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$build/proxy/courier-proxy" --listen "tcp://127.0.0.1:$port" --data "$work/data" --log-level warn &
proxy=$!
trap 'kill "$proxy" 2>/dev/null || true; rm -rf "$work"' EXIT
ep=tcp://127.0.0.1:$port
"$build/tests/lock_child" alternate "$ep" handover "$work/last" "$TURNS" >"$work/a" &
a=$!
"$build/tests/lock_child" alternate "$ep" handover "$work/last" "$TURNS" >"$work/b"
wait "$a"
cat "$work/a" "$work/b" | python3 -c '
import statistics, sys
us = sorted(float(l) for l in sys.stdin if l.strip())
p = lambda q: us[min(len(us) - 1, int(len(us) * q))]
print("{\"handovers\": %d, \"p50_us\": %.0f, \"p99_us\": %.0f, \"max_us\": %.0f}" % (len(us), p(0.5), p(0.99), us[-1]))'
