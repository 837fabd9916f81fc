"""S1 and S2 peers: the embedded databases writing N records without sync.

Same scenarios as bench_writer.py ("write 100B", "write 4KiB"): N records
of one payload size per round, nothing synced (page-cache writes). Each
round gets a fresh database, opened before the timed region and closed
after it (database open/close is not measured; walx's and the loops'
file open/close is, which only favours the peers). Record i is key
``i.to_bytes(8, "big")`` (sqlite3: ``INTEGER PRIMARY KEY``) with the
payload as value, one write per record:

- sqlite3 in WAL mode, ``synchronous=OFF``, one INSERT per transaction;
- RocksDB (rocksdict) ``put`` with ``WriteOptions.sync=False`` (the WAL is
  written, not synced);
- LevelDB (plyvel) ``put(sync=False)``.

A peer whose module is missing is skipped as "<module> not installed".
"""

import itertools
import os
import shutil

import pytest

import peers

QUICK = os.environ.get("WALX_BENCH_QUICK") == "1"
N = 200 if QUICK else 10_000
ROUNDS = 1 if QUICK else 10
SIZES = [100, 4096]
IDS = ["100B", "4KiB"]


def _run(benchmark, bench_dir, bench_case, name, size):
    bench_case(f"write {IDS[SIZES.index(size)]}", peers.label(name, durable=False),
               records=N, record_size=size)
    peers.check(name)
    payload = os.urandom(size)
    counter = itertools.count()
    opened = []

    def close_previous():
        for db, path in opened:
            db.close()
            shutil.rmtree(path, ignore_errors=True)
        opened.clear()

    def setup():
        close_previous()
        path = bench_dir / f"db{next(counter)}"
        db = peers.open_peer(name, path, durable=False)
        opened.append((db, path))
        return (db.writer(),), {}

    def body(put):
        for i in range(N):
            put(i, payload)

    try:
        benchmark.pedantic(body, setup=setup, rounds=ROUNDS,
                           warmup_rounds=1 if ROUNDS > 1 else 0)
        assert sum(1 for _ in opened[0][0].values()) == N
    finally:
        close_previous()


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_sqlite_insert_no_sync(benchmark, bench_dir, bench_case, size):
    """sqlite3, WAL mode, synchronous=OFF: one INSERT (one transaction) per record."""
    _run(benchmark, bench_dir, bench_case, "sqlite3", size)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_rocksdb_put_no_sync(benchmark, bench_dir, bench_case, size):
    """RocksDB via rocksdict (raw mode): put per record, WriteOptions.sync=False."""
    _run(benchmark, bench_dir, bench_case, "rocksdict", size)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_leveldb_put_no_sync(benchmark, bench_dir, bench_case, size):
    """LevelDB via plyvel: put(sync=False) per record."""
    _run(benchmark, bench_dir, bench_case, "plyvel", size)
