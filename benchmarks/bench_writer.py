"""Appending records without sync: walx against its baselines.

Each round creates a new file in ``bench_dir``, appends N records of one
payload size (100 B or 4 KiB) and closes the file; opening and closing are
inside the timed region for every implementation, and the previous round's
file is deleted outside it. No implementation syncs, so these numbers are
page-cache writes: CPU and syscall cost, not the device.

Implementations (scenario "write <size>", one test each):
- walx.LogWriter write-through (buffer_size=0: one write(2) per record);
- walx.LogWriter buffered (buffer_size=1 MiB: one write(2) per MiB);
- walx.LogWriter.add_records: the N records in one call, write-through;
- pywal.PyLogWriter: pure-Python framing, one os.write per record;
- an os.write loop of N ready-framed records (no framing, no CRC);
- a C loop of N write(2) calls of the same framed size (the syscall floor).

The embedded-database peers of these scenarios are in bench_peers_write.py.
"""

import os

import pytest

import pywal
import walx
from conftest import pedantic_fresh_file

QUICK = os.environ.get("WALX_BENCH_QUICK") == "1"
N = 200 if QUICK else 10_000
ROUNDS = 1 if QUICK else 20
SIZES = [100, 4096]
IDS = ["100B", "4KiB"]


def _framed_size(size):
    return len(pywal.frame(bytes(size))[0])


def _expected_file_size(size, n):
    """The size of a log of `n` records of `size` bytes (with trailers)."""
    total, boff = 0, 0
    for _ in range(n):
        framed, boff = pywal.frame(bytes(size), boff)
        total += len(framed)
    return total


def _pedantic(benchmark, bench_dir, body, check_size):
    """Run `body(path)` once per round on a fresh path; check the file afterwards."""
    pedantic_fresh_file(benchmark, bench_dir, body, check_size, ROUNDS)


def _describe(bench_case, size, impl, baseline=None):
    bench_case(f"write {IDS[SIZES.index(size)]}", impl, records=N, record_size=size,
               baseline=baseline, framed_record_size=_framed_size(size))


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_add_record_write_through(benchmark, bench_dir, bench_case, size):
    """walx.LogWriter(buffer_size=0).add_record, N times: one write(2) per record."""
    _describe(bench_case, size, "walx add_record, write-through")
    payload = os.urandom(size)

    def body(path):
        with walx.LogWriter(path) as w:
            for _ in range(N):
                w.add_record(payload)

    _pedantic(benchmark, bench_dir, body, _expected_file_size(size, N))


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_add_record_buffered(benchmark, bench_dir, bench_case, size):
    """walx.LogWriter(buffer_size=1 MiB).add_record, N times; close() flushes."""
    _describe(bench_case, size, "walx add_record, buffered 1 MiB")
    payload = os.urandom(size)

    def body(path):
        with walx.LogWriter(path, buffer_size=1 << 20) as w:
            for _ in range(N):
                w.add_record(payload)

    _pedantic(benchmark, bench_dir, body, _expected_file_size(size, N))


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_add_records_batch(benchmark, bench_dir, bench_case, size):
    """walx.LogWriter(buffer_size=0).add_records with all N records in one call."""
    _describe(bench_case, size, "walx add_records (one call)")
    records = [os.urandom(size)] * N

    def body(path):
        with walx.LogWriter(path) as w:
            assert w.add_records(records) == N

    _pedantic(benchmark, bench_dir, body, _expected_file_size(size, N))


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_pure_python_writer(benchmark, bench_dir, bench_case, size):
    """pywal.PyLogWriter.add_record, N times: Python framing, crc32c package, os.write."""
    _describe(bench_case, size, "pure Python (pywal)", baseline="pure_python")
    if not pywal.HAVE_CRC32C:
        pytest.skip("crc32c not installed (the pure-Python writer's CRC)")
    payload = os.urandom(size)

    def body(path):
        with pywal.PyLogWriter(path) as w:
            for _ in range(N):
                w.add_record(payload)

    _pedantic(benchmark, bench_dir, body, _expected_file_size(size, N))


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_os_write_loop(benchmark, bench_dir, bench_case, size):
    """os.write of one ready-framed record (header + payload), N times."""
    _describe(bench_case, size, "os.write loop (pre-framed)", baseline="os_write")
    record = pywal.frame(os.urandom(size))[0]
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)

    def body(path):
        fd = os.open(path, flags, 0o644)
        try:
            for _ in range(N):
                os.write(fd, record)
        finally:
            os.close(fd)

    _pedantic(benchmark, bench_dir, body, N * len(record))


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_c_write_loop(benchmark, bench_dir, bench_case, c_write_loop, size):
    """A C loop of N write(2) calls of one ready-framed record: the syscall floor."""
    _describe(bench_case, size, "C write(2) loop (pre-framed)", baseline="c_loop")
    c_write_loop = c_write_loop.require()
    record = pywal.frame(os.urandom(size))[0]

    def body(path):
        c_write_loop(path, record, N)

    _pedantic(benchmark, bench_dir, body, N * len(record))


@pytest.mark.parametrize("recyclable", [False, True], ids=["legacy", "recyclable"])
def test_pywal_writes_the_same_bytes_as_walx(tmp_path, recyclable):
    """Not a benchmark: the baseline must write exactly what walx writes."""
    import random
    rnd = random.Random(42)
    sizes = [0, 1, 100, 4096, 32757, 32761, 32768, 70000] + \
        [rnd.randrange(0, 40000) for _ in range(40)]
    payloads = [os.urandom(n) for n in sizes]
    a, b = tmp_path / "000007.log", tmp_path / "b.log"
    with walx.LogWriter(a, recyclable=recyclable, log_number=7) as w:
        offsets = [w.add_record(p) for p in payloads]
    with pywal.PyLogWriter(b, recyclable=recyclable, log_number=7) as w:
        assert [w.add_record(p) for p in payloads] == offsets
    assert a.read_bytes() == b.read_bytes()
    assert list(pywal.PyLogReader(a)) == payloads
