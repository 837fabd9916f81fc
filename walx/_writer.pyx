# Included from _walx.pyx; not a standalone module.
# LogWriter: appends records through the C writer (csrc/walx_writer.c),
# which frames them (csrc/walx_frame.c) and hands them to the OS.

# The framing buffer of a write-through writer. Larger records that are
# copied (not stable) are framed and written in pieces of this size.
cdef enum:
    _WRITE_THROUGH_BUFFER = 4 * WALX_BLOCK_SIZE

# The user-space buffer is allocated up front; beyond this it would only
# delay writes and waste memory.
_MAX_BUFFER = 1 << 30


@cython.final
cdef class LogWriter:
    """Appends records to a log file in RocksDB/LevelDB log format.

    LogWriter(path, *, log_number=None, recyclable=False, buffer_size=0,
              overwrite=False)

    A new file is created; an existing one is appended to, continuing its
    block layout, after checking that its tail is intact (CorruptionError
    otherwise: run walx.repair first). With ``overwrite=True`` an existing
    file is written from offset 0 over its old bytes (a recycled log, which
    must be recyclable, or a zero-filled preallocated one); readers stop at
    the old bytes by their log number or at the zero fill. With ``buffer_size == 0`` every
    record reaches the OS before ``add_record`` returns. ``log_number``
    defaults to the number in a ``<digits>.log``/``.wal`` file name, else 0.
    Thread-safe; concurrent ``sync()`` calls share fdatasyncs.
    """
    cdef walx_writer _st
    # _lock serialises _st; _sync_lock serialises syncs. Order: _sync_lock
    # before _lock. Both are plain pthread mutexes (CPython's lock reads the
    # clock on every acquire), taken without the GIL, or with it only by
    # trylock, so a thread never blocks on them while holding the GIL.
    cdef pthread_mutex_t _lock
    cdef pthread_mutex_t _sync_lock
    cdef bint _locks_ready
    # Bytes known durable (fdatasync completed after they were written).
    cdef uint64_t _synced_upto
    # -errno of the first failed write or sync, 0 while healthy.
    cdef int _poison_rc
    cdef object _poison_exc
    cdef object _path
    cdef uint64_t _log_number
    cdef size_t _buffer_size
    cdef readonly uint64_t syncs_total

    def __cinit__(self):
        self._st.fd = -1
        self._st.buf = NULL
        if pthread_mutex_init(&self._lock, NULL) or pthread_mutex_init(&self._sync_lock, NULL):
            raise MemoryError()
        self._locks_ready = True

    def __init__(self, path, *, log_number=None, recyclable=False, buffer_size=0,
                 overwrite=False):
        cdef int fd = -1
        cdef uint64_t size = 0
        cdef int rc
        if self._st.fd >= 0:
            raise RuntimeError("LogWriter.__init__ called twice")
        path = _fspath(path, "path")
        if not isinstance(recyclable, bool):
            raise TypeError(f"recyclable must be a bool, not {type(recyclable).__name__}")
        if not isinstance(overwrite, bool):
            raise TypeError(f"overwrite must be a bool, not {type(overwrite).__name__}")
        if overwrite and not recyclable:
            _check_zero_filled(path)
        self._buffer_size = _check_uint(buffer_size, "buffer_size", _MAX_BUFFER)
        name_number = log_number_from_name(path)
        if log_number is None:
            log_number = name_number if name_number is not None else 0
        self._log_number = _check_uint(log_number, "log_number", 0xffffffffffffffff)
        if recyclable and name_number is not None and (name_number & 0xffffffff) != (
                self._log_number & 0xffffffff):
            raise ValueError(
                f"log_number {log_number} differs from the number in the file name "
                f"{os.path.basename(path)!r}; readers of a recyclable log would take "
                f"its records for a previous generation")
        self._path = path
        cdef size_t cap = _WRITE_THROUGH_BUFFER
        if self._buffer_size:
            cap = max(<size_t>WALX_WRITER_MIN_BUFFER, self._buffer_size + WALX_BLOCK_SIZE)
        PyMem_Free(self._st.buf)     # a failed earlier __init__ may have left one
        self._st.buf = <uint8_t *>PyMem_Malloc(cap)
        if self._st.buf == NULL:
            raise MemoryError(f"cannot allocate a {cap}-byte buffer (buffer_size={buffer_size})")
        self._st.buf_cap = cap
        self._st.buf_len = 0
        self._st.flush_at = self._buffer_size if self._buffer_size else 1
        self._st.recyclable = 1 if recyclable else 0
        self._st.log_number = <uint32_t>(self._log_number & 0xffffffff)
        bpath = os.fsencode(path)
        cdef const char *cpath = bpath
        if overwrite:
            with nogil:
                rc = walx_open_overwrite(cpath, &fd, &size)
            # The log starts at offset 0; the old bytes after it are not ours.
            size = 0
        else:
            with nogil:
                rc = walx_open_append(cpath, &fd, &size)
        _check_os(rc, path)
        if size:
            try:
                _check_tail_for_append(path, size, bool(recyclable), self._log_number)
            except BaseException:
                walx_close(fd)
                raise
        self._st.fd = fd
        self._st.size = size
        self._st.block_offset = <uint32_t>(size % WALX_BLOCK_SIZE)
        self._synced_upto = 0

    def __dealloc__(self):
        # Best effort: close without flushing or syncing (a failure could
        # not be reported from here); buffered records are lost, as after a
        # crash. Errors from close() are ignored.
        if self._st.fd >= 0:
            walx_close(self._st.fd)
            self._st.fd = -1
            if self._st.buf_len:
                warnings.warn(f"unclosed walx.LogWriter {self._path!r} dropped "
                              f"{self._st.buf_len} buffered bytes", ResourceWarning)
            else:
                warnings.warn(f"unclosed walx.LogWriter {self._path!r}", ResourceWarning)
        if self._st.buf != NULL:
            PyMem_Free(self._st.buf)
            self._st.buf = NULL
        if self._locks_ready:
            pthread_mutex_destroy(&self._lock)
            pthread_mutex_destroy(&self._sync_lock)
            self._locks_ready = False

    cdef inline int _check_open(self) except -1:
        if self._st.fd < 0:
            raise WalClosedError(f"LogWriter {self._path!r} is closed")
        if self._poison_rc:
            raise WalPoisonedError(
                f"LogWriter {self._path!r} failed earlier ({self._poison_exc}); "
                f"reopen it to continue") from self._poison_exc
        return 0

    cdef int _fail(self, int rc, str what) except -1:
        """Map a C result after a write or sync: poison on I/O failure."""
        if rc == _RC_CLOSED:
            raise WalClosedError(f"LogWriter {self._path!r} was closed during {what}")
        if rc == 0:
            return 0
        if self._poison_rc == 0 or self._poison_exc is None:
            exc = _os_error(rc, self._path, what)
            self._poison_rc = rc
            self._poison_exc = exc
            raise exc
        raise WalPoisonedError(
            f"LogWriter {self._path!r} failed earlier ({self._poison_exc}); "
            f"reopen it to continue") from self._poison_exc

    def add_record(self, data):
        """Append one record (any bytes-like object); return its start offset.

        Raises WalClosedError, WalPoisonedError, TypeError, OSError.
        """
        cdef Py_buffer view
        cdef walx_qentry rec
        cdef int rc
        cdef uint64_t offset = 0
        if self._st.fd < 0 or self._poison_rc:
            self._check_open()       # raises
        rec.next = NULL
        if type(data) is bytes:
            # Immutable and kept alive by the caller: no buffer to pin.
            rec.data = <const uint8_t *>PyBytes_AS_STRING(data)
            rec.len = <size_t>PyBytes_GET_SIZE(data)
            rc = self._add(&rec, &rec, True, &offset)
        else:
            _get_buffer(data, &view, "data")
            try:
                # A writable buffer may change during the write (another
                # thread): it is copied, so its CRC matches what is written.
                rec.data = <const uint8_t *>view.buf
                rec.len = <size_t>view.len
                rc = self._add(&rec, &rec, view.readonly != 0, &offset)
            finally:
                PyBuffer_Release(&view)
        if rc:
            self._fail(rc, "write")
        return offset

    def add_records(self, records):
        """Append many records in one call (one write when they fit the buffer).

        Returns the number of records written. Raises as add_record.
        """
        cdef int rc = 0
        cdef uint64_t offset = 0
        cdef bint stable = True
        self._check_open()
        if isinstance(records, (bytes, bytearray, memoryview, str)):
            raise TypeError("records must be an iterable of bytes-like objects, "
                            f"not a single {type(records).__name__}")
        try:
            it = iter(records)
        except TypeError:
            raise TypeError(f"records must be an iterable of bytes-like objects, "
                            f"not {type(records).__name__}") from None
        # Validate and pin every buffer first, so a bad element writes nothing.
        items = list(it)
        views = []
        for i, item in enumerate(items):
            if isinstance(item, str):
                raise TypeError(f"records[{i}] must be a bytes-like object, not str")
            try:
                views.append(memoryview(item).cast("B"))
            except TypeError:
                raise TypeError(f"records[{i}] must be a bytes-like object, "
                                f"not {type(item).__name__}") from None
        cdef const uint8_t[::1] mv
        cdef Py_ssize_t j, n = len(views)
        if n == 0:
            return 0
        cdef walx_qentry *recs = <walx_qentry *>PyMem_Malloc(n * sizeof(walx_qentry))
        if recs == NULL:
            raise MemoryError()
        try:
            # The views in `views` keep every buffer pinned until the end.
            for j in range(n):
                v = views[j]
                stable = stable and v.readonly
                mv = v
                recs[j].data = &mv[0] if mv.shape[0] else NULL
                recs[j].len = <size_t>mv.shape[0]
                recs[j].next = &recs[j + 1] if j + 1 < n else NULL
            rc = self._add(recs, &recs[n - 1], stable, &offset)
        finally:
            PyMem_Free(recs)
        if rc:
            self._fail(rc, "write")
        return n

    cdef int _add(self, walx_qentry *first, walx_qentry *last, bint stable,
                  uint64_t *offset) noexcept:
        """The Python side's way into the one append path (_append_locked),
        keeping the GIL when that stalls nobody, else releasing it. The GIL
        is never held while waiting for self._lock (only while trying it).
        Returns 0, -errno or _RC_CLOSED. REQUIRES: the GIL held."""
        cdef int rc
        if self._st.flush_at == 1:
            if _only_python_thread() and self._one_write(first, last):
                # No other Python thread: none to hand the GIL to (releasing
                # it around a page-cache write(2) costs ~10% of a small
                # append) and none that can hold self._lock (every holder
                # is a Python thread inside a LogWriter method).
                return self._append_locked(first, last, stable, offset)
        elif pthread_mutex_trylock(&self._lock) == 0:
            if self._below_flush_mark_locked(first, last):
                # Buffered, and no syscall is needed: keep the GIL.
                rc = self._append_locked(first, last, stable, offset)
                pthread_mutex_unlock(&self._lock)
                return rc
            pthread_mutex_unlock(&self._lock)
        with nogil:
            pthread_mutex_lock(&self._lock)
            rc = self._append_locked(first, last, stable, offset)
            pthread_mutex_unlock(&self._lock)
        return rc

    cdef inline bint _one_write(self, walx_qentry *first, walx_qentry *last) noexcept nogil:
        """Write-through: True when first..last are framed into the buffer
        and handed over with one write(2), none written in place.
        REQUIRES: self._lock held, or no other Python thread."""
        if first == last:
            # One record below the in-place size spans at most three
            # blocks: framed, it fits the write-through buffer.
            return first.len < WALX_WRITER_IN_PLACE_MIN
        return (self._framed_size_locked(first, last, WALX_WRITER_IN_PLACE_MIN)
                < WALX_WRITER_IN_PLACE_MIN)

    cdef inline bint _below_flush_mark_locked(self, walx_qentry *first,
                                              walx_qentry *last) noexcept nogil:
        """Buffered: True when first..last, framed, leave the buffer below
        flush_at, so appending them makes no syscall. REQUIRES: self._lock
        held."""
        if self._st.buf_len >= self._st.flush_at:
            return False
        cdef size_t room = self._st.flush_at - self._st.buf_len
        if first == last:
            # A bound, not the exact size (this runs on every buffered
            # append): a record of n bytes is at most n / (block - header)
            # + 2 fragments, each with a header, after a trailer shorter
            # than a header.
            return (first.len < room and (first.len // (WALX_BLOCK_SIZE - WALX_RECYCLABLE_HEADER_SIZE) + 3)
                    * WALX_RECYCLABLE_HEADER_SIZE < room - first.len)
        return self._framed_size_locked(first, last, room) < room

    cdef size_t _framed_size_locked(self, walx_qentry *first, walx_qentry *last,
                                    size_t limit) noexcept nogil:
        """The bytes first..last take framed from the current block offset,
        or `limit` when that is more. REQUIRES: self._lock held."""
        cdef size_t total = 0, k
        cdef uint32_t off = self._st.block_offset
        cdef walx_qentry *e = first
        while True:
            k = walx_framed_size(off, self._st.recyclable, e.len)
            if k >= limit - total:
                return limit
            total += k
            off = <uint32_t>((off + k) % WALX_BLOCK_SIZE)
            if e == last:
                return total
            e = e.next

    cdef int _append_locked(self, walx_qentry *first, walx_qentry *last, bint stable,
                            uint64_t *offset) noexcept nogil:
        """THE append path, for add_record, add_records and the manager's
        group commit alike: frames the records first..last (linked by
        .next) in order, then hands the buffer to the OS once it reached
        flush_at (write-through: always). *offset is the first record's
        start. `stable`: the bytes cannot change meanwhile (bytes, read-only
        buffers), so large ones may be written in place. Returns 0, -errno
        (the writer is then poisoned: how much reached the file is unknown)
        or _RC_CLOSED. REQUIRES: self._lock held, or no other Python thread
        (see _add); with or without the GIL."""
        cdef uint64_t ignored = 0
        cdef walx_qentry *e = first
        cdef int rc = self._unusable_locked()
        if rc:
            return rc
        while True:
            rc = walx_writer_add(&self._st, e.data, e.len, stable,
                                 offset if e == first else &ignored)
            if rc or e == last:
                break
            e = e.next
        if rc == 0:
            rc = walx_writer_maybe_flush(&self._st)
        if rc < 0:
            self._poison_rc = rc
        return rc

    cdef inline int _unusable_locked(self) noexcept nogil:
        """_RC_CLOSED, the poison -errno, or 0. REQUIRES: self._lock held."""
        if self._st.fd < 0:
            return _RC_CLOSED
        return self._poison_rc

    def flush(self):
        """Hand buffered bytes to the OS (no-op when buffer_size == 0)."""
        cdef int rc
        self._check_open()
        with nogil:
            pthread_mutex_lock(&self._lock)
            rc = self._flush_locked()
            pthread_mutex_unlock(&self._lock)
        if rc:
            self._fail(rc, "write")

    cdef int _flush_locked(self) noexcept nogil:
        # REQUIRES: self._lock held.
        cdef int rc = self._unusable_locked()
        if rc:
            return rc
        rc = walx_writer_flush(&self._st)
        if rc < 0:
            self._poison_rc = rc
        return rc

    cdef int _sync_nogil(self, int data_only) noexcept nogil:
        """Flush, then fdatasync (or fsync) unless a sync that started after
        this call's bytes were written has completed meanwhile. Returns 0,
        -errno (and poisons) or _RC_CLOSED."""
        cdef int rc = 0
        cdef uint64_t mine = 0, target = 0
        pthread_mutex_lock(&self._lock)
        rc = self._flush_locked()
        # Everything up to `mine` was handed to the OS before this call.
        mine = self._st.size - self._st.buf_len
        pthread_mutex_unlock(&self._lock)
        if rc:
            return rc
        pthread_mutex_lock(&self._sync_lock)
        if self._poison_rc:
            rc = self._poison_rc
        elif self._synced_upto >= mine and data_only:
            # A sync that started after our write completed while we
            # waited: our bytes are durable already.
            rc = 0
        else:
            pthread_mutex_lock(&self._lock)
            if self._st.fd < 0:
                rc = _RC_CLOSED
            target = self._st.size - self._st.buf_len
            pthread_mutex_unlock(&self._lock)
            if rc == 0:
                # A crash before this returns may lose any byte after
                # _synced_upto; a crash after it loses none up to `target`.
                # A failure is never retried: the kernel may already have
                # dropped the dirty pages (fsyncgate).
                rc = walx_sync_fd(self._st.fd, data_only)
                self.syncs_total += 1
                if rc == 0:
                    if target > self._synced_upto:
                        self._synced_upto = target
                else:
                    self._poison_rc = rc
        pthread_mutex_unlock(&self._sync_lock)
        return rc

    cdef int _add_entries_nogil(self, walx_qentry *first, walx_qentry *last) noexcept nogil:
        """The manager's group commit: append the records of first..last
        (whose bytes its callers keep alive and unchanged) through the one
        append path, in as few writes as the buffer allows. Returns 0,
        -errno (poisons) or _RC_CLOSED. REQUIRES: the GIL released."""
        cdef int rc
        cdef uint64_t offset = 0
        pthread_mutex_lock(&self._lock)
        rc = self._append_locked(first, last, True, &offset)
        pthread_mutex_unlock(&self._lock)
        return rc

    cdef int _sync(self, int data_only) except -1:
        cdef int rc
        self._check_open()
        with nogil:
            rc = self._sync_nogil(data_only)
        if rc:
            self._fail(rc, "fdatasync" if data_only else "fsync")
        return 0

    def sync(self):
        """Flush, then fdatasync: every record added before this call is durable.

        Concurrent callers share one fdatasync where they can. After a
        failure the writer is poisoned (WalPoisonedError); it never retries.
        """
        self._sync(1)

    def sync_all(self):
        """Flush, then fsync (data and metadata)."""
        self._sync(0)

    def close(self):
        """Flush and close the file; idempotent. Does not sync."""
        cdef int rc = 0, crc = 0
        if self._st.fd < 0:
            return
        with nogil:
            pthread_mutex_lock(&self._sync_lock)
            pthread_mutex_lock(&self._lock)
            if self._st.fd >= 0:
                if self._poison_rc == 0:
                    rc = walx_writer_flush(&self._st)
                crc = walx_close(self._st.fd)
                self._st.fd = -1
            pthread_mutex_unlock(&self._lock)
            pthread_mutex_unlock(&self._sync_lock)
        if rc < 0:
            self._poison_rc = rc
            _check_os(rc, self._path)
        _check_os(crc, self._path)

    def __enter__(self):
        self._check_open()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def fileno(self):
        """The file descriptor (valid until close)."""
        if self._st.fd < 0:
            raise WalClosedError(f"LogWriter {self._path!r} is closed")
        return self._st.fd

    @property
    def path(self):
        return self._path

    @property
    def log_number(self):
        return self._log_number

    @property
    def recyclable(self):
        return bool(self._st.recyclable)

    @property
    def block_offset(self):
        """Offset inside the current block where the next record starts (before any trailer)."""
        return self._st.block_offset

    @property
    def size(self):
        """Bytes in the log, including bytes still buffered."""
        return self._st.size

    @property
    def buffer_size(self):
        return self._buffer_size

    @property
    def closed(self):
        return self._st.fd < 0

    @property
    def poisoned(self):
        """True after a failed write or sync."""
        return self._poison_rc != 0

    def __repr__(self):
        state = "closed" if self._st.fd < 0 else f"size={self._st.size}"
        return f"<walx.LogWriter {self._path!r} {state}>"


def _check_zero_filled(path):
    """Overwriting a legacy log is safe only over zeros: its old records
    would otherwise read as this log's."""
    try:
        with open(path, "rb") as f:
            head = f.read(WALX_BLOCK_SIZE)
    except FileNotFoundError:
        raise FileNotFoundError(2, "overwrite=True needs an existing file", path) from None
    if head.count(0) != len(head):
        raise ValueError(f"overwrite=True on {path!r} needs recyclable=True, or a "
                         "zero-filled (preallocated) file: its old records would "
                         "otherwise be read as this log's")


def _check_tail_for_append(path, uint64_t size, bint recyclable, uint64_t log_number):
    """Refuse to append after a damaged tail or to a log of the other kind.

    LevelDB appended after torn tails and so turned them into mid-file
    corruption; here the caller must truncate first (walx.repair).
    """
    reader = LogReader(path, log_number=log_number if recyclable else None,
                       mode=RecoveryMode.TOLERATE_CORRUPTED_TAIL)
    try:
        for _ in reader:
            pass
        kind = reader.header_size
        if kind and (kind == WALX_RECYCLABLE_HEADER_SIZE) != recyclable:
            raise ValueError(
                f"{path!r} holds {'recyclable' if kind == 11 else 'legacy'} records; "
                f"open it with recyclable={kind == 11}")
        if not reader.clean_end:
            other = _foreign_log_number(path, reader.end_offset, size) if recyclable else None
            if other is not None and other != (log_number & 0xffffffff):
                if reader.end_offset == 0:
                    raise ValueError(
                        f"{path!r} holds records of log number {other}, not {log_number}; "
                        f"pass log_number={other} to append to it")
                raise CorruptionError(
                    f"the records from offset {reader.end_offset} of {size} belong to log "
                    f"number {other}, an older log this recycled file was written over; "
                    f"records appended after them could never be read back: cut them with "
                    f"walx.repair() before appending", path, reader.end_offset)
            raise CorruptionError(
                f"the log does not end cleanly (valid data ends at offset "
                f"{reader.end_offset} of {size}); run walx.repair() before appending",
                path, reader.end_offset)
    finally:
        reader.close()


def _foreign_log_number(path, uint64_t offset, uint64_t size):
    """The log number of an intact recyclable record (FULL..LAST) at
    `offset` of `path`, or None."""
    cdef walx_physical ph
    cdef size_t block_left = WALX_BLOCK_SIZE - offset % WALX_BLOCK_SIZE
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(<size_t>min(<uint64_t>block_left, size - offset))
    if not data:
        return None
    if walx_parse_physical(<const uint8_t *>PyBytes_AS_STRING(data), block_left,
                           <size_t>len(data), WALX_RECYCLABLE_HEADER_SIZE, 1,
                           &ph) != WALX_PARSE_OK:
        return None
    if ph.type < WALX_RECYCLABLE_FULL or ph.type > WALX_RECYCLABLE_LAST:
        return None
    return ph.log_number
