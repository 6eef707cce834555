"""CANCEL and BYE requeue unacked deliveries at once (§3.1, §3.3.3)."""
import time

from cqp import pack, wait_until


def test_cancel_requeues_unacked_with_attempt_plus_one(proxy, connect, qname):
    q = qname()
    a = connect(proxy)
    seqs = [a.put(q, pack(i))["seq"] for i in range(3)]
    a.consume(q, 3)
    ds = a.collect(3)
    a.ack([ds[1]["d"]])
    h = a.cancel(q)
    assert h["q"] == q
    b = connect(proxy)
    b.consume(q, 10)
    back = b.collect(2)
    assert [d["seq"] for d in back] == [seqs[0], seqs[2]]
    assert [d["attempt"] for d in back] == [2, 2]
    assert [d["body"] for d in back] == [pack(0), pack(2)]
    b.expect_nothing()


def test_no_deliveries_after_cancel(proxy, connect, qname):
    q = qname()
    a = connect(proxy)
    a.consume(q, 10)
    a.cancel(q)
    a.put(q, pack("later"))
    a.expect_nothing(what="no DELIVER after CANCELLED")
    st = a.qstats(q)
    assert (st["consumers"], st["depth"]) == (0, 1), st


def test_cancel_then_consume_again(proxy, connect, qname):
    q = qname()
    a = connect(proxy)
    a.put(q, pack("m"))
    a.consume(q, 1)
    first = a.collect(1)[0]
    a.cancel(q)
    a.consume(q, 1)
    again = a.collect(1)[0]
    assert (again["seq"], again["attempt"]) == (first["seq"], 2)
    # the old delivery id died with the cancel
    a.ack([first["d"]])
    a.expect_error(404)
    a.ack([again["d"]])
    a.sync()
    assert a.qstats(q)["inflight"] == 0


def test_bye_requeues_now_and_is_not_answered(proxy, connect, qname):
    q = qname()
    a = connect(proxy)
    a.put(q, pack(1))
    a.put(q, pack(2))
    a.consume(q, 5)
    ds = a.collect(2)
    b = connect(proxy)
    b.consume(q, 5)
    b.expect_nothing(0.1)
    t0 = time.monotonic()
    a.bye()
    # "requeued now": well before the 3 s heartbeat loss of the default hb
    back = b.collect(2, timeout=1.5)
    assert time.monotonic() - t0 < 1.5
    assert [(d["seq"], d["attempt"]) for d in back] == [(x["seq"], 2) for x in ds]
    a.expect_nothing(0.2, "no answer to BYE")


def test_bye_cancels_consumers(proxy, connect, qname):
    q = qname()
    a = connect(proxy)
    a.consume(q, 5)
    assert a.qstats(q)["consumers"] == 1
    a.bye()
    b = connect(proxy)
    wait_until(lambda: b.qstats(q)["consumers"] == 0, what="consumers == 0 after BYE")
    b.put(q, pack("x"))
    a.expect_nothing(what="no DELIVER to a client that said BYE")


def test_bye_decrements_clients(proxies, connect):
    p = proxies.start()
    a = connect(p)
    b = connect(p)
    assert b.stats()["clients"] == 2
    a.bye()
    # a's BYE and b's STATS travel on different connections: poll
    wait_until(lambda: b.stats()["clients"] == 1, what="clients == 1 after BYE")


def test_closed_socket_consumer_work_goes_to_another_after_bye(proxy, connect, qname):
    # A consumer that crashes with unacked messages but whose library said
    # BYE on the way out (the common clean-crash path).
    q = qname()
    a = connect(proxy)
    a.put_batch(q, [pack(i) for i in range(5)])
    a.consume(q, 5, batch=5)
    a.collect(5)
    a.bye()
    a.close(linger=1000)              # let the BYE leave before the socket goes
    b = connect(proxy)
    b.consume(q, 10)
    back = b.collect(5)
    assert sorted(d["body"] for d in back) == sorted(pack(i) for i in range(5))
    assert all(d["attempt"] == 2 for d in back)
