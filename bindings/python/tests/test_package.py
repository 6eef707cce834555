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


def test_public_names_come_from_the_native_module():
    assert courier.packb is _native.packb and courier.unpackb is _native.unpackb
    assert set(courier.__all__) == {"packb", "unpackb"}


def test_native_functions_have_signatures_for_tools():
    import inspect

    assert str(inspect.signature(courier.packb)) == "(value, /)"
    assert str(inspect.signature(courier.unpackb)) == "(data, /)"


def test_stubs_match_the_built_module(tmp_path):
    pytest.importorskip("mypy")
    # From an empty directory, so that stubtest reads the installed package
    # (and mypy's cache lands there, not in the source tree).
    run = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "courier", "--concise"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
