"""Heartbeat loss: a client silent for 3 x hb is gone (§3.3.3, §3.3.8).

The proxy runs with --heartbeat 200, so silence is noticed after 600 ms.
"""
import time

import pytest

from cqp import pack, ProxyPool

HB = 200


@pytest.fixture(scope="module")
def hb_proxy(proxy_bin, tmp_path_factory):
    pool = ProxyPool(proxy_bin, tmp_path_factory, "heartbeat")
    p = pool.start(heartbeat=HB)
    yield p
    pool.shutdown()


def test_welcome_reports_configured_hb(hb_proxy, connect):
    c = connect(hb_proxy, hello=False)
    assert c.hello()["hb"] == HB


def test_silent_consumer_loses_its_deliveries(hb_proxy, connect, qname):
    q = qname()
    dead = connect(hb_proxy)
    seqs = [dead.put(q, pack(i))["seq"] for i in range(3)]
    dead.consume(q, 3)
    dead.collect(3)
    dead.go_silent()                  # no more PINGs, socket left open
    t0 = time.monotonic()
    alive = connect(hb_proxy)         # keeps pinging every hb/3 while waiting
    alive.consume(q, 10)
    back = alive.collect(3, timeout=5)
    took = time.monotonic() - t0
    assert [(d["seq"], d["attempt"]) for d in back] == [(s, 2) for s in seqs]
    assert took >= 0.5 * 3 * HB / 1000.0, "requeued before the client was silent for long"
    assert took < 5


def test_pinging_client_keeps_its_deliveries(hb_proxy, connect, qname):
    q = qname()
    busy = connect(hb_proxy)          # keepalive on: PING every ~67 ms
    busy.put(q, pack("work"))
    busy.consume(q, 1)
    d = busy.collect(1)[0]
    other = connect(hb_proxy)
    other.consume(q, 1)
    # 10 x hb of a busy-but-pinging consumer: nothing is taken from it
    other.expect_nothing(10 * HB / 1000.0, "no redelivery while the consumer pings")
    assert busy.qstats(q)["inflight"] == 1
    busy.ack([d["d"]])
    busy.sync()
    assert busy.qstats(q)["acked"] == 1


def test_crashed_consumer_without_bye(hb_proxy, connect, qname):
    # The consumer process dies: socket closed, no BYE.
    q = qname()
    c = connect(hb_proxy)
    c.put_batch(q, [pack(i) for i in range(4)])
    c.consume(q, 4)
    c.collect(4)
    c.close()
    other = connect(hb_proxy)
    other.consume(q, 10)
    back = other.collect(4, timeout=5)
    assert sorted(d["body"] for d in back) == [pack(i) for i in range(4)]
    assert all(d["attempt"] == 2 for d in back)


def test_silent_client_leaves_clients_count(proxies, connect):
    p = proxies.start(heartbeat=HB)
    watcher = connect(p)
    quiet = connect(p)
    assert watcher.stats()["clients"] == 2
    quiet.go_silent()
    deadline = time.monotonic() + 5
    while True:
        n = watcher.stats()["clients"]
        if n == 1:
            break
        assert time.monotonic() < deadline, "silent client still counted after 5 s: %d" % n
        watcher.expect_nothing(0.1)
