"""Waiting in courier.aio: futures woken from a file descriptor the event
loop watches, with a deadline that is a timer, never a task or a poll.

A coroutine that must wait registers a future here and awaits it; the fd's
reader callback (or a timer at the deadline) completes it, and the coroutine
then tries its non-blocking operation again. Because the operation itself
is only ever done by the coroutine after it wakes, cancelling the coroutine
while it waits can lose nothing: nothing was taken yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..errors import ClosedError, ConfigError


def deadline_of(loop: asyncio.AbstractEventLoop, timeout: float | None) -> float | None:
    """The loop time at which `timeout` seconds from now end (None: never)."""
    if timeout is None:
        return None
    if not timeout >= 0:
        raise ConfigError("timeout must be >= 0 seconds or None (wait forever), not %r" % (timeout,))
    return loop.time() + timeout


def _complete(fut: asyncio.Future[bool], woken: bool) -> None:
    if not fut.done():
        fut.set_result(woken)


class Waiters:
    """Coroutines waiting for one condition (readable, writable, ...)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_count: Callable[[int], None] | None = None) -> None:
        self._loop = loop
        self._futures: list[asyncio.Future[bool]] = []
        self._on_count = on_count  # told how many wait, whenever that changes
        self._closed = False

    def __len__(self) -> int:
        return len(self._futures)

    async def wait(self, deadline: float | None) -> bool:
        """True once woken, False when `deadline` (loop time) passed first."""
        if self._closed:
            raise ClosedError("closed while waiting")
        if deadline is not None and self._loop.time() >= deadline:
            return False
        fut: asyncio.Future[bool] = self._loop.create_future()
        timer = None if deadline is None else self._loop.call_at(deadline, _complete, fut, False)
        self._futures.append(fut)
        self._counted()
        try:
            woken = await fut
        finally:
            self._futures.remove(fut)
            self._counted()
            if timer is not None:
                timer.cancel()
        if self._closed:
            raise ClosedError("closed while waiting")
        return woken

    def wake_all(self) -> None:
        for fut in self._futures:
            _complete(fut, True)

    def close(self) -> None:
        """Wake every waiter; they raise ClosedError."""
        self._closed = True
        self.wake_all()

    def _counted(self) -> None:
        if self._on_count is not None and not self._closed:
            self._on_count(len(self._futures))
