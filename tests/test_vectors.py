"""Interop vectors: logs written by RocksDB and LevelDB themselves, plus the
synthetic edge cases in tests/data/edge/ (see tests/data/README.md).

walx must read the real logs exactly as their writers framed them, in every
recovery mode, and its own writer must reproduce them byte for byte (framing
is deterministic given the payloads).
"""

import functools
import json
import pathlib

import pytest

import walx

DATA = pathlib.Path(__file__).resolve().parent / "data"
BLOCK = walx.BLOCK_SIZE
REAL = ["rocksdb_legacy", "rocksdb_cf", "leveldb_basic"]
MODES = list(walx.RecoveryMode)
TAIL_TOLERANT = [m for m in MODES if m is not walx.RecoveryMode.ABSOLUTE_CONSISTENCY]
SOURCES = ["path", "bytes"]


@functools.lru_cache(maxsize=None)
def real(name):
    exp = json.loads((DATA / name / "expected.json").read_text())
    path = DATA / name / exp["log_file"]
    payloads = [bytes.fromhex(r["payload_hex"]) for r in exp["records"]]
    return exp, path, payloads


@functools.lru_cache(maxsize=None)
def edge(case):
    d = DATA / "edge" / case
    info = json.loads((d / "edge.json").read_text())
    return info, d / info["file"]


def source_of(path, kind):
    return str(path) if kind == "path" else path.read_bytes()


def expected_path(path, kind):
    return str(path) if kind == "path" else None


def seq(payload):
    return int.from_bytes(payload[:8], "little")


def count(payload):
    return int.from_bytes(payload[8:12], "little")


def record_end(rec, header_size=walx.HEADER_SIZE):
    last = rec["fragments"][-1]
    return last["offset"] + header_size + last["length"]


def read_with_offsets(source, mode, **kw):
    """(payload, last_record_offset, end_offset) for each record, plus the reader."""
    out = []
    with walx.LogReader(source, mode=mode, **kw) as r:
        while True:
            p = r.read_record()
            if p is None:
                break
            out.append((p, r.last_record_offset, r.end_offset))
    return out, r


# ---- real RocksDB / LevelDB logs -------------------------------------------------


def test_vector_files_are_intact():
    for name in REAL:
        exp, path, payloads = real(name)
        assert path.stat().st_size == exp["file_size"], name
        assert len(payloads) == exp["record_count"], name
        assert [len(p) for p in payloads] == [r["payload_len"] for r in exp["records"]]


@pytest.mark.parametrize("kind", SOURCES)
@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
@pytest.mark.parametrize("name", REAL)
def test_real_log_reads_exactly_its_payloads(name, mode, kind):
    exp, path, payloads = real(name)
    with walx.LogReader(source_of(path, kind), mode=mode) as r:
        got = list(r)
        assert r.corruptions == []
        assert r.clean_end is True
        assert r.end_offset == exp["end_offset"] == exp["file_size"]
        assert r.last_record_offset == exp["records"][-1]["fragments"][0]["offset"]
        assert r.header_size == walx.HEADER_SIZE
        assert r.read_record() is None
    assert len(got) == len(payloads)
    for i, (g, p) in enumerate(zip(got, payloads)):
        assert g == p, f"record {i} differs"


@pytest.mark.parametrize("kind", SOURCES)
@pytest.mark.parametrize("name", REAL)
def test_real_log_offsets_of_every_record(name, kind):
    exp, path, payloads = real(name)
    got, r = read_with_offsets(source_of(path, kind), walx.RecoveryMode.ABSOLUTE_CONSISTENCY)
    assert [g[0] for g in got] == payloads
    for i, ((_, start, end), rec) in enumerate(zip(got, exp["records"])):
        assert start == rec["fragments"][0]["offset"], f"record {i} start"
        assert end == record_end(rec), f"record {i} end"


@pytest.mark.parametrize("name", REAL)
def test_real_log_with_log_number_and_without_checksums(name):
    exp, path, payloads = real(name)
    for kw in ({"log_number": exp["log_number"]}, {"log_number": 999},
               {"verify_checksums": False}, {"max_record_size": max(map(len, payloads))}):
        with walx.LogReader(str(path), **kw) as r:
            assert list(r) == payloads, kw
            assert r.corruptions == [] and r.clean_end, kw


@pytest.mark.parametrize("name", REAL)
def test_writer_reproduces_real_log_byte_for_byte(name, tmp_path):
    exp, path, payloads = real(name)
    out = tmp_path / exp["log_file"]
    with walx.LogWriter(out) as w:
        assert w.log_number == exp["log_number"]
        offsets = [w.add_record(p) for p in payloads]
        assert w.size == exp["file_size"]
    assert offsets == [r["fragments"][0]["offset"] for r in exp["records"]]
    assert out.read_bytes() == path.read_bytes()


@pytest.mark.parametrize("name", REAL)
def test_writer_add_records_reproduces_real_log(name, tmp_path):
    exp, path, payloads = real(name)
    out = tmp_path / exp["log_file"]
    with walx.LogWriter(out, buffer_size=1 << 16) as w:
        assert w.add_records(iter(payloads)) == len(payloads)
    assert out.read_bytes() == path.read_bytes()


def _boundaries(exp):
    """Prefix lengths that end at a record boundary: each record's end and,
    when a block trailer follows it, the start of the next record too."""
    cuts = {0}
    recs = exp["records"]
    for i, rec in enumerate(recs):
        cuts.add(record_end(rec))
        if i + 1 < len(recs):
            cuts.add(recs[i + 1]["fragments"][0]["offset"])
    return sorted(cuts)


@pytest.mark.parametrize("name", REAL)
def test_append_after_prefix_reproduces_real_log(name, tmp_path):
    exp, path, payloads = real(name)
    src = path.read_bytes()
    starts = [r["fragments"][0]["offset"] for r in exp["records"]]
    ends = [record_end(r) for r in exp["records"]]
    cuts = _boundaries(exp)
    assert any(c % BLOCK == 0 and c not in ends for c in cuts), "no after-trailer cut"
    for cut in cuts:
        # Records wholly inside the prefix are kept; the rest are re-added.
        rest = [p for p, e in zip(payloads, ends) if e > cut]
        out = tmp_path / str(cut) / exp["log_file"]
        out.parent.mkdir()
        out.write_bytes(src[:cut])
        with walx.LogWriter(out) as w:
            assert w.size == cut
            assert w.block_offset == cut % BLOCK
            offsets = [w.add_record(p) for p in rest]
        assert offsets == starts[len(payloads) - len(rest):], f"cut at {cut}"
        assert out.read_bytes() == src, f"append after a prefix of {cut} bytes"
        out.unlink()


# ---- synthetic edge cases -----------------------------------------------------


@pytest.mark.parametrize("kind", SOURCES)
@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
@pytest.mark.parametrize("case", ["empty_payload_legacy", "empty_payload_recyclable"])
def test_edge_empty_payload_is_a_record(case, mode, kind):
    info, path = edge(case)
    got, r = read_with_offsets(source_of(path, kind), mode)
    payloads = [g[0] for g in got]
    assert len(payloads) == 3
    assert payloads[1] == b""
    assert [seq(payloads[0]), seq(payloads[2])] == [1, 2]
    # The empty record sits between the two puts, as a record of its own.
    assert got[0][1] < got[1][1] < got[2][1]
    assert [got[0][1], got[2][1]] == [x["offset"] for x in info["ldb"]["records"]]
    assert r.corruptions == []
    assert r.clean_end is True
    assert r.end_offset == info["size"]
    assert r.header_size == (walx.RECYCLABLE_HEADER_SIZE if "recyclable" in case
                             else walx.HEADER_SIZE)


@pytest.mark.parametrize("kind", SOURCES)
@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_edge_zero_length_first_at_block_end(mode, kind):
    info, path = edge("zero_first_at_block_end")
    got, r = read_with_offsets(source_of(path, kind), mode)
    ldb = info["ldb"]["records"]
    assert [len(g[0]) for g in got] == [x["size"] for x in ldb]
    assert [seq(g[0]) for g in got] == [x["sequence"] for x in ldb]
    assert [g[1] for g in got] == [x["offset"] for x in ldb]
    assert ldb[2]["offset"] == BLOCK - walx.HEADER_SIZE
    assert r.corruptions == []
    assert r.clean_end is True
    assert r.end_offset == info["size"]


TRUNCATED = ["truncated_in_last_header", "truncated_in_last_payload"]


@pytest.mark.parametrize("kind", SOURCES)
@pytest.mark.parametrize("mode", TAIL_TOLERANT, ids=lambda m: m.name)
@pytest.mark.parametrize("case", TRUNCATED)
def test_edge_truncated_tail_is_dropped(case, mode, kind):
    info, path = edge(case)
    got, r = read_with_offsets(source_of(path, kind), mode)
    assert [seq(g[0]) for g in got] == [1, 2, 3, 4, 5]
    assert [len(g[0]) for g in got] == [x["size"] for x in info["ldb"]["records"]]
    good_end = got[-1][2]
    assert good_end == 100181
    assert r.end_offset == good_end
    assert len(r.corruptions) == 1
    c = r.corruptions[0]
    assert c.reason.startswith("incomplete: "), c.reason
    assert c.offset == good_end
    assert c.size == info["size"] - good_end
    assert c.path == expected_path(path, kind)
    assert r.clean_end is False


@pytest.mark.parametrize("kind", SOURCES)
@pytest.mark.parametrize("case", TRUNCATED)
def test_edge_truncated_tail_raises_in_absolute_consistency(case, kind):
    info, path = edge(case)
    with walx.LogReader(source_of(path, kind),
                        mode=walx.RecoveryMode.ABSOLUTE_CONSISTENCY) as r:
        with pytest.raises(walx.CorruptionError) as ei:
            list(r)
    assert ei.value.offset == 100181
    assert ei.value.reason.startswith("incomplete: ")
    assert ei.value.path == expected_path(path, kind)


@pytest.mark.parametrize("kind", SOURCES)
@pytest.mark.parametrize("mode", [walx.RecoveryMode.TOLERATE_CORRUPTED_TAIL,
                                  walx.RecoveryMode.ABSOLUTE_CONSISTENCY],
                         ids=lambda m: m.name)
@pytest.mark.parametrize("case,offset,reason", [
    ("crc_corrupt_middle_legacy", 33, "checksum mismatch"),
    ("unknown_record_type", 24, "unknown record type 20"),
])
def test_edge_mid_file_damage_raises(case, offset, reason, mode, kind):
    info, path = edge(case)
    with walx.LogReader(source_of(path, kind), mode=mode) as r:
        with pytest.raises(walx.CorruptionError) as ei:
            list(r)
    assert ei.value.offset == offset
    assert ei.value.reason == reason
    assert ei.value.path == expected_path(path, kind)
    assert isinstance(ei.value, walx.WalError)


@pytest.mark.parametrize("kind", SOURCES)
@pytest.mark.parametrize("case,offset,reason", [
    ("crc_corrupt_middle_legacy", 33, "checksum mismatch"),
    ("unknown_record_type", 24, "unknown record type 20"),
])
def test_edge_mid_file_damage_point_in_time_stops(case, offset, reason, kind):
    info, path = edge(case)
    got, r = read_with_offsets(source_of(path, kind), walx.RecoveryMode.POINT_IN_TIME)
    assert [seq(g[0]) for g in got] == [1]
    assert r.end_offset == offset
    assert r.corruptions, "the dropped part must be recorded"
    assert (r.corruptions[0].offset, r.corruptions[0].reason) == (offset, reason)
    assert all(c.path == expected_path(path, kind) for c in r.corruptions)
    assert r.clean_end is False


@pytest.mark.parametrize("kind", SOURCES)
@pytest.mark.parametrize("case,offset,reason", [
    ("crc_corrupt_middle_legacy", 33, "checksum mismatch"),
    ("unknown_record_type", 24, "unknown record type 20"),
])
def test_edge_mid_file_damage_skip_keeps_what_ldb_keeps(case, offset, reason, kind):
    info, path = edge(case)
    got, r = read_with_offsets(source_of(path, kind), walx.RecoveryMode.SKIP_ANY_CORRUPTED)
    ldb = info["ldb"]["records"]
    assert [(seq(p), count(p), len(p), start) for p, start, _ in got] == \
        [(x["sequence"], x["count"], x["size"], x["offset"]) for x in ldb]
    assert r.end_offset == info["size"]
    assert r.corruptions[0].offset == offset
    assert r.corruptions[0].reason == reason
    # Nothing recorded as damage overlaps a record that was returned.
    for c in r.corruptions:
        for p, start, end in got:
            assert c.offset + c.size <= start or c.offset >= end, (c, start, end)


def test_edge_crc_corrupt_skip_sizes_match_brief():
    info, path = edge("crc_corrupt_middle_legacy")
    got, _ = read_with_offsets(str(path), walx.RecoveryMode.SKIP_ANY_CORRUPTED)
    assert [(len(p), start) for p, start, _ in got] == [(26, 0), (26, 100148), (26, 100181)]


@pytest.mark.parametrize("case", sorted(p.name for p in (DATA / "edge").iterdir()))
def test_edge_skip_mode_agrees_with_ldb(case):
    """ldb skips what it cannot read, like SKIP_ANY_CORRUPTED; it also skips
    records too small to be a WriteBatch (the empty payloads)."""
    info, path = edge(case)
    got, _ = read_with_offsets(str(path), walx.RecoveryMode.SKIP_ANY_CORRUPTED)
    rows = [(seq(p), count(p), len(p), start) for p, start, _ in got if len(p) >= 12]
    assert rows == [(x["sequence"], x["count"], x["size"], x["offset"])
                    for x in info["ldb"]["records"]]


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_edge_recyclable_under_another_log_number_is_an_empty_log(tmp_path, mode):
    """Records of another log number are left over from the file's previous
    use: the log ends there, in every mode, without a corruption."""
    info, path = edge("empty_payload_recyclable")
    other = tmp_path / "000022.log"
    other.write_bytes(path.read_bytes())
    for source, kw in [(str(other), {}), (str(path), {"log_number": 22}),
                       (path.read_bytes(), {"log_number": 22})]:
        with walx.LogReader(source, mode=mode, **kw) as r:
            assert list(r) == [], (source, kw)
            assert r.corruptions == []
            assert r.end_offset == 0
    for source, kw in [(path.read_bytes(), {}), (str(other), {"log_number": 21})]:
        with walx.LogReader(source, mode=mode, **kw) as r:
            assert len(list(r)) == 3, kw
            assert r.log_number == 21
