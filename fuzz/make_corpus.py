#!/usr/bin/python3
"""Writes the fuzzers' seed corpus: fuzz/corpus/<harness>/<name>.

Seeds are valid inputs of each decoder, made from PROTOCOL.md's own words:
every CQP1 command's header (§3.1, §3.2, §3.4, §3.6, §3.7), the §2 headers,
representative values for the codec, JSON and msgpack samples for the CLI.
libFuzzer mutates from them, so it starts past "is this msgpack at all".

Run from anywhere with Debian's python3 (python3-msgpack); it rewrites the
corpus directories it owns and nothing else:
    /usr/bin/python3 fuzz/make_corpus.py
"""
import json
import os
import random
import shutil
import struct

import msgpack

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def write(harness, name, data):
    d = os.path.join(ROOT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def reset(harness):
    shutil.rmtree(os.path.join(ROOT, harness), ignore_errors=True)


# --- CQP1 (PROTOCOL.md §3) ---------------------------------------------------

CLIENT_COMMANDS = {
    "HELLO": [{"v": 1, "name": "worker-1"}, {"v": 1}],
    "PUT": [
        {"q": "orders", "tag": 1},
        {"q": "orders", "tag": 2, "id": "order-42", "delay": 5000, "ttl": 60000},
        {"q": "orders", "tag": 3, "id": b"\x00\x01bin-id"},
        {"q": "orders", "tag": 4, "n": 3, "ids": ["a", None, b"c"]},  # batch, §3.4
    ],
    "CONSUME": [
        {"q": "orders", "credit": 10},
        {"q": "orders", "credit": 100, "auto_ack": True, "batch": 64, "limit": 1},
    ],
    "ACK": [{"d": [1, 2, 3]}],
    "NACK": [{"d": [7]}, {"d": [8, 9], "requeue": False}],
    "TOUCH": [{"d": [4]}],
    "CREDIT": [{"q": "orders", "n": 5}],
    "CANCEL": [{"q": "orders"}],
    "DECLARE": [
        {"q": "orders", "max_length": 1000, "dead_letter": "orders.dead", "max_attempts": 5,
         "ttl": 86400000, "ack_timeout": 30000},
        {"q": "lock:db", "tokens": 1},  # §3.6
    ],
    "STATS": [{}, {"q": "orders"}],
    "PURGE": [{"q": "orders"}],
    "DELETE": [{"q": "orders"}],
    "PING": [{}],
    "BYE": [{}],
}

PROXY_REPLIES = {
    "WELCOME": [({"v": 1, "hb": 1000, "proxy": "courier-proxy 0.1.0", "boot": "0123456789abcdef"}, 0)],
    "CONFIRM": [
        ({"tag": 1, "seq": 17}, 0),
        ({"tag": 2, "seq": 17, "dup": True}, 0),
        ({"tag": 3, "n": 3, "seq": [5, 6, 5], "dup": [False, False, True]}, 0),
    ],
    "DELIVER": [
        ({"q": "orders", "d": 11, "seq": 17, "attempt": 1, "ts": 1700000000000, "id": "order-42"}, 1),
        ({"q": "orders", "n": 2, "d": [12, 13], "seq": [18, 19], "attempt": [1, 2],
          "ts": [1700000000000, 1700000000001], "id": [None, b"bin"]}, 2),
    ],
    "CONSUMING": [({"q": "orders"}, 0)],
    "CANCELLED": [({"q": "orders"}, 0)],
    "DECLARED": [({"q": "orders", "depth": 3}, 0)],
    "PURGED": [({"q": "orders", "removed": 3}, 0)],
    "DELETED": [({"q": "orders"}, 0)],
    "PONG": [({"boot": "0123456789abcdef"}, 0)],
    "ERROR": [
        ({"code": 400, "reason": "PUT: missing 'q' (the queue name)", "tag": 9}, 0),
        ({"code": 404, "reason": "ACK: unknown delivery id(s) 5", "d": [5]}, 0),
        ({"code": 503, "reason": "journal full"}, 0),
    ],
    "STATS": [({
        "queues": {
            "orders": {"depth": 3, "inflight": 1, "consumers": 1, "delayed": 0, "put": 10,
                       "delivered": 7, "acked": 6, "redelivered": 1, "dead_lettered": 0,
                       "dropped": 0, "expired": 0},
            "lock:db": {"tokens": 1, "depth": 0, "inflight": 1, "consumers": 2, "delayed": 0,
                        "put": 0, "delivered": 1, "acked": 0, "redelivered": 0,
                        "dead_lettered": 0, "dropped": 0, "expired": 0},
        },
        "uptime_ms": 123456, "clients": 2}, 0)],
}


def cqp1_corpora():
    reset("cqp1_header_fuzz")
    reset("cqp1_replies_fuzz")
    # cqp1_header_fuzz: [name length][name][header]
    for name, headers in list(CLIENT_COMMANDS.items()) + [
            (n, [h for h, _ in r]) for n, r in PROXY_REPLIES.items()]:
        for i, h in enumerate(headers):
            raw = name.encode()
            write("cqp1_header_fuzz", f"{name.lower()}-{i}", bytes([len(raw)]) + raw + pack(h))
    # cqp1_replies_fuzz: [body frame count][reply header]
    for name, replies in PROXY_REPLIES.items():
        for i, (h, bodies) in enumerate(replies):
            write("cqp1_replies_fuzz", f"{name.lower()}-{i}", bytes([bodies]) + pack(h))


# --- §2 request/reply headers ------------------------------------------------

def request_header_corpus():
    reset("request_header_fuzz")
    headers = [
        {"id": 1},
        {"id": 2, "deadline": 1700000000000},
        {"id": 3, "deadline": 1700000000000.5},  # a float deadline, as Python clients send
        {"id": 4, "ok": True},
        {"id": 5, "ok": False, "error": "handler raised ValueError"},
        {"id": 6, "trace": "ignored", "ok": True},  # unknown keys are ignored
    ]
    for i, h in enumerate(headers):
        write("request_header_fuzz", f"header-{i}", pack(h))


# --- the codec: [which T][frame] ------------------------------------------------

def codec_corpus():
    reset("codec_decode_fuzz")
    values = [
        (0, 42), (0, -7), (0, 2**31 - 1),
        (1, "hello"), (1, ""), (1, b"bytes"),
        (2, ["a", "b", "c"]), (2, []),
        (3, {"x": 1, "y": -2}), (3, {}),
        (4, {"sensor": 12, "unit": "C", "samples": [1, 2, 3], "labels": {"room": "lab"}}),
        (4, {"sensor": 1}),
    ]
    for i, (which, v) in enumerate(values):
        write("codec_decode_fuzz", f"value-{i}", bytes([which]) + pack(v))


# --- the CLI's JSON <-> msgpack ---------------------------------------------------

def json_corpora():
    reset("json_to_msgpack_fuzz")
    reset("msgpack_to_json_fuzz")
    texts = [
        '{"order": 42, "items": ["a", "b"], "paid": true, "note": null}',
        '[1, -1, 18446744073709551615, -9223372036854775808, 1.5, -0.0, 1e300]',
        '"caf\\u00e9 \\ud83d\\ude00"',
        '{"$bin": "AAECAw=="}',
        '{"$ext": [5, "AQI="]}',
        '{"nested": {"deeper": [[[{"x": 1}]]]}}',
        '  3.25  ',
    ]
    for i, t in enumerate(texts):
        write("json_to_msgpack_fuzz", f"json-{i}", t.encode())
    frames = [pack(json.loads(t)) for t in texts[:3]]
    frames += [
        pack(b"\x00\xffraw"),
        pack(msgpack.ExtType(7, b"ext")),
        b"\xca\x3f\xc0\x00\x00",  # float32 1.5
        pack({1: "int key", b"k": "bin key"}),
        pack([None, True, False, {"a": [1, 2.5, "x"]}]),
        pack("bad utf8 \xff".encode("latin-1")),  # a str that is not UTF-8
    ]
    for i, f in enumerate(frames):
        write("msgpack_to_json_fuzz", f"frame-{i}", f)


# --- broker_fuzz: its bytes are choices (FuzzedDataProvider), not a format --------

def broker_corpus():
    reset("broker_fuzz")
    rng = random.Random(20261201)  # fixed: the corpus is the same on every run
    for i in range(12):
        data = bytes(rng.getrandbits(8) for _ in range(rng.choice([64, 160, 400, 900])))
        write("broker_fuzz", f"random-{i}", data)


def segment_value(messages):
    """A segment (proxy/segment.hpp) of (ts, id or None, binary, body) tuples."""
    records = []
    for ts, mid, binary, body in messages:
        flags = (1 if mid is not None else 0) | (2 if binary else 0)
        id_bytes = mid or b""
        records.append(struct.pack("<QQQBB", ts, ts + 5, 0, flags, len(id_bytes)) + id_bytes + body)
    ends, at = [], 0
    for r in records:
        at += len(r)
        ends.append(at)
    return struct.pack("<I", len(records)) + b"".join(struct.pack("<I", e) for e in ends) + b"".join(records)


def segment_corpus():
    reset("segment_fuzz")
    one = [(1700000000000, b"p-a1", False, b"hello")]
    three = [(1, b"p-a1", False, b""), (2, None, False, b"x" * 300), (3, b"\x00\x01", True, b"bin")]
    write("segment_fuzz", "one", struct.pack("<Q", 1) + segment_value(one))
    write("segment_fuzz", "three", struct.pack("<Q", 100) + segment_value(three))
    many = [(i, f"p-c{i:03d}".encode(), False, bytes([i % 256]) * (i % 40)) for i in range(100, 164)]
    write("segment_fuzz", "many", struct.pack("<Q", 1 << 40) + segment_value(many))


if __name__ == "__main__":
    cqp1_corpora()
    request_header_corpus()
    codec_corpus()
    json_corpora()
    broker_corpus()
    segment_corpus()
    for h in sorted(os.listdir(ROOT)):
        print(f"{h}: {len(os.listdir(os.path.join(ROOT, h)))} seeds")
