import pathlib

import pytest

SOURCE_TREE = pathlib.Path(__file__).resolve().parents[1] / "courier"

# The suite tests the installed package (what `pip install .` built), never
# the source directory, which has no compiled module: `python -m pytest` run
# from bindings/python would put it first on sys.path.
try:
    import courier
    import courier._native  # noqa: F401
except ImportError as e:
    pytest.exit(f"cannot import the installed courier ({e}): `pip install .` first, and run "
                "pytest from outside bindings/python (bindings/python/run_tests.sh does both)", returncode=4)
if pathlib.Path(courier.__file__).resolve().parent == SOURCE_TREE:
    pytest.exit(f"courier imported from the source tree {SOURCE_TREE}, not the installed package", returncode=4)


def pytest_report_header(config):
    return f"courier from {pathlib.Path(courier.__file__).parent}"


# ---------------------------------------------------------------- courier-proxy
#
# The proxy tests start the real courier-proxy: from $COURIER_PROXY (ctest
# passes the built one), else from the build tree. Without a binary they are
# skipped, unless COURIER_REQUIRE_BINARIES is set (ctest): then they fail.

import os
import signal
import socket
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[3]


def proxy_binary():
    env = os.environ.get("COURIER_PROXY", "").strip()
    if env:
        return env
    for build in (os.environ.get("COURIER_BUILD_DIR", ""), str(REPO / "build")):
        if build:
            candidate = pathlib.Path(build) / "proxy" / "courier-proxy"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proxy:
    """One courier-proxy process on a free port with its own journal dir."""

    def __init__(self, binary, data_dir, log_path, heartbeat_ms=None):
        self.binary, self.data_dir, self.log_path = binary, str(data_dir), str(log_path)
        self.heartbeat_ms = heartbeat_ms
        self.endpoint = "tcp://127.0.0.1:%d" % free_port()
        self.proc = None

    def start(self):
        argv = [self.binary, "--listen", self.endpoint, "--data", self.data_dir]
        if self.heartbeat_ms is not None:
            argv += ["--heartbeat", str(self.heartbeat_ms)]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.wait_ready()
        return self

    def wait_ready(self, timeout=10.0):
        # PROTOCOL.md §4.1: poll with PING until PONG, with a raw pyzmq DEALER.
        import zmq
        s = zmq.Context.instance().socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.endpoint)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, "courier-proxy exited early:\n" + self.log_tail()
                s.send_multipart([b"CQP1", b"PING", b"\x80"])
                if s.poll(100):
                    if s.recv_multipart()[:2] == [b"CQP1", b"PONG"]:
                        return
            raise AssertionError("courier-proxy did not answer PING\n" + self.log_tail())
        finally:
            s.close(0)

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
            return pathlib.Path(self.log_path).read_text(errors="replace")[-3000:]
        except OSError:
            return "(no log)"


@pytest.fixture(scope="session")
def proxy_bin():
    path = proxy_binary()
    if path is None:
        if os.environ.get("COURIER_REQUIRE_BINARIES"):
            pytest.fail("courier-proxy not found (set COURIER_PROXY or build it) and COURIER_REQUIRE_BINARIES is set")
        pytest.skip("courier-proxy not found: set COURIER_PROXY to its path (or build it into build/) "
                    "to run the proxy tests")
    assert os.access(path, os.X_OK), "COURIER_PROXY=%r is not executable" % path
    return path


@pytest.fixture
def start_proxy(proxy_bin, tmp_path):
    """start_proxy(heartbeat_ms=None) -> Proxy; every proxy is stopped by PID at teardown."""
    started = []

    def start(heartbeat_ms=None):
        n = len(started)
        p = Proxy(proxy_bin, tmp_path / ("data%d" % n), tmp_path / ("proxy%d.log" % n), heartbeat_ms).start()
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


@pytest.fixture
def proxy(start_proxy):
    return start_proxy()


_queues = [0]


@pytest.fixture
def qname(request):
    """A queue name unique to the test."""
    import re
    _queues[0] += 1
    return "py.%s.%d" % (re.sub(r"[^A-Za-z0-9._:-]", "-", request.node.name)[:60], _queues[0])


def run_child(code, timeout=30, env=None):
    """Runs `code` in a fresh interpreter using the installed courier."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env=full_env, cwd="/")


@pytest.fixture
def dead_endpoint():
    """A tcp endpoint nothing listens on."""
    return "tcp://127.0.0.1:%d" % free_port()
