#!/usr/bin/env bash
# What courier-proxy --http costs the hot path (docs/BENCHMARKS.md, issue 14).
#
#   bench/http_overhead.sh [PROXY] [REPS] [MESSAGES]
#
# Three ways of running the same binary, interleaved (off on scraped, off on
# scraped, ...) so a noisy spell hits all three:
#   off      no --http (no snapshot is ever built);
#   on       --http 127.0.0.1:0, nobody asking;
#   scraped  --http, and a scraper GETting /metrics 10 times a second over
#            one keep-alive connection (as Prometheus does, only 150x more
#            often than its default 15 s).
# Each run: a fresh journal, bench/proxy_load 1 producer -> 1 consumer,
# MESSAGES of 128 B, window and credit 4096. Figures per run: end-to-end
# msgs/s, the proxy's CPU per message (utime + stime of the whole process,
# HTTP threads included, from /proc/PID/stat) and that of the loop thread
# alone (/proc/PID/task/PID/stat). Prints one JSON line per run, then for
# each figure the medians and the median of the per-rep ratios to `off`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
PROXY=${1:-$root/build/proxy/courier-proxy}
REPS=${2:-5}
N=${3:-300000}
PLOAD=${PLOAD:-$root/build/bench/proxy_load}
work=$(mktemp -d /tmp/http-overhead.XXXXXX)
pid=0 scraper=0
cleanup() {
  [ "$scraper" -gt 0 ] && kill "$scraper" 2>/dev/null || true
  [ "$pid" -gt 0 ] && kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / t}' "$1"; }

# GET /metrics every 100 ms on one connection; counts the answers it got.
scrape() {  # scrape HOST:PORT COUNT_FILE
  exec python3 - "$1" "$2" <<'PY'
import http.client, sys, time
host, port = sys.argv[1].rsplit(":", 1)
conn, n, t = http.client.HTTPConnection(host, int(port), timeout=5), 0, time.monotonic()
while True:
    conn.request("GET", "/metrics")
    r = conn.getresponse(); r.read()
    n += r.status == 200
    open(sys.argv[2], "w").write(str(n))
    t += 0.1
    time.sleep(max(0, t - time.monotonic()))
PY
}

run() {  # run MODE
  local port data c0 c1 l0 l1 res args=() scrapes=0
  port=$(free_port); data=$work/data; rm -rf "$data" "$work/port" "$work/scrapes"
  [ "$1" != off ] && args=(--http 127.0.0.1:0 --http-port-file "$work/port")
  "$PROXY" --listen "tcp://127.0.0.1:$port" --data "$data" --log-level warn "${args[@]}" &
  pid=$!
  "$PLOAD" --endpoint "tcp://127.0.0.1:$port" --messages 1 >/dev/null  # ready, warm
  if [ "$1" = scraped ]; then
    scrape "$(cat "$work/port")" "$work/scrapes" &
    scraper=$!
    sleep 0.3
  fi
  c0=$(cpu_s "/proc/$pid/stat"); l0=$(cpu_s "/proc/$pid/task/$pid/stat")
  local t0=$(date +%s.%N)
  res=$("$PLOAD" --endpoint "tcp://127.0.0.1:$port" --messages "$N" --window 4096 --credit 4096)
  local t1=$(date +%s.%N)
  c1=$(cpu_s "/proc/$pid/stat"); l1=$(cpu_s "/proc/$pid/task/$pid/stat")
  if [ "$scraper" -gt 0 ]; then
    kill "$scraper"; wait "$scraper" 2>/dev/null || true; scraper=0
    scrapes=$(cat "$work/scrapes" 2>/dev/null || echo 0)
  fi
  kill "$pid"; wait "$pid" || true; pid=0
  python3 - "$1" "$c0" "$c1" "$l0" "$l1" "$N" "$res" "$scrapes" "$t0" "$t1" <<'PY'
import json, sys
mode, c0, c1, l0, l1, n, res, scrapes, t0, t1 = sys.argv[1:]
res = json.loads(res)
n = int(n)
res.update(mode=mode,
           proxy_cpu_us_per_msg=round((float(c1) - float(c0)) * 1e6 / n, 3),
           loop_cpu_us_per_msg=round((float(l1) - float(l0)) * 1e6 / n, 3))
if mode == "scraped":
    res.update(scrapes=int(scrapes), scrapes_per_s=round(int(scrapes) / (float(t1) - float(t0) + 0.3), 1))
print(json.dumps(res))
PY
}

modes=(off on scraped)
for ((i = 0; i < REPS; i++)); do
  for m in "${modes[@]}"; do run "$m" | tee -a "$work/runs"; done
done
python3 - "$work/runs" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
by = {m: [r for r in runs if r["mode"] == m] for m in ("off", "on", "scraped")}
for key in ("msgs_per_s", "proxy_cpu_us_per_msg", "loop_cpu_us_per_msg"):
    out = {"figure": key}
    for m, rs in by.items():
        out["median_" + m] = statistics.median(r[key] for r in rs)
    for m in ("on", "scraped"):   # pair by rep: the i-th run of each mode ran side by side
        out[m + "_over_off"] = round(statistics.median(b[key] / a[key] for a, b in zip(by["off"], by[m])), 3)
    print(json.dumps(out))
PY
