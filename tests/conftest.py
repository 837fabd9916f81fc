"""Shared fixtures and the guards that keep the suite honest.

The suite tests the installed, compiled walx (docs/development.md, "The loop"):
- walx._walx must be a compiled extension module (.so), never Python source;
- with WALX_REQUIRE_INSTALLED=1 (CI), walx must not come from this checkout;
- when it does come from the checkout (in-place dev loop), a C or Cython
  source newer than the built module fails the session with the command to
  rebuild.

The helper modules beside this file (walxtest.py: the reference framer and
other helpers that do not use walx; walxhelpers.py: the helpers that drive
walx, behind the fixtures below; reliability.py: what the reliability
suites share) are importable from every test folder: this
folder is put on sys.path here, not left to pytest's import mode. Test
files are imported by their basename (no __init__.py, so that the checkout
root never lands on sys.path and shadows the installed walx): a basename
may appear once in the whole tree, which the session checks at start.
"""

import collections
import importlib.machinery
import os
import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import walx  # noqa: E402
import walx._walx  # noqa: E402
import walxhelpers  # noqa: E402
import walxtest  # noqa: E402

REPO = HERE.parent
DATA = walxtest.DATA


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


def _basename_clash():
    seen = collections.defaultdict(list)
    for path in HERE.rglob("test_*.py"):
        seen[path.name].append(str(path.relative_to(HERE)))
    clashes = sorted(paths for paths in seen.values() if len(paths) > 1)
    if clashes:
        return ("test files are imported by basename, and these share one: " +
                "; ".join(", ".join(sorted(paths)) for paths in clashes))
    return None


def pytest_sessionstart(session):
    problem = _compiled_module_problem() or _basename_clash()
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
    """tests/data: the RocksDB/LevelDB logs and edge cases (tests/data/README.md)."""
    return DATA


@pytest.fixture
def batch():
    """The WriteBatch factory: batch(seq, n=1, size=8, tag=b"k", value=None)
    has n puts, key tag + str(seq + i), value `value` or `size` bytes of
    (seq + i) & 0xFF (walxhelpers.make_batch)."""
    return walxhelpers.make_batch


@pytest.fixture
def write_log():
    """write_log(path, records, **LogWriter options): writes each record (a
    bytes-like payload or a WriteBatch, encoded) with one LogWriter, creating
    or appending to `path`; returns [(start, end)] of each record
    (walxhelpers.write_log)."""
    return walxhelpers.write_log


@pytest.fixture
def read_all():
    """read_all(source, **LogReader options): the records of an intact log,
    read in ABSOLUTE_CONSISTENCY; fails the test unless the log has no damage
    and ends cleanly (walxhelpers.read_intact)."""
    return walxhelpers.read_intact
