"""Restart detection (`boot` in WELCOME and PONG) and bounded consumption
(CONSUME `limit`), PROTOCOL §3.7.  Written from the contract only."""
import signal

import pytest

from cqp import pack


def boot_ok(b):
    assert isinstance(b, str), "boot is not a msgpack str: %r" % (b,)
    n = len(b.encode("utf-8"))
    assert 1 <= n <= 64, "boot is %d bytes, not 1..64: %r" % (n, b)
    return b


_ids = [0]


def put_n(c, q, n):
    out = []
    for _ in range(n):
        _ids[0] += 1
        out.append(c.put(q, pack(_ids[0]), id="m-%d" % _ids[0])["seq"])
    return out


def drain_all(c, quiet=0.4, ack=False):
    """Every delivery until none arrives for `quiet` s."""
    return c.drain(quiet=quiet, timeout=10, ack=ack)


# -- boot ------------------------------------------------------------------------

def test_welcome_carries_boot_a_str_of_1_to_64_bytes(proxy, connect):
    c = connect(proxy, hello=False)
    w = c.hello()
    assert (w.get("v"), isinstance(w.get("hb"), int), isinstance(w.get("proxy"), str)) \
        == (1, True, True), w
    boot_ok(w.get("boot"))


def test_pong_carries_the_same_boot_as_welcome_over_several_pings(proxy, connect):
    c = connect(proxy, hello=False)
    b = boot_ok(c.hello()["boot"])
    for _ in range(5):
        h = c.ping()
        assert h.get("boot") == b, (h, b)


def test_every_client_of_one_process_sees_the_same_boot(proxy, connect):
    cs = [connect(proxy, hello=False) for _ in range(3)]
    boots = [boot_ok(c.hello()["boot"]) for c in cs]
    boots += [c.ping().get("boot") for c in cs]
    anon = connect(proxy, hello=False)                  # PING without HELLO
    boots.append(anon.ping().get("boot"))
    assert len(set(boots)) == 1, boots


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill9"])
def test_boot_differs_after_a_restart(proxies, connect, how):
    p = proxies.start()
    c = connect(p, hello=False)
    b1 = boot_ok(c.hello()["boot"])
    c.go_silent()                                       # no keepalive PINGs of its own
    assert c.ping()["boot"] == b1                        # (and every earlier PONG read)
    p.restart(how)
    c2 = connect(p, hello=False)
    b2 = boot_ok(c2.hello()["boot"])
    assert b2 != b1, "boot %r unchanged across a %s restart" % (b1, how.name)
    assert c2.ping()["boot"] == b2
    # the old DEALER reconnects by itself: its PONG now carries the new boot
    h = c.ping()
    assert h["boot"] == b2, (h, b1, b2)
    p.restart(how)
    b3 = boot_ok(connect(p, hello=False).hello()["boot"])
    assert len({b1, b2, b3}) == 3, (b1, b2, b3)


def test_two_proxies_started_together_have_different_boots(proxies, connect):
    p1 = proxies.start()
    p2 = proxies.start()
    b1 = boot_ok(connect(p1, hello=False).hello()["boot"])
    b2 = boot_ok(connect(p2, hello=False).hello()["boot"])
    assert b1 != b2, b1


# -- CONSUME limit ---------------------------------------------------------------

def test_limit_3_with_credit_100_delivers_exactly_3_of_10(client, qname):
    q = qname()
    seqs = put_n(client, q, 10)
    client.consume(q, 100, limit=3)
    ds = client.collect(3)
    client.expect_nothing(0.5, "nothing past the limit")
    assert [d["seq"] for d in ds] == seqs[:3]
    client.sync()
    st = client.qstats(q)
    assert (st["depth"], st["inflight"], st["delivered"]) == (7, 3, 3), st


def test_acks_and_credit_do_not_raise_the_limit(client, qname):
    q = qname()
    put_n(client, q, 10)
    client.consume(q, 100, limit=3)
    ds = client.collect(3)
    client.ack([d["d"] for d in ds])
    client.credit(q, 100)
    client.expect_nothing(0.5, "ACK and CREDIT do not raise the limit")
    client.sync()
    st = client.qstats(q)
    assert (st["depth"], st["inflight"], st["acked"], st["delivered"]) == (7, 0, 3, 3), st


def test_limit_counts_over_time_with_credit_1(client, qname):
    q = qname()
    put_n(client, q, 6)
    client.consume(q, 1, limit=3)
    for _ in range(3):
        d = client.collect(1)[0]
        client.ack([d["d"]])
    client.expect_nothing(0.5, "3 deliveries in all")
    assert client.qstats(q)["depth"] == 3


def test_the_messages_past_the_limit_stay_in_the_queue_for_others(proxy, connect, qname):
    q = qname()
    a, b = connect(proxy), connect(proxy)
    seqs = put_n(a, q, 10)
    a.consume(q, 100, limit=3)
    got_a = a.collect(3)
    a.ack([d["d"] for d in got_a])
    a.sync()
    assert a.qstats(q)["depth"] == 7
    b.consume(q, 100)
    got_b = b.collect(7)
    b.expect_nothing()
    a.expect_nothing(0.05)
    assert [d["seq"] for d in got_b] == seqs[3:]
    assert all(d["attempt"] == 1 for d in got_b), got_b


def test_limit_applies_to_messages_put_after_the_consume(client, qname):
    q = qname()
    client.consume(q, 100, limit=2)
    put_n(client, q, 1)
    assert len(client.collect(1)) == 1
    put_n(client, q, 4)
    client.collect(1)
    client.expect_nothing(0.5, "2 deliveries in all")
    assert client.qstats(q)["depth"] == 3


@pytest.mark.parametrize("batch,limit", [(4, 5), (8, 3)], ids=["batch4-limit5", "batch8-limit3"])
def test_a_batch_deliver_of_k_counts_k(client, qname, batch, limit):
    q = qname()
    client.put_batch(q, [pack(i) for i in range(10)])
    client.consume(q, 100, batch=batch, limit=limit)
    ds = client.collect(limit, batch_limit=batch)
    assert len(ds) == limit, "a DELIVER passed the limit: %d deliveries, limit %d" % (
        len(ds), limit)
    client.expect_nothing(0.5, "nothing past the limit")
    client.ack([d["d"] for d in ds])
    client.credit(q, 100)
    client.expect_nothing(0.3, "nothing past the limit after ACK and CREDIT")
    client.sync()
    assert client.qstats(q)["depth"] == 10 - limit


def test_redeliveries_to_the_consumer_count_toward_its_limit(client, qname):
    q = qname()
    s = put_n(client, q, 1)[0]
    client.consume(q, 5, limit=2)
    d1 = client.collect(1)[0]
    client.nack([d1["d"]])                               # requeue: delivery 2 of 2
    d2 = client.collect(1)[0]
    assert (d2["seq"], d2["attempt"]) == (s, 2), d2
    client.nack([d2["d"]])                               # a 3rd would pass the limit
    client.expect_nothing(0.5, "the redelivery counted: limit 2 reached")
    client.sync()
    st = client.qstats(q)
    assert (st["depth"], st["inflight"], st["consumers"]) == (1, 0, 1), st


def test_a_redelivery_in_a_batch_counts_too(client, qname):
    q = qname()
    put_n(client, q, 4)
    client.consume(q, 2, limit=3)
    ds = client.collect(2)
    client.nack([ds[0]["d"]])                            # 3rd delivery: the requeued one
    d3 = client.collect(1)[0]
    assert (d3["seq"], d3["attempt"]) == (ds[0]["seq"], 2), d3
    client.ack([ds[1]["d"], d3["d"]])
    client.expect_nothing(0.5, "3 deliveries in all, one of them a redelivery")
    client.sync()
    assert client.qstats(q)["depth"] == 2


def test_a_repeated_consume_starts_a_new_count(client, qname):
    q = qname()
    seqs = put_n(client, q, 10)
    client.consume(q, 100, limit=3)
    first = client.collect(3)
    client.ack([d["d"] for d in first])
    client.expect_nothing(0.3)
    client.consume(q, 100, limit=2)
    second = client.collect(2)
    client.ack([d["d"] for d in second])
    client.expect_nothing(0.5, "the new count stops at 2")
    assert [d["seq"] for d in first + second] == seqs[:5]
    client.sync()
    st = client.qstats(q)
    assert (st["depth"], st["consumers"]) == (5, 1), st
    client.consume(q, 100)                               # no limit: the rest
    rest = client.collect(5)
    client.expect_nothing()
    assert [d["seq"] for d in rest] == seqs[5:]


def test_the_consumer_stays_registered_after_its_limit_until_cancel(client, qname):
    q = qname()
    put_n(client, q, 10)
    client.consume(q, 100, limit=3)
    client.collect(3)
    client.expect_nothing(0.3)
    st = client.qstats(q)
    assert (st["consumers"], st["inflight"], st["depth"]) == (1, 3, 7), st
    h = client.cancel(q)
    assert h["q"] == q
    st = client.qstats(q)
    assert (st["consumers"], st["inflight"], st["depth"]) == (0, 0, 10), st


def test_the_consumer_at_its_limit_is_gone_after_bye(proxy, connect, qname):
    q = qname()
    a, watcher = connect(proxy), connect(proxy)
    put_n(a, q, 4)
    a.consume(q, 10, limit=2)
    a.collect(2)
    a.sync()
    assert watcher.qstats(q)["consumers"] == 1
    a.bye()
    watcher.sync()
    st = watcher.qstats(q)
    assert (st["consumers"], st["inflight"], st["depth"]) == (0, 0, 4), st


def test_limit_with_auto_ack_is_not_raised_by_credit(client, qname):
    q = qname()
    put_n(client, q, 10)
    client.consume(q, 100, auto_ack=True, limit=3)
    ds = client.collect(3)
    client.credit(q, 100)
    client.expect_nothing(0.5, "CREDIT does not raise the limit")
    assert len(ds) == 3
    client.sync()
    st = client.qstats(q)
    assert (st["depth"], st["inflight"]) == (7, 0), st


def test_limit_0_is_400_and_registers_nothing(client, qname):
    q = qname()
    put_n(client, q, 2)
    client.send("CONSUME", {"q": q, "credit": 10, "limit": 0})
    client.expect_error(400)
    client.expect_nothing(0.3, "no CONSUMING and no DELIVER after the 400")
    st = client.qstats(q)
    assert (st["consumers"], st["depth"], st["delivered"]) == (0, 2, 0), st


def test_limit_of_a_wrong_type_is_400(client, qname):
    q = qname()
    put_n(client, q, 1)
    for bad in (-1, "3", 1.5, True, [3]):
        client.send("CONSUME", {"q": q, "credit": 10, "limit": bad})
        client.expect_error(400)
    client.expect_nothing(0.2)
    st = client.qstats(q)
    assert (st["consumers"], st["depth"]) == (0, 1), st


def test_limit_1_takes_exactly_one_message(client, qname):
    q = qname()
    seqs = put_n(client, q, 3)
    client.consume(q, 3, limit=1)
    d = client.collect(1)[0]
    assert d["seq"] == seqs[0]
    client.ack([d["d"]])
    client.expect_nothing(0.4)
    assert client.qstats(q)["depth"] == 2


@pytest.mark.parametrize("limit", [2**32 + 1, 2**64 - 1], ids=["2^32+1", "2^64-1"])
def test_a_huge_limit_is_not_truncated(client, qname, limit):
    q = qname()
    put_n(client, q, 5)
    client.consume(q, 10, limit=limit)
    ds = client.collect(5)
    client.expect_nothing()
    assert len(ds) == 5


def test_a_consumer_at_its_limit_leaves_nacked_messages_to_others(proxy, connect, qname):
    q = qname()
    a, b = connect(proxy), connect(proxy)
    s = put_n(a, q, 1)[0]
    a.consume(q, 5, limit=1)
    d = a.collect(1)[0]
    b.consume(q, 5)
    a.nack([d["d"]])
    got = b.collect(1)[0]
    assert (got["seq"], got["attempt"]) == (s, 2), got
    a.expect_nothing(0.2, "limit 1 reached")
