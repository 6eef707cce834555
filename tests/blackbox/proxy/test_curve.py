"""CurveZMQ on courier-proxy (PROTOCOL.md §5, §4.1 --curve-secret/--curve-allow).

Written from the contract with pyzmq alone: certificates from pyzmq's
zmq.auth (so the proxy must read what pyzmq writes), clients that set
zmq.CURVE_* options. The proxy is started here (its readiness check must
speak CURVE) and stopped by PID.
"""
import os
import signal
import socket
import subprocess
import threading
import time

import pytest
import zmq
import zmq.auth

from cqp import MAGIC, EMPTY_MAP, free_port, pack, unpack

MARKER = b"courier-plaintext-marker-7f3a9c"


class CurveProxy:
    def __init__(self, binary, tmp_path, *extra):
        self.endpoint = "tcp://127.0.0.1:%d" % free_port()
        self.log_path = tmp_path / "proxy.log"
        argv = [binary, "--listen", self.endpoint, "--data", str(tmp_path / "data"), *map(str, extra)]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def dealer(ctx, endpoint, client_cert=None, server_public=None):
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    if server_public is not None:
        if client_cert is None:
            public, secret = zmq.curve_keypair()
        else:
            public, secret = zmq.auth.load_certificate(client_cert)
        s.curve_secretkey = secret
        s.curve_publickey = public
        s.curve_serverkey = server_public
    s.connect(endpoint)
    return s


def answers_ping(sock, wait_s):
    """True when a PING on `sock` gets its PONG within wait_s."""
    sock.send_multipart([MAGIC, b"PING", EMPTY_MAP])
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if sock.poll(50):
            frames = sock.recv_multipart()
            if frames[:2] == [MAGIC, b"PONG"]:
                return True
    return False


def wait_until_answering(ctx, proxy, cert, server_public, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proxy.proc.poll() is None, "courier-proxy exited:\n" + proxy.log()
        s = dealer(ctx, proxy.endpoint, cert, server_public)
        try:
            if answers_ping(s, 0.3):
                return
        finally:
            s.close()
    raise AssertionError("courier-proxy did not answer a CURVE PING:\n" + proxy.log())


@pytest.fixture
def certs(tmp_path):
    """server, alice (allowed) and mallory (not allowed), written by pyzmq's zmq.auth."""
    keys, allow, others = tmp_path / "keys", tmp_path / "allow", tmp_path / "others"
    for d in (keys, allow, others):
        d.mkdir()
    server_public, server_secret = zmq.auth.create_certificates(str(keys), "server")
    alice_public, alice_secret = zmq.auth.create_certificates(str(keys), "alice")
    mallory_public, mallory_secret = zmq.auth.create_certificates(str(others), "mallory")
    # The allow-list holds public certificates only.
    (allow / "alice.key").write_bytes(open(alice_public, "rb").read())
    return dict(dir=tmp_path, allow=allow, server_secret=server_secret,
                server_public=zmq.auth.load_certificate(server_public)[0],
                alice=alice_secret, mallory=mallory_secret, mallory_public=mallory_public)


@pytest.fixture
def curve_proxy(proxy_bin, certs, zctx):
    p = CurveProxy(proxy_bin, certs["dir"], "--curve-secret", certs["server_secret"],
                   "--curve-allow", certs["allow"])
    try:
        wait_until_answering(zctx, p, certs["alice"], certs["server_public"])
        yield p
    finally:
        p.stop()


def test_an_allowed_client_publishes_consumes_and_reads_stats(curve_proxy, certs, zctx, qname):
    q = qname()
    s = dealer(zctx, curve_proxy.endpoint, certs["alice"], certs["server_public"])
    try:
        s.send_multipart([MAGIC, b"HELLO", pack({"v": 1, "name": "alice"})])
        assert s.recv_multipart()[1] == b"WELCOME"
        s.send_multipart([MAGIC, b"PUT", pack({"q": q, "tag": 1}), pack(MARKER)])
        assert s.recv_multipart()[1] == b"CONFIRM"
        s.send_multipart([MAGIC, b"CONSUME", pack({"q": q, "credit": 1, "auto_ack": True})])
        got = [s.recv_multipart() for _ in range(2)]
        delivered = [f for f in got if f[1] == b"DELIVER"]
        assert delivered and unpack(delivered[0][3]) == MARKER
        s.send_multipart([MAGIC, b"STATS", pack({"q": q})])
        while True:
            f = s.recv_multipart()
            if f[1] == b"STATS":
                assert unpack(f[2])["queues"][q]["put"] == 1
                break
    finally:
        s.close()


def test_a_client_whose_key_is_not_allowed_gets_nothing_and_is_logged(curve_proxy, certs, zctx, qname):
    q = qname()
    s = dealer(zctx, curve_proxy.endpoint, certs["mallory"], certs["server_public"])
    try:
        s.send_multipart([MAGIC, b"HELLO", pack({"v": 1})])
        s.send_multipart([MAGIC, b"PUT", pack({"q": q, "tag": 1}), pack(1)])
        s.send_multipart([MAGIC, b"STATS", EMPTY_MAP])
        assert not s.poll(1500), "a refused client must learn nothing"
    finally:
        s.close()
    # Nothing it sent was read: the queue does not exist.
    alice = dealer(zctx, curve_proxy.endpoint, certs["alice"], certs["server_public"])
    try:
        alice.send_multipart([MAGIC, b"STATS", pack({"q": q})])
        f = alice.recv_multipart()
        while f[1] != b"STATS":
            f = alice.recv_multipart()
        assert q not in unpack(f[2])["queues"]
    finally:
        alice.close()
    mallory_key = zmq.auth.load_certificate(certs["mallory_public"])[0].decode()
    deadline = time.monotonic() + 5
    while mallory_key not in curve_proxy.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mallory_key in curve_proxy.log(), "the refusal is logged with the client's key"


def test_a_plain_client_gets_nothing(curve_proxy, zctx):
    s = dealer(zctx, curve_proxy.endpoint)
    try:
        assert not answers_ping(s, 1.0)
    finally:
        s.close()


def test_allow_list_changes_apply_to_new_connections_without_a_restart(curve_proxy, certs, zctx):
    mallory_public = certs["mallory_public"]
    (certs["allow"] / "mallory.key").write_bytes(open(mallory_public, "rb").read())
    (certs["allow"] / "alice.key").unlink()
    pid = curve_proxy.proc.pid

    def answers(cert, within):
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            s = dealer(zctx, curve_proxy.endpoint, cert, certs["server_public"])
            try:
                if answers_ping(s, 0.3):
                    return True
            finally:
                s.close()
        return False

    assert answers(certs["mallory"], 5.0), "an added certificate lets its client in"
    time.sleep(1.2)  # the list is read again at most once a second
    assert not answers(certs["alice"], 1.0), "a removed certificate keeps its client out"
    assert curve_proxy.proc.pid == pid and curve_proxy.proc.poll() is None, "no restart was needed"


class Relay:
    """A TCP relay that keeps every byte it forwards (both ways)."""

    def __init__(self, target_port):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.target_port = target_port
        self.captured = bytearray()
        self.lock = threading.Lock()
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                a, _ = self.listener.accept()
            except OSError:
                return
            b = socket.create_connection(("127.0.0.1", self.target_port))
            self.socks += [a, b]
            for src, dst in ((a, b), (b, a)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src, dst):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                self.captured += data
            try:
                dst.sendall(data)
            except OSError:
                return

    def close(self):
        self.listener.close()
        for s in self.socks:
            s.close()


def publish_through(ctx, endpoint, q, cert=None, server_public=None):
    s = dealer(ctx, endpoint, cert, server_public)
    try:
        s.send_multipart([MAGIC, b"PUT", pack({"q": q, "tag": 1}), pack(MARKER)])
        assert s.poll(5000), "no CONFIRM through the relay"
        assert s.recv_multipart()[1] == b"CONFIRM"
    finally:
        s.close()


def test_the_traffic_on_the_wire_does_not_contain_a_known_plaintext(curve_proxy, certs, zctx, proxies,
                                                                     qname):
    port = int(curve_proxy.endpoint.rsplit(":", 1)[1])
    relay = Relay(port)
    try:
        publish_through(zctx, "tcp://127.0.0.1:%d" % relay.port, qname(), certs["alice"],
                        certs["server_public"])
        with relay.lock:
            captured = bytes(relay.captured)
        assert len(captured) > 100, "the relay saw the conversation"
        assert MARKER not in captured
        assert b"CQP1" not in captured and b"PUT" not in captured
    finally:
        relay.close()
    # The capture is able to see a plaintext: the same PUT to a plain proxy shows it.
    plain = proxies.start()
    relay = Relay(int(plain.endpoint.rsplit(":", 1)[1]))
    try:
        publish_through(zctx, "tcp://127.0.0.1:%d" % relay.port, qname())
        with relay.lock:
            assert MARKER in bytes(relay.captured)
    finally:
        relay.close()


@pytest.mark.parametrize("problem", ["allow-without-secret", "public-as-secret", "garbage"])
def test_bad_curve_options_are_refused_at_startup_naming_the_file(proxy_bin, certs, tmp_path, problem):
    garbage = tmp_path / "garbage.key_secret"
    garbage.write_text("metadata\ncurve\n    secret-key = \"not a key\"\n")
    args = {
        "allow-without-secret": ["--curve-allow", certs["allow"]],
        "public-as-secret": ["--curve-secret", certs["mallory_public"]],
        "garbage": ["--curve-secret", garbage],
    }[problem]
    r = subprocess.run([proxy_bin, "--listen", "tcp://127.0.0.1:%d" % free_port(), "--data",
                        str(tmp_path / "d"), *map(str, args)], capture_output=True, text=True, timeout=20)
    assert r.returncode == 1, r.stderr
    assert "--curve" in r.stderr
    if problem != "allow-without-secret":
        assert os.path.basename(str(args[1])) in r.stderr
