"""`courier push` / `courier pull` against pyzmq peers (PROTOCOL.md §1)."""
import json
import os
import sys

import zmq

sys.path.insert(0, os.path.dirname(__file__))
from conftest import bound, free_endpoint, pack, socket_of, unpack  # noqa: E402
from values import VALUES, same  # noqa: E402


def test_pull_prints_what_a_pyzmq_push_sends(cli, zctx):
    push, ep = bound(zctx, zmq.PUSH)
    p = cli.start("pull", ep, "--count", len(VALUES), "--timeout", 10)
    for v in VALUES:
        push.send(pack(v))
    rc, out, err = cli.finish(p)
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == len(VALUES)
    for line, v in zip(lines, VALUES):
        assert same(json.loads(line), v), (line[:80], v if not isinstance(v, str) else v[:80])


def test_push_arguments_reach_a_pyzmq_pull(cli, zctx):
    pull, ep = bound(zctx, zmq.PULL)
    r = cli.run("push", ep, *[json.dumps(v) for v in VALUES])
    assert r.returncode == 0, r.stderr
    got = [unpack(pull.recv()) for _ in VALUES]
    for g, v in zip(got, VALUES):
        assert same(g, v)


def test_push_sends_each_stdin_line(cli, zctx):
    pull, ep = bound(zctx, zmq.PULL)
    text = "\n".join(json.dumps(v) for v in VALUES) + "\n\n"
    r = cli.run("push", ep, input=text)
    assert r.returncode == 0, r.stderr
    got = [unpack(pull.recv()) for _ in VALUES]
    assert all(same(g, v) for g, v in zip(got, VALUES))
    pull.setsockopt(zmq.RCVTIMEO, 200)
    try:
        extra = pull.recv()
        raise AssertionError("a blank line was sent: %r" % extra)
    except zmq.Again:
        pass


def test_push_bind_and_pull_connect_to_each_other(cli):
    ep = free_endpoint()
    pull = cli.start("pull", ep, "--count", 3, "--timeout", 10)
    r = cli.run("push", ep, "--bind", "1", '"two"', "[3]")
    assert r.returncode == 0, r.stderr
    rc, out, err = cli.finish(pull)
    assert rc == 0, err
    assert [json.loads(x) for x in out.splitlines()] == [1, "two", [3]]


def test_pull_bind_receives_from_a_connecting_pyzmq_push(cli, zctx):
    ep = free_endpoint()
    p = cli.start("pull", ep, "--bind", "--count", 2, "--timeout", 10)
    push = socket_of(zctx, zmq.PUSH)
    push.connect(ep)
    push.send(pack({"n": 1}))
    push.send(pack({"n": 2}))
    rc, out, err = cli.finish(p)
    assert rc == 0, err
    assert [json.loads(x) for x in out.splitlines()] == [{"n": 1}, {"n": 2}]


def test_bin_prints_as_dollar_bin_base64_and_packs_back(cli, zctx):
    push, ep = bound(zctx, zmq.PUSH)
    p = cli.start("pull", ep, "--count", 1, "--timeout", 10)
    push.send(pack({"blob": b"\x00\x01\xff"}))
    rc, out, err = cli.finish(p)
    assert rc == 0, err
    assert json.loads(out) == {"blob": {"$bin": "AAH/"}}
    pull, ep2 = bound(zctx, zmq.PULL)
    r = cli.run("push", ep2, out.strip())
    assert r.returncode == 0, r.stderr
    assert unpack(pull.recv()) == {"blob": b"\x00\x01\xff"}


def test_pull_reports_a_frame_that_is_not_msgpack_exits_3_and_keeps_going(cli, zctx):
    push, ep = bound(zctx, zmq.PUSH)
    p = cli.start("pull", ep, "--count", 2, "--timeout", 10)
    push.send(b"\xc1")            # a byte msgpack never uses
    push.send(pack(5))
    rc, out, err = cli.finish(p)
    assert rc == 3
    assert out.splitlines() == ["5"]
    assert "message 1" in err


def test_pull_reports_trailing_bytes(cli, zctx):
    push, ep = bound(zctx, zmq.PUSH)
    p = cli.start("pull", ep, "--count", 1, "--timeout", 10)
    push.send(pack(1) + pack(2))
    rc, out, err = cli.finish(p)
    assert rc == 3 and out == ""
    assert "trailing" in err


def test_raw_push_and_pull_move_bytes(cli, zctx):
    pull, ep = bound(zctx, zmq.PULL)
    r = cli.run("push", ep, "--raw", "not json at all")
    assert r.returncode == 0, r.stderr
    assert pull.recv() == b"not json at all"
    push, ep2 = bound(zctx, zmq.PUSH)
    p = cli.start("pull", ep2, "--raw", "--count", 1, "--timeout", 10)
    push.send(b"plain text")
    rc, out, err = cli.finish(p)
    assert rc == 0, err
    assert out == "plain text\n"


def test_pull_timeout_exits_2(cli):
    r = cli.run("pull", free_endpoint(), "--timeout", "0.5")
    assert r.returncode == 2
    assert "timed out" in r.stderr and r.stdout == ""


def test_pull_timeout_after_some_messages_exits_2_with_them_printed(cli, zctx):
    push, ep = bound(zctx, zmq.PUSH)
    p = cli.start("pull", ep, "--count", 5, "--timeout", 1.5)
    push.send(pack("only one"))
    rc, out, err = cli.finish(p)
    assert rc == 2
    assert out == '"only one"\n'
    assert "1 of 5" in err


def test_push_without_a_peer_exits_2(cli):
    r = cli.run("push", free_endpoint(), "1", "--timeout", "0.5")
    assert r.returncode == 2
    assert "no peer" in r.stderr


def test_invalid_json_on_stdin_is_a_decode_error(cli, zctx):
    pull, ep = bound(zctx, zmq.PULL)
    r = cli.run("push", ep, input='1\n{oops\n3\n')
    assert r.returncode == 3
    assert "stdin line 2" in r.stderr
    assert unpack(pull.recv()) == 1
    assert unpack(pull.recv()) == 3      # the bad line is skipped, the rest still go
