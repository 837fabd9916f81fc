"""S5 peers: reading back every record from the embedded databases.

Same scenarios as bench_reader.py ("read 100B", "read 4KiB"): each round
reads all N values (as ``bytes``) of a database holding the same N records
(key ``i.to_bytes(8, "big")``, sqlite3: ``INTEGER PRIMARY KEY``), in key
order, and counts them; the count is checked afterwards. The database is
written, compacted (LevelDB, RocksDB) or checkpointed (sqlite3) before the
timed rounds, so every round reads from the page cache, as walx's do.

- LMDB (lmdb): one read transaction, a cursor iterating values only
  (``iternext(keys=False)``), each value copied into a ``bytes`` object
  (``buffers=False``), as walx.LogReader returns bytes. LMDB stores no
  checksums, so it checks none;
- LevelDB (plyvel): ``iterator(include_key=False, verify_checksums=True)``;
- RocksDB (rocksdict): ``values()`` with ``ReadOptions.verify_checksums``;
- sqlite3: ``SELECT v FROM t ORDER BY k`` (no checksums).
"""

import os

import pytest

import peers

QUICK = os.environ.get("WALX_BENCH_QUICK") == "1"
N = 200 if QUICK else 10_000
ROUNDS = 1 if QUICK else 20
SIZES = [100, 4096]
IDS = ["100B", "4KiB"]


def _run(benchmark, bench_dir, bench_case, name, size):
    bench_case(f"read {IDS[SIZES.index(size)]}", peers.read_label(name), records=N,
               record_size=size)
    peers.check(name)
    payload = os.urandom(size)
    db = peers.open_peer(name, bench_dir / "db", durable=False)
    try:
        if name == "lmdb":
            db.put_all([payload] * N)
        else:
            put = db.writer()
            for i in range(N):
                put(i, payload)
        db.prepare_reads()
        counts = []

        def body():
            n = 0
            for _ in db.values():
                n += 1
            counts.append(n)

        benchmark.pedantic(body, rounds=ROUNDS, warmup_rounds=1 if ROUNDS > 1 else 0)
        assert counts and all(c == N for c in counts)
        assert next(iter(db.values())) == payload
    finally:
        db.close()


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_lmdb_cursor_read(benchmark, bench_dir, bench_case, size):
    """LMDB via lmdb: a read-only txn's cursor over all N values, copied to bytes."""
    _run(benchmark, bench_dir, bench_case, "lmdb", size)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_leveldb_iterator_read(benchmark, bench_dir, bench_case, size):
    """LevelDB via plyvel: iterate all N values with verify_checksums=True."""
    _run(benchmark, bench_dir, bench_case, "plyvel", size)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_rocksdb_values_read(benchmark, bench_dir, bench_case, size):
    """RocksDB via rocksdict: iterate all N values, ReadOptions.verify_checksums=True."""
    _run(benchmark, bench_dir, bench_case, "rocksdict", size)


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_sqlite_select_read(benchmark, bench_dir, bench_case, size):
    """sqlite3: SELECT v FROM t ORDER BY k, iterating all N rows."""
    _run(benchmark, bench_dir, bench_case, "sqlite3", size)
