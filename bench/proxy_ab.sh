#!/usr/bin/env bash
# Two courier-proxy binaries side by side, on the same disk, interleaved
# (A B A B ...) so a noisy spell hits both: end-to-end durable throughput
# (bench/proxy_load: 1 courier::Producer -> 1 courier::Consumer, window and
# credit 4096, producer ids; batch PUTs of 256 before issue 9, the
# Producer's own batches since) and the proxy's CPU per message (utime + stime
# from /proc/PID/stat over the run / messages). Prints one JSON line per run
# and the medians with their ratio B/A.
#
#   bench/proxy_ab.sh OLD_PROXY NEW_PROXY [REPS] [MESSAGES]
#
# Used to check that a change to the proxy costs nothing measurable; figures
# go to docs/BENCHMARKS.md.
set -euo pipefail
A=$1 B=$2 REPS=${3:-5} N=${4:-300000}
root=$(cd "$(dirname "$0")/.." && pwd)
PLOAD=${PLOAD:-$root/build/bench/proxy_load}
work=$(mktemp -d /tmp/proxy-ab.XXXXXX)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
pid=0
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / t}' "/proc/$1/stat"; }

run() {  # run LABEL BINARY
  local port data c0 c1 res
  port=$(free_port); data=$work/data; rm -rf "$data"
  "$2" --listen "tcp://127.0.0.1:$port" --data "$data" --log-level warn &
  pid=$!
  "$PLOAD" --endpoint "tcp://127.0.0.1:$port" --messages 1 >/dev/null  # ready, warm
  c0=$(cpu_s "$pid")
  res=$("$PLOAD" --endpoint "tcp://127.0.0.1:$port" --messages "$N" --window 4096 --credit 4096)
  c1=$(cpu_s "$pid")
  kill "$pid"; wait "$pid" || true
  python3 - "$1" "$c0" "$c1" "$N" "$res" <<'PY'
import json, sys
label, c0, c1, n, res = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), json.loads(sys.argv[5])
res.update(proxy=label, proxy_cpu_us_per_msg=round((c1 - c0) * 1e6 / n, 3))
print(json.dumps(res))
PY
}

for ((i = 0; i < REPS; i++)); do
  run A "$A" | tee -a "$work/runs"
  run B "$B" | tee -a "$work/runs"
done
python3 - "$work/runs" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
def med(label, key):
    return statistics.median(r[key] for r in runs if r["proxy"] == label)
for key in ("proxy_cpu_us_per_msg", "msgs_per_s"):
    a, b = med("A", key), med("B", key)
    print(json.dumps({"figure": key, "median_A": a, "median_B": b, "B_over_A": round(b / a, 3)}))
PY
