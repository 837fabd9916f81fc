"""Log recycling and preallocation (WalManager recycle_log_files, preallocate;
LogWriter overwrite=True)."""

import os

import pytest

import walx


def batch(seq, value=b"v" * 100):
    b = walx.WriteBatch(seq)
    b.put(b"key%d" % seq, value)
    return b


def fill(m, first, count, value=b"v" * 100):
    for seq in range(first, first + count):
        m.append(batch(seq, value))
    return first + count


def names(d):
    return sorted(os.listdir(d))


def recovered_seqs(d, mode=walx.RecoveryMode.ABSOLUTE_CONSISTENCY):
    batches, max_seq, max_log = walx.WalManager.recover_from_dir(d, mode=mode)
    return [b.sequence for b in batches]


def test_recycle_log_files_forces_the_recyclable_header(wal_dir):
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


def test_a_new_manager_adopts_recycle_files_left_by_the_last_one(wal_dir):
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


def test_recycle_files_beyond_the_limit_are_deleted_at_open(wal_dir):
    for n in (7, 8, 9):
        (wal_dir / f"00000{n}.wal.recycle").write_bytes(b"\x00" * 10)
    with walx.WalManager(wal_dir, 20, recycle_log_files=1) as m:
        assert m.metrics["files_recycled_total"] == 1   # log 20 is the old 7
        m.append(batch(1))
    assert names(wal_dir) == ["000020.wal", "LOCK"]
    assert recovered_seqs(wal_dir) == [1]


def test_rotation_never_recycles_onto_an_existing_nonempty_log(wal_dir):
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


@pytest.mark.parametrize("recyclable", [False, True], ids=["legacy", "recyclable"])
def test_preallocated_logs_have_their_size_reserved_and_read_back_exactly(wal_dir, recyclable):
    size = 1 << 20
    with walx.WalManager(wal_dir, preallocate=size, recyclable=recyclable) as m:
        assert (wal_dir / "000001.wal").stat().st_size == size
        fill(m, 1, 20)
        assert (wal_dir / "000001.wal").stat().st_size == size
        m.rotate()
        assert (wal_dir / "000002.wal").stat().st_size == size
        fill(m, 21, 5)
    for mode in walx.RecoveryMode:
        assert recovered_seqs(wal_dir, mode) == list(range(1, 26))
    with walx.LogReader(wal_dir / "000001.wal") as r:
        assert len(list(r)) == 20
        assert r.corruptions == []


def test_a_preallocated_log_can_outgrow_its_reservation(wal_dir):
    with walx.WalManager(wal_dir, preallocate=4096) as m:
        fill(m, 1, 100, value=b"x" * 1000)
    assert (wal_dir / "000001.wal").stat().st_size > 100_000
    assert recovered_seqs(wal_dir) == list(range(1, 101))


def test_a_torn_write_into_a_preallocated_log_is_a_dropped_tail(wal_dir):
    with walx.WalManager(wal_dir, preallocate=1 << 16) as m:
        fill(m, 1, 5)
    raw = bytearray((wal_dir / "000001.wal").read_bytes())
    with walx.LogReader(bytes(raw)) as r:
        list(r)
        end = r.end_offset
    raw[end - 20:end] = bytes(20)            # the last record's end never reached the disk
    (wal_dir / "000001.wal").write_bytes(bytes(raw))
    batches, _, _ = walx.WalManager.recover_from_dir(wal_dir)
    assert [b.sequence for b in batches] == [1, 2, 3, 4]


