"""Test hooks of the compiled module, for walx's own tests and fuzzers.

Not part of the API. They are compiled into the shipped module on purpose:
the tests exercise the module users install, so the hooks cannot live in a
separate test build. Disarmed, fault injection costs each syscall wrapper
one predictable branch (csrc/walx_testing.h).
"""

from walx._walx import (
    _crc32c_fold as crc32c_fold,
    _crc32c_hw as crc32c_hw,
    _crc32c_sw as crc32c_sw,
    _fault_arm as fault_arm,
    _fault_calls as fault_calls,
    _fault_disarm as fault_disarm,
    _fault_fired as fault_fired,
    crc32c_fold_width,
    crc32c_hw_available,
)

__all__ = [
    "crc32c_fold",
    "crc32c_fold_width",
    "crc32c_hw",
    "crc32c_hw_available",
    "crc32c_sw",
    "fault_arm",
    "fault_calls",
    "fault_disarm",
    "fault_fired",
]
