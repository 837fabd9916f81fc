# Included from _walx.pyx; not a standalone module.
# PhysicalRecords: the physical layer of a log, one walx_parse_physical()
# result at a time, for tools (`walx stats`). It reports what the parser
# sees and decides nothing: what damage means is LogReader's policy
# (docs/format.md, "Reading").

import mmap

_PHYSICAL_STATUS = {
    WALX_PARSE_OK: "ok",
    WALX_PARSE_EOF: "end",
    WALX_PARSE_TRAILER: "trailer",
    WALX_PARSE_ZERO_FILL: "zero_fill",
    WALX_PARSE_TRUNCATED_HEADER: "truncated_header",
    WALX_PARSE_TRUNCATED_PAYLOAD: "truncated_payload",
    WALX_PARSE_BAD_LENGTH: "bad_length",
    WALX_PARSE_BAD_CRC: "bad_crc",
}
_META_TYPE_NAMES = {
    WALX_SET_COMPRESSION: "COMPRESSION",
    WALX_TIMESTAMP_SIZE: "TIMESTAMP_SIZE",
    WALX_RECYCLABLE_TIMESTAMP_SIZE: "RECYCLABLE_TIMESTAMP_SIZE",
    WALX_PREDECESSOR_INFO: "PREDECESSOR_WAL_INFO",
    WALX_RECYCLABLE_PREDECESSOR_INFO: "RECYCLABLE_PREDECESSOR_WAL_INFO",
}


def record_type_name(t):
    """A readable name for a physical record type byte."""
    if WALX_FULL <= t <= WALX_RECYCLABLE_LAST:
        return RecordType(t).name
    name = _META_TYPE_NAMES.get(t)
    if name is not None:
        return name
    return f"IGNORABLE_{t}" if t & WALX_IGNORABLE_BIT else f"UNKNOWN_{t}"


@cython.final
@cython.auto_pickle(False)
cdef class PhysicalRecord:
    """One physical record, or one span the parser skipped or found damaged.

    ``status`` is "ok" (an intact record), "old_log" (an intact recyclable
    record of another log number: bytes of the file's previous use),
    "trailer" (block-end padding), "zero_fill" (type 0, length 0: never
    written, up to the block end), "end" (zeros too short for a header at
    the end of the data) or a damage status ("truncated_header",
    "truncated_payload", "bad_length", "bad_crc") whose ``reason`` is the
    text LogReader reports for it. ``size`` is the bytes it covers; the
    next one starts at ``offset + size``. ``type``, ``length`` (payload
    bytes) and ``header_size`` are set when the header could be read,
    ``log_number`` for recyclable headers only.
    """
    cdef readonly uint64_t offset
    cdef readonly uint64_t size
    cdef readonly str status
    cdef readonly str reason
    cdef readonly object type
    cdef readonly uint32_t length
    cdef readonly uint32_t header_size
    cdef readonly object log_number

    @property
    def type_name(self):
        return None if self.type is None else record_type_name(self.type)

    @property
    def damaged(self):
        return self.reason is not None

    def __repr__(self):
        head = f"<walx.PhysicalRecord offset={self.offset} size={self.size} {self.status}"
        if self.type is not None:
            head += f" {self.type_name} length={self.length}"
        if self.log_number is not None:
            head += f" log={self.log_number}"
        return head + ">"


cdef int _open_for_reading(str path, uint64_t *size) except -1:
    """A read-only descriptor of `path` (set *size to its size); OSError
    naming `path` for a directory, a FIFO or socket, or a failed open."""
    cdef int fd = -1, rc
    bpath = os.fsencode(path)
    cdef const char *cpath = bpath
    with nogil:
        rc = walx_open_read(cpath, &fd, size)
    _check_os(rc, path)
    return fd


@cython.final
cdef class PhysicalRecords:
    """Iterates the physical records of a log file or bytes-like object.

    PhysicalRecords(source, *, log_number=None)

    Yields a PhysicalRecord for every record and every skipped or damaged
    span, in file order, covering the source from offset 0 to its end. A
    file is read once, one window of whole blocks at a time, as far as its
    size when opened. `log_number` is what recyclable records must carry
    (default: the number in the file name, else the first intact
    recyclable record's). Not for several threads at once.
    Raises OSError (naming the file, and the offset of a failed read),
    TypeError, ValueError.
    """
    cdef readonly object path   # str, or None for bytes sources
    cdef const uint8_t[::1] _bytes  # a bytes-like source, exported until close()
    cdef int _fd
    cdef uint8_t *_window       # owned window for file sources
    cdef const uint8_t *_data   # the bytes parsed now
    cdef size_t _data_len
    cdef uint64_t _data_off     # source offset of _data[0]; a block boundary
    cdef size_t _pos
    # Bytes the iteration covers: the file's size when opened (less if it
    # shrank before the end was read).
    cdef readonly uint64_t file_size
    # 7 or 11 once an intact record fixed the file's kind, else 0.
    cdef readonly uint32_t header_size
    cdef int64_t _expect_log    # -1 until known

    def __cinit__(self):
        self._fd = -1
        self._expect_log = -1
        self._bytes = None

    def __init__(self, source, *, log_number=None):
        if self._fd >= 0 or self._bytes is not None:
            raise RuntimeError("PhysicalRecords.__init__ called twice")
        if log_number is not None:
            self._expect_log = <int64_t>(_check_uint(log_number, "log_number",
                                                     0xffffffffffffffff) & 0xffffffff)
        if isinstance(source, (str, os.PathLike)):
            self._open_file(_fspath(source, "source"))
            if log_number is None:
                n = log_number_from_name(self.path)
                if n is not None:
                    self._expect_log = n & 0xffffffff
            return
        try:
            self._bytes = memoryview(source).cast("B")
        except (TypeError, ValueError):
            raise TypeError("source must be a path (str or os.PathLike) or a C-contiguous "
                            f"bytes-like object, not {type(source).__name__}") from None
        self._data_len = self.file_size = self._bytes.shape[0]
        self._data = &self._bytes[0] if self._data_len else NULL

    cdef int _open_file(self, str path) except -1:
        cdef uint64_t size = 0
        self._fd = _open_for_reading(path, &size)
        self.path = path
        self.file_size = size
        self._window = <uint8_t *>PyMem_Malloc(_WINDOW)
        if self._window == NULL:
            raise MemoryError()
        self._data = self._window
        return 0

    def __dealloc__(self):
        self._release()

    def close(self):
        """Release the file or buffer; idempotent. Iterating ends."""
        self._release()

    cdef void _release(self) noexcept:
        if self._fd >= 0:
            walx_close(self._fd)
            self._fd = -1
        self._bytes = None
        PyMem_Free(self._window)
        self._window = NULL
        self._data = NULL
        self._data_off = self.file_size
        self._data_len = self._pos = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __iter__(self):
        return self

    cdef bint _refill(self) except -1:
        """Make _data hold unparsed bytes; False at the end of the source.
        The GIL stays held: no other thread can free the window mid-read."""
        cdef size_t got = 0, want = _WINDOW
        cdef uint64_t off = self._data_off + self._data_len
        cdef int rc
        if self._pos < self._data_len:
            return True
        if self._window == NULL or off >= self.file_size:
            return False
        # Only what the file held when opened: a device such as /dev/zero
        # would otherwise never end.
        if self.file_size - off < want:
            want = <size_t>(self.file_size - off)
        rc = walx_pread_full(self._fd, self._window, want, off, &got)
        _check_os(rc, self.path, f"read at offset {off}")
        if got == 0:
            # The file shrank since it was opened: its end is here.
            self.file_size = off
            return False
        self._data_off = off
        self._data_len = got
        self._pos = 0
        return True

    def __next__(self):
        cdef walx_physical ph
        cdef walx_parse_status st
        cdef uint64_t off
        cdef size_t block_left, avail
        if not self._refill():
            raise StopIteration
        off = self._data_off + self._pos
        block_left = WALX_BLOCK_SIZE - off % WALX_BLOCK_SIZE
        avail = min(self._data_len - self._pos, block_left)
        st = walx_parse_physical(self._data + self._pos, block_left, avail,
                                 self.header_size, 1, &ph)
        self._pos += ph.consumed
        return self._record(st, &ph, off)

    cdef PhysicalRecord _record(self, walx_parse_status st, walx_physical *ph, uint64_t off):
        cdef PhysicalRecord r = PhysicalRecord.__new__(PhysicalRecord)
        r.offset = off
        r.size = ph.consumed
        r.status = _PHYSICAL_STATUS[st]
        r.reason = _REASONS.get(st)
        if (st == WALX_PARSE_OK or st == WALX_PARSE_BAD_CRC or st == WALX_PARSE_BAD_LENGTH
                or st == WALX_PARSE_TRUNCATED_PAYLOAD):
            # The parser read the whole header (a too-long recyclable
            # header is BAD_LENGTH with only its first 7 bytes read).
            r.type = ph.type
            r.length = ph.length
            r.header_size = ph.header_size
            if ph.header_size == WALX_RECYCLABLE_HEADER_SIZE and ph.consumed >= ph.header_size:
                r.log_number = ph.log_number
        if st != WALX_PARSE_OK:
            return r
        if walx_type_sets_kind(ph.type) and self.header_size == 0:
            self.header_size = ph.header_size
        if ph.header_size == WALX_RECYCLABLE_HEADER_SIZE:
            if self._expect_log < 0:
                self._expect_log = ph.log_number
            elif ph.log_number != <uint32_t>self._expect_log:
                r.status = "old_log"
        return r

    @property
    def log_number(self):
        """The log number recyclable records must carry (low 32 bits), or None."""
        return None if self._expect_log < 0 else self._expect_log


def _read_once(path, *, mode=RecoveryMode.SKIP_ANY_CORRUPTED, log_number=None):
    """A LogReader and a PhysicalRecords over one read-only mapping of
    `path`: the file is opened and read once for both (``walx stats``).
    Close both before dropping the mapping's last reference.

    A file truncated by another process while mapped raises SIGBUS in the
    reader that touches the missing pages, which ends the process: for
    tools that inspect logs, never for recovery."""
    cdef LogReader reader
    cdef uint64_t size = 0
    path = _fspath(path, "path")
    if log_number is None:
        log_number = log_number_from_name(path)
        if log_number is not None:
            log_number &= 0xffffffff     # as LogReader(path) takes it from the name
    cdef int fd = _open_for_reading(path, &size)
    try:
        # A device reports size 0 (LogReader reads nothing of it either).
        data = mmap.mmap(fd, size, access=mmap.ACCESS_READ) if size else b""
    finally:
        walx_close(fd)
    reader = LogReader(data, mode=mode, log_number=log_number)
    # The reader names the file in its corruptions, errors and log lines.
    reader._path = path
    return reader, PhysicalRecords(data, log_number=log_number)
