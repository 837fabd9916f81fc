"""S5: reading back N records of 100 B or 4 KiB, every record as bytes.

The log or database is written before the timed rounds (and compacted or
checkpointed), so every round reads from the page cache: parsing,
checksums and object creation, not the device. Each round counts the
records; the count is checked.

- walx ``LogReader(path)`` (1 MiB windows read incrementally) and
  ``LogReader(bytes)`` (the whole log in memory, no I/O), CRCs checked;
- LMDB (lmdb): a read transaction's cursor over the values, each copied
  into a bytes object as walx returns them; the fastest embedded store to
  read from, and it stores no checksums, so it checks none. Targets:
  LogReader(path) >= 1.5x it at 100 B and >= 1x at 4 KiB;
- LevelDB (plyvel) iterator and RocksDB (rocksdict) ``values()`` with
  checksums verified; sqlite3 ``SELECT v ORDER BY k`` (no checksums);
- pure Python (pywal.py): the file read whole, parsed and CRC-checked in Python.
"""

import os

import pytest

import pywal
import walx
from conftest import QUICK, run_rounds

N = 200 if QUICK else 10_000
ROUNDS = 1 if QUICK else 20
SIZES = pytest.mark.parametrize("size", [100, 4096], ids=["100B", "4KiB"])
PEER_LABELS = {"lmdb": "LMDB (lmdb) cursor, values copied to bytes (no checksums)",
               "plyvel": "LevelDB (plyvel) iterator, checksums verified",
               "rocksdict": "RocksDB (rocksdict) values(), checksums verified",
               "sqlite3": "sqlite3 SELECT v ORDER BY k (no checksums)"}


def _count(iterable):
    n = 0
    for _ in iterable:
        n += 1
    if isinstance(iterable, walx.LogReader):
        iterable.close()
    return n


def _read(benchmark, bench_case, size, impl, read):
    bench_case("read 100B" if size == 100 else "read 4KiB", impl, records=N, size=size)
    counts = []
    run_rounds(benchmark, lambda: counts.append(_count(read())), ROUNDS)
    assert counts and set(counts) == {N}


def _write_log(bench_dir, size):
    path = bench_dir / "000001.log"
    with walx.LogWriter(path, buffer_size=1 << 20) as w:
        w.add_records([os.urandom(size)] * N)
    return path


@SIZES
def test_walx_reader_path(benchmark, bench_dir, bench_case, size):
    """LogReader(path) over an N-record log file."""
    path = _write_log(bench_dir, size)
    _read(benchmark, bench_case, size, "walx LogReader(path)", lambda: walx.LogReader(path))


@SIZES
def test_walx_reader_bytes(benchmark, bench_dir, bench_case, size):
    """LogReader(bytes) over an N-record log held in memory."""
    data = _write_log(bench_dir, size).read_bytes()
    _read(benchmark, bench_case, size, "walx LogReader(bytes)", lambda: walx.LogReader(data))


@SIZES
def test_pywal_read(benchmark, bench_dir, bench_case, size):
    """pywal.PyLogReader(path): read the file, parse and CRC-check in Python."""
    if not pywal.HAVE_CRC32C:
        pytest.skip("crc32c not installed (the pure-Python reader's CRC)")
    path = _write_log(bench_dir, size)
    _read(benchmark, bench_case, size, "pure Python (pywal)", lambda: pywal.PyLogReader(path))


@SIZES
@pytest.mark.parametrize("name", ["lmdb", "plyvel", "rocksdict", "sqlite3"])
def test_peer_read(benchmark, bench_case, open_peer, size, name):
    """Every value of an N-record database, in key order."""
    db = open_peer(name, durable=False)
    payload = os.urandom(size)
    db.load(N, payload)
    db.prepare_reads()
    _read(benchmark, bench_case, size, PEER_LABELS[name], db.values)
    assert next(iter(db.values())) == payload
