"""Queues sharded over several proxies (issue 12, docs/scaling.md).

Three courier-proxy processes (and, where the test says so, one etcd) on
free ports; the shard map is a JSON file or an etcd key.  Checked here:
`courier stats --shards` prints one table for all proxies, also when one is
dead; `courier owner` routes like the documented score (reimplemented below
in Python, as a pyzmq user would); single-queue commands go to the owner;
`courier move` under load loses and duplicates nothing, and a move killed
mid-drain finishes exactly once when rerun; with etcd down a file map still
works and a running client keeps its last map.
"""
import base64
import collections
import json
import math
import os
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import urllib.request

import msgpack
import pytest
import zmq

sys.path.insert(0, os.path.dirname(__file__))
from conftest import Proxy, free_port, pack, socket_of, unpack  # noqa: E402

ETCD = "/usr/bin/etcd"
HB = 200   # proxies' --heartbeat: a killed client's deliveries come back after 3 x 200 ms


# -- the score, from docs/scaling.md (what any client implements) -------------------

M64 = (1 << 64) - 1


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for c in data:
        h = ((h ^ c) * 0x100000001b3) & M64
    return h


def splitmix64(x):
    x = (x + 0x9e3779b97f4a7c15) & M64
    x = ((x ^ (x >> 30)) * 0xbf58476d1ce4e5b9) & M64
    x = ((x ^ (x >> 27)) * 0x94d049bb133111eb) & M64
    return x ^ (x >> 31)


def score(proxy, queue, weight=1.0):
    h = splitmix64(fnv1a64((proxy + "/" + queue).encode()))
    u = ((h >> 11) + 0.5) / float(1 << 53)
    return weight / -math.log(u)


def owner(smap, queue):
    if queue in smap.get("pins", {}):
        return smap["pins"][queue]
    best = None
    for p in smap["proxies"]:
        s = score(p["name"], queue, p.get("weight", 1.0))
        if best is None or s > best[0] or (s == best[0] and p["name"] < best[1]):
            best = (s, p["name"])
    return best[1]


# -- fixtures ------------------------------------------------------------------------

class Cluster:
    def __init__(self, proxy_bin, tmp):
        self.tmp = tmp
        self.proxies = collections.OrderedDict()
        for name in ("a", "b", "c"):
            d = tmp / name
            d.mkdir()
            self.proxies[name] = Proxy(proxy_bin, d / "data", d / "proxy.log", heartbeat=HB).start()
        self.map_path = str(tmp / "map.json")
        self.write_map(self.map())

    def map(self, version=1, pins=None):
        m = {"version": version,
             "proxies": [{"name": n, "endpoint": p.endpoint} for n, p in self.proxies.items()]}
        if pins:
            m["pins"] = pins
        return m

    def write_map(self, m):
        with open(self.map_path, "w") as f:
            json.dump(m, f)

    def read_map(self):
        with open(self.map_path) as f:
            return json.load(f)

    def stop(self):
        for p in self.proxies.values():
            p.stop()


@pytest.fixture
def cluster(proxy_bin, tmp_path):
    c = Cluster(proxy_bin, tmp_path)
    yield c
    c.stop()


class Etcd:
    def __init__(self, tmp):
        self.port, peer = free_port(), free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log = open(str(tmp / "etcd.log"), "wb")
        self.proc = subprocess.Popen(
            [ETCD, "--name", "bb", "--data-dir", str(tmp / "etcd-data"),
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", "http://127.0.0.1:%d" % peer,
             "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer,
             "--initial-cluster", "bb=http://127.0.0.1:%d" % peer],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while True:
            try:
                self.get("/courier/ready-probe")
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError("etcd did not start; see %s" % (tmp / "etcd.log"))
                time.sleep(0.1)

    def _post(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=3) as r:
            return json.loads(r.read())

    def put(self, key, value):
        self._post("/v3/kv/put", {"key": base64.b64encode(key.encode()).decode(),
                                  "value": base64.b64encode(value.encode()).decode()})

    def get(self, key):
        r = self._post("/v3/kv/range", {"key": base64.b64encode(key.encode()).decode()})
        kvs = r.get("kvs") or []
        return base64.b64decode(kvs[0]["value"]).decode() if kvs else None

    def spec(self, key):
        return "etcd://127.0.0.1:%d%s" % (self.port, key)

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()


@pytest.fixture
def etcd(tmp_path):
    if not os.access(ETCD, os.X_OK):
        pytest.skip("etcd is not installed (Debian package etcd-server; scripts/setup-deps.sh)")
    e = Etcd(tmp_path)
    yield e
    e.stop()


# -- raw CQP1 helpers (pyzmq + msgpack only) ------------------------------------------

class Raw:
    def __init__(self, endpoint):
        self.ctx = zmq.Context.instance()
        self.s = socket_of(self.ctx, zmq.DEALER, 5000)
        self.s.connect(endpoint)

    def call(self, cmd, header, *bodies, want=None):
        self.s.send_multipart([b"CQP1", cmd.encode(), pack(header)] + list(bodies))
        while True:
            f = self.s.recv_multipart()
            if want is None or f[1].decode() in want:
                return f[1].decode(), unpack(f[2]), f[3:]

    def stats(self, q=None):
        return self.call("STATS", {} if q is None else {"q": q}, want=("STATS",))[1]["queues"]

    def put_many(self, q, bodies, ids=None):
        for i in range(0, len(bodies), 500):
            h = {"q": q, "tag": i + 1, "n": len(bodies[i:i + 500])}
            if ids is not None:
                h["ids"] = ids[i:i + 500]
            cmd, hh, _ = self.call("PUT", h, *bodies[i:i + 500], want=("CONFIRM", "ERROR"))
            assert cmd == "CONFIRM", hh

    def drain(self, q, quiet=1.0):
        """Every message of q as (id, body), acked; stops after `quiet` s of nothing."""
        self.s.send_multipart([b"CQP1", b"CONSUME", pack({"q": q, "credit": 1000, "batch": 500})])
        out = []
        while self.s.poll(int(quiet * 1000)):
            f = self.s.recv_multipart()
            if f[1] != b"DELIVER":
                continue
            h = unpack(f[2])
            if "n" in h:
                out += list(zip(h["id"], [unpack(b) for b in f[3:]]))
                self.s.send_multipart([b"CQP1", b"ACK", pack({"d": h["d"]})])
            else:
                out.append((h.get("id"), unpack(f[3])))
                self.s.send_multipart([b"CQP1", b"ACK", pack({"d": [h["d"]]})])
        return out

    def close(self):
        self.s.close(0)


def held(st):
    return st["depth"] + st["inflight"] + st["delayed"]


def run_ok(cli, *args, **kw):
    r = cli.run(*args, **kw)
    assert r.returncode == 0, "courier %s -> %d\n%s" % (" ".join(map(str, args)), r.returncode, r.stderr)
    return r


# -- stats ------------------------------------------------------------------------------

def test_stats_prints_one_table_for_three_proxies_with_owners_and_totals(cli, cluster):
    smap = cluster.map()
    queues = ["orders", "jobs", "mail", "audit", "billing", "events"]
    for i, q in enumerate(queues):
        run_ok(cli, "publish", q, *[str(k) for k in range(i + 1)], "--shards", cluster.map_path)
    # one copy where the map does not send it, and one marked moved
    stray = next(n for n in cluster.proxies if n != owner(smap, "orders"))
    run_ok(cli, "publish", "orders", "99", "--proxy", cluster.proxies[stray].endpoint)
    r = run_ok(cli, "stats", "--shards", cluster.map_path)
    lines = r.stdout.splitlines()
    print(r.stdout)
    for i, q in enumerate(queues):
        row = [ln.split() for ln in lines if ln.split()[:1] == [q] and ln.split()[1] == owner(smap, q)]
        assert row and row[0][2] == owner(smap, q) and row[0][3] == str(i + 1), (q, r.stdout)
    stray_row = [ln for ln in lines if ln.startswith("orders") and ln.split()[1] == stray]
    assert stray_row and "not the owner (%s)" % owner(smap, "orders") in stray_row[0], r.stdout
    per_proxy = [ln.split() for ln in lines if ln.startswith("(proxy)")]
    assert [p[1] for p in per_proxy] == ["a", "b", "c"]
    total = [ln.split() for ln in lines if ln.startswith("TOTAL")][0]
    assert total[1] == "3/3" and total[3] == str(sum(range(1, 7)) + 1), r.stdout
    assert "3 proxies, 3 answered" in lines[-1]

    j = json.loads(run_ok(cli, "stats", "--shards", cluster.map_path, "--json").stdout)
    assert j["totals"]["depth"] == 22 and j["unreachable"] == []
    assert j["queues"]["orders"]["owner"] == owner(smap, "orders")
    assert sorted(j["queues"]["orders"]["proxies"]) == sorted([owner(smap, "orders"), stray])
    got = {p["name"]: p for p in j["proxies"]}
    assert got[stray]["queues"]["orders"]["misplaced"] is True
    # one queue across every proxy
    j = json.loads(run_ok(cli, "stats", "orders", "--shards", cluster.map_path, "--json").stdout)
    assert set(j["queues"]) == {"orders"} and j["queues"]["orders"]["depth"] == 2


def test_dead_proxy_is_shown_unreachable_while_the_others_print(cli, cluster):
    for q in ("q1", "q2", "q3", "q4", "q5"):
        run_ok(cli, "publish", q, "1", "--shards", cluster.map_path)
    cluster.proxies["b"].stop()
    t0 = time.monotonic()
    r = cli.run("stats", "--shards", cluster.map_path, "--timeout", "1")
    took = time.monotonic() - t0
    assert r.returncode == 2, r.stderr       # documented: 2 when any proxy is unreachable
    assert took < 4, "one timeout for all proxies, not one each: %.1f s" % took
    lines = r.stdout.splitlines()
    dead = [ln for ln in lines if ln.startswith("(proxy)") and ln.split()[1] == "b"]
    assert dead and "UNREACHABLE" in dead[0] and "no answer within 1 s" in dead[0], r.stdout
    alive = [ln.split()[1] for ln in lines if ln.startswith("(proxy)") and "UNREACHABLE" not in ln]
    assert alive == ["a", "c"], r.stdout
    assert "1 UNREACHABLE" in lines[-1] and "proxy b" in r.stderr
    j = json.loads(cli.run("stats", "--shards", cluster.map_path, "--timeout", "1", "--json").stdout)
    assert j["unreachable"] == ["b"]
    assert [p["ok"] for p in j["proxies"]] == [True, False, True]


# -- routing -----------------------------------------------------------------------------

def test_routing_spreads_10000_queue_names_and_matches_the_documented_score(cli, cluster, tmp_path):
    names = ["queue-%05d" % i for i in range(10000)]
    r = run_ok(cli, "owner", "--shards", cluster.map_path, input="\n".join(names) + "\n", timeout=60)
    got = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert [g["q"] for g in got] == names
    smap = cluster.map()
    mismatched = [g["q"] for g in got if g["proxy"] != owner(smap, g["q"])]
    assert not mismatched, "the CLI and the documented score disagree on %r" % mismatched[:5]
    spread = collections.Counter(g["proxy"] for g in got)
    print("spread of 10000 queues over 3 proxies:", dict(sorted(spread.items())))
    for n in "abc":
        assert abs(spread[n] - 10000 / 3) < 10000 * 0.06, spread
    # a fourth proxy takes about a quarter, and only from the others
    m4 = dict(smap)
    m4["proxies"] = smap["proxies"] + [{"name": "d", "endpoint": "tcp://127.0.0.1:1"}]
    p4 = str(tmp_path / "map4.json")
    with open(p4, "w") as f:
        json.dump(m4, f)
    got4 = [json.loads(ln) for ln in run_ok(cli, "owner", "--shards", p4, input="\n".join(names) + "\n",
                                              timeout=60).stdout.splitlines()]
    moved = [(a["proxy"], b["proxy"]) for a, b in zip(got, got4) if a["proxy"] != b["proxy"]]
    print("adding a 4th proxy moved %d of 10000 queues" % len(moved))
    assert all(to == "d" for _, to in moved)
    assert abs(len(moved) - 2500) < 10000 * 0.05


def test_single_queue_commands_go_to_the_owner(cli, cluster):
    smap = cluster.map()
    q = "routed-queue"
    own = owner(smap, q)
    run_ok(cli, "declare", q, "--max-length", "100", "--shards", cluster.map_path)
    run_ok(cli, "publish", q, "1", "2", "3", "--shards", cluster.map_path)
    for n, p in cluster.proxies.items():
        raw = Raw(p.endpoint)
        st = raw.stats(q)
        raw.close()
        assert (q in st) == (n == own), (n, own, st)
    r = run_ok(cli, "consume", q, "--count", "1", "--shards", cluster.map_path)
    assert json.loads(r.stdout) == 1
    r = run_ok(cli, "purge", q, "--shards", cluster.map_path)
    assert json.loads(r.stdout)["removed"] == 2
    lock = "routed-lock"
    r = run_ok(cli, "lock", lock, "--shards", cluster.map_path, "--timeout", "5", "--",
               "sh", "-c", "echo fence=$COURIER_FENCE")
    assert r.stdout.startswith("fence=")
    raw = Raw(cluster.proxies[owner(smap, lock)].endpoint)
    assert raw.stats(lock)[lock]["tokens"] == 1
    raw.close()


def test_shards_and_proxy_exclude_each_other(cli, cluster):
    both = ["--shards", cluster.map_path, "--proxy", "tcp://127.0.0.1:1"]
    for cmd in (["publish", "q", "1"] + both, ["consume", "q"] + both, ["declare", "q"] + both,
                ["purge", "q"] + both, ["stats"] + both, ["lock", "q"] + both + ["--", "true"]):
        r = cli.run(*cmd)
        assert r.returncode == 1, (cmd, r.stderr)
        assert "--shards" in r.stderr and "--proxy" in r.stderr, r.stderr
    r = cli.run("stats", "--shards", str(cluster.tmp / "nope.json"))
    assert r.returncode == 1 and "nope.json" in r.stderr


# -- move --------------------------------------------------------------------------------

class FollowingPublisher(threading.Thread):
    """A pyzmq producer that routes by the map (re-read on 421, following
    `moved_to` when the map still names the old proxy), resending a refused
    PUT with the same id.  confirmed[id] counts CONFIRMs per id."""

    def __init__(self, cluster, q, spec_map, prefix):
        super().__init__(daemon=True)
        self.cluster, self.q, self.read_map, self.prefix = cluster, q, spec_map, prefix
        self.stop_flag = threading.Event()
        self.confirmed = collections.Counter()
        self.refused = 0
        self.error = None

    def run(self):
        try:
            ctx = zmq.Context.instance()
            socks = {}

            def sock(name):
                if name not in socks:
                    socks[name] = socket_of(ctx, zmq.DEALER, 5000)
                    socks[name].connect(self.cluster.proxies[name].endpoint)
                return socks[name]

            target = owner(self.read_map(), self.q)
            i = 0
            while not self.stop_flag.is_set():
                i += 1
                mid = "%s-%d" % (self.prefix, i)
                while True:
                    s = sock(target)
                    s.send_multipart([b"CQP1", b"PUT", pack({"q": self.q, "tag": i, "id": mid}), pack(i)])
                    f = s.recv_multipart()
                    h = unpack(f[2])
                    if f[1] == b"CONFIRM":
                        self.confirmed[mid] += 1
                        break
                    assert f[1] == b"ERROR" and h["code"] == 421, (f[1], h)
                    self.refused += 1
                    nxt = owner(self.read_map(), self.q)
                    target = nxt if nxt != target else h["moved_to"]
            for s in socks.values():
                s.close(0)
        except Exception as e:     # reported by the test
            self.error = e


def _move_under_load(cli, cluster, spec, read_map):
    q = "moving"
    old = owner(read_map(), q)
    new = next(n for n in "abc" if n != old)
    raw_old = Raw(cluster.proxies[old].endpoint)
    pre = 4000
    raw_old.put_many(q, [pack(-k) for k in range(pre)], ids=["pre-%d" % k for k in range(pre)])
    pub = FollowingPublisher(cluster, q, read_map, "load")
    pub.start()
    time.sleep(0.5)
    r = cli.run("move", q, "--to", new, "--shards", spec, timeout=60)
    time.sleep(0.5)                       # the publisher goes on after the move, on the new owner
    pub.stop_flag.set()
    pub.join(10)
    assert pub.error is None, pub.error
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    print(r.stderr, r.stdout, "publisher: %d confirmed, %d refused with 421"
          % (sum(pub.confirmed.values()), pub.refused))
    assert out["to"] == new and out["from"].get(old, 0) >= pre and out["moved"] >= pre
    assert pub.refused >= 1, "the publisher never met the move (it ran too short?)"
    assert all(v == 1 for v in pub.confirmed.values())
    # the old copy is empty and marked; the map pins the queue
    st = raw_old.stats(q)[q]
    assert held(st) == 0 and st["moved_to"] == new, st
    raw_old.close()
    assert read_map()["pins"][q] == new
    # every id exactly once on the new owner
    raw_new = Raw(cluster.proxies[new].endpoint)
    got = raw_new.drain(q)
    raw_new.close()
    ids = collections.Counter(i for i, _ in got)
    dups = [i for i, n in ids.items() if n > 1]
    want = set("pre-%d" % k for k in range(pre)) | set(pub.confirmed)
    assert not dups, "duplicated on the new owner: %r" % dups[:10]
    assert set(ids) == want, "lost: %r; extra: %r" % (sorted(want - set(ids))[:10], sorted(set(ids) - want)[:10])
    for n, p in cluster.proxies.items():
        if n not in (old, new):
            raw = Raw(p.endpoint)
            assert q not in raw.stats(q)
            raw.close()
    return len(got)


def test_move_under_load_with_a_file_map_loses_and_duplicates_nothing(cli, cluster):
    n = _move_under_load(cli, cluster, cluster.map_path, cluster.read_map)
    print("drained %d distinct messages from the new owner" % n)


def test_move_under_load_with_an_etcd_map_loses_and_duplicates_nothing(cli, cluster, etcd):
    key = "/courier/shards"
    etcd.put(key, json.dumps(cluster.map()))
    n = _move_under_load(cli, cluster, etcd.spec(key), lambda: json.loads(etcd.get(key)))
    print("drained %d distinct messages from the new owner (etcd map)" % n)
    assert json.loads(etcd.get(key))["version"] == 2


def test_interrupted_move_rerun_finishes_exactly_once(cli, cluster):
    q = "interrupted"
    old = owner(cluster.map(), q)
    new = next(n for n in "abc" if n != old)
    raw_old = Raw(cluster.proxies[old].endpoint)
    total = 3000
    # half with producer ids, half without (the move derives stable ones)
    raw_old.put_many(q, [pack(k) for k in range(0, total, 2)], ids=["id-%d" % k for k in range(0, total, 2)])
    raw_old.put_many(q, [pack(k) for k in range(1, total, 2)])
    raw_new = Raw(cluster.proxies[new].endpoint)
    p = cli.start("move", q, "--to", new, "--shards", cluster.map_path, "--rate", "600")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        st = raw_new.stats(q).get(q)
        if st and st["depth"] >= 600:
            break
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)      # mid-drain: confirmed on the new owner, not yet acked on the old
    p.wait(5)
    moved_before = raw_new.stats(q)[q]["depth"]
    left = held(raw_old.stats(q)[q])
    assert 0 < moved_before < total and left > 0, (moved_before, left)
    assert raw_old.stats(q)[q]["moved_to"] == new
    r = cli.run("move", q, "--to", new, "--shards", cluster.map_path, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    print("killed after %d moved; the rerun: %s" % (moved_before, r.stdout.strip()))
    assert "finishing an earlier move" in r.stderr
    assert held(raw_old.stats(q)[q]) == 0
    got = raw_new.drain(q)
    bodies = collections.Counter(b for _, b in got)
    assert sorted(bodies) == list(range(total)), "lost: %r" % sorted(set(range(total)) - set(bodies))[:10]
    assert max(bodies.values()) == 1, "duplicated: %r" % [b for b, n in bodies.items() if n > 1][:10]
    ids = dict((b, i) for i, b in got)
    assert all(ids[k] == "id-%d" % k for k in range(0, total, 2))
    assert all(ids[k].startswith("courier-move:%s:" % old) for k in range(1, total, 2))
    # a third run has nothing left to do
    r = cli.run("move", q, "--to", new, "--shards", cluster.map_path)
    assert r.returncode == 1 and "nothing to move" in r.stderr
    raw_old.close()
    raw_new.close()


def test_move_refuses_current_owner_unknown_proxy_and_token_queues(cli, cluster):
    q = "stay"
    own = owner(cluster.map(), q)
    run_ok(cli, "publish", q, "1", "--shards", cluster.map_path)
    r = cli.run("move", q, "--to", own, "--shards", cluster.map_path)
    assert r.returncode == 1 and "already lives on proxy %s" % own in r.stderr, r.stderr
    r = cli.run("move", q, "--to", "zz", "--shards", cluster.map_path)
    assert r.returncode == 1 and "unknown proxy 'zz'" in r.stderr and "a, b, c" in r.stderr, r.stderr
    run_ok(cli, "lock", "a-lock", "--shards", cluster.map_path, "--", "true")
    other = next(n for n in "abc" if n != owner(cluster.map(), "a-lock"))
    r = cli.run("move", "a-lock", "--to", other, "--shards", cluster.map_path)
    assert r.returncode == 1 and "token queue" in r.stderr, r.stderr
    assert cluster.read_map() == cluster.map(), "a refused move changes nothing"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any file: no read-only map to test with")
def test_move_refuses_a_read_only_map(cli, cluster):
    os.chmod(cluster.map_path, 0o444)
    q = "ro"
    other = next(n for n in "abc" if n != owner(cluster.map(), q))
    r = cli.run("move", q, "--to", other, "--shards", cluster.map_path)
    assert r.returncode == 1 and "read-only" in r.stderr, r.stderr


# -- etcd down ------------------------------------------------------------------------------

def test_etcd_down_file_map_works_and_a_running_client_keeps_its_map(cli, cluster, etcd):
    key = "/courier/shards"
    etcd.put(key, json.dumps(cluster.map()))
    run_ok(cli, "publish", "e1", "1", "--shards", etcd.spec(key))
    watch = cli.start("stats", "--shards", etcd.spec(key), "--watch", "--interval", "0.3", "--count", "12",
                      "--json")
    time.sleep(0.8)
    etcd.stop()
    rc, out, err = cli.finish(watch, timeout=30)
    tables = [json.loads(ln) for ln in out.splitlines()]
    assert rc == 0 and len(tables) == 12, (rc, err)
    assert all(t["map"]["version"] == 1 and t["queues"]["e1"]["depth"] == 1 for t in tables)
    # the file map does not need etcd
    run_ok(cli, "publish", "e2", "2", "--shards", cluster.map_path)
    j = json.loads(run_ok(cli, "stats", "--shards", cluster.map_path, "--json").stdout)
    assert j["queues"]["e2"]["depth"] == 1
    # a new client on the etcd map says why it cannot start
    r = cli.run("stats", "--shards", etcd.spec(key))
    assert r.returncode != 0 and "etcd" in r.stderr, r.stderr


def test_publish_with_shards_follows_a_move_made_while_it_runs(cli, cluster):
    q = "follow-me"
    old = owner(cluster.map(), q)
    new = next(n for n in "abc" if n != old)
    p = cli.start("publish", q, "--shards", cluster.map_path, "--id", "f", stdin=subprocess.PIPE)
    raw_old, raw_new = Raw(cluster.proxies[old].endpoint), Raw(cluster.proxies[new].endpoint)
    for k in range(3):
        p.stdin.write("%d\n" % k)
    p.stdin.flush()
    deadline = time.monotonic() + 10
    while (raw_old.stats(q).get(q) or {}).get("depth", 0) < 3:
        assert time.monotonic() < deadline, "the first values never reached the old owner"
        time.sleep(0.05)
    # the move's first two steps, by hand: pin, then mark the old copy
    cluster.write_map(cluster.map(version=2, pins={q: new}))
    raw_old.call("DECLARE", {"q": q, "moved_to": new}, want=("DECLARED",))
    out, err = p.communicate(input="3\n4\n5\n", timeout=20)
    rc = p.returncode
    assert rc == 0, err
    assert "moved: 3 value(s) go to %s" % cluster.proxies[new].endpoint in err, err
    assert raw_old.stats(q)[q]["depth"] == 3
    got = raw_new.drain(q)
    assert sorted(got) == [("f-%d" % (k + 1), k) for k in range(3, 6)], got
    raw_old.close()
    raw_new.close()


def test_publish_with_shards_reports_a_421_the_map_does_not_explain(cli, cluster):
    q = "moved-elsewhere"
    own = owner(cluster.map(), q)
    raw = Raw(cluster.proxies[own].endpoint)
    raw.call("DECLARE", {"q": q, "moved_to": "b"}, want=("DECLARED",))
    r = cli.run("publish", q, "1", "--shards", cluster.map_path)
    assert r.returncode == 3, r.stderr
    assert "says the queue moved (421), but the shard map still sends it there" in r.stderr, r.stderr
    assert raw.stats(q)[q]["depth"] == 0
    raw.close()


def test_move_waits_for_delayed_messages_and_moving_back_clears_the_mark(cli, cluster):
    q = "back-and-forth"
    a = owner(cluster.map(), q)
    b = next(n for n in "abc" if n != a)
    run_ok(cli, "publish", q, "1", "--shards", cluster.map_path)
    run_ok(cli, "publish", q, "2", "--delay", "1500", "--shards", cluster.map_path)
    t0 = time.monotonic()
    r = run_ok(cli, "move", q, "--to", b, "--shards", cluster.map_path)
    assert json.loads(r.stdout)["moved"] == 2
    assert time.monotonic() - t0 >= 1.0, "the delayed message was not waited for"
    assert "delayed" in r.stderr
    # and back again, within the dedup window: a's old copy, which remembers
    # the ids that left it, is deleted first, so they are stored, not `dup`
    r = run_ok(cli, "move", q, "--to", a, "--shards", cluster.map_path)
    assert json.loads(r.stdout)["from"] == {b: 2} and json.loads(r.stdout)["already_there"] == 0
    assert "deleted the empty copy of %s on %s" % (q, a) in r.stderr
    raw_a, raw_b = Raw(cluster.proxies[a].endpoint), Raw(cluster.proxies[b].endpoint)
    assert "moved_to" not in raw_a.stats(q)[q] and raw_b.stats(q)[q]["moved_to"] == a
    assert cluster.read_map()["pins"][q] == a and cluster.read_map()["version"] == 3
    run_ok(cli, "publish", q, "3", "--shards", cluster.map_path)
    assert sorted(b for _, b in raw_a.drain(q)) == [1, 2, 3]
    raw_a.close()
    raw_b.close()


def test_moving_back_to_a_proxy_that_still_holds_an_unfinished_copy_is_refused(cli, cluster):
    q = "half-moved"
    a = owner(cluster.map(), q)
    b = next(n for n in "abc" if n != a)
    run_ok(cli, "publish", q, "1", "2", "--shards", cluster.map_path)
    cluster.write_map(cluster.map(version=2, pins={q: b}))     # a move a -> b, stopped before its drain
    raw_a = Raw(cluster.proxies[a].endpoint)
    raw_a.call("DECLARE", {"q": q, "moved_to": b}, want=("DECLARED",))
    r = cli.run("move", q, "--to", a, "--shards", cluster.map_path)
    assert r.returncode == 1, r.stderr
    assert "still holds 2 message(s)" in r.stderr and "courier move %s --to %s" % (q, b) in r.stderr, r.stderr
    assert cluster.read_map()["pins"][q] == b and raw_a.stats(q)[q]["moved_to"] == b
    r = run_ok(cli, "move", q, "--to", b, "--shards", cluster.map_path)      # finishing it works
    assert json.loads(r.stdout)["moved"] == 2
    raw_a.close()


def test_concurrent_moves_on_one_etcd_map_keep_both_pins(cli, cluster, etcd):
    key = "/courier/shards"
    etcd.put(key, json.dumps(cluster.map()))
    smap = cluster.map()
    names = [n for n in ("m-%d" % i for i in range(100)) if owner(smap, n) == "a"][:4]
    procs = []
    for i, q in enumerate(names):
        run_ok(cli, "publish", q, "1", "2", "--shards", etcd.spec(key))
        procs.append(cli.start("move", q, "--to", "bc"[i % 2], "--shards", etcd.spec(key)))
    for p in procs:
        rc, out, err = cli.finish(p, timeout=60)
        assert rc == 0, err
        assert json.loads(out)["moved"] == 2
    final = json.loads(etcd.get(key))
    assert final["pins"] == {q: "bc"[i % 2] for i, q in enumerate(names)}, final
    assert final["version"] == 1 + len(names)    # each pin one compare-and-swap, none overwritten


def test_dry_run_prints_the_plan_and_changes_nothing(cli, cluster):
    q = "planned"
    old = owner(cluster.map(), q)
    new = next(n for n in "abc" if n != old)
    run_ok(cli, "publish", q, "1", "2", "3", "--shards", cluster.map_path)
    r = run_ok(cli, "move", q, "--to", new, "--shards", cluster.map_path, "--dry-run")
    plan = json.loads(r.stdout)
    assert plan["pin"] is True and plan["owner"] == old and plan["mark"] == [old]
    assert plan["drain"] == {old: 3} and plan["dry_run"] is True
    assert cluster.read_map() == cluster.map()
    raw = Raw(cluster.proxies[old].endpoint)
    st = raw.stats(q)[q]
    assert st["depth"] == 3 and "moved_to" not in st
    raw.close()


def test_rerun_after_a_kill_between_pin_and_mark_marks_the_old_copy(cli, cluster):
    q = "pinned-not-marked"
    old = owner(cluster.map(), q)
    new = next(n for n in "abc" if n != old)
    raw_old = Raw(cluster.proxies[old].endpoint)
    raw_old.call("DECLARE", {"q": q, "max_length": 100}, want=("DECLARED",))   # an empty copy on the old owner
    cluster.write_map(cluster.map(version=2, pins={q: new}))                   # the killed move's pin
    r = run_ok(cli, "move", q, "--to", new, "--shards", cluster.map_path)
    assert json.loads(r.stdout)["moved"] == 0
    assert raw_old.stats(q)[q]["moved_to"] == new, "late PUTs on the old copy must be turned away"
    r = cli.run("move", q, "--to", new, "--shards", cluster.map_path)
    assert r.returncode == 1 and "nothing to move" in r.stderr
    raw_old.close()


def _restart_on_same_port(p):
    os.kill(p.proc.pid, signal.SIGKILL)
    p.proc.wait(5)
    with open(p.log_path, "ab") as log:
        p.proc = subprocess.Popen([p.binary, "--listen", p.endpoint, "--data", p.data_dir, "--heartbeat", str(HB)],
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    assert p.wait_ready(10.0), p.log_tail()


def test_old_owner_killed_mid_move_then_rerun_is_exactly_once(cli, cluster):
    q = "old-owner-dies"
    old = owner(cluster.map(), q)
    new = next(n for n in "abc" if n != old)
    total = 3000
    raw_old = Raw(cluster.proxies[old].endpoint)
    raw_old.put_many(q, [pack(k) for k in range(total)], ids=["k-%d" % k for k in range(total)])
    raw_old.close()
    raw_new = Raw(cluster.proxies[new].endpoint)
    p = cli.start("move", q, "--to", new, "--shards", cluster.map_path, "--rate", "1000", "--timeout", "2")
    deadline = time.monotonic() + 20
    while (raw_new.stats(q).get(q) or {}).get("depth", 0) < 500:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    _restart_on_same_port(cluster.proxies[old])          # kill -9 of the old owner mid-drain
    rc, out, err = cli.finish(p, timeout=60)
    assert rc in (0, 2), err                              # finished, or gave up on the dead proxy
    if rc != 0:
        r = run_ok(cli, "move", q, "--to", new, "--shards", cluster.map_path, timeout=60)
        print("rerun:", r.stdout.strip())
    raw_old = Raw(cluster.proxies[old].endpoint)
    st = raw_old.stats(q)[q]
    assert held(st) == 0 and st["moved_to"] == new, st
    got = raw_new.drain(q)
    ids = collections.Counter(i for i, _ in got)
    assert len(ids) == total and max(ids.values()) == 1, (len(ids), [i for i, n in ids.items() if n > 1][:5])
    raw_old.close()
    raw_new.close()


def test_new_owner_killed_mid_move_then_restarted_is_exactly_once(cli, cluster):
    q = "new-owner-dies"
    old = owner(cluster.map(), q)
    new = next(n for n in "abc" if n != old)
    total = 3000
    raw_old = Raw(cluster.proxies[old].endpoint)
    raw_old.put_many(q, [pack(k) for k in range(total)])          # no ids: the move derives them
    p = cli.start("move", q, "--to", new, "--shards", cluster.map_path, "--rate", "1000")
    raw_new = Raw(cluster.proxies[new].endpoint)
    deadline = time.monotonic() + 20
    while (raw_new.stats(q).get(q) or {}).get("depth", 0) < 500:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    raw_new.close()
    _restart_on_same_port(cluster.proxies[new])
    rc, out, err = cli.finish(p, timeout=60)
    assert rc in (0, 2), err
    if rc != 0:
        run_ok(cli, "move", q, "--to", new, "--shards", cluster.map_path, timeout=60)
    assert held(raw_old.stats(q)[q]) == 0
    raw_new = Raw(cluster.proxies[new].endpoint)
    got = raw_new.drain(q)
    bodies = collections.Counter(b for _, b in got)
    assert sorted(bodies) == list(range(total)) and max(bodies.values()) == 1, \
        (len(bodies), [b for b, n in bodies.items() if n > 1][:5])
    raw_old.close()
    raw_new.close()
