"""PUT -> CONFIRM, single and batch form (§3.1, §3.4)."""
import pytest

from cqp import pack, unpack, MAGIC


def test_single_put_confirm_shape(client, qname):
    q = qname()
    tag = 2 ** 40 + 7                       # uint, echoed exactly
    client.send("PUT", {"q": q, "tag": tag}, pack("hello"))
    frames = client.recv_raw()
    assert frames[:2] == [MAGIC, b"CONFIRM"]
    assert len(frames) == 3, "CONFIRM has no body frame"
    h = unpack(frames[2])
    assert h["tag"] == tag
    assert isinstance(h["seq"], int) and h["seq"] >= 0
    assert h.get("dup", False) is False     # dup? only true for a duplicate
    assert "n" not in h                     # single form


def test_seq_increases_within_queue(client, qname):
    q = qname()
    seqs = [client.put(q, pack(i))["seq"] for i in range(10)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 10, seqs


def test_pipelined_puts_all_confirmed(client, qname):
    q = qname()
    tags = [client.next_tag() for _ in range(200)]
    for t in tags:
        client.send("PUT", {"q": q, "tag": t, "id": "p-%d" % t}, pack(t))
    seen = {}
    for _ in tags:
        h = client.expect("CONFIRM").header
        assert h["tag"] not in seen, "tag confirmed twice: %r" % h
        seen[h["tag"]] = h["seq"]
    assert set(seen) == set(tags)
    # one queue: the confirmed positions follow the order the PUTs were sent
    assert [seen[t] for t in tags] == sorted(seen.values())
    assert client.qstats(q)["depth"] == 200


def test_put_with_id_str_and_bin(client, qname):
    q = qname()
    a = client.put(q, pack(1), id="str-id")
    b = client.put(q, pack(2), id=b"\x00\xffbin-id")
    c = client.put(q, pack(3), id="x" * 128)        # 128 bytes is the limit
    for h in (a, b, c):
        assert h.get("dup", False) is False
    assert len({a["seq"], b["seq"], c["seq"]}) == 3


def test_put_id_longer_than_128_bytes_is_400(client, qname):
    q = qname()
    tag = client.next_tag()
    client.send("PUT", {"q": q, "tag": tag, "id": "x" * 129}, pack(1))
    client.expect_error(400, tag=tag)


def test_batch_put_confirm(client, qname):
    q = qname()
    bodies = [pack({"i": i}) for i in range(5)]
    c = client.put_batch(q, bodies)
    assert c["dup"] == [False] * 5
    assert c["seq"] == sorted(c["seq"]) and len(set(c["seq"])) == 5
    assert client.qstats(q)["depth"] == 5
    # a later single PUT goes after the batch
    assert client.put(q, pack("after"))["seq"] > max(c["seq"])


def test_batch_of_one(client, qname):
    q = qname()
    c = client.put_batch(q, [pack("only")])
    assert c["n"] == 1 and len(c["seq"]) == 1 and c["dup"] == [False]


def test_batch_of_4096_accepted(client, qname):
    q = qname()
    c = client.put_batch(q, [b"%d" % i for i in range(4096)])
    assert len(set(c["seq"])) == 4096
    assert client.qstats(q)["depth"] == 4096


def test_batch_over_4096_is_400_and_stores_nothing(client, qname):
    q = qname()
    client.put(q, pack("existing"))
    tag = client.next_tag()
    client.send("PUT", {"q": q, "tag": tag, "n": 4097}, *([b"x"] * 4097))
    client.expect_error(400, tag=tag)
    assert client.qstats(q)["depth"] == 1


def test_batch_ids_with_nil_and_repeat_inside_batch(client, qname):
    q = qname()
    ids = ["a", None, "b", "a", None]
    c = client.put_batch(q, [pack(i) for i in range(5)], ids=ids)
    # a repeated id inside one batch is a duplicate of its first occurrence;
    # nil ids are never deduplicated
    assert c["dup"] == [False, False, False, True, False], c
    assert c["seq"][3] == c["seq"][0]
    assert len({c["seq"][i] for i in (0, 1, 2, 4)}) == 4
    assert client.qstats(q)["depth"] == 4
    client.consume(q, 10)
    ds = client.collect(4)
    assert [d["body"] for d in ds] == [pack(0), pack(1), pack(2), pack(4)]
    assert [d["id"] for d in ds] == ["a", None, "b", None]
    client.expect_nothing()


@pytest.mark.parametrize("n,k", [(3, 2), (2, 3), (0, 0), (0, 1)])
def test_batch_body_count_mismatch_is_400_and_atomic(client, qname, n, k):
    q = qname()
    client.put(q, pack("existing"))
    tag = client.next_tag()
    client.send("PUT", {"q": q, "tag": tag, "n": n}, *[pack(i) for i in range(k)])
    client.expect_error(400, tag=tag)
    client.expect_nothing(0.1)
    assert client.qstats(q)["depth"] == 1


def test_batch_ids_length_mismatch_is_400(client, qname):
    q = qname()
    client.put(q, pack("existing"))
    tag = client.next_tag()
    client.send("PUT", {"q": q, "tag": tag, "n": 3, "ids": ["a", "b"]}, b"1", b"2", b"3")
    client.expect_error(400, tag=tag)
    assert client.qstats(q)["depth"] == 1


def test_single_put_without_body_or_with_two_bodies_is_400(client, qname):
    q = qname()
    client.put(q, pack("existing"))
    t1 = client.next_tag()
    client.send("PUT", {"q": q, "tag": t1})
    client.expect_error(400, tag=t1)
    # single form (no n) with two body frames
    t2 = client.next_tag()
    client.send("PUT", {"q": q, "tag": t2}, b"a", b"b")
    client.expect_error(400, tag=t2)
    assert client.qstats(q)["depth"] == 1


def test_put_missing_q_or_tag_is_400(client, qname):
    q = qname()
    client.send("PUT", {"tag": 5}, b"x")
    client.expect_error(400, tag=5)
    client.send("PUT", {"q": q}, b"x")      # no tag: nothing to echo
    h = client.expect_error(400)
    assert h.get("tag") is None


def test_body_is_opaque_bytes(client, qname):
    # "The proxy never decodes it": invalid msgpack, NUL bytes and an empty
    # frame travel unchanged.
    q = qname()
    bodies = [b"\xc1\xc1 not msgpack", b"\x00" * 300, b"", bytes(range(256))]
    for b in bodies:
        client.put(q, b)
    client.consume(q, 10)
    got = client.collect(4)
    assert [d["body"] for d in got] == bodies
