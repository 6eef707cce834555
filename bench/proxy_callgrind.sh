#!/usr/bin/env bash
# bench/proxy_callgrind.sh — instructions per message of courier-proxy under
# callgrind: the figure to hold for issue 13 (docs/BENCHMARKS.md,
# "Instructions per message"). Deterministic to about a percent whatever the
# machine's load, unlike CPU time; the rest of the spread comes from how many
# messages each commit holds, so compare binaries in the same run, rounds
# interleaved.
#
#   bench/proxy_callgrind.sh PROXY [OTHER_PROXY] [ROUNDS]
#
# For each round, each binary, each workload: a fresh proxy with a fresh
# --data dir under `valgrind --tool=callgrind` (whole process, all threads,
# start-up included), bench/proxy_load natively against it, then SIGTERM so
# callgrind writes its totals. Workloads (WORKLOADS to pick, by name):
#   producer  the library's Producer batching, 1 -> 1, 200,000 messages
#   put256    raw PUTs of 256, window 1024, credit 1000, 100,000 messages
#   put1      raw PUTs of 1, window 1000, credit 1000, 100,000 messages
#   pruned    put256 against a proxy with --dedup-window 1000: producer ids
#             are forgotten while the run goes on, as in any run longer
#             than the default 2-minute window (not in the default set)
# Prints one JSON line per run (also appended to OUT) and the median of each
# workload per binary, with OTHER/PROXY when two are given. Needs valgrind
# (apt-get install valgrind) and proxy_load (PLOAD, default build/bench).
# Takes ~6 minutes per binary and round on 2 cores.
set -euo pipefail
. "$(dirname "$0")/lib/proxy_bench.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
[[ $# -ge 1 ]] || { echo "usage: $0 PROXY [OTHER_PROXY] [ROUNDS]" >&2; exit 2; }
binaries=("$(realpath "$1")")
[[ $# -ge 2 && -n $2 ]] && binaries+=("$(realpath "$2")")
ROUNDS=${3:-1}
PLOAD=${PLOAD:-$root/build/bench/proxy_load}
WORKLOADS=${WORKLOADS:-"producer put256 put1"}
work=$(mktemp -d /tmp/proxy-callgrind.XXXXXX)
OUT=${OUT:-$work/results.jsonl}
proxy_pid=""

cleanup() {
  stop_proxy
  [[ ${KEEP:-0} == 1 ]] || rm -rf "$work"
}
trap_cleanup

command -v valgrind >/dev/null || die "needs valgrind: apt-get install valgrind"
command -v callgrind_annotate >/dev/null || die "needs callgrind_annotate (Debian's valgrind package)"
[[ -x $PLOAD ]] || die "no proxy_load at $PLOAD (build it: cmake --build build --target proxy_load)"
for b in "${binaries[@]}"; do [[ -x $b ]] || die "not an executable: $b"; done
write_cqp1_ping

# start_proxy runs $PROXY: this wrapper puts the binary of the run under callgrind.
PROXY=$work/proxy-under-callgrind
cat >"$PROXY" <<'SH'
#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file="$CG_OUT" "$CG_PROXY" "$@"
SH
chmod +x "$PROXY"

load_args() {  # load_args WORKLOAD: proxy_load's arguments for it
  case $1 in
    producer) echo "--messages 200000" ;;
    put256) echo "--messages 100000 --per-put 256 --window 1024 --credit 1000" ;;
    put1) echo "--messages 100000 --per-put 1 --window 1000 --credit 1000" ;;
    pruned) load_args put256 ;;
    *) die "unknown workload '$1' (producer, put256, put1, pruned)" ;;
  esac
}

proxy_args() {  # proxy_args WORKLOAD: courier-proxy's extra arguments for it
  case $1 in
    pruned) echo "--dedup-window 1000" ;;
    *) echo "" ;;
  esac
}

run() {  # run BINARY WORKLOAD ROUND
  local binary=$1 workload=$2 round=$3 args messages total
  args=$(load_args "$workload")
  messages=$(awk '{for (i = 1; i < NF; i++) if ($i == "--messages") print $(i + 1)}' <<<"$args")
  export CG_PROXY=$binary CG_OUT=$work/callgrind.out
  rm -rf "$work/data" "$CG_OUT"
  proxy_ep="tcp://127.0.0.1:$(free_port)"
  # shellcheck disable=SC2046  # no arguments, or words by design
  start_proxy "$work/data" $(proxy_args "$workload")
  # shellcheck disable=SC2086  # args are words by design
  "$PLOAD" --endpoint "$proxy_ep" --queue callgrind $args >/dev/null
  stop_pid "$proxy_pid" 120  # callgrind writes its totals on the way out
  proxy_pid=""
  total=$(callgrind_annotate "$CG_OUT" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  [[ -n $total ]] || die "no callgrind totals for $binary ($workload)"
  emit "{\"bench\":\"proxy_callgrind\",\"proxy\":\"$binary\",\"workload\":\"$workload\",\"round\":$round,\"messages\":$messages,\"instructions\":$total,\"per_message\":$((total / messages))}"
}

for ((round = 1; round <= ROUNDS; round++)); do
  for workload in $WORKLOADS; do
    for b in "${binaries[@]}"; do run "$b" "$workload" "$round"; done
  done
done

/usr/bin/python3 - "$OUT" "${binaries[@]}" <<'PY'
import json, statistics, sys
out, binaries = sys.argv[1], sys.argv[2:]
rows = [json.loads(l) for l in open(out) if '"proxy_callgrind"' in l]
for w in dict.fromkeys(r["workload"] for r in rows):
    med = [statistics.median(r["per_message"] for r in rows if r["workload"] == w and r["proxy"] == b)
           for b in binaries]
    line = f"{w:9} " + "  ".join(f"{m:,.0f}" for m in med) + " instructions per message"
    if len(med) == 2:
        line += f"   other/first {med[1] / med[0]:.3f}"
    print(line)
PY
