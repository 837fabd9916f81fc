# Included from _walx.pyx; not a standalone module.
# WriteBatch: the walx codec (docs/format.md, "WriteBatch wire format").

import collections

#: One operation of a batch: op (OpType), key (bytes), value (bytes; a
#: delete's pre-image, b"" if none).
BatchRecord = collections.namedtuple("BatchRecord", ["op", "key", "value"])

cdef enum:
    _BATCH_HEADER = 12       # sequence u64 + count u32
    _MAX_VARINT = 10

cdef uint64_t _U64_MAX = 0xffffffffffffffff


cdef inline size_t _put_varint(uint8_t *dst, uint64_t v) noexcept nogil:
    cdef size_t i = 0
    while v >= 0x80:
        dst[i] = <uint8_t>(v | 0x80)
        v >>= 7
        i += 1
    dst[i] = <uint8_t>v
    return i + 1


cdef inline int _get_varint(const uint8_t *p, size_t n, size_t *pos,
                            uint64_t *out) noexcept nogil:
    """0 on success; 1 truncated; 2 longer than 10 bytes or over 64 bits."""
    cdef uint64_t v = 0
    cdef uint64_t b
    cdef int shift = 0
    cdef size_t i = pos[0]
    cdef int k
    for k in range(_MAX_VARINT):
        if i >= n:
            return 1
        b = p[i]
        i += 1
        if shift == 63 and (b & 0x7f) > 1:
            return 2
        v |= (b & 0x7f) << shift
        if not (b & 0x80):
            pos[0] = i
            out[0] = v
            return 0
        shift += 7
    return 2


cdef inline uint64_t _load_u64(const uint8_t *p) noexcept nogil:
    return (<uint64_t>walx_decode_fixed32(p)) | ((<uint64_t>walx_decode_fixed32(p + 4)) << 32)


cdef inline void _store_u64(uint8_t *p, uint64_t v) noexcept nogil:
    walx_encode_fixed32(p, <uint32_t>v)
    walx_encode_fixed32(p + 4, <uint32_t>(v >> 32))


cdef object _batch_error(str reason, size_t offset):
    return CorruptionError(f"bad WriteBatch: {reason}", None, offset)


cdef int _validate_batch(const uint8_t *p, size_t n, uint32_t *count_out) except -1:
    """Check every rule of the wire format without allocating."""
    cdef uint32_t count, i
    cdef size_t pos = _BATCH_HEADER, start
    cdef uint64_t klen, vlen
    cdef int rc
    if n < _BATCH_HEADER:
        raise _batch_error(f"{n} bytes is shorter than the 12-byte header", 0)
    count = walx_decode_fixed32(p + 8)
    if count and _load_u64(p) > _U64_MAX - (count - 1):
        raise _batch_error(f"sequence {_load_u64(p)} + {count} records runs past 2**64 - 1", 0)
    for i in range(count):
        start = pos
        if pos >= n:
            raise _batch_error(f"count says {count} records but the data ends "
                               f"after {i}", pos)
        if p[pos] > 1:
            raise _batch_error(f"unknown op {p[pos]} in record {i}", pos)
        pos += 1
        rc = _get_varint(p, n, &pos, &klen)
        if rc:
            raise _batch_error(("truncated" if rc == 1 else "overlong") +
                               f" key length varint in record {i}", pos)
        if klen > n - pos:
            raise _batch_error(f"key length {klen} of record {i} runs past the end", pos)
        pos += <size_t>klen
        rc = _get_varint(p, n, &pos, &vlen)
        if rc:
            raise _batch_error(("truncated" if rc == 1 else "overlong") +
                               f" value length varint in record {i}", pos)
        if vlen > n - pos:
            raise _batch_error(f"value length {vlen} of record {i} runs past the end", pos)
        pos += <size_t>vlen
    if pos != n:
        raise _batch_error(f"{n - pos} trailing bytes after {count} records", pos)
    count_out[0] = count
    return 0


@cython.final
cdef class WriteBatch:
    """An atomic group of puts and deletes with consecutive sequence numbers.

    WriteBatch(sequence=None)

    Without a sequence, ``sequence`` is None until WalManager.append assigns
    one (the manager's last_seq + 1); such a batch cannot be encoded
    before that (ValueError). Operations are encoded into the wire buffer as they are added, so
    ``encode()`` is a copy. ``WriteBatch.decode`` validates everything and
    raises CorruptionError on bad input.
    """
    cdef uint8_t *_buf
    cdef size_t _len
    cdef size_t _cap
    cdef uint32_t _count
    cdef uint64_t _sequence      # 0 while _has_seq is false
    cdef bint _has_seq

    def __cinit__(self):
        self._buf = NULL
        self._len = 0
        self._cap = 0

    def __init__(self, sequence=None):
        if sequence is not None:
            self._sequence = _check_uint(sequence, "sequence", _U64_MAX)
            self._has_seq = True
        self._reserve(64)
        _store_u64(self._buf, self._sequence)
        walx_encode_fixed32(self._buf + 8, 0)
        self._len = _BATCH_HEADER

    def __dealloc__(self):
        if self._buf != NULL:
            PyMem_Free(self._buf)
            self._buf = NULL

    cdef int _reserve(self, size_t need) except -1:
        cdef size_t cap
        cdef uint8_t *nb
        if need <= self._cap:
            return 0
        cap = self._cap * 2 if self._cap else 64
        while cap < need:
            cap *= 2
        nb = <uint8_t *>PyMem_Realloc(self._buf, cap)
        if nb == NULL:
            raise MemoryError()
        self._buf = nb
        self._cap = cap
        return 0

    cdef int _add(self, uint8_t op, object key, object value, str value_name) except -1:
        cdef Py_buffer kv, vv
        cdef size_t need
        if self._count == 0xffffffff:
            raise ValueError("a WriteBatch holds at most 2**32 - 1 records")
        if self._has_seq and self._count and self._sequence > _U64_MAX - self._count:
            raise ValueError("the batch's sequence numbers would exceed 2**64 - 1")
        _get_buffer(key, &kv, "key")
        try:
            _get_buffer(value, &vv, value_name)
            try:
                need = self._len + 1 + 2 * _MAX_VARINT + <size_t>kv.len + <size_t>vv.len
                self._reserve(need)
                self._buf[self._len] = op
                self._len += 1
                self._len += _put_varint(self._buf + self._len, <uint64_t>kv.len)
                if kv.len:
                    memcpy(self._buf + self._len, kv.buf, kv.len)
                    self._len += <size_t>kv.len
                self._len += _put_varint(self._buf + self._len, <uint64_t>vv.len)
                if vv.len:
                    memcpy(self._buf + self._len, vv.buf, vv.len)
                    self._len += <size_t>vv.len
                self._count += 1
            finally:
                PyBuffer_Release(&vv)
        finally:
            PyBuffer_Release(&kv)
        return 0

    def put(self, key, value):
        """Add a put of `key` -> `value` (bytes-like)."""
        self._add(1, key, value, "value")

    def delete(self, key):
        """Add a delete of `key` (no pre-image)."""
        self._add(0, key, b"", "value")

    def delete_with_pre_image(self, key, pre_image):
        """Add a delete of `key` carrying the value it had (`pre_image`)."""
        self._add(0, key, pre_image, "pre_image")

    def encode(self):
        """The wire bytes: [sequence u64][count u32] then the records.

        ValueError for a batch without a sequence (not appended yet)."""
        if not self._has_seq:
            raise ValueError("this WriteBatch has no sequence yet: WalManager.append "
                             "assigns one, or give WriteBatch(sequence) to encode it "
                             "on its own")
        return self._wire()

    cdef bytes _wire(self):
        """The wire bytes, with sequence 0 when none is set yet."""
        walx_encode_fixed32(self._buf + 8, self._count)
        return PyBytes_FromStringAndSize(<const char *>self._buf, <Py_ssize_t>self._len)

    cdef void _set_sequence(self, uint64_t seq) noexcept:
        self._sequence = seq
        self._has_seq = True
        _store_u64(self._buf, seq)

    @staticmethod
    def decode(data):
        """Parse wire bytes; raises CorruptionError (offset inside `data`) on bad input."""
        cdef Py_buffer view
        _get_buffer(data, &view, "data")
        try:
            return _batch_from(<const uint8_t *>view.buf, <size_t>view.len)
        finally:
            PyBuffer_Release(&view)

    @property
    def sequence(self):
        """The first sequence, or None until WalManager.append assigns one."""
        return self._sequence if self._has_seq else None

    @property
    def last_seq(self):
        """sequence + max(len(self) - 1, 0); None without a sequence."""
        if not self._has_seq:
            return None
        return self._sequence + (self._count - 1 if self._count else 0)

    @property
    def nbytes(self):
        """Size of the encoded batch."""
        return self._len

    def __len__(self):
        return self._count

    def __iter__(self):
        cdef size_t pos = _BATCH_HEADER
        cdef uint64_t klen = 0, vlen = 0
        cdef uint32_t i
        cdef uint8_t op
        ops = (OpType.DELETE, OpType.PUT)
        out = []
        for i in range(self._count):
            op = self._buf[pos]
            pos += 1
            _get_varint(self._buf, self._len, &pos, &klen)
            key = PyBytes_FromStringAndSize(<const char *>self._buf + pos, <Py_ssize_t>klen)
            pos += <size_t>klen
            _get_varint(self._buf, self._len, &pos, &vlen)
            value = PyBytes_FromStringAndSize(<const char *>self._buf + pos, <Py_ssize_t>vlen)
            pos += <size_t>vlen
            out.append(BatchRecord(ops[op], key, value))
        return iter(out)

    def __eq__(self, other):
        if not isinstance(other, WriteBatch):
            return NotImplemented
        return (self._has_seq == (<WriteBatch>other)._has_seq
                and self._wire() == (<WriteBatch>other)._wire())

    def __hash__(self):
        return hash((self._has_seq, self._wire()))

    def __reduce__(self):
        if not self._has_seq:
            return (_unsequenced_batch, (self._wire(),))
        return (WriteBatch.decode, (self.encode(),))

    def __repr__(self):
        return (f"<walx.WriteBatch sequence={self.sequence} records={self._count} "
                f"bytes={self._len}>")


def _unsequenced_batch(data):
    """Unpickle a WriteBatch that had no sequence (its wire bytes say 0)."""
    cdef WriteBatch b = WriteBatch.decode(data)
    b._has_seq = False
    b._sequence = 0
    return b


cdef WriteBatch _batch_from(const uint8_t *p, size_t n):
    """Validate, then copy, wire bytes into a new WriteBatch."""
    cdef uint32_t count = 0
    cdef WriteBatch b
    _validate_batch(p, n, &count)
    b = WriteBatch.__new__(WriteBatch)
    b._reserve(n if n > 64 else 64)
    memcpy(b._buf, p, n)
    b._len = n
    b._count = count
    b._sequence = _load_u64(p)
    b._has_seq = True
    return b
