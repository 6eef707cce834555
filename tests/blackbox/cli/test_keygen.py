"""`courier keygen NAME [--dir DIR]` (PROTOCOL.md §4.2, §5): a CurveZMQ key
pair as ZeroMQ certificates that pyzmq's zmq.auth reads, never overwriting."""
import os
import stat

import pytest
import zmq
import zmq.auth

from conftest import free_endpoint


def test_keygen_writes_a_pair_that_zmq_auth_loads(cli, tmp_path):
    r = cli.run("keygen", "alice", "--dir", tmp_path)
    assert r.returncode == 0, r.stderr
    public, secret = zmq.auth.load_certificate(str(tmp_path / "alice.key_secret"))
    assert len(public) == 40 and len(secret) == 40
    assert zmq.auth.load_certificate(str(tmp_path / "alice.key")) == (public, None)


def test_the_secret_file_is_readable_by_its_owner_only(cli, tmp_path):
    assert cli.run("keygen", "bob", "--dir", tmp_path).returncode == 0
    mode = stat.S_IMODE(os.stat(tmp_path / "bob.key_secret").st_mode)
    assert mode & (stat.S_IRWXG | stat.S_IRWXO) == 0, oct(mode)


def test_two_pairs_differ(cli, tmp_path):
    assert cli.run("keygen", "a", "--dir", tmp_path).returncode == 0
    assert cli.run("keygen", "b", "--dir", tmp_path).returncode == 0
    a = zmq.auth.load_certificate(str(tmp_path / "a.key_secret"))
    b = zmq.auth.load_certificate(str(tmp_path / "b.key_secret"))
    assert a[0] != b[0] and a[1] != b[1]


def test_existing_files_are_not_overwritten(cli, tmp_path):
    assert cli.run("keygen", "carol", "--dir", tmp_path).returncode == 0
    before = {f: (tmp_path / f).read_bytes() for f in ("carol.key", "carol.key_secret")}
    r = cli.run("keygen", "carol", "--dir", tmp_path)
    assert r.returncode == 1
    assert "exists" in r.stderr
    assert {f: (tmp_path / f).read_bytes() for f in before} == before


def test_a_missing_directory_is_a_usage_error(cli, tmp_path):
    r = cli.run("keygen", "dave", "--dir", tmp_path / "nope")
    assert r.returncode == 1 and "--dir" in r.stderr


def test_the_keys_make_a_working_curve_connection(cli, tmp_path):
    """The pair is real CURVE keys: a pyzmq server with the secret and a
    client that knows its public key exchange a message."""
    assert cli.run("keygen", "server", "--dir", tmp_path).returncode == 0
    server_public, server_secret = zmq.auth.load_certificate(str(tmp_path / "server.key_secret"))
    client_public, client_secret = zmq.curve_keypair()
    ctx = zmq.Context()
    try:
        rep = ctx.socket(zmq.REP)
        rep.curve_server = True
        rep.curve_secretkey = server_secret
        rep.curve_publickey = server_public
        ep = free_endpoint()
        rep.bind(ep)
        req = ctx.socket(zmq.REQ)
        req.curve_serverkey = server_public
        req.curve_publickey = client_public
        req.curve_secretkey = client_secret
        for s in (rep, req):
            s.rcvtimeo = 5000
            s.linger = 0
        req.connect(ep)
        req.send(b"ping")
        assert rep.recv() == b"ping"
        rep.send(b"pong")
        assert req.recv() == b"pong"
    finally:
        ctx.destroy(linger=0)
