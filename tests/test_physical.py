"""The physical-record iterator (walx._walx.PhysicalRecords): every byte of
a log accounted for once, in agreement with LogReader and the reference
parser, in bounded memory, with errors that name the file."""

import builtins
import json
import os
import pathlib
import socket
import tracemalloc

import pytest

import walx
from walx import _cli, _testing
from walx._walx import PhysicalRecords
from walxtest import BLOCK_SIZE, frame, parse_physical, physical

DATA = pathlib.Path(__file__).resolve().parent / "data"
VECTORS = sorted(p for p in DATA.glob("*/*.log")) + sorted(DATA.glob("edge/*/*.log"))


def run(capsys, *argv):
    rc = _cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def records(source, **kw):
    with PhysicalRecords(source, **kw) as it:
        return list(it)


def spans(recs):
    return [(r.offset, r.size, r.status) for r in recs]


def chained_lengths(recs):
    """Logical record lengths from the intact fragments (strict chains)."""
    out, chain = [], None
    for r in recs:
        if r.status != "ok" or r.type_name not in walx.RecordType.__members__:
            continue
        kind = r.type_name.replace("RECYCLABLE_", "")
        if kind == "FULL":
            out.append(r.length)
        elif kind == "FIRST":
            chain = r.length
        elif chain is not None:
            chain += r.length
            if kind == "LAST":
                out.append(chain)
                chain = None
    return out


# ---- the iterator ---------------------------------------------------------------------

@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.parent.name)
def test_iterator_covers_every_byte_once_and_agrees_with_the_reader(path):
    recs = records(path)
    data = path.read_bytes()
    pos = 0
    for r in recs:
        assert r.offset == pos and r.size > 0
        pos += r.size
    assert pos == len(data)
    assert spans(records(data)) == spans(recs)          # bytes and file sources agree
    with walx.LogReader(path, mode=walx.RecoveryMode.SKIP_ANY_CORRUPTED) as reader:
        got = [len(p) for p in reader]
        corrupt = [(c.offset, c.offset + c.size) for c in reader.corruptions]
    # Every physically damaged span lies inside a range the reader reports.
    for r in recs:
        if r.damaged:
            assert any(a <= r.offset and r.offset + r.size <= b for a, b in corrupt), r
    if not corrupt:
        assert chained_lengths(recs) == got


@pytest.mark.parametrize("name", ["rocksdb_cf", "rocksdb_legacy", "leveldb_basic"])
def test_iterator_matches_the_expected_fragments_and_padding(name):
    exp = json.loads((DATA / name / "expected.json").read_text())
    recs = records(DATA / name / exp["log_file"])
    frags = [(f["offset"], f["type"], f["length"]) for r in exp["records"] for f in r["fragments"]]
    assert [(r.offset, r.type, r.length) for r in recs if r.status == "ok"] == frags
    assert [{"offset": r.offset, "length": r.size} for r in recs
            if r.status == "trailer"] == exp["padding"]


def test_iterator_matches_the_reference_parser(recyclable):
    data = frame([b"a" * 40000, b"", b"b" * 32750, b"c"], recyclable=recyclable, log_number=9)
    recs = records(data)
    intact = [(r.offset, r.type, r.log_number) for r in recs if r.status == "ok"]
    assert intact == [(o, t, ln) for o, t, ln, _ in parse_physical(data)]
    assert all(r.header_size == (11 if recyclable else 7) for r in recs if r.status == "ok")


def test_truncated_payload_and_header_match_the_reader():
    data = frame([b"x" * 100, b"y" * 100])
    for cut, status in ((len(data) - 3, "truncated_payload"), (len(data) - 105, "truncated_header")):
        recs = records(data[:cut])
        with walx.LogReader(data[:cut], mode=walx.RecoveryMode.SKIP_ANY_CORRUPTED) as reader:
            list(reader)
            [c] = reader.corruptions
        assert recs[-1].status == status
        assert (recs[-1].offset, recs[-1].reason) == (c.offset, c.reason)


def test_bad_crc_drops_the_rest_of_its_block():
    data = bytearray(frame([b"a" * 10, b"b" * 10, b"c" * 40000]))
    data[7] ^= 1                                       # first record's payload
    recs = records(bytes(data))
    assert spans(recs[:1]) == [(0, BLOCK_SIZE, "bad_crc")]
    assert recs[0].reason == "checksum mismatch" and recs[0].type == 1
    assert recs[1].offset == BLOCK_SIZE and recs[1].type_name == "LAST"


def test_recyclable_older_generation_is_old_log():
    good = physical(5, b"a", log_number=7) + physical(5, b"bb", log_number=7)
    data = good + physical(5, b"old", log_number=3) + physical(5, b"c", log_number=7)
    recs = records(data)
    assert [r.status for r in recs] == ["ok", "ok", "old_log", "ok"]
    assert [r.log_number for r in recs] == [7, 7, 3, 7]
    assert recs[2].offset == len(good) and not recs[2].damaged
    # The expected number comes from the name, or from log_number=.
    assert [r.status for r in records(data, log_number=3)][:3] == ["old_log", "old_log", "ok"]


def test_zero_fill_and_a_short_zero_end(tmp_path):
    rec = physical(1, b"payload")
    recs = records(rec + bytes(BLOCK_SIZE - len(rec) + 3))
    assert spans(recs) == [(0, len(rec), "ok"), (len(rec), BLOCK_SIZE - len(rec), "zero_fill"),
                           (BLOCK_SIZE, 3, "end")]
    assert not any(r.damaged for r in recs)
    empty = tmp_path / "empty.log"
    empty.touch()
    assert records(b"") == [] and records(empty) == []


def test_meta_and_unknown_types_are_named():
    data = physical(1, b"x") + physical(10, b"\x01\x00") + physical(0x99, b"i") + physical(20)
    assert [r.type_name for r in records(data)] == ["FULL", "TIMESTAMP_SIZE", "IGNORABLE_153",
                                                    "UNKNOWN_20"]


def test_file_is_read_in_bounded_memory(tmp_path):
    path = tmp_path / "000001.log"
    with walx.LogWriter(str(path)) as w:
        for _ in range(16):
            w.add_record(b"z" * (1 << 20))
    tracemalloc.start()
    try:
        n = sum(1 for _ in PhysicalRecords(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert n > 16 * 32
    assert peak < (4 << 20), peak          # one 1 MiB window, not the 16 MiB file


def test_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        PhysicalRecords(tmp_path / "missing.log")
    assert e.value.filename == str(tmp_path / "missing.log")
    with pytest.raises(IsADirectoryError):
        PhysicalRecords(tmp_path)
    sock = tmp_path / "000002.log"
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(sock))
        with pytest.raises(OSError) as e:
            PhysicalRecords(sock)
        assert e.value.filename == str(sock)
    finally:
        s.close()
    with pytest.raises(TypeError, match="bytes-like"):
        PhysicalRecords(12)


def test_close_ends_iteration():
    it = PhysicalRecords(frame([b"a", b"b"]))
    assert next(it).offset == 0
    it.close()
    it.close()
    assert list(it) == []
