"""walx exceptions and the corruption record (pure Python, msgpack style)."""

from __future__ import annotations

from typing import Any, NamedTuple, Optional, Tuple, Type


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


class RepairedCorruption(Corruption):
    """A damaged range that ``walx.repair`` cut (or, with ``dry_run``, would cut).

    Equal to the ``Corruption`` it describes (same four fields, same hash);
    the cut of its file is in ``cut_offset`` (the new end of the file),
    ``cut_size`` (bytes removed) and ``backup`` (the ``NAME.broken`` copy
    kept, or ``None`` under ``dry_run``). Several ranges of one file share
    one cut.
    """

    # A tuple subclass cannot add slots: the extra fields live in __dict__,
    # behind read-only properties.
    _cut_offset: int
    _cut_size: int
    _backup: Optional[str]

    def __new__(cls, path: Optional[str], offset: int, size: int, reason: str,
                cut_offset: int, cut_size: int,
                backup: Optional[str]) -> "RepairedCorruption":
        self = super().__new__(cls, path, offset, size, reason)
        self.__dict__.update(_cut_offset=cut_offset, _cut_size=cut_size, _backup=backup)
        return self

    @property
    def cut_offset(self) -> int:
        """Where the file was (or would be) cut: the end of its last valid record."""
        return self._cut_offset

    @property
    def cut_size(self) -> int:
        """How many bytes the cut removed (or would remove)."""
        return self._cut_size

    @property
    def backup(self) -> Optional[str]:
        """The NAME.broken copy of the original file, or None under dry_run."""
        return self._backup

    def _replace(self, **kwargs: Any) -> "RepairedCorruption":
        fields: dict[str, Any] = dict(zip(self._fields, self))
        fields.update(cut_offset=self._cut_offset, cut_size=self._cut_size,
                      backup=self._backup)
        fields.update(kwargs)
        return type(self)(**fields)

    def __reduce__(self) -> Tuple[Any, ...]:
        return (type(self), (*self, self._cut_offset, self._cut_size, self._backup))

    def __repr__(self) -> str:
        return (f"RepairedCorruption(path={self.path!r}, offset={self.offset}, "
                f"size={self.size}, reason={self.reason!r}, cut_offset={self._cut_offset}, "
                f"cut_size={self._cut_size}, backup={self._backup!r})")
