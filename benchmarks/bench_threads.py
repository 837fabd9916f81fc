"""S4: durable 100 B appends from 8 threads at once.

Each round makes N records durable, N / 8 from each of 8 threads started
together; rounds continue in one log or database. After the timed rounds
2 x LATENCY_OPS more appends, spread over the threads, are timed one by
one for the latency percentiles.

- walx ``WalManager.append(sync=True)`` (the S3 record) into a fresh, a
  recycled and a preallocated log (conftest.open_manager): its group commit
  lets one thread write and fdatasync the records queued behind it
  (extra_info syncs_per_append). Targets: >= 1.5x LevelDB, and >= 4x
  walx's own S3 rate (the same kind of log, one thread);
- LevelDB (plyvel) ``put(sync=True)``: the fair peer, the same algorithm
  (a writer queue whose head writes and syncs the group behind it) in C++;
- RocksDB (rocksdict) ``put(sync=True)``, which group-commits too, and
  sqlite3 (WAL, synchronous=FULL, a connection per thread), which
  serialises writers in its busy handler;
- walx LogWriter ``add_record`` + ``sync()``: concurrent syncs of one file
  share fdatasyncs, with no queue;
- the C write(2) + fdatasync(2) loop from ONE thread: the syscall
  reference (what one thread gets with no group commit).
"""

import itertools
import os
import threading

import pytest

import walx
from conftest import (LATENCY_OPS, QUICK, SYNC_SIZE, current_log, open_manager,
                      record_latency, run_rounds, run_threads, sync_record, timed_ops,
                      write_label)

THREADS = 8
N = (200 if QUICK else 2000) // THREADS * THREADS
ROUNDS = 1 if QUICK else 5
SCENARIO = "sync 100B 8 threads"


def _eight_threads(benchmark, make_op):
    """Rounds of N ops, N / 8 from each thread (make_op(t) -> op()), then the latencies."""
    def body():
        def work(t):
            op = make_op(t)
            for _ in range(N // THREADS):
                op()
        run_threads(THREADS, work)

    run_rounds(benchmark, body, ROUNDS)
    samples = [[] for _ in range(THREADS)]

    def timed(t):
        samples[t] += timed_ops(make_op(t), 2 * LATENCY_OPS // THREADS)
    run_threads(THREADS, timed)
    record_latency(benchmark, [x for s in samples for x in s])


def _syncs_per_append(benchmark, syncs, appends):
    benchmark.extra_info["syncs_per_append"] = round(syncs / max(appends, 1), 3)


def test_c_write_fdatasync_loop_1_thread(benchmark, bench_dir, bench_case, c_loop):
    """c_loop.c from ONE thread: write(2) + fdatasync(2), N per round, a new file each."""
    bench_case(SCENARIO, "C write(2) + fdatasync(2) loop, 1 thread (pre-framed)", records=N,
               size=SYNC_SIZE, threads=1)
    record, counter = os.urandom(walx.HEADER_SIZE + SYNC_SIZE), itertools.count()
    run_rounds(benchmark, lambda: c_loop(bench_dir / f"{next(counter)}.log", record, N, True),
               ROUNDS)
    record_latency(benchmark, c_loop(bench_dir / "lat.log", record, LATENCY_OPS, True, True))


@pytest.mark.parametrize("log", ["fresh", "recycled", "preallocated"])
def test_walx_manager_8_threads(benchmark, bench_dir, bench_case, log):
    """WalManager.append(sync=True) from 8 threads (group commit)."""
    impl = "walx WalManager.append(sync=True), 8 threads" if log == "fresh" else \
        f"walx WalManager.append(sync=True), {log} log, 8 threads"
    bench_case(SCENARIO, impl, records=N, size=SYNC_SIZE, threads=THREADS)
    seq, lock, d = itertools.count(1), threading.Lock(), bench_dir / "wal"
    with open_manager(d, log, (ROUNDS + 1) * N + 2 * LATENCY_OPS) as m:
        path, before = current_log(d, m), m.metrics
        size = os.path.getsize(path)

        def make_op(t):
            def op():
                with lock:
                    s = next(seq)
                m.append(sync_record(s))
            return op

        _eight_threads(benchmark, make_op)
        after = m.metrics
        if log != "fresh":
            assert after["rotations_total"] == before["rotations_total"]
            assert os.path.getsize(path) == size, f"appends went past the {log} space"
    _syncs_per_append(benchmark, after["syncs_total"] - before["syncs_total"],
                      after["appends_total"] - before["appends_total"])


@pytest.mark.parametrize("name", ["plyvel", "rocksdict", "sqlite3"])
def test_peer_8_threads(benchmark, bench_case, open_peer, name):
    """A durable put (sqlite3: INSERT) per op from 8 threads, one writer per thread."""
    bench_case(SCENARIO, write_label(name, durable=True) + ", 8 threads", records=N,
               size=SYNC_SIZE, threads=THREADS)
    db = open_peer(name, durable=True)
    writers = [db.writer(own_connection=True) for _ in range(THREADS)]
    ids, payload = itertools.count(), os.urandom(SYNC_SIZE)
    _eight_threads(benchmark, lambda t: lambda: writers[t](next(ids), payload))
    assert sum(1 for _ in db.values()) == next(ids)


def test_walx_log_writer_8_threads(benchmark, bench_dir, bench_case):
    """LogWriter add_record + sync() from 8 threads (shared fdatasyncs)."""
    bench_case(SCENARIO, "walx LogWriter add_record + sync(), 8 threads", records=N,
               size=SYNC_SIZE, threads=THREADS)
    payload = os.urandom(SYNC_SIZE)
    with walx.LogWriter(bench_dir / "000001.log") as w:
        before = w.syncs_total
        _eight_threads(benchmark, lambda t: lambda: (w.add_record(payload), w.sync()))
        _syncs_per_append(benchmark, w.syncs_total - before,
                          w.size // (walx.HEADER_SIZE + SYNC_SIZE))
