"""Bad input: wrong argument types and values, closed objects, OS errors
(errno -> OSError subclass with filename), garbage files, and the
ResourceWarning of an unclosed writer."""

import array
import gc
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
import tracemalloc
import warnings

import pytest

import walx

BLOCK = walx.BLOCK_SIZE
MODES = list(walx.RecoveryMode)


# ---- argument types and values ------------------------------------------------------

WRITER_ARGS = [
    ({"buffer_size": -1}, ValueError, "buffer_size"),
    ({"buffer_size": 1.5}, TypeError, "buffer_size"),
    ({"buffer_size": "10"}, TypeError, "buffer_size"),
    ({"buffer_size": True}, TypeError, "buffer_size"),
    ({"buffer_size": None}, TypeError, "buffer_size"),
    ({"log_number": -1}, ValueError, "log_number"),
    ({"log_number": 2**64}, ValueError, "log_number"),
    ({"log_number": "3"}, TypeError, "log_number"),
    ({"log_number": 3.0}, TypeError, "log_number"),
    ({"log_number": True}, TypeError, "log_number"),
    ({"recyclable": 1}, TypeError, "recyclable"),
    ({"recyclable": None}, TypeError, "recyclable"),
    ({"recyclable": "yes"}, TypeError, "recyclable"),
]


@pytest.mark.parametrize("kwargs,exc,name", WRITER_ARGS, ids=lambda x: repr(x)[:30])
def test_writer_bad_arguments(wal_dir, kwargs, exc, name):
    path = wal_dir / "000001.log"
    with pytest.raises(exc, match=name):
        walx.LogWriter(path, **kwargs)
    assert not path.exists(), "argument errors must be raised before the file is created"


@pytest.mark.parametrize("path,exc", [
    (123, TypeError), (None, TypeError), (1.5, TypeError), ([b"x"], TypeError),
    ("", ValueError), ("a\0b.log", ValueError),
])
def test_writer_bad_path(path, exc):
    with pytest.raises(exc, match="path"):
        walx.LogWriter(path)


def test_writer_options_are_keyword_only(wal_dir):
    with pytest.raises(TypeError):
        walx.LogWriter(wal_dir / "000001.log", 5)
    with pytest.raises(TypeError):
        walx.LogWriter(wal_dir / "000001.log", nonsense=1)


def test_writer_accepts_bytes_and_pathlike_paths(wal_dir):
    with walx.LogWriter(os.fsencode(wal_dir / "000003.log")) as w:
        assert w.log_number == 3
        w.add_record(b"x")
    with walx.LogWriter(wal_dir / "000003.log") as w:
        assert w.size == 8


READER_ARGS = [
    ({"mode": "x"}, TypeError, "mode"),
    ({"mode": 0}, TypeError, "mode"),
    ({"mode": None}, TypeError, "mode"),
    ({"mode": "TOLERATE_CORRUPTED_TAIL"}, TypeError, "mode"),
    ({"max_record_size": 0}, ValueError, "max_record_size"),
    ({"max_record_size": -1}, ValueError, "max_record_size"),
    ({"max_record_size": 1.5}, TypeError, "max_record_size"),
    ({"max_record_size": True}, TypeError, "max_record_size"),
    ({"log_number": -1}, ValueError, "log_number"),
    ({"log_number": "1"}, TypeError, "log_number"),
    ({"log_number": True}, TypeError, "log_number"),
    ({"verify_checksums": 1}, TypeError, "verify_checksums"),
    ({"verify_checksums": None}, TypeError, "verify_checksums"),
]


@pytest.mark.parametrize("kwargs,exc,name", READER_ARGS, ids=lambda x: repr(x)[:30])
@pytest.mark.parametrize("kind", ["path", "bytes"])
def test_reader_bad_arguments(tmp_path, kwargs, exc, name, kind):
    path = tmp_path / "000001.log"
    path.write_bytes(b"")
    with pytest.raises(exc, match=name):
        walx.LogReader(str(path) if kind == "path" else b"", **kwargs)


@pytest.mark.parametrize("source,exc", [
    (123, TypeError), (None, TypeError), (1.5, TypeError), ("", ValueError),
    (memoryview(b"abcdef")[::2], TypeError),
])
def test_reader_bad_source(source, exc):
    with pytest.raises(exc, match="source"):
        walx.LogReader(source)


@pytest.mark.parametrize("data", ["abc", 123, None, 1.5, [b"a"], memoryview(b"abcdef")[::2]],
                         ids=lambda x: type(x).__name__)
@pytest.mark.parametrize("buffer_size", [0, 4096])
def test_add_record_bad_data(wal_dir, data, buffer_size):
    with walx.LogWriter(wal_dir / "000001.log", buffer_size=buffer_size) as w:
        with pytest.raises(TypeError, match="data"):
            w.add_record(data)
        assert w.size == 0 and not w.poisoned
        w.add_record(b"still fine")


def test_add_record_accepts_any_contiguous_buffer(wal_dir):
    with walx.LogWriter(wal_dir / "000001.log") as w:
        w.add_record(bytearray(b"ab"))
        w.add_record(memoryview(b"xcdx")[1:3])
        w.add_record(array.array("B", b"ef"))
    with walx.LogReader(str(wal_dir / "000001.log")) as r:
        assert list(r) == [b"ab", b"cd", b"ef"]


@pytest.mark.parametrize("records", [b"abc", bytearray(b"abc"), "abc", 5, None])
def test_add_records_bad_records(wal_dir, records):
    with walx.LogWriter(wal_dir / "000001.log") as w:
        with pytest.raises(TypeError, match="records"):
            w.add_records(records)
        assert w.size == 0


# ---- closed objects ---------------------------------------------------------------------


WRITER_METHODS = {
    "add_record": lambda w: w.add_record(b"x"),
    "add_records": lambda w: w.add_records([b"x"]),
    "flush": lambda w: w.flush(),
    "sync": lambda w: w.sync(),
    "sync_all": lambda w: w.sync_all(),
    "fileno": lambda w: w.fileno(),
    "enter": lambda w: w.__enter__(),
}


@pytest.mark.parametrize("method", sorted(WRITER_METHODS))
@pytest.mark.parametrize("buffer_size", [0, 4096])
def test_closed_writer_raises_wal_closed_error(wal_dir, method, buffer_size):
    w = walx.LogWriter(wal_dir / "000001.log", buffer_size=buffer_size)
    w.add_record(b"before")
    w.close()
    with pytest.raises(walx.WalClosedError) as ei:
        WRITER_METHODS[method](w)
    assert isinstance(ei.value, ValueError)
    assert isinstance(ei.value, walx.WalError)
    w.close()
    assert w.closed and w.size == 13 and not w.poisoned
    with walx.LogReader(str(wal_dir / "000001.log")) as r:
        assert list(r) == [b"before"]


READER_METHODS = {
    "iter": lambda r: iter(r),
    "list": lambda r: list(r),
    "next": lambda r: next(r),
    "read_record": lambda r: r.read_record(),
    "enter": lambda r: r.__enter__(),
}


@pytest.mark.parametrize("method", sorted(READER_METHODS))
@pytest.mark.parametrize("kind", ["path", "bytes"])
def test_closed_reader_raises_wal_closed_error(wal_dir, method, kind):
    path = wal_dir / "000001.log"
    with walx.LogWriter(path) as w:
        w.add_records([b"a", b"b"])
    r = walx.LogReader(str(path) if kind == "path" else path.read_bytes())
    r.close()
    with pytest.raises(walx.WalClosedError):
        READER_METHODS[method](r)
    r.close()


def test_reader_closed_during_iteration(wal_dir):
    path = wal_dir / "000001.log"
    with walx.LogWriter(path) as w:
        w.add_records([b"a", b"b", b"c"])
    r = walx.LogReader(str(path))
    it = iter(r)
    assert next(it) == b"a"
    r.close()
    with pytest.raises(walx.WalClosedError):
        next(it)


# ---- OS errors ----------------------------------------------------------------------------


def test_directory_as_path(wal_dir):
    with pytest.raises(IsADirectoryError) as ei:
        walx.LogWriter(wal_dir)
    assert ei.value.filename == str(wal_dir)
    with pytest.raises(IsADirectoryError) as ei:
        with walx.LogReader(str(wal_dir)) as r:
            list(r)
    assert ei.value.filename == str(wal_dir)


def test_missing_parent_directory(wal_dir):
    path = wal_dir / "missing" / "000001.log"
    with pytest.raises(FileNotFoundError) as ei:
        walx.LogWriter(path)
    assert ei.value.filename == str(path)
    assert not path.parent.exists()


def test_parent_is_a_file(wal_dir):
    (wal_dir / "file").write_bytes(b"")
    path = wal_dir / "file" / "000001.log"
    with pytest.raises(NotADirectoryError) as ei:
        walx.LogWriter(path)
    assert ei.value.filename == str(path)


def test_reader_missing_file(wal_dir):
    path = wal_dir / "000404.log"
    with pytest.raises(FileNotFoundError) as ei:
        walx.LogReader(str(path))
    assert ei.value.filename == str(path)
    assert ei.value.errno == 2


PERMISSION_SCRIPT = textwrap.dedent("""
    import json, os, sys
    import walx
    if os.geteuid() == 0:
        try:
            os.setgid(65534)
            os.setuid(65534)
        except OSError as e:
            print(json.dumps({"skip": f"cannot drop root privileges: {e}"}))
            sys.exit(0)
    out = {}
    d = sys.argv[1]
    for name, call in [
        ("reader", lambda: walx.LogReader(os.path.join(d, "000001.log"))),
        ("writer_existing", lambda: walx.LogWriter(os.path.join(d, "000001.log"))),
        ("writer_new", lambda: walx.LogWriter(os.path.join(d, "ro", "000002.log"))),
    ]:
        try:
            call().close()
            out[name] = None
        except Exception as e:
            out[name] = [type(e).__name__, getattr(e, "errno", None), getattr(e, "filename", None)]
    print(json.dumps(out))
""")


def test_permission_denied():
    """A file without permissions and a read-only directory give
    PermissionError. Root bypasses permissions, so as root the check runs
    in a child process that drops to uid/gid 65534 (nobody)."""
    d = tempfile.mkdtemp(prefix="walx-perm-")
    try:
        os.chmod(d, 0o755)
        with walx.LogWriter(os.path.join(d, "000001.log")) as w:
            w.add_record(b"secret")
        os.chmod(os.path.join(d, "000001.log"), 0)
        os.mkdir(os.path.join(d, "ro"))
        os.chmod(os.path.join(d, "ro"), 0o555)
        proc = subprocess.run([sys.executable, "-c", PERMISSION_SCRIPT, d],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        if "skip" in out:
            pytest.skip(out["skip"])
        assert out["reader"] == ["PermissionError", 13, os.path.join(d, "000001.log")]
        assert out["writer_existing"] == ["PermissionError", 13, os.path.join(d, "000001.log")]
        assert out["writer_new"] == ["PermissionError", 13, os.path.join(d, "ro", "000002.log")]
    finally:
        if os.path.isdir(os.path.join(d, "ro")):
            os.chmod(os.path.join(d, "ro"), 0o755)
        shutil.rmtree(d)


# ---- garbage files ---------------------------------------------------------------------------


def _garbage(kind):
    rnd = random.Random(kind)
    if kind == "random":
        return rnd.randbytes(300_000)
    if kind == "all_ff":
        return b"\xff" * 100_000
    if kind == "huge_length_truncated":
        return (0).to_bytes(4, "little") + b"\xff\xff\x01" + b"x" * 100
    if kind == "huge_length_first":
        return (0).to_bytes(4, "little") + b"\xff\xff\x02" + rnd.randbytes(3 * BLOCK)
    if kind == "valid_then_random":
        return walx_bytes([b"a" * 100, b"b" * 40_000]) + rnd.randbytes(50_000)
    if kind == "valid_crc_random_types":
        return _valid_crc_soup(rnd)
    if kind == "short_header":
        return b"\x01\x02\x03"
    raise AssertionError(kind)


def walx_bytes(records):
    d = tempfile.mkdtemp()
    try:
        with walx.LogWriter(os.path.join(d, "x.log")) as w:
            w.add_records(records)
        with open(os.path.join(d, "x.log"), "rb") as f:
            return f.read()
    finally:
        shutil.rmtree(d)


def _valid_crc_soup(rnd):
    """Physical records with correct CRCs but random types and lengths
    (type 9, a compressed WAL, is left out: it is a WalError by design)."""
    out = bytearray()
    while len(out) < 4 * BLOCK:
        left = BLOCK - len(out) % BLOCK
        if left < 7:
            out += bytes(left)
            continue
        t = rnd.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 20, 130, 131, 200, 255])
        h = 11 if t in (5, 6, 7, 8, 11, 131) else 7
        if left < h:
            out += bytes(left)
            continue
        n = rnd.randrange(0, min(left - h, 5000) + 1)
        payload = rnd.randbytes(n)
        extra = rnd.choice([b"\x01\0\0\0", b"\x02\0\0\0"]) if h == 11 else b""
        crc = walx.mask_crc(walx.crc32c(bytes([t]) + extra + payload))
        out += crc.to_bytes(4, "little") + n.to_bytes(2, "little") + bytes([t]) + extra + payload
    return bytes(out)


GARBAGE = ["random", "all_ff", "huge_length_truncated", "huge_length_first",
           "valid_then_random", "valid_crc_random_types", "short_header"]


@pytest.mark.parametrize("verify", [True, False], ids=["crc", "nocrc"])
@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
@pytest.mark.parametrize("kind", ["path", "bytes"])
@pytest.mark.parametrize("garbage", GARBAGE)
def test_garbage_is_records_or_corruption_error(tmp_path, garbage, kind, mode, verify):
    data = _garbage(garbage)
    path = tmp_path / "000001.log"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        try:
            with walx.LogReader(str(path) if kind == "path" else data, mode=mode,
                                verify_checksums=verify) as r:
                records = []
                while (p := r.read_record()) is not None:
                    records.append(p)
                    assert len(records) <= len(data)
                assert 0 <= r.end_offset <= len(data)
                assert sum(map(len, records)) <= len(data)
                for c in r.corruptions:
                    assert 0 <= c.offset <= len(data) and c.size >= 0 and c.reason
        except walx.CorruptionError as e:
            assert e.reason and (e.offset is None or 0 <= e.offset <= len(data))
        except walx.WalError as e:
            # Only a compressed-WAL marker (type 9) may raise a plain WalError.
            assert "compress" in str(e) and not verify, e
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A file source reads windows of blocks; nothing scales with a claimed length.
    assert peak < 4 * len(data) + (4 << 20), peak


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_max_record_size_limits_allocation(mode):
    big = random.Random(1).randbytes(3 << 20)
    data = walx_bytes([b"small", big, b"after"])
    tracemalloc.start()
    try:
        try:
            with walx.LogReader(data, mode=mode, max_record_size=1000) as r:
                records = list(r)
            assert big not in records
            assert records[:1] == [b"small"]
            assert r.corruptions
        except walx.CorruptionError as e:
            assert e.offset == 5 + walx.HEADER_SIZE
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, peak


# ---- unclosed writer ------------------------------------------------------------------------


@pytest.mark.parametrize("buffer_size", [0, 4096])
def test_unclosed_writer_emits_resource_warning(wal_dir, buffer_size):
    path = wal_dir / "000001.log"
    with pytest.warns(ResourceWarning, match="unclosed walx.LogWriter") as rec:
        w = walx.LogWriter(path, buffer_size=buffer_size)
        w.add_record(b"x")
        del w
        gc.collect()
    assert any(str(path) in str(x.message) for x in rec)


def test_closed_writer_emits_no_warning(wal_dir):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        w = walx.LogWriter(wal_dir / "000001.log")
        w.add_record(b"x")
        w.close()
        del w
        gc.collect()
    assert [x for x in rec if issubclass(x.category, ResourceWarning)] == []


def test_buffer_size_above_one_gib_is_refused_before_allocating(tmp_path):
    with pytest.raises(ValueError, match="buffer_size"):
        walx.LogWriter(tmp_path / "big.log", buffer_size=(1 << 30) + 1)
    assert not (tmp_path / "big.log").exists()
    with pytest.raises(ValueError, match="buffer_size"):
        walx.WalManager(tmp_path / "m", buffer_size=(1 << 30) + 1)
