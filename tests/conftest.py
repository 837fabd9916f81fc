"""Shared fixtures and the guards that keep the suite honest.

The suite tests the installed, compiled walx (STYLE.md section 9):
- walx._walx must be a compiled extension module (.so), never Python source;
- with WALX_REQUIRE_INSTALLED=1 (CI), walx must not come from this checkout;
- when it does come from the checkout (in-place dev loop), a C or Cython
  source newer than the built module fails the session with the command to
  rebuild.
"""

import importlib.machinery
import os
import pathlib

import pytest

import walx
import walx._walx

REPO = pathlib.Path(__file__).resolve().parent.parent
DATA = pathlib.Path(__file__).resolve().parent / "data"


def _compiled_module_problem():
    so = walx._walx.__file__ or ""
    if not so.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
        return f"walx._walx is not a compiled extension module: {so!r}"
    pkg = pathlib.Path(walx.__file__).resolve().parent
    if os.environ.get("WALX_REQUIRE_INSTALLED") == "1" and pkg == REPO / "walx":
        return (f"walx was imported from the source tree ({pkg}); "
                "install it and run pytest from outside the checkout")
    if pkg == REPO / "walx":
        built = pathlib.Path(so).stat().st_mtime
        sources = list((REPO / "csrc").glob("*.[ch]")) + list(pkg.glob("*.pyx")) + \
            list(pkg.glob("*.pxd"))
        stale = [str(s.relative_to(REPO)) for s in sources if s.stat().st_mtime > built]
        if stale:
            return ("the in-place build is stale (newer: " + ", ".join(sorted(stale)) +
                    "); rebuild with: python setup.py build_ext --inplace")
    return None


def pytest_sessionstart(session):
    problem = _compiled_module_problem()
    if problem:
        raise pytest.UsageError(problem)


def pytest_report_header(config):
    return [f"walx {walx.__version__}: {walx.__file__}",
            f"walx._walx: {walx._walx.__file__}",
            f"crc32c implementation: {walx.CRC32C_IMPL}"]


@pytest.fixture(params=[False, True], ids=["legacy", "recyclable"])
def recyclable(request):
    return request.param


@pytest.fixture
def wal_dir(tmp_path):
    d = tmp_path / "wal"
    d.mkdir()
    return d


@pytest.fixture
def data_dir():
    return DATA
