"""The command line: every subcommand, every exit status, the JSON output.

Most cases run in-process through walx._cli.main; one per subcommand runs
``python -m walx`` in a subprocess from a temporary directory, so the
installed package and its ``__main__`` are what is tested. The decoders and
the scanner behind the commands are test_cli_codecs.py.
"""

import io
import json
import logging
import os
import pathlib
import shutil
import socket
import struct
import subprocess
import sys

import pytest

import walx
from walx import _cli, _cli_bench, _cli_cmds
from walx._walx import PhysicalRecords
from walxhelpers import run_cli as run
from walxtest import DATA, length_prefixed as sl, physical

REAL = {"rocksdb_legacy": "rocksdb", "rocksdb_cf": "rocksdb", "leveldb_basic": "leveldb"}


def expected(name):
    exp = json.loads((DATA / name / "expected.json").read_text())
    return exp, DATA / name / exp["log_file"]


def run_sub(cwd, *argv, timeout=120):
    p = subprocess.run([sys.executable, "-m", "walx", *map(str, argv)], cwd=cwd,
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def jlines(out):
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def copy_vector(tmp_path, name):
    exp, src = expected(name)
    dst = tmp_path / src.name
    shutil.copyfile(src, dst)
    return exp, dst


def _torn(path, seqs):
    with walx.LogWriter(str(path)) as w:
        for s in seqs:
            w.add_record(b"record %d" % s)
    with open(path, "ab") as f:
        f.write(b"\x01\x02\x03")


# ---- help and usage -----------------------------------------------------------------


def test_top_level_help_lists_every_subcommand(capsys):
    rc, out, _ = run(capsys, "--help")
    assert rc == 0
    for cmd in ("dump", "verify", "stats", "repair", "bench", "demo"):
        assert cmd in out
    assert "exit status" in out


@pytest.mark.parametrize("cmd, options", [
    ("dump", ["--codec", "--values", "--json", "--mode"]),
    ("verify", ["--codec", "--json", "--mode", "--no-progress"]),
    ("stats", ["--codec", "--json", "--mode"]),
    ("repair", ["--dry-run"]),
    ("bench", ["--size", "--count", "--threads", "--sync", "--buffer", "--recycle", "--dir"]),
    ("demo", ["--acks", "--dir", "--keep"]),
])
def test_subcommand_help_exits_0_and_names_its_options(capsys, cmd, options):
    rc, out, _ = run(capsys, cmd, "--help")
    assert rc == 0
    for opt in options:
        assert opt in out, opt


@pytest.mark.parametrize("argv", [
    [], ["frob"], ["dump"], ["verify", "--mode", "bogus", "x.log"],
    ["dump", "--codec", "xml", "x.log"], ["bench", "--count", "0"],
    ["bench", "--sync", "sometimes"],
], ids=["no-command", "unknown-command", "missing-path", "bad-mode", "bad-codec",
        "zero-count", "bad-sync"])
def test_usage_errors_exit_2(capsys, argv):
    rc, out, err = run(capsys, *argv)
    assert rc == 2
    assert "usage:" in err and "error:" in err


@pytest.mark.parametrize("cmd", ["dump", "verify", "stats", "repair"])
def test_missing_path_exits_2_and_names_it(capsys, tmp_path, cmd):
    rc, _, err = run(capsys, cmd, tmp_path / "nope.log")
    assert rc == 2
    assert "nope.log" in err and "no such file" in err


def test_directory_without_logs_exits_2(capsys, tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    rc, _, err = run(capsys, "verify", tmp_path)
    assert rc == 2
    assert str(tmp_path) in err and "no <digits>.wal" in err


def test_unopenable_file_exits_2_and_names_it(capsys, tmp_path):
    path = tmp_path / "000001.log"
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(path))        # open(2) on a socket fails with ENXIO, even for root
        rc, out, err = run(capsys, "verify", path)
    finally:
        s.close()
    assert rc == 2
    assert str(path) in err


def test_compressed_rocksdb_wal_exits_2_with_offset(capsys, tmp_path):
    path = tmp_path / "000005.log"
    path.write_bytes(physical(1, b"a" * 12) + physical(9, b"\x01"))
    rc, _, err = run(capsys, "dump", path)
    assert rc == 2
    assert str(path) in err and "offset 19" in err and "compressed" in err


def test_library_log_level_is_restored(capsys, tmp_path):
    lib = logging.getLogger("walx")
    before = lib.level
    _, path = expected("rocksdb_legacy")
    run(capsys, "verify", path)
    assert lib.level == before


def test_non_utf8_file_name_under_a_strict_utf8_output(tmp_path, write_log):
    d = tmp_path / b"wal\xff".decode("utf-8", "surrogateescape")
    d.mkdir()
    write_log(d / "000001.log", [b"x"])
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    for cmd in (["verify"], ["dump"], ["stats"], ["repair", "--dry-run"]):
        proc = subprocess.run([sys.executable, "-m", "walx", *cmd, str(d)],
                              cwd=tmp_path, capture_output=True, text=True, env=env,
                              timeout=60, errors="replace")
        assert proc.returncode == 0, (cmd, proc.stderr)
        assert "Traceback" not in proc.stderr and "wal\\udcff" in proc.stdout, (cmd, proc.stdout)


# ---- dump ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REAL))
def test_dump_json_matches_expected(capsys, name):
    exp, path = expected(name)
    rc, out, err = run(capsys, "dump", "--codec", REAL[name], "--json", path)
    assert rc == 0, err
    recs = jlines(out)
    assert len(recs) == exp["record_count"] == len(exp["records"])
    for got, want in zip(recs, exp["records"]):
        assert got["kind"] == "record"
        assert got["file"] == str(path)
        assert got["offset"] == want["fragments"][0]["offset"]
        assert got["size"] == want["payload_len"]
        assert got["sequence"] == want["sequence"]
        assert got["count"] == want["count"]
        assert got["ops"] == want["ops"]


def test_dump_rocksdb_codec_reads_leveldb_batches(capsys):
    exp, path = expected("leveldb_basic")
    rc, out, _ = run(capsys, "dump", "--codec", "rocksdb", "--json", path)
    assert rc == 0
    assert [r["ops"] for r in jlines(out)] == [r["ops"] for r in exp["records"]]


def test_dump_raw_json_carries_the_payloads(capsys):
    exp, path = expected("rocksdb_legacy")
    rc, out, _ = run(capsys, "dump", "--json", path)
    assert rc == 0
    assert [r["payload_hex"] for r in jlines(out)] == [r["payload_hex"] for r in exp["records"]]


def test_dump_text_shows_keys_and_values_only_with_values(capsys):
    exp, path = expected("rocksdb_cf")
    rc, out, _ = run(capsys, "dump", "--codec", "rocksdb", path)
    assert rc == 0
    first = out.splitlines()[:2]
    assert first[0] == f"{path} offset=0 size=29 seq=1 count=1"
    assert first[1].split() == ["put", "cf=1", "key=6b65793030303030", "value=(5", "bytes)"]
    rc, out, _ = run(capsys, "dump", "--codec", "rocksdb", "--values", path)
    assert out.splitlines()[1].split() == ["put", "cf=1", "key=6b65793030303030",
                                           "value=68656c6c6f"]
    assert "single_delete cf=2" in out and "merge cf=" in out


def test_dump_walx_codec_on_a_manager_directory(capsys, tmp_path):
    with walx.WalManager(tmp_path) as m:
        b = walx.WriteBatch(7)
        b.put(b"k", b"v")
        b.delete_with_pre_image(b"k", b"v")
        m.append(b)
        m.rotate()
        b = walx.WriteBatch(9)
        b.delete(b"gone")
        m.append(b)
    rc, out, err = run(capsys, "dump", "--codec", "walx", "--json", tmp_path)
    assert rc == 0, err
    recs = jlines(out)
    assert [(pathlib.Path(r["file"]).name, r["sequence"], r["count"]) for r in recs] == \
        [("000001.wal", 7, 2), ("000002.wal", 9, 1)]
    assert recs[0]["ops"] == [
        {"op": "put", "tag": 1, "key_hex": "6b", "value_hex": "76"},
        {"op": "delete", "tag": 0, "key_hex": "6b", "value_hex": "76"}]
    assert recs[1]["ops"] == [{"op": "delete", "tag": 0, "key_hex": "676f6e65",
                               "value_hex": ""}]


def test_dump_reports_damage_in_place_and_on_stderr(capsys):
    path = DATA / "edge" / "unknown_record_type" / "000044.log"
    rc, out, err = run(capsys, "dump", "--json", path)
    assert rc == 1
    objs = jlines(out)
    assert [o["kind"] for o in objs] == ["record", "damage", "record"]
    assert objs[1] == {"kind": "damage", "file": str(path), "offset": 24, "size": 24,
                       "reason": "unknown record type 20"}
    assert f"{path}: damage at offset 24" in err


def test_dump_reports_an_unknown_rocksdb_tag(capsys, tmp_path, write_log):
    good = struct.pack("<QI", 1, 1) + b"\x01" + sl(b"k") + sl(b"v")
    bad = struct.pack("<QI", 2, 1) + b"\x01" + sl(b"a") + sl(b"") + b"\x42" + sl(b"x")
    path = tmp_path / "000003.log"
    write_log(path, [good, bad])
    rc, out, err = run(capsys, "dump", "--codec", "rocksdb", "--json", path)
    assert rc == 1
    recs = [o for o in jlines(out) if o["kind"] == "record"]
    assert "error" not in recs[0]
    assert recs[1]["error"] == "unknown RocksDB tag 0x42 at byte 16 of the payload"
    assert recs[1]["ops"] == [{"op": "put", "tag": 1, "cf": 0, "key_hex": "61",
                               "value_hex": ""}]
    assert recs[1]["payload_hex"] == bad.hex()
    assert f"{path}: damage at offset {len(good) + 7}" in err
    assert "unknown RocksDB tag 0x42" in err


# ---- verify -------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["raw", "rocksdb"])
def test_verify_real_logs_exit_0(capsys, codec):
    paths = [expected(n)[1] for n in sorted(REAL)]
    rc, out, err = run(capsys, "verify", "--codec", codec, *paths)
    assert rc == 0, err
    assert err == ""
    assert out.count(": ok: ") == 3
    assert out.rstrip().endswith("74 records, no damage")


def test_verify_torn_tail_exits_1_naming_file_and_offset(capsys, tmp_path):
    exp, path = copy_vector(tmp_path, "rocksdb_legacy")
    last = exp["records"][-1]["fragments"][0]["offset"]
    with open(path, "r+b") as f:
        f.truncate(exp["file_size"] - 5)
    rc, out, err = run(capsys, "verify", path)
    assert rc == 1
    assert f"{path}: damage at offset {last}" in err
    assert f"offset {last}, {exp['file_size'] - 5 - last} bytes: incomplete" in out


def test_verify_mid_file_damage_per_mode(capsys, tmp_path):
    exp, path = copy_vector(tmp_path, "rocksdb_legacy")
    rec = exp["records"][5]
    assert [f["type"] for f in rec["fragments"]] == [1]
    off = rec["fragments"][0]["offset"]
    data = bytearray(path.read_bytes())
    data[off + 7 + 3] ^= 0xFF
    path.write_bytes(bytes(data))
    rc, out, err = run(capsys, "verify", "--json", path)
    assert rc == 1
    file_obj, total = jlines(out)
    assert file_obj["damage"][0]["offset"] == off
    assert file_obj["damage"][0]["reason"] == "checksum mismatch"
    # After a CRC mismatch the reader drops the rest of the block.
    block_end = (off // walx.BLOCK_SIZE + 1) * walx.BLOCK_SIZE
    kept = sum(1 for r in exp["records"]
               if not off <= r["fragments"][0]["offset"] < block_end)
    assert file_obj["records"] == kept < exp["record_count"] - 1
    assert file_obj["stopped"] is None
    assert total == {"kind": "total", "files": 1, "records": kept,
                     "damaged_ranges": 1, "damaged_files": 1, "errors": 0,
                     "mode": "SKIP_ANY_CORRUPTED", "codec": "raw"}
    rc, out, err = run(capsys, "verify", "--mode", "tolerate", path)
    assert rc == 1
    assert f"reading stopped at offset {off}" in out
    assert f"{path}: damage at offset {off}" in err


@pytest.mark.parametrize("mode", ["pit", "point-in-time", "POINT_IN_TIME"])
def test_verify_point_in_time_drops_the_rest(capsys, mode):
    path = DATA / "edge" / "crc_corrupt_middle_legacy" / "000040.log"
    rc, out, _ = run(capsys, "verify", "--json", "--mode", mode, path)
    assert rc == 1
    f, total = jlines(out)
    assert [d["offset"] for d in f["damage"]] == [33, 100148]
    assert f["damage"][1]["reason"] == "dropped: follows earlier damage (POINT_IN_TIME)"
    assert f["records"] == 1 and total["mode"] == "POINT_IN_TIME"


def test_verify_codec_walx_checks_every_batch(capsys, tmp_path, write_log):
    b = walx.WriteBatch(1)
    b.put(b"k", b"v")
    path = tmp_path / "000001.wal"
    write_log(path, [b.encode(), b"not a batch", b.encode()])
    rc, _, _ = run(capsys, "verify", path)
    assert rc == 0
    rc, out, err = run(capsys, "verify", "--codec", "walx", path)
    assert rc == 1
    off = len(b.encode()) + 7
    assert f"offset {off}, {7 + 11} bytes: bad WriteBatch" in out
    assert f"damage at offset {off}" in err


def test_progress_bar_only_on_a_large_job_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    big = _cli_cmds.PROGRESS_THRESHOLD + 1
    tty = Tty()
    bar = _cli_cmds.Progress(big, "verifying", stream=tty)
    bar.update(big * 3 // 10 + 100)
    bar.update(big * 3 // 10 + 200)     # same percentage: nothing new written
    bar.update(big)
    bar.close()
    lines = tty.getvalue().split("\r")
    assert lines == ["", "verifying  30% (19 of 64 MiB)", "verifying 100% (64 of 64 MiB)",
                     "\033[K"]
    small = Tty()
    bar = _cli_cmds.Progress(1000, "verifying", stream=small)
    bar.update(500)
    assert small.getvalue() == ""
    pipe = io.StringIO()
    bar = _cli_cmds.Progress(big, "verifying", stream=pipe)
    bar.update(big)
    assert pipe.getvalue() == ""


# ---- stats --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REAL))
def test_stats_json_matches_expected(capsys, name):
    exp, path = expected(name)
    rc, out, err = run(capsys, "stats", "--json", path)
    assert rc == 0, err
    f, total = jlines(out)
    assert f["records"] == total["records"] == exp["record_count"]
    assert f["padding"] == exp["padding"]
    assert f["padding_bytes"] == total["padding_bytes"] == sum(p["length"] for p in exp["padding"])
    frags = {}
    for r in exp["records"]:
        for fr in r["fragments"]:
            name_ = walx.RecordType(fr["type"]).name
            frags[name_] = frags.get(name_, 0) + 1
    assert f["fragments"] == total["fragments"] == frags
    assert f["payload_bytes"] == sum(r["payload_len"] for r in exp["records"])
    assert f["first_sequence"] == exp["records"][0]["sequence"]
    last = max(r["sequence"] + max(r["count"] - 1, 0) for r in exp["records"])
    assert f["last_sequence"] == total["last_sequence"] == last
    assert f["damage"] == [] and total["damaged_ranges"] == 0
    assert f["file_size"] == exp["file_size"] and f["header_size"] == 7


def test_stats_totals_over_several_files_and_damage(capsys):
    paths = [expected(n)[1] for n in sorted(REAL)]
    damaged = DATA / "edge" / "truncated_in_last_payload" / "000030.log"
    rc, out, err = run(capsys, "stats", "--json", *paths, damaged)
    assert rc == 1
    objs = jlines(out)
    total = objs[-1]
    assert total["kind"] == "total" and total["files"] == 4
    assert total["records"] == sum(expected(n)[0]["record_count"] for n in REAL) + 5
    assert total["padding_count"] == 6
    assert total["damaged_ranges"] == 1
    assert objs[3]["damage"] == [{"offset": 100181, "size": 12,
                                  "reason": "incomplete: truncated record payload"}]
    assert f"{damaged}: damage at offset 100181" in err


def test_stats_text_report_lists_records_padding_and_fragments(capsys):
    exp, path = expected("rocksdb_cf")
    rc, out, _ = run(capsys, "stats", path)
    assert rc == 0
    assert f"records        {exp['record_count']} (" in out
    assert "padding        2 block trailers, 7 bytes: 65530+6, 98303+1" in out
    assert "fragments      FULL 21, FIRST 5, MIDDLE 6, LAST 5" in out
    assert "total (1 file)" in out


def test_stats_counts_recyclable_fragments_and_stops_at_an_old_generation(capsys, tmp_path):
    path = tmp_path / "000007.log"
    good = physical(5, b"a", log_number=7) + physical(5, b"bb", log_number=7)
    path.write_bytes(good + physical(5, b"old", log_number=3) + physical(5, b"c", log_number=7))
    phys = PhysicalRecords(path)
    recs = list(phys)
    assert phys.header_size == 11
    stale = [r.offset for r in recs if r.status == "old_log"]
    assert [r.type_name for r in recs if r.status == "ok" and r.offset < stale[0]] == \
        ["RECYCLABLE_FULL"] * 2
    assert stale[0] == len(good)
    rc, out, _ = run(capsys, "stats", "--json", "--codec", "raw", path)
    assert rc == 0
    f, total = jlines(out)
    assert (f["records"], f["stale_offset"], f["end_offset"]) == (2, len(good), len(good))
    assert f["first_sequence"] is None and f["header_size"] == 11


@pytest.mark.skipif(not pathlib.Path("/dev/zero").exists(), reason="no /dev/zero")
def test_stats_of_an_endless_device_ends(tmp_path):
    # /dev/zero never ends: stats reads what the file held when it was
    # opened, as LogReader does, not until read() returns nothing.
    rc, out, err = run_sub(tmp_path, "stats", "/dev/zero", timeout=60)
    assert rc == 0, err
    assert "0 bytes (no records)" in out, out


# ---- repair -------------------------------------------------------------------------


def test_repair_dry_run_changes_nothing_then_repair_fixes(capsys, tmp_path):
    exp, path = copy_vector(tmp_path, "leveldb_basic")
    last = exp["records"][-1]["fragments"][0]["offset"]
    with open(path, "r+b") as f:
        f.truncate(exp["file_size"] - 3)
    before = path.read_bytes()
    rc, out, err = run(capsys, "repair", "--dry-run", path)
    assert rc == 1
    assert f"{path}: would cut offset {last}" in out
    assert f"{path}: damaged tail at offset {last}" in err
    assert path.read_bytes() == before
    assert not (tmp_path / (path.name + ".broken")).exists()
    rc, out, err = run(capsys, "repair", tmp_path)
    assert rc == 0, err
    assert f"{path}: cut offset {last}" in out
    assert path.stat().st_size == last
    assert (tmp_path / (path.name + ".broken")).read_bytes() == before
    rc, out, _ = run(capsys, "verify", tmp_path)
    assert rc == 0
    assert f"ok: {exp['record_count'] - 1} records" in out
    rc, out, _ = run(capsys, "repair", path)
    assert rc == 0 and out == f"{path}: clean\n"


def test_repair_refuses_damage_followed_by_valid_records(capsys, tmp_path):
    src = DATA / "edge" / "crc_corrupt_middle_legacy" / "000040.log"
    path = tmp_path / src.name
    shutil.copyfile(src, path)
    rc, out, err = run(capsys, "repair", path)
    assert rc == 1
    assert f"{path}: cannot repair: damage at offset 33" in err
    assert path.read_bytes() == src.read_bytes()


def test_repair_trims_zero_fill_without_calling_it_damage(capsys, tmp_path):
    path = tmp_path / "000008.log"
    rec = physical(1, b"payload")
    path.write_bytes(rec + bytes(1000))          # preallocated, never written
    rc, out, _ = run(capsys, "verify", path)
    assert rc == 0 and ": ok: 1 record, " in out
    rc, out, err = run(capsys, "repair", "--dry-run", path)
    assert rc == 0, err
    assert out == f"{path}: would trim offset {len(rec)}, 1000 bytes: end of log: " \
                  "bytes after the last valid record\n"
    assert path.stat().st_size == len(rec) + 1000
    rc, out, _ = run(capsys, "repair", path)
    assert rc == 0
    assert path.stat().st_size == len(rec)


def test_repair_of_a_directory_is_all_or_nothing(tmp_path, capsys, write_log):
    # As walx.repair(dir): one log damaged in the middle leaves every file
    # as it was, also the torn ones beside it.
    _torn(tmp_path / "000001.log", [1, 2])
    write_log(tmp_path / "000002.log", [b"a" * 100] * 700)   # 3 blocks
    data = bytearray((tmp_path / "000002.log").read_bytes())
    data[10] ^= 0xFF                   # the first record; blocks 2 and 3 are intact
    (tmp_path / "000002.log").write_bytes(bytes(data))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    rc, out, err = run(capsys, "repair", tmp_path)
    assert rc == 1
    assert "000002.log: NOT REPAIRED" in out and "nothing was changed" in err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_repair_keeps_every_earlier_copy(tmp_path, capsys):
    p = tmp_path / "000001.log"
    _torn(p, [1])
    first = p.read_bytes()
    rc, out, _ = run(capsys, "repair", p)
    assert rc == 0 and f"original kept as {p}.broken" in out
    with open(p, "ab") as f:
        f.write(b"\x09\x09")
    second = p.read_bytes()
    rc, out, _ = run(capsys, "repair", p)
    assert rc == 0 and f"original kept as {p}.broken.1" in out
    assert (tmp_path / "000001.log.broken").read_bytes() == first
    assert (tmp_path / "000001.log.broken.1").read_bytes() == second


def test_repair_refuses_a_directory_entry_that_is_a_directory(tmp_path, capsys):
    (tmp_path / "000007.log").mkdir()
    _torn(tmp_path / "000007.log" / "000030.log", [1])
    inner = (tmp_path / "000007.log" / "000030.log").read_bytes()
    rc, _, err = run(capsys, "repair", tmp_path)
    assert rc == 2 and "no <digits>.wal or <digits>.log files" in err
    assert (tmp_path / "000007.log" / "000030.log").read_bytes() == inner


def test_repair_refuses_a_directory_a_live_manager_holds(tmp_path, capsys):
    d = tmp_path / "wal"
    with walx.WalManager(d) as m:
        b = walx.WriteBatch(1)
        b.put(b"k", b"v")
        m.append(b)
        log = d / "000001.wal"
        with open(log, "ab") as f:
            f.write(b"\x01\x02\x03")                     # looks torn while live
        before = log.read_bytes()
        for target in (d, log):
            with pytest.raises(walx.WalLockedError):
                walx.repair(target)
            rc, _, err = run(capsys, "repair", target)
            assert rc == 2 and "locked by a live WalManager" in err
        assert log.read_bytes() == before
        assert walx.repair(d, dry_run=True)             # a dry run only reads
    assert [c.offset for c in walx.repair(d)] == [len(before) - 3]   # free now


# ---- bench --------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [
    ["--api", "manager", "--sync", "data"],
    ["--api", "manager", "--sync", "none", "--buffer", "4096", "--threads", "3"],
    ["--api", "writer", "--sync", "full", "--threads", "2"],
    ["--api", "writer", "--sync", "none", "--size", "0"],
])
def test_bench_reports_rates_and_latencies(capsys, tmp_path, extra):
    rc, out, err = run(capsys, "bench", "--count", "40", "--json", "--dir", tmp_path, *extra)
    assert rc == 0, err
    (res,) = jlines(out)
    assert res["records"] == 40
    assert res["records_per_s"] > 0 and res["seconds"] > 0
    lat = res["latency_us"]
    assert 0 < lat["p50"] <= lat["p99"] <= lat["p99.9"]
    sync = extra[extra.index("--sync") + 1]
    assert (res["syncs"] > 0) == (sync != "none")
    assert list(tmp_path.iterdir()) == []      # the temporary directory is removed


def test_bench_text_output_names_rates_and_percentiles(capsys, tmp_path):
    rc, out, _ = run(capsys, "bench", "--count", "10", "--size", "64", "--dir", tmp_path)
    assert rc == 0
    for word in ("records/s", "MB/s", "p50", "p99", "p99.9"):
        assert word in out


def test_bench_manager_records_have_the_requested_size(tmp_path):
    # Every size, including those where the value's length varint grows a
    # byte (144, 16401): batch_value alone missed those by one.
    for size in list(range(16, 20000)) + [2**21 + 5]:
        key, value = _cli_bench.batch_kv(size)
        b = walx.WriteBatch(1)
        b.put(key, value)
        assert len(b.encode()) == size, size


def test_bench_recycles_retired_logs(capsys, tmp_path):
    rc, out, err = run(capsys, "bench", "--count", "40", "--recycle", "1",
                       "--rotate-every", "5", "--json", "--dir", tmp_path)
    assert rc == 0, err
    (res,) = jlines(out)
    assert res["rotations"] == 8
    assert res["files_recycled"] == 7      # every new log after the first reuses one
    rc, out, _ = run(capsys, "bench", "--count", "16", "--recycle", "1", "--dir", tmp_path)
    assert rc == 0
    assert "rotations    8 (every 2 appends)" in out


def test_bench_percentile_is_nearest_rank():
    ns = sorted(range(1000, 1001000, 1000))          # 1..1000 us
    assert _cli_bench.percentile(ns, 50) == 500.0
    assert _cli_bench.percentile(ns, 99) == 990.0
    assert _cli_bench.percentile(ns, 99.9) == 999.0
    assert _cli_bench.percentile([7000], 99.9) == 7.0


@pytest.mark.parametrize("argv, message", [
    (["--api", "writer", "--recycle", "2"], "--recycle needs --api manager"),
    (["--api", "manager", "--sync", "full"], "--api writer"),
    (["--size", "8"], "at least 16"),
    (["--count", "2", "--threads", "3"], "must not exceed"),
])
def test_bench_rejects_unsupported_options_with_2(capsys, tmp_path, argv, message):
    rc, _, err = run(capsys, "bench", "--dir", tmp_path, *argv)
    assert rc == 2
    assert message in err


def test_bench_compare_is_not_an_option(tmp_path, capsys):
    assert _cli.main(["bench", "--compare", "--repo", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --compare" in err


# ---- demo, and the installed package's __main__ and console script ---------------------


@pytest.mark.parametrize("acks", ["0", "-3"])
def test_demo_acks_must_be_positive(capsys, acks):
    rc, _, err = run(capsys, "demo", "--acks", acks)
    assert rc == 2 and "--acks" in err


def test_subprocess_help_version_and_usage_error(tmp_path):
    rc, out, _ = run_sub(tmp_path, "--help")
    assert rc == 0 and "verify" in out
    rc, out, _ = run_sub(tmp_path, "--version")
    assert rc == 0 and out.strip() == f"walx {walx.__version__}"
    rc, _, err = run_sub(tmp_path, "verify", "--mode", "nope", "x")
    assert rc == 2 and "unknown mode" in err


def test_subprocess_dump_json_matches_expected(tmp_path):
    exp, path = expected("rocksdb_cf")
    rc, out, err = run_sub(tmp_path, "dump", "--codec", "rocksdb", "--json", path)
    assert rc == 0, err
    recs = jlines(out)
    assert [(r["sequence"], r["count"], r["ops"]) for r in recs] == \
        [(r["sequence"], r["count"], r["ops"]) for r in exp["records"]]


def test_subprocess_verify_damaged_and_stats(tmp_path):
    src = DATA / "edge" / "truncated_in_last_header" / "000031.log"
    rc, out, err = run_sub(tmp_path, "verify", src)
    assert rc == 1
    assert f"{src}: damage at offset 100181" in err
    assert "WARNING" not in err                      # the library's log only with -v
    rc, out, err = run_sub(tmp_path, "-v", "verify", src)
    assert rc == 1
    assert "walx: WARNING: damaged log" in err
    rc, out, err = run_sub(tmp_path, "stats", "--json", src)
    assert rc == 1
    assert jlines(out)[-1]["records"] == 5


def test_subprocess_repair_dry_run_and_missing_file(tmp_path):
    exp, path = copy_vector(tmp_path, "rocksdb_legacy")
    rc, out, _ = run_sub(tmp_path, "repair", "--dry-run", path)
    assert rc == 0 and out == f"{path}: clean\n"
    rc, _, err = run_sub(tmp_path, "repair", tmp_path / "missing.log")
    assert rc == 2 and "missing.log" in err


def test_subprocess_bench_reports_json(tmp_path):
    rc, out, err = run_sub(tmp_path, "bench", "--count", "20", "--json", "--dir", tmp_path)
    assert rc == 0, err
    assert jlines(out)[0]["records"] == 20


def test_subprocess_demo_acknowledges_and_warns_only_with_v(tmp_path):
    rc, out, err = run_sub(tmp_path, "demo", "--acks", "20")
    assert rc == 0, err
    assert "every acknowledged batch present: True" in out
    assert out.rstrip().endswith("demo ok")
    # The library's warnings show only with -v, as for every command.
    assert "WARNING" not in err
    rc, _, err = run_sub(tmp_path, "-v", "demo", "--acks", "20")
    assert rc == 0 and "walx: WARNING: damaged log" in err


def test_console_script_verifies_a_vector(tmp_path):
    script = pathlib.Path(sys.executable).parent / "walx"
    if not script.exists():
        pytest.skip("no walx console script next to this interpreter")
    p = subprocess.run([str(script), "verify", str(expected("leveldb_basic")[1])],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert ": ok: 23 records" in p.stdout
