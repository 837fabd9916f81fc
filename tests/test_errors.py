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


# ---- closed objects ---------------------------------------------------------------------


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


def test_reader_missing_file(wal_dir):
    path = wal_dir / "000404.log"
    with pytest.raises(FileNotFoundError) as ei:
        walx.LogReader(str(path))
    assert ei.value.filename == str(path)
    assert ei.value.errno == 2


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


