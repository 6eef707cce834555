"""Client (request/reply, PROTOCOL.md §2) for asyncio.

The C++ Client's I/O thread posts each reply to an Inbox (an eventfd the
loop watches, _outcomes.py); `await client.request(v)` awaits the future of
its token. No thread per call. A cancelled request is abandoned: its late
reply is dropped (the C++ Client times it out as any other).
"""

from __future__ import annotations

import asyncio
from typing import Any

from .. import _native
from ._outcomes import Outcomes


class Client:
    """Request/reply client for asyncio. Make it inside a coroutine."""

    def __init__(self, *, socket: _native.SocketOptions | None = None, curve: _native.Curve | None = None,
                 context: _native.Context | None = None) -> None:
        self._native = _native.Client(socket=socket, curve=curve, context=context)
        self._outcomes = Outcomes(asyncio.get_running_loop())

    def bind(self, endpoint: str) -> None:
        self._native.bind(endpoint)

    def connect(self, endpoint: str) -> None:
        self._native.connect(endpoint)

    @property
    def last_endpoint(self) -> str:
        return str(self._native.last_endpoint)

    async def request(self, value: object, timeout: float | None = None) -> Any:
        """Send value and return the reply; raises TimeoutError, RemoteError (ok:false), ClosedError."""
        token, fut = self._outcomes.expect()
        try:
            self._native._request_to(self._outcomes.inbox, token, value, timeout)
        except BaseException:
            self._outcomes.forget(token)
            raise
        return await fut

    @property
    def in_flight(self) -> int:
        return int(self._native.in_flight)

    @property
    def closed(self) -> bool:
        return bool(self._native.closed)

    def close(self) -> None:
        """Fail requests in flight with ClosedError and close."""
        self._native.close()
        self._outcomes.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
