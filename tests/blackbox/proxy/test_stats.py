"""STATS fields and counters (§3.1, §3.2)."""
import time

from cqp import pack, STATS_FIELDS, MAGIC, unpack, wait_until


def _is_uint(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def test_stats_shape_all_queues(client, qname):
    q1, q2 = qname(), qname()
    client.put(q1, pack(1))
    client.consume(q2, 1)           # CONSUME alone makes a queue exist
    client.send("STATS")
    frames = client.recv_raw()
    assert frames[:2] == [MAGIC, b"STATS"] and len(frames) == 3
    s = unpack(frames[2])
    assert _is_uint(s["uptime_ms"]) and _is_uint(s["clients"]), s
    assert isinstance(s["queues"], dict)
    assert q1 in s["queues"] and q2 in s["queues"], list(s["queues"])[:20]
    for name, st in s["queues"].items():
        for f in STATS_FIELDS:
            assert _is_uint(st.get(f)), "queue %s field %s: %r" % (name, f, st)


def test_stats_filter_by_queue(client, qname):
    q, other = qname(), qname()
    client.put(q, pack(1))
    client.put(other, pack(1))
    s = client.stats(q)
    assert list(s["queues"]) == [q], s
    assert set(STATS_FIELDS) <= set(s["queues"][q])
    assert _is_uint(s["uptime_ms"]) and _is_uint(s["clients"])


def test_counters_follow_the_message_life(client, qname):
    q = qname()
    for i in range(4):
        client.put(q, pack(i))
    st = client.qstats(q)
    assert {k: st[k] for k in STATS_FIELDS} == dict(
        depth=4, inflight=0, consumers=0, delayed=0, put=4, delivered=0, acked=0,
        redelivered=0, dead_lettered=0, dropped=0, expired=0), st
    client.consume(q, 2)
    ds = client.collect(2)
    client.expect_nothing(0.1)
    st = client.qstats(q)
    assert (st["depth"], st["inflight"], st["consumers"], st["delivered"]) == (2, 2, 1, 2), st
    client.ack([ds[0]["d"]])
    client.nack([ds[1]["d"]])            # requeued, then redelivered (credit frees)
    ds2 = client.collect(2)
    assert sorted(d["attempt"] for d in ds2) == [1, 2]
    st = client.qstats(q)
    assert st["acked"] == 1 and st["delivered"] == 4 and st["redelivered"] == 1, st
    assert (st["depth"], st["inflight"]) == (1, 2), st
    client.nack([ds2[0]["d"], ds2[1]["d"]], requeue=False)
    client.collect(1)
    st = client.qstats(q)
    assert st["dropped"] == 2 and st["put"] == 4 and st["expired"] == 0, st
    client.cancel(q)
    st = client.qstats(q)
    assert (st["consumers"], st["inflight"], st["depth"]) == (0, 0, 1), st


def test_uptime_grows(client):
    a = client.stats()["uptime_ms"]
    time.sleep(0.05)
    b = client.stats()["uptime_ms"]
    assert b >= a + 40, (a, b)


def test_clients_counts_hello_sessions(proxies, connect):
    p = proxies.start()
    a = connect(p)
    assert a.stats()["clients"] == 1
    b = connect(p)
    connect(p, hello=False).ping()       # never said HELLO: not a session
    assert a.stats()["clients"] == 2
    b.bye()
    wait_until(lambda: a.stats()["clients"] == 1, what="clients == 1 after BYE")
