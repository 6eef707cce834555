"""Push/Pull (PROTOCOL.md §1): values, timeouts, batches, raw bytes, closing,
bad input, threads, and interop with plain pyzmq + msgpack peers."""

import math
import os
import threading
import time

import msgpack
import pytest
import zmq

import courier

VALUES = [
    None, True, False, 0, 1, -1, 127, 128, -32, -33, 255, 256, 65535, 65536, 2**32, 2**63 - 1, -2**63, 2**64 - 1,
    0.0, -1.5, 1e300, float("inf"), "", "é∑", "x" * 70000, b"", b"\x00\xff" * 40000, [], [1, [2, [3]]],
    {}, {"id": 7, "name": "n", "payload": bytes(64)}, {1: "int key", b"b": None, (1, 2): [True]},
]


@pytest.fixture
def pipe():
    pull = courier.Pull()
    pull.bind("tcp://127.0.0.1:*")
    push = courier.Push()
    push.connect(pull.last_endpoint)
    yield push, pull
    push.close()
    pull.close()


def test_every_value_type_round_trips(pipe):
    push, pull = pipe
    for v in VALUES:
        assert push.send(v, timeout=5)
        got = pull.receive(timeout=5)
        assert got == (list(v) if isinstance(v, tuple) else v)
    push.send(float("nan"))
    assert math.isnan(pull.receive(5))
    push.send([1.5, (1, 2)])
    assert pull.receive(5) == [1.5, [1, 2]]


def test_receive_timeout_raises_courier_timeout_error_which_is_the_builtin_too(pipe):
    _, pull = pipe
    t0 = time.monotonic()
    with pytest.raises(courier.TimeoutError) as e:
        pull.receive(timeout=0.2)
    assert 0.15 < time.monotonic() - t0 < 1.0
    assert isinstance(e.value, TimeoutError) and e.value.code == 3


def test_try_receive_returns_the_default_when_nothing_waits_so_none_stays_a_value(pipe):
    push, pull = pipe
    missing = object()
    assert pull.try_receive(missing) is missing
    push.send(None)
    deadline = time.monotonic() + 5
    while (got := pull.try_receive(missing)) is missing and time.monotonic() < deadline:
        time.sleep(0.01)
    assert got is None


def test_send_many_and_receive_many_move_batches(pipe):
    push, pull = pipe
    values = [{"id": i, "name": "n%d" % i, "payload": bytes(64)} for i in range(5000)]
    assert push.send_many(values) == 5000
    got = []
    while len(got) < 5000:
        batch = pull.receive_many(1000, timeout=5)
        assert batch, "timed out after %d" % len(got)
        assert len(batch) <= 1000
        got.extend(batch)
    assert got == values
    assert pull.receive_many(10, timeout=0.05) == []
    assert pull.receive_many(0, timeout=0) == []


def test_raw_bytes_go_through_untouched(pipe):
    push, pull = pipe
    push.send_raw(msgpack.packb({"a": 1}))
    assert pull.receive_raw(5) == msgpack.packb({"a": 1})
    push.send_raw(bytearray(b"\x91\x01"))
    assert pull.receive(5) == [1]


def test_iteration_yields_values_in_order(pipe):
    push, pull = pipe
    push.send_many(list(range(10)))
    out = []
    for v in pull:
        out.append(v)
        if v == 9:
            break
    assert out == list(range(10))


def test_with_closes_and_close_is_idempotent():
    with courier.Pull() as pull:
        pull.bind("tcp://127.0.0.1:*")
    assert pull.closed
    pull.close()
    pull.close()
    with pytest.raises(courier.ClosedError):
        pull.receive(0)
    with pytest.raises(courier.ClosedError):
        with pull:
            pass


def test_close_from_another_thread_wakes_a_blocked_receive():
    pull = courier.Pull()
    pull.bind("tcp://127.0.0.1:*")
    threading.Timer(0.2, pull.close).start()
    t0 = time.monotonic()
    with pytest.raises(courier.ClosedError):
        pull.receive()
    assert time.monotonic() - t0 < 1.0


def test_context_shutdown_raises_closed_error():
    ctx = courier.Context()
    pull = courier.Pull(context=ctx)
    pull.bind("inproc://shutdown-test")
    threading.Timer(0.2, ctx.shutdown).start()
    with pytest.raises(courier.ClosedError):
        pull.receive()
    assert ctx.is_shut_down
    pull.close()


def test_send_times_out_when_no_peer_takes_it():
    push = courier.Push(socket=courier.SocketOptions(linger=0))
    push.bind("tcp://127.0.0.1:*")  # a bound PUSH with no peer blocks
    assert push.send(1, timeout=0.1) is False
    assert push.try_send(1) is False
    push.close()


def test_bad_values_raise_python_errors_naming_the_path_and_nothing_is_sent(pipe):
    push, pull = pipe
    with pytest.raises(TypeError, match=r'value\["items"\]\[1\]'):
        push.send({"items": [1, object()]})
    with pytest.raises(OverflowError):
        push.send(2**64)
    push.send("after")
    assert pull.receive(5) == "after"


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(courier.ConfigError, match="bogus"):
        courier.Push().connect("bogus://x")
    with pytest.raises(courier.ConfigError):
        courier.Pull().receive(timeout=-1)
    with pytest.raises(courier.ConfigError):
        courier.SocketOptions(linger=-1)
    with pytest.raises(TypeError):
        courier.Push(lingr=1)
    with pytest.raises(TypeError):
        courier.Push().send_raw("not bytes")


def test_a_frame_that_is_not_msgpack_is_a_decode_error_and_the_next_one_arrives():
    ctx = zmq.Context.instance()
    pull = courier.Pull()
    pull.bind("tcp://127.0.0.1:*")
    peer = ctx.socket(zmq.PUSH)
    peer.connect(pull.last_endpoint)
    peer.send(b"\xc1")            # never valid msgpack
    peer.send(b"\x92\x01")        # truncated array
    peer.send(msgpack.packb("ok"))
    for _ in range(2):
        with pytest.raises(courier.DecodeError) as e:
            pull.receive(5)
        assert isinstance(e.value, ValueError) and e.value.code == 1
    assert pull.receive(5) == "ok"
    peer.send_multipart([b"\x01", b"\x02"])
    with pytest.raises(courier.ProtocolError):
        pull.receive(5)
    peer.close(0)
    pull.close()


def test_interop_with_plain_pyzmq_and_msgpack_peers_both_ways():
    ctx = zmq.Context.instance()
    # pyzmq sender -> courier receiver
    pull = courier.Pull()
    pull.bind("tcp://127.0.0.1:*")
    zpush = ctx.socket(zmq.PUSH)
    zpush.connect(pull.last_endpoint)
    for v in VALUES:
        zpush.send(msgpack.packb(v))
        got = pull.receive(5)
        assert got == v or (isinstance(v, dict) and (1, 2) in v)
    # courier sender -> pyzmq receiver, byte for byte msgpack.packb
    zpull = ctx.socket(zmq.PULL)
    port = zpull.bind_to_random_port("tcp://127.0.0.1")
    push = courier.Push()
    push.connect("tcp://127.0.0.1:%d" % port)
    for v in VALUES:
        push.send(v)
        assert zpull.poll(5000)
        assert zpull.recv() == msgpack.packb(v)
    for s in (zpush, zpull):
        s.close(0)
    push.close()
    pull.close()


def test_many_threads_each_with_their_own_sockets():
    n_threads, n_msgs = 8, 500
    errors = []

    def worker(i):
        try:
            with courier.Pull() as pull, courier.Push() as push:
                pull.bind("inproc://threads-%d" % i)
                push.connect("inproc://threads-%d" % i)
                for k in range(n_msgs):
                    push.send({"t": i, "k": k})
                    assert pull.receive(5) == {"t": i, "k": k}
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors


def test_one_socket_used_by_two_threads_at_once_is_refused_not_a_crash():
    pull = courier.Pull()
    pull.bind("tcp://127.0.0.1:*")
    t = threading.Thread(target=lambda: pytest.raises(courier.ClosedError, pull.receive))
    t.start()
    time.sleep(0.2)
    with pytest.raises(courier.ConfigError, match="another thread"):
        pull.receive(0.1)
    pull.close()
    t.join(5)
    assert not t.is_alive()


def test_a_forked_child_uses_its_own_context_and_leaves_inherited_objects_alone():
    with courier.Pull() as pull, courier.Client() as inherited:  # the parent used courier first
        pull.bind("tcp://127.0.0.1:*")
        endpoint = pull.last_endpoint
        pid = os.fork()
        if pid == 0:  # the child: no pytest from here on, only os._exit
            code = 1
            try:
                with courier.Push() as push:
                    push.connect(endpoint)
                    code = 0 if push.send("from the child", timeout=5) else 2
                courier._native._close_all()  # what atexit does; flushes the send
            finally:
                os._exit(code)
        assert pull.receive(10) == "from the child"
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert inherited.in_flight == 0


def test_misuse_raises_python_exceptions_never_crashes(pipe):
    push, pull = pipe
    with pytest.raises(TypeError):
        push.send_many(5)
    with pytest.raises(TypeError):
        pull.receive_many(-1)
    with pytest.raises(TypeError):
        courier.Request()
    with pytest.raises(TypeError):
        courier.Delivery()
    with pytest.raises(TypeError):
        push.bind(None)
    push.send("still fine")
    assert pull.receive(5) == "still fine"
