"""Outcomes of calls finished on courier's C++ I/O threads (a Client's
replies, a Producer's confirms), for asyncio.

The native _Inbox is a queue behind a level-triggered eventfd (see
bindings/python/src/inbox.hpp): the I/O thread queues (token, outcome) and
makes the fd readable; this class watches the fd with loop.add_reader() and,
on each wake-up, drains the queue and completes the asyncio futures the
tokens name. An outcome whose future was cancelled is dropped.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .. import _native
from ..errors import ClosedError
from ._wait import Waiters


class Outcomes:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.inbox = _native._Inbox()
        self._futures: dict[int, asyncio.Future[Any]] = {}
        self._next = 0
        # Woken by every drain: a Producer whose window was full retries then
        # (each confirm frees its room before it is posted).
        self.drained = Waiters(loop)
        self._fd = self.inbox.fileno()
        loop.add_reader(self._fd, self._drain)

    def expect(self) -> tuple[int, asyncio.Future[Any]]:
        """A new token and the future its outcome completes."""
        self._next += 1
        fut: asyncio.Future[Any] = self._loop.create_future()
        self._futures[self._next] = fut
        return self._next, fut

    def forget(self, token: int) -> None:
        """The call was never handed over: no outcome will come."""
        self._futures.pop(token, None)

    @property
    def pending(self) -> list[asyncio.Future[Any]]:
        return [f for f in self._futures.values() if not f.done()]

    def _drain(self) -> None:
        for token, ok, value in self.inbox.drain():
            fut = self._futures.pop(token, None)
            if fut is None or fut.done():
                continue  # cancelled by its caller
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)
        self.drained.wake_all()

    def close(self) -> None:
        """Stop watching; futures still pending fail with ClosedError."""
        if self._fd < 0:
            return
        self._drain()
        self._loop.remove_reader(self._fd)
        self._fd = -1
        for fut in self._futures.values():
            if not fut.done():
                fut.set_exception(ClosedError("closed before the outcome arrived"))
        self._futures.clear()
        self.drained.close()
