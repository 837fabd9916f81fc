"""walx.repair: cutting the torn tail of a log, or of each log of a
directory, keeping the original as NAME.broken. The command line's repair is
test_cli.py; repair under injected faults is reliability/test_faults.py; the
bad inputs it refuses are reliability/test_bad_inputs.py."""

import os

import pytest

import walx
import walxhelpers as wh
from walxhelpers import log_path

ABS = walx.RecoveryMode.ABSOLUTE_CONSISTENCY


def _torn(d, n, count=3):
    spans = wh.write_log(log_path(d, n), [wh.make_batch(i + 1, size=50) for i in range(count)])
    p = log_path(d, n)
    os.truncate(p, spans[-1][1] - 5)
    return p, spans


def test_repair_of_a_file_dry_run_then_cut_keeping_the_original(wal_dir, batch):
    p, spans = _torn(wal_dir, 1)
    original = p.read_bytes()
    with pytest.raises(walx.CorruptionError):
        walx.LogWriter(p)                    # will not append after a torn tail
    cut = walx.repair(p, dry_run=True)
    assert cut == [walx.Corruption(str(p), spans[2][0], len(original) - spans[2][0],
                                   "incomplete: truncated record payload")]
    assert p.read_bytes() == original
    assert sorted(os.listdir(wal_dir)) == ["000001.wal"]
    assert walx.repair(p) == cut
    assert p.read_bytes() == original[:spans[1][1]]
    assert (wal_dir / "000001.wal.broken").read_bytes() == original
    with walx.LogWriter(p) as w:
        w.add_record(batch(3, tag=b"new").encode())
    assert walx.WalManager.recover_from_dir(wal_dir, mode=ABS)[0] == \
        [batch(1, size=50), batch(2, size=50), batch(3, tag=b"new")]
    assert walx.repair(p) == []


def test_repair_of_a_directory_cuts_each_torn_log_and_leaves_clean_ones(wal_dir, batch, write_log):
    p1, s1 = _torn(wal_dir, 1)
    write_log(log_path(wal_dir, 2), [batch(4)])
    p3, s3 = _torn(wal_dir, 3, count=2)
    clean = log_path(wal_dir, 2).read_bytes()
    assert walx.repair(log_path(wal_dir, 2)) == []
    cut = walx.repair(wal_dir)
    assert [(c.path, c.offset) for c in cut] == [(str(p1), s1[2][0]), (str(p3), s3[1][0])]
    assert sorted(os.listdir(wal_dir)) == ["000001.wal", "000001.wal.broken", "000002.wal",
                                           "000003.wal", "000003.wal.broken"]
    assert log_path(wal_dir, 2).read_bytes() == clean
    assert p1.stat().st_size == s1[1][1] and p3.stat().st_size == s3[0][1]
    seqs = [b.sequence for b in walx.WalManager.recover_from_dir(wal_dir, mode=ABS)[0]]
    assert seqs == [1, 2, 4, 1]
    assert walx.repair(wal_dir) == []
