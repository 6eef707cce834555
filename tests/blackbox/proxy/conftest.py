"""Fixtures for the courier-proxy black-box acceptance suite.

The proxy binary comes from $COURIER_PROXY (ctest sets it); without it the
whole suite is skipped.  Each proxy is started on a free 127.0.0.1 port with
a fresh --data directory, is ready once it answers PING, and is stopped by
PID at teardown (SIGTERM, SIGKILL after 5 s) with a check that it is gone.
"""
import os
import re
import sys

import pytest
import zmq

sys.path.insert(0, os.path.dirname(__file__))
import cqp  # noqa: E402
from cqp import ProxyPool  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from time_limit import time_limit_hook  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TEST_TIME_LIMIT = 90   # seconds; no test may hang


def _binary():
    return os.environ.get("COURIER_PROXY", "").strip()


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "policies: DECLARE/PURGE/TOUCH/delay/ttl/max_length/dead_letter/max_attempts/"
        "ack_timeout/503 (may land after the durable core)")


def pytest_collection_modifyitems(config, items):
    if _binary():
        return
    if os.environ.get("COURIER_REQUIRE_BINARIES") == "1":
        # Under ctest a missing program is a failure, never a suite that
        # passes with everything skipped.
        raise pytest.UsageError("COURIER_PROXY is empty: the program was not built, so this black-box "
                                "suite cannot run; build it (scripts/build.sh) and run ctest again")
    skip = pytest.mark.skip(reason="COURIER_PROXY is not set (path of the courier-proxy "
                                   "binary); proxy black-box suite skipped")
    for item in items:
        if str(item.fspath).startswith(HERE):
            item.add_marker(skip)


pytest_runtest_call = time_limit_hook(TEST_TIME_LIMIT)


@pytest.fixture(scope="session")
def proxy_bin():
    path = _binary()
    if not path:
        pytest.skip("COURIER_PROXY is not set")
    assert os.path.isfile(path) and os.access(path, os.X_OK), \
        "COURIER_PROXY=%r is not an executable file" % path
    return path


@pytest.fixture(scope="session")
def zctx():
    ctx = zmq.Context.instance()
    yield ctx


@pytest.fixture
def proxies(proxy_bin, tmp_path_factory, request):
    """Factory for proxies owned by one test: proxies.start(heartbeat=..., extra=[...])."""
    pool = ProxyPool(proxy_bin, tmp_path_factory, request.node.name)
    yield pool
    pool.shutdown()


@pytest.fixture(scope="module")
def proxy(proxy_bin, tmp_path_factory, request):
    """One proxy with default options shared by a module (tests use unique queues)."""
    pool = ProxyPool(proxy_bin, tmp_path_factory, request.module.__name__)
    p = pool.start()
    yield p
    pool.shutdown()


@pytest.fixture
def connect(zctx, request):
    """connect(proxy, hello=True, **kw) -> cqp.Client; all closed at teardown."""
    made = []

    def _connect(proxy, hello=True, **kw):
        if not isinstance(proxy, str) and proxy.proc is not None and not proxy.alive():
            pytest.fail("courier-proxy (pid %d) is not running any more: exit status %s\n%s"
                        % (proxy.pid, proxy.proc.returncode, proxy.log_tail()))
        ep = proxy if isinstance(proxy, str) else proxy.endpoint
        c = cqp.Client(zctx, ep, **kw)
        made.append(c)
        if hello:
            c.hello(name="bb-" + request.node.name[:40])
        return c

    yield _connect
    for c in made:
        c.close()


@pytest.fixture
def client(proxy, connect):
    """A client of the module's proxy that has said HELLO."""
    return connect(proxy)


_qcount = [0]


@pytest.fixture
def qname(request):
    """qname() -> a queue name unique to this test (valid per §3: [A-Za-z0-9._:-])."""
    base = re.sub(r"[^A-Za-z0-9._:-]", "-", request.node.name)[:120]

    def _q(suffix=""):
        _qcount[0] += 1
        return "bb.%s.%d%s" % (base, _qcount[0], suffix)
    return _q
