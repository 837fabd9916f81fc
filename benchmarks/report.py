#!/usr/bin/env python3
"""Print the benchmark table and the targets from pytest-benchmark JSON files.

    python benchmarks/report.py RESULT.json [RESULT2.json ...] [--json OUT.json]

Each RESULT.json is one run of the suite (``pytest benchmarks
--benchmark-only --benchmark-json RESULT.json``). Rates are records per
second of each benchmark's median round (MB/s counts payload bytes, 10^6
per MB); with several runs, the median over the runs. *vs best peer*
divides by the fastest non-walx implementation of the scenario. Each target
is a ratio of two benchmarks' rates within one run (a scenario's
implementations run back to back); with several runs the median of the
per-run ratios, which follow, and *fastest* divides the two benchmarks'
fastest rounds over all runs. Latencies (durable scenarios: each operation
timed on its own after the timed rounds) are nearest-rank percentiles,
medians over the runs. Rows marked with the same letter share a
target: it is met when any of them is. Everything printed also goes to
OUT.json (default: report.json beside the first RESULT). Reads only: it
runs nothing and rewrites no file but OUT.json.
"""

import argparse
import json
import os
import statistics
import sys

W, S, T, R = "bench_write::", "bench_sync::", "bench_threads::", "bench_read::"
MS = S + "test_walx_manager_sync[{}]"
MT = T + "test_walx_manager_8_threads[{}]"
# (scenario, what, numerator, denominator, goal, group of rows sharing the target)
TARGETS = [
    ("S1", "write-through 100 B / C write loop", W + "test_walx_write_through[100B]",
     W + "test_c_write_loop[100B]", 0.8, ""),
    ("S1", "buffered 1 MiB, 100 B / C write loop", W + "test_walx_buffered[100B]",
     W + "test_c_write_loop[100B]", 3.0, ""),
    ("S2", "write-through 4 KiB / C write loop", W + "test_walx_write_through[4KiB]",
     W + "test_c_write_loop[4KiB]", 0.9, ""),
    ("S3", "LogWriter add_record + sync() / C write+fdatasync loop",
     S + "test_walx_log_writer_sync", S + "test_c_write_fdatasync_loop", 0.95, ""),
    ("S3", "WalManager fresh log / C write+fdatasync loop", MS.format("fresh"),
     S + "test_c_write_fdatasync_loop", 0.95, ""),
    *[("S3", f"WalManager {log} log / C write+fdatasync loop", MS.format(log),
       S + "test_c_write_fdatasync_loop", 1.3, "a") for log in ("recycled", "preallocated")],
    *[("S4", f"WalManager {log} log, 8 threads / LevelDB (plyvel) 8 threads", MT.format(log),
       T + "test_peer_8_threads[plyvel]", 1.5, "b") for log in ("fresh", "recycled",
                                                                "preallocated")],
    *[("S4", f"WalManager {log} log, 8 threads / own S3 ({log}, 1 thread)", MT.format(log),
       MS.format(log), 4.0, "c") for log in ("fresh", "recycled", "preallocated")],
    ("S5", "read 100 B: LogReader(path) / LMDB cursor", R + "test_walx_reader_path[100B]",
     R + "test_peer_read[lmdb-100B]", 1.5, ""),
    ("S5", "read 4 KiB: LogReader(path) / LMDB cursor", R + "test_walx_reader_path[4KiB]",
     R + "test_peer_read[lmdb-4KiB]", 1.0, ""),
    ("CRC", "walx.crc32c / crc32c package, 1 MiB", "bench_crc32c::test_walx_crc32c[1MiB]",
     "bench_crc32c::test_crc32c_package[1MiB]", 0.9, ""),
]
ORDER = {"write 100B": "S1", "write 4KiB": "S2", "sync 100B": "S3", "sync 100B 8 threads": "S4",
         "read 100B": "S5", "read 4KiB": "S5", "crc32c 100B": "CRC", "crc32c 4KiB": "CRC",
         "crc32c 1MiB": "CRC", "WriteBatch encode": "Batch", "WriteBatch decode": "Batch",
         "recover WAL dir": "Recovery"}
RSS_TARGET = ("Recovery", "iter_recover peak RSS growth, 1 GB (MB)",
              "bench_recover::test_recover[walx]", 64.0)


def load(path):
    """{key: row} of one run; key = "module::test[params]"."""
    with open(path) as f:
        data = json.load(f)
    rows = {}
    for b in data["benchmarks"]:
        info = b["extra_info"]
        module = os.path.basename(b["fullname"].split("::")[0])[:-3]
        rows[f"{module}::{b['name']}"] = dict(
            info, records_per_s=info["records"] / b["stats"]["median"],
            records_per_s_best_round=info["records"] / b["stats"]["min"])
    return rows, data.get("machine_info", {})


def fmt_rate(x):
    return "-" if x is None else next(f"{x / d:.{p}f}{u}" for d, p, u in (
        (1e6, 2, " M"), (1e3, 1, " k"), (1, 0, "")) if x >= d or d == 1)


def fmt_mb(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def table(headers, lines, left):
    """A text table; the columns in `left` are left-aligned, the others right."""
    w = [max(len(str(c)) for c in col) for col in zip(headers, *lines)]
    out = [headers, ["-" * n for n in w], *lines]
    return "\n".join("  ".join(str(c).ljust(n) if i in left else str(c).rjust(n)
                               for i, (c, n) in enumerate(zip(line, w))).rstrip()
                     for line in out)


def combine(runs):
    """{key: row} over all runs: the median rate, the fastest round, the
    median of each latency percentile."""
    rows = {}
    for k in dict.fromkeys(k for r in runs for k in r):
        mine = [r[k] for r in runs if k in r]
        lat = {p: statistics.median(m["latency_us"][p] for m in mine)
               for p in mine[0].get("latency_us", {})}
        rows[k] = dict(mine[0], key=k, records_per_s=statistics.median(
            m["records_per_s"] for m in mine), records_per_s_best_round=max(
            m["records_per_s_best_round"] for m in mine), **({"latency_us": lat} if lat else {}))
    return rows


def print_scenarios(rows):
    """One table per scenario: walx first, then the peers, fastest first."""
    scenarios = {sc: [] for sc in ORDER}
    for row in rows.values():
        scenarios.setdefault(row["scenario"], []).append(row)
    for sc, group in ((sc, g) for sc, g in scenarios.items() if g):
        peers = [r["records_per_s"] for r in group if r["kind"] == "peer"]
        durable = any("latency_us" in r for r in group)
        lines = []
        for r in sorted(group, key=lambda r: (r["kind"] != "walx", -r["records_per_s"])):
            rate, lat = r["records_per_s"], r.get("latency_us", {})
            notes = f"{r['syncs_per_append']} syncs/append" if "syncs_per_append" in r else \
                f"peak RSS +{r['rss_growth_MB']} MB" if "rss_growth_MB" in r else ""
            lines.append([r["impl"], fmt_rate(rate), fmt_mb(rate * r["size"] / 1e6),
                          f"{rate / max(peers):.2f}x" if peers else "-",
                          *([fmt_mb(lat.get(p, 0)) for p in ("50", "99", "99.9")] if durable
                            else []), notes])
        print(f"\n{ORDER.get(sc, '')} {sc}\n" + table(
            ["implementation", "records/s", "MB/s", "vs best peer",
             *(["p50 us", "p99 us", "p99.9 us"] if durable else []), "notes"],
            lines, {0, len(lines[0]) - 1}))
    return scenarios


def evaluate(runs, rows):
    """Each target: the median of its per-run ratios (or the worst RSS), met or not."""
    out = []
    for sid, what, num, den, goal, group in TARGETS:
        per_run = [r[num]["records_per_s"] / r[den]["records_per_s"] for r in runs
                   if num in r and den in r]
        value = statistics.median(per_run) if per_run else None
        fastest = rows[num]["records_per_s_best_round"] / rows[den]["records_per_s_best_round"] \
            if num in rows and den in rows else None
        out.append(dict(scenario=sid, target=what, goal=f">= {goal:g}x", per_run=per_run,
                        measured=value, fastest=fastest, group=group,
                        met=value is not None and value >= goal))
    sid, what, key, limit = RSS_TARGET
    rss = [r[key]["rss_growth_MB"] for r in runs if key in r]
    out.append(dict(scenario=sid, target=what, goal=f"< {limit:g} MB", per_run=rss,
                    measured=max(rss) if rss else None, fastest=None, group="",
                    met=bool(rss) and max(rss) < limit))
    return out


def print_targets(targets):
    met_groups = {t["group"] for t in targets if t["met"] and t["group"]}
    lines = []
    for t in targets:
        rss = t["goal"].endswith("MB")
        status = "met" if t["met"] else "no result" if t["measured"] is None else \
            "NOT met" + (" (met by its group)" if t["group"] in met_groups else "")
        lines.append([t["scenario"] + (f" ({t['group']})" if t["group"] else ""), t["target"],
                      t["goal"], "-" if t["measured"] is None else
                      f"{t['measured']} MB" if rss else f"{t['measured']:.2f}x",
                      " ".join(str(x) if rss else f"{x:.2f}" for x in t["per_run"]),
                      "-" if t["fastest"] is None else f"{t['fastest']:.2f}x", status])
    print("\nTargets\n" + table(["scenario", "target", "goal", "measured", "per run",
                                 "fastest", "status"], lines, {0, 1, 4, 6}))


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", nargs="+", help="pytest-benchmark JSON files, one per run")
    ap.add_argument("--json", help="where the summary goes (default: report.json beside "
                                   "the first result)")
    args = ap.parse_args(argv)
    loaded = [load(p) for p in args.results]
    runs, machine = [r for r, _ in loaded], loaded[-1][1]
    rows = combine(runs)
    w = machine.get("walx", {})
    print(f"walx {w.get('version')} (crc32c: {w.get('crc32c_impl')}), Python "
          f"{machine.get('python_version')}, {machine.get('cpu', {}).get('brand_raw', '?')}, "
          f"files on {machine.get('bench_fs')} ({machine.get('bench_root')}), "
          f"{len(runs)} run(s){', QUICK sizes' if machine.get('quick') else ''}")
    print("peers: " + ", ".join(f"{k} {v or 'not installed'}"
                                for k, v in machine.get("peers", {}).items()))
    scenarios = print_scenarios(rows)
    targets = evaluate(runs, rows)
    print_targets(targets)
    out = args.json or os.path.join(os.path.dirname(os.path.abspath(args.results[0])),
                                    "report.json")
    with open(out, "w") as f:
        json.dump({"runs": args.results, "machine": machine, "targets": targets,
                   "scenarios": {sc: g for sc, g in scenarios.items() if g}}, f, indent=1)
    print(f"\nsummary: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
