"""courier.aio: the API awaited, woken by file descriptors the event loop
watches; no missed wake-ups, cancellation loses nothing, no thread per call."""

import asyncio
import os
import random
import threading

import pytest

import courier
import courier.aio

N = 10_000


def run(coro, timeout=120):
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


def os_threads():
    return len(os.listdir("/proc/self/task"))


# ---------------------------------------------------------------- Push / Pull

def small_hwm():
    # Tiny queues: the sender hits the high-water mark again and again, so
    # both directions' wake-ups are exercised thousands of times.
    return courier.SocketOptions(send_hwm=8, receive_hwm=8)


def test_ten_thousand_messages_through_async_push_and_pull_arrive_in_order():
    async def main():
        async with courier.aio.Pull(socket=small_hwm()) as pull, courier.aio.Push(socket=small_hwm()) as push:
            pull.bind("tcp://127.0.0.1:*")
            push.connect(pull.last_endpoint)
            threads = os_threads()

            async def send():
                for i in range(N):
                    assert await push.send({"i": i}, timeout=10)

            async def receive():
                return [(await pull.receive(timeout=10))["i"] for _ in range(N)]

            _, got = await asyncio.gather(send(), receive())
            assert got == list(range(N))
            assert os_threads() == threads  # no thread per call
    run(main())


def test_batch_forms_move_ten_thousand_messages():
    async def main():
        async with courier.aio.Pull(socket=small_hwm()) as pull, courier.aio.Push(socket=small_hwm()) as push:
            pull.bind("tcp://127.0.0.1:*")
            push.connect(pull.last_endpoint)

            async def receive():
                got = []
                while len(got) < N:
                    got += await pull.receive_many(500, timeout=10)
                return got

            sent, got = await asyncio.gather(push.send_many(list(range(N)), timeout=30), receive())
            assert sent == N and got == list(range(N))
    run(main())


def test_a_cancelled_receive_loses_no_message():
    async def main():
        async with courier.aio.Pull() as pull, courier.aio.Push() as push:
            pull.bind("tcp://127.0.0.1:*")
            push.connect(pull.last_endpoint)
            waiting = asyncio.ensure_future(pull.receive())
            await asyncio.sleep(0.05)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            assert await push.send("kept")
            assert await pull.receive(timeout=5) == "kept"

            # Cancellations racing with arrivals: every value comes out once.
            rng = random.Random(7)
            got = []
            for i in range(500):
                task = asyncio.ensure_future(pull.receive())
                await asyncio.sleep(0)
                await push.send(i)
                for _ in range(rng.randrange(3)):
                    await asyncio.sleep(0)
                task.cancel()
                try:
                    got.append(await task)
                except asyncio.CancelledError:
                    pass
            while len(got) < 500:
                got.append(await pull.receive(timeout=5))
            assert sorted(got) == list(range(500))
    run(main())


def test_receive_times_out_with_courier_timeout_error():
    async def main():
        async with courier.aio.Pull() as pull:
            pull.bind("tcp://127.0.0.1:*")
            start = asyncio.get_running_loop().time()
            with pytest.raises(courier.TimeoutError):
                await pull.receive(timeout=0.2)
            assert 0.15 < asyncio.get_running_loop().time() - start < 1.0
            assert await pull.receive_many(10, timeout=0.05) == []
    run(main())


def test_closing_wakes_a_waiting_receive_with_closed_error():
    async def main():
        pull = courier.aio.Pull()
        pull.bind("tcp://127.0.0.1:*")
        waiting = asyncio.ensure_future(pull.receive())
        await asyncio.sleep(0.05)
        pull.close()
        with pytest.raises(courier.ClosedError):
            await waiting
    run(main())


def test_async_for_over_a_pull():
    async def main():
        async with courier.aio.Pull() as pull, courier.aio.Push() as push:
            pull.bind("tcp://127.0.0.1:*")
            push.connect(pull.last_endpoint)
            for i in range(3):
                await push.send(i)
            got = []
            async for value in pull:
                got.append(value)
                if len(got) == 3:
                    break
            assert got == [0, 1, 2]
    run(main())


# ---------------------------------------------------------------- Client

@pytest.fixture
def doubling_server():
    server = courier.Server()
    server.bind("tcp://127.0.0.1:*")
    thread = threading.Thread(target=server.serve, args=(lambda body: body * 2,))
    thread.start()
    yield server.last_endpoint
    server.stop()
    thread.join(5)
    server.close()


def test_many_concurrent_requests_each_get_their_reply(doubling_server):
    async def main():
        async with courier.aio.Client() as client:
            client.connect(doubling_server)
            assert await client.request(21, timeout=5) == 42
            threads = os_threads()
            replies = await asyncio.gather(*(client.request(i, timeout=10) for i in range(2000)))
            assert replies == [2 * i for i in range(2000)]
            assert os_threads() == threads
    run(main())


def test_a_cancelled_request_leaves_the_client_working(doubling_server, dead_endpoint):
    async def main():
        async with courier.aio.Client() as client:
            client.connect(doubling_server)
            task = asyncio.ensure_future(client.request("x", timeout=5))
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await client.request("y", timeout=5) == "yy"
        async with courier.aio.Client() as lonely:
            lonely.connect(dead_endpoint)
            with pytest.raises(courier.TimeoutError):
                await lonely.request("nobody", timeout=0.2)
    run(main())


# ---------------------------------------------------------------- the proxy

def test_ten_thousand_messages_through_the_proxy_with_async_producer_and_consumer(proxy, qname):
    async def main():
        async with courier.aio.Producer(proxy.endpoint, window=64) as producer, \
                courier.aio.Consumer(qname, proxy.endpoint, prefetch=50) as consumer:
            async def publish():
                for start in range(0, N, 1000):
                    await producer.publish_many(qname, [{"i": i} for i in range(start, start + 1000)])

            async def consume():
                got = []
                async for delivery in consumer:
                    with delivery.process():
                        got.append(delivery.body["i"])
                    if len(got) == N:
                        break
                return got

            _, got = await asyncio.gather(publish(), consume())
            assert sorted(got) == list(range(N)) and len(set(got)) == N
    run(main(), timeout=300)
    with courier.Admin(proxy.endpoint) as admin:
        s = admin.stats(qname)
        assert (s.put, s.depth) == (N, 0)


def test_a_cancelled_consumer_receive_loses_no_delivery(proxy, qname):
    total = 300
    with courier.Producer(proxy.endpoint) as producer:
        producer.publish_many(qname, list(range(total)))

    async def main():
        rng = random.Random(11)
        got = []
        async with courier.aio.Consumer(qname, proxy.endpoint, prefetch=5) as consumer:
            while len(got) < total:
                task = asyncio.ensure_future(consumer.receive(timeout=10))
                for _ in range(rng.randrange(4)):
                    await asyncio.sleep(0)
                if rng.random() < 0.5:
                    task.cancel()
                try:
                    delivery = await task
                except asyncio.CancelledError:
                    continue
                got.append(delivery.body)
                delivery.ack()
            with pytest.raises(courier.TimeoutError):
                await consumer.receive(timeout=0.3)
        return got

    got = run(main())
    assert sorted(got) == list(range(total))
    with courier.Admin(proxy.endpoint) as admin:
        s = admin.stats(qname)
        assert (s.depth, s.inflight, s.redelivered) == (0, 0, 0)


def test_a_full_window_waits_for_confirms_not_for_a_timer(proxy, qname):
    async def main():
        async with courier.aio.Producer(proxy.endpoint, window=4) as producer:
            seqs = await asyncio.gather(*(producer.publish(qname, i) for i in range(400)))
            assert len(set(seqs)) == 400
            assert producer.unconfirmed == 0
    run(main())


def test_stop_ends_async_iteration(proxy, qname):
    async def main():
        async with courier.aio.Consumer(qname, proxy.endpoint) as consumer:
            asyncio.get_running_loop().call_later(0.1, consumer.stop)
            async for _ in consumer:
                raise AssertionError("the queue is empty")
    run(main())
