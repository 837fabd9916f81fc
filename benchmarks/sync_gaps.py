"""Where the durable-append time goes (S3/S4): how long each fdatasync(2)
takes and how long the log sits with no fdatasync in flight between two.

    python benchmarks/sync_gaps.py --threads 8 [--preallocate 67108864 | --recycled]
    python benchmarks/sync_gaps.py --threads 1

runs WalManager.append(sync=True) from --threads threads under
`perf trace -e fdatasync` (perf must be installed and allowed to trace:
root, or kernel.perf_event_paranoid <= -1) and prints the fdatasync
durations, the gaps between one fdatasync's return and the next one's
start, and appends per fdatasync. With one thread the gap is the Python
and write(2) work of one append; with group commit it is also the time the
next leader takes to wake up. Without perf it prints the rate only.
`--peer plyvel` traces LevelDB's put(sync=True) instead (its WAL's
fdatasyncs). perf's tracing slows every syscall down: compare runs of this
script with each other, not with the suite's figures. Not a benchmark of
record: the suite (run.py) is.
"""

import argparse
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

_LINE = re.compile(r"^\s*(\d+\.\d+) \(\s*(\d+\.\d+) ms\): \S+ fdatasync\(.*\)\s*=\s*(-?\d+)")
# work() calls getppid(2) once the log is set up: fdatasyncs before it
# (filling a log to recycle) are not the appends'.
_MARK = re.compile(r"^\s*\d+\.\d+ \(\s*\d+\.\d+ ms\): \S+ getppid\(")


def analyze(trace_text):
    """Parses `perf trace` output: {"syncs", "sync_us_p50", "sync_us_mean",
    "gap_us_p50", "gap_us_mean", "cycle_us_mean"}, or None with fewer
    than two fdatasync calls. Times in the trace are ms. When the trace
    holds a getppid call (work()'s mark), only the fdatasyncs after it
    count."""
    lines = trace_text.splitlines()
    marks = [i for i, line in enumerate(lines) if _MARK.match(line)]
    if marks:
        lines = lines[marks[0] + 1:]
    calls = []
    for line in lines:
        m = _LINE.match(line)
        if m:
            calls.append((float(m.group(1)), float(m.group(2))))
    if len(calls) < 2:
        return None
    calls.sort()
    dur = [d * 1000 for _, d in calls]
    gaps = [(calls[i + 1][0] - (calls[i][0] + calls[i][1])) * 1000
            for i in range(len(calls) - 1)]
    return dict(syncs=len(calls),
                sync_us_p50=statistics.median(dur), sync_us_mean=statistics.mean(dur),
                gap_us_p50=statistics.median(gaps), gap_us_mean=statistics.mean(gaps),
                cycle_us_mean=(calls[-1][0] - calls[0][0]) * 1000 / (len(calls) - 1))


def work(directory, threads, appends, preallocate=0, peer=None, recycled=False):
    """`appends` durable appends from `threads` threads (the rounds of
    interleaved.py); returns (appends done, seconds)."""
    import walx
    import interleaved
    if peer:
        import peers
        db = peers.open_peer(peer, os.path.join(directory, "db"), durable=True)
        run = interleaved._PeerThreadsRound(db, appends, threads)
        close = db.close
    else:
        d = os.path.join(directory, "wal")
        if recycled:
            # A log the appends overwrite instead of growing (as in the suite).
            import bench_manager as bm
            need = 2 * appends * (walx.RECYCLABLE_HEADER_SIZE + bm.SIZE)
            m = bm._fill_and_recycle(pathlib.Path(d), max(4 << 20, need))
        else:
            m = walx.WalManager(d, preallocate=preallocate)
        run = interleaved._manager_threads_round(m, appends, threads)
        close = m.close
    try:
        os.getppid()        # the mark: the appends start here (see analyze)
        return run()
    finally:
        close()


def _args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--appends", type=int, default=8000, help="in all threads together")
    p.add_argument("--preallocate", type=int, default=0, help="WalManager(preallocate=)")
    p.add_argument("--recycled", action="store_true",
                   help="append into a recycled log (WalManager(recycle_log_files=1))")
    p.add_argument("--peer", choices=["plyvel", "rocksdict"], help="trace a peer instead")
    p.add_argument("--work", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--dir", default=None, help="where the log goes (default: a new "
                   "directory under $WALX_BENCH_DIR or the system's temporary directory)")
    a = p.parse_args(argv)
    if a.threads < 1 or a.appends < a.threads or a.preallocate < 0:
        p.error("--threads >= 1, --appends >= --threads, --preallocate >= 0")
    if a.recycled and (a.preallocate or a.peer):
        p.error("--recycled goes with neither --preallocate nor --peer")
    return a


def main(argv=None):
    a = _args(argv)
    if a.work:
        n, s = work(a.dir, a.threads, a.appends, a.preallocate, a.peer, a.recycled)
        print(f"{n / s:.0f} appends/s", flush=True)
        return 0
    d = tempfile.mkdtemp(prefix="walx-syncgaps-",
                         dir=a.dir or os.environ.get("WALX_BENCH_DIR") or None)
    try:
        child = [sys.executable, os.path.abspath(__file__), "--work", "--dir", d,
                 "--threads", str(a.threads), "--appends", str(a.appends),
                 "--preallocate", str(a.preallocate)] + (["--peer", a.peer] if a.peer else []) \
            + (["--recycled"] if a.recycled else [])
        perf = shutil.which("perf")
        trace = os.path.join(d, "trace.txt")
        if perf:
            proc = subprocess.run([perf, "trace", "-e", "fdatasync,getppid", "--duration", "0",
                                   "-o", trace, "--"] + child,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  universal_newlines=True)
            if proc.returncode == 0 and os.path.exists(trace):
                with open(trace) as f:
                    r = analyze(f.read())
                what = a.peer or ("walx WalManager" + (
                    f", preallocate={a.preallocate}" if a.preallocate else "") + (
                    ", recycled log" if a.recycled else ""))
                plural = "s" if a.threads > 1 else ""
                print(f"{what}, {a.threads} thread{plural}, under perf trace: "
                      f"{proc.stdout.strip()}")
                if r is None:
                    print("fewer than two fdatasync calls traced")
                    return 1
                done = a.appends // a.threads * a.threads
                print(f"  fdatasync calls {r['syncs']}, {done / r['syncs']:.2f} appends "
                      f"each; duration p50 {r['sync_us_p50']:.0f} us, mean "
                      f"{r['sync_us_mean']:.0f} us")
                print(f"  gap from one fdatasync's return to the next one's start: p50 "
                      f"{r['gap_us_p50']:.0f} us, mean {r['gap_us_mean']:.0f} us (cycle "
                      f"{r['cycle_us_mean']:.0f} us)")
                return 0
            print(f"perf trace failed ({proc.stderr.strip().splitlines()[-1:]}); "
                  f"running without it", file=sys.stderr)
        else:
            print("perf is not installed: rate only", file=sys.stderr)
        proc = subprocess.run(child, stdout=subprocess.PIPE, universal_newlines=True,
                              check=True)
        print(proc.stdout.strip())
        return 0
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
