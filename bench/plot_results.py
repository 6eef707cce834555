#!/usr/bin/env python3
"""bench/plot_results.py --out docs/img FILE.jsonl... — charts of the benchmark
JSON lines (issue 13 item 7). Run it through bench/plot.sh, which makes a venv
with the pinned matplotlib (bench/plot-requirements.txt).

Reads any mix of the files written by bench/scale_load.sh, bench/backlog_drain.sh,
bench/run_proxy_vs_rabbitmq.sh and bench/proxy_load, and writes those of these
PNGs whose input lines are present (a chart without input is skipped, with a
message saying which lines it needs):

  bench-scale-pairs.png       msgs/s (and proxy CPU per message) vs producer/consumer pairs
  bench-scale-sizes.png       msgs/s and MB/s vs body size, the disk's sequential rate as a line
  bench-backlog-drain.png     drain rate and RssAnon over time, the empty-queue rate as a line
  bench-throughput-batch.png  courier msgs/s vs messages per PUT, RabbitMQ as a line per workload
  bench-confirm-latency.png   CDF of publish->confirm latency per broker and rate

Repeated runs are reduced to their median; the single runs are drawn as dots
where that helps to see the spread. Rerunning overwrites the PNGs.
"""
import argparse
import json
import os
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")  # files only: no display on the benchmark machines
import matplotlib.pyplot as plt  # noqa: E402  (after use())

DPI = 120


def load(paths):
    """Returns [(path, record)] for every JSON object line; other lines are skipped with a note."""
    out = []
    for path in paths:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line.startswith("{"):
                    continue
                try:
                    out.append((path, json.loads(line)))
                except ValueError as e:
                    print(f"{path}:{n}: not JSON, skipped ({e})", file=sys.stderr)
    return out


def flat(r):
    """A run as one dict: run_proxy_vs_rabbitmq.sh nests the load tool's line under
    "result"; the outer fields (broker, workload) win over the tool's own."""
    out = dict(r["result"]) if isinstance(r.get("result"), dict) else {}
    out.update({k: v for k, v in r.items() if k != "result"})
    return out


def broker(r):
    """'courier' or 'rabbitmq' (or another name as given); proxy_load's own lines have no broker."""
    b = str(r.get("broker", "courier"))
    return "courier" if b.startswith("courier") else b


def median(values):
    return statistics.median(values) if values else None


def save(fig, out_dir, name):
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {path}")


def skip(name, why):
    print(f"skipped {name}: {why}")


# ------------------------------------------------------------------ scale
def by_key(rows, key, value):
    """{key: [value of each run]} sorted by key."""
    groups = defaultdict(list)
    for r in rows:
        groups[r[key]].append(r[value])
    return dict(sorted(groups.items()))


def dots(ax, groups, **kw):
    """Each run as a small dot beside the median line."""
    xs = [k for k, vs in groups.items() for _ in vs]
    ys = [v for vs in groups.values() for v in vs]
    ax.scatter(xs, ys, s=12, alpha=0.5, **kw)


def plot_pairs(records, out_dir):
    name = "bench-scale-pairs.png"
    rows = [r for _, r in records if r.get("bench") == "scale" and r.get("kind") == "pairs"]
    if not rows:
        return skip(name, 'no {"bench":"scale","kind":"pairs"} lines (bench/scale_load.sh)')
    rate = by_key(rows, "pairs", "msgs_per_s")
    cpu = by_key(rows, "pairs", "proxy_cpu_us_per_msg")
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(list(rate), [median(v) for v in rate.values()], "o-", color="C0", label="msgs/s (median)")
    dots(ax, rate, color="C0")
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(rate), [str(k) for k in rate])
    ax.set_xlabel("producer/consumer pairs on one queue (128-byte bodies)")
    ax.set_ylabel("durable end-to-end msgs/s")
    ax.set_ylim(bottom=0)
    ax2 = ax.twinx()
    ax2.plot(list(cpu), [median(v) for v in cpu.values()], "s--", color="C3", label="proxy CPU µs/msg")
    ax2.set_ylabel("courier-proxy CPU per message (µs)")
    ax2.set_ylim(bottom=0)
    lines = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(lines, [h.get_label() for h in lines], loc="lower left")
    ax.set_title("courier-proxy: throughput as producer/consumer pairs grow")
    ax.grid(alpha=0.3)
    save(fig, out_dir, name)


def plot_sizes(records, out_dir):
    name = "bench-scale-sizes.png"
    rows = [r for _, r in records if r.get("bench") == "scale" and r.get("kind") == "size"]
    if not rows:
        return skip(name, 'no {"bench":"scale","kind":"size"} lines (bench/scale_load.sh)')
    disk = median([r["mb_per_s"] for _, r in records if r.get("bench") == "scale" and r.get("kind") == "disk"])
    rate = by_key(rows, "size", "msgs_per_s")
    mbs = by_key(rows, "size", "mb_per_s")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, groups, label, color in ((a1, rate, "msgs/s", "C0"), (a2, mbs, "MB/s of bodies", "C2")):
        ax.plot(list(groups), [median(v) for v in groups.values()], "o-", color=color, label=f"{label} (median)")
        dots(ax, groups, color=color)
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(groups), [f"{k // 1024} KiB" if k >= 1024 else f"{k} B" for k in groups])
        ax.set_xlabel("body size (1 producer -> 1 consumer)")
        ax.grid(alpha=0.3, which="both")
    a1.set_yscale("log")
    a1.set_ylabel("durable end-to-end msgs/s")
    a2.set_ylabel("MB/s (10^6 bytes of bodies)")
    if disk:
        a2.axhline(disk, color="k", linestyle="--", label=f"disk sequential write {disk:,.0f} MB/s")
    # Headroom above the disk's line for the legend.
    a2.set_ylim(0, 1.3 * max([disk or 0] + [median(v) for v in mbs.values()] + [max(v) for v in mbs.values()]))
    a1.legend()
    a2.legend(loc="upper left")
    fig.suptitle("courier-proxy: throughput as the body grows")
    save(fig, out_dir, name)


# ---------------------------------------------------------------- backlog
def plot_backlog(records, out_dir):
    name = "bench-backlog-drain.png"
    runs = defaultdict(list)  # one backlog run per input file
    for path, r in records:
        if r.get("bench") == "backlog":
            runs[path].append(r)
    runs = {p: rs for p, rs in runs.items() if any(r.get("phase") == "rate" for r in rs)}
    if not runs:
        return skip(name, 'no {"bench":"backlog","phase":"rate"} lines (bench/backlog_drain.sh)')
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    ax3 = None  # queue depth, on the first run's samples
    for i, (path, rs) in enumerate(runs.items()):
        tag = f" ({os.path.basename(path)})" if len(runs) > 1 else ""
        color = f"C{i}"
        rate = [r for r in rs if r.get("phase") == "rate"]
        whole = [r for r in rate if not r.get("partial")] or rate
        # Each interval's rate drawn over the interval it covers.
        top.step([r["t"] - r["interval_s"] for r in whole] + [whole[-1]["t"]],
                 [r["msgs_per_s"] for r in whole] + [whole[-1]["msgs_per_s"]],
                 where="post", color=color, label=f"drain, 1 consumer{tag}")
        empty = median([r["msgs_per_s"] for r in rs if r.get("phase") == "empty"])
        if empty:
            top.axhline(empty, color=color, linestyle="--", label=f"empty queue 1 -> 1: {empty:,.0f} msgs/s{tag}")
            top.axhline(0.8 * empty, color=color, linestyle=":", label=f"0.8x empty (target){tag}")
        samples = [r for r in rs if r.get("phase") == "sample" and r.get("rss_anon_kib") is not None]
        bottom.plot([s["t"] for s in samples], [s["rss_anon_kib"] / 1024 for s in samples], "o-", ms=3,
                    color=color, label=f"RssAnon{tag}")
        depth = [s for s in samples if s.get("msgs") is not None]
        if depth and i == 0:  # one run's depth is enough to show where publish and drain are
            ax3 = bottom.twinx()
            ax3.plot([s["t"] for s in depth], [s["msgs"] / 1e6 for s in depth], color="0.5", alpha=0.6,
                     label=f"queue depth{tag}")
            ax3.set_ylabel("queue depth (millions)", color="0.4")
            ax3.set_ylim(bottom=0)
        for r in rs:  # shade the publish and drain phases
            if r.get("phase") in ("publish", "drain") and "t_start" in r:
                for ax in (top, bottom):
                    ax.axvspan(r["t_start"], r["t_end"], color="C1" if r["phase"] == "publish" else "C2",
                               alpha=0.08 if i == 0 else 0.0)
    top.set_ylabel("drain msgs/s per interval")
    top.set_ylim(bottom=0)
    top.legend(loc="best", fontsize="small")
    top.grid(alpha=0.3)
    bottom.axhline(100, color="r", linestyle=":", label="100 MiB (target)")
    bottom.set_ylabel("courier-proxy RssAnon (MiB)")
    bottom.set_ylim(bottom=0)
    bottom.set_xlabel("seconds since the publish began (shaded: publish, then drain)")
    handles = bottom.get_legend_handles_labels()[0] + (ax3.get_legend_handles_labels()[0] if ax3 else [])
    bottom.legend(handles, [h.get_label() for h in handles], loc="upper left", fontsize="small")
    bottom.grid(alpha=0.3)
    top.set_title("courier-proxy: draining a backlog with one consumer")
    save(fig, out_dir, name)


# ------------------------------------------------- batch and latency (lead's runs)
def workload(r):
    if "producers" in r and "consumers" in r:
        return f"{r['producers']} -> {r['consumers']}"
    return str(r.get("workload", "?"))


def plot_batch(records, out_dir):
    name = "bench-throughput-batch.png"
    runs = [flat(r) for _, r in records if "bench" not in r]
    runs = [r for r in runs if r.get("mode") == "throughput" and "msgs_per_s" in r and int(r.get("consumers", 1)) > 0]
    courier = defaultdict(lambda: defaultdict(list))  # workload -> put_batch -> [msgs/s]
    for r in runs:
        if broker(r) == "courier":
            courier[workload(r)][int(r.get("put_batch", 0))].append(r["msgs_per_s"])
    if not any(b > 0 for w in courier.values() for b in w):
        return skip(name, 'no courier {"mode":"throughput","put_batch":B>0} lines (proxy_load --per-put)')
    rabbit = defaultdict(list)
    for r in runs:
        if broker(r) == "rabbitmq":
            rabbit[workload(r)].append(r["msgs_per_s"])
    fig, ax = plt.subplots(figsize=(8, 4.5))
    colors = {w: f"C{i}" for i, w in enumerate(sorted(set(courier) | set(rabbit)))}
    for w, by_batch in sorted(courier.items()):
        sized = {b: v for b, v in sorted(by_batch.items()) if b > 0}
        if sized:
            ax.plot(list(sized), [median(v) for v in sized.values()], "o-", color=colors[w], label=f"courier {w}")
            dots(ax, sized, color=colors[w])
        if 0 in by_batch:  # the Producer's own batching, no fixed size
            ax.axhline(median(by_batch[0]), color=colors[w], linestyle=":",
                       label=f"courier {w}, courier::Producer batching")
    for w, v in sorted(rabbit.items()):
        ax.axhline(median(v), color=colors[w], linestyle="--", label=f"RabbitMQ {w}: {median(v):,.0f} msgs/s")
    ax.set_xscale("log", base=2)
    batches = sorted({b for w in courier.values() for b in w if b > 0})
    ax.set_xticks(batches, [str(b) for b in batches])
    ax.set_yscale("log")
    ax.set_xlabel("messages per PUT")
    ax.set_ylabel("durable end-to-end msgs/s")
    ax.set_title("courier-proxy vs RabbitMQ: throughput by messages per PUT")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    save(fig, out_dir, name)


def plot_latency(records, out_dir):
    name = "bench-confirm-latency.png"
    curves = defaultdict(lambda: defaultdict(list))  # label -> quantile -> [µs]
    for _, r in records:
        if "bench" in r:
            continue
        r = flat(r)
        if r.get("mode") != "latency" or not r.get("cdf_us"):
            continue
        label = f"{'courier' if broker(r) == 'courier' else 'RabbitMQ'} at {r.get('rate', '?')}/s"
        if r.get("consumer"):
            label += ", consumer attached"
        if r.get("put_batch"):
            label += f", {r['put_batch']} per PUT"
        for q, us in r["cdf_us"]:
            curves[label][float(q)].append(float(us))
    if not curves:
        return skip(name, 'no {"mode":"latency","cdf_us":[...]} lines (proxy_load --latency, rabbitmq_load)')
    fig, ax = plt.subplots(figsize=(8, 4.5))
    # One colour per rate, solid for courier and dashed for RabbitMQ, so each
    # rate's pair reads side by side.
    rates = sorted({label.split(" at ")[1].split("/s")[0] for label in curves}, key=lambda x: (len(x), x))
    # Courier variants at one rate (Producer batching, N per PUT, with a
    # consumer) differ by line style.
    variant = lambda label: label.split("/s", 1)[1]
    variants = sorted({variant(label) for label in curves if not label.startswith("RabbitMQ")})
    for label, qs in sorted(curves.items()):
        q = sorted(qs)
        style = "--" if label.startswith("RabbitMQ") else ["-", "-.", ":"][variants.index(variant(label)) % 3]
        color = f"C{rates.index(label.split(' at ')[1].split('/s')[0])}"
        ax.plot([median(qs[k]) / 1000 for k in q], q, style, color=color, marker=".", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("publish -> confirm latency (ms, median over runs of each quantile)")
    ax.set_ylabel("fraction of messages")
    ax.set_ylim(0, 1)
    ax.set_title("publish -> confirm latency, one message at a time")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small", loc="lower right")
    save(fig, out_dir, name)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="docs/img", help="directory for the PNGs (default docs/img)")
    p.add_argument("files", nargs="+", help="JSON-lines files from the bench scripts")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    records = load(a.files)
    for chart in (plot_pairs, plot_sizes, plot_backlog, plot_batch, plot_latency):
        chart(records, a.out)


if __name__ == "__main__":
    main()
