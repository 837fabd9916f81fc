"""Interop with RocksDB and LevelDB: the logs they wrote themselves
(tests/data, see tests/data/README.md) and RocksDB's own reader, `ldb
dump_wal` (Debian rocksdb-tools).

walx must read the real logs exactly as their writers framed them, in every
recovery mode, and its own writer must reproduce them byte for byte (framing
is deterministic given the payloads); the synthetic edge cases in
tests/data/edge/ are read as docs/format.md says. The other direction: walx
writes logs whose payloads are RocksDB WriteBatches, and ldb must print every
one of them back, row by row, exactly (sequence, count, byte size, physical
offset, and the decoded operations); walx's reading of the vectors is also
compared with the rows ldb printed for them (ldb.txt). The tests that run
ldb are marked `ldb`.
"""

import functools
import json
import os
import random
import shutil
import subprocess

import pytest

import walx
from walxtest import DATA, read_varint, varint

BLOCK = walx.BLOCK_SIZE
REAL = ["rocksdb_legacy", "rocksdb_cf", "leveldb_basic"]
MODES = list(walx.RecoveryMode)
TAIL_TOLERANT = [m for m in MODES if m is not walx.RecoveryMode.ABSOLUTE_CONSISTENCY]
SOURCES = ["path", "bytes"]
HEADER_LINE = "Sequence,Count,ByteSize,Physical Offset,Key(s) : value "
MIN_PUT = 23  # a one-put batch with an 8-byte key and an empty value


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


def test_edge_crc_corrupt_skip_returns_three_records_at_their_offsets():
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


# ---- RocksDB's ldb: WriteBatch encoding and its row format -----------------------


@pytest.fixture(scope="module")
def ldb():
    path = shutil.which("ldb")
    if path is None:
        msg = ("RocksDB's `ldb` tool is not on PATH; install rocksdb-tools "
               "(apt-get install rocksdb-tools) to run the interop tests")
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def encode_batch(sequence, ops):
    """ops: ("put", key, value) or ("delete", key)."""
    b = bytearray(sequence.to_bytes(8, "little") + len(ops).to_bytes(4, "little"))
    for op in ops:
        if op[0] == "put":
            b += b"\x01" + varint(len(op[1])) + op[1] + varint(len(op[2])) + op[2]
        else:
            b += b"\x00" + varint(len(op[1])) + op[1]
    return bytes(b)


def hx(b):
    return "0x" + b.hex().upper()


def ldb_offset(prev_end, header_size):
    """The "Physical Offset" ldb prints for a record that follows a record
    ending at `prev_end`. RocksDB takes the reader's position before the
    physical read: a block trailer shorter than a legacy header (7) is
    skipped inside that read and so counted in; a longer one (only possible
    with the 11-byte recyclable header) reads as a zero record first."""
    trailer = BLOCK - prev_end % BLOCK
    if trailer < header_size and trailer >= walx.HEADER_SIZE:
        return prev_end + trailer
    return prev_end


def ldb_row(payload, offset, ops):
    """The line `ldb dump_wal --header --print_value` prints for one batch.
    ops: (name, cf, key, value-or-None)."""
    row = f"{int.from_bytes(payload[:8], 'little')},{int.from_bytes(payload[8:12], 'little')}," \
          f"{len(payload)},{offset},"
    for name, cf, key, value in ops:
        row += f"{name}({cf}) : {hx(key)}" + ("" if value is None else f" : {hx(value)}") + " "
    return row


def decode_rocksdb_batch(payload):
    """Decode the RocksDB record tags the vectors use into ldb_row ops."""
    def get_slice(pos):
        n, pos = read_varint(payload, pos)
        return payload[pos:pos + n], pos + n

    names = {0: "DELETE", 1: "PUT", 2: "MERGE", 4: "DELETE", 5: "PUT", 6: "MERGE",
             7: "SINGLE_DELETE", 8: "SINGLE_DELETE"}
    with_value = {1, 2, 5, 6}
    with_cf = {4, 5, 6, 8}
    ops, pos = [], 12
    while pos < len(payload):
        tag = payload[pos]
        pos += 1
        assert tag in names, f"tag {tag} not handled by this test decoder"
        cf = 0
        if tag in with_cf:
            cf, pos = read_varint(payload, pos)
        key, pos = get_slice(pos)
        value = None
        if tag in with_value:
            value, pos = get_slice(pos)
        ops.append((names[tag], cf, key, value))
    assert len(ops) == int.from_bytes(payload[8:12], "little")
    return ops


def run_ldb(ldb, directory, name):
    proc = subprocess.run([ldb, "dump_wal", f"--walfile={name}", "--header", "--print_value"],
                          cwd=directory, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split("\n"), proc.stderr


def check_ldb_output(ldb, path, expected_rows):
    lines, stderr = run_ldb(ldb, path.parent, path.name)
    assert stderr == ""
    assert lines[0] == HEADER_LINE
    assert lines[-1] == ""
    rows = lines[1:-1]
    assert len(rows) == len(expected_rows)
    for i, (got, want) in enumerate(zip(rows, expected_rows)):
        if got != want:
            pytest.fail(f"ldb row {i} differs:\n got  {got[:300]}\n want {want[:300]}")


# ---- a workload that crosses every framing edge ----------------------------------


class Workload:
    """Writes RocksDB batches through a LogWriter and remembers the ldb row
    each one must produce."""

    def __init__(self, writer, seed=7):
        self.w = writer
        self.rnd = random.Random(seed)
        self.seq = 1
        self.rows = []
        self.payloads = []
        self.header = walx.RECYCLABLE_HEADER_SIZE if writer.recyclable else walx.HEADER_SIZE

    def add(self, ops):
        payload = encode_batch(self.seq, ops)
        before = self.w.size
        self.w.add_record(payload)
        self.rows.append(ldb_row(payload, ldb_offset(before, self.header), [
            ("PUT", 0, op[1], op[2]) if op[0] == "put" else ("DELETE", 0, op[1], None)
            for op in ops]))
        self.payloads.append(payload)
        self.seq += max(len(ops), 1)
        return payload

    def key(self):
        return b"k%07d" % self.seq

    def put_of_size(self, total):
        """A one-put batch of exactly `total` bytes (8-byte key)."""
        for vlen_size in range(1, 6):
            vlen = total - 22 - vlen_size
            if vlen >= 0 and len(varint(vlen)) == vlen_size:
                value = self.rnd.randbytes(vlen)
                payload = self.add([("put", self.key(), value)])
                assert len(payload) == total
                return
        raise AssertionError(f"no put batch of {total} bytes")

    def leave_in_block(self, left):
        """Write one record that ends with exactly `left` bytes left in its block."""
        h = self.header
        o = self.w.size % BLOCK
        if BLOCK - o < h:
            o = 0
        target = BLOCK - left
        n = target - o - h
        if n < MIN_PUT:
            n = (BLOCK - o - h) + (target - h)
        self.put_of_size(n)
        assert self.w.size % BLOCK == target % BLOCK, (left, self.w.size)


def write_workload(w):
    wl = Workload(w)
    h = wl.header
    rnd = wl.rnd
    wl.add([("put", b"key0", b"hello")])
    wl.add([])                                               # empty batch (count 0)
    wl.add([("put", b"empty-value", b"")])
    wl.add([("put", b"", b"empty key")])
    wl.add([("delete", b"key0")])
    wl.add([("put", bytes(range(256)), b"\x00\xff" * 20), ("delete", b"\x00,: \n\xff"),
            ("put", b"\xff" * 3, rnd.randbytes(300))])       # binary keys, 2-byte varints
    wl.add([("put", b"big100k", rnd.randbytes(100_000))])     # FIRST, MIDDLE.., LAST
    wl.leave_in_block(h - 1)                                 # trailer of header_size - 1
    wl.add([("put", b"after-trailer", b"v")])
    wl.leave_in_block(1)                                     # trailer of 1 byte
    wl.add([("put", b"after-1", b"v")])
    wl.leave_in_block(h)                                     # next: zero-length FIRST
    wl.add([("put", b"zero-first", b"w" * 100)])
    wl.leave_in_block(0)                                     # ends on a block boundary
    wl.put_of_size(BLOCK - h)                                # one FULL fills a block
    assert w.size % BLOCK == 0
    wl.add([("put", b"big300k", rnd.randbytes(300_000))])
    for _ in range(600):                                     # many small, across blocks
        if rnd.random() < 0.2:
            wl.add([("delete", wl.key())])
        else:
            wl.add([("put", wl.key(), rnd.randbytes(rnd.randrange(0, 200)))
                     for _ in range(rnd.randrange(1, 4))])
    wl.leave_in_block(h)
    wl.add([("put", b"k", rnd.randbytes(BLOCK * 2))])        # zero FIRST, MIDDLE, LAST
    wl.add([("put", b"last", b"!")])
    return wl


# ---- walx writes, ldb reads ---------------------------------------------------------


@pytest.mark.parametrize("buffer_size", [0, 1 << 16])
@pytest.mark.ldb
def test_ldb_reads_every_row_walx_wrote(ldb, tmp_path, recyclable, buffer_size):
    path = tmp_path / "000123.log"
    with walx.LogWriter(path, recyclable=recyclable, buffer_size=buffer_size) as w:
        assert w.log_number == 123
        wl = write_workload(w)
    check_ldb_output(ldb, path, wl.rows)
    with walx.LogReader(str(path), mode=walx.RecoveryMode.ABSOLUTE_CONSISTENCY) as r:
        assert list(r) == wl.payloads
        assert r.clean_end


@pytest.mark.ldb
def test_ldb_reads_a_log_walx_appended_to(ldb, tmp_path, recyclable):
    path = tmp_path / "000009.log"
    rows = []
    for part in range(3):
        with walx.LogWriter(path, recyclable=recyclable) as w:
            wl = Workload(w, seed=part)
            wl.seq = 1 + 10_000 * part
            wl.add([("put", b"p%d" % part, b"x" * (40_000 * part + 5))])
            wl.leave_in_block(part + 1)                # each part ends near a block end
            rows += wl.rows
    check_ldb_output(ldb, path, rows)


@pytest.mark.ldb
def test_ldb_reads_add_records_batches(ldb, tmp_path, recyclable):
    path = tmp_path / "000031.log"
    rnd = random.Random(3)
    payloads = [encode_batch(i + 1, [("put", b"k%d" % i, rnd.randbytes(rnd.randrange(0, 9000)))])
                for i in range(200)]
    with walx.LogWriter(path, recyclable=recyclable, buffer_size=1 << 20) as w:
        assert w.add_records(payloads) == len(payloads)
    header = walx.RECYCLABLE_HEADER_SIZE if recyclable else walx.HEADER_SIZE
    prev_end, rows = 0, []
    with walx.LogReader(str(path)) as r:
        for p in r:
            rows.append(ldb_row(p, ldb_offset(prev_end, header), decode_rocksdb_batch(p)))
            prev_end = r.end_offset
    assert len(rows) == len(payloads)
    check_ldb_output(ldb, path, rows)


@pytest.mark.ldb
def test_ldb_recyclable_records_carry_the_file_log_number(ldb, tmp_path):
    path = tmp_path / "000077.log"
    with walx.LogWriter(path, recyclable=True) as w:
        wl = Workload(w)
        for i in range(5):
            wl.add([("put", b"k%d" % i, b"v" * 20_000)])
    check_ldb_output(ldb, path, wl.rows)
    # Under another log number the same records belong to an older
    # generation of the file: RocksDB stops reading at the first one.
    other = tmp_path / "000078.log"
    shutil.copyfile(path, other)
    check_ldb_output(ldb, other, [])


@pytest.mark.ldb
def test_ldb_legacy_records_do_not_depend_on_the_file_name(ldb, tmp_path):
    path = tmp_path / "000005.log"
    with walx.LogWriter(path) as w:
        wl = Workload(w)
        for i in range(5):
            wl.add([("put", b"k%d" % i, b"v" * 20_000)])
    other = tmp_path / "000006.log"
    shutil.copyfile(path, other)
    check_ldb_output(ldb, other, wl.rows)


@pytest.mark.ldb
def test_ldb_reads_a_recyclable_log_with_an_explicit_log_number(ldb, tmp_path):
    path = tmp_path / "000042.log"
    with walx.LogWriter(path, recyclable=True, log_number=42) as w:
        wl = Workload(w)
        wl.add([("put", b"a", b"b")])
        wl.leave_in_block(walx.RECYCLABLE_HEADER_SIZE)
        wl.add([("put", b"c", b"d" * 50_000)])
    check_ldb_output(ldb, path, wl.rows)


@pytest.mark.ldb
def test_installed_ldb_prints_a_vector_as_recorded_in_ldb_txt(ldb, tmp_path):
    """The installed ldb prints the vectors exactly as recorded in ldb.txt,
    so the row format this file expects is that of the installed tool."""
    src = DATA / "rocksdb_cf" / "000004.log"
    shutil.copyfile(src, tmp_path / src.name)
    lines, stderr = run_ldb(ldb, tmp_path, src.name)
    assert stderr == ""
    assert "\n".join(lines) == (DATA / "rocksdb_cf" / "ldb.txt").read_text()


# ---- walx reads what RocksDB wrote, row for row with ldb.txt ----------------------


def parse_ldb_txt(path):
    lines = path.read_text().split("\n")
    assert lines[0] == HEADER_LINE and lines[-1] == ""
    return lines[1:-1]


@pytest.mark.parametrize("name", REAL)
def test_walx_reading_of_vectors_matches_ldb_txt(name):
    exp = json.loads((DATA / name / "expected.json").read_text())
    rows = parse_ldb_txt(DATA / name / "ldb.txt")
    got = []
    with walx.LogReader(str(DATA / name / exp["log_file"])) as r:
        prev_end = 0
        while (p := r.read_record()) is not None:
            got.append((p, prev_end, r.last_record_offset))
            prev_end = r.end_offset
    assert len(got) == len(rows)
    for i, ((payload, prev_end, start), row) in enumerate(zip(got, rows)):
        seq_s, count_s, size_s, off_s, _ = row.split(",", 4)
        assert int(seq_s) == int.from_bytes(payload[:8], "little"), f"row {i}"
        assert int(count_s) == int.from_bytes(payload[8:12], "little"), f"row {i}"
        assert int(size_s) == len(payload), f"row {i}"
        # ldb's offset is where the previous record ended (legacy trailers
        # are counted in); walx's last_record_offset is past the trailer.
        assert int(off_s) == prev_end == ldb_offset(prev_end, walx.HEADER_SIZE), f"row {i}"
        assert start == prev_end or (start % BLOCK == 0 and start - prev_end < walx.HEADER_SIZE)
        assert row == ldb_row(payload, prev_end, decode_rocksdb_batch(payload)), f"row {i}"
