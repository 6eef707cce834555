"""Client/Server request/reply (PROTOCOL.md §2): blocking and async requests,
handlers on the caller's thread, errors, and interop with pyzmq REQ/DEALER/
ROUTER peers speaking the §2 frames."""

import concurrent.futures
import threading
import time

import msgpack
import pytest
import zmq

import courier


_serving = []


@pytest.fixture
def server():
    s = courier.Server()
    s.bind("tcp://127.0.0.1:*")
    yield s
    s.stop()
    while _serving:
        t = _serving.pop()
        t.join(5)
        assert not t.is_alive(), "serve() did not return after stop()"
    s.close()


def serve_in_thread(server, handler):
    t = threading.Thread(target=server.serve, args=(handler,), daemon=True)
    t.start()
    _serving.append(t)
    return t


def test_request_returns_the_reply_and_handlers_run_on_the_serving_python_thread(server):
    seen = []

    def handler(body):
        seen.append(threading.current_thread().name)
        return {"echo": body}

    t = serve_in_thread(server, handler)
    with courier.Client() as client:
        client.connect(server.last_endpoint)
        for v in [None, 1, "x", b"b", [1, 2], {"k": [1.5]}]:
            assert client.request(v, timeout=5) == {"echo": v}
    server.stop()
    t.join(5)
    assert not t.is_alive()
    assert set(seen) == {t.name}
    assert server.handled_requests == 6


def test_a_handler_exception_is_a_remote_error_and_serving_goes_on(server):
    def handler(body):
        if body == "boom":
            raise KeyError("no such thing")
        return body

    serve_in_thread(server, handler)
    with courier.Client() as client:
        client.connect(server.last_endpoint)
        with pytest.raises(courier.RemoteError) as e:
            client.request("boom", timeout=5)
        assert e.value.status == 0 and "KeyError" in e.value.reason and e.value.code == 4
        assert client.request("fine", timeout=5) == "fine"


def test_request_times_out_when_nobody_answers():
    with courier.Client() as client:
        client.connect("tcp://127.0.0.1:1")
        t0 = time.monotonic()
        with pytest.raises(courier.TimeoutError):
            client.request(1, timeout=0.2)
        assert time.monotonic() - t0 < 1.0
        with pytest.raises(courier.ConfigError):
            client.request(1, timeout=0)


def test_request_async_gives_concurrent_futures_completed_off_the_io_thread(server):
    serve_in_thread(server, lambda body: body * 2)
    callback_threads = []
    with courier.Client() as client:
        client.connect(server.last_endpoint)
        futures = [client.request_async(i, timeout=10) for i in range(200)]
        futures[0].add_done_callback(lambda f: callback_threads.append(threading.current_thread().name))
        done, _ = concurrent.futures.wait(futures, timeout=10)
        assert len(done) == 200
        assert [f.result() for f in futures] == [i * 2 for i in range(200)]
        assert not futures[1].cancel()  # handed over: cannot be cancelled
        failing = client.request_async("x", timeout=0.1)
        server.stop()
        assert isinstance(failing.exception(timeout=5), (courier.TimeoutError, courier.RemoteError)) or \
            failing.result() == "xx"
    # A done-callback ran on a Python thread (the completion thread or this one).
    assert callback_threads and callback_threads[0] in ("courier-completions", threading.current_thread().name)


def test_iterating_a_server_takes_requests_and_reply_sends_at_once(server):
    results = []

    def ask():
        with courier.Client() as client:
            client.connect(server.last_endpoint)
            results.append(client.request({"n": 20}, timeout=5))

    t = threading.Thread(target=ask)
    t.start()
    for req in server:
        assert req.body == {"n": 20} and req.raw == msgpack.packb({"n": 20})
        assert req.reply(req.body["n"] + 1)
        assert not req.reply(0) and req.answered  # the first answer wins
        break
    t.join(5)
    assert results == [21]


def test_receive_and_fail(server):
    out = []

    def ask():
        with courier.Client() as client:
            client.connect(server.last_endpoint)
            try:
                client.request(1, timeout=5)
            except courier.RemoteError as e:
                out.append(e.reason)

    t = threading.Thread(target=ask)
    t.start()
    req = server.receive(timeout=5)
    req.fail("not today")
    t.join(5)
    assert out == ["not today"]
    with pytest.raises(courier.TimeoutError):
        server.receive(timeout=0.05)


def test_stop_from_another_thread_ends_serve(server):
    t = serve_in_thread(server, lambda b: b)
    time.sleep(0.1)
    server.stop()
    t.join(2)
    assert not t.is_alive()


def test_pyzmq_req_and_dealer_clients_talk_to_a_courier_server(server):
    serve_in_thread(server, lambda body: {"got": body})
    ctx = zmq.Context.instance()
    req = ctx.socket(zmq.REQ)
    req.connect(server.last_endpoint)
    req.send_multipart([msgpack.packb({"id": 7}), msgpack.packb("hi")])
    assert req.poll(5000)
    header, body = req.recv_multipart()
    assert msgpack.unpackb(header) == {"id": 7, "ok": True}
    assert msgpack.unpackb(body) == {"got": "hi"}
    dealer = ctx.socket(zmq.DEALER)
    dealer.connect(server.last_endpoint)
    dealer.send_multipart([b"", msgpack.packb({"id": 1}), msgpack.packb(1)])
    dealer.send_multipart([b"", msgpack.packb({"id": 2}), msgpack.packb(2)])
    replies = {}
    for _ in range(2):
        assert dealer.poll(5000)
        empty, header, body = dealer.recv_multipart()
        h = msgpack.unpackb(header)
        replies[h["id"]] = msgpack.unpackb(body)
    assert replies == {1: {"got": 1}, 2: {"got": 2}}
    req.close(0)
    dealer.close(0)


def test_a_courier_client_talks_to_a_pyzmq_router_server():
    ctx = zmq.Context.instance()
    router = ctx.socket(zmq.ROUTER)
    port = router.bind_to_random_port("tcp://127.0.0.1")

    def serve():
        for _ in range(2):
            if not router.poll(5000):
                return
            rid, empty, header, body = router.recv_multipart()
            h = msgpack.unpackb(header)
            v = msgpack.unpackb(body)
            if v == "fail":
                rep = [rid, b"", msgpack.packb({"id": h["id"], "ok": False, "error": "nope"}), msgpack.packb(None)]
            else:
                rep = [rid, b"", msgpack.packb({"id": h["id"], "ok": True}), msgpack.packb([v, v])]
            router.send_multipart(rep)

    t = threading.Thread(target=serve)
    t.start()
    with courier.Client() as client:
        client.connect("tcp://127.0.0.1:%d" % port)
        assert client.request("a", timeout=5) == ["a", "a"]
        with pytest.raises(courier.RemoteError, match="nope"):
            client.request("fail", timeout=5)
    t.join(5)
    router.close(0)
