#!/usr/bin/env bash
# Two `courier` CLI binaries side by side against one courier-proxy, paired
# A B A B ... by farm-bench so a noisy spell hits both: `courier publish` of
# MESSAGES JSON lines from stdin (each {"id", "name", "payload": 64 chars}),
# then `courier consume --count MESSAGES` of as many. Prints farm-bench's
# min/median/max per figure and the ratio A/B (A = NEW, B = OLD).
#
#   bench/cli_ab.sh OLD_COURIER NEW_COURIER [PROXY] [RUNS] [MESSAGES]
#
# Used for issue 9's speed rule (the CLI rebuilt on the library must cost
# nothing); figures go to docs/BENCHMARKS.md.
set -euo pipefail
OLD=$1 NEW=$2
root=$(cd "$(dirname "$0")/.." && pwd)
PROXY=${3:-$root/build/proxy/courier-proxy} RUNS=${4:-7} N=${5:-20000}
work=$(mktemp -d /tmp/cli-ab.XXXXXX)
pid=0
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ep=tcp://127.0.0.1:$port
python3 - "$work/lines.jsonl" "$N" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write(json.dumps({"id": i, "name": "item-%d" % i, "payload": "x" * 64}) + "\n")
PY
"$PROXY" --listen "$ep" --data "$work/data" --log-level warn &
pid=$!
# One script per step, so farm-bench times exactly the CLI process.
printf '#!/bin/sh\nexec "$1" publish ab --proxy %s < %s\n' "$ep" "$work/lines.jsonl" >"$work/pub.sh"
printf '#!/bin/sh\nexec "$1" consume ab --proxy %s --count %s --timeout 60 > /dev/null\n' "$ep" "$N" >"$work/con.sh"
chmod +x "$work/pub.sh" "$work/con.sh"
"$OLD" stats --proxy "$ep" --timeout 10 >/dev/null  # the proxy answers: ready
echo "== publish $N values (A = $NEW, B = $OLD)"
farm-bench -n "$RUNS" --timeout 600 --vs "$work/pub.sh $OLD" -- "$work/pub.sh" "$NEW"
# Every publish run above left N messages: each consume run drains N of them.
echo "== consume $N values"
farm-bench -n "$RUNS" --timeout 600 --vs "$work/con.sh $OLD" -- "$work/con.sh" "$NEW"
