#!/usr/bin/env bash
# bench/run_proxy_vs_rabbitmq.sh [BUILD_DIR] — courier-proxy vs RabbitMQ on this
# machine, side by side (issue 5, item 7). Method and figures: docs/BENCHMARKS.md.
#
#   1. installs rabbitmq-server + librabbitmq-dev with apt-get when missing;
#   2. builds courier-proxy, proxy_load and rabbitmq_load into BUILD_DIR
#      (default build-rmq; configured RelWithDebInfo when not configured yet);
#   3. starts RabbitMQ by hand (its service start is blocked here) on loopback
#      ports picked free, with every directory in a temp dir;
#   4. REPS times, interleaved courier/RabbitMQ so machine noise hits both:
#      durable end-to-end throughput 1 producer/1 consumer and 4/4 (128-byte
#      bodies, confirms with a window, manual acks), then publish->confirm
#      latency at fixed rates, one message at a time. Every courier run gets a
#      fresh proxy with a fresh --data dir (default durable mode, fsync on);
#   5. courier-proxy RssAnon and journal size with 1 M and 10 M messages
#      queued (publish only, no consumer), and after a restart on the 10 M;
#   6. prints medians and the courier/RabbitMQ ratio; every run is one JSON
#      line in $OUT (default BUILD_DIR/proxy_vs_rabbitmq.jsonl).
#
# Knobs (environment): MESSAGES=1000000 (courier e2e), RMQ_MESSAGES=300000
# (RabbitMQ e2e: it runs ~15x slower here; its rate is steady well before
# that), REPS=3, LAT_RATES="1000 5000", LAT_SECONDS=10, PUT_BATCHES="1 16 256",
# MEM_COUNTS="1000000 10000000" (LAT_RATES="" or MEM_COUNTS="" skip those),
# SKIP_RABBITMQ=1, KEEP=1 (keep the temp dir).
# Everything listens on 127.0.0.1; every process started here is stopped by
# PID on exit (trap EXIT). Takes ~9-12 minutes on 2 cores (plus a build).
set -euo pipefail
. "$(dirname "$0")/lib/proxy_bench.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath -m "${1:-$root/build-rmq}")
MESSAGES=${MESSAGES:-1000000}
RMQ_MESSAGES=${RMQ_MESSAGES:-300000}
REPS=${REPS:-3}
LAT_RATES=${LAT_RATES-"1000 5000"}
LAT_SECONDS=${LAT_SECONDS:-10}
PUT_BATCHES=${PUT_BATCHES-"1 16 256"}
MEM_COUNTS=${MEM_COUNTS-"1000000 10000000"}
SKIP_RABBITMQ=${SKIP_RABBITMQ:-0}
OUT=${OUT:-$build/proxy_vs_rabbitmq.jsonl}
RMQ_BIN=/usr/lib/rabbitmq/bin

# ---------------------------------------------------------------- 1. install
need_pkgs=()
for p in rabbitmq-server librabbitmq-dev pkg-config python3 python3-zmq; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$p")
done
if ((${#need_pkgs[@]})); then
  log "apt-get install ${need_pkgs[*]}"
  # The package's service start is refused here (policy-rc.d); that is expected.
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" >&2
fi

# ------------------------------------------------------------------ 2. build
if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOURIER_BUILD_TOOLS=OFF \
        -DCOURIER_BUILD_EXAMPLES=OFF -DCOURIER_BUILD_TESTS=OFF >&2
else
  cmake -S "$root" -B "$build" >/dev/null  # re-detect librabbitmq if installed since
fi
cmake --build "$build" --target courier-proxy proxy_load rabbitmq_load journal_ceiling stall_probe -j2 >&2
PROXY=$build/proxy/courier-proxy
STALL_PROBE=$build/bench/stall_probe
CEILING=$build/bench/journal_ceiling
PLOAD=$build/bench/proxy_load
RLOAD=$build/bench/rabbitmq_load
for b in "$PROXY" "$PLOAD" "$RLOAD" "$CEILING" "$STALL_PROBE"; do [[ -x $b ]] || die "missing $b"; done

# ------------------------------------------------------- processes & cleanup
work=$(mktemp -d /tmp/courier-vs-rabbitmq.XXXXXX)
proxy_pid="" rmq_pid="" epmd_pid="" beam_pid="" probe_pid=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$probe_pid" 5
  stop_pid "$proxy_pid" 10
  if [[ -n $rmq_pid ]]; then
    stop_pid "$rmq_pid" 60           # the wrapper script stops beam gracefully on TERM
    stop_pid "$beam_pid" 10          # in case the wrapper died first
  fi
  stop_pid "$epmd_pid" 5
  if [[ ${KEEP:-0} == 1 ]]; then log "kept $work"; else rm -rf "$work"; fi
  exit "$rc"
}
trap_cleanup

write_cqp1_ping

proxy_port=$(free_port)
proxy_ep=tcp://127.0.0.1:$proxy_port

# Broker CPU seconds (user+sys) of a process, for CPU-per-message figures.
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / t}' "/proc/$1/stat"; }

: >"$OUT"

# ------------------------------------------------------------ machine facts
fsync_json=$(python3 - "$work" <<'EOF'
import os, sys, time
path = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
ts = []
for i in range(200):
    os.pwrite(fd, b"x" * 4096, (i % 64) * 4096)
    t = time.perf_counter(); os.fdatasync(fd); ts.append(time.perf_counter() - t)
os.close(fd); os.remove(path)
ts.sort()
print('"fdatasync_4k_p50_ms":%.2f,"fdatasync_4k_p99_ms":%.2f' % (ts[100] * 1e3, ts[198] * 1e3))
EOF
)
cpu_model=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
rmq_version=$(dpkg-query -W -f='${Version}' rabbitmq-server)
erl_version=$(dpkg-query -W -f='${Version}' erlang-base 2>/dev/null || echo unknown)
librabbitmq_version=$(pkg-config --modversion librabbitmq)
emit "{\"kind\":\"machine\",\"date\":\"$(date -u +%FT%TZ)\",\"nproc\":$(nproc),\"cpu\":\"$cpu_model\",\"kernel\":\"$(uname -r)\",\"mem_mib\":$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo),\"rabbitmq_server\":\"$rmq_version\",\"erlang\":\"$erl_version\",\"librabbitmq\":\"$librabbitmq_version\",\"disk\":\"$(df --output=source "$work" | tail -1)\",$fsync_json,\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}"

# ---------------------------------------------------------------- RabbitMQ
start_rabbitmq() {
  local r=$work/rmq i
  mkdir -p "$r/home" "$r/mnesia" "$r/log"
  echo '[].' >"$r/enabled_plugins"
  export HOME=$r/home RABBITMQ_NODENAME=bench@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT=$(free_port) RABBITMQ_DIST_PORT=$(free_port) ERL_EPMD_PORT=$(free_port)
  export ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_MNESIA_BASE=$r/mnesia RABBITMQ_LOG_BASE=$r/log
  export RABBITMQ_ENABLED_PLUGINS_FILE=$r/enabled_plugins RABBITMQ_CONFIG_FILE=$r/rabbitmq
  export RABBITMQ_ADVANCED_CONFIG_FILE=$r/advanced.config
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  # Our own epmd on our port, in the foreground (so we hold its PID).
  epmd -port "$ERL_EPMD_PORT" -address 127.0.0.1 >"$r/epmd.log" 2>&1 &
  epmd_pid=$!
  "$RMQ_BIN/rabbitmq-server" >"$r/server.out" 2>&1 &
  rmq_pid=$!
  for ((i = 0; i < 90; i++)); do
    kill -0 "$rmq_pid" 2>/dev/null || die "rabbitmq-server exited (see $r/server.out, $r/log)"
    if timeout 20 "$RMQ_BIN/rabbitmqctl" await_startup --timeout 10 >/dev/null 2>&1; then break; fi
    sleep 1
  done
  ((i < 90)) || die "RabbitMQ did not start in 90 s"
  beam_pid=$(cat "$r/mnesia/bench@localhost.pid")
  rmq_server_version=$("$RMQ_BIN/rabbitmqctl" version 2>/dev/null | tail -1)
  log "RabbitMQ $rmq_server_version up on 127.0.0.1:$RABBITMQ_NODE_PORT (beam pid $beam_pid)"
  emit "{\"kind\":\"rabbitmq\",\"version\":\"$rmq_server_version\",\"queue\":\"classic durable\",\"config\":\"Debian defaults\"}"
}

# ------------------------------------------------------------------- runs
# With PROBE=1 a run has bench/stall_probe beside it: how long the machine
# itself stood still during the run, as "machine_stalls" in its JSON line.
probe_start() { [[ ${PROBE:-0} == 1 ]] || return 0; "$STALL_PROBE" >"$work/probe.json" & probe_pid=$!; }
probe_stop() {  # sets stalls to ',"machine_stalls":{...}', or to nothing without a probe
  stalls=""
  [[ -n $probe_pid ]] || return 0
  stop_pid "$probe_pid" 5; probe_pid=""
  stalls=",\"machine_stalls\":$(cat "$work/probe.json")"
}
# A courier run: fresh proxy, fresh journal; records the tool's JSON with the
# proxy's CPU seconds, RssAnon and journal size after the run.
courier_run() {  # courier_run WORKLOAD REP ARGS...
  local workload=$1 rep=$2; shift 2
  local data=$work/proxy-data la c0 res c1 rss jb stalls
  rm -rf "$data"
  start_proxy "$data"
  la=$(loadavg); c0=$(cpu_s "$proxy_pid")
  probe_start
  res=$(timeout 600 "$PLOAD" --endpoint "$proxy_ep" "$@") || die "proxy_load $workload rep $rep"
  probe_stop
  c1=$(cpu_s "$proxy_pid"); rss=$(status_kb "$proxy_pid" RssAnon)
  stop_proxy
  jb=$(du -sb "$data" | cut -f1)
  emit "{\"broker\":\"courier-proxy\",\"workload\":\"$workload\",\"rep\":$rep,\"loadavg_before\":$la,\"broker_cpu_s\":$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b-a}'),\"rss_anon_kb\":$rss,\"journal_bytes\":$jb,\"result\":$res$stalls}"
}
rabbit_run() {  # rabbit_run WORKLOAD REP ARGS...
  local workload=$1 rep=$2; shift 2
  local la c0 res c1 rss stalls
  la=$(loadavg); c0=$(cpu_s "$beam_pid")
  probe_start
  res=$(timeout 900 "$RLOAD" --port "$RABBITMQ_NODE_PORT" "$@") || die "rabbitmq_load $workload rep $rep"
  probe_stop
  c1=$(cpu_s "$beam_pid"); rss=$(status_kb "$beam_pid" VmRSS)
  emit "{\"broker\":\"rabbitmq\",\"workload\":\"$workload\",\"rep\":$rep,\"loadavg_before\":$la,\"broker_cpu_s\":$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b-a}'),\"rss_kb\":$rss,\"result\":$res$stalls}"
}

# LMDB's own ceiling on the same disk (bench/journal_ceiling.cpp, issue 13):
# the journal's records for one message and its erase, one fsync'd commit
# per 1 / 256 / 4096 messages, and a bare durable commit's latency.
ceiling_run() {  # ceiling_run REP
  local rep=$1 b n res
  for b in 1 256 4096; do
    n=$((b == 1 ? 3000 : 1000000))
    res=$("$CEILING" --dir "$work/ceiling" --batch "$b" --messages "$n") || die "journal_ceiling batch $b"
    emit "{\"broker\":\"lmdb\",\"workload\":\"ceiling_$b\",\"rep\":$rep,\"loadavg_before\":$(loadavg),\"result\":$res}"
  done
  res=$("$CEILING" --dir "$work/ceiling" --mode commit --commits 2000) || die "journal_ceiling commit"
  emit "{\"broker\":\"lmdb\",\"workload\":\"commit\",\"rep\":$rep,\"loadavg_before\":$(loadavg),\"result\":$res}"
}

[[ $SKIP_RABBITMQ == 1 ]] || start_rabbitmq

for ((rep = 1; rep <= REPS; rep++)); do
  log "rep $rep/$REPS: LMDB ceiling"
  ceiling_run "$rep"
  log "rep $rep/$REPS: e2e 1x1"
  courier_run e2e_1p1c "$rep" --queue e2e --messages "$MESSAGES" --producers 1 --consumers 1
  [[ $SKIP_RABBITMQ == 1 ]] || rabbit_run e2e_1p1c "$rep" --queue e2e --messages "$RMQ_MESSAGES" --producers 1 --consumers 1
  log "rep $rep/$REPS: e2e 4x4"
  courier_run e2e_4p4c "$rep" --queue e2e --messages "$MESSAGES" --producers 4 --consumers 4
  [[ $SKIP_RABBITMQ == 1 ]] || rabbit_run e2e_4p4c "$rep" --queue e2e --messages "$RMQ_MESSAGES" --producers 4 --consumers 4
  # Issue 13: messages per PUT fixed (a raw CQP1 client cuts the PUTs; the
  # library's Producer batches what waits), window and credit 1000 (1024 for
  # 256 per PUT: four PUTs). RabbitMQ publishes one message at a time.
  for b in $PUT_BATCHES; do
    log "rep $rep/$REPS: e2e, $b message(s) per PUT"
    courier_run "batch_$b" "$rep" --queue e2e --messages "$MESSAGES" --per-put "$b" \
      --window $((b > 1000 ? b : (b == 256 ? 1024 : 1000))) --credit 1000
  done
  [[ $SKIP_RABBITMQ == 1 ]] || rabbit_run batch_1 "$rep" --queue e2e --messages "$RMQ_MESSAGES" --window 1000 --prefetch 1000
  # Single-message PUTs, each sent when due, with a consumer taking them.
  for rate in $LAT_RATES; do
    log "rep $rep/$REPS: latency at $rate/s"
    PROBE=1 courier_run "latency_$rate" "$rep" --queue lat --latency --rate "$rate" --messages $((rate * LAT_SECONDS)) \
      --per-put 1 --with-consumer --credit 1000
    [[ $SKIP_RABBITMQ == 1 ]] || PROBE=1 rabbit_run "latency_$rate" "$rep" --queue lat --latency --rate "$rate" \
      --messages $((rate * LAT_SECONDS)) --with-consumer
  done
done

if [[ -n $rmq_pid ]]; then
  log "stopping RabbitMQ"
  stop_pid "$rmq_pid" 60; stop_pid "$beam_pid" 10; stop_pid "$epmd_pid" 5
  rmq_pid="" beam_pid="" epmd_pid=""
fi

# ------------------------------------------------ memory with N queued
for n in $MEM_COUNTS; do
  log "courier-proxy memory with $n messages queued"
  data=$work/proxy-mem
  rm -rf "$data"
  start_proxy "$data"
  rss0=$(status_kb "$proxy_pid" RssAnon)
  res=$(timeout 1200 "$PLOAD" --endpoint "$proxy_ep" --queue mem --messages "$n" --producers 4 --consumers 0) \
    || die "proxy_load publish-only $n"
  sleep 1
  rss=$(status_kb "$proxy_pid" RssAnon); rssfile=$(status_kb "$proxy_pid" RssFile); hwm=$(status_kb "$proxy_pid" VmHWM)
  stop_proxy
  jb=$(du -sb "$data" | cut -f1); jk=$(du -sk "$data" | cut -f1)
  # Restart on the full journal: recovery time and memory after recovery.
  start_proxy "$data"; t_ready=$ready_s
  rss_re=$(status_kb "$proxy_pid" RssAnon)
  stop_proxy
  emit "{\"broker\":\"courier-proxy\",\"workload\":\"queued_$n\",\"rss_anon_kb_empty\":$rss0,\"rss_anon_kb\":$rss,\"rss_file_kb\":$rssfile,\"vm_hwm_kb\":$hwm,\"journal_bytes\":$jb,\"journal_disk_kb\":$jk,\"restart_to_ping_s\":$t_ready,\"rss_anon_kb_after_restart\":$rss_re,\"result\":$res}"
  rm -rf "$data"
done

# ------------------------------------------------------------------ summary
python3 - "$OUT" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(broker, wl, key):
    v = [r["result"][key] for r in rows if r.get("broker") == broker and r.get("workload") == wl]
    return (statistics.median(v), v) if v else (None, [])
m = next(r for r in rows if r.get("kind") == "machine")
print(f"\n{m['nproc']} x {m['cpu']}, kernel {m['kernel']}, rabbitmq-server {m['rabbitmq_server']}, "
      f"fdatasync 4 KiB p50 {m['fdatasync_4k_p50_ms']} ms / p99 {m['fdatasync_4k_p99_ms']} ms")
print(f"\n{'durable e2e (msgs/s, median)':30} {'courier-proxy':>14} {'RabbitMQ':>10} {'ratio':>7}   runs courier | RabbitMQ")
summary = []
for wl, name in (("e2e_1p1c", "1 producer / 1 consumer"), ("e2e_4p4c", "4 producers / 4 consumers")):
    c, cv = med("courier-proxy", wl, "msgs_per_s"); r, rv = med("rabbitmq", wl, "msgs_per_s")
    ratio = f"{c / r:.1f}x" if c and r else "-"
    print(f"{name:30} {c or 0:>14,.0f} {r or 0:>10,.0f} {ratio:>7}   {cv} | {rv}")
    summary.append({"kind": "summary", "workload": wl, "courier_msgs_per_s": c, "rabbitmq_msgs_per_s": r,
                    "ratio": round(c / r, 2) if c and r else None})
c256, _ = med("lmdb", "ceiling_256", "msgs_per_s"); commit50, _ = med("lmdb", "commit", "p50_ms")
if c256:
    c, _ = med("courier-proxy", "e2e_1p1c", "msgs_per_s")
    print(f"\nLMDB ceiling, journal cycle at 256 per commit: {c256:,.0f} msgs/s; "
          f"courier 1x1 e2e / ceiling = {c / c256 if c else 0:.2f}x; bare durable commit p50 {commit50} ms")
    for b in (1, 4096):
        v, _ = med("lmdb", f"ceiling_{b}", "msgs_per_s")
        print(f"  ceiling at {b} per commit: {v or 0:,.0f} msgs/s")
    summary.append({"kind": "summary", "workload": "ceiling", "ceiling_256_msgs_per_s": c256,
                    "commit_p50_ms": commit50, "courier_1p1c_over_ceiling": round(c / c256, 3) if c else None})
def cpu_us(broker, wl):  # broker CPU (user + sys) per message, median of runs
    v = [r["broker_cpu_s"] * 1e6 / r["result"]["messages"] for r in rows
         if r.get("broker") == broker and r.get("workload") == wl and r.get("broker_cpu_s") is not None]
    return statistics.median(v) if v else None
def stalls(broker, wl):  # bench/stall_probe beside the run: median count and ms
    v = [r["machine_stalls"] for r in rows if r.get("broker") == broker and r.get("workload") == wl and "machine_stalls" in r]
    if not v: return (None, None)
    return (statistics.median(x["stalls"] for x in v), statistics.median(x["stalled_ms"] for x in v))
rb1, _ = med("rabbitmq", "batch_1", "msgs_per_s")
print(f"\n{'messages per PUT (window/credit 1000)':38} {'courier msgs/s':>15} {'/ ceiling 256':>14} {'/ RabbitMQ':>11} {'proxy us/msg':>13}")
for wl in sorted({r["workload"] for r in rows if str(r.get("workload", "")).startswith("batch_")}, key=lambda w: int(w.split("_")[1])):
    c, cv = med("courier-proxy", wl, "msgs_per_s")
    if not c: continue
    cu = cpu_us("courier-proxy", wl)
    print(f"{wl.split('_')[1] + ' per PUT':38} {c:>15,.0f} {c / c256 if c256 else 0:>13.2f}x {c / rb1 if rb1 else 0:>10.1f}x {cu or 0:>13.2f}   {cv}")
    summary.append({"kind": "summary", "workload": wl, "courier_msgs_per_s": c, "over_ceiling_256": round(c / c256, 3) if c256 else None,
                    "over_rabbitmq_batch_1": round(c / rb1, 2) if rb1 else None, "proxy_cpu_us_per_msg": round(cu, 3) if cu else None})
if rb1:
    print(f"{'RabbitMQ, one message per publish':38} {rb1:>15,.0f} {'':>14} {'':>11} {cpu_us('rabbitmq', 'batch_1') or 0:>13.2f}")
print(f"\n{'publish->confirm latency (median of runs)':44} {'courier p50 / p99 ms':>22} {'RabbitMQ p50 / p99 ms':>24}")
for wl in sorted({r["workload"] for r in rows if str(r.get("workload", "")).startswith("latency_")}, key=lambda w: int(w.split("_")[1])):
    c50, _ = med("courier-proxy", wl, "p50_us"); c99, _ = med("courier-proxy", wl, "p99_us")
    r50, _ = med("rabbitmq", wl, "p50_us"); r99, _ = med("rabbitmq", wl, "p99_us")
    f = lambda a, b: f"{a / 1000:.1f} / {b / 1000:.1f}" if a is not None else "-"
    print(f"{'at ' + wl.split('_')[1] + ' msgs/s, one PUT at a time':44} {f(c50, c99):>22} {f(r50, r99):>24}")
    if c50 and commit50 and r99:
        print(f"{'':44} courier p50 = {c50 / 1000 / commit50:.2f}x the bare commit; courier p99 = {c99 / r99:.2f}x RabbitMQ's")
    stalled = {b: stalls(b, wl) for b in ("courier-proxy", "rabbitmq")}
    for b, (n, ms) in stalled.items():
        if n is not None:
            print(f"{'':44} machine stood still during the {b} runs: {n:.0f} stalls > 4 ms, {ms:.0f} ms in all (median)")
    summary.append({"kind": "summary", "workload": wl, "courier_p50_us": c50, "courier_p99_us": c99,
                    "rabbitmq_p50_us": r50, "rabbitmq_p99_us": r99,
                    "courier_machine_stalls": stalled["courier-proxy"][0], "rabbitmq_machine_stalls": stalled["rabbitmq"][0]})
print(f"\n{'courier-proxy, publish only':30} {'RssAnon MiB':>12} {'after restart':>14} {'journal MiB':>12} {'restart s':>10}")
for r in rows:
    if str(r.get("workload", "")).startswith("queued_"):
        n = int(r["workload"].split("_")[1])
        print(f"{f'{n:,} queued':30} {r['rss_anon_kb'] / 1024:>12.1f} {r['rss_anon_kb_after_restart'] / 1024:>14.1f} "
              f"{r['journal_bytes'] / 2**20:>12.0f} {r['restart_to_ping_s']:>10}")
        summary.append({"kind": "summary", "workload": r["workload"], "rss_anon_mib": round(r["rss_anon_kb"] / 1024, 1),
                        "journal_mib": round(r["journal_bytes"] / 2**20)})
with open(sys.argv[1], "a") as f:
    for s in summary: f.write(json.dumps(s) + "\n")
print(f"\nJSON lines: {sys.argv[1]}")
EOF
