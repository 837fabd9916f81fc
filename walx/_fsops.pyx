# Included from _walx.pyx; not a standalone module.
# Path-level file-system calls (csrc/walx_io.c underneath) for the manager,
# recovery and repair. Each raises through _check_os; what a crash between
# two of them leaves is stated where they are called.


cdef int _unlink(object path) except -1:
    cdef int rc
    b = os.fsencode(path)
    cdef const char *c = b
    with nogil:
        rc = walx_unlink(c)
    return _check_os(rc, path)


cdef int _rename(object src, object dst) except -1:
    cdef int rc
    bs = os.fsencode(src)
    bd = os.fsencode(dst)
    cdef const char *cs = bs
    cdef const char *cd = bd
    with nogil:
        rc = walx_rename(cs, cd)
    return _check_os(rc, src)


cdef int _sync_dir_rc(object path) except 1:
    """fsync the directory `path` (making the entries created, renamed or
    removed in it durable); returns 0 or -errno."""
    cdef int rc
    b = os.fsencode(path)
    cdef const char *c = b
    with nogil:
        rc = walx_sync_dir(c)
    return rc


cdef int _sync_dir_of(object path) except -1:
    """fsync the directory `path`; OSError on failure."""
    return _check_os(_sync_dir_rc(path), str(path))


cdef int _sync_file(object path, bint cut, uint64_t end) except -1:
    """fsync the file `path` (data and metadata); with `cut`, first
    truncate it to `end` bytes."""
    cdef int rc, fd = -1
    cdef uint64_t size = 0
    b = os.fsencode(path)
    cdef const char *c = b
    with nogil:
        rc = walx_open_overwrite(c, &fd, &size) if cut else walx_open_read(c, &fd, &size)
        if rc == 0:
            if cut:
                rc = walx_ftruncate(fd, end)
            if rc == 0:
                rc = walx_sync_fd(fd, 0)
            walx_close(fd)
    return _check_os(rc, path)


cdef inline int _fsync_path(object path) except -1:
    return _sync_file(path, False, 0)


cdef inline int _truncate_durably(object path, uint64_t end) except -1:
    """Cut `path` to `end` bytes and fsync it."""
    return _sync_file(path, True, end)


cdef int _lock_or_raise(str lock_path, str locked_message) except -1:
    """flock `lock_path` (created if missing); returns the descriptor.
    WalLockedError(locked_message) when another open file holds it."""
    cdef int rc, fd = -1
    b = os.fsencode(lock_path)
    cdef const char *c = b
    with nogil:
        rc = walx_lock_file(c, &fd)
    if rc == -EAGAIN or rc == -EWOULDBLOCK:
        raise WalLockedError(locked_message)
    _check_os(rc, lock_path)
    return fd
