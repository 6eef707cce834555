"""The installed package: what `pip install .` put in site-packages."""

import pathlib
import subprocess
import sys

import pytest

import courier
from courier import _native

PACKAGE = pathlib.Path(courier.__file__).parent


def test_package_ships_py_typed_and_stubs_for_the_native_module():
    assert (PACKAGE / "py.typed").is_file()
    assert (PACKAGE / "_native.pyi").is_file()


def test_public_names_come_from_the_native_module_and_errors():
    assert courier.packb is _native.packb and courier.unpackb is _native.unpackb
    for name in courier.__all__:
        obj = getattr(courier, name)
        assert getattr(_native, name, None) is obj or obj.__module__ == "courier.errors", name
    for name in ("Push", "Pull", "Client", "Server", "Producer", "Consumer", "Delivery", "Admin", "Lock"):
        assert name in courier.__all__


def test_every_error_is_a_courier_error_with_the_cpp_code():
    codes = {"DecodeError": 1, "ProtocolError": 2, "TimeoutError": 3, "RemoteError": 4,
             "JournalError": 5, "ConfigError": 6, "ClosedError": 7, "LockLostError": 7}
    for name, code in codes.items():
        cls = getattr(courier, name)
        assert issubclass(cls, courier.Error) and cls.code == code, name
    assert issubclass(courier.TimeoutError, TimeoutError)      # the builtin
    assert issubclass(courier.ConfigError, ValueError)
    e = courier.RemoteError("x", 429, "full")
    assert (e.status, e.reason, str(e)) == (429, "full", "x")


def test_native_functions_have_signatures_for_tools():
    import inspect

    assert str(inspect.signature(courier.packb)) == "(value, /)"
    assert str(inspect.signature(courier.unpackb)) == "(data, /)"


def test_stubs_match_the_built_module(tmp_path):
    pytest.importorskip("mypy")
    # From an empty directory, so that stubtest reads the installed package
    # (and mypy's cache lands there, not in the source tree).
    run = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "courier", "--concise",
         "--allowlist", str(pathlib.Path(__file__).with_name("stubtest-allowlist.txt"))],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
