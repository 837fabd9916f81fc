"""Interleaved A/B measurements of the ratio targets that a drifting disk blurs.

The pytest-benchmark suite runs all rounds of one implementation, then all
rounds of the next. On a shared virtual disk the fdatasync latency drifts
by 20-30 % over seconds, so two blocks of rounds measured a few seconds
apart can differ by more than the implementations do (three runs of one
suite gave 1.00x, 0.86x and 0.82x for the same pair). Here each round of
implementation A is paired with a round of its baseline B run right next to
it, in alternating order (AB, BA, AB, ...), so a drift hits both sides of a
pair alike; the result is the median of the per-pair ratios rate(A)/rate(B),
with the lowest and highest pair ratio beside it.

``run(quick)`` returns one dict per pair: the target it checks (``key``;
``context`` is true for the pairs that check no target but show how the
C loop itself fares in the file patterns of WalManager's logs: one file
growing across rounds, overwrites of a recycled file, a preallocated
file), the pair count, the median/min/max ratio and both sides' median
rates.
Called by run.py after the suite; ``python benchmarks/interleaved.py``
prints the pairs on their own.
"""

import itertools
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import walx  # noqa: E402

import bench_manager as bm  # noqa: E402
import pywal  # noqa: E402
from conftest import FreshPaths, _build_c_write_loop  # noqa: E402


def _pairs(rounds, a, b):
    """Run a() and b() `rounds` times each, alternating which goes first;
    each returns (records, seconds). Returns the per-pair rate ratios and
    both sides' rates."""
    ratios, ra, rb = [], [], []
    for i in range(rounds):
        if i % 2 == 0:
            na, ta = a()
            nb, tb = b()
        else:
            nb, tb = b()
            na, ta = a()
        ra.append(na / ta)
        rb.append(nb / tb)
        ratios.append(ra[-1] / rb[-1])
    return ratios, ra, rb


def _write_rounds(d, loop, size, n):
    """The S1/S2 write-through rounds, each into a new file of `d` and
    returning (n, seconds), all writing the same n records of `size` bytes:
    "walx" (LogWriter, buffer_size=0), "os" (os.write of the pre-framed
    record) and, when `loop` is the built C loop, "c". Each round's
    ``paths`` (a FreshPaths) names its last file."""
    payload = os.urandom(size)
    record = pywal.frame(payload)[0]

    def timed(stem, body):
        paths = FreshPaths(d, stem)

        def one_round():
            path = paths()
            t = time.perf_counter()
            body(path)
            return n, time.perf_counter() - t
        one_round.paths = paths
        return one_round

    def walx_body(path):
        with walx.LogWriter(path) as w:
            add = w.add_record
            for _ in range(n):
                add(payload)

    def os_body(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        try:
            write = os.write
            for _ in range(n):
                write(fd, record)
        finally:
            os.close(fd)

    rounds = {"walx": timed("w", walx_body), "os": timed("o", os_body)}
    if hasattr(loop, "latencies"):        # built (not CWriteLoopUnavailable)
        rounds["c"] = timed("c", lambda path: loop(path, record, n))
    return rounds


def _c_sync_round(d, loop, n):
    record = os.urandom(walx.HEADER_SIZE + bm.SIZE)
    fresh = FreshPaths(d, "cs")

    def c_round():
        path = fresh()
        t = time.perf_counter()
        loop(path, record, n, sync_each=True)
        return n, time.perf_counter() - t
    return c_round


def _c_append_round(d, loop, n):
    """The C write+fdatasync loop appending to one file that every round
    grows further, as WalManager's log grows across the rounds (the C loop
    of the targets writes a new file per round)."""
    record = os.urandom(walx.HEADER_SIZE + bm.SIZE)
    path = str(d / "c_append.log")

    def run():
        t = time.perf_counter()
        loop.append(path, record, n, sync_each=True)
        return n, time.perf_counter() - t
    return run


def _c_overwrite_round(d, loop, n, rounds, preallocate=False):
    """The C write+fdatasync loop overwriting a file whose blocks were all
    written and synced before (each round from where the last one stopped),
    as a recycled log's appends do: the disk's own gain from not growing.
    With `preallocate`, the file's blocks were reserved by posix_fallocate
    and never written, as a preallocated log's are."""
    record = os.urandom(walx.HEADER_SIZE + bm.SIZE)
    path = d / ("c_preallocated.log" if preallocate else "c_overwrite.log")
    size = max(4 << 20, (rounds + 1) * n * len(record))
    with open(path, "wb") as f:
        if preallocate:
            os.posix_fallocate(f.fileno(), 0, size)
        else:
            for _ in range(0, size, 1 << 20):
                f.write(os.urandom(1 << 20))
        f.flush()
        os.fsync(f.fileno())
    offsets = itertools.count(0, n * len(record))

    def run():
        start = next(offsets)
        t = time.perf_counter()
        loop.overwrite(str(path), record, n, start, sync_each=True)
        return n, time.perf_counter() - t
    return run


def _manager_round(m, n):
    seq = itertools.count(1 + m.current_max_seq)

    def run():
        append, record = m.append, bm._record
        t = time.perf_counter()
        for _ in range(n):
            append(record(next(seq)))
        return n, time.perf_counter() - t
    return run


def _manager_threads_round(m, n, threads):
    seq = itertools.count(1 + m.current_max_seq)
    lock = threading.Lock()

    def work(t, count):
        append, record = m.append, bm._record
        for _ in range(count):
            with lock:
                s = next(seq)
            append(record(s))

    def run():
        t = time.perf_counter()
        bm._parallel(threads, n // threads, work)
        return n // threads * threads, time.perf_counter() - t
    return run


class _PeerThreadsRound:
    """A round of n durable puts from `threads` threads into one peer
    database (peers.open_peer(..., durable=True))."""

    def __init__(self, db, n, threads=bm.THREADS):
        self.db, self.n, self.threads = db, n, threads
        self.put = db.writer()
        self.ids = itertools.count()
        self.value = os.urandom(bm.SIZE)

    def _work(self, t, count):
        put, ids, value = self.put, self.ids, self.value
        for _ in range(count):
            put(next(ids), value)

    def __call__(self):
        t = time.perf_counter()
        bm._parallel(self.threads, self.n // self.threads, self._work)
        return self.n // self.threads * self.threads, time.perf_counter() - t

    def close(self):
        self.db.close()


def _plyvel_8_threads_round(tmp, n, out):
    """The S4 LevelDB round, or None (said why) when plyvel is missing."""
    try:
        import peers
        return _PeerThreadsRound(peers.open_peer("plyvel", tmp / "leveldb", durable=True), n)
    except BaseException as e:        # pytest.skip raises a BaseException
        out(f"  S4 plyvel: skipped ({str(e).splitlines()[0] if str(e) else e!r})")
        return None


def run(quick=False, out=print):
    rounds = 2 if quick else 15
    n_write = 200 if quick else 10_000
    n_sync = 5 if quick else 200
    n_threads = 80 if quick else 2000
    results = []
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="walx-interleaved-", dir=os.environ.get(
        "WALX_BENCH_DIR") or None))
    try:
        loop = _build_c_write_loop(tmp)
        if not hasattr(loop, "latencies"):
            out(f"interleaved: skipped ({loop.reason})")
            return results

        def record(key, what, ratios, ra, rb, context=False):
            r = dict(key=key, what=what, context=context, pairs=len(ratios),
                     ratio=statistics.median(ratios), ratio_min=min(ratios),
                     ratio_max=max(ratios), rate_a=statistics.median(ra),
                     rate_b=statistics.median(rb))
            results.append(r)
            out(f"  {key:<22} {r['ratio']:6.3f}x  (pairs {r['pairs']}, "
                f"min {r['ratio_min']:.3f}x, max {r['ratio_max']:.3f}x)  {what}")

        out(f"interleaved A/B pairs ({rounds} per target, alternating order):")
        for size, key in ((100, "S1 write-through"), (4096, "S2 write-through")):
            w = _write_rounds(tmp, loop, size, n_write)
            record(key, f"LogWriter write-through {size} B / C write loop",
                   *_pairs(rounds, w["walx"], w["c"]))

        c_sync = _c_sync_round(tmp, loop, n_sync)
        payload = os.urandom(bm.SIZE)
        fresh = FreshPaths(tmp, "ls")

        def log_writer_sync():
            path = fresh()
            t = time.perf_counter()
            with walx.LogWriter(path) as w:
                for _ in range(n_sync):
                    w.add_record(payload)
                    w.sync()
            return n_sync, time.perf_counter() - t

        record("S3 LogWriter", "LogWriter add_record + sync() / C write+fdatasync loop",
               *_pairs(rounds, log_writer_sync, c_sync))

        # Context: WalManager's log grows across all its rounds, the C loop
        # writes a new file per round; the same C loop growing one file too.
        c_append = _c_append_round(tmp, loop, n_sync)
        record("C growing-file floor", "C write+fdatasync loop appending to one file "
               "across rounds / the same loop writing a new file per round",
               *_pairs(rounds, c_append, c_sync), context=True)
        with walx.WalManager(tmp / "fresh") as m:
            walx_fresh = _manager_round(m, n_sync)
            record("S3 fresh", "WalManager fresh log / C write+fdatasync loop",
                   *_pairs(rounds, walx_fresh, c_sync))
            record("S3 fresh vs floor", "WalManager fresh log / C write+fdatasync loop "
                   "appending to one file across rounds", *_pairs(rounds, walx_fresh, c_append),
                   context=True)
        # Context, not targets: what the C loop itself gains by overwriting
        # written blocks (as a recycled log does), and walx's recycled log
        # against that floor.
        c_over = _c_overwrite_round(tmp, loop, n_sync, 2 * rounds)
        record("C overwrite floor", "C write+fdatasync loop overwriting a written file / "
               "the same loop growing a new file", *_pairs(rounds, c_over, c_sync),
               context=True)
        needed = (3 * rounds + 1) * n_sync * (walx.RECYCLABLE_HEADER_SIZE + bm.SIZE)
        with bm._fill_and_recycle(tmp / "recycled", max(4 << 20, 2 * needed)) as m:
            walx_recycled = _manager_round(m, n_sync)
            record("S3 recycled", "WalManager recycled log / C write+fdatasync loop",
                   *_pairs(rounds, walx_recycled, c_sync))
            record("S3 recycled vs floor", "WalManager recycled log / C write+fdatasync "
                   "loop overwriting a written file", *_pairs(rounds, walx_recycled, c_over),
                   context=True)
            record("S3 recycled vs growing", "WalManager recycled log / C write+fdatasync "
                   "loop appending to one file across rounds",
                   *_pairs(rounds, walx_recycled, c_append), context=True)
        c_prealloc = _c_overwrite_round(tmp, loop, n_sync, 2 * rounds, preallocate=True)
        record("C preallocated floor", "C write+fdatasync loop into a posix_fallocate'd "
               "file / the same loop growing a new file", *_pairs(rounds, c_prealloc, c_sync),
               context=True)
        with walx.WalManager(tmp / "prealloc", preallocate=bm.PREALLOCATE) as m:
            walx_prealloc = _manager_round(m, n_sync)
            record("S3 preallocated", "WalManager preallocated log / C write+fdatasync loop",
                   *_pairs(rounds, walx_prealloc, c_sync))
            record("S3 preallocated vs floor", "WalManager preallocated log / C "
                   "write+fdatasync loop into a posix_fallocate'd file",
                   *_pairs(rounds, walx_prealloc, c_prealloc), context=True)
            record("S3 preallocated vs growing", "WalManager preallocated log / C "
                   "write+fdatasync loop appending to one file across rounds",
                   *_pairs(rounds, walx_prealloc, c_append), context=True)

        s4_plyvel = _plyvel_8_threads_round(tmp, n_threads, out)
        # Room for every round of both pairs in the recycled log.
        s4_needed = (2 * rounds + 1) * (n_threads + n_sync) * (walx.RECYCLABLE_HEADER_SIZE +
                                                                 bm.SIZE)
        try:
            for label, make in (
                    ("", lambda d: walx.WalManager(d)),
                    (" recycled", lambda d: bm._fill_and_recycle(d, max(4 << 20, s4_needed))),
                    (" preallocated", lambda d: walx.WalManager(d, preallocate=bm.PREALLOCATE))):
                one = (label.strip() or "fresh") + " log"
                with make(tmp / ("s4" + label.strip())) as m:
                    eight = _manager_threads_round(m, n_threads, bm.THREADS)
                    record("S4 own S3" + label,
                           f"WalManager 8 threads / WalManager 1 thread ({one})",
                           *_pairs(rounds, eight, _manager_round(m, n_sync)))
                    if s4_plyvel is not None:
                        record("S4 plyvel" + label,
                               f"WalManager 8 threads ({one}) / LevelDB (plyvel) 8 threads",
                               *_pairs(rounds, eight, s4_plyvel))
        finally:
            if s4_plyvel is not None:
                s4_plyvel.close()
        return results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run(quick="--quick" in sys.argv[1:])
