"""Admin for asyncio: each call runs in the loop's default executor.

Admin calls are one short round trip to the proxy (bounded by the Admin's
timeout), and the C++ Admin is thread-safe and starts no thread; running
the blocking call in an executor thread keeps the loop free without a new
I/O design for a handful of calls. A cancelled call stops waiting at once,
but the request may already have reached the proxy and take effect (as any
request already sent).
"""

from __future__ import annotations

from typing import Any

from .. import _native
from ._executor import ExecutorWrapped


class Admin(ExecutorWrapped):
    """Queue figures and policies on courier-proxy, for asyncio. Takes the
    same arguments as courier.Admin."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._native = _native.Admin(*args, **kwargs)

    async def stats(self, queue: str | None = None) -> Any:
        """Figures of every queue (ProxyStats), or of one (QueueStats or None)."""
        if queue is None:
            return await self._call(self._native.stats)
        return await self._call(self._native.stats, queue)

    async def stats_by_proxy(self) -> list[_native.ProxyStats]:
        """Every queue's figures per proxy of the shard map (see courier.Admin.stats_by_proxy)."""
        return list(await self._call(self._native.stats_by_proxy))

    async def declare(self, queue: str, **options: Any) -> int:
        """Set the queue's options (see courier.Admin.declare); returns its depth."""
        return int(await self._call(self._native.declare, queue, **options))

    async def purge(self, queue: str) -> int:
        """Remove the queue's ready messages; returns how many."""
        return int(await self._call(self._native.purge, queue))

    async def remove(self, queue: str) -> None:
        """Delete the queue and everything in it."""
        await self._call(self._native.remove, queue)

    async def __aenter__(self) -> Admin:
        return self
