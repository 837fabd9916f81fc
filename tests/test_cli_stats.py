"""``walx stats`` reads each file once through LogReader (its tap hands out
the physical records, no mapping): a file of any length, or one cut shorter
while it is read, ends the read, never the process."""

import builtins
import collections
import json
import os
import subprocess
import sys

import pytest

import walx
from walx import _cli, _testing
from walx._walx import PhysicalRecords, _physical_rest, _tap
from walxtest import BLOCK_SIZE, frame


def run(capsys, *argv):
    rc = _cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def layout_of(source):
    """Fragments, trailers and zero fill as the standalone iterator sees them."""
    frags, pad, zero = collections.Counter(), [], 0
    with PhysicalRecords(source) as it:
        for r in it:
            if r.status == "ok":
                frags[r.type_name] += 1
            elif r.status == "trailer":
                pad.append({"offset": r.offset, "length": r.size})
            elif r.status == "zero_fill":
                zero += r.size
    return dict(frags), pad, zero


DATA = frame([b"a" * 100, b"b" * 40000, b"c" * 32755, b"", b"d" * 70000, b"e" * 9])
CUTS = [0, 1, 6, 7, 8, 107, 108, 500, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 7,
        2 * BLOCK_SIZE + 3, len(DATA) - 10, len(DATA) - 1, len(DATA)]


@pytest.mark.parametrize("mode", ["skip", "tolerate", "pit", "absolute"])
def test_stats_of_a_file_cut_to_any_length(tmp_path, capsys, mode):
    for cut in CUTS:
        path = tmp_path / f"{cut:06d}.log"
        path.write_bytes(DATA[:cut])
        rc, out, err = run(capsys, "stats", "--json", "--mode", mode, path)
        assert rc in (0, 1), (cut, err)
        f = json.loads(out.splitlines()[0])
        assert f["error"] is None and f["file_size"] == cut
        # The whole file's layout, also where the mode stopped the records.
        frags, pad, zero = layout_of(DATA[:cut])
        assert (f["fragments"], f["padding"], f["zero_fill_bytes"]) == (frags, pad, zero), cut
        assert (rc == 1) == bool(f["damage"])


def test_stats_of_cut_files_in_a_subprocess(tmp_path):
    for cut in CUTS:
        (tmp_path / f"{cut + 1:06d}.log").write_bytes(DATA[:cut])
    proc = subprocess.run([sys.executable, "-m", "walx", "stats", "--json", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr          # the cut ones are damaged
    assert "Traceback" not in proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1])["files"] == len(CUTS)


def test_a_file_cut_shorter_while_it_is_read_ends_the_read(tmp_path):
    path = tmp_path / "000001.log"
    with walx.LogWriter(str(path)) as w:
        for i in range(96):
            w.add_record(bytes([i]) * 32000)             # ~3 MiB: several windows
    cut_at = 100000
    seen = []

    def cut_once(rec):
        if not seen:
            with open(path, "r+b") as f:
                f.truncate(cut_at)
        seen.append(rec)

    with walx.LogReader(path, mode=walx.RecoveryMode.SKIP_ANY_CORRUPTED) as reader:
        _tap(reader, cut_once)
        got = list(reader)
        rest = list(_physical_rest(reader))
    # The first window (1 MiB) was read before the cut; the next read finds
    # the end of the file, and the chain open there is the damaged tail.
    assert cut_at < reader.end_offset <= 1 << 20 and len(got) >= 30
    assert all(r.offset < 1 << 20 for r in seen) and rest == []
    assert reader.corruptions[-1].reason == "incomplete: unfinished fragment chain"
    assert [bytes([i]) * 32000 for i in range(len(got))] == got


def test_the_tap_sees_what_physical_records_yields(tmp_path):
    path = tmp_path / "000003.log"
    data = bytearray(DATA)
    data[BLOCK_SIZE + 20] ^= 1                          # damage in the middle
    path.write_bytes(bytes(data))
    with PhysicalRecords(path) as it:
        alone = [(r.offset, r.size, r.status, r.type, r.length, r.reason) for r in it]
    for mode in walx.RecoveryMode:
        tapped = []
        with walx.LogReader(path, mode=mode) as reader:
            _tap(reader, tapped.append)
            try:
                list(reader)
            except walx.CorruptionError:
                pass
            _tap(reader, None)
            tapped += list(_physical_rest(reader))
        assert [(r.offset, r.size, r.status, r.type, r.length, r.reason)
                for r in tapped] == alone, mode


def test_rest_needs_a_stopped_reader_and_tap_a_callable():
    reader = walx.LogReader(DATA)
    with pytest.raises(ValueError, match="not stopped"):
        _physical_rest(reader)
    with pytest.raises(TypeError, match="callable"):
        _tap(reader, 3)


def test_stats_opens_a_file_once_also_where_the_mode_stops_early(tmp_path, capsys):
    path = tmp_path / "000004.log"
    data = bytearray(DATA)
    data[7] ^= 1                                        # damage followed by records
    path.write_bytes(bytes(data))
    _testing.fault_arm("open", 1 << 60, 5)              # armed to count, never reached
    try:
        rc, out, err = run(capsys, "stats", "--json", "--mode", "tolerate", path)
        opens = _testing.fault_calls("open")
    finally:
        _testing.fault_disarm()
    assert rc == 1 and opens == 1, err
    f = json.loads(out.splitlines()[0])
    assert f["records"] == 0 and f["fragments"] == layout_of(bytes(data))[0]


# ---- stats reads each file once ----------------------------------------------------------

def count_opens(fn):
    """fn()'s result and the open(2) calls the C core made meanwhile."""
    _testing.fault_arm("open", 1 << 60, 5)      # armed to count, never reached
    try:
        got = fn()
        return got, _testing.fault_calls("open")
    finally:
        _testing.fault_disarm()


def test_stats_opens_each_file_once(tmp_path, capsys, monkeypatch):
    for n in (1, 2, 3):
        with walx.LogWriter(str(tmp_path / f"{n:06d}.log")) as w:
            for i in range(50):
                w.add_record(b"r" * (i * 900))
    py_opens = []
    for mod, name in ((os, "open"), (builtins, "open")):
        real = getattr(mod, name)
        monkeypatch.setattr(mod, name,
                            lambda *a, _real=real, **k: py_opens.append(a) or _real(*a, **k))
    (rc, out, err), opens = count_opens(lambda: run(capsys, "stats", "--json", tmp_path))
    assert rc == 0, err
    assert opens == 3 and py_opens == []
    files = [json.loads(line) for line in out.splitlines()][:-1]
    assert [f["records"] for f in files] == [50, 50, 50]
    assert all(f["fragments"]["FIRST"] == f["fragments"]["LAST"] > 0 for f in files)


def test_stats_of_a_damaged_file_counts_from_the_one_pass(tmp_path, capsys):
    path = tmp_path / "000005.log"
    data = bytearray(frame([b"a" * 100, b"b" * 40000, b"c" * 10]))
    data[7] ^= 1
    path.write_bytes(bytes(data))
    (rc, out, _), opens = count_opens(lambda: run(capsys, "stats", "--json", path))
    assert rc == 1 and opens == 1
    f = json.loads(out.splitlines()[0])
    assert f["damage"][0]["offset"] == 0 and f["records"] == 1
    assert f["fragments"] == {"FULL": 1, "LAST": 1}
