"""Typing (issue 7): the stubs match the compiled module, and ``mypy --strict``
passes on the installed package and on examples/.

mypy and stubtest run in subprocesses from a temporary directory, on the
walx this session imported: the installed copy (always so in CI), or, in the
in-place development loop, the checkout's.
Without mypy the tests skip, or fail when $CI is set: mypy is in the
``test`` extra.
"""

import ast
import importlib.util
import os
import pathlib
import re
import site
import subprocess
import sys

import pytest

import walx
import walx._walx

REPO = pathlib.Path(__file__).resolve().parent.parent
PKG = pathlib.Path(walx.__file__).resolve().parent
STUB = PKG / "_walx.pyi"


@pytest.fixture(scope="module")
def mypy_available():
    if importlib.util.find_spec("mypy") is None:
        msg = (f"mypy is not installed for {sys.executable}; it is in the test extra "
               "(pip install '.[test]')")
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture
def cwd(tmp_path, mypy_available):
    """An empty working directory with a config that shuts out user configs."""
    (tmp_path / "mypy.ini").write_text("[mypy]\n")
    # Whatever walx the subprocesses import must be the one under test.
    p = run(tmp_path, "-c", "import walx; print(walx.__file__)")
    assert p.returncode == 0, p.stderr
    seen = pathlib.Path(p.stdout.strip()).resolve().parent
    assert seen == PKG, f"from {tmp_path}, walx is {seen}, but this session imported {PKG}"
    return tmp_path


def run(cwd, *argv, timeout=600):
    env = {k: v for k, v in os.environ.items() if k not in ("MYPYPATH", "MYPY_CACHE_DIR")}
    root = str(PKG.parent)
    sites = site.getsitepackages() + [site.getusersitepackages()]
    if root not in {str(pathlib.Path(d).resolve()) for d in sites}:
        # walx came from the checkout (sys.path[0] = the cwd of pytest).
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, *map(str, argv)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def mypy(cwd, *argv):
    """mypy --strict with only our (empty) config; returns the process and the
    files it was asked to check (from -v)."""
    p = run(cwd, "-m", "mypy", "--config-file", cwd / "mypy.ini", "--cache-dir",
            cwd / ".mypy_cache", "--strict", "-v", *argv)
    sources = [pathlib.Path(m) for m in
               re.findall(r"Found source:\s+BuildSource\(path='([^']+)'", p.stderr)]
    return p, sources


def summary(p):
    """mypy's report without the -v log."""
    return "\n".join(line for line in (p.stdout + p.stderr).splitlines()
                     if not line.startswith("LOG:")) or f"(no output, status {p.returncode})"


# ---- (a) stubtest -----------------------------------------------------------------

def test_stubtest_against_the_compiled_module(cwd):
    p = run(cwd, "-m", "mypy.stubtest", "walx._walx",
            "--allowlist", REPO / "ci" / "stubtest-allowlist.txt",
            "--mypy-config-file", cwd / "mypy.ini")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Success" in p.stdout


# ---- (b) mypy --strict ------------------------------------------------------------

def test_mypy_strict_on_the_package(cwd):
    p, sources = mypy(cwd, "-p", "walx")
    assert p.returncode == 0, summary(p)
    assert "Success: no issues found" in p.stdout, summary(p)
    # It checked the files this session imported, all of them, and nothing else.
    assert sources, summary(p)
    assert all(s.resolve().parent == PKG for s in sources), sources
    checked = {s.name for s in sources}
    expected = {f.name for f in PKG.glob("*.py")} | {"_walx.pyi"}
    assert checked == expected, (checked, expected)


def test_mypy_strict_on_the_examples(cwd):
    examples = sorted((REPO / "examples").glob("*.py"))
    assert examples
    p, sources = mypy(cwd, REPO / "examples")
    assert p.returncode == 0, summary(p)
    assert "Success: no issues found" in p.stdout, summary(p)
    assert sorted(sources) == examples
    # The examples' `import walx` resolved to the same package.
    parsed = re.findall(r"Parsing (\S+) \(walx\)", p.stderr)
    assert [pathlib.Path(f).resolve() for f in parsed] == [PKG / "__init__.py"], parsed


# What the stubs promise a user, checked by mypy: LogReader's item type
# follows `codec`, and the public names have the types the docs give.
_USAGE = '''\
from __future__ import annotations

from typing import Iterator, List, Optional, Union

from typing_extensions import assert_type

import walx


def use(path: str, codec: Optional[str]) -> None:
    with walx.LogReader(path) as r:
        assert_type(r, walx.LogReader[bytes])
        for payload in r:
            assert_type(payload, bytes)
        assert_type(r.read_record(), Optional[bytes])
        assert_type(r.corruptions, List[walx.Corruption])
    with walx.LogReader(b"...", codec="walx", mode=walx.RecoveryMode.POINT_IN_TIME) as rb:
        for batch in rb:
            assert_type(batch, walx.WriteBatch)
            for rec in batch:
                assert_type(rec, walx.BatchRecord)
                assert_type(rec.op, walx.OpType)
    either = walx.LogReader(path, codec=codec)
    assert_type(next(either), Union[bytes, walx.WriteBatch])
    untyped: walx.LogReader = either      # a bare annotation still works
    it: Iterator[bytes] = walx.LogReader(path)
    del untyped, it
    m, recovery = walx.WalManager.recover_and_open(path)
    assert_type(m, walx.WalManager)
    assert_type(recovery.batches, List[walx.WriteBatch])
    assert_type(walx.crc32c(b"x"), int)
    assert_type(walx.repair(path, dry_run=True), List[walx.Corruption])
    assert_type(walx.__version__, str)
'''


def test_mypy_strict_on_typical_use(cwd):
    (cwd / "usage.py").write_text(_USAGE)
    p, _ = mypy(cwd, "usage.py")
    assert p.returncode == 0, summary(p)


def test_mypy_rejects_a_wrong_item_type(cwd):
    # The check above is not vacuous: a wrong expectation fails.
    (cwd / "wrong.py").write_text(
        "import walx\n"
        "def f(path: str) -> bytes:\n"
        "    for b in walx.LogReader(path, codec='walx'):\n"
        "        return b\n"
        "    return b''\n")
    p, _ = mypy(cwd, "wrong.py")
    assert p.returncode == 1, summary(p)
    assert 'Incompatible return value type (got "WriteBatch", expected "bytes")' in p.stdout


# ---- (c) __all__ and the stub's names ---------------------------------------------

def _stub_public_names():
    """The public names the stub defines (not those it imports)."""
    tree = ast.parse(STUB.read_text(), str(STUB))
    names = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names[node.name] = "class"
        elif isinstance(node, ast.FunctionDef):
            names[node.name] = "function"
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = "value"
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    names[t.id] = "value"
    return {n: kind for n, kind in names.items() if not n.startswith("_")}


def _init_imports_from_walx():
    """The names walx/__init__.py imports from the compiled module."""
    tree = ast.parse((PKG / "__init__.py").read_text())
    return {a.asname or a.name for node in tree.body
            if isinstance(node, ast.ImportFrom) and node.module == "walx._walx"
            for a in node.names}


def test_all_names_exist_and_match_the_stub():
    assert len(walx.__all__) == len(set(walx.__all__))
    missing = [n for n in walx.__all__ if not hasattr(walx, n)]
    assert not missing
    stub = _stub_public_names()
    compiled = _init_imports_from_walx()
    assert compiled, "walx/__init__.py imports nothing from walx._walx"
    # Every re-export of the compiled module is exported, defined by the
    # stub, and is the runtime object of the same name, of the same kind.
    assert compiled <= set(walx.__all__), compiled - set(walx.__all__)
    assert compiled <= set(stub), compiled - set(stub)
    for name in sorted(compiled):
        obj = getattr(walx, name)
        assert obj is getattr(walx._walx, name), name
        if stub[name] == "class":
            assert isinstance(obj, type), name
        elif stub[name] == "function":
            assert callable(obj) and not isinstance(obj, type), name
        else:
            assert not callable(obj), name
    # The other names in __all__ come from the pure-Python modules, not the stub.
    for name in sorted(set(walx.__all__) - compiled):
        module = getattr(getattr(walx, name), "__module__", None)
        assert name == "__version__" or module in ("walx._enums", "walx._errors"), \
            (name, module)
    # And everything the stub defines exists at runtime (stubtest checks the
    # details; this needs no mypy).
    absent = [n for n in stub if not hasattr(walx._walx, n)]
    assert not absent
