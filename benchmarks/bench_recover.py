"""Recovery: replaying a ~1 GB WalManager directory (16 MB with WALX_BENCH_QUICK=1).

Before the timed rounds a WalManager (no sync per append) writes TOTAL
bytes of batches of PUTS puts of a 4 KiB value (about 64 KiB each),
rotating every ROTATE_BYTES, so the directory holds several logs as an
engine's would. The files are then in the page cache: this measures
reading, framing, CRCs and batch decoding, not the device. Records are
batches; each round checks the count and the last sequence.

- walx ``WalManager.iter_recover(dir)``: every batch in order, in constant
  memory;
- pure Python: pywal.PyLogReader (CRCs by the crc32c package) +
  ``pywal.decode_batch``, file by file (each read whole): the same work
  in Python.

After the timed rounds the same recovery runs once more in a fresh
subprocess that reads its peak RSS (VmHWM, else ru_maxrss) after
``import walx`` and after recovering: the growth is
extra_info["rss_growth_MB"]. Target: under 64 MB for 1 GB, i.e. recovery
does not hold the logs in memory.
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
from conftest import HERE, QUICK, bench_root

TOTAL = (16 << 20) if QUICK else (1 << 30)
ROTATE_BYTES = (4 << 20) if QUICK else (128 << 20)
PUTS, VALUE_SIZE = 16, 4096
ROUNDS = 1 if QUICK else 3


@pytest.fixture(scope="module")
def wal_dir():
    """(directory, batches, last seq, batch bytes, log bytes, log files)."""
    d = tempfile.mkdtemp(prefix="walx-bench-recover-", dir=bench_root())
    value, seq, batches, payload, in_log = os.urandom(VALUE_SIZE), 0, 0, 0, 0
    try:
        with walx.WalManager(d, sync=False, buffer_size=1 << 20) as m:
            while payload < TOTAL:
                b = walx.WriteBatch(seq + 1)
                for i in range(PUTS):
                    b.put((seq + 1 + i).to_bytes(8, "big"), value)
                seq = b.last_seq
                m.append(b)
                batches, payload, in_log = batches + 1, payload + b.nbytes, in_log + b.nbytes
                if in_log >= ROTATE_BYTES:
                    m.rotate()
                    in_log = 0
            m.sync()
        files = walx.WalManager.list_wal_files(d)
        yield d, batches, seq, payload, sum(os.path.getsize(p) for _, p in files), len(files)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def walx_recover(d):
    n = last = 0
    for b in walx.WalManager.iter_recover(d):
        n, last = n + 1, b.last_seq
    return n, last


def pywal_recover(d):
    n = last = 0
    for _, path in walx.WalManager.list_wal_files(d):
        for payload in pywal.PyLogReader(path):
            seq, ops = pywal.decode_batch(payload)
            n, last = n + 1, seq + max(len(ops) - 1, 0)
    return n, last


PEAK_RSS = r"""
import json, resource, sys
sys.path.insert(0, sys.argv[3])
def peak_kb():
    try:
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
    except OSError:
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return kb // 1024 if sys.platform == "darwin" else kb
import walx, bench_recover
before = peak_kb()
result = getattr(bench_recover, sys.argv[2])(sys.argv[1])
print(json.dumps({"result": result, "growth_kB": peak_kb() - before}))
"""


@pytest.mark.parametrize("impl, fn", [("walx WalManager.iter_recover", "walx_recover"),
                                      ("pure Python (pywal) reader + decode_batch",
                                       "pywal_recover")], ids=["walx", "pywal"])
def test_recover(benchmark, bench_case, wal_dir, impl, fn):
    """Every batch of the directory, in order; peak RSS growth in a subprocess."""
    d, batches, last_seq, payload, size, nfiles = wal_dir
    bench_case("recover WAL dir", impl, records=batches, size=round(payload / batches, 1),
               log_bytes=size, log_files=nfiles)
    if fn == "pywal_recover" and not pywal.HAVE_CRC32C:
        pytest.skip("crc32c not installed (the pure-Python reader's CRC)")
    results = []
    benchmark.pedantic(lambda: results.append(globals()[fn](d)), rounds=ROUNDS)
    assert results and set(results) == {(batches, last_seq)}
    out = subprocess.run([sys.executable, "-c", PEAK_RSS, d, fn, str(HERE)], check=True,
                         stdout=subprocess.PIPE, universal_newlines=True,
                         env=dict(os.environ, WALX_BENCH_QUICK="1" if QUICK else "0"))
    rss = json.loads(out.stdout.splitlines()[-1])
    assert tuple(rss["result"]) == (batches, last_seq)
    benchmark.extra_info["rss_growth_MB"] = round(rss["growth_kB"] / 1024, 1)
