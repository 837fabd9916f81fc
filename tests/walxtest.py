"""Test helpers that do not use walx: a pure-Python reference
framer/parser, byte mutators, payload makers and varints. The helpers that
drive walx (behind the fixtures of conftest.py) are walxhelpers.py.

The framer and parser follow docs/format.md, with CRCs from the `crc32c`
package, so that differential tests never check walx against itself.
"""

import hashlib
import os
import pathlib
import random
import struct
import threading

import crc32c as _crc32c

DATA = pathlib.Path(__file__).resolve().parent / "data"

BLOCK_SIZE = 32768
HEADER_SIZE = 7
RECYCLABLE_HEADER_SIZE = 11
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
RECYCLABLE_OFFSET = 4
RECYCLABLE_TYPES = frozenset({5, 6, 7, 8, 11, 131})


def crc(data, value=0):
    return _crc32c.crc32c(bytes(data), value)


def mask(c):
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def unmask(m):
    rot = (m - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def header_size_of(recyclable):
    return RECYCLABLE_HEADER_SIZE if recyclable else HEADER_SIZE


def physical(rtype, payload=b"", log_number=None, length=None):
    """One physical record; recyclable form when log_number is not None."""
    covered = bytes([rtype])
    if log_number is not None:
        covered += struct.pack("<I", log_number & 0xFFFFFFFF)
    covered += bytes(payload)
    n = len(payload) if length is None else length
    return struct.pack("<IH", mask(crc(covered)), n) + covered


def frame(records, recyclable=False, log_number=0, block_offset=0):
    """The bytes a writer appends for `records`, starting at `block_offset`."""
    hs = header_size_of(recyclable)
    base = RECYCLABLE_OFFSET if recyclable else 0
    ln = log_number if recyclable else None
    out = bytearray()
    for rec in records:
        rec = bytes(rec)
        pos = 0
        begin = True
        while True:
            leftover = BLOCK_SIZE - block_offset
            if leftover < hs:
                out += bytes(leftover)
                block_offset = 0
            avail = BLOCK_SIZE - block_offset - hs
            frag = min(len(rec) - pos, avail)
            end = pos + frag == len(rec)
            rtype = (FULL if end else FIRST) if begin else (LAST if end else MIDDLE)
            out += physical(rtype + base, rec[pos:pos + frag], ln)
            block_offset = (block_offset + hs + frag) % BLOCK_SIZE
            pos += frag
            begin = False
            if end:
                break
    return bytes(out)


def parse_physical(data):
    """[(offset, type, log_number or None, payload)] of an intact file.

    Raises ValueError on anything a correct writer never produces.
    """
    data = bytes(data)
    out = []
    file_hs = 0
    pos = 0
    while pos < len(data):
        left = BLOCK_SIZE - pos % BLOCK_SIZE
        if left < (file_hs or HEADER_SIZE):
            if any(data[pos:pos + left]):
                raise ValueError(f"non-zero trailer at {pos}")
            pos += left
            continue
        if len(data) - pos < HEADER_SIZE:
            if any(data[pos:]):
                raise ValueError(f"truncated header at {pos}")
            break
        stored, length, rtype = struct.unpack_from("<IHB", data, pos)
        if rtype == 0 and length == 0:
            pos += left
            continue
        hs = RECYCLABLE_HEADER_SIZE if rtype in RECYCLABLE_TYPES else HEADER_SIZE
        if file_hs and hs != file_hs:
            raise ValueError(f"header kind changes at {pos}")
        file_hs = hs
        if hs + length > left or pos + hs + length > len(data):
            raise ValueError(f"bad length at {pos}")
        body = data[pos + 6:pos + hs + length]
        if unmask(stored) != crc(body):
            raise ValueError(f"checksum mismatch at {pos}")
        ln = struct.unpack_from("<I", data, pos + 7)[0] if hs == RECYCLABLE_HEADER_SIZE else None
        out.append((pos, rtype, ln, data[pos + hs:pos + hs + length]))
        pos += hs + length
    return out


def read_all(data):
    """The logical records of an intact file (strict: raises ValueError)."""
    records = []
    chain = None
    for off, rtype, _, payload in parse_physical(data):
        kind = rtype - RECYCLABLE_OFFSET if rtype in RECYCLABLE_TYPES else rtype
        if kind == FULL and chain is None:
            records.append(payload)
        elif kind == FIRST and chain is None:
            chain = [payload]
        elif kind in (MIDDLE, LAST) and chain is not None:
            chain.append(payload)
            if kind == LAST:
                records.append(b"".join(chain))
                chain = None
        else:
            raise ValueError(f"unexpected type {rtype} at {off}")
    if chain is not None:
        raise ValueError("unfinished fragment chain")
    return records


def set_byte(data, off, val):
    b = bytearray(data)
    b[off] = val & 0xFF
    return bytes(b)


def increment_byte(data, off, delta=1):
    b = bytearray(data)
    b[off] = (b[off] + delta) & 0xFF
    return bytes(b)


def truncate(data, n):
    """The first n bytes (a file cut at offset n)."""
    return bytes(data[:n])


def fix_checksum(data, header_off, recyclable=False):
    """Recompute the masked CRC of the physical record at header_off."""
    hs = header_size_of(recyclable)
    length = struct.unpack_from("<H", data, header_off + 4)[0]
    body = bytes(data[header_off + 6:header_off + hs + length])
    b = bytearray(data)
    struct.pack_into("<I", b, header_off, mask(crc(body)))
    return bytes(b)


def big_payload(n, seed=0):
    return random.Random(seed).randbytes(n)


def skewed_payload(rng, max_log=17):
    """Random bytes whose length is skewed towards small (leveldb RandomSkewedString)."""
    n = rng.randrange(1 << rng.randrange(max_log + 1))
    return rng.randbytes(n)


def record_ends(records, recyclable=False, log_number=0):
    """[(start, end)] of each logical record in frame(records)."""
    spans = []
    off = 0
    for rec in records:
        hs = header_size_of(recyclable)
        start = off + (BLOCK_SIZE - off % BLOCK_SIZE if BLOCK_SIZE - off % BLOCK_SIZE < hs else 0)
        off += len(frame([rec], recyclable, log_number, off % BLOCK_SIZE))
        spans.append((start, off))
    return spans


class LogBuilder:
    """Builds a log in memory record by record, remembering where each one lies."""

    def __init__(self, recyclable=False, log_number=0):
        self.recyclable = recyclable
        self.log_number = log_number
        self.hs = header_size_of(recyclable)
        self.buf = bytearray()

    @property
    def data(self):
        return bytes(self.buf)

    def _start(self):
        left = BLOCK_SIZE - len(self.buf) % BLOCK_SIZE
        return len(self.buf) + (left if left < self.hs else 0)

    def add(self, payload, recyclable=None, log_number=None):
        """Append one logical record; return its (start, end)."""
        rec = self.recyclable if recyclable is None else recyclable
        ln = self.log_number if log_number is None else log_number
        start = self._start()
        self.buf += frame([payload], rec, ln, len(self.buf) % BLOCK_SIZE)
        return start, len(self.buf)

    def add_physical(self, rtype, payload=b"", log_number=None, length=None):
        """Append one raw physical record (recyclable form when log_number is given)."""
        start = self._start()
        self.buf += bytes(start - len(self.buf))
        self.buf += physical(rtype, payload, log_number, length)
        return start, len(self.buf)

    def add_bytes(self, raw):
        start = len(self.buf)
        self.buf += raw
        return start, len(self.buf)

    def pad_to_block(self):
        self.buf += bytes(-len(self.buf) % BLOCK_SIZE)
        return len(self.buf)


def run_threads(target, n):
    """Run target(0) .. target(n - 1) in n threads at once; AssertionError
    naming the first failure when any raised."""
    errors = []

    def wrap(i):
        try:
            target(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append((i, e))

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise AssertionError(f"{len(errors)} thread(s) failed, first: {errors[0]!r}") \
            from errors[0][1]


def varint(n):
    """The LEB128 varint of n: the length prefix of RocksDB, LevelDB and walx
    batches (RocksDB's varint32 for n < 2**32)."""
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def read_varint(data, pos):
    """(value, position after it) of the LEB128 varint at data[pos]."""
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def length_prefixed(b):
    """A RocksDB/LevelDB length-prefixed slice."""
    return varint(len(b)) + b


def random_payloads(seed, n, max_size=80_000):
    """n payloads of mixed sizes: empty, one byte, small and up to max_size."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        size = rnd.choice([0, 1, rnd.randrange(200), rnd.randrange(max_size)])
        out.append(rnd.randbytes(size))
    return out


def make_record(tid, idx, size):
    """A self-checking record of thread `tid`, number `idx`:
    [tid u16][idx u32][body][sha256(tid, idx, body)[:8]]; size >= 14."""
    body = random.Random(tid * 1_000_003 + idx).randbytes(size - 14)
    head = struct.pack("<HI", tid, idx)
    return head + body + hashlib.sha256(head + body).digest()[:8]


def parse_record(rec):
    """(tid, idx) of a make_record record; AssertionError when it is torn or
    mixed with another."""
    assert len(rec) >= 14, len(rec)
    head, body, digest = rec[:6], rec[6:-8], rec[-8:]
    assert hashlib.sha256(head + body).digest()[:8] == digest, "record torn or mixed"
    return struct.unpack("<HI", head)


def os_bytes(path):
    """The file's content as the OS sees it, through a descriptor of our own."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)







# The start of a child script that runs as uid/gid 65534 (nobody): root
# bypasses permissions, so a permission test drops them first, or prints
# {"skip": reason} and exits 0 where it cannot. Needs json, os and sys.
DROP_ROOT = """
if os.geteuid() == 0:
    try:
        os.setgid(65534)
        os.setuid(65534)
    except OSError as e:
        print(json.dumps({"skip": f"cannot drop root privileges: {e}"}))
        sys.exit(0)
"""
