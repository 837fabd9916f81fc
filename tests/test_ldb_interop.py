"""Interop with RocksDB's own reader: `ldb dump_wal` (Debian rocksdb-tools).

walx writes logs whose payloads are RocksDB WriteBatches; ldb must print
every one of them back, row by row, exactly (sequence, count, byte size,
physical offset, and the decoded operations). The other direction (walx
reading files RocksDB wrote) is test_vectors.py; here walx's reading of the
vectors is also compared with the rows ldb printed for them (ldb.txt).
"""

import json
import os
import pathlib
import random
import shutil
import subprocess

import pytest

import walx

DATA = pathlib.Path(__file__).resolve().parent / "data"
BLOCK = walx.BLOCK_SIZE
REAL = ["rocksdb_legacy", "rocksdb_cf", "leveldb_basic"]
HEADER_LINE = "Sequence,Count,ByteSize,Physical Offset,Key(s) : value "
MIN_PUT = 23  # a one-put batch with an 8-byte key and an empty value


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


# ---- RocksDB WriteBatch encoding and ldb's row format ------------------------------


def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


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
    def get_varint(pos):
        n = shift = 0
        while True:
            byte = payload[pos]
            pos += 1
            n |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return n, pos

    def get_slice(pos):
        n, pos = get_varint(pos)
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
            cf, pos = get_varint(pos)
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
def test_ldb_reads_every_row_walx_wrote(ldb, tmp_path, recyclable, buffer_size):
    path = tmp_path / "000123.log"
    with walx.LogWriter(path, recyclable=recyclable, buffer_size=buffer_size) as w:
        assert w.log_number == 123
        wl = write_workload(w)
    check_ldb_output(ldb, path, wl.rows)
    with walx.LogReader(str(path), mode=walx.RecoveryMode.ABSOLUTE_CONSISTENCY) as r:
        assert list(r) == wl.payloads
        assert r.clean_end


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


def test_ldb_legacy_records_do_not_depend_on_the_file_name(ldb, tmp_path):
    path = tmp_path / "000005.log"
    with walx.LogWriter(path) as w:
        wl = Workload(w)
        for i in range(5):
            wl.add([("put", b"k%d" % i, b"v" * 20_000)])
    other = tmp_path / "000006.log"
    shutil.copyfile(path, other)
    check_ldb_output(ldb, other, wl.rows)


def test_ldb_reads_explicit_log_number_writer(ldb, tmp_path):
    path = tmp_path / "000042.log"
    with walx.LogWriter(path, recyclable=True, log_number=42) as w:
        wl = Workload(w)
        wl.add([("put", b"a", b"b")])
        wl.leave_in_block(walx.RECYCLABLE_HEADER_SIZE)
        wl.add([("put", b"c", b"d" * 50_000)])
    check_ldb_output(ldb, path, wl.rows)


def test_ldb_row_format_of_a_vector_is_understood(ldb, tmp_path):
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
