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


_LOG_NAME = re.compile(r"^([0-9]+)\.(?:log|wal)$")


def log_number_from_name(path):
    """The log number in a ``<digits>.log`` or ``<digits>.wal`` file name, else None."""
    m = _LOG_NAME.match(os.path.basename(os.fspath(path)))
    return int(m.group(1)) if m else None


cdef uint64_t _check_uint(object value, str argname, uint64_t maximum) except? 0xffffffffffffffff:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{argname} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{argname} must be >= 0, got {value}")
    if value > maximum:
        raise ValueError(f"{argname} must be <= {maximum}, got {value}")
    return value
