"""Bad numbers are usage errors, never wrapped or rounded (PROTOCOL.md §4, issue 8 #11, #13).

A bad option value exits 1 naming the option and the accepted form; a JSON
number msgpack cannot hold (1e999, an integer beyond 64 bits) exits 1 naming
the argument. `courier stats` reads a STATS reply of any size.
"""
import json
import os
import subprocess
import sys

import pytest
import zmq

sys.path.insert(0, os.path.dirname(__file__))
from conftest import bound, free_endpoint, pack, socket_of, unpack  # noqa: E402

DEAD = "tcp://127.0.0.1:1"   # nothing listens: a value that got through would exit 2

# (argv, option named in the message). Each of these used to be accepted
# ("-5" read as 2^64-5, "1.5" refused without the form, a timeout whose ms
# overflow an int) or refused without saying what is accepted.
BAD_WHOLE_NUMBERS = [
    (["publish", "q", "1", "--delay", "-5"], "--delay"),
    (["publish", "q", "1", "--delay", "1.5"], "--delay"),
    (["publish", "q", "1", "--delay", str(2 ** 64)], "--delay"),
    (["publish", "q", "1", "--ttl", "-1"], "--ttl"),
    (["consume", "q", "--count", "-1"], "--count"),
    (["consume", "q", "--count", "0"], "--count"),
    (["consume", "q", "--credit", "-1"], "--credit"),
    (["declare", "q", "--max-length", "-1"], "--max-length"),
    (["declare", "q", "--max-attempts", "-1"], "--max-attempts"),
    (["declare", "q", "--max-attempts", "0"], "--max-attempts"),
    (["declare", "q", "--ttl", "-1"], "--ttl"),
    (["declare", "q", "--ack-timeout", "-1"], "--ack-timeout"),
    (["declare", "q", "--ack-timeout", "0"], "--ack-timeout"),
    (["pull", DEAD, "--count", "-1"], "--count"),
    (["serve", DEAD, "--echo", "--count", "-1"], "--count"),
    (["stats", "--watch", "--count", "-1"], "--count"),
    (["bench", "pipeline", "--count", "-1"], "--count"),
    (["bench", "pipeline", "--count", str(10 ** 12)], "--count"),
    (["bench", "pipeline", "--size", "-1"], "--size"),
    (["bench", "request", "--window", "-1"], "--window"),
]

BAD_SECONDS = [
    (["publish", "q", "1", "--timeout", "5000000"], "--timeout"),
    (["stats", "--timeout", "5000000"], "--timeout"),
]


def with_dead_proxy(argv):
    if argv[0] in ("publish", "consume", "declare", "stats", "purge"):
        return argv + ["--proxy", DEAD]
    return argv


@pytest.mark.parametrize("argv,option", BAD_WHOLE_NUMBERS, ids=[" ".join(a) for a, _ in BAD_WHOLE_NUMBERS])
def test_bad_whole_number_is_usage_error_naming_option_and_form(cli, argv, option):
    r = cli.run(*with_dead_proxy(argv))
    assert r.returncode == 1, r.stderr
    assert option + ":" in r.stderr and "expected a whole number" in r.stderr, r.stderr
    assert r.stdout == ""


@pytest.mark.parametrize("argv,option", BAD_SECONDS, ids=[" ".join(a) for a, _ in BAD_SECONDS])
def test_timeout_too_long_for_a_poll_is_usage_error(cli, argv, option):
    r = cli.run(*with_dead_proxy(argv))
    assert r.returncode == 1, r.stderr
    assert option + ":" in r.stderr and "seconds" in r.stderr and "1000000" in r.stderr, r.stderr


# --------------------------------------------------------------------------
# JSON numbers msgpack cannot hold


@pytest.mark.parametrize("value", ["1e999", "-1e999", "[1, 1e400]"])
def test_float_overflow_argument_is_usage_error(cli, value):
    r = cli.run("publish", "q", value, "--proxy", DEAD, "--timeout", "0.5")
    assert r.returncode == 1, r.stderr
    assert "argument 1" in r.stderr and "out of range" in r.stderr and "float64" in r.stderr
    assert "json.exception" not in r.stderr


@pytest.mark.parametrize("value", [str(2 ** 64), str(-(2 ** 63) - 1),
                                   '{"n": [1, 123456789012345678901234567890]}'])
def test_integer_beyond_64_bits_is_refused_not_sent_as_float(cli, zctx, value):
    pull, ep = bound(zctx, zmq.PULL, timeout_ms=300)
    r = cli.run("push", ep, "1", value)
    assert r.returncode == 1, r.stderr
    assert "argument 2" in r.stderr and "64 bits" in r.stderr
    with pytest.raises(zmq.Again):   # arguments are all checked before anything is sent
        pull.recv()


def test_request_with_out_of_range_number_is_usage_error(cli):
    r = cli.run("request", DEAD, '{"a": 1e400}', "--timeout", "0.5")
    assert r.returncode == 1, r.stderr
    assert "the request" in r.stderr and "out of range" in r.stderr


def test_out_of_range_stdin_line_is_reported_and_the_others_still_go(cli, zctx):
    pull, ep = bound(zctx, zmq.PULL)
    r = cli.run("push", ep, input="1\n1e999\n%d\n2\n" % 2 ** 64)
    assert r.returncode == 3     # a bad stdin line is bad data (docs/CLI.md), as for non-JSON lines
    assert "stdin line 2" in r.stderr and "stdin line 3" in r.stderr and "out of range" in r.stderr
    assert [unpack(pull.recv()), unpack(pull.recv())] == [1, 2]


def test_ext_type_beyond_int64_does_not_wrap_to_minus_1(cli, zctx):
    pull, ep = bound(zctx, zmq.PULL, timeout_ms=300)
    r = cli.run("push", ep, '{"$ext": [%d, "AA=="]}' % (2 ** 64 - 1))
    assert r.returncode == 1, r.stderr
    assert "$ext" in r.stderr and "-128..127" in r.stderr
    with pytest.raises(zmq.Again):
        pull.recv()


def test_pull_refuses_a_header_claiming_more_elements_than_the_frame_and_goes_on(cli, zctx):
    push, ep = bound(zctx, zmq.PUSH)
    p = cli.start("pull", ep, "--count", 2, "--timeout", 10)
    push.send(b"\xdd\xff\xff\xff\xff")   # array32 of 2^32-1 elements in 5 bytes
    push.send(pack("after"))
    rc, out, err = cli.finish(p)
    assert rc == 3
    assert "more elements than the 5-byte frame holds" in err, err
    assert out == '"after"\n'


def test_pull_refuses_non_string_keys_nested_in_keys_at_once_and_goes_on(cli, zctx):
    # Found by fuzz/msgpack_to_json_fuzz: each map used as a key is printed as
    # its JSON text, escaped once more per level, so these 81 bytes (40 maps,
    # each the key of the next) used to print as 2^40 bytes.
    push, ep = bound(zctx, zmq.PUSH)
    p = cli.start("pull", ep, "--count", 2, "--timeout", 10)
    push.send(b"\x81" * 40 + b"\xc0" + b"\xc0" * 40)
    push.send(pack("after"))
    rc, out, err = cli.finish(p)
    assert rc == 3
    assert "holds another such key" in err, err
    assert out == '"after"\n'


# --------------------------------------------------------------------------
# Against a proxy: refused values reach nothing; big STATS replies parse


def stats_of(cli, proxy, q):
    r = cli.run("stats", q, "--proxy", proxy.endpoint, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["queues"].get(q)


def test_publish_negative_delay_stores_nothing(cli, proxy, qname):
    q = qname()
    r = cli.run("publish", q, "1", "--delay", "-5", "--proxy", proxy.endpoint)
    assert r.returncode == 1, r.stderr
    assert stats_of(cli, proxy, q) is None     # not delayed for ever: never sent
    r = cli.run("publish", q, "1", "--delay", "0", "--proxy", proxy.endpoint)
    assert r.returncode == 0, r.stderr
    assert stats_of(cli, proxy, q)["depth"] == 1


def test_declare_negative_ack_timeout_declares_nothing(cli, proxy, qname):
    q = qname()
    r = cli.run("declare", q, "--ack-timeout", "-1", "--proxy", proxy.endpoint)
    assert r.returncode == 1, r.stderr
    assert stats_of(cli, proxy, q) is None


def test_stats_lists_more_than_256_queues(cli, proxy, qname, zctx):
    d = socket_of(zctx, zmq.DEALER)
    d.connect(proxy.endpoint)
    names = [qname(".many") for _ in range(300)]
    for q in names:
        d.send_multipart([b"CQP1", b"DECLARE", pack({"q": q})])
    for _ in names:
        assert d.recv_multipart()[1] == b"DECLARED"
    r = cli.run("stats", "--proxy", proxy.endpoint, "--json")
    assert r.returncode == 0, r.stderr
    assert set(names) <= json.loads(r.stdout)["queues"].keys()
    r = cli.run("stats", "--proxy", proxy.endpoint)
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0] for line in r.stdout.splitlines()[1:-1]}
    assert set(names) <= rows


# --------------------------------------------------------------------------
# courier-proxy's options


@pytest.mark.parametrize("option,value", [("--dedup-window", "-1"), ("--dedup-window", "1.5"),
                                          ("--heartbeat", "-1"), ("--heartbeat", "5")])
def test_proxy_refuses_bad_millisecond_option(proxy_bin, tmp_path, option, value):
    argv = [proxy_bin, "--listen", free_endpoint(), "--data", str(tmp_path / "data"), option, value]
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=5)
    except subprocess.TimeoutExpired:
        pytest.fail("courier-proxy accepted %s %s and started" % (option, value))
    assert r.returncode == 1, r.stderr
    assert option + ":" in r.stderr and "whole number of milliseconds" in r.stderr, r.stderr
