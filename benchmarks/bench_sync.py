"""S3: one durable 100 B record at a time (append, then fdatasync), one thread.

Each round makes N records durable one by one. The numbers are dominated
by the device's flush latency, so compare ratios within one run, never
rates across machines (tmpfs, or a disk with a volatile cache, makes
fdatasync nearly free). After the timed rounds LATENCY_OPS more operations
are timed one by one for the p50/p99/p99.9 latencies.

- the C write(2) + fdatasync(2) loop (c_loop.c) of a framed 100 B record
  into a new file per round: the floor, the same two syscalls walx makes
  per durable append. Targets: walx's fresh log >= 0.95x it, a recycled or
  a preallocated log >= 1.3x;
- walx LogWriter ``add_record`` + ``sync()`` into a new file per round, as
  the loop writes;
- walx ``WalManager.append(sync=True)`` of a one-put WriteBatch that
  encodes to 100 B, rounds continuing in one log: *fresh* (it grows),
  *recycled* and *preallocated* (conftest.open_manager). Both of the latter
  check that no measured append grew the file: not growing it is what
  saves fdatasync the inode update;
- ``os.write`` + ``os.fdatasync``, and pure Python (pywal.py): what any
  Python caller pays;
- sqlite3 (WAL, synchronous=FULL, one INSERT per transaction), RocksDB
  (rocksdict) and LevelDB (plyvel) ``put(sync=True)``, rounds continuing
  in one database: each syncs its own WAL per write, the same guarantee.
"""

import itertools
import os

import pytest

import pywal
import walx
from conftest import (LATENCY_OPS, QUICK, SYNC_SIZE, current_log, fresh_file_rounds,
                      open_manager, record_latency, run_rounds, sync_record, timed_ops,
                      write_label)

N = 5 if QUICK else 200
ROUNDS = 1 if QUICK else 15
SCENARIO = "sync 100B"
fdatasync = getattr(os, "fdatasync", os.fsync)


def _writer_rounds(benchmark, bench_dir, open_writer):
    """S3 for a LogWriter-like object: add_record + sync, N per round, a new
    file per round; then the latencies on one more file."""
    payload = os.urandom(SYNC_SIZE)

    def body(path):
        with open_writer(path) as w:
            for _ in range(N):
                w.add_record(payload)
                w.sync()

    fresh_file_rounds(benchmark, bench_dir, body, ROUNDS, N * (SYNC_SIZE + walx.HEADER_SIZE))
    with open_writer(bench_dir / "lat.log") as w:
        record_latency(benchmark, timed_ops(lambda: (w.add_record(payload), w.sync()),
                                            LATENCY_OPS))


def test_walx_log_writer_sync(benchmark, bench_dir, bench_case):
    """LogWriter(buffer_size=0): add_record then sync(), N times."""
    bench_case(SCENARIO, "walx LogWriter add_record + sync(), fresh file", records=N,
               size=SYNC_SIZE)
    _writer_rounds(benchmark, bench_dir, walx.LogWriter)


def test_pywal_sync(benchmark, bench_dir, bench_case):
    """pywal.PyLogWriter: add_record (Python framing, os.write) then fdatasync, N times."""
    bench_case(SCENARIO, "pure Python (pywal) + os.fdatasync", records=N, size=SYNC_SIZE)
    if not pywal.HAVE_CRC32C:
        pytest.skip("crc32c not installed (the pure-Python writer's CRC)")
    _writer_rounds(benchmark, bench_dir, pywal.PyLogWriter)


def test_os_write_fdatasync(benchmark, bench_dir, bench_case):
    """os.write of one framed record, then os.fdatasync, N times."""
    bench_case(SCENARIO, "os.write + os.fdatasync (pre-framed)", records=N, size=SYNC_SIZE)
    record = pywal.frame(os.urandom(SYNC_SIZE))[0]

    class OsWriter:
        def __init__(self, path):
            self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)

        def add_record(self, _payload):
            os.write(self.fd, record)

        def sync(self):
            fdatasync(self.fd)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            os.close(self.fd)

    _writer_rounds(benchmark, bench_dir, OsWriter)


def test_c_write_fdatasync_loop(benchmark, bench_dir, bench_case, c_loop):
    """c_loop.c: write(2) + fdatasync(2) of one framed record, N times."""
    bench_case(SCENARIO, "C write(2) + fdatasync(2) loop (pre-framed)", records=N,
               size=SYNC_SIZE)
    record = pywal.frame(os.urandom(SYNC_SIZE))[0]
    fresh_file_rounds(benchmark, bench_dir, lambda path: c_loop(path, record, N, True),
                      ROUNDS, N * len(record))
    record_latency(benchmark, c_loop(bench_dir / "lat.log", record, LATENCY_OPS, True, True))


@pytest.mark.parametrize("log", ["fresh", "recycled", "preallocated"])
def test_walx_manager_sync(benchmark, bench_dir, bench_case, log):
    """WalManager.append(sync=True), N per round, into one log of that kind."""
    bench_case(SCENARIO, f"walx WalManager.append(sync=True), {log} log", records=N,
               size=SYNC_SIZE)
    d = bench_dir / "wal"
    with open_manager(d, log, (ROUNDS + 1) * N + LATENCY_OPS) as m:
        path, seq = current_log(d, m), itertools.count(1 + m.current_max_seq)
        size, before = os.path.getsize(current_log(d, m)), m.metrics

        def body():
            for _ in range(N):
                m.append(sync_record(next(seq)))

        run_rounds(benchmark, body, ROUNDS)
        record_latency(benchmark, timed_ops(lambda: m.append(sync_record(next(seq))),
                                            LATENCY_OPS))
        after = m.metrics
        if log != "fresh":
            assert os.path.getsize(path) == size, f"appends went past the {log} space"
    benchmark.extra_info["syncs_per_append"] = round(
        (after["syncs_total"] - before["syncs_total"]) /
        (after["appends_total"] - before["appends_total"]), 3)


@pytest.mark.parametrize("name", ["sqlite3", "rocksdict", "plyvel"])
def test_peer_sync(benchmark, bench_dir, bench_case, open_peer, name):
    """One durable put (sqlite3: INSERT) per record, N per round, one database."""
    bench_case(SCENARIO, write_label(name, durable=True), records=N, size=SYNC_SIZE)
    db = open_peer(name, durable=True)
    put, ids, payload = db.writer(), itertools.count(), os.urandom(SYNC_SIZE)

    def body():
        for _ in range(N):
            put(next(ids), payload)

    run_rounds(benchmark, body, ROUNDS)
    record_latency(benchmark, timed_ops(lambda: put(next(ids), payload), LATENCY_OPS))
    assert sum(1 for _ in db.values()) == next(ids)
