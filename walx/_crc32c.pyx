# Included from _walx.pyx; not a standalone module.
# CRC-32C: the implementation is chosen once, at import.

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

ctypedef uint32_t (*_crc_fn)(uint32_t crc, const uint8_t *data, size_t n) noexcept nogil


cdef object _crc_with(_crc_fn fn, object data, object value):
    """fn over the bytes of `data`, extending `value`. The GIL is released
    from 32 KiB on; below, releasing it costs more than the CRC."""
    cdef Py_buffer view
    cdef uint32_t crc = <uint32_t>_check_uint(value, "value", 0xffffffff)
    _get_buffer(data, &view, "data")
    try:
        if view.len >= 32768:
            with nogil:
                crc = fn(crc, <const uint8_t *>view.buf, <size_t>view.len)
        else:
            crc = fn(crc, <const uint8_t *>view.buf, <size_t>view.len)
    finally:
        PyBuffer_Release(&view)
    return crc


def crc32c(data, value=0):
    """CRC-32C (Castagnoli) of `data`, extending `value` (a previous CRC)."""
    return _crc_with(walx_crc32c_extend, data, value)


def mask_crc(crc):
    """LevelDB/RocksDB CRC masking: rotate right 15 bits, add 0xa282ead8."""
    return walx_mask_crc(<uint32_t>_check_uint(crc, "crc", 0xffffffff))


def unmask_crc(masked):
    """Inverse of mask_crc."""
    return walx_unmask_crc(<uint32_t>_check_uint(masked, "masked", 0xffffffff))
