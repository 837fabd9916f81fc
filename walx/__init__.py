"""walx: a write-ahead log for Python with a C hot path.

Byte-compatible with RocksDB's and LevelDB's log files. See README.md and
docs/ for the format and the API. There is no pure-Python fallback: if the
compiled module fails to import, the ImportError propagates.
"""

from walx._version import __version__
from walx._enums import OpType, RecordType, RecoveryMode
from walx._errors import (
    Corruption,
    CorruptionError,
    RepairedCorruption,
    WalClosedError,
    WalError,
    WalLockedError,
    WalPoisonedError,
)
from walx._walx import (
    BLOCK_SIZE,
    CRC32C_IMPL,
    HEADER_SIZE,
    RECYCLABLE_HEADER_SIZE,
    BatchRecord,
    LogReader,
    LogWriter,
    Recovery,
    WalManager,
    WriteBatch,
    crc32c,
    mask_crc,
    repair,
    unmask_crc,
)

__all__ = [
    "BLOCK_SIZE",
    "BatchRecord",
    "CRC32C_IMPL",
    "HEADER_SIZE",
    "RECYCLABLE_HEADER_SIZE",
    "Corruption",
    "CorruptionError",
    "LogReader",
    "LogWriter",
    "OpType",
    "RecordType",
    "RecoveryMode",
    "Recovery",
    "RepairedCorruption",
    "WalClosedError",
    "WalError",
    "WalLockedError",
    "WalManager",
    "WalPoisonedError",
    "WriteBatch",
    "__version__",
    "crc32c",
    "mask_crc",
    "repair",
    "unmask_crc",
]
