"""Fixtures for the `courier` CLI black-box suite (PROTOCOL.md §4.2).

The CLI comes from $COURIER_CLI, the proxy from $COURIER_PROXY (ctest sets
both); without COURIER_CLI the suite is skipped, without COURIER_PROXY the
proxy tests are.  Peers are plain pyzmq + msgpack sockets written from
PROTOCOL.md; every receive and every process is bounded by a timeout, and
ports are picked free at run time.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import msgpack
import pytest
import zmq

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from time_limit import time_limit_hook  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TEST_TIME_LIMIT = 60     # seconds; no test may hang the run
RUN_TIMEOUT = 20         # a CLI process that runs longer is a failure


def _cli():
    return os.environ.get("COURIER_CLI", "").strip()


def _proxy():
    return os.environ.get("COURIER_PROXY", "").strip()


def pytest_collection_modifyitems(config, items):
    if _cli():
        return
    if os.environ.get("COURIER_REQUIRE_BINARIES") == "1":
        # Under ctest a missing program is a failure, never a suite that
        # passes with everything skipped.
        raise pytest.UsageError("COURIER_CLI is empty: the program was not built, so this black-box "
                                "suite cannot run; build it (scripts/build.sh) and run ctest again")
    skip = pytest.mark.skip(reason="COURIER_CLI is not set (path of the courier CLI binary); "
                                   "CLI black-box suite skipped")
    for item in items:
        if str(item.fspath).startswith(HERE):
            item.add_marker(skip)


pytest_runtest_call = time_limit_hook(TEST_TIME_LIMIT)


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def unpack(data):
    return msgpack.unpackb(data, raw=False)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_endpoint():
    return "tcp://127.0.0.1:%d" % free_port()


class Cli:
    """Runs the courier binary: run() to completion, start() in the background."""

    def __init__(self, path):
        self.path = path
        self.procs = []

    def run(self, *args, input=None, timeout=RUN_TIMEOUT):
        return subprocess.run([self.path] + [str(a) for a in args], input=input,
                              capture_output=True, text=True, timeout=timeout)

    def start(self, *args, stdin=subprocess.DEVNULL):
        p = subprocess.Popen([self.path] + [str(a) for a in args], stdin=stdin,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    @staticmethod
    def finish(proc, timeout=RUN_TIMEOUT):
        """Waits for a background run; returns (rc, stdout, stderr)."""
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)


@pytest.fixture
def cli():
    path = _cli()
    if not path:
        pytest.skip("COURIER_CLI is not set")
    assert os.path.isfile(path) and os.access(path, os.X_OK), "COURIER_CLI=%r is not executable" % path
    c = Cli(path)
    yield c
    c.stop_all()


@pytest.fixture
def zctx():
    ctx = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


def socket_of(ctx, kind, timeout_ms=5000):
    s = ctx.socket(kind)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, timeout_ms)
    s.setsockopt(zmq.SNDTIMEO, timeout_ms)
    return s


def bound(ctx, kind, timeout_ms=5000):
    """A pyzmq socket bound to an ephemeral port; returns (socket, endpoint)."""
    s = socket_of(ctx, kind, timeout_ms)
    s.bind("tcp://127.0.0.1:*")
    return s, s.getsockopt_string(zmq.LAST_ENDPOINT)


# --------------------------------------------------------------------------
# courier-proxy


class Proxy:
    def __init__(self, binary, data_dir, log_path, heartbeat=None):
        self.binary, self.data_dir, self.log_path = binary, str(data_dir), str(log_path)
        self.heartbeat = heartbeat
        self.endpoint = None
        self.proc = None

    def start(self):
        for _ in range(3):   # a port lost to a race is replaced by another
            self.endpoint = free_endpoint()
            argv = [self.binary, "--listen", self.endpoint, "--data", self.data_dir]
            if self.heartbeat:
                argv += ["--heartbeat", str(self.heartbeat)]
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT, start_new_session=True)
            if self.wait_ready(10.0):
                return self
            self.stop()
        raise AssertionError("courier-proxy did not answer PING; log:\n" + self.log_tail())

    def wait_ready(self, timeout):
        """Polls with PING until PONG (PROTOCOL.md §4.1)."""
        ctx = zmq.Context.instance()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            s = socket_of(ctx, zmq.DEALER, 200)
            try:
                s.connect(self.endpoint)
                s.send_multipart([b"CQP1", b"PING", b"\x80"])
                if s.recv_multipart()[1] == b"PONG":
                    return True
            except zmq.Again:
                pass
            finally:
                s.close(0)
        return False

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def log_tail(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-3000:].decode(errors="replace")
        except OSError:
            return ""


@pytest.fixture(scope="module")
def proxy_bin():
    path = _proxy()
    if not path:
        pytest.skip("COURIER_PROXY is not set")
    return path


@pytest.fixture(scope="module")
def proxy(proxy_bin, tmp_path_factory):
    """One proxy per module (tests use their own queues), heartbeat 200 ms."""
    d = tmp_path_factory.mktemp("proxy")
    p = Proxy(proxy_bin, d / "data", d / "proxy.log", heartbeat=200).start()
    yield p
    p.stop()
    shutil.rmtree(str(d), ignore_errors=True)


_q = [0]


@pytest.fixture
def qname(request):
    def make(suffix=""):
        _q[0] += 1
        base = re.sub(r"[^A-Za-z0-9._:-]", "-", request.node.name)[:60]
        return "cli.%s.%d%s" % (base, _q[0], suffix)
    return make
