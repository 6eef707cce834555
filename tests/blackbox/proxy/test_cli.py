"""courier-proxy command line (§4.1)."""
import os
import signal
import subprocess

import pytest

from cqp import free_port, pack

OPTIONS = ["--listen", "--data", "--heartbeat", "--max-message", "--max-journal-size",
           "--dedup-window", "--no-sync", "--log-level"]


def _run(argv, timeout=10, cwd=None):
    return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, cwd=cwd)


def test_help_exits_0_and_names_every_option(proxy_bin, tmp_path):
    r = _run([proxy_bin, "--help"], cwd=tmp_path)
    assert r.returncode == 0, r
    text = (r.stdout + r.stderr).decode("utf-8", "replace")
    missing = [o for o in OPTIONS if o not in text]
    assert not missing, "--help does not mention %s" % missing
    assert not os.path.exists(tmp_path / "courier-data"), "--help must not create the journal"


@pytest.mark.parametrize("opt,value", [
    ("--heartbeat", "abc"),
    ("--heartbeat", "-5"),
    ("--max-message", "12X"),
    ("--max-message", "lots"),
    ("--max-journal-size", "1T?"),
    ("--dedup-window", "two-minutes"),
    ("--log-level", "loud"),
])
def test_bad_option_value_exits_nonzero_naming_it(proxy_bin, tmp_path, opt, value):
    ep = "tcp://127.0.0.1:%d" % free_port()
    try:
        r = _run([proxy_bin, "--listen", ep, "--data", str(tmp_path / "d"), opt, value])
    except subprocess.TimeoutExpired:
        pytest.fail("courier-proxy %s %s did not exit (it should refuse the value)" % (opt, value))
    assert r.returncode != 0
    text = (r.stdout + r.stderr).decode("utf-8", "replace")
    assert opt in text, "message does not name %s: %r" % (opt, text[-500:])


def test_unknown_option_exits_nonzero(proxy_bin, tmp_path):
    r = _run([proxy_bin, "--data", str(tmp_path / "d"), "--frobnicate", "1"])
    assert r.returncode != 0
    assert "frobnicate" in (r.stdout + r.stderr).decode("utf-8", "replace")


def test_option_missing_its_value_exits_nonzero(proxy_bin, tmp_path):
    r = _run([proxy_bin, "--data", str(tmp_path / "d"), "--heartbeat"])
    assert r.returncode != 0
    assert "--heartbeat" in (r.stdout + r.stderr).decode("utf-8", "replace")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_exits_0_within_5s_with_busy_clients(proxies, connect, qname, sig):
    p = proxies.start()
    c = connect(p)
    q = qname()
    c.put_batch(q, [pack(i) for i in range(100)])
    c.consume(q, 10)                 # deliveries in flight at shutdown
    c.collect(10)
    rc, secs, killed = p.stop(sig, grace=5.0)
    assert not killed, "still running 5 s after %s" % sig.name
    assert rc == 0 and secs < 5.0, (rc, secs)
    with pytest.raises(ProcessLookupError):
        os.kill(p.pid, 0)


def test_data_dir_created_if_missing(proxies, connect, tmp_path, qname):
    data = tmp_path / "not" / "there" / "yet"
    assert not data.exists()
    # reading: "created if missing" includes missing parents (mkdir -p),
    # as a user pointing --data at a fresh path would expect
    p = proxies.start(data_dir=data)
    assert data.is_dir()
    c = connect(p)
    q = qname()
    c.put(q, b"x")
    c.close()
    p.restart()
    c = connect(p)
    assert c.qstats(q)["depth"] == 1
    assert any(data.iterdir()), "journal files live in --data"


def test_default_data_dir_is_courier_data_in_cwd(proxies, connect, tmp_path, qname):
    p = proxies.start(data_dir=None, cwd=tmp_path)
    c = connect(p)
    assert c.hello()["hb"] == 1000          # default --heartbeat
    c.put(qname(), b"x")
    assert (tmp_path / "courier-data").is_dir()


def test_ipc_endpoint(proxies, connect, tmp_path, qname):
    ep = "ipc://%s" % (tmp_path / "proxy.sock")
    p = proxies.start(endpoint=ep)
    c = connect(p)
    q = qname()
    c.put(q, b"over ipc")
    c.consume(q, 1)
    assert c.collect(1)[0]["body"] == b"over ipc"


def test_no_sync_still_confirms_and_survives_sigterm(proxies, connect, qname):
    p = proxies.start(extra=["--no-sync"])
    c = connect(p)
    q = qname()
    for i in range(20):
        c.put(q, pack(i))
    c.close()
    p.restart()
    c = connect(p)
    assert c.qstats(q)["depth"] == 20


@pytest.mark.parametrize("level", ["trace", "debug", "info", "warn", "error"])
def test_log_levels_accepted(proxies, level):
    p = proxies.start(extra=["--log-level", level])
    assert p.alive()


def test_size_suffixes_accepted(proxies, connect, qname):
    p = proxies.start(extra=["--max-message", "2M", "--max-journal-size", "1G",
                             "--dedup-window", "5000"])
    c = connect(p)
    q = qname()
    assert c.put(q, b"y" * (2 * 1024 * 1024))["seq"] >= 0
    tag = c.next_tag()
    c.send("PUT", {"q": q, "tag": tag}, b"y" * (2 * 1024 * 1024 + 1))
    c.expect_error(413, tag=tag)


def test_recovers_from_kill9_without_manual_step(proxies, connect, qname):
    p = proxies.start()
    c = connect(p)
    q = qname()
    c.put(q, b"before")
    c.close()
    for _ in range(3):
        p.kill9()
        p.start()
    c = connect(p)
    assert c.qstats(q)["depth"] == 1
