"""repair() reports its cuts (walx.RepairedCorruption) and the one listing
of a directory's log files (walx._walx.list_log_files)."""

import os
import pickle

import pytest

import walx
import walx._walx


def _torn(path, payloads):
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
    good = _torn(path, [b"one", b"two"])
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
    good = _torn(path, [b"x" * 100])
    before = path.read_bytes()
    [c] = walx.repair(str(path), dry_run=True)
    assert isinstance(c, walx.RepairedCorruption)
    assert (c.cut_offset, c.cut_size, c.backup) == (good, 3, None)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["000002.wal"]
    assert walx.repair(path, dry_run=True) == [c]


def test_repair_of_a_directory_reports_each_file(tmp_path):
    a = _torn(tmp_path / "000001.wal", [b"a"])
    _torn(tmp_path / "000003.log", [b"b", b"c"])
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
