#!/usr/bin/env python3
"""What one fdatasync costs on this disk, by how many pages were written
before it and how many separate write requests they make (docs/BENCHMARKS.md,
"The eighth session"). Nothing of courier: a 4 MiB file of its own.

For each page count, three layouts of the same pages, each --rounds times:
  scattered   every page at a random place (one request each: what LMDB's
              lowest-free-page-first allocator gives a commit)
  two runs    two contiguous runs far apart
  contiguous  one run (one request)
then one 120-byte write through an O_DSYNC descriptor, as LMDB writes its
meta page after the data's fdatasync. Prints a JSON line per layout with
the median and p90 of each step in ms. Only the standard library is used.

  python3 bench/flush_cost_probe.py --dir /path/on/the/journal/disk
"""
import argparse
import json
import os
import random
import statistics
import tempfile
import time

PAGE = 4096
FILE_PAGES = 1024


def place(layout, pages):
    """Yields (first page, page count) writes for one round."""
    if layout == "scattered":
        for p in random.sample(range(1, FILE_PAGES), pages):
            yield p, 1
    elif layout == "two runs":
        half = (pages + 1) // 2
        yield random.randrange(1, FILE_PAGES // 2 - half), half
        if pages > half:
            yield random.randrange(FILE_PAGES // 2, FILE_PAGES - pages), pages - half
    else:
        yield random.randrange(1, FILE_PAGES - pages), pages


def quantile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", help="directory on the disk to measure (default: a temporary one)")
    ap.add_argument("--pages", default="1,3,6,10,20", help="page counts, comma-separated")
    ap.add_argument("--rounds", type=int, default=300)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        path = os.path.join(directory, "probe")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        meta = os.open(path, os.O_RDWR | os.O_DSYNC)
        try:
            os.pwrite(fd, b"\0" * PAGE * FILE_PAGES, 0)
            os.fdatasync(fd)
            for pages in (int(p) for p in args.pages.split(",")):
                for layout in ("scattered", "two runs", "contiguous"):
                    syncs, metas, requests = [], [], 0
                    for _ in range(args.rounds):
                        for first, count in place(layout, pages):
                            os.pwrite(fd, b"x" * PAGE * count, first * PAGE)
                            requests += 1
                        t0 = time.perf_counter()
                        os.fdatasync(fd)
                        t1 = time.perf_counter()
                        os.pwrite(meta, b"m" * 120, 32)
                        t2 = time.perf_counter()
                        syncs.append((t1 - t0) * 1e3)
                        metas.append((t2 - t1) * 1e3)
                    print(json.dumps({
                        "probe": "flush_cost", "pages": pages, "layout": layout,
                        "requests": requests / args.rounds,
                        "fdatasync_p50_ms": round(statistics.median(syncs), 4),
                        "fdatasync_p90_ms": round(quantile(syncs, 0.9), 4),
                        "dsync_meta_p50_ms": round(statistics.median(metas), 4),
                    }), flush=True)
        finally:
            os.close(meta)
            os.close(fd)


if __name__ == "__main__":
    main()
