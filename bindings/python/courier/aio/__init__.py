"""courier for asyncio: the same objects, awaited.

    async with courier.aio.Producer(endpoint) as producer:
        await producer.publish("hello", {"n": 1})
    async with courier.aio.Consumer("hello", endpoint) as consumer:
        async for delivery in consumer:
            with delivery.process():
                ...

How it waits (never a thread per call, never a sleep loop):
- Push/Pull watch their socket's ZMQ_FD with loop.add_reader().
- Client and Producer: the C++ I/O thread posts each reply/confirm to a
  queue behind a level-triggered eventfd the loop watches.
- Consumer: one C++ relay thread per Consumer moves deliveries, on demand,
  to a list behind an eventfd the loop watches.
Objects bind to the running loop when made: make them inside a coroutine,
and use each from that loop only. Cancelling an await loses no message.
- Server: its ROUTER's ZMQ_FD, as Push/Pull.
- Admin and Lock run their blocking call in the loop's default executor
  (an Admin call is one short round trip; Lock.acquire is one wait for a
  token): the loop stays free, and a cancelled acquire() gives back a token
  that arrives after all.
"""

from .admin import Admin
from .consumer import Consumer
from .lock import Lock
from .pipeline import Pull, Push
from .producer import Producer
from .request import Client, Server

__all__ = ["Push", "Pull", "Client", "Server", "Producer", "Consumer", "Admin", "Lock"]
