# cython: language_level=3, embedsignature=True, cdivision=False
"""walx._walx: the compiled core (framing, CRC32C, writer, reader).

The root of the single extension module; the classes live in fragments
included below, in dependency order.
"""
cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyObject_GetBuffer, PyBuffer_Release
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.pystate cimport (PyInterpreterState, PyInterpreterState_Head,
                              PyInterpreterState_Next, PyInterpreterState_ThreadHead,
                              PyThreadState, PyThreadState_Next)
from libc.errno cimport EBADF, EINVAL, ENOMEM
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy

from walx._clib cimport *

import logging
import os
import re
import warnings

from walx._enums import OpType, RecordType, RecoveryMode
from walx._errors import (Corruption, CorruptionError, WalClosedError, WalError, WalLockedError,
                          WalPoisonedError)

BLOCK_SIZE = WALX_BLOCK_SIZE
HEADER_SIZE = WALX_HEADER_SIZE
RECYCLABLE_HEADER_SIZE = WALX_RECYCLABLE_HEADER_SIZE
#: 1 in the WALX_DEBUG=1 build profile.
DEBUG_BUILD = WALX_DEBUG

_log = logging.getLogger("walx")

_crc_mode = os.environ.get("WALX_CRC32C", "").strip().lower()
_CRC_MODES = {"": WALX_CRC_AUTO, "auto": WALX_CRC_AUTO, "hw": WALX_CRC_AUTO,
              "sw": WALX_CRC_FORCE_SW, "software": WALX_CRC_FORCE_SW,
              "nofold": WALX_CRC_NO_FOLD}
if _crc_mode not in _CRC_MODES:
    raise ImportError(f"WALX_CRC32C must be unset, 'sw' (software only) or 'nofold' "
                      f"(no carry-less folding), not {_crc_mode!r}")
walx_crc32c_init(_CRC_MODES[_crc_mode])
#: The CRC32C implementation chosen at import: "vpclmulqdq-512", "vpclmulqdq-256",
#: "sse4.2", "armv8-crc" or "software".
CRC32C_IMPL = walx_crc32c_impl_name().decode("ascii")
del _crc_mode

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


cdef int _check_os(int rc, object path) except -1:
    """Raise the OSError subclass for a -errno result, naming `path`."""
    if rc >= 0:
        return 0
    if rc == -ENOMEM:
        raise MemoryError()
    if rc == -WALX_ENOTFILE:
        raise OSError(EINVAL, "a FIFO or socket, not a log file", path)
    raise OSError(-rc, os.strerror(-rc), path)


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


def crc32c(data, value=0):
    """CRC-32C (Castagnoli) of `data`, extending `value` (a previous CRC)."""
    cdef Py_buffer view
    cdef uint32_t crc = <uint32_t>_check_uint(value, "value", 0xffffffff)
    _get_buffer(data, &view, "data")
    try:
        if view.len >= 32768:
            with nogil:
                crc = walx_crc32c_extend(crc, <const uint8_t *>view.buf, <size_t>view.len)
        else:
            crc = walx_crc32c_extend(crc, <const uint8_t *>view.buf, <size_t>view.len)
    finally:
        PyBuffer_Release(&view)
    return crc


def _crc32c_sw(data, value=0):
    """The portable software CRC-32C, whatever the dispatch chose (for tests)."""
    cdef Py_buffer view
    cdef uint32_t crc = <uint32_t>_check_uint(value, "value", 0xffffffff)
    _get_buffer(data, &view, "data")
    try:
        crc = walx_crc32c_sw(crc, <const uint8_t *>view.buf, <size_t>view.len)
    finally:
        PyBuffer_Release(&view)
    return crc


def _crc32c_hw(data, value=0):
    """The hardware CRC-32C; raises RuntimeError when the CPU has none."""
    cdef Py_buffer view
    cdef uint32_t crc = <uint32_t>_check_uint(value, "value", 0xffffffff)
    if not walx_crc32c_hw_available():
        raise RuntimeError("no hardware CRC-32C on this CPU")
    _get_buffer(data, &view, "data")
    try:
        crc = walx_crc32c_hw(crc, <const uint8_t *>view.buf, <size_t>view.len)
    finally:
        PyBuffer_Release(&view)
    return crc


def _crc32c_fold(data, value=0, int width=0):
    """Carry-less folding (x86-64, VPCLMULQDQ); `width` 256 runs the 256-bit
    kernel even where 512 bits are available. Raises RuntimeError when the
    CPU has no folding."""
    cdef Py_buffer view
    cdef uint32_t crc = <uint32_t>_check_uint(value, "value", 0xffffffff)
    if not walx_crc32c_fold_width():
        raise RuntimeError("no carry-less-multiply CRC-32C on this CPU")
    if width not in (0, 256):
        raise ValueError(f"width must be 0 or 256, got {width}")
    _get_buffer(data, &view, "data")
    try:
        if width == 256:
            crc = walx_crc32c_fold256(crc, <const uint8_t *>view.buf, <size_t>view.len)
        else:
            crc = walx_crc32c_fold(crc, <const uint8_t *>view.buf, <size_t>view.len)
    finally:
        PyBuffer_Release(&view)
    return crc


def crc32c_fold_width():
    """Bits per register of the carry-less folding CRC (512 or 256), 0 without."""
    return walx_crc32c_fold_width()


def crc32c_hw_available():
    """True when this CPU has a hardware CRC-32C that passed its self-check."""
    return bool(walx_crc32c_hw_available())


def mask_crc(crc):
    """LevelDB/RocksDB CRC masking: rotate right 15 bits, add 0xa282ead8."""
    return walx_mask_crc(<uint32_t>_check_uint(crc, "crc", 0xffffffff))


def unmask_crc(masked):
    """Inverse of mask_crc."""
    return walx_unmask_crc(<uint32_t>_check_uint(masked, "masked", 0xffffffff))


_FAULT_OPS = {"open": WALX_FAULT_OPEN, "write": WALX_FAULT_WRITE,
              "fdatasync": WALX_FAULT_FDATASYNC, "fsync": WALX_FAULT_FSYNC,
              "rename": WALX_FAULT_RENAME, "unlink": WALX_FAULT_UNLINK,
              "ftruncate": WALX_FAULT_FTRUNCATE, "fallocate": WALX_FAULT_FALLOCATE}


def _fault_arm(op, nth, err=0, short_write=False):
    """Test hook: make the `nth` call (from now) of syscall `op` fail with
    errno `err`, or for "write" with short_write=True write only half.
    Process-wide; call _fault_disarm() afterwards."""
    if op not in _FAULT_OPS:
        raise ValueError(f"op must be one of {sorted(_FAULT_OPS)}, not {op!r}")
    _check_uint(nth, "nth", 0xffffffffffffffff)
    if nth == 0:
        raise ValueError("nth must be >= 1")
    _check_uint(err, "err", 4095)
    if not short_write and err == 0:
        raise ValueError("give err (an errno) or short_write=True")
    if short_write and op != "write":
        raise ValueError("short_write applies to op='write' only")
    walx_fault_arm(_FAULT_OPS[op], nth, err, 1 if short_write else 0)


def _fault_disarm():
    """Test hook: disarm fault injection and reset its counters."""
    walx_fault_disarm()


def _fault_calls(op):
    """Test hook: calls of `op` since the last arm or disarm (counted while armed)."""
    return walx_fault_calls(_FAULT_OPS[op])


def _fault_fired():
    """Test hook: faults delivered since the last arm or disarm."""
    return walx_fault_fired()


include "_writer.pyx"
include "_batch.pyx"
include "_reader.pyx"
include "_manager.pyx"
