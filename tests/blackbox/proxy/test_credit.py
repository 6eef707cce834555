"""Credit flow control (§3.3.7)."""
import time

from cqp import pack


def test_never_more_than_credit_unacked(client, qname):
    q = qname()
    client.put_batch(q, [pack(i) for i in range(10)])
    client.consume(q, 3)
    ds = client.collect(3)
    client.expect_nothing(what="no 4th delivery with credit 3")
    st = client.qstats(q)
    assert (st["inflight"], st["depth"]) == (3, 7), st
    client.ack([ds[0]["d"]])
    assert len(client.collect(1)) == 1
    client.expect_nothing(what="one ACK gives exactly one credit back")
    client.ack([ds[1]["d"], ds[2]["d"]])
    assert len(client.collect(2)) == 2
    client.expect_nothing()


def test_credit_command_adds_credit(client, qname):
    q = qname()
    client.put_batch(q, [pack(i) for i in range(10)])
    client.consume(q, 1)
    client.collect(1)
    client.expect_nothing()
    client.credit(q, 2)
    assert len(client.collect(2)) == 2
    client.expect_nothing(what="credit 1 + 2 = 3 in flight")
    assert client.qstats(q)["inflight"] == 3


def test_credit_is_per_queue(client, qname):
    q1, q2 = qname(), qname()
    for q in (q1, q2):
        client.put_batch(q, [pack(i) for i in range(5)])
    client.consume(q1, 2)
    client.consume(q2, 1)
    ds = client.collect(3)
    assert sorted(d["q"] for d in ds) == sorted([q1, q1, q2])
    client.expect_nothing()


def test_credit_bad_n_is_400(client, qname):
    q = qname()
    client.consume(q, 1)
    client.send("CREDIT", {"q": q, "n": "lots"})
    client.expect_error(400)
    client.send("CREDIT", {"q": q, "n": -1})
    client.expect_error(400)


def test_slow_consumer_with_full_pipe_loses_nothing(proxy, connect, qname):
    # §3.3.7: the proxy must not lose deliveries to a slow client's full
    # ZeroMQ pipe.  A consumer with a tiny receive HWM and a huge credit does
    # not read for a while; then every message must arrive, exactly once.
    q = qname()
    producer = connect(proxy)
    total, body = 3000, b"x" * 4096      # ~12 MB: more than the pipes and TCP buffers hold
    for start in range(0, total, 500):
        producer.put_batch(q, [b"%06d" % i + body for i in range(start, start + 500)])
    slow = connect(proxy, rcvhwm=5)
    slow.consume(q, total)                # credit for everything at once
    deadline = time.monotonic() + 1.0     # let the proxy hit the high-water mark
    while time.monotonic() < deadline:
        producer.ping()                   # keeps both sessions alive meanwhile
        time.sleep(0.1)
    ds = slow.collect(total, timeout=30)
    nums = [int(d["body"][:6]) for d in ds]
    assert len(nums) == total and sorted(set(nums)) == list(range(total)), \
        "lost or duplicated deliveries: got %d, distinct %d" % (len(nums), len(set(nums)))
    assert nums == sorted(nums)
    slow.expect_nothing()
