"""``walx repair``: paths are handed to walx.repair as given, each backup
walx.repair kept is named, and with several paths nothing is cut unless
each one is repairable (every refused log is named)."""

import errno
import os
import pathlib

import pytest

import walx
from walx import _cli, _testing
from walxhelpers import MIDDLE, snapshot, torn, two_middles

DATA = pathlib.Path(__file__).resolve().parent / "data"


def run(capsys, *argv):
    rc = _cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


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


# ---- repair reports the copy walx.repair kept -------------------------------------------

def test_repair_of_a_directory_names_each_backup(tmp_path, capsys, monkeypatch):
    torn(tmp_path / "000001.log", 2)
    torn(tmp_path / "000002.log", 3)
    (tmp_path / "000001.log.broken").write_bytes(b"an earlier copy")

    def no_listdir(*a):
        raise AssertionError("the CLI lists no directory itself to find backups")
    monkeypatch.setattr(os, "listdir", no_listdir)
    rc, out, err = run(capsys, "repair", tmp_path)
    assert rc == 0, err
    assert f"original kept as {tmp_path / '000001.log.broken.1'}" in out
    assert f"original kept as {tmp_path / '000002.log.broken'}" in out
    assert (tmp_path / "000001.log.broken").read_bytes() == b"an earlier copy"


def test_repair_ignores_a_subdirectory_named_like_a_log(tmp_path, capsys):
    (tmp_path / "000007.log").mkdir()
    torn(tmp_path / "000007.log" / "000030.log", 1)
    inner = (tmp_path / "000007.log" / "000030.log").read_bytes()
    torn(tmp_path / "000008.log", 1)
    rc, out, err = run(capsys, "repair", tmp_path)
    assert rc == 0, err
    assert "000008.log: cut offset" in out and "000007.log" not in out
    assert (tmp_path / "000007.log" / "000030.log").read_bytes() == inner


def test_repair_dry_run_of_a_directory_is_refused_as_a_whole(tmp_path, capsys):
    torn(tmp_path / "000001.log", 2)
    src = DATA / "edge" / "crc_corrupt_middle_legacy" / "000040.log"
    (tmp_path / "000040.log").write_bytes(src.read_bytes())
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for argv in (["--dry-run"], []):
        rc, out, err = run(capsys, "repair", *argv, tmp_path)
        assert rc == 1
        assert "000040.log: NOT REPAIRED: damage at offset 33" in out
        assert ("no log would be cut" if argv else "nothing was changed") in err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
