"""CurveZMQ from the command line (PROTOCOL.md §4.2, §5): --curve-server and
--curve-cert on commands that connect, --curve-secret and --curve-allow on
those that bind; keys from `courier keygen` and from pyzmq's zmq.auth, each
side reading the other's."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

sys.path.insert(0, os.path.dirname(__file__))
from conftest import free_endpoint, pack, socket_of, unpack  # noqa: E402


@pytest.fixture
def keys(cli, tmp_path):
    """server, alice (allowed) and mallory (not) by `courier keygen`; allow/ holds alice.key."""
    k, allow = tmp_path / "keys", tmp_path / "allow"
    k.mkdir()
    allow.mkdir()
    for name in ("server", "alice", "mallory"):
        r = cli.run("keygen", name, "--dir", k)
        assert r.returncode == 0, r.stderr
    (allow / "alice.key").write_bytes((k / "alice.key").read_bytes())
    return dict(dir=k, allow=allow)


@pytest.fixture
def curve_proxy(proxy_bin, keys, tmp_path, cli):
    ep = free_endpoint()
    log = open(tmp_path / "proxy.log", "wb")
    proc = subprocess.Popen([proxy_bin, "--listen", ep, "--data", str(tmp_path / "data"),
                             "--curve-secret", str(keys["dir"] / "server.key_secret"),
                             "--curve-allow", str(keys["allow"])],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        # Ready when an allowed CLI client reads STATS.
        r = cli.run("stats", "--proxy", ep, "--json", "--timeout", 10, *as_alice(keys))
        assert r.returncode == 0, r.stderr + (tmp_path / "proxy.log").read_text()
        yield ep
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()


def as_alice(keys):
    return ["--curve-server", keys["dir"] / "server.key", "--curve-cert", keys["dir"] / "alice.key_secret"]


def test_publish_consume_and_stats_through_a_curve_proxy(cli, curve_proxy, keys, qname):
    q = qname()
    r = cli.run("publish", q, '{"n": 1}', '"two"', "--proxy", curve_proxy, *as_alice(keys))
    assert r.returncode == 0, r.stderr
    r = cli.run("consume", q, "--count", 2, "--timeout", 10, "--proxy", curve_proxy, *as_alice(keys))
    assert r.returncode == 0, r.stderr
    assert [json.loads(x) for x in r.stdout.splitlines()] == [{"n": 1}, "two"]
    r = cli.run("stats", q, "--json", "--proxy", curve_proxy, *as_alice(keys))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["queues"][q]["acked"] == 2


def test_a_refused_key_fails_as_no_peer_and_says_why_it_may_be(cli, curve_proxy, keys, qname):
    mallory = ["--curve-server", keys["dir"] / "server.key", "--curve-cert",
               keys["dir"] / "mallory.key_secret"]
    r = cli.run("publish", qname(), "1", "--timeout", 1, "--proxy", curve_proxy, *mallory)
    assert r.returncode == 2, r.stderr
    assert "allow" in r.stderr
    r = cli.run("stats", "--timeout", 1, "--proxy", curve_proxy, *mallory)
    assert r.returncode == 2, r.stderr


def test_a_plain_client_is_told_the_peer_may_require_curve(cli, curve_proxy):
    r = cli.run("stats", "--timeout", 1, "--proxy", curve_proxy)
    assert r.returncode == 2
    assert "--curve-server" in r.stderr


def test_bad_curve_options_are_usage_errors(cli, keys, curve_proxy):
    r = cli.run("stats", "--proxy", curve_proxy, "--curve-server", keys["dir"] / "nope.key")
    assert r.returncode == 1 and "nope.key" in r.stderr
    r = cli.run("stats", "--proxy", curve_proxy, "--curve-server", keys["dir"] / "server.key",
                "--curve-cert", keys["dir"] / "alice.key")
    assert r.returncode == 1 and "key_secret" in r.stderr, "a public certificate is not a secret one"
    r = cli.run("pull", free_endpoint(), "--curve-allow", keys["allow"], "--bind", "--timeout", 0.2)
    assert r.returncode == 1 and "--curve-secret" in r.stderr


def test_push_to_a_curve_pull_with_an_allow_list(cli, keys):
    ep = free_endpoint()
    p = cli.start("pull", ep, "--bind", "--count", 1, "--timeout", 10,
                  "--curve-secret", keys["dir"] / "server.key_secret", "--curve-allow", keys["allow"])
    r = cli.run("push", ep, '{"to": "pull"}', "--timeout", 10, *as_alice(keys))
    assert r.returncode == 0, r.stderr
    rc, out, err = cli.finish(p)
    assert rc == 0, err
    assert json.loads(out) == {"to": "pull"}


def test_courier_request_to_a_pyzmq_server_using_zmq_auth(cli, keys, zctx, tmp_path):
    """pyzmq serves with zmq.auth (ThreadAuthenticator) and courier's keygen keys."""
    auth = ThreadAuthenticator(zctx)
    auth.start()
    try:
        auth.configure_curve(domain="*", location=str(keys["allow"]))
        server_public, server_secret = zmq.auth.load_certificate(str(keys["dir"] / "server.key_secret"))
        router = socket_of(zctx, zmq.ROUTER)
        router.curve_secretkey = server_secret
        router.curve_publickey = server_public
        router.curve_server = True
        router.bind("tcp://127.0.0.1:*")
        ep = router.getsockopt_string(zmq.LAST_ENDPOINT)
        p = cli.start("request", ep, '{"op": "ping"}', "--timeout", 10, *as_alice(keys))
        rid, delim, header, body = router.recv_multipart()
        router.send_multipart([rid, b"", pack({"id": unpack(header)["id"], "ok": True}), pack("pong")])
        rc, out, err = cli.finish(p)
        assert rc == 0, err
        assert json.loads(out) == "pong"
        router.close()
    finally:
        auth.stop()


def test_a_pyzmq_client_with_zmq_auth_certificates_to_courier_serve(cli, zctx, tmp_path):
    """courier serves with --curve-allow over certificates pyzmq's zmq.auth wrote."""
    d, allow = tmp_path / "pykeys", tmp_path / "pyallow"
    d.mkdir()
    allow.mkdir()
    server_public_file, server_secret_file = zmq.auth.create_certificates(str(d), "server")
    client_public_file, client_secret_file = zmq.auth.create_certificates(str(d), "client")
    (allow / "client.key").write_bytes(open(client_public_file, "rb").read())
    ep = free_endpoint()
    p = cli.start("serve", ep, "--echo", "--count", 1, "--quiet", "--timeout", 10,
                  "--curve-secret", server_secret_file, "--curve-allow", allow)
    dealer = socket_of(zctx, zmq.DEALER, 10000)
    public, secret = zmq.auth.load_certificate(client_secret_file)
    dealer.curve_publickey = public
    dealer.curve_secretkey = secret
    dealer.curve_serverkey = zmq.auth.load_certificate(server_public_file)[0]
    dealer.connect(ep)
    dealer.send_multipart([b"", pack({"id": 7}), pack({"echo": "me"})])
    delim, header, body = dealer.recv_multipart()
    assert unpack(header)["ok"] is True and unpack(body) == {"echo": "me"}
    dealer.close()
    rc, out, err = cli.finish(p)
    assert rc == 0, err
