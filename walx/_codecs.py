"""WriteBatch decoders for the command line: walx, RocksDB and LevelDB.

Pure Python: this is the operator path (``walx dump``/``verify``), not the
replay path. Every decoder takes one logical record's payload and returns a
:class:`Batch`, or raises :class:`CodecError` naming the byte position inside
the payload. The wire formats are in docs/format.md and RocksDB's
``db/write_batch.cc`` (``ReadRecordFromWriteBatch``).
"""

from __future__ import annotations

import struct
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple

import walx

CODECS = ("walx", "rocksdb", "leveldb", "raw")

HEADER = 12  # sequence u64 + count u32, shared by all three formats
_HEADER = struct.Struct("<QI")


class Op(NamedTuple):
    """One decoded operation. Fields that an op does not carry are None."""

    op: str                       # put, delete, merge, log_data, commit, ...
    tag: int                      # the tag byte as written
    cf: Optional[int] = None      # column family (0 = default) for key ops
    key: Optional[bytes] = None
    value: Optional[bytes] = None  # value, merge operand, blob index, entity
    end_key: Optional[bytes] = None    # range_delete
    data: Optional[bytes] = None       # log_data blob
    xid: Optional[bytes] = None        # end_prepare, commit, rollback
    timestamp: Optional[bytes] = None  # commit_with_timestamp

    def to_json(self) -> Dict[str, object]:
        """The op as a JSON object: bytes fields become ``<name>_hex``."""
        out: Dict[str, object] = {"op": self.op, "tag": self.tag}
        if self.cf is not None:
            out["cf"] = self.cf
        for name in ("key", "value", "end_key", "data", "xid", "timestamp"):
            v = getattr(self, name)
            if v is not None:
                out[name + "_hex"] = v.hex()
        return out


class Batch:
    """A decoded batch: the header's sequence and count, and the ops."""

    __slots__ = ("sequence", "count", "ops")

    def __init__(self, sequence: int, count: int, ops: List[Op]) -> None:
        self.sequence = sequence
        self.count = count
        self.ops = ops

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Batch) and (self.sequence, self.count, self.ops)
                == (other.sequence, other.count, other.ops))

    def __repr__(self) -> str:
        return f"Batch(sequence={self.sequence}, count={self.count}, ops={self.ops!r})"


class CodecError(ValueError):
    """A payload that is not a valid batch of the chosen codec.

    ``pos`` is the byte position inside the payload; ``partial`` holds the
    batch as far as it decoded (None if the header itself is bad).
    """

    def __init__(self, message: str, pos: Optional[int] = None,
                 partial: Optional[Batch] = None) -> None:
        self.message = message
        self.pos = pos
        self.partial = partial
        super().__init__(message if pos is None else f"{message} at byte {pos} of the payload")


def batch_header(payload: bytes) -> Optional[Tuple[int, int]]:
    """(sequence, count) of a WriteBatch header, or None when too short."""
    if len(payload) < HEADER:
        return None
    sequence, count = _HEADER.unpack_from(payload)
    return sequence, count


# ---- RocksDB ------------------------------------------------------------------

# tag -> (op name, has cf, fields after the cf, counted in the header's count)
# Fields: "key", "value", "end_key", "data", "xid", "timestamp", each a
# varint32-length-prefixed slice, in wire order. Source: RocksDB db/dbformat.h
# (ValueType) and db/write_batch.cc (ReadRecordFromWriteBatch, Iterate).
TagSpec = Tuple[str, bool, Tuple[str, ...], bool]

ROCKSDB_TAGS: Dict[int, TagSpec] = {
    0x00: ("delete", False, ("key",), True),
    0x01: ("put", False, ("key", "value"), True),
    0x02: ("merge", False, ("key", "value"), True),
    0x03: ("log_data", False, ("data",), False),
    0x04: ("delete", True, ("key",), True),
    0x05: ("put", True, ("key", "value"), True),
    0x06: ("merge", True, ("key", "value"), True),
    0x07: ("single_delete", False, ("key",), True),
    0x08: ("single_delete", True, ("key",), True),
    0x09: ("begin_prepare", False, (), False),
    0x0A: ("end_prepare", False, ("xid",), False),
    0x0B: ("commit", False, ("xid",), False),
    0x0C: ("rollback", False, ("xid",), False),
    0x0D: ("noop", False, (), False),
    0x0E: ("range_delete", True, ("key", "end_key"), True),
    0x0F: ("range_delete", False, ("key", "end_key"), True),
    0x10: ("blob_index", True, ("key", "value"), True),
    0x11: ("blob_index", False, ("key", "value"), True),
    0x12: ("begin_persisted_prepare", False, (), False),
    0x13: ("begin_unprepare", False, (), False),
    0x14: ("delete_with_timestamp", False, ("key",), True),
    0x15: ("commit_with_timestamp", False, ("timestamp", "xid"), False),
    0x16: ("put_entity", False, ("key", "value"), True),   # entity: opaque bytes
    0x17: ("put_entity", True, ("key", "value"), True),
    0x18: ("timed_put", False, ("key", "value"), True),    # value + write time
    0x19: ("timed_put", True, ("key", "value"), True),
}

# LevelDB knows only delete (0) and put (1), without column families.
LEVELDB_TAGS: Dict[int, TagSpec] = {
    0x00: ("delete", False, ("key",), True),
    0x01: ("put", False, ("key", "value"), True),
}


def _varint32(buf: bytes, pos: int, what: str) -> Tuple[int, int]:
    """(value, new pos) of a varint32 at `pos`; CodecError if bad."""
    result = 0
    for i in range(5):
        if pos + i >= len(buf):
            raise CodecError(f"truncated varint32 ({what})", pos)
        b = buf[pos + i]
        result |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            if result > 0xFFFFFFFF:
                break
            return result, pos + i + 1
    raise CodecError(f"bad varint32 ({what})", pos)


def _decode_tagged(payload: bytes, tags: Mapping[int, TagSpec], name: str,
                   keep_ops: bool = True) -> Batch:
    """Validate and decode; with keep_ops=False the ops are checked but not
    kept (Batch.ops is empty), so memory does not grow with the payload."""
    payload = bytes(payload)
    if len(payload) < HEADER:
        raise CodecError(f"too small ({len(payload)} bytes, a header needs {HEADER})")
    sequence, count = _HEADER.unpack_from(payload)
    ops: List[Op] = []
    found = 0
    pos = HEADER
    n = len(payload)
    while pos < n:
        start = pos
        tag = payload[pos]
        spec = tags.get(tag)
        if spec is None:
            raise CodecError(f"unknown {name} tag 0x{tag:02x}", start,
                             Batch(sequence, count, ops))
        opname, has_cf, fields, counted = spec
        pos += 1
        args: Dict[str, Any] = {}     # Op's keyword arguments: cf (int), the fields (bytes)
        try:
            if has_cf:
                args["cf"], pos = _varint32(payload, pos, "column family")
            elif "key" in fields:
                args["cf"] = 0
            for f in fields:
                ln, pos = _varint32(payload, pos, f + " length")
                if ln > n - pos:
                    raise CodecError(f"{f} length {ln} runs past the end", pos)
                args[f] = payload[pos:pos + ln]
                pos += ln
        except CodecError as e:
            raise CodecError(f"bad {opname} (tag 0x{tag:02x} at byte {start}): {e.message}",
                             e.pos, Batch(sequence, count, ops)) from None
        if keep_ops:
            if args:
                ops.append(Op(opname, tag, **args))
            else:
                # Ops without fields (noop, begin_prepare, ...) are one byte
                # each: share one instance rather than build one per byte.
                shared = _FIELDLESS.get(tag)
                if shared is None:
                    shared = _FIELDLESS[tag] = Op(opname, tag)
                ops.append(shared)
        found += counted
    if found != count:
        raise CodecError(f"wrong count: header says {count}, found {found}", None,
                         Batch(sequence, count, ops))
    return Batch(sequence, count, ops)


_FIELDLESS: Dict[int, Op] = {}


def decode_rocksdb(payload: bytes, keep_ops: bool = True) -> Batch:
    """A RocksDB WriteBatch: every tag RocksDB writes to its WAL."""
    return _decode_tagged(payload, ROCKSDB_TAGS, "RocksDB", keep_ops)


def decode_leveldb(payload: bytes, keep_ops: bool = True) -> Batch:
    """A LevelDB WriteBatch: put (tag 1) and delete (tag 0)."""
    return _decode_tagged(payload, LEVELDB_TAGS, "LevelDB", keep_ops)


def decode_walx(payload: bytes, keep_ops: bool = True) -> Batch:
    """A walx WriteBatch (walx.WriteBatch.decode); a delete's value is its pre-image."""
    try:
        b = walx.WriteBatch.decode(payload)
    except walx.CorruptionError as e:
        raise CodecError(e.reason) from None
    ops = ([Op(r.op.name.lower(), int(r.op), key=r.key, value=r.value) for r in b]
           if keep_ops else [])
    assert b.sequence is not None       # a decoded batch has its sequence
    return Batch(b.sequence, len(b), ops)


DECODERS: Dict[str, Callable[[bytes, bool], Batch]] = {
    "walx": decode_walx, "rocksdb": decode_rocksdb, "leveldb": decode_leveldb}


def decode(codec: str, payload: bytes, keep_ops: bool = True) -> Batch:
    """Decode `payload` with `codec` ("walx", "rocksdb" or "leveldb"); with
    keep_ops=False only validate it (and read its header)."""
    try:
        fn = DECODERS[codec]
    except KeyError:
        raise ValueError(f"codec must be one of {', '.join(DECODERS)}, not {codec!r}") from None
    return fn(payload, keep_ops)
