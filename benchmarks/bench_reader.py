"""Reading a log back with CRC checks: walx.LogReader against pure Python.

Before the timed rounds, walx writes a log of N records of one payload size
(100 B or 4 KiB) into ``bench_dir`` (so a file source is in the page cache,
not on the device). Each round reads every record and counts them; the
count is checked afterwards. CRCs are verified in every implementation.

Implementations (scenario "read <size>", one test each):
- walx.LogReader on the path (incremental reads of 1 MiB windows);
- walx.LogReader on a bytes object holding the whole log (no I/O);
- pywal.PyLogReader on the path (reads the file, parses in Python).
The embedded-database peers (LMDB, LevelDB, RocksDB, sqlite3) are in
bench_peers_read.py.
"""

import os

import pytest

import pywal
import walx

QUICK = os.environ.get("WALX_BENCH_QUICK") == "1"
N = 200 if QUICK else 10_000
ROUNDS = 1 if QUICK else 20
SIZES = [100, 4096]
IDS = ["100B", "4KiB"]


def _write_log(bench_dir, size):
    path = bench_dir / "000001.log"
    payload = os.urandom(size)
    with walx.LogWriter(path, buffer_size=1 << 20) as w:
        w.add_records([payload] * N)
    return path


def _run(benchmark, bench_case, size, impl, count_records, baseline=None):
    bench_case(f"read {IDS[SIZES.index(size)]}", impl, records=N, record_size=size,
               baseline=baseline)
    counts = []

    def body():
        counts.append(count_records())

    benchmark.pedantic(body, rounds=ROUNDS, warmup_rounds=1 if ROUNDS > 1 else 0)
    assert counts and all(c == N for c in counts)


def _count(iterable):
    n = 0
    for _ in iterable:
        n += 1
    return n


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_log_reader_path(benchmark, bench_dir, bench_case, size):
    """walx.LogReader(path): iterate every record of an N-record log file."""
    path = _write_log(bench_dir, size)

    def count_records():
        with walx.LogReader(path) as r:
            return _count(r)

    _run(benchmark, bench_case, size, "walx LogReader(path)", count_records)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_log_reader_bytes(benchmark, bench_dir, bench_case, size):
    """walx.LogReader(bytes): iterate every record of an N-record log held in memory."""
    data = _write_log(bench_dir, size).read_bytes()

    def count_records():
        with walx.LogReader(data) as r:
            return _count(r)

    _run(benchmark, bench_case, size, "walx LogReader(bytes)", count_records)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_pure_python_reader(benchmark, bench_dir, bench_case, size):
    """pywal.PyLogReader(path): read the file, parse and CRC-check in Python."""
    if not pywal.HAVE_CRC32C:
        bench_case(f"read {IDS[SIZES.index(size)]}", "pure Python (pywal)", records=N,
                   record_size=size, baseline="pure_python")
        pytest.skip("crc32c not installed (the pure-Python reader's CRC)")
    path = _write_log(bench_dir, size)

    def count_records():
        return _count(pywal.PyLogReader(path))

    _run(benchmark, bench_case, size, "pure Python (pywal)", count_records,
         baseline="pure_python")
