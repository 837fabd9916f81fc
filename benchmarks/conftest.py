"""Fixtures for the walx benchmarks (pytest-benchmark; STYLE.md section 10).

Run from outside the checkout, against the installed walx:

    cd /tmp && python -m pytest /path/to/walx/benchmarks --benchmark-only
    python benchmarks/report.py [--quick]        # the table the team reports

``WALX_BENCH_QUICK=1`` shrinks every count so that the whole suite runs in
seconds; CI runs it that way with ``--benchmark-disable`` to keep the
benchmarks working (correctness only: nothing here judges speed).
``WALX_BENCH_DIR`` picks the directory for benchmark files (default: the
first of $TMPDIR, /tmp, /var/tmp that is not tmpfs).

Every benchmark processes a batch of records per round and calls the
``bench_case`` fixture first, which names its scenario (the
pytest-benchmark group) and implementation and records per-record numbers
in ``extra_info`` afterwards. ``benchmarks/run.py`` (the comparison
table, JSON, chart and docs/benchmarks.md) and ``benchmarks/report.py``
read those.

Peers that are not installed (``pip install walx[bench]`` installs them)
are skipped with the reason "<module> not installed"; when
``WALX_BENCH_SKIPS`` names a file, every skipped benchmark that had
described itself is appended to it as a JSON line (scenario, impl, reason),
so run.py can list it as "not installed" instead of dropping it.
"""

import ctypes
import fnmatch
import importlib
import itertools
import json
import math
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest

QUICK = os.environ.get("WALX_BENCH_QUICK") == "1"


def pytest_collect_file(file_path, parent):
    # The modules are named bench_*.py (STYLE.md section 14), which pytest's
    # default python_files does not match; collect them here unless pytest
    # does already (a file named on the command line, or a configured
    # pattern that matches).
    if file_path.suffix != ".py" or not file_path.name.startswith("bench_"):
        return None
    if parent.session.isinitpath(file_path):
        return None
    if any(fnmatch.fnmatch(file_path.name, p) for p in parent.config.getini("python_files")):
        return None
    return pytest.Module.from_parent(parent, path=file_path)


# Run the implementations of one scenario back to back: on a shared machine
# the load drifts, and ratios between benchmarks run minutes apart would
# measure the drift. (Scenarios are named at run time by bench_case, so the
# order is by module, parameter and, for bench_manager.py, test name.)
_ORDER = {"bench_crc32c": (0, 0), "bench_batch": (1, 0), "bench_writer": (2, 0),
          "bench_peers_write": (2, 1), "bench_reader": (3, 0), "bench_peers_read": (3, 1),
          "bench_sync": (4, 0), "bench_manager": (4, 1), "bench_peers_sync": (4, 2),
          "bench_recover": (6, 0)}


def _order_key(item):
    mod = getattr(item.module, "__name__", "") if hasattr(item, "module") else ""
    group, sub = _ORDER.get(mod, (7, 0))
    param = item.callspec.id if hasattr(item, "callspec") else ""
    name = getattr(item, "originalname", item.name)
    if mod == "bench_manager" and ("8_threads" in name or name == "test_c_write_fdatasync_loop"
                                   or name.startswith("test_zz")):
        group = 5   # S4, after every S3 implementation
    return (group, param if group in (2, 3) else "", sub)


def pytest_collection_modifyitems(session, config, items):
    order = {id(item): i for i, item in enumerate(items)}
    items.sort(key=lambda item: (_order_key(item), order[id(item)]))


def pytest_sessionstart(session):
    # As in tests/conftest.py: under WALX_REQUIRE_INSTALLED=1 (CI), measure
    # the installed walx, never the checkout's.
    import walx
    repo = pathlib.Path(__file__).resolve().parent.parent
    if os.environ.get("WALX_REQUIRE_INSTALLED") == "1" and \
            pathlib.Path(walx.__file__).resolve().parent == repo / "walx":
        raise pytest.UsageError(f"walx was imported from the source tree ({walx.__file__}); "
                                "install it and run pytest from outside the checkout")


def pytest_report_header(config):
    import walx
    return [f"walx {walx.__version__}: {walx.__file__} (crc32c: {walx.CRC32C_IMPL})",
            f"benchmark sizes: {'QUICK (WALX_BENCH_QUICK=1)' if QUICK else 'full'}; "
            f"files in {_bench_root()} ({filesystem_info(_bench_root())['fs_type']})"]


def pytest_benchmark_update_machine_info(config, machine_info):
    import walx
    machine_info["walx"] = {"version": walx.__version__, "file": walx.__file__,
                            "crc32c_impl": walx.CRC32C_IMPL}
    machine_info["peers"] = peer_versions()
    machine_info["bench_root"] = _bench_root()
    machine_info["bench_fs"] = filesystem_info(_bench_root())
    machine_info["quick"] = QUICK


def peer_versions():
    """Versions of the peers (None when not installed) and of the compiler."""
    import sqlite3
    out = {"sqlite3": sqlite3.sqlite_version}
    for name in ("crc32c", "rocksdict", "plyvel", "lmdb"):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            out[name] = None
            continue
        version = getattr(mod, "__version__", None)
        if version is None:
            try:
                from importlib.metadata import version as dist_version
                version = dist_version(name)
            except Exception:
                version = "?"
        if name == "plyvel":
            version += f" (LevelDB {getattr(mod, '__leveldb_version__', '?')})"
        elif name == "lmdb":
            version += " (LMDB %d.%d.%d)" % mod.version()
        elif name == "crc32c":
            version += " (%s)" % ("hardware" if getattr(mod, "hardware_based", False)
                                  else "software")
        out[name] = version
    cc = os.environ.get("CC", "cc")
    try:
        proc = subprocess.run([cc, "--version"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, universal_newlines=True)
        out["cc"] = proc.stdout.splitlines()[0] if proc.returncode == 0 else None
    except OSError:
        out["cc"] = None
    return out


def require(module, package=None):
    """Import a peer's module, or skip the benchmark: "<module> not installed"."""
    try:
        return importlib.import_module(module)
    except ImportError:
        pytest.skip(f"{module} not installed (pip install {package or module}, "
                    f"or the walx[bench] extra)")


def pytest_runtest_logreport(report):
    # A skipped benchmark that described itself (bench_case) becomes a
    # "not installed" / "skipped" row in run.py's table.
    path = os.environ.get("WALX_BENCH_SKIPS")
    if not path or not report.skipped:
        return
    props = dict(report.user_properties).get("walx_bench")
    if not props:
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if reason.startswith("Skipped: "):
        reason = reason[len("Skipped: "):]
    with open(path, "a") as f:
        f.write(json.dumps(dict(props, nodeid=report.nodeid, reason=reason)) + "\n")


# ---- where the files go -----------------------------------------------------


def _unescape_mount(s):
    # /proc/self/mountinfo escapes space, tab, newline and backslash as \ooo.
    return s.encode().decode("unicode_escape") if "\\" in s else s


def filesystem_info(path):
    """The filesystem type, mount point and device that hold `path`."""
    path = os.path.realpath(path)
    info = {"fs_type": "unknown", "fs_mount": "?", "fs_source": "?"}
    st = os.stat(path)
    info["fs_dev"] = f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
    best = -1
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fields, rfields = left.split(), right.split()
                if len(fields) < 5 or len(rfields) < 2:
                    continue
                mount = _unescape_mount(fields[4])
                inside = path == mount or path.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) > best:
                    best = len(mount)
                    info.update(fs_type=rfields[0], fs_mount=mount,
                                fs_source=_unescape_mount(rfields[1]))
    except OSError:
        # Not Linux: `stat -f` knows the type on macOS and the BSDs.
        try:
            out = subprocess.run(["stat", "-f", "%T", path], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, universal_newlines=True)
            if out.returncode == 0 and out.stdout.strip():
                info["fs_type"] = out.stdout.strip()
        except OSError:
            pass
    # The block device behind it, when there is one (not for overlay/tmpfs).
    sysdev = pathlib.Path("/sys/dev/block") / info["fs_dev"]
    if sysdev.exists():
        dev = sysdev.resolve()
        info["block_device"] = dev.name
        for queue in (dev / "queue", dev.parent / "queue"):
            rot = queue / "rotational"
            if rot.exists():
                info["rotational"] = rot.read_text().strip() == "1"
                break
        for model in (dev / "device" / "model", dev.parent / "device" / "model"):
            if model.exists():
                info["device_model"] = model.read_text().strip()
                break
    return info


def _bench_root():
    explicit = os.environ.get("WALX_BENCH_DIR")
    if explicit:
        return explicit
    candidates = [tempfile.gettempdir(), "/tmp", "/var/tmp"]
    for c in candidates:
        if os.path.isdir(c) and os.access(c, os.W_OK) and \
                filesystem_info(c)["fs_type"] not in ("tmpfs", "ramfs"):
            return c
    return tempfile.gettempdir()


@pytest.fixture
def bench_dir(benchmark):
    """A fresh directory on a real filesystem (not tmpfs, unless nothing else
    is writable), removed afterwards. Its filesystem type and device go into
    the benchmark's extra_info: sync numbers mean nothing without them."""
    d = tempfile.mkdtemp(prefix="walx-bench-", dir=_bench_root())
    info = filesystem_info(d)
    benchmark.extra_info.update(info)
    benchmark.extra_info["bench_dir"] = os.path.dirname(d)
    try:
        yield pathlib.Path(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---- what each benchmark measures ------------------------------------------


@pytest.fixture
def bench_case(benchmark, request):
    """Call before running the benchmark:

        bench_case("write 100 B", "walx write-through", records=N, record_size=100)

    `records` is the number of records (or buffers) one round processes and
    `record_size` the payload bytes of each; `baseline` marks the reference
    implementations that report.py divides by ("c_loop", "pure_python",
    "os_write"). `kind` is "walx" or "peer" (default: "walx" when `impl`
    starts with "walx"); run.py compares every row with the best peer.
    After the test, extra_info gains the per-record numbers of the median
    round: ns_per_record, records_per_s and MB_per_s (payload bytes, 10**6
    per MB), and records_per_s_best_round from the fastest.
    """
    def describe(scenario, impl, *, records, record_size, baseline=None, **extra):
        benchmark.group = scenario
        kind = extra.pop("kind", "walx" if impl.startswith("walx") else "peer")
        benchmark.extra_info.update(scenario=scenario, impl=impl, kind=kind,
                                    records_per_round=records, record_size=record_size,
                                    baseline=baseline, **extra)
        request.node.user_properties.append(
            ("walx_bench", {"scenario": scenario, "impl": impl, "kind": kind,
                            "name": request.node.name}))

    yield describe
    stats = benchmark.stats  # None with --benchmark-disable
    n = benchmark.extra_info.get("records_per_round")
    if stats is not None and n:
        median, best = stats.stats.median, stats.stats.min
        size = benchmark.extra_info["record_size"]
        benchmark.extra_info.update(
            ns_per_record=round(median / n * 1e9, 1),
            records_per_s=round(n / median, 1),
            MB_per_s=round(n * size / median / 1e6, 2),
            records_per_s_best_round=round(n / best, 1),
        )


# ---- latency percentiles (durable scenarios) -------------------------------

#: Operations timed one by one for the percentiles, per benchmark.
LATENCY_OPS = 50 if QUICK else 2000


def percentile_us(sorted_ns, p):
    """Nearest-rank percentile of sorted nanosecond samples, in microseconds."""
    if not sorted_ns:
        return None
    rank = math.ceil(round(p * len(sorted_ns) / 100, 9))
    return sorted_ns[max(0, min(len(sorted_ns) - 1, rank - 1))] / 1000.0


def latency_summary(samples_ns):
    s = sorted(samples_ns)
    return {"ops": len(s),
            "p50": percentile_us(s, 50), "p99": percentile_us(s, 99),
            "p99.9": percentile_us(s, 99.9),
            "mean": round(sum(s) / len(s) / 1000.0, 3) if s else None,
            "max": s[-1] / 1000.0 if s else None}


@pytest.fixture
def record_latency(benchmark):
    """record_latency(samples_ns): per-operation times (time.perf_counter_ns
    deltas, taken in a separate loop after the timed rounds) become
    extra_info["latency_us"] = {ops, p50, p99, p99.9, mean, max}."""
    def record(samples_ns):
        benchmark.extra_info["latency_us"] = latency_summary(samples_ns)
    return record


def timed_ops(op, n, clock=None):
    """Call op(i) for i in range(n); return the n durations in ns."""
    import time
    clock = clock or time.perf_counter_ns
    out = [0] * n
    for i in range(n):
        t0 = clock()
        op(i)
        out[i] = clock() - t0
    return out


# ---- one fresh file per round ------------------------------------------------


class FreshPaths:
    """A new path `<stem><n>.log` in `directory` per call; the previous one
    is deleted first, so the deletion stays outside the caller's timing."""

    def __init__(self, directory, stem=""):
        self.directory, self.stem = pathlib.Path(directory), stem
        self.counter, self.last = itertools.count(), None

    def __call__(self):
        self.delete()
        self.last = str(self.directory / f"{self.stem}{next(self.counter)}.log")
        return self.last

    def delete(self):
        if self.last and os.path.exists(self.last):
            os.unlink(self.last)


def pedantic_fresh_file(benchmark, bench_dir, body, expected_size, rounds):
    """Run `body(path)` once per round on a fresh path in `bench_dir`; check
    that the last round's file has `expected_size` bytes, then delete it."""
    paths = FreshPaths(bench_dir)
    benchmark.pedantic(body, setup=lambda: ((paths(),), {}), rounds=rounds,
                       warmup_rounds=1 if rounds > 1 else 0)
    assert os.path.getsize(paths.last) == expected_size
    paths.delete()


# ---- the C write(2) loop baseline -------------------------------------------

C_LOOP_SOURCE = r"""
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One record: write(2) all `len` bytes of `buf` (retrying on EINTR and
 * short writes), then, with `sync_each`, fdatasync(2). 0 or -errno. */
static int put(int fd, const char *buf, long len, int sync_each) {
    long off = 0;
    while (off < len) {
        ssize_t w = write(fd, buf + off, (size_t)(len - off));
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        off += w;
    }
    return sync_each && fdatasync(fd) != 0 ? -errno : 0;
}

/* `n` records into `fd`, then close it; lat_ns as below. 0 or -errno. */
static int put_n(int fd, const char *buf, long len, long n, int sync_each,
                 long long *lat_ns) {
    if (fd < 0)
        return -errno;
    for (long i = 0; i < n; i++) {
        long long t0 = lat_ns ? now_ns() : 0;
        int rc = put(fd, buf, len, sync_each);
        if (rc) {
            close(fd);
            return rc;
        }
        if (lat_ns)
            lat_ns[i] = now_ns() - t0;
    }
    return close(fd) == 0 ? 0 : -errno;
}

/* Creates `path` (truncating it) and writes `buf` (`len` bytes) `n` times,
 * one write(2) per record, then closes it; with `sync_each`, fdatasync(2)
 * after every write. Returns 0 or -errno. This is the floor: what the
 * syscalls alone cost, with no framing and no CRC. When `lat_ns` is not
 * NULL, the duration of each write (+ fdatasync) in ns goes to lat_ns[i]
 * (the latency percentiles). */
int walx_bench_write_loop_lat(const char *path, const char *buf, long len, long n,
                              int sync_each, long long *lat_ns) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    return put_n(fd, buf, len, n, sync_each, lat_ns);
}

int walx_bench_write_loop(const char *path, const char *buf, long len, long n,
                          int sync_each) {
    return walx_bench_write_loop_lat(path, buf, len, n, sync_each, 0);
}

/* The long-lived log's floor: as walx_bench_write_loop, but `path` is
 * opened without O_TRUNC (created if missing) and the records go after what
 * it already holds, so one file can grow across many calls, as a log does
 * across many appends. */
int walx_bench_append_loop(const char *path, const char *buf, long len, long n,
                           int sync_each) {
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    return put_n(fd, buf, len, n, sync_each, 0);
}

/* The overwrite floor: opens the existing file `path` (no O_CREAT, no
 * O_TRUNC), seeks to `start` and writes `buf` `n` times there, then closes
 * it. Into blocks the file already has (written and synced before), this is
 * what a recycled or preallocated log can gain from not growing. Returns 0
 * or -errno (-EIO when the records would grow the file). */
int walx_bench_overwrite_loop(const char *path, const char *buf, long len, long n,
                              long start, int sync_each) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0 || end < (off_t)start + (off_t)len * n || lseek(fd, start, SEEK_SET) < 0) {
        int e = end < 0 ? errno : EIO;
        close(fd);
        return -e;
    }
    return put_n(fd, buf, len, n, sync_each, 0);
}
"""


class CWriteLoop:
    """ctypes wrapper of walx_bench_write_loop (compiled at benchmark time)."""

    def require(self):
        return self

    def __init__(self, lib):
        self._fn = lib.walx_bench_write_loop
        self._fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_long, ctypes.c_long,
                             ctypes.c_int]
        self._fn.restype = ctypes.c_int
        self._lat = lib.walx_bench_write_loop_lat
        self._lat.argtypes = self._fn.argtypes + [ctypes.POINTER(ctypes.c_longlong)]
        self._lat.restype = ctypes.c_int
        self._append = lib.walx_bench_append_loop
        self._append.argtypes = self._fn.argtypes
        self._append.restype = ctypes.c_int
        self._over = lib.walx_bench_overwrite_loop
        self._over.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_long, ctypes.c_long,
                               ctypes.c_long, ctypes.c_int]
        self._over.restype = ctypes.c_int

    def __call__(self, path, record, n, sync_each=False):
        """Write `record` `n` times to a new file at `path` (GIL released)."""
        rc = self._fn(os.fsencode(path), record, len(record), n, 1 if sync_each else 0)
        if rc:
            raise OSError(-rc, os.strerror(-rc), str(path))

    def append(self, path, record, n, sync_each=False):
        """Write `record` `n` times at the end of `path` (created if missing,
        never truncated), so one file grows across calls (GIL released)."""
        rc = self._append(os.fsencode(path), record, len(record), n, 1 if sync_each else 0)
        if rc:
            raise OSError(-rc, os.strerror(-rc), str(path))

    def overwrite(self, path, record, n, start=0, sync_each=False):
        """Write `record` `n` times into the existing file `path` from offset
        `start`, overwriting blocks it already has (GIL released); OSError
        EIO when the file is too short for that."""
        rc = self._over(os.fsencode(path), record, len(record), n, start,
                        1 if sync_each else 0)
        if rc:
            raise OSError(-rc, os.strerror(-rc), str(path))

    def latencies(self, path, record, n, sync_each=False):
        """As calling it, and return each write(+fdatasync)'s duration in ns
        (clock_gettime(CLOCK_MONOTONIC) in C)."""
        lat = (ctypes.c_longlong * n)()
        rc = self._lat(os.fsencode(path), record, len(record), n, 1 if sync_each else 0, lat)
        if rc:
            raise OSError(-rc, os.strerror(-rc), str(path))
        return list(lat)


class CWriteLoopUnavailable:
    """What the c_write_loop fixture gives when the loop cannot be built."""

    def __init__(self, reason):
        self.reason = reason

    def require(self):
        pytest.skip(self.reason)


def _build_c_write_loop(d):
    cc = os.environ.get("CC", "cc")
    if sys.platform == "win32":
        return CWriteLoopUnavailable("the C write(2) loop baseline is POSIX-only")
    if shutil.which(cc) is None:
        return CWriteLoopUnavailable(
            f"C compiler not installed ({cc!r} not on PATH): the C write(2) loop "
            f"baseline is skipped; install gcc or set CC")
    src, lib = d / "loop.c", d / "libwalxbenchloop.so"
    src.write_text(C_LOOP_SOURCE)
    proc = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(lib), str(src)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    if proc.returncode != 0:
        return CWriteLoopUnavailable(
            f"cannot build the C write(2) loop baseline with {cc}:\n{proc.stdout}")
    return CWriteLoop(ctypes.CDLL(str(lib)))


@pytest.fixture(scope="session")
def c_write_loop(tmp_path_factory):
    """The C write(2) loop, built with the system compiler ($CC or cc) into a
    tiny shared library at benchmark time. Call ``c_write_loop.require()``
    after ``bench_case``: it returns the loop, or skips the benchmark (with
    the reason, which run.py shows) when there is no compiler."""
    return _build_c_write_loop(tmp_path_factory.mktemp("c_write_loop"))
