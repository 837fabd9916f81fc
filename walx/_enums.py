"""walx enums (pure Python)."""

from __future__ import annotations

import enum


class RecordType(enum.IntEnum):
    """Physical record types (docs/format.md)."""

    FULL = 1
    FIRST = 2
    MIDDLE = 3
    LAST = 4
    RECYCLABLE_FULL = 5
    RECYCLABLE_FIRST = 6
    RECYCLABLE_MIDDLE = 7
    RECYCLABLE_LAST = 8


class RecoveryMode(enum.Enum):
    """What a reader does with damage (docs/format.md, "Reading").

    A *tail* damage is one after which no valid logical record follows in
    the same file.
    """

    #: Drop and record a damaged tail; raise on damage followed by valid records.
    #: Use case: the default after a crash; a torn last write is expected.
    TOLERATE_CORRUPTED_TAIL = 0
    #: Raise on any damage, even a truncated tail.
    #: Use case: logs that were closed cleanly, where any damage is a bug.
    ABSOLUTE_CONSISTENCY = 1
    #: Stop at the first damage; everything after it is dropped and recorded.
    #: Use case: replay a consistent prefix when a disk may have lost writes.
    POINT_IN_TIME = 2
    #: Skip damaged records, keep every valid one, record what was skipped.
    #: Use case: salvage as much as possible from a damaged log.
    SKIP_ANY_CORRUPTED = 3


class OpType(enum.IntEnum):
    """WriteBatch operation codes."""

    DELETE = 0
    PUT = 1
