#!/usr/bin/env bash
# bench/shards_scale.sh — durable throughput of 1, 2 and 3 courier-proxy
# processes behind one shard map (docs/scaling.md "Measured").
#
# For N proxies: N proxies, each on its own journal directory; N queues,
# chosen so that the map gives each proxy exactly one (`courier owner`);
# N bench/proxy_load runs at once (1 producer -> 1 consumer each, durable,
# confirms and acks), each against its queue's owner. The figure is the sum
# of their end-to-end rates. As a control, the same N loads against ONE
# proxy (N queues on it): what more clients alone give.
#
# Usage: bench/shards_scale.sh [BUILD_DIR] [MESSAGES_PER_LOAD]
set -euo pipefail
build=${1:-build}
messages=${2:-200000}
proxy=$build/proxy/courier-proxy
cli=$build/tools/courier
load=$build/bench/proxy_load
work=$(mktemp -d /tmp/shards-scale.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_proxies N -> writes $work/map.json with proxies p1..pN
start_proxies() {
  local n=$1 entries="" i ep
  for ((i = 1; i <= n; i++)); do
    ep="tcp://127.0.0.1:$(port)"
    "$proxy" --listen "$ep" --data "$work/data-$n-$i" --log-level warn >"$work/log-$n-$i" 2>&1 &
    pids+=($!)
    entries+="${entries:+,}{\"name\":\"p$i\",\"endpoint\":\"$ep\"}"
  done
  echo "{\"version\":1,\"proxies\":[$entries]}" >"$work/map.json"
  sleep 0.5
}

stop_proxies() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }

# queues_for N -> one queue name per proxy p1..pN (by the map), "name endpoint" lines
queues_for() {
  local n=$1
  seq 0 5000 | sed 's/^/bench-q/' | "$cli" owner --shards "$work/map.json" |
    /usr/bin/python3 -c '
import json, sys
n = int(sys.argv[1]); seen = {}
for line in sys.stdin:
    o = json.loads(line)
    seen.setdefault(o["proxy"], (o["q"], o["endpoint"]))
    if len(seen) == n: break
for p in sorted(seen): print(*seen[p])' "$n"
}

# run_loads "q ep" lines -> "TOTAL msgs/s over the wall time (each load's own rates)"
run_loads() {
  local outs=() i=0 q ep t0 t1
  t0=$(date +%s.%N)
  while read -r q ep; do
    "$load" --endpoint "$ep" --queue "$q" --messages "$messages" --size 100 \
      --producers 1 --consumers 1 >"$work/out-$i" 2>&1 &
    outs+=($!)
    i=$((i + 1))
  done
  for p in "${outs[@]}"; do wait "$p"; done
  t1=$(date +%s.%N)
  each=$(cat "$work"/out-* | grep -o '"msgs_per_s":[0-9]*' | cut -d: -f2 | paste -sd+ -)
  echo "$(echo "$i * $messages / ($t1 - $t0)" | bc -l | xargs printf '%.0f') ($each)"
  rm -f "$work"/out-*
}

printf "%-28s %s\n" "setup" "msgs/s: all loads over the wall time (each load alone)"
for n in 1 2 3; do
  start_proxies "$n"
  printf "%-28s %s\n" "$n proxy(ies), $n load(s)" "$(queues_for "$n" | run_loads)"
  stop_proxies
done
for n in 2 3; do   # control: the same loads on one proxy
  start_proxies 1
  lines=$(for ((i = 0; i < n; i++)); do echo "ctl-q$i $(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["proxies"][0]["endpoint"])' "$work/map.json")"; done)
  printf "%-28s %s\n" "1 proxy, $n loads (control)" "$(echo "$lines" | run_loads)"
  stop_proxies
done
