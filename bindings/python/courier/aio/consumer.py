"""Consumer (PROTOCOL.md §3) for asyncio.

The C++ Consumer has no file descriptor, so an aio.Consumer starts one C++
"relay" thread for its whole life (bindings/python/src/relay.hpp): it waits
in the C++ receive and moves a delivery to its own list when a coroutine
wants one, then makes an eventfd readable; loop.add_reader() wakes the
waiting coroutines, which take it. The relay never runs Python. A cancelled
receive() loses nothing: a delivery already relayed is taken by the next
receive(). Deliveries are the courier.Delivery of the synchronous API:
ack()/nack()/touch() and `with delivery.process():` never block.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .. import _native
from ..errors import TimeoutError
from ._wait import Waiters, deadline_of


class Consumer:
    """Takes messages from one courier-proxy queue, for asyncio. Make it inside a coroutine.

    Takes the arguments of courier.Consumer; owns the C++ Consumer's I/O
    thread and one relay thread.
    """

    def __init__(self, queue: str, endpoint: str | None = None, **options: Any) -> None:
        self._loop = asyncio.get_running_loop()
        self._native = _native.Consumer(queue, endpoint, **options)
        self._waiters = Waiters(self._loop, self._native._relay_demand)
        self._stopping = False
        self._fd = self._native._relay_fileno()
        self._loop.add_reader(self._fd, self._on_fd)

    def _on_fd(self) -> None:
        self._native._relay_clear()
        self._waiters.wake_all()

    async def _next(self, deadline: float | None, stoppable: bool) -> _native.Delivery | None:
        while True:
            delivery = self._native._relay_take()
            if delivery is not None:
                return delivery
            if stoppable and self._stopping:
                self._stopping = False
                return None
            if not await self._waiters.wait(deadline):
                return None

    async def receive(self, timeout: float | None = None) -> _native.Delivery:
        """The next Delivery; raises courier.TimeoutError when timeout passes first."""
        delivery = await self._next(deadline_of(self._loop, timeout), False)
        if delivery is None:
            raise TimeoutError("Consumer.receive from %s: nothing within %s s" % (self.queue, timeout))
        return delivery

    def try_receive(self) -> _native.Delivery | None:
        """The next Delivery if one is buffered, else None."""
        delivery = self._native._relay_take()
        return delivery if delivery is not None else self._native.try_receive()

    def stop(self) -> None:
        """End an `async for delivery in consumer` loop (after the current delivery)."""
        self._stopping = True
        self._waiters.wake_all()

    def __aiter__(self) -> Consumer:
        return self

    async def __anext__(self) -> _native.Delivery:
        delivery = await self._next(None, True)
        if delivery is None:
            raise StopAsyncIteration
        return delivery

    @property
    def queue(self) -> str:
        return str(self._native.queue)

    @property
    def received(self) -> int:
        return int(self._native.received)

    @property
    def closed(self) -> bool:
        return bool(self._native.closed)

    def close(self) -> None:
        """Stop the relay, hand over pending acks, say BYE (unacked go back), close.

        Blocks the loop for at most ~0.2 s (the relay's slice) plus the socket's linger.
        """
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            self._fd = -1
        self._waiters.close()
        self._native.close()

    async def __aenter__(self) -> Consumer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
