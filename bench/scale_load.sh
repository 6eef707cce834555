#!/usr/bin/env bash
# bench/scale_load.sh [BUILD_DIR] — what courier-proxy's durable throughput
# costs as the work grows (issue 13 item 4). Method: docs/BENCHMARKS.md,
# "Cost as the work grows".
#
#   pairs: 1, 2, 4, 8 producer/consumer pairs on one queue, 128-byte bodies
#          (proxy_load --producers N --consumers N);
#   size:  one pair, bodies of 16 B .. 64 KiB; the message count shrinks as
#          the size grows so that every run moves about SIZE_BYTES (capped at
#          SIZE_MAX_MESSAGES, so small bodies still take a few seconds);
#   disk:  the disk's sequential write rate, measured in every rep on the
#          filesystem that holds --data (dd, O_DIRECT, fdatasync at the end),
#          so each size's MB/s is read as a share of what the disk can take.
#
# REPS times, interleaved (disk, every pair count, every size), so a noisy
# spell hits all of them. Every proxy run gets a fresh proxy and a fresh
# --data dir (default durable mode, fsync on). Per run: msgs/s, MB/s, the
# proxy's CPU per message (utime+stime from /proc/PID/stat), its RssAnon and
# VmHWM at the end, the load average before and after. One JSON line per run
# in $OUT (default BUILD_DIR/scale_load.jsonl); medians printed at the end.
#
# Knobs (environment): REPS=3, PAIRS="1 2 4 8", PAIR_MESSAGES=1000000,
# SIZES="16 128 1024 4096 16384 65536", SIZE_BYTES=268435456 (256 MiB),
# SIZE_MAX_MESSAGES=1000000, SIZE_MIN_MESSAGES=1000, DISK_MIB=512,
# WINDOW=4096 and CREDIT=4096 (proxy_load's unconfirmed window per producer
# and credit per consumer, in messages: at 64 KiB that is 256 MiB in flight),
# WORK_PARENT=/tmp (where --data lives: put it on the disk to measure),
# KEEP=1 (keep the temp dir). An empty PAIRS or SIZES skips that part.
# Everything listens on 127.0.0.1; every process started here is stopped by
# PID on exit. About 2-4 minutes on 2 cores with the defaults (estimated
# from smoke runs), plus a build.
set -euo pipefail
. "$(dirname "$0")/lib/proxy_bench.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath -m "${1:-$root/build}")
REPS=${REPS:-3}
PAIRS=${PAIRS-"1 2 4 8"}
PAIR_MESSAGES=${PAIR_MESSAGES:-1000000}
SIZES=${SIZES-"16 128 1024 4096 16384 65536"}
SIZE_BYTES=${SIZE_BYTES:-268435456}
SIZE_MAX_MESSAGES=${SIZE_MAX_MESSAGES:-1000000}
SIZE_MIN_MESSAGES=${SIZE_MIN_MESSAGES:-1000}
DISK_MIB=${DISK_MIB:-512}
WINDOW=${WINDOW:-4096}
CREDIT=${CREDIT:-4096}
WORK_PARENT=${WORK_PARENT:-/tmp}
OUT=${OUT:-$build/scale_load.jsonl}

# ------------------------------------------------------------------ build
ensure_built "$build" courier-proxy proxy_load
PROXY=$build/proxy/courier-proxy
PLOAD=$build/bench/proxy_load
for b in "$PROXY" "$PLOAD"; do [[ -x $b ]] || die "missing $b"; done

# ------------------------------------------------------- processes & cleanup
work=$(mktemp -d "$WORK_PARENT/courier-scale.XXXXXX")
proxy_pid=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$proxy_pid" 10
  if [[ ${KEEP:-0} == 1 ]]; then log "kept $work"; else rm -rf "$work"; fi
  exit "$rc"
}
trap_cleanup

write_cqp1_ping

proxy_ep=tcp://127.0.0.1:$(free_port)

# Clock ticks (utime + stime) of a process: integers, so the difference is exact.
tck=$(getconf CLK_TCK)

: >"$OUT"

emit "{\"bench\":\"scale\",\"kind\":\"machine\",\"date\":\"$(date -u +%FT%TZ)\",\"nproc\":$(nproc),\"cpu\":\"$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)\",\"kernel\":\"$(uname -r)\",\"disk\":\"$(df --output=source "$work" | tail -1)\",\"fs\":\"$(df --output=fstype "$work" | tail -1)\",\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}"

# ------------------------------------------------------------------- runs
# The disk's sequential write rate where --data lives: DISK_MIB of 1 MiB
# writes, O_DIRECT (the page cache would flatter it) with one fdatasync at
# the end. On a filesystem without O_DIRECT (tmpfs) it falls back to
# buffered writes and says so ("direct":false).
disk_mb_s=""
disk_run() {  # disk_run REP; sets disk_mb_s
  local rep=$1 direct=true t0 t1
  t0=$(date +%s.%N)
  if ! dd if=/dev/zero of="$work/seq" bs=1M count="$DISK_MIB" oflag=direct conv=fdatasync status=none 2>/dev/null; then
    direct=false
    t0=$(date +%s.%N)
    dd if=/dev/zero of="$work/seq" bs=1M count="$DISK_MIB" conv=fdatasync status=none
  fi
  t1=$(date +%s.%N)
  rm -f "$work/seq"
  disk_mb_s=$(awk -v n="$DISK_MIB" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", n * 1048576 / (b - a) / 1e6}')
  emit "{\"bench\":\"scale\",\"kind\":\"disk\",\"rep\":$rep,\"bytes\":$((DISK_MIB * 1048576)),\"direct\":$direct,\"seconds\":$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b - a}'),\"mb_per_s\":$disk_mb_s,\"loadavg_before\":$(loadavg)}"
}

# One proxy_load run on a fresh proxy and journal. MB/s counts bodies only
# (what the user asked to move), in 10^6 bytes.
proxy_run() {  # proxy_run KIND REP PAIRS SIZE MESSAGES
  local kind=$1 rep=$2 pairs=$3 size=$4 n=$5
  local data=$work/data la0 c0 res c1 la1 rss hwm jb
  rm -rf "$data"
  start_proxy "$data"
  la0=$(loadavg); c0=$(cpu_ticks "$proxy_pid")
  res=$(timeout 900 "$PLOAD" --endpoint "$proxy_ep" --queue scale --producers "$pairs" --consumers "$pairs" \
          --size "$size" --messages "$n" --window "$WINDOW" --credit "$CREDIT") || die "proxy_load $kind pairs=$pairs size=$size rep $rep"
  c1=$(cpu_ticks "$proxy_pid"); la1=$(loadavg)
  rss=$(status_kb "$proxy_pid" RssAnon); hwm=$(status_kb "$proxy_pid" VmHWM)
  stop_proxy
  jb=$(du -sb "$data" | cut -f1)
  rm -rf "$data"
  emit "$(python3 - "$res" <<EOF
import json, sys
r = json.loads(sys.argv[1])
cpu_s = ($c1 - $c0) / $tck
line = {"bench": "scale", "kind": "$kind", "rep": $rep, "pairs": $pairs, "size": $size,
        "messages": $n, "window": $WINDOW, "credit": $CREDIT, "seconds": r["seconds"], "msgs_per_s": r["msgs_per_s"],
        "mb_per_s": round(r["msgs_per_s"] * $size / 1e6, 2),
        "proxy_cpu_s": round(cpu_s, 2), "proxy_cpu_us_per_msg": round(cpu_s / $n * 1e6, 3),
        "rss_anon_kib": $rss, "vm_hwm_kib": $hwm, "journal_bytes": $jb,
        "loadavg_before": $la0, "loadavg_after": $la1, "result": r}
if "$kind" == "size" and "$disk_mb_s":
    line["disk_mb_per_s"] = $disk_mb_s
    line["disk_ratio"] = round(line["mb_per_s"] / $disk_mb_s, 3)
print(json.dumps(line, separators=(",", ":")))
EOF
)"
}

# Messages for a size run: about SIZE_BYTES of bodies, within the caps.
size_messages() {
  local n=$((SIZE_BYTES / $1))
  ((n > SIZE_MAX_MESSAGES)) && n=$SIZE_MAX_MESSAGES
  ((n < SIZE_MIN_MESSAGES)) && n=$SIZE_MIN_MESSAGES
  echo "$n"
}

for ((rep = 1; rep <= REPS; rep++)); do
  log "rep $rep/$REPS: disk sequential write, $DISK_MIB MiB"
  disk_run "$rep"
  for p in $PAIRS; do
    log "rep $rep/$REPS: $p pair(s), 128 B, $PAIR_MESSAGES messages"
    proxy_run pairs "$rep" "$p" 128 "$PAIR_MESSAGES"
  done
  for s in $SIZES; do
    n=$(size_messages "$s")
    log "rep $rep/$REPS: 1 pair, $s B, $n messages"
    proxy_run size "$rep" 1 "$s" "$n"
  done
done

# ------------------------------------------------------------------ summary
python3 - "$OUT" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = lambda v: statistics.median(v) if v else float("nan")
m = next(r for r in rows if r["kind"] == "machine")
disk = [r["mb_per_s"] for r in rows if r["kind"] == "disk"]
print(f"\n{m['nproc']} x {m['cpu']}, {m['disk']} ({m['fs']}); sequential write {med(disk):,.0f} MB/s (runs {disk})")
def table(kind, key, label):
    keys = sorted({r[key] for r in rows if r["kind"] == kind})
    if not keys:
        return
    print(f"\n{label:>10} {'msgs/s':>10} {'MB/s':>8} {'of disk':>8} {'proxy µs/msg':>13} {'RssAnon MiB':>12} {'load':>5}   msgs/s of each rep")
    for k in keys:
        rs = [r for r in rows if r["kind"] == kind and r[key] == k]
        ratio = med([r["disk_ratio"] for r in rs if "disk_ratio" in r])
        ratio = "-" if ratio != ratio else f"{ratio:.2f}"  # nan: no disk figure (pairs)
        print(f"{k:>10} {med([r['msgs_per_s'] for r in rs]):>10,.0f} {med([r['mb_per_s'] for r in rs]):>8,.1f} "
              f"{ratio:>8} {med([r['proxy_cpu_us_per_msg'] for r in rs]):>13.2f} "
              f"{med([r['rss_anon_kib'] for r in rs]) / 1024:>12.1f} {med([r['loadavg_before'] for r in rs]):>5.1f}   "
              f"{[r['msgs_per_s'] for r in rs]}")
table("pairs", "pairs", "pairs")
table("size", "size", "size B")
print(f"\nJSON lines: {sys.argv[1]}")
EOF
