"""S1 and S2: appending 100 B (S1) or 4 KiB (S2) records, no sync, one thread.

Each round writes N records into a NEW file or database; nothing is synced,
so this is page-cache writing: CPU and syscall cost, not the device. walx
and the loops open and close their file inside the timed region; a
database is opened before it (which only favours the databases).

- walx LogWriter write-through (``buffer_size=0``: one write(2) per
  record), buffered (1 MiB: one write(2) per MiB), and ``add_records``
  (all N in one call);
- the C write(2) loop (c_loop.c) of the same framed records: the syscall
  floor with no interpreter. Targets: write-through >= 0.8x it at 100 B and
  >= 0.9x at 4 KiB, buffered >= 3x at 100 B. The loop skips the framing
  and CRC walx does, so walx can only lose by them;
- an ``os.write`` loop of the framed records: the cheapest any Python
  caller can write one record per call;
- pure Python (pywal.py): the same bytes framed in Python with the crc32c
  package: what walx's C framing buys;
- sqlite3 (WAL, synchronous=OFF, one INSERT per transaction), RocksDB
  (rocksdict) and LevelDB (plyvel) ``put(sync=False)``: the cost per record
  of an embedded database's write path (its own WAL included) when it is
  not asked to be durable.
"""

import itertools
import os
import shutil

import pytest

import pywal
import walx
from conftest import QUICK, fresh_file_rounds, run_rounds, write_label

N = 200 if QUICK else 10_000
ROUNDS = 1 if QUICK else 20
PEER_ROUNDS = 1 if QUICK else 10
SIZES = pytest.mark.parametrize("size", [100, 4096], ids=["100B", "4KiB"])


def scenario(size):
    return "write 100B" if size == 100 else "write 4KiB"


def log_size(size, n):
    """The bytes of a log of n records of `size` (block trailers included)."""
    total = boff = 0
    for _ in range(n):
        framed, boff = pywal.frame(bytes(size), boff)
        total += len(framed)
    return total


def _walx(benchmark, bench_dir, bench_case, size, impl, write, **options):
    bench_case(scenario(size), impl, records=N, size=size)
    payload = os.urandom(size)

    def body(path):
        with walx.LogWriter(path, **options) as w:
            write(w, payload)

    fresh_file_rounds(benchmark, bench_dir, body, ROUNDS, log_size(size, N))


def _add_each(w, payload):
    for _ in range(N):
        w.add_record(payload)


@SIZES
def test_walx_write_through(benchmark, bench_dir, bench_case, size):
    """LogWriter(buffer_size=0).add_record, N times."""
    _walx(benchmark, bench_dir, bench_case, size, "walx add_record, write-through", _add_each)


@SIZES
def test_walx_buffered(benchmark, bench_dir, bench_case, size):
    """LogWriter(buffer_size=1 MiB).add_record, N times; close() flushes."""
    _walx(benchmark, bench_dir, bench_case, size, "walx add_record, buffered 1 MiB", _add_each,
          buffer_size=1 << 20)


@SIZES
def test_walx_add_records(benchmark, bench_dir, bench_case, size):
    """LogWriter(buffer_size=0).add_records with the N records in one call."""
    _walx(benchmark, bench_dir, bench_case, size, "walx add_records (one call)",
          lambda w, payload: w.add_records([payload] * N))


@SIZES
def test_pywal_write(benchmark, bench_dir, bench_case, size):
    """pywal.PyLogWriter.add_record, N times."""
    bench_case(scenario(size), "pure Python (pywal)", records=N, size=size)
    if not pywal.HAVE_CRC32C:
        pytest.skip("crc32c not installed (the pure-Python writer's CRC)")
    payload = os.urandom(size)

    def body(path):
        with pywal.PyLogWriter(path) as w:
            for _ in range(N):
                w.add_record(payload)

    fresh_file_rounds(benchmark, bench_dir, body, ROUNDS, log_size(size, N))


@SIZES
def test_os_write_loop(benchmark, bench_dir, bench_case, size):
    """os.write of one framed record, N times."""
    bench_case(scenario(size), "os.write loop (pre-framed)", records=N, size=size)
    record = pywal.frame(os.urandom(size))[0]

    def body(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        try:
            for _ in range(N):
                os.write(fd, record)
        finally:
            os.close(fd)

    fresh_file_rounds(benchmark, bench_dir, body, ROUNDS, N * len(record))


@SIZES
def test_c_write_loop(benchmark, bench_dir, bench_case, c_loop, size):
    """c_loop.c: N write(2) calls of one framed record."""
    bench_case(scenario(size), "C write(2) loop (pre-framed)", records=N, size=size)
    record = pywal.frame(os.urandom(size))[0]
    fresh_file_rounds(benchmark, bench_dir, lambda path: c_loop(path, record, N), ROUNDS,
                      N * len(record))


@SIZES
@pytest.mark.parametrize("name", ["sqlite3", "rocksdict", "plyvel"])
def test_peer_write(benchmark, bench_dir, bench_case, open_peer, size, name):
    """One put (sqlite3: INSERT) per record into a new database per round."""
    bench_case(scenario(size), write_label(name, durable=False), records=N, size=size)
    payload, counter, dbs = os.urandom(size), itertools.count(), []

    def setup():
        for db in dbs:     # deleted at once, before the kernel writes its pages back
            db.close()
            shutil.rmtree(db.path)
        dbs[:] = [open_peer(name, durable=False, path=bench_dir / f"db{next(counter)}")]
        return (dbs[0].writer(),), {}

    def body(put):
        for i in range(N):
            put(i, payload)

    run_rounds(benchmark, body, PEER_ROUNDS, setup)
    assert sum(1 for _ in dbs[0].values()) == N


@pytest.mark.parametrize("recyclable", [False, True], ids=["legacy", "recyclable"])
def test_pywal_writes_the_same_bytes_as_walx(tmp_path, recyclable):
    """Not a benchmark: the baseline writes exactly what walx writes."""
    sizes = [0, 1, 100, 4096, 32757, 32761, 32768, 70000, *range(1, 40000, 997)]
    payloads = [os.urandom(n) for n in sizes]
    a, b = tmp_path / "000007.log", tmp_path / "b.log"
    with walx.LogWriter(a, recyclable=recyclable, log_number=7) as w:
        offsets = [w.add_record(p) for p in payloads]
    with pywal.PyLogWriter(b, recyclable=recyclable, log_number=7) as w:
        assert [w.add_record(p) for p in payloads] == offsets
    assert a.read_bytes() == b.read_bytes()
    assert list(pywal.PyLogReader(a)) == payloads
