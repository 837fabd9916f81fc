"""The ``walx`` subcommands dump, verify and repair (stats is in _cli_stats,
bench in _cli_bench).

Each ``cmd_*`` takes the parsed arguments and returns the exit status:
0 success, 1 damage found, 2 usage or I/O error. Data goes to stdout;
damage and errors go to stderr as ``walx CMD: FILE: ... offset N ...``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from typing import Any, Callable, Dict, List, Optional, Protocol, TextIO, Tuple

import walx
from walx import _codecs
from walx._walx import list_log_files

EXIT_OK, EXIT_DAMAGE, EXIT_ERROR = 0, 1, 2

MODES = {
    "tolerate": walx.RecoveryMode.TOLERATE_CORRUPTED_TAIL,
    "absolute": walx.RecoveryMode.ABSOLUTE_CONSISTENCY,
    "point-in-time": walx.RecoveryMode.POINT_IN_TIME,
    "skip": walx.RecoveryMode.SKIP_ANY_CORRUPTED,
}
_MODE_ALIASES = {"pit": "point-in-time"}
_MODE_ALIASES.update({m.name.lower().replace("_", "-"): k for k, m in MODES.items()})

PROGRESS_THRESHOLD = 64 << 20   # bytes; smaller jobs finish before a bar helps

# One damaged range: {"offset", "size", "reason"} (also a JSON object).
Damage = Dict[str, object]


class UsageError(Exception):
    """A bad argument found after parsing (missing file, empty directory): exit 2."""


def parse_mode(text: str) -> walx.RecoveryMode:
    """argparse type for --mode: a short name or a RecoveryMode name."""
    key = text.strip().lower().replace("_", "-")
    key = _MODE_ALIASES.get(key, key)
    if key not in MODES:
        raise argparse.ArgumentTypeError(
            f"unknown mode {text!r} (choose from {', '.join(MODES)})")
    return MODES[key]


def expand_paths(paths: List[str]) -> List[str]:
    """Files as given; a directory means its <digits>.wal/.log files in log-number order."""
    out: List[str] = []
    for p in paths:
        if os.path.isdir(p):
            try:
                logs = list_log_files(p)
            except OSError as e:
                raise UsageError(f"{p}: {e.strerror}") from None
            if not logs:
                raise UsageError(f"{p}: no <digits>.wal or <digits>.log files in this directory")
            out.extend(path for _, path in logs)
        elif os.path.exists(p):
            out.append(p)
        else:
            raise UsageError(f"{p}: no such file or directory")
    return out


def _n(count: int, word: str) -> str:
    """'1 record', '2 records'."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def _err(cmd: str, msg: str) -> None:
    print(f"walx {cmd}: {msg}", file=sys.stderr, flush=True)


def _os_message(path: str, e: OSError) -> str:
    return f"{path}: {e.strerror or e}"


def _jline(obj: object) -> None:
    print(json.dumps(obj, separators=(",", ":")))


class Progress:
    """A carriage-return percentage line on a terminal; silent otherwise."""

    def __init__(self, total: int, label: str, stream: Optional[TextIO] = None,
                 enabled: Optional[bool] = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty()) and total > PROGRESS_THRESHOLD
        self.enabled = enabled and total > 0
        self.total = total
        self.label = label
        self._pct = -1

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        pct = min(100, done * 100 // self.total)
        if pct != self._pct:
            self._pct = pct
            self.stream.write(f"\r{self.label} {pct:3d}% "
                              f"({done >> 20} of {self.total >> 20} MiB)")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._pct >= 0:
            self.stream.write("\r\033[K")
            self.stream.flush()


# ---- one pass over a file ---------------------------------------------------------

class FileReport:
    """What reading one file found."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.file_size = 0
        self.header_size = 0
        self.records = 0
        self.payload_bytes = 0
        self.first_seq: Optional[int] = None
        self.last_seq: Optional[int] = None
        self.damage: List[Damage] = []
        self.stopped: Optional[Damage] = None              # the damage that ended reading
        self.error: Optional[str] = None                   # I/O or unsupported: exit 2
        self.end_offset = 0
        self.clean = False

    def note_seq(self, seq: int, count: int) -> None:
        last = seq + max(count - 1, 0)
        if self.first_seq is None or seq < self.first_seq:
            self.first_seq = seq
        if self.last_seq is None or last > self.last_seq:
            self.last_seq = last

    def damage_json(self) -> List[Damage]:
        return [dict(d) for d in self.damage]


# on_record(report, offset, size, payload, batch, error) and on_damage(report, damage).
OnRecord = Callable[[FileReport, int, int, bytes, Optional[_codecs.Batch],
                     Optional[_codecs.CodecError]], None]
OnDamage = Callable[[FileReport, Damage], None]


class Advance(Protocol):
    """What read_log tells as it goes: update(offset) after each record."""

    def update(self, done: int) -> None: ...


def read_log(path: str, mode: walx.RecoveryMode, codec: Optional[str], *,
             on_record: Optional[OnRecord] = None, on_damage: Optional[OnDamage] = None,
             progress: Optional[Advance] = None, done_before: int = 0,
             header_seqs: bool = False, reader_decodes: bool = False,
             reader: Optional["walx.LogReader[Any]"] = None) -> FileReport:
    """Read `path` in `mode`, decoding each payload with `codec` (None: framing only).

    on_record(report, offset, size, payload, batch, error) is called per
    record and on_damage(report, damage_dict) per damaged range, in file
    order; progress.update(done_before + end offset) after each record.
    With header_seqs, the sequence range comes from each payload's 12-byte
    batch header when no codec decodes it. With reader_decodes and codec
    "walx", LogReader decodes (a bad batch is damage under the mode's rules,
    as in recovery) and on_record is not called. `reader`, when given, is
    the LogReader of `path` to read; the caller closes it.
    """
    rep = FileReport(path)
    reader_codec = "walx" if codec == "walx" and reader_decodes else None
    own = reader is None
    if reader is None:
        try:
            reader = walx.LogReader(path, mode=mode, codec=reader_codec)
        except OSError as e:
            rep.error = _os_message(path, e)
            return rep
    seen = 0

    def flush_damage() -> None:
        nonlocal seen
        while seen < len(reader.corruptions):
            c = reader.corruptions[seen]
            seen += 1
            _add_damage(rep, on_damage, c.offset, c.size, c.reason)

    with reader if own else contextlib.nullcontext():
        rep.file_size = reader.file_size
        while True:
            # Only the reader's own errors are caught here, never the callbacks'.
            try:
                item = reader.read_record()
            except walx.CorruptionError as e:
                flush_damage()
                rep.stopped = {"offset": e.offset, "reason": e.reason}
                if not any(d["offset"] == e.offset for d in rep.damage):
                    _add_damage(rep, on_damage, e.offset, 0, e.reason)
                break
            except walx.WalError as e:          # e.g. a compressed RocksDB WAL
                rep.error = str(e)
                break
            except OSError as e:
                rep.error = _os_message(path, e)
                break
            flush_damage()
            if item is None:
                break
            off = reader.last_record_offset
            assert off is not None      # set once a record has been returned
            end = reader.end_offset
            if isinstance(item, walx.WriteBatch):   # reader_codec: the reader decoded it
                rep.records += 1
                rep.payload_bytes += len(item.encode())
                assert item.sequence is not None    # decoded: it has one
                rep.note_seq(item.sequence, len(item))
            else:
                _on_payload(rep, codec, item, off, end, header_seqs, on_record, on_damage)
            if progress is not None:
                progress.update(done_before + end)
        flush_damage()
        rep.header_size = reader.header_size
        rep.end_offset = reader.end_offset
        rep.clean = reader.clean_end
    return rep


def _add_damage(rep: FileReport, on_damage: Optional[OnDamage], offset: Optional[int],
                size: int, reason: str) -> None:
    d: Damage = {"offset": offset, "size": size, "reason": reason}
    rep.damage.append(d)
    if on_damage:
        on_damage(rep, d)


def _on_payload(rep: FileReport, codec: Optional[str], payload: bytes, off: int, end: int,
                header_seqs: bool, on_record: Optional[OnRecord],
                on_damage: Optional[OnDamage]) -> None:
    rep.payload_bytes += len(payload)
    batch: Optional[_codecs.Batch] = None
    error: Optional[_codecs.CodecError] = None
    if codec and codec != "raw":
        try:
            # Only dump (on_record) shows the ops: verify and stats validate.
            batch = _codecs.decode(codec, payload, keep_ops=on_record is not None)
        except _codecs.CodecError as e:
            error = e
            _add_damage(rep, on_damage, off, end - off, f"bad {codec} WriteBatch: {e}")
        else:
            rep.note_seq(batch.sequence, batch.count)
    elif header_seqs:
        h = _codecs.batch_header(payload)
        if h is not None:
            rep.note_seq(*h)
    if error is None:
        rep.records += 1
    if on_record:
        on_record(rep, off, len(payload), payload, batch, error)


def _status(reports: List[FileReport]) -> int:
    if any(r.error for r in reports):
        return EXIT_ERROR
    if any(r.damage for r in reports):
        return EXIT_DAMAGE
    return EXIT_OK


def _stopped_note(rep: FileReport, mode: walx.RecoveryMode) -> str:
    assert rep.stopped is not None
    why = ("refuses any damage" if mode is walx.RecoveryMode.ABSOLUTE_CONSISTENCY
           else "refuses damage that valid records follow")
    return (f"reading stopped at offset {rep.stopped['offset']}: {mode.name} {why}; "
            f"the rest of the file was not checked (--mode skip reads past it)")


# ---- dump -------------------------------------------------------------------------

def _hex(b: bytes) -> str:
    return b.hex() if b else "(empty)"


def _op_text(op: _codecs.Op, values: bool) -> str:
    parts = [op.op]
    if op.cf is not None:
        parts.append(f"cf={op.cf}")
    if op.key is not None:
        parts.append(f"key={_hex(op.key)}")
    if op.end_key is not None:
        parts.append(f"end_key={_hex(op.end_key)}")
    for name in ("value", "data"):
        v = getattr(op, name)
        if v is not None:
            parts.append(f"{name}={_hex(v)}" if values else f"{name}=({len(v)} bytes)")
    if op.timestamp is not None:
        parts.append(f"timestamp={_hex(op.timestamp)}")
    if op.xid is not None:
        parts.append(f"xid={_hex(op.xid)}")
    return " ".join(parts)


def cmd_dump(args: argparse.Namespace) -> int:
    """Print every record: file, offset, size and, with --codec, the decoded batch."""
    files = expand_paths(args.paths)
    codec = args.codec

    def on_record(rep: FileReport, off: int, size: int, payload: bytes,
                  batch: Optional[_codecs.Batch], error: Optional[_codecs.CodecError]) -> None:
        if args.json:
            obj: Dict[str, object] = {"kind": "record", "file": rep.path,
                                      "offset": off, "size": size}
            shown = batch if batch is not None else (error.partial if error else None)
            if shown is not None:
                obj.update(sequence=shown.sequence, count=shown.count,
                           ops=[o.to_json() for o in shown.ops])
            if codec == "raw" or error is not None:
                obj["payload_hex"] = payload.hex()
            if error is not None:
                obj["error"] = str(error)
            _jline(obj)
            return
        line = f"{rep.path} offset={off} size={size}"
        shown = batch if batch is not None else (error.partial if error else None)
        if shown is not None:
            line += f" seq={shown.sequence} count={shown.count}"
        if codec == "raw" and args.values:
            line += f" payload={_hex(payload)}"
        print(line)
        if shown is not None:
            for op in shown.ops:
                print("    " + _op_text(op, args.values))
        if error is not None:
            print(f"    ! {error}")

    def on_damage(rep: FileReport, d: Damage) -> None:
        _err("dump", f"{rep.path}: damage at offset {d['offset']} ({d['size']} bytes): "
                     f"{d['reason']}")
        if args.json:
            _jline({"kind": "damage", "file": rep.path, **d})
        else:
            print(f"{rep.path} offset={d['offset']} DAMAGED size={d['size']}: {d['reason']}")

    reports: List[FileReport] = []
    for path in files:
        rep = read_log(path, args.mode, codec, on_record=on_record, on_damage=on_damage)
        if rep.stopped:
            _err("dump", f"{path}: {_stopped_note(rep, args.mode)}")
        if rep.error:
            _err("dump", rep.error)
        reports.append(rep)
        sys.stdout.flush()
    return _status(reports)


# ---- verify -----------------------------------------------------------------------

def cmd_verify(args: argparse.Namespace) -> int:
    """Read everything in the chosen mode; report each damaged range."""
    files = expand_paths(args.paths)
    codec = None if args.codec == "raw" else args.codec
    total = 0
    for p in files:
        try:
            total += os.path.getsize(p)
        except OSError:
            pass
    progress = Progress(total, "verifying", enabled=False if args.no_progress else None)
    reports: List[FileReport] = []
    done = 0
    try:
        for path in files:
            rep = read_log(path, args.mode, codec, progress=progress, done_before=done,
                           reader_decodes=True)
            done += rep.file_size
            reports.append(rep)
    finally:
        progress.close()
    for rep in reports:
        if args.json:
            _jline({"kind": "file", "file": rep.path, "file_size": rep.file_size,
                    "records": rep.records, "end_offset": rep.end_offset,
                    "clean": rep.clean and not rep.damage, "damage": rep.damage_json(),
                    "stopped": rep.stopped, "error": rep.error})
        elif rep.error:
            print(f"{rep.path}: ERROR: {rep.error}")
        elif not rep.damage:
            print(f"{rep.path}: ok: {_n(rep.records, 'record')}, {rep.file_size} bytes")
        else:
            print(f"{rep.path}: DAMAGED: {_n(len(rep.damage), 'damaged range')}, "
                  f"{_n(rep.records, 'valid record')}")
            for d in rep.damage:
                print(f"    offset {d['offset']}, {d['size']} bytes: {d['reason']}")
            if rep.stopped:
                print(f"    {_stopped_note(rep, args.mode)}")
    damaged = [r for r in reports if r.damage]
    ranges = sum(len(r.damage) for r in reports)
    records = sum(r.records for r in reports)
    errors = [r for r in reports if r.error]
    if args.json:
        _jline({"kind": "total", "files": len(reports), "records": records,
                "damaged_ranges": ranges, "damaged_files": len(damaged),
                "errors": len(errors), "mode": args.mode.name, "codec": args.codec})
    else:
        found = (f"{_n(ranges, 'damaged range')} in {_n(len(damaged), 'file')}"
                 if ranges else "no damage")
        print(f"verified {_n(len(reports), 'file')} ({args.mode.name}, codec "
              f"{args.codec}): {_n(records, 'record')}, {found}")
    for r in damaged:
        first = r.damage[0]
        _err("verify", f"{r.path}: damage at offset {first['offset']}: {first['reason']}"
                       + (f" (+{len(r.damage) - 1} more)" if len(r.damage) > 1 else ""))
    for r in errors:
        _err("verify", str(r.error))
    return _status(reports)


# ---- repair -----------------------------------------------------------------------

def _refused(target: str, e: walx.CorruptionError, note: Optional[str]) -> None:
    """Report walx.repair's refusal of `target`: its message names every log
    damaged in the middle (the first one by path, offset and reason)."""
    path = e.path or target
    print(f"{path}: NOT REPAIRED: damage at offset {e.offset} is followed by valid records: "
          f"{e.reason}")
    _err("repair", f"{path}: cannot repair: damage at offset {e.offset} is followed by valid "
                   f"records, and cutting there would drop them ({e.reason}); inspect with "
                   f"'walx verify --mode skip'")
    if note:
        _err("repair", f"{target}: {note}")


def _refusals(targets: List[str]) -> List[Tuple[str, walx.CorruptionError]]:
    """walx.repair(dry_run=True) on each target: the ones it refuses. Other
    errors are left to the pass that repairs."""
    refused = []
    for target in targets:
        try:
            walx.repair(target, dry_run=True)
        except walx.CorruptionError as e:
            refused.append((target, e))
        except (OSError, walx.WalError):
            pass
    return refused


def _report_cut(path: str, cut: List[walx.RepairedCorruption], dry_run: bool) -> int:
    """Print what walx.repair did (or would do) to one file; its exit status."""
    if not cut:
        print(f"{path}: clean")
        return EXIT_OK
    # walx.repair also trims what follows the last record when that is not
    # damage (zero fill, a recycled log's older generation): reported as
    # "end of log", and not counted as damage.
    damaged = [c for c in cut if not c.reason.startswith("end of log")]
    for c in cut:
        if dry_run:
            verb = "would cut" if c in damaged else "would trim"
        else:
            verb = "cut" if c in damaged else "trimmed"
        print(f"{path}: {verb} offset {c.offset}, {c.size} bytes: {c.reason}")
    if not dry_run:
        print(f"{path}: now {cut[0].cut_offset} bytes; original kept as {cut[0].backup}")
    elif damaged:
        _err("repair", f"{path}: damaged tail at offset {damaged[0].offset} "
                       "(dry run: nothing changed)")
        return EXIT_DAMAGE
    return EXIT_OK


def cmd_repair(args: argparse.Namespace) -> int:
    """walx.repair on each path as given (a directory is all or nothing, and
    so are several paths: a dry run over every one comes first); --dry-run
    only reports."""
    files = {p: expand_paths([p]) for p in args.paths}    # usage errors first
    for p in args.paths:
        if not os.path.isdir(p) and not os.path.isfile(p):
            _err("repair", f"{p}: not a regular file")
            return EXIT_ERROR
    if not args.dry_run and len(args.paths) > 1:
        refused = _refusals(args.paths)
        for target, e in refused:
            _refused(target, e, None)
        if refused:
            _err("repair", "nothing was changed: every path given is repaired, or none is")
            return EXIT_DAMAGE
    status = EXIT_OK
    for target in args.paths:
        try:
            cut = walx.repair(target, dry_run=args.dry_run)
        except walx.CorruptionError as e:
            what = "no log would be cut" if args.dry_run else "nothing was changed"
            _refused(target, e, f"{what}: every log of a directory is repaired, or none is"
                     if os.path.isdir(target) else None)
            status = max(status, EXIT_DAMAGE)
            continue
        except OSError as e:
            _err("repair", _os_message(e.filename or target, e))
            status = EXIT_ERROR
            continue
        except walx.WalError as e:
            _err("repair", f"{target}: {e}")
            status = EXIT_ERROR
            continue
        for path in files[target]:
            mine = [c for c in cut if isinstance(c, walx.RepairedCorruption) and c.path == path]
            status = max(status, _report_cut(path, mine, args.dry_run))
    return status
