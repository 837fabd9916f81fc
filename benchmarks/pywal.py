"""walx's log format and WriteBatch codec in pure Python: the benchmarks' baseline.

The format is RocksDB's/LevelDB's log format (docs/format.md): 32 KiB
blocks, 7-byte legacy or 11-byte recyclable headers, a masked CRC-32C over
the type, the log number (recyclable) and the payload. ``PyLogWriter``
writes byte for byte what ``walx.LogWriter`` writes, one ``os.write`` per
record (as walx with ``buffer_size=0``); ``PyLogReader`` reads a log back
with every CRC checked. The CRC comes from the ``crc32c`` package (a C
extension), so a comparison with walx measures what walx's C framing, I/O
and batch codec buy over the same work done in Python, not a Python CRC.

The reader stops at a clean end (EOF, zero fill, a torn record at the very
end) and raises ValueError on any other damage: recovery modes are walx's
job. ``encode_batch``/``decode_batch`` are the WriteBatch codec (``struct``
and varints). Without the ``crc32c`` package ``HAVE_CRC32C`` is False,
framing falls back to ``walx.crc32c`` (so the loops can still pre-frame
records) and the pure-Python benchmarks skip themselves.
"""

import os
import struct

try:
    from crc32c import crc32c as _crc32c
    HAVE_CRC32C = True
except ImportError:
    from walx import crc32c as _crc32c
    HAVE_CRC32C = False

BLOCK_SIZE, HEADER_SIZE, RECYCLABLE_HEADER_SIZE = 32768, 7, 11
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
RECYCLABLE_OFFSET = 4                       # RECYCLABLE_FULL == FULL + 4, ...
METADATA = {9, 10, 11, 130, 131}            # skipped: compression, timestamp size, predecessor
RECYCLABLE_METADATA = {11, 131}
_LEGACY, _RECYCLABLE = struct.Struct("<IHB"), struct.Struct("<IHBI")


def mask(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def unmask(masked):
    rot = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def frame(payload, block_offset=0, recyclable=False, log_number=0):
    """Frame one record written at `block_offset` inside its block:
    (framed bytes, block offset after them)."""
    payload, hs, out = bytes(payload), RECYCLABLE_HEADER_SIZE if recyclable else HEADER_SIZE, []
    pos, first, log_number = 0, True, log_number & 0xFFFFFFFF
    while first or pos < len(payload):
        leftover = BLOCK_SIZE - block_offset
        if leftover < hs:
            out.append(bytes(leftover))     # block trailer
            block_offset, leftover = 0, BLOCK_SIZE
        take = min(len(payload) - pos, leftover - hs)
        last = pos + take == len(payload)
        kind = (FULL if last else FIRST) if first else (LAST if last else MIDDLE)
        part = payload[pos:pos + take]
        if recyclable:
            kind += RECYCLABLE_OFFSET
            crc = mask(_crc32c(part, _crc32c(struct.pack("<BI", kind, log_number))))
            out.append(_RECYCLABLE.pack(crc, take, kind, log_number) + part)
        else:
            crc = mask(_crc32c(part, _crc32c(bytes((kind,)))))
            out.append(_LEGACY.pack(crc, take, kind) + part)
        block_offset = (block_offset + hs + take) % BLOCK_SIZE
        pos, first = pos + take, False
    return b"".join(out), block_offset


class PyLogWriter:
    """Appends records to `path`, one os.write per record (write-through)."""

    def __init__(self, path, *, recyclable=False, log_number=0):
        self.recyclable, self.log_number = recyclable, log_number
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND |
                           getattr(os, "O_CLOEXEC", 0), 0o644)
        self.size = os.fstat(self._fd).st_size

    def add_record(self, data):
        """Append one record; return its start offset."""
        framed, _ = frame(data, self.size % BLOCK_SIZE, self.recyclable, self.log_number)
        hs = RECYCLABLE_HEADER_SIZE if self.recyclable else HEADER_SIZE
        start = self.size
        if BLOCK_SIZE - start % BLOCK_SIZE < hs:
            start += BLOCK_SIZE - start % BLOCK_SIZE    # after the trailer
        view = memoryview(framed)
        while view:
            view = view[os.write(self._fd, view):]
        self.size += len(framed)
        return start

    def sync(self):
        getattr(os, "fdatasync", os.fsync)(self._fd)

    def close(self):
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class PyLogReader:
    """Iterates the payloads of a log (a path or a bytes-like object)."""

    def __init__(self, source):
        if isinstance(source, (bytes, bytearray, memoryview)):
            self._data = bytes(source)
        else:
            with open(source, "rb") as f:
                self._data = f.read()

    def __iter__(self):
        data, end, pos, chain = self._data, len(self._data), 0, None
        while pos < end:
            block_left = BLOCK_SIZE - pos % BLOCK_SIZE
            if block_left < HEADER_SIZE:
                pos += block_left           # trailer
                continue
            if end - pos < HEADER_SIZE:
                return                      # torn header at the end
            crc, length, kind = _LEGACY.unpack_from(data, pos)
            if kind == 0 and length == 0:
                pos += block_left           # zero fill
                continue
            recyclable = FULL + RECYCLABLE_OFFSET <= kind <= LAST + RECYCLABLE_OFFSET
            hs = RECYCLABLE_HEADER_SIZE if recyclable or kind in RECYCLABLE_METADATA \
                else HEADER_SIZE
            if hs + length > block_left:
                raise ValueError(f"bad record length at offset {pos}")
            if pos + hs + length > end:
                return                      # torn payload at the end
            payload = data[pos + hs:pos + hs + length]
            if _crc32c(payload, _crc32c(data[pos + 6:pos + hs])) != unmask(crc):
                raise ValueError(f"checksum mismatch at offset {pos}")
            at, pos = pos, pos + hs + length
            kind -= RECYCLABLE_OFFSET if recyclable else 0
            if kind in (FULL, FIRST) and chain and any(chain):
                raise ValueError(f"record starts inside a fragmented one at offset {at}")
            if kind == FULL:
                chain = None
                yield payload
            elif kind == FIRST:
                chain = [payload]
            elif kind in (MIDDLE, LAST):
                if chain is None:
                    raise ValueError(f"fragment without FIRST at offset {at}")
                chain.append(payload)
                if kind == LAST:
                    yield b"".join(chain)
                    chain = None
            elif not kind & 0x80 and kind not in METADATA:
                raise ValueError(f"unknown record type {kind} at offset {at}")


# ---- WriteBatch codec (docs/format.md: sequence:u64 count:u32 record{count}) ----

_BATCH_HEADER = struct.Struct("<QI")


def _varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def encode_batch(sequence, ops):
    """Encode [(op, key, value), ...] (op 1 = put, 0 = delete) as a batch."""
    parts = [_BATCH_HEADER.pack(sequence, len(ops))]
    for op, key, value in ops:
        parts += (bytes((op,)), _varint(len(key)), key, _varint(len(value)), value)
    return b"".join(parts)


def decode_batch(data):
    """(sequence, [(op, key, value), ...]) of a batch; ValueError on bad input."""
    data = bytes(data)
    n = len(data)
    if n < 12:
        raise ValueError("batch shorter than its 12-byte header")
    sequence, count = _BATCH_HEADER.unpack_from(data, 0)
    pos, ops = 12, []
    for _ in range(count):
        if pos >= n or data[pos] > 1:
            raise ValueError("batch ends before its count, or unknown op")
        op, pos, fields = data[pos], pos + 1, []
        for _field in (0, 1):
            v = shift = 0
            while True:
                if pos >= n or shift > 63:
                    raise ValueError("bad varint")
                b, pos = data[pos], pos + 1
                v |= (b & 0x7F) << shift
                if b < 0x80:
                    break
                shift += 7
            if pos + v > n:
                raise ValueError("length past the end")
            fields.append(data[pos:pos + v])
            pos += v
        ops.append((op, fields[0], fields[1]))
    if pos != n:
        raise ValueError("trailing bytes after the batch")
    return sequence, ops
