"""courier.packb / courier.unpackb: Python values <-> msgpack.

The reference is msgpack-python with its 1.x defaults: packb must give the
same bytes as msgpack.packb for every value both accept, and unpackb must read
back what it packed.
"""

import array
import collections
import enum
import gc
import math
import random
import struct
import sys
import tracemalloc

import msgpack
import pytest

from courier import packb, unpackb

# ------------------------------------------------------------------ values

INTS = [
    0, 1, -1, 31, 127, 128, 255, 256, 65535, 65536, 2**31 - 1, 2**31,
    2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1,
    -32, -33, -127, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63),
]
FLOATS = [0.0, -0.0, 1.0, 1.5, -2.25, 1e308, -1e308, 5e-324, math.inf, -math.inf, math.nan, 0.1]
STRS = ["", "a", "x" * 31, "x" * 32, "x" * 255, "x" * 256, "x" * 65535, "x" * 65536,
        "héllo wörld", "日本語テキスト", "emoji 🎉 and \x00 nul", "\u2028"]
BYTES = [b"", b"\x00", b"\xff" * 255, b"\xff" * 256, b"b" * 65535, b"b" * 65536]
CONTAINERS = [
    [], (), {}, [1] * 15, [1] * 16, (None,) * 65535, [None] * 65536,
    {i: i for i in range(15)}, {i: i for i in range(16)},
    {str(i): i for i in range(65535)}, {str(i): i for i in range(65536)},
    {"id": 7, "name": "alice", "payload": bytes(64)},
    {"items": [1, "two", 3.0, None, True, [b"six", {"seven": (8,)}]], "n": {"m": {"o": []}}},
    {None: 1, True: 2, 3: 3, -4: 4, 5.5: 5, b"six": 6, (7, (8,)): 7, "eight": 8},
    [[[[[[[[[[[]]]]]]]]]]],
]
VALUES = [None, True, False, *INTS, *FLOATS, *STRS, *BYTES, *CONTAINERS]


def ident(v):
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def unpacked_form(v, in_key=False):
    """What unpackb returns for v: tuples read back as lists (as tuples inside a key)."""
    if isinstance(v, (list, tuple)):
        items = [unpacked_form(x, in_key) for x in v]
        return tuple(items) if in_key else items
    if isinstance(v, dict):
        return {unpacked_form(k, True): unpacked_form(x) for k, x in v.items()}
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    return v


def same(a, b):
    """== that also holds for nan and tells -0.0 from 0.0 (and bool from int)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack(">d", a) == struct.pack(">d", b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


# ------------------------------------------------------------------ packing matches msgpack.packb


@pytest.mark.parametrize("value", VALUES, ids=ident)
def test_packb_gives_the_same_bytes_as_msgpack(value):
    assert packb(value) == msgpack.packb(value)


@pytest.mark.parametrize("value", VALUES, ids=ident)
def test_unpackb_reads_back_what_packb_wrote(value):
    assert same(unpackb(packb(value)), unpacked_form(value))


@pytest.mark.parametrize("value", VALUES, ids=ident)
def test_unpackb_reads_what_msgpack_wrote_like_msgpack(value):
    data = msgpack.packb(value)
    try:
        expected = msgpack.unpackb(data, strict_map_key=False)
    except TypeError:  # msgpack-python cannot take an array as a map key; we make it a tuple
        expected = unpacked_form(value)
    assert same(unpackb(data), expected)


def test_bool_packs_as_bool_not_int():
    assert packb(True) == b"\xc3" and packb(False) == b"\xc2"
    assert unpackb(b"\xc3") is True and unpackb(b"\xc0") is None


def test_floats_are_always_float64_even_when_whole():
    assert packb(1.0) == b"\xcb" + struct.pack(">d", 1.0)
    assert packb(-0.0) == b"\xcb" + struct.pack(">d", -0.0)
    assert math.isnan(unpackb(packb(math.nan)))


def test_float32_from_a_cpp_peer_reads_as_float():
    assert unpackb(b"\xca" + struct.pack(">f", 1.5)) == 1.5


def test_non_minimal_encodings_are_accepted():
    assert unpackb(b"\xcf" + (1).to_bytes(8, "big")) == 1
    assert unpackb(b"\xd3" + (-1).to_bytes(8, "big", signed=True)) == -1
    assert unpackb(b"\xd9\x01a") == "a"
    assert unpackb(b"\xdc\x00\x01\x01") == [1]
    assert unpackb(b"\xde\x00\x01\xa1k\xc0") == {"k": None}


def test_bytearray_and_memoryview_pack_as_bin():
    assert packb(bytearray(b"abc")) == msgpack.packb(b"abc")
    assert packb(memoryview(b"abc")) == msgpack.packb(b"abc")
    ints = memoryview(array.array("i", [1, 2]))  # raw bytes, as msgpack.packb does
    assert packb(ints) == msgpack.packb(ints) == msgpack.packb(ints.tobytes())


def test_subclasses_pack_as_their_base_type_like_msgpack():
    class Colour(enum.IntEnum):
        RED = 5

    class Name(str):
        pass

    point = collections.namedtuple("point", "x y")
    value = [Colour.RED, Name("n"), point(1, 2), collections.OrderedDict(a=1), 2.5]
    assert packb(value) == msgpack.packb(value)


def test_dict_order_is_kept():
    d = {"b": 1, "a": 2, "c": 3}
    assert list(unpackb(packb(d))) == ["b", "a", "c"]


def test_array_keys_read_back_as_tuples_so_they_stay_hashable():
    assert unpackb(packb({(1, (2, (3,))): "x"})) == {(1, (2, (3,))): "x"}


def test_repeated_map_keys_come_back_as_the_same_str_object():
    # Short ASCII keys are served from a cache, so field names repeated in
    # every message are neither decoded nor hashed again.
    first, second = unpackb(packb({"field": 1})), unpackb(packb({"field": 2}))
    assert next(iter(first)) is next(iter(second))


@pytest.mark.parametrize("length", [0, 1, 7, 8, 9, 16, 31, 32, 33, 255])
def test_many_distinct_keys_of_every_length_read_back_exactly(length):
    keys = [(f"{i:x}" * length)[:length] if length else "" for i in range(3000)]
    keys += [k[:-1] + "é" for k in keys if k]  # non-ASCII keys bypass the cache
    for _ in range(2):  # the second pass reads through a warm cache
        d = {k: i for i, k in enumerate(keys)}
        assert unpackb(packb(d)) == d


def test_duplicate_keys_keep_the_last_value():
    assert unpackb(b"\x82\xa1k\x01\xa1k\x02") == {"k": 2}


def test_unpackb_takes_any_buffer():
    data = packb({"a": [1, 2]})
    for buf in (bytearray(data), memoryview(data), memoryview(b"xx" + data)[2:]):
        assert unpackb(buf) == {"a": [1, 2]}


def test_unpackb_refuses_what_is_not_a_buffer():
    with pytest.raises(TypeError, match="bytes or another buffer, not str"):
        unpackb("\x90")  # type: ignore[arg-type]


def test_random_values_match_msgpack():
    rng = random.Random(10)

    def scalar():
        return rng.choice([
            None, True, False, rng.randint(-(2**63), 2**64 - 1), rng.randint(-40, 300),
            rng.random() * 10 ** rng.randint(-300, 300), "".join(chr(rng.randint(0, 0x2FF)) for _ in range(rng.randint(0, 40))),
            rng.randbytes(rng.randint(0, 300)),
        ])

    def value(depth):
        kind = rng.randint(0, 3) if depth < 4 else 0
        if kind == 0:
            return scalar()
        if kind == 1:
            return [value(depth + 1) for _ in range(rng.randint(0, 6))]
        if kind == 2:
            return tuple(value(depth + 1) for _ in range(rng.randint(0, 3)))
        return {rng.choice([rng.randint(-5, 5), str(rng.random()), rng.randbytes(2)]): value(depth + 1)
                for _ in range(rng.randint(0, 6))}

    for _ in range(2000):
        v = value(0)
        data = packb(v)
        assert data == msgpack.packb(v)
        assert same(unpackb(data), unpacked_form(v))


# ------------------------------------------------------------------ what cannot be packed


@pytest.mark.parametrize("n", [2**64, 2**64 + 1, -(2**63) - 1, 10**100])
def test_int_beyond_64_bits_is_an_overflow_error(n):
    with pytest.raises(OverflowError, match=r"^cannot pack value: int .* does not fit msgpack's 64 bits"):
        packb(n)


def test_overflow_error_names_the_path_inside_the_value():
    with pytest.raises(OverflowError, match=r'^cannot pack value\["items"\]\[3\]: int 18446744073709551616 '):
        packb({"items": [0, 1, 2, 2**64]})


def test_unsupported_type_is_a_type_error_naming_type_and_path():
    with pytest.raises(TypeError, match=r'^cannot pack value\["items"\]\[3\]: unsupported type set '):
        packb({"items": [0, 1, 2, {1, 2}]})
    for bad in (object(), 1j, {1}, frozenset(), range(3), Ellipsis, array.array("i")):
        with pytest.raises(TypeError, match=f"unsupported type {type(bad).__name__}"):
            packb(bad)


def test_path_names_non_str_keys_by_repr():
    with pytest.raises(TypeError, match=r"^cannot pack value\[7\]\[b'k'\]\[\(1, 2\)\]\[0\]: unsupported type object"):
        packb({7: {b"k": {(1, 2): [object()]}}})
    with pytest.raises(TypeError, match=r"""^cannot pack value\['say "hi"'\]: """):
        packb({'say "hi"': object()})


def test_unsupported_dict_key_names_the_key_and_its_dict():
    with pytest.raises(TypeError, match=r'^cannot pack the key frozenset\(\{1\}\) of value\["a"\]: unsupported type frozenset'):
        packb({"a": {frozenset([1]): 1}})
    with pytest.raises(OverflowError, match=r"^cannot pack the key \(1, 36893488147419103232\) of value: int"):
        packb({(1, 2**65): 1})


def test_str_with_a_lone_surrogate_is_a_value_error():
    with pytest.raises(ValueError, match=r"^cannot pack value\[1\]: str is not encodable as UTF-8: .*surrogates"):
        packb(["ok", "\ud800"])


def test_non_contiguous_memoryview_is_a_value_error():
    with pytest.raises(ValueError, match=r"^cannot pack value: memoryview cannot be read as bytes: .*not C-contiguous"):
        packb(memoryview(b"abcdef")[::2])


def test_512_levels_pack_and_513_are_a_value_error():
    deep = []
    for _ in range(511):
        deep = [deep]
    assert unpackb(packb(deep)) == deep  # 512 nested lists
    with pytest.raises(ValueError, match=r"^cannot pack value\[0\]\[0\].*\.\.\.\[0\]\[0\]\[0\]: nested deeper than 512"):
        packb([deep])
    with pytest.raises(ValueError, match="nested deeper than 512"):
        packb({"k": [deep]})


def test_a_list_that_contains_itself_is_a_value_error_not_a_crash():
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match="nested deeper than 512 levels"):
        packb(loop)


def test_a_key_repr_that_packs_while_the_error_is_built_gets_its_own_buffer():
    class Key:
        def __repr__(self):
            assert packb([1, "two"]) == msgpack.packb([1, "two"])
            return "Key()"

    with pytest.raises(TypeError, match=r"^cannot pack the key Key\(\) of value"):
        packb({Key(): 1})
    assert packb({"after": [1, 2]}) == msgpack.packb({"after": [1, 2]})


# ------------------------------------------------------------------ what cannot be unpacked


def fails(data, pattern):
    with pytest.raises(ValueError, match=pattern):
        unpackb(data)


def test_empty_input_is_a_value_error():
    fails(b"", r"^cannot unpack value: empty input")


@pytest.mark.parametrize("header", [b"\xdd\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff", b"\xdb\xff\xff\xff\xff",
                                    b"\xc6\xff\xff\xff\xff", b"\xc9\xff\xff\xff\xff\x01"], ids=lambda h: h[:1].hex())
def test_a_header_claiming_2_to_the_32_elements_in_a_tiny_frame_is_refused(header):
    tracemalloc.start()
    try:
        fails(header, "cannot fit|truncated")
        assert tracemalloc.get_traced_memory()[1] < 64 * 1024
    finally:
        tracemalloc.stop()


def test_nested_claims_cannot_add_up_to_more_than_the_frame_holds():
    # Each array16 header claims as many items as there are bytes after it,
    # which alone passes a per-header check; together they claim ~4.5n**2.
    n = 3000
    data = b"".join(b"\xdc" + (3 * (n - i - 1)).to_bytes(2, "big") for i in range(n))
    tracemalloc.start()
    try:
        fails(data, "cannot fit in the")
        assert tracemalloc.get_traced_memory()[1] < 64 * len(data)
    finally:
        tracemalloc.stop()


def test_every_truncation_of_a_value_is_a_value_error():
    data = packb({"items": [1, -200, 3.5, "héllo", b"bin", [None, True], {"k": 2**40}], "x": "y" * 40})
    for cut in range(1, len(data)):
        with pytest.raises(ValueError, match=r"truncated|cannot fit"):
            unpackb(data[:cut])


def test_trailing_bytes_are_a_value_error():
    fails(b"\x01\x02", r"^cannot unpack value: 1 trailing byte\(s\) after the value .*\(at byte 1 of 2\)")


def test_byte_0xc1_is_a_value_error():
    fails(b"\x91\xc1", r"^cannot unpack value\[0\]: byte 0xc1, which msgpack never uses \(at byte 1 of 2\)")


@pytest.mark.parametrize("data", [b"\xd4\x01\x00", b"\xc7\x02\x05ab", b"\xd6\xff" + bytes(4)], ids=["fixext1", "ext8", "timestamp"])
def test_ext_types_are_a_value_error(data):
    fails(data, r"^cannot unpack value: ext type -?\d+ of \d+ bytes \(courier values use no msgpack ext types")


def test_invalid_utf8_is_a_value_error_naming_path_and_offset():
    fails(b"\x81\xa4name\x91\xa2\xc3\x28", r'^cannot unpack value\["name"\]\[0\]: str is not valid UTF-8: .*\(at byte 7 of 10\)')


def test_a_map_inside_a_map_key_is_a_value_error():
    fails(b"\x81\x81\x01\x02\x03", r"^cannot unpack a key of value: a map inside a map key")


def test_513_nested_arrays_are_a_value_error():
    assert unpackb(b"\x91" * 511 + b"\x90") is not None
    fails(b"\x91" * 512 + b"\x90", r"nested deeper than 512 levels")


def test_random_bytes_never_crash_and_agree_with_msgpack():
    rng = random.Random(11)
    seeds = [packb(v) for v in CONTAINERS[11:14]]
    for i in range(20000):
        if i % 2:
            data = rng.randbytes(rng.randint(0, 12))
        else:  # a real value with a few bytes changed
            corrupt = bytearray(rng.choice(seeds))
            for _ in range(rng.randint(1, 3)):
                corrupt[rng.randrange(len(corrupt))] = rng.randrange(256)
            data = bytes(corrupt)
        try:
            ours = unpackb(data)
        except ValueError:  # anything else fails the test
            ours = ValueError
        try:
            theirs = msgpack.unpackb(data, strict_map_key=False)
        except Exception:  # msgpack refuses it (it also refuses array keys, which we read as tuples)
            continue
        if has_ext(theirs):
            assert ours is ValueError, data
        else:
            assert same(ours, theirs), data


def has_ext(v):
    if isinstance(v, (msgpack.ExtType, msgpack.Timestamp)):
        return True
    if isinstance(v, list):
        return any(has_ext(x) for x in v)
    if isinstance(v, dict):
        return any(has_ext(k) or has_ext(x) for k, x in v.items())
    return False


# ------------------------------------------------------------------ no leaks


def test_packing_keeps_reference_counts():
    key, text, big = "some key", "value text", 2**63 + 5
    value = {key: [text, big, b"bytes", 1.5], "bad": None}
    before = [sys.getrefcount(o) for o in (key, text, big, value)]
    for _ in range(1000):
        packb(value)
    bad = {key: [text, {1, 2}]}  # error paths hold keys while the message is built
    for _ in range(1000):
        with pytest.raises(TypeError):
            packb(bad)
    del bad
    assert [sys.getrefcount(o) for o in (key, text, big, value)] == before


def test_round_trips_do_not_grow_memory():
    value = {"id": 12345, "name": "alice", "payload": bytes(64), "tags": ["a", "b"], "score": 0.5, "k": {(1, 2): None}}
    hostile = [b"\x81\xa1k\xa2\xc3\x28", b"\x93\x01\x02", b"\x91\xd4\x01\x00", packb({"a": [1, 2**64 - 1]})[:-1]]

    def work(n):
        for _ in range(n):
            unpackb(packb(value))
            for data in hostile:
                try:
                    unpackb(data)
                except ValueError:
                    pass

    work(2000)  # warm caches (UTF-8 forms, buffers)
    gc.collect()
    tracemalloc.start()
    try:
        first = tracemalloc.get_traced_memory()[0]
        work(20000)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - first
    finally:
        tracemalloc.stop()
    assert grown < 16 * 1024, f"{grown} bytes kept after 20000 round trips"
