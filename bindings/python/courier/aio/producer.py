"""Producer (PROTOCOL.md §3) for asyncio.

`await producer.publish(q, v)` hands the message to the C++ Producer
without waiting (its confirm callback posts to an Inbox, _outcomes.py) and
awaits the confirm's future. When the window is full it awaits the next
drain of the Inbox: every confirm frees room before it is posted, so the
retry then finds room (no sleep, no thread). A publish cancelled after the
hand-over stays in the window and is still confirmed; only its result is
dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from .. import _native
from ..errors import TimeoutError
from ._outcomes import Outcomes
from ._wait import deadline_of


class Producer:
    """Publishes into courier-proxy queues, for asyncio. Make it inside a coroutine.

    Takes the keyword arguments of courier.Producer; owns one C++ I/O thread.
    """

    def __init__(self, endpoint: str | None = None, *, publish_timeout: float = 30.0, close_timeout: float = 5.0,
                 **options: Any) -> None:
        self._loop = asyncio.get_running_loop()
        self._native = _native.Producer(endpoint, publish_timeout=publish_timeout, close_timeout=close_timeout,
                                        **options)
        self._publish_timeout = publish_timeout
        self._close_timeout = close_timeout
        self._outcomes = Outcomes(self._loop)

    async def publish(self, queue: str, value: object, *, id: str | None = None, delay: float | None = None,
                      deliver_at: datetime | float | None = None, ttl: float | None = None,
                      timeout: float | None = None) -> int:
        """Publish value and await its confirm (timeout None = publish_timeout); returns its seq."""
        deadline = deadline_of(self._loop, self._publish_timeout if timeout is None else timeout)
        token, fut = self._outcomes.expect()
        try:
            while not self._native._publish_to(self._outcomes.inbox, token, queue, value, id, delay, deliver_at,
                                               ttl):
                if not await self._outcomes.drained.wait(deadline):
                    raise TimeoutError("publish to %s: the window stayed full until the timeout; nothing was "
                                       "queued" % queue)
        except BaseException:
            self._outcomes.forget(token)
            raise
        left = None if deadline is None else max(0.0, deadline - self._loop.time())
        done, _ = await asyncio.wait({fut}, timeout=left)
        if not done:
            raise TimeoutError("publish to %s: no confirm before the timeout; the message stays in the window "
                               "and is resent until confirmed: publish again with the same id to be sure" % queue)
        return int(fut.result())

    async def publish_many(self, queue: str, values: Iterable[Any], *, timeout: float | None = None) -> list[int]:
        """Publish each value and await every confirm; returns their seqs in order."""
        return list(await asyncio.gather(*(self.publish(queue, v, timeout=timeout) for v in values)))

    async def flush(self, timeout: float | None = None) -> bool:
        """Await every confirm outstanding; False when timeout passed first."""
        pending = self._outcomes.pending
        if not pending:
            return True
        _, not_done = await asyncio.wait(pending, timeout=timeout)
        return not not_done

    @property
    def unconfirmed(self) -> int:
        return int(self._native.unconfirmed)

    @property
    def confirmed(self) -> int:
        return int(self._native.confirmed)

    @property
    def closed(self) -> bool:
        return bool(self._native.closed)

    async def close(self) -> None:
        """Await confirms (at most close_timeout), then close: the rest fail with ClosedError."""
        if self._native.closed:
            return
        await self.flush(self._close_timeout)
        self._native.close()
        self._outcomes.close()

    async def __aenter__(self) -> Producer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
