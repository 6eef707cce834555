"""`courier lock`, `publish --full-wait`, `consume --count` as a bound, and
COURIER_PROXY_ENDPOINT (PROTOCOL.md §4.2, with §3.6 token queues and §3.7
CONSUME `limit`).

Every process is started in its own session; at teardown each one still
alive, and every process left in its process group (the COMMANDs that
`courier lock` ran), is killed by PID. Every wait is bounded.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import RUN_TIMEOUT, Proxy, free_endpoint, pack, socket_of, unpack  # noqa: E402

FENCE_RE = re.compile(r"[1-9][0-9]*")


# --------------------------------------------------------------------------
# helpers


class Result:
    def __init__(self, returncode, stdout, stderr, elapsed):
        self.returncode, self.stdout, self.stderr, self.elapsed = returncode, stdout, stderr, elapsed

    def __repr__(self):
        return "Result(rc=%r, %.2fs, stdout=%r, stderr=%r)" % (
            self.returncode, self.elapsed, self.stdout[-500:], self.stderr[-1500:])


def _group_members(pgid):
    """PIDs of the live processes whose process group is pgid (from /proc)."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                stat = f.read().decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        # fields[0] = state, fields[1] = ppid, fields[2] = pgrp
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            pids.append(int(name))
    return pids


class Runner:
    """Runs the courier CLI, each process in a session of its own."""

    def __init__(self, path):
        self.path = path
        self.procs = []

    def start(self, *args, env=None):
        e = dict(os.environ)
        e.pop("COURIER_PROXY_ENDPOINT", None)   # only the tests that want it set it
        e.update(env or {})
        p = subprocess.Popen([self.path] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=e, start_new_session=True)
        p.t0 = time.monotonic()
        self.procs.append(p)
        return p

    def finish(self, p, timeout=RUN_TIMEOUT):
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill(p)
            out, err = p.communicate(timeout=5)
            pytest.fail("courier %r did not exit within %s s; stderr: %s"
                        % (p.args[1:], timeout, err[-1500:]))
        return Result(p.returncode, out, err, time.monotonic() - p.t0)

    def run(self, *args, env=None, timeout=RUN_TIMEOUT):
        return self.finish(self.start(*args, env=env), timeout)

    @staticmethod
    def kill(p):
        victims = set(_group_members(p.pid))
        if p.poll() is None:
            victims.add(p.pid)
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop_all(self):
        for p in self.procs:
            self.kill(p)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
            for f in (p.stdout, p.stderr):
                if f:
                    f.close()


@pytest.fixture
def run(cli):
    """Built on the suite's `cli` fixture (which skips without COURIER_CLI)."""
    r = Runner(cli.path)
    yield r
    r.stop_all()


@pytest.fixture(scope="module")
def slow_proxy(proxy_bin, tmp_path_factory):
    """A proxy with a 10 s heartbeat: silence (3 x hb) cannot return a token
    within any test, so a token seen free again was released, not reaped."""
    d = tmp_path_factory.mktemp("slowproxy")
    p = Proxy(proxy_bin, d / "data", d / "proxy.log", heartbeat=10000).start()
    yield p
    p.stop()
    shutil.rmtree(str(d), ignore_errors=True)


def stats(ep, q, timeout_ms=3000):
    """The per-queue STATS map of q, by pyzmq (PROTOCOL.md §3.1); None when absent."""
    s = socket_of(zmq.Context.instance(), zmq.DEALER, timeout_ms)
    try:
        s.connect(ep)
        s.send_multipart([b"CQP1", b"STATS", pack({"q": q})])
        while True:
            f = s.recv_multipart()
            if f[1] == b"STATS":
                return unpack(f[2])["queues"].get(q)
    finally:
        s.close(0)


def wait_for(pred, timeout, step=0.02):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


def sh(script):
    return ["sh", "-c", script]


def hold_script(started, release, limit_s=15):
    """Shell text that touches `started`, then waits (at most limit_s) for `release`."""
    return ('touch "%s"; i=0; while [ ! -e "%s" ] && [ $i -lt %d ]; do sleep 0.1; i=$((i+1)); done'
            % (started, release, int(limit_s * 10)))


def hold_until(started, release, limit_s=15):
    return sh(hold_script(started, release, limit_s))


# --------------------------------------------------------------------------
# courier lock


def test_lock_runs_the_command_and_exits_0(run, slow_proxy, qname, tmp_path):
    mark = tmp_path / "ran"
    r = run.run("lock", qname(), "--proxy", slow_proxy.endpoint, "--", "touch", mark)
    assert r.returncode == 0, r
    assert mark.exists()


def test_lock_exits_with_the_commands_status_7(run, slow_proxy, qname):
    r = run.run("lock", qname(), "--proxy", slow_proxy.endpoint, "--", *sh("exit 7"))
    assert r.returncode == 7, r


@pytest.mark.parametrize("signo", [signal.SIGTERM, signal.SIGKILL])
def test_lock_exits_128_plus_n_when_the_command_is_killed_by_signal_n(run, slow_proxy, qname,
                                                                       signo):
    q = qname()
    r = run.run("lock", q, "--proxy", slow_proxy.endpoint, "--", *sh("kill -%d $$" % int(signo)))
    assert r.returncode == 128 + int(signo), r
    # the token is released whatever way the command ended
    s = wait_for(lambda: (lambda x: x if x and x["depth"] == 1 else None)(stats(slow_proxy.endpoint, q)), 2.0)
    assert s and s["depth"] == 1 and s["inflight"] == 0, stats(slow_proxy.endpoint, q)


def test_lock_gives_the_command_a_positive_fence_that_grows_strictly(run, slow_proxy, qname,
                                                                    tmp_path):
    q = qname()
    fences = []
    for i in range(4):
        out = tmp_path / ("fence%d" % i)
        r = run.run("lock", q, "--proxy", slow_proxy.endpoint, "--",
                    *sh('printf "%%s" "${COURIER_FENCE-UNSET}" > "%s"' % out))
        assert r.returncode == 0, r
        text = out.read_text()
        assert FENCE_RE.fullmatch(text), "COURIER_FENCE=%r is not a positive integer" % text
        fences.append(int(text))
    assert all(a < b for a, b in zip(fences, fences[1:])), fences


def test_lock_declares_a_one_token_queue_held_while_the_command_runs_and_released_after(
        run, slow_proxy, qname, tmp_path):
    q = qname()
    started, release = tmp_path / "started", tmp_path / "release"
    p = run.start("lock", q, "--proxy", slow_proxy.endpoint, "--", *hold_until(started, release))
    assert wait_for(started.exists, 10), "the command did not start; " + repr(run.finish(p, 1))
    s = stats(slow_proxy.endpoint, q)
    assert s is not None, "no queue %s after lock started" % q
    assert s.get("tokens") == 1, s
    assert s["depth"] == 0 and s["inflight"] == 1, s
    release.touch()
    r = run.finish(p)
    assert r.returncode == 0, r
    # heartbeat 10 s: only a release (ACK/NACK/BYE), not silence, frees it this soon
    s = wait_for(lambda: (lambda x: x if x and x["depth"] == 1 else None)(stats(slow_proxy.endpoint, q)), 2.0)
    s = s or stats(slow_proxy.endpoint, q)
    assert s["tokens"] == 1 and s["depth"] == 1 and s["inflight"] == 0, s


def test_three_concurrent_locks_never_interleave_their_critical_sections(run, proxy, qname,
                                                                         tmp_path):
    q = qname()
    log = tmp_path / "log"
    script = ('echo "start $$ $COURIER_FENCE" >> "%s"; sleep 0.3; echo "end $$ $COURIER_FENCE" >> "%s"'
              % (log, log))
    ps = [run.start("lock", q, "--proxy", proxy.endpoint, "--timeout", 15, "--", *sh(script))
          for _ in range(3)]
    results = [run.finish(p) for p in ps]
    for r in results:
        assert r.returncode == 0, r
    lines = log.read_text().splitlines()
    assert len(lines) == 6, lines
    for i in range(0, 6, 2):
        a, b = lines[i].split(), lines[i + 1].split()
        assert a[0] == "start" and b[0] == "end" and a[1:] == b[1:], lines
    fences = [int(lines[i].split()[2]) for i in range(0, 6, 2)]
    assert fences == sorted(set(fences)), "fences must grow with each holder: %r" % fences


def test_lock_timeout_while_another_holds_it_exits_2_without_running_the_command(
        run, proxy, qname, tmp_path):
    q = qname()
    started, release, never = tmp_path / "started", tmp_path / "release", tmp_path / "never"
    holder = run.start("lock", q, "--proxy", proxy.endpoint, "--", *hold_until(started, release))
    assert wait_for(started.exists, 10), "holder did not start; " + repr(run.finish(holder, 1))
    r = run.run("lock", q, "--proxy", proxy.endpoint, "--timeout", 1, "--", "touch", never,
                timeout=10)
    assert r.returncode == 2, r
    assert 0.8 <= r.elapsed <= 3.0, r
    assert not never.exists()
    release.touch()
    assert run.finish(holder).returncode == 0
    # the waiter that gave up does not keep the lock: the next one gets it promptly
    after = tmp_path / "after"
    r = run.run("lock", q, "--proxy", proxy.endpoint, "--timeout", 5, "--", "touch", after)
    assert r.returncode == 0, r
    assert after.exists()
    assert not never.exists()


def test_a_kill_9_holders_lock_passes_to_a_waiter_within_about_3_heartbeats(
        run, proxy, qname, tmp_path):
    """proxy fixture: heartbeat 200 ms, so a silent holder is gone after ~0.6 s."""
    q = qname()
    started, release = tmp_path / "started", tmp_path / "release"
    fence1, fence2 = tmp_path / "f1", tmp_path / "f2"
    holder = run.start("lock", q, "--proxy", proxy.endpoint, "--",
                       *sh('printf "%%s" "$COURIER_FENCE" > "%s"; ' % fence1
                           + hold_script(started, release, 20)))
    assert wait_for(started.exists, 10), "holder did not start; " + repr(run.finish(holder, 1))
    waiter = run.start("lock", q, "--proxy", proxy.endpoint, "--timeout", 15, "--",
                       *sh('printf "%%s" "$COURIER_FENCE" > "%s"' % fence2))
    time.sleep(1.0)   # > 3 heartbeats: a live holder keeps its session, so no handover
    assert not fence2.exists(), "the waiter ran while the holder was alive"
    assert waiter.poll() is None
    t0 = time.monotonic()
    os.kill(holder.pid, signal.SIGKILL)   # the courier process only; its COMMAND lives on
    got = wait_for(fence2.exists, 6)
    took = time.monotonic() - t0
    assert got, "the waiter did not get the lock within 6 s of kill -9"
    assert took <= 2.5, "handover took %.2f s (heartbeat 200 ms)" % took
    r = run.finish(waiter)
    assert r.returncode == 0, r
    assert int(fence2.read_text()) > int(fence1.read_text())


def test_lock_on_a_queue_holding_ordinary_messages_exits_3_and_does_not_run(run, proxy, qname,
                                                                           tmp_path):
    q = qname()
    r = run.run("publish", q, "1", "--proxy", proxy.endpoint)
    assert r.returncode == 0, r
    mark = tmp_path / "ran"
    r = run.run("lock", q, "--proxy", proxy.endpoint, "--timeout", 5, "--", "touch", mark)
    assert r.returncode == 3, r
    assert "409" in r.stderr, r
    assert not mark.exists()
    s = stats(proxy.endpoint, q)
    assert s["depth"] == 1 and "tokens" not in s, s


@pytest.mark.parametrize("tail", [[], ["--"]], ids=["no-dashes", "dashes-only"])
def test_lock_without_a_command_is_a_usage_error(run, proxy, qname, tail):
    q = qname()
    r = run.run("lock", q, "--proxy", proxy.endpoint, "--timeout", 1, *tail, timeout=10)
    assert r.returncode == 1, r
    assert r.stderr.strip()
    assert stats(proxy.endpoint, q) is None   # nothing was declared


# --------------------------------------------------------------------------
# courier publish --full-wait


def _declare_max2(run, ep, q):
    r = run.run("declare", q, "--max-length", 2, "--proxy", ep)
    assert r.returncode == 0, r


def test_publish_waits_while_the_queue_is_full_and_delivers_all_in_order(run, proxy, qname):
    q = qname()
    _declare_max2(run, proxy.endpoint, q)
    values = [str(i) for i in range(1, 9)]
    pub = run.start("publish", q, *values, "--proxy", proxy.endpoint, "--full-wait", 20)
    # the queue fills up and the publisher waits
    s = wait_for(lambda: (lambda x: x if x and x["depth"] == 2 else None)(stats(proxy.endpoint, q)), 5)
    assert s, stats(proxy.endpoint, q)
    time.sleep(0.5)
    assert pub.poll() is None, "publish ended on a full queue: " + repr(run.finish(pub, 1))
    con = run.start("consume", q, "--proxy", proxy.endpoint, "--count", 8, "--timeout", 20)
    rp = run.finish(pub, 25)
    rc = run.finish(con, 25)
    assert rp.returncode == 0, rp
    assert rc.returncode == 0, rc
    assert rc.stdout.splitlines() == values


def test_publish_full_wait_expires_with_exit_3_and_names_429(run, proxy, qname):
    q = qname()
    _declare_max2(run, proxy.endpoint, q)
    r = run.run("publish", q, "1", "2", "3", "--proxy", proxy.endpoint, "--full-wait", 0.5,
                timeout=15)
    assert r.returncode == 3, r
    assert 0.3 <= r.elapsed <= 4.0, r
    assert "429" in r.stderr or "full" in r.stderr.lower(), r
    assert stats(proxy.endpoint, q)["depth"] == 2


def test_publish_full_wait_0_fails_at_once_on_a_full_queue(run, proxy, qname):
    q = qname()
    _declare_max2(run, proxy.endpoint, q)
    assert run.run("publish", q, "1", "2", "--proxy", proxy.endpoint).returncode == 0
    r = run.run("publish", q, "3", "--proxy", proxy.endpoint, "--full-wait", 0, timeout=15)
    assert r.returncode == 3, r
    assert r.elapsed <= 1.5, r
    assert "429" in r.stderr or "full" in r.stderr.lower(), r
    assert stats(proxy.endpoint, q)["depth"] == 2


@pytest.mark.parametrize("bad", ["-1", "abc"])
def test_publish_bad_full_wait_is_a_usage_error_naming_the_option(run, proxy, qname, bad):
    q = qname()
    r = run.run("publish", q, "1", "--proxy", proxy.endpoint, "--full-wait=" + bad, timeout=10)
    assert r.returncode == 1, r
    assert "--full-wait" in r.stderr, r
    assert stats(proxy.endpoint, q) is None   # nothing was published


# --------------------------------------------------------------------------
# courier consume --count N takes nothing past the N-th (CONSUME limit, §3.7)


def _ten(run, ep, q):
    r = run.run("publish", q, *[str(i) for i in range(1, 11)], "--proxy", ep)
    assert r.returncode == 0, r


def test_consume_count_3_takes_exactly_3_of_10(run, proxy, qname):
    q = qname()
    _ten(run, proxy.endpoint, q)
    r = run.run("consume", q, "--proxy", proxy.endpoint, "--count", 3, "--timeout", 10)
    assert r.returncode == 0, r
    assert r.stdout.splitlines() == ["1", "2", "3"]
    s = stats(proxy.endpoint, q)
    assert s["depth"] == 7 and s["inflight"] == 0, s
    assert s["delivered"] == 3 and s["acked"] == 3 and s["redelivered"] == 0, s
    r = run.run("consume", q, "--proxy", proxy.endpoint, "--count", 1, "--envelope",
                "--timeout", 10)
    assert r.returncode == 0, r
    env = json.loads(r.stdout)
    assert env["body"] == 4 and env["attempt"] == 1, env   # never delivered before


def test_consume_count_3_no_ack_takes_exactly_3_of_10(run, proxy, qname):
    q = qname()
    _ten(run, proxy.endpoint, q)
    r = run.run("consume", q, "--proxy", proxy.endpoint, "--count", 3, "--no-ack", "--timeout", 10)
    assert r.returncode == 0, r
    assert r.stdout.splitlines() == ["1", "2", "3"]
    s = stats(proxy.endpoint, q)
    assert s["depth"] == 7 and s["delivered"] == 3, s
    time.sleep(0.3)
    s = stats(proxy.endpoint, q)
    assert s["depth"] == 7 and s["delivered"] == 3 and s["inflight"] == 0, s


# --------------------------------------------------------------------------
# COURIER_PROXY_ENDPOINT


def test_proxy_endpoint_from_the_environment_is_used_without_proxy_option(run, proxy, qname,
                                                                          tmp_path):
    q, lq = qname(), qname(".lock")
    env = {"COURIER_PROXY_ENDPOINT": proxy.endpoint}
    r = run.run("publish", q, "1", "2", "--timeout", 3, env=env, timeout=10)
    assert r.returncode == 0, r
    assert stats(proxy.endpoint, q)["depth"] == 2
    r = run.run("stats", q, "--json", env=env, timeout=10)
    assert r.returncode == 0, r
    assert json.loads(r.stdout)["queues"][q]["depth"] == 2
    r = run.run("consume", q, "--count", 2, "--timeout", 5, env=env, timeout=10)
    assert r.returncode == 0, r
    assert r.stdout.splitlines() == ["1", "2"]
    mark = tmp_path / "ran"
    r = run.run("lock", lq, "--timeout", 5, "--", "touch", mark, env=env, timeout=10)
    assert r.returncode == 0, r
    assert mark.exists()
    assert stats(proxy.endpoint, lq)["tokens"] == 1


def test_proxy_option_overrides_the_environment(run, proxy, qname, tmp_path):
    q = qname()
    dead = free_endpoint()
    # environment points nowhere, --proxy at the proxy: works
    r = run.run("publish", q, "1", "--proxy", proxy.endpoint, "--timeout", 3,
                env={"COURIER_PROXY_ENDPOINT": dead}, timeout=10)
    assert r.returncode == 0, r
    assert stats(proxy.endpoint, q)["depth"] == 1
    # environment points at the proxy, --proxy nowhere: --proxy is the one used
    env = {"COURIER_PROXY_ENDPOINT": proxy.endpoint}
    for args in (["publish", q, "2"], ["stats", q, "--json"], ["consume", q, "--count", 1]):
        r = run.run(*args, "--proxy", dead, "--timeout", 0.5, env=env, timeout=10)
        assert r.returncode == 2, (args, r)
    mark = tmp_path / "ran"
    r = run.run("lock", qname(".lock"), "--proxy", dead, "--timeout", 0.5, "--", "touch", mark,
                env=env, timeout=10)
    assert r.returncode == 2, r
    assert not mark.exists()
    assert stats(proxy.endpoint, q)["depth"] == 1
