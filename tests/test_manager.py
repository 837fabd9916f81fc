"""WalManager: the seed's tests ported, then walx's directory behaviours."""

import logging
import os
import signal
import subprocess
import sys
import threading
import tracemalloc

import pytest

import walx
from walxtest import run_threads

RM = walx.RecoveryMode


def batch(seq, n=1, size=8, tag=b"k"):
    b = walx.WriteBatch(seq)
    for i in range(n):
        b.put(tag + str(seq + i).encode(), bytes([(seq + i) & 0xFF]) * size)
    return b


def seqs(batches):
    return [b.sequence for b in batches]


def names(d):
    return sorted(os.listdir(d))


# ---- the seed's tests, ported -------------------------------------------------

def test_open_write_recover(wal_dir):
    with walx.WalManager(wal_dir, 1) as mgr:
        b1 = walx.WriteBatch(1)
        b1.put(b"hello", b"world")
        mgr.append(b1)
        b2 = walx.WriteBatch(2)
        b2.delete(b"gone")
        mgr.append(b2)
    batches, max_seq, max_log = walx.WalManager.recover_from_dir(wal_dir)
    assert batches == [b1, b2]
    assert list(batches[1]) == [(walx.OpType.DELETE, b"gone", b"")]
    assert (max_seq, max_log) == (2, 1)


def test_rotate_creates_new_file(wal_dir):
    with walx.WalManager(wal_dir, 1) as mgr:
        mgr.append(batch(1))
        assert mgr.rotate() == 1
        assert mgr.log_number == 2
        mgr.append(batch(2))
        assert names(wal_dir) == ["000001.wal", "000002.wal", "LOCK"]
        batches, max_seq, max_log = walx.WalManager.recover_from_dir(wal_dir)
    assert batches == [batch(1), batch(2)]
    assert (max_seq, max_log) == (2, 2)


def test_recovery_stops_on_truncation(wal_dir):
    written = [batch(1 + 3 * i, n=3, size=10 * i) for i in range(10)]
    with walx.WalManager(wal_dir) as mgr:
        for b in written:
            mgr.append(b)
    path = wal_dir / "000001.wal"
    size = path.stat().st_size
    # All records are FULL records in the first block: 7-byte header + batch.
    ends = []
    off = 0
    for b in written:
        off += walx.HEADER_SIZE + len(b.encode())
        ends.append(off)
    assert ends[-1] == size < walx.BLOCK_SIZE
    cut = size // 2
    os.truncate(path, cut)
    expected = [b for b, end in zip(written, ends) if end <= cut]
    assert 0 < len(expected) < len(written)
    batches, max_seq, max_log = walx.WalManager.recover_from_dir(wal_dir)
    assert batches == expected
    assert (max_seq, max_log) == (expected[-1].last_seq, 1)
    m, rec = walx.WalManager.recover_and_open(wal_dir)
    with m:
        assert [(c.path, c.offset) for c in rec.corruptions] == \
            [(str(path), ends[len(expected) - 1])]
        assert "incomplete" in rec.corruptions[0].reason


def test_corrupt_file_does_not_block_later_files(wal_dir):
    with walx.WalManager(wal_dir, 1) as mgr:
        mgr.append(batch(1))
        mgr.rotate()
        mgr.append(batch(2))
    wal1 = wal_dir / "000001.wal"
    data = bytearray(wal1.read_bytes())
    assert len(data) > 10
    for i in range(8, min(16, len(data))):
        data[i] ^= 0xFF
    wal1.write_bytes(bytes(data))
    # The only record of file 1 fails its CRC and nothing valid follows it
    # in that file: a tail damage, dropped and recorded under the default
    # TOLERATE_CORRUPTED_TAIL; file 2 is replayed.
    batches, max_seq, max_log = walx.WalManager.recover_from_dir(wal_dir)
    assert batches == [batch(2)]
    assert (max_seq, max_log) == (2, 2)
    m, rec = walx.WalManager.recover_and_open(wal_dir)
    with m:
        assert rec.batches == [batch(2)]
        assert rec.corruptions == [walx.Corruption(str(wal1), 0, len(data),
                                                   "checksum mismatch")]
        assert m.closed_logs == [(1, 0), (2, 2)]


def test_gc_removes_old_logs(wal_dir):
    with walx.WalManager(wal_dir, 1) as mgr:
        mgr.rotate()
        mgr.rotate()
        mgr.gc_logs_before(3)
        assert [f for f in names(wal_dir) if f != "LOCK"] == ["000003.wal"]
        assert mgr.closed_logs == []
        assert mgr.metrics["files_gcd_total"] == 2


# ---- opening ------------------------------------------------------------------

def test_open_creates_directory_log_and_lock(tmp_path):
    d = tmp_path / "a" / "b"
    with walx.WalManager(d) as m:
        assert names(d) == ["000001.wal", "LOCK"]
        assert (d / "000001.wal").stat().st_size == 0
        assert m.log_number == 1 and m.dir == d
        assert m.flushed_seq == 0 and m.closed_logs == []
    assert names(d) == ["000001.wal", "LOCK"]


def test_initial_log_number(wal_dir):
    with walx.WalManager(wal_dir, 42) as m:
        assert m.log_number == 42
        m.append(batch(1))
        assert m.rotate() == 42
        assert m.log_number == 43
    assert [n for n, _ in walx.WalManager.list_wal_files(wal_dir)] == [42, 43]


def test_existing_nonempty_log_is_file_exists_error_seed_bug_w(wal_dir):
    with walx.WalManager(wal_dir, 5) as m:
        m.append(batch(1))
    before = (wal_dir / "000005.wal").read_bytes()
    with pytest.raises(FileExistsError) as ei:
        walx.WalManager(wal_dir, 5)
    assert ei.value.filename == str(wal_dir / "000005.wal")
    assert (wal_dir / "000005.wal").read_bytes() == before
    with walx.WalManager(wal_dir, 6):       # the failed open released the lock
        pass


def test_existing_empty_log_is_fine(wal_dir):
    (wal_dir / "000003.wal").write_bytes(b"")
    with walx.WalManager(wal_dir, 3) as m:
        m.append(batch(1))
    assert walx.WalManager.recover_from_dir(wal_dir) == ([batch(1)], 1, 3)


# ---- append, rotate, metrics --------------------------------------------------

def test_append_then_recover(wal_dir):
    written = [batch(1, n=2), batch(3), batch(4, n=5, size=5000)]
    with walx.WalManager(wal_dir) as m:
        for b in written:
            m.append(b)
        assert m.current_max_seq == 8
    assert walx.WalManager.recover_from_dir(wal_dir) == (written, 8, 1)


def test_rotate_records_closed_logs_with_their_max_seq(wal_dir):
    with walx.WalManager(wal_dir) as m:
        m.append(batch(1, n=3))
        m.append(batch(4, n=2))
        assert m.rotate() == 1
        assert m.log_number == 2
        assert m.closed_logs == [(1, 5)]
        assert m.rotate() == 2                   # no appends: max_seq 0
        assert m.closed_logs == [(1, 5), (2, 0)]
        m.append(batch(6))
        assert m.rotate() == 3
        assert m.closed_logs == [(1, 5), (2, 0), (3, 6)]
        assert m.log_number == 4
        assert m.metrics["rotations_total"] == 3


def test_rotate_onto_existing_nonempty_log_fails_and_keeps_current(wal_dir):
    # Seed bugs: rotate took the next number before creating the file (a
    # failed rotate skipped a number), and its FileSink::create opened in
    # append mode, so rotating onto an existing file appended at a block
    # offset the writer did not know, breaking the framing.
    with walx.WalManager(wal_dir) as m:
        m.append(batch(1))
        (wal_dir / "000002.wal").write_bytes(b"someone else's")
        with pytest.raises(FileExistsError):
            m.rotate()
        assert (m.log_number, m.closed_logs, m.metrics["rotations_total"]) == (1, [], 0)
        m.append(batch(2))                       # still usable, still log 1
        foreign = (wal_dir / "000002.wal").read_bytes()
        (wal_dir / "000002.wal").rename(wal_dir / "foreign")
        assert m.rotate() == 1 and m.log_number == 2   # the number was not used up
        m.append(batch(3))
    assert foreign == b"someone else's"
    with walx.LogReader(wal_dir / "000001.wal", codec="walx") as r:
        assert list(r) == [batch(1), batch(2)]
    assert seqs(walx.WalManager.recover_from_dir(wal_dir)[0]) == [1, 2, 3]


def test_metrics_exact_and_monotonic(wal_dir):
    snaps = []
    with walx.WalManager(wal_dir) as m:
        snaps.append(m.metrics)
        sizes = 0
        for i in range(3):
            b = batch(i + 1)
            sizes += len(b.encode())
            m.append(b)
            snaps.append(m.metrics)
        assert m.metrics["appends_total"] == 3
        assert m.metrics["syncs_total"] == 3
        assert m.metrics["bytes_total"] == sizes
        m.append(batch(4), sync=False)
        m.append(batch(5), sync=False)
        snaps.append(m.metrics)
        assert (m.metrics["appends_total"], m.metrics["syncs_total"]) == (5, 3)
        m.rotate()
        snaps.append(m.metrics)
        assert (m.metrics["rotations_total"], m.metrics["syncs_total"]) == (1, 4)
        m.sync()                               # nothing written since: no fdatasync
        snaps.append(m.metrics)
        assert m.metrics["syncs_total"] == 4
        m.append(batch(6), sync=False)
        m.sync()
        snaps.append(m.metrics)
        assert m.metrics["syncs_total"] == 5
        m.mark_flushed_seq(5)
        snaps.append(m.metrics)
        assert m.metrics["files_gcd_total"] == 1
        assert m.metrics["errors_io_total"] == 0
    keys = {"appends_total", "syncs_total", "bytes_total", "rotations_total",
            "files_gcd_total", "errors_io_total"}
    assert keys <= set(snaps[0])
    assert all(v == 0 for k, v in snaps[0].items())
    for a, b in zip(snaps, snaps[1:]):
        assert all(b[k] >= a[k] for k in keys)
    assert m.metrics == snaps[-1]                # readable after close


def test_manager_sync_false_and_explicit_sync(wal_dir):
    with walx.WalManager(wal_dir, sync=False) as m:
        m.append(batch(1))
        m.append(batch(2))
        assert m.metrics["syncs_total"] == 0
        # buffer_size=0: the bytes reached the OS already
        assert (wal_dir / "000001.wal").stat().st_size == 2 * (7 + len(batch(1).encode()))
        m.sync()
        assert m.metrics["syncs_total"] == 1
        m.append(batch(3), sync=True)            # per-call override
        assert m.metrics["syncs_total"] == 2
    assert seqs(walx.WalManager.recover_from_dir(wal_dir)[0]) == [1, 2, 3]


def test_append_sync_false_override_on_durable_manager(wal_dir):
    with walx.WalManager(wal_dir) as m:
        m.append(batch(1), sync=False)
        assert m.metrics["syncs_total"] == 0
        m.append(batch(2))
        assert m.metrics["syncs_total"] == 1


def test_buffer_size_keeps_data_in_user_space_until_sync_rotate_close(wal_dir):
    rec = 7 + len(batch(1).encode())
    log1, log2 = wal_dir / "000001.wal", wal_dir / "000002.wal"
    with walx.WalManager(wal_dir, sync=False, buffer_size=1 << 16) as m:
        m.append(batch(1))
        assert log1.stat().st_size == 0
        m.sync()
        assert log1.stat().st_size == rec
        m.append(batch(2))
        assert log1.stat().st_size == rec
        m.rotate()
        assert log1.stat().st_size == 2 * rec
        m.append(batch(3))
        assert log2.stat().st_size == 0
    assert log2.stat().st_size == rec
    assert seqs(walx.WalManager.recover_from_dir(wal_dir)[0]) == [1, 2, 3]


# ---- GC -------------------------------------------------------------------------

def _three_closed_logs(m):
    m.append(batch(1, n=3))
    m.rotate()                    # (1, 3)
    m.append(batch(4, n=3))
    m.rotate()                    # (2, 6)
    m.rotate()                    # (3, 0)
    m.append(batch(7, n=3))
    m.rotate()                    # (4, 9); current 5


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


def test_mark_flushed_seq_uses_highest_mark_ever_not_the_argument_seed_bug(wal_dir):
    with walx.WalManager(wal_dir) as m:
        m.append(batch(1, n=3))
        m.mark_flushed_seq(10)           # log 1 still current: nothing to delete
        assert names(wal_dir) == ["000001.wal", "LOCK"]
        m.rotate()                       # (1, 3)
        m.mark_flushed_seq(2)            # the seed compared with 2 and kept log 1
        assert m.flushed_seq == 10
        assert m.closed_logs == []
        assert names(wal_dir) == ["000002.wal", "LOCK"]


def test_failed_delete_is_logged_counted_kept_and_retried(wal_dir, caplog):
    with walx.WalManager(wal_dir) as m:
        m.append(batch(1))
        m.rotate()
        log1 = wal_dir / "000001.wal"
        original = log1.read_bytes()
        log1.unlink()
        log1.mkdir()                                 # unlink() now fails: EISDIR
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


def test_gc_logs_before(wal_dir):
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


def test_gc_logs_before_never_deletes_a_log_above_the_current_one(wal_dir):
    # A rotation running in another thread creates the next log before it
    # becomes current: gc_logs_before(n) with n above both must leave it, or
    # the appends that follow the rotation go to a deleted file.
    with walx.WalManager(wal_dir) as m:
        m.append(batch(1))
        m.rotate()                                   # current: 2
        (wal_dir / "000003.wal").write_bytes(b"")   # what rotate() has just made
        m.gc_logs_before(2**63)
        assert names(wal_dir) == ["000002.wal", "000003.wal", "LOCK"]


def test_metrics_count_an_append_before_it_returns(wal_dir):
    # Each thread reads the metrics right after its own append returned:
    # the append (and the appends of its group) must already be counted.
    done = []
    lag = []
    lock = threading.Lock()
    with walx.WalManager(wal_dir) as m:
        def work(t):
            for i in range(300):
                m.append(batch(1 + t * 300 + i))
                with lock:
                    done.append(1)
                    returned = len(done)
                if m.metrics["appends_total"] < returned:
                    lag.append(returned)
        run_threads(work, 8)
        assert m.metrics["appends_total"] == 2400
    assert lag == []


def test_register_closed_log(wal_dir):
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


def test_register_closed_log_refuses_a_later_log_seed_bug(wal_dir):
    # Seed bug: register_closed_log accepted any number but the current one.
    # A later number became the live log after rotate(), and the next
    # mark_flushed_seq deleted it with sequences that were never flushed.
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


def test_gc_logs_before_seed_bugs(wal_dir):
    # Seed bugs in gc_logs_before: it deleted the current log when
    # `log_number` was above it, and it left the deleted logs in
    # closed_logs (a later GC counted them again).
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
def test_gc_deletes_logs_named_without_six_digits(wal_dir, name):
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


# ---- listing and recovery -----------------------------------------------------------

def test_list_wal_files_sorted_and_filtered(tmp_path):
    # Seed bug: list_wal_files returned read_dir order (only recover_from_dir
    # sorted); API.md promises log-number order.
    d = tmp_path / "d"
    assert walx.WalManager.list_wal_files(d) == []
    d.mkdir()
    # Digits only: the seed's Rust parse also took "+5.wal"; walx does not.
    # Numbers above 2**64 - 1 cannot be log numbers (the seed's u64 parse
    # skipped them too).
    for name in ["000010.wal", "3.wal", "000001.wal", "LOCK", "x.wal.tmp", "12.log",
                 "000002.wal.broken", "abc.wal", "7.WAL", "+5.wal", "-6.wal", " 8.wal",
                 "18446744073709551616.wal", "99999999999999999999999.wal"]:
        (d / name).write_bytes(b"")
    (d / "000005.wal").mkdir()                  # not a file
    assert walx.WalManager.list_wal_files(d) == [
        (1, d / "000001.wal"), (3, d / "3.wal"), (10, d / "000010.wal")]
    assert walx.WalManager.list_wal_files(str(d)) == walx.WalManager.list_wal_files(d)
    assert walx.WalManager.recover_from_dir(d) == ([], 0, 10)


def test_largest_log_number(wal_dir):
    top = 2**64 - 1
    (wal_dir / f"{top}.wal").write_bytes(b"")
    assert walx.WalManager.list_wal_files(wal_dir) == [(top, wal_dir / f"{top}.wal")]
    assert walx.WalManager.recover_from_dir(wal_dir) == ([], 0, top)
    with pytest.raises(walx.WalError, match="largest log number"):
        walx.WalManager.recover_and_open(wal_dir)
    (wal_dir / f"{top}.wal").unlink()
    with walx.WalManager(wal_dir, top - 1) as m:    # the largest initial number
        m.append(batch(1))
        assert m.rotate() == top - 1
        assert m.log_number == top
        with pytest.raises(walx.WalError, match="largest log number"):
            m.rotate()                              # no log 0 after it
        assert m.log_number == top
        m.append(batch(2))                          # still usable
    with pytest.raises(walx.WalError, match="largest log number"):
        walx.WalManager.recover_and_open(wal_dir)
    assert seqs(walx.WalManager.recover_from_dir(wal_dir)[0]) == [1, 2]


def _three_files(d):
    with walx.WalManager(d) as m:
        for i in range(3):
            for j in range(3):
                m.append(batch(1 + 3 * i + j))
            m.rotate()
    return [batch(i) for i in range(1, 10)]


def test_recover_from_dir_returns_batches_max_seq_max_log(wal_dir):
    expected = _three_files(wal_dir)
    assert walx.WalManager.recover_from_dir(wal_dir) == (expected, 9, 4)
    assert walx.WalManager.recover_from_dir(wal_dir / "missing") == ([], 0, 0)


def test_iter_recover_is_a_lazy_iterator(wal_dir):
    expected = _three_files(wal_dir)
    it = walx.WalManager.iter_recover(wal_dir)
    assert iter(it) is it and hasattr(it, "__next__")
    assert next(it) == expected[0]
    # Replace file 3 after the first item: a lazy reader sees the new content.
    (wal_dir / "000003.wal").unlink()
    with walx.LogWriter(wal_dir / "000003.wal") as w:
        w.add_record(batch(7, tag=b"new").encode())
    assert list(it) == expected[1:6] + [batch(7, tag=b"new")]


def test_iter_recover_constant_memory(wal_dir):
    value = b"v" * 60000
    with walx.WalManager(wal_dir, sync=False) as m:
        seq = 1
        for _ in range(4):
            for _ in range(40):                 # 2.4 MB per file
                b = walx.WriteBatch(seq)
                b.put(b"k", value)
                m.append(b)
                seq += 1
            m.rotate()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        n = 0
        for b in walx.WalManager.iter_recover(wal_dir):
            assert b.sequence == n + 1
            n += 1
        lazy_peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.reset_peak()
        batches, _, _ = walx.WalManager.recover_from_dir(wal_dir)
        eager_peak = tracemalloc.get_traced_memory()[1] - base
        del batches
    finally:
        tracemalloc.stop()
    assert n == 160
    assert eager_peak > 9_000_000
    assert lazy_peak < 3_000_000


def test_recover_and_open_empty_dir_opens_log_1(tmp_path):
    m, rec = walx.WalManager.recover_and_open(tmp_path / "new")
    with m:
        assert isinstance(rec, walx.Recovery)
        assert (rec.batches, rec.max_seq, rec.max_log_number, rec.corruptions) == \
            ([], 0, 0, [])
        assert m.log_number == 1 and m.closed_logs == []
        assert names(tmp_path / "new") == ["000001.wal", "LOCK"]


def test_recover_and_open_registers_each_file_own_max_seq_not_global_seed_bug(wal_dir):
    expected = _three_files(wal_dir)           # logs 1..3 hold 1-3, 4-6, 7-9; 4 empty
    m, rec = walx.WalManager.recover_and_open(wal_dir)
    with m:
        assert (rec.batches, rec.max_seq, rec.max_log_number) == (expected, 9, 4)
        assert rec.corruptions == []
        assert m.log_number == 5
        assert m.closed_logs == [(1, 3), (2, 6), (3, 9), (4, 0)]
        m.mark_flushed_seq(3)                  # the seed registered 9 for all
        assert names(wal_dir) == ["000002.wal", "000003.wal", "000005.wal", "LOCK"]


def test_reopened_manager_keeps_appending_and_second_recovery_sees_all(wal_dir):
    expected = _three_files(wal_dir)
    m, rec = walx.WalManager.recover_and_open(wal_dir, sync=False)
    with m:
        nxt = rec.max_seq + 1
        more = [batch(nxt), batch(nxt + 1, n=2)]
        for b in more:
            m.append(b)
        assert m.metrics["syncs_total"] == 0
    m2, rec2 = walx.WalManager.recover_and_open(wal_dir)
    with m2:
        assert rec2.batches == expected + more
        assert (rec2.max_seq, rec2.max_log_number, m2.log_number) == (12, 5, 6)
        assert m2.closed_logs[-1] == (5, 12)


# ---- the directory lock -------------------------------------------------------------

CHILD = r"""
import sys, walx
try:
    m = walx.WalManager(sys.argv[1], int(sys.argv[2]))
except walx.WalLockedError:
    print("locked", flush=True)
    sys.exit(0)
print("opened", flush=True)
if len(sys.argv) > 3:
    sys.stdin.readline()        # hold the lock until killed
m.close()
"""


def _child(tmp_path, d, n, hold=False):
    args = [sys.executable, "-c", CHILD, str(d), str(n)] + (["hold"] if hold else [])
    return subprocess.Popen(args, cwd=tmp_path, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def _outcome(tmp_path, d, n):
    p = _child(tmp_path, d, n)
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 0
    return out.strip()


def test_second_manager_in_this_process_is_locked_out(wal_dir):
    with walx.WalManager(wal_dir):
        with pytest.raises(walx.WalLockedError):
            walx.WalManager(wal_dir, 2)
        with pytest.raises(walx.WalLockedError):
            walx.WalManager.recover_and_open(wal_dir)
        assert names(wal_dir) == ["000001.wal", "LOCK"]
    with walx.WalManager(wal_dir, 2):          # free after leaving `with`
        pass
    m = walx.WalManager(wal_dir, 3)
    m.close()
    with walx.WalManager(wal_dir, 4):          # free after close()
        pass


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_close_releases_the_lock_held_through_a_forked_child(wal_dir):
    # flock belongs to the open file description, which a child forked
    # while the manager was open shares: close() must unlock, not only
    # close its descriptor, or the directory stays locked until the child
    # (which runs no manager) exits.
    m = walx.WalManager(wal_dir)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                     # the child: wait, then leave
        os.close(w)
        os.read(r, 1)
        os._exit(0)
    os.close(r)
    try:
        m.close()
        with walx.WalManager(wal_dir, 2) as m2:     # not WalLockedError
            assert m2.log_number == 2
    finally:
        os.close(w)                                  # the child exits
        os.waitpid(pid, 0)


def test_lock_holds_against_another_process(tmp_path, wal_dir):
    m = walx.WalManager(wal_dir)
    try:
        assert _outcome(tmp_path, wal_dir, 2) == "locked"
    finally:
        m.close()
    assert _outcome(tmp_path, wal_dir, 3) == "opened"


def test_lock_released_when_holding_process_is_killed(tmp_path, wal_dir):
    p = _child(tmp_path, wal_dir, 1, hold=True)
    try:
        assert p.stdout.readline().strip() == "opened"
        with pytest.raises(walx.WalLockedError):
            walx.WalManager(wal_dir, 2)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
        assert p.returncode == -signal.SIGKILL
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdin.close()
        p.stdout.close()
    with walx.WalManager(wal_dir, 2) as m:
        assert m.log_number == 2


# ---- closed manager and bad input ----------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda m: m.append(batch(1)), lambda m: m.sync(), lambda m: m.rotate(),
    lambda m: m.mark_flushed_seq(1), lambda m: m.gc_logs_before(1),
    lambda m: m.register_closed_log(0, 1),
], ids=["append", "sync", "rotate", "mark_flushed_seq", "gc_logs_before",
        "register_closed_log"])
def test_closed_manager_raises_wal_closed_error(wal_dir, call):
    m = walx.WalManager(wal_dir)
    m.close()
    m.close()                                  # idempotent
    assert m.closed
    with pytest.raises(walx.WalClosedError):
        call(m)
    with pytest.raises(walx.WalClosedError):   # as LogWriter and LogReader
        with m:
            pass
    m.close()


@pytest.mark.parametrize("kwargs, exc, name", [
    ({"dir": 123}, TypeError, "dir"),
    ({"dir": ""}, ValueError, "dir"),
    ({"initial_log_number": "1"}, TypeError, "initial_log_number"),
    ({"initial_log_number": 1.0}, TypeError, "initial_log_number"),
    ({"initial_log_number": True}, TypeError, "initial_log_number"),
    ({"initial_log_number": -1}, ValueError, "initial_log_number"),
    ({"sync": 1}, TypeError, "sync"),
    ({"sync": None}, TypeError, "sync"),
    ({"buffer_size": "0"}, TypeError, "buffer_size"),
    ({"buffer_size": -1}, ValueError, "buffer_size"),
    ({"recyclable": 0}, TypeError, "recyclable"),
    ({"recycle_log_files": -1}, ValueError, "recycle_log_files"),
    ({"preallocate": -1}, ValueError, "preallocate"),
])
def test_bad_constructor_arguments(wal_dir, kwargs, exc, name):
    kwargs = dict(kwargs)
    d = kwargs.pop("dir", wal_dir)
    with pytest.raises(exc, match=name):
        walx.WalManager(d, **kwargs)
    assert os.listdir(wal_dir) == []
    if name != "initial_log_number":           # not an option of recover_and_open
        with pytest.raises(exc, match=name):
            walx.WalManager.recover_and_open(d, **kwargs)
        assert os.listdir(wal_dir) == []


def test_bad_method_arguments(wal_dir):
    with walx.WalManager(wal_dir) as m:
        for bad in (b"\x00" * 12, batch(1).encode(), None, "batch"):
            with pytest.raises(TypeError, match="batch"):
                m.append(bad)
        with pytest.raises(TypeError, match="sync"):
            m.append(batch(1), sync=1)
        with pytest.raises(ValueError, match="seq"):
            m.mark_flushed_seq(-1)
        with pytest.raises(TypeError, match="seq"):
            m.mark_flushed_seq("1")
        with pytest.raises(TypeError, match="log_number"):
            m.gc_logs_before(None)
        with pytest.raises(ValueError, match="log_number"):
            m.gc_logs_before(-3)
        assert m.metrics["appends_total"] == 0
    with pytest.raises(TypeError, match="dir"):
        walx.WalManager.list_wal_files(None)
    for fn in (walx.WalManager.recover_from_dir, walx.WalManager.iter_recover,
               walx.WalManager.recover_and_open):
        with pytest.raises(TypeError, match="mode"):
            fn(wal_dir, mode="POINT_IN_TIME")
        with pytest.raises(TypeError, match="mode"):
            fn(wal_dir, mode=2)
    with pytest.raises(TypeError, match="bogus"):
        walx.WalManager.recover_and_open(wal_dir, bogus=1)
