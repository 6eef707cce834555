"""DECLARE `moved_to` (courier extension, docs/PROTOCOL.md §3.13).

A queue whose owner changed (`courier move`, docs/scaling.md) keeps its old
copy on the old proxy marked `moved_to: NAME`: every PUT there, single or
batch, is refused with ERROR 421 naming the new owner and nothing is stored,
while CONSUME, ACK/NACK, STATS, PURGE and DELETE keep working so the copy
can be drained.  The mark is a queue option: it survives a restart and
kill -9.  Written with a raw pyzmq + msgpack client, as a pyzmq user would.
"""
import signal

import pytest

from cqp import pack, unpack, split_deliver, declare, declare_error


def put_error(c, q, code, body=b"\x01", **extra):
    tag = c.next_tag()
    h = {"q": q, "tag": tag}
    h.update(extra)
    c.send("PUT", h, body)
    return c.expect_error(code, tag=tag)


def assert_moved_error(e, q, to):
    assert e["moved_to"] == to, e
    assert "'%s'" % q in e["reason"] and "'%s'" % to in e["reason"], e
    assert "refresh your shard map" in e["reason"], e


# -- refusing PUTs ---------------------------------------------------------------

def test_put_to_moved_queue_is_421_and_stores_nothing(client, qname):
    q = qname()
    client.put(q, pack("before"), id="m-1")
    assert declare(client, q, moved_to="proxy-b")["depth"] == 1
    e = put_error(client, q, 421, pack("late"), id="m-2")
    assert_moved_error(e, q, "proxy-b")
    st = client.qstats(q)
    assert st["depth"] == 1 and st["put"] == 1, st
    assert st["moved_to"] == "proxy-b", st


def test_batch_put_to_moved_queue_is_one_421(client, qname):
    q = qname()
    declare(client, q, moved_to="b.2_x-y")
    tag = client.next_tag()
    client.send("PUT", {"q": q, "tag": tag, "n": 3, "ids": ["a", None, "c"]}, pack(1), pack(2), pack(3))
    e = client.expect_error(421, tag=tag)
    assert_moved_error(e, q, "b.2_x-y")
    client.expect_nothing(0.2, "one ERROR for the whole batch")
    assert client.qstats(q)["depth"] == 0


def test_a_dup_resend_to_a_moved_queue_is_refused_too(client, qname):
    # The producer must follow the move with the same id: the new owner's
    # dedup decides. The old proxy answers 421, never a CONFIRM dup.
    q = qname()
    client.put(q, pack("x"), id="same")
    declare(client, q, moved_to="b")
    assert_moved_error(put_error(client, q, 421, pack("x"), id="same"), q, "b")


def test_moved_to_on_a_new_queue_creates_a_tombstone(client, qname):
    q = qname()
    assert declare(client, q, moved_to="b")["depth"] == 0
    assert client.qstats(q)["moved_to"] == "b"
    put_error(client, q, 421)


def test_clearing_moved_to_takes_puts_again(client, qname):
    q = qname()
    declare(client, q, moved_to="b")
    put_error(client, q, 421)
    declare(client, q, moved_to="")
    assert "moved_to" not in client.qstats(q)
    assert client.put(q, pack("back"))["seq"] >= 1


def test_other_options_keep_moved_to(client, qname):
    q = qname()
    declare(client, q, moved_to="b")
    declare(client, q, max_length=10)
    assert client.qstats(q)["moved_to"] == "b"
    declare(client, q, moved_to="c")
    assert client.qstats(q)["moved_to"] == "c"
    assert_moved_error(put_error(client, q, 421), q, "c")


def test_other_queues_are_untouched(client, qname):
    q, other = qname(), qname()
    declare(client, q, moved_to="b")
    assert client.put(other, pack(1))["seq"] >= 1
    assert "moved_to" not in client.qstats(other)


# -- the old copy drains ---------------------------------------------------------

def test_consume_ack_nack_purge_stats_delete_keep_working(client, qname):
    q = qname()
    for i in range(5):
        client.put(q, pack(i), id="k-%d" % i)
    declare(client, q, moved_to="b")
    client.consume(q, 10)
    ds = client.collect(5)
    assert sorted(d["id"] for d in ds) == ["k-%d" % i for i in range(5)]
    client.nack([ds[0]["d"]])                      # requeued: comes again
    client.ack([d["d"] for d in ds[1:]])
    again = client.collect(1)
    assert again[0]["id"] == ds[0]["id"] and again[0]["attempt"] == 2
    client.ack([again[0]["d"]])
    client.cancel(q)
    client.sync()
    st = client.qstats(q)
    assert (st["depth"], st["inflight"], st["acked"]) == (0, 0, 5), st
    client.send("PURGE", {"q": q})
    assert client.expect("PURGED").header["removed"] == 0
    client.send("DELETE", {"q": q})
    client.expect("DELETED")
    assert q not in client.stats()["queues"]
    assert client.put(q, pack("fresh"))["seq"] == 1      # DELETE forgot the mark


def test_purge_of_moved_queue_removes_ready(client, qname):
    q = qname()
    client.put_batch(q, [pack(i) for i in range(3)])
    declare(client, q, moved_to="b")
    client.send("PURGE", {"q": q})
    assert client.expect("PURGED").header["removed"] == 3


# -- bad values ------------------------------------------------------------------

@pytest.mark.parametrize("value", ["has space", "x" * 65, "a/b", "q:1", "é"],
                         ids=["space", "65-bytes", "slash", "colon", "non-ascii"])
def test_bad_proxy_name_is_400_naming_moved_to(client, qname, value):
    q = qname()
    e = declare_error(client, q, 400, moved_to=value)
    assert "moved_to" in e["reason"], e
    assert q not in client.stats()["queues"], "a refused DECLARE creates nothing"


@pytest.mark.parametrize("value", [1, True, None, ["b"]], ids=["int", "bool", "nil", "array"])
def test_moved_to_of_wrong_type_is_400(client, qname, value):
    e = declare_error(client, qname(), 400, moved_to=value)
    assert "moved_to" in e["reason"], e


def test_moved_to_as_bin_is_400(client, qname):
    declare_error(client, qname(), 400, moved_to=b"b")


def test_64_byte_name_is_accepted(client, qname):
    q = qname()
    name = "A-z.0_" + "n" * 58
    assert len(name) == 64
    declare(client, q, moved_to=name)
    assert_moved_error(put_error(client, q, 421), q, name)


def test_moved_to_on_token_queue_is_400(client, qname):
    q = qname()
    declare(client, q, tokens=1)
    e = declare_error(client, q, 400, moved_to="b")
    assert "moved_to" in e["reason"], e
    e = declare_error(client, qname(), 400, tokens=1, moved_to="b")
    assert "moved_to" in e["reason"], e


def test_bad_moved_to_with_other_options_changes_nothing(client, qname):
    q = qname()
    declare(client, q, max_length=5)
    declare_error(client, q, 400, max_length=7, moved_to="bad name")
    client.put(q, pack(1))                          # not moved
    st = client.qstats(q)
    assert "moved_to" not in st


# -- persistence -----------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["restart", "kill9"])
def test_moved_to_survives_restart(proxies, connect, qname, sig):
    p = proxies.start()
    c = connect(p)
    q, cleared = qname(), qname()
    c.put(q, pack("kept"), id="p-1")
    declare(c, q, moved_to="proxy-b", max_attempts=3)
    declare(c, cleared, moved_to="b")
    declare(c, cleared, moved_to="")
    c.close()
    p.restart(sig)
    c = connect(p)
    st = c.qstats(q)
    assert st["moved_to"] == "proxy-b" and st["depth"] == 1, st
    assert "moved_to" not in c.qstats(cleared)
    assert_moved_error(put_error(c, q, 421, pack("late"), id="p-2"), q, "proxy-b")
    c.put(cleared, pack("ok"))
    c.consume(q, 1)
    d = c.collect(1)[0]
    assert d["id"] == "p-1" and unpack(d["body"]) == "kept"
    c.ack([d["d"]])
    c.close()
    rc, out = p.stop()[0], None
    rc, out = p.check()
    assert rc == 0, out
