"""Dedup by producer id within the window, persisted (§3.3.5)."""
import time

from cqp import pack


def test_same_id_is_confirmed_dup_with_original_seq(client, qname):
    q = qname()
    first = client.put(q, pack("v1"), id="dup-1")
    client.put(q, pack("between"))
    again = client.put(q, pack("v2-ignored"), id="dup-1")
    assert first.get("dup", False) is False
    assert again["dup"] is True and again["seq"] == first["seq"], again
    assert client.qstats(q)["depth"] == 2
    client.consume(q, 10)
    ds = client.collect(2)
    assert [d["body"] for d in ds] == [pack("v1"), pack("between")]
    client.expect_nothing()


def test_bin_ids_deduplicate_too(client, qname):
    q = qname()
    a = client.put(q, b"1", id=b"\x01\x02")
    b = client.put(q, b"2", id=b"\x01\x02")
    assert b["dup"] is True and b["seq"] == a["seq"]


def test_dedup_is_per_queue(client, qname):
    q1, q2 = qname(), qname()
    client.put(q1, b"a", id="shared-id")
    other = client.put(q2, b"b", id="shared-id")
    assert other.get("dup", False) is False
    assert client.qstats(q2)["depth"] == 1


def test_dup_after_consumed_and_acked(client, qname):
    q = qname()
    first = client.put(q, pack("once"), id="acked-id")
    client.consume(q, 1)
    d = client.collect(1)[0]
    client.ack([d["d"]])
    client.sync()
    again = client.put(q, pack("once"), id="acked-id")
    assert again["dup"] is True and again["seq"] == first["seq"]
    client.expect_nothing(what="an acked, deduplicated message is not delivered again")
    assert client.qstats(q)["depth"] == 0


def test_batch_dedup_against_earlier_single_puts(client, qname):
    q = qname()
    s1 = client.put(q, b"x", id="b-1")["seq"]
    c = client.put_batch(q, [b"y", b"z", b"w"], ids=["b-2", "b-1", None])
    assert c["dup"] == [False, True, False]
    assert c["seq"][1] == s1
    assert client.qstats(q)["depth"] == 3
    # and a whole batch resent: all dup, same seqs
    c2 = client.put_batch(q, [b"y", b"z"], ids=["b-2", "b-1"])
    assert c2["dup"] == [True, True] and c2["seq"] == [c["seq"][0], s1]
    assert client.qstats(q)["depth"] == 3


def auto_id(prefix, n):
    """The library's automatic id (src/auto_id.hpp): digit count as a letter."""
    digits = str(n)
    return prefix + chr(ord("a") + len(digits) - 1) + digits


def test_resent_automatic_ids_overlapping_stored_runs_keep_their_seqs(proxies, connect, qname):
    """The proxy keeps automatic ids as runs; a resend that overlaps them
    partly, split differently, across a restart, still answers per id."""
    p = proxies.start()
    c = connect(p)
    q = qname()
    first = c.put_batch(q, [b"m%d" % n for n in range(95, 105)], ids=[auto_id("px-", n) for n in range(95, 105)])
    single = c.put(q, b"m105", id=auto_id("px-", 105))
    seq_of = dict(zip(range(95, 105), first["seq"]))
    seq_of[105] = single["seq"]
    p.restart()
    c = connect(p)
    resend = c.put_batch(q, [b"r%d" % n for n in range(90, 110)], ids=[auto_id("px-", n) for n in range(90, 110)])
    for n, dup, seq in zip(range(90, 110), resend["dup"], resend["seq"]):
        if n in seq_of:
            assert dup is True and seq == seq_of[n], (n, dup, seq)
        else:
            assert dup is False, n
            seq_of[n] = seq
    # Ids that only look automatic are ids of their own.
    other = c.put_batch(q, [b"a", b"b"], ids=["px-c095", "px-95"])
    assert other["dup"] == [False, False]
    assert c.qstats(q)["depth"] == 20 + 2
    c.consume(q, 100)
    bodies = [d["body"] for d in c.collect(22)]
    assert sorted(bodies[:11]) == sorted([b"m%d" % n for n in range(95, 106)])
    c.expect_nothing()


def test_dedup_survives_clean_restart(proxies, connect, qname):
    p = proxies.start()
    q = qname()
    c = connect(p)
    first = c.put(q, pack("m"), id="restart-id")
    c.put_batch(q, [b"1", b"2"], ids=["rb-1", "rb-2"])
    c.close()
    p.restart()
    c = connect(p)
    again = c.put(q, pack("m"), id="restart-id")
    assert again["dup"] is True and again["seq"] == first["seq"], again
    c2 = c.put_batch(q, [b"1", b"2"], ids=["rb-1", "rb-2"])
    assert c2["dup"] == [True, True]
    assert c.qstats(q)["depth"] == 3


def test_dedup_window_expires(proxies, connect, qname):
    # --dedup-window: "how long a producer id is remembered".  Reading: well
    # after the window (300 ms here) the id is forgotten and a PUT with it is
    # stored as new.  Pruning may be lazy, so poll for up to 5 s; every
    # answer before that must be a proper dup with the original seq.
    p = proxies.start(extra=["--dedup-window", "300"])
    q = qname()
    c = connect(p)
    first = c.put(q, b"a", id="short-lived")
    time.sleep(0.35)
    deadline = time.monotonic() + 5
    while True:
        h = c.put(q, b"a", id="short-lived")
        if not h.get("dup", False):
            assert h["seq"] > first["seq"]
            break
        assert h["seq"] == first["seq"]
        assert time.monotonic() < deadline, "id still remembered 5 s after a 300 ms window"
        c.expect_nothing(0.2)
    assert c.qstats(q)["depth"] == 2
