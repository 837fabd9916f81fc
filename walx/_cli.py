"""walx command line: ``python -m walx`` / ``walx``.

This module holds the parser, ``main`` and the ``demo``; dump, verify and
repair are in ``_cli_cmds``, stats in ``_cli_stats``, bench in ``_cli_bench``.
Exit status: 0 success, 1 damage found, 2 usage or I/O error.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from typing import Callable, List, Optional, Sequence

import walx
from walx import _codecs
from walx._cli_bench import cmd_bench
from walx._cli_cmds import (
    EXIT_DAMAGE,
    EXIT_ERROR,
    EXIT_OK,
    MODES,
    UsageError,
    cmd_dump,
    cmd_repair,
    cmd_verify,
    parse_mode,
)
from walx._cli_stats import cmd_stats

__all__ = ["EXIT_DAMAGE", "EXIT_ERROR", "EXIT_OK", "build_parser", "main"]

# The child of the demo: appends durable batches and reports each one that
# was acknowledged, until it is killed.
_CRASH_CHILD = textwrap.dedent("""
    import sys, walx
    m, rec = walx.WalManager.recover_and_open(sys.argv[1])
    seq = rec.max_seq + 1
    while True:
        b = walx.WriteBatch(seq)
        b.put(b"order:%06d" % seq, b"x" * (seq % 700))
        m.append(b)                      # durable when it returns
        print(seq, flush=True)           # acknowledged
        seq += 1
""")


def _say(msg: str = "") -> None:
    print(msg, flush=True)


def _demo_write(d: str) -> None:
    """Steps 1 and 2: append, rotate, mark flushed (GC)."""
    _say("1. Append 5 durable batches to log 1, rotate, append 5 more to log 2")
    with walx.WalManager(d) as m:
        for i in range(1, 11):
            b = walx.WriteBatch()           # the manager assigns the sequence
            b.put(b"user:%d" % i, b"v%d" % i)
            if i % 3 == 0:
                b.delete(b"user:%d" % (i - 1))
            m.append(b)
            if i == 5:
                flushed = m.last_seq
                old = m.rotate()
                _say(f"   rotated: log {old} closed -> closed_logs {m.closed_logs}")
        _say(f"2. The engine flushed everything up to seq {flushed}: "
             f"mark_flushed_seq({flushed})")
        m.mark_flushed_seq(flushed)
        _say(f"   log files now: {[p.name for _, p in walx.WalManager.list_wal_files(d)]}")
        _say(f"   metrics: {m.metrics}")


def _demo_crash(d: str, n_ack: int) -> Optional[List[int]]:
    """Step 3: a child appends until it is killed; the sequences it
    acknowledged, or None when it exited early."""
    _say(f"3. A child process appends durable batches; kill -9 it after {n_ack} acks")
    # cwd=d: the caller's directory may hold a walx source tree, which
    # `python -c` would import instead of the installed package.
    child = subprocess.Popen([sys.executable, "-c", _CRASH_CHILD, d],
                             stdout=subprocess.PIPE, text=True, cwd=d)
    acked: List[int] = []
    assert child.stdout is not None
    for line in child.stdout:
        acked.append(int(line))
        if len(acked) >= n_ack:
            child.send_signal(signal.SIGKILL)
            break
    rc = child.wait()
    # Acknowledgements printed before the kill may still sit in the pipe.
    acked.extend(int(line) for line in child.stdout.read().split())
    child.stdout.close()
    if len(acked) < n_ack:
        print(f"walx demo: the writer process exited early (status {rc})", file=sys.stderr)
        return None
    _say(f"   child killed; acknowledged seqs {acked[0]}..{acked[-1]}")
    return acked


def _demo_tear(d: str, last_acked: int) -> None:
    """Step 4: half a record at the end of the newest log, as a power cut leaves."""
    newest = walx.WalManager.list_wal_files(d)[-1][1]
    _say("4. Simulate the torn last write a power cut leaves: half a record "
         f"appended to {newest.name}")
    b = walx.WriteBatch(last_acked + 1000)
    b.put(b"never-acknowledged", b"y" * 3000)
    tmp = os.path.join(d, "torn.tmp")
    with walx.LogWriter(tmp) as w:
        w.add_record(b.encode())
    with open(tmp, "rb") as f:
        torn = f.read()
    os.unlink(tmp)
    with open(newest, "ab") as f:
        f.write(torn[: len(torn) // 2])


def _demo_recover(d: str, acked: List[int]) -> int:
    """Steps 5 and 6: recover, check every acknowledged batch, append again."""
    _say("5. recover_and_open: replay everything acknowledged, open a new log")
    m, rec = walx.WalManager.recover_and_open(d)
    with m:
        seqs = [int(b.sequence or 0) for b in rec.batches]   # recovered: never None
        _say(f"   replayed {len(rec.batches)} batches, seqs {seqs[0]}..{seqs[-1]}, "
             f"max_seq {rec.max_seq}, now writing log {m.log_number}")
        missing = sorted(set(acked) - set(seqs))
        extra = [s for s in seqs if s > acked[-1] + 1]
        _say(f"   every acknowledged batch present: {not missing}"
             + (f" (missing {missing})" if missing else ""))
        if len(set(seqs)) != len(seqs) or extra:
            _say(f"   UNEXPECTED: duplicates or never-appended batches {extra}")
            return EXIT_ERROR
        _say(f"   dropped ranges ({len(rec.corruptions)}):")
        for c in rec.corruptions:
            name = os.path.basename(c.path) if c.path is not None else "<bytes>"
            _say(f"     {name} offset {c.offset} size {c.size}: {c.reason}")
        first = rec.batches[0]
        _say(f"   first replayed batch: seq {first.sequence}: "
             f"{[(r.op.name, r.key, r.value) for r in first]}")
        b = walx.WriteBatch()
        b.put(b"after-recovery", b"ok")
        seq = m.append(b)                   # rec.max_seq + 1
        _say(f"6. Appended seq {seq} after recovery; "
             f"closed logs awaiting GC: {m.closed_logs}")
    return EXIT_ERROR if missing else EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """Append, rotate, GC, crash mid-write, recover, and show the result."""
    own = args.dir is None
    d = tempfile.mkdtemp(prefix="walx-demo-") if own else args.dir
    if not own and os.path.exists(d) and os.listdir(d):
        print(f"walx demo: {d} is not empty; give an empty or new directory",
              file=sys.stderr)
        return EXIT_ERROR
    try:
        _say(f"walx {walx.__version__} demo in {d} (CRC32C: {walx.CRC32C_IMPL})")
        _say()
        _demo_write(d)
        _say()
        acked = _demo_crash(d, args.acks)
        if acked is None:
            return EXIT_ERROR
        _demo_tear(d, acked[-1])
        _say()
        rc = _demo_recover(d, acked)
        if rc == EXIT_OK:
            _say()
            _say("demo ok")
        return rc
    finally:
        if own and not args.keep:
            shutil.rmtree(d, ignore_errors=True)


# A subcommand: takes the parsed arguments, returns the exit status.
Command = Callable[[argparse.Namespace], int]

_EPILOG = """\
exit status: 0 success, 1 damage found, 2 usage or I/O error.
A directory argument means its regular <digits>.wal and <digits>.log files in
log-number order. See docs/cli.md for examples."""

_EXIT_EPILOG = "exit status: 0 success, 1 damage found, 2 usage or I/O error."
_PATHS_HELP = "log files, or directories of <digits>.wal/<digits>.log files"
_MODE_HELP = ("recovery mode: " + ", ".join(MODES) + " (default: %(default)s, which "
              "reads past damage and so reports every damaged range)")


def _mode_arg(p: argparse.ArgumentParser, default: str = "skip") -> None:
    p.add_argument("--mode", type=parse_mode, default=MODES[default],
                   metavar="MODE", help=_MODE_HELP.replace("%(default)s", default))


def _int_at_least(low: int) -> Callable[[str], int]:
    """argparse type: an integer >= `low`."""
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if n < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {n}")
        return n
    return parse


_positive = _int_at_least(1)
_non_negative = _int_at_least(0)

# add(name, func, help, description, epilog=None) -> the subcommand's parser.
AddCommand = Callable[..., argparse.ArgumentParser]


def _reader_args(p: argparse.ArgumentParser, default_codec: Optional[str], codec_help: str,
                 json_help: str) -> None:
    """The arguments of the commands that read logs: paths, --codec, --json, --mode."""
    p.add_argument("paths", nargs="+", metavar="PATH", help=_PATHS_HELP)
    p.add_argument("--codec", choices=_codecs.CODECS, default=default_codec, help=codec_help)
    p.add_argument("--json", action="store_true", help=json_help)
    _mode_arg(p)


def _add_readers(add: AddCommand) -> None:
    codecs = ", ".join(_codecs.CODECS)
    dump = add("dump", cmd_dump, "print every record (and its decoded batch)",
               "Print every logical record with its file, offset and payload size.\n"
               "With --codec, also the decoded WriteBatch: sequence, count and each op\n"
               "(keys in hex; values in hex with --values). Damaged ranges are printed\n"
               "in place and on stderr.",
               "examples:\n"
               "  walx dump --codec rocksdb --values 000004.log\n"
               "  walx dump --codec walx --json wal-dir/ | jq .\n\n"
               "--json prints one object per line: {\"kind\": \"record\", \"file\", \"offset\",\n"
               "\"size\", \"sequence\", \"count\", \"ops\": [{\"op\", \"tag\", \"cf\", \"key_hex\",\n"
               "\"value_hex\", ...}]} (with --codec raw: \"payload_hex\"), and\n"
               "{\"kind\": \"damage\", \"file\", \"offset\", \"size\", \"reason\"}. JSON always\n"
               "carries values.\n\n" + _EPILOG)
    _reader_args(dump, "raw", f"how to decode payloads: {codecs} (default: raw, no decoding)",
                 "one JSON object per line")
    dump.add_argument("--values", action="store_true",
                      help="print values (and raw payloads) in hex, not just their sizes")

    verify = add("verify", cmd_verify, "check every file; exit 1 if anything is damaged",
                 "Read every record in the chosen recovery mode and report each damaged\n"
                 "range (file, offset, size, reason). By default only the framing is\n"
                 "checked, so RocksDB and LevelDB logs verify cleanly; --codec also\n"
                 "decodes every batch. Exits 1 when anything is damaged, 0 otherwise.\n"
                 "A progress bar appears on stderr for large jobs on a terminal.")
    _reader_args(verify, "raw", f"also decode each batch: {codecs} (default: raw, framing only)",
                 "one JSON object per file, then a total")
    verify.add_argument("--no-progress", action="store_true", help="never show a progress bar")

    stats = add("stats", cmd_stats, "records, bytes, fragments, padding, sequences, damage",
                "Per file and in total: records and payload bytes, physical fragments by\n"
                "type, block-trailer padding, zero fill, the sequence range and the\n"
                "damaged ranges. Sequences come from each batch's 12-byte header unless\n"
                "--codec decodes the batches (raw: no sequences). Each file is read once.")
    _reader_args(stats, None, f"decode each batch: {codecs} (default: read the batch header only)",
                 "one JSON object per file, then a total")

    repair = add("repair", cmd_repair, "cut damaged tails (walx.repair)",
                 "Truncate each damaged tail to the end of the last valid record, keeping\n"
                 "the original as NAME.broken. Damage followed by valid records is not\n"
                 "cut (exit 1); a directory is repaired as a whole, or not at all, and so\n"
                 "are several paths. With --dry-run nothing changes, and the exit status\n"
                 "is 1 when something would be cut or refused.")
    repair.add_argument("paths", nargs="+", metavar="PATH", help=_PATHS_HELP)
    repair.add_argument("--dry-run", action="store_true",
                        help="report what would be cut; change nothing")


def _add_bench(add: AddCommand) -> None:
    bench = add("bench", cmd_bench, "append+sync microbenchmark",
                "Append --count records of --size bytes from --threads threads, syncing\n"
                "as --sync says, in a fresh temporary directory (under --dir if given).\n"
                "Prints records/s, MB/s and the per-append latency p50/p99/p99.9\n"
                "(one time.perf_counter_ns sample per append, sync included).\n"
                "--api manager appends WriteBatches through WalManager (group commit);\n"
                "--api writer appends raw records through LogWriter.\n"
                "Rotations (--rotate-every, --recycle) count in the wall time, not in\n"
                "the latency samples.", _EXIT_EPILOG)
    opt = bench.add_argument
    opt("--size", type=_non_negative, default=100,
        help="record (encoded batch) size in bytes (default 100)")
    opt("--count", type=_positive, default=10000, help="records in total (default 10000)")
    opt("--threads", type=_positive, default=1, help="appending threads (default 1)")
    opt("--sync", choices=("none", "data", "full"), default="data",
        help="after each append: nothing, fdatasync (data) or fsync "
             "(full, --api writer only); default data")
    opt("--buffer", type=_non_negative, default=0,
        help="user-space buffer in bytes (default 0: write-through)")
    opt("--recycle", type=_non_negative, default=0, metavar="N",
        help="keep up to N retired logs for reuse (WalManager recycle_log_files; forces "
             "recyclable headers); rotates every count/8 appends unless --rotate-every "
             "is given")
    opt("--rotate-every", type=_non_negative, default=0, metavar="K",
        help="rotate the log every K appends and mark everything flushed, so the old "
             "log is retired (default 0: never)")
    opt("--preallocate", type=_non_negative, default=0, metavar="BYTES",
        help="reserve BYTES for each new log (WalManager preallocate)")
    opt("--api", choices=("manager", "writer"), default="manager",
        help="WalManager or LogWriter (default manager)")
    opt("--dir", help="where to create the temporary directory (choose the filesystem "
                      "to measure)")
    opt("--keep", action="store_true", help="keep the log directory")
    opt("--json", action="store_true", help="print the result as JSON")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        prog="walx", formatter_class=fmt, epilog=_EPILOG,
        description="walx: write-ahead logs byte-compatible with RocksDB/LevelDB.")
    p.add_argument("--version", action="version", version=f"walx {walx.__version__}")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also show the library's log messages (walx logger)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(name: str, func: Command, help_: str, description: Optional[str],
            epilog: Optional[str] = None) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=description,
                            formatter_class=fmt, epilog=epilog or _EPILOG)
        sp.set_defaults(func=func)
        return sp

    _add_readers(add)
    _add_bench(add)
    demo = add("demo", cmd_demo, "run the end-to-end demo", cmd_demo.__doc__, _EXIT_EPILOG)
    demo.add_argument("--dir", help="directory to use (default: a temporary one)")
    demo.add_argument("--acks", type=_positive, default=200,
                      help="acknowledged appends before the crash (default 200)")
    demo.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="walx: %(levelname)s: %(message)s")
    # File names need not be valid in the output's encoding (a non-UTF-8
    # name under a UTF-8 locale): escape them rather than fail mid-output
    # with a traceback and exit status 1, which means "damage found".
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):
                pass
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        # argparse exits 0 for --help/--version and 2 for usage errors.
        return int(e.code or 0) if e.code in (0, None) else EXIT_ERROR
    # The commands report damage themselves; the library's per-damage
    # warnings would repeat it, so they show only with --verbose.
    lib_log = logging.getLogger("walx")
    saved = lib_log.level
    if not args.verbose:
        lib_log.setLevel(logging.ERROR)
    try:
        func: Command = args.func
        return func(args)
    except UsageError as e:
        print(f"walx {args.command}: {e}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader of our output went away (walx dump ... | head).
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return EXIT_ERROR
    except (OSError, walx.WalError) as e:
        print(f"walx {args.command}: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    finally:
        lib_log.setLevel(saved)
