"""walx.repair: cutting the torn tail of a log, or of each log of a
directory, keeping the original as NAME.broken. The command line's repair is
test_cli_repair.py; repair under injected faults is reliability/test_faults.py; the
bad inputs it refuses are reliability/test_bad_inputs.py."""

import errno
import os
import pickle

import pytest

import walx
from walx import _testing
import walxhelpers as wh
from walxhelpers import MIDDLE, log_path, snapshot, torn, two_middles

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


def _torn_after(path, payloads):
    """A log of `payloads` followed by 3 bytes of a torn record header."""
    with walx.LogWriter(str(path)) as w:
        for p in payloads:
            w.add_record(p)
    size = os.path.getsize(path)
    with open(path, "ab") as f:
        f.write(b"\x01\x02\x03")
    return size


def test_repair_reports_the_cut_and_the_copy_kept(tmp_path):
    path = tmp_path / "000001.log"
    good = _torn_after(path, [b"one", b"two"])
    original = path.read_bytes()
    [c] = walx.repair(path)
    assert isinstance(c, walx.RepairedCorruption) and isinstance(c, walx.Corruption)
    assert (c.cut_offset, c.cut_size) == (good, 3)
    assert c.backup == str(path) + ".broken"
    with open(c.backup, "rb") as f:
        assert f.read() == original
    assert path.stat().st_size == good
    # Equal to (and hashed as) the Corruption it describes.
    plain = walx.Corruption(c.path, c.offset, c.size, c.reason)
    assert c == plain and hash(c) == hash(plain)
    assert (c.offset, c.size) == (good, 3)
    # A second repair of a damaged copy keeps a new, unique copy.
    path.write_bytes(original)
    [c2] = walx.repair(path)
    assert c2.backup == str(path) + ".broken.1"


def test_repair_dry_run_reports_without_cutting(tmp_path):
    path = tmp_path / "000002.wal"
    good = _torn_after(path, [b"x" * 100])
    before = path.read_bytes()
    [c] = walx.repair(str(path), dry_run=True)
    assert isinstance(c, walx.RepairedCorruption)
    assert (c.cut_offset, c.cut_size, c.backup) == (good, 3, None)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["000002.wal"]
    assert walx.repair(path, dry_run=True) == [c]


def test_repair_of_a_directory_reports_each_file(tmp_path):
    a = _torn_after(tmp_path / "000001.wal", [b"a"])
    _torn_after(tmp_path / "000003.log", [b"b", b"c"])
    walx.LogWriter(str(tmp_path / "000002.wal")).close()      # clean: not reported
    cuts = walx.repair(tmp_path)
    assert [os.path.basename(c.path) for c in cuts] == ["000001.wal", "000003.log"]
    assert cuts[0].cut_offset == a
    assert all(c.backup == c.path + ".broken" and os.path.exists(c.backup) for c in cuts)
    assert walx.repair(tmp_path) == []


def test_repaired_corruption_attributes_are_read_only(tmp_path):
    c = walx.RepairedCorruption("p", 7, 3, "torn", 7, 3, "p.broken")
    for name, value in [("cut_offset", 0), ("cut_size", 0), ("backup", None), ("offset", 1)]:
        with pytest.raises(AttributeError):
            setattr(c, name, value)
    assert (c.cut_offset, c.cut_size, c.backup) == (7, 3, "p.broken")


@pytest.mark.parametrize("backup", ["p.broken", None])
def test_repaired_corruption_pickles_and_reprs(backup):
    c = walx.RepairedCorruption("p", 7, 3, "torn", 7, 3, backup)
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(c, proto))
        assert type(back) is walx.RepairedCorruption
        assert back == c
        assert (back.cut_offset, back.cut_size, back.backup) == (7, 3, backup)
    assert repr(c) == ("RepairedCorruption(path='p', offset=7, size=3, reason='torn', "
                       f"cut_offset=7, cut_size=3, backup={backup!r})")
    assert eval(repr(c), {"RepairedCorruption": walx.RepairedCorruption}) == c
    assert c._replace(size=4).backup == backup


# ---- refusals name every log damaged in the middle; the copy is durable first ----


@pytest.mark.parametrize("dry_run", [False, True])
def test_repair_of_a_directory_names_every_log_damaged_in_the_middle(tmp_path, dry_run):
    d = two_middles(tmp_path / "wal")
    before = snapshot(d)
    with pytest.raises(walx.CorruptionError) as e:
        walx.repair(d, dry_run=dry_run)
    first, second = str(d / "000040.log"), str(d / "000041.log")
    assert (e.value.path, e.value.offset) == (first, 33)
    assert first in str(e.value) and f"{second} at offset 33" in str(e.value)
    assert snapshot(d) == before


def test_repair_of_a_directory_with_one_such_log_raises_its_error(tmp_path):
    d = tmp_path / "wal"
    d.mkdir()
    torn(d / "000001.log")
    (d / "000040.log").write_bytes(MIDDLE.read_bytes())
    with pytest.raises(walx.CorruptionError) as e:
        walx.repair(d)
    with pytest.raises(walx.CorruptionError) as alone:
        walx.repair(d / "000040.log")
    assert str(e.value) == str(alone.value)
    assert (e.value.path, e.value.offset, e.value.reason) == \
        (alone.value.path, alone.value.offset, alone.value.reason)


def test_repair_dry_run_of_a_directory_reports_every_cut(tmp_path):
    d = tmp_path / "wal"
    d.mkdir()
    torn(d / "000001.log")
    torn(d / "000002.log", 3)
    cut = walx.repair(d, dry_run=True)
    assert sorted({c.path for c in cut}) == [str(d / "000001.log"), str(d / "000002.log")]
    assert all(c.backup is None for c in cut)


def test_the_copy_is_named_durably_before_the_cut(tmp_path):
    # fsyncs: the copy, then its directory, then the cut file. The
    # directory's failing leaves the original uncut.
    p = tmp_path / "000001.log"
    torn(p)
    original = p.read_bytes()
    _testing.fault_arm("fsync", 2, errno.EIO)
    try:
        with pytest.raises(OSError) as e:
            walx.repair(p)
        truncates = _testing.fault_calls("ftruncate")
    finally:
        _testing.fault_disarm()
    assert e.value.errno == errno.EIO and truncates == 0
    assert p.read_bytes() == original
    assert (tmp_path / "000001.log.broken").read_bytes() == original
