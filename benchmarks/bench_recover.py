"""Recovering a ~1 GB WalManager directory (16 MB with WALX_BENCH_QUICK=1).

Before the timed rounds a WalManager (no sync per append) writes TOTAL
bytes of batches, each of PUTS puts of a 4 KiB value (about 64 KiB
encoded), rotating every ROTATE_BYTES (so the directory holds several logs,
fsynced at rotation, as an engine's would). The files are then in the page
cache: this measures walx's reading, framing, CRC and batch decoding, not
the device.

Scenario "recover WAL dir" (records = batches, MB = log bytes):
- walx WalManager.iter_recover(dir): every batch, in order, constant
  memory; each round counts the batches and checks the last sequence;
- pure Python: pywal.PyLogReader (CRCs via the crc32c package) +
  pywal.decode_batch, file by file; it reads each file whole.
After the timed rounds, the same recovery runs once more in a fresh Python
subprocess that reads its peak RSS (VmHWM from /proc/self/status, else
ru_maxrss) after importing walx and after recovering: the difference is
extra_info["rss_growth_MB"] (the target: under 64 MB for 1 GB).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

import pywal
import walx
from conftest import _bench_root

QUICK = os.environ.get("WALX_BENCH_QUICK") == "1"
TOTAL = (16 << 20) if QUICK else (1 << 30)
ROTATE_BYTES = (4 << 20) if QUICK else (128 << 20)
PUTS = 16
VALUE_SIZE = 4096
ROUNDS = 1 if QUICK else 3
SCENARIO = "recover WAL dir"
HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def wal_dir():
    """(dir, batches, last seq, bytes of batches, bytes of files) of a ~TOTAL directory."""
    d = tempfile.mkdtemp(prefix="walx-bench-recover-", dir=_bench_root())
    value = os.urandom(VALUE_SIZE)
    seq = batches = payload = 0
    try:
        with walx.WalManager(d, sync=False, buffer_size=1 << 20) as m:
            in_log = 0
            while payload < TOTAL:
                b = walx.WriteBatch(seq + 1)
                for i in range(PUTS):
                    b.put((seq + 1 + i).to_bytes(8, "big"), value)
                seq = b.last_seq
                m.append(b)
                n = b.nbytes
                batches += 1
                payload += n
                in_log += n
                if in_log >= ROTATE_BYTES:
                    m.rotate()
                    in_log = 0
            m.sync()
        files = walx.WalManager.list_wal_files(d)
        size = sum(os.path.getsize(p) for _, p in files)
        yield d, batches, seq, payload, size, len(files)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _walx_recover(d):
    n = last = 0
    for b in walx.WalManager.iter_recover(d):
        n += 1
        last = b.last_seq
    return n, last


def _py_recover(d):
    n = last = 0
    for _, path in walx.WalManager.list_wal_files(d):
        for payload in pywal.PyLogReader(path):
            seq, ops = pywal.decode_batch(payload)
            n += 1
            last = seq + max(len(ops) - 1, 0)
    return n, last


RSS_SCRIPT = r"""
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[3])

def peak_kb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb // 1024 if sys.platform == "darwin" else kb   # bytes on macOS

import walx
import bench_recover
fn = {"walx": bench_recover._walx_recover, "pywal": bench_recover._py_recover}[sys.argv[2]]
before = peak_kb()
t0 = time.perf_counter()
n, last = fn(sys.argv[1])
dt = time.perf_counter() - t0
after = peak_kb()
print(json.dumps({"batches": n, "last_seq": last, "seconds": dt,
                  "peak_rss_before_kB": before, "peak_rss_after_kB": after}))
"""


def _rss_run(d, which):
    env = dict(os.environ, WALX_BENCH_QUICK="1" if QUICK else "0")
    out = subprocess.run([sys.executable, "-c", RSS_SCRIPT, d, which, HERE],
                         stdout=subprocess.PIPE, universal_newlines=True, env=env,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _run(benchmark, bench_case, wal_dir, impl, fn, which, baseline=None):
    d, batches, last_seq, payload, size, nfiles = wal_dir
    bench_case(SCENARIO, impl, records=batches, record_size=round(payload / batches, 1),
               baseline=baseline, log_bytes=size, log_files=nfiles, batch_bytes=payload)
    results = []
    benchmark.pedantic(lambda: results.append(fn(d)), rounds=ROUNDS, warmup_rounds=0)
    assert results and all(r == (batches, last_seq) for r in results)
    rss = _rss_run(d, which)
    assert (rss["batches"], rss["last_seq"]) == (batches, last_seq)
    growth_kb = rss["peak_rss_after_kB"] - rss["peak_rss_before_kB"]
    benchmark.extra_info.update(
        rss_growth_MB=round(growth_kb / 1024, 1),
        peak_rss_before_MB=round(rss["peak_rss_before_kB"] / 1024, 1),
        peak_rss_after_MB=round(rss["peak_rss_after_kB"] / 1024, 1),
        subprocess_MB_per_s=round(payload / rss["seconds"] / 1e6, 1))


def test_walx_iter_recover(benchmark, bench_case, wal_dir):
    """WalManager.iter_recover over the whole directory; peak RSS growth in a subprocess."""
    _run(benchmark, bench_case, wal_dir, "walx WalManager.iter_recover", _walx_recover, "walx")


def test_pure_python_recover(benchmark, bench_case, wal_dir):
    """pywal.PyLogReader + pywal.decode_batch over every log (each read whole)."""
    if not pywal.HAVE_CRC32C:
        d, batches, _, payload, _, _ = wal_dir
        bench_case(SCENARIO, "pure Python (pywal) reader + decode_batch", records=batches,
                   record_size=round(payload / batches, 1), baseline="pure_python")
        pytest.skip("crc32c not installed (the pure-Python reader's CRC)")
    _run(benchmark, bench_case, wal_dir, "pure Python (pywal) reader + decode_batch",
         _py_recover, "pywal", baseline="pure_python")
