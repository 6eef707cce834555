"""examples/python, run as a user runs them: each against a real
courier-proxy (started on a free port, stopped by PID), their output read."""

import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[3] / "examples" / "python"


def code_lines(name):
    return [ln for ln in (EXAMPLES / name).read_text().splitlines() if ln.strip()]


def example_env(proxy):
    return dict(os.environ, COURIER_PROXY_ENDPOINT=proxy.endpoint, PYTHONUNBUFFERED="1")


def run_example(proxy, name, *args, timeout=60):
    return subprocess.run([sys.executable, str(EXAMPLES / name), *map(str, args)], env=example_env(proxy),
                          capture_output=True, text=True, timeout=timeout, cwd="/")


def wait_for_line(proc, text, timeout=20):
    """Reads proc's stdout until a line contains `text`; returns the lines read."""
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError("no line with %r; got %r" % (text, lines))


def test_hello_world_is_no_longer_than_the_pika_original():
    assert len(code_lines("send.py")) <= 11
    assert len(code_lines("receive.py")) <= 23


def test_hello_world_send_then_receive_with_a_callback_and_auto_ack(proxy):
    sent = run_example(proxy, "send.py")
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout == " [x] Sent 'Hello World!'\n"

    receiver = subprocess.Popen([sys.executable, str(EXAMPLES / "receive.py")], env=example_env(proxy),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")
    try:
        wait_for_line(receiver, "Waiting for messages")
        wait_for_line(receiver, " [x] Received Hello World!")
        assert run_example(proxy, "send.py").returncode == 0  # a second one while it runs
        wait_for_line(receiver, " [x] Received Hello World!")
        receiver.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = receiver.communicate(timeout=10)
    finally:
        if receiver.poll() is None:
            receiver.kill()
    assert receiver.returncode == 0, err
    assert "Interrupted" in out and "Traceback" not in err

    import courier
    with courier.Admin(proxy.endpoint) as admin:
        stats = admin.stats("hello")
        assert (stats.put, stats.depth, stats.inflight) == (2, 0, 0)  # auto-ack: nothing waits for an ack


def test_cpp_to_python_prints_what_the_cpp_cli_published(proxy, cli_bin):
    published = subprocess.run([cli_bin, "publish", "orders", '{"id": 1, "item": "book", "qty": 2}',
                                '{"id": 2, "item": "lamp", "qty": 1}', "--proxy", proxy.endpoint],
                               capture_output=True, text=True, timeout=30)
    assert published.returncode == 0, published.stderr
    got = run_example(proxy, "cpp_to_python.py", "--count", 2)
    assert got.returncode == 0, got.stderr
    assert got.stdout.splitlines() == [" [x] order 1: 2 x book", " [x] order 2: 1 x lamp"]


def test_python_to_cpp_is_read_by_the_cpp_cli(proxy, cli_bin):
    import json

    sent = run_example(proxy, "python_to_cpp.py", "--count", 3)
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout == " [x] published 3 orders to orders\n"
    read = subprocess.run([cli_bin, "consume", "orders", "--count", "3", "--timeout", "10", "--proxy",
                           proxy.endpoint], capture_output=True, text=True, timeout=30)
    assert read.returncode == 0, read.stderr
    assert [json.loads(line) for line in read.stdout.splitlines()] == [
        {"id": 1, "item": "lamp", "qty": 2}, {"id": 2, "item": "chair", "qty": 3}, {"id": 3, "item": "pen", "qty": 4}]


def test_worker_pool_gets_every_result_right(proxy):
    done = run_example(proxy, "worker_pool.py", 3, 300, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    line = done.stdout.rstrip("\n")
    assert line.startswith(" [x] 300 tasks done by ") and line.endswith("wrong results: 0"), line
    import courier
    with courier.Admin(proxy.endpoint) as admin:
        for queue in ("pool.tasks", "pool.results"):
            stats = admin.stats(queue)
            assert (stats.depth, stats.inflight) == (0, 0), (queue, stats)
