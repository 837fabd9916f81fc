# Included from _walx.pyx; not a standalone module.
# The physical layer of a log: _PhysicalReader reads a source and parses it
# one walx_parse_physical() result at a time; LogReader (_reader.pyx) is
# built on it, as LevelDB's ReadRecord on ReadPhysicalRecord. For tools
# (`walx stats`), PhysicalRecords hands those results out as PhysicalRecord
# objects, and so does a LogReader's tap. They report what the parser sees
# and decide nothing: what damage means is LogReader's policy
# (docs/format.md, "Reading").

# File sources are read in windows of this many bytes (whole blocks, so a
# physical record never straddles two windows).
cdef enum:
    _WINDOW = 32 * WALX_BLOCK_SIZE

# Where an intact physical record belongs (_PhysicalReader._belongs).
cdef enum:
    _OWN = 0                # this log's, or a type that fixes no header kind
    _OTHER_KIND = 1         # a header of the other kind than the file's first
    _OLDER_GENERATION = 2   # recyclable, of another log number

_REASONS = {
    WALX_PARSE_TRUNCATED_HEADER: "incomplete: truncated record header",
    WALX_PARSE_TRUNCATED_PAYLOAD: "incomplete: truncated record payload",
    WALX_PARSE_BAD_LENGTH: "bad record length",
    WALX_PARSE_BAD_CRC: "checksum mismatch",
}
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


cdef PhysicalRecord _physical_record(walx_parse_status st, walx_physical *ph, uint64_t off,
                                     bint older_generation):
    """The PhysicalRecord of one walx_parse_physical() result at `off`:
    for PhysicalRecords and for a LogReader's tap alike. `older_generation`
    is _PhysicalReader._belongs' verdict for an intact record."""
    cdef PhysicalRecord r = PhysicalRecord.__new__(PhysicalRecord)
    r.offset = off
    r.size = ph.consumed
    r.status = "old_log" if older_generation else _PHYSICAL_STATUS[st]
    r.reason = _REASONS.get(st)
    if (st == WALX_PARSE_OK or st == WALX_PARSE_BAD_CRC or st == WALX_PARSE_BAD_LENGTH
            or st == WALX_PARSE_TRUNCATED_PAYLOAD):
        # The parser read the whole header (a too-long recyclable header is
        # BAD_LENGTH with only its first 7 bytes read).
        r.type = ph.type
        r.length = ph.length
        r.header_size = ph.header_size
        if ph.header_size == WALX_RECYCLABLE_HEADER_SIZE and ph.consumed >= ph.header_size:
            r.log_number = ph.log_number
    return r


@cython.auto_pickle(False)
cdef class _PhysicalReader:
    """The physical layer of a log, which LogReader assembles records on
    (as LevelDB's ReadRecord on ReadPhysicalRecord): the source (a file
    read one window of whole blocks at a time, or a bytes-like object),
    walx_parse_physical() over it one record at a time, and the file's
    header kind and log number."""
    cdef readonly object path   # str, or None for bytes sources
    cdef object _source_obj     # keeps a bytes-like source alive
    cdef Py_buffer _view
    cdef bint _have_view
    cdef int _fd
    cdef uint8_t *_window       # owned window for file sources
    cdef const uint8_t *_data   # current window
    cdef size_t _data_len
    cdef uint64_t _data_off     # file offset of _data[0]; a block boundary
    cdef size_t _pos
    cdef readonly uint64_t file_size
    cdef bint _at_last_window
    cdef uint32_t _header_kind  # 0 until a record is seen, then 7 or 11
    cdef int64_t _expect_log    # -1 until known
    cdef bint _verify
    cdef readonly bint closed

    def __cinit__(self):
        self._fd = -1
        self._expect_log = -1

    def __dealloc__(self):
        self._release_source()

    cdef int _open_source(self, source, bint number_from_name) except -1:
        """Open `source`: a path (read in windows; with `number_from_name`,
        the log number in its name is the one records must carry) or a
        bytes-like object (held until released)."""
        cdef int fd = -1, rc
        cdef uint64_t size = 0
        if not isinstance(source, (str, os.PathLike)):
            try:
                _get_buffer(source, &self._view, "source")
            except TypeError:
                raise TypeError("source must be a path (str or os.PathLike) or a "
                                f"bytes-like object, not {type(source).__name__}") from None
            self._have_view = True
            self._source_obj = source
            self._data = <const uint8_t *>self._view.buf
            self._data_len = self.file_size = <size_t>self._view.len
            self._at_last_window = True
            return 0
        path = _fspath(source, "source")
        bpath = os.fsencode(path)
        cpath = <const char *>bpath
        with nogil:
            rc = walx_open_read(cpath, &fd, &size)
        _check_os(rc, path)
        self._fd = fd
        self.path = path
        self.file_size = size
        self._window = <uint8_t *>PyMem_Malloc(_WINDOW)
        if self._window == NULL:
            raise MemoryError()
        self._data = self._window
        if number_from_name:
            n = log_number_from_name(path)
            if n is not None:
                self._expect_log = n & 0xffffffff
        return 0

    @cython.final
    cdef void _release_source(self) noexcept:
        if self._fd >= 0:
            walx_close(self._fd)
            self._fd = -1
        if self._have_view:
            PyBuffer_Release(&self._view)
            self._have_view = False
        self._source_obj = None
        PyMem_Free(self._window)
        self._window = NULL
        self._data = NULL
        self._data_len = 0
        self._pos = 0

    @cython.final
    cdef int _load_window(self) except -1:
        """Read the next window of a file source. REQUIRES: _pos == _data_len."""
        cdef size_t got = 0
        cdef int rc
        cdef uint64_t off = self._data_off + self._data_len
        cdef size_t want = _WINDOW
        # Read what the file held when it was opened, no more: a device
        # such as /dev/zero would otherwise never end.
        if self.file_size - off < want:
            want = <size_t>(self.file_size - off)
        with nogil:
            rc = walx_pread_full(self._fd, self._window, want, off, &got)
        _check_os(rc, self.path)
        if self.closed:
            # close() from another thread during the read.
            raise WalClosedError(f"LogReader {self.path!r} is closed")
        self._data_off = off
        self._data_len = got
        self._pos = 0
        if got < _WINDOW:
            # pread_full returns short only at the end of the data.
            self._at_last_window = True
        return 0

    @cython.final
    cdef inline int _parse_next(self, walx_physical *ph, uint64_t *off,
                                size_t *avail) except -2:
        """The physical layer: parse the record at the read position and
        step past it. Returns its walx_parse_status, or -1 at the end of
        the data; *off is its offset, *avail the bytes the parser saw."""
        cdef uint64_t block_left
        cdef int st
        while self._pos >= self._data_len:
            if self._at_last_window:
                return -1
            self._load_window()
        off[0] = self._data_off + self._pos
        block_left = WALX_BLOCK_SIZE - off[0] % WALX_BLOCK_SIZE
        avail[0] = self._data_len - self._pos
        if avail[0] > block_left:
            avail[0] = block_left
        st = walx_parse_physical(self._data + self._pos, block_left, avail[0],
                                 self._header_kind, self._verify, ph)
        self._pos += ph.consumed
        return st

    @cython.final
    cdef object _next_physical(self):
        """The next physical record as a PhysicalRecord, or None at the end
        of the data or once closed (PhysicalRecords; after the record loop
        stopped, the rest of the data). The record loop's state is left
        alone but for the header kind and log number that _belongs fixes."""
        cdef walx_physical ph
        cdef uint64_t off
        cdef size_t avail
        cdef int st
        if self.closed:
            return None
        st = self._parse_next(&ph, &off, &avail)
        if st < 0:
            return None
        return _physical_record(<walx_parse_status>st, &ph, off,
                                st == WALX_PARSE_OK and self._belongs(&ph) == _OLDER_GENERATION)

    @cython.final
    cdef int _belongs(self, walx_physical *ph) noexcept:
        """Where the intact record `ph` belongs: _OWN, _OTHER_KIND (a
        header of the other kind than the file's first record: damage) or
        _OLDER_GENERATION (a recyclable record of another log number: bytes
        of the file's previous use). The first record that carries them
        fixes the file's header kind and, unless given, its log number. The
        one rule for LogReader and PhysicalRecords."""
        cdef uint32_t kind = ph.header_size
        if not walx_type_sets_kind(ph.type):
            return _OWN
        if self._header_kind == 0:
            self._header_kind = kind
        elif kind != self._header_kind:
            return _OTHER_KIND
        if kind == WALX_RECYCLABLE_HEADER_SIZE:
            if self._expect_log < 0:
                self._expect_log = ph.log_number
            elif ph.log_number != <uint32_t>self._expect_log:
                return _OLDER_GENERATION
        return _OWN

    @property
    def header_size(self):
        """7 or 11 once a record was seen (legacy or recyclable), else 0."""
        return self._header_kind

    @property
    def log_number(self):
        """The log number recyclable records must carry (low 32 bits), or None."""
        return None if self._expect_log < 0 else self._expect_log


@cython.final
@cython.auto_pickle(False)
cdef class PhysicalRecords:
    """Iterates the physical records of a log file or bytes-like object.

    PhysicalRecords(source, *, log_number=None)

    Yields a PhysicalRecord for every record and every skipped or damaged
    span, in file order, covering the source from offset 0 to its end. A
    file is read once, one window of whole blocks at a time, as far as its
    size when opened (``file_size``). `log_number` is what recyclable
    records must carry (default: the number in the file name, else the
    first intact recyclable record's). Not for several threads at once.
    Raises OSError (naming the file), TypeError, ValueError.
    """
    cdef LogReader _reader

    def __init__(self, source, *, log_number=None):
        if self._reader is not None:
            raise RuntimeError("PhysicalRecords.__init__ called twice")
        self._reader = LogReader(source, log_number=log_number,
                                 mode=RecoveryMode.SKIP_ANY_CORRUPTED)

    def close(self):
        """Release the file or buffer; idempotent. Iterating ends."""
        if self._reader is not None:
            self._reader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __iter__(self):
        return self

    def __next__(self):
        rec = None if self._reader is None else self._reader._next(True)
        if rec is None:
            raise StopIteration
        return rec

    @property
    def path(self):
        """The file's path, or None for a bytes-like source."""
        return None if self._reader is None else self._reader.path

    @property
    def file_size(self):
        """The bytes the iteration covers: the source's size when opened."""
        return 0 if self._reader is None else self._reader.file_size

    @property
    def header_size(self):
        """7 or 11 once an intact record fixed the file's kind, else 0."""
        return 0 if self._reader is None else self._reader._header_kind

    @property
    def log_number(self):
        """The log number recyclable records must carry (low 32 bits), or None."""
        return None if self._reader is None else self._reader.log_number


def _tap(LogReader reader not None, tap):
    """Private (``walx stats``): from now on `reader` calls tap(record) with
    the PhysicalRecord of every physical record its record loop parses, in
    file order, before acting on it; tap=None stops it. An exception from
    `tap` propagates out of the read, and the reader is not to be used
    further."""
    if tap is not None and not callable(tap):
        raise TypeError(f"tap must be callable or None, not {type(tap).__name__}")
    reader._tap = tap


def _physical_rest(LogReader reader not None):
    """Private (``walx stats``): the physical records of `reader`'s source
    after the place its record loop stopped (a fatal corruption,
    POINT_IN_TIME, a stale end), to the end of the data, read through the
    reader. Closing either ends both."""
    if not reader._done:
        raise ValueError("the reader has not stopped: its records are not read yet")
    cdef PhysicalRecords rest = PhysicalRecords.__new__(PhysicalRecords)
    rest._reader = reader
    return rest
