"""Fault injection into one WalManager call at a time (through the C I/O
layer's test hook, walx._testing): a failed sync poisons the manager until
it is reopened, a group commit's failure reaches every member, GC failures
are logged, counted and retried, a failed preallocation or open of the next
log leaves nothing behind, a failed open releases the lock, and a failed
directory fsync in rotation poisons the manager. The systematic run of
every call of every scenario is test_faults.py."""

import errno
import logging
import os
import threading

import pytest

import walx
from walx import _testing as T

import reliability
from reliability import ERRORS, sync_calls

pytestmark = pytest.mark.usefixtures("disarmed")


# ---- poisoning, one call at a time ------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(ERRORS))
def test_failed_sync_poisons_the_manager_until_reopened(wal_dir, kind, batch):
    m = walx.WalManager(wal_dir)
    try:
        m.append(batch(1))
        T.fault_arm("fdatasync", 1, ERRORS[kind])
        with pytest.raises(OSError) as ei:
            m.append(batch(2))
        assert ei.value.errno == ERRORS[kind]
        assert m.metrics["errors_io_total"] == 1
        for call in (lambda: m.append(batch(3)), m.sync, m.rotate,
                     lambda: m.append(batch(3), sync=False)):
            with pytest.raises(walx.WalPoisonedError):
                call()
        assert T.fault_calls("fdatasync") == 1 and T.fault_calls("fsync") == 0
    finally:
        m.close()
    assert T.fault_calls("fdatasync") == 1 and T.fault_calls("fsync") == 0
    T.fault_disarm()
    m, rec = walx.WalManager.recover_and_open(wal_dir)
    with m:
        assert [b.sequence for b in rec.batches][:1] == [1]
        m.append(batch(3))
    assert [b.sequence for b in walx.WalManager.recover_from_dir(wal_dir)[0]][-1] == 3
    reliability.record("faults", 1, scenario="manager-fdatasync")


@pytest.mark.parametrize("op", ["write", "fdatasync"])
@pytest.mark.parametrize("kind", sorted(ERRORS))
def test_group_commit_failure_reaches_every_member(wal_dir, op, kind):
    """8 threads append durably; one write or fdatasync fails. Every append
    either returned (and its batch is recovered) or raised the OSError (the
    group that failed) or WalPoisonedError (everything after); fdatasync is
    never called again."""
    err = ERRORS[kind]
    per_thread = 12
    outcomes = {}
    lock = threading.Lock()
    m = walx.WalManager(wal_dir)
    start = threading.Barrier(8)

    def worker(t):
        start.wait()
        for i in range(per_thread):
            # The manager assigns sequences; the key names the append.
            seq = b"%d-%d" % (t, i)
            b = walx.WriteBatch()
            b.put(seq, b"v")
            try:
                m.append(b)
                res = "ok"
            except OSError as e:
                res = ("OSError", e.errno)
            except walx.WalPoisonedError:
                res = "poisoned"
            except Exception as e:      # noqa: BLE001 - reported below
                res = repr(e)
            with lock:
                outcomes[seq] = res

    T.fault_arm(op, 6, err)
    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    try:
        for t in threads:
            t.start()
    finally:
        for t in threads:
            t.join(timeout=120)
    try:
        assert not any(t.is_alive() for t in threads)
        assert T.fault_fired() == 1
        syncs = T.fault_calls("fdatasync")
        with pytest.raises(walx.WalPoisonedError):
            m.sync()
        assert T.fault_calls("fdatasync") == syncs
    finally:
        m.close()
    assert T.fault_calls("fdatasync") == syncs
    T.fault_disarm()
    kinds = {o if isinstance(o, str) else "err" for o in outcomes.values()}
    assert kinds <= {"ok", "err", "poisoned"}, outcomes
    failed = [s for s, o in outcomes.items() if o == ("OSError", err)]
    assert failed, outcomes
    assert all(o in ("ok", "poisoned", ("OSError", err)) for o in outcomes.values())
    # Per thread: once an append failed, every later one failed too.
    for t in range(8):
        seen_fail = False
        for i in range(per_thread):
            o = outcomes[b"%d-%d" % (t, i)]
            if o != "ok":
                seen_fail = True
            else:
                assert not seen_fail, (t, outcomes)
    batches = walx.WalManager.recover_from_dir(wal_dir)[0]
    got = {next(iter(b)).key for b in batches}
    acked = {s for s, o in outcomes.items() if o == "ok"}
    assert acked <= got, sorted(acked - got)
    assert got <= set(outcomes)
    if op == "write":
        # The failed group's write never reached the file.
        assert not (got & set(failed))
    _group_sizes.append(len(failed))
    reliability.record("faults", 1, scenario=f"group-commit-{op}")


_group_sizes = []


def test_group_commit_followers_got_the_error_too():
    """Across the runs above, some failing group had several members, and
    every one of them got the OSError (not just the leader)."""
    if not _group_sizes:
        pytest.skip("run together with test_group_commit_failure_reaches_every_member")
    assert max(_group_sizes) >= 2, _group_sizes


# ---- handled failures: GC -----------------------------------------------------------------


def test_gc_unlink_failure_is_logged_counted_and_retried(wal_dir, caplog, batch):
    with walx.WalManager(wal_dir) as m:
        m.append(batch(1))
        m.rotate()
        m.append(batch(2))
        T.fault_arm("unlink", 1, errno.EIO)
        with caplog.at_level(logging.WARNING, logger="walx"):
            m.mark_flushed_seq(1)
        assert T.fault_fired() == 1
        assert (wal_dir / "000001.wal").exists()
        assert m.metrics["errors_io_total"] == 1 and m.closed_logs == [(1, 1)]
        assert any("000001.wal" in r.getMessage() for r in caplog.records)
        T.fault_disarm()
        m.mark_flushed_seq(1)                       # retried
        assert not (wal_dir / "000001.wal").exists() and m.closed_logs == []
        m.append(batch(3))                          # the manager never stopped working
    assert [b.sequence for b in walx.WalManager.recover_from_dir(wal_dir)[0]] == [2, 3]


def test_gc_logs_before_unlink_failure_raises_oserror_and_keeps_the_closed_log(wal_dir, caplog,
                                                                              batch):
    # A failed delete is never forgotten: gc_logs_before raises an OSError
    # with errno and filename (docs/api.md) and keeps the log closed, so a
    # later mark_flushed_seq deletes it.
    with walx.WalManager(wal_dir) as m:
        m.append(batch(1))
        m.rotate()
        m.append(batch(2))
        m.rotate()                                   # current: 3; closed (1, 1), (2, 2)
        T.fault_arm("unlink", 1, errno.EIO)
        with caplog.at_level(logging.WARNING, logger="walx"):
            with pytest.raises(OSError) as ei:
                m.gc_logs_before(3)
        assert T.fault_fired() == 1
        assert ei.value.errno == errno.EIO
        assert ei.value.filename == str(wal_dir / "000001.wal")
        assert "[1]" in str(ei.value)
        assert not any("retry" in r.getMessage() for r in caplog.records)
        assert (wal_dir / "000001.wal").exists() and not (wal_dir / "000002.wal").exists()
        assert m.closed_logs == [(1, 1)] and m.metrics["errors_io_total"] == 1
        T.fault_disarm()
        m.mark_flushed_seq(1)                        # the kept closed log goes now
        assert sorted(os.listdir(wal_dir)) == ["000003.wal", "LOCK"] and m.closed_logs == []


def test_gc_logs_before_untracked_file_failure_is_not_tracked(wal_dir):
    # A log file GC finds on disk but never tracked (no max sequence known)
    # is reported and left alone, not invented into closed_logs.
    (wal_dir / "000001.wal").write_bytes(b"")
    with walx.WalManager(wal_dir, 2) as m:
        T.fault_arm("unlink", 1, errno.EACCES)
        with pytest.raises(PermissionError) as ei:
            m.gc_logs_before(2)
        assert ei.value.filename == str(wal_dir / "000001.wal")
        assert m.closed_logs == [] and (wal_dir / "000001.wal").exists()
        T.fault_disarm()
        m.gc_logs_before(2)
        assert not (wal_dir / "000001.wal").exists()


# ---- creating and rotating logs ------------------------------------------------------------


@pytest.mark.parametrize("where", ["open", "rotate"])
def test_failed_preallocation_leaves_no_file(wal_dir, where, batch):
    # ENOSPC from fallocate can come after part of the space was reserved:
    # the new log is truncated and removed, not left holding it.
    if where == "open":
        T.fault_arm("fallocate", 1, errno.ENOSPC)
        with pytest.raises(OSError) as ei:
            walx.WalManager(wal_dir, preallocate=1 << 20)
        assert ei.value.errno == errno.ENOSPC
        assert ei.value.filename == str(wal_dir / "000001.wal")
        assert sorted(os.listdir(wal_dir)) == ["LOCK"]
        T.fault_disarm()
        with walx.WalManager(wal_dir, preallocate=1 << 20) as m:   # the LOCK was released
            m.append(batch(1))
        return
    with walx.WalManager(wal_dir, preallocate=1 << 20) as m:
        m.append(batch(1))
        T.fault_arm("fallocate", 1, errno.ENOSPC)
        with pytest.raises(OSError) as ei:
            m.rotate()
        assert ei.value.errno == errno.ENOSPC
        assert sorted(os.listdir(wal_dir)) == ["000001.wal", "LOCK"]
        assert m.log_number == 1
    assert [b.sequence for b in walx.WalManager.recover_from_dir(wal_dir)[0]] == [1]


@pytest.mark.parametrize("config,opts,nth", [
    ("plain", {}, 3), ("preallocate", {"preallocate": 1 << 20}, 3),
    ("recycle", {"recycle_log_files": 1}, 2)])
def test_failed_open_of_the_next_log_leaves_rotation_usable(wal_dir, config, opts, nth, batch):
    # The open of the new log's writer fails (EMFILE, transient): the old
    # log stays current and the half-made next log must not stay behind,
    # or every later rotate() refuses it as an existing non-empty log.
    with walx.WalManager(wal_dir, **opts) as m:
        m.append(batch(1))
        m.rotate()
        m.append(batch(2))
        if config == "recycle":
            m.mark_flushed_seq(1)                    # log 1 goes to the pool
            assert m.recycle_pool
        pool = list(m.recycle_pool)
        T.fault_arm("open", nth, errno.EMFILE)     # the writer's open of log 3
        with pytest.raises(OSError) as ei:
            m.rotate()
        assert T.fault_fired() == 1
        T.fault_disarm()
        assert ei.value.errno == errno.EMFILE
        assert ei.value.filename == str(wal_dir / "000003.wal")
        assert not (wal_dir / "000003.wal").exists()
        assert m.log_number == 2 and m.recycle_pool == pool
        assert m.metrics["errors_io_total"] == 1
        m.append(batch(3))
        assert m.rotate() == 2 and m.log_number == 3
        m.append(batch(4))
    assert [b.sequence for b in walx.WalManager.recover_from_dir(wal_dir)[0]] == (
        [2, 3, 4] if config == "recycle" else [1, 2, 3, 4])


def test_open_failure_releases_the_lock(wal_dir):
    for nth in (1, 2, 3):
        T.fault_arm("open", nth, errno.EIO)
        with pytest.raises(OSError):
            walx.WalManager(wal_dir)
        T.fault_disarm()
        with walx.WalManager(wal_dir):              # not locked out
            pass
        for f in os.listdir(wal_dir):
            os.unlink(wal_dir / f)


@pytest.mark.parametrize("nth,what", [(2, "fsync"), (1, "open")])
def test_failed_directory_fsync_in_rotation_poisons_the_manager(wal_dir, nth, what, batch):
    """The directory fsync after creating the next log failed (or the open of
    the directory for it): the manager is poisoned and never fsyncs again.
    Ignoring either failure would let the new log's directory entry be lost
    while appends to it were acknowledged."""
    m = walx.WalManager(wal_dir)
    try:
        m.append(batch(1))
        # fsync 1: the old log; fsync 2: the directory. open 1: the new log
        # is created with walx_create_new... so count opens from there.
        if what == "fsync":
            T.fault_arm("fsync", nth, errno.EIO)
        else:
            T.fault_arm("open", 2, errno.EIO)      # 1: create the log, 2: the directory
        with pytest.raises(OSError) as ei:
            m.rotate()
        assert T.fault_fired() == 1
        assert ei.value.filename == str(wal_dir)
        syncs = sync_calls()
        for call in (m.rotate, m.sync, lambda: m.append(batch(2))):
            with pytest.raises(walx.WalPoisonedError):
                call()
        assert sync_calls() == syncs
        assert m.metrics["errors_io_total"] >= 1
    finally:
        m.close()
    T.fault_disarm()
    assert [b.sequence for b in walx.WalManager.recover_from_dir(wal_dir)[0]] == [1]
