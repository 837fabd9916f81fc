"""WriteBatch: the walx batch codec (docs/format.md, "WriteBatch (the walx codec)")."""

import pickle
import re
import struct
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import walx
from walxhelpers import batch_of_ops
from walxtest import varint

U64_MAX = 2**64 - 1


# ---- an independent reference encoder (docs/format.md, written from the spec) ----

def ref_encode(sequence, ops):
    """ops: [(op, key, value)] with op 0 (delete) or 1 (put)."""
    out = bytearray(struct.pack("<QI", sequence, len(ops)))
    for op, key, value in ops:
        out.append(op)
        out += varint(len(key)) + key + varint(len(value)) + value
    return bytes(out)


def varint32(n):
    """RocksDB's EncodeVarint32 (util/coding.cc): branch per byte count, B = 128."""
    assert 0 <= n < 2**32
    B = 128
    if n < 1 << 7:
        return bytes([n])
    if n < 1 << 14:
        return bytes([(n | B) & 0xFF, n >> 7])
    if n < 1 << 21:
        return bytes([(n | B) & 0xFF, ((n >> 7) | B) & 0xFF, n >> 14])
    if n < 1 << 28:
        return bytes([(n | B) & 0xFF, ((n >> 7) | B) & 0xFF, ((n >> 14) | B) & 0xFF,
                      n >> 21])
    return bytes([(n | B) & 0xFF, ((n >> 7) | B) & 0xFF, ((n >> 14) | B) & 0xFF,
                  ((n >> 21) | B) & 0xFF, n >> 28])


def rocksdb_put_batch(sequence, puts):
    """rocksdb::WriteBatch rep_ for Put()s in the default column family:
    fixed64 sequence, fixed32 count, then kTypeValue (0x01),
    PutLengthPrefixedSlice(key), PutLengthPrefixedSlice(value)."""
    rep = bytearray(struct.pack("<Q", sequence) + struct.pack("<I", len(puts)))
    for key, value in puts:
        rep += b"\x01" + varint32(len(key)) + key + varint32(len(value)) + value
    return bytes(rep)


def header(seq, count):
    return struct.pack("<QI", seq, count)


# ---- constructor ----------------------------------------------------------

@pytest.mark.parametrize("seq", [0, 1, 2**32, U64_MAX])
def test_sequence_accepts_every_u64(seq):
    b = walx.WriteBatch(seq)
    assert b.sequence == seq
    assert b.last_seq == seq
    assert len(b) == 0
    assert b.encode() == header(seq, 0)


@pytest.mark.parametrize("bad, exc", [
    (True, TypeError), (False, TypeError), ("1", TypeError), (1.0, TypeError),
    (b"\x01", TypeError), (-1, ValueError), (2**64, ValueError),
    (-(2**70), ValueError),
])
def test_sequence_rejected_naming_the_argument(bad, exc):
    with pytest.raises(exc, match="sequence"):
        walx.WriteBatch(bad)


def test_sequence_is_optional_until_a_manager_assigns_one():
    b = walx.WriteBatch()
    b.put(b"k", b"v")
    b.put(b"k2", b"v2")
    assert b.sequence is None and b.last_seq is None and len(b) == 2
    assert walx.WriteBatch(None).sequence is None
    with pytest.raises(ValueError, match="no sequence yet"):
        b.encode()
    assert "sequence=None" in repr(b)


def test_a_batch_without_sequence_pickles_and_compares_as_such():
    b = walx.WriteBatch()
    b.put(b"k", b"v")
    c = pickle.loads(pickle.dumps(b))
    assert c.sequence is None and list(c) == list(b) and c == b
    d = walx.WriteBatch(0)
    d.put(b"k", b"v")
    assert d != b


# ---- adding operations ----------------------------------------------------

@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_keys_and_values_accept_bytes_like_and_come_back_as_bytes(kind):
    b = walx.WriteBatch(7)
    b.put(kind(b"k1"), kind(b"v1"))
    b.delete(kind(b"k2"))
    b.delete_with_pre_image(kind(b"k3"), kind(b"old"))
    recs = list(b)
    assert recs == [(walx.OpType.PUT, b"k1", b"v1"), (walx.OpType.DELETE, b"k2", b""),
                    (walx.OpType.DELETE, b"k3", b"old")]
    for r in recs:
        assert type(r.key) is bytes and type(r.value) is bytes


def test_buffer_is_copied_at_add_time():
    key = bytearray(b"key")
    b = walx.WriteBatch(1)
    b.put(key, key)
    key[0] = ord("X")
    assert list(b) == [(walx.OpType.PUT, b"key", b"key")]


@pytest.mark.parametrize("call", [
    lambda b: b.put("k", b"v"), lambda b: b.delete("k"),
    lambda b: b.delete_with_pre_image("k", b"v"), lambda b: b.put(1, b"v"),
    lambda b: b.put(None, b"v"),
], ids=["put", "delete", "delete_pre", "put-int", "put-none"])
def test_str_or_non_buffer_key_raises_type_error_naming_key(call):
    b = walx.WriteBatch(1)
    with pytest.raises(TypeError, match="key"):
        call(b)
    assert len(b) == 0 and b.encode() == header(1, 0)


@pytest.mark.parametrize("call,name", [
    (lambda b: b.put(b"k", "v"), "value"),
    (lambda b: b.delete_with_pre_image(b"k", "v"), "pre_image"),
    (lambda b: b.put(b"k", 3), "value"),
], ids=["put", "delete_pre", "put-int"])
def test_bad_value_raises_type_error_naming_the_argument(call, name):
    b = walx.WriteBatch(1)
    with pytest.raises(TypeError, match=rf"^{name} must be"):
        call(b)
    assert len(b) == 0 and b.encode() == header(1, 0)


def test_empty_keys_and_values_encode_and_decode():
    b = walx.WriteBatch(3)
    b.put(b"", b"")
    b.delete(b"")
    b.delete_with_pre_image(b"", b"")
    assert b.encode() == header(3, 3) + b"\x01\x00\x00" + b"\x00\x00\x00" * 2
    assert list(walx.WriteBatch.decode(b.encode())) == [
        (walx.OpType.PUT, b"", b""), (walx.OpType.DELETE, b"", b""),
        (walx.OpType.DELETE, b"", b"")]


def test_encode_exact_bytes_of_a_hand_computed_example():
    b = walx.WriteBatch(0x0102)
    b.put(b"ab", b"xyz")
    b.delete(b"k")
    b.delete_with_pre_image(b"q", b"old")
    expected = bytes.fromhex(
        "0201000000000000"      # sequence 258, u64 LE
        "03000000"              # count 3, u32 LE
        "01" "02" "6162" "03" "78797a"   # put ab -> xyz
        "00" "01" "6b" "00"              # delete k (empty pre-image)
        "00" "01" "71" "03" "6f6c64")    # delete q, pre-image "old"
    assert b.encode() == expected
    assert b.nbytes == len(expected)
    assert ref_encode(0x0102, [(1, b"ab", b"xyz"), (0, b"k", b""), (0, b"q", b"old")]) \
        == expected


@pytest.mark.parametrize("n, encoded", [
    (0, "00"), (1, "01"), (127, "7f"), (128, "8001"), (300, "ac02"),
    (16383, "ff7f"), (16384, "808001"), (2**21, "80808001"),
])
def test_length_varints_at_each_byte_count_boundary(n, encoded):
    key = b"k" * n
    value = b"v" * n
    b = walx.WriteBatch(0)
    b.put(key, value)
    v = bytes.fromhex(encoded)
    assert b.encode() == header(0, 1) + b"\x01" + v + key + v + value
    assert walx.WriteBatch.decode(b.encode()) == b


def test_len_counts_operations_and_last_seq_follows_them():
    b = walx.WriteBatch(100)
    assert (len(b), b.last_seq) == (0, 100)
    b.put(b"a", b"1")
    assert (len(b), b.last_seq) == (1, 100)
    b.delete(b"a")
    b.put(b"b", b"2")
    assert (len(b), b.last_seq) == (3, 102)
    assert b.sequence == 100


def test_sequence_numbers_may_not_pass_u64_max():
    b = walx.WriteBatch(U64_MAX)
    b.put(b"k", b"v")                  # uses exactly U64_MAX
    assert b.last_seq == U64_MAX
    with pytest.raises(ValueError):
        b.put(b"k2", b"v2")
    assert len(b) == 1


def test_iteration_yields_batch_records_with_op_types():
    b = walx.WriteBatch(1)
    b.put(b"k", b"v")
    b.delete_with_pre_image(b"d", b"pre")
    recs = list(b)
    assert all(isinstance(r, walx.BatchRecord) for r in recs)
    assert [type(r.op) for r in recs] == [walx.OpType, walx.OpType]
    assert recs[0].op is walx.OpType.PUT and recs[1].op is walx.OpType.DELETE
    assert (recs[1].key, recs[1].value) == (b"d", b"pre")
    assert list(b) == recs            # iterating twice gives the same


def test_decoded_batch_equals_the_original_hashes_alike_and_pickles():
    b = walx.WriteBatch(42)
    b.put(b"k", b"v" * 1000)
    b.delete(b"x")
    b.delete_with_pre_image(b"y", b"z")
    for data in (b.encode(), bytearray(b.encode()), memoryview(b.encode())):
        d = walx.WriteBatch.decode(data)
        assert d == b and not (d != b)
        assert (d.sequence, d.last_seq, len(d), list(d)) == (42, 44, 3, list(b))
        assert d.encode() == b.encode()
        assert hash(d) == hash(b)
    assert pickle.loads(pickle.dumps(b)) == b


def test_batches_differing_in_sequence_op_key_value_or_count_are_unequal():
    def mk(seq=1, ops=((1, b"k", b"v"),)):
        b = walx.WriteBatch(seq)
        for op, k, v in ops:
            if op:
                b.put(k, v)
            else:
                b.delete_with_pre_image(k, v)
        return b
    base = mk()
    assert base == mk()
    assert base != mk(seq=2)
    assert base != mk(ops=((0, b"k", b"v"),))
    assert base != mk(ops=((1, b"k", b"w"),))
    assert base != mk(ops=((1, b"k", b"v"), (1, b"k", b"v")))
    assert base != mk(ops=())
    assert base != base.encode() and not (base == base.encode())
    assert base != object()


def test_decode_rejects_str_and_non_buffers():
    with pytest.raises(TypeError, match="data"):
        walx.WriteBatch.decode("x" * 12)
    with pytest.raises(TypeError, match="data"):
        walx.WriteBatch.decode(12)


@pytest.mark.parametrize("puts", [
    [(b"key", b"value")],
    [(b"a", b""), (b"", b"b"), (b"k" * 200, b"v" * 20000), (b"x" * 128, b"y" * 16384)],
])
def test_puts_only_batch_is_a_rocksdb_write_batch(puts):
    b = walx.WriteBatch(0x1122334455)
    for k, v in puts:
        b.put(k, v)
    assert b.encode() == rocksdb_put_batch(0x1122334455, puts)


# ---- decode rejects every malformed input (docs/format.md list) ------------

def _rejects(data, pattern, offset):
    with pytest.raises(walx.CorruptionError) as ei:
        walx.WriteBatch.decode(data)
    e = ei.value
    assert re.search(pattern, e.reason, re.I), e.reason
    assert e.offset == offset
    assert e.path is None
    return e


@pytest.mark.parametrize("n", [0, 1, 11])
def test_decode_rejects_fewer_than_12_bytes(n):
    _rejects(header(1, 0)[:n], r"12|short", 0)


@pytest.mark.parametrize("op", [2, 3, 0x7F, 0x80, 0xFF])
def test_decode_rejects_unknown_op(op):
    data = header(1, 2) + b"\x01\x00\x00" + bytes([op]) + b"\x00\x00"
    _rejects(data, rf"op.*{op}|{op}.*op", 15)


def test_decode_rejects_varint_longer_than_10_bytes():
    # 11 continuation bytes: never terminates within 10 bytes.
    data = header(1, 1) + b"\x01" + b"\x80" * 11 + b"\x00"
    _rejects(data, r"varint", 13)


def test_decode_rejects_10_byte_varint_overflowing_64_bits():
    # 9 bytes of 0xff give 63 bits; a 10th byte of 0x02 sets bit 64.
    data = header(1, 1) + b"\x01" + b"\xff" * 9 + b"\x02" + b"\x00"
    _rejects(data, r"varint", 13)
    # whereas 0x01 there is exactly 2**64 - 1: a valid varint, but that
    # length runs past the end.
    data = header(1, 1) + b"\x01" + b"\xff" * 9 + b"\x01" + b"\x00"
    _rejects(data, r"length.*past the end|past the end", 23)


def test_decode_rejects_overflow_in_value_length():
    data = header(1, 1) + b"\x01\x00" + b"\x80" * 9 + b"\x7f"
    _rejects(data, r"value.*varint|varint.*value", 14)


def test_decode_rejects_key_length_past_the_end():
    data = header(1, 1) + b"\x01\x05ab"
    _rejects(data, r"key.*past the end", 14)


def test_decode_rejects_value_length_past_the_end():
    data = header(1, 1) + b"\x01\x01a\x04xyz"
    _rejects(data, r"value.*past the end", 16)


def test_decode_rejects_truncated_varint():
    data = header(1, 1) + b"\x01\x01a\x80"
    _rejects(data, r"value.*varint|truncated", 15)


def test_decode_rejects_fewer_records_than_count():
    data = header(1, 3) + b"\x01\x00\x00" + b"\x00\x01k\x00"
    _rejects(data, r"count.*3.*2|3 records.*2", 19)


def test_decode_rejects_count_with_empty_body():
    _rejects(header(1, 1), r"count|ends", 12)


@pytest.mark.parametrize("extra", [b"\x00", b"\x01\x00\x00", b"garbage"])
def test_decode_rejects_trailing_bytes(extra):
    good = header(9, 1) + b"\x01\x01k\x01v"
    e = _rejects(good + extra, r"trailing", len(good))
    assert str(len(extra)) in e.reason


def test_decode_huge_count_fails_fast_without_allocating():
    # 20 bytes claiming 4,000,000,000 records: reserving `count` records up
    # front would ask for hundreds of gigabytes.
    data = header(5, 0xEE6B2800) + b"\x01\x01a\x01b" + b"\x00\x00\x00"
    assert len(data) == 20
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with pytest.raises(walx.CorruptionError) as ei:
            walx.WriteBatch.decode(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - base < 1 << 20
    assert "4000000000" in ei.value.reason
    assert ei.value.offset == 20


def test_decode_huge_lengths_fail_without_allocating():
    data = header(5, 1) + b"\x01" + varint(2**63) + b"k"
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with pytest.raises(walx.CorruptionError):
            walx.WriteBatch.decode(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - base < 1 << 20


# ---- properties -------------------------------------------------------------

ops_strategy = st.lists(
    st.tuples(st.sampled_from(["put", "delete", "pre"]),
              st.binary(max_size=300), st.binary(max_size=300)),
    max_size=20)


def expected_records(ops):
    return [(walx.OpType.PUT, k, v) if kind == "put" else
            (walx.OpType.DELETE, k, b"" if kind == "delete" else v)
            for kind, k, v in ops]


@settings(max_examples=300, deadline=None)
@given(seq=st.integers(0, U64_MAX - 20), ops=ops_strategy)
def test_property_encode_matches_the_reference_and_decodes_back(seq, ops):
    b = batch_of_ops(seq, ops)
    data = b.encode()
    ref = ref_encode(seq, [(int(op), k, v) for op, k, v in expected_records(ops)])
    assert data == ref
    d = walx.WriteBatch.decode(data)
    assert d == b
    assert list(d) == expected_records(ops)
    assert d.last_seq == seq + max(len(ops) - 1, 0)


mutation = st.one_of(
    st.tuples(st.just("set"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.just(0)),
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seq=st.integers(0, 2**40), ops=ops_strategy,
       mutations=st.lists(mutation, min_size=1, max_size=4))
def test_property_mutations_decode_consistently_or_raise_corruption(seq, ops, mutations):
    data = bytearray(batch_of_ops(seq, ops).encode())
    for kind, pos, val in mutations:
        pos = pos % (len(data) + 1)
        if kind == "set" and pos < len(data):
            data[pos] = val
        elif kind == "insert":
            data.insert(pos, val)
        elif kind == "delete" and pos < len(data):
            del data[pos]
        elif kind == "truncate":
            del data[pos:]
    data = bytes(data)
    try:
        d = walx.WriteBatch.decode(data)
    except walx.CorruptionError as e:
        assert isinstance(e.offset, int) and 0 <= e.offset <= len(data)
        return
    assert d.encode() == data
    assert d.sequence == struct.unpack_from("<Q", data)[0]
    assert len(d) == struct.unpack_from("<I", data, 8)[0]
    recs = list(d)
    assert len(recs) == len(d)
    assert all(r.op in (walx.OpType.PUT, walx.OpType.DELETE) for r in recs)
