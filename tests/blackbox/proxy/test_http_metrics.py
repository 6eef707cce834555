"""courier-proxy --http: /metrics, /api/stats and the dashboard (docs/OPERATIONS.md).

Each test starts its own proxy with --http 127.0.0.1:0 --http-port-file and
reads the bound port from that file. /metrics is checked with the real
Prometheus parser (python3-prometheus-client), not with regular expressions.
"""
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cqp import pack, STATS_FIELDS, cpu_bound, wait_until

SNAPSHOT_WAIT = 5.0   # the loop publishes every 500 ms; generous for a busy machine


# -- helpers -----------------------------------------------------------------

def start_http_proxy(proxies, tmp_path, extra=()):
    port_file = tmp_path / ("http-port-%d" % time.monotonic_ns())
    p = proxies.start(extra=["--http", "127.0.0.1:0", "--http-port-file", str(port_file)] + list(extra))
    wait_until(port_file.exists, timeout=10, what="--http-port-file written")
    host, port = port_file.read_text().strip().rsplit(":", 1)
    assert host == "127.0.0.1", port_file.read_text()
    p.http = "http://127.0.0.1:%d" % int(port)
    return p


def get(p, path, method="GET", body=None, timeout=5):
    """(status, headers, body bytes) of one request; HTTP errors are returned, not raised."""
    req = urllib.request.Request(p.http + path, method=method, data=body)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def metrics(p, timeout=5):
    status, headers, body = get(p, "/metrics", timeout=timeout)
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers["Content-Type"]
    return {f.name: f for f in text_string_to_metric_families(body.decode())}


def sample(families, family, name=None, **labels):
    """The value of the one sample of `family` named `name` with these labels (None when absent)."""
    name = name or family
    found = [s.value for s in families[family].samples
             if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) <= 1, (family, labels, found)
    return found[0] if found else None


def api_stats(p, timeout=5):
    status, headers, body = get(p, "/api/stats", timeout=timeout)
    assert status == 200, body
    assert headers["Content-Type"].startswith("application/json"), headers["Content-Type"]
    return json.loads(body)


def listening_ports(pid):
    """TCP ports the process `pid` listens on (its socket inodes in /proc/net/tcp*)."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:   # 0A: LISTEN
                    ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


# -- /metrics ----------------------------------------------------------------

def test_metrics_parse_with_help_and_type_and_show_depth(proxies, connect, tmp_path, qname):
    p = start_http_proxy(proxies, tmp_path)
    c = connect(p)
    q = qname()
    for i in range(3):
        c.put(q, pack(i))
    fams = wait_until(lambda: (lambda f: f if sample(f, "courier_queue_depth", queue=q) == 3 else None)(metrics(p)),
                      timeout=SNAPSHOT_WAIT, what="courier_queue_depth 3")
    text = get(p, "/metrics")[2].decode()
    for name, family in fams.items():
        # the parser names a counter family without its _total (OpenMetrics style)
        shown = name + "_total" if family.type == "counter" else name
        assert "# HELP %s " % shown in text and "# TYPE %s %s\n" % (shown, family.type) in text, name
        assert family.type in ("gauge", "counter", "histogram"), (name, family.type)
    assert sample(fams, "courier_build_info", version=sample_version(text)) == 1
    assert sample(fams, "courier_queue_inflight", queue=q) == 0
    assert sample(fams, "courier_queue_delayed", queue=q) == 0
    assert sample(fams, "courier_queue_consumers", queue=q) == 0
    assert sample(fams, "courier_clients") >= 1
    assert sample(fams, "courier_uptime_seconds") > 0
    assert sample(fams, "courier_journal_used_bytes") > 0
    assert sample(fams, "courier_journal_map_bytes") <= sample(fams, "courier_journal_map_limit_bytes")
    assert fams["courier_messages_published"].type == "counter"
    assert sample(fams, "courier_messages_published", "courier_messages_published_total", queue=q) == 3


def sample_version(text):
    line = next(l for l in text.splitlines() if l.startswith("courier_build_info{"))
    return line.split('version="', 1)[1].split('"', 1)[0]


def test_counters_increase_as_messages_are_consumed(proxies, connect, tmp_path, qname):
    p = start_http_proxy(proxies, tmp_path, extra=["--max-journal-size", "64M"])
    c = connect(p)
    q = qname()
    c.put_batch(q, [pack(i) for i in range(5)])

    def counters():
        f = metrics(p)
        return {k: sample(f, "courier_messages_" + k, "courier_messages_%s_total" % k, queue=q)
                for k in ("published", "delivered", "acked", "redelivered", "dead_lettered", "dropped", "expired")}

    wait_until(lambda: counters()["published"] == 5, timeout=SNAPSHOT_WAIT, what="published_total 5")
    before = counters()
    assert before["delivered"] == 0 and before["acked"] == 0, before
    c.consume(q, 10)
    ds = c.collect(5)
    c.nack([ds[0]["d"]])            # requeued: delivered again, a redelivery
    again = c.collect(1)
    c.ack([d["d"] for d in ds[1:] + again])
    c.sync()
    after = wait_until(lambda: (lambda v: v if v["acked"] == 5 else None)(counters()),
                       timeout=SNAPSHOT_WAIT, what="acked_total 5")
    assert after["published"] == 5 and after["delivered"] == 6 and after["redelivered"] == 1, after
    assert after["dead_lettered"] == after["dropped"] == after["expired"] == 0, after
    fams = metrics(p)
    assert sample(fams, "courier_queue_depth", queue=q) == 0
    assert sample(fams, "courier_queue_consumers", queue=q) == 1
    assert sample(fams, "courier_journal_map_limit_bytes") == 64 << 20


def test_commit_histogram_buckets_are_cumulative_and_end_with_inf(proxies, connect, tmp_path, qname):
    p = start_http_proxy(proxies, tmp_path)
    c = connect(p)
    q = qname()
    for i in range(20):
        c.put(q, pack(i))               # one commit (and fsync) each at least
    wait_until(lambda: sample(metrics(p), "courier_journal_commit_seconds",
                              "courier_journal_commit_seconds_count") >= 20,
               timeout=SNAPSHOT_WAIT, what="20 commits counted")
    fam = metrics(p)["courier_journal_commit_seconds"]
    assert fam.type == "histogram"
    buckets = [(s.labels["le"], s.value) for s in fam.samples if s.name.endswith("_bucket")]
    count = next(s.value for s in fam.samples if s.name.endswith("_count"))
    total = next(s.value for s in fam.samples if s.name.endswith("_sum"))
    assert buckets[-1][0] == "+Inf" and buckets[-1][1] == count, buckets
    bounds = [float(le) for le, _ in buckets[:-1]]
    assert bounds == sorted(bounds) and len(set(bounds)) == len(bounds), bounds
    values = [v for _, v in buckets]
    assert values == sorted(values), "buckets must be cumulative: %r" % buckets
    assert total > 0 and total < count * 10, (total, count)


# -- /api/stats ----------------------------------------------------------------

def test_api_stats_has_the_stats_fields_and_rates(proxies, connect, tmp_path, qname):
    p = start_http_proxy(proxies, tmp_path)
    c = connect(p)
    q = qname()
    c.put_batch(q, [pack(i) for i in range(50)])
    s = wait_until(lambda: (lambda s: s if q in s["queues"] else None)(api_stats(p)),
                   timeout=SNAPSHOT_WAIT, what="queue in /api/stats")
    for k in ("version", "taken_ms", "interval_ms", "uptime_ms", "clients", "sessions", "journal", "queues"):
        assert k in s, (k, s)
    for k in ("used_bytes", "map_bytes", "map_limit_bytes", "commits", "commit_seconds_sum"):
        assert k in s["journal"], (k, s["journal"])
    entry = s["queues"][q]
    for k in list(STATS_FIELDS) + ["in_per_s", "out_per_s", "acked_per_s"]:
        assert k in entry, (k, entry)
    # The same figures as STATS once nothing moves (rates span up to 2 s).
    time.sleep(2.6)
    via_cqp = c.qstats(q)
    later = api_stats(p)
    entry = later["queues"][q]
    for k in STATS_FIELDS:
        assert entry[k] == via_cqp[k], (k, entry, via_cqp)
    assert entry["in_per_s"] == 0, "no PUT for 2.6 s, yet in_per_s = %r" % entry["in_per_s"]
    assert 1000 <= later["interval_ms"] <= 3000, later["interval_ms"]   # the rates' window, ~1-2 s

    # A burst of PUTs shows as a rate in the snapshot that follows it.
    c.put_batch(q, [pack(i) for i in range(200)])
    seen = wait_until(lambda: (lambda e: e if e["in_per_s"] > 0 else None)(api_stats(p)["queues"][q]),
                      timeout=SNAPSHOT_WAIT, what="in_per_s > 0 after 200 PUTs")
    # 200 messages over a window of 1-2 s (the first ones may be 0.5 s)
    assert seen["put"] == 250 and 200 / 2.6 <= seen["in_per_s"] <= 200 / 0.4, seen


# -- the dashboard and HTTP rules -------------------------------------------------

def test_dashboard_files_are_served_and_unknown_paths_get_404(proxies, tmp_path):
    p = start_http_proxy(proxies, tmp_path)
    status, headers, body = get(p, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html"), (status, headers)
    assert b"/dashboard.js" in body and b"<table" in body
    for path, kind in (("/dashboard.js", "text/javascript"), ("/dashboard.css", "text/css")):
        status, headers, body = get(p, path)
        assert status == 200 and headers["Content-Type"].startswith(kind) and len(body) > 100, (path, status)
    for path in ("/nope", "/metrics/x", "/api", "/api/stats/extra", "/../etc/passwd", "/index.html.bak",
                 "/%00", "/" + "a" * 3000):
        assert get(p, path)[0] == 404, path


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_get_405_and_change_nothing(proxies, connect, tmp_path, qname, method):
    p = start_http_proxy(proxies, tmp_path)
    c = connect(p)
    q = qname()
    c.put_batch(q, [pack(i) for i in range(3)])
    before = c.qstats(q)
    for path in ("/metrics", "/api/stats", "/", "/api/queues/" + q):
        status, headers, _ = get(p, path, method=method, body=b'{"purge": true}')
        assert status == 405, (method, path, status)
        assert "GET" in headers.get("Allow", ""), headers
    assert c.qstats(q) == before


def raw_get(port, host_header):
    """The status of GET /metrics sent with this Host header."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.putrequest("GET", "/metrics", skip_host=True)
        conn.putheader("Host", host_header)
        conn.endheaders()
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def test_a_foreign_host_header_is_refused_against_dns_rebinding(proxies, tmp_path):
    p = start_http_proxy(proxies, tmp_path)
    port = int(p.http.rsplit(":", 1)[1])
    for ok in ("127.0.0.1:%d" % port, "localhost:%d" % port, "localhost", "[::1]:%d" % port, "127.0.0.2"):
        assert raw_get(port, ok) == 200, ok
    for foreign in ("evil.example:%d" % port, "evil.example", "10.0.0.1:%d" % port, "localhost.evil.example",
                    "[::2]:%d" % port):
        assert raw_get(port, foreign) == 403, foreign


def test_http_is_off_by_default(proxies):
    p = proxies.start()
    zmq_port = int(p.endpoint.rsplit(":", 1)[1])
    assert listening_ports(p.pid) == {zmq_port}


def test_http_listens_on_exactly_one_more_port(proxies, tmp_path):
    p = start_http_proxy(proxies, tmp_path)
    zmq_port = int(p.endpoint.rsplit(":", 1)[1])
    http_port = int(p.http.rsplit(":", 1)[1])
    assert listening_ports(p.pid) == {zmq_port, http_port}


@pytest.mark.parametrize("address", ["0.0.0.0:0", "[::]:0", "192.0.2.1:9100", "example.com:9100"])
def test_non_loopback_host_is_refused_without_the_flag(proxy_bin, tmp_path, address):
    r = subprocess.run([proxy_bin, "--listen", "tcp://127.0.0.1:0", "--data", str(tmp_path / "d"),
                        "--http", address], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r
    assert "--http-allow-remote" in r.stderr and "loopback" in r.stderr, r.stderr
    assert not (tmp_path / "d").exists(), "refused before opening the journal"


@pytest.mark.parametrize("address", ["9100", "127.0.0.1", "127.0.0.1:70000", "127.0.0.1:-1", ":9100",
                                     "::1:9100", "127.0.0.1:9x"])
def test_malformed_http_address_is_refused(proxy_bin, tmp_path, address):
    r = subprocess.run([proxy_bin, "--listen", "tcp://127.0.0.1:0", "--data", str(tmp_path / "d"),
                        "--http", address], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "--http" in r.stderr and "HOST:PORT" in r.stderr, r


def test_port_file_without_http_is_refused(proxy_bin, tmp_path):
    r = subprocess.run([proxy_bin, "--data", str(tmp_path / "d"), "--http-port-file", str(tmp_path / "f")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "needs --http" in r.stderr, r


def test_remote_host_is_served_with_the_flag(proxies, tmp_path):
    port_file = tmp_path / "port"
    p = proxies.start(extra=["--http", "0.0.0.0:0", "--http-allow-remote", "--http-port-file", str(port_file)])
    wait_until(port_file.exists, timeout=10, what="--http-port-file written")
    host, port = port_file.read_text().strip().rsplit(":", 1)
    assert host == "0.0.0.0"
    p.http = "http://127.0.0.1:%s" % port
    assert get(p, "/metrics")[0] == 200
    assert raw_get(int(port), "courier.example.com:%s" % port) == 200   # any name, once allowed


def test_a_taken_port_is_a_clear_error(proxy_bin, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = subprocess.run([proxy_bin, "--listen", "tcp://127.0.0.1:0", "--data", str(tmp_path / "d"),
                            "--http", "127.0.0.1:%d" % port], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "cannot listen" in r.stderr, r


def test_hostile_http_input_neither_crashes_nor_changes_a_queue(proxies, connect, tmp_path, qname):
    p = start_http_proxy(proxies, tmp_path)
    c = connect(p)
    q = qname()
    c.put_batch(q, [pack(i) for i in range(4)])
    before = c.qstats(q)
    port = int(p.http.rsplit(":", 1)[1])
    garbage = [
        b"\x00\xff\x13\x37" * 1000,
        b"GET /metrics HTTP/1.1\r\n" + b"X: " + b"a" * 100000 + b"\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /api/stats HTTP/1.1\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000,
        b"GET " + b"/" * 70000 + b" HTTP/1.1\r\n\r\n",
        b"GET /metrics HTTP/9.9\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\n",   # then the connection closes half-way
        b"\r\n\r\n\r\n",
    ]
    for g in garbage:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            try:
                s.sendall(g)
                s.shutdown(socket.SHUT_WR)
                s.recv(65536)
            except OSError:
                pass                    # a reset is a fine answer to garbage
    # More idle connections than worker threads (4): each holds a worker
    # until its 2 s read timeout, so /metrics is late but never stuck.
    idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(16)]
    try:
        assert p.alive(), p.log_tail()
        assert c.qstats(q) == before

        def served():
            try:
                return sample(metrics(p), "courier_queue_depth", queue=q) == 4
            except OSError:             # timed out waiting behind the idle ones
                return False
        wait_until(served, timeout=30, what="/metrics served despite 16 idle connections")
    finally:
        for s in idle:
            s.close()
    assert p.alive(), p.log_tail()


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@cpu_bound
def test_snapshots_of_100k_idle_queues_cost_little_cpu(proxies, connect, tmp_path, qname):
    p = start_http_proxy(proxies, tmp_path)
    c = connect(p, hello=False)
    base = qname(".")
    N, CHUNK = 100000, 5000
    for k in range(0, N, CHUNK):
        for i in range(k, k + CHUNK):
            c.send("DECLARE", {"q": "%s%06d" % (base, i)})
        for _ in range(CHUNK):
            assert c.recv(timeout=20).cmd == "DECLARED"
    c.ping()
    wait_until(lambda: len(api_stats(p, timeout=120)["queues"]) == N, timeout=60, what="100k queues in /api/stats")
    time.sleep(0.5)
    t0, c0 = time.monotonic(), cpu_seconds(p.pid)
    time.sleep(4.0)
    share = (cpu_seconds(p.pid) - c0) / (time.monotonic() - t0)
    # Snapshots are taken less often when they are big (at most 1/20 of the
    # loop's time); the idle proxy without --http uses ~0 %.
    assert share < 0.10, "idle with %d queues and --http the proxy uses %.1f %% of a core" % (N, share * 100)
    t = time.monotonic()
    c.ping()
    assert time.monotonic() - t < 0.25, "PING late while snapshots are taken"
    # 52 MB of text: a second or less, several under sanitizers
    fams = metrics(p, timeout=120)
    assert len(fams["courier_queue_depth"].samples) == N


def test_sigterm_stops_promptly_with_http_connections_open(proxies, tmp_path):
    p = start_http_proxy(proxies, tmp_path)
    port = int(p.http.rsplit(":", 1)[1])
    import http.client
    keep_alive = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    keep_alive.request("GET", "/metrics")
    assert keep_alive.getresponse().read()          # the connection stays open
    idle = socket.create_connection(("127.0.0.1", port), timeout=5)
    half = socket.create_connection(("127.0.0.1", port), timeout=5)
    half.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")   # never finished
    try:
        rc, secs, killed = p.stop(grace=10.0)
        assert not killed and rc == 0, p.log_tail()
        assert secs < 4.0, "stopping took %.1f s with HTTP connections open" % secs
    finally:
        for s in (idle, half):
            s.close()
        keep_alive.close()
