#!/usr/bin/env bash
# The main job, end to end: installs dependencies, builds everything, starts
# courier-proxy on a private endpoint with a fresh journal, sends
# "Hello World!" through it with the producer example and receives it with
# the consumer example (the RabbitMQ tutorial 1 twin), then stops the proxy.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${COURIER_BUILD_DIR:-$root/build}
"$root/scripts/build.sh"

work=$(mktemp -d)
endpoint="ipc://$work/proxy.sock"
proxy_pid=""
cleanup() {
  if [ -n "$proxy_pid" ] && kill -0 "$proxy_pid" 2>/dev/null; then
    kill -TERM "$proxy_pid"
    wait "$proxy_pid" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== starting courier-proxy on $endpoint (journal in $work/data)"
"$build/proxy/courier-proxy" --listen "$endpoint" --data "$work/data" &
proxy_pid=$!

# Ready when it answers PING (the stats command sends HELLO/STATS, which
# needs the same): poll for up to 10 s.
for _ in $(seq 1 100); do
  if "$build/tools/courier" stats --proxy "$endpoint" --json >/dev/null 2>&1; then break; fi
  sleep 0.1
done

echo "== producer"
"$build/examples/proxy/proxy_send" "$endpoint"
echo "== consumer"
timeout 30 "$build/examples/proxy/proxy_receive" "$endpoint" --count 1
echo "== queue after the round trip"
"$build/tools/courier" stats --proxy "$endpoint"
echo "== demo finished: the message went producer -> proxy journal (fsync) -> consumer"
