import pathlib

import pytest

SOURCE_TREE = pathlib.Path(__file__).resolve().parents[1] / "courier"

# The suite tests the installed package (what `pip install .` built), never
# the source directory, which has no compiled module: `python -m pytest` run
# from bindings/python would put it first on sys.path.
try:
    import courier
    import courier._native  # noqa: F401
except ImportError as e:
    pytest.exit(f"cannot import the installed courier ({e}): `pip install .` first, and run "
                "pytest from outside bindings/python (bindings/python/run_tests.sh does both)", returncode=4)
if pathlib.Path(courier.__file__).resolve().parent == SOURCE_TREE:
    pytest.exit(f"courier imported from the source tree {SOURCE_TREE}, not the installed package", returncode=4)


def pytest_report_header(config):
    return f"courier from {pathlib.Path(courier.__file__).parent}"
