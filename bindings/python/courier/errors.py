"""The exceptions courier raises: one class per C++ courier::*Error.

Every class derives from courier.Error and carries ``code``, the stable number
of the C++ ErrorCode (also usable in logs). Where a builtin means the same
thing the class derives from it too, so generic handlers keep working:
courier.TimeoutError is a builtins.TimeoutError, courier.ConfigError and
courier.DecodeError are ValueErrors.
"""

from __future__ import annotations

import builtins

__all__ = [
    "Error", "DecodeError", "ProtocolError", "TimeoutError", "RemoteError",
    "JournalError", "ConfigError", "ClosedError", "LockLostError",
]


class Error(Exception):
    """Base of every courier exception; ``code`` is the C++ ErrorCode number."""

    code: int = 0


class DecodeError(Error, ValueError):
    """A frame did not decode to what the receiver expected (not one msgpack
    object); the frame is consumed, the next receive gets the next one."""

    code = 1

    def __init__(self, message: str, expected: str = "", found: str = "") -> None:
        super().__init__(message)
        self.expected = expected
        self.found = found


class ProtocolError(Error):
    """A peer sent something PROTOCOL.md does not allow."""

    code = 2


class TimeoutError(Error, builtins.TimeoutError):
    """A deadline passed with no answer (request, confirm, admin call)."""

    code = 3


class RemoteError(Error):
    """The peer answered with an error: ``status`` 0 for a §2 ok:false reply,
    else the proxy's ERROR code (400, 404, 409, 413, 429, 503, 500)."""

    code = 4

    def __init__(self, message: str, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class JournalError(Error):
    """The proxy's journal failed."""

    code = 5


class ConfigError(Error, ValueError):
    """A bad endpoint, option or argument."""

    code = 6


class ClosedError(Error):
    """The object (or its context) was closed while in use, or before."""

    code = 7


class LockLostError(Error):
    """A lock guard no longer holds its token; ``loss`` says why."""

    code = 7

    def __init__(self, message: str, loss: str = "") -> None:
        super().__init__(message)
        self.loss = loss
