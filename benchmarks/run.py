#!/usr/bin/env python3
"""Run the walx comparison suite and report it: table, targets, JSON, chart, docs.

    python benchmarks/run.py [--quick] [--repeat N] [--best] [--out-dir DIR]
                             [--json PATH] [--png PATH] [--md PATH] [--no-docs]
                             [--from-json PATH] [-- PYTEST ARGS ...]

Runs ``pytest benchmarks --benchmark-only --benchmark-json=<tmp>`` with the
current interpreter from a temporary directory (so the installed walx is
measured, not the checkout), then:

* prints, per scenario, every implementation with records/s, MB/s and the
  ratio to the best peer (the fastest non-walx implementation in that
  scenario), plus the p50/p99/p99.9 latencies of the durable scenarios; a
  peer that is not installed is listed as "not installed";
* prints each target of the issue with its measured ratio, met or not met;
* saves everything as JSON (``--json``, default ``docs/benchmarks.json``),
  with pytest-benchmark's own JSON under "pytest_benchmark";
* renders a chart of the ratios to the best peer (``--png``, default
  ``docs/benchmarks.png``; needs matplotlib) and writes
  ``docs/benchmarks.md`` (``--md``): the machine, the exact command, the
  targets, the tables and the chart.

``--repeat N`` runs the whole suite N times in a row: each benchmark's
rate is then the median of its N runs (latency percentiles likewise), and
every target also shows the ratio measured in each run, so the noise of a
shared machine is visible. The implementations of one scenario run back to
back (conftest.py orders them), so a ratio compares measurements taken
seconds apart. Each target also shows the ratio of the fastest rounds
(the least disturbed by other load). After the suite, unless
``--no-interleaved``, ``benchmarks/interleaved.py`` measures the durable and
write-through targets again as interleaved A/B pairs (rounds of the two
implementations alternate, so a drifting disk hits both alike); the targets
table shows the median pair ratio beside the suite's.

``--quick`` sets WALX_BENCH_QUICK=1 (tiny sizes: checks that everything
works; the numbers mean little) and, unless output paths are given, writes
the JSON/chart/markdown into a temporary directory instead of docs/.
``--from-json`` re-renders a JSON written earlier without running anything.
Rates come from the median round (``--best``: the fastest round, which
filters out a noisy disk's stalls). MB/s counts payload bytes, 10**6 per MB.
Arguments after ``--`` go to pytest (for example ``-- -k sync``).

``main(argv)`` is the entry point for ``python -m walx bench --compare``.
Exit status: 0 when the suite ran (whether or not targets are met), 1 when
pytest failed or produced no results, 2 on usage errors.
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DOCS = os.path.join(REPO, "docs")

# (id, pytest-benchmark group, description), in report order. Groups the
# suite produces that are not listed here are appended at the end.
SCENARIOS = [
    ("S1", "write 100B", "100 B records, no sync, 1 thread"),
    ("S2", "write 4KiB", "4 KiB records, no sync, 1 thread"),
    ("S3", "sync 100B", "100 B records, fdatasync after each, 1 thread"),
    ("S4", "sync 100B 8 threads", "100 B records, durable, 8 threads"),
    ("S5", "read 100B", "reading back the S1 log, CRCs checked"),
    ("S5", "read 4KiB", "reading back the S2 log, CRCs checked"),
    ("CRC", "crc32c 100B", "CRC-32C of a 100 B buffer"),
    ("CRC", "crc32c 4KiB", "CRC-32C of a 4 KiB buffer"),
    ("CRC", "crc32c 1MiB", "CRC-32C of a 1 MiB buffer"),
    ("Batch", "WriteBatch encode", "100 puts (8 B key, 100 B value) per batch; rate per put"),
    ("Batch", "WriteBatch decode", "100 puts per batch, every operation materialised"),
    ("Recovery", "recover WAL dir", "replaying a WalManager directory; rate per batch"),
]
DURABLE = {"sync 100B", "sync 100B 8 threads"}

W, M, S, P, R = ("bench_writer.py::", "bench_manager.py::", "bench_sync.py::",
                 "bench_peers_read.py::", "bench_reader.py::")
# (id, what, numerator benchmark, denominator benchmark, goal); benchmarks
# are "module::test[param]". A target with a shared `alt` label is met
# when any one of its rows is.
TARGETS = [
    dict(id="S1", what="write-through (LogWriter, buffer_size=0) / C write loop",
         num=W + "test_add_record_write_through[100B]", den=W + "test_c_write_loop[100B]",
         goal=0.8, pair="S1 write-through"),
    dict(id="S1", what="buffered (LogWriter, buffer_size=1 MiB) / C write loop",
         num=W + "test_add_record_buffered[100B]", den=W + "test_c_write_loop[100B]", goal=3.0),
    dict(id="S2", what="4 KiB write-through / C write loop",
         num=W + "test_add_record_write_through[4KiB]", den=W + "test_c_write_loop[4KiB]",
         goal=0.9, pair="S2 write-through"),
    dict(id="S3", what="fresh log, LogWriter add_record + sync() / C write+fdatasync loop",
         num=S + "test_add_record_sync_per_record", den=S + "test_c_write_fdatasync_loop",
         goal=0.95, pair="S3 LogWriter"),
    dict(id="S3", what="fresh log, WalManager.append(sync=True) / C write+fdatasync loop",
         num=M + "test_walx_manager_durable_1_thread", den=S + "test_c_write_fdatasync_loop",
         goal=0.95, pair="S3 fresh"),
    dict(id="S3", what="recycled log, WalManager / C write+fdatasync loop (fresh file)",
         num=M + "test_walx_manager_durable_1_thread_recycled",
         den=S + "test_c_write_fdatasync_loop", goal=1.3, alt="S3 reuse", pair="S3 recycled"),
    dict(id="S3", what="preallocated log, WalManager / C write+fdatasync loop (fresh file)",
         num=M + "test_walx_manager_durable_1_thread_preallocated",
         den=S + "test_c_write_fdatasync_loop", goal=1.3, alt="S3 reuse",
         pair="S3 preallocated"),
    dict(id="S4", what="WalManager 8 threads / LevelDB (plyvel) put(sync=True) 8 threads",
         num=M + "test_walx_manager_durable_8_threads",
         den=M + "test_leveldb_plyvel_sync_puts_8_threads", goal=1.5, alt="S4 plyvel",
         pair="S4 plyvel"),
    *[dict(id="S4", what=f"{reuse} log, WalManager 8 threads / LevelDB (plyvel) 8 threads",
           num=M + f"test_walx_manager_durable_8_threads_reused[{reuse}]",
           den=M + "test_leveldb_plyvel_sync_puts_8_threads", goal=1.5, alt="S4 plyvel",
           pair=f"S4 plyvel {reuse}") for reuse in ("recycled", "preallocated")],
    dict(id="S4", what="WalManager 8 threads / walx's own S3 (WalManager, 1 thread, fresh)",
         num=M + "test_walx_manager_durable_8_threads",
         den=M + "test_walx_manager_durable_1_thread", goal=4.0, alt="S4 own S3",
         pair="S4 own S3"),
    *[dict(id="S4", what=f"{reuse} log, WalManager 8 threads / own S3 (1 thread, {reuse})",
           num=M + f"test_walx_manager_durable_8_threads_reused[{reuse}]",
           den=M + f"test_walx_manager_durable_1_thread_{reuse}", goal=4.0,
           alt="S4 own S3", pair=f"S4 own S3 {reuse}") for reuse in ("recycled", "preallocated")],
    dict(id="S5", what="read 100 B: LogReader(path) / LMDB cursor",
         num=R + "test_log_reader_path[100B]", den=P + "test_lmdb_cursor_read[100B]", goal=1.5),
    dict(id="S5", what="read 4 KiB: LogReader(path) / LMDB cursor",
         num=R + "test_log_reader_path[4KiB]", den=P + "test_lmdb_cursor_read[4KiB]", goal=1.0),
    dict(id="CRC", what="walx.crc32c / crc32c package, 1 MiB",
         num="bench_crc32c.py::test_crc32c_walx_dispatch[1MiB]",
         den="bench_crc32c.py::test_crc32c_package[1MiB]", goal=0.9),
    dict(id="Recovery", what="iter_recover peak RSS growth (MB, lower is better)",
         num="bench_recover.py::test_walx_iter_recover", metric="rss_growth_MB", limit=64.0),
]


# ---- running the suite ---------------------------------------------------------


def run_suite(quick, json_path, skips_path, pytest_args, log_path):
    env = dict(os.environ)
    if quick:
        env["WALX_BENCH_QUICK"] = "1"
    else:
        env.pop("WALX_BENCH_QUICK", None)
    env["WALX_BENCH_SKIPS"] = skips_path
    workdir = tempfile.mkdtemp(prefix="walx-bench-run-")
    cmd = [sys.executable, "-m", "pytest", HERE, "--benchmark-only",
           "--benchmark-json", json_path, "-q", "-rs", "-p", "no:cacheprovider", *pytest_args]
    shown = ("WALX_BENCH_QUICK=1 " if quick else "") + " ".join(
        shlex.quote(c) if c != json_path else "<tmp>/raw.json" for c in cmd)
    print("$ " + shown, flush=True)
    print(f"  (pytest output: {log_path})", flush=True)
    try:
        with open(log_path, "w") as log:
            proc = subprocess.Popen(cmd, env=env, cwd=workdir, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, universal_newlines=True)
            for line in proc.stdout:
                log.write(line)
                # Progress dots and the final summary; not the benchmark tables.
                stripped = line.strip()
                if stripped and (set(stripped.split("[")[0].strip()) <= set(".sFEx") or
                                 " passed" in stripped or " failed" in stripped or
                                 stripped.startswith(("FAILED", "ERROR"))):
                    print("  " + stripped, flush=True)
            rc = proc.wait()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return rc, shown


# ---- turning pytest-benchmark's JSON into rows -----------------------------------


def run_interleaved(quick):
    """benchmarks/interleaved.py in a child process of the same interpreter,
    from a temporary directory like the suite; returns its results."""
    print("\n== interleaved A/B pairs", flush=True)
    fd, out = tempfile.mkstemp(prefix="walx-interleaved-", suffix=".json")
    os.close(fd)
    code = ("import json, sys; sys.path.insert(0, %r); import interleaved; "
            "json.dump(interleaved.run(quick=%r), open(%r, 'w'))" % (HERE, quick, out))
    env = dict(os.environ)
    if quick:
        env["WALX_BENCH_QUICK"] = "1"
    rc = subprocess.call([sys.executable, "-c", code], cwd=tempfile.gettempdir(), env=env)
    try:
        with open(out) as f:
            return json.load(f)
    except (OSError, ValueError):
        print(f"run.py: WARNING: interleaved.py exited with status {rc} and wrote "
              f"no results", file=sys.stderr)
        return []
    finally:
        if os.path.exists(out):
            os.unlink(out)


def bench_id(b):
    module = b["fullname"].split("::")[0].rsplit("/", 1)[-1]
    return f"{module}::{b['name']}"


def rows_from(raw, skips, best):
    rows = []
    for b in raw.get("benchmarks", []):
        info = b.get("extra_info", {})
        st = b["stats"]
        n = info.get("records_per_round") or info.get("appends_per_round")
        size = info.get("record_size")
        t = st["min"] if best else st["median"]
        impl = info.get("impl") or b["name"]
        rows.append({
            "id": bench_id(b),
            "scenario": info.get("scenario") or b.get("group") or bench_id(b).split("::")[0],
            "impl": impl,
            "kind": info.get("kind") or ("walx" if impl.startswith("walx") else "peer"),
            "status": "ok",
            "records_per_s": n / t if n else None,
            "records_per_s_median": n / st["median"] if n else None,
            "records_per_s_best_round": n / st["min"] if n else None,
            "MB_per_s": n * size / t / 1e6 if n and size else None,
            "ns_per_record": t / n * 1e9 if n else None,
            "rounds": st.get("rounds"),
            "latency_us": info.get("latency_us"),
            "extra": {k: v for k, v in info.items()
                      if k in ("syncs_per_append", "rss_growth_MB", "peak_rss_before_MB",
                               "peak_rss_after_MB", "log_bytes", "log_files", "threads",
                               "recycled_file_bytes", "preallocate", "fs_type",
                               "fs_source", "block_device", "subprocess_MB_per_s")},
        })
    for s in skips:
        reason = s.get("reason", "skipped")
        rows.append({
            "id": s["nodeid"].rsplit("/", 1)[-1], "scenario": s["scenario"],
            "impl": s["impl"], "kind": s.get("kind", "peer"),
            "status": "not installed" if "not installed" in reason else "skipped",
            "reason": reason, "records_per_s": None, "MB_per_s": None,
            "latency_us": None, "extra": {},
        })
    return rows


def _median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def combine_runs(runs_rows):
    """One row per benchmark: the median over the runs where it ran."""
    if len(runs_rows) == 1:
        return [dict(r, runs=1) for r in runs_rows[0]]
    order, by_id = [], {}
    for rows in runs_rows:
        for r in rows:
            if r["id"] not in by_id:
                order.append(r["id"])
            by_id.setdefault(r["id"], []).append(r)
    out = []
    for bid in order:
        rs = by_id[bid]
        ok = [r for r in rs if r["status"] == "ok"]
        if not ok:
            out.append(dict(rs[0], runs=0))
            continue
        c = dict(ok[0], runs=len(ok))
        for k in ("records_per_s", "records_per_s_median", "MB_per_s", "ns_per_record"):
            vals = [r[k] for r in ok if r.get(k) is not None]
            c[k] = _median(vals) if vals else None
        c["records_per_s_best_round"] = max((r["records_per_s_best_round"] or 0) for r in ok)
        lats = [r["latency_us"] for r in ok if r.get("latency_us")]
        if lats:
            c["latency_us"] = {k: _median([lt[k] for lt in lats if lt.get(k) is not None])
                               for k in lats[0] if any(lt.get(k) is not None for lt in lats)}
        extra = dict(ok[0]["extra"])
        for k in ("rss_growth_MB", "syncs_per_append"):
            vals = [r["extra"][k] for r in ok if k in r["extra"]]
            if vals:
                extra[k] = max(vals) if k == "rss_growth_MB" else _median(vals)
        c["extra"] = extra
        out.append(c)
    return out


def build_scenarios(rows):
    order = [g for _, g, _ in SCENARIOS]
    groups = order + sorted({r["scenario"] for r in rows} - set(order))
    meta = {g: (sid, desc) for sid, g, desc in SCENARIOS}
    out = []
    for g in groups:
        group = [r for r in rows if r["scenario"] == g]
        if not group:
            continue
        peers = [r for r in group if r["kind"] == "peer" and r["records_per_s"]]
        best = max(peers, key=lambda r: r["records_per_s"]) if peers else None
        for r in group:
            r["ratio_best_peer"] = (r["records_per_s"] / best["records_per_s"]
                                    if best and r["records_per_s"] else None)
        # walx first, then peers, fastest first; missing ones last.
        group.sort(key=lambda r: (r["status"] != "ok", r["kind"] != "walx",
                                  -(r["records_per_s"] or 0)))
        sid, desc = meta.get(g, ("", ""))
        out.append({"id": sid, "group": g, "description": desc, "durable": g in DURABLE,
                    "best_peer": best["impl"] if best else None, "rows": group})
    return out


def _target_value(t, by_id, key="records_per_s"):
    num = by_id.get(t["num"])
    if "metric" in t:
        return num["extra"].get(t["metric"]) if num and num["status"] == "ok" else None
    den = by_id.get(t["den"])
    if num and den and num["status"] == "ok" and den["status"] == "ok" and \
            num.get(key) and den.get(key):
        return num[key] / den[key]
    return None


def evaluate_targets(rows, runs_rows=(), interleaved=()):
    """Each target on the (combined) rows; with several runs, also per run;
    with interleaved A/B results (interleaved.py), their median pair ratio."""
    by_id = {r["id"]: r for r in rows}
    by_pair = {r["key"]: r for r in interleaved or ()}
    per_run = [{r["id"]: r for r in rr} for rr in runs_rows] if len(runs_rows) > 1 else []
    out = []
    for t in TARGETS:
        res = dict(t)
        res["per_run"] = [_target_value(t, b) for b in per_run]
        if t.get("pair") in by_pair:
            res["interleaved"] = by_pair[t["pair"]]
        measured_runs = [v for v in res["per_run"] if v is not None]
        # With several runs: the median of the ratios measured within each
        # run (a ratio within a run compares measurements taken seconds apart).
        value = _median(measured_runs) if measured_runs else _target_value(t, by_id)
        if "metric" in t and measured_runs:
            value = max(measured_runs)     # RSS: the worst run
        if "metric" in t:
            res.update(measured=value, goal_text=f"< {t['limit']:g} MB",
                       met=None if value is None else value < t["limit"])
        else:
            res.update(measured=value, goal_text=f">= {t['goal']:g}x",
                       met=None if value is None else value >= t["goal"],
                       measured_best_rounds=_target_value(t, by_id,
                                                          "records_per_s_best_round"))
        if value is None:
            missing = [by_id[x] for x in (t.get("num"), t.get("den"))
                       if x in by_id and by_id[x]["status"] != "ok"]
            res["why_missing"] = (missing[0].get("reason") if missing else
                                  "benchmark did not run")
        out.append(res)
    for r in out:
        if r.get("alt"):
            alts = [x for x in out if x.get("alt") == r["alt"]]
            r["alt_met"] = any(x["met"] for x in alts)
    return out


# ---- formatting ------------------------------------------------------------------


def fmt_rate(x):
    if x is None:
        return "-"
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def fmt_mb(x):
    if x is None:
        return "-"
    return f"{x:,.0f}" if x >= 100 else f"{x:.2f}" if x < 10 else f"{x:.1f}"


def fmt_ratio(x):
    return "-" if x is None else f"{x:.2f}x"


def fmt_us(x):
    if x is None:
        return "-"
    return f"{x / 1000:.2f} ms" if x >= 1000 else f"{x:.0f} us" if x >= 100 else f"{x:.1f} us"


def notes_of(r):
    if r["status"] != "ok":
        return r.get("reason", "")
    e = r["extra"]
    out = []
    if "syncs_per_append" in e:
        out.append(f"{e['syncs_per_append']:g} syncs/append")
    if "rss_growth_MB" in e:
        out.append(f"peak RSS +{e['rss_growth_MB']:g} MB")
    if "log_bytes" in e:
        out.append(f"{e['log_bytes'] / 1e6:,.0f} MB in {e.get('log_files', '?')} logs")
    return ", ".join(out)


def scenario_table(sc):
    headers = ["implementation", "records/s", "MB/s", "vs best peer"]
    if sc["durable"]:
        headers += ["p50", "p99", "p99.9"]
    headers.append("notes")
    table = []
    for r in sc["rows"]:
        if r["status"] != "ok":
            cells = [r["impl"], r["status"], "", ""] + (["", "", ""] if sc["durable"] else [])
            cells.append(r.get("reason", "") if r["status"] != "not installed" else
                         r.get("reason", "").split(" (")[0])
            table.append(cells)
            continue
        cells = [r["impl"], fmt_rate(r["records_per_s"]), fmt_mb(r["MB_per_s"]),
                 fmt_ratio(r["ratio_best_peer"])]
        if sc["durable"]:
            lat = r["latency_us"] or {}
            cells += [fmt_us(lat.get("p50")), fmt_us(lat.get("p99")), fmt_us(lat.get("p99.9"))]
        cells.append(notes_of(r))
        table.append(cells)
    return headers, table


def text_table(headers, table, right):
    widths = [max([len(h)] + [len(row[i]) for row in table]) for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([line(headers), line(["-" * w for w in widths])] +
                     [line(row) for row in table])


def md_table(headers, table, right):
    sep = ["---:" if i in right else "---" for i in range(len(headers))]
    esc = [[c.replace("|", "\\|") for c in row] for row in [headers, sep] + table]
    return "\n".join("| " + " | ".join(row) + " |" for row in esc)


def _fmt_target(t, v):
    if v is None:
        return "-"
    if "metric" in t:
        return f"{v:.1f} MB"
    # Three decimals where two would round onto the goal and hide a miss.
    return f"{v:.3f}x" if abs(v - t["goal"]) < 0.01 else f"{v:.2f}x"


def target_table(targets):
    nruns = max((len(t.get("per_run") or ()) for t in targets), default=0)
    headers = ["scenario", "target", "goal", "measured"] + \
        [f"run {i + 1}" for i in range(nruns)] + ["fastest rounds"] + \
        (["interleaved A/B"] if any(t.get("interleaved") for t in targets) else []) + \
        ["status"]
    with_pairs = "interleaved A/B" in headers
    table = []
    for t in targets:
        if t["measured"] is None:
            status = "not measured: " + (t.get("why_missing") or "?").split("\n")[0]
        else:
            status = "met" if t["met"] else "NOT met"
            if t.get("alt") and not t["met"] and t.get("alt_met"):
                status += " (the alternative is met)"
        runs = [_fmt_target(t, v) for v in (t.get("per_run") or [])]
        runs += [""] * (nruns - len(runs))
        pair = []
        if with_pairs:
            il = t.get("interleaved")
            pair = [f"{_fmt_target(t, il['ratio'])} ({il['ratio_min']:.2f}-{il['ratio_max']:.2f})"
                    if il else "-"]
        table.append([t["id"], t["what"], t["goal_text"], _fmt_target(t, t["measured"])] +
                     runs + [_fmt_target(t, t.get("measured_best_rounds"))] + pair + [status])
    return headers, table


def _right_cols(headers):
    return {i for i, h in enumerate(headers)
            if h in ("records/s", "MB/s", "vs best peer", "p50", "p99", "p99.9", "measured",
                     "fastest rounds", "interleaved A/B") or h.startswith("run ")}


def print_report(report):
    m = report["machine"]
    print()
    print(f"walx {m['walx_version']} (crc32c: {m['crc32c_impl']}), {m['python']}, "
          f"{m['kernel']}, {m['cpu_model']} ({m['cpus']}), {m['memory']}")
    print(f"benchmark files: {m['bench_dir']} ({m['bench_fs']})")
    if m.get("sync_cost"):
        print(f"sync cost: {m['sync_cost']}")
    print(f"rates from the {report['rate_from']}"
          f"{' (median of %d runs)' % report['repeat'] if report['repeat'] > 1 else ''}; "
          f"'vs best peer' = records/s over the fastest non-walx implementation of the "
          f"scenario{'; QUICK sizes: the numbers mean little' if report['quick'] else ''}")
    for i, ld in enumerate(report["load"]):
        print(f"load during run {i + 1}: {_load_text(ld)}")
    for sc in report["scenarios"]:
        print()
        print(f"{sc['id'] + ' ' if sc['id'] else ''}{sc['group']}"
              f"{': ' + sc['description'] if sc['description'] else ''}")
        headers, table = scenario_table(sc)
        print(text_table(headers, table, _right_cols(headers)))
    print()
    print("Targets (ratios of records/s; 'fastest rounds': the same ratio from each "
          "benchmark's fastest round)")
    headers, table = target_table(report["targets"])
    print(text_table(headers, table, _right_cols(headers)))


# ---- machine description ------------------------------------------------------------


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def machine_description(raw):
    mi = raw.get("machine_info", {})
    cpuinfo = _read("/proc/cpuinfo")
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                  if line.startswith(("model name", "Model", "Hardware"))), None)
    model = model or mi.get("cpu", {}).get("brand_raw") or platform.processor() or "?"
    cores = {(a, b) for a, b in _pairs(cpuinfo)}
    logical = os.cpu_count() or 0
    cpus = f"{logical} logical CPUs" + (f", {len(cores)} cores" if cores else "")
    mem = next((int(line.split()[1]) for line in _read("/proc/meminfo").splitlines()
                if line.startswith("MemTotal:")), None)
    memory = f"{mem / 1024 / 1024:.1f} GiB RAM" if mem else "? RAM"
    fs = mi.get("bench_fs") or {}
    dev = fs.get("block_device")
    fs_text = f"{fs.get('fs_type', '?')} on {fs.get('fs_source', '?')}"
    if dev:
        fs_text += f" (block device {dev}"
        if "rotational" in fs:
            fs_text += ", rotational" if fs["rotational"] else ", non-rotational"
        if fs.get("device_model"):
            fs_text += f", {fs['device_model']}"
        fs_text += ")"
    wx = mi.get("walx", {})
    peers = mi.get("peers", {})
    return {
        "cpu_model": model, "cpus": cpus, "memory": memory,
        "kernel": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "walx_version": wx.get("version", "?"), "crc32c_impl": wx.get("crc32c_impl", "?"),
        "walx_file": wx.get("file"),
        "bench_dir": mi.get("bench_root", "?"), "bench_fs": fs_text,
        "peers": peers, "hostname": platform.node(),
    }


def sync_cost(directory, n=300):
    """What one write(2) of 107 bytes + fdatasync(2) costs on a fresh file in
    `directory`: wall time and the kernel CPU time of this process
    (getrusage), each per call. On a virtual disk much of a sync can be CPU
    spent by the guest, which then competes with the threads that append."""
    import resource
    try:
        fd, path = tempfile.mkstemp(prefix="walx-sync-cost-", dir=directory)
    except OSError as e:
        return f"not measured ({e})"
    try:
        rec = b"x" * 107
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        for _ in range(n):
            os.write(fd, rec)
            os.fdatasync(fd)
        t1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    finally:
        os.close(fd)
        os.unlink(path)
    wall = (t1 - t0) / n * 1e6
    sys_cpu = (r1.ru_stime - r0.ru_stime) / n * 1e6
    return (f"{wall:.0f} us per write(2)+fdatasync(2) of 107 B on a fresh file, "
            f"{sys_cpu:.0f} us of it CPU time in the kernel (getrusage, {n} calls)")


def load_snapshot():
    """The load average and, where the kernel has it, the I/O and CPU pressure."""
    snap = {"loadavg": " ".join(_read("/proc/loadavg").split()[:3]) or None}
    for kind in ("cpu", "io"):
        some = next((line for line in _read(f"/proc/pressure/{kind}").splitlines()
                     if line.startswith("some")), None)
        if some:
            snap[f"{kind}_pressure_avg60"] = some.split()[2].split("=")[1] + "%"
    return snap


def _load_text(ld):
    parts = []
    for when in ("start", "end"):
        x = ld.get(when) or {}
        bits = [f"load {x['loadavg']}"] if x.get("loadavg") else []
        bits += [f"{k.split('_')[0]} pressure {x[k]}" for k in
                 ("cpu_pressure_avg60", "io_pressure_avg60") if x.get(k)]
        parts.append(f"{when}: " + ", ".join(bits or ["?"]))
    return "; ".join(parts)


def _pairs(cpuinfo):
    phys = core = None
    for line in cpuinfo.splitlines() + [""]:
        if line.startswith("physical id"):
            phys = line.split(":")[1].strip()
        elif line.startswith("core id"):
            core = line.split(":")[1].strip()
        elif not line.strip():
            if phys is not None and core is not None:
                yield phys, core
            phys = core = None


# ---- chart ----------------------------------------------------------------------------


def render_chart(report, png_path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        return "matplotlib not installed"
    scs = [sc for sc in report["scenarios"] if any(r["ratio_best_peer"] for r in sc["rows"])]
    if not scs:
        return "no ratios to plot"
    heights = [sum(1 for r in sc["rows"] if r["ratio_best_peer"]) + 2.0 for sc in scs]
    # Two columns of about the same height, scenarios in order.
    half, acc, split = sum(heights) / 2, 0.0, len(scs)
    for i, h in enumerate(heights):
        if acc + h / 2 > half:
            split = max(i, 1)
            break
        acc += h
    columns = [list(range(split)), list(range(split, len(scs)))]
    columns = [c for c in columns if c]
    tall = max(sum(heights[i] for i in c) for c in columns)
    fig = plt.figure(figsize=(8.5 * len(columns), 0.3 * tall + 1.0), layout="constrained")
    subfigs = fig.subfigures(1, len(columns), squeeze=False)[0]
    allr = [r["ratio_best_peer"] for sc in scs for r in sc["rows"] if r["ratio_best_peer"]]
    lo, hi = min(allr + [1.0]) / 1.6, max(allr + [1.0]) * 2.5
    for sub, col in zip(subfigs, columns):
        col_h = [heights[i] for i in col]
        pad = tall - sum(col_h)
        ratios = col_h + ([pad] if pad > 0.5 else [])
        axes = sub.subplots(len(ratios), 1, gridspec_kw={"height_ratios": ratios},
                            squeeze=False)[:, 0]
        if len(ratios) > len(col):
            axes[-1].axis("off")
        for ax, i in zip(axes, col):
            sc = scs[i]
            rows = [r for r in sc["rows"] if r["ratio_best_peer"]][::-1]
            vals = [r["ratio_best_peer"] for r in rows]
            colors = ["#1f77b4" if r["kind"] == "walx" else
                      "#555555" if r["impl"] == sc["best_peer"] else "#b0b0b0" for r in rows]
            labels = [r["impl"] if len(r["impl"]) <= 52 else r["impl"][:50] + "..."
                      for r in rows]
            ax.barh(range(len(rows)), vals, color=colors, height=0.7)
            ax.set_xscale("log")
            ax.set_xlim(lo, hi)
            ax.axvline(1.0, color="black", linewidth=0.8)
            ax.set_yticks(range(len(rows)))
            ax.set_yticklabels(labels, fontsize=6.5)
            for k, v in enumerate(vals):
                ax.text(v * 1.05, k, f"{v:.2f}x", va="center", fontsize=6.5)
            ax.set_title(f"{sc['id'] + ' ' if sc['id'] else ''}{sc['group']}"
                         f"{': ' + sc['description'] if sc['description'] else ''}",
                         fontsize=7.5, loc="left")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
            ax.tick_params(axis="x", labelsize=6.5)
            ax.grid(axis="x", which="major", linewidth=0.3)
    m = report["machine"]
    fig.suptitle(f"walx {m['walx_version']}: records/s relative to the best peer of each "
                 f"scenario (log scale; blue: walx, dark grey: the best peer)\n"
                 f"{m['cpu_model']}, {m['cpus']}, {m['bench_fs']}"
                 + (" - QUICK sizes" if report["quick"] else "")
                 + (f" - median of {report['repeat']} runs" if report["repeat"] > 1 else ""),
                 fontsize=8.5)
    os.makedirs(os.path.dirname(os.path.abspath(png_path)), exist_ok=True)
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return None


# ---- markdown -----------------------------------------------------------------------


def _pair_count(report):
    return max((r["pairs"] for r in report.get("interleaved") or ()), default=0)


def write_markdown(report, md_path, png_path, chart_problem):
    m = report["machine"]
    peers = m["peers"]
    peer_text = ", ".join(f"{k} {v}" if v else f"{k} not installed"
                          for k, v in peers.items() if k != "cc")
    lines = [
        "# walx benchmarks",
        "",
        "walx against the syscall floor (a C `write(2)` loop compiled at benchmark time), "
        "plain Python `os.write`, a pure-Python writer/reader of the same format "
        "(`benchmarks/pywal.py`, CRCs by the `crc32c` package), sqlite3 in WAL mode, "
        "RocksDB (`rocksdict`), LevelDB (`plyvel`) and, for reads, LMDB (`lmdb`), all in "
        "one run. Generated by `benchmarks/run.py`"
        + (" with **QUICK sizes** (`--quick`): these numbers only show that the suite "
           "works." if report["quick"] else "."),
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {m['cpu_model']}, {m['cpus']} |",
        f"| Memory | {m['memory']} |",
        f"| Benchmark files | `{m['bench_dir']}`: {m['bench_fs']} |",
    ] + ([f"| Sync cost | {m['sync_cost']} |"] if m.get("sync_cost") else []) + [
        f"| Kernel | {m['kernel']} |",
        f"| Python | {m['python']} |",
        f"| walx | {m['walx_version']}, CRC-32C: {m['crc32c_impl']} |",
        f"| Peers | {peer_text} |",
        f"| C compiler | {peers.get('cc') or 'none'} |",
        f"| Date | {report['generated']} |",
    ] + [f"| Load, run {i + 1} (1/5/15-min load average; 60 s pressure stall) | "
         f"{_load_text(ld)} |" for i, ld in enumerate(report["load"])] + [
        "",
        "## Command",
        "",
        "```sh",
        report["command"],
        "```",
        "",
        "which ran:",
        "",
        "```sh",
        report["pytest_command"],
        "```",
        "",
        f"Rates are records per second of the {report['rate_from']}"
        + (f", median of {report['repeat']} runs of the whole suite"
           if report["repeat"] > 1 else "") + " (MB/s counts payload "
        "bytes, 10^6 per MB). *vs best peer* divides by the fastest non-walx "
        "implementation of the same scenario (so the best peer shows 1.00x). Latencies "
        "(durable scenarios) come from a separate loop after the timed rounds that times "
        "every operation on its own (`time.perf_counter_ns`; `clock_gettime` in the C "
        "loop): nearest-rank p50/p99/p99.9.",
        "",
        "## Targets",
        "",
        "Each target is a ratio of records/s between two rows of the same run "
        "(the implementations of a scenario run back to back). *measured* uses the "
        f"{report['rate_from']}s"
        + ("; with several runs it is the median of the per-run ratios, which follow"
           if report["repeat"] > 1 else "")
        + ". *fastest rounds* divides the two benchmarks' fastest rounds"
        + (" over all runs" if report["repeat"] > 1 else "")
        + ": the least disturbed by other load on the machine."
        + (" *interleaved A/B* comes from `benchmarks/interleaved.py`, run after the "
           "suite: rounds of the two implementations alternate (AB, BA, AB, ...), so a "
           "drift of the disk hits both sides of a pair alike; it shows the median of "
           f"{_pair_count(report)} per-pair ratios and, in brackets, the lowest and "
           "highest." if report.get("interleaved") else "")
        + " Status is judged on *measured*. Rows that share a target (S3 recycled or "
        "preallocated; S4 into a fresh, a recycled or a preallocated log) meet it when any "
        "one does. "
        "What profiling shows for the targets that are missed, and what was tried: "
        "[profiles.md](profiles.md).",
        "",
    ]
    headers, table = target_table(report["targets"])
    lines += [md_table(headers, table, _right_cols(headers)), ""]
    context = [r for r in report.get("interleaved") or () if r.get("context")]
    if context:
        lines += [
            "Interleaved pairs that check no target but show how the C loop of the S3 "
            "targets (a new file per round) fares in the file patterns of WalManager's "
            "logs: appending to one file that grows across all rounds, as a fresh log "
            "does; overwriting a file whose blocks were written and synced before, as a "
            "recycled log does; writing into a file reserved by `posix_fallocate`, as a "
            "preallocated log does; and walx's logs against those loops.",
            "",
            md_table(["pair", "median", "lowest", "highest", "pairs"],
                     [[r["what"], f"{r['ratio']:.2f}x", f"{r['ratio_min']:.2f}x",
                       f"{r['ratio_max']:.2f}x", str(r["pairs"])] for r in context],
                     {1, 2, 3, 4}),
            ""]
    lines += ["## Results", ""]
    for sc in report["scenarios"]:
        lines.append(f"### {sc['id'] + ' ' if sc['id'] else ''}{sc['group']}"
                     f"{': ' + sc['description'] if sc['description'] else ''}")
        lines.append("")
        headers, table = scenario_table(sc)
        lines += [md_table(headers, table, _right_cols(headers)), ""]
    lines += ["## Chart", ""]
    if chart_problem:
        lines += [f"(not rendered: {chart_problem})", ""]
    else:
        rel = os.path.relpath(os.path.abspath(png_path),
                              os.path.dirname(os.path.abspath(md_path)))
        lines += [f"![records/s relative to the best peer, per scenario]({rel})", ""]
    lines += [
        "## What is measured",
        "",
        "* **S1/S2** (`bench_writer.py`, `bench_peers_write.py`): N records per round into "
        "a new file (walx, pywal, `os.write`, the C loop: open and close inside the timed "
        "region) or a new database (opened before it); nothing is synced: page-cache "
        "writes. The loops write ready-framed records (header + payload), so they skip "
        "the framing and CRC walx does.",
        "* **S3** (`bench_sync.py`, `bench_manager.py`, `bench_peers_sync.py`): one "
        "durable 100 B record at a time. walx's `WalManager` rows append a one-put "
        "`WriteBatch` that encodes to exactly 100 B. *fresh*: the log grows with every "
        "append; *recycled*: `WalManager(recycle_log_files=1)` after a filled log was "
        "rotated, GC'd into the recycle pool and reused by the next rotation; "
        "*preallocated*: `WalManager(preallocate=64 MiB)`. Both check that no measured "
        "append grew the file.",
        "* **S4** (`bench_manager.py`): 8 threads appending durably at once; the C loop "
        "row is ONE thread (the syscall reference). sqlite3 serialises writers (one "
        "connection per thread, busy handler). Where a sync costs the guest CPU time "
        "(the *Sync cost* line above), the syncing thread competes with the appending "
        "threads for the same cores.",
        "* **S5** (`bench_reader.py`, `bench_peers_read.py`): every record read back as "
        "`bytes` from the page cache. walx, pywal, LevelDB and RocksDB verify checksums; "
        "LMDB and sqlite3 have none to verify.",
        "* **CRC**, **Batch**, **Recovery** (`bench_crc32c.py`, `bench_batch.py`, "
        "`bench_recover.py`): CRC-32C throughput; `WriteBatch` build+encode and "
        "decode+iterate against the pure-Python codec; `WalManager.iter_recover` over "
        "a directory of about 1 GB (16 MB with `--quick`) in the page cache, with the "
        "peak RSS growth measured in a fresh subprocess (VmHWM after recovery minus "
        "VmHWM after `import walx`).",
        "* Disk-sync numbers depend on the device and on everything else using it; "
        "compare ratios from one run, not absolute rates across machines.",
        "",
    ]
    os.makedirs(os.path.dirname(os.path.abspath(md_path)), exist_ok=True)
    with open(md_path, "w") as f:
        f.write("\n".join(lines))


# ---- main -------------------------------------------------------------------------------


def _json_default(o):
    return str(o)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    pytest_args = []
    if "--" in argv:
        i = argv.index("--")
        argv, pytest_args = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(prog="benchmarks/run.py",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="WALX_BENCH_QUICK=1: tiny sizes")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="run the suite N times; rates are the medians (default 1)")
    ap.add_argument("--best", action="store_true",
                    help="rates from the fastest round instead of the median")
    ap.add_argument("--out-dir", metavar="DIR",
                    help="where benchmarks.{json,png,md} go (default: docs/, or a "
                         "temporary directory with --quick)")
    ap.add_argument("--json", metavar="PATH", help="the JSON results")
    ap.add_argument("--png", metavar="PATH", help="the chart")
    ap.add_argument("--md", metavar="PATH", help="the markdown report")
    ap.add_argument("--no-docs", action="store_true",
                    help="write only the JSON, no chart or markdown")
    ap.add_argument("--no-interleaved", action="store_true",
                    help="skip the interleaved A/B pairs (benchmarks/interleaved.py)")
    ap.add_argument("--from-json", metavar="PATH",
                    help="re-render a JSON written by this script; runs nothing")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")

    tmp = tempfile.mkdtemp(prefix="walx-bench-json-")
    try:
        if args.from_json:
            with open(args.from_json) as f:
                old = json.load(f)
            runs = old["runs"]
            quick, pytest_cmd, command = old["quick"], old["pytest_command"], old["command"]
            interleaved = old.get("interleaved") or []
        else:
            quick = args.quick
            command = "python benchmarks/run.py" + "".join(" " + shlex.quote(a) for a in argv)
            if pytest_args:
                command += " -- " + " ".join(shlex.quote(a) for a in pytest_args)
            runs = []
            for k in range(args.repeat):
                if args.repeat > 1:
                    print(f"\n== run {k + 1} of {args.repeat}", flush=True)
                raw_path = os.path.join(tmp, f"raw{k}.json")
                skips_path = os.path.join(tmp, f"skips{k}")
                open(skips_path, "w").close()
                log_path = os.path.join(tmp, f"pytest{k}.log")
                load = {"start": load_snapshot()}
                rc, pytest_cmd = run_suite(quick, raw_path, skips_path, pytest_args, log_path)
                load["end"] = load_snapshot()
                if not os.path.exists(raw_path):
                    print(f"run.py: pytest exited with status {rc} and wrote no results; "
                          f"its output:", file=sys.stderr)
                    print(_read(log_path)[-6000:], file=sys.stderr)
                    return 1
                if rc != 0:
                    print(f"run.py: WARNING: pytest exited with status {rc}; the report "
                          f"covers what ran. The end of its output:", file=sys.stderr)
                    print(_read(log_path)[-4000:], file=sys.stderr)
                with open(raw_path) as f:
                    raw = json.load(f)
                with open(skips_path) as f:
                    skips = [json.loads(line) for line in f if line.strip()]
                runs.append({"pytest_returncode": rc, "load": load, "skipped": skips,
                             "pytest_benchmark": raw})
            interleaved = [] if args.no_interleaved else run_interleaved(quick)

        for r in runs:
            for b in r["pytest_benchmark"].get("benchmarks", []):
                b.pop("options", None)     # pytest-benchmark's calibration settings

        out_dir = args.out_dir or (tempfile.mkdtemp(prefix="walx-bench-quick-")
                                   if quick and not (args.json or args.png or args.md)
                                   else DOCS)
        json_path = args.json or os.path.join(out_dir, "benchmarks.json")
        png_path = args.png or os.path.join(out_dir, "benchmarks.png")
        md_path = args.md or os.path.join(out_dir, "benchmarks.md")

        runs_rows = [rows_from(r["pytest_benchmark"], r["skipped"], args.best) for r in runs]
        rows = combine_runs(runs_rows)
        if not rows:
            print("run.py: no benchmark results", file=sys.stderr)
            return 1
        rc = max(r["pytest_returncode"] for r in runs)
        report = {
            "schema": 1,
            "generated": datetime.datetime.now(datetime.timezone.utc)
            .strftime("%Y-%m-%d %H:%M UTC"),
            "command": command, "pytest_command": pytest_cmd, "quick": quick,
            "repeat": len(runs), "load": [r["load"] for r in runs],
            "rate_from": "fastest round" if args.best else "median round",
            "machine": machine_description(runs[-1]["pytest_benchmark"]),
            "scenarios": build_scenarios(rows),
            "targets": evaluate_targets(rows, runs_rows, interleaved),
            "interleaved": interleaved,
        }
        if args.from_json:
            report["machine"]["sync_cost"] = old.get("machine", {}).get("sync_cost")
        elif os.path.isdir(report["machine"]["bench_dir"]):
            report["machine"]["sync_cost"] = sync_cost(report["machine"]["bench_dir"])
        print_report(report)

        report["runs"] = runs
        os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
        with open(json_path, "w") as f:
            json.dump(report, f, indent=1, default=_json_default)
            f.write("\n")
        print(f"\nJSON: {json_path}")
        if not args.no_docs:
            problem = render_chart(report, png_path)
            print(f"chart: {png_path}" if not problem else f"chart not rendered: {problem}")
            write_markdown(report, md_path, png_path, problem)
            print(f"markdown: {md_path}")
        return 0 if rc == 0 else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
