"""Client and Server (request/reply, PROTOCOL.md §2) for asyncio.

The C++ Client's I/O thread posts each reply to an Inbox (an eventfd the
loop watches, _outcomes.py); `await client.request(v)` awaits the future of
its token. No thread per call. A cancelled request is abandoned: its late
reply is dropped (the C++ Client times it out as any other).

The Server starts no thread in C++ either: it watches its ROUTER's ZMQ_FD
as Pull does (pipeline.py says the rules) and reads requests only when a
coroutine asks, so a cancelled receive() has taken nothing.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from .. import _native
from ..errors import TimeoutError
from ._outcomes import Outcomes
from ._wait import deadline_of
from .pipeline import _POLLIN, _Socket


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


class Server(_Socket):
    """Request/reply server for asyncio. Make it inside a coroutine.

        async with courier.aio.Server() as server:
            server.bind("tcp://127.0.0.1:5556")
            async for request in server:
                request.reply(await work(request.body))

    Replies go out at once from reply()/fail() (they never wait): a Request
    may be answered from any coroutine, in any order.
    """

    def __init__(self, *, socket: _native.SocketOptions | None = None, curve: _native.Curve | None = None,
                 context: _native.Context | None = None) -> None:
        super().__init__(_native.Server(socket=socket, curve=curve, context=context), _POLLIN)
        self._stopped = False

    async def receive(self, timeout: float | None = None) -> _native.Request:
        """The next Request; raises courier.TimeoutError when timeout (seconds) passes first."""
        deadline = None
        while True:
            request: _native.Request | None = self._native._try_receive()
            if request is not None:
                self._after_success()
                return request
            if deadline is None and timeout is not None:
                deadline = deadline_of(self._loop, timeout)
            if not await self._waiters.wait(deadline):
                raise TimeoutError("Server.receive: no request within %s s" % timeout)

    async def serve(self, handler: Callable[[Any], Any | Awaitable[Any]]) -> None:
        """Reply handler(body) (a function or a coroutine function) to each
        request, one at a time, until stop(); an exception becomes an
        ok:false reply with its text and serving goes on."""
        self._stopped = False
        while not self._stopped:
            try:
                request = await self.receive(0.1)
            except TimeoutError:
                continue
            try:
                result = handler(request.body)
                if inspect.isawaitable(result):
                    result = await result
            except Exception as e:  # the client learns why; serving goes on
                request.fail("%s: %s" % (type(e).__name__, e))
            else:
                request.reply(result)

    def stop(self) -> None:
        """Make serve() return after the request it is handling."""
        self._stopped = True

    @property
    def handled_requests(self) -> int:
        return int(self._native.handled_requests)

    def __aiter__(self) -> Server:
        return self

    async def __anext__(self) -> _native.Request:
        return await self.receive()

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
