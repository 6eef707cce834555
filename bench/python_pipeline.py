#!/usr/bin/env python3
"""Push -> Pull between two Python processes: courier vs pyzmq + msgpack.

Messages are dicts {"id": int, "name": str, "payload": 64 bytes}. Modes:
  courier        Push.send(d) / Pull.receive()            one call per message
  courier-batch  Push.send_many(1000 dicts) / Pull.receive_many(1000)
  pyzmq          sock.send(msgpack.packb(d)) / msgpack.unpackb(sock.recv())
Each pair is a receiver process (binds, times first -> last message) and a
sender process (connects); both are this script. The modes run interleaved,
--repeat times, and the medians and ratios to pyzmq are printed.

    python bench/python_pipeline.py [--count 200000] [--repeat 5]
    python bench/python_pipeline.py --once courier      # one pair: for whole-process timing
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

MODES = ("courier", "courier-batch", "pyzmq")
BATCH = 1000


def message(i, payload=bytes(64)):
    return {"id": i, "name": "alice", "payload": payload}


# ---------------------------------------------------------------- the two roles

def receive(mode, count):
    if mode == "pyzmq":
        import msgpack
        import zmq
        sock = zmq.Context.instance().socket(zmq.PULL)
        sock.bind("tcp://127.0.0.1:*")
        print(sock.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
        unpackb = msgpack.unpackb
        last = unpackb(sock.recv())["id"]
        start = time.perf_counter()
        for _ in range(count - 1):
            last = unpackb(sock.recv())["id"]
    else:
        import courier
        pull = courier.Pull()
        pull.bind("tcp://127.0.0.1:*")
        print(pull.last_endpoint, flush=True)
        if mode == "courier":
            last = pull.receive()["id"]
            start = time.perf_counter()
            for _ in range(count - 1):
                last = pull.receive()["id"]
        else:
            got = pull.receive_many(BATCH)
            start = time.perf_counter()
            n = len(got)
            while n < count:
                got = pull.receive_many(BATCH)
                n += len(got)
            last = got[-1]["id"]
    seconds = time.perf_counter() - start
    assert last == count - 1, last
    print(json.dumps({"mode": mode, "count": count, "seconds": seconds, "msgs_per_s": (count - 1) / seconds}))


def send(mode, count, endpoint):
    if mode == "pyzmq":
        import msgpack
        import zmq
        sock = zmq.Context.instance().socket(zmq.PUSH)
        sock.connect(endpoint)
        packb = msgpack.packb
        for i in range(count):
            sock.send(packb(message(i)))
        sock.close(linger=-1)
        return
    import courier
    push = courier.Push(socket=courier.SocketOptions(linger=30.0))
    push.connect(endpoint)
    if mode == "courier":
        for i in range(count):
            push.send(message(i))
    else:
        for start in range(0, count, BATCH):
            push.send_many([message(i) for i in range(start, min(count, start + BATCH))])
    push.close()


def pair(mode, count):
    """Runs one receiver and one sender process; returns the receiver's figures."""
    me = [sys.executable, __file__]
    receiver = subprocess.Popen(me + ["--role", "receive", "--mode", mode, "--count", str(count)],
                                stdout=subprocess.PIPE, text=True)
    endpoint = receiver.stdout.readline().strip()
    subprocess.run(me + ["--role", "send", "--mode", mode, "--count", str(count), "--endpoint", endpoint],
                   check=True)
    out, _ = receiver.communicate(timeout=600)
    assert receiver.returncode == 0, out
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--once", choices=MODES, help="run one pair of this mode and exit")
    ap.add_argument("--role", choices=("send", "receive"), help=argparse.SUPPRESS)
    ap.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    ap.add_argument("--endpoint", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.role == "receive":
        return receive(a.mode, a.count)
    if a.role == "send":
        return send(a.mode, a.count, a.endpoint)
    if a.once:
        print(json.dumps(pair(a.once, a.count)))
        return None

    rates = {m: [] for m in MODES}
    for r in range(a.repeat):
        for m in MODES:  # interleaved, so a drift of the machine's speed hits every mode alike
            rates[m].append(pair(m, a.count)["msgs_per_s"])
        print(f"run {r + 1}/{a.repeat}: " + ", ".join(f"{m} {rates[m][-1]:,.0f}/s" for m in MODES),
              file=sys.stderr)
    base = statistics.median(rates["pyzmq"])
    print(f"{a.count} dict messages, {a.repeat} runs, medians (min..max):")
    for m in MODES:
        med = statistics.median(rates[m])
        print(f"  {m:14s} {med:12,.0f} msgs/s  ({min(rates[m]):,.0f}..{max(rates[m]):,.0f})  "
              f"{med / base:5.2f}x pyzmq+msgpack")
    return None


if __name__ == "__main__":
    sys.exit(main())
