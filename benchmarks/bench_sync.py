"""One durable record at a time: append + fdatasync per record, one thread.

Each round creates a new file in ``bench_dir`` and makes N records of 100 B
durable one by one; the previous round's file is deleted outside the timed
region. The numbers are dominated by the device's flush latency, so they
are only comparable with the filesystem and device recorded in extra_info
(tmpfs or a disk with a volatile cache makes fdatasync nearly free).

Implementations (scenario "sync 100B", one test each):
- walx.LogWriter write-through: add_record + sync() per record;
- os.write + os.fdatasync per ready-framed record;
- a C loop of write(2) + fdatasync(2) per record (the floor).
"""

import itertools
import os

import pywal
import walx

QUICK = os.environ.get("WALX_BENCH_QUICK") == "1"
N = 5 if QUICK else 100
ROUNDS = 1 if QUICK else 15
SIZE = 100
SCENARIO = "sync 100B"

fdatasync = getattr(os, "fdatasync", os.fsync)


def _pedantic(benchmark, bench_dir, body, expected_size):
    counter = itertools.count()
    last = []

    def setup():
        for p in last:
            os.unlink(p)
        last.clear()
        path = str(bench_dir / f"{next(counter)}.log")
        last.append(path)
        return (path,), {}

    benchmark.pedantic(body, setup=setup, rounds=ROUNDS, warmup_rounds=1 if ROUNDS > 1 else 0)
    assert os.path.getsize(last[0]) == expected_size


def test_add_record_sync_per_record(benchmark, bench_dir, bench_case):
    """walx.LogWriter(buffer_size=0): add_record then sync() (fdatasync), N times."""
    bench_case(SCENARIO, "walx add_record + sync()", records=N, record_size=SIZE)
    payload = os.urandom(SIZE)

    def body(path):
        with walx.LogWriter(path) as w:
            for _ in range(N):
                w.add_record(payload)
                w.sync()

    _pedantic(benchmark, bench_dir, body, N * (SIZE + walx.HEADER_SIZE))


def test_os_write_fdatasync(benchmark, bench_dir, bench_case):
    """os.write of one ready-framed record then os.fdatasync, N times."""
    bench_case(SCENARIO, "os.write + os.fdatasync (pre-framed)", records=N, record_size=SIZE,
               baseline="os_write")
    record = pywal.frame(os.urandom(SIZE))[0]
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)

    def body(path):
        fd = os.open(path, flags, 0o644)
        try:
            for _ in range(N):
                os.write(fd, record)
                fdatasync(fd)
        finally:
            os.close(fd)

    _pedantic(benchmark, bench_dir, body, N * len(record))


def test_c_write_fdatasync_loop(benchmark, bench_dir, bench_case, c_write_loop):
    """A C loop of write(2) + fdatasync(2) of one ready-framed record, N times."""
    bench_case(SCENARIO, "C write(2) + fdatasync(2) loop (pre-framed)", records=N,
               record_size=SIZE, baseline="c_loop")
    record = pywal.frame(os.urandom(SIZE))[0]

    def body(path):
        c_write_loop(path, record, N, sync_each=True)

    _pedantic(benchmark, bench_dir, body, N * len(record))
