"""A physical-record scanner for ``walx stats``: fragments, padding, zero fill.

``LogReader`` returns logical records and damage; it does not expose the
physical layer. This walks the blocks of a file the way the reader does
(docs/format.md, "Reading") and counts what it sees. It is statistics only:
damage policy stays with ``LogReader``, and a file is read one 32 KiB block
at a time, so memory does not grow with the file.
"""

from __future__ import annotations

import collections
import os
import re
import struct
from typing import Dict, List, Optional, Tuple, Union

import walx

BLOCK = walx.BLOCK_SIZE
_LEGACY = walx.HEADER_SIZE
_RECYCLABLE = walx.RECYCLABLE_HEADER_SIZE
_RECYCLABLE_TYPES = frozenset({5, 6, 7, 8, 11, 131})
_META_NAMES = {
    9: "COMPRESSION",
    10: "TIMESTAMP_SIZE",
    11: "RECYCLABLE_TIMESTAMP_SIZE",
    130: "PREDECESSOR_WAL_INFO",
    131: "RECYCLABLE_PREDECESSOR_WAL_INFO",
}
_LOG_NAME = re.compile(r"^([0-9]+)\.(?:log|wal)$")
_HDR = struct.Struct("<IHB")
_U32 = struct.Struct("<I")

_StrPath = Union[str, "os.PathLike[str]"]


def log_number_from_name(path: _StrPath) -> Optional[int]:
    """The number in a ``<digits>.log``/``<digits>.wal`` name, else None."""
    m = _LOG_NAME.match(os.path.basename(os.fspath(path)))
    return int(m.group(1)) if m else None


def type_name(t: int) -> str:
    """A readable name for a physical record type."""
    if 1 <= t <= 8:
        return walx.RecordType(t).name
    if t in _META_NAMES:
        return _META_NAMES[t]
    return f"IGNORABLE_{t}" if t & 0x80 else f"UNKNOWN_{t}"


class ScanResult:
    """What one pass over a file's physical records found."""

    def __init__(self, path: str, file_size: int) -> None:
        self.path = path
        self.file_size = file_size
        self.header_size = 0                  # 7 or 11 once a record was seen
        self.fragments: Dict[str, int] = collections.Counter()   # intact, by type
        self.fragment_bytes = 0               # headers + payloads of intact fragments
        self.padding: List[Tuple[int, int]] = []   # block trailers: (offset, length)
        self.zero_fill_bytes = 0              # type-0 space (preallocated, never written)
        self.bad: List[Tuple[int, int, str]] = []  # (offset, size, reason), physical only
        self.stale_offset: Optional[int] = None    # recycled log: previous use from here

    @property
    def padding_bytes(self) -> int:
        return sum(n for _, n in self.padding)


def scan(path: _StrPath, log_number: Optional[int] = None) -> ScanResult:
    """Count the physical records of the log file at `path`.

    `log_number` is what recyclable records must carry; by default the
    number in the file name, else the first recyclable record's.
    """
    path = os.fspath(path)
    expect = log_number if log_number is not None else log_number_from_name(path)
    if expect is not None:
        expect &= 0xFFFFFFFF
    with open(path, "rb") as f:
        res = ScanResult(path, os.fstat(f.fileno()).st_size)
        base = 0
        # Only what the file held when opened, as LogReader reads: a device
        # such as /dev/zero would never end.
        while base < res.file_size:
            blk = f.read(min(BLOCK, res.file_size - base))
            if not blk:
                break
            expect = _scan_block(res, memoryview(blk), base, expect)
            if res.stale_offset is not None or len(blk) < BLOCK:
                break
            base += BLOCK
    return res


def _scan_block(res: ScanResult, blk: memoryview, base: int,
                expect: Optional[int]) -> Optional[int]:
    """Scan one block (the last may be short); returns the log number learnt."""
    n = len(blk)
    pos = 0
    while pos < n:
        left = BLOCK - pos
        hs = res.header_size or _LEGACY
        if left < hs:
            # Trailer: writers zero-fill a block end too short for a header.
            res.padding.append((base + pos, n - pos))
            return expect
        if n - pos < _LEGACY:
            if any(blk[pos:]):
                res.bad.append((base + pos, n - pos, "incomplete: truncated record header"))
            return expect
        _, length, t = _HDR.unpack_from(blk, pos)
        if t == 0 and length == 0:
            res.zero_fill_bytes += n - pos
            return expect
        rhs = _RECYCLABLE if t in _RECYCLABLE_TYPES else _LEGACY
        if n - pos < rhs:
            res.bad.append((base + pos, n - pos, "incomplete: truncated record header"))
            return expect
        end = pos + rhs + length
        if end > BLOCK:
            res.bad.append((base + pos, BLOCK - pos, "bad record length"))
            return expect
        if end > n:
            res.bad.append((base + pos, n - pos, "incomplete: truncated record payload"))
            return expect
        stored = _U32.unpack_from(blk, pos)[0]
        if walx.crc32c(blk[pos + 6:end]) != walx.unmask_crc(stored):
            res.bad.append((base + pos, BLOCK - pos if n == BLOCK else n - pos,
                            "checksum mismatch"))
            return expect
        if rhs == _RECYCLABLE:
            ln = _U32.unpack_from(blk, pos + 7)[0]
            if expect is None:
                expect = ln
            elif ln != expect:
                # Intact, but from the file's previous use: the end of this log.
                res.stale_offset = base + pos
                return expect
        if res.header_size == 0 and (1 <= t <= 8 or t in _META_NAMES):
            res.header_size = rhs
        res.fragments[type_name(t)] += 1
        res.fragment_bytes += rhs + length
        pos = end
    return expect
