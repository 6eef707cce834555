#!/usr/bin/env bash
# Two builds' CLIENTS side by side against ONE courier-proxy binary, so only
# the client differs (issue 9: `courier bench proxy` and bench/proxy_load
# moved onto courier::Producer/Consumer must stay within 5 % of before).
#
#   bench/client_ab.sh OLD_BUILD NEW_BUILD [REPS]
#
# A = OLD_BUILD's tools/courier and bench/proxy_load, B = NEW_BUILD's; the
# proxy is $PROXY (default NEW_BUILD/proxy/courier-proxy), started fresh on a
# fresh journal for every run. Runs are paired and interleaved (A B, then
# B A, ...) so a noisy spell hits both. Workloads ($WORKLOADS):
#   cli    courier bench proxy --count $CLI_N (100 B, window 256: the defaults)
#   load1  proxy_load 1 producer -> 1 consumer, $N x 128 B, window and credit 4096
#          (and --batch 256, which the old client uses and the new one says it ignores)
#   pub1   load1 without a consumer (publish -> confirm only)
#   load4  the same with 4 producers -> 4 consumers
#   lat    proxy_load --latency --rate 1000, 3000 messages (publish -> confirm)
# Figures per run: msgs/s as the client reports it, the client's CPU per
# message (user + sys of the whole client process, /usr/bin/time) and the
# proxy's (utime + stime from /proc/PID/stat over the run). One JSON line
# per run, then per workload and figure the medians of A and B and the
# min / median / max of the pairwise ratios B/A.
set -euo pipefail
OLD=$1 NEW=$2 REPS=${3:-5}
N=${N:-300000} CLI_N=${CLI_N:-200000} WORKLOADS=${WORKLOADS:-"cli load1 load4"}
PROXY=${PROXY:-$NEW/proxy/courier-proxy}
for b in "$PROXY" "$OLD/tools/courier" "$NEW/tools/courier" "$OLD/bench/proxy_load" "$NEW/bench/proxy_load"; do
  [[ -x $b ]] || { echo "client_ab: missing $b" >&2; exit 1; }
done
work=$(mktemp -d /tmp/client-ab.XXXXXX)
pid=0
trap '[[ $pid != 0 ]] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / t}' "/proc/$1/stat"; }

run() {  # run LABEL BUILD WORKLOAD
  local label=$1 build=$2 wl=$3 port ep n c0 c1 res
  port=$(free_port); ep=tcp://127.0.0.1:$port
  rm -rf "$work/data"
  "$PROXY" --listen "$ep" --data "$work/data" --log-level warn &
  pid=$!
  "$NEW/bench/proxy_load" --endpoint "$ep" --queue warm --messages 1 >/dev/null  # ready, warm
  local cmd
  case $wl in
    cli) n=$CLI_N; cmd=("$build/tools/courier" bench proxy --proxy "$ep" --count "$n" --json --quiet) ;;
    load1) n=$N; cmd=("$build/bench/proxy_load" --endpoint "$ep" --messages "$n" --batch 256 --window 4096 --credit 4096) ;;
    pub1) n=$N; cmd=("$build/bench/proxy_load" --endpoint "$ep" --messages "$n" --batch 256 --window 4096 --consumers 0) ;;
    load4) n=$N; cmd=("$build/bench/proxy_load" --endpoint "$ep" --messages "$n" --batch 256 --window 4096 --credit 4096
                      --producers 4 --consumers 4) ;;
    lat) n=3000; cmd=("$build/bench/proxy_load" --endpoint "$ep" --queue lat --latency --rate 1000 --messages "$n") ;;
    *) echo "client_ab: unknown workload $wl" >&2; exit 1 ;;
  esac
  c0=$(cpu_s "$pid")
  res=$(/usr/bin/time -f '%U %S' -o "$work/time" "${cmd[@]}")
  c1=$(cpu_s "$pid")
  kill "$pid"; wait "$pid" || true; pid=0
  python3 - "$label" "$wl" "$n" "$c0" "$c1" "$(tail -1 "$work/time")" "$res" <<'PY'
import json, sys
label, wl, n, c0, c1, t, res = sys.argv[1:]
n = int(n); user, sys_ = map(float, t.split()); r = json.loads(res)
out = {"workload": wl, "client": label, "msgs_per_s": round(r.get("msgs_per_s", 0)),
       "client_cpu_us_per_msg": round((user + sys_) * 1e6 / n, 3),
       "proxy_cpu_us_per_msg": round((float(c1) - float(c0)) * 1e6 / n, 3)}
if "latency_us" in r: out["p50_us"] = round(r["latency_us"]["p50"], 1)
if "p50_us" in r: out.update(p50_us=r["p50_us"], p99_us=r["p99_us"])
print(json.dumps(out))
PY
}

for ((i = 0; i < REPS; i++)); do
  for wl in $WORKLOADS; do
    if ((i % 2 == 0)); then
      run A "$OLD" "$wl"; run B "$NEW" "$wl"
    else
      run B "$NEW" "$wl"; run A "$OLD" "$wl"
    fi
  done
done | tee "$work/runs"
python3 - "$work/runs" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
for wl in dict.fromkeys(r["workload"] for r in runs):
    a = [r for r in runs if r["workload"] == wl and r["client"] == "A"]
    b = [r for r in runs if r["workload"] == wl and r["client"] == "B"]
    for key in ("msgs_per_s", "client_cpu_us_per_msg", "proxy_cpu_us_per_msg", "p50_us"):
        if key not in a[0]: continue
        ratios = sorted(y[key] / x[key] for x, y in zip(a, b) if x[key])
        if not ratios: continue
        print(json.dumps({"workload": wl, "figure": key,
                          "median_A": statistics.median(r[key] for r in a),
                          "median_B": statistics.median(r[key] for r in b),
                          "B_over_A": {"min": round(ratios[0], 3), "median": round(statistics.median(ratios), 3),
                                       "max": round(ratios[-1], 3)}}))
PY
