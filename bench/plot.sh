#!/usr/bin/env bash
# bench/plot.sh [BUILD_DIR] [FILE.jsonl...] — the benchmark charts in
# docs/img (issue 13 item 7), from the JSON lines of the bench scripts.
#
# Makes BUILD_DIR/plot-venv (default build/plot-venv) with the pinned
# bench/plot-requirements.txt when missing or when the pins changed, then runs
# bench/plot_results.py --out OUT_DIR (default docs/img) on the given files,
# or by default on whichever of
# BUILD_DIR/{scale_load,backlog_drain,proxy_vs_rabbitmq}.jsonl exist.
# Rerunning redraws the PNGs; a chart whose lines are absent is skipped.
# OUT_DIR=/tmp/x keeps a smoke run's charts out of docs/img.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath -m "${1:-$root/build}")
shift || true
venv=$build/plot-venv
req=$root/bench/plot-requirements.txt
OUT_DIR=${OUT_DIR:-$root/docs/img}

# The stamp holds the requirements the venv was made from: new pins, new venv.
if ! cmp -s "$req" "$venv/requirements.stamp" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$venv/requirements.stamp"
fi

files=("$@")
if ((${#files[@]} == 0)); then
  for f in scale_load backlog_drain proxy_vs_rabbitmq; do
    [[ -f $build/$f.jsonl ]] && files+=("$build/$f.jsonl")
  done
fi
((${#files[@]})) || { echo "plot.sh: no JSON-lines files given and none in $build" >&2; exit 1; }
exec "$venv/bin/python" "$root/bench/plot_results.py" --out "$OUT_DIR" "${files[@]}"
