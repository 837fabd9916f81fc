"""The WriteBatch decoders (walx/_codecs.py) and the physical-record
physical-record iterator (walx._walx.PhysicalRecords) behind ``walx dump``, ``verify`` and ``stats``.

The decoders are checked against RocksDB's and LevelDB's own logs in
test_cli.py (``dump --json`` against expected.json); here every RocksDB WAL
tag and every rejection is checked on hand-built batches.
"""

import collections
import struct
import tracemalloc
import types

import pytest

import walx
from walx import _cli, _codecs
from walx._walx import PhysicalRecords
from walxtest import frame, length_prefixed as sl, physical, varint as v32

ALL_TAGS = [
    (0x00, sl(b"k"), {"op": "delete", "cf": 0, "key_hex": "6b"}),
    (0x01, sl(b"k") + sl(b"v"), {"op": "put", "cf": 0, "key_hex": "6b", "value_hex": "76"}),
    (0x02, sl(b"k") + sl(b"m"), {"op": "merge", "cf": 0, "key_hex": "6b", "value_hex": "6d"}),
    (0x03, sl(b"blob"), {"op": "log_data", "data_hex": "626c6f62"}),
    (0x04, v32(3) + sl(b"k"), {"op": "delete", "cf": 3, "key_hex": "6b"}),
    (0x05, v32(300) + sl(b"k") + sl(b"v"),
     {"op": "put", "cf": 300, "key_hex": "6b", "value_hex": "76"}),
    (0x06, v32(1) + sl(b"k") + sl(b""), {"op": "merge", "cf": 1, "key_hex": "6b", "value_hex": ""}),
    (0x07, sl(b"k"), {"op": "single_delete", "cf": 0, "key_hex": "6b"}),
    (0x08, v32(2) + sl(b"k"), {"op": "single_delete", "cf": 2, "key_hex": "6b"}),
    (0x09, b"", {"op": "begin_prepare"}),
    (0x0A, sl(b"x1"), {"op": "end_prepare", "xid_hex": "7831"}),
    (0x0B, sl(b"x1"), {"op": "commit", "xid_hex": "7831"}),
    (0x0C, sl(b"x2"), {"op": "rollback", "xid_hex": "7832"}),
    (0x0D, b"", {"op": "noop"}),
    (0x0E, v32(1) + sl(b"a") + sl(b"z"),
     {"op": "range_delete", "cf": 1, "key_hex": "61", "end_key_hex": "7a"}),
    (0x0F, sl(b"a") + sl(b"z"), {"op": "range_delete", "cf": 0, "key_hex": "61", "end_key_hex": "7a"}),
    (0x10, v32(1) + sl(b"k") + sl(b"\x01"),
     {"op": "blob_index", "cf": 1, "key_hex": "6b", "value_hex": "01"}),
    (0x11, sl(b"k") + sl(b"\x02"), {"op": "blob_index", "cf": 0, "key_hex": "6b", "value_hex": "02"}),
    (0x12, b"", {"op": "begin_persisted_prepare"}),
    (0x13, b"", {"op": "begin_unprepare"}),
    (0x14, sl(b"k"), {"op": "delete_with_timestamp", "cf": 0, "key_hex": "6b"}),
    (0x15, sl(b"ts") + sl(b"x3"),
     {"op": "commit_with_timestamp", "xid_hex": "7833", "timestamp_hex": "7473"}),
    (0x16, sl(b"k") + sl(b"\x00\x01"),
     {"op": "put_entity", "cf": 0, "key_hex": "6b", "value_hex": "0001"}),
    (0x17, v32(4) + sl(b"k") + sl(b"E"),
     {"op": "put_entity", "cf": 4, "key_hex": "6b", "value_hex": "45"}),
    (0x18, sl(b"k") + sl(b"vt"), {"op": "timed_put", "cf": 0, "key_hex": "6b", "value_hex": "7674"}),
    (0x19, v32(5) + sl(b"k") + sl(b"vt"),
     {"op": "timed_put", "cf": 5, "key_hex": "6b", "value_hex": "7674"}),
]

KEY_OPS = sum(1 for _, _, want in ALL_TAGS if "key_hex" in want)


def scan(path):
    """Intact fragments by type, trailers and damaged spans of `path`."""
    recs = list(PhysicalRecords(path))
    return types.SimpleNamespace(
        fragments=collections.Counter(r.type_name for r in recs if r.status == "ok"),
        padding=[(r.offset, r.size) for r in recs if r.status == "trailer"],
        bad=[(r.offset, r.size, r.reason) for r in recs if r.damaged])


def test_rocksdb_decoder_handles_every_wal_tag():
    body = b"".join(bytes([tag]) + rest for tag, rest, _ in ALL_TAGS)
    batch = _codecs.decode_rocksdb(struct.pack("<QI", 42, KEY_OPS) + body)
    assert (batch.sequence, batch.count) == (42, KEY_OPS)
    assert [op.to_json() for op in batch.ops] == [{"tag": tag, **want}
                                                   for tag, _, want in ALL_TAGS]


@pytest.mark.parametrize("payload, message", [
    (b"\x00" * 11, "too small"),
    (struct.pack("<QI", 1, 2) + b"\x01" + sl(b"k") + sl(b"v"), "wrong count: header says 2, found 1"),
    (struct.pack("<QI", 1, 1) + b"\x1a" + sl(b"k"), "unknown RocksDB tag 0x1a at byte 12"),
    (struct.pack("<QI", 1, 1) + b"\x01" + b"\x05ab", "key length 5 runs past the end"),
    (struct.pack("<QI", 1, 1) + b"\x05" + b"\xff\xff\xff\xff\xff\x01", "bad varint32"),
    (struct.pack("<QI", 1, 1) + b"\x00" + b"\x80", "truncated varint32"),
])
def test_rocksdb_decoder_rejects_bad_batches(payload, message):
    with pytest.raises(_codecs.CodecError, match=message):
        _codecs.decode_rocksdb(payload)


def test_leveldb_decoder_knows_only_put_and_delete():
    ok = struct.pack("<QI", 3, 2) + b"\x01" + sl(b"k") + sl(b"v") + b"\x00" + sl(b"k")
    assert [o.op for o in _codecs.decode_leveldb(ok).ops] == ["put", "delete"]
    with pytest.raises(_codecs.CodecError, match="unknown LevelDB tag 0x02"):
        _codecs.decode_leveldb(struct.pack("<QI", 3, 1) + b"\x02" + sl(b"k") + sl(b"v"))


def test_walx_decoder_returns_ops_and_rejects_bad_batches():
    b = walx.WriteBatch(9)
    b.put(b"k", b"v")
    b.delete_with_pre_image(b"k", b"old")
    got = _codecs.decode_walx(b.encode())
    assert (got.sequence, got.count) == (9, 2)
    assert [o.to_json() for o in got.ops] == [
        {"op": "put", "tag": 1, "key_hex": "6b", "value_hex": "76"},
        {"op": "delete", "tag": 0, "key_hex": "6b", "value_hex": "6f6c64"}]
    with pytest.raises(_codecs.CodecError):
        _codecs.decode_walx(b.encode() + b"x")
    with pytest.raises(ValueError, match="codec must be one of"):
        _codecs.decode("xml", b.encode())


@pytest.mark.parametrize("cmd", ["verify", "stats"])
def test_rocksdb_codec_memory_does_not_grow_with_one_byte_ops(tmp_path, capsys, cmd,
                                                             write_log):
    # A valid RocksDB batch of 512 KiB of noop tags (one byte each): an Op
    # per byte would take about 137 bytes of memory per input byte (70 MB
    # here). verify and stats only validate; memory stays a small multiple
    # of the record.
    payload = struct.pack("<QI", 7, 0) + b"\x0d" * (512 << 10)
    p = tmp_path / "000001.log"
    write_log(p, [payload])
    tracemalloc.start()
    try:
        rc = _cli.main([cmd, "--codec", "rocksdb", str(p)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    err = capsys.readouterr().err
    assert rc == 0, err
    assert peak < 16 << 20, peak


def test_rocksdb_codec_dump_shares_fieldless_ops():
    payload = struct.pack("<QI", 7, 0) + b"\x0d" * 1000 + b"\x09" * 10
    batch = _codecs.decode("rocksdb", payload)
    assert len(batch.ops) == 1010 and len({id(o) for o in batch.ops}) == 2
    assert batch.ops[0] == _codecs.Op("noop", 0x0D)
    assert _codecs.decode("rocksdb", payload, keep_ops=False).ops == []


def test_scanner_counts_meta_and_ignorable_records(tmp_path):
    path = tmp_path / "000009.log"
    path.write_bytes(physical(1, b"x") + physical(10, b"\x01\x00\x00\x00\x08\x00")
                     + physical(130, b"meta") + physical(0x99, b"ign") + physical(20, b"?"))
    res = scan(path)
    assert dict(res.fragments) == {"FULL": 1, "TIMESTAMP_SIZE": 1, "PREDECESSOR_WAL_INFO": 1,
                                   "IGNORABLE_153": 1, "UNKNOWN_20": 1}
    assert res.bad == [] and res.padding == []


def test_scanner_finds_trailers_and_physical_damage(tmp_path):
    # 32768 - 7 - 32754 = 7 bytes left: a zero-length FIRST would start there;
    # with 32755 bytes the block ends in a 6-byte trailer.
    data = bytearray(frame([b"a" * 32755, b"b" * 10]))
    path = tmp_path / "000001.log"
    path.write_bytes(bytes(data))
    res = scan(path)
    assert res.padding == [(32762, 6)]
    assert dict(res.fragments) == {"FULL": 2} and res.bad == []
    data[32768 + 7] ^= 1                      # the second record's payload
    path.write_bytes(bytes(data[:-3]))        # and the file is cut short
    res = scan(path)
    assert res.bad == [(32768, len(data) - 3 - 32768, "incomplete: truncated record payload")]
    path.write_bytes(bytes(data))
    res = scan(path)
    assert res.bad == [(32768, len(data) - 32768, "checksum mismatch")]
