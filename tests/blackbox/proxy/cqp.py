"""Black-box helpers for the CQP1 proxy protocol (PROTOCOL.md §3, §4.1).

Written only from the contract: a pyzmq DEALER, msgpack headers, the proxy
started as a process on a free port.  Nothing here knows how courier-proxy is
implemented.
"""
import collections
import re
import itertools
import os
import signal
import socket
import subprocess
import time

import msgpack
import pytest
import zmq

MAGIC = b"CQP1"
EMPTY_MAP = b"\x80"
DEFAULT_TIMEOUT = 5.0   # every recv is bounded by this unless told otherwise
QUIET = 0.3             # how long "nothing arrives" is watched for

STATS_FIELDS = ("depth", "inflight", "consumers", "delayed", "put", "delivered",
                "acked", "redelivered", "dead_lettered", "dropped", "expired")


# Tests that bound the proxy's resident memory mean nothing under
# AddressSanitizer (its quarantine keeps freed memory, its shadow memory
# counts): scripts/sanitize.sh sets COURIER_SANITIZED and they are skipped
# there, and only there.
memory_bound = pytest.mark.skipif(
    bool(os.environ.get("COURIER_SANITIZED")),
    reason="RSS bounds are meaningless under sanitizers; run without scripts/sanitize.sh")

# Likewise a bound on the proxy's CPU share: a sanitizer makes every
# instruction several times dearer (TSan ~10x).
cpu_bound = pytest.mark.skipif(
    bool(os.environ.get("COURIER_SANITIZED")),
    reason="CPU-share bounds are meaningless under sanitizers; run without scripts/sanitize.sh")


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def unpack(data):
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def now_ms():
    return int(time.time() * 1000)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------
# the proxy process


class ProxyError(AssertionError):
    pass


class RecvTimeout(AssertionError):
    """Nothing (of the kind awaited) arrived in time."""


class Proxy:
    """One courier-proxy process: start, PING-readiness, SIGTERM/SIGKILL by PID."""

    def __init__(self, binary, data_dir, log_path, heartbeat=None, extra=(),
                 endpoint=None, cwd=None):
        self.binary = binary
        self.data_dir = None if data_dir is None else str(data_dir)   # None: no --data
        self.cwd = cwd
        self.log_path = str(log_path)
        self.heartbeat = heartbeat
        self.extra = [str(a) for a in extra]
        self.fixed_endpoint = endpoint      # None: a free tcp port is picked
        self.endpoint = None
        self.proc = None
        self.starts = 0

    # -- lifecycle ---------------------------------------------------------
    def argv(self):
        argv = [self.binary, "--listen", self.endpoint]
        if self.data_dir is not None:
            argv += ["--data", self.data_dir]
        if self.heartbeat is not None:
            argv += ["--heartbeat", str(self.heartbeat)]
        return argv + self.extra

    def start(self, timeout=10.0):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        attempts = 1 if self.fixed_endpoint else 3
        last = None
        for i in range(attempts):
            if self.fixed_endpoint:
                self.endpoint = self.fixed_endpoint
            elif self.endpoint is None or i > 0:
                # a restart reuses its port (clients may reconnect); a port
                # lost to a race is replaced by a new free one
                self.endpoint = "tcp://127.0.0.1:%d" % free_port()
            self.starts += 1
            with open(self.log_path, "ab") as log:
                log.write(("\n=== start %d: %s\n" % (self.starts, " ".join(self.argv()))).encode())
                log.flush()
                self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=subprocess.STDOUT,
                                             start_new_session=True, cwd=self.cwd)
            try:
                self.wait_ready(timeout)
                return self
            except ProxyError as e:
                last = e
                if self.proc.poll() is None:        # alive but not answering
                    raise
        raise last

    def wait_ready(self, timeout=10.0):
        """Poll with PING until PONG (PROTOCOL §4.1: scripts poll, never parse logs)."""
        ctx = zmq.Context.instance()
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.endpoint)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise ProxyError("courier-proxy exited with %s before answering PING\n%s"
                                     % (self.proc.returncode, self.log_tail()))
                try:
                    s.send_multipart([MAGIC, b"PING", EMPTY_MAP], flags=zmq.NOBLOCK)
                except zmq.Again:
                    pass
                if s.poll(100):
                    frames = s.recv_multipart()
                    if frames[:2] == [MAGIC, b"PONG"]:
                        return
            raise ProxyError("courier-proxy did not answer PING within %.0f s\n%s"
                             % (timeout, self.log_tail()))
        finally:
            s.close(0)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def check(self):
        """`courier-proxy --check` of this proxy's --data (it must be stopped): (status, output)."""
        r = subprocess.run([self.binary, "--check", self.data_dir], capture_output=True, text=True,
                           timeout=60)
        return r.returncode, r.stdout + r.stderr

    def stop(self, sig=signal.SIGTERM, grace=5.0):
        """Signal by PID; SIGKILL after `grace`. Returns (returncode, seconds, killed)."""
        if self.proc is None or self.proc.poll() is not None:
            return (self.proc.returncode if self.proc else None, 0.0, False)
        t0 = time.monotonic()
        os.kill(self.proc.pid, sig)
        killed = False
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            killed = True
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        return self.proc.returncode, time.monotonic() - t0, killed

    def restart(self, sig=signal.SIGTERM):
        if sig == signal.SIGKILL:
            self.kill9()
        else:
            rc, secs, killed = self.stop(sig)
            assert not killed and rc == 0, \
                "proxy did not exit 0 within 5 s of %s (rc=%s)\n%s" % (sig, rc, self.log_tail())
        return self.start()

    def log_tail(self, n=4000):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
            return "--- proxy log (tail) ---\n" + data[-n:].decode("utf-8", "replace")
        except OSError:
            return "(no proxy log)"


class ProxyPool:
    """Starts proxies and guarantees they are all gone afterwards."""

    def __init__(self, binary, tmp_factory, label):
        self.binary = binary
        self.tmp_factory = tmp_factory
        self.label = re.sub(r"[^A-Za-z0-9_]", "_", label)[:40]
        self.proxies = []

    def start(self, heartbeat=None, extra=(), data_dir="fresh", endpoint=None, cwd=None):
        """data_dir: "fresh" (a new temp path the proxy must create), a path,
        or None for no --data option at all."""
        base = self.tmp_factory.mktemp("proxy_" + self.label)
        if isinstance(data_dir, str) and data_dir == "fresh":
            data_dir = base / "data"      # does not exist yet: the proxy creates it
        p = Proxy(self.binary, data_dir, base / "proxy.log", heartbeat=heartbeat,
                  extra=extra, endpoint=endpoint, cwd=cwd)
        self.proxies.append(p)
        return p.start()

    def shutdown(self):
        problems = []
        for p in self.proxies:
            if p.proc is None:
                continue
            rc, secs, killed = p.stop(signal.SIGTERM, grace=5.0)
            try:
                os.kill(p.pid, 0)
                problems.append("proxy pid %d still exists after stop" % p.pid)
            except ProcessLookupError:
                pass
            if killed:
                problems.append("proxy pid %d ignored SIGTERM for 5 s (SIGKILLed)\n%s"
                                % (p.pid, p.log_tail()))
            elif rc not in (0, -signal.SIGKILL):
                # -9: the test itself SIGKILLed it and did not restart it
                problems.append("proxy pid %d exited %s (want 0 on SIGTERM)\n%s"
                                % (p.pid, rc, p.log_tail()))
        self.proxies = []
        assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------
# the client


Msg = collections.namedtuple("Msg", "cmd header bodies")

_live_clients = []   # clients kept alive with PINGs while any client waits


def keepalive_all():
    t = time.monotonic()
    for c in list(_live_clients):
        c._keepalive_tick(t)


class Client:
    """A CQP1 client on one DEALER, as a pyzmq user would write it.

    send(cmd, header, *bodies); recv() -> Msg(cmd, header_dict, bodies);
    expect(cmd) returns the next message of that kind, keeping others for
    later and failing on an unexpected ERROR.  Every wait is bounded.
    After hello() the client sends PING every hb/3 while any client of the
    test is waiting (PROTOCOL §3.3.8), unless keepalive is turned off.
    """

    def __init__(self, ctx, endpoint, timeout=DEFAULT_TIMEOUT, rcvhwm=None, name=None):
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if rcvhwm is not None:
            self.sock.setsockopt(zmq.RCVHWM, rcvhwm)
        self.sock.connect(endpoint)
        self.endpoint = endpoint
        self.timeout = timeout
        self.name = name
        self.backlog = collections.deque()
        self._tags = itertools.count(1)
        self.hb = None
        self.keepalive = False
        self._last_send = time.monotonic()
        self._pongs_to_swallow = 0
        self.closed = False

    # -- sending -----------------------------------------------------------
    def next_tag(self):
        return next(self._tags)

    def send_frames(self, frames):
        self.sock.send_multipart([bytes(f) for f in frames])
        self._last_send = time.monotonic()

    def send(self, cmd, header=None, *bodies):
        if isinstance(cmd, str):
            cmd = cmd.encode("ascii")
        if header is None:
            hdr = EMPTY_MAP
        elif isinstance(header, (bytes, bytearray)):
            hdr = bytes(header)             # raw, for malformed-input tests
        else:
            hdr = pack(header)
        self.send_frames([MAGIC, cmd, hdr] + [bytes(b) for b in bodies])

    def _keepalive_tick(self, t):
        if self.keepalive and not self.closed and self.hb:
            if (t - self._last_send) * 1000.0 >= self.hb / 3.0:
                self.send("PING")
                self._pongs_to_swallow += 1

    # -- receiving ---------------------------------------------------------
    def _recv_frames(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            keepalive_all()
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if self.sock.poll(int(min(left, 0.05) * 1000) + 1):
                frames = self.sock.recv_multipart()
                if (self._pongs_to_swallow and frames[:2] == [MAGIC, b"PONG"]):
                    self._pongs_to_swallow -= 1
                    continue
                return frames

    def recv_raw(self, timeout=None):
        frames = self._recv_frames(self.timeout if timeout is None else timeout)
        if frames is None:
            raise RecvTimeout("no message from the proxy within %.1f s"
                                 % (self.timeout if timeout is None else timeout))
        return frames

    @staticmethod
    def parse(frames):
        assert len(frames) >= 3, "proxy sent %d frame(s): %r" % (len(frames), frames)
        assert frames[0] == MAGIC, "first frame is %r, not CQP1" % frames[0]
        try:
            cmd = frames[1].decode("ascii")
            header = unpack(frames[2])
        except (UnicodeDecodeError, ValueError, msgpack.ExtraData,
                msgpack.FormatError, msgpack.StackError) as e:
            # msgpack str must be UTF-8; a pyzmq user decoding with raw=False
            # (the msgpack default) would crash here
            raise AssertionError("proxy sent an undecodable message (%s): %r" % (e, frames[:3]))
        assert isinstance(header, dict), "header is not a map: %r" % (header,)
        assert all(isinstance(k, str) for k in header), "header keys not strings: %r" % header
        return Msg(cmd, header, list(frames[3:]))

    def recv(self, timeout=None):
        if self.backlog:
            return self.backlog.popleft()
        return self.parse(self.recv_raw(timeout))

    def expect(self, cmd, timeout=None, match=None):
        """Next `cmd` message (optionally satisfying match(header)); others are kept."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        kept = []
        try:
            for m in list(self.backlog):
                if m.cmd == cmd and (match is None or match(m.header)):
                    self.backlog.remove(m)
                    return m
            pending = list(self.backlog)
            self.backlog.clear()
            kept.extend(pending)
            while True:
                left = deadline - time.monotonic()
                frames = self._recv_frames(max(left, 0))
                if frames is None:
                    raise RecvTimeout("expected %s within %.1f s; got instead: %s"
                                         % (cmd, timeout, [(m.cmd, m.header) for m in kept][:10]))
                m = self.parse(frames)
                if m.cmd == cmd and (match is None or match(m.header)):
                    return m
                if m.cmd == "ERROR" and cmd != "ERROR":
                    raise AssertionError("expected %s, got ERROR %r" % (cmd, m.header))
                kept.append(m)
        finally:
            self.backlog.extendleft(reversed(kept))

    def expect_error(self, code, timeout=None, tag=None):
        m = self.expect("ERROR", timeout)
        h = m.header
        assert h.get("code") == code, "expected ERROR %s, got %r" % (code, h)
        assert isinstance(h.get("reason"), str), "ERROR without a reason string: %r" % h
        assert m.bodies == [], "ERROR with a body: %r" % m.bodies
        if tag is not None:
            assert h.get("tag") == tag, "ERROR should carry tag %r: %r" % (tag, h)
        return h

    def expect_nothing(self, timeout=QUIET, what="nothing"):
        assert not self.backlog, "expected %s, have %r" % (what, list(self.backlog))
        frames = self._recv_frames(timeout)
        assert frames is None, "expected %s, got %r" % (what, self.parse(frames))

    # -- commands ----------------------------------------------------------
    def hello(self, name=None, keepalive=True):
        h = {"v": 1}
        if name is not None:
            h["name"] = name
        self.send("HELLO", h)
        m = self.expect("WELCOME")
        self.hb = m.header.get("hb")
        self.keepalive = keepalive
        if keepalive and self not in _live_clients:
            _live_clients.append(self)
        return m.header

    def ping(self):
        self.send("PING")
        return self.expect("PONG").header

    def put(self, q, body, id=None, tag=None, **extra):
        tag = self.next_tag() if tag is None else tag
        h = {"q": q, "tag": tag}
        if id is not None:
            h["id"] = id
        h.update(extra)
        self.send("PUT", h, body)
        m = self.expect("CONFIRM", match=lambda hh: hh.get("tag") == tag)
        return m.header

    def put_batch(self, q, bodies, ids=None, tag=None, **extra):
        tag = self.next_tag() if tag is None else tag
        h = {"q": q, "tag": tag, "n": len(bodies)}
        if ids is not None:
            h["ids"] = ids
        h.update(extra)
        self.send("PUT", h, *bodies)
        m = self.expect("CONFIRM", match=lambda hh: hh.get("tag") == tag)
        c = m.header
        assert c.get("n") == len(bodies), "batch CONFIRM n: %r" % c
        assert isinstance(c.get("seq"), list) and len(c["seq"]) == len(bodies), c
        assert isinstance(c.get("dup"), list) and len(c["dup"]) == len(bodies), c
        return c

    def consume(self, q, credit, **extra):
        h = {"q": q, "credit": credit}
        h.update(extra)
        self.send("CONSUME", h)
        m = self.expect("CONSUMING", match=lambda hh: hh.get("q") == q)
        return m.header

    def ack(self, ds):
        self.send("ACK", {"d": list(ds)})

    def nack(self, ds, requeue=None):
        h = {"d": list(ds)}
        if requeue is not None:
            h["requeue"] = requeue
        self.send("NACK", h)

    def credit(self, q, n):
        self.send("CREDIT", {"q": q, "n": n})

    def cancel(self, q):
        self.send("CANCEL", {"q": q})
        return self.expect("CANCELLED", match=lambda hh: hh.get("q") == q).header

    def bye(self):
        self.send("BYE")
        if self in _live_clients:
            _live_clients.remove(self)

    def stats(self, q=None):
        self.send("STATS", {} if q is None else {"q": q})
        return self.expect("STATS").header

    def qstats(self, q):
        """The STATS entry of one queue (asked with the q filter)."""
        s = self.stats(q)
        queues = s.get("queues")
        assert isinstance(queues, dict), "STATS without a queues map: %r" % s
        assert q in queues, "STATS q=%s lacks that queue: %r" % (q, s)
        return queues[q]

    def sync(self):
        """Round trip: everything sent before has been processed by the proxy."""
        self.ping()

    # -- deliveries --------------------------------------------------------
    def next_deliver(self, timeout=None):
        m = self.expect("DELIVER", timeout)
        return m, split_deliver(m)

    def collect(self, n, timeout=None, batch_limit=None):
        """At least n deliveries (single or batch DELIVERs), as dicts."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        out = []
        while len(out) < n:
            left = deadline - time.monotonic()
            try:
                m = self.expect("DELIVER", max(left, 0.001))
            except RecvTimeout as e:
                raise RecvTimeout("wanted %d deliveries, got %d: %s" % (n, len(out), e))
            ds = split_deliver(m)
            if batch_limit is not None:
                assert len(ds) <= batch_limit, "batch DELIVER of %d > batch %d" % (len(ds), batch_limit)
            out.extend(ds)
        return out

    def drain(self, quiet=0.5, timeout=20, ack=False):
        """Every delivery until none arrives for `quiet` s (optionally ACKing)."""
        deadline = time.monotonic() + timeout
        out = []
        while True:
            assert time.monotonic() < deadline, "deliveries did not stop within %d s" % timeout
            try:
                m = self.expect("DELIVER", quiet)
            except RecvTimeout:
                return out
            ds = split_deliver(m)
            out.extend(ds)
            if ack:
                self.ack([d["d"] for d in ds])

    def close(self, linger=0):
        """Close the socket; linger > 0 (ms) lets queued messages (a BYE) go out."""
        if not self.closed:
            self.closed = True
            if self in _live_clients:
                _live_clients.remove(self)
            self.sock.close(linger)

    def go_silent(self):
        """Stop sending anything (the proxy should notice after 3 x hb)."""
        self.keepalive = False
        if self in _live_clients:
            _live_clients.remove(self)


def split_deliver(m):
    """A DELIVER (single or batch form, §3.2/§3.4) as a list of dicts."""
    h = m.header
    assert m.cmd == "DELIVER"
    assert isinstance(h.get("q"), str), "DELIVER without q: %r" % h
    if "n" in h:
        n = h["n"]
        assert isinstance(n, int) and n >= 1, "batch DELIVER n: %r" % h
        for k in ("d", "seq", "attempt", "ts", "id"):
            assert isinstance(h.get(k), list) and len(h[k]) == n, \
                "batch DELIVER %s must be a list of %d: %r" % (k, n, h)
        assert len(m.bodies) == n, "batch DELIVER n=%d with %d body frames" % (n, len(m.bodies))
        out = []
        for i in range(n):
            out.append(dict(q=h["q"], d=h["d"][i], seq=h["seq"][i], attempt=h["attempt"][i],
                            ts=h["ts"][i], id=h["id"][i], body=m.bodies[i], batch=n))
    else:
        assert len(m.bodies) == 1, "single DELIVER with %d body frames" % len(m.bodies)
        out = [dict(q=h["q"], d=h.get("d"), seq=h.get("seq"), attempt=h.get("attempt"),
                    ts=h.get("ts"), id=h.get("id"), body=m.bodies[0], batch=0)]
    for d in out:
        for k in ("d", "seq", "attempt", "ts"):
            assert isinstance(d[k], int) and not isinstance(d[k], bool) and d[k] >= 0, \
                "DELIVER %s is not a uint: %r" % (k, h)
        assert d["attempt"] >= 1, h
    return out


def wait_until(fn, timeout=3.0, what="condition", poll=None):
    """Poll fn() (which does its own round trips) until truthy; bounded."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        assert time.monotonic() < deadline, "%s not reached within %.1f s" % (what, timeout)
        (poll or (lambda: time.sleep(0.02)))()


def ids_of(ds):
    return [d["id"] for d in ds]


def bodies_of(ds):
    return [d["body"] for d in ds]


def declare(c, q, **opts):
    """DECLARE q with opts; returns the DECLARED header."""
    h = {"q": q}
    h.update(opts)
    c.send("DECLARE", h)
    return c.expect("DECLARED", match=lambda hh: hh.get("q") == q).header


def declare_error(c, q, code, **opts):
    """DECLARE q with opts, expecting ERROR code and nothing else; returns the ERROR."""
    h = {"q": q}
    h.update(opts)
    c.send("DECLARE", h)
    e = c.expect_error(code)
    c.expect_nothing(0.1, "only one answer to a refused DECLARE")
    return e
