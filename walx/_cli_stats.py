"""``walx stats``: per file and in total, records, bytes, fragments, padding,
sequences and damage.

Each file is read once: a LogReader reads the records, sequences and
damage under the recovery mode, and hands each physical record it parses
to the layout (its tap); where the reader stops early (a fatal corruption,
POINT_IN_TIME), the layout reads the rest of the physical records through
the same reader.
"""

from __future__ import annotations

import argparse
import collections
from typing import Any, Dict, List, Optional, Tuple

import walx
from walx._cli_cmds import (EXIT_DAMAGE, EXIT_ERROR, EXIT_OK, FileReport, _err, _jline, _n,
                            _os_message, expand_paths, read_log)
from walx._walx import PhysicalRecord, _physical_rest, _tap

_FRAG_ORDER = ["FULL", "FIRST", "MIDDLE", "LAST"]


class Layout:
    """The physical side of ``walx stats``: fragments by type, block
    trailers, zero fill, and where an older generation of a recycled file
    starts (the end of the log: nothing after it counts)."""

    def __init__(self) -> None:
        self.ended = False
        self.fragments: Dict[str, int] = collections.Counter()
        self.padding: List[Tuple[int, int]] = []        # (offset, length)
        self.zero_fill_bytes = 0
        self.stale_offset: Optional[int] = None

    def add(self, rec: PhysicalRecord) -> None:
        """Count one physical record, in file order."""
        if self.ended:
            return
        if rec.status == "ok" and rec.type_name is not None:
            self.fragments[rec.type_name] += 1
        elif rec.status == "trailer":
            self.padding.append((rec.offset, rec.size))
        elif rec.status == "zero_fill":
            self.zero_fill_bytes += rec.size
        elif rec.status == "old_log":
            # Intact, but from the file's previous use: the end of this log.
            self.stale_offset = rec.offset
            self.ended = True


def _read_stats(args: argparse.Namespace, path: str) -> Tuple[FileReport, Optional[Layout], int]:
    """One pass over `path`: the LogReader report, the layout (None after
    an error) and the header size the physical records fixed."""
    try:
        reader = walx.LogReader(path, mode=args.mode)
    except OSError as e:
        rep = FileReport(path)
        rep.error = _os_message(path, e)
        return rep, None, 0
    layout = Layout()
    _tap(reader, layout.add)
    with reader:
        rep = read_log(path, args.mode, args.codec, header_seqs=args.codec is None,
                       reader=reader)
        if rep.error is not None:
            return rep, None, 0
        _tap(reader, None)
        if not layout.ended:
            for rec in _physical_rest(reader):
                layout.add(rec)
        return rep, layout, reader.header_size


def _file_stats(args: argparse.Namespace, path: str) -> Dict[str, Any]:
    """One file's stats: records, sequences and damage from LogReader,
    fragments, padding and zero fill from the physical records."""
    rep, lay, header_size = _read_stats(args, path)
    return {
        "kind": "file", "file": rep.path, "file_size": rep.file_size,
        "header_size": rep.header_size or header_size,
        "records": rep.records, "payload_bytes": rep.payload_bytes,
        "first_sequence": rep.first_seq, "last_sequence": rep.last_seq,
        "fragments": dict(sorted(lay.fragments.items())) if lay else {},
        "padding": [{"offset": o, "length": n} for o, n in lay.padding] if lay else [],
        "padding_bytes": sum(n for _, n in lay.padding) if lay else 0,
        "zero_fill_bytes": lay.zero_fill_bytes if lay else 0,
        "stale_offset": lay.stale_offset if lay else None,
        "end_offset": rep.end_offset, "damage": rep.damage_json(), "error": rep.error,
    }


def _stats_total(files: List[Dict[str, Any]]) -> Dict[str, Any]:
    frags: Dict[str, int] = {}
    for o in files:
        for k, n in o["fragments"].items():
            frags[k] = frags.get(k, 0) + n
    firsts = [o["first_sequence"] for o in files if o["first_sequence"] is not None]
    lasts = [o["last_sequence"] for o in files if o["last_sequence"] is not None]
    total: Dict[str, Any] = {"kind": "total", "files": len(files)}
    for k in ("file_size", "records", "payload_bytes"):
        total[k] = sum(o[k] for o in files)
    total.update(first_sequence=min(firsts, default=None),
                 last_sequence=max(lasts, default=None),
                 fragments=dict(sorted(frags.items())),
                 padding_count=sum(len(o["padding"]) for o in files),
                 padding_bytes=sum(o["padding_bytes"] for o in files),
                 zero_fill_bytes=sum(o["zero_fill_bytes"] for o in files),
                 damaged_ranges=sum(len(o["damage"]) for o in files))
    return total


def _frag_text(frags: Dict[str, int]) -> str:
    def order(k: str) -> Tuple[int, str]:
        base = k.replace("RECYCLABLE_", "")
        return (_FRAG_ORDER.index(base) if base in _FRAG_ORDER else 99, k)
    return ", ".join(f"{k} {frags[k]}" for k in sorted(frags, key=order)) or "none"


def _print_stats(o: Dict[str, Any], title: str) -> None:
    total = o["kind"] == "total"
    print(title)
    kind = {7: " (legacy 7-byte headers)", 11: " (recyclable 11-byte headers)"}
    print(f"  size           {o['file_size']:,} bytes"
          + ("" if total else kind.get(o["header_size"], " (no records)")))
    print(f"  records        {o['records']:,} ({o['payload_bytes']:,} payload bytes)")
    seqs = ("-" if o["first_sequence"] is None
            else f"{o['first_sequence']}..{o['last_sequence']}")
    print(f"  sequences      {seqs}")
    print(f"  fragments      {_frag_text(o['fragments'])}")
    if total:
        print(f"  padding        {_n(o['padding_count'], 'block trailer')}, "
              f"{o['padding_bytes']} bytes")
    else:
        pad = o["padding"]
        where = ", ".join(f"{p['offset']}+{p['length']}" for p in pad[:8])
        where += ", ..." if len(pad) > 8 else ""
        print(f"  padding        {_n(len(pad), 'block trailer')}, {o['padding_bytes']} bytes"
              + (f": {where}" if pad else ""))
    print(f"  zero fill      {o['zero_fill_bytes']:,} bytes")
    if not total and o["stale_offset"] is not None:
        print(f"  end of log     offset {o['stale_offset']}: an older generation of this "
              f"recycled file follows ({o['file_size'] - o['stale_offset']:,} bytes)")
    if total:
        n = o["damaged_ranges"]
        print(f"  damaged        {_n(n, 'range') if n else 'none'}")
    else:
        print(f"  damaged        {len(o['damage']) or 'none'}")
        for d in o["damage"]:
            print(f"    offset {d['offset']}, {d['size']} bytes: {d['reason']}")
        if o["error"]:
            print(f"  ERROR          {o['error']}")


def cmd_stats(args: argparse.Namespace) -> int:
    """Per file and in total: records, bytes, fragments, padding, sequences, damage."""
    files: List[Dict[str, Any]] = []
    for path in expand_paths(args.paths):
        o = _file_stats(args, path)
        files.append(o)
        if args.json:
            _jline(o)
        else:
            _print_stats(o, path)
    total = _stats_total(files)
    if args.json:
        _jline(total)
    else:
        _print_stats(total, f"total ({_n(total['files'], 'file')})")
    for o in files:
        if o["damage"]:
            d = o["damage"][0]
            more = len(o["damage"]) - 1
            _err("stats", f"{o['file']}: damage at offset {d['offset']}: {d['reason']}"
                          + (f" (+{more} more)" if more else ""))
        if o["error"]:
            _err("stats", o["error"])
    if any(o["error"] for o in files):
        return EXIT_ERROR
    return EXIT_DAMAGE if total["damaged_ranges"] else EXIT_OK
