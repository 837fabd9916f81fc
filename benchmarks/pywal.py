"""A pure-Python writer and reader of walx's log format: the benchmark baseline.

The format is RocksDB's/LevelDB's log format (FORMAT.md): 32 KiB blocks,
7-byte legacy or 11-byte recyclable headers, masked CRC-32C over type,
log number (recyclable) and payload. ``PyLogWriter`` writes byte-for-byte
what ``walx.LogWriter`` writes, one ``os.write`` per record (like walx with
``buffer_size=0``); ``PyLogReader`` reads logs back with CRC checks. The
CRC comes from the ``crc32c`` package (a C extension), so the comparison
with walx measures what walx's C framing and I/O buy over Python framing,
not a Python CRC.

The reader is deliberately simple: it stops at a clean end (EOF, zero fill,
a block trailer, a torn record at the very end), raises ``ValueError`` for
any other damage, and does not check recyclable records' log numbers. The
recovery modes are walx's job.

``encode_batch``/``decode_batch`` are the WriteBatch codec (format.md) in
pure Python (``struct`` and varints), the peer of ``walx.WriteBatch``.

Without the ``crc32c`` package, ``HAVE_CRC32C`` is False and framing falls
back to ``walx.crc32c`` (so other benchmarks can still pre-frame records);
the pure-Python benchmarks skip themselves then.
"""

import os
import struct

try:
    from crc32c import crc32c as _crc32c
    HAVE_CRC32C = True
except ImportError:  # the pure-Python benchmarks skip; framing still works
    from walx import crc32c as _crc32c
    HAVE_CRC32C = False

BLOCK_SIZE = 32768
HEADER_SIZE = 7
RECYCLABLE_HEADER_SIZE = 11
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
RECYCLABLE_OFFSET = 4  # RECYCLABLE_FULL == FULL + 4, ...
_ZEROS = bytes(RECYCLABLE_HEADER_SIZE)
_LEGACY = struct.Struct("<IHB")
_RECYCLABLE = struct.Struct("<IHBI")


def mask(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def unmask(masked):
    rot = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def _fragment(kind, payload, recyclable, log_number):
    if recyclable:
        kind += RECYCLABLE_OFFSET
        tail = struct.pack("<BI", kind, log_number & 0xFFFFFFFF)
        crc = mask(_crc32c(payload, _crc32c(tail)))
        return _RECYCLABLE.pack(crc, len(payload), kind, log_number & 0xFFFFFFFF) + payload
    crc = mask(_crc32c(payload, _crc32c(bytes((kind,)))))
    return _LEGACY.pack(crc, len(payload), kind) + payload


def frame(payload, block_offset=0, recyclable=False, log_number=0):
    """Frame one logical record written at `block_offset` inside its block.

    Returns (framed bytes, block offset after them).
    """
    payload = bytes(payload)
    hs = RECYCLABLE_HEADER_SIZE if recyclable else HEADER_SIZE
    out = []
    pos, n, first = 0, len(payload), True
    while first or pos < n:
        leftover = BLOCK_SIZE - block_offset
        if leftover < hs:
            out.append(_ZEROS[:leftover])  # block trailer
            block_offset, leftover = 0, BLOCK_SIZE
        take = min(n - pos, leftover - hs)
        last = pos + take == n
        kind = (FULL if last else FIRST) if first else (LAST if last else MIDDLE)
        out.append(_fragment(kind, payload[pos:pos + take], recyclable, log_number))
        block_offset = (block_offset + hs + take) % BLOCK_SIZE
        pos += take
        first = False
    return b"".join(out), block_offset


class PyLogWriter:
    """Appends records to `path`, one os.write per record (write-through)."""

    def __init__(self, path, *, recyclable=False, log_number=0):
        self.recyclable = recyclable
        self.log_number = log_number
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND |
                           getattr(os, "O_CLOEXEC", 0), 0o644)
        self.size = os.fstat(self._fd).st_size
        self._block_offset = self.size % BLOCK_SIZE

    def add_record(self, data):
        """Append one record; return its start offset."""
        framed, self._block_offset = frame(data, self._block_offset, self.recyclable,
                                           self.log_number)
        hs = RECYCLABLE_HEADER_SIZE if self.recyclable else HEADER_SIZE
        start = self.size
        if BLOCK_SIZE - start % BLOCK_SIZE < hs:
            start += BLOCK_SIZE - start % BLOCK_SIZE  # after the trailer
        view = memoryview(framed)
        while view:
            view = view[os.write(self._fd, view):]
        self.size += len(framed)
        return start

    def sync(self):
        os.fdatasync(self._fd) if hasattr(os, "fdatasync") else os.fsync(self._fd)

    def close(self):
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class PyLogReader:
    """Iterates the payloads of a log (a path or a bytes-like object)."""

    def __init__(self, source):
        if isinstance(source, (bytes, bytearray, memoryview)):
            self._data = bytes(source)
        else:
            with open(source, "rb") as f:
                self._data = f.read()

    def __iter__(self):
        data = self._data
        end = len(data)
        pos = 0
        chain = None  # list of fragments of an open FIRST..LAST chain
        while pos < end:
            block_left = BLOCK_SIZE - pos % BLOCK_SIZE
            if block_left < HEADER_SIZE:
                pos += block_left  # trailer
                continue
            if end - pos < HEADER_SIZE:
                return  # torn header at the end
            crc, length, kind = _LEGACY.unpack_from(data, pos)
            if kind == 0 and length == 0:
                pos += block_left  # zero fill
                continue
            recyclable = RECYCLABLE_OFFSET < kind <= RECYCLABLE_OFFSET + LAST or \
                kind in (11, 131)
            hs = RECYCLABLE_HEADER_SIZE if recyclable else HEADER_SIZE
            if hs + length > block_left:
                raise ValueError(f"bad record length at offset {pos}")
            if pos + hs + length > end:
                return  # torn payload at the end
            if _crc32c(data[pos + hs:pos + hs + length],
                       _crc32c(data[pos + 6:pos + hs])) != unmask(crc):
                raise ValueError(f"checksum mismatch at offset {pos}")
            payload = data[pos + hs:pos + hs + length]
            at, pos = pos, pos + hs + length
            if RECYCLABLE_OFFSET < kind <= RECYCLABLE_OFFSET + LAST:
                kind -= RECYCLABLE_OFFSET
            if kind == FULL:
                if chain and any(chain):  # a dangling empty chain is dropped
                    raise ValueError(f"FULL inside a fragmented record at offset {at}")
                chain = None
                yield payload
            elif kind == FIRST:
                if chain and any(chain):
                    raise ValueError(f"FIRST inside a fragmented record at offset {at}")
                chain = [payload]
            elif kind in (MIDDLE, LAST):
                if chain is None:
                    raise ValueError(f"fragment without FIRST at offset {at}")
                chain.append(payload)
                if kind == LAST:
                    yield b"".join(chain)
                    chain = None
            elif not kind & 0x80 and kind not in (10, 11, 130, 131):
                raise ValueError(f"unknown record type {kind} at offset {at}")


# ---- WriteBatch codec (format.md: sequence:u64 count:u32 record{count}) ----

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
    append = parts.append
    for op, key, value in ops:
        append(bytes((op,)))
        append(_varint(len(key)))
        append(key)
        append(_varint(len(value)))
        append(value)
    return b"".join(parts)


def decode_batch(data):
    """Decode a batch: (sequence, [(op, key, value), ...]); ValueError on bad input."""
    data = bytes(data)
    n = len(data)
    if n < 12:
        raise ValueError("batch shorter than its 12-byte header")
    sequence, count = _BATCH_HEADER.unpack_from(data, 0)
    pos = 12
    ops = []
    for _ in range(count):
        if pos >= n:
            raise ValueError("batch ends before its count")
        op = data[pos]
        if op > 1:
            raise ValueError(f"unknown op {op}")
        pos += 1
        lengths = []
        for _field in (0, 1):
            v = shift = 0
            while True:
                if pos >= n or shift > 63:
                    raise ValueError("bad varint")
                b = data[pos]
                pos += 1
                v |= (b & 0x7F) << shift
                if b < 0x80:
                    break
                shift += 7
            if pos + v > n:
                raise ValueError("length past the end")
            lengths.append(pos)
            lengths.append(v)
            pos += v
        ops.append((op, data[lengths[0]:lengths[0] + lengths[1]],
                    data[lengths[2]:lengths[2] + lengths[3]]))
    if pos != n:
        raise ValueError("trailing bytes after the batch")
    return sequence, ops
