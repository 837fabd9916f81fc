# Included from _walx.pyx; not a standalone module.
# LogReader: assembles logical records from the physical records its
# physical layer (_PhysicalReader, _physical.pyx) parses, and applies the
# RecoveryMode (docs/format.md, "Reading").

cdef int _MODE_TOLERATE = 0
cdef int _MODE_ABSOLUTE = 1
cdef int _MODE_PIT = 2
cdef int _MODE_SKIP = 3

REASON_INCOMPLETE_CHAIN = "incomplete: unfinished fragment chain"
REASON_MISSING_FIRST = "missing start of fragmented record"
REASON_PARTIAL_CHAIN = "partial record without end"
REASON_KIND = "record of the other header kind than the file's first record"
REASON_TOO_LARGE = "record larger than max_record_size"
REASON_PIT_DROPPED = "dropped: follows earlier damage (POINT_IN_TIME)"
_SKIP = object()


@cython.final
cdef class LogReader(_PhysicalReader):
    """Reads the logical records of a log file or bytes-like object.

    LogReader(source, *, log_number=None, mode=RecoveryMode.TOLERATE_CORRUPTED_TAIL,
              verify_checksums=True, max_record_size=None, codec=None)

    Iterating yields payloads (bytes) in file order. Damage is handled as
    `mode` says (docs/format.md); every damaged range is in ``corruptions``.
    Files are read incrementally, one window of blocks at a time. With
    ``codec="walx"`` it yields WriteBatch objects, and a record that fails to
    decode is damage at that record.
    Raises CorruptionError, WalError (compressed WAL), OSError, TypeError,
    ValueError.
    """
    cdef int _mode
    cdef readonly object mode
    cdef uint64_t _max_record   # 0: unlimited
    cdef uint8_t *_scratch
    cdef size_t _scratch_len
    cdef size_t _scratch_cap
    cdef bint _in_chain
    cdef uint64_t _chain_start
    cdef list _pending          # tentative damage: [offset, end, reason]
    cdef readonly list corruptions
    # Offset just past the last complete logical record returned.
    cdef readonly uint64_t end_offset
    cdef int64_t _last_record_offset
    cdef uint64_t _clean_upto   # end of the last intact physical record or trailer
    cdef bint _done
    cdef bint _stale_end
    cdef bint _busy             # a thread is in _next (which may drop the GIL)
    cdef bint _release_pending  # close() came while _busy: _next releases
    # The file's first header is a damaged recyclable one (RocksDB takes a
    # log's kind from its first header's type before checking the CRC).
    cdef bint _first_damaged_recyclable
    # Pending damage is proven to be this log's, not stale bytes of the
    # file's previous use: an intact record of this log number is in it or
    # follows it.
    cdef bint _own_after_damage
    cdef object _error          # sticky exception once raised
    cdef bint _as_batches       # codec="walx": yield WriteBatch objects
    # Private (walx stats): called with a PhysicalRecord for every physical
    # record the record loop parses; None costs one check per record.
    cdef object _tap

    def __cinit__(self):
        self._scratch = NULL
        self._last_record_offset = -1

    def __init__(self, source, *, log_number=None,
                 mode=RecoveryMode.TOLERATE_CORRUPTED_TAIL,
                 verify_checksums=True, max_record_size=None, codec=None):
        if self._fd >= 0 or self._have_view:
            raise RuntimeError("LogReader.__init__ called twice")
        self.mode = _check_mode(mode)
        self._mode = mode.value
        self._verify = _check_bool(verify_checksums, "verify_checksums")
        if max_record_size is not None:
            self._max_record = _check_uint(max_record_size, "max_record_size",
                                           0xffffffffffffffff)
            if self._max_record == 0:
                raise ValueError("max_record_size must be > 0 or None")
        if log_number is not None:
            self._expect_log = <int64_t>(_check_uint(log_number, "log_number",
                                                     0xffffffffffffffff) & 0xffffffff)
        if codec is not None and codec != "walx":
            raise ValueError(f"codec must be None or 'walx', not {codec!r}")
        self._as_batches = codec == "walx"
        self._pending = []
        self.corruptions = []
        self._open_source(source, log_number is None)

    def __dealloc__(self):
        PyMem_Free(self._scratch)

    cdef void _release(self) noexcept:
        self._release_source()
        PyMem_Free(self._scratch)
        self._scratch = NULL

    def close(self):
        """Release the file or buffer; idempotent. From another thread while
        a read is in progress, the reading thread releases them when its
        read returns (its window is not freed under it)."""
        self.closed = True
        if self._busy:
            self._release_pending = True
        else:
            self._release()

    def __enter__(self):
        if self.closed:
            raise WalClosedError("LogReader is closed")
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __iter__(self):
        if self.closed:
            raise WalClosedError(f"LogReader {self.path!r} is closed")
        return self

    def __next__(self):
        rec = self._next(False)
        if rec is None:
            raise StopIteration
        return rec

    def read_record(self):
        """The next payload, or None at the end of the log."""
        return self._next(False)

    # ---- damage policy ------------------------------------------------------

    cdef int _damage(self, uint64_t off, uint64_t end, str reason) except -1:
        """Note damage over [off, end). Whether it is fatal is decided when
        the reader learns whether a valid record follows (the tail rule)."""
        cdef list last
        if self._in_chain:
            # The open chain is lost with it.
            off = self._chain_start
            self._in_chain = False
            self._scratch_len = 0
        if self._pending:
            last = self._pending[-1]
            if last[1] >= off:
                if end > last[1]:
                    last[1] = end
                return 0
        self._pending.append([off, end, reason])
        if self._mode == _MODE_ABSOLUTE and self._header_kind == WALX_HEADER_SIZE:
            # A legacy file has no stale tail: any damage is fatal now, the
            # first of it (damage may be pending from before the kind was known).
            first = len(self.corruptions)
            self._commit_pending()
            self._fatal_corruption(self.corruptions[first])
        return 0

    cdef int _commit_pending(self) except -1:
        for off, end, reason in self._pending:
            c = Corruption(self.path, off, end - off, reason)
            self.corruptions.append(c)
            _log.warning("damaged log %s at offset %d (%d bytes): %s",
                         self.path if self.path is not None else "<bytes>",
                         off, end - off, reason)
        self._pending = []
        self._own_after_damage = False
        return 0

    cdef int _fatal_corruption(self, c) except -1:
        self._done = True
        self._error = CorruptionError(c.reason, self.path, c.offset)
        raise self._error

    cdef int _resolve_before_record(self, uint64_t rec_off) except -1:
        """A valid logical record starts at `rec_off` after pending damage:
        that damage is not a tail. Returns 1 when the record is to be returned."""
        cdef Py_ssize_t first = len(self.corruptions)
        self._commit_pending()
        if self._mode == _MODE_SKIP:
            return 1
        if self._mode == _MODE_PIT:
            self.corruptions.append(Corruption(self.path, rec_off,
                                               self.file_size - rec_off,
                                               REASON_PIT_DROPPED))
            _log.warning("%s: dropping everything from offset %d (POINT_IN_TIME)",
                         self.path if self.path is not None else "<bytes>", rec_off)
            self._done = True
            return 0
        # TOLERATE_CORRUPTED_TAIL and ABSOLUTE_CONSISTENCY.
        self._fatal_corruption(self.corruptions[first])
        return 0

    cdef int _finish(self) except -1:
        """End of data or of the log: settle what is still pending."""
        cdef uint64_t end = self._data_off + self._data_len
        self._done = True
        if self._in_chain:
            self._damage(self._chain_start, end, REASON_INCOMPLETE_CHAIN)
        if not self._pending:
            return 0
        if ((self._header_kind == WALX_RECYCLABLE_HEADER_SIZE or self._stale_end
             or (self._header_kind == 0 and self._first_damaged_recyclable))
                and not self._own_after_damage):
            # Bytes of the file's previous use look exactly like a torn
            # write; with no record of this log in or after them they are
            # the end of the log, not damage.
            self._pending = []
            return 0
        first = len(self.corruptions)
        self._commit_pending()
        if self._mode == _MODE_ABSOLUTE:
            self._fatal_corruption(self.corruptions[first])
        return 0

    # ---- the record loop -----------------------------------------------------

    cdef int _scratch_append(self, const uint8_t *p, size_t n) except -1:
        cdef size_t need = self._scratch_len + n
        cdef size_t cap
        cdef uint8_t *nb
        if need > self._scratch_cap:
            cap = self._scratch_cap * 2 if self._scratch_cap else 65536
            while cap < need:
                cap *= 2
            nb = <uint8_t *>PyMem_Realloc(self._scratch, cap)
            if nb == NULL:
                raise MemoryError()
            self._scratch = nb
            self._scratch_cap = cap
        if n:
            memcpy(self._scratch + self._scratch_len, p, n)
        self._scratch_len = need
        return 0

    cdef object _emit(self, uint64_t rec_off, uint64_t rec_end, const uint8_t *p, size_t n):
        """A valid logical record [rec_off, rec_end) with payload p[0..n).
        Returns the value to yield, None when reading stops here, or _SKIP."""
        cdef object rec
        if self._as_batches:
            try:
                rec = _batch_from(p, n)
            except CorruptionError as e:
                # A record whose batch fails to decode is damage at that
                # record, under the same tail rule as framing damage. It is
                # an intact record of this log, so never stale bytes.
                self._damage(rec_off, rec_end, e.reason)
                self._own_after_damage = True
                return _SKIP
        else:
            rec = PyBytes_FromStringAndSize(<const char *>p, <Py_ssize_t>n)
        if self._pending:
            if not self._resolve_before_record(rec_off):
                return None
        self._last_record_offset = <int64_t>rec_off
        self.end_offset = rec_end
        return rec

    cdef object _next(self, bint physical):
        """One record (or with `physical`, one physical record) at a time:
        a LogReader is not shared by threads that read at once (a second
        one gets RuntimeError, never mixed data)."""
        if self._busy:
            raise RuntimeError(f"LogReader {self.path!r} is being read by another thread")
        self._busy = True
        try:
            return self._next_physical() if physical else self._next_record()
        finally:
            self._busy = False
            if self._release_pending:
                self._release_pending = False
                self._release()

    cdef object _next_record(self):
        cdef walx_physical ph
        cdef int st, belongs
        cdef uint64_t rec_off, rec_end
        cdef size_t avail
        if self._error is not None:
            raise self._error
        if self.closed:
            raise WalClosedError(f"LogReader {self.path!r} is closed")
        while not self._done:
            st = self._parse_next(&ph, &rec_off, &avail)
            if st < 0:
                self._finish()
                continue
            rec_end = rec_off + ph.consumed
            belongs = self._belongs(&ph) if st == WALX_PARSE_OK else _OWN
            if self._tap is not None:
                self._call_tap(st, &ph, rec_off, belongs)
            if st != WALX_PARSE_OK:
                self._not_a_record(<walx_parse_status>st, &ph, rec_off, rec_end, avail)
            elif belongs == _OWN:
                if self._pending and ph.header_size == WALX_RECYCLABLE_HEADER_SIZE:
                    # This log wrote past the damage: it is not stale.
                    self._own_after_damage = True
                rec = self._take_physical(&ph, rec_off, rec_end)
                if rec is not _SKIP:
                    return rec
            elif belongs == _OTHER_KIND:
                self._damage(rec_off, rec_end, REASON_KIND)
            else:
                # Stale bytes of the file's previous use: the end of this log
                # (RocksDB's kOldRecord).
                self._stale_end = True
                self._finish()
        if self._error is not None:
            raise self._error
        return None

    cdef int _call_tap(self, int st, walx_physical *ph, uint64_t rec_off,
                       int belongs) except -1:
        self._tap(_physical_record(<walx_parse_status>st, ph, rec_off,
                                   belongs == _OLDER_GENERATION))
        return 0

    cdef int _not_a_record(self, walx_parse_status st, walx_physical *ph, uint64_t rec_off,
                           uint64_t rec_end, size_t avail) except -1:
        """What the parser found at `rec_off` is no record: block padding,
        never-written space, or damage."""
        if st == WALX_PARSE_ZERO_FILL and self._in_chain:
            # Writers never zero-fill inside a fragment chain: the chain is
            # torn, and its next LAST belongs to another record.
            return self._damage(self._chain_start, rec_end, REASON_INCOMPLETE_CHAIN)
        if st == WALX_PARSE_TRAILER or st == WALX_PARSE_ZERO_FILL:
            # Writers zero-fill block ends too short for a header;
            # preallocated space reads as type 0, length 0. Appending after
            # zero fill is safe only at a block boundary.
            if st == WALX_PARSE_TRAILER or rec_end % WALX_BLOCK_SIZE == 0:
                self._mark_clean(rec_end)
            return 0
        if st == WALX_PARSE_EOF:
            # Nothing, or zeros too short for a header, at the end:
            # never-written space.
            return 0
        if (rec_off == 0 and avail >= WALX_HEADER_SIZE
                and ph.header_size == WALX_RECYCLABLE_HEADER_SIZE
                and (st == WALX_PARSE_BAD_CRC or st == WALX_PARSE_TRUNCATED_PAYLOAD
                     or st == WALX_PARSE_TRUNCATED_HEADER)):
            # The type byte was read (avail >= 7): a recyclable log whose
            # first write was torn, with stale bytes after it.
            self._first_damaged_recyclable = True
        return self._damage(rec_off, rec_end, _REASONS[st])

    cdef object _take_physical(self, walx_physical *ph, uint64_t rec_off, uint64_t rec_end):
        """Add an intact physical record of this log to the logical record
        being assembled. Returns the logical record it completes, or _SKIP."""
        cdef uint32_t t = ph.type
        if t == WALX_FULL or t == WALX_RECYCLABLE_FULL:
            if self._in_chain:
                self._end_chain_early(rec_off)
            if self._max_record and ph.length > self._max_record:
                self._damage(rec_off, rec_end, REASON_TOO_LARGE)
                return _SKIP
            return self._complete(self._emit(rec_off, rec_end, ph.payload, ph.length), rec_end)
        if t == WALX_FIRST or t == WALX_RECYCLABLE_FIRST:
            if self._in_chain:
                self._end_chain_early(rec_off)
            self._in_chain = True
            self._chain_start = rec_off
            self._scratch_len = 0
            if self._max_record and ph.length > self._max_record:
                self._damage(rec_off, rec_end, REASON_TOO_LARGE)
                return _SKIP
            self._scratch_append(ph.payload, ph.length)
            return _SKIP
        if (t == WALX_MIDDLE or t == WALX_RECYCLABLE_MIDDLE or t == WALX_LAST
                or t == WALX_RECYCLABLE_LAST):
            return self._take_fragment(ph, rec_off, rec_end)
        if t == WALX_SET_COMPRESSION:
            self._done = True
            self._error = WalError(
                f"{self.path if self.path is not None else '<bytes>'} at offset "
                f"{rec_off}: compressed WAL is not supported (RocksDB "
                f"wal_compression record)")
            raise self._error
        if walx_type_sets_kind(t) or (t & WALX_IGNORABLE_BIT):
            # RocksDB meta records (timestamp sizes, predecessor WAL info)
            # and types marked ignorable: skipped, never returned.
            self._mark_clean(rec_end)
        else:
            self._damage(rec_off, rec_end, f"unknown record type {t}")
        return _SKIP

    cdef object _take_fragment(self, walx_physical *ph, uint64_t rec_off, uint64_t rec_end):
        """A MIDDLE or LAST fragment; returns the record a LAST completes, or _SKIP."""
        if not self._in_chain:
            self._damage(rec_off, rec_end, REASON_MISSING_FIRST)
            return _SKIP
        if self._max_record and self._scratch_len + ph.length > self._max_record:
            self._damage(rec_off, rec_end, REASON_TOO_LARGE)
            return _SKIP
        self._scratch_append(ph.payload, ph.length)
        if ph.type != WALX_LAST and ph.type != WALX_RECYCLABLE_LAST:
            return _SKIP
        self._in_chain = False
        rec = self._emit(self._chain_start, rec_end, self._scratch, self._scratch_len)
        if self._scratch_cap > (1 << 22):
            # Do not keep a huge record's buffer around.
            PyMem_Free(self._scratch)
            self._scratch = NULL
            self._scratch_cap = 0
        self._scratch_len = 0
        return self._complete(rec, rec_end)

    cdef inline object _complete(self, object rec, uint64_t rec_end):
        """After _emit: the record to return, or _SKIP (reading goes on, or
        stops when _emit ended it)."""
        self._mark_clean(rec_end)
        return _SKIP if rec is None else rec

    cdef inline void _mark_clean(self, uint64_t end) noexcept:
        """`end` is a safe place to append if nothing damaged or unfinished
        precedes it."""
        if not self._pending and not self._in_chain:
            self._clean_upto = end

    cdef int _end_chain_early(self, uint64_t rec_off) except -1:
        """A FULL or FIRST arrived while a chain was open."""
        if self._scratch_len == 0:
            # A dangling empty FIRST (RocksDB drops it silently).
            self._in_chain = False
            return 0
        self._damage(self._chain_start, rec_off, REASON_PARTIAL_CHAIN)
        return 0

    # ---- properties -------------------------------------------------------------

    @property
    def last_record_offset(self):
        """Start offset of the last record returned (None before the first)."""
        return None if self._last_record_offset < 0 else self._last_record_offset

    @property
    def max_record_size(self):
        return self._max_record if self._max_record else None

    @property
    def recyclable(self):
        return self._header_kind == WALX_RECYCLABLE_HEADER_SIZE

    @property
    def clean_end(self):
        """True once the whole source was read and it ends exactly after an
        intact record: appending there continues the log safely."""
        return (self._done and self._error is None and not self.corruptions
                and not self._stale_end and self._clean_upto == self.file_size)

    def __repr__(self):
        return f"<walx.LogReader {self.path!r} mode={self.mode.name}>"
