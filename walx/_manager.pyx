# Included from _walx.pyx; not a standalone module.
# WalManager: a directory of logs: LOCK, the group-commit queue, rotation,
# GC, poison and metrics. Creating and deleting its log files (and the
# recycle pool) is in _logfiles.pyx; replay across files in _recovery.pyx
# (the static methods here are its entry points); repair in _repair.pyx.
#
# Lock order: the queue's mutex (csrc/walx_queue.c) is never held while
# another lock is taken; self._mu (a plain lock for the closed-log list and
# the recycle pool) is taken before the LogWriter's internal locks, never
# after. I/O on the current log is done only by the thread at the head of
# the queue.
#
# Poison: the first failed write or fsync of a log or of the directory
# poisons the manager until it is reopened (a failed fsync is never
# retried). The manager's _poison_rc is the truth, set (with _poison_exc,
# the exception that is the cause of every later WalPoisonedError) in
# _poison only. The queue's poison_rc mirrors it for the threads that wait
# without the GIL: an append group's leader hands its failure to the queue
# itself, every exclusive operation ends with walx_queue_finish(...,
# _poison_rc). The LogWriter's own _poison_rc guards the writer, which also
# stands alone; the manager never reads it, it gets every failure as the
# -errno of the writer call that failed.
#
# Sequences: an append takes them as it joins the queue, under its mutex
# (walx_queue_wait), so log order is sequence order; the watermarks, the
# sync_interval thread and first_seq are in _watermarks.pyx.

# Most bytes a group-commit leader takes from the queue in one write.
cdef enum:
    _GROUP_BYTES = 4 << 20


@cython.final
cdef class WalManager:
    """A directory of WAL files: append, rotate, GC and recover.

    WalManager(dir, initial_log_number=1, *, sync=True, buffer_size=0,
               recyclable=False, recycle_log_files=0, preallocate=0,
               sync_interval=0.0)

    Creates `dir` if needed, takes its LOCK (WalLockedError when another
    live manager holds it), creates log `initial_log_number` (an existing
    non-empty file of that number is FileExistsError) and fsyncs the
    directory. Thread-safe; concurrent durable appends share fdatasyncs.
    append assigns sequences (last_seq + 1) unless the batch has its own;
    sync_interval > 0 fdatasyncs in a background thread at that period.
    """
    cdef readonly object dir            # pathlib.Path
    cdef int _lock_fd
    cdef LogWriter _writer
    cdef readonly uint64_t log_number   # of the log being written
    cdef uint64_t _next_log
    # Highest sequence appended to the current log (0 if none).
    cdef readonly uint64_t current_max_seq
    cdef readonly uint64_t flushed_seq
    cdef list _closed_logs
    cdef object _mu             # guards _closed_logs and _recycle_pool
    cdef walx_queue _q
    cdef bint _q_ready
    cdef readonly bint closed
    cdef int _poison_rc         # -errno of the failure that poisoned it, or 0
    cdef object _poison_exc     # the exception raised for that failure
    cdef bint _sync_default
    cdef size_t _buffer_size
    cdef bint _recyclable
    cdef uint64_t _preallocate
    cdef uint64_t _m_appends, _m_syncs, _m_bytes, _m_rotations, _m_gcd, _m_errors
    cdef uint64_t _m_groups, _m_recycled
    cdef Py_ssize_t _recycle_max
    cdef list _recycle_pool     # paths of GC'd logs kept for reuse; under _mu
    cdef dict _log_first        # closed log number -> its first sequence; under _mu
    cdef uint64_t _cur_first    # first sequence in the current log, 0 if none; head only
    cdef uint64_t _written_seq  # highest sequence handed to a writer; head only
    cdef double _sync_interval
    cdef object _syncer         # the sync_interval thread, or None
    cdef object _syncer_stop    # threading.Event that ends it
    cdef object __weakref__     # the syncer holds the manager weakly

    def __cinit__(self):
        self._lock_fd = -1
        self.closed = True
        _check_os(walx_queue_init(&self._q), None)
        self._q_ready = True

    def __init__(self, dir, initial_log_number=1, *, sync=True, buffer_size=0,
                 recyclable=False, recycle_log_files=0, preallocate=0,
                 sync_interval=0.0):
        self._configure(dir, sync, buffer_size, recyclable, recycle_log_files, preallocate,
                        sync_interval)
        n = _check_uint(initial_log_number, "initial_log_number", _MAX_LOG_NUMBER - 1)
        self._take_lock()
        try:
            self._open_log(n)
        except BaseException:
            self._abandon()
            raise
        _start_syncer(self)

    cdef _configure(self, dir, sync, buffer_size, recyclable, recycle_log_files,
                    preallocate, sync_interval):
        self._sync_interval = _check_interval(sync_interval)
        self._log_first = {}
        self.dir = pathlib.Path(_fspath(dir, "dir"))
        self._sync_default = _check_bool(sync, "sync")
        _check_bool(recyclable, "recyclable")
        self._buffer_size = _check_uint(buffer_size, "buffer_size", _MAX_BUFFER)
        self._recycle_max = <Py_ssize_t>_check_uint(recycle_log_files, "recycle_log_files", 1 << 20)
        # Recycled files hold old records; only the log number embedded by
        # the recyclable header tells a reader where the new log ends.
        self._recyclable = recyclable or self._recycle_max > 0
        self._recycle_pool = []
        self._preallocate = _check_uint(preallocate, "preallocate", 1 << 40)
        self._closed_logs = []
        self._mu = threading.Lock()

    cdef _take_lock(self):
        try:
            os.makedirs(self.dir, exist_ok=True)
        except FileExistsError:
            raise NotADirectoryError(ENOTDIR, "not a directory", str(self.dir)) from None
        lock_path = str(self.dir / "LOCK")
        self._lock_fd = _lock_or_raise(
            lock_path, f"{self.dir} is locked by another live WalManager (LOCK file "
                       f"{lock_path})")
        _adopt_recycle_files(self)

    cdef _release_lock(self):
        if self._lock_fd >= 0:
            # Unlock, then close: a child forked since the lock was taken
            # shares the descriptor's lock, and closing alone would leave
            # the directory locked until that child exits.
            walx_unlock_file(self._lock_fd)
            self._lock_fd = -1

    cdef _abandon(self):
        """A manager whose opening failed: close what it opened, unlock."""
        if self._writer is not None:
            self._writer.close()
        self.closed = True
        self._release_lock()

    # ---- log creation ------------------------------------------------------

    cdef _open_log(self, uint64_t n):
        path = _log_path(self.dir, n)
        _log.info("opening WAL %s", path)
        self._writer = _create_log(self, str(path), n)
        self.log_number = n
        self._next_log = n + 1
        self.current_max_seq = 0
        self._cur_first = 0
        self.closed = False

    cdef int _sync_dir_or_poison(self) except -1:
        """fsync the directory; a failure poisons the manager. As with a log
        fsync, the kernel may drop the dirty entry after a failure and
        report success next time, so it is never retried."""
        cdef int rc = _sync_dir_rc(self.dir)
        if rc == 0:
            return 0
        self._m_errors += 1
        if self._lock_fd >= 0 and not self.closed:
            raise self._poison(rc, str(self.dir), None)
        raise _os_error(rc, str(self.dir))

    def __dealloc__(self):
        if self._syncer_stop is not None:
            self._syncer_stop.set()
        if self._lock_fd >= 0:
            walx_close(self._lock_fd)
            self._lock_fd = -1
        if self._q_ready:
            walx_queue_destroy(&self._q)
            self._q_ready = False

    # ---- poison --------------------------------------------------------------

    cdef object _poison(self, int rc, object path, str what):
        """The OSError for a failed write or fsync (`rc`, -errno) of `path`,
        a log or the directory; the first one poisons the manager."""
        exc = _os_error(rc, path, what)
        if self._poison_rc == 0:
            self._poison_rc = rc
            self._poison_exc = exc
        return exc

    cdef int _failed(self, int rc, str what) except -1:
        """Raise for the failure `rc` of a write or sync of the current log:
        WalClosedError for _RC_CLOSED, else the OSError (which poisons)."""
        if rc == _RC_CLOSED:
            raise WalClosedError(f"WalManager {self.dir} was closed during the {what}")
        raise self._poison(rc, str(_log_path(self.dir, self.log_number)), what)

    cdef int _refused(self, int st) except -1:
        """The queue refused an entry: closed, or poisoned (st = -errno)."""
        if st == WALX_Q_CLOSED or self.closed:
            raise WalClosedError(f"WalManager {self.dir} is closed")
        if self._poison_exc is None:
            # The failing group's leader has not taken the GIL back yet.
            self._poison(st, str(_log_path(self.dir, self.log_number)), "WAL write or sync")
        raise WalPoisonedError(f"WalManager {self.dir}: an earlier write or sync "
                               f"failed ({self._poison_exc}); reopen it to continue"
                               ) from self._poison_exc

    # ---- the group-commit queue (csrc/walx_queue.c) ------------------------
    # Every append, sync, rotate and close waits in self._q without the GIL.
    # The entry at the head leads: for an append it takes the appends queued
    # behind it, writes them with one write and (if any asked) one fdatasync,
    # all without the GIL; sync, rotate and close run alone at the head, so
    # they never overlap a write. Only the head touches self._writer,
    # self.current_max_seq and self.log_number.

    cdef int _wait_exclusive(self, walx_qentry *e) noexcept:
        """Queue `e` as an exclusive entry; returns walx_queue_wait's status.
        REQUIRES: on WALX_Q_LEADER, the caller calls _finish_exclusive(e)."""
        cdef int st
        e.kind = WALX_Q_EXCLUSIVE
        e.data = NULL
        e.len = 0
        e.want_sync = 0
        e.seq_at = NULL
        e.first_seq = e.nseq = e.last_seq = 0
        with nogil:
            st = walx_queue_wait(&self._q, e)
        return st

    cdef int _enter_exclusive(self, walx_qentry *e) except -1:
        """Wait (without the GIL) until `e` heads the queue. REQUIRES: the
        caller calls _finish_exclusive(e) afterwards, also on error."""
        if self.closed:
            raise WalClosedError(f"WalManager {self.dir} is closed")
        cdef int st = self._wait_exclusive(e)
        if st != WALX_Q_LEADER:
            self._refused(st)
        return 0

    cdef void _finish_exclusive(self, walx_qentry *e, bint close_after) noexcept:
        """Leave the head; a failure that poisoned the manager meanwhile
        poisons the queue."""
        walx_queue_finish(&self._q, e, e, self._poison_rc, close_after)

    cdef int _sync_log(self, int data_only) except -1:
        """fdatasync (data_only) or fsync the current log; a failure poisons
        the manager. REQUIRES: this thread heads the queue."""
        cdef int rc
        cdef uint64_t before = self._writer.syncs_total
        with nogil:
            rc = self._writer._sync_nogil(data_only)
        self._m_syncs += self._writer.syncs_total - before
        if rc:
            self._m_errors += 1
            self._failed(rc, "fdatasync" if data_only else "fsync")
        # Every sequence written so far, in this log or an earlier one
        # (fsynced when it was closed), is durable now.
        walx_queue_synced(&self._q, self._written_seq)
        return 0

    cdef int _lead_group(self, walx_qentry *e) noexcept nogil:
        """Write the group of appends that `e` heads with one write (and one
        fdatasync if any member asked), then wake its members with the
        result. Returns 0, -errno or _RC_CLOSED. REQUIRES: `e` heads the queue."""
        cdef walx_qentry *last = walx_queue_group(&self._q, e, _GROUP_BYTES)
        cdef walx_qentry *x = e
        cdef bint any_sync = False
        cdef uint64_t top = self.current_max_seq, nbytes = 0, count = 0, syncs = 0
        cdef int rc
        while True:
            count += 1
            nbytes += x.len
            any_sync = any_sync or x.want_sync
            if x.last_seq > top:
                top = x.last_seq
            if x == last:
                break
            x = x.next
        # One write for the whole group; a crash during it leaves whole
        # records plus at most one torn one, dropped on replay.
        rc = self._writer._add_entries_nogil(e, last)
        if rc == 0 and any_sync:
            # Durable on return: every member's bytes were handed to the OS
            # before this fdatasync started.
            syncs = self._writer.syncs_total
            rc = self._writer._sync_nogil(1)
            syncs = self._writer.syncs_total - syncs
        # The counters and watermarks move before the group is woken, so a
        # caller whose append returned sees them. Every update here happens
        # at the head of the queue: no two race. Sequences grow in queue
        # order, so `top` is the group's last and e's first is its lowest.
        self._m_groups += 1
        self._m_syncs += syncs
        if rc == 0:
            self.current_max_seq = top
            self._written_seq = top
            if self._cur_first == 0:
                self._cur_first = e.first_seq
            self._m_appends += count
            self._m_bytes += nbytes
            if any_sync:
                # Only after the fdatasync succeeded: a failed one poisons,
                # and what it covered may be lost.
                walx_queue_synced(&self._q, top)
        walx_queue_finish(&self._q, e, last, rc, 0)
        return rc

    cdef _run_rotate(self):
        # REQUIRES: this thread heads the queue.
        cdef uint64_t old = self.log_number
        cdef uint64_t new = self._next_log
        if old == _MAX_LOG_NUMBER:
            raise WalError(f"cannot rotate {self.dir}: log {old} is the largest log number")
        _log.debug("rotating WAL %d -> %d", old, new)
        # Full fsync before the old log is closed: its data and its size
        # are durable, so recovery reads all of it.
        self._sync_log(0)
        # If creating the next log fails, the old one stays current.
        writer = _create_log(self, str(_log_path(self.dir, new)), new)
        self._writer.close()
        self._writer = writer
        with self._mu:
            self._closed_logs.append((old, self.current_max_seq))
            if self._cur_first:
                self._log_first[old] = self._cur_first
        self.log_number = new
        self._next_log = new + 1
        self.current_max_seq = 0
        self._cur_first = 0
        self._m_rotations += 1
        return old

    # ---- public API ------------------------------------------------------

    def append(self, batch, sync=None):
        """Encode, frame and write `batch` (a WriteBatch); with sync (default:
        the manager's `sync` option) it is durable when this returns.

        A batch without a sequence gets last_seq + 1; a batch's own sequence
        must be above last_seq (ValueError otherwise). Either way this
        returns the batch's first sequence, and batch.sequence is set.
        Concurrent callers share writes and fdatasyncs (group commit).
        Raises WalClosedError, WalPoisonedError, TypeError, ValueError, OSError.
        """
        cdef walx_qentry e
        cdef int st, rc = 0
        cdef WriteBatch b
        if not isinstance(batch, WriteBatch):
            raise TypeError(f"batch must be a walx.WriteBatch, not {type(batch).__name__}")
        if sync is None:
            sync = self._sync_default
        elif not isinstance(sync, bool):
            raise TypeError(f"sync must be a bool or None, not {type(sync).__name__}")
        if self.closed:
            raise WalClosedError(f"WalManager {self.dir} is closed")
        b = <WriteBatch>batch
        # A fresh bytes object that nothing else sees yet: the queue writes
        # the assigned sequence into its first 8 bytes (e.seq_at).
        cdef bytes data = b._wire()
        e.data = <const uint8_t *><char *>data
        e.len = len(data)
        e.seq_at = NULL if b._has_seq else <uint8_t *><char *>data
        e.first_seq = b._sequence
        e.nseq = b._count if b._count else 1
        e.kind = WALX_Q_APPEND
        e.want_sync = 1 if sync else 0
        with nogil:
            st = walx_queue_wait(&self._q, &e)
            if st == WALX_Q_LEADER:
                rc = self._lead_group(&e)
        if st == WALX_Q_LEADER:
            if rc:
                self._m_errors += 1
                self._failed(rc, "WAL write or sync")
        elif st == WALX_Q_DONE:
            if e.rc:
                self._failed(e.rc, "WAL write or sync")
        elif st == WALX_Q_BADSEQ:
            _bad_sequence(b, e.last_seq)
        else:
            self._refused(st)
        b._set_sequence(e.first_seq)
        return e.first_seq

    def sync(self):
        """Make every append that returned before this call durable (fdatasync)."""
        cdef walx_qentry e
        self._enter_exclusive(&e)
        try:
            self._sync_log(1)
        finally:
            self._finish_exclusive(&e, False)

    def rotate(self):
        """Close the current log (fsynced) and start the next; return the old number.

        The old log is recorded as (number, max seq) for GC.
        """
        cdef walx_qentry e
        self._enter_exclusive(&e)
        try:
            return self._run_rotate()
        finally:
            self._finish_exclusive(&e, False)

    def close(self):
        """Sync and close the current log and release the LOCK; idempotent.

        The log is made durable (one fdatasync) even with sync=False.
        """
        cdef walx_qentry e
        _stop_syncer(self)
        if self.closed:
            self._release_lock()
            return
        if self._wait_exclusive(&e) != WALX_Q_LEADER:
            # Closed by another thread, or poisoned: release what is left,
            # and wake every wait_for with WalClosedError.
            walx_queue_close(&self._q)
            self._close_files()
            return
        try:
            if self._writer.size:
                self._sync_log(1)
        finally:
            try:
                self._close_files()
            finally:
                self._finish_exclusive(&e, True)

    cdef _close_files(self):
        with self._mu:
            if self.closed:
                self._release_lock()
                return
            self.closed = True
        try:
            if self._writer is not None:
                self._writer.close()
        finally:
            self._release_lock()
            _log.info("closed WAL manager %s", self.dir)

    def __enter__(self):
        if self.closed:
            raise WalClosedError(f"WalManager {self.dir} is closed")
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def mark_flushed_seq(self, seq):
        """Record that every sequence <= `seq` is persisted elsewhere and delete
        the closed logs that this covers (using the highest mark ever given).

        A missing file counts as deleted; any other failure is logged,
        counted in errors_io_total and retried on the next call.
        """
        cdef uint64_t s = _check_uint(seq, "seq", 0xffffffffffffffff)
        cdef uint64_t flushed = 0
        with self._mu:
            if self.closed:
                raise WalClosedError(f"WalManager {self.dir} is closed")
            if s > self.flushed_seq:
                self.flushed_seq = s
            flushed = self.flushed_seq
            # Never the log being written (register_closed_log keeps it out).
            current = self.log_number
            doomed = [c for c in self._closed_logs if c[1] <= flushed and c[0] != current]
            self._closed_logs = [c for c in self._closed_logs
                                 if c[1] > flushed or c[0] == current]
        _log.debug("WAL mark flushed %d", flushed)
        failed = _delete_logs(self, doomed, "; will retry on next flush")
        if failed:
            with self._mu:
                self._closed_logs.extend(entry for entry, _ in failed)

    def gc_logs_before(self, log_number):
        """Delete every log file numbered below `log_number`, never the current one."""
        _gc_logs_before(self, _check_uint(log_number, "log_number", _MAX_LOG_NUMBER))

    def register_closed_log(self, log_number, max_seq):
        """Add (log_number, max_seq) to the logs that GC deletes once flushed."""
        cdef uint64_t n = _check_uint(log_number, "log_number", _MAX_LOG_NUMBER)
        cdef uint64_t s = _check_uint(max_seq, "max_seq", 0xffffffffffffffff)
        with self._mu:
            if self.closed:
                raise WalClosedError(f"WalManager {self.dir} is closed")
            # A closed log is older than the one being written: a later
            # number would be deleted by GC once rotation made it the live log.
            if n >= self.log_number:
                raise ValueError(f"log_number {n} is not a closed log: the log being "
                                 f"written is {self.log_number}")
            self._closed_logs.append((n, s))

    @property
    def last_seq(self):
        """Highest sequence appended (written or queued; maybe not durable)."""
        cdef uint64_t last = 0, synced = 0
        walx_queue_seqs(&self._q, &last, &synced)
        return last

    @property
    def synced_seq(self):
        """Highest sequence known durable: every sequence <= it was fdatasync'd."""
        cdef uint64_t last = 0, synced = 0
        walx_queue_seqs(&self._q, &last, &synced)
        return synced

    @property
    def first_seq(self):
        """Lowest sequence still in the directory's logs, 0 when they hold none."""
        return _first_seq(self)

    def wait_for(self, seq, timeout=None):
        """Block (without the GIL) until synced_seq >= `seq`; False after
        `timeout` seconds (None: no limit). Never syncs by itself. Raises
        WalClosedError if the manager is or becomes closed first."""
        return _wait_for(self, seq, timeout)

    @property
    def closed_logs(self):
        with self._mu:
            return list(self._closed_logs)

    @property
    def metrics(self):
        return {
            "appends_total": self._m_appends,
            "syncs_total": self._m_syncs,
            "bytes_total": self._m_bytes,
            "rotations_total": self._m_rotations,
            "files_gcd_total": self._m_gcd,
            "errors_io_total": self._m_errors,
            "group_commits_total": self._m_groups,
            "files_recycled_total": self._m_recycled,
        }

    @property
    def recycle_pool(self):
        """Paths of GC'd logs waiting to be reused (recycle_log_files > 0)."""
        with self._mu:
            return list(self._recycle_pool)

    def __repr__(self):
        state = "closed" if self.closed else f"log={self.log_number}"
        return f"<walx.WalManager {str(self.dir)!r} {state}>"

    # ---- static API: listing, and recovery (_recovery.pyx) ---------------

    @staticmethod
    def list_wal_files(dir):
        """[(log_number, pathlib.Path)] of `dir`'s <digits>.wal files, sorted."""
        return _list_wal_files(_fspath(dir, "dir"))

    @staticmethod
    def iter_recover(dir, *, mode=RecoveryMode.TOLERATE_CORRUPTED_TAIL):
        """Yield every recoverable WriteBatch of `dir` in order, in constant memory."""
        return iter(_Recoverer(dir, mode))

    @staticmethod
    def recover_from_dir(dir, *, mode=RecoveryMode.TOLERATE_CORRUPTED_TAIL):
        """(batches, max_seq, max_log_number) of every recoverable batch in `dir`."""
        r = _Recoverer(dir, mode)
        batches = list(r)
        return batches, r.max_seq, r.max_log_number

    @staticmethod
    def recover_and_open(dir, *, mode=RecoveryMode.TOLERATE_CORRUPTED_TAIL, **options):
        """Recover `dir`, open log max_log_number + 1 and register each recovered
        log as closed with its own max sequence. Returns (manager, Recovery).

        The directory is locked before recovery starts. Before the new log
        is opened, what recovery dropped leaves the log set: a dropped
        damaged tail is cut (the original kept as NAME.broken) and a log
        that POINT_IN_TIME passed over is renamed to NAME.broken, so the
        next recovery replays exactly what this one did plus what is
        appended after it. `options` are the keyword options of WalManager.
        """
        return _recover_and_open(dir, mode, options)
