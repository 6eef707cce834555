"""`courier request` / `courier serve` against pyzmq peers (PROTOCOL.md §2)."""
import json
import os
import sys

import zmq

sys.path.insert(0, os.path.dirname(__file__))
from conftest import bound, free_endpoint, pack, socket_of, unpack  # noqa: E402
from values import VALUES, same  # noqa: E402


def serve_one(router, reply_header, reply_body):
    """Answers one §2 request on a pyzmq ROUTER; returns (header, body) received."""
    frames = router.recv_multipart()
    rid, delim, header, body = frames[0], frames[1], frames[2], frames[3]
    assert delim == b"", "the DEALER request must carry the empty delimiter"
    assert len(frames) == 4
    h = unpack(header)
    assert isinstance(h["id"], int) and h["id"] >= 0
    router.send_multipart([rid, b"", pack(dict(reply_header, id=h["id"])), pack(reply_body)])
    return h, unpack(body)


def test_request_prints_the_reply_body(cli, zctx):
    router, ep = bound(zctx, zmq.ROUTER)
    p = cli.start("request", ep, '{"op": "add", "args": [1, 2]}', "--timeout", 10)
    _, body = serve_one(router, {"ok": True}, {"sum": 3, "note": None})
    rc, out, err = cli.finish(p)
    assert body == {"op": "add", "args": [1, 2]}
    assert rc == 0, err
    assert json.loads(out) == {"sum": 3, "note": None}


def test_request_ok_false_prints_the_error_and_exits_3(cli, zctx):
    router, ep = bound(zctx, zmq.ROUTER)
    p = cli.start("request", ep, "1", "--timeout", 10)
    serve_one(router, {"ok": False, "error": "no such operation: frob"}, None)
    rc, out, err = cli.finish(p)
    assert rc == 3
    assert out == ""
    assert "no such operation: frob" in err


def test_request_without_a_server_exits_2(cli):
    r = cli.run("request", free_endpoint(), "1", "--timeout", "0.5")
    assert r.returncode == 2
    assert "no reply" in r.stderr


def test_request_with_invalid_json_is_usage_error(cli):
    r = cli.run("request", free_endpoint(), "{nope", "--timeout", "0.5")
    assert r.returncode == 1


def test_serve_echo_answers_a_pyzmq_req(cli, zctx):
    ep = free_endpoint()
    # --quiet: nobody reads its stdout until it exits (a full pipe would block it)
    p = cli.start("serve", ep, "--echo", "--count", len(VALUES), "--quiet", "--timeout", 20)
    req = socket_of(zctx, zmq.REQ)
    req.connect(ep)
    for i, v in enumerate(VALUES):
        req.send_multipart([pack({"id": i}), pack(v)])
        header, body = req.recv_multipart()
        h = unpack(header)
        assert h["id"] == i and h["ok"] is True
        assert same(unpack(body), v)
    rc, out, err = cli.finish(p)
    assert rc == 0, err
    assert out == ""


def test_serve_echo_answers_a_dealer_with_several_in_flight(cli, zctx):
    ep = free_endpoint()
    p = cli.start("serve", ep, "--echo", "--count", 3, "--quiet", "--timeout", 20)
    d = socket_of(zctx, zmq.DEALER)
    d.connect(ep)
    for i in (10, 11, 12):
        d.send_multipart([b"", pack({"id": i}), pack({"n": i})])
    got = {}
    for _ in range(3):
        delim, header, body = d.recv_multipart()
        assert delim == b""
        got[unpack(header)["id"]] = unpack(body)
    assert got == {10: {"n": 10}, 11: {"n": 11}, 12: {"n": 12}}
    rc, out, err = cli.finish(p)
    assert rc == 0, err
    assert out == ""


def test_request_and_serve_talk_to_each_other(cli):
    ep = free_endpoint()
    p = cli.start("serve", ep, "--echo", "--count", 1, "--timeout", 20)
    r = cli.run("request", ep, '{"hello": ["world", 1.5]}', "--timeout", 10)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"hello": ["world", 1.5]}
    rc, out, err = cli.finish(p)
    assert rc == 0, err
    assert json.loads(out) == {"hello": ["world", 1.5]}   # serve prints each request


def test_serve_timeout_exits_2(cli):
    r = cli.run("serve", free_endpoint(), "--echo", "--count", 1, "--timeout", "0.5")
    assert r.returncode == 2
