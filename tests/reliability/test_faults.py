"""Fault injection through the C I/O layer's test hook.

`walx._testing.fault_arm(op, nth, err, short_write)` makes the nth call of one
syscall (open, write, fdatasync, fsync, rename, unlink, ftruncate,
fallocate) fail with an errno, or (write) write half its bytes. Each
scenario below drives the public API (WalManager with and without a buffer,
recycling, preallocation, recovery, LogWriter, repair). The suite first runs
it with the hook armed but silent, to count the calls of each op, then once
for every (op, call number, error) with that single call failing:

* EINTR and short writes: the scenario completes and leaves files
  byte-identical to the fault-free run (the C retry loops ran).
* EIO, ENOSPC, EDQUOT: the step that made the call raises an OSError with
  that errno and a filename, never anything else; or, where walx handles
  the failure itself (a GC unlink or rename, the directory fsync after GC),
  it logs it, counts it in errors_io_total and carries on. After a failed
  write, fdatasync or fsync of a log, the writer/manager raises
  WalPoisonedError for every append, sync and rotate, and never calls
  fdatasync/fsync again. After any failure the directory recovers every
  acknowledged batch, in order, and nothing that was not appended, and a
  fresh manager appends to it.

The manager's handling of single failures (poisoning, group commit, GC,
preallocation, rotation, the lock) is test_faults_manager.py.
"""

import errno
import logging
import os
import shutil

import pytest

import walx
from walx import _testing as T
from walxhelpers import make_batch

import reliability
from reliability import ERRORS, sync_calls

pytestmark = pytest.mark.usefixtures("disarmed")

OPS = ("open", "write", "fdatasync", "fsync", "rename", "unlink", "ftruncate", "fallocate")
KINDS = ("EIO", "ENOSPC", "EDQUOT", "EINTR", "short_write")
NEVER = 2**64 - 1
LOG_SUFFIXES = (".wal", ".log")


def snapshot(d):
    """{relative name: bytes} of every file under d except LOCK."""
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            if f == "LOCK":
                continue
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, d)] = fh.read()
    return out


class Run:
    """Drives a scenario and remembers what was acknowledged.

    acked: seq -> encoded batch, durable (a sync covering it returned);
    attempted: seq -> encoded batch, every batch handed to walx;
    flushed: the highest mark_flushed_seq (GC may delete batches <= it).
    """

    def __init__(self, d):
        self.d = d
        self.live = []
        self.acked = {}
        self.pending = {}
        self.attempted = {}
        self.flushed = 0
        self.target = None
        self.io_errors = 0

    # -- managers
    def manager(self, **kw):
        self.target = None
        m = walx.WalManager(self.d, **kw)
        self.live.append(m)
        return m

    def recover_and_open(self, **kw):
        self.target = None
        m, rec = walx.WalManager.recover_and_open(self.d, **kw)
        self.live.append(m)
        return m, rec

    def append(self, m, seq, sync=True, size=40):
        self.target = m
        b = make_batch(seq, size=size)
        self.attempted[seq] = b.encode()
        m.append(b, sync=sync)
        self.pending[seq] = b.encode()
        if sync:
            self._ack()

    def _ack(self):
        self.acked.update(self.pending)
        self.pending.clear()

    def sync(self, m):
        self.target = m
        m.sync()
        self._ack()

    def rotate(self, m):
        self.target = m
        m.rotate()              # fsyncs the old log: everything is durable
        self._ack()

    def mark(self, m, seq):
        self.target = m
        self.flushed = max(self.flushed, seq)
        m.mark_flushed_seq(seq)

    def close(self, m):
        self.target = m
        self.io_errors += m.metrics["errors_io_total"]
        m.close()
        self.live.remove(m)
        self._ack()             # a manager's close syncs

    # -- writers
    def writer(self, name, **kw):
        self.target = None
        w = walx.LogWriter(os.path.join(self.d, name), **kw)
        self.live.append(w)
        return w

    def add(self, w, seq, size=40):
        self.target = w
        b = make_batch(seq, size=size)
        self.attempted[seq] = b.encode()
        w.add_record(b.encode())
        self.pending[seq] = b.encode()

    def add_many(self, w, seqs):
        self.target = w
        encs = [make_batch(s).encode() for s in seqs]
        for s, e in zip(seqs, encs):
            self.attempted[s] = e
        w.add_records(encs)
        for s, e in zip(seqs, encs):
            self.pending[s] = e

    def wsync(self, w, full=False):
        self.target = w
        (w.sync_all if full else w.sync)()
        self._ack()

    def wclose(self, w):
        self.target = w
        w.close()               # flushes, does not sync: nothing more is acked
        self.live.remove(w)


# ---- scenarios: (setup run without faults, body run under the fault) ------------------


def sc_manager(r):
    m = r.manager()
    r.append(m, 1)
    r.append(m, 2)
    r.append(m, 3, sync=False)
    r.sync(m)
    r.rotate(m)
    r.append(m, 4)
    r.mark(m, 3)               # GC: unlink log 1, fsync the directory
    r.append(m, 5)
    r.close(m)


def sc_buffered(r):
    m = r.manager(sync=False, buffer_size=1 << 16)
    for s in range(1, 5):
        r.append(m, s, sync=False, size=30_000)    # the buffer fills: writes
    r.sync(m)
    r.append(m, 5, sync=False)
    r.rotate(m)
    r.append(m, 6, sync=False)
    r.append(m, 7, sync=True)
    r.append(m, 8, sync=False)
    r.close(m)


def sc_recycle(r):
    m = r.manager(recycle_log_files=1)
    r.append(m, 1)
    r.rotate(m)
    r.append(m, 2)
    r.mark(m, 1)               # log 1 is renamed to 000001.wal.recycle
    r.rotate(m)                # ... and renamed to 000003.wal, written from offset 0
    r.append(m, 3)
    r.mark(m, 2)               # log 2 goes to the pool
    r.close(m)
    m, _ = r.recover_and_open(recycle_log_files=0)   # the pool file is deleted
    r.append(m, 4)
    r.close(m)


def sc_prealloc(r):
    m = r.manager(preallocate=1 << 16)
    r.append(m, 1)
    r.append(m, 2)
    r.rotate(m)                # fallocate for log 2
    r.append(m, 3)
    r.close(m)


def setup_recover(d):
    with walx.WalManager(d) as m:
        for s in (1, 2):
            m.append(make_batch(s))
        m.rotate()
        for s in (3, 4):
            m.append(make_batch(s))
    p = os.path.join(d, "000002.wal")
    os.truncate(p, os.path.getsize(p) - 3)          # a torn tail: batch 4 is gone
    return {s: make_batch(s).encode() for s in (1, 2, 3)}


def sc_recover(r):
    m, rec = r.recover_and_open()
    assert [b.sequence for b in rec.batches] == [1, 2, 3]
    r.append(m, 5)
    r.mark(m, 3)               # GC: the two recovered logs
    r.append(m, 6)
    r.close(m)


def sc_writer(r):
    w = r.writer("000001.wal")
    r.add(w, 1)
    r.add_many(w, [2, 3])
    r.wsync(w)
    r.add(w, 4)
    r.wsync(w, full=True)
    r.wclose(w)
    w = r.writer("000001.wal", buffer_size=4096)     # reopen: reads the tail first
    r.add(w, 5)
    r.add(w, 6, size=10_000)                       # over the buffer: a write
    r.target = w
    w.flush()
    r.add(w, 7)
    r.wsync(w)
    r.add(w, 8)
    r.wclose(w)                                    # close flushes 8


SCENARIOS = {
    "manager": (None, sc_manager),
    "buffered": (None, sc_buffered),
    "recycle": (None, sc_recycle),
    "prealloc": (None, sc_prealloc),
    "recover": (setup_recover, sc_recover),
    "writer": (None, sc_writer),
}


def poisoning(op, exc, obj, d):
    """Does this failure poison the object that made the call? A failed
    write, fdatasync or fsync of a log does; so does, for a manager, a failed
    fsync of its directory after it created or renamed a log (opening the
    directory for that fsync included): like a log's, a directory's failed
    fsync is never retried."""
    if op in ("write", "fdatasync"):
        return True
    name = str(getattr(exc, "filename", ""))
    if op == "fsync" and name.endswith(LOG_SUFFIXES):
        return True
    return (isinstance(obj, walx.WalManager) and op in ("fsync", "open")
            and os.path.abspath(name) == os.path.abspath(str(d)))


def probe_poisoned(obj, where):
    before = sync_calls()
    if isinstance(obj, walx.WalManager):
        calls = [lambda: obj.append(make_batch(10**6)), obj.sync, obj.rotate]
    else:
        calls = [lambda: obj.add_record(b"x"), obj.flush, obj.sync, obj.sync_all]
    for call in calls:
        with pytest.raises(walx.WalPoisonedError) as ei:
            call()
        assert ei.value.__cause__ is not None, where
    obj.close()
    assert sync_calls() == before, f"{where}: a sync was retried after the failure"


def probe_usable(r, obj, where):
    if isinstance(obj, walx.WalManager):
        r.append(obj, 10**5)
    else:
        r.add(obj, 10**5)
        r.wsync(obj)


def verify_dir(r, where):
    """Every acknowledged (and not flushed) batch comes back, in order, and
    nothing that was never appended; a fresh manager appends to the dir."""
    batches, _, _ = walx.WalManager.recover_from_dir(r.d)
    got = [b.sequence for b in batches]
    assert got == sorted(set(got)), f"{where}: out of order or duplicated: {got}"
    for b in batches:
        assert r.attempted.get(b.sequence) == b.encode(), \
            f"{where}: batch {b.sequence} was never appended"
    lost = {s for s in r.acked if s > r.flushed} - set(got)
    assert not lost, f"{where}: acknowledged batches lost: {sorted(lost)}"
    m, rec = walx.WalManager.recover_and_open(r.d)
    try:
        assert [b.sequence for b in rec.batches] == got
        m.append(make_batch(10**7))
    finally:
        m.close()
    assert [b.sequence for b in walx.WalManager.recover_from_dir(r.d)[0]][-1] == 10**7


def run_scenario(name, d, op=None, nth=None, kind=None):
    """Run scenario `name` in a fresh `d`, with the nth call of `op` failing
    as `kind` says (None: no fault). Returns (Run, the exception or None)."""
    setup, body = SCENARIOS[name]
    os.makedirs(d)
    r = Run(str(d))
    if setup:
        r.acked.update(setup(str(d)))
        r.attempted.update(r.acked)
    if op is None:
        T.fault_arm("open", NEVER, errno.EIO)       # counts every op, fires never
    elif kind == "short_write":
        T.fault_arm(op, nth, short_write=True)
    else:
        T.fault_arm(op, nth, errno.EINTR if kind == "EINTR" else ERRORS[kind])
    failure = None
    try:
        body(r)
    except Exception as e:      # noqa: BLE001 - checked by the caller
        failure = e
    return r, failure


_baselines = {}


def baseline(name, tmp_path_factory):
    if name not in _baselines:
        d = tmp_path_factory.mktemp("baseline") / name
        r, failure = run_scenario(name, d)
        assert failure is None, failure
        counts = {op: T.fault_calls(op) for op in OPS}
        T.fault_disarm()
        assert not r.live
        _baselines[name] = (counts, snapshot(d))
        shutil.rmtree(d)
    return _baselines[name]


def check_one(name, tmp_path, op, n, kind, caplog):
    where = f"{name}: {op} call {n} fails with {kind}"
    d = tmp_path / f"{op}-{n}-{kind}"
    caplog.clear()
    r, failure = run_scenario(name, d, op, n, kind)
    try:
        assert T.fault_fired() == 1, f"{where}: the fault was not delivered"
        if kind in ("EINTR", "short_write"):
            assert failure is None, f"{where}: {failure!r}"
            return r
        err = ERRORS[kind]
        if failure is None:
            # Handled inside walx: logged, counted, no exception.
            assert r.io_errors >= 1, f"{where}: a failure vanished without a trace"
            assert any(rec.levelno >= logging.WARNING for rec in caplog.records
                       if rec.name == "walx"), f"{where}: not logged"
        else:
            assert isinstance(failure, OSError) and not isinstance(failure, walx.WalError), \
                f"{where}: {failure!r}"
            assert failure.errno == err, f"{where}: {failure!r}"
            assert failure.filename and str(failure.filename).startswith(str(d)), \
                f"{where}: the error names no file: {failure!r}"
            obj = r.target
            if obj is not None and not obj.closed:
                if poisoning(op, failure, obj, d):
                    probe_poisoned(obj, where)
                    r.live.remove(obj)
                else:
                    probe_usable(r, obj, where)
        T.fault_disarm()
        for obj in list(r.live):
            # Not r.close: closing after a failure acknowledges nothing more.
            if isinstance(obj, walx.WalManager):
                r.io_errors += obj.metrics["errors_io_total"]
            obj.close()
            r.live.remove(obj)
        verify_dir(r, where)
    finally:
        T.fault_disarm()
        for obj in r.live:
            try:
                obj.close()
            except Exception:   # noqa: BLE001 - already failing
                pass
    return r


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_call_failing_in_turn_raises_or_is_handled_and_loses_nothing(
        name, kind, tmp_path, tmp_path_factory, caplog):
    counts, files = baseline(name, tmp_path_factory)
    ops = ["write"] if kind == "short_write" else OPS
    injected = 0
    with caplog.at_level(logging.WARNING, logger="walx"):
        for op in ops:
            for n in range(1, counts[op] + 1):
                check_one(name, tmp_path, op, n, kind, caplog)
                injected += 1
                if kind in ("EINTR", "short_write"):
                    d = tmp_path / f"{op}-{n}-{kind}"
                    assert snapshot(d) == files, \
                        f"{name}: {op} call {n} with {kind} changed the files"
                shutil.rmtree(tmp_path / f"{op}-{n}-{kind}")
    assert injected >= 1
    reliability.record("faults", injected, scenario=name, kind=kind)


def test_scenarios_reach_every_op(tmp_path_factory):
    """Every failable op is reached by some scenario, so every call site is
    tested (the GC unlink, recycling renames, fallocate, ...)."""
    total = {op: 0 for op in OPS}
    for name in SCENARIOS:
        counts, _ = baseline(name, tmp_path_factory)
        for op in OPS:
            total[op] += counts[op]
    missing = [op for op in OPS if op not in ("ftruncate",) and total[op] == 0]
    assert missing == []
    assert total["write"] >= 10 and total["fdatasync"] >= 5 and total["open"] >= 10


# ---- repair ---------------------------------------------------------------------------


def torn_dir(d):
    """Logs 1 and 3 with torn tails, log 2 clean."""
    os.makedirs(d)
    for n, seqs in ((1, (1, 2, 3)), (2, (4, 5)), (3, (6, 7))):
        with walx.LogWriter(os.path.join(d, f"{n:06d}.wal")) as w:
            for s in seqs:
                w.add_record(make_batch(s).encode())
    for n in (1, 3):
        p = os.path.join(d, f"{n:06d}.wal")
        os.truncate(p, os.path.getsize(p) - 5)


def test_repair_under_every_fault(tmp_path):
    ref = tmp_path / "ref"
    torn_dir(ref)
    expected = [b.sequence for b in walx.WalManager.recover_from_dir(ref)[0]]
    assert expected == [1, 2, 4, 5, 6]
    T.fault_arm("open", NEVER, errno.EIO)
    cut = walx.repair(str(ref))
    counts = {op: T.fault_calls(op) for op in OPS}
    T.fault_disarm()
    assert len(cut) == 2
    assert counts["ftruncate"] == 2 and counts["fsync"] >= 4 and counts["open"] >= 6
    repaired = snapshot(ref)
    injected = 0
    for kind in KINDS[:4]:
        for op in OPS:
            for n in range(1, counts[op] + 1):
                where = f"repair: {op} call {n} fails with {kind}"
                d = tmp_path / f"{op}-{n}-{kind}"
                torn_dir(d)
                original = snapshot(d)
                err = errno.EINTR if kind == "EINTR" else ERRORS[kind]
                T.fault_arm(op, n, err)
                try:
                    walx.repair(str(d))
                    failure = None
                except Exception as e:      # noqa: BLE001
                    failure = e
                assert T.fault_fired() == 1, where
                T.fault_disarm()
                injected += 1
                if kind == "EINTR":
                    assert failure is None, where
                    assert snapshot(d) == repaired, where
                else:
                    assert isinstance(failure, OSError) and failure.errno == err, \
                        f"{where}: {failure!r}"
                    assert str(failure.filename).startswith(str(d)), where
                # Whatever happened, nothing valid was lost: each log is either
                # untouched or cut with its original kept beside it.
                now = snapshot(d)
                for name, data in original.items():
                    if now[name] != data:
                        assert now[name + ".broken"] == data, where
                        assert data.startswith(now[name]), where
                assert [b.sequence for b in walx.WalManager.recover_from_dir(d)[0]] == expected
                walx.repair(str(d))                 # the rerun finishes the job
                now = snapshot(d)
                # A copy made before the failure is never overwritten: the
                # rerun keeps its own (NAME.broken.1), of the same original.
                extra = {k for k in now if ".broken." in k}
                for k in extra:
                    assert now[k] == now[k.rsplit(".", 1)[0]], where
                assert {k: v for k, v in now.items() if k not in extra} == repaired, where
                assert [b.sequence for b in walx.WalManager.recover_from_dir(
                    d, mode=walx.RecoveryMode.ABSOLUTE_CONSISTENCY)[0]] == expected
                shutil.rmtree(d)
    reliability.record("faults", injected, scenario="repair")


# ---- LogReader and LogWriter ------------------------------------------------------------


def test_reader_open_failure_names_the_file(tmp_path):
    p = tmp_path / "000001.wal"
    with walx.LogWriter(p) as w:
        w.add_record(b"x")
    for kind, err in ERRORS.items():
        T.fault_arm("open", 1, err)
        with pytest.raises(OSError) as ei:
            walx.LogReader(str(p))
        assert ei.value.errno == err and ei.value.filename == str(p)
        T.fault_arm("open", 1, err)
        with pytest.raises(OSError) as ei:
            walx.WalManager.recover_from_dir(tmp_path)
        assert ei.value.errno == err and ei.value.filename == str(p)
    T.fault_arm("open", 1, errno.EINTR)
    with walx.LogReader(str(p)) as r:
        assert list(r) == [b"x"]
    assert T.fault_fired() == 1
    reliability.record("faults", 2 * len(ERRORS) + 1, scenario="reader")


@pytest.mark.parametrize("kind", sorted(ERRORS))
def test_failed_fdatasync_is_never_retried_by_the_writer(tmp_path, kind):
    p = tmp_path / "000001.wal"
    w = walx.LogWriter(p)
    try:
        w.add_record(b"durable")
        w.sync()
        w.add_record(b"in doubt")
        T.fault_arm("fdatasync", 1, ERRORS[kind])
        with pytest.raises(OSError) as ei:
            w.sync()
        first = ei.value
        assert first.errno == ERRORS[kind] and first.filename == str(p)
        assert T.fault_calls("fdatasync") == 1
        for call in (w.sync, w.sync_all, lambda: w.add_record(b"more"), w.flush):
            with pytest.raises(walx.WalPoisonedError) as ei:
                call()
            assert ei.value.__cause__ is first
        assert T.fault_calls("fdatasync") == 1 and T.fault_calls("fsync") == 0
        assert w.poisoned
    finally:
        w.close()
    assert T.fault_calls("fdatasync") == 1
    T.fault_disarm()
    with walx.LogReader(str(p)) as r:
        assert list(r)[0] == b"durable"
    reliability.record("faults", 1, scenario="writer-fdatasync")
