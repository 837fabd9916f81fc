# Included from _walx.pyx; not a standalone module.
# PhysicalRecords: the physical layer of a log, one walx_parse_physical()
# result at a time, for tools (`walx stats`). It reports what the parser
# sees and decides nothing: what damage means is LogReader's policy
# (docs/format.md, "Reading"). It reads through a LogReader's physical
# layer (LogReader._next_physical), as LevelDB's ReadRecord reads through
# ReadPhysicalRecord, and a LogReader's tap hands out the same records.

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
    is LogReader._belongs' verdict for an intact record."""
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
