"""Token queues: distributed locks and semaphores (PROTOCOL §3.6).

Written from the contract only.  A token queue holds exactly N messages, the
tokens (bodies: msgpack uints 1..N); holding an unacked token is holding the
lock (N = 1) or one of N permits.  Fencing: every DELIVER of a token carries an
`attempt` greater than that of every earlier delivery of that token, for ever,
across restarts and kill -9.
"""
import signal
import time

import pytest

from cqp import pack, unpack, split_deliver, RecvTimeout, declare, declare_error

HB = 200            # --heartbeat for the silence test: gone after 3 x 200 ms


# -- helpers -------------------------------------------------------------------

def queue_names(c):
    return set(c.stats()["queues"])


def acquire(c, q, timeout=None):
    """CONSUME credit 1 and wait for the token: returns the delivery dict."""
    c.consume(q, 1)
    return one_delivery(c, timeout)


def one_delivery(c, timeout=None):
    m = c.expect("DELIVER", timeout)
    ds = split_deliver(m)
    assert len(ds) == 1, "a credit-1 consumer got %d tokens in one DELIVER" % len(ds)
    return ds[0]


def delivered_attempts(c, wait=0.0):
    """Attempts of DELIVERs already received by c and not yet read (backlog, and
    with wait > 0 also what arrives within `wait` s)."""
    out = []
    for m in list(c.backlog):
        if m.cmd == "DELIVER":
            c.backlog.remove(m)
            out.extend(d["attempt"] for d in split_deliver(m))
    while wait > 0:
        d = poll_delivery(c, wait)
        if d is None:
            break
        out.append(d["attempt"])
    return out


def poll_delivery(c, timeout):
    """The next token delivered to c within `timeout` s, or None."""
    try:
        return one_delivery(c, timeout)
    except RecvTimeout:
        return None


def first_delivery_of(clients, timeout=5.0):
    """(index, delivery) of the first of `clients` to get a DELIVER."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for i, c in enumerate(clients):
            d = poll_delivery(c, 0.01)
            if d is not None:
                return i, d
    raise RecvTimeout("no DELIVER to any of %d clients within %.1f s" % (len(clients), timeout))


def release(c, q, d, how):
    """Give the token back; ack/nack are followed by a pipelined CANCEL so that the
    token cannot go straight back to the same consumer.  Returns the attempts of
    any DELIVER the releasing client got between its release and its CANCEL."""
    if how == "ack":
        c.ack([d["d"]])
    elif how == "nack":
        c.nack([d["d"]])
    elif how == "nack_no_requeue":
        c.nack([d["d"]], requeue=False)
    elif how == "bye":
        c.bye()
        return []
    c.cancel(q)
    return delivered_attempts(c)


def assert_body_uint(body, want=None):
    v = unpack(body)
    assert isinstance(v, int) and not isinstance(v, bool) and v >= 1, \
        "token body is not a msgpack uint: %r" % body
    # msgpack uint family: positive fixint 0x00-0x7f or uint 8/16/32/64 (0xcc-0xcf)
    assert body[0] <= 0x7f or 0xcc <= body[0] <= 0xcf, \
        "token body is not in msgpack's uint format family: %r" % body
    if want is not None:
        assert v == want, (v, want)
    return v


def strictly_increasing(xs):
    return all(a < b for a, b in zip(xs, xs[1:]))


# -- DECLARE {tokens} ----------------------------------------------------------

def test_declare_tokens_on_a_new_queue_answers_declared_with_depth_n(client, qname):
    q = qname()
    h = declare(client, q, tokens=3)
    assert (h["q"], h["depth"]) == (q, 3), h
    st = client.qstats(q)
    assert (st["depth"], st["inflight"], st["delayed"], st["consumers"]) == (3, 0, 0, 0), st
    assert st.get("tokens") == 3, st


def test_token_bodies_are_the_msgpack_uints_1_to_n(client, qname):
    q = qname()
    declare(client, q, tokens=5)
    client.consume(q, 10)
    ds = client.collect(5)
    client.expect_nothing(what="exactly 5 tokens")
    assert sorted(assert_body_uint(d["body"]) for d in ds) == [1, 2, 3, 4, 5]


def test_first_delivery_of_a_fresh_token_has_attempt_1(client, qname):
    q = qname()
    declare(client, q, tokens=2)
    client.consume(q, 2)
    ds = client.collect(2)
    assert [d["attempt"] for d in ds] == [1, 1], ds


def test_tokens_65536_is_accepted_and_65537_is_400(client, qname):
    q = qname()
    h = declare(client, q, tokens=65536)
    assert h["depth"] == 65536, h
    st = client.qstats(q)
    assert (st["depth"], st.get("tokens")) == (65536, 65536), st
    q2 = qname()
    declare_error(client, q2, 400, tokens=65537)
    assert q2 not in queue_names(client)


def test_tokens_0_is_400_and_creates_no_queue(client, qname):
    q = qname()
    declare_error(client, q, 400, tokens=0)
    assert q not in queue_names(client)


def test_tokens_of_wrong_type_is_400(client, qname):
    q = qname()
    for bad in ("1", -1, True, 1.5, [1]):
        declare_error(client, q, 400, tokens=bad)
    assert q not in queue_names(client)


def test_redeclare_with_the_same_n_answers_the_current_depth(client, qname):
    q = qname()
    declare(client, q, tokens=3)
    client.consume(q, 2)
    ds = client.collect(2)
    client.sync()
    h = declare(client, q, tokens=3)
    assert (h["q"], h["depth"]) == (q, 1), "same N must not recreate tokens: %r" % h
    h = declare(client, q)                               # a DECLARE of a token queue
    assert h["depth"] == 1, h
    st = client.qstats(q)
    assert (st["depth"], st["inflight"], st.get("tokens")) == (1, 2, 3), st
    client.expect_nothing(what="no new token after a re-DECLARE")
    client.ack([d["d"] for d in ds])
    client.cancel(q)
    st = client.qstats(q)
    assert (st["depth"], st["inflight"], st.get("tokens")) == (3, 0, 3), st


def test_redeclare_with_the_same_n_sets_ack_timeout(proxy, connect, qname):
    q = qname()
    a, b = connect(proxy), connect(proxy)
    declare(a, q, tokens=1)
    assert declare(a, q, tokens=1, ack_timeout=300)["depth"] == 1
    held = acquire(a, q)
    t0 = time.monotonic()
    b.consume(q, 1)
    # lease lost after 300 ms; a still consumes, so the token may go to a or b
    _, got = first_delivery_of([a, b], timeout=4)
    assert time.monotonic() - t0 >= 0.2
    assert got["attempt"] > held["attempt"], (held, got)
    assert_body_uint(got["body"], 1)


def test_declare_a_different_n_is_409_and_changes_nothing(client, qname):
    q = qname()
    declare(client, q, tokens=2)
    declare_error(client, q, 409, tokens=3)
    declare_error(client, q, 409, tokens=1)
    st = client.qstats(q)
    assert (st["depth"], st["inflight"], st.get("tokens")) == (2, 0, 2), st
    assert declare(client, q, tokens=2)["depth"] == 2


def test_tokens_on_a_queue_with_ready_messages_is_409(client, qname):
    q = qname()
    client.put(q, pack("ordinary"))
    declare_error(client, q, 409, tokens=1)
    st = client.qstats(q)
    assert (st["depth"], st["inflight"]) == (1, 0), st
    assert st.get("tokens") in (None, 0), st
    client.consume(q, 5)
    d = client.collect(1)[0]
    assert d["body"] == pack("ordinary")
    client.expect_nothing(what="no token was created")


def test_tokens_on_a_queue_with_messages_in_flight_is_409(client, qname):
    q = qname()
    client.put(q, pack("ordinary"))
    client.consume(q, 1)
    d = client.collect(1)[0]
    client.sync()
    declare_error(client, q, 409, tokens=1)
    st = client.qstats(q)
    assert (st["depth"], st["inflight"]) == (0, 1), st
    client.ack([d["d"]])
    client.expect_nothing(what="no token was created")


def test_tokens_on_a_queue_with_delayed_messages_is_409(client, qname):
    q = qname()
    client.put(q, pack("later"), delay=60000)
    declare_error(client, q, 409, tokens=1)
    st = client.qstats(q)
    assert (st["depth"], st["delayed"]) == (0, 1), st
    client.consume(q, 5)
    client.expect_nothing(what="no token was created")


def test_tokens_on_an_existing_emptied_queue_creates_them(client, qname):
    q = qname()
    client.put(q, pack("ordinary"))
    client.consume(q, 1)
    client.ack([client.collect(1)[0]["d"]])
    client.cancel(q)
    assert declare(client, q)["depth"] == 0
    h = declare(client, q, tokens=2)
    assert (h["q"], h["depth"]) == (q, 2), h
    client.consume(q, 5)
    ds = client.collect(2)
    client.expect_nothing()
    assert sorted(assert_body_uint(d["body"]) for d in ds) == [1, 2]


@pytest.mark.parametrize("opt", [{"max_length": 5}, {"dead_letter": "bb.tokens.dlq"},
                                 {"max_attempts": 3}, {"ttl": 60000}],
                         ids=["max_length", "dead_letter", "max_attempts", "ttl"])
def test_tokens_with_a_message_policy_is_400_and_creates_nothing(client, qname, opt):
    q = qname()
    declare_error(client, q, 400, tokens=1, **opt)
    assert q not in queue_names(client)
    # the refused DECLARE applied nothing: the queue can still become a plain one
    client.put(q, pack("plain"))
    assert client.qstats(q)["depth"] == 1


@pytest.mark.parametrize("opt", [{"max_length": 5}, {"dead_letter": "bb.tokens.dlq"},
                                 {"max_attempts": 3}, {"ttl": 60000}],
                         ids=["max_length", "dead_letter", "max_attempts", "ttl"])
def test_a_later_declare_of_a_token_queue_with_a_message_policy_is_400(client, qname, opt):
    q = qname()
    declare(client, q, tokens=1)
    declare_error(client, q, 400, **opt)                 # without tokens
    declare_error(client, q, 400, tokens=1, **opt)       # with the same tokens
    declare_error(client, q, 400, tokens=1, ack_timeout=500, **opt)
    st = client.qstats(q)
    assert (st["depth"], st.get("tokens")) == (1, 1), st
    # nothing applied: e.g. max_attempts 3 would not make a token disappear anyway,
    # but the token is still there and can be taken and released
    d = acquire(client, q)
    client.ack([d["d"]])
    client.cancel(q)
    assert client.qstats(q)["depth"] == 1


# Found by fuzz/broker_fuzz: an empty queue declared earlier with
# max_attempts 1 became a lock, and its token was dropped on the second
# acquire. A queue with a message policy stays ordinary.
@pytest.mark.parametrize("opt", [{"max_length": 5}, {"dead_letter": "bb.tokens.dlq"},
                                 {"max_attempts": 1}, {"ttl": 60000}],
                         ids=["max_length", "dead_letter", "max_attempts", "ttl"])
def test_tokens_on_a_queue_with_a_message_policy_from_before_is_409(client, qname, opt):
    q = qname()
    declare(client, q, **opt)
    e = declare_error(client, q, 409, tokens=1)
    assert next(iter(opt)) in e["reason"], e
    assert "tokens" not in client.qstats(q)
    client.put(q, pack("still ordinary"))
    assert client.qstats(q)["depth"] == 1


def test_a_declare_of_a_token_queue_may_set_ack_timeout_alone(client, qname):
    q = qname()
    declare(client, q, tokens=2)
    h = declare(client, q, ack_timeout=5000)
    assert (h["q"], h["depth"]) == (q, 2), h


def test_400_wins_over_409(client, qname):
    q = qname()
    client.put(q, pack("ordinary"))                      # 409 would apply to tokens here
    declare_error(client, q, 400, tokens=1, max_length=5)
    declare_error(client, q, 400, tokens=0)
    declare_error(client, q, 400, tokens=65537)
    t = qname()
    declare(client, t, tokens=1)                         # a different N would be 409
    declare_error(client, t, 400, tokens=2, ttl=1000)
    declare_error(client, t, 400, tokens=2, dead_letter="bb.tokens.dlq")
    declare_error(client, t, 400, tokens=0)
    assert client.qstats(q)["depth"] == 1
    st = client.qstats(t)
    assert (st["depth"], st.get("tokens")) == (1, 1), st


def test_unknown_key_with_tokens_is_404_naming_it_and_creates_nothing(client, qname):
    q = qname()
    h = declare_error(client, q, 404, tokens=2, tokenz=1)
    assert "tokenz" in h["reason"], h
    assert q not in queue_names(client)
    # no token was created by the refused DECLARE: a new N is accepted
    assert declare(client, q, tokens=3)["depth"] == 3
    h = declare_error(client, q, 404, tokens=3, lease=100)
    assert "lease" in h["reason"], h


# -- PUT / PURGE / CONSUME auto_ack on a token queue ------------------------------

def test_put_on_a_token_queue_is_409_and_changes_nothing(client, qname):
    q = qname()
    declare(client, q, tokens=2)
    tag = client.next_tag()
    client.send("PUT", {"q": q, "tag": tag}, pack(99))
    client.expect_error(409, tag=tag)
    tag = client.next_tag()
    client.send("PUT", {"q": q, "tag": tag, "id": "tok-put-1"}, pack(3))
    client.expect_error(409, tag=tag)
    client.expect_nothing(what="no CONFIRM after a 409")
    st = client.qstats(q)
    assert (st["depth"], st["inflight"], st["delayed"], st.get("tokens")) == (2, 0, 0, 2), st
    client.consume(q, 10)
    ds = client.collect(2)
    client.expect_nothing(what="only the 2 tokens")
    assert sorted(assert_body_uint(d["body"]) for d in ds) == [1, 2]


def test_batch_put_on_a_token_queue_is_409_and_changes_nothing(client, qname):
    q = qname()
    declare(client, q, tokens=1)
    tag = client.next_tag()
    client.send("PUT", {"q": q, "tag": tag, "n": 3, "ids": ["a", None, "c"]},
                pack(1), pack(2), pack(3))
    client.expect_error(409, tag=tag)
    tag = client.next_tag()
    client.send("PUT", {"q": q, "tag": tag, "n": 2, "delay": 100}, pack(1), pack(2))
    client.expect_error(409, tag=tag)
    client.expect_nothing(what="no CONFIRM after a 409")
    st = client.qstats(q)
    assert (st["depth"], st["inflight"], st["delayed"]) == (1, 0, 0), st
    client.consume(q, 10)
    assert_body_uint(client.collect(1)[0]["body"], 1)
    client.expect_nothing(0.6, "only the one token (a delayed PUT was not stored either)")


def test_purge_on_a_token_queue_is_409_and_changes_nothing(client, qname):
    q = qname()
    declare(client, q, tokens=3)
    client.send("PURGE", {"q": q})
    client.expect_error(409)
    client.expect_nothing(what="no PURGED after a 409")
    st = client.qstats(q)
    assert (st["depth"], st.get("tokens")) == (3, 3), st


def test_consume_auto_ack_on_a_token_queue_is_400(client, qname):
    q = qname()
    declare(client, q, tokens=1)
    client.send("CONSUME", {"q": q, "credit": 1, "auto_ack": True})
    client.expect_error(400)
    client.expect_nothing(what="no CONSUMING and no token after the 400")
    st = client.qstats(q)
    assert (st["depth"], st["inflight"], st["consumers"]) == (1, 0, 0), st
    # auto_ack false (explicit) is an ordinary acquire
    client.consume(q, 1, auto_ack=False)
    assert_body_uint(client.collect(1)[0]["body"], 1)


# -- acquire / release / mutual exclusion --------------------------------------

def test_acquire_is_consume_credit_1_and_a_deliver(client, qname):
    q = qname()
    declare(client, q, tokens=1)
    d = acquire(client, q)
    assert d["q"] == q and d["attempt"] >= 1
    assert_body_uint(d["body"], 1)
    client.sync()
    st = client.qstats(q)
    assert (st["depth"], st["inflight"], st["consumers"]) == (0, 1, 1), st


def test_lock_a_second_consumer_gets_nothing_while_the_token_is_held(proxy, connect, qname):
    q = qname()
    a, b = connect(proxy), connect(proxy)
    declare(a, q, tokens=1)
    acquire(a, q)
    b.consume(q, 1)
    b.expect_nothing(0.8, "no token for a second holder of a lock")
    a.expect_nothing(0.05, "a credit-1 holder gets one token")
    st = b.qstats(q)
    assert (st["depth"], st["inflight"], st["consumers"]) == (0, 1, 2), st


@pytest.mark.parametrize("how", ["ack", "nack", "nack_no_requeue"])
def test_release_returns_the_token_to_the_next_consumer(proxy, connect, qname, how):
    q = qname()
    a, b = connect(proxy), connect(proxy)
    declare(a, q, tokens=1)
    held = acquire(a, q)
    b.consume(q, 1)
    b.expect_nothing(0.2)
    extra = release(a, q, held, how)
    got = one_delivery(b)
    assert_body_uint(got["body"], 1)
    seen = [held["attempt"]] + extra + [got["attempt"]]
    assert strictly_increasing(seen), seen
    b.ack([got["d"]])
    b.cancel(q)
    st = b.qstats(q)
    assert (st["depth"], st["inflight"], st.get("tokens")) == (1, 0, 1), st
    assert (st["dropped"], st["dead_lettered"], st["expired"]) == (0, 0, 0), st


def test_nack_without_requeue_never_removes_a_token(client, qname):
    q = qname()
    declare(client, q, tokens=2)
    client.consume(q, 2)
    for _ in range(5):
        ds = client.collect(2)
        assert sorted(assert_body_uint(d["body"]) for d in ds) == [1, 2]
        client.nack([d["d"] for d in ds], requeue=False)
    ds = client.collect(2)
    client.cancel(q)
    st = client.qstats(q)
    assert (st["depth"], st["inflight"], st.get("tokens")) == (2, 0, 2), st
    assert (st["dropped"], st["dead_lettered"]) == (0, 0), st


def test_semaphore_of_3_lets_exactly_3_holders_in(proxy, connect, qname):
    q = qname()
    cs = [connect(proxy) for _ in range(5)]
    declare(cs[0], q, tokens=3)
    for c in cs:
        c.consume(q, 1)
    holders, bodies = {}, []
    deadline = time.monotonic() + 5
    while len(holders) < 3 and time.monotonic() < deadline:
        for i, c in enumerate(cs):
            if i not in holders:
                d = poll_delivery(c, 0.01)
                if d is not None:
                    holders[i] = d
                    bodies.append(assert_body_uint(d["body"]))
    assert len(holders) == 3, "only %d of 3 permits handed out" % len(holders)
    assert sorted(bodies) == [1, 2, 3]
    for i, c in enumerate(cs):
        c.expect_nothing(0.15, "no 4th permit / no 2nd permit to a credit-1 holder")
    st = cs[0].qstats(q)
    assert (st["depth"], st["inflight"], st["consumers"], st.get("tokens")) == (0, 3, 5, 3), st
    # one holder leaves: exactly one waiter gets its permit
    first = min(holders)
    extra = release(cs[first], q, holders[first], "ack")
    assert extra == [] or len(extra) == 1
    waiters = [i for i in range(5) if i not in holders]
    i, d = first_delivery_of([cs[i] for i in waiters], timeout=3)
    assert d["body"] == holders[first]["body"]
    for i in waiters:
        cs[i].expect_nothing(0.1, "one released permit admits one waiter")


def test_one_consumer_with_credit_5_on_a_semaphore_of_3_gets_3(client, qname):
    q = qname()
    declare(client, q, tokens=3)
    client.consume(q, 5)
    ds = client.collect(3)
    client.expect_nothing(what="only 3 tokens exist")
    assert sorted(assert_body_uint(d["body"]) for d in ds) == [1, 2, 3]


# -- fencing -----------------------------------------------------------------------

@pytest.mark.parametrize("how", ["ack", "nack", "nack_no_requeue", "cancel", "bye"])
def test_fencing_the_next_holder_has_a_greater_attempt(proxy, connect, qname, how):
    q = qname()
    a, b = connect(proxy), connect(proxy)
    declare(a, q, tokens=1)
    held = acquire(a, q)
    b.consume(q, 1)
    b.expect_nothing(0.2)
    extra = release(a, q, held, how)
    got = one_delivery(b)
    seen = [held["attempt"]] + extra + [got["attempt"]]
    assert strictly_increasing(seen), seen


def test_fencing_attempt_strictly_increases_over_a_chain_of_holders(proxy, connect, qname):
    q = qname()
    admin = connect(proxy)
    declare(admin, q, tokens=1)
    seen = []
    prev = prev_d = prev_how = None
    for how in ["ack", "nack", "cancel", "nack_no_requeue", "bye", "ack", "cancel", "ack"]:
        c = connect(proxy)
        c.consume(q, 1)
        if prev is not None:
            c.expect_nothing(0.1, "token still held by the previous holder")
            seen.extend(release(prev, q, prev_d, prev_how))
        d = one_delivery(c)
        seen.append(d["attempt"])
        prev, prev_d, prev_how = c, d, how
    seen.extend(release(prev, q, prev_d, prev_how))
    assert strictly_increasing(seen), seen
    assert admin.qstats(q)["depth"] == 1


def test_fencing_same_consumer_ack_and_take_again_keeps_increasing(client, qname):
    q = qname()
    declare(client, q, tokens=1)
    client.consume(q, 1)
    seen = []
    for i in range(20):
        d = one_delivery(client)
        seen.append(d["attempt"])
        if i % 2:
            client.ack([d["d"]])
        else:
            client.nack([d["d"]], requeue=bool(i % 4))
    assert strictly_increasing(seen), seen


def test_fencing_a_silent_holder_loses_the_token_after_3_heartbeats(proxies, connect, qname):
    p = proxies.start(heartbeat=HB)
    q = qname()
    a, b = connect(p), connect(p)
    assert a.hb == HB
    declare(a, q, tokens=1)
    held = acquire(a, q)
    a.go_silent()
    t0 = time.monotonic()
    b.consume(q, 1)
    got = one_delivery(b, timeout=5)
    took = time.monotonic() - t0
    assert took >= 0.5 * 3 * HB / 1000.0, "token taken from a holder silent for only %.2f s" % took
    assert got["attempt"] > held["attempt"], (held, got)
    assert_body_uint(got["body"], 1)


def test_fencing_ack_timeout_lease_expiry_hands_the_token_on(proxy, connect, qname):
    q = qname()
    a, b = connect(proxy), connect(proxy)
    h = declare(a, q, tokens=1, ack_timeout=300)
    assert h["depth"] == 1
    held = acquire(a, q)                  # a keeps pinging: only the lease runs out
    t0 = time.monotonic()
    b.consume(q, 1)
    b.expect_nothing(0.1, "token still leased to a")
    # a still consumes, so the expired token may go to a or b
    _, got = first_delivery_of([a, b], timeout=4)
    assert time.monotonic() - t0 >= 0.2
    assert got["attempt"] > held["attempt"], (held, got)
    # nobody renews: the lease keeps expiring and the fence keeps rising
    _, again = first_delivery_of([a, b], timeout=4)
    assert again["attempt"] > got["attempt"], (got, again)


def test_touch_keeps_the_lease(proxy, connect, qname):
    q = qname()
    a, b = connect(proxy), connect(proxy)
    declare(a, q, tokens=1, ack_timeout=300)
    held = acquire(a, q)
    b.consume(q, 1)
    end = time.monotonic() + 1.0           # > 3 x ack_timeout, touching every 100 ms
    while time.monotonic() < end:
        a.send("TOUCH", {"d": [held["d"]]})
        b.expect_nothing(0.1, "no second holder while the lease is renewed")
    a.ack([held["d"]])
    a.cancel(q)
    got = one_delivery(b)
    assert got["attempt"] > held["attempt"]


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["kill9", "sigterm"])
def test_fencing_after_a_restart_the_next_holder_has_a_greater_attempt_than_all_before(
        proxies, connect, qname, how):
    p = proxies.start()
    q = qname()
    c = connect(p)
    declare(c, q, tokens=1)
    c.consume(q, 1)
    seen = []
    for _ in range(15):                   # quick take/release turns, then crash while held
        d = one_delivery(c)
        seen.append(d["attempt"])
        c.ack([d["d"]])
    d = one_delivery(c)
    seen.append(d["attempt"])
    assert strictly_increasing(seen), seen
    c.close()
    p.restart(how)
    c2 = connect(p)
    got = acquire(c2, q)
    assert got["attempt"] > max(seen), "after restart: attempt %d, seen before: %r" % (
        got["attempt"], seen)
    assert_body_uint(got["body"], 1)


def test_fencing_survives_repeated_kill9_also_right_after_a_release(proxies, connect, qname):
    p = proxies.start()
    q = qname()
    seen = []
    for rnd in range(3):
        c = connect(p)
        if rnd == 0:
            declare(c, q, tokens=1)
        c.consume(q, 1)
        for _ in range(5):
            d = one_delivery(c)
            assert not seen or d["attempt"] > max(seen), (d["attempt"], seen)
            seen.append(d["attempt"])
            c.ack([d["d"]])
        # the last ACK is pipelined: the proxy may be journaling / sending the
        # next DELIVER right now.  Kill it without reading that DELIVER.
        p.kill9()
        seen.extend(delivered_attempts(c, wait=0.2))
        c.close()
        p.start()
    c = connect(p)
    got = acquire(c, q)
    assert got["attempt"] > max(seen), (got["attempt"], seen)
    st = c.qstats(q)
    assert (st["depth"], st["inflight"], st.get("tokens")) == (0, 1, 1), st


# -- STATS and durability ------------------------------------------------------------

def test_stats_of_a_token_queue_shows_free_held_and_tokens(proxy, connect, qname):
    q = qname()
    a, b = connect(proxy), connect(proxy)
    declare(a, q, tokens=4)
    a.consume(q, 2)
    a.collect(2)
    b.consume(q, 1)
    b.collect(1)
    b.sync()
    a.sync()
    st = a.qstats(q)
    assert (st["depth"], st["inflight"], st["consumers"], st.get("tokens")) == (1, 3, 2, 4), st
    assert st["delayed"] == 0, st
    full = a.stats()["queues"][q]                       # also without the q filter
    assert (full["depth"], full["inflight"], full.get("tokens")) == (1, 3, 4), full


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill9"])
def test_after_a_restart_the_token_queue_still_has_n_tokens(proxies, connect, qname, how):
    p = proxies.start()
    q = qname()
    c = connect(p)
    declare(c, q, tokens=3)
    c.consume(q, 2)
    c.collect(2)                                        # 2 of 3 held at the restart
    c.sync()
    c.close()
    p.restart(how)
    c = connect(p)
    st = c.qstats(q)
    assert (st["depth"], st["inflight"], st["consumers"], st.get("tokens")) == (3, 0, 0, 3), st
    assert declare(c, q, tokens=3)["depth"] == 3
    declare_error(c, q, 409, tokens=4)                  # still a token queue
    tag = c.next_tag()
    c.send("PUT", {"q": q, "tag": tag}, pack(4))
    c.expect_error(409, tag=tag)
    c.consume(q, 10)
    ds = c.collect(3)
    c.expect_nothing(what="exactly 3 tokens after the restart")
    assert sorted(assert_body_uint(d["body"]) for d in ds) == [1, 2, 3]


def test_fencing_per_token_on_a_semaphore_across_kill9(proxies, connect, qname):
    p = proxies.start()
    q = qname()
    seen = {}                                  # token body -> attempts in order
    for rnd in range(3):
        c = connect(p)
        if rnd == 0:
            declare(c, q, tokens=3)
        c.consume(q, 3)
        for i in range(12):
            d = c.collect(1)[0]
            tok = assert_body_uint(d["body"])
            prev = seen.setdefault(tok, [])
            assert not prev or d["attempt"] > max(prev), (tok, d["attempt"], prev)
            prev.append(d["attempt"])
            if i % 3 == 2:
                c.nack([d["d"]], requeue=False)
            else:
                c.ack([d["d"]])
        p.kill9()                              # releases in flight, DELIVERs unread
        for m in list(c.backlog):
            if m.cmd == "DELIVER":
                for d in split_deliver(m):
                    seen.setdefault(assert_body_uint(d["body"]), []).append(d["attempt"])
        while True:
            d = poll_delivery(c, 0.2)
            if d is None:
                break
            seen.setdefault(assert_body_uint(d["body"]), []).append(d["attempt"])
        c.close()
        p.start()
    c = connect(p)
    c.consume(q, 3)
    ds = c.collect(3)
    c.expect_nothing(what="exactly 3 tokens")
    for d in ds:
        tok = assert_body_uint(d["body"])
        assert d["attempt"] > max(seen.get(tok, [0])), (tok, d["attempt"], seen.get(tok))
    assert sorted(assert_body_uint(d["body"]) for d in ds) == [1, 2, 3]


# -- more DECLARE corners ------------------------------------------------------------

def test_tokens_above_32_and_64_bit_boundaries_are_400_not_truncated(client, qname):
    for n in (2**16 + 1, 2**32 + 1, 2**64 - 1):
        q = qname()
        declare_error(client, q, 400, tokens=n)
        assert q not in queue_names(client)


def test_two_clients_declaring_the_same_tokens_at_once_make_n_tokens(proxy, connect, qname):
    q = qname()
    a, b = connect(proxy), connect(proxy)
    a.send("DECLARE", {"q": q, "tokens": 2})
    b.send("DECLARE", {"q": q, "tokens": 2})
    ha = a.expect("DECLARED").header
    hb = b.expect("DECLARED").header
    assert sorted([ha["depth"], hb["depth"]]) == [2, 2], (ha, hb)
    st = a.qstats(q)
    assert (st["depth"], st.get("tokens")) == (2, 2), st


def test_tokens_on_a_queue_that_exists_by_a_waiting_consumer_creates_them(proxy, connect, qname):
    q = qname()
    waiter, admin = connect(proxy), connect(proxy)
    waiter.consume(q, 1)                         # CONSUME makes the (empty) queue exist
    h = declare(admin, q, tokens=1)
    assert (h["q"], h["depth"]) == (q, 1), h     # §3.6: answers DECLARED {q, depth: N}
    d = one_delivery(waiter)
    assert_body_uint(d["body"], 1)
    assert d["attempt"] == 1


# -- a token queue as another queue's dead_letter ------------------------------------

@pytest.mark.parametrize("path", ["nack_no_requeue", "max_attempts", "ttl"])
def test_a_message_dead_lettered_toward_a_token_queue_never_enters_it(
        proxy, connect, qname, path):
    """§3.6: a token queue "holds exactly N messages, the tokens, for ever".  A
    message moved there by dead-lettering would be a second lock holder."""
    t, src = qname(".lock"), qname(".src")
    c, other = connect(proxy), connect(proxy)
    declare(c, t, tokens=1)
    opts = {"dead_letter": t}
    if path == "max_attempts":
        opts["max_attempts"] = 1
    c.send("DECLARE", dict(q=src, **opts))
    m = c.recv()
    assert m.cmd in ("DECLARED", "ERROR"), m     # refusing the option is one way out
    if m.cmd == "ERROR" and path == "max_attempts":
        declare(c, src, max_attempts=1)          # the limit alone, without the refused link
    if path == "ttl":
        c.put(src, pack("expiring"), ttl=50)
        c.expect_nothing(0.2)
        c.consume(src, 1)                        # expiry may be noticed lazily
    else:
        c.put(src, pack("poison"))
        c.consume(src, 1)
        d = c.collect(1)[0]
        c.nack([d["d"]], requeue=path == "max_attempts")
    c.expect_nothing(0.3)
    c.cancel(src)
    st = c.qstats(t)
    assert (st["depth"] + st["inflight"], st.get("tokens")) == (1, 1), \
        "token queue with tokens 1 now holds %d messages: %r" % (
            st["depth"] + st["inflight"], st)
    # the lock still excludes: one holder, and the holder holds the token
    held = acquire(c, t)
    assert_body_uint(held["body"], 1)
    other.consume(t, 1)
    other.expect_nothing(0.4, "a second holder of a lock with tokens: 1")


def test_a_token_queue_declared_after_being_named_dead_letter_still_holds_n(
        proxy, connect, qname):
    t, src = qname(".lock"), qname(".src")
    c, other = connect(proxy), connect(proxy)
    declare(c, src, dead_letter=t, max_attempts=1)
    assert declare(c, t, tokens=1)["depth"] == 1
    c.put(src, pack("poison"))
    c.consume(src, 1)
    c.nack([c.collect(1)[0]["d"]])               # attempt 2 > max_attempts: dead-lettered
    c.expect_nothing(0.3)
    st = c.qstats(t)
    assert st["depth"] + st["inflight"] == 1, \
        "token queue with tokens 1 holds %d messages: %r" % (st["depth"] + st["inflight"], st)
    held = acquire(c, t)
    assert_body_uint(held["body"], 1)
    other.consume(t, 1)
    other.expect_nothing(0.4, "a second holder of a lock with tokens: 1")


def test_an_auto_ack_consumer_waiting_before_the_declare_does_not_destroy_tokens(
        proxy, connect, qname):
    """§3.6: "a token is never removed" and auto_ack consumers are refused on token
    queues (400).  One that registered while the queue was still plain must not
    swallow the tokens: either the DECLARE is refused or the tokens survive."""
    q = qname()
    a, c = connect(proxy), connect(proxy)
    a.consume(q, 5, auto_ack=True)               # the (empty) queue exists, plain
    c.send("DECLARE", {"q": q, "tokens": 2})
    m = c.recv()
    assert m.cmd in ("DECLARED", "ERROR"), m
    if m.cmd == "ERROR":                         # refusing is one way out: no tokens then
        assert c.qstats(q).get("tokens") in (None, 0)
        return
    assert m.header["depth"] == 2, m.header
    taken = a.drain(quiet=0.3)
    a.cancel(q)
    st = c.qstats(q)
    assert (st["depth"], st["inflight"], st.get("tokens")) == (2, 0, 2), \
        "tokens lost to an auto_ack consumer (it got %d): %r" % (len(taken), st)
    c.consume(q, 5)
    ds = c.collect(2)
    assert sorted(assert_body_uint(d["body"]) for d in ds) == [1, 2]


def test_a_redeclare_without_ack_timeout_keeps_the_lease(proxy, connect, qname):
    q = qname()
    a, b = connect(proxy), connect(proxy)
    declare(a, q, tokens=1, ack_timeout=300)
    assert declare(a, q, tokens=1)["depth"] == 1      # carries no ack_timeout
    assert declare(a, q)["depth"] == 1
    held = acquire(a, q)
    b.consume(q, 1)
    _, got = first_delivery_of([a, b], timeout=4)      # the 300 ms lease still applies
    assert got["attempt"] > held["attempt"], (held, got)


def test_a_lock_consumer_with_limit_1_takes_the_token_once(proxy, connect, qname):
    q = qname()
    a, b = connect(proxy), connect(proxy)
    declare(a, q, tokens=1)
    a.consume(q, 1, limit=1)
    held = one_delivery(a)
    b.consume(q, 1)
    a.ack([held["d"]])
    got = one_delivery(b)
    assert got["attempt"] > held["attempt"]
    b.ack([got["d"]])
    b.cancel(q)
    a.expect_nothing(0.3, "limit 1: the lock is not taken a second time")
    st = a.qstats(q)
    assert (st["depth"], st["inflight"], st["consumers"]) == (1, 0, 1), st
