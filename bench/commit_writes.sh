#!/usr/bin/env bash
# How many pages, and in how many separate write requests, each of the
# proxy's commits writes while it serves single-message PUTs at a steady rate
# with a consumer attached (docs/BENCHMARKS.md, "The eighth session"): the
# fdatasync behind every CONFIRM costs by the request, not by the page
# (bench/flush_cost_probe.py).
#
#   bench/commit_writes.sh BUILD_DIR [RATE] [PROXY]
#
# strace(1) follows the proxy for one second in the middle of a 6-second run
# (the load's latency figures are slowed by it and not printed); the writes
# to the data file between one fdatasync and the next are one commit's.
set -euo pipefail
build=${1:?usage: bench/commit_writes.sh BUILD_DIR [RATE] [PROXY]}
rate=${2:-5000}
proxy=${3:-$build/proxy/courier-proxy}
command -v strace >/dev/null || { echo "commit_writes.sh: needs strace (apt-get install strace)" >&2; exit 1; }
work=$(mktemp -d)
proxy_pid=""
cleanup() { [[ -z $proxy_pid ]] || kill "$proxy_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$proxy" --listen "tcp://127.0.0.1:$port" --data "$work/journal" --log-level warn &
proxy_pid=$!
"$build/bench/proxy_load" --endpoint "tcp://127.0.0.1:$port" --queue lat --latency --rate "$rate" \
  --messages $((rate * 6)) --per-put 1 --with-consumer --credit 1000 >/dev/null &
load_pid=$!
sleep 3
timeout 1 strace -f -e trace=pwrite64,pwritev,writev,write,fdatasync -p "$proxy_pid" -o "$work/trace" 2>/dev/null || true
wait "$load_pid"
python3 - "$work/trace" "$rate" <<'EOF'
import collections, json, re, sys
lines = open(sys.argv[1]).read().splitlines()
# strace splits a call that another thread interrupts into "unfinished" and
# "resumed" lines: join them back by thread id.
calls, pending = [], {}
for line in lines:
    tid, _, rest = line.partition(" ")
    if rest.endswith("<unfinished ...>"):
        pending[tid] = rest[: -len("<unfinished ...>")]
    elif rest.startswith("<... "):
        calls.append(pending.pop(tid, "") + rest.split("resumed>", 1)[1])
    else:
        calls.append(rest)
data_fd = next((m.group(1) for c in calls for m in [re.match(r"fdatasync\((\d+)", c)] if m), None)
if data_fd is None:
    sys.exit("commit_writes.sh: no fdatasync seen: did the load reach the proxy?")
commits, pages, requests, cur_pages, cur_requests = 0, 0, 0, 0, 0
hist = collections.Counter()
for c in calls:
    m = re.match(r"(pwrite64|pwritev|writev)\(" + data_fd + r",.*= (\d+)$", c)
    if m:
        cur_requests += 1
        cur_pages += int(m.group(2)) // 4096
    elif c.startswith("fdatasync(" + data_fd):
        commits += 1; pages += cur_pages; requests += cur_requests; hist[cur_requests] += 1
        cur_pages = cur_requests = 0
print(json.dumps({"bench": "commit_writes", "rate": int(sys.argv[2]), "commits": commits,
                  "pages_per_commit": round(pages / commits, 2), "requests_per_commit": round(requests / commits, 2),
                  "requests_histogram": dict(sorted(hist.items()))}))
EOF
