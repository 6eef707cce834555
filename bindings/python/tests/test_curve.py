"""CurveZMQ from Python: courier.Curve on the socket owners, certificates
shared with pyzmq's zmq.auth, a CURVE courier-proxy with an allow-list."""

import os
import subprocess
import sys

import pytest

import courier

zmq_auth = pytest.importorskip("zmq.auth")


@pytest.fixture
def certs(tmp_path):
    """server, client and stranger certificates written by zmq.auth; only
    the client's public certificate is in the allow-list directory."""
    made = {}
    for name in ("server", "client", "stranger"):
        public_file, secret_file = zmq_auth.create_certificates(str(tmp_path), name)
        made[name] = (public_file, secret_file)
    allow = tmp_path / "allowed"
    allow.mkdir()
    os.link(made["client"][0], allow / "client.key")
    made["allow"] = str(allow)
    return made


def keys_of(certs, name):
    return courier.load_certificate(certs[name][1])


# ---------------------------------------------------------------- certificates

def test_certificates_written_by_pyzmq_are_read_with_the_same_keys(certs):
    public, secret = zmq_auth.load_certificate(certs["server"][1])
    assert courier.load_certificate(certs["server"][1]) == (public.decode(), secret.decode())
    assert courier.load_certificate(certs["server"][0]) == (public.decode(), None)


def test_certificates_saved_by_courier_are_read_by_pyzmq(tmp_path):
    pair = courier.new_curve_key_pair()
    courier.save_certificate(pair, tmp_path / "svc")
    public, secret = zmq_auth.load_certificate(str(tmp_path / "svc.key_secret"))
    assert (public.decode(), secret.decode()) == pair
    assert (tmp_path / "svc.key_secret").stat().st_mode & 0o777 == 0o600
    with pytest.raises(courier.ConfigError, match="never overwritten"):
        courier.save_certificate(pair, tmp_path / "svc")


def test_new_key_pairs_are_z85_and_distinct():
    a, b = courier.new_curve_key_pair(), courier.new_curve_key_pair()
    assert a != b and all(len(k) == 40 for k in a + b)


def test_a_missing_certificate_is_a_config_error_naming_the_file(tmp_path):
    with pytest.raises(courier.ConfigError, match="nothing-here.key"):
        courier.load_certificate(tmp_path / "nothing-here.key")


def test_curve_takes_pyzmq_bytes_keys_and_never_shows_the_secret(certs):
    public, secret = zmq_auth.load_certificate(certs["server"][1])
    c = courier.Curve(server=True, keys=(public, secret), allow_dir=certs["allow"])
    assert (c.public_key, c.has_secret_key, c.server, c.allow_dir, c.enabled) == (
        public.decode(), True, True, certs["allow"], True)
    assert secret.decode() not in repr(c) and "<hidden>" in repr(c)
    assert not courier.Curve().enabled
    assert courier.Curve(server_key=public).enabled


def test_bad_keys_are_refused_with_the_option_named():
    with pytest.raises(TypeError, match="server_key"):
        courier.Curve(server_key=42)
    with pytest.raises(TypeError, match="public, secret"):
        courier.Curve(keys="not-a-pair")
    with pytest.raises(courier.ConfigError):
        courier.Push(curve=courier.Curve(server_key="too-short")).connect("tcp://127.0.0.1:1")


# ---------------------------------------------------------------- Push / Pull

def curve_pull(certs):
    pull = courier.Pull(curve=courier.Curve(server=True, keys=keys_of(certs, "server"), allow_dir=certs["allow"]))
    pull.bind("tcp://127.0.0.1:*")
    return pull


def test_push_with_an_allowed_key_reaches_a_curve_pull(certs):
    server_public = keys_of(certs, "server")[0]
    with curve_pull(certs) as pull, courier.Push(
            curve=courier.Curve(server_key=server_public, keys=keys_of(certs, "client"))) as push:
        push.connect(pull.last_endpoint)
        assert push.send({"secret": "hello"}, timeout=5)
        assert pull.receive(timeout=5) == {"secret": "hello"}


def test_push_with_an_unknown_key_or_no_curve_never_reaches_the_pull(certs):
    server_public = keys_of(certs, "server")[0]
    options = courier.SocketOptions(immediate=True, linger=0)
    with curve_pull(certs) as pull, \
            courier.Push(socket=options, curve=courier.Curve(server_key=server_public,
                                                             keys=keys_of(certs, "stranger"))) as stranger, \
            courier.Push(socket=options) as plain:
        stranger.connect(pull.last_endpoint)
        plain.connect(pull.last_endpoint)
        # immediate=True: a refused handshake leaves no connection to queue on.
        assert not stranger.send("from the stranger", timeout=1.0)
        assert not plain.send("in clear text", timeout=0.5)
        with pytest.raises(courier.TimeoutError):
            pull.receive(timeout=0.5)


# ---------------------------------------------------------------- the proxy

@pytest.fixture
def curve_proxy(start_proxy, certs):
    server_public = keys_of(certs, "server")[0]
    client_public, client_secret = keys_of(certs, "client")
    return start_proxy(args=["--curve-secret", certs["server"][1], "--curve-allow", certs["allow"]],
                       ready_keys=(server_public, client_public, client_secret))


def client_curve(certs, name="client"):
    return courier.Curve(server_key=keys_of(certs, "server")[0], keys=keys_of(certs, name))


def test_producer_and_consumer_with_allowed_keys_use_a_curve_proxy(curve_proxy, certs, qname):
    with courier.Producer(curve_proxy.endpoint, curve=client_curve(certs)) as producer:
        seqs = [producer.publish(qname, {"n": i}, timeout=10) for i in range(3)]
    assert len(set(seqs)) == 3
    with courier.Consumer(qname, curve_proxy.endpoint, curve=client_curve(certs)) as consumer:
        got = []
        for _ in range(3):
            d = consumer.receive(timeout=10)
            got.append(d.body["n"])
            d.ack()
    assert got == [0, 1, 2]
    with courier.Admin(curve_proxy.endpoint, curve=client_curve(certs)) as admin:
        assert admin.stats(qname).acked == 3


# Run in a child process: a refused client must also close in bounded time
# (libzmq may end a refused socket's session for good; a send that waited
# for it for ever once hung close()), and a hang must fail the test, not
# stall the suite.
REFUSED_CLIENTS = """
import sys, time, courier
endpoint, server_cert, stranger_cert, queue = sys.argv[1:5]
curve = courier.Curve(server_key=courier.load_certificate(server_cert)[0],
                      keys=courier.load_certificate(stranger_cert))
closes = []
def closed(obj):
    start = time.monotonic(); obj.close(); closes.append(time.monotonic() - start)
p = courier.Producer(endpoint, curve=curve, close_timeout=0.2)
assert not p.wait_connected(1.0)
try:
    p.publish(queue, "must not be stored", timeout=1.0)
    raise SystemExit("published through a refused key")
except courier.TimeoutError:
    pass
closed(p)
a = courier.Admin(endpoint, curve=curve, timeout=1.0)
try:
    a.stats()
    raise SystemExit("stats through a refused key")
except courier.TimeoutError:
    pass
closed(a)
lock = courier.Lock("lock." + queue, endpoint, curve=curve, heartbeat=0.1)
assert lock.try_acquire(0.5) is None
time.sleep(0.5)  # heartbeats go out on the refused socket meanwhile
closed(lock)
c = courier.Consumer(queue, endpoint, curve=curve, heartbeat=0.1)
assert not c.wait_consuming(0.5)
closed(c)
print("closes", " ".join("%.3f" % t for t in closes))
"""


def test_a_refused_key_times_out_closes_promptly_and_nothing_it_sends_is_stored(curve_proxy, certs, qname):
    child = subprocess.run([sys.executable, "-c", REFUSED_CLIENTS, curve_proxy.endpoint, certs["server"][0],
                            certs["stranger"][1], qname], capture_output=True, text=True, timeout=60, cwd="/")
    assert child.returncode == 0, child.stdout + child.stderr
    closes = [float(t) for t in child.stdout.split()[1:]]
    assert len(closes) == 4 and max(closes) < 3.0, closes
    with courier.Admin(curve_proxy.endpoint, curve=client_curve(certs)) as admin:
        assert admin.stats(qname) is None  # no queue: not one message got in


def test_a_plain_client_gets_nothing_from_a_curve_proxy(curve_proxy, certs, qname):
    with courier.Consumer(qname, curve_proxy.endpoint) as plain:
        assert not plain.wait_consuming(1.0)
    with courier.Producer(curve_proxy.endpoint, close_timeout=0.2) as plain:
        assert not plain.wait_connected(0.5)


def test_request_reply_over_curve(certs):
    server_curve = courier.Curve(server=True, keys=keys_of(certs, "server"), allow_dir=certs["allow"])
    with courier.Server(curve=server_curve) as server, courier.Client(curve=client_curve(certs)) as client:
        server.bind("tcp://127.0.0.1:*")
        client.connect(server.last_endpoint)
        future = client.request_async({"x": 2}, timeout=5)
        request = server.receive(timeout=5)
        request.reply(request.body["x"] * 21)
        assert future.result(5) == 42
