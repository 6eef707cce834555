#!/usr/bin/env bash
# Core library benchmarks (issue 3 item 9): courier vs hand-written
# cppzmq + msgpack-c, same run, interleaved, one process per role, tcp
# loopback. Builds nothing: point it at a build dir that has bench/pipeline_bench
# and bench/rr_bench (cmake --build BUILD --target pipeline_bench rr_bench).
#
#   bench/run_core.sh [BUILD_DIR] [--rounds N] [--out FILE] [--scale F]
#                     [--only typed,bytes,rr] [--perf]
#
# Each round runs every case once per implementation, courier then raw on odd
# rounds and raw then courier on even ones, so slow drift of a shared machine
# hits both sides alike. Every measurement is one JSON line appended to FILE
# (default BUILD_DIR/bench/core_results.jsonl); the table at the end gives per
# case the median over rounds and the ratio courier / raw of the medians.
# --perf: request/reply clients run under `perf stat`, and their lines gain
# client_syscalls_per_req and client_cs_per_req (whole client process,
# warm-up and start-up included, divided by --count): counts that a shared
# machine disturbs far less than wall time.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=./build
rounds=5
out=""
scale=1
only="typed,bytes,rr"
perf=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --perf) perf=1; shift ;;
    --rounds) rounds=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --scale) scale=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) build=$1; shift ;;
  esac
done

pb=$build/bench/pipeline_bench
rb=$build/bench/rr_bench
for exe in "$pb" "$rb"; do
  [[ -x $exe ]] || { echo "missing $exe: cmake --build $build --target pipeline_bench rr_bench" >&2; exit 2; }
done
out=${out:-$build/bench/core_results.jsonl}
: > "$out"
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

# Messages per round: about 1-2 s each on a quiet 2-core machine.
count() { awk -v n="$1" -v s="$scale" 'BEGIN { printf "%d", n * s }'; }
typed_count=$(count 2000000)
declare -A bytes_count=([16]=$(count 3000000) [128]=$(count 2000000) [1024]=$(count 600000)
                        [16384]=$(count 60000))
lat_count=$(count 20000)
thr_count=$(count 100000)

has() { [[ ",$only," == *",$1,"* ]]; }

# Waits (at most 10 s) for a receiver/server to publish its endpoint.
wait_endpoint() {
  local f=$1 i
  for ((i = 0; i < 1000; i++)); do
    [[ -s $f ]] && { cat "$f"; return 0; }
    sleep 0.01
  done
  echo "no endpoint published in $f" >&2
  return 1
}

# record ROUND JSON: tags the line with its round and appends it to $out.
record() {
  local line="{\"round\":$1,${2#\{}"
  echo "$line" >> "$out"
  echo "$line"
}

# pipe ROUND IMPL MODE SIZE COUNT
pipe() {
  local r=$1 impl=$2 mode=$3 size=$4 n=$5 ep_file=$tmp/ep.$RANDOM result
  timeout 300 "$pb" --role recv --impl "$impl" --mode "$mode" --size "$size" --count "$n" \
    --endpoint-file "$ep_file" > "$tmp/recv.out" &
  local rpid=$!
  pids+=("$rpid")
  local ep
  ep=$(wait_endpoint "$ep_file")
  local sent
  sent=$(timeout 300 "$pb" --role send --impl "$impl" --mode "$mode" --size "$size" --count "$n" \
    --endpoint "$ep")
  wait "$rpid"
  result=$(cat "$tmp/recv.out")
  record "$r" "${result%\}},${sent#\{}"   # one line: the receiver's fields + the sender's
}

# rr ROUND IMPL MODE COUNT
rr() {
  local r=$1 impl=$2 mode=$3 n=$4 ep_file=$tmp/ep.$RANDOM result
  "$rb" --role server --impl "$impl" --endpoint-file "$ep_file" &
  local spid=$!
  pids+=("$spid")
  local ep
  ep=$(wait_endpoint "$ep_file")
  if ((perf)); then
    result=$(timeout 300 perf stat -x, -o "$tmp/perf.txt" \
               -e raw_syscalls:sys_enter,context-switches \
               "$rb" --role client --impl "$impl" --mode "$mode" --count "$n" --endpoint "$ep")
    local extra
    extra=$(awk -F, -v n="$n" '/raw_syscalls:sys_enter/ { sc = $1 } /context-switches/ { cs = $1 }
              END { printf ",\"client_syscalls_per_req\":%.3f,\"client_cs_per_req\":%.4f", sc / n, cs / n }' \
              "$tmp/perf.txt")
    result="${result%\}}$extra}"
  else
    result=$(timeout 300 "$rb" --role client --impl "$impl" --mode "$mode" --count "$n" --endpoint "$ep")
  fi
  kill "$spid"
  wait "$spid" 2>/dev/null || true
  record "$r" "$result"
}

echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then impls=(courier raw); else impls=(raw courier); fi
  for impl in "${impls[@]}"; do has typed && pipe "$r" "$impl" typed 0 "$typed_count"; done
  if has bytes; then
    for size in 16 128 1024 16384; do
      for impl in "${impls[@]}"; do pipe "$r" "$impl" bytes "$size" "${bytes_count[$size]}"; done
    done
  fi
  if has rr; then
    for impl in "${impls[@]}"; do rr "$r" "$impl" latency "$lat_count"; done
    for impl in "${impls[@]}"; do rr "$r" "$impl" throughput "$thr_count"; done
  fi
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg); results in $out"
python3 "$here/summarize_core.py" "$out"
