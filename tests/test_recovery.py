"""Recovery across a directory of logs (recover_from_dir, iter_recover,
recover_and_open) in every RecoveryMode: listing the logs, torn tails in the
last or a middle log, damage in the middle of a log, records whose batch
does not decode, empty records, and what recover_and_open sets aside.
Within one log, damage is test_reader_damage.py."""

import os
import shutil
import struct
import tracemalloc

import pytest

import walx
import walx._walx
import walxhelpers as wh
import walxtest as wt
from walxhelpers import log_path, names

RM = walx.RecoveryMode
ALL_MODES = list(RM)

TOL, ABS, PIT, SKIP = (RM.TOLERATE_CORRUPTED_TAIL, RM.ABSOLUTE_CONSISTENCY,
                       RM.POINT_IN_TIME, RM.SKIP_ANY_CORRUPTED)


PIT_DROPPED = "dropped: follows earlier damage (POINT_IN_TIME)"

_copies = iter(range(10**6))


def recover(d, mode):
    """Recover `d` in `mode` three ways and check they agree. Returns
    (sequences, corruptions as (file name, offset, size, reason))."""
    batches, max_seq, max_log = walx.WalManager.recover_from_dir(d, mode=mode)
    assert list(walx.WalManager.iter_recover(d, mode=mode)) == batches
    copy = d.parent / f"copy{next(_copies)}"
    shutil.copytree(d, copy)
    m, rec = walx.WalManager.recover_and_open(copy, mode=mode)
    m.close()
    assert (rec.batches, rec.max_seq, rec.max_log_number) == (batches, max_seq, max_log)
    assert max_seq == max((b.last_seq for b in batches), default=0)
    corr = [(os.path.basename(c.path), c.offset, c.size, c.reason) for c in rec.corruptions]
    for c in rec.corruptions:
        assert os.path.dirname(c.path) == str(copy)
    return [b.sequence for b in batches], corr


def recover_raises(d, mode):
    """Every entry point raises CorruptionError; the dir is left as it was."""
    before = sorted(set(os.listdir(d)) - {"LOCK"})
    with pytest.raises(walx.CorruptionError) as e1:
        walx.WalManager.recover_from_dir(d, mode=mode)
    with pytest.raises(walx.CorruptionError):
        list(walx.WalManager.iter_recover(d, mode=mode))
    with pytest.raises(walx.CorruptionError):
        walx.WalManager.recover_and_open(d, mode=mode)
    assert sorted(set(os.listdir(d)) - {"LOCK"}) == before   # no new log was opened
    with walx.WalManager(d, 999):                    # and the lock was released
        pass
    os.unlink(log_path(d, 999))
    return e1.value


def manager_files(d, groups):
    """groups: a list of lists of batches, one list per log (rotating between)."""
    with walx.WalManager(d) as m:
        for i, g in enumerate(groups):
            if i:
                m.rotate()
            for b in g:
                m.append(b)


def spans_of(path):
    with walx.LogReader(path) as r:
        out = []
        for _ in r:
            out.append((r.last_record_offset, r.end_offset))
    return out


def _three_files(d):
    with walx.WalManager(d) as m:
        for i in range(3):
            for j in range(3):
                m.append(wh.make_batch(1 + 3 * i + j))
            m.rotate()
    return [wh.make_batch(i) for i in range(1, 10)]


# ---- listing and replaying ------------------------------------------------------------


def test_list_wal_files_lists_digit_named_logs_in_log_number_order(tmp_path):
    # Log-number order (docs/api.md), not the order of the directory.
    d = tmp_path / "d"
    assert walx.WalManager.list_wal_files(d) == []
    d.mkdir()
    # Digits only ("+5.wal" is not a log); numbers above 2**64 - 1 cannot
    # be log numbers.
    for name in ["000010.wal", "3.wal", "000001.wal", "LOCK", "x.wal.tmp", "12.log",
                 "000002.wal.broken", "abc.wal", "7.WAL", "+5.wal", "-6.wal", " 8.wal",
                 "18446744073709551616.wal", "99999999999999999999999.wal"]:
        (d / name).write_bytes(b"")
    (d / "000005.wal").mkdir()                  # not a file
    assert walx.WalManager.list_wal_files(d) == [
        (1, d / "000001.wal"), (3, d / "3.wal"), (10, d / "000010.wal")]
    assert walx.WalManager.list_wal_files(str(d)) == walx.WalManager.list_wal_files(d)
    assert walx.WalManager.recover_from_dir(d) == ([], 0, 10)


def test_recover_from_dir_returns_batches_max_seq_max_log(wal_dir):
    expected = _three_files(wal_dir)
    assert walx.WalManager.recover_from_dir(wal_dir) == (expected, 9, 4)
    assert walx.WalManager.recover_from_dir(wal_dir / "missing") == ([], 0, 0)


def test_iter_recover_is_a_lazy_iterator(wal_dir, batch):
    expected = _three_files(wal_dir)
    it = walx.WalManager.iter_recover(wal_dir)
    assert iter(it) is it and hasattr(it, "__next__")
    assert next(it) == expected[0]
    # Replace file 3 after the first item: a lazy reader sees the new content.
    (wal_dir / "000003.wal").unlink()
    with walx.LogWriter(wal_dir / "000003.wal") as w:
        w.add_record(batch(7, tag=b"new").encode())
    assert list(it) == expected[1:6] + [batch(7, tag=b"new")]


def test_iter_recover_holds_one_log_at_a_time_in_memory(wal_dir):
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


def test_recover_and_open_registers_each_log_with_its_own_max_seq(wal_dir):
    expected = _three_files(wal_dir)           # logs 1..3 hold 1-3, 4-6, 7-9; 4 empty
    m, rec = walx.WalManager.recover_and_open(wal_dir)
    with m:
        assert (rec.batches, rec.max_seq, rec.max_log_number) == (expected, 9, 4)
        assert rec.corruptions == []
        assert m.log_number == 5
        assert m.closed_logs == [(1, 3), (2, 6), (3, 9), (4, 0)]
        m.mark_flushed_seq(3)                  # log 1 only: 9 for all would keep it
        assert names(wal_dir) == ["000002.wal", "000003.wal", "000005.wal", "LOCK"]


def test_reopened_manager_keeps_appending_and_second_recovery_sees_all(wal_dir, batch):
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


# ---- a torn or damaged last record -----------------------------------------------------


def test_recovery_stops_at_a_truncated_record_and_reports_it(wal_dir, batch):
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


def test_damaged_only_record_of_a_log_does_not_block_later_logs(wal_dir, batch):
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


# ---- (a) torn tail in the last file only ------------------------------------------


def test_torn_tail_in_the_last_log_is_dropped_and_reported(wal_dir, batch):
    manager_files(wal_dir, [[batch(1), batch(2), batch(3)], [batch(4), batch(5), batch(6)],
                            [batch(7), batch(8), batch(9)]])
    p3 = log_path(wal_dir, 3)
    start9 = spans_of(p3)[-1][0]
    size = p3.stat().st_size
    os.truncate(p3, size - 5)
    expect = ("000003.wal", start9, size - 5 - start9, "incomplete: truncated record payload")
    for mode in (TOL, PIT, SKIP):
        assert recover(wal_dir, mode) == (list(range(1, 9)), [expect]), mode
    e = recover_raises(wal_dir, ABS)
    assert (e.path, e.offset) == (str(p3), start9)


# ---- (b) torn tail in a middle file, later files continue -----------------------


def test_torn_tail_in_middle_file_then_reopen(wal_dir, batch):
    manager_files(wal_dir, [[batch(1), batch(2), batch(3)], [batch(4), batch(5), batch(6)]])
    p2 = log_path(wal_dir, 2)
    start6 = spans_of(p2)[-1][0]
    os.truncate(p2, start6 + 3)                      # the crash: batch 6 torn
    torn = p2.read_bytes()
    m, rec = walx.WalManager.recover_and_open(wal_dir)
    with m:
        assert m.log_number == 3 and rec.max_seq == 5
        assert rec.corruptions == [walx.Corruption(str(p2), start6, 3,
                                                   "incomplete: truncated record header")]
        # The dropped tail leaves the log set; the original is kept.
        assert rec.quarantined == [str(p2) + ".broken"]
        assert p2.read_bytes() == torn[:start6]
        assert (wal_dir / "000002.wal.broken").read_bytes() == torn
        for s in (6, 7, 8):                          # continues from seq 5
            m.append(batch(s, tag=b"new"))
    for mode in walx.RecoveryMode:                   # even ABSOLUTE: nothing is damaged now
        assert recover(wal_dir, mode) == (list(range(1, 9)), []), mode


def test_recover_from_dir_changes_no_file(wal_dir, batch):
    manager_files(wal_dir, [[batch(1), batch(2), batch(3)]])
    p1 = log_path(wal_dir, 1)
    os.truncate(p1, p1.stat().st_size - 2)
    before = {f.name: f.read_bytes() for f in wal_dir.iterdir()}
    for mode in (TOL, PIT, SKIP):
        walx.WalManager.recover_from_dir(wal_dir, mode=mode)
        list(walx.WalManager.iter_recover(wal_dir, mode=mode))
    assert {f.name: f.read_bytes() for f in wal_dir.iterdir()} == before


def test_point_in_time_resumes_only_at_the_continuing_file(wal_dir, batch, write_log):
    write_log(log_path(wal_dir, 1), [batch(1), batch(2), batch(3)])
    spans = write_log(log_path(wal_dir, 2), [batch(4), batch(5), batch(6)])
    os.truncate(log_path(wal_dir, 2), spans[2][1] - 1)
    write_log(log_path(wal_dir, 3), [batch(10), batch(11)])    # not the continuation of 5
    write_log(log_path(wal_dir, 4), [batch(6, tag=b"new"), batch(7)])
    write_log(log_path(wal_dir, 5), [batch(8)])
    torn = ("000002.wal", spans[2][0], spans[2][1] - 1 - spans[2][0],
            "incomplete: truncated record payload")
    seqs, corr = recover(wal_dir, PIT)
    assert seqs == [1, 2, 3, 4, 5, 6, 7, 8]
    assert corr[0] == torn
    assert [c[:3] for c in corr[1:]] == [("000003.wal", 0, log_path(wal_dir, 3).stat().st_size)]
    assert "does not continue" in corr[1][3]
    for mode in (TOL, SKIP):                         # per file: every file replayed
        assert recover(wal_dir, mode) == ([1, 2, 3, 4, 5, 10, 11, 6, 7, 8], [torn])
    recover_raises(wal_dir, ABS)


def test_point_in_time_nothing_replayed_nothing_resumes(wal_dir, batch, write_log):
    write_log(log_path(wal_dir, 1), [batch(1)])
    p1 = log_path(wal_dir, 1)
    data = bytearray(p1.read_bytes())
    data[10] ^= 1                                    # its only record fails its CRC
    p1.write_bytes(bytes(data))
    write_log(log_path(wal_dir, 2), [batch(1), batch(2)])
    seqs, corr = recover(wal_dir, PIT)
    assert seqs == []
    assert [(c[0], c[1]) for c in corr] == [("000001.wal", 0), ("000002.wal", 0)]
    assert corr[0][3] == "checksum mismatch"
    assert recover(wal_dir, TOL) == ([1, 2], [("000001.wal", 0, len(data), "checksum mismatch")])


# ---- (c) mid-file corruption: a valid batch follows the damage in the same file --


def _mid_file_damage(d):
    wh.write_log(log_path(d, 1), [wh.make_batch(1), wh.make_batch(2), wh.make_batch(3)])
    big = wh.make_batch(5, size=40000)               # FIRST in block 0, LAST in block 1
    spans = wh.write_log(log_path(d, 2),
                         [wh.make_batch(4), big, wh.make_batch(6), wh.make_batch(7)])
    assert spans[1][1] > walx.BLOCK_SIZE > spans[1][0]
    p2 = log_path(d, 2)
    data = bytearray(p2.read_bytes())
    data[spans[1][0] + 100] ^= 0x40                  # inside batch 5's first fragment
    p2.write_bytes(bytes(data))
    # written before the damage appeared
    wh.write_log(log_path(d, 3), [wh.make_batch(8), wh.make_batch(9)])
    return p2, spans


def test_mid_file_corruption_raises_under_tolerate(wal_dir):
    p2, spans = _mid_file_damage(wal_dir)
    e = recover_raises(wal_dir, TOL)
    assert (e.path, e.offset) == (str(p2), spans[1][0])
    assert "checksum" in e.reason
    assert str(p2) in str(e)


def test_mid_file_corruption_skip_any_keeps_valid_batches(wal_dir):
    p2, spans = _mid_file_damage(wal_dir)
    seqs, corr = recover(wal_dir, SKIP)
    assert seqs == [1, 2, 3, 4, 6, 7, 8, 9]
    assert corr == [("000002.wal", spans[1][0], spans[1][1] - spans[1][0],
                     "checksum mismatch")]


def test_mid_file_corruption_point_in_time_stops_and_reports(wal_dir):
    p2, spans = _mid_file_damage(wal_dir)
    seqs, corr = recover(wal_dir, PIT)
    assert seqs == [1, 2, 3, 4]
    size2 = p2.stat().st_size
    assert corr[:2] == [("000002.wal", spans[1][0], spans[1][1] - spans[1][0],
                         "checksum mismatch"),
                        ("000002.wal", spans[2][0], size2 - spans[2][0], PIT_DROPPED)]
    assert corr[2][:3] == ("000003.wal", 0, log_path(wal_dir, 3).stat().st_size)
    assert len(corr) == 3


def test_mid_file_corruption_absolute_raises(wal_dir):
    p2, spans = _mid_file_damage(wal_dir)
    e = recover_raises(wal_dir, ABS)
    assert (e.path, e.offset) == (str(p2), spans[1][0])


# ---- (d) a record with a good CRC whose batch does not decode --------------------

BAD_BATCH = struct.pack("<QI", 2, 3) + b"\x01\x00\x00"   # count 3, one record


def test_undecodable_batch_mid_file_is_damage_in_each_mode(wal_dir, batch, write_log):
    spans = write_log(log_path(wal_dir, 1), [batch(1), BAD_BATCH, batch(2)])
    write_log(log_path(wal_dir, 2), [batch(3)])
    bad = ("000001.wal", spans[1][0], spans[1][1] - spans[1][0])
    e = recover_raises(wal_dir, TOL)
    assert (e.path, e.offset) == (str(log_path(wal_dir, 1)), spans[1][0])
    assert "count" in e.reason
    seqs, corr = recover(wal_dir, SKIP)
    assert seqs == [1, 2, 3]
    assert [c[:3] for c in corr] == [bad] and "count says 3" in corr[0][3]
    seqs, corr = recover(wal_dir, PIT)
    assert seqs == [1]
    assert [c[:3] for c in corr] == [
        bad, ("000001.wal", spans[2][0], spans[2][1] - spans[2][0]),
        ("000002.wal", 0, log_path(wal_dir, 2).stat().st_size)]
    e = recover_raises(wal_dir, ABS)
    assert e.offset == spans[1][0]


def test_undecodable_batch_at_the_tail_is_dropped_and_reported(wal_dir, batch, write_log):
    spans = write_log(log_path(wal_dir, 1), [batch(1), batch(2), BAD_BATCH])
    write_log(log_path(wal_dir, 2), [batch(3)])
    for mode in (TOL, PIT, SKIP):
        seqs, corr = recover(wal_dir, mode)
        assert seqs == [1, 2, 3]
        assert [c[:3] for c in corr] == [("000001.wal", spans[2][0],
                                          spans[2][1] - spans[2][0])]
    assert recover_raises(wal_dir, ABS).offset == spans[2][0]


def test_recyclable_undecodable_batch_stops_point_in_time_across_files(tmp_path):
    # log 1: [seq 1, seq 2 undecodable], log 2: [seq 3]. Replaying 1 and 3
    # would skip seq 2 without a word; POINT_IN_TIME stops at the damage.
    for recyclable in (False, True):
        d = tmp_path / str(int(recyclable))
        d.mkdir()
        b = wt.LogBuilder(recyclable, 1)
        one = walx.WriteBatch(1)
        one.put(b"k", b"v")
        b.add(one.encode())
        bad = bytearray(walx.WriteBatch(2).encode())
        bad[11] = 1
        b.add(bytes(bad))
        (d / "000001.wal").write_bytes(b.data)
        b2 = wt.LogBuilder(recyclable, 2)
        three = walx.WriteBatch(3)
        three.put(b"k", b"w")
        b2.add(three.encode())
        (d / "000002.wal").write_bytes(b2.data)
        batches, _, _ = walx.WalManager.recover_from_dir(d, mode=RM.POINT_IN_TIME)
        assert [x.sequence for x in batches] == [1], recyclable


# ---- (e) empty records --------------------------------------------------------------


def test_empty_record_is_read_but_recovery_reports_it_as_damage(wal_dir, batch, write_log):
    spans = write_log(log_path(wal_dir, 1), [batch(1), b""])
    write_log(log_path(wal_dir, 2), [batch(2)])
    assert spans[1][1] - spans[1][0] == walx.HEADER_SIZE
    with walx.LogReader(log_path(wal_dir, 1)) as r:      # the framing keeps it
        assert list(r) == [batch(1).encode(), b""]
    for mode in (TOL, PIT, SKIP):                        # not a batch: tail damage
        seqs, corr = recover(wal_dir, mode)
        assert seqs == [1, 2]
        assert [c[:3] for c in corr] == [("000001.wal", spans[1][0], walx.HEADER_SIZE)]
        assert "12-byte header" in corr[0][3]
    recover_raises(wal_dir, ABS)
    # followed by a valid batch it is mid-file damage
    (wal_dir / "000001.wal").unlink()
    spans = write_log(log_path(wal_dir, 1), [batch(1), b"", batch(2)])
    (wal_dir / "000002.wal").unlink()
    assert recover_raises(wal_dir, TOL).offset == spans[1][0]
    assert recover(wal_dir, SKIP)[0] == [1, 2]


# ---- the one listing of a directory's log files ----

def test_list_log_files(tmp_path):
    d = tmp_path
    for name in ["000010.wal", "3.log", "000001.wal", "2.wal", "LOCK", "x.wal.tmp",
                 "000002.wal.broken", "4.wal.recycle", "abc.log", "7.WAL", "+5.wal",
                 " 8.log", "9.txt", "18446744073709551616.wal"]:
        (d / name).write_bytes(b"")
    (d / "000005.wal").mkdir()                          # a directory
    (d / "sub").mkdir()
    (d / "sub" / "6.wal").write_bytes(b"")              # not listed: not in `d`
    os.symlink(d / "000001.wal", d / "11.wal")          # a symlink to a log
    os.symlink(d / "sub", d / "12.log")                 # a symlink to a directory
    os.symlink(d / "missing", d / "13.wal")             # dangling
    expected = [(1, str(d / "000001.wal")), (2, str(d / "2.wal")), (3, str(d / "3.log")),
                (10, str(d / "000010.wal"))]
    assert walx._walx.list_log_files(d) == expected
    assert walx._walx.list_log_files(str(d)) == expected
    assert walx._walx.list_log_files(os.fsencode(str(d))) == expected
    # The manager owns only the .wal ones.
    assert [n for n, _ in walx.WalManager.list_wal_files(d)] == [1, 2, 10]
    assert all(walx._walx.log_number_from_name(p) == n for n, p in expected)


def test_list_log_files_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        walx._walx.list_log_files(tmp_path / "missing")
    (tmp_path / "f.wal").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        walx._walx.list_log_files(tmp_path / "f.wal")
    with pytest.raises(TypeError):
        walx._walx.list_log_files(None)
    assert walx._walx.list_log_files(tmp_path) == []
