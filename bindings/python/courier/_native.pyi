# Stubs for the compiled module courier._native, checked against the built
# module by mypy's stubtest (bindings/python/tests/test_stubs.py).
from typing import Any

from typing_extensions import Buffer

def packb(value: object, /) -> bytes:
    """Return value encoded as msgpack, the same bytes msgpack.packb(value) gives."""

def unpackb(data: Buffer, /) -> Any:
    """Return the value that data holds as exactly one msgpack object."""
