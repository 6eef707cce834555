"""Values covering every JSON <-> msgpack type, and a strict comparison."""

VALUES = [
    None, True, False,
    0, 1, -1, 127, 128, 255, 256, 65535, 65536, -32, -33, -129, -32769,
    2 ** 32, 2 ** 63 - 1, 2 ** 64 - 1, -(2 ** 63),
    0.5, -1.25, 1.0, 1e300, -2.5e-300,
    "", "hello", "h\u00e9llo \u2713 \U0001F600", "line\nbreak \"quoted\" \\ tab\t",
    [], [1, "x", None, [True]], {}, {"a": {"b": [1, 2, {"c": None}]}, "k": -7},
    "x" * 70000, list(range(20)),
]


def same(a, b):
    """Equality that also tells bool from int and int from float."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b
