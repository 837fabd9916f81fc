# Included from _walx.pyx; not a standalone module.
# The log files of a WalManager's directory: creating the next log (new,
# preallocated, or a recycled one), and deleting closed logs (GC) or keeping
# them in the recycle pool. Functions of the manager `m`, run by the thread
# at the head of its queue, or under m._mu where they say so.


def _log_path(directory, log_number):
    return pathlib.Path(directory) / f"{log_number:06d}.wal"


def _list_wal_files(directory):
    """[(log_number, pathlib.Path)] of the <digits>.wal logs in `directory`
    (none when it does not exist), sorted."""
    try:
        return [(n, pathlib.Path(p)) for n, p in _log_files(str(directory), True)]
    except FileNotFoundError:
        return []


cdef object _exists_error(str spath):
    return FileExistsError(EEXIST, f"WAL file {os.path.basename(spath)} already exists and "
                           "is not empty; recover it first (WalManager.recover_and_open)",
                           spath)


cdef _adopt_recycle_files(WalManager m):
    """Take GC'd logs left for reuse by an earlier manager into the pool
    (up to recycle_log_files); delete the rest. REQUIRES: LOCK held."""
    for path in _recycle_files(str(m.dir)):
        if len(m._recycle_pool) < m._recycle_max:
            m._recycle_pool.append(path)
        else:
            _unlink(path)


cdef LogWriter _create_log(WalManager m, str spath, uint64_t n):
    """Create log `n` (never reusing a non-empty file of that name) and
    make its directory entry durable before anything is appended to it."""
    try:
        if os.stat(spath).st_size > 0:
            raise _exists_error(spath)
    except FileNotFoundError:
        pass
    with m._mu:
        recycled = m._recycle_pool.pop(0) if m._recycle_pool else None
    if recycled is not None:
        return _reuse_recycled(m, spath, n, recycled)
    _create_file(m, spath)
    # Without this fsync a crash could lose the new file's directory
    # entry while later logs survive: recovery would then miss its
    # records and the next open could reuse its number.
    m._sync_dir_or_poison()
    try:
        return LogWriter(spath, log_number=n, recyclable=m._recyclable,
                         buffer_size=m._buffer_size,
                         overwrite=m._preallocate > 0)
    except BaseException:
        # The new file holds nothing (or preallocated zeros): remove it,
        # so that the next rotation can create log `n` again.
        m._m_errors += 1
        _undo_create(m, spath, None)
        raise


cdef LogWriter _reuse_recycled(WalManager m, str spath, uint64_t n, str recycled):
    """Log `n` made of the GC'd log `recycled`, taken from the pool."""
    # A crash after this rename leaves log `n` holding only records
    # of older log numbers: readers take it for an empty log.
    try:
        _rename(recycled, spath)
    except BaseException:
        with m._mu:
            m._recycle_pool.insert(0, recycled)
        raise
    m._sync_dir_or_poison()
    _log.debug("recycled %s as %s", recycled, spath)
    try:
        w = LogWriter(spath, log_number=n, recyclable=True,
                      buffer_size=m._buffer_size, overwrite=True)
    except BaseException:
        # Back into the pool: log `n` must not exist, or the next
        # rotation would refuse it as a non-empty log.
        m._m_errors += 1
        _undo_create(m, spath, recycled)
        raise
    m._m_recycled += 1
    return w


cdef int _create_file(WalManager m, str spath) except -1:
    """Create the empty file `spath` (reserving preallocate bytes)."""
    cdef int rc, fd = -1
    b = os.fsencode(spath)
    cdef const char *c = b
    with nogil:
        rc = walx_create_new(c, &fd)
    if rc == -EEXIST:
        raise _exists_error(spath)
    _check_os(rc, spath)
    if m._preallocate:
        # Reserved blocks read as zeros; the log is written over them
        # from offset 0, so appends do not change the file size.
        with nogil:
            rc = walx_fallocate(fd, m._preallocate)
        if rc < 0 and rc != -EOPNOTSUPP:   # the reservation is only a hint
            # A failed fallocate can leave blocks reserved (ENOSPC after
            # a partial reservation): give them back and remove the file,
            # which was empty or new and holds nothing.
            with nogil:
                walx_ftruncate(fd, 0)
                walx_close(fd)
            m._m_errors += 1
            try:
                _unlink(spath)
            except OSError as e:
                _log.warning("could not remove %s after a failed preallocation: %s",
                             spath, e)
            return _check_os(rc, spath)
    walx_close(fd)
    return 0


cdef _undo_create(WalManager m, str spath, object recycled):
    """After a failed open of new log `spath`: rename it back to
    `recycled` (and into the pool) or delete it. Best effort."""
    try:
        if recycled is not None:
            _rename(spath, recycled)
            with m._mu:
                m._recycle_pool.insert(0, recycled)
        else:
            _unlink(spath)
    except OSError as e:
        _log.warning("could not undo the creation of %s: %s", spath, e)


cdef list _delete_logs(WalManager m, list entries, str then):
    """Unlink each (log, max_seq); return [(entry, OSError)] of those
    that failed. `then` ends the warning logged for each failure."""
    failed = []
    deleted = 0
    if not entries:
        return failed
    # Every file of each log number: recovery reads any <digits>.wal
    # name (7.wal, 0000007.wal), not only the {n:06}.wal walx writes.
    on_disk = {}
    for n, path in _list_wal_files(m.dir):
        on_disk.setdefault(n, []).append(path)
    for entry in entries:
        error = None
        for path in on_disk.get(entry[0]) or [_log_path(m.dir, entry[0])]:
            _log.debug("GC WAL file %s (max seq %d)", path, entry[1])
            try:
                if not _keep_for_recycling(m, str(path)):
                    _unlink(str(path))
            except FileNotFoundError:
                pass
            except OSError as e:
                _log.warning("failed to GC WAL file %s: %s%s", path, e, then)
                m._m_errors += 1
                error = error or e
        if error is None:
            deleted += 1
        else:
            failed.append((entry, error))
    m._m_gcd += deleted
    if deleted:
        # A crash before this fsync may resurrect a deleted log; it then
        # holds only flushed sequences and is replayed harmlessly.
        try:
            _sync_dir_of(m.dir)
        except OSError as e:
            _log.warning("directory fsync after GC failed: %s", e)
            m._m_errors += 1
    return failed


cdef bint _keep_for_recycling(WalManager m, str path) except -1:
    """Rename a GC'd log for reuse when the pool has room and the log
    was written with the recyclable header. Returns True if kept."""
    if not m._recycle_max:
        return False
    with m._mu:
        if len(m._recycle_pool) >= m._recycle_max:
            return False
    with open(path, "rb") as f:
        head = f.read(WALX_HEADER_SIZE)
    if len(head) < WALX_HEADER_SIZE or not walx_type_is_recyclable(head[6]):
        return False
    dst = path + ".recycle"
    # A crash before the directory fsync that follows GC may bring back
    # the old name: the log then holds only flushed sequences.
    _rename(path, dst)
    with m._mu:
        m._recycle_pool.append(dst)
    return True


cdef _gc_logs_before(WalManager m, uint64_t before):
    """WalManager.gc_logs_before: delete every log numbered below `before`,
    never the current one."""
    cdef uint64_t current = 0, bound = 0
    with m._mu:
        if m.closed:
            raise WalClosedError(f"WalManager {m.dir} is closed")
        # Only logs below the current one: a rotation running meanwhile
        # creates the next log, above it, and must not lose it.
        current = m.log_number
        bound = min(before, current)
        doomed = [c for c in m._closed_logs if c[0] < bound]
        m._closed_logs = [c for c in m._closed_logs if c[0] >= bound]
    tracked = {c[0] for c in doomed}
    entries = doomed + [(n, 0) for n, _ in _list_wal_files(m.dir)
                        if n < bound and n not in tracked]
    failed = _delete_logs(m, entries, "")
    if failed:
        # A closed log that could not be deleted stays closed: the next
        # mark_flushed_seq that covers it tries again.
        with m._mu:
            m._closed_logs.extend(entry for entry, _ in failed
                                 if entry[0] in tracked)
        entry, e = failed[0]
        raise OSError(e.errno, f"could not delete WAL files {[f[0][0] for f in failed]} "
                               f"in {m.dir}: {e.strerror}",
                      e.filename or str(_log_path(m.dir, entry[0])))
