#!/usr/bin/env python3
"""Reproduces, without courier, the machine stalls behind the proxy's p99 on
the benchmark VMs (docs/BENCHMARKS.md, "Where confirm latency goes").

Runs for --seconds, each part in a process of its own:
  - bench/stall_probe (built by cmake): counts how often this machine stood
    still for more than 4 ms;
  - with --sync-rate N: N times a second, two 4 KiB pwrites + fdatasync and
    a 4 KiB write through an O_DSYNC descriptor (what one LMDB commit does);
  - with --tcp-rate N: N small round trips a second over loopback TCP.
Prints stall_probe's JSON line. Only the standard library is used.

  bench/flush_stall_repro.py build/bench/stall_probe --sync-rate 3000 --tcp-rate 5000
"""
import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing import Process


def paced(rate, seconds, step):
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds:
        step()
        n += 1
        ahead = start + n / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)


def sync_loop(directory, rate, seconds):
    path = os.path.join(directory, "data")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    meta = os.open(path, os.O_RDWR | os.O_DSYNC)
    os.ftruncate(fd, 256 << 20)
    page = os.urandom(4096)
    flips = [0]

    def commit():
        for _ in range(2):
            os.pwrite(fd, page, (2 + random.randrange(65536)) * 4096)
        os.fdatasync(fd)
        os.pwrite(meta, page, (flips[0] % 2) * 4096)  # LMDB's two meta pages
        flips[0] += 1

    paced(rate, seconds, commit)


def tcp_loop(rate, seconds):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname())
    peer, _ = server.accept()
    for s in (client, peer):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def echo():
        while data := peer.recv(4096):
            peer.sendall(data)

    threading.Thread(target=echo, daemon=True).start()

    def round_trip():
        client.sendall(b"x" * 150)
        client.recv(4096)

    paced(rate, seconds, round_trip)
    client.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("stall_probe", help="path of the built bench/stall_probe")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--sync-rate", type=int, default=0, help="commits a second (0: none)")
    ap.add_argument("--tcp-rate", type=int, default=0, help="loopback round trips a second (0: none)")
    ap.add_argument("--dir", default=None, help="where the sync loop writes (default: a temp dir under /tmp)")
    a = ap.parse_args()
    if not os.access(a.stall_probe, os.X_OK):
        sys.exit(f"{a.stall_probe} is not an executable: build it with `ninja -C build stall_probe`")
    with tempfile.TemporaryDirectory(dir=a.dir) as tmp:
        probe = subprocess.Popen([a.stall_probe, "--seconds", str(a.seconds + 0.5)], stdout=subprocess.PIPE, text=True)
        parts = []
        if a.sync_rate:
            parts.append(Process(target=sync_loop, args=(tmp, a.sync_rate, a.seconds)))
        if a.tcp_rate:
            parts.append(Process(target=tcp_loop, args=(a.tcp_rate, a.seconds)))
        for p in parts:
            p.start()
        for p in parts:
            p.join()
        out, _ = probe.communicate()
        print(out.strip())


if __name__ == "__main__":
    main()
