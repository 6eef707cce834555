"""Malformed input: ERROR 400 / 413, and everyone else keeps being served (§3)."""
import random

import pytest

from cqp import MAGIC, EMPTY_MAP, pack, ProxyPool, split_deliver

# (id, frames) -- each must be answered with exactly one ERROR 400
GARBAGE = [
    ("one-frame-magic", [MAGIC]),
    ("one-empty-frame", [b""]),
    ("two-frames", [MAGIC, b"PING"]),
    ("wrong-magic", [b"CQP2", b"PING", EMPTY_MAP]),
    ("magic-lowercase", [b"cqp1", b"PING", EMPTY_MAP]),
    ("magic-with-nul", [b"CQP1\x00", b"PING", EMPTY_MAP]),
    ("http-request", [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"]),
    # command names are case-sensitive ASCII as written in §3.1 (reading taken)
    ("cmd-lowercase", [MAGIC, b"ping", EMPTY_MAP]),
    ("cmd-unknown", [MAGIC, b"FROB", EMPTY_MAP]),
    ("cmd-empty", [MAGIC, b"", EMPTY_MAP]),
    ("cmd-binary", [MAGIC, b"\xff\xfe\x00", EMPTY_MAP]),
    ("cmd-server-side", [MAGIC, b"CONFIRM", pack({"tag": 1, "seq": 1})]),
    ("header-array", [MAGIC, b"PING", pack([1, 2])]),
    ("header-int", [MAGIC, b"PING", pack(7)]),
    ("header-nil", [MAGIC, b"PING", pack(None)]),
    ("header-str", [MAGIC, b"PING", pack("{}")]),
    ("header-empty-frame", [MAGIC, b"PING", b""]),
    ("header-invalid-msgpack", [MAGIC, b"PING", b"\xc1"]),
    ("header-truncated-map", [MAGIC, b"PING", b"\x82\xa1a\x01"]),
    # "map" means a msgpack map with string keys (Notation)
    ("header-int-keys", [MAGIC, b"PING", pack({1: 2})]),
    ("ping-with-body", [MAGIC, b"PING", EMPTY_MAP, b"body"]),
    ("hello-v-str", [MAGIC, b"HELLO", pack({"v": "1"})]),
    ("put-q-int", [MAGIC, b"PUT", pack({"q": 5, "tag": 1}), b"x"]),
    ("put-tag-str", [MAGIC, b"PUT", pack({"q": "bb.mal", "tag": "1"}), b"x"]),
    ("put-tag-negative", [MAGIC, b"PUT", pack({"q": "bb.mal", "tag": -1}), b"x"]),
    ("put-id-int", [MAGIC, b"PUT", pack({"q": "bb.mal", "tag": 1, "id": 12}), b"x"]),
    ("put-delay-str", [MAGIC, b"PUT", pack({"q": "bb.mal", "tag": 1, "delay": "soon"}), b"x"]),
    ("put-ttl-negative", [MAGIC, b"PUT", pack({"q": "bb.mal", "tag": 1, "ttl": -5}), b"x"]),
    ("put-n-str", [MAGIC, b"PUT", pack({"q": "bb.mal", "tag": 1, "n": "2"}), b"x", b"y"]),
    ("put-ids-not-list", [MAGIC, b"PUT", pack({"q": "bb.mal", "tag": 1, "n": 2, "ids": "ab"}), b"x", b"y"]),
    ("put-ids-bad-elem", [MAGIC, b"PUT", pack({"q": "bb.mal", "tag": 1, "n": 2, "ids": [1, 2]}), b"x", b"y"]),
    ("consume-credit-str", [MAGIC, b"CONSUME", pack({"q": "bb.mal", "credit": "10"})]),
    ("consume-credit-neg", [MAGIC, b"CONSUME", pack({"q": "bb.mal", "credit": -1})]),
    ("consume-credit-float", [MAGIC, b"CONSUME", pack({"q": "bb.mal", "credit": 1.5})]),
    ("consume-auto-ack-str", [MAGIC, b"CONSUME", pack({"q": "bb.mal", "credit": 1, "auto_ack": "yes"})]),
    ("consume-batch-str", [MAGIC, b"CONSUME", pack({"q": "bb.mal", "credit": 1, "batch": "4"})]),
    ("consume-no-q", [MAGIC, b"CONSUME", pack({"credit": 1})]),
    ("ack-d-int", [MAGIC, b"ACK", pack({"d": 5})]),
    ("ack-d-strs", [MAGIC, b"ACK", pack({"d": ["5"]})]),
    ("ack-no-d", [MAGIC, b"ACK", EMPTY_MAP]),
    ("ack-with-body", [MAGIC, b"ACK", pack({"d": []}), b"x"]),
    ("nack-requeue-str", [MAGIC, b"NACK", pack({"d": [], "requeue": "no"})]),
    ("credit-n-str", [MAGIC, b"CREDIT", pack({"q": "bb.mal", "n": "5"})]),
    ("cancel-q-list", [MAGIC, b"CANCEL", pack({"q": ["bb.mal"]})]),
    ("stats-q-int", [MAGIC, b"STATS", pack({"q": 3})]),
]

BAD_NAMES = [
    ("empty", ""),
    ("too-long", "a" * 201),
    ("space", "a b"),
    ("slash", "a/b"),
    ("star", "q*"),
    ("non-ascii", "caf\u00e9"),
    ("nul", "q\x00"),
    ("newline", "q\n"),
]


@pytest.mark.parametrize("frames", [g[1] for g in GARBAGE], ids=[g[0] for g in GARBAGE])
def test_garbage_answered_400_and_proxy_keeps_serving(proxy, connect, frames):
    bad = connect(proxy, hello=False)
    bad.send_frames(frames)
    bad.expect_error(400)
    bad.expect_nothing(0.1, "exactly one ERROR")
    good = connect(proxy)
    good.ping()
    assert proxy.alive()


@pytest.mark.parametrize("name", [n[1] for n in BAD_NAMES], ids=[n[0] for n in BAD_NAMES])
def test_invalid_queue_names_are_400(client, name):
    tag = client.next_tag()
    client.send("PUT", {"q": name, "tag": tag}, b"x")
    client.expect_error(400, tag=tag)
    tag = client.next_tag()
    client.send("PUT", {"q": name, "tag": tag, "n": 2}, b"x", b"y")
    client.expect_error(400, tag=tag)
    client.send("CONSUME", {"q": name, "credit": 1})
    client.expect_error(400)
    client.send("STATS", {"q": name})
    client.expect_error(400)
    client.send("CREDIT", {"q": name, "n": 1})
    client.expect_error(400)
    client.send("CANCEL", {"q": name})
    client.expect_error(400)
    # nothing was created under that name
    assert name not in client.stats()["queues"]


def test_queue_name_alphabet_and_200_bytes_are_valid(client):
    for name in ("AZaz09._:-", "b" * 200, "x", "a.b:c-d_e"):
        conf = client.put(name, b"v")
        assert isinstance(conf["seq"], int)
        client.consume(name, 1)
        d = client.collect(1)[0]
        assert d["q"] == name
        client.ack([d["d"]])


def test_random_bytes(proxy, connect):
    rnd = random.Random(1234)
    bad = connect(proxy, hello=False)
    good = connect(proxy)
    for _ in range(60):
        nframes = rnd.randint(1, 5)
        frames = [bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 64)))
                  for _ in range(nframes)]
        bad.send_frames(frames)
        bad.expect_error(400)
    good.ping()
    assert proxy.alive()


def test_random_headers_on_real_commands(proxy, connect):
    # valid magic and command, random bytes as header: still 400, never a crash
    rnd = random.Random(99)
    bad = connect(proxy, hello=False)
    for cmd in (b"PUT", b"CONSUME", b"ACK", b"NACK", b"CREDIT", b"CANCEL", b"STATS", b"HELLO"):
        for _ in range(5):
            hdr = bytes([rnd.choice([0xc1, 0xd9, 0xdc, 0x93, 0x01])]) + \
                bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 20)))
            bad.send_frames([MAGIC, cmd, hdr, b"body"] if cmd == b"PUT" else [MAGIC, cmd, hdr])
            m = bad.expect("ERROR")
            assert m.header["code"] == 400, (cmd, hdr, m.header)
    connect(proxy).ping()


def test_garbage_while_a_good_client_streams(proxy, connect, qname):
    q = qname()
    good = connect(proxy)
    bad = connect(proxy, hello=False)
    good.consume(q, 50)
    total = 600
    tags = {}
    garbage_sent = 0
    received = []
    for i in range(total):
        t = good.next_tag()
        tags[t] = i
        good.send("PUT", {"q": q, "tag": t, "id": "g-%d" % i}, pack(i))
        if i % 10 == 0:
            bad.send_frames(GARBAGE[(i // 10) % len(GARBAGE)][1])
            garbage_sent += 1
        # consume and ack what has arrived so far
        while True:
            frames = good._recv_frames(0.001)
            if frames is None:
                break
            m = good.parse(frames)
            if m.cmd == "DELIVER":
                ds = split_deliver(m)
                good.ack([d["d"] for d in ds])
                received.extend(ds)
            else:
                good.backlog.append(m)
    confirmed = 0
    for m in list(good.backlog):
        if m.cmd == "CONFIRM":
            confirmed += 1
            good.backlog.remove(m)
    while confirmed < total:
        good.expect("CONFIRM", timeout=10)
        confirmed += 1
    while len(received) < total:
        ds = good.collect(1, timeout=10)
        good.ack([d["d"] for d in ds])
        received.extend(ds)
    assert [d["body"] for d in received] == [pack(i) for i in range(total)]
    for _ in range(garbage_sent):
        bad.expect_error(400)
    bad.expect_nothing(0.1)
    st = good.qstats(q)
    assert (st["depth"], st["inflight"], st["acked"]) == (0, 0, total), st


# -- 413: bodies over --max-message ----------------------------------------

@pytest.fixture(scope="module")
def small_proxy(proxy_bin, tmp_path_factory):
    pool = ProxyPool(proxy_bin, tmp_path_factory, "maxmsg")
    p = pool.start(extra=["--max-message", "1K"])    # SIZE with K = 1024 bytes
    yield p
    pool.shutdown()


def test_413_boundary_single_put(small_proxy, connect, qname):
    c = connect(small_proxy)
    q = qname()
    ok = c.put(q, b"x" * 1024)                # exactly the limit is fine
    assert isinstance(ok["seq"], int)
    tag = c.next_tag()
    c.send("PUT", {"q": q, "tag": tag}, b"x" * 1025)
    c.expect_error(413, tag=tag)
    assert c.qstats(q)["depth"] == 1


def test_413_batch_with_one_oversized_body_stores_nothing(small_proxy, connect, qname):
    c = connect(small_proxy)
    q = qname()
    c.put(q, b"first")
    tag = c.next_tag()
    c.send("PUT", {"q": q, "tag": tag, "n": 3, "ids": ["a", "b", "c"]},
           b"ok", b"y" * 5000, b"ok")
    c.expect_error(413, tag=tag)
    assert c.qstats(q)["depth"] == 1
    # the ids of the refused batch were not stored
    conf = c.put_batch(q, [b"1", b"2", b"3"], ids=["a", "b", "c"])
    assert conf["dup"] == [False, False, False]


def test_huge_frame_over_default_16M_is_413(proxy, connect, qname):
    c = connect(proxy)
    q = qname()
    tag = c.next_tag()
    c.send("PUT", {"q": q, "tag": tag}, b"\0" * (16 * 1024 * 1024 + 1))
    c.expect_error(413, timeout=15, tag=tag)
    good = connect(proxy)
    good.ping()
    assert c.put(q, b"small")["seq"] >= 0
    assert c.qstats(q)["depth"] == 1
