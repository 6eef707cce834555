#!/usr/bin/env python3
"""Summarizes bench/run_core.sh's JSON lines: per case the median over rounds
of each implementation and the ratio courier / raw of the medians.

    python3 bench/summarize_core.py RESULTS.jsonl [--markdown]
"""
import json
import statistics
import sys
from collections import defaultdict


def add(cells, key, d, value):
    cells[key][d["impl"]].append(value)
    cells[key][("round", d["impl"])].append((d.get("round", 0), value))


def paired_median(by_impl, higher):
    """Median over rounds of the per-round ratio: the two sides of a round ran
    back to back, so this cancels most of the machine's drift."""
    c = dict(by_impl.get(("round", "courier"), []))
    r = dict(by_impl.get(("round", "raw"), []))
    ratios = [(c[k] / r[k] if higher else r[k] / c[k]) for k in c if k in r and c[k] and r[k]]
    return statistics.median(ratios) if ratios else float("nan")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    markdown = "--markdown" in sys.argv[2:]
    # (case, metric, higher_is_better) -> impl -> [values]
    cells = defaultdict(lambda: defaultdict(list))
    order = []  # cases in the order first seen

    bad = 0
    class Cells(dict):
        def __missing__(self, key):
            order.append(key)
            self[key] = defaultdict(list)
            return self[key]
    cells = Cells()
    with open(sys.argv[1]) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            d = json.loads(line)
            if not d.get("ok", False):
                bad += 1
            if d["bench"] == "pipeline":
                case = "typed Tick (%d B frame)" % d["frame_bytes"] if d["mode"] == "typed" \
                    else "raw bytes %d B" % d["size"]
                add(cells, (case, "msgs/s", True), d, d["msgs_per_s"])
                if "send_cpu_s" in d:  # CPU of both processes, all threads, per message
                    ns = 1e9 * (d["recv_cpu_s"] / d["timed"] + d["send_cpu_s"] / d["send_count"])
                    add(cells, (case, "CPU ns/msg", False), d, ns)
            elif d["mode"] == "latency":
                add(cells, ("req/rep latency p50", "us", False), d, d["p50_us"])
                add(cells, ("req/rep latency p99", "us", False), d, d["p99_us"])
            else:
                case = "req/rep pipelined (%d in flight)" % d["inflight"]
                add(cells, (case, "replies/s", True), d, d["msgs_per_s"])

    rows = []
    for (case, unit, higher), by_impl in sorted(cells.items(), key=lambda kv: order.index(kv[0])):
        c, r = by_impl.get("courier", []), by_impl.get("raw", [])  # values over rounds
        mc = statistics.median(c) if c else float("nan")
        mr = statistics.median(r) if r else float("nan")
        # ratio > 1 always means courier is better
        ratio = (mc / mr if higher else mr / mc) if c and r else float("nan")
        rows.append((case, unit, mc, mr, ratio, paired_median(by_impl, higher), min(len(c), len(r))))

    def fmt(v):
        return "%.0f" % v if v >= 1000 else "%.1f" % v

    if markdown:
        print("| case | unit | courier (median) | hand-rolled (median) | ratio of medians "
              "| median of per-round ratios | rounds |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for case, unit, mc, mr, ratio, paired, n in rows:
            print("| %s | %s | %s | %s | %.3f | %.3f | %d |" % (case, unit, fmt(mc), fmt(mr), ratio,
                                                              paired, n))
    else:
        print("%-34s %-10s %12s %12s %8s %8s %6s" % ("case", "unit", "courier", "raw", "c/raw",
                                                       "paired", "rounds"))
        for case, unit, mc, mr, ratio, paired, n in rows:
            print("%-34s %-10s %12s %12s %8.3f %8.3f %6d" % (case, unit, fmt(mc), fmt(mr), ratio,
                                                            paired, n))
    print("(c/raw: ratio of the medians; paired: median of the per-round ratios. > 1 means\n"
          " courier is better; for us and CPU ns/msg the ratio is raw / courier)")
    if bad:
        print("WARNING: %d measurement(s) failed their checks (ok=false)" % bad)
        sys.exit(1)


if __name__ == "__main__":
    main()
