"""Push and Pull for asyncio (PROTOCOL.md §1).

Driven by the socket's own ZMQ_FD, watched with loop.add_reader(). That fd
is edge-like: readable when the socket's state MAY have changed, reset by
reading ZMQ_EVENTS (or by any send/receive on the socket). So the rules,
kept by every method here:
- always try the non-blocking operation first, and wait only after it
  failed (then libzmq has processed everything pending: anything new makes
  the fd readable);
- the reader callback reads ZMQ_EVENTS (which re-arms the fd) and wakes the
  coroutines whose condition holds;
- after an operation succeeded while other coroutines still wait, check
  ZMQ_EVENTS again soon (the operation may have consumed their wake-up).
No thread, no sleep. A cancelled receive() has taken nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from .. import _native
from ..errors import TimeoutError
from ._wait import Waiters, deadline_of

_POLLIN, _POLLOUT = 1, 2
_NOTHING = object()


class _Socket:
    """What Push and Pull share: the native object and its fd watch."""

    def __init__(self, native: Any, flag: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._native = native
        self._flag = flag
        self._waiters = Waiters(self._loop)
        self._fd = native._fd()
        self._loop.add_reader(self._fd, self._on_fd)

    def _on_fd(self) -> None:
        if self._native.closed:
            return
        if self._native._events() & self._flag:  # also re-arms the fd
            self._waiters.wake_all()

    def _after_success(self) -> None:
        if len(self._waiters):
            self._loop.call_soon(self._on_fd)

    def bind(self, endpoint: str) -> None:
        self._native.bind(endpoint)

    def connect(self, endpoint: str) -> None:
        self._native.connect(endpoint)

    @property
    def last_endpoint(self) -> str:
        return str(self._native.last_endpoint)

    @property
    def closed(self) -> bool:
        return bool(self._native.closed)

    def close(self) -> None:
        """Close the socket (idempotent); waiting coroutines raise ClosedError."""
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            self._fd = -1
        self._waiters.close()
        self._native.close()


class Push(_Socket):
    """The sending end of a pipeline, for asyncio. Make it inside a coroutine."""

    def __init__(self, *, socket: _native.SocketOptions | None = None, curve: _native.Curve | None = None,
                 context: _native.Context | None = None) -> None:
        super().__init__(_native.Push(socket=socket, curve=curve, context=context), _POLLOUT)

    async def send(self, value: object, timeout: float | None = None) -> bool:
        """Send value; False when timeout (seconds) passed first (HWM reached, or no peer)."""
        deadline = None
        while not self._native.try_send(value):
            if deadline is None and timeout is not None:
                deadline = deadline_of(self._loop, timeout)
            if not await self._waiters.wait(deadline):
                return False
        self._after_success()
        return True

    async def send_many(self, values: Iterable[Any], timeout: float | None = None) -> int:
        """Send each value as its own message; returns how many went before the timeout."""
        items = values if isinstance(values, (list, tuple)) else list(values)
        deadline = deadline_of(self._loop, timeout)
        sent = self._native.send_many(items, 0)
        while sent < len(items):
            if not await self._waiters.wait(deadline):
                break
            sent += self._native.send_many(items[sent:], 0)
        self._after_success()
        return int(sent)

    async def __aenter__(self) -> Push:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class Pull(_Socket):
    """The receiving end of a pipeline, for asyncio. Make it inside a coroutine."""

    def __init__(self, *, socket: _native.SocketOptions | None = None, curve: _native.Curve | None = None,
                 context: _native.Context | None = None) -> None:
        super().__init__(_native.Pull(socket=socket, curve=curve, context=context), _POLLIN)

    async def receive(self, timeout: float | None = None) -> Any:
        """The next value; raises courier.TimeoutError when timeout (seconds) passes first."""
        deadline = None
        while True:
            value = self._native.try_receive(_NOTHING)
            if value is not _NOTHING:
                self._after_success()
                return value
            if deadline is None and timeout is not None:
                deadline = deadline_of(self._loop, timeout)
            if not await self._waiters.wait(deadline):
                raise TimeoutError("Pull.receive: nothing arrived within %s s" % timeout)

    def try_receive(self, default: Any = None) -> Any:
        """The next value if one is waiting, else default."""
        return self._native.try_receive(default)

    async def receive_many(self, max_count: int, timeout: float | None = None) -> list[Any]:
        """Wait for one value, then take up to max_count already queued; [] on timeout."""
        deadline = deadline_of(self._loop, timeout)
        while True:
            values: list[Any] = self._native.receive_many(max_count, 0)
            if values or max_count == 0:
                self._after_success()
                return values
            if not await self._waiters.wait(deadline):
                return []

    def __aiter__(self) -> Pull:
        return self

    async def __anext__(self) -> Any:
        return await self.receive()

    async def __aenter__(self) -> Pull:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
