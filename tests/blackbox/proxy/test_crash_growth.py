"""kill -9 while the journal map grows: nothing CONFIRMed may be lost
(issue 8, defect 1; PROTOCOL.md §3.3.1 durability, §3.3.5 dedup resend).

A crash loop on one --data directory.  Each round starts the proxy (the
first on a fresh directory, then on what the previous kill left), and a
producer, on a fresh DEALER:

  * first resends every PUT it sent and did not see CONFIRMed, with the same
    ids and bodies (the batch as the same batch), as §3.3.5 tells a
    producer to do after a crash;
  * then sends new single PUTs (64 KiB .. 1 MiB) and batch PUTs (2..8 bodies
    of 64 KiB .. 256 KiB), pipelined, every message with a unique id and a
    body derived from its id, so that the journal passes its 64 MiB initial
    map and has to grow (OPERATIONS.md: the map doubles when a PUT needs
    room, and reopens at the file's size);
  * kill -9s the proxy at a random moment 5..80 ms after a large PUT was
    sent, in the middle of the stream.

After the last round the proxy is started once more, the producer resends
what is still unconfirmed until everything is confirmed, and the queue is
drained: every id that was ever CONFIRMed (with or without `dup`) must be
delivered at least once, with its own body, and no two different ids may
have been confirmed with the same seq.

Default: 12 rounds, one test item, a few seconds, about 0.5-0.8 GB written
(0.25-0.55 GB of it stays in the journal, in pytest's tmp directory).
Against a proxy with defect 1, about 19 runs in 20 fail (a CONFIRMed id
never delivered, or two ids confirmed with the same seq).

Long form: COURIER_CRASH_ROUNDS=N (e.g. 150) runs N rounds as ceil(N / 12)
test items of 12 rounds each, every item on its own --data directory, so
that each stays under the suite's 90 s per-test limit.  Disk grows with N:
about 50 MB written and 30 MB kept per round (150 rounds: about 7 GB
written, 4 GB kept until pytest prunes its old tmp directories).
COURIER_CRASH_SEED=S replays the random choices of a run (item k uses S+k;
the seed is in a failure message); the timing of the kills is not
reproducible.
"""
import collections
import os
import random
import time

import pytest

from cqp import RecvTimeout, split_deliver

ROUNDS = max(1, int(os.environ.get("COURIER_CRASH_ROUNDS", "12")))
ROUNDS_PER_ITEM = 12
ITEMS = -(-ROUNDS // ROUNDS_PER_ITEM)
BASE_SEED = int(os.environ.get("COURIER_CRASH_SEED", str(random.randrange(1 << 30))))

KIB = 1024
MIB = 1024 * KIB
LATE_VOLUME = 100 * MIB     # a late kill comes within this much of a round's stream
WINDOW = 24 * MIB            # unconfirmed bytes in flight at most
LARGE = 512 * KIB            # a PUT at least this big may be followed by the kill
EARLY_KILLS = 0.9            # share of kills (after the first) in a round's first burst


def make_id(n, size):
    return "m%07d.%d" % (n, size)


def body_of(id_):
    """The body is derived from the id: its bytes repeated up to its size."""
    size = int(id_.rsplit(".", 1)[1])
    unit = id_.encode() + b";"
    return (unit * (size // len(unit) + 1))[:size]


class Producer:
    """A producer that resends every unconfirmed PUT after a crash (§3.3.5)."""

    def __init__(self, q, rng):
        self.q = q
        self.rng = rng
        self.n = 0
        self.confirmed = {}                 # id -> seq of its CONFIRM
        self.seq_owner = {}                 # seq -> the first id confirmed with it
        self.collisions = []                # (seq, id, other id)
        self.unsent = collections.deque()   # PUTs (tuples of ids) to send again
        self.bytes_written = 0

    def new_put(self):
        if self.rng.random() < 0.6:
            size = self.rng.choice([64 * KIB, 256 * KIB, 512 * KIB, 768 * KIB, 1 * MIB])
            ids = (make_id(self.n, size),)
            self.n += 1
        else:
            k = self.rng.randint(2, 8)
            ids = tuple(make_id(self.n + i, self.rng.choice([64 * KIB, 128 * KIB, 256 * KIB]))
                        for i in range(k))
            self.n += k
        return ids

    @staticmethod
    def size_of(ids):
        return sum(int(i.rsplit(".", 1)[1]) for i in ids)

    def confirm(self, ids, seqs):
        for id_, seq in zip(ids, seqs):
            assert isinstance(seq, int), "CONFIRM seq not a uint: %r" % (seq,)
            self.confirmed[id_] = seq
            other = self.seq_owner.setdefault(seq, id_)
            if other != id_:
                self.collisions.append((seq, id_, other))

    def session(self, c, kill=None, target=0, deadline=None):
        """Resend what is unconfirmed, then (with kill) send new PUTs.
        kill: a callable, called 5..80 ms after the first large PUT sent once
        `target` bytes were sent in this session (resends included); the
        session ends there.  Without kill, the session ends once everything
        resent is confirmed."""
        in_flight = {}                  # tag -> ids
        flight_bytes = 0
        sent = 0
        kill_at = None
        while True:
            assert time.monotonic() < deadline, "the crash loop ran out of time"
            now = time.monotonic()
            if kill_at is not None and now >= kill_at:
                kill()
                self.unsent.extend(in_flight.values())  # never confirmed: resend next time
                return
            # send while the window allows
            while flight_bytes < WINDOW:
                if self.unsent:
                    ids = self.unsent.popleft()
                elif kill:
                    ids = self.new_put()
                else:
                    break
                tag = c.next_tag()
                if len(ids) == 1:
                    c.send("PUT", {"q": self.q, "tag": tag, "id": ids[0]}, body_of(ids[0]))
                else:
                    c.send("PUT", {"q": self.q, "tag": tag, "n": len(ids), "ids": list(ids)},
                           *[body_of(i) for i in ids])
                size = self.size_of(ids)
                in_flight[tag] = ids
                flight_bytes += size
                sent += size
                self.bytes_written += size
                if kill and kill_at is None and sent >= target and size >= LARGE:
                    kill_at = time.monotonic() + self.rng.uniform(0.005, 0.080)
                    break
            if not kill and not in_flight and not self.unsent:
                return
            # read what has come back
            try:
                timeout = 0.002 if kill_at is not None else 10.0
                m = c.recv(timeout=timeout)
            except RecvTimeout:
                if kill_at is None:
                    raise AssertionError("no CONFIRM within 10 s with %d PUTs in flight"
                                         % len(in_flight))
                continue
            if m.cmd == "CONFIRM":
                tag = m.header.get("tag")
                assert tag in in_flight, "CONFIRM for a tag not in flight: %r" % (m.header,)
                ids = in_flight.pop(tag)
                flight_bytes -= self.size_of(ids)
                seqs = m.header.get("seq")
                if len(ids) > 1:
                    assert isinstance(seqs, list) and len(seqs) == len(ids), m.header
                else:
                    seqs = [seqs]
                self.confirm(ids, seqs)
            elif m.cmd == "ERROR" and m.header.get("code") == 503 and m.header.get("tag") in in_flight:
                ids = in_flight.pop(m.header["tag"])     # journal cannot take it now: retry later
                flight_bytes -= self.size_of(ids)
                self.unsent.append(ids)
            else:
                raise AssertionError("unexpected answer to a PUT: %s %r" % (m.cmd, m.header))


@pytest.mark.parametrize("item", range(ITEMS), ids=lambda i: "item%d" % i)
def test_kill9_during_map_growth_loses_no_confirmed_message(proxies, connect, qname, item):
    seed = BASE_SEED + item
    rng = random.Random(seed)
    rounds = min(ROUNDS_PER_ITEM, ROUNDS - item * ROUNDS_PER_ITEM)
    deadline = time.monotonic() + 80
    q = qname()
    prod = Producer(q, rng)
    p = proxies.start()
    kills = 0
    for r in range(rounds):
        if r > 0:
            p.start()                       # same --data: recovery after kill -9
        c = connect(p, hello=False)
        if r == 0:
            # around the first growth of the 64 MiB initial map
            target = rng.uniform(40 * MIB, 80 * MIB)
        elif rng.random() < EARLY_KILLS:
            # in the first burst: the reopened journal must grow to take it
            target = rng.uniform(0, 12 * MIB)
        else:
            target = rng.uniform(12 * MIB, max(LATE_VOLUME, 12 * MIB))
        prod.session(c, kill=p.kill9, target=target, deadline=deadline)
        kills += 1
        c.close()
        assert not p.alive()
        status, report = p.check()   # the journal kill -9 left is consistent
        assert status == 0, "courier-proxy --check after kill %d:\n%s" % (kills, report)
    p.start()
    c = connect(p, hello=False)
    prod.session(c, kill=None, deadline=deadline)   # resend until all confirmed
    assert not prod.unsent

    # drain: every id ever confirmed comes back, with its own body
    c.consume(q, 64, batch=16)
    got = collections.Counter()
    bad_bodies = []
    want = set(prod.confirmed)
    while not want.issubset(got):
        try:
            m = c.expect("DELIVER", timeout=3)
        except RecvTimeout:
            break
        ds = split_deliver(m)
        for d in ds:
            id_ = d["id"]
            got[id_] += 1
            if not isinstance(id_, str) or body_of(id_) != d["body"]:
                bad_bodies.append((id_, d["seq"], len(d["body"])))
        c.ack([d["d"] for d in ds])
        assert time.monotonic() < deadline + 8, "drain too slow"
    missing = sorted(want - set(got))
    detail = ("seed %d (COURIER_CRASH_SEED=%d replays it), %d kills, %.0f MiB written, "
              "%d ids confirmed" % (seed, seed - item, kills, prod.bytes_written / MIB, len(want)))
    assert not missing and not prod.collisions, (
        "%d CONFIRMed message(s) never delivered after the crash loop, e.g. %r (confirmed seqs %r); "
        "%d id(s) CONFIRMed with a seq already confirmed for another id (a stored message was "
        "overwritten), e.g. (seq, id, first id) %r; %s"
        % (len(missing), missing[:5], [prod.confirmed[i] for i in missing[:5]],
           len(prod.collisions), prod.collisions[:5], detail))
    assert not bad_bodies, "bodies that do not match their id: %r; %s" % (bad_bodies[:10], detail)
    assert p.alive()
