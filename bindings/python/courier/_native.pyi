# Stubs for the compiled module courier._native, checked against the built
# module by mypy's stubtest (bindings/python/tests/test_package.py). Drafted
# with nanobind.stubgen, then typed by hand where the binding takes or gives
# any Python value.
import os
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from datetime import datetime
from typing import Any, overload

from typing_extensions import Buffer, Self

def packb(value: object, /) -> bytes:
    """Return value encoded as msgpack, the same bytes msgpack.packb(value) gives."""

def unpackb(data: Buffer, /) -> Any:
    """Return the value that data holds as exactly one msgpack object."""

class SocketOptions:
    """
    ZeroMQ socket options, applied before bind/connect (C++ courier::SocketOptions).
    """

    def __init__(self, *, send_hwm: int = 1000, receive_hwm: int = 1000, linger: float = 1.0, reconnect_interval: float = 0.1, reconnect_interval_max: float = 0.0, tcp_keepalive: bool = False, tcp_keepalive_idle: float = 0.0, tcp_keepalive_interval: float = 0.0, immediate: bool = False, routing_id: str = '', max_message_size: int = -1) -> None: ...

    @property
    def send_hwm(self) -> int: ...

    @send_hwm.setter
    def send_hwm(self, arg: int, /) -> None: ...

    @property
    def receive_hwm(self) -> int: ...

    @receive_hwm.setter
    def receive_hwm(self, arg: int, /) -> None: ...

    @property
    def linger(self) -> float: ...

    @property
    def reconnect_interval(self) -> float: ...

    @property
    def reconnect_interval_max(self) -> float: ...

    @property
    def tcp_keepalive(self) -> bool: ...

    @tcp_keepalive.setter
    def tcp_keepalive(self, arg: bool, /) -> None: ...

    @property
    def immediate(self) -> bool: ...

    @immediate.setter
    def immediate(self, arg: bool, /) -> None: ...

    @property
    def routing_id(self) -> str: ...

    @routing_id.setter
    def routing_id(self, arg: str, /) -> None: ...

    @property
    def max_message_size(self) -> int: ...

    @max_message_size.setter
    def max_message_size(self, arg: int, /) -> None: ...

class Context:
    """
    A ZeroMQ context shared by sockets; shutdown() wakes every blocked call with ClosedError.
    """

    def __init__(self, io_threads: int = 1) -> None: ...

    def shutdown(self) -> None:
        """Make every call on this context's sockets raise ClosedError."""

    @property
    def is_shut_down(self) -> bool: ...


class Curve:
    """
    CurveZMQ for one socket (C++ courier::CurveOptions): pass it as curve= to any socket owner. A client sets server_key; a server sets server=True, its keys and optionally allow_dir.
    """

    def __init__(self, *, server_key: str | bytes | None = None, keys: tuple[str | bytes, str | bytes | None] | None = None, server: bool = False, allow_dir: str | os.PathLike[str] | None = None) -> None: ...

    @property
    def server_key(self) -> str | None:
        """The server's public key (client side), or None."""

    @property
    def public_key(self) -> str | None:
        """This socket's public key, or None (a fresh pair is made for a client)."""

    @property
    def has_secret_key(self) -> bool:
        """Whether a secret key was given (it is never read back)."""

    @property
    def server(self) -> bool: ...

    @property
    def allow_dir(self) -> str | None:
        """
        The directory of allowed clients' public certificates, or None (any client).
        """

    @property
    def enabled(self) -> bool:
        """True when the socket uses CURVE (as server or client)."""

def load_certificate(path: str | os.PathLike[str]) -> tuple[str, str | None]:
    """
    (public, secret) keys of a ZeroMQ certificate file (zmq.auth, zcert, `courier keygen`); secret is None for a public certificate. Raises ConfigError naming the file.
    """

def save_certificate(keys: tuple[str | bytes, str | bytes | None], base: str | os.PathLike[str]) -> None:
    """
    Write BASE.key (public) and BASE.key_secret (mode 0600); never overwrites (ConfigError).
    """

def new_curve_key_pair() -> tuple[str, str]:
    """A new (public, secret) pair of Z85 keys."""

class _Inbox:
    """
    Outcomes from C++ I/O threads for courier.aio, behind a level-triggered eventfd.
    """

    def __init__(self) -> None: ...

    def fileno(self) -> int: ...

    def drain(self) -> list[tuple[int, bool, Any]]:
        """[(token, ok, result or exception)], after clearing the eventfd."""

def default_proxy_endpoint() -> str:
    """$COURIER_PROXY_ENDPOINT, else tcp://127.0.0.1:5555."""

class Push:
    """The sending end of a pipeline (PROTOCOL.md §1): one value per message."""

    def __init__(self, *, socket: SocketOptions | None = None, curve: Curve | None = None, context: Context | None = None) -> None: ...

    def bind(self, endpoint: str) -> None: ...

    def connect(self, endpoint: str) -> None: ...

    @property
    def last_endpoint(self) -> str: ...

    def _fd(self) -> int:
        """ZMQ_FD, for courier.aio."""

    def _events(self) -> int:
        """ZMQ_EVENTS (POLLIN 1, POLLOUT 2), for courier.aio."""

    def send(self, value: object, timeout: float | None = None) -> bool:
        """
        Send value; False when timeout (seconds) passed first. Waits for room (HWM) or a peer.
        """

    def try_send(self, value: object) -> bool:
        """Send value if it can go now; False otherwise."""

    def send_raw(self, data: Buffer, timeout: float | None = None) -> bool:
        """Send bytes as they are (they should hold one msgpack object)."""

    def send_many(self, values: Iterable[Any], timeout: float | None = None) -> int:
        """
        Send each value as its own message; returns how many were sent before the timeout.
        """

    def close(self) -> None:
        """
        Close the socket (idempotent); unsent messages linger at most `linger`.
        """

    @property
    def closed(self) -> bool: ...

    def __enter__(self) -> Push: ...

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None: ...

class Pull:
    """The receiving end of a pipeline (PROTOCOL.md §1)."""

    def __init__(self, *, socket: SocketOptions | None = None, curve: Curve | None = None, context: Context | None = None) -> None: ...

    def bind(self, endpoint: str) -> None: ...

    def connect(self, endpoint: str) -> None: ...

    @property
    def last_endpoint(self) -> str: ...

    def _fd(self) -> int:
        """ZMQ_FD, for courier.aio."""

    def _events(self) -> int:
        """ZMQ_EVENTS (POLLIN 1, POLLOUT 2), for courier.aio."""

    def receive(self, timeout: float | None = None) -> Any:
        """
        The next value; raises courier.TimeoutError when timeout (seconds) passes first.
        """

    def try_receive(self, default: object | None = None) -> Any:
        """The next value if one is waiting, else default."""

    def receive_raw(self, timeout: float | None = None) -> bytes:
        """The next message's bytes; raises courier.TimeoutError on timeout."""

    def receive_many(self, max_count: int, timeout: float | None = None) -> list[Any]:
        """
        Wait for one value, then take up to max_count already queued; [] on timeout.
        """

    def close(self) -> None:
        """
        Close the socket (idempotent); unsent messages linger at most `linger`.
        """

    @property
    def closed(self) -> bool: ...

    def __enter__(self) -> Pull: ...

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None: ...

    def __iter__(self) -> Self: ...

    def __next__(self) -> Any: ...

class Client:
    """
    Request/reply client (PROTOCOL.md §2); thread-safe, owns one C++ I/O thread.
    """

    def __init__(self, *, socket: SocketOptions | None = None, curve: Curve | None = None, context: Context | None = None) -> None: ...

    def bind(self, endpoint: str) -> None: ...

    def connect(self, endpoint: str) -> None: ...

    @property
    def last_endpoint(self) -> str: ...

    def request(self, value: object, timeout: float | None = None) -> Any:
        """
        Send value and return the reply; raises TimeoutError, RemoteError (ok:false), ClosedError.
        """

    def request_raw(self, data: Buffer, timeout: float | None = None) -> bytes:
        """request() with msgpack bytes in and out."""

    def request_async(self, value: object, timeout: float | None = None) -> Future[Any]:
        """Send value; returns a concurrent.futures.Future of the reply."""

    def _request_to(self, inbox: _Inbox, token: int, value: object, timeout: float | None) -> None:
        """For courier.aio: send; the reply goes to inbox."""

    @property
    def in_flight(self) -> int: ...

    @property
    def late_replies(self) -> int: ...

    @property
    def malformed_replies(self) -> int: ...

    def close(self) -> None:
        """Fail requests in flight with ClosedError and close."""

    @property
    def closed(self) -> bool: ...

    def __enter__(self) -> Client: ...

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None: ...

class Request:
    """One request taken from a Server; answer it with reply() or fail()."""

    @property
    def body(self) -> Any:
        """The request value (decoded on first access)."""

    @property
    def raw(self) -> bytes:
        """The request body's msgpack bytes."""

    @property
    def id(self) -> int: ...

    @property
    def answered(self) -> bool: ...

    def reply(self, value: object) -> bool:
        """Answer ok:true with value; False if already answered."""

    def reply_raw(self, data: Buffer) -> bool:
        """reply() with msgpack bytes."""

    def fail(self, error: str) -> bool:
        """Answer ok:false with the text error."""

class Server:
    """
    Request/reply server (PROTOCOL.md §2); runs handlers on the calling thread.
    """

    def __init__(self, *, socket: SocketOptions | None = None, curve: Curve | None = None, context: Context | None = None) -> None: ...

    def bind(self, endpoint: str) -> None: ...

    def connect(self, endpoint: str) -> None: ...

    @property
    def last_endpoint(self) -> str: ...

    def receive(self, timeout: float | None = None) -> Request:
        """
        The next Request; raises courier.TimeoutError when timeout passes first.
        """

    def _fd(self) -> int:
        """ZMQ_FD, for courier.aio."""

    def _events(self) -> int:
        """ZMQ_EVENTS (POLLIN 1, POLLOUT 2), for courier.aio."""

    def _try_receive(self) -> Request | None:
        """The next Request if one is already here, else None (courier.aio)."""

    def serve(self, handler: Callable[[Any], Any]) -> None:
        """Reply handler(body) to each request, on this thread, until stop()."""

    def stop(self) -> None:
        """Make serve() / iteration return (any thread)."""

    def __iter__(self) -> Self: ...

    def __next__(self) -> Request: ...

    @property
    def handled_requests(self) -> int: ...

    @property
    def dropped_requests(self) -> int: ...

    @property
    def expired_requests(self) -> int: ...

    @property
    def unroutable_replies(self) -> int: ...

    @property
    def dropped_replies(self) -> int: ...

    def close(self) -> None:
        """Close the socket (idempotent)."""

    @property
    def closed(self) -> bool: ...

    def __enter__(self) -> Server: ...

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None: ...

class Producer:
    """
    Publishes into courier-proxy queues; a message is published once the proxy confirms it (fsync'd). Owns one C++ I/O thread.
    """

    def __init__(self, endpoint: str | None = None, *, client_name: str = '', window: int = 1024, publish_timeout: float = 30.0, confirm_timeout: float = 10.0, heartbeat: float = 1.0, close_timeout: float = 5.0, full_wait: float = 30.0, id_prefix: str = '', socket: SocketOptions | None = None, curve: Curve | None = None, context: Context | None = None) -> None: ...

    def publish(self, queue: str, value: object, *, id: str | None = None, delay: float | None = None, deliver_at: datetime | float | None = None, ttl: float | None = None, timeout: float | None = None) -> int:
        """
        Publish value and wait for its confirm (timeout None = the Producer's publish_timeout); returns its seq.
        """

    def publish_raw(self, queue: str, data: Buffer, *, id: str | None = None, delay: float | None = None, deliver_at: datetime | float | None = None, ttl: float | None = None, timeout: float | None = None) -> int:
        """publish() of bytes as they are."""

    def publish_async(self, queue: str, value: object, *, id: str | None = None, delay: float | None = None, deliver_at: datetime | float | None = None, ttl: float | None = None, timeout: float | None = None) -> Future[int]:
        """
        Queue value (waiting while the window is full, at most timeout); returns a concurrent.futures.Future of its seq.
        """

    def publish_raw_async(self, queue: str, data: Buffer, *, id: str | None = None, delay: float | None = None, deliver_at: datetime | float | None = None, ttl: float | None = None, timeout: float | None = None) -> Future[int]:
        """publish_async() of bytes as they are."""

    def _publish_to(self, inbox: _Inbox, token: int, queue: str, value: object, id: str | None, delay: float | None, deliver_at: datetime | float | None, ttl: float | None) -> bool:
        """For courier.aio: queue without waiting; the confirm goes to inbox."""

    def publish_many(self, queue: str, values: Iterable[Any], *, timeout: float | None = None) -> list[int]:
        """
        Publish each value (batch form, no future per message) and wait for every confirm; returns their seqs in order.
        """

    def flush(self, timeout: float | None = None) -> bool:
        """
        Wait until everything published is confirmed or failed; False on timeout.
        """

    def wait_connected(self, timeout: float | None = None) -> bool:
        """True once the proxy answered HELLO; False on timeout."""

    @property
    def endpoint(self) -> str: ...

    @property
    def unconfirmed(self) -> int: ...

    @property
    def confirmed(self) -> int: ...

    @property
    def duplicates(self) -> int: ...

    @property
    def batches_sent(self) -> int: ...

    @property
    def messages_sent(self) -> int: ...

    @property
    def resent(self) -> int: ...

    @property
    def reconnects(self) -> int: ...

    @property
    def full_retries(self) -> int: ...

    def close(self) -> None:
        """
        Wait for confirms at most close_timeout, fail the rest (ClosedError), disconnect.
        """

    @property
    def closed(self) -> bool: ...

    def __enter__(self) -> Producer: ...

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None: ...

class Delivery:
    """
    One message from a Consumer. Settle it with ack()/nack(); one destroyed unsettled is nacked (requeued).
    """

    @property
    def body(self) -> Any:
        """The message value (decoded on first access)."""

    @property
    def raw(self) -> bytes:
        """The body's bytes."""

    @property
    def seq(self) -> int: ...

    @property
    def id(self) -> str | bytes:
        """The producer's message id ('' when none; bytes when not UTF-8)."""

    @property
    def attempt(self) -> int:
        """1 on the first delivery, n on the n-th."""

    @property
    def redelivered(self) -> bool: ...

    @property
    def queue(self) -> str: ...

    @property
    def delivery_id(self) -> int: ...

    @property
    def timestamp(self) -> datetime:
        """When the proxy enqueued it (aware UTC datetime)."""

    @property
    def settled(self) -> bool: ...

    def ack(self) -> bool:
        """
        Acknowledge; False when already settled, auto_ack or the connection is gone.
        """

    def nack(self, requeue: bool = True) -> bool:
        """
        Reject: requeue, or (requeue=False) dead-letter/drop. False as for ack().
        """

    def touch(self) -> bool:
        """Restart the queue's ack_timeout clock."""

    def process(self) -> Processing:
        """Context manager: ack on success, nack (requeue) when the block raises."""

class Processing:
    """Returned by Delivery.process()."""

    def __enter__(self) -> Delivery: ...

    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool: ...

class Consumer:
    """
    Takes messages from one courier-proxy queue. Owns one C++ I/O thread (heartbeats, acks); your code runs on your thread.
    """

    def __init__(self, queue: str, endpoint: str | None = None, *, client_name: str = '', prefetch: int = 100, auto_ack: bool = False, batch: int = 0, limit: int | None = None, heartbeat: float = 1.0, socket: SocketOptions | None = None, curve: Curve | None = None, context: Context | None = None) -> None: ...

    def receive(self, timeout: float | None = None) -> Delivery:
        """
        The next Delivery; raises courier.TimeoutError when timeout passes first.
        """

    def receive_many(self, max_count: int, timeout: float | None = None) -> list[Delivery]:
        """
        Wait for one Delivery, then take up to max_count already buffered; [] on timeout.
        """

    def try_receive(self) -> Delivery | None:
        """The next Delivery if one is buffered, else None."""

    def run(self, callback: Callable[[Delivery], object]) -> None:
        """
        Call callback(delivery) on this thread for each delivery until stop(); acks after it, nacks (requeue) and re-raises when it raises.
        """

    def stop(self) -> None:
        """End run() or a `for delivery in consumer` loop (any thread)."""

    def _relay_fileno(self) -> int:
        """For courier.aio (starts the relay)."""

    def _relay_clear(self) -> None:
        """For courier.aio: reset the eventfd."""

    def _relay_demand(self, waiting: int) -> None:
        """For courier.aio: how many coroutines wait."""

    def _relay_take(self) -> Delivery | None:
        """For courier.aio: a relayed Delivery or None."""

    @property
    def decode_errors(self) -> int:
        """Bodies run() could not decode (nacked, not requeued)."""

    def __iter__(self) -> Self: ...

    def __next__(self) -> Delivery: ...

    def wait_consuming(self, timeout: float | None = None) -> bool:
        """
        True once the proxy answered CONSUME; False on timeout; RemoteError when refused.
        """

    @property
    def queue(self) -> str: ...

    @property
    def endpoint(self) -> str: ...

    @property
    def received(self) -> int: ...

    @property
    def reconnects(self) -> int: ...

    @property
    def stale_settlements(self) -> int: ...

    @property
    def acks_sent(self) -> int: ...

    def close(self) -> None:
        """Hand over pending acks, say BYE (unacked go back), close."""

    @property
    def closed(self) -> bool: ...

    def __enter__(self) -> Consumer: ...

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None: ...

class QueueStats:
    """One queue's figures from STATS (counters since the proxy started)."""

    @property
    def depth(self) -> int: ...

    @property
    def inflight(self) -> int: ...

    @property
    def consumers(self) -> int: ...

    @property
    def delayed(self) -> int: ...

    @property
    def put(self) -> int: ...

    @property
    def delivered(self) -> int: ...

    @property
    def acked(self) -> int: ...

    @property
    def redelivered(self) -> int: ...

    @property
    def dead_lettered(self) -> int: ...

    @property
    def dropped(self) -> int: ...

    @property
    def expired(self) -> int: ...

    @property
    def tokens(self) -> int | None: ...

    def __repr__(self) -> str: ...

class ProxyStats:
    """One STATS answer: every queue's figures and the proxy's."""

    @property
    def queues(self) -> dict[str, QueueStats]: ...

    @property
    def uptime_ms(self) -> int: ...

    @property
    def clients(self) -> int: ...

    def __repr__(self) -> str: ...

class QueueRate:
    """Per-second rates of one queue between two stats() samples."""

    @property
    def put_per_s(self) -> float: ...

    @property
    def acked_per_s(self) -> float: ...

    @property
    def delivered_per_s(self) -> float: ...

    def __repr__(self) -> str: ...

def rates(earlier: ProxyStats, later: ProxyStats) -> dict[str, QueueRate]:
    """Messages per second of every queue between two Admin.stats() samples."""

class Admin:
    """Queue figures and policies on courier-proxy; starts no thread."""

    def __init__(self, endpoint: str | None = None, *, client_name: str = '', timeout: float = 5.0, socket: SocketOptions | None = None, curve: Curve | None = None, context: Context | None = None) -> None: ...

    @overload
    def stats(self) -> ProxyStats:
        """Figures of every queue and of the proxy."""

    @overload
    def stats(self, queue: str) -> QueueStats | None:
        """One queue's figures, or None if it does not exist."""

    def declare(self, queue: str, *, max_length: int | None = None, max_attempts: int | None = None, ttl: float | None = None, ack_timeout: float | None = None, dead_letter: str | None = None, tokens: int | None = None) -> int:
        """
        Set queue policies (unset = unchanged; seconds for ttl/ack_timeout); returns its depth.
        """

    def purge(self, queue: str) -> int:
        """Remove the ready messages; returns how many."""

    def remove(self, queue: str) -> None:
        """Forget an empty, unused queue."""

    @property
    def endpoint(self) -> str: ...

    def close(self) -> None:
        """Say BYE and close (idempotent)."""

    @property
    def closed(self) -> bool: ...

    def __enter__(self) -> Admin: ...

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None: ...

class LockGuard:
    """Proof of holding a token; `with` releases it on exit."""

    @property
    def fence(self) -> int:
        """Greater than every earlier holder's: pass it to the resource."""

    def release(self) -> bool:
        """Give the token back; False if already released or lost."""

    def extend(self) -> None:
        """Restart the lease; raises LockLostError when the token is gone."""

    @property
    def lost(self) -> bool:
        """True once the token was taken away (lease, restart, silence, close)."""

    @property
    def loss(self) -> str:
        """Why the token is not held ('held' while it is)."""

    def check(self) -> None:
        """Raise LockLostError unless the token is still held."""

    @property
    def lease_remaining(self) -> float | None:
        """Seconds left on the lease, None without one."""

    def __enter__(self) -> Self: ...

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None: ...

class Lock:
    """
    A distributed lock/semaphore on a courier-proxy token queue; owns one C++ I/O thread.
    """

    def __init__(self, name: str, endpoint: str | None = None, *, client_name: str = '', permits: int = 1, lease: float | None = None, heartbeat: float = 1.0, socket: SocketOptions | None = None, curve: Curve | None = None, context: Context | None = None) -> None: ...

    def acquire(self, timeout: float | None = None) -> LockGuard:
        """Take a token; raises courier.TimeoutError when timeout passes first."""

    def try_acquire(self, timeout: float | None) -> LockGuard | None:
        """
        Take a token within timeout (None: as long as it takes), else None. A token is a round trip to the proxy away, so 0 never gets one.
        """

    @property
    def name(self) -> str: ...

    @property
    def endpoint(self) -> str: ...

    def close(self) -> None:
        """Say BYE (a held token goes back) and close."""

    @property
    def closed(self) -> bool: ...

    def __enter__(self) -> Lock: ...

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None: ...

# Internal hooks of the package (courier/__init__.py, courier/_completions.py).
def _close_all() -> None: ...
def _complete_futures(timeout: float) -> int: ...
def _wake_completions() -> None: ...
def _forget_completion_thread() -> None: ...
