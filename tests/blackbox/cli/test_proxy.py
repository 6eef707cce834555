"""publish / consume / stats / purge / declare against a real courier-proxy (§3)."""
import json
import os
import re
import sys
import time

import zmq

sys.path.insert(0, os.path.dirname(__file__))
from conftest import free_endpoint, pack, socket_of, unpack  # noqa: E402
from values import VALUES, same  # noqa: E402


def stats_of(cli, proxy, q):
    r = cli.run("stats", q, "--proxy", proxy.endpoint, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["queues"].get(q)


def test_publish_then_consume_round_trips_every_type(cli, proxy, qname):
    q = qname()
    r = cli.run("publish", q, *[json.dumps(v) for v in VALUES], "--proxy", proxy.endpoint)
    assert r.returncode == 0, r.stderr
    r = cli.run("consume", q, "--proxy", proxy.endpoint, "--count", len(VALUES), "--timeout", 10)
    assert r.returncode == 0, r.stderr
    got = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(got) == len(VALUES)
    assert all(same(g, v) for g, v in zip(got, VALUES))
    s = stats_of(cli, proxy, q)
    assert s["depth"] == 0 and s["acked"] == len(VALUES) and s["inflight"] == 0


def test_publish_reads_stdin_lines(cli, proxy, qname):
    q = qname()
    r = cli.run("publish", q, "--proxy", proxy.endpoint, input='{"a": 1}\n\n[2]\n')
    assert r.returncode == 0, r.stderr
    assert stats_of(cli, proxy, q)["depth"] == 2


def test_published_body_is_the_msgpack_of_the_json(cli, proxy, qname, zctx):
    q = qname()
    assert cli.run("publish", q, '{"k": [1, "v"]}', "--proxy", proxy.endpoint).returncode == 0
    d = socket_of(zctx, zmq.DEALER)
    d.connect(proxy.endpoint)
    d.send_multipart([b"CQP1", b"CONSUME", pack({"q": q, "credit": 1, "auto_ack": True})])
    while True:
        f = d.recv_multipart()
        if f[1] == b"DELIVER":
            break
    assert unpack(f[3]) == {"k": [1, "v"]}


def test_consume_prints_what_a_pyzmq_producer_put(cli, proxy, qname, zctx):
    q = qname()
    d = socket_of(zctx, zmq.DEALER)
    d.connect(proxy.endpoint)
    d.send_multipart([b"CQP1", b"PUT", pack({"q": q, "tag": 1}), pack({"from": "pyzmq", "b": b"\x01"})])
    assert d.recv_multipart()[1] == b"CONFIRM"
    r = cli.run("consume", q, "--proxy", proxy.endpoint, "--count", 1, "--timeout", 10)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"from": "pyzmq", "b": {"$bin": "AQ=="}}


def test_consume_envelope_keeps_the_msgpack_type_of_the_producer_id(cli, proxy, qname, zctx):
    """A producer id sent as bin comes back as {"$bin"}, one sent as str as a string."""
    q = qname()
    d = socket_of(zctx, zmq.DEALER)
    d.connect(proxy.endpoint)
    d.send_multipart([b"CQP1", b"PUT", pack({"q": q, "tag": 1, "id": b"\xff\x00"}), pack(1)])
    assert d.recv_multipart()[1] == b"CONFIRM"
    d.send_multipart([b"CQP1", b"PUT", pack({"q": q, "tag": 2, "id": "text-id"}), pack(2)])
    assert d.recv_multipart()[1] == b"CONFIRM"
    r = cli.run("consume", q, "--proxy", proxy.endpoint, "--count", 2, "--envelope", "--timeout", 10)
    assert r.returncode == 0, r.stderr
    env = [json.loads(x) for x in r.stdout.splitlines()]
    assert [e["id"] for e in env] == [{"$bin": "/wA="}, "text-id"]
    assert [e["body"] for e in env] == [1, 2]


def test_consume_acks_each_message(cli, proxy, qname):
    q = qname()
    assert cli.run("publish", q, "1", "2", "3", "--proxy", proxy.endpoint).returncode == 0
    r = cli.run("consume", q, "--proxy", proxy.endpoint, "--count", 2, "--timeout", 10)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["1", "2"]
    s = stats_of(cli, proxy, q)
    assert s["acked"] == 2 and s["depth"] == 1 and s["inflight"] == 0
    r = cli.run("consume", q, "--proxy", proxy.endpoint, "--count", 1, "--timeout", 10)
    assert r.stdout.splitlines() == ["3"]


def test_consume_no_ack_uses_auto_ack_and_takes_only_count(cli, proxy, qname):
    q = qname()
    assert cli.run("publish", q, "1", "2", "3", "--proxy", proxy.endpoint).returncode == 0
    r = cli.run("consume", q, "--proxy", proxy.endpoint, "--count", 2, "--no-ack", "--timeout", 10)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["1", "2"]
    time.sleep(0.2)
    s = stats_of(cli, proxy, q)
    assert s["delivered"] == 2 and s["depth"] == 1 and s["acked"] == 0


def test_consume_timeout_exits_2(cli, proxy, qname):
    r = cli.run("consume", qname(), "--proxy", proxy.endpoint, "--count", 1, "--timeout", "0.5")
    assert r.returncode == 2
    assert "timed out" in r.stderr


def test_consume_survives_idle_periods_longer_than_the_heartbeat(cli, proxy, qname):
    """The proxy drops sessions silent for 3 x hb (200 ms here); consume PINGs."""
    q = qname()
    p = cli.start("consume", q, "--proxy", proxy.endpoint, "--count", 1, "--timeout", 15)
    time.sleep(1.5)   # > 3 heartbeats with nothing to deliver
    s = stats_of(cli, proxy, q)
    assert s is not None and s["consumers"] == 1
    assert cli.run("publish", q, '"late"', "--proxy", proxy.endpoint).returncode == 0
    rc, out, err = cli.finish(p)
    assert rc == 0, err
    assert out == '"late"\n'


def test_publish_with_id_dedups_and_derives_ids_for_several_values(cli, proxy, qname):
    q = qname()
    assert cli.run("publish", q, "1", "2", "--id", "order-7", "--proxy", proxy.endpoint).returncode == 0
    r = cli.run("publish", q, "1", "2", "--id", "order-7", "--proxy", proxy.endpoint)
    assert r.returncode == 0, r.stderr
    assert "dup" in r.stderr
    r = cli.run("consume", q, "--proxy", proxy.endpoint, "--count", 2, "--envelope", "--timeout", 10)
    assert r.returncode == 0, r.stderr
    env = [json.loads(x) for x in r.stdout.splitlines()]
    assert [e["id"] for e in env] == ["order-7", "order-7-2"]
    assert [e["body"] for e in env] == [1, 2]
    assert stats_of(cli, proxy, q)["depth"] == 0


def test_publish_delay_holds_the_message(cli, proxy, qname):
    q = qname()
    assert cli.run("publish", q, "1", "--delay", 60000, "--proxy", proxy.endpoint).returncode == 0
    s = stats_of(cli, proxy, q)
    assert s["delayed"] == 1 and s["depth"] == 0


def test_declare_max_length_then_publish_refused_exits_3(cli, proxy, qname):
    q = qname()
    r = cli.run("declare", q, "--max-length", 1, "--proxy", proxy.endpoint)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"q": q, "depth": 0}
    # --full-wait 0: refused at once (the default waits 30 s for room, §4.2)
    r = cli.run("publish", q, "1", "2", "--proxy", proxy.endpoint, "--full-wait", "0")
    assert r.returncode == 3
    assert "429" in r.stderr and "argument 2" in r.stderr
    assert stats_of(cli, proxy, q)["depth"] == 1


def test_declare_every_option_is_accepted(cli, proxy, qname):
    q, dl = qname(), qname(".dlq")
    r = cli.run("declare", q, "--max-length", 10, "--dead-letter", dl, "--max-attempts", 3,
                "--ttl", 60000, "--ack-timeout", 30000, "--proxy", proxy.endpoint)
    assert r.returncode == 0, r.stderr


def test_purge_prints_how_many_were_removed(cli, proxy, qname):
    q = qname()
    assert cli.run("publish", q, "1", "2", "3", "--proxy", proxy.endpoint).returncode == 0
    r = cli.run("purge", q, "--proxy", proxy.endpoint)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"q": q, "removed": 3}
    assert stats_of(cli, proxy, q)["depth"] == 0


def test_stats_json_is_the_stats_header(cli, proxy, qname):
    q = qname()
    assert cli.run("publish", q, "1", "--proxy", proxy.endpoint).returncode == 0
    r = cli.run("stats", "--proxy", proxy.endpoint, "--json")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1
    s = json.loads(lines[0])
    assert {"queues", "uptime_ms", "clients"} <= s.keys()
    assert s["queues"][q]["depth"] == 1 and s["queues"][q]["put"] == 1


def test_stats_table_shows_queue_depth_inflight_consumers_and_rates(cli, proxy, qname):
    q = qname()
    assert cli.run("publish", q, "1", "2", "--proxy", proxy.endpoint).returncode == 0
    r = cli.run("stats", "--proxy", proxy.endpoint)
    assert r.returncode == 0, r.stderr
    header = r.stdout.splitlines()[0]
    for col in ("QUEUE", "DEPTH", "IN FLIGHT", "CONSUMERS", "PUT/s", "DELIVERED/s"):
        assert col in header
    row = [x for x in r.stdout.splitlines() if x.startswith(q + " ")]
    assert row and row[0].split()[1] == "2"


def test_stats_watch_refreshes_and_computes_rates(cli, proxy, qname):
    q = qname()
    assert cli.run("publish", q, "0", "--proxy", proxy.endpoint).returncode == 0
    p = cli.start("stats", q, "--proxy", proxy.endpoint, "--watch", "--interval", "0.5", "--count", 3)
    time.sleep(0.6)
    assert cli.run("publish", q, "1", "2", "3", "--proxy", proxy.endpoint).returncode == 0
    rc, out, err = cli.finish(p)
    assert rc == 0, err
    rows = [line for line in out.splitlines() if line.startswith(q + " ")]
    assert len(rows) == 3
    assert rows[0].split()[-2:] == ["-", "-"]           # no rate from one sample
    assert re.fullmatch(r"\d+\.\d", rows[-1].split()[-2])   # a PUT/s number later


def test_stats_watch_json_prints_one_object_per_refresh(cli, proxy):
    r = cli.run("stats", "--proxy", proxy.endpoint, "--json", "--watch", "--interval", "0.2",
                "--count", 2)
    assert r.returncode == 0, r.stderr
    assert [("queues" in json.loads(x)) for x in r.stdout.splitlines()] == [True, True]


def test_no_proxy_exits_2_for_every_proxy_command(cli):
    ep = free_endpoint()
    for args in (["publish", "q", "1"], ["stats"], ["purge", "q"], ["declare", "q"],
                 ["consume", "q"]):
        r = cli.run(*args, "--proxy", ep, "--timeout", "0.5")
        assert r.returncode == 2, (args, r.stderr)
        assert "courier-proxy" in r.stderr


def test_a_peer_that_is_not_a_proxy_is_a_protocol_error(cli, zctx):
    router = socket_of(zctx, zmq.ROUTER)
    router.bind("tcp://127.0.0.1:*")
    ep = router.getsockopt_string(zmq.LAST_ENDPOINT)
    p = cli.start("stats", "--proxy", ep, "--timeout", 5)
    rid = router.recv_multipart()[0]
    router.send_multipart([rid, b"HTTP/1.1 400"])
    rc, out, err = cli.finish(p)
    assert rc == 3
    assert "CQP1" in err


def test_default_proxy_endpoint_is_documented_in_help(cli):
    r = cli.run("consume", "--help")
    assert "tcp://127.0.0.1:5555" in r.stdout
