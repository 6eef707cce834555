"""courier: typed messaging over ZeroMQ with msgpack, from Python.

The C++ library's API one to one: Push/Pull (pipelines), Client/Server
(request/reply), Producer/Consumer/Delivery (durable queues on
courier-proxy), Admin and Lock. Every resource works with ``with``; timeouts
are float seconds (None waits forever); blocking calls release the GIL and
raise KeyboardInterrupt within ~50 ms of Ctrl-C; every error is a
courier.Error.

Threads and signals:
- Blocking calls wait in slices of at most 50 ms with the GIL released and
  check for signals between slices (Lock.acquire: 250 ms, since each slice
  re-subscribes; Admin calls are one C++ call bounded by Admin's timeout).
- No C++ thread ever runs Python code. Producer, Consumer, Client and Lock
  each own one C++ I/O thread (heartbeats, acks, confirms keep flowing while
  your Python code runs). Server handlers and Consumer callbacks run on the
  thread that calls serve()/run() or iterates.
- Futures (request_async, publish_async) are concurrent.futures.Future
  objects completed by one Python thread, "courier-completions" (started on
  first use, stopped at exit), and by Producer.flush() on its caller.
- Push, Pull and Server are for one thread at a time (ZeroMQ sockets are not
  thread-safe): a second thread gets ConfigError, never a crash.
- Timed waits that pass raise courier.TimeoutError (None is a value a
  message may hold); try_receive()/try_acquire() return None instead.
- At exit every object still open is closed (bounded by linger and
  Producer.close_timeout); a fork()ed child makes its own context.

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
