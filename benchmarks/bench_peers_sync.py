"""S3 peers: the embedded databases making one 100 B record durable at a time.

Same scenario as bench_sync.py ("sync 100B"): N durable writes of a 100 B
value per round from one thread, each round continuing in the same
database (opened once, before the timed rounds: its log grows as walx's
does). Record i is key ``i.to_bytes(8, "big")`` (sqlite3: ``INTEGER
PRIMARY KEY``) with the payload as value. After the timed rounds,
LATENCY_OPS more writes are timed one by one (time.perf_counter_ns) for the
p50/p99/p99.9 latencies in extra_info["latency_us"].

- sqlite3 in WAL mode, ``synchronous=FULL``, one INSERT per transaction
  (the WAL is synced at every commit);
- RocksDB (rocksdict) ``put`` with ``WriteOptions.sync=True``;
- LevelDB (plyvel) ``put(sync=True)``.
"""

import itertools
import os

import peers
from conftest import LATENCY_OPS, timed_ops

QUICK = os.environ.get("WALX_BENCH_QUICK") == "1"
N = 5 if QUICK else 200
ROUNDS = 1 if QUICK else 15
SIZE = 100
SCENARIO = "sync 100B"


def _run(benchmark, bench_dir, bench_case, record_latency, name):
    bench_case(SCENARIO, peers.label(name, durable=True), records=N, record_size=SIZE)
    peers.check(name)
    payload = os.urandom(SIZE)
    db = peers.open_peer(name, bench_dir / "db", durable=True)
    try:
        put = db.writer()
        ids = itertools.count()

        def body():
            for _ in range(N):
                put(next(ids), payload)

        benchmark.pedantic(body, rounds=ROUNDS, warmup_rounds=1 if ROUNDS > 1 else 0)
        base = next(ids)
        record_latency(timed_ops(lambda i: put(base + i, payload), LATENCY_OPS))
        assert sum(1 for _ in db.values()) == base + LATENCY_OPS
    finally:
        db.close()


def test_sqlite_insert_sync_full(benchmark, bench_dir, bench_case, record_latency):
    """sqlite3, WAL mode, synchronous=FULL: one INSERT (one durable commit) per record."""
    _run(benchmark, bench_dir, bench_case, record_latency, "sqlite3")


def test_rocksdb_put_sync(benchmark, bench_dir, bench_case, record_latency):
    """RocksDB via rocksdict (raw mode): put per record with WriteOptions.sync=True."""
    _run(benchmark, bench_dir, bench_case, record_latency, "rocksdict")


def test_leveldb_put_sync(benchmark, bench_dir, bench_case, record_latency):
    """LevelDB via plyvel: put(sync=True) per record."""
    _run(benchmark, bench_dir, bench_case, record_latency, "plyvel")

