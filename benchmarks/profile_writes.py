"""Where the write-through time goes (S1/S2): walx against the C write(2)
loop and an os.write loop, for profiling with perf.

    python benchmarks/profile_writes.py compare --size 4096
        rounds of the three loops, alternating, each into a new file:
        median ns per record and the ratios (the S1/S2 targets' view);
    perf record -e cpu-clock -F 20000 -o walx.perf -- \\
        python benchmarks/profile_writes.py walx --size 4096
    perf report -i walx.perf --no-children --sort dso,sym
        one loop on its own, rounds after rounds, for a profile; `c` and
        `os` give the baselines' profiles to set beside it.

All three write the same byte stream: the C loop and os.write loop write
one pre-framed record (header + payload) per call, walx frames and
checksums it and writes it (LogWriter, buffer_size=0). Not a benchmark of
record: the suite (run.py) is.
"""

import argparse
import os
import pathlib
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import interleaved  # noqa: E402
from conftest import _build_c_write_loop  # noqa: E402


def loops(directory, size, n):
    """{name: round()}: interleaved.py's write-through rounds (each writes
    n records of `size` bytes into a new file and returns (n, seconds))."""
    c_loop = _build_c_write_loop(pathlib.Path(directory))
    if not hasattr(c_loop, "latencies"):
        print(f"C loop: {c_loop.reason}", file=sys.stderr)
    return interleaved._write_rounds(pathlib.Path(directory), c_loop, size, n)


def compare(size, n, rounds, out=print):
    """Alternating rounds of each loop; returns {name: median ns per record}."""
    with tempfile.TemporaryDirectory(prefix="walx-profile-") as d:
        fns = loops(d, size, n)
        names = list(fns)
        times = {k: [] for k in names}
        for r in range(rounds):
            for k in (names if r % 2 == 0 else names[::-1]):
                times[k].append(fns[k]()[1])
    ns = {k: statistics.median(v) / n * 1e9 for k, v in times.items()}
    for k in names:
        out(f"{k:>5}: {ns[k]:8.0f} ns per {size} B record")
    if "c" in ns:
        out(f"C loop / walx: {ns['c'] / ns['walx']:.3f}x   "
            f"C loop / os.write: {ns['c'] / ns['os']:.3f}x")
    return ns


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["compare", "walx", "c", "os"])
    p.add_argument("--size", type=int, default=4096, help="payload bytes (default 4096)")
    p.add_argument("--records", type=int, default=20000, help="records per round")
    p.add_argument("--rounds", type=int, default=15)
    a = p.parse_args(argv)
    if a.size < 0 or a.records < 1 or a.rounds < 1:
        p.error("--size must be >= 0, --records and --rounds >= 1")
    if a.mode == "compare":
        compare(a.size, a.records, a.rounds)
        return 0
    with tempfile.TemporaryDirectory(prefix="walx-profile-") as d:
        fns = loops(d, a.size, a.records)
        if a.mode not in fns:
            print("the C loop is unavailable here", file=sys.stderr)
            return 1
        total = sum(fns[a.mode]()[1] for _ in range(a.rounds))
    print(f"{a.mode}: {total / (a.rounds * a.records) * 1e9:.0f} ns per record")
    return 0


if __name__ == "__main__":
    sys.exit(main())
