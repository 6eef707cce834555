"""What courier.aio's Admin and Lock share: a native object whose one
blocking call runs in the loop's default executor, and the plain members
that never wait."""

from __future__ import annotations

import asyncio
import functools
from typing import Any


class ExecutorWrapped:
    """Holds the native object; `async with` closes it."""

    _native: Any

    async def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(method, *args, **kwargs))

    @property
    def endpoint(self) -> str:
        return str(self._native.endpoint)

    @property
    def closed(self) -> bool:
        return bool(self._native.closed)

    def close(self) -> None:
        """Say BYE (a held token goes back) and close, bounded by the socket linger."""
        self._native.close()

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._native.close()
