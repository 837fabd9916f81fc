# Included from _walx.pyx; not a standalone module.
# Test hooks (fault injection, each CRC-32C kernel alone). Tests reach them
# through walx._testing; nothing else calls them.

cdef extern from "walx_testing.h" nogil:
    enum walx_fault_op:
        WALX_FAULT_OPEN
        WALX_FAULT_WRITE
        WALX_FAULT_FDATASYNC
        WALX_FAULT_FSYNC
        WALX_FAULT_RENAME
        WALX_FAULT_UNLINK
        WALX_FAULT_FTRUNCATE
        WALX_FAULT_FALLOCATE
        WALX_FAULT_NOPS
    void walx_fault_arm(int op, uint64_t nth, int err, int short_write)
    void walx_fault_disarm()
    uint64_t walx_fault_calls(int op)
    uint64_t walx_fault_fired()

    uint32_t walx_crc32c_sw(uint32_t crc, const uint8_t *data, size_t n)
    int walx_crc32c_hw_available()
    uint32_t walx_crc32c_hw(uint32_t crc, const uint8_t *data, size_t n)
    int walx_crc32c_fold_width()
    uint32_t walx_crc32c_fold(uint32_t crc, const uint8_t *data, size_t n)
    uint32_t walx_crc32c_fold256(uint32_t crc, const uint8_t *data, size_t n)


def _crc32c_sw(data, value=0):
    """The portable software CRC-32C, whatever the dispatch chose (for tests)."""
    return _crc_with(walx_crc32c_sw, data, value)


def _crc32c_hw(data, value=0):
    """The hardware CRC-32C; raises RuntimeError when the CPU has none."""
    if not walx_crc32c_hw_available():
        raise RuntimeError("no hardware CRC-32C on this CPU")
    return _crc_with(walx_crc32c_hw, data, value)


def _crc32c_fold(data, value=0, int width=0):
    """Carry-less folding (x86-64, VPCLMULQDQ); `width` 256 runs the 256-bit
    kernel even where 512 bits are available. Raises RuntimeError when the
    CPU has no folding."""
    if not walx_crc32c_fold_width():
        raise RuntimeError("no carry-less-multiply CRC-32C on this CPU")
    if width not in (0, 256):
        raise ValueError(f"width must be 0 or 256, got {width}")
    return _crc_with(walx_crc32c_fold256 if width == 256 else walx_crc32c_fold, data, value)


def crc32c_fold_width():
    """Bits per register of the carry-less folding CRC (512 or 256), 0 without."""
    return walx_crc32c_fold_width()


def crc32c_hw_available():
    """True when this CPU has a hardware CRC-32C that passed its self-check."""
    return bool(walx_crc32c_hw_available())


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
