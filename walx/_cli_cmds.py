"""The ``walx`` subcommands other than ``demo``: dump, verify, stats, repair, bench.

Each ``cmd_*`` takes the parsed arguments and returns the exit status:
0 success, 1 damage found, 2 usage or I/O error. Data goes to stdout;
damage and errors go to stderr as ``walx CMD: FILE: ... offset N ...``.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional

import walx
from walx import _codecs, _scan

EXIT_OK, EXIT_DAMAGE, EXIT_ERROR = 0, 1, 2

MODES = {
    "tolerate": walx.RecoveryMode.TOLERATE_CORRUPTED_TAIL,
    "absolute": walx.RecoveryMode.ABSOLUTE_CONSISTENCY,
    "point-in-time": walx.RecoveryMode.POINT_IN_TIME,
    "skip": walx.RecoveryMode.SKIP_ANY_CORRUPTED,
}
_MODE_ALIASES = {"pit": "point-in-time"}
_MODE_ALIASES.update({m.name.lower().replace("_", "-"): k for k, m in MODES.items()})
_LOG_FILE = re.compile(r"^([0-9]+)\.(?:wal|log)$")

PROGRESS_THRESHOLD = 64 << 20   # bytes; smaller jobs finish before a bar helps


class UsageError(Exception):
    """A bad argument found after parsing (missing file, empty directory): exit 2."""


def parse_mode(text: str) -> walx.RecoveryMode:
    """argparse type for --mode: a short name or a RecoveryMode name."""
    key = text.strip().lower().replace("_", "-")
    key = _MODE_ALIASES.get(key, key)
    if key not in MODES:
        import argparse
        raise argparse.ArgumentTypeError(
            f"unknown mode {text!r} (choose from {', '.join(MODES)})")
    return MODES[key]


def expand_paths(paths: List[str]) -> List[str]:
    """Files as given; a directory means its <digits>.wal/.log files in log-number order."""
    out: List[str] = []
    for p in paths:
        if os.path.isdir(p):
            try:
                names = os.listdir(p)
            except OSError as e:
                raise UsageError(f"{p}: {e.strerror}") from None
            logs = sorted((int(m.group(1)), n) for n in names
                          for m in [_LOG_FILE.match(n)] if m)
            if not logs:
                raise UsageError(f"{p}: no <digits>.wal or <digits>.log files in this directory")
            out.extend(os.path.join(p, n) for _, n in logs)
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


def _jline(obj) -> None:
    print(json.dumps(obj, separators=(",", ":")))


class Progress:
    """A carriage-return percentage line on a terminal; silent otherwise."""

    def __init__(self, total: int, label: str, stream=None, enabled=None) -> None:
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
        self.damage: List[Dict[str, object]] = []
        self.stopped: Optional[Dict[str, object]] = None   # the damage that ended reading
        self.error: Optional[str] = None                   # I/O or unsupported: exit 2
        self.end_offset = 0
        self.clean = False

    def note_seq(self, seq: int, count: int) -> None:
        last = seq + max(count - 1, 0)
        if self.first_seq is None or seq < self.first_seq:
            self.first_seq = seq
        if self.last_seq is None or last > self.last_seq:
            self.last_seq = last

    def damage_json(self):
        return [dict(d) for d in self.damage]


def read_log(path, mode, codec, *, on_record=None, on_damage=None, progress=None,
             done_before=0, header_seqs=False, reader_decodes=False) -> FileReport:
    """Read `path` in `mode`, decoding each payload with `codec` (None: framing only).

    on_record(report, offset, size, payload, batch, error) is called per
    record and on_damage(report, damage_dict) per damaged range, in file
    order. With header_seqs, the sequence range comes from each payload's
    12-byte batch header when no codec decodes it. With reader_decodes and
    codec "walx", LogReader decodes (a bad batch is damage under the mode's
    rules, as in recovery) and on_record is not called.
    """
    rep = FileReport(path)
    reader_codec = "walx" if codec == "walx" and reader_decodes else None
    try:
        reader = walx.LogReader(path, mode=mode, codec=reader_codec)
    except OSError as e:
        rep.error = _os_message(path, e)
        return rep
    seen = 0

    def flush_damage():
        nonlocal seen
        while seen < len(reader.corruptions):
            c = reader.corruptions[seen]
            seen += 1
            _add_damage(rep, on_damage, c.offset, c.size, c.reason)

    with reader:
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
            end = reader.end_offset
            if reader_codec:
                rep.records += 1
                rep.payload_bytes += len(item.encode())
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


def _add_damage(rep: FileReport, on_damage, offset, size, reason) -> None:
    d = {"offset": offset, "size": size, "reason": reason}
    rep.damage.append(d)
    if on_damage:
        on_damage(rep, d)


def _on_payload(rep, codec, payload, off, end, header_seqs, on_record, on_damage):
    rep.payload_bytes += len(payload)
    batch = error = None
    if codec and codec != "raw":
        try:
            batch = _codecs.decode(codec, payload)
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


def _stopped_note(rep: FileReport, mode) -> str:
    return (f"reading stopped at offset {rep.stopped['offset']}: {mode.name} does not "
            f"allow this damage; the rest of the file was not checked "
            f"(use --mode skip to see everything)")


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


def cmd_dump(args) -> int:
    """Print every record: file, offset, size and, with --codec, the decoded batch."""
    files = expand_paths(args.paths)
    codec = args.codec

    def on_record(rep, off, size, payload, batch, error):
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

    def on_damage(rep, d):
        _err("dump", f"{rep.path}: damage at offset {d['offset']} ({d['size']} bytes): "
                     f"{d['reason']}")
        if args.json:
            _jline({"kind": "damage", "file": rep.path, **d})
        else:
            print(f"{rep.path} offset={d['offset']} DAMAGED size={d['size']}: {d['reason']}")

    reports = []
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

def cmd_verify(args) -> int:
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
    reports = []
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
            print(f"{rep.path}: ok: {rep.records} records, {rep.file_size} bytes")
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
        print(f"verified {_n(len(reports), 'file')} ({args.mode.name}, codec "
              f"{args.codec}): {_n(records, 'record')}, {_n(ranges, 'damaged range')} "
              f"in {_n(len(damaged), 'file')}")
    for r in damaged:
        first = r.damage[0]
        _err("verify", f"{r.path}: damage at offset {first['offset']}: {first['reason']}"
                       + (f" (+{len(r.damage) - 1} more)" if len(r.damage) > 1 else ""))
    for r in errors:
        _err("verify", r.error)
    return _status(reports)


# ---- stats ------------------------------------------------------------------------

def _file_stats(args, path):
    rep = read_log(path, args.mode, args.codec, header_seqs=args.codec is None)
    scan = None
    if rep.error is None:
        try:
            scan = _scan.scan(path)
        except OSError as e:
            rep.error = _os_message(path, e)
    return rep, scan


def _stats_obj(rep: FileReport, scan) -> Dict[str, object]:
    return {
        "kind": "file", "file": rep.path, "file_size": rep.file_size,
        "header_size": rep.header_size or (scan.header_size if scan else 0),
        "records": rep.records, "payload_bytes": rep.payload_bytes,
        "first_sequence": rep.first_seq, "last_sequence": rep.last_seq,
        "fragments": dict(sorted(scan.fragments.items())) if scan else {},
        "padding": [{"offset": o, "length": n} for o, n in scan.padding] if scan else [],
        "padding_bytes": scan.padding_bytes if scan else 0,
        "zero_fill_bytes": scan.zero_fill_bytes if scan else 0,
        "end_offset": rep.end_offset, "damage": rep.damage_json(), "error": rep.error,
    }


_FRAG_ORDER = ["FULL", "FIRST", "MIDDLE", "LAST"]


def _frag_text(frags: Dict[str, int]) -> str:
    keys = sorted(frags, key=lambda k: (_FRAG_ORDER.index(k.replace("RECYCLABLE_", ""))
                                        if k.replace("RECYCLABLE_", "") in _FRAG_ORDER
                                        else 99, k))
    return ", ".join(f"{k} {frags[k]}" for k in keys) or "none"


def _print_stats(o: Dict[str, object], title: str) -> None:
    print(title)
    hs = o.get("header_size")
    kind = {7: "legacy 7-byte headers", 11: "recyclable 11-byte headers"}.get(hs, "no records")
    print(f"  size           {o['file_size']:,} bytes" + (f" ({kind})" if "header_size" in o else ""))
    print(f"  records        {o['records']:,} ({o['payload_bytes']:,} payload bytes)")
    if o["first_sequence"] is not None:
        print(f"  sequences      {o['first_sequence']}..{o['last_sequence']}")
    else:
        print("  sequences      -")
    print(f"  fragments      {_frag_text(o['fragments'])}")
    pad = o.get("padding")
    if pad is not None:
        where = ", ".join(f"{p['offset']}+{p['length']}" for p in pad[:8])
        where += ", ..." if len(pad) > 8 else ""
        print(f"  padding        {_n(len(pad), 'block trailer')}, "
              f"{o['padding_bytes']} bytes" + (f": {where}" if pad else ""))
    else:
        print(f"  padding        {o['padding_count']} block trailers, {o['padding_bytes']} bytes")
    print(f"  zero fill      {o['zero_fill_bytes']:,} bytes")
    dmg = o["damage"]
    if isinstance(dmg, list):
        print(f"  damaged        {len(dmg) or 'none'}")
        for d in dmg:
            print(f"    offset {d['offset']}, {d['size']} bytes: {d['reason']}")
    else:
        print(f"  damaged        {_n(dmg, 'range') if dmg else 'none'}")
    if o.get("error"):
        print(f"  ERROR          {o['error']}")


def cmd_stats(args) -> int:
    """Per file and in total: records, bytes, fragments, padding, sequences, damage."""
    files = expand_paths(args.paths)
    reports = []
    total: Dict[str, object] = {"kind": "total", "files": 0, "file_size": 0, "records": 0,
                                "payload_bytes": 0, "first_sequence": None,
                                "last_sequence": None, "fragments": {}, "padding_count": 0,
                                "padding_bytes": 0, "zero_fill_bytes": 0, "damage": 0}
    for path in files:
        rep, scan = _file_stats(args, path)
        reports.append(rep)
        o = _stats_obj(rep, scan)
        if args.json:
            _jline(o)
        else:
            _print_stats(o, path)
        total["files"] += 1
        for k in ("file_size", "records", "payload_bytes", "padding_bytes", "zero_fill_bytes"):
            total[k] += o[k]
        total["padding_count"] += len(o["padding"])
        total["damage"] += len(rep.damage)
        for k, n in o["fragments"].items():
            total["fragments"][k] = total["fragments"].get(k, 0) + n
        if rep.first_seq is not None:
            if total["first_sequence"] is None or rep.first_seq < total["first_sequence"]:
                total["first_sequence"] = rep.first_seq
            if total["last_sequence"] is None or rep.last_seq > total["last_sequence"]:
                total["last_sequence"] = rep.last_seq
    total["fragments"] = dict(sorted(total["fragments"].items()))
    if args.json:
        _jline({**{k: v for k, v in total.items() if k != "damage"},
                "damaged_ranges": total["damage"]})
    else:
        _print_stats(total, f"total ({_n(total['files'], 'file')})")
    for r in reports:
        if r.damage:
            d = r.damage[0]
            _err("stats", f"{r.path}: damage at offset {d['offset']}: {d['reason']}"
                          + (f" (+{len(r.damage) - 1} more)" if len(r.damage) > 1 else ""))
        if r.error:
            _err("stats", r.error)
    return _status(reports)


# ---- repair -----------------------------------------------------------------------

def cmd_repair(args) -> int:
    """walx.repair on each file: cut each damaged tail; --dry-run only reports."""
    files = expand_paths(args.paths)
    status = EXIT_OK
    verb = "would cut" if args.dry_run else "cut"
    for path in files:
        try:
            cut = walx.repair(path, dry_run=args.dry_run)
        except walx.CorruptionError as e:
            print(f"{path}: NOT REPAIRED: damage at offset {e.offset} ({e.reason}) is "
                  f"followed by valid records")
            _err("repair", f"{path}: cannot repair: damage at offset {e.offset} "
                           f"({e.reason}) is followed by valid records, and cutting "
                           f"there would drop them; inspect with 'walx verify --mode skip'")
            status = max(status, EXIT_DAMAGE)
            continue
        except OSError as e:
            _err("repair", _os_message(path, e))
            status = EXIT_ERROR
            continue
        except walx.WalError as e:
            _err("repair", f"{path}: {e}")
            status = EXIT_ERROR
            continue
        if not cut:
            print(f"{path}: clean")
            continue
        for c in cut:
            print(f"{path}: {verb} offset {c.offset}, {c.size} bytes: {c.reason}")
        if args.dry_run:
            _err("repair", f"{path}: damaged tail at offset {cut[0].offset} (dry run: "
                           f"nothing changed)")
            status = max(status, EXIT_DAMAGE)
        else:
            print(f"{path}: now {os.path.getsize(path)} bytes; original kept as "
                  f"{path}.broken")
    return status


# ---- bench ------------------------------------------------------------------------

def _percentile(sorted_ns: List[int], p: float) -> float:
    """Nearest-rank percentile of sorted samples, in microseconds."""
    k = max(0, min(len(sorted_ns) - 1, math.ceil(p / 100 * len(sorted_ns)) - 1))
    return sorted_ns[k] / 1000.0


def _fmt_us(us: float) -> str:
    if us >= 1000:
        return f"{us / 1000:.2f} ms"
    return f"{us:.1f} us"


_MIN_BATCH = 16   # header 12 + op 1 + key length 1 + key "b" + value length 1


def _bench_batch_value(size: int) -> bytes:
    """A value that makes WriteBatch(put(b"b", value)) encode to exactly `size` bytes."""
    v = size - _MIN_BATCH
    while v > 0:
        b = walx.WriteBatch(0)
        b.put(b"b", bytes(v))
        over = len(b.encode()) - size
        if over <= 0:
            break
        v -= over
    return bytes(max(v, 0))


def cmd_bench(args) -> int:
    """Append (and sync) --count records from --threads threads; print the rates."""
    if args.recycle:
        _err("bench", "--recycle: log recycling is not supported yet by WalManager "
                      "(recycle_log_files must be 0)")
        return EXIT_ERROR
    if args.api == "manager" and args.sync == "full":
        _err("bench", "--sync full needs --api writer (WalManager syncs with fdatasync)")
        return EXIT_ERROR
    if args.api == "manager" and args.size < _MIN_BATCH:
        _err("bench", f"--size must be at least {_MIN_BATCH} with --api manager "
                      "(the smallest one-put WriteBatch)")
        return EXIT_ERROR
    if args.threads > args.count:
        _err("bench", f"--threads ({args.threads}) must not exceed --count ({args.count})")
        return EXIT_ERROR
    if args.dir is not None and not os.path.isdir(args.dir):
        _err("bench", f"{args.dir}: not a directory")
        return EXIT_ERROR
    d = tempfile.mkdtemp(prefix="walx-bench-", dir=args.dir)
    try:
        return _run_bench(args, d)
    finally:
        if not args.keep:
            shutil.rmtree(d, ignore_errors=True)


def _run_bench(args, d: str) -> int:
    per = [args.count // args.threads + (i < args.count % args.threads)
           for i in range(args.threads)]
    samples: List[List[int]] = [[] for _ in per]
    errors: List[BaseException] = []
    start = threading.Barrier(args.threads + 1)
    clock = time.perf_counter_ns

    if args.api == "manager":
        target = walx.WalManager(d, sync=args.sync == "data", buffer_size=args.buffer)
        value = _bench_batch_value(args.size)

        def work(i):
            seq = sum(per[:i]) + 1
            out = samples[i]
            start.wait()
            for s in range(seq, seq + per[i]):
                b = walx.WriteBatch(s)
                b.put(b"b", value)
                t0 = clock()
                target.append(b)
                out.append(clock() - t0)
    else:
        target = walx.LogWriter(os.path.join(d, "000001.wal"), buffer_size=args.buffer)
        payload = bytes(args.size)
        sync = {"none": None, "data": target.sync, "full": target.sync_all}[args.sync]

        def work(i):
            out = samples[i]
            add = target.add_record
            start.wait()
            for _ in range(per[i]):
                t0 = clock()
                add(payload)
                if sync is not None:
                    sync()
                out.append(clock() - t0)

    def guarded(i):
        try:
            work(i)
        except BaseException as e:  # reported after the join
            errors.append(e)
            start.abort()

    with target:
        threads = [threading.Thread(target=guarded, args=(i,)) for i in range(args.threads)]
        for t in threads:
            t.start()
        try:
            start.wait()
        except threading.BrokenBarrierError:
            pass
        t0 = clock()
        for t in threads:
            t.join()
        wall_ns = max(clock() - t0, 1)
        syncs = (target.metrics["syncs_total"] if args.api == "manager"
                 else target.syncs_total)
    if errors:
        raise errors[0]
    lat = sorted(x for s in samples for x in s)
    secs = wall_ns / 1e9
    res = {
        "api": args.api, "records": args.count, "record_size": args.size,
        "threads": args.threads, "sync": args.sync, "buffer": args.buffer,
        "seconds": round(secs, 6), "records_per_s": round(args.count / secs, 1),
        "mb_per_s": round(args.count * args.size / secs / 1e6, 3),
        "latency_us": {"p50": _percentile(lat, 50), "p99": _percentile(lat, 99),
                       "p99.9": _percentile(lat, 99.9)},
        "syncs": syncs, "dir": d,
    }
    if args.json:
        _jline(res)
        return EXIT_OK
    lu = res["latency_us"]
    print(f"walx bench: {args.count:,} appends of {args.size} B, "
          f"{_n(args.threads, 'thread')}, api={args.api}, sync={args.sync}, "
          f"buffer={args.buffer}")
    print(f"  directory    {d}{'' if args.keep else ' (removed)'}")
    print(f"  wall time    {secs:.3f} s")
    print(f"  records/s    {res['records_per_s']:,.0f}")
    print(f"  MB/s         {res['mb_per_s']:.2f}")
    print(f"  latency      p50 {_fmt_us(lu['p50'])}   p99 {_fmt_us(lu['p99'])}   "
          f"p99.9 {_fmt_us(lu['p99.9'])}")
    print(f"  syncs        {syncs:,} (fdatasync/fsync calls made)")
    return EXIT_OK
