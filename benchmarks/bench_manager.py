"""Durable appends through WalManager (S3, S4) and the 8-thread peers (S4).

Run from outside the checkout:
    cd /tmp && python -m pytest /path/to/walx/benchmarks/bench_manager.py -s
WALX_BENCH_QUICK=1 shrinks the rounds (200 appends instead of 2000 in S4).

Every benchmark does N durable appends per round (N_S3 in S3, the same as
bench_sync.py's) of a 100 B record: for walx a WriteBatch holding one put
(8-byte big-endian key) that encodes to exactly 100 bytes, for the
databases an 8-byte key and a 100 B value, for the C loop 100 B + a 7-byte
header. Rounds continue in the same log or
database. After the timed rounds LATENCY_OPS more appends (twice as many
with 8 threads, spread over the threads) are timed one by one
(time.perf_counter_ns; clock_gettime in the C loop) for the p50/p99/p99.9
latencies in extra_info["latency_us"].

Scenario "sync 100B" (S3, one thread; the other implementations are in
bench_sync.py and bench_peers_sync.py):
- walx WalManager.append(sync=True) into a fresh log (it grows);
- the same into a recycled log: WalManager(recycle_log_files=1) after one
  log was filled, rotated, GC'd into the recycle pool and reused by the
  next rotation, so appends overwrite blocks the file already has;
- the same into a preallocated log: WalManager(preallocate=64 MiB).
Both check that every measured append stayed inside the reused or
reserved space (the file did not grow).

Scenario "sync 100B 8 threads" (S4): 8 threads appending durably at once:
- walx WalManager.append(sync=True): group commit shares fdatasyncs
  (extra_info: syncs_per_append), into a fresh log, a recycled one and a
  preallocated one (the S3 configurations);
- walx LogWriter add_record + sync(): concurrent syncs share fdatasyncs;
- LevelDB (plyvel) put(sync=True), RocksDB (rocksdict) put with
  WriteOptions.sync=True: both group-commit their own WALs;
- sqlite3 in WAL mode with synchronous=FULL, one connection per thread, one
  INSERT per transaction (sqlite serialises writers: the others wait in
  its busy handler);
- the C write(2) + fdatasync(2) loop from ONE thread: the syscall reference.
The last test prints a few ratios (skipped under --benchmark-only; run.py
computes all of them from the JSON).
"""

import itertools
import os
import threading

import pytest

import peers
import walx
from conftest import LATENCY_OPS, timed_ops

QUICK = os.environ.get("WALX_BENCH_QUICK") == "1"
N = 200 if QUICK else 2000          # S4: appends per round (all threads)
ROUNDS = 1 if QUICK else 5
# S3: the same round size as bench_sync.py and bench_peers_sync.py, so that
# the fastest rounds of the implementations compare like with like.
N_S3 = 5 if QUICK else 200
ROUNDS_S3 = 1 if QUICK else 15
THREADS = 8
SIZE = 100
S3 = "sync 100B"
S4 = "sync 100B 8 threads"
PREALLOCATE = 64 << 20
RESULTS = {}          # name -> (appends/s of the mean round, of the best round)


def _batch_value(size):
    """The value that makes a one-put batch with an 8-byte key encode to `size` bytes."""
    b = walx.WriteBatch(0)
    b.put(bytes(8), b"")
    return os.urandom(size - len(b.encode()))   # (a value under 128 B: 1-byte length)


VALUE = _batch_value(SIZE)


def _record(seq):
    b = walx.WriteBatch(seq)
    b.put(seq.to_bytes(8, "big"), VALUE)
    return b


assert len(_record(1).encode()) == SIZE


def _finish(benchmark, name, appends_per_round):
    # For test_zz_report_ratios (the bench_case fixture fills extra_info).
    if benchmark.stats is None:          # --benchmark-disable: ran once, no stats
        return
    RESULTS[name] = (appends_per_round / benchmark.stats.stats.mean,
                     appends_per_round / benchmark.stats.stats.min)


def _parallel(threads, per_thread, work):
    """Run work(t, count) in `threads` threads started together; re-raise the
    first error."""
    errors = []
    start = threading.Barrier(threads)

    def run(t):
        try:
            start.wait()
            work(t, per_thread)
        except BaseException as e:
            errors.append(e)
            start.abort()

    ts = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]


def _parallel_latencies(threads, total, op):
    """op() from `threads` threads, `total` calls in all; every call's ns."""
    samples = [[] for _ in range(threads)]

    def work(t, count):
        samples[t].extend(timed_ops(lambda i: op(), count))

    _parallel(threads, total // threads, work)
    return [x for s in samples for x in s]


# ---- the reference: C write(2) + fdatasync(2), one thread --------------------


def test_c_write_fdatasync_loop(benchmark, bench_dir, bench_case, c_write_loop, record_latency):
    """A C loop of write(2) + fdatasync(2) of a 107-byte record (a framed 100 B
    record), N per round on a fresh file, ONE thread: the syscall reference of S4."""
    bench_case(S4, "C write(2) + fdatasync(2) loop, 1 thread (pre-framed)", records=N,
               record_size=SIZE, baseline="c_loop", threads=1)
    loop = c_write_loop.require()
    rec = os.urandom(walx.HEADER_SIZE + SIZE)
    counter = itertools.count()
    last = []

    def setup():
        # A new file each round, the previous one deleted outside the timed
        # region: reusing one path would make every round O_TRUNC a file
        # with blocks (ext4 then frees them and forces allocation at close).
        for p in last:
            os.unlink(p)
        last[:] = [str(bench_dir / f"c{next(counter)}.log")]
        return tuple(last), {}

    benchmark.pedantic(lambda path: loop(path, rec, N, sync_each=True), setup=setup,
                       rounds=ROUNDS, warmup_rounds=1 if ROUNDS > 1 else 0)
    _finish(benchmark, "c_loop", N)
    record_latency(loop.latencies(str(bench_dir / "lat.log"), rec, LATENCY_OPS,
                                  sync_each=True))


# ---- S3: WalManager, one thread ------------------------------------------------


def _manager_one_thread(benchmark, m, record_latency, check=None):
    seq = itertools.count(1 + m.current_max_seq)

    def run():
        append = m.append
        for _ in range(N_S3):
            append(_record(next(seq)))

    before = m.metrics
    benchmark.pedantic(run, rounds=ROUNDS_S3, warmup_rounds=1 if ROUNDS_S3 > 1 else 0)
    after = m.metrics
    appends = after["appends_total"] - before["appends_total"]
    assert appends % N_S3 == 0 and appends >= N_S3
    benchmark.extra_info["syncs_per_append"] = round(
        (after["syncs_total"] - before["syncs_total"]) / appends, 3)
    record_latency(timed_ops(lambda i: m.append(_record(next(seq))), LATENCY_OPS))
    if check:
        check()


def test_walx_manager_durable_1_thread(benchmark, bench_dir, bench_case, record_latency):
    """WalManager.append(sync=True), one thread, N_S3 per round into a fresh (growing) log."""
    bench_case(S3, "walx WalManager.append(sync=True), fresh log", records=N_S3,
               record_size=SIZE, threads=1)
    with walx.WalManager(bench_dir / "wal") as m:
        _manager_one_thread(benchmark, m, record_latency)
    _finish(benchmark, "walx_1", N_S3)


def _fill_and_recycle(d, fill_bytes):
    """A WalManager whose current log is a recycled file of `fill_bytes`."""
    m = walx.WalManager(d, recycle_log_files=1)
    seq = 0
    big = os.urandom(60_000)
    while True:
        seq += 1
        b = walx.WriteBatch(seq)
        b.put(b"fill", big)
        m.append(b, sync=False)
        if os.path.getsize(d / f"{m.log_number:06}.wal") >= fill_bytes:
            break
    m.sync()
    m.rotate()                 # log 1 is closed (max seq = seq) ...
    m.mark_flushed_seq(seq)    # ... flushed: GC keeps it in the recycle pool ...
    m.rotate()                 # ... and the next log reuses it
    assert m.metrics["files_recycled_total"] == 1, m.metrics
    return m


def test_walx_manager_durable_1_thread_recycled(benchmark, bench_dir, bench_case,
                                                record_latency):
    """WalManager(recycle_log_files=1).append(sync=True), one thread, N_S3 per round,
    into a recycled log: appends overwrite blocks the file already has."""
    bench_case(S3, "walx WalManager.append(sync=True), recycled log", records=N_S3,
               record_size=SIZE, threads=1)
    needed = ((ROUNDS_S3 + 1) * N_S3 + LATENCY_OPS) * (walx.RECYCLABLE_HEADER_SIZE + SIZE)
    fill = max(4 << 20, 2 * needed)
    d = bench_dir / "wal"
    with _fill_and_recycle(d, fill) as m:
        path = d / f"{m.log_number:06}.wal"
        size = os.path.getsize(path)
        assert size >= fill

        def check():
            assert os.path.getsize(path) == size, "appends went past the recycled space"

        _manager_one_thread(benchmark, m, record_latency, check)
        benchmark.extra_info["recycled_file_bytes"] = size
    _finish(benchmark, "walx_1_recycled", N_S3)


def test_walx_manager_durable_1_thread_preallocated(benchmark, bench_dir, bench_case,
                                                    record_latency):
    """WalManager(preallocate=64 MiB).append(sync=True), one thread, N_S3 per round,
    into a log whose blocks fallocate reserved."""
    bench_case(S3, "walx WalManager.append(sync=True), preallocated log", records=N_S3,
               record_size=SIZE, threads=1, preallocate=PREALLOCATE)
    d = bench_dir / "wal"
    with walx.WalManager(d, preallocate=PREALLOCATE) as m:
        path = d / f"{m.log_number:06}.wal"

        def check():
            assert os.path.getsize(path) == PREALLOCATE, "appends went past the reservation"

        _manager_one_thread(benchmark, m, record_latency, check)
    _finish(benchmark, "walx_1_preallocated", N_S3)


# ---- S4: 8 threads -------------------------------------------------------------


def _eight_threads(benchmark, make_op, record_latency):
    """make_op() -> op(): one per thread per round; N // THREADS ops per thread."""
    def run():
        def work(t, count):
            op = make_op(t)
            for _ in range(count):
                op()
        _parallel(THREADS, N // THREADS, work)

    benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=1 if ROUNDS > 1 else 0)
    lat_ops = max(2 * LATENCY_OPS, THREADS)
    ops = [make_op(t) for t in range(THREADS)]
    tl = threading.local()
    counter = itertools.count()

    def op():
        if not hasattr(tl, "op"):
            tl.op = ops[next(counter)]
        tl.op()

    record_latency(_parallel_latencies(THREADS, lat_ops, op))


def _walx_manager(benchmark, bench_dir, record_latency, reuse=None):
    """S4 for WalManager: into a fresh log, or (reuse="recycled" or
    "preallocated") into one that the appends do not grow."""
    seq = itertools.count(1)
    lock = threading.Lock()

    def make_op(t):
        def op():
            with lock:
                s = next(seq)
            m.append(_record(s))
        return op

    d = bench_dir / "wal"
    if reuse == "recycled":
        needed = ((ROUNDS + 1) * N + 2 * LATENCY_OPS) * (walx.RECYCLABLE_HEADER_SIZE + SIZE)
        manager = _fill_and_recycle(d, max(4 << 20, 2 * needed))
    elif reuse == "preallocated":
        manager = walx.WalManager(d, preallocate=PREALLOCATE)
    else:
        manager = walx.WalManager(d)
    with manager as m:
        path = d / f"{m.log_number:06}.wal"
        before, size = m.metrics, os.path.getsize(path)
        _eight_threads(benchmark, make_op, record_latency)
        after = m.metrics
        if reuse:
            # Every measured append landed inside the reused or reserved space.
            assert after["rotations_total"] == before["rotations_total"]
            assert os.path.getsize(path) == size, f"appends went past the {reuse} space"
    appends = after["appends_total"] - before["appends_total"]
    benchmark.extra_info["syncs_per_append"] = round(
        (after["syncs_total"] - before["syncs_total"]) / appends, 3)


def test_walx_manager_durable_8_threads(benchmark, bench_dir, bench_case, record_latency):
    """WalManager.append(sync=True) from 8 threads at once (group commit), N per round."""
    per_round = N // THREADS * THREADS
    bench_case(S4, "walx WalManager.append(sync=True), 8 threads", records=per_round,
               record_size=SIZE, threads=THREADS)
    _walx_manager(benchmark, bench_dir, record_latency)
    _finish(benchmark, "walx_8", per_round)


@pytest.mark.parametrize("reuse", ["recycled", "preallocated"])
def test_walx_manager_durable_8_threads_reused(benchmark, bench_dir, bench_case,
                                              record_latency, reuse):
    """WalManager.append(sync=True) from 8 threads at once into a recycled log
    (recycle_log_files=1) or a preallocated one (preallocate=64 MiB)."""
    per_round = N // THREADS * THREADS
    bench_case(S4, f"walx WalManager.append(sync=True), {reuse} log, 8 threads",
               records=per_round, record_size=SIZE, threads=THREADS)
    _walx_manager(benchmark, bench_dir, record_latency, reuse)
    _finish(benchmark, f"walx_8_{reuse}", per_round)


def _peer_8_threads(benchmark, bench_dir, record_latency, name, fresh_connections=False):
    peers.check(name)
    ids = itertools.count()
    db = peers.open_peer(name, bench_dir / "db", durable=True)
    try:
        # One writer per thread (sqlite3: a connection each), made once.
        writers = [db.writer(fresh_connection=fresh_connections) for _ in range(THREADS)]
        payload = os.urandom(SIZE)

        def make_op(t):
            put = writers[t]
            return lambda: put(next(ids), payload)

        _eight_threads(benchmark, make_op, record_latency)
        assert sum(1 for _ in db.values()) == next(ids)
    finally:
        db.close()


def test_leveldb_plyvel_sync_puts_8_threads(benchmark, bench_dir, bench_case, record_latency):
    """LevelDB via plyvel: put(sync=True) from 8 threads at once, N per round."""
    per_round = N // THREADS * THREADS
    bench_case(S4, peers.label("plyvel", durable=True) + ", 8 threads", records=per_round,
               record_size=SIZE, threads=THREADS)
    _peer_8_threads(benchmark, bench_dir, record_latency, "plyvel")
    _finish(benchmark, "plyvel_8", per_round)


def test_walx_log_writer_sync_8_threads(benchmark, bench_dir, bench_case, record_latency):
    """LogWriter add_record + sync() from 8 threads at once (shared fdatasyncs)."""
    per_round = N // THREADS * THREADS
    bench_case(S4, "walx LogWriter add_record + sync(), 8 threads", records=per_round,
               record_size=SIZE, threads=THREADS)
    payload = os.urandom(SIZE)
    with walx.LogWriter(bench_dir / "000001.log") as w:
        before = w.syncs_total

        def make_op(t):
            add, sync = w.add_record, w.sync

            def op():
                add(payload)
                sync()
            return op

        _eight_threads(benchmark, make_op, record_latency)
        records = w.size // (walx.HEADER_SIZE + SIZE)
        benchmark.extra_info["syncs_per_append"] = round(
            (w.syncs_total - before) / max(records, 1), 3)


def test_rocksdb_sync_puts_8_threads(benchmark, bench_dir, bench_case, record_latency):
    """RocksDB via rocksdict: put with WriteOptions.sync=True from 8 threads, N per round."""
    per_round = N // THREADS * THREADS
    bench_case(S4, peers.label("rocksdict", durable=True) + ", 8 threads",
               records=per_round, record_size=SIZE, threads=THREADS)
    _peer_8_threads(benchmark, bench_dir, record_latency, "rocksdict")


def test_sqlite_sync_full_8_threads(benchmark, bench_dir, bench_case, record_latency):
    """sqlite3 WAL mode, synchronous=FULL: one connection per thread, one INSERT
    per transaction, 8 threads at once (sqlite serialises the writers)."""
    per_round = N // THREADS * THREADS
    bench_case(S4, peers.label("sqlite3", durable=True) + ", 8 threads", records=per_round,
               record_size=SIZE, threads=THREADS)
    _peer_8_threads(benchmark, bench_dir, record_latency, "sqlite3", fresh_connections=True)


def test_zz_report_ratios(capsys):
    """Print the ratios of the rates measured above (run with the others).
    fdatasync latency is noisy on a shared disk: both the ratio of the mean
    rounds and of the best rounds are shown. benchmarks/run.py prints all of
    them (and the targets) from the JSON."""
    pairs = [("walx 1 thread / C write+fdatasync loop", "walx_1", "c_loop"),
             ("walx 1 thread recycled / C write+fdatasync loop", "walx_1_recycled", "c_loop"),
             ("walx 1 thread preallocated / C write+fdatasync loop", "walx_1_preallocated",
              "c_loop"),
             ("walx 8 threads / walx 1 thread", "walx_8", "walx_1"),
             ("walx 8 threads / LevelDB (plyvel) 8 threads", "walx_8", "plyvel_8")]
    lines = [f"{label}: mean {RESULTS[a][0] / RESULTS[b][0]:.2f}x "
             f"({RESULTS[a][0]:.0f} vs {RESULTS[b][0]:.0f} appends/s), "
             f"best round {RESULTS[a][1] / RESULTS[b][1]:.2f}x "
             f"({RESULTS[a][1]:.0f} vs {RESULTS[b][1]:.0f} appends/s)"
             for label, a, b in pairs if a in RESULTS and b in RESULTS]
    if not lines:
        pytest.skip("no benchmark results to compare (benchmarks disabled or skipped)")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
