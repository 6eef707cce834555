"""Queue policies: DECLARE, PURGE, TOUCH, delay, ttl, max_length, dead_letter,
max_attempts, ack_timeout, 503 (§3.1-3.3).  May land after the durable core:
select with -m policies / deselect with -m "not policies"."""
import time

import pytest

from cqp import pack, now_ms, declare

pytestmark = pytest.mark.policies


def wait_stats(c, q, pred, timeout=3.0, what="stats condition"):
    """Poll STATS q until pred(entry) (expiry/dead-lettering may be lazy)."""
    deadline = time.monotonic() + timeout
    while True:
        st = c.qstats(q)
        if pred(st):
            return st
        assert time.monotonic() < deadline, "%s not reached: %r" % (what, st)
        c.expect_nothing(0.05)


# -- DECLARE ---------------------------------------------------------------

def test_declare_creates_queue(client, qname):
    q = qname()
    h = declare(client, q)
    assert h == {"q": q, "depth": 0} or (h["q"] == q and h["depth"] == 0), h
    st = client.qstats(q)
    assert (st["depth"], st["consumers"]) == (0, 0)


def test_declare_existing_reports_depth(client, qname):
    q = qname()
    for i in range(3):
        client.put(q, pack(i))
    assert declare(client, q, max_length=100)["depth"] == 3


def test_declare_unknown_option_is_404_naming_it_and_creates_nothing(client, qname):
    q = qname()
    client.send("DECLARE", {"q": q, "max_lenght": 5})       # typo on purpose
    h = client.expect_error(404)
    assert "max_lenght" in h["reason"], h
    assert q not in client.stats()["queues"]


def test_declare_404_applies_no_option(client, qname):
    q = qname()
    client.put(q, b"1")
    client.send("DECLARE", {"q": q, "max_length": 1, "bogus": True})
    client.expect_error(404)
    # max_length 1 was not applied: a second PUT is accepted
    assert client.put(q, b"2")["seq"] >= 0


def test_declare_wrong_types_are_400_and_400_wins_over_404(client, qname):
    q = qname()
    for bad in ({"max_length": "5"}, {"max_attempts": -1}, {"ttl": "1s"},
                {"ack_timeout": [1]}, {"dead_letter": 7}, {"dead_letter": "bad name"},
                {"max_length": "x", "unknown_too": 1}):
        h = {"q": q}
        h.update(bad)
        client.send("DECLARE", h)
        client.expect_error(400)
    client.send("DECLARE", {"q": "no spaces allowed"})
    client.expect_error(400)
    assert q not in client.stats()["queues"]


# -- PURGE -----------------------------------------------------------------

def test_purge_removes_ready_only(client, qname):
    q = qname()
    for i in range(5):
        client.put(q, pack(i))
    client.put(q, pack("later"), delay=10000)
    client.consume(q, 2)
    ds = client.collect(2)
    client.send("PURGE", {"q": q})
    h = client.expect("PURGED").header
    assert (h["q"], h["removed"]) == (q, 3), h
    st = client.qstats(q)
    assert (st["depth"], st["inflight"], st["delayed"]) == (0, 2, 1), st
    client.ack([d["d"] for d in ds])
    client.expect_nothing(what="purged messages are not delivered")
    client.sync()
    assert client.qstats(q)["acked"] == 2


def test_purge_bad_name_is_400(client):
    client.send("PURGE", {"q": ""})
    client.expect_error(400)
    client.send("PURGE", {})
    client.expect_error(400)


# -- delay -----------------------------------------------------------------

def test_delay(client, qname):
    q = qname()
    t_put = now_ms()
    # 1.5 s: long enough that the STATS right after the PUT still sees it
    # delayed on a loaded machine (or under a sanitizer).
    client.put(q, pack("later"), delay=1500)
    st = client.qstats(q)
    assert (st["delayed"], st["depth"]) == (1, 0), st
    client.consume(q, 5)
    client.expect_nothing(0.25, "nothing before the delay")
    d = client.collect(1, timeout=5)[0]
    assert now_ms() - t_put >= 1490
    assert d["body"] == pack("later") and d["attempt"] == 1
    # reading: ts is the enqueue (PUT) time, not the time it became due
    assert t_put - 1000 <= d["ts"] <= t_put + 300, (t_put, d["ts"])


def test_delayed_message_lets_ready_ones_pass(client, qname):
    q = qname()
    s_late = client.put(q, pack("late"), delay=500)["seq"]
    s_now = client.put(q, pack("now"))["seq"]
    assert s_now > s_late
    client.consume(q, 5)
    first = client.collect(1)[0]
    assert first["body"] == pack("now")
    second = client.collect(1, timeout=3)[0]
    assert (second["body"], second["seq"]) == (pack("late"), s_late)


def test_batch_put_delay_applies_to_all(client, qname):
    q = qname()
    client.put_batch(q, [b"a", b"b", b"c"], delay=400)
    assert client.qstats(q)["delayed"] == 3
    client.consume(q, 5)
    client.expect_nothing(0.25)
    ds = client.collect(3, timeout=3)
    assert [d["body"] for d in ds] == [b"a", b"b", b"c"]


# -- ttl -------------------------------------------------------------------

def test_ttl_expired_is_dropped(client, qname):
    q = qname()
    client.put(q, pack("stale"), ttl=150)
    client.put(q, pack("fresh"), ttl=60000)
    time.sleep(0.3)
    client.consume(q, 5)
    d = client.collect(1)[0]
    assert d["body"] == pack("fresh")
    client.expect_nothing()
    st = wait_stats(client, q, lambda s: s["expired"] == 1, what="expired == 1")
    assert st["dropped"] == 1 and st["dead_lettered"] == 0, st


def test_declared_ttl_is_the_default(client, qname):
    q = qname()
    declare(client, q, ttl=150)
    client.put(q, pack("default-ttl"))
    client.put(q, pack("own-ttl"), ttl=60000)     # a message's own ttl wins
    time.sleep(0.3)
    client.consume(q, 5)
    assert client.collect(1)[0]["body"] == pack("own-ttl")
    client.expect_nothing()
    wait_stats(client, q, lambda s: s["expired"] == 1)


def test_ttl_to_dead_letter_keeps_body_and_id(client, qname):
    q, dlq = qname(), qname(".dlq")
    declare(client, q, dead_letter=dlq)
    client.put(q, pack("expiring"), id="ttl-dl-1", ttl=150)
    t_put = now_ms()
    time.sleep(0.3)
    client.consume(q, 5)
    client.consume(dlq, 5)
    d = client.collect(1, timeout=3)[0]
    assert d["q"] == dlq
    assert (d["body"], d["id"], d["attempt"]) == (pack("expiring"), "ttl-dl-1", 1)
    # a new seq in the dead-letter queue; ts is the time of the move
    assert isinstance(d["seq"], int)
    assert d["ts"] >= t_put + 100, (t_put, d["ts"])
    client.expect_nothing()
    st = wait_stats(client, q, lambda s: s["expired"] == 1 and s["dead_lettered"] == 1)
    assert st["dropped"] == 0, st


# -- max_length ------------------------------------------------------------

def test_max_length_429_and_inflight_does_not_count(client, qname):
    q = qname()
    declare(client, q, max_length=2)
    client.put(q, b"1")
    client.put(q, b"2")
    tag = client.next_tag()
    client.send("PUT", {"q": q, "tag": tag}, b"3")
    client.expect_error(429, tag=tag)
    assert client.qstats(q)["depth"] == 2
    client.consume(q, 1)
    d = client.collect(1)[0]
    # one in flight, one ready: room for one more
    client.put(q, b"3")
    tag = client.next_tag()
    client.send("PUT", {"q": q, "tag": tag}, b"4")
    client.expect_error(429, tag=tag)
    client.ack([d["d"]])
    nxt = client.collect(1)[0]
    assert nxt["body"] == b"2"
    client.ack([nxt["d"]])
    assert client.collect(1)[0]["body"] == b"3"


def test_max_length_batch_is_all_or_nothing(client, qname):
    q = qname()
    declare(client, q, max_length=3)
    client.put(q, b"1")
    tag = client.next_tag()
    client.send("PUT", {"q": q, "tag": tag, "n": 3, "ids": ["a", "b", "c"]}, b"a", b"b", b"c")
    client.expect_error(429, tag=tag)
    assert client.qstats(q)["depth"] == 1
    c = client.put_batch(q, [b"a", b"b"], ids=["a", "b"])
    assert c["dup"] == [False, False]      # the refused batch stored no ids


def test_max_length_counts_delayed(client, qname):
    q = qname()
    declare(client, q, max_length=1)
    client.put(q, b"later", delay=10000)
    tag = client.next_tag()
    client.send("PUT", {"q": q, "tag": tag}, b"now")
    client.expect_error(429, tag=tag)


# -- max_attempts / dead_letter --------------------------------------------

def test_max_attempts_without_dead_letter_drops(client, qname):
    q = qname()
    declare(client, q, max_attempts=2)
    client.put(q, pack("poison"))
    client.consume(q, 1)
    d1 = client.collect(1)[0]
    client.nack([d1["d"]])
    d2 = client.collect(1)[0]
    assert d2["attempt"] == 2
    client.nack([d2["d"]])               # attempt 3 would exceed max_attempts
    client.expect_nothing()
    st = wait_stats(client, q, lambda s: s["dropped"] == 1)
    assert (st["depth"], st["inflight"]) == (0, 0), st


def test_max_attempts_with_dead_letter(client, qname):
    q, dlq = qname(), qname(".dlq")
    declare(client, q, max_attempts=1, dead_letter=dlq)
    client.put(q, pack("poison"), id="p-1")
    client.consume(q, 1)
    d = client.collect(1)[0]
    client.nack([d["d"]])
    client.expect_nothing(0.2)
    client.consume(dlq, 1)
    x = client.collect(1)[0]
    assert (x["q"], x["body"], x["id"], x["attempt"]) == (dlq, pack("poison"), "p-1", 1)
    st = client.qstats(q)
    assert (st["dead_lettered"], st["dropped"], st["depth"]) == (1, 0, 0), st


def test_nack_without_requeue_goes_to_dead_letter(client, qname):
    q, dlq = qname(), qname(".dlq")
    declare(client, q, dead_letter=dlq)
    client.put(q, pack("reject"), id="rj")
    client.consume(q, 1)
    client.nack([client.collect(1)[0]["d"]], requeue=False)
    client.consume(dlq, 1)
    x = client.collect(1)[0]
    assert (x["q"], x["body"], x["id"], x["attempt"]) == (dlq, pack("reject"), "rj", 1)
    st = client.qstats(q)
    assert (st["dead_lettered"], st["dropped"]) == (1, 0), st


# -- ack_timeout / TOUCH ---------------------------------------------------

def test_ack_timeout_redelivers(proxy, connect, qname):
    q = qname()
    a, b = connect(proxy), connect(proxy)
    declare(a, q, ack_timeout=300)
    a.put(q, pack("slow"))
    a.consume(q, 1)
    first = a.collect(1)[0]
    t0 = time.monotonic()
    b.consume(q, 1)
    again = b.collect(1, timeout=4)[0]
    assert time.monotonic() - t0 >= 0.2
    assert (again["seq"], again["attempt"]) == (first["seq"], 2)


def test_touch_restarts_ack_timeout(proxy, connect, qname):
    q = qname()
    a, b = connect(proxy), connect(proxy)
    declare(a, q, ack_timeout=400)
    a.put(q, pack("long job"))
    a.consume(q, 1)
    d = a.collect(1)[0]
    b.consume(q, 1)
    end = time.monotonic() + 1.2          # 3 x ack_timeout, touching every 100 ms
    while time.monotonic() < end:
        a.send("TOUCH", {"d": [d["d"]]})
        b.expect_nothing(0.1, "no redelivery while TOUCHed")
    a.expect_nothing(0.05, "TOUCH has no answer")
    again = b.collect(1, timeout=3)[0]    # stopped touching: times out
    assert (again["seq"], again["attempt"]) == (d["seq"], 2)


def test_touch_unknown_is_404(client, qname):
    q = qname()
    client.put(q, b"x")
    client.consume(q, 1)
    d = client.collect(1)[0]["d"]
    client.send("TOUCH", {"d": [d, d + 999999]})
    h = client.expect_error(404)
    assert str(d + 999999) in h["reason"]
    client.send("TOUCH", {"d": "nope"})
    client.expect_error(400)


# -- 503: journal full -----------------------------------------------------

def test_journal_full_is_503_and_consumers_keep_working(proxies, connect, qname):
    p = proxies.start(extra=["--max-journal-size", "16M"])
    c = connect(p)
    q = qname()
    body = b"z" * (512 * 1024)
    stored = 0
    for _ in range(96):                      # 48 MiB >> 16 MiB
        tag = c.next_tag()
        c.send("PUT", {"q": q, "tag": tag}, body)
        m = c.recv()
        if m.cmd == "ERROR":
            assert (m.header["code"], m.header.get("tag")) == (503, tag), m.header
            break
        assert m.cmd == "CONFIRM" and m.header["tag"] == tag, m
        stored += 1
    else:
        pytest.fail("96 x 512 KiB accepted with --max-journal-size 16M")
    assert stored >= 8, "only %d x 512 KiB fit in a 16 MiB journal" % stored
    c.ping()                                  # still serving
    c.consume(q, 100)
    got = 0
    while got < stored:
        ds = c.collect(1)
        c.ack([x["d"] for x in ds])           # ACKs keep working when full
        got += len(ds)
    assert got == stored
    c.expect_nothing()
    c.sync()
    assert c.qstats(q)["depth"] == 0
    # reading: once drained, the journal takes writes again
    deadline = time.monotonic() + 5
    while True:
        tag = c.next_tag()
        c.send("PUT", {"q": q, "tag": tag}, b"small")
        m = c.recv()
        if m.cmd == "CONFIRM":
            break
        assert m.header["code"] == 503 and time.monotonic() < deadline, m.header
        c.expect_nothing(0.2)


def test_huge_delay_and_ttl_mean_never_not_at_once(client, qname):
    # now + delay/ttl must not wrap around: 2**64-1 ms is "never".
    q = qname()
    client.put(q, pack("later"), delay=2**64 - 1)
    client.put(q, pack("kept"), ttl=2**64 - 1)
    client.consume(q, credit=5)
    m = client.expect("DELIVER")
    assert m.bodies == [pack("kept")], m
    client.expect_nothing()
    st = client.qstats(q)
    assert (st["delayed"], st["expired"]) == (1, 0), st
