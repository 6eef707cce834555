"""courier: typed messaging over ZeroMQ with msgpack, from Python.

The C++ library's API one to one: Push/Pull (pipelines), Client/Server
(request/reply), Producer/Consumer/Delivery (durable queues on
courier-proxy), Admin and Lock. Every resource works with ``with``; timeouts
are float seconds (None waits forever); blocking calls release the GIL and
raise KeyboardInterrupt within ~50 ms of Ctrl-C; every error is a
courier.Error.

Values map to msgpack as msgpack.packb/unpackb do with their defaults:
None, bool, int (-2**63 .. 2**64-1), float (always float64), str, bytes
(bytearray and memoryview pack as bytes), list and tuple (unpacked as list),
dict (keys of any of these types; an array used as a key unpacks as a tuple).
"""

import atexit as _atexit

from . import _native
from . import _completions
from ._native import (
    Admin,
    Client,
    Consumer,
    Context,
    Delivery,
    Lock,
    LockGuard,
    Processing,
    Producer,
    ProxyStats,
    QueueRate,
    QueueStats,
    Pull,
    Push,
    Request,
    Server,
    SocketOptions,
    default_proxy_endpoint,
    rates,
    packb,
    unpackb,
)
from .errors import (
    ClosedError,
    ConfigError,
    DecodeError,
    Error,
    JournalError,
    LockLostError,
    ProtocolError,
    RemoteError,
    TimeoutError,
)

__all__ = [
    "packb", "unpackb", "SocketOptions", "Context", "default_proxy_endpoint",
    "Push", "Pull", "Client", "Server", "Request",
    "Producer", "Consumer", "Delivery", "Processing", "Admin", "QueueStats", "ProxyStats", "QueueRate", "rates",
    "Lock", "LockGuard",
    "Error", "DecodeError", "ProtocolError", "TimeoutError", "RemoteError", "JournalError",
    "ConfigError", "ClosedError", "LockLostError",
]

# Close what is still open before the interpreter tears down (bounded by
# each object's linger / close_timeout), so exit never hangs.
# atexit runs hooks last-registered first: close the objects (which fails
# what they still have in flight), then let the completion thread finish.
_atexit.register(_completions.stop)
_atexit.register(_native._close_all)
