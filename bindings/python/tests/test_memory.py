"""No leaks on the hot paths: RSS stays flat over many round trips, values
and futures are not kept alive by the binding."""

import gc
import os
import sys
import time
import weakref

import courier


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_rss_is_stable_over_many_push_pull_round_trips_and_values_are_not_held():
    value = {"id": 1, "name": "n", "payload": bytes(64), "list": [1.5, "x", None]}
    refs = sys.getrefcount(value)
    with courier.Pull() as pull, courier.Push() as push:
        pull.bind("inproc://memory")
        push.connect("inproc://memory")

        def rounds(n):
            for _ in range(n):
                push.send(value)
                got = pull.receive(5)
            push.send_many([value] * 100)
            assert len(pull.receive_many(100, 5)) >= 1
            while pull.try_receive(None) is not None:
                pass
            return got

        rounds(20000)  # warm up allocators and ZeroMQ's pipes
        before = rss_bytes()
        # The figure: one million round trips (about a second here).
        assert rounds(1000000) == value
        grown = rss_bytes() - before
    assert sys.getrefcount(value) == refs
    assert grown < 8 * 1024 * 1024, "RSS grew by %d bytes over 1M round trips" % grown


def test_futures_are_released_once_completed():
    server = courier.Server()
    server.bind("inproc://memory-futures")
    with courier.Client() as client:
        client.connect("inproc://memory-futures")
        futures = [client.request_async(i, timeout=10) for i in range(2000)]
        for _ in range(len(futures)):
            server.receive(5).reply("ok")
        assert all(f.result(10) == "ok" for f in futures)
        refs = [weakref.ref(f) for f in futures]
        del futures
        # The completion thread drops its reference just after setting the
        # result, so give it a moment.
        deadline = time.monotonic() + 5
        while any(r() is not None for r in refs) and time.monotonic() < deadline:
            gc.collect()
            time.sleep(0.01)
        assert sum(r() is not None for r in refs) == 0
    server.close()
