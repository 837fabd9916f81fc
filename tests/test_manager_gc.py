"""WalManager's retired logs: GC by mark_flushed_seq and gc_logs_before,
register_closed_log, and the recycle pool (recycle_log_files)."""

import logging

import pytest

import walx
import walxhelpers as wh
from walxhelpers import append_batches as fill, names, recovered_seqs, seqs


# ---- GC -------------------------------------------------------------------------


def _three_closed_logs(m):
    m.append(wh.make_batch(1, n=3))
    m.rotate()                    # (1, 3)
    m.append(wh.make_batch(4, n=3))
    m.rotate()                    # (2, 6)
    m.rotate()                    # (3, 0)
    m.append(wh.make_batch(7, n=3))
    m.rotate()                    # (4, 9); current 5


def test_gc_logs_before_removes_the_closed_logs_below_it(wal_dir):
    with walx.WalManager(wal_dir, 1) as mgr:
        mgr.rotate()
        mgr.rotate()
        mgr.gc_logs_before(3)
        assert [f for f in names(wal_dir) if f != "LOCK"] == ["000003.wal"]
        assert mgr.closed_logs == []
        assert mgr.metrics["files_gcd_total"] == 2


def test_mark_flushed_seq_deletes_exactly_the_covered_logs(wal_dir):
    with walx.WalManager(wal_dir) as m:
        _three_closed_logs(m)
        assert m.closed_logs == [(1, 3), (2, 6), (3, 0), (4, 9)]
        m.mark_flushed_seq(5)
        assert m.flushed_seq == 5
        assert m.closed_logs == [(2, 6), (4, 9)]
        assert names(wal_dir) == ["000002.wal", "000004.wal", "000005.wal", "LOCK"]
        m.mark_flushed_seq(6)
        assert m.closed_logs == [(4, 9)]
        assert names(wal_dir) == ["000004.wal", "000005.wal", "LOCK"]
        assert m.metrics["files_gcd_total"] == 3


def test_mark_flushed_seq_collects_by_the_highest_mark_ever_given(wal_dir, batch):
    with walx.WalManager(wal_dir) as m:
        m.append(batch(1, n=3))
        m.mark_flushed_seq(10)           # log 1 still current: nothing to delete
        assert names(wal_dir) == ["000001.wal", "LOCK"]
        m.rotate()                       # (1, 3)
        m.mark_flushed_seq(2)            # a lower mark: log 1 still goes, by the mark 10
        assert m.flushed_seq == 10
        assert m.closed_logs == []
        assert names(wal_dir) == ["000002.wal", "LOCK"]


def test_failed_delete_is_logged_counted_kept_and_retried(wal_dir, caplog, batch):
    with walx.WalManager(wal_dir) as m:
        m.append(batch(1))
        m.rotate()
        log1 = wal_dir / "000001.wal"
        original = log1.read_bytes()
        log1.unlink()
        log1.mkdir()                                 # so that unlink() fails: EISDIR
        (log1 / "obstacle").write_bytes(b"x")
        with caplog.at_level(logging.WARNING, logger="walx"):
            m.mark_flushed_seq(1)
        assert m.closed_logs == [(1, 1)]
        assert m.metrics["errors_io_total"] == 1
        assert m.metrics["files_gcd_total"] == 0
        warnings = [r for r in caplog.records if r.name == "walx"
                    and r.levelno == logging.WARNING and "000001.wal" in r.getMessage()]
        assert len(warnings) == 1
        (log1 / "obstacle").unlink()
        log1.rmdir()
        log1.write_bytes(original)
        m.mark_flushed_seq(1)
        assert not log1.exists()
        assert m.closed_logs == []
        assert m.metrics["files_gcd_total"] == 1
        assert m.metrics["errors_io_total"] == 1


def test_already_deleted_log_counts_as_deleted(wal_dir):
    with walx.WalManager(wal_dir) as m:
        m.rotate()
        (wal_dir / "000001.wal").unlink()
        m.mark_flushed_seq(0)
        assert m.closed_logs == []
        assert m.metrics["files_gcd_total"] == 1
        assert m.metrics["errors_io_total"] == 0


def test_gc_logs_before_deletes_closed_logs_below_it_never_the_current(wal_dir, batch):
    with walx.WalManager(wal_dir) as m:
        for i in range(3):
            m.append(batch(i + 1))
            m.rotate()                       # current: 4
        m.gc_logs_before(2)
        assert names(wal_dir) == ["000002.wal", "000003.wal", "000004.wal", "LOCK"]
        assert m.closed_logs == [(2, 2), (3, 3)]
        m.gc_logs_before(1000)               # never the current log
        assert names(wal_dir) == ["000004.wal", "LOCK"]
        assert m.closed_logs == []
        assert m.metrics["files_gcd_total"] == 3
        m.append(batch(9))
    assert walx.WalManager.recover_from_dir(wal_dir) == ([batch(9)], 9, 4)


def test_gc_logs_before_never_deletes_a_log_above_the_current_one(wal_dir, batch):
    # A rotation running in another thread creates the next log before it
    # becomes current: gc_logs_before(n) with n above both must leave it, or
    # the appends that follow the rotation go to a deleted file.
    with walx.WalManager(wal_dir) as m:
        m.append(batch(1))
        m.rotate()                                   # current: 2
        (wal_dir / "000003.wal").write_bytes(b"")   # what rotate() has just made
        m.gc_logs_before(2**63)
        assert names(wal_dir) == ["000002.wal", "000003.wal", "LOCK"]


def test_gc_logs_before_above_the_current_log_keeps_it_and_forgets_what_it_deleted(wal_dir, batch):
    # gc_logs_before(n) with n above the current log keeps the current log,
    # and drops the deleted logs from closed_logs (or a later GC would
    # count them again).
    with walx.WalManager(wal_dir) as m:
        m.append(batch(1))
        m.rotate()                                  # current: 2
        m.append(batch(2))
        m.gc_logs_before(10)
        assert names(wal_dir) == ["000002.wal", "LOCK"]
        assert m.closed_logs == [] and m.metrics["files_gcd_total"] == 1
        m.mark_flushed_seq(10)
        assert m.metrics["files_gcd_total"] == 1
    assert seqs(walx.WalManager.recover_from_dir(wal_dir)[0]) == [2]


@pytest.mark.parametrize("name", ["7.wal", "0000007.wal"])
def test_gc_deletes_logs_named_without_six_digits(wal_dir, name, batch):
    # Recovery reads any <digits>.wal name; GC must delete that file, not
    # look for 000007.wal, count it deleted and leave the flushed log to be
    # replayed again.
    with walx.LogWriter(wal_dir / name, log_number=7) as w:
        w.add_record(batch(1).encode())
    m, rec = walx.WalManager.recover_and_open(wal_dir)
    with m:
        assert seqs(rec.batches) == [1] and m.closed_logs == [(7, 1)]
        m.append(batch(2))
        m.mark_flushed_seq(1)
        assert names(wal_dir) == ["000008.wal", "LOCK"]
        assert m.metrics["files_gcd_total"] == 1 and m.closed_logs == []
    with walx.LogWriter(wal_dir / name, log_number=7) as w:
        w.add_record(batch(1).encode())
    with walx.WalManager(wal_dir, 9) as m:
        m.gc_logs_before(9)
        assert names(wal_dir) == ["000009.wal", "LOCK"]
    assert seqs(walx.WalManager.recover_from_dir(wal_dir)[0]) == []


def test_register_closed_log_makes_a_log_collectable_and_checks_its_arguments(wal_dir):
    (wal_dir / "000050.wal").write_bytes(b"")
    with walx.WalManager(wal_dir, 51) as m:
        m.register_closed_log(50, 10)
        assert m.closed_logs == [(50, 10)]
        m.mark_flushed_seq(9)
        assert (wal_dir / "000050.wal").exists()
        m.mark_flushed_seq(10)
        assert not (wal_dir / "000050.wal").exists()
        assert m.closed_logs == []
        with pytest.raises(ValueError, match="log_number"):
            m.register_closed_log(51, 0)            # the log being written
        with pytest.raises(ValueError, match="log_number 52 is not a closed log"):
            m.register_closed_log(52, 0)            # a later log: see below
        assert m.closed_logs == []
        with pytest.raises(TypeError, match="max_seq"):
            m.register_closed_log(1, "1")
        with pytest.raises(ValueError, match="log_number"):
            m.register_closed_log(-1, 1)


def test_register_closed_log_refuses_a_later_log(wal_dir, batch):
    # A later number becomes the live log after rotate(): registered as
    # closed, the next mark_flushed_seq would delete it with sequences that
    # were never flushed.
    with walx.WalManager(wal_dir) as m:
        m.append(batch(1))
        with pytest.raises(ValueError, match="log_number 2 is not a closed log"):
            m.register_closed_log(2, 0)
        m.rotate()                                  # log 2 is live now
        m.append(batch(2))
        m.append(batch(3))
        m.mark_flushed_seq(1)
        assert names(wal_dir) == ["000002.wal", "LOCK"]
    assert seqs(walx.WalManager.recover_from_dir(wal_dir)[0]) == [2, 3]


# ---- recycling ---------------------------------------------------------------------


def test_recycle_log_files_forces_the_recyclable_header(wal_dir, batch):
    with walx.WalManager(wal_dir, recycle_log_files=1) as m:
        m.append(batch(1))
    raw = (wal_dir / "000001.wal").read_bytes()
    assert raw[6] == walx.RecordType.RECYCLABLE_FULL
    assert int.from_bytes(raw[7:11], "little") == 1


def test_gc_keeps_a_recyclable_log_for_reuse_instead_of_deleting_it(wal_dir):
    with walx.WalManager(wal_dir, recycle_log_files=1) as m:
        fill(m, 1, 50)
        m.rotate()
        m.mark_flushed_seq(50)
        assert names(wal_dir) == ["000001.wal.recycle", "000002.wal", "LOCK"]
        assert m.recycle_pool == [str(wal_dir / "000001.wal.recycle")]
        assert m.metrics["files_gcd_total"] == 1
        assert walx.WalManager.list_wal_files(wal_dir) == [(2, wal_dir / "000002.wal")]


def test_rotation_reuses_a_recycled_file_and_recovery_sees_only_the_new_log(wal_dir):
    with walx.WalManager(wal_dir, recycle_log_files=1) as m:
        fill(m, 1, 200)                       # log 1: 200 batches
        m.rotate()
        m.mark_flushed_seq(200)               # log 1 -> recycle pool
        old_size = (wal_dir / "000001.wal.recycle").stat().st_size
        fill(m, 201, 5)
        m.rotate()                            # log 3 = the recycled file
        assert m.metrics["files_recycled_total"] == 1
        assert m.recycle_pool == []
        assert names(wal_dir) == ["000002.wal", "000003.wal", "LOCK"]
        fill(m, 206, 3)                       # overwrites the start of the old log 1
    assert (wal_dir / "000003.wal").stat().st_size == old_size   # stale bytes remain
    raw = (wal_dir / "000003.wal").read_bytes()
    assert int.from_bytes(raw[7:11], "little") == 3
    for mode in walx.RecoveryMode:
        assert recovered_seqs(wal_dir, mode) == list(range(201, 209))
    with walx.LogReader(wal_dir / "000003.wal", mode=walx.RecoveryMode.ABSOLUTE_CONSISTENCY) as r:
        assert len(list(r)) == 3
        assert r.corruptions == []
        assert not r.clean_end                # the old generation follows


def test_a_recycled_log_that_received_nothing_recovers_as_empty(wal_dir):
    with walx.WalManager(wal_dir, recycle_log_files=1) as m:
        fill(m, 1, 100)
        m.rotate()
        m.mark_flushed_seq(100)
        m.rotate()                            # log 3 recycled from log 1, no appends
    m2, rec = walx.WalManager.recover_and_open(wal_dir, recycle_log_files=1)
    with m2:
        assert rec.batches == []
        assert rec.corruptions == []
        assert m2.log_number == 4


def test_only_recyclable_format_logs_are_recycled(wal_dir):
    with walx.WalManager(wal_dir) as m:               # legacy headers
        fill(m, 1, 10)
    m, rec = walx.WalManager.recover_and_open(wal_dir, recycle_log_files=2)
    with m:
        assert m.closed_logs == [(1, 10)]
        m.mark_flushed_seq(10)
        assert m.recycle_pool == []
        assert names(wal_dir) == ["000002.wal", "LOCK"]


def test_the_recycle_pool_is_bounded(wal_dir):
    with walx.WalManager(wal_dir, recycle_log_files=2) as m:
        seq = 1
        for _ in range(4):
            seq = fill(m, seq, 3)
            m.rotate()
        m.mark_flushed_seq(seq)
        assert len(m.recycle_pool) == 2
        assert m.metrics["files_gcd_total"] == 4
    assert names(wal_dir) == ["000001.wal.recycle", "000002.wal.recycle", "000005.wal", "LOCK"]


def test_a_new_manager_adopts_recycle_files_left_by_the_last_one(wal_dir, batch):
    with walx.WalManager(wal_dir, recycle_log_files=1) as m:
        fill(m, 1, 3)
        m.rotate()
        m.mark_flushed_seq(3)
    m, rec = walx.WalManager.recover_and_open(wal_dir, recycle_log_files=1)
    with m:
        assert m.metrics["files_recycled_total"] == 1   # log 3 is the old log 1
        assert m.recycle_pool == []
        assert m.log_number == 3
        assert rec.batches == []             # log 2 was empty; log 1 is not a log now
        m.append(batch(4))
    assert names(wal_dir) == ["000002.wal", "000003.wal", "LOCK"]
    assert recovered_seqs(wal_dir) == [4]


def test_recycle_files_beyond_the_limit_are_deleted_at_open(wal_dir, batch):
    for n in (7, 8, 9):
        (wal_dir / f"00000{n}.wal.recycle").write_bytes(b"\x00" * 10)
    with walx.WalManager(wal_dir, 20, recycle_log_files=1) as m:
        assert m.metrics["files_recycled_total"] == 1   # log 20 is the old 7
        m.append(batch(1))
    assert names(wal_dir) == ["000020.wal", "LOCK"]
    assert recovered_seqs(wal_dir) == [1]


def test_rotation_never_recycles_onto_an_existing_nonempty_log(wal_dir, batch):
    with walx.WalManager(wal_dir, recycle_log_files=1) as m:
        fill(m, 1, 3)
        m.rotate()
        m.mark_flushed_seq(3)
        (wal_dir / "000003.wal").write_bytes(b"precious")
        with pytest.raises(FileExistsError):
            m.rotate()
        assert m.recycle_pool == [str(wal_dir / "000001.wal.recycle")]
        assert (wal_dir / "000003.wal").read_bytes() == b"precious"
        m.append(batch(4))
        assert m.log_number == 2
