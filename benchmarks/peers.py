"""The embedded databases walx is compared with, behind one small interface.

Every peer stores record ``i`` as key ``i.to_bytes(8, "big")`` (sqlite3:
``INTEGER PRIMARY KEY i``) and value = the record's payload, one write
(one transaction) per record:

- ``SqlitePeer``: the standard library's sqlite3 in WAL mode, autocommit (one
  INSERT per transaction); ``synchronous=FULL`` when durable, ``OFF`` when
  not (no sync at all, like the other "no sync" scenarios);
- ``RocksPeer``: RocksDB through ``rocksdict`` (raw mode: bytes in, bytes
  out), ``put`` with ``WriteOptions.sync`` = durable;
- ``LevelPeer``: LevelDB through ``plyvel``, ``put(sync=durable)``;
- ``LmdbPeer``: LMDB through ``lmdb`` (reads only: the read benchmark's peer).

``open_peer(name, path, durable)`` imports the module on demand and skips
the benchmark ("<module> not installed") when it is missing. ``writer()``
returns a ``put(i, value)`` for the calling thread (sqlite3: a connection of
its own, since sqlite3 connections are per thread; the others share the
database handle, which is thread-safe). ``values()`` iterates every value
in key order, as ``bytes``.
"""

import os
import threading

from conftest import require

PEERS = ("sqlite3", "rocksdict", "plyvel", "lmdb")


def key(i):
    return i.to_bytes(8, "big")


class SqlitePeer:
    label = "sqlite3 WAL"
    module = "sqlite3"

    def __init__(self, path, durable):
        import sqlite3
        self._sqlite3 = sqlite3
        os.makedirs(path, exist_ok=True)
        self.file = os.path.join(path, "db.sqlite")
        self.durable = durable
        self._conns = []
        self._mu = threading.Lock()
        c = self._connect()
        c.execute("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)")

    def _connect(self):
        # isolation_level=None: autocommit, so every INSERT is a transaction.
        # A long busy timeout: WAL mode serialises writers, the others wait.
        c = self._sqlite3.connect(self.file, isolation_level=None, timeout=600,
                                  check_same_thread=False)
        assert c.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() == "wal"
        c.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'OFF'}")
        with self._mu:
            self._conns.append(c)
        return c

    def writer(self, fresh_connection=False):
        c = self._connect() if fresh_connection else self._conns[0]
        ex = c.execute
        sql = "INSERT INTO t (k, v) VALUES (?, ?)"

        def put(i, value):
            ex(sql, (i, value))
        return put

    def values(self):
        for (v,) in self._conns[0].execute("SELECT v FROM t ORDER BY k"):
            yield v

    def prepare_reads(self):
        self._conns[0].execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self):
        for c in self._conns:
            c.close()
        self._conns = []


class RocksPeer:
    label = "RocksDB (rocksdict)"
    module = "rocksdict"

    def __init__(self, path, durable):
        rocksdict = require("rocksdict")
        self.durable = durable
        opts = rocksdict.Options(raw_mode=True)
        opts.create_if_missing(True)
        self.db = rocksdict.Rdict(path, opts)
        wo = rocksdict.WriteOptions()
        wo.sync = durable
        self.db.set_write_options(wo)
        self._ro = rocksdict.ReadOptions()
        self._ro.set_verify_checksums(True)

    def writer(self, fresh_connection=False):
        db_put = self.db.put

        def put(i, value):
            db_put(key(i), value)
        return put

    def values(self):
        return self.db.values(read_opt=self._ro)

    def prepare_reads(self):
        self.db.flush()
        self.db.compact_range(None, None)

    def close(self):
        if self.db is not None:
            self.db.close()
            self.db = None


class LevelPeer:
    label = "LevelDB (plyvel)"
    module = "plyvel"

    def __init__(self, path, durable):
        plyvel = require("plyvel")
        self.durable = durable
        self.db = plyvel.DB(path, create_if_missing=True)

    def writer(self, fresh_connection=False):
        db_put, sync = self.db.put, self.durable

        def put(i, value):
            db_put(key(i), value, sync=sync)
        return put

    def values(self):
        return self.db.iterator(include_key=False, verify_checksums=True)

    def prepare_reads(self):
        self.db.compact_range()

    def close(self):
        if self.db is not None:
            self.db.close()
            self.db = None


class LmdbPeer:
    label = "LMDB (lmdb)"
    module = "lmdb"

    def __init__(self, path, durable):
        lmdb = require("lmdb")
        self.durable = durable
        self.env = lmdb.open(path, map_size=1 << 31, sync=durable, metasync=durable,
                             max_dbs=0)

    def put_all(self, values):
        with self.env.begin(write=True) as txn:
            for i, v in enumerate(values):
                txn.put(key(i), v, append=True)

    def values(self):
        # buffers=False (the default): every value is copied into a bytes
        # object, as the other readers return.
        with self.env.begin(buffers=False) as txn:
            yield from txn.cursor().iternext(keys=False, values=True)

    def prepare_reads(self):
        pass

    def close(self):
        if self.env is not None:
            self.env.close()
            self.env = None


_CLASSES = {"sqlite3": SqlitePeer, "rocksdict": RocksPeer, "plyvel": LevelPeer,
            "lmdb": LmdbPeer}


def check(name):
    """Skip the benchmark ("<module> not installed") unless peer `name` is there."""
    require(_CLASSES[name].module)


def open_peer(name, path, durable):
    """Open peer `name` ("sqlite3", "rocksdict", "plyvel", "lmdb") at `path`;
    skips the benchmark when its module is not installed."""
    return _CLASSES[name](str(path), durable)


def label(name, durable=False):
    """The implementation name shown in the tables."""
    if name == "sqlite3":
        return f"sqlite3 WAL, INSERT per txn, synchronous={'FULL' if durable else 'OFF'}"
    if name == "lmdb":
        return "LMDB (lmdb) cursor, values copied to bytes"
    return f"{_CLASSES[name].label} put(sync={bool(durable)})"


def read_label(name):
    """The implementation name of a peer's read benchmark."""
    return {"sqlite3": "sqlite3 SELECT v ORDER BY k (no checksums)",
            "rocksdict": "RocksDB (rocksdict) values(), checksums verified",
            "plyvel": "LevelDB (plyvel) iterator, checksums verified",
            "lmdb": "LMDB (lmdb) cursor, values copied to bytes (no checksums)"}[name]
