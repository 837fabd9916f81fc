#!/usr/bin/env python3
"""Run the walx benchmarks and print a flat table of rates and baseline ratios.

(``benchmarks/run.py`` is the comparison report: per-scenario tables with
the ratio to the best peer, the targets, JSON, the chart and
docs/benchmarks.md. This script stays as the quick flat view.)

    python benchmarks/report.py [--quick] [--best] [--json FILE] [PYTEST ARGS ...]

Runs ``pytest benchmarks --benchmark-only --benchmark-json=<tmp>`` with the
current interpreter, from a temporary directory (so the installed walx is
measured, not the checkout), then prints one row per benchmark:

    scenario, implementation, records/s, MB/s, ns/record,
    and the ratios to the C write(2) loop, the pure-Python baseline and the
    os.write loop of the same scenario.

A ratio is this row's records/s divided by the baseline's: above 1 is
faster than the baseline, below 1 slower ("-" when the scenario has no such
baseline). Rates come from the median round (``--best``: the fastest
round, which filters out a noisy disk's stalls). MB/s counts payload bytes,
10**6 per MB. ``--quick`` sets WALX_BENCH_QUICK=1 (tiny counts: checks that
the report works, the numbers mean little). ``--json FILE`` keeps the raw
pytest-benchmark JSON. Other arguments go to pytest (for example ``-k read``).

Benchmarks that do not use the ``bench_case`` fixture are shown with their
test name as the implementation and their module as the scenario; their
per-round count is read from extra_info when present.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BASELINES = [("c_loop", "vs C loop"), ("pure_python", "vs pure Py"), ("os_write", "vs os.write")]


def run_benchmarks(quick, json_path, pytest_args):
    env = dict(os.environ)
    if quick:
        env["WALX_BENCH_QUICK"] = "1"
    else:
        env.pop("WALX_BENCH_QUICK", None)
    workdir = tempfile.mkdtemp(prefix="walx-bench-report-")
    cmd = [sys.executable, "-m", "pytest", HERE, "--benchmark-only", "--benchmark-quiet",
           "--benchmark-json", json_path, "-q", "-p", "no:cacheprovider", *pytest_args]
    print("$ " + ("WALX_BENCH_QUICK=1 " if quick else "") + " ".join(cmd), flush=True)
    try:
        return subprocess.call(cmd, env=env, cwd=workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def rows_from(data, best):
    rows = []
    for b in data["benchmarks"]:
        info = b.get("extra_info", {})
        stats = b["stats"]
        round_time = stats["min"] if best else stats["median"]
        n = info.get("records_per_round") or info.get("appends_per_round")
        module = b["fullname"].split("::")[0].rsplit("/", 1)[-1].replace(".py", "")
        size = info.get("record_size")
        baseline = info.get("baseline")
        if baseline is None and "c_write" in b["name"]:
            baseline = "c_loop"  # bench_manager.py's C write+fdatasync loop
        rows.append({
            "scenario": info.get("scenario") or b.get("group") or module,
            "impl": info.get("impl") or b["name"],
            "rate": n / round_time if n else None,
            "mbps": n * size / round_time / 1e6 if n and size else None,
            "ns": round_time / n * 1e9 if n else None,
            "baseline": baseline,
            "fs": info.get("fs_type"),
            "device": info.get("block_device") or info.get("fs_source"),
        })
    return rows


def fmt_rate(x):
    if x is None:
        return "-"
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def print_table(rows):
    scenarios = []
    for r in rows:
        if r["scenario"] not in scenarios:
            scenarios.append(r["scenario"])
    headers = ["scenario", "implementation", "records/s", "MB/s", "ns/record"] + \
        [label for _, label in BASELINES]
    table = []
    for sc in scenarios:
        group = [r for r in rows if r["scenario"] == sc]
        base = {}
        for key, _ in BASELINES:
            for r in group:
                if r["baseline"] == key and r["rate"]:
                    base[key] = r["rate"]
        for r in group:
            ratios = []
            for key, _ in BASELINES:
                if r["baseline"] == key:
                    ratios.append("1 (base)")
                elif key in base and r["rate"]:
                    ratios.append(f"{r['rate'] / base[key]:.2f}x")
                else:
                    ratios.append("-")
            table.append([sc, r["impl"], fmt_rate(r["rate"]), fmt(r["mbps"], ".1f"),
                          fmt(r["ns"], ",.0f")] + ratios)
        table.append(None)
    widths = [max(len(h), *(len(row[i]) for row in table if row)) for i, h in enumerate(headers)]
    right = {2, 3, 4, 5, 6, 7}

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    print(line(headers))
    print(line(["-" * w for w in widths]))
    for row in table[:-1]:
        print(line(row) if row else "")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="WALX_BENCH_QUICK=1: tiny counts")
    ap.add_argument("--best", action="store_true",
                    help="rates from the fastest round instead of the median")
    ap.add_argument("--json", metavar="FILE", help="keep pytest-benchmark's JSON here")
    args, pytest_args = ap.parse_known_args(argv)

    tmp = tempfile.mkdtemp(prefix="walx-bench-json-")
    json_path = os.path.abspath(args.json) if args.json else os.path.join(tmp, "bench.json")
    try:
        rc = run_benchmarks(args.quick, json_path, pytest_args)
        if not os.path.exists(json_path):
            print(f"report.py: pytest exited with status {rc} and wrote no results",
                  file=sys.stderr)
            return rc or 1
        with open(json_path) as f:
            data = json.load(f)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    rows = rows_from(data, args.best)
    if not rows:
        print("report.py: no benchmark results", file=sys.stderr)
        return rc or 1
    mi = data.get("machine_info", {})
    cpu = mi.get("cpu", {}).get("brand_raw") or platform.processor() or "?"
    fs = sorted({f"{r['fs']} on {r['device']}" for r in rows if r["fs"]})
    wx = mi.get("walx", {})
    print()
    print(f"walx {wx.get('version', '?')} (crc32c: {wx.get('crc32c_impl', '?')}), "
          f"Python {platform.python_version()}, {mi.get('system', platform.system())} "
          f"{mi.get('release', platform.release())}, {cpu}, {os.cpu_count()} CPUs")
    if fs:
        print("benchmark files on: " + "; ".join(fs))
    print(f"rates from the {'fastest' if args.best else 'median'} round"
          f"{' (QUICK sizes: not meaningful)' if args.quick else ''}; ratios are records/s "
          f"over the baseline's (>1 = faster)")
    print()
    print_table(rows)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
