#!/usr/bin/env python3
"""courier.packb/unpackb against msgpack.packb/unpackb on representative values.

Each figure is the median over --repeat runs of the CPU time (process time,
not wall time) per call; a run lasts about --min-time seconds. The ratio is
msgpack's time divided by courier's: above 1 means courier is faster.

    build/python-venv/bin/python bench/python_codec.py   # after bindings/python/run_tests.sh
"""

import argparse
import statistics
import sys
import time
import timeit

import msgpack

import courier


def values():
    """Name -> value, from the message the issue benchmarks to bulk data."""
    message = {"id": 12345, "name": "alice", "payload": bytes(64)}
    event = {
        "type": "order.created", "id": 987654321, "at": 1718000000.25, "customer": {"id": 42, "name": "Zoë Müller",
                                                                                   "email": "zoe@example.com"},
        "lines": [{"sku": f"SKU-{i:04d}", "qty": i % 5 + 1, "price": 9.99 + i, "tags": ["a", "b"]} for i in range(10)],
        "paid": True, "note": None,
    }
    return {
        "small message (3 keys, 64 B bin)": message,
        "nested event (10 line items)": event,
        "1000 ints": list(range(-500, 500)) + [2**40],
        "1000 floats": [i * 0.37 for i in range(1000)],
        "100-key str->str dict": {f"key{i}": f"value number {i}" for i in range(100)},
        "64 KiB bytes": bytes(range(256)) * 256,
    }


def per_call(fn, arg, repeat, min_time):
    """Median CPU seconds per call of fn(arg)."""
    timer = timeit.Timer("fn(arg)", globals={"fn": fn, "arg": arg}, timer=time.process_time)
    number = 1
    while timer.timeit(number) < min_time / 5:  # calibrate on a fifth of a run
        number *= 2
    number *= 5
    return statistics.median(timer.repeat(repeat=repeat, number=number)) / number


def fmt(seconds):
    return f"{seconds * 1e9:,.0f} ns" if seconds < 1e-4 else f"{seconds * 1e6:,.1f} µs"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7, help="runs per figure, the median is shown (default 7)")
    ap.add_argument("--min-time", type=float, default=0.2, help="CPU seconds per run (default 0.2)")
    args = ap.parse_args()

    print(f"Python {sys.version.split()[0]}, msgpack {msgpack.version}, courier from {courier.__file__}")
    print(f"CPU time per call, median of {args.repeat} runs; ratio = msgpack / courier (> 1: courier faster)\n")
    print(f"| value | bytes | pack courier | pack msgpack | pack ratio | unpack courier | unpack msgpack | unpack ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    pack_ratios, unpack_ratios = [], []
    for name, value in values().items():
        data = msgpack.packb(value)
        assert courier.packb(value) == data, f"{name}: courier and msgpack disagree"
        assert courier.unpackb(data) == msgpack.unpackb(data), f"{name}: unpacked values differ"
        pc = per_call(courier.packb, value, args.repeat, args.min_time)
        pm = per_call(msgpack.packb, value, args.repeat, args.min_time)
        uc = per_call(courier.unpackb, data, args.repeat, args.min_time)
        um = per_call(msgpack.unpackb, data, args.repeat, args.min_time)
        pack_ratios.append(pm / pc)
        unpack_ratios.append(um / uc)
        print(f"| {name} | {len(data):,} | {fmt(pc)} | {fmt(pm)} | {pm / pc:.2f}× | {fmt(uc)} | {fmt(um)} | {um / uc:.2f}× |")
    print(f"\ngeometric mean ratio: pack {statistics.geometric_mean(pack_ratios):.2f}×, "
          f"unpack {statistics.geometric_mean(unpack_ratios):.2f}×")


if __name__ == "__main__":
    main()
