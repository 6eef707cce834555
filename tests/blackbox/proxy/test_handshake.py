"""§3 framing, HELLO/WELCOME and PING/PONG."""
from cqp import MAGIC, EMPTY_MAP, pack, unpack


def test_ping_answers_pong_without_hello(proxy, connect):
    # §4.1: readiness is polled with PING, so PING needs no HELLO first.
    c = connect(proxy, hello=False)
    c.send_frames([MAGIC, b"PING", EMPTY_MAP])
    frames = c.recv_raw()
    assert len(frames) == 3, frames            # PONG has no body frame
    assert frames[0] == b"CQP1" and frames[1] == b"PONG"
    assert isinstance(unpack(frames[2]), dict)


def test_hello_welcome(proxy, connect):
    c = connect(proxy, hello=False)
    c.send("HELLO", {"v": 1, "name": "handshake-test"})
    frames = c.recv_raw()
    assert frames[:2] == [b"CQP1", b"WELCOME"]
    assert len(frames) == 3, "WELCOME has no body frame: %r" % frames
    h = unpack(frames[2])
    assert h["v"] == 1
    assert h["hb"] == 1000, "default --heartbeat is 1000 ms: %r" % h
    assert isinstance(h["proxy"], str) and h["proxy"], h


def test_hello_without_name(proxy, connect):
    c = connect(proxy, hello=False)
    c.send("HELLO", {"v": 1})
    h = c.expect("WELCOME").header
    assert h["v"] == 1 and isinstance(h["hb"], int)


def test_unknown_header_keys_are_ignored(proxy, connect, qname):
    # "Unknown map keys MUST be ignored" — in HELLO, PING, PUT, CONSUME.
    c = connect(proxy, hello=False)
    c.send("HELLO", {"v": 1, "future_key": [1, 2, {"x": None}]})
    assert c.expect("WELCOME").header["v"] == 1
    c.send("PING", {"whatever": "ignored"})
    c.expect("PONG")
    q = qname()
    conf = c.put(q, pack("x"), shiny_new_option=True)
    assert isinstance(conf["seq"], int)
    c.consume(q, 1, also_unknown=7)
    d = c.collect(1)[0]
    assert d["body"] == pack("x")


def test_ping_many_in_flight(proxy, connect):
    c = connect(proxy)
    for _ in range(50):
        c.send("PING")
    for _ in range(50):
        c.expect("PONG", timeout=5)
    c.expect_nothing()


def test_clients_are_answered_independently(proxy, connect):
    a, b = connect(proxy), connect(proxy)
    a.send("PING")
    b.send("PING")
    b.expect("PONG")
    a.expect("PONG")
    a.expect_nothing(0.1)
    b.expect_nothing(0.1)


def test_ping_after_hello_and_twice_hello(proxy, connect):
    # A second HELLO on the same session is answered again (a reconnecting
    # library may repeat it); reading: it is not an error.
    c = connect(proxy)
    c.ping()
    c.send("HELLO", {"v": 1})
    assert c.expect("WELCOME").header["v"] == 1
    c.ping()
