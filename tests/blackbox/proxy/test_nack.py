"""NACK: requeue keeps seq with attempt + 1; requeue:false drops (§3.1, §3.3.3-4)."""
from cqp import pack


def test_nack_requeue_redelivers_same_seq_attempt_plus_one(client, qname):
    q = qname()
    conf = client.put(q, pack("m"), id="nk-1")
    client.consume(q, 1)
    first = client.collect(1)[0]
    client.nack([first["d"]])              # requeue defaults to true
    again = client.collect(1)[0]
    assert again["seq"] == first["seq"] == conf["seq"]
    assert again["attempt"] == 2
    assert again["body"] == pack("m") and again["id"] == "nk-1"
    assert again["d"] != first["d"], "delivery id is unique per delivery"
    client.nack([again["d"]], requeue=True)
    third = client.collect(1)[0]
    assert (third["seq"], third["attempt"]) == (conf["seq"], 3)
    client.ack([third["d"]])
    client.sync()
    st = client.qstats(q)
    assert (st["depth"], st["inflight"], st["acked"]) == (0, 0, 1), st
    assert st["delivered"] == 3 and st["redelivered"] == 2, st


def test_requeued_message_goes_back_to_its_seq_position(client, qname):
    q = qname()
    for i in range(3):
        client.put(q, pack(i))
    client.consume(q, 1)
    m0 = client.collect(1)[0]
    client.ack([m0["d"]])
    m1 = client.collect(1)[0]
    assert m1["body"] == pack(1)
    client.nack([m1["d"]])
    # m1 is before m2 again
    r = client.collect(1)[0]
    assert (r["body"], r["attempt"]) == (pack(1), 2)
    client.ack([r["d"]])
    m2 = client.collect(1)[0]
    assert (m2["body"], m2["attempt"]) == (pack(2), 1)


def test_nack_several_requeued_in_seq_order(client, qname):
    q = qname()
    seqs = [client.put(q, pack(i))["seq"] for i in range(4)]
    client.consume(q, 4)
    ds = client.collect(4)
    # nack in reverse order: they still come back in seq order
    client.nack([ds[3]["d"], ds[1]["d"], ds[0]["d"]])
    back = client.collect(3)
    assert [d["seq"] for d in back] == [seqs[0], seqs[1], seqs[3]]
    assert all(d["attempt"] == 2 for d in back)


def test_nack_without_requeue_drops_when_no_dead_letter(client, connect, proxy, qname):
    q = qname()
    client.put(q, pack("bad"))
    client.put(q, pack("next"))
    client.consume(q, 1)
    d = client.collect(1)[0]
    assert d["body"] == pack("bad")
    client.nack([d["d"]], requeue=False)
    # the NACK gives the credit back: the next message comes, not "bad"
    n = client.collect(1)[0]
    assert (n["body"], n["attempt"]) == (pack("next"), 1)
    client.ack([n["d"]])
    client.expect_nothing()
    st = client.qstats(q)
    assert st["dropped"] == 1 and st["depth"] == 0 and st["inflight"] == 0, st
    assert st["dead_lettered"] == 0, st


def test_nack_unknown_id_is_404(client, qname):
    q = qname()
    client.put(q, pack("m"))
    client.consume(q, 1)
    d = client.collect(1)[0]["d"]
    client.nack([d + 1_000_000])
    h = client.expect_error(404)
    assert str(d + 1_000_000) in h["reason"], h
    # the real delivery is untouched
    assert client.qstats(q)["inflight"] == 1


def test_nack_mixed_known_and_unknown(client, qname):
    q = qname()
    client.put(q, pack("m"))
    client.consume(q, 1)
    d = client.collect(1)[0]["d"]
    client.nack([d, d + 1_000_000])
    client.expect_error(404)
    r = client.collect(1)[0]     # the known one was requeued and comes back
    assert r["attempt"] == 2
