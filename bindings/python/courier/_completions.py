"""The completion thread: sets the results of courier's futures.

courier's C++ I/O threads never touch Python objects. They queue each
outcome in C++; this one Python thread ("courier-completions", a daemon,
started on the first request_async/publish_async) takes them and completes
the concurrent.futures.Future objects, so done-callbacks run here, on a
Python thread. It is stopped (and joined) at interpreter exit.
"""

from __future__ import annotations

import os
import threading

from . import _native

_lock = threading.Lock()
_thread: threading.Thread | None = None
_stopping = False


def _run() -> None:
    while not _stopping:
        _native._complete_futures(0.5)
    _native._complete_futures(0.0)


def ensure_started() -> None:
    """Start the completion thread unless it runs."""
    global _thread
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="courier-completions", daemon=True)
            _thread.start()


def stop(timeout: float = 2.0) -> None:
    """Stop the completion thread after it completed what is queued."""
    global _stopping
    _stopping = True
    _native._wake_completions()
    thread = _thread
    if thread is not None:
        thread.join(timeout)


def _after_fork_in_child() -> None:
    # The thread did not survive the fork: the next future starts a new one.
    global _thread, _stopping
    _thread = None
    _stopping = False
    _native._forget_completion_thread()


os.register_at_fork(after_in_child=_after_fork_in_child)
