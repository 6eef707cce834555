#!/usr/bin/env python3
"""Producer -> courier-proxy -> Consumer: Python binding vs the C++ library.

One courier-proxy (started here on a free port, stopped by PID) serves every
run. Each run publishes --count dicts {"id", "name", "payload": 64 B} to a
fresh queue while a consumer receives and acks them; the figure is messages
per second from the first publish to the last delivery received.
  cpp           bench/producer_consumer (C++ Producer::publish_async, Consumer::receive + ack;
                two threads of one process)
  python        Producer.publish_async per message, flush(); Consumer iterated, ack() each
  python-batch  Producer.publish_many(1000 values); Consumer.receive_many(1000), ack() each
The Python producer and consumer are two processes (start and end taken from
the system-wide monotonic clock). Modes run interleaved, --repeat times.

    python bench/python_proxy.py --proxy-bin build/proxy/courier-proxy \\
        --cpp-bin build/bench/producer_consumer [--count 100000] [--repeat 5]
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

MODES = ("cpp", "python", "python-batch")
BATCH = 1000


def message(i, payload=bytes(64)):
    return {"id": i, "name": "alice", "payload": payload}


# ---------------------------------------------------------------- Python roles

def produce(mode, endpoint, queue, count):
    import courier
    with courier.Producer(endpoint) as producer:
        producer.wait_connected(10)
        print(json.dumps({"start": time.monotonic()}), flush=True)
        if mode == "python":
            for i in range(count):
                producer.publish_async(queue, message(i))
            assert producer.flush(120)
        else:
            for start in range(0, count, BATCH):
                producer.publish_many(queue, [message(i) for i in range(start, min(count, start + BATCH))])


def consume(mode, endpoint, queue, count):
    import courier
    with courier.Consumer(queue, endpoint) as consumer:
        assert consumer.wait_consuming(10)
        print("ready", flush=True)
        total = 0
        if mode == "python":
            for n, delivery in enumerate(consumer, 1):
                total += delivery.body["id"]
                delivery.ack()
                if n == count:
                    break
        else:
            n = 0
            while n < count:
                for delivery in consumer.receive_many(BATCH, timeout=60):
                    total += delivery.body["id"]
                    delivery.ack()
                    n += 1
        end = time.monotonic()
    assert total == count * (count - 1) // 2, total
    print(json.dumps({"end": end}), flush=True)


# ---------------------------------------------------------------- one run

def run_python(mode, endpoint, queue, count):
    me = [sys.executable, __file__, "--endpoint", endpoint, "--queue", queue, "--count", str(count), "--mode", mode]
    consumer = subprocess.Popen(me + ["--role", "consume"], stdout=subprocess.PIPE, text=True)
    assert consumer.stdout.readline().strip() == "ready"
    producer = subprocess.run(me + ["--role", "produce"], stdout=subprocess.PIPE, text=True, check=True,
                              timeout=600)
    start = json.loads(producer.stdout.splitlines()[0])["start"]
    out, _ = consumer.communicate(timeout=600)
    assert consumer.returncode == 0
    end = json.loads(out.strip().splitlines()[-1])["end"]
    return count / (end - start)


def run_cpp(cpp_bin, endpoint, queue, count):
    out = subprocess.run([cpp_bin, endpoint, queue, str(count)], stdout=subprocess.PIPE, text=True, check=True,
                         timeout=600).stdout
    return json.loads(out)["msgs_per_s"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--proxy-bin", default=os.environ.get("COURIER_PROXY", "build/proxy/courier-proxy"))
    ap.add_argument("--cpp-bin", default="build/bench/producer_consumer")
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--role", choices=("produce", "consume"), help=argparse.SUPPRESS)
    ap.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    ap.add_argument("--endpoint", help=argparse.SUPPRESS)
    ap.add_argument("--queue", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.role == "produce":
        return produce(a.mode, a.endpoint, a.queue, a.count)
    if a.role == "consume":
        return consume(a.mode, a.endpoint, a.queue, a.count)

    with tempfile.TemporaryDirectory(prefix="courier-bench-") as data:
        endpoint = "tcp://127.0.0.1:%d" % free_port()
        proxy = subprocess.Popen([a.proxy_bin, "--listen", endpoint, "--data", data], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            rates = {m: [] for m in MODES}
            for r in range(a.repeat):
                for m in MODES:  # interleaved: a drift of the machine's speed hits every mode alike
                    queue = "bench.%s.%d" % (m, r)
                    rate = run_cpp(a.cpp_bin, endpoint, queue, a.count) if m == "cpp" else \
                        run_python(m, endpoint, queue, a.count)
                    rates[m].append(rate)
                print(f"run {r + 1}/{a.repeat}: " + ", ".join(f"{m} {rates[m][-1]:,.0f}/s" for m in MODES),
                      file=sys.stderr)
        finally:
            os.kill(proxy.pid, signal.SIGTERM)
            proxy.wait(10)
    base = statistics.median(rates["cpp"])
    print(f"{a.count} dict messages through courier-proxy, {a.repeat} runs, medians (min..max):")
    for m in MODES:
        med = statistics.median(rates[m])
        print(f"  {m:13s} {med:10,.0f} msgs/s  ({min(rates[m]):,.0f}..{max(rates[m]):,.0f})  {med / base:5.2f}x C++")
    return None


if __name__ == "__main__":
    sys.exit(main())
