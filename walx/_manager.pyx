# Included from _walx.pyx; not a standalone module.
# WalManager: a directory of logs: LOCK, sequence tracking, rotation, GC,
# group commit, metrics and recovery across files.
#
# Lock order: the queue's mutex (csrc/walx_queue.c) is never held while
# another lock is taken; self._mu (a plain lock for the closed-log list and
# the recycle pool) is taken before the LogWriter's internal locks, never
# after. I/O on the current log is done only by the thread at the head of
# the queue.

import pathlib
import threading

# First-record type bytes of a log written with the recyclable header.
_RECYCLABLE_TYPES = frozenset((5, 6, 7, 8, 11, 131))

# Most bytes a group-commit leader takes from the queue in one write.
cdef enum:
    _GROUP_BYTES = 4 << 20



class Recovery:
    """What recover_and_open replayed and what it dropped.

    batches: list[WriteBatch]; max_seq: int; max_log_number: int;
    corruptions: list[Corruption] (every dropped range: file, offset, size,
    reason); files: list[(log_number, path, max_seq)] of the logs kept;
    quarantined: the NAME.broken copies of what was dropped (see
    WalManager.recover_and_open).
    """

    __slots__ = ("batches", "max_seq", "max_log_number", "corruptions", "files",
                 "quarantined")

    def __init__(self, batches, max_seq, max_log_number, corruptions, files,
                 quarantined=()):
        self.batches = batches
        self.max_seq = max_seq
        self.max_log_number = max_log_number
        self.corruptions = corruptions
        self.files = files
        self.quarantined = list(quarantined)

    def __repr__(self):
        return (f"<walx.Recovery batches={len(self.batches)} max_seq={self.max_seq} "
                f"max_log_number={self.max_log_number} "
                f"corruptions={len(self.corruptions)}>")


def _log_path(directory, log_number):
    return pathlib.Path(directory) / f"{log_number:06d}.wal"


def _list_wal_files(directory):
    """[(log_number, pathlib.Path)] of the <digits>.wal logs in `directory`
    (none when it does not exist), sorted."""
    try:
        return [(n, pathlib.Path(p)) for n, p in _log_files(str(directory), True)]
    except FileNotFoundError:
        return []


cdef _check_mode(object mode):
    if not isinstance(mode, RecoveryMode):
        raise TypeError(f"mode must be a walx.RecoveryMode, not {type(mode).__name__}")
    return mode


class _Recoverer:
    """Replays a directory's logs in order, one batch at a time (constant
    memory), applying the recovery mode across files (docs/format.md)."""

    def __init__(self, directory, mode):
        self.directory = pathlib.Path(_fspath(directory, "dir"))
        self.mode = _check_mode(mode)
        self.corruptions = []
        self.files = []           # (log_number, path, max_seq in that file)
        # What recover_and_open does to make the recovered state the state
        # on disk: ("cut", path, end) for a dropped damaged tail,
        # ("drop", path) for a log POINT_IN_TIME passed over.
        self.settle = []
        self.max_seq = 0
        self.max_log_number = 0

    def __iter__(self):
        pit = self.mode is RecoveryMode.POINT_IN_TIME
        stopped = False           # POINT_IN_TIME: damage seen, replay paused
        next_seq = None           # sequence expected next (last replayed + 1)
        for log_number, path in _list_wal_files(self.directory):
            self.max_log_number = max(self.max_log_number, log_number)
            _log.info("recovering WAL %s", path)
            file_max = 0
            reader = LogReader(path, mode=self.mode, codec="walx")
            try:
                if stopped:
                    first = reader.read_record()
                    if first is None and not reader.corruptions:
                        # An empty log drops nothing; keep looking.
                        self.files.append((log_number, path, 0))
                        continue
                    if (first is None or next_seq is None
                            or (<WriteBatch>first)._sequence != next_seq):
                        # Not the continuation of the replayed prefix: a log
                        # of a generation that the damage cut off.
                        size = os.path.getsize(path)
                        self.corruptions.append(Corruption(
                            str(path), 0, size,
                            "dropped: log does not continue the replayed sequence "
                            "after earlier damage (POINT_IN_TIME)"))
                        _log.warning("WAL %s skipped after earlier damage (POINT_IN_TIME)",
                                     path)
                        self.settle.append(("drop", path))
                        continue
                    stopped = False
                    batch = first
                else:
                    batch = reader.read_record()
                while batch is not None:
                    last = (<WriteBatch>batch).last_seq
                    if last > file_max:
                        file_max = last
                    if last > self.max_seq:
                        self.max_seq = last
                    next_seq = last + 1
                    yield batch
                    batch = reader.read_record()
                if pit and reader.corruptions:
                    stopped = True
                if reader.corruptions and reader.end_offset < reader.file_size:
                    self.settle.append(("cut", path, reader.end_offset))
            finally:
                self.corruptions.extend(reader.corruptions)
                reader.close()
            self.files.append((log_number, path, file_max))


def _broken_name(path, bint unique):
    """NAME.broken, or with `unique` the first free NAME.broken[.N]."""
    broken = path + ".broken"
    k = 0
    while unique and os.path.exists(broken):
        k += 1
        broken = f"{path}.broken.{k}"
    return broken


def _cut_keeping_copy(path, uint64_t end, bint unique):
    """Truncate `path` to `end`, after copying the original to NAME.broken
    durably: a crash at any point leaves either the whole file or its copy."""
    import shutil
    broken = _broken_name(path, unique)
    shutil.copy2(path, broken)
    _fsync_path(broken)
    _truncate_durably(path, end)
    return broken


def _settle(r):
    """Make what recovery dropped gone from the log set, so the next
    recovery replays exactly what this one did plus what comes after (a
    damaged tail left in place would stop a later POINT_IN_TIME recovery
    before the logs written since). Returns the NAME.broken paths kept."""
    kept = []
    for action in r.settle:
        path = str(action[1])
        if action[0] == "cut":
            kept.append(_cut_keeping_copy(path, action[2], True))
            _log.warning("cut the dropped tail of %s at offset %d (original kept as %s)",
                         path, action[2], kept[-1])
        else:
            broken = _broken_name(path, True)
            _rename(path, broken)
            kept.append(broken)
            _log.warning("moved %s, which recovery passed over, to %s", path, broken)
    if kept:
        _sync_dir_of(r.directory)
    return kept


def _unlink(path):
    cdef int rc
    b = os.fsencode(path)
    cdef const char *c = b
    with nogil:
        rc = walx_unlink(c)
    _check_os(rc, path)


def _rename(src, dst):
    cdef int rc
    bs = os.fsencode(src)
    bd = os.fsencode(dst)
    cdef const char *cs = bs
    cdef const char *cd = bd
    with nogil:
        rc = walx_rename(cs, cd)
    _check_os(rc, src)


def _sync_dir_of(path):
    cdef int rc
    b = os.fsencode(str(path))
    cdef const char *c = b
    with nogil:
        rc = walx_sync_dir(c)
    _check_os(rc, str(path))


@cython.final
cdef class WalManager:
    """A directory of WAL files: append, rotate, GC and recover.

    WalManager(dir, initial_log_number=1, *, sync=True, buffer_size=0,
               recyclable=False, recycle_log_files=0, preallocate=0)

    Creates `dir` if needed, takes its LOCK (WalLockedError when another
    live manager holds it), creates log `initial_log_number` (an existing
    non-empty file of that number is FileExistsError) and fsyncs the
    directory. Thread-safe; concurrent durable appends share fdatasyncs.
    """
    cdef object _dir
    cdef int _lock_fd
    cdef LogWriter _writer
    cdef uint64_t _log_number
    cdef uint64_t _next_log
    cdef uint64_t _current_max_seq
    cdef uint64_t _flushed_seq
    cdef list _closed_logs
    cdef object _mu             # guards _closed_logs and _recycle_pool
    cdef walx_queue _q
    cdef bint _q_ready
    cdef bint _closed_flag
    cdef object _poison_exc
    cdef bint _sync_default
    cdef size_t _buffer_size
    cdef bint _recyclable
    cdef uint64_t _preallocate
    cdef uint64_t _m_appends, _m_syncs, _m_bytes, _m_rotations, _m_gcd, _m_errors
    cdef uint64_t _m_groups, _m_recycled
    cdef Py_ssize_t _recycle_max
    cdef list _recycle_pool     # paths of GC'd logs kept for reuse; under _mu

    def __cinit__(self):
        self._lock_fd = -1
        self._closed_flag = True
        _check_os(walx_queue_init(&self._q), None)
        self._q_ready = True

    def __init__(self, dir, initial_log_number=1, *, sync=True, buffer_size=0,
                 recyclable=False, recycle_log_files=0, preallocate=0):
        self._configure(dir, sync, buffer_size, recyclable, recycle_log_files, preallocate)
        n = _check_uint(initial_log_number, "initial_log_number", 0xffffffffffffffff - 1)
        self._take_lock()
        try:
            self._open_log(n)
        except BaseException:
            self._release_lock()
            raise

    cdef _configure(self, dir, sync, buffer_size, recyclable, recycle_log_files,
                    preallocate):
        self._dir = pathlib.Path(_fspath(dir, "dir"))
        if not isinstance(sync, bool):
            raise TypeError(f"sync must be a bool, not {type(sync).__name__}")
        if not isinstance(recyclable, bool):
            raise TypeError(f"recyclable must be a bool, not {type(recyclable).__name__}")
        self._sync_default = sync
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
            os.makedirs(self._dir, exist_ok=True)
        except FileExistsError:
            raise NotADirectoryError(20, "not a directory", str(self._dir)) from None
        lock_path = str(self._dir / "LOCK")
        self._lock_fd = _lock_or_raise(
            lock_path, f"{self._dir} is locked by another live WalManager (LOCK file "
                       f"{lock_path})")
        self._adopt_recycle_files()

    cdef _adopt_recycle_files(self):
        """Take GC'd logs left for reuse by an earlier manager into the pool
        (up to recycle_log_files); delete the rest. REQUIRES: LOCK held."""
        for path in _recycle_files(str(self._dir)):
            if len(self._recycle_pool) < self._recycle_max:
                self._recycle_pool.append(path)
            else:
                _unlink(path)

    cdef _release_lock(self):
        if self._lock_fd >= 0:
            # Unlock, then close: a child forked since the lock was taken
            # shares the descriptor's lock, and closing alone would leave
            # the directory locked until that child exits.
            walx_unlock_file(self._lock_fd)
            self._lock_fd = -1

    cdef _open_log(self, uint64_t n):
        path = _log_path(self._dir, n)
        _log.info("opening WAL %s", path)
        self._writer = self._create_log(path, n)
        self._log_number = n
        self._next_log = n + 1
        self._current_max_seq = 0
        self._closed_flag = False

    cdef LogWriter _create_log(self, path, uint64_t n):
        """Create log `n` (never reusing a non-empty file of that name) and
        make its directory entry durable before anything is appended to it."""
        cdef int rc, fd = -1
        spath = str(path)
        b = os.fsencode(spath)
        cdef const char *c = b
        try:
            exists = os.stat(spath).st_size > 0
        except FileNotFoundError:
            exists = False
        if exists:  # the seed's "Bug W" collision
            raise FileExistsError(17, f"WAL file {path.name} already exists and is not "
                                  "empty; recover it first (WalManager.recover_and_open)",
                                  spath)
        with self._mu:
            recycled = self._recycle_pool.pop(0) if self._recycle_pool else None
        if recycled is not None:
            # A crash after this rename leaves log `n` holding only records
            # of older log numbers: readers take it for an empty log.
            try:
                _rename(recycled, spath)
            except BaseException:
                with self._mu:
                    self._recycle_pool.insert(0, recycled)
                raise
            self._sync_dir_or_poison()
            _log.debug("recycled %s as %s", recycled, spath)
            try:
                w = LogWriter(spath, log_number=n, recyclable=True,
                              buffer_size=self._buffer_size, overwrite=True)
            except BaseException:
                # Back into the pool: log `n` must not exist, or the next
                # rotation would refuse it as a non-empty log.
                self._m_errors += 1
                self._undo_create(spath, recycled)
                raise
            self._m_recycled += 1
            return w
        with nogil:
            rc = walx_create_new(c, &fd)
        if rc == -17:
            raise FileExistsError(17, f"WAL file {path.name} already exists and is not "
                                  "empty; recover it first (WalManager.recover_and_open)",
                                  spath)
        _check_os(rc, spath)
        if self._preallocate:
            # Reserved blocks read as zeros; the log is written over them
            # from offset 0, so appends do not change the file size.
            with nogil:
                rc = walx_fallocate(fd, self._preallocate)
            if rc < 0 and rc != -95:  # EOPNOTSUPP: reservation is only a hint
                # A failed fallocate can leave blocks reserved (ENOSPC after
                # a partial reservation): give them back and remove the file,
                # which was empty or new and holds nothing.
                with nogil:
                    walx_ftruncate(fd, 0)
                    walx_close(fd)
                self._m_errors += 1
                try:
                    _unlink(spath)
                except OSError as e:
                    _log.warning("could not remove %s after a failed preallocation: %s",
                                 spath, e)
                _check_os(rc, spath)
        walx_close(fd)
        # Without this fsync a crash could lose the new file's directory
        # entry while later logs survive: recovery would then miss its
        # records and the next open could reuse its number.
        self._sync_dir_or_poison()
        try:
            return LogWriter(spath, log_number=n, recyclable=self._recyclable,
                             buffer_size=self._buffer_size,
                             overwrite=self._preallocate > 0)
        except BaseException:
            # The new file holds nothing (or preallocated zeros): remove it,
            # so that the next rotation can create log `n` again.
            self._m_errors += 1
            self._undo_create(spath, None)
            raise

    cdef _undo_create(self, str spath, object recycled):
        """After a failed open of new log `spath`: rename it back to
        `recycled` (and into the pool) or delete it. Best effort."""
        try:
            if recycled is not None:
                _rename(spath, recycled)
                with self._mu:
                    self._recycle_pool.insert(0, recycled)
            else:
                _unlink(spath)
        except OSError as e:
            _log.warning("could not undo the creation of %s: %s", spath, e)

    cdef _sync_dir_or_poison(self):
        """fsync the directory; a failure poisons the manager. As with a log
        fsync, the kernel may drop the dirty entry after a failure and
        report success next time, so it is never retried."""
        try:
            _sync_dir_of(self._dir)
        except OSError as e:
            self._m_errors += 1
            if self._lock_fd >= 0 and self._poison_exc is None and not self._closed_flag:
                self._poison_exc = e
            raise

    def __dealloc__(self):
        if self._lock_fd >= 0:
            walx_close(self._lock_fd)
            self._lock_fd = -1
        if self._q_ready:
            walx_queue_destroy(&self._q)
            self._q_ready = False

    # ---- the group-commit queue (csrc/walx_queue.c) ------------------------
    # Every append, sync, rotate and close waits in self._q without the GIL.
    # The entry at the head leads: for an append it takes the appends queued
    # behind it, writes them with one write and (if any asked) one fdatasync,
    # all without the GIL; sync, rotate and close run alone at the head, so
    # they never overlap a write. Only the head touches self._writer,
    # self._current_max_seq and self._log_number.

    cdef int _refused(self, int st) except -1:
        """The queue refused an entry (closed, or poisoned earlier)."""
        if st == WALX_Q_CLOSED or self._closed_flag:
            raise WalClosedError(f"WalManager {self._dir} is closed")
        raise WalPoisonedError(f"WalManager {self._dir}: an earlier write or sync "
                               f"failed ({self._poison_exc}); reopen it to continue"
                               ) from self._poison_exc

    cdef int _group_failed(self, int rc) except -1:
        """This caller's group failed with `rc`: every member gets an OSError
        (or WalClosedError); later callers get WalPoisonedError."""
        if rc == _RC_CLOSED:
            raise WalClosedError(f"WalManager {self._dir} was closed during the write")
        exc = OSError(-rc, f"WAL write or sync failed: {os.strerror(-rc)}",
                      str(_log_path(self._dir, self._log_number)))
        if self._poison_exc is None:
            self._poison_exc = exc
        raise exc

    cdef int _enter_exclusive(self, walx_qentry *e) except -1:
        """Wait (without the GIL) until `e` heads the queue. REQUIRES: the
        caller calls walx_queue_finish(e, e) afterwards, also on error."""
        cdef int st
        if self._closed_flag:
            raise WalClosedError(f"WalManager {self._dir} is closed")
        e.kind = WALX_Q_EXCLUSIVE
        e.data = NULL
        e.len = 0
        e.want_sync = 0
        e.last_seq = 0
        with nogil:
            st = walx_queue_wait(&self._q, e)
        if st != WALX_Q_LEADER:
            self._refused(st)
        return 0

    cdef int _io_rc(self) noexcept:
        """The queue result for an exclusive op that just ran: an I/O failure
        that poisoned the manager poisons the queue, anything else does not."""
        if self._writer is not None and self._writer._poison_rc < 0:
            return self._writer._poison_rc
        if self._poison_exc is not None:
            err = getattr(self._poison_exc, "errno", None)
            return -err if isinstance(err, int) and err > 0 else -5
        return 0

    cdef _io(self, fn, tuple args=()):
        """Run a writer call; a failure poisons the manager."""
        try:
            return fn(*args)
        except (OSError, WalPoisonedError) as e:
            if self._poison_exc is None:
                self._poison_exc = e
            self._m_errors += 1
            raise

    cdef _run_rotate(self):
        # REQUIRES: this thread heads the queue.
        cdef uint64_t old = self._log_number
        cdef uint64_t new = self._next_log
        cdef uint64_t before = self._writer.syncs_total
        if old == _MAX_LOG_NUMBER:
            raise WalError(f"cannot rotate {self._dir}: log {old} is the largest log number")
        _log.debug("rotating WAL %d -> %d", old, new)
        # Full fsync before the old log is closed: its data and its size
        # are durable, so recovery reads all of it.
        try:
            self._io(self._writer.sync_all)
        finally:
            self._m_syncs += self._writer.syncs_total - before
        # If creating the next log fails, the old one stays current.
        writer = self._create_log(_log_path(self._dir, new), new)
        self._writer.close()
        self._writer = writer
        with self._mu:
            self._closed_logs.append((old, self._current_max_seq))
        self._log_number = new
        self._next_log = new + 1
        self._current_max_seq = 0
        self._m_rotations += 1
        return old

    # ---- public API ------------------------------------------------------

    def append(self, batch, sync=None):
        """Encode, frame and write `batch` (a WriteBatch); with sync (default:
        the manager's `sync` option) it is durable when this returns.

        Concurrent callers share writes and fdatasyncs (group commit).
        Raises WalClosedError, WalPoisonedError, TypeError, OSError.
        """
        cdef walx_qentry e
        cdef walx_qentry *last
        cdef walx_qentry *x
        cdef int st, rc = 0
        cdef bint any_sync = False
        cdef uint64_t top, nbytes = 0, count = 0, syncs = 0
        if not isinstance(batch, WriteBatch):
            raise TypeError(f"batch must be a walx.WriteBatch, not {type(batch).__name__}")
        if sync is None:
            sync = self._sync_default
        elif not isinstance(sync, bool):
            raise TypeError(f"sync must be a bool or None, not {type(sync).__name__}")
        if self._closed_flag:
            raise WalClosedError(f"WalManager {self._dir} is closed")
        cdef bytes data = (<WriteBatch>batch).encode()
        e.data = <const uint8_t *><char *>data
        e.len = len(data)
        e.last_seq = (<WriteBatch>batch).last_seq
        e.kind = WALX_Q_APPEND
        e.want_sync = 1 if sync else 0
        with nogil:
            st = walx_queue_wait(&self._q, &e)
            if st == WALX_Q_LEADER:
                last = walx_queue_group(&self._q, &e, _GROUP_BYTES)
                top = self._current_max_seq
                x = &e
                while True:
                    count += 1
                    nbytes += x.len
                    if x.want_sync:
                        any_sync = True
                    if x.last_seq > top:
                        top = x.last_seq
                    if x == last:
                        break
                    x = x.next
                # One write for the whole group; a crash during it leaves
                # whole records plus at most one torn one, dropped on replay.
                rc = self._writer._add_entries_nogil(&e, last)
                if rc == 0 and any_sync:
                    # Durable on return: every member's bytes were handed to
                    # the OS before this fdatasync started.
                    syncs = self._writer.syncs_total
                    rc = self._writer._sync_nogil(1)
                    syncs = self._writer.syncs_total - syncs
                # The counters move before the group is woken, so a caller
                # whose append returned sees it counted. Every counter
                # update happens at the head of the queue: no two race.
                self._m_groups += 1
                self._m_syncs += syncs
                if rc == 0:
                    self._current_max_seq = top
                    self._m_appends += count
                    self._m_bytes += nbytes
                walx_queue_finish(&self._q, &e, last, rc, 0)
        if st == WALX_Q_LEADER:
            if rc == 0:
                return None
            self._m_errors += 1
            self._group_failed(rc)
        if st == WALX_Q_DONE:
            if e.rc:
                self._group_failed(e.rc)
            return None
        self._refused(st)

    def sync(self):
        """Make every append that returned before this call durable (fdatasync)."""
        cdef walx_qentry e
        cdef uint64_t before
        self._enter_exclusive(&e)
        before = self._writer.syncs_total
        try:
            self._io(self._writer.sync)
        finally:
            self._m_syncs += self._writer.syncs_total - before
            walx_queue_finish(&self._q, &e, &e, self._io_rc(), 0)

    def rotate(self):
        """Close the current log (fsynced) and start the next; return the old number.

        The old log is recorded as (number, max seq) for GC.
        """
        cdef walx_qentry e
        self._enter_exclusive(&e)
        try:
            return self._run_rotate()
        finally:
            walx_queue_finish(&self._q, &e, &e, self._io_rc(), 0)

    def close(self):
        """Sync and close the current log and release the LOCK; idempotent.

        The log is made durable (one fdatasync) even with sync=False.
        """
        cdef walx_qentry e
        cdef int st
        cdef uint64_t before
        if self._closed_flag:
            self._release_lock()
            return
        e.kind = WALX_Q_EXCLUSIVE
        e.data = NULL
        e.len = 0
        e.want_sync = 0
        e.last_seq = 0
        with nogil:
            st = walx_queue_wait(&self._q, &e)
        if st != WALX_Q_LEADER:
            # Closed by another thread, or poisoned: release what is left.
            self._close_files()
            return
        try:
            if self._writer.size and not self._writer.poisoned:
                before = self._writer.syncs_total
                try:
                    self._io(self._writer.sync)
                finally:
                    self._m_syncs += self._writer.syncs_total - before
        finally:
            try:
                self._close_files()
            finally:
                walx_queue_finish(&self._q, &e, &e, 0, 1)

    cdef _close_files(self):
        with self._mu:
            if self._closed_flag:
                self._release_lock()
                return
            self._closed_flag = True
        try:
            if self._writer is not None:
                self._writer.close()
        finally:
            self._release_lock()
            _log.info("closed WAL manager %s", self._dir)

    def __enter__(self):
        if self._closed_flag:
            raise WalClosedError(f"WalManager {self._dir} is closed")
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
            if self._closed_flag:
                raise WalClosedError(f"WalManager {self._dir} is closed")
            if s > self._flushed_seq:
                self._flushed_seq = s
            flushed = self._flushed_seq
            # Never the log being written (register_closed_log keeps it out).
            current = self._log_number
            doomed = [c for c in self._closed_logs if c[1] <= flushed and c[0] != current]
            self._closed_logs = [c for c in self._closed_logs
                                 if c[1] > flushed or c[0] == current]
        _log.debug("WAL mark flushed %d", flushed)
        failed = self._delete_logs(doomed, "; will retry on next flush")
        if failed:
            with self._mu:
                self._closed_logs.extend(entry for entry, _ in failed)

    cdef list _delete_logs(self, list entries, str then):
        """Unlink each (log, max_seq); return [(entry, OSError)] of those
        that failed. `then` ends the warning logged for each failure."""
        failed = []
        deleted = 0
        if not entries:
            return failed
        # Every file of each log number: recovery reads any <digits>.wal
        # name (7.wal, 0000007.wal), not only the {n:06}.wal walx writes.
        on_disk = {}
        for n, path in _list_wal_files(self._dir):
            on_disk.setdefault(n, []).append(path)
        for entry in entries:
            error = None
            for path in on_disk.get(entry[0]) or [_log_path(self._dir, entry[0])]:
                _log.debug("GC WAL file %s (max seq %d)", path, entry[1])
                try:
                    if not self._keep_for_recycling(str(path)):
                        _unlink(str(path))
                except FileNotFoundError:
                    pass
                except OSError as e:
                    _log.warning("failed to GC WAL file %s: %s%s", path, e, then)
                    self._m_errors += 1
                    error = error or e
            if error is None:
                deleted += 1
            else:
                failed.append((entry, error))
        self._m_gcd += deleted
        if deleted:
            # A crash before this fsync may resurrect a deleted log; it then
            # holds only flushed sequences and is replayed harmlessly.
            try:
                _sync_dir_of(self._dir)
            except OSError as e:
                _log.warning("directory fsync after GC failed: %s", e)
                self._m_errors += 1
        return failed

    cdef bint _keep_for_recycling(self, str path) except -1:
        """Rename a GC'd log for reuse when the pool has room and the log
        was written with the recyclable header. Returns True if kept."""
        if not self._recycle_max:
            return False
        with self._mu:
            if len(self._recycle_pool) >= self._recycle_max:
                return False
        with open(path, "rb") as f:
            head = f.read(WALX_HEADER_SIZE)
        if len(head) < WALX_HEADER_SIZE or head[6] not in _RECYCLABLE_TYPES:
            return False
        dst = path + ".recycle"
        # A crash before the directory fsync that follows GC may bring back
        # the old name: the log then holds only flushed sequences.
        _rename(path, dst)
        with self._mu:
            self._recycle_pool.append(dst)
        return True

    def gc_logs_before(self, log_number):
        """Delete every log file numbered below `log_number`, never the current one."""
        cdef uint64_t before = _check_uint(log_number, "log_number", 0xffffffffffffffff)
        cdef uint64_t current = 0, bound = 0
        with self._mu:
            if self._closed_flag:
                raise WalClosedError(f"WalManager {self._dir} is closed")
            # Only logs below the current one: a rotation running meanwhile
            # creates the next log, above it, and must not lose it.
            current = self._log_number
            bound = min(before, current)
            doomed = [c for c in self._closed_logs if c[0] < bound]
            self._closed_logs = [c for c in self._closed_logs if c[0] >= bound]
        tracked = {c[0] for c in doomed}
        entries = doomed + [(n, 0) for n, _ in _list_wal_files(self._dir)
                            if n < bound and n not in tracked]
        failed = self._delete_logs(entries, "")
        if failed:
            # A closed log that could not be deleted stays closed: the next
            # mark_flushed_seq that covers it tries again.
            with self._mu:
                self._closed_logs.extend(entry for entry, _ in failed
                                         if entry[0] in tracked)
            entry, e = failed[0]
            raise OSError(e.errno, f"could not delete WAL files {[f[0][0] for f in failed]} "
                                   f"in {self._dir}: {e.strerror}",
                          e.filename or str(_log_path(self._dir, entry[0])))

    def register_closed_log(self, log_number, max_seq):
        """Add (log_number, max_seq) to the logs that GC deletes once flushed."""
        cdef uint64_t n = _check_uint(log_number, "log_number", 0xffffffffffffffff)
        cdef uint64_t s = _check_uint(max_seq, "max_seq", 0xffffffffffffffff)
        with self._mu:
            if self._closed_flag:
                raise WalClosedError(f"WalManager {self._dir} is closed")
            # A closed log is older than the one being written. The seed
            # only refused the current number: a later one was accepted and
            # GC deleted it once rotation had made it the live log.
            if n >= self._log_number:
                raise ValueError(f"log_number {n} is not a closed log: the log being "
                                 f"written is {self._log_number}")
            self._closed_logs.append((n, s))

    @property
    def dir(self):
        return self._dir

    @property
    def log_number(self):
        return self._log_number

    @property
    def flushed_seq(self):
        return self._flushed_seq

    @property
    def closed_logs(self):
        with self._mu:
            return list(self._closed_logs)

    @property
    def closed(self):
        return self._closed_flag

    @property
    def current_max_seq(self):
        """Highest sequence appended to the current log (0 if none)."""
        return self._current_max_seq

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
        state = "closed" if self._closed_flag else f"log={self._log_number}"
        return f"<walx.WalManager {str(self._dir)!r} {state}>"

    # ---- static API ------------------------------------------------------

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
        cdef WalManager m = WalManager.__new__(WalManager)
        unknown = set(options) - {"sync", "buffer_size", "recyclable",
                                  "recycle_log_files", "preallocate"}
        if unknown:
            raise TypeError(f"unexpected option(s) {sorted(unknown)}")
        _check_mode(mode)
        m._configure(dir, options.get("sync", True), options.get("buffer_size", 0),
                     options.get("recyclable", False),
                     options.get("recycle_log_files", 0), options.get("preallocate", 0))
        m._take_lock()
        try:
            r = _Recoverer(m._dir, mode)
            batches = list(r)
            kept = _settle(r)
            if r.max_log_number == _MAX_LOG_NUMBER:
                raise WalError(f"cannot open a new log in {m._dir}: its log "
                               f"{r.max_log_number} is the largest log number")
            m._open_log(r.max_log_number + 1 if r.max_log_number else 1)
            for n, _path, file_max in r.files:
                m._closed_logs.append((n, file_max))
        except BaseException:
            if m._writer is not None:
                m._writer.close()
            m._closed_flag = True
            m._release_lock()
            raise
        _log.info("recovered %d batches from %d WAL files in %s (max seq %d, "
                  "%d damaged ranges)", len(batches), len(r.files), m._dir, r.max_seq,
                  len(r.corruptions))
        return m, Recovery(batches, r.max_seq, r.max_log_number, r.corruptions, r.files,
                           kept)


def repair(path, *, dry_run=False):
    """Truncate each damaged tail to the end of its last valid record.

    `path` is a log file or a directory (its <digits>.wal/.log files). The
    original of each file that is cut is kept as NAME.broken (NAME.broken.N
    when that exists already). Returns the list of Corruption ranges that
    were (or, with dry_run, would be) cut. A log damaged in the middle
    (valid records after the damage) raises CorruptionError; for a directory
    that is found before anything is cut, so either every torn tail is cut
    or no file changes. A directory with a LOCK file that a live WalManager
    holds (the directory itself, or the file's) raises WalLockedError.
    """
    path = _fspath(path, "path")
    if not isinstance(dry_run, bool):
        raise TypeError(f"dry_run must be a bool, not {type(dry_run).__name__}")
    if os.path.isdir(path):
        files = [p for _, p in _log_files(path, False)]
    else:
        files = [path]
    lock_fd = -1 if dry_run else _lock_if_managed(
        path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path)))
    try:
        if len(files) > 1 and not dry_run:
            for f in files:
                _repair_file(f, True)       # raises on mid-file damage, cuts nothing
        cut = []
        for f in files:
            cut.extend(_repair_file(f, dry_run))
        return cut
    finally:
        if lock_fd >= 0:
            walx_unlock_file(lock_fd)


def _lock_if_managed(directory):
    """Take `directory`'s LOCK if it has one (a WalManager's directory);
    returns its descriptor, or -1 when there is no LOCK. A live manager's
    lock raises WalLockedError: cutting a log it writes would lose data."""
    lock_path = os.path.join(directory, "LOCK")
    if not os.path.isfile(lock_path):
        return -1
    return _lock_or_raise(lock_path, f"{directory} is locked by a live WalManager (LOCK "
                                     f"file {lock_path}); close it before repairing its logs")


def _lock_or_raise(str lock_path, str locked_message):
    """flock `lock_path` (created if missing); returns the descriptor.
    WalLockedError(locked_message) when another open file holds it."""
    cdef int rc, fd = -1
    b = os.fsencode(lock_path)
    cdef const char *c = b
    with nogil:
        rc = walx_lock_file(c, &fd)
    if rc == -11 or rc == -35:  # EAGAIN/EWOULDBLOCK (Linux, BSD/macOS)
        raise WalLockedError(locked_message)
    _check_os(rc, lock_path)
    return fd


def _fsync_path(path):
    cdef int rc, fd = -1
    cdef uint64_t size = 0
    b = os.fsencode(path)
    cdef const char *c = b
    with nogil:
        rc = walx_open_read(c, &fd, &size)
        if rc == 0:
            rc = walx_sync_fd(fd, 0)
            walx_close(fd)
    _check_os(rc, path)


def _truncate_durably(path, uint64_t end):
    """Cut `path` to `end` bytes and fsync it."""
    cdef int rc, fd = -1
    cdef uint64_t size = 0
    b = os.fsencode(path)
    cdef const char *c = b
    with nogil:
        rc = walx_open_overwrite(c, &fd, &size)
        if rc == 0:
            rc = walx_ftruncate(fd, end)
            if rc == 0:
                rc = walx_sync_fd(fd, 0)
            walx_close(fd)
    _check_os(rc, path)


def _repair_file(path, bint dry_run):
    reader = LogReader(path, mode=RecoveryMode.TOLERATE_CORRUPTED_TAIL)
    try:
        for _ in reader:
            pass
    finally:
        reader.close()
    if reader.clean_end:
        return []
    end = reader.end_offset
    size = reader.file_size
    if end >= size:
        return []
    found = list(reader.corruptions) or [
        Corruption(path, end, size - end, "end of log: bytes after the last valid record")]
    broken = None
    if not dry_run:
        broken = _cut_keeping_copy(path, end, True)
        _sync_dir_of(os.path.dirname(os.path.abspath(path)))
        _log.warning("repaired %s: cut %d bytes at offset %d (original kept as %s)",
                     path, size - end, end, broken)
    return [RepairedCorruption(*c, end, size - end, broken) for c in found]
