"""Interpreter exit with live objects never hangs: every courier object still
open is closed by the atexit hook within its bounded linger/close_timeout,
also when the proxy is dead or was never reachable."""

import subprocess
import sys
import time

import pytest


LIVE_OBJECTS = """
import sys, courier
endpoint = sys.argv[1]
close_timeout = float(sys.argv[2])
producer = courier.Producer(endpoint, close_timeout=close_timeout)
pending = producer.publish_async("py.exit", "never confirmed")
consumer = courier.Consumer("py.exit", endpoint)
push = courier.Push()
push.connect(endpoint)
push.send("queued for a peer that never reads", timeout=0.1)
pull = courier.Pull()
pull.bind("tcp://127.0.0.1:*")
client = courier.Client()
client.connect(endpoint)
in_flight = client.request_async("no answer")
server = courier.Server()
server.bind("tcp://127.0.0.1:*")
lock = courier.Lock("py.exit.lock", endpoint)
admin = courier.Admin(endpoint)
cycle = [producer]
cycle.append(cycle)
print("alive", flush=True)
"""


def exit_seconds(endpoint, close_timeout, limit):
    t0 = time.monotonic()
    run = subprocess.run([sys.executable, "-c", LIVE_OBJECTS, endpoint, str(close_timeout)],
                         capture_output=True, text=True, timeout=limit, cwd="/")
    elapsed = time.monotonic() - t0
    assert run.returncode == 0 and run.stdout.strip() == "alive", run.stdout + run.stderr
    return elapsed, run.stderr


def test_exit_with_live_objects_and_no_proxy_is_bounded_by_close_timeout(dead_endpoint, capsys):
    endpoint = dead_endpoint
    elapsed, stderr = exit_seconds(endpoint, 0.5, limit=20)
    with capsys.disabled():
        print("\n  exit with live objects, no proxy, close_timeout 0.5 s: %.2f s" % elapsed, end="")
    assert elapsed < 6
    assert "Traceback" not in stderr


def test_exit_with_the_default_close_timeout_is_still_bounded(dead_endpoint, capsys):
    endpoint = dead_endpoint
    elapsed, _ = exit_seconds(endpoint, 5.0, limit=30)
    with capsys.disabled():
        print("\n  exit with live objects, no proxy, close_timeout 5 s: %.2f s" % elapsed, end="")
    assert elapsed < 12


def test_exit_after_the_proxy_died_under_live_objects(start_proxy, capsys):
    proxy = start_proxy(heartbeat_ms=200)
    code = LIVE_OBJECTS + """
import os, signal, time
producer.wait_connected(5)
consumer.wait_consuming(5)
os.kill(int(sys.argv[3]), signal.SIGKILL)
producer.publish_async("py.exit", "after the proxy died")
time.sleep(0.3)
"""
    t0 = time.monotonic()
    run = subprocess.run([sys.executable, "-c", code, proxy.endpoint, "0.5", str(proxy.proc.pid)],
                         capture_output=True, text=True, timeout=20, cwd="/")
    elapsed = time.monotonic() - t0
    proxy.proc.wait(5)
    with capsys.disabled():
        print("\n  exit with live objects after the proxy was killed: %.2f s" % elapsed, end="")
    assert run.returncode == 0, run.stdout + run.stderr
    assert elapsed < 8


def test_closing_a_producer_fails_what_it_could_not_deliver_with_closed_error(dead_endpoint):
    import courier
    producer = courier.Producer(dead_endpoint, close_timeout=0.2)
    future = producer.publish_async("py.exit", 1)
    t0 = time.monotonic()
    producer.close()
    assert time.monotonic() - t0 < 3
    assert isinstance(future.exception(timeout=5), courier.ClosedError)
    with pytest.raises(courier.ClosedError):
        producer.publish("py.exit", 2)
    producer.close()  # idempotent
