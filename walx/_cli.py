"""walx command line: ``python -m walx`` / ``walx``.

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

import walx

EXIT_OK, EXIT_DAMAGE, EXIT_ERROR = 0, 1, 2

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


def _say(msg=""):
    print(msg, flush=True)


def cmd_demo(args) -> int:
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
        _say("1. Append 5 durable batches to log 1, rotate, append 5 more to log 2")
        with walx.WalManager(d) as m:
            for seq in range(1, 11):
                b = walx.WriteBatch(seq)
                b.put(b"user:%d" % seq, b"v%d" % seq)
                if seq % 3 == 0:
                    b.delete(b"user:%d" % (seq - 1))
                m.append(b)
                if seq == 5:
                    old = m.rotate()
                    _say(f"   rotated: log {old} closed -> closed_logs {m.closed_logs}")
            _say("2. The engine flushed everything up to seq 5: mark_flushed_seq(5)")
            m.mark_flushed_seq(5)
            _say(f"   log files now: {[p.name for _, p in walx.WalManager.list_wal_files(d)]}")
            _say(f"   metrics: {m.metrics}")
        _say()
        n_ack = args.acks
        _say(f"3. A child process appends durable batches; kill -9 it after {n_ack} acks")
        child = subprocess.Popen([sys.executable, "-c", _CRASH_CHILD, d],
                                 stdout=subprocess.PIPE, text=True)
        acked = []
        assert child.stdout is not None
        for line in child.stdout:
            acked.append(int(line))
            if len(acked) >= n_ack:
                child.send_signal(signal.SIGKILL)
                break
        rc = child.wait()
        child.stdout.close()
        if len(acked) < n_ack:
            print(f"walx demo: the writer process exited early (status {rc})",
                  file=sys.stderr)
            return EXIT_ERROR
        _say(f"   child killed; acknowledged seqs {acked[0]}..{acked[-1]}")
        newest = walx.WalManager.list_wal_files(d)[-1][1]
        _say("4. Simulate the torn last write a power cut leaves: half a record "
             f"appended to {newest.name}")
        b = walx.WriteBatch(acked[-1] + 1000)
        b.put(b"never-acknowledged", b"y" * 3000)
        tmp = os.path.join(d, "torn.tmp")
        with walx.LogWriter(tmp) as w:
            w.add_record(b.encode())
        torn = open(tmp, "rb").read()
        os.unlink(tmp)
        with open(newest, "ab") as f:
            f.write(torn[: len(torn) // 2])
        _say()
        _say("5. recover_and_open: replay everything acknowledged, open a new log")
        m, rec = walx.WalManager.recover_and_open(d)
        with m:
            seqs = [b.sequence for b in rec.batches]
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
                _say(f"     {os.path.basename(c.path)} offset {c.offset} size {c.size}: "
                     f"{c.reason}")
            first = rec.batches[0]
            _say(f"   first replayed batch: seq {first.sequence}: "
                 f"{[(r.op.name, r.key, r.value) for r in first]}")
            b = walx.WriteBatch(rec.max_seq + 1)
            b.put(b"after-recovery", b"ok")
            m.append(b)
            _say(f"6. Appended seq {rec.max_seq + 1} after recovery; "
                 f"closed logs awaiting GC: {m.closed_logs}")
        if missing:
            return EXIT_ERROR
        _say()
        _say("demo ok")
        return EXIT_OK
    finally:
        if own and not args.keep:
            shutil.rmtree(d, ignore_errors=True)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="walx",
        description="walx: write-ahead logs byte-compatible with RocksDB/LevelDB.")
    p.add_argument("--version", action="version", version=f"walx {walx.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    demo = sub.add_parser("demo", help="run the end-to-end demo",
                          description=cmd_demo.__doc__)
    demo.add_argument("--dir", help="directory to use (default: a temporary one)")
    demo.add_argument("--acks", type=int, default=200,
                      help="acknowledged appends before the crash (default 200)")
    demo.add_argument("--keep", action="store_true", help="keep the temporary directory")
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv=None) -> int:
    logging.basicConfig(level=logging.WARNING, format="walx: %(levelname)s: %(message)s")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0) if e.code in (0, None) else EXIT_ERROR
    try:
        return args.func(args)
    except (OSError, walx.WalError) as e:
        print(f"walx {args.command}: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
