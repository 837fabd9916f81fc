"""S3: one durable record at a time: append + fdatasync per record, one thread.

Each round creates a new file in ``bench_dir`` and makes N records of 100 B
durable one by one; the previous round's file is deleted outside the timed
region. The numbers are dominated by the device's flush latency, so they
are only comparable with the filesystem and device recorded in extra_info
(tmpfs or a disk with a volatile cache makes fdatasync nearly free).

After the timed rounds every benchmark times LATENCY_OPS more operations
one by one on a new file (time.perf_counter_ns around each append + sync;
clock_gettime in the C loop) for the p50/p99/p99.9 latencies in
extra_info["latency_us"].

Implementations (scenario "sync 100B", one test each):
- walx.LogWriter write-through: add_record + sync() per record;
- pywal.PyLogWriter (pure Python framing + crc32c): add_record + fdatasync;
- os.write + os.fdatasync per ready-framed record;
- a C loop of write(2) + fdatasync(2) per record (the floor on a fresh file).
WalManager (fresh, recycled and preallocated logs) is in bench_manager.py
and the embedded databases in bench_peers_sync.py, in the same scenario.
"""

import os

import pytest

import pywal
import walx
from conftest import LATENCY_OPS, pedantic_fresh_file, timed_ops

QUICK = os.environ.get("WALX_BENCH_QUICK") == "1"
N = 5 if QUICK else 200
ROUNDS = 1 if QUICK else 15
SIZE = 100
SCENARIO = "sync 100B"

fdatasync = getattr(os, "fdatasync", os.fsync)
FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)


def _pedantic(benchmark, bench_dir, body, expected_size):
    pedantic_fresh_file(benchmark, bench_dir, body, expected_size, ROUNDS)


def test_add_record_sync_per_record(benchmark, bench_dir, bench_case, record_latency):
    """walx.LogWriter(buffer_size=0): add_record then sync() (fdatasync), N times."""
    bench_case(SCENARIO, "walx LogWriter add_record + sync(), fresh file", records=N,
               record_size=SIZE)
    payload = os.urandom(SIZE)

    def body(path):
        with walx.LogWriter(path) as w:
            for _ in range(N):
                w.add_record(payload)
                w.sync()

    _pedantic(benchmark, bench_dir, body, N * (SIZE + walx.HEADER_SIZE))
    with walx.LogWriter(bench_dir / "lat.log") as w:
        add, sync = w.add_record, w.sync
        record_latency(timed_ops(lambda i: (add(payload), sync()), LATENCY_OPS))


def test_pure_python_writer_sync(benchmark, bench_dir, bench_case, record_latency):
    """pywal.PyLogWriter: add_record (Python framing, crc32c package, os.write)
    then os.fdatasync, N times."""
    bench_case(SCENARIO, "pure Python (pywal) + os.fdatasync", records=N, record_size=SIZE,
               baseline="pure_python")
    if not pywal.HAVE_CRC32C:
        pytest.skip("crc32c not installed (the pure-Python writer's CRC)")
    payload = os.urandom(SIZE)

    def body(path):
        with pywal.PyLogWriter(path) as w:
            for _ in range(N):
                w.add_record(payload)
                w.sync()

    _pedantic(benchmark, bench_dir, body, N * (SIZE + walx.HEADER_SIZE))
    with pywal.PyLogWriter(bench_dir / "lat.log") as w:
        add, sync = w.add_record, w.sync
        record_latency(timed_ops(lambda i: (add(payload), sync()), LATENCY_OPS))


def test_os_write_fdatasync(benchmark, bench_dir, bench_case, record_latency):
    """os.write of one ready-framed record then os.fdatasync, N times."""
    bench_case(SCENARIO, "os.write + os.fdatasync (pre-framed)", records=N, record_size=SIZE,
               baseline="os_write")
    record = pywal.frame(os.urandom(SIZE))[0]

    def body(path):
        fd = os.open(path, FLAGS, 0o644)
        try:
            for _ in range(N):
                os.write(fd, record)
                fdatasync(fd)
        finally:
            os.close(fd)

    _pedantic(benchmark, bench_dir, body, N * len(record))
    fd = os.open(bench_dir / "lat.log", FLAGS, 0o644)
    try:
        record_latency(timed_ops(lambda i: (os.write(fd, record), fdatasync(fd)),
                                 LATENCY_OPS))
    finally:
        os.close(fd)


def test_c_write_fdatasync_loop(benchmark, bench_dir, bench_case, c_write_loop,
                                record_latency):
    """A C loop of write(2) + fdatasync(2) of one ready-framed record, N times."""
    bench_case(SCENARIO, "C write(2) + fdatasync(2) loop (pre-framed)", records=N,
               record_size=SIZE, baseline="c_loop")
    c_write_loop = c_write_loop.require()
    record = pywal.frame(os.urandom(SIZE))[0]

    def body(path):
        c_write_loop(path, record, N, sync_each=True)

    _pedantic(benchmark, bench_dir, body, N * len(record))
    record_latency(c_write_loop.latencies(str(bench_dir / "lat.log"), record, LATENCY_OPS,
                                          sync_each=True))


def test_interleaved_pairs_run():
    """Not a benchmark: interleaved.py (run.py's A/B pairs) works and covers
    the targets run.py looks up."""
    import interleaved
    import run
    results = interleaved.run(quick=True, out=lambda *a: None)
    keys = {r["key"] for r in results}
    wanted = {t["pair"] for t in run.TARGETS if "pair" in t}
    if not peers_available("plyvel"):
        wanted -= {"S4 plyvel", "S4 plyvel recycled", "S4 plyvel preallocated"}
    context = {"C growing-file floor", "S3 fresh vs floor", "C overwrite floor",
               "S3 recycled vs floor", "C preallocated floor", "S3 preallocated vs floor",
               "S3 recycled vs growing", "S3 preallocated vs growing"}
    assert keys - context == wanted
    assert {r["key"] for r in results if r["context"]} == context
    for r in results:
        assert r["pairs"] == 2 and r["ratio_min"] <= r["ratio"] <= r["ratio_max"]
        assert r["rate_a"] > 0 and r["rate_b"] > 0


def peers_available(module):
    import importlib.util
    return importlib.util.find_spec(module) is not None
