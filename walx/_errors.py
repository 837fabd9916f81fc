"""walx exceptions and the corruption record (pure Python, msgpack style)."""

from __future__ import annotations

from typing import NamedTuple, Optional, Tuple, Type


class WalError(Exception):
    """Base of every walx-specific error."""


class CorruptionError(WalError):
    """A record or batch failed validation and the recovery mode forbids skipping it.

    ``path`` is the file (or ``None`` for in-memory data), ``offset`` the byte
    offset of the damage (or ``None``) and ``reason`` what was wrong.
    """

    def __init__(self, reason: str, path: Optional[str] = None,
                 offset: Optional[int] = None) -> None:
        self.reason = reason
        self.path = path
        self.offset = offset
        where = path if path is not None else "<bytes>"
        if offset is not None:
            where = f"{where} at offset {offset}"
        super().__init__(f"{where}: {reason}")

    def __reduce__(self) -> Tuple[Type[CorruptionError], Tuple[str, Optional[str], Optional[int]]]:
        # Keep the attributes through pickling.
        return (type(self), (self.reason, self.path, self.offset))


class WalClosedError(WalError, ValueError):
    """An operation was attempted on a closed writer, reader or manager."""


class WalLockedError(WalError):
    """Another live WalManager (in any process) holds the directory."""


class WalPoisonedError(WalError):
    """A write or sync failed earlier; the writer refuses work until reopened.

    A failed fsync is never retried: after one, Linux may drop the dirty pages
    and report success on the next call, so the data's fate is unknown.
    """


class Corruption(NamedTuple):
    """One damaged byte range found while reading."""

    path: Optional[str]
    offset: int
    size: int
    reason: str
