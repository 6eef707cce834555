"""Lock for asyncio: acquire() waits in the loop's default executor.

The C++ Lock owns its I/O thread (heartbeats, lease) and its acquire is one
blocking wait for a token; running that wait in an executor thread keeps
the loop free. Cancelling acquire() stops the coroutine at once; if the
token arrives afterwards anyway, it is released at once, so a cancelled
waiter never keeps it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .. import _native
from ..errors import TimeoutError
from ._executor import ExecutorWrapped


def _release_if_taken(fut: asyncio.Future[Any]) -> None:
    if fut.cancelled() or fut.exception() is not None:
        return
    guard = fut.result()
    if guard is not None:
        guard.release()


class Lock(ExecutorWrapped):
    """A distributed lock/semaphore on a courier-proxy token queue, for
    asyncio. Takes the same arguments as courier.Lock.

        async with courier.aio.Lock("reports", endpoint) as lock:
            async with await lock.acquire(timeout=5) as guard:
                write_report(fence=guard.fence)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._native = _native.Lock(*args, **kwargs)

    async def try_acquire(self, timeout: float | None) -> _Guard | None:
        """A token within timeout (None: as long as it takes), else None."""
        loop = asyncio.get_running_loop()
        waiting = loop.run_in_executor(None, self._native.try_acquire, timeout)
        try:
            guard = await asyncio.shield(waiting)
        except asyncio.CancelledError:
            waiting.add_done_callback(_release_if_taken)
            raise
        return None if guard is None else _Guard(guard)

    async def acquire(self, timeout: float | None = None) -> _Guard:
        """A token; raises courier.TimeoutError when timeout passes first."""
        guard = await self.try_acquire(timeout)
        if guard is None:
            raise TimeoutError("Lock.acquire: no token of %r within %s s" % (self.name, timeout))
        return guard

    @property
    def name(self) -> str:
        return str(self._native.name)

    async def __aenter__(self) -> Lock:
        return self


class _Guard:
    """A held token (courier.LockGuard) usable with `async with`."""

    def __init__(self, guard: _native.LockGuard) -> None:
        self._guard = guard

    @property
    def fence(self) -> int:
        return int(self._guard.fence)

    @property
    def lost(self) -> bool:
        return bool(self._guard.lost)

    def check(self) -> None:
        """Raise LockLostError unless the token is still held."""
        self._guard.check()

    def extend(self) -> None:
        """Restart the lease; raises LockLostError when the token is gone."""
        self._guard.extend()

    def release(self) -> bool:
        """Give the token back; False if already released or lost."""
        return bool(self._guard.release())

    async def __aenter__(self) -> _Guard:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._guard.release()
