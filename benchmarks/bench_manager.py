"""Durable-append throughput of WalManager against its baselines (pytest-benchmark).

Run from outside the checkout:
    cd /tmp && python -m pytest /path/to/walx/benchmarks/bench_manager.py -s
WALX_BENCH_QUICK=1 does 200 appends per round instead of 2000.

Every benchmark does a fixed number of durable appends per round (one
fdatasync per append, or fewer when group commit shares them) of a
100-byte value, and records the per-append rate in extra_info:
- walx WalManager, 1 thread and 8 threads (sync=True);
- a C loop of write(2) + fdatasync(2) of the same framed record size, compiled
  at benchmark time with `cc` and called through ctypes (the floor for one
  thread: walx cannot beat the syscalls it makes);
- LevelDB through plyvel, put(sync=True) from 8 threads (skipped when plyvel
  is not importable).
The last test prints the ratios between them.
"""

import ctypes
import itertools
import os
import shutil
import subprocess
import threading

import pytest

import walx

N = 200 if os.environ.get("WALX_BENCH_QUICK") == "1" else 2000
ROUNDS = 5
THREADS = 8
VALUE = b"v" * 100
RESULTS = {}          # name -> (appends/s of the mean round, of the best round)

C_SOURCE = r"""
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* n times: write(2) `len` bytes, then fdatasync(2). 0 or -errno. */
int write_fdatasync_loop(const char *path, const char *buf, long len, long n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    for (long i = 0; i < n; i++) {
        long off = 0;
        while (off < len) {
            ssize_t w = write(fd, buf + off, (size_t)(len - off));
            if (w < 0) {
                if (errno == EINTR) continue;
                int e = errno; close(fd); return -e;
            }
            off += w;
        }
        if (fdatasync(fd) != 0) { int e = errno; close(fd); return -e; }
    }
    if (close(fd) != 0) return -errno;
    return 0;
}
"""


def _record(seq):
    b = walx.WriteBatch(seq)
    b.put(b"key%010d" % seq, VALUE)
    return b


def _finish(benchmark, name, appends_per_round, **extra):
    if benchmark.stats is None:          # --benchmark-disable: ran once, no stats
        return
    mean = benchmark.stats.stats.mean
    rate = appends_per_round / mean
    best = appends_per_round / benchmark.stats.stats.min
    RESULTS[name] = (rate, best)
    benchmark.extra_info.update(appends_per_round=appends_per_round,
                                appends_per_s=round(rate, 1),
                                appends_per_s_best_round=round(best, 1),
                                us_per_append=round(mean / appends_per_round * 1e6, 2),
                                **extra)


@pytest.fixture(scope="module")
def clib(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler for the write+fdatasync baseline")
    d = tmp_path_factory.mktemp("cbaseline")
    src, lib = d / "loop.c", d / "libloop.so"
    src.write_text(C_SOURCE)
    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    so = ctypes.CDLL(str(lib))
    so.write_fdatasync_loop.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_long,
                                        ctypes.c_long]
    so.write_fdatasync_loop.restype = ctypes.c_int
    return so


def test_c_write_fdatasync_loop(benchmark, clib, tmp_path):
    # The same bytes per write as walx: a 7-byte header plus the encoded batch.
    rec = b"x" * (walx.HEADER_SIZE + len(_record(1).encode()))
    path = str(tmp_path / "c.log").encode()

    def run():
        rc = clib.write_fdatasync_loop(path, rec, len(rec), N)
        if rc:
            raise OSError(-rc, os.strerror(-rc))

    benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=1)
    _finish(benchmark, "c_loop", N, bytes_per_write=len(rec))


def _walx_manager(benchmark, tmp_path, threads, name):
    seq = itertools.count(1)
    lock = threading.Lock()
    m = walx.WalManager(tmp_path / "wal")

    def worker(count):
        for _ in range(count):
            with lock:
                s = next(seq)
            m.append(_record(s))

    def run():
        if threads == 1:
            worker(N)
            return
        ts = [threading.Thread(target=worker, args=(N // threads,)) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    try:
        before = m.metrics
        benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=1)
        after = m.metrics
    finally:
        m.close()
    appends = after["appends_total"] - before["appends_total"]
    syncs = after["syncs_total"] - before["syncs_total"]
    per_round = N if threads == 1 else N // threads * threads
    assert appends >= per_round and appends % per_round == 0
    _finish(benchmark, name, per_round, threads=threads,
            syncs_per_append=round(syncs / appends, 3))


def test_walx_manager_durable_1_thread(benchmark, tmp_path):
    _walx_manager(benchmark, tmp_path, 1, "walx_1")


def test_walx_manager_durable_8_threads(benchmark, tmp_path):
    _walx_manager(benchmark, tmp_path, THREADS, "walx_8")


def test_leveldb_plyvel_sync_puts_8_threads(benchmark, tmp_path):
    plyvel = pytest.importorskip("plyvel")
    db = plyvel.DB(str(tmp_path / "ldb"), create_if_missing=True)
    seq = itertools.count(1)
    lock = threading.Lock()

    def worker(count):
        for _ in range(count):
            with lock:
                s = next(seq)
            db.put(b"key%010d" % s, VALUE, sync=True)

    def run():
        ts = [threading.Thread(target=worker, args=(N // THREADS,)) for _ in range(THREADS)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    try:
        benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=1)
    finally:
        db.close()
    _finish(benchmark, "plyvel_8", N // THREADS * THREADS, threads=THREADS)


def test_zz_report_ratios(capsys):
    """Print the ratios of the rates measured above (run with the others).
    fdatasync latency is noisy on a shared disk: both the ratio of the mean
    rounds and of the best rounds are shown."""
    pairs = [("walx 1 thread / C write+fdatasync loop", "walx_1", "c_loop"),
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
