"""CONSUME / CONSUMING / DELIVER / ACK, single and batch DELIVER (§3.1, §3.4)."""
from cqp import pack, unpack, now_ms, split_deliver, MAGIC


def test_consume_then_deliver_single_form(client, qname):
    q = qname()
    client.send("CONSUME", {"q": q, "credit": 5})
    frames = client.recv_raw()
    assert frames[:2] == [MAGIC, b"CONSUMING"] and len(frames) == 3
    assert unpack(frames[2])["q"] == q
    t0 = now_ms()
    conf = client.put(q, pack("Hello World!"), id="m-1")
    t1 = now_ms()
    m = client.expect("DELIVER")
    h = m.header
    assert "n" not in h, "single form never has n"
    assert m.bodies == [pack("Hello World!")]
    assert h["q"] == q
    assert h["seq"] == conf["seq"]
    assert h["id"] == "m-1"
    assert h["attempt"] == 1
    assert isinstance(h["d"], int)
    # ts is the enqueue time, Unix epoch ms (allow 1 s of clock slack)
    assert t0 - 1000 <= h["ts"] <= t1 + 1000, (t0, h["ts"], t1)


def test_messages_put_before_consume_are_delivered_in_seq_order(client, qname):
    q = qname()
    seqs = [client.put(q, pack(i))["seq"] for i in range(20)]
    client.consume(q, 100)
    ds = client.collect(20)
    assert [d["seq"] for d in ds] == seqs
    assert [d["body"] for d in ds] == [pack(i) for i in range(20)]
    assert all(d["attempt"] == 1 for d in ds)
    # no producer id given: none delivered (absent or nil)
    assert all(d["id"] is None for d in ds)
    client.expect_nothing()


def test_delivery_ids_are_unique(client, qname):
    q1, q2 = qname(), qname()
    for i in range(10):
        client.put(q1, pack(i))
        client.put(q2, pack(i))
    client.consume(q1, 100)
    client.consume(q2, 100)
    ds = client.collect(20)
    assert len({d["d"] for d in ds}) == 20
    assert sorted(d["q"] for d in ds) == sorted([q1] * 10 + [q2] * 10)


def test_ack_removes_message(client, connect, proxy, qname):
    q = qname()
    client.put(q, pack("a"))
    client.put(q, pack("b"))
    client.consume(q, 10)
    ds = client.collect(2)
    client.ack([d["d"] for d in ds])
    client.expect_nothing(0.2, "no answer to a good ACK")
    st = client.qstats(q)
    assert (st["depth"], st["inflight"], st["acked"]) == (0, 0, 2), st
    # acked messages are not redelivered on cancel
    client.cancel(q)
    other = connect(proxy)
    other.consume(q, 10)
    other.expect_nothing()


def test_unacked_stay_in_flight(client, qname):
    q = qname()
    for i in range(3):
        client.put(q, pack(i))
    client.consume(q, 10)
    client.collect(3)
    st = client.qstats(q)
    assert (st["depth"], st["inflight"], st["consumers"]) == (0, 3, 1), st


def test_ack_unknown_id_is_404_listing_it(client, qname):
    q = qname()
    client.put(q, pack("a"))
    client.consume(q, 10)
    d = client.collect(1)[0]["d"]
    bogus = d + 1_000_000
    client.ack([d, bogus])
    h = client.expect_error(404)
    # "answer one ERROR 404 listing the ones they do not [know]": reading: the
    # unknown id appears in the reason text
    assert str(bogus) in h["reason"], h
    client.expect_nothing(0.2, "exactly one ERROR")
    # the known id was acked
    st = client.qstats(q)
    assert (st["inflight"], st["acked"]) == (0, 1), st


def test_double_ack_is_404(client, qname):
    q = qname()
    client.put(q, pack("a"))
    client.consume(q, 1)
    d = client.collect(1)[0]["d"]
    client.ack([d])
    client.sync()
    client.ack([d])
    client.expect_error(404)


def test_auto_ack(client, connect, proxy, qname):
    q = qname()
    for i in range(3):
        client.put(q, pack(i))
    client.consume(q, 10, auto_ack=True)
    ds = client.collect(3)
    assert [d["body"] for d in ds] == [pack(i) for i in range(3)]
    st = client.qstats(q)
    assert (st["depth"], st["inflight"]) == (0, 0), st
    # at-most-once: gone from the queue, not redelivered after cancel
    client.cancel(q)
    other = connect(proxy)
    other.consume(q, 10)
    other.expect_nothing()


def test_auto_ack_credit_is_refilled_by_credit(client, qname):
    # §3.3.7: "each ACK or NACK gives one credit back (for auto_ack consumers,
    # CREDIT does)" — an auto_ack consumer with credit 2 gets 2, then waits.
    q = qname()
    for i in range(6):
        client.put(q, pack(i))
    client.consume(q, 2, auto_ack=True)
    assert len(client.collect(2)) == 2
    client.expect_nothing()
    client.credit(q, 3)
    ds = client.collect(3)
    assert [d["body"] for d in ds] == [pack(2), pack(3), pack(4)]
    client.expect_nothing()
    client.credit(q, 5)
    assert client.collect(1)[0]["body"] == pack(5)


def test_two_consumers_share_queue(proxy, connect, qname):
    q = qname()
    a, b = connect(proxy), connect(proxy)
    a.consume(q, 1)
    b.consume(q, 1)
    a.put(q, pack(1))
    a.put(q, pack(2))
    da, db = a.collect(1), b.collect(1)
    assert {da[0]["body"], db[0]["body"]} == {pack(1), pack(2)}
    assert a.qstats(q)["consumers"] == 2


def test_batch_deliver_form(client, qname):
    q = qname()
    bodies = [pack(i) for i in range(10)]
    conf = client.put_batch(q, bodies, ids=["id%d" % i for i in range(10)])
    client.consume(q, 10, batch=10)
    got, sizes = [], []
    while len(got) < 10:
        m = client.expect("DELIVER")
        h = m.header
        if "n" in h:
            assert len(m.bodies) == h["n"] <= 10
            assert all(len(h[k]) == h["n"] for k in ("d", "seq", "attempt", "ts", "id"))
        ds = split_deliver(m)
        sizes.append(len(ds))
        got.extend(ds)
    assert len(got) == 10
    assert [d["seq"] for d in got] == conf["seq"]
    assert [d["body"] for d in got] == bodies
    assert [d["id"] for d in got] == ["id%d" % i for i in range(10)]
    assert all(d["attempt"] == 1 for d in got)
    # §3.4: the proxy SHOULD batch when more than one message is ready, and
    # issue 5 requires the batch form: ten ready messages before CONSUME must
    # not all come one by one.
    assert max(sizes) > 1, "no batch DELIVER used: %r" % sizes
    # a batch is acked with one ACK
    client.ack([d["d"] for d in got])
    client.sync()
    st = client.qstats(q)
    assert (st["inflight"], st["acked"], st["depth"]) == (0, 10, 0), st


def test_batch_deliver_never_exceeds_batch_or_credit(client, qname):
    q = qname()
    client.put_batch(q, [pack(i) for i in range(20)])
    client.consume(q, 3, batch=10)
    ds = client.collect(3, batch_limit=3)
    assert len(ds) == 3
    client.expect_nothing(what="no more than credit=3 deliveries")
    client.ack([ds[0]["d"]])
    more = client.collect(1)
    assert len(more) == 1
    client.expect_nothing()


def test_batch_deliver_respects_batch_size(client, qname):
    q = qname()
    client.put_batch(q, [pack(i) for i in range(12)])
    client.consume(q, 100, batch=4)
    ds = client.collect(12, batch_limit=4)
    assert [d["body"] for d in ds] == [pack(i) for i in range(12)]


def test_batch_0_and_1_mean_single_form(client, qname):
    for k in (0, 1):
        q = qname()
        client.put_batch(q, [pack(i) for i in range(5)])
        client.consume(q, 10, batch=k)
        for _ in range(5):
            m = client.expect("DELIVER")
            assert "n" not in m.header and len(m.bodies) == 1, m.header


def test_batch_above_4096_is_taken_as_4096(client, qname):
    q = qname()
    client.put(q, pack("x"))
    client.consume(q, 10, batch=100000)     # accepted, not an error
    assert client.collect(1)[0]["body"] == pack("x")


def test_consume_credit_zero_or_missing_is_400(client, qname):
    q = qname()
    client.send("CONSUME", {"q": q, "credit": 0})
    client.expect_error(400)
    client.send("CONSUME", {"q": q})
    client.expect_error(400)
    client.put(q, pack(1))
    client.expect_nothing(what="no DELIVER after refused CONSUMEs")
