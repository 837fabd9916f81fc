# Included from _walx.pyx: the helpers every fragment shares (errors,
# argument checks, log names). One place for each idea.

cdef inline bint _only_python_thread() noexcept:
    """True when the calling thread is the only Python thread of the only
    interpreter, so no other thread can be waiting for the GIL. Releasing
    the GIL around a page-cache write(2) of a few hundred nanoseconds costs
    about a third of a write-through append; when nobody can use it, keep
    it. The read is unlocked: a thread created concurrently at worst waits
    for this one write. REQUIRES: the GIL held."""
    cdef PyInterpreterState *interp = PyInterpreterState_Head()
    if interp == NULL or PyInterpreterState_Next(interp) != NULL:
        return False
    cdef PyThreadState *ts = PyInterpreterState_ThreadHead(interp)
    return ts != NULL and PyThreadState_Next(ts) == NULL


cdef extern from "<errno.h>":
    # Not in Cython's libc.errno; EAGAIN's twin, a distinct value on some BSDs.
    const int EWOULDBLOCK


# Positive sentinel returned by nogil helpers when the object was closed
# concurrently (C functions only return 0 or -errno).
cdef enum:
    _RC_CLOSED = 1


cdef object _os_error(int rc, object path, str what=None):
    """The exception for a C result `rc` (-errno): MemoryError for ENOMEM,
    else the OSError subclass for the errno, naming `path` (and, with
    `what`, the operation that failed). The one place a C status becomes a
    Python exception."""
    if rc == -ENOMEM:
        return MemoryError()
    if rc == -WALX_ENOTFILE:
        return OSError(EINVAL, "a FIFO or socket, not a log file", path)
    msg = os.strerror(-rc)
    return OSError(-rc, f"{what} failed: {msg}" if what else msg, path)


cdef int _check_os(int rc, object path, str what=None) except -1:
    """Raise _os_error(rc, path, what) when rc < 0."""
    if rc >= 0:
        return 0
    raise _os_error(rc, path, what)


cdef int _get_buffer(object obj, Py_buffer *view, str argname) except -1:
    """Acquire a contiguous byte buffer of `obj`, naming `argname` on failure."""
    if isinstance(obj, str):
        raise TypeError(f"{argname} must be a bytes-like object, not str")
    try:
        PyObject_GetBuffer(obj, view, PyBUF_SIMPLE)
    except BufferError as e:
        raise TypeError(f"{argname} must be a C-contiguous bytes-like object: {e}") from None
    except TypeError:
        raise TypeError(
            f"{argname} must be a bytes-like object, not {type(obj).__name__}") from None
    return 0


cdef object _fspath(object path, str argname):
    """Return `path` as str (accepting str, bytes and os.PathLike)."""
    try:
        p = os.fspath(path)
    except TypeError:
        raise TypeError(
            f"{argname} must be a str or os.PathLike path, not {type(path).__name__}") from None
    if isinstance(p, bytes):
        p = os.fsdecode(p)
    if not p:
        raise ValueError(f"{argname} must not be empty")
    if "\0" in p:
        raise ValueError(f"{argname} must not contain NUL characters")
    return p


cdef object _check_bool(object value, str argname):
    if not isinstance(value, bool):
        raise TypeError(f"{argname} must be a bool, not {type(value).__name__}")
    return value


cdef object _check_mode(object mode):
    if not isinstance(mode, RecoveryMode):
        raise TypeError(f"mode must be a walx.RecoveryMode, not {type(mode).__name__}")
    return mode


cdef uint64_t _check_uint(object value, str argname, uint64_t maximum) except? 0xffffffffffffffff:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{argname} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{argname} must be >= 0, got {value}")
    if value > maximum:
        raise ValueError(f"{argname} must be <= {maximum}, got {value}")
    return value


# ---- log names and the directory listing --------------------------------------
# The one rule: a log file's name is <digits>.wal or <digits>.log
# (log_number_from_name); a directory's log files (_log_files) are the
# regular files so named whose number fits a uint64 (log numbers are
# uint64, as in RocksDB). A WalManager writes and owns only the .wal ones;
# a .log file (a RocksDB or LevelDB log) is read by the reader, the CLI and
# repair.

_LOG_NAME = re.compile(r"^([0-9]+)\.(wal|log)$")
_RECYCLE_NAME = re.compile(r"^[0-9]+\.wal\.recycle$")
_MAX_LOG_NUMBER = 0xffffffffffffffff


def log_number_from_name(path):
    """The log number in a ``<digits>.log`` or ``<digits>.wal`` file name, else None."""
    m = _LOG_NAME.match(os.path.basename(os.fspath(path)))
    return int(m.group(1)) if m else None


cdef list _log_files(str directory, bint wal_only):
    """[(log_number, path)] of `directory`'s log files, sorted by number
    (then name). Regular files only, judged without following symlinks;
    with `wal_only`, only the <digits>.wal logs a WalManager owns."""
    files = []
    with os.scandir(directory) as it:
        for entry in it:
            m = _LOG_NAME.match(entry.name)
            if (m is None or (wal_only and m.group(2) != "wal")
                    or not entry.is_file(follow_symlinks=False)):
                continue
            n = int(m.group(1))
            if n > _MAX_LOG_NUMBER:
                # No writer can have made it: leave it alone, but say so.
                _log.warning("ignoring %s: %d is above the largest log number %d",
                             entry.path, n, _MAX_LOG_NUMBER)
                continue
            files.append((n, entry.path))
    files.sort()
    return files


def list_log_files(directory):
    """[(log_number, path)] of `directory`'s <digits>.wal and <digits>.log
    regular files (symlinks excluded), sorted by log number."""
    return _log_files(_fspath(directory, "directory"), False)


cdef list _recycle_files(str directory):
    """Sorted paths of the <digits>.wal.recycle files (GC'd logs kept for
    reuse) in `directory`; regular files only."""
    with os.scandir(directory) as it:
        found = [e.path for e in it
                 if _RECYCLE_NAME.match(e.name) and e.is_file(follow_symlinks=False)]
    return sorted(found)
