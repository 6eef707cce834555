#!/usr/bin/env bash
# bench/backlog_drain.sh [BUILD_DIR] — draining a deep backlog (issue 13
# item 4). Method: docs/BENCHMARKS.md, "Cost as the work grows".
#
#   1. empty-queue rate: EMPTY_REPS runs of 1 producer -> 1 consumer
#      (proxy_load), each on a fresh proxy and journal, bodies of SIZE;
#   2. backlog: a fresh proxy; BACKLOG messages published with no consumer
#      (proxy_load --producers PRODUCERS --consumers 0), then drained by one
#      consumer (bench/drain_load, credit CREDIT, an ack per delivery) that
#      prints its rate every INTERVAL_MS;
#   3. throughout 2, every second: the proxy's RssAnon (/proc/PID/status) and
#      the queue's depth (the proxy's own /api/stats, --http on loopback: it
#      adds nothing per message, see "HTTP metrics cost");
#   4. the drain's median and minimum interval rate (the last, partial
#      interval left out) as a ratio to the empty-queue rate, and the largest
#      RssAnon, against the issue's targets (>= 0.8x, < 100 MiB).
#
# One JSON line per run, interval and sample in $OUT (default
# BUILD_DIR/backlog_drain.jsonl): {"bench":"backlog","phase":"empty"|
# "publish"|"rate"|"drain"|"sample",...}; the summary is printed at the end.
#
# Knobs (environment): BACKLOG=10000000, SIZE=128, PRODUCERS=4, CREDIT=4096,
# EMPTY_MESSAGES=1000000, EMPTY_REPS=3, INTERVAL_MS=1000, WORK_PARENT=/tmp
# (where --data lives; 10 M messages of 128 B take ~3.4 GB there), KEEP=1.
# Everything listens on 127.0.0.1; every process started here is stopped by
# PID on exit. About 1-2 minutes on 2 cores with the defaults (estimated
# from smoke runs; a slow disk makes the 3.4 GB publish longer), plus a build.
set -euo pipefail
. "$(dirname "$0")/lib/proxy_bench.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath -m "${1:-$root/build}")
BACKLOG=${BACKLOG:-10000000}
SIZE=${SIZE:-128}
PRODUCERS=${PRODUCERS:-4}
CREDIT=${CREDIT:-4096}
EMPTY_MESSAGES=${EMPTY_MESSAGES:-1000000}
EMPTY_REPS=${EMPTY_REPS:-3}
INTERVAL_MS=${INTERVAL_MS:-1000}
WORK_PARENT=${WORK_PARENT:-/tmp}
OUT=${OUT:-$build/backlog_drain.jsonl}

# ------------------------------------------------------------------ build
ensure_built "$build" courier-proxy proxy_load drain_load
PROXY=$build/proxy/courier-proxy
PLOAD=$build/bench/proxy_load
DRAIN=$build/bench/drain_load
for b in "$PROXY" "$PLOAD" "$DRAIN"; do [[ -x $b ]] || die "missing $b"; done

# ------------------------------------------------------- processes & cleanup
work=$(mktemp -d "$WORK_PARENT/courier-backlog.XXXXXX")
proxy_pid="" sampler_pid=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$sampler_pid" 5
  stop_pid "$proxy_pid" 10
  if [[ ${KEEP:-0} == 1 ]]; then log "kept $work"; else rm -rf "$work"; fi
  exit "$rc"
}
trap_cleanup

write_cqp1_ping

# Once a second until killed: RssAnon of PID and the depth of QUEUE from the
# proxy's /api/stats, tagged with the stage the script is in (STAGE_FILE).
# One process for the whole run, so sampling costs no fork per second.
cat >"$work/sampler.py" <<'EOF'
import json, sys, time, urllib.request
pid, port_file, queue, stage_file, t0 = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
def rss_kib():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
def depth():
    try:
        url = "http://" + open(port_file).read().strip() + "/api/stats"
        stats = json.load(urllib.request.urlopen(url, timeout=0.5))
        return stats["queues"].get(queue, {}).get("depth", 0)
    except (OSError, ValueError, KeyError):
        return None  # not serving yet, or a slow answer: the RSS figure still counts
next_t = time.time()
while True:
    now = time.time()
    line = {"bench": "backlog", "phase": "sample", "t": round(now - t0, 3), "unix": round(now, 3),
            "stage": open(stage_file).read().strip(), "rss_anon_kib": rss_kib(), "msgs": depth()}
    print(json.dumps(line, separators=(",", ":")), flush=True)
    next_t += 1.0
    time.sleep(max(0.0, next_t - time.time()))
EOF

proxy_ep=tcp://127.0.0.1:$(free_port)

tck=$(getconf CLK_TCK)
now() { date +%s.%N; }
secs_between() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", b - a}'; }
us_per_msg() { awk -v a="$1" -v b="$2" -v n="$3" -v t="$tck" 'BEGIN{printf "%.3f", (b - a) / t / n * 1e6}'; }

: >"$OUT"

emit "{\"bench\":\"backlog\",\"phase\":\"machine\",\"date\":\"$(date -u +%FT%TZ)\",\"nproc\":$(nproc),\"cpu\":\"$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)\",\"kernel\":\"$(uname -r)\",\"disk\":\"$(df --output=source "$work" | tail -1)\",\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}"

# -------------------------------------------------- 1. empty-queue rate
for ((rep = 1; rep <= EMPTY_REPS; rep++)); do
  log "empty queue, rep $rep/$EMPTY_REPS: 1 producer -> 1 consumer, $EMPTY_MESSAGES x $SIZE B"
  rm -rf "$work/data"
  start_proxy "$work/data"
  la=$(loadavg); c0=$(cpu_ticks "$proxy_pid")
  res=$(timeout 900 "$PLOAD" --endpoint "$proxy_ep" --queue empty --producers 1 --consumers 1 \
          --size "$SIZE" --messages "$EMPTY_MESSAGES" --credit "$CREDIT") || die "proxy_load empty rep $rep"
  c1=$(cpu_ticks "$proxy_pid")
  stop_proxy
  mps=$(sed 's/.*"msgs_per_s":\([0-9.]*\).*/\1/' <<<"$res")
  emit "{\"bench\":\"backlog\",\"phase\":\"empty\",\"rep\":$rep,\"size\":$SIZE,\"messages\":$EMPTY_MESSAGES,\"msgs_per_s\":$mps,\"proxy_cpu_us_per_msg\":$(us_per_msg "$c0" "$c1" "$EMPTY_MESSAGES"),\"loadavg_before\":$la,\"result\":$res}"
done
rm -rf "$work/data"

# ------------------------------------------------------------ 2. backlog
log "backlog: publishing $BACKLOG x $SIZE B with $PRODUCERS producers, no consumer"
echo start >"$work/stage"
start_proxy "$work/data" --http 127.0.0.1:0 --http-port-file "$work/http-port"
t0=$(now)
/usr/bin/python3 "$work/sampler.py" "$proxy_pid" "$work/http-port" backlog "$work/stage" "$t0" >"$work/samples.jsonl" &
sampler_pid=$!

echo publish >"$work/stage"
la=$(loadavg); c0=$(cpu_ticks "$proxy_pid"); tp0=$(now)
res=$(timeout 3600 "$PLOAD" --endpoint "$proxy_ep" --queue backlog --producers "$PRODUCERS" --consumers 0 \
        --size "$SIZE" --messages "$BACKLOG") || die "proxy_load publish $BACKLOG"
tp1=$(now); c1=$(cpu_ticks "$proxy_pid")
jb=$(du -sb "$work/data" | cut -f1)
emit "{\"bench\":\"backlog\",\"phase\":\"publish\",\"size\":$SIZE,\"messages\":$BACKLOG,\"producers\":$PRODUCERS,\"t_start\":$(secs_between "$t0" "$tp0"),\"t_end\":$(secs_between "$t0" "$tp1"),\"proxy_cpu_us_per_msg\":$(us_per_msg "$c0" "$c1" "$BACKLOG"),\"rss_anon_kib_after\":$(status_kb "$proxy_pid" RssAnon),\"journal_bytes\":$jb,\"loadavg_before\":$la,\"result\":$res}"

# A second's pause, so the samples show the full queue at rest.
echo idle >"$work/stage"
sleep 1.5

log "backlog: draining $BACKLOG with one consumer, credit $CREDIT"
echo drain >"$work/stage"
la=$(loadavg); c0=$(cpu_ticks "$proxy_pid"); td0=$(now)
timeout 3600 "$DRAIN" --endpoint "$proxy_ep" --queue backlog --messages "$BACKLOG" --credit "$CREDIT" \
  --interval-ms "$INTERVAL_MS" >"$work/drain.jsonl" || die "drain_load"
td1=$(now); c1=$(cpu_ticks "$proxy_pid")
echo done >"$work/stage"
sleep 1.2  # one more sample after the drain
stop_pid "$sampler_pid" 5; sampler_pid=""
rss_end=$(status_kb "$proxy_pid" RssAnon); hwm=$(status_kb "$proxy_pid" VmHWM)
stop_proxy

# ------------------------------------------------------------ 3. summary
cat "$work/samples.jsonl" >>"$OUT"
python3 - "$OUT" "$work/drain.jsonl" "$t0" <<EOF | while IFS= read -r line; do emit "$line"; done
import json, statistics, sys
out, drain_file, t0 = sys.argv[1], sys.argv[2], float(sys.argv[3])
rows = [json.loads(l) for l in open(out) if l.strip()]
drain = [json.loads(l) for l in open(drain_file) if l.strip()]
dump = lambda d: print(json.dumps(d, separators=(",", ":")))
for r in drain:
    if r["mode"] == "drain_interval":  # rate over time, on the samples' clock
        dump({"bench": "backlog", "phase": "rate", "t": round(r["unix"] - t0, 3), "t_drain": r["t"],
              "msgs": r["msgs"], "interval_s": r["interval_s"], "msgs_per_s": r["msgs_per_s"],
              "partial": r["partial"]})
whole = [r["msgs_per_s"] for r in drain if r["mode"] == "drain_interval" and not r["partial"]]
summary = next(r for r in drain if r["mode"] == "drain")
empty = statistics.median(r["msgs_per_s"] for r in rows if r.get("phase") == "empty")
samples = [r for r in rows if r.get("phase") == "sample" and r["rss_anon_kib"] is not None]
rss_max = lambda stages: max((s["rss_anon_kib"] for s in samples if s["stage"] in stages), default=None)
med = statistics.median(whole) if whole else summary["msgs_per_s"]
low = min(whole) if whole else summary["msgs_per_s"]
rss = rss_max({"start", "publish", "idle", "drain", "done"})
dump({"bench": "backlog", "phase": "drain", "size": $SIZE, "messages": summary["messages"], "credit": $CREDIT,
      "t_start": round($td0 - t0, 3), "t_end": round($td1 - t0, 3), "first_delivery_s": summary["first_delivery_s"],
      "seconds": summary["seconds"], "msgs_per_s": summary["msgs_per_s"], "intervals": len(whole),
      "median_interval_msgs_per_s": med, "min_interval_msgs_per_s": low, "empty_msgs_per_s": empty,
      "ratio_median": round(med / empty, 3), "ratio_min": round(low / empty, 3),
      "proxy_cpu_us_per_msg": round(($c1 - $c0) / $tck / summary["messages"] * 1e6, 3),
      "rss_anon_kib_max": rss, "rss_anon_kib_max_publish": rss_max({"publish"}),
      "rss_anon_kib_max_drain": rss_max({"drain"}), "rss_anon_kib_end": $rss_end, "vm_hwm_kib": $hwm,
      "loadavg_before": $la, "target_ratio": 0.8, "target_rss_anon_mib": 100,
      "meets_ratio": low / empty >= 0.8, "meets_rss": rss is not None and rss < 100 * 1024})
EOF

python3 - "$OUT" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
d = next(r for r in rows if r.get("phase") == "drain")
p = next(r for r in rows if r.get("phase") == "publish")
e = [r["msgs_per_s"] for r in rows if r.get("phase") == "empty"]
ok = lambda b: "met" if b else "NOT met"
print(f"\npublish {p['messages']:,} x {p['size']} B, {p['producers']} producers, no consumer: "
      f"{p['result']['msgs_per_s']:,} msgs/s; journal {p['journal_bytes'] / 2**20:,.0f} MiB")
print(f"empty-queue 1 -> 1: {d['empty_msgs_per_s']:,.0f} msgs/s (median of {e})")
print(f"drain, 1 consumer, credit {d['credit']}: {d['msgs_per_s']:,} msgs/s over {d['seconds']} s; "
      f"per {d['intervals']} whole interval(s): median {d['median_interval_msgs_per_s']:,.0f}, "
      f"min {d['min_interval_msgs_per_s']:,.0f}")
print(f"drain / empty: median {d['ratio_median']:.2f}x, min {d['ratio_min']:.2f}x "
      f"(target >= 0.8x: {ok(d['meets_ratio'])})")
mib = lambda k: "-" if d[k] is None else f"{d[k] / 1024:.1f}"  # None: no sample fell in that stage
print(f"RssAnon max {mib('rss_anon_kib_max')} MiB (publish {mib('rss_anon_kib_max_publish')}, "
      f"drain {mib('rss_anon_kib_max_drain')}; target < 100 MiB: {ok(d['meets_rss'])})")
print(f"\nJSON lines: {sys.argv[1]}")
EOF
