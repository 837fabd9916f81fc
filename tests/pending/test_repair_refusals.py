"""walx.repair(dir) names every log damaged in the middle; ``walx repair``
with several paths cuts nothing unless each one is repairable, and names
each refused log; the NAME.broken copy's name is durable before the cut."""

import errno
import pathlib

import pytest

import walx
from walx import _cli, _testing

DATA = pathlib.Path(__file__).resolve().parent.parent / "data"
MIDDLE = DATA / "edge" / "crc_corrupt_middle_legacy" / "000040.log"   # damage at 33


def run(capsys, *argv):
    rc = _cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def torn(path, n=2):
    with walx.LogWriter(str(path)) as w:
        for i in range(n):
            w.add_record(b"record %d" % i)
    with open(path, "ab") as f:
        f.write(b"\x01\x02\x03")


def snapshot(*dirs):
    return {p: p.read_bytes() for d in dirs for p in sorted(d.rglob("*")) if p.is_file()}


def two_middles(d):
    """A directory with a torn log and two logs damaged in the middle."""
    d.mkdir()
    torn(d / "000001.log")
    (d / "000040.log").write_bytes(MIDDLE.read_bytes())
    (d / "000041.log").write_bytes(MIDDLE.read_bytes())
    return d


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


def test_several_paths_cut_nothing_unless_each_is_repairable(tmp_path, capsys):
    a = tmp_path / "000001.log"
    torn(a)
    b = tmp_path / "000040.log"
    b.write_bytes(MIDDLE.read_bytes())
    d = two_middles(tmp_path / "wal")
    before = snapshot(tmp_path)
    rc, out, err = run(capsys, "repair", a, b, d)
    assert rc == 1
    # Every refused log is named: the file given, and both logs of the directory.
    assert f"{b}: NOT REPAIRED: damage at offset 33" in out
    assert f"{d / '000040.log'}: NOT REPAIRED: damage at offset 33" in out
    assert f"{d / '000041.log'} at offset 33" in out
    assert "nothing was changed: every path given is repaired, or none is" in err
    assert snapshot(tmp_path) == before
    # Once the refused paths are left out, the torn ones are cut.
    rc, out, err = run(capsys, "repair", a, d / "000001.log")
    assert rc == 0, err
    assert f"original kept as {a}.broken" in out
    assert f"original kept as {d / '000001.log'}.broken" in out


def test_several_paths_dry_run_names_each_refused_one(tmp_path, capsys):
    b = tmp_path / "000040.log"
    b.write_bytes(MIDDLE.read_bytes())
    d = two_middles(tmp_path / "wal")
    a = tmp_path / "000001.log"
    torn(a)
    before = snapshot(tmp_path)
    rc, out, err = run(capsys, "repair", "--dry-run", b, d, a)
    assert rc == 1
    assert f"{b}: NOT REPAIRED" in out and f"{d / '000041.log'} at offset 33" in out
    assert f"{a}: would cut offset" in out
    assert f"{d}: no log would be cut" in err
    assert snapshot(tmp_path) == before


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
