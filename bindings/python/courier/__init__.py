"""courier: typed messaging over ZeroMQ with msgpack, from Python.

So far the package holds the value converter; the messaging API of the C++
library (Push/Pull, Client/Server, Producer/Consumer, Admin, Lock) follows.

Values map to msgpack as msgpack.packb/unpackb do with their defaults:
None, bool, int (-2**63 .. 2**64-1), float (always float64), str, bytes
(bytearray and memoryview pack as bytes), list and tuple (unpacked as list),
dict (keys of any of these types; an array used as a key unpacks as a tuple).
"""

from ._native import packb, unpackb

__all__ = ["packb", "unpackb"]
