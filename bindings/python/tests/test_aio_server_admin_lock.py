"""courier.aio Server, Admin and Lock: the rest of the API awaited."""

import asyncio

import pytest

import courier
import courier.aio


def run(coro, timeout=120):
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


# ---------------------------------------------------------------- Server

def test_an_async_server_answers_thousands_of_concurrent_requests_from_a_sync_client():
    async def main():
        async with courier.aio.Server() as server:
            server.bind("tcp://127.0.0.1:*")
            endpoint = server.last_endpoint

            async def serve():
                async for request in server:
                    request.reply(request.body * 2)

            serving = asyncio.ensure_future(serve())
            with courier.Client() as client:
                client.connect(endpoint)
                futures = [client.request_async(i, timeout=20) for i in range(5000)]
                replies = await asyncio.gather(*(asyncio.wrap_future(f) for f in futures))
            assert replies == [2 * i for i in range(5000)]
            serving.cancel()
            with pytest.raises(asyncio.CancelledError):
                await serving
            assert server.handled_requests >= 5000
    run(main())


def test_serve_awaits_coroutine_handlers_and_turns_exceptions_into_remote_errors():
    async def main():
        async with courier.aio.Server() as server, courier.aio.Client() as client:
            server.bind("tcp://127.0.0.1:*")
            client.connect(server.last_endpoint)

            async def handler(body):
                await asyncio.sleep(0)
                if body == "boom":
                    raise ValueError("no boom here")
                return body.upper()

            serving = asyncio.ensure_future(server.serve(handler))
            assert await client.request("hi", timeout=5) == "HI"
            with pytest.raises(courier.RemoteError, match="ValueError: no boom here"):
                await client.request("boom", timeout=5)
            assert await client.request("still", timeout=5) == "STILL"
            server.stop()
            await asyncio.wait_for(serving, 5)
    run(main())


def test_a_cancelled_server_receive_takes_no_request():
    async def main():
        async with courier.aio.Server() as server:
            server.bind("tcp://127.0.0.1:*")
            waiting = asyncio.ensure_future(server.receive())
            await asyncio.sleep(0.05)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            with courier.Client() as client:
                client.connect(server.last_endpoint)
                future = client.request_async("after", timeout=5)
                request = await server.receive(5)
                assert request.body == "after"
                request.reply("ok")
                assert await asyncio.wrap_future(future) == "ok"
            with pytest.raises(courier.TimeoutError):
                await server.receive(0.05)
    run(main())


# ---------------------------------------------------------------- Admin

def test_async_admin_declares_purges_and_reads_stats(proxy, qname):
    async def main():
        async with courier.aio.Admin(proxy.endpoint) as admin:
            assert await admin.declare(qname, max_length=10) == 0
            with courier.Producer(proxy.endpoint) as producer:
                for i in range(3):
                    producer.publish(qname, i)
            stats = await admin.stats(qname)
            assert stats.depth == 3
            assert qname in (await admin.stats()).queues
            assert await admin.purge(qname) == 3
            assert (await admin.stats(qname)).depth == 0
            with pytest.raises(courier.RemoteError):
                await admin.declare(qname, tokens=1, max_length=0)
            assert admin.endpoint == proxy.endpoint
        assert admin.closed
    run(main())


# ---------------------------------------------------------------- Lock

def test_async_lock_hands_the_token_over_with_increasing_fences(proxy, qname):
    async def main():
        async with courier.aio.Lock(qname, proxy.endpoint) as first, courier.aio.Lock(qname, proxy.endpoint) as second:
            guard = await first.acquire(timeout=10)
            assert await second.try_acquire(0.2) is None
            waiting = asyncio.ensure_future(second.acquire(timeout=10))
            await asyncio.sleep(0.1)
            assert not waiting.done()  # the loop stays free while it waits
            fence = guard.fence
            assert guard.release()
            async with await waiting as next_guard:
                assert next_guard.fence > fence
            with pytest.raises(courier.TimeoutError):
                async with courier.aio.Lock(qname, proxy.endpoint, permits=1) as third:
                    held = await first.acquire(timeout=10)
                    try:
                        await third.acquire(timeout=0.2)
                    finally:
                        held.release()
    run(main())


def test_a_cancelled_acquire_gives_back_a_token_that_arrives_after_all(proxy, qname):
    async def main():
        async with courier.aio.Lock(qname, proxy.endpoint) as holder, courier.aio.Lock(qname, proxy.endpoint) as quitter:
            guard = await holder.acquire(timeout=10)
            waiting = asyncio.ensure_future(quitter.acquire(timeout=2))
            await asyncio.sleep(0.1)
            waiting.cancel()
            guard.release()  # the token may now reach the cancelled waiter...
            with pytest.raises(asyncio.CancelledError):
                await waiting
            # ...which gives it back at once, so a third taker gets it.
            async with courier.aio.Lock(qname, proxy.endpoint) as third:
                again = await third.acquire(timeout=5)
                again.release()
    run(main())
