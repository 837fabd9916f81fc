"""Shared set-up of the walx benchmarks (pytest-benchmark).

Run from outside the checkout, so that the installed walx is measured:

    cd /tmp && python -m pytest /path/to/walx/benchmarks --benchmark-only \\
        --benchmark-json result.json
    python /path/to/walx/benchmarks/report.py result.json

``WALX_BENCH_QUICK=1`` shrinks every count so that the suite runs in
seconds (CI runs it so, with ``--benchmark-disable``: it must keep working;
nothing judges speed there). ``WALX_BENCH_DIR`` picks the directory of the
benchmark files (default: the first of $TMPDIR, /tmp, /var/tmp that is not
tmpfs, since a sync to memory measures nothing).

Every benchmark calls ``bench_case`` first: it names the scenario (the
pytest-benchmark group), the implementation, the records one round
processes and their payload size; report.py turns those into records/s,
MB/s and the ratios of the targets. Peers whose module is missing
(``pip install ".[bench]"`` installs them) and the C loop without a
compiler are skipped with the reason.
"""

import ctypes
import itertools
import math
import os
import pathlib
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import walx

QUICK = os.environ.get("WALX_BENCH_QUICK") == "1"
HERE = pathlib.Path(__file__).resolve().parent
#: Operations timed one by one, after the timed rounds, for the latency percentiles.
LATENCY_OPS = 50 if QUICK else 2000


def pytest_collect_file(file_path, parent):
    # bench_*.py is not in pytest's default python_files; a file named on the
    # command line is collected by pytest itself.
    if file_path.name.startswith("bench_") and file_path.suffix == ".py" and \
            not parent.session.isinitpath(file_path):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


#: The order of the files. Recovery runs last: the writeback of its 1 GB
#: directory would slow down the fdatasyncs of any durable scenario after it.
ORDER = ["bench_crc32c", "bench_batch", "bench_write", "bench_read", "bench_sync",
         "bench_threads", "bench_recover"]


def pytest_collection_modifyitems(items):
    # The implementations of one scenario run back to back (a file holds one
    # scenario, or one per payload size), so that a ratio compares
    # measurements taken seconds apart, not a shared machine's drift.
    def key(item):
        params = item.callspec.params if hasattr(item, "callspec") else {}
        stem = item.path.stem
        return (ORDER.index(stem) if stem in ORDER else len(ORDER), stem, params.get("size", 0))
    items.sort(key=key)


def pytest_sessionstart(session):
    # Under WALX_REQUIRE_INSTALLED=1 (CI) measure the installed walx, never the checkout's.
    if os.environ.get("WALX_REQUIRE_INSTALLED") == "1" and \
            pathlib.Path(walx.__file__).resolve().parent == HERE.parent / "walx":
        raise pytest.UsageError(f"walx was imported from the source tree ({walx.__file__}); "
                                "install it and run pytest from outside the checkout")


def pytest_benchmark_update_machine_info(config, machine_info):
    from importlib.metadata import PackageNotFoundError, version
    peers = {}
    for name in ("crc32c", "rocksdict", "plyvel", "lmdb"):
        try:
            peers[name] = version(name)
        except PackageNotFoundError:
            peers[name] = None
    import sqlite3
    peers["sqlite3"] = sqlite3.sqlite_version
    machine_info.update(walx={"version": walx.__version__, "crc32c_impl": walx.CRC32C_IMPL},
                        peers=peers, quick=QUICK, bench_root=bench_root(),
                        bench_fs=fs_type(bench_root()))


def pytest_report_header(config):
    return [f"walx {walx.__version__} from {walx.__file__} (crc32c: {walx.CRC32C_IMPL}); "
            f"sizes: {'QUICK' if QUICK else 'full'}; files in {bench_root()} "
            f"({fs_type(bench_root())})"]


# ---- where the files go ---------------------------------------------------------


def fs_type(path):
    """The type of the filesystem holding `path` (the longest matching mount point)."""
    path, best, found = os.path.realpath(path), -1, "unknown"
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                _, mount, kind = line.split()[:3]
                if (path == mount or path.startswith(mount.rstrip("/") + "/")) and \
                        len(mount) > best:
                    best, found = len(mount), kind
    except OSError:
        pass
    return found


def bench_root():
    if os.environ.get("WALX_BENCH_DIR"):
        return os.environ["WALX_BENCH_DIR"]
    for d in (tempfile.gettempdir(), "/tmp", "/var/tmp"):
        if os.path.isdir(d) and os.access(d, os.W_OK) and fs_type(d) not in ("tmpfs", "ramfs"):
            return d
    return tempfile.gettempdir()


@pytest.fixture
def bench_dir():
    """A fresh directory under bench_root(), removed afterwards."""
    d = tempfile.mkdtemp(prefix="walx-bench-", dir=bench_root())
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)


# ---- describing and running a benchmark -----------------------------------------


@pytest.fixture
def bench_case(benchmark):
    """bench_case(scenario, impl, records=N, size=B, **extra): `records` is
    what one round processes, `size` the payload bytes of each. `kind` is
    "walx" when impl starts with "walx", else "peer" (report.py's "vs best
    peer" divides by the fastest peer)."""
    def describe(scenario, impl, *, records, size, **extra):
        benchmark.group = scenario
        benchmark.extra_info.update(scenario=scenario, impl=impl, records=records, size=size,
                                    kind="walx" if impl.startswith("walx") else "peer",
                                    **extra)
    return describe


def run_rounds(benchmark, body, rounds, setup=None):
    """`rounds` timed calls of body (after setup, untimed), one untimed warm-up."""
    benchmark.pedantic(body, setup=setup, rounds=rounds, warmup_rounds=1 if rounds > 1 else 0)


def fresh_file_rounds(benchmark, directory, body, rounds, expected_size):
    """body(path) once per round on a new path; the previous round's file is
    deleted in the untimed set-up. Checks the last file's size."""
    counter, last = itertools.count(), []

    def setup():
        for p in last:
            os.unlink(p)
        last[:] = [str(directory / f"{next(counter)}.log")]
        return tuple(last), {}

    run_rounds(benchmark, body, rounds, setup)
    assert os.path.getsize(last[0]) == expected_size


def timed_ops(op, n):
    """Call op() n times; each call's duration in ns."""
    clock, out = time.perf_counter_ns, []
    for _ in range(n):
        t0 = clock()
        op()
        out.append(clock() - t0)
    return out


def record_latency(benchmark, samples_ns):
    """Nearest-rank p50/p99/p99.9 of per-operation times, in extra_info["latency_us"]."""
    s = sorted(samples_ns)
    rank = {p: min(len(s), max(1, math.ceil(round(len(s) * p / 100, 9)))) for p in (50, 99, 99.9)}
    benchmark.extra_info["latency_us"] = {str(p): s[r - 1] / 1000 for p, r in rank.items()}


def run_threads(n, work):
    """work(t) in n threads that start together; re-raises the first error."""
    start = threading.Barrier(n)

    def run(t):
        start.wait()
        work(t)

    with ThreadPoolExecutor(n) as pool:
        for future in [pool.submit(run, t) for t in range(n)]:
            future.result()


# ---- durable appends: the record and the three kinds of WalManager log ----------

SYNC_SIZE = 100         # S3/S4 payload: a one-put WriteBatch that encodes to 100 B
PREALLOCATE = 64 << 20


def _value_for(size):
    b = walx.WriteBatch(0)
    b.put(bytes(8), b"")
    return os.urandom(size - len(b.encode()))


_VALUE = _value_for(SYNC_SIZE)


def _assigns_sequences():
    try:
        walx.WriteBatch()
    except TypeError:
        return False
    return True


# A build whose manager assigns sequences gets batches without one, so the
# rows measure the assigning append path (and a caller's own sequences
# would have to arrive in order across threads and rounds); an older build
# gets the caller's sequence.
_ASSIGNED = _assigns_sequences()


def sync_record(seq):
    """The S3/S4 record of walx's WalManager rows: one put, 8-byte key, 100 B encoded."""
    b = walx.WriteBatch() if _ASSIGNED else walx.WriteBatch(seq)
    b.put(seq.to_bytes(8, "big"), _VALUE)
    return b


assert sync_record(1).nbytes == SYNC_SIZE


def open_manager(d, log, appends):
    """A WalManager in `d` whose current log is "fresh" (grows with each
    append), "recycled" (recycle_log_files=1: a filled log was rotated, GC'd
    into the recycle pool and reused by the next rotation, so `appends`
    appends overwrite blocks the file has) or "preallocated" (64 MiB
    reserved by fallocate)."""
    if log == "fresh":
        return walx.WalManager(d)
    if log == "preallocated":
        return walx.WalManager(d, preallocate=PREALLOCATE)
    m = walx.WalManager(d, recycle_log_files=1)
    fill, seq, big = max(4 << 20, 2 * appends * (walx.RECYCLABLE_HEADER_SIZE + SYNC_SIZE)), 0, \
        os.urandom(60_000)
    while os.path.getsize(current_log(d, m)) < fill:
        seq += 1
        b = walx.WriteBatch(seq)
        b.put(b"fill", big)
        m.append(b, sync=False)
    m.sync()
    m.rotate()                  # the filled log is closed (max seq = seq) ...
    m.mark_flushed_seq(seq)     # ... flushed, so GC puts it in the recycle pool ...
    m.rotate()                  # ... and the next log reuses it
    assert m.metrics["files_recycled_total"] == 1, m.metrics
    return m


def current_log(d, m):
    """The path of WalManager m's current log in directory d."""
    return d / f"{m.log_number:06}.wal"


# ---- the C write(2) loop (c_loop.c, compiled at run time) ------------------------


@pytest.fixture(scope="session")
def _c_loop_lib(tmp_path_factory):
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        return f"no C compiler ({cc!r} not on PATH; install gcc or set CC): " \
               "the C write(2) loop is not built"
    lib = tmp_path_factory.mktemp("c_loop") / "libwalxbenchloop.so"
    proc = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(lib), str(HERE / "c_loop.c")],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    if proc.returncode:
        return f"{cc} cannot build benchmarks/c_loop.c:\n{proc.stdout}"
    fn = ctypes.CDLL(str(lib)).walx_bench_write_loop
    fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_long, ctypes.c_long,
                   ctypes.c_int, ctypes.POINTER(ctypes.c_longlong)]
    fn.restype = ctypes.c_int
    return fn


@pytest.fixture
def c_loop(_c_loop_lib):
    """c_loop(path, record, n, sync_each=False, latencies=False): `record`
    written n times into a new file by c_loop.c (GIL released); with
    `latencies`, each write(+fdatasync)'s duration in ns. Skips the
    benchmark when there is no compiler."""
    if isinstance(_c_loop_lib, str):
        pytest.skip(_c_loop_lib)

    def run(path, record, n, sync_each=False, latencies=False):
        lat = (ctypes.c_longlong * n)() if latencies else None
        rc = _c_loop_lib(os.fsencode(path), record, len(record), n, int(sync_each), lat)
        if rc:
            raise OSError(-rc, os.strerror(-rc), str(path))
        return list(lat) if latencies else None
    return run


# ---- the embedded databases ----------------------------------------------------
# Record i is key i.to_bytes(8, "big") (sqlite3: INTEGER PRIMARY KEY i) with
# the payload as value, one write (one transaction) per record.


def require(module):
    """Import a peer's module, or skip: "<module> not installed"."""
    try:
        return __import__(module)
    except ImportError:
        pytest.skip(f"{module} not installed (pip install {module}, or the walx[bench] extra)")


def key(i):
    return i.to_bytes(8, "big")


class Peer:
    def load(self, n, value):
        put = self.writer()
        for i in range(n):
            put(i, value)

    def prepare_reads(self):
        pass


class SqlitePeer(Peer):
    """sqlite3 in WAL mode, autocommit (one INSERT, one transaction);
    synchronous=FULL when durable (the WAL is synced at every commit), OFF when not."""

    def __init__(self, path, durable):
        sqlite3 = require("sqlite3")
        os.makedirs(path, exist_ok=True)
        self.file, self.durable, self.conns, self.connect_ = \
            os.path.join(path, "db.sqlite"), durable, [], sqlite3.connect
        self.connect().execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)")

    def connect(self):
        # timeout: WAL mode serialises writers; the others wait in the busy handler.
        c = self.connect_(self.file, isolation_level=None, timeout=600, check_same_thread=False)
        assert c.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() == "wal"
        c.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'OFF'}")
        self.conns.append(c)
        return c

    def writer(self, own_connection=False):
        ex = (self.connect() if own_connection else self.conns[0]).execute
        return lambda i, v: ex("INSERT INTO t (k, v) VALUES (?, ?)", (i, v))

    def values(self):
        return (v for (v,) in self.conns[0].execute("SELECT v FROM t ORDER BY k"))

    def prepare_reads(self):
        self.conns[0].execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self):
        while self.conns:
            self.conns.pop().close()


class RocksPeer(Peer):
    """RocksDB through rocksdict (raw mode), put with WriteOptions.sync = durable."""

    def __init__(self, path, durable):
        rocksdict = require("rocksdict")
        opts = rocksdict.Options(raw_mode=True)
        opts.create_if_missing(True)
        self.db = rocksdict.Rdict(path, opts)
        wo = rocksdict.WriteOptions()
        wo.sync = durable
        self.db.set_write_options(wo)
        self.ro = rocksdict.ReadOptions()
        self.ro.set_verify_checksums(True)

    def writer(self, own_connection=False):
        put = self.db.put
        return lambda i, v: put(key(i), v)

    def values(self):
        return self.db.values(read_opt=self.ro)

    def prepare_reads(self):
        self.db.flush()
        self.db.compact_range(None, None)

    def close(self):
        if self.db is not None:
            self.db, db = None, self.db
            db.close()


class LevelPeer(Peer):
    """LevelDB through plyvel, put(sync=durable)."""

    def __init__(self, path, durable):
        self.db, self.sync = require("plyvel").DB(path, create_if_missing=True), durable

    def writer(self, own_connection=False):
        put, sync = self.db.put, self.sync
        return lambda i, v: put(key(i), v, sync=sync)

    def values(self):
        return self.db.iterator(include_key=False, verify_checksums=True)

    def prepare_reads(self):
        self.db.compact_range()

    def close(self):
        self.db.close()


class LmdbPeer(Peer):
    """LMDB through lmdb (reads: S5's peer); values copied into bytes."""

    def __init__(self, path, durable):
        self.env = require("lmdb").open(path, map_size=1 << 31, sync=durable,
                                        metasync=durable)

    def load(self, n, value):
        with self.env.begin(write=True) as txn:
            for i in range(n):
                txn.put(key(i), value, append=True)

    def values(self):
        with self.env.begin(buffers=False) as txn:
            yield from txn.cursor().iternext(keys=False, values=True)

    def close(self):
        self.env.close()


PEERS = {"sqlite3": SqlitePeer, "rocksdict": RocksPeer, "plyvel": LevelPeer, "lmdb": LmdbPeer}
WRITE_LABELS = {"sqlite3": "sqlite3 WAL, INSERT per txn, synchronous={}",
                "rocksdict": "RocksDB (rocksdict) put(sync={})",
                "plyvel": "LevelDB (plyvel) put(sync={})"}


def write_label(name, durable):
    return WRITE_LABELS[name].format(("FULL" if durable else "OFF") if name == "sqlite3"
                                     else durable)


@pytest.fixture
def open_peer(bench_dir):
    """open_peer(name, durable, path=None): a peer database ("sqlite3",
    "rocksdict", "plyvel", "lmdb"), skipped when its module is missing;
    closed at the end of the test (call .close() to close it earlier)."""
    opened = []

    def open_(name, durable, path=None):
        path = str(path or bench_dir / name)
        db = PEERS[name](path, durable)
        db.path = path
        opened.append(db)
        return db
    yield open_
    for db in opened:
        db.close()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Skip a peer's benchmark before its fixtures are set up when the peer
    is not installed: a skip from inside the test leaves pytest-benchmark
    an empty result, which --benchmark-json cannot write."""
    callspec = getattr(item, "callspec", None)
    name = callspec.params.get("name") if callspec else None
    if name in PEERS:
        require(name)
