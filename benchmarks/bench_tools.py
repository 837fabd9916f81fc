"""Not benchmarks: the profiling helpers (profile_writes.py, sync_gaps.py,
group_commit.c) keep working. Skipped under --benchmark-only (run.py); CI runs them with
--benchmark-disable."""

import errno
import os
import re
import shutil
import subprocess

import pytest

import walx

import profile_writes
import sync_gaps

TRACE = """\
     0.000 ( 0.053 ms): python/5264 write(fd: 5, buf: 0x5647, count: 110)           = 110
     0.100 ( 0.200 ms): python/5264 fdatasync(fd: 5)                                  = 0
     0.350 ( 0.010 ms): python/5265 write(fd: 5, buf: 0x5647, count: 220)           = 220
     0.400 ( 0.100 ms): python/5265 fdatasync(fd: 5)                                  = 0
     0.600 ( 0.300 ms): python/5266 fdatasync(fd: 5)                                  = 0
"""


def test_sync_gaps_analyze_parses_perf_trace():
    r = sync_gaps.analyze(TRACE)
    assert r["syncs"] == 3
    assert r["sync_us_p50"] == 200.0
    assert abs(r["sync_us_mean"] - 200.0) < 1e-9
    # Gaps: 0.400 - 0.300 = 100 us, 0.600 - 0.500 = 100 us.
    assert abs(r["gap_us_p50"] - 100.0) < 1e-6 and abs(r["gap_us_mean"] - 100.0) < 1e-6
    assert abs(r["cycle_us_mean"] - 250.0) < 1e-6     # start to start: (0.600 - 0.100) / 2


def test_sync_gaps_analyze_counts_only_after_the_mark():
    trace = ("     0.000 ( 0.300 ms): python/5264 fdatasync(fd: 5)          = 0\n"
             "     0.050 ( 0.001 ms): python/5264 getppid()                = 17\n" + TRACE)
    assert sync_gaps.analyze(trace) == sync_gaps.analyze(TRACE)
    assert sync_gaps.analyze(trace.replace("getppid", "getpid"))["syncs"] == 4


def test_sync_gaps_analyze_needs_two_fdatasyncs():
    assert sync_gaps.analyze("") is None
    assert sync_gaps.analyze(TRACE.splitlines()[1]) is None


def test_sync_gaps_work_appends_durably(tmp_path):
    n, seconds = sync_gaps.work(str(tmp_path), threads=2, appends=10)
    assert n == 10 and seconds > 0
    batches = list(walx.WalManager.iter_recover(tmp_path / "wal"))
    assert sorted(b.sequence for b in batches) == list(range(1, 11))


def test_sync_gaps_work_into_a_recycled_log(tmp_path):
    n, _ = sync_gaps.work(str(tmp_path), threads=2, appends=10, recycled=True)
    assert n == 10
    batches = list(walx.WalManager.iter_recover(tmp_path / "wal"))
    # Only the 10 appends: the fill log was flushed and reused, and its old
    # records in the recycled file belong to another log number.
    assert sorted(b.sequence for b in batches) == list(range(1, 11))


def _assert_usage_errors(main, argvs):
    """Each argv makes `main` exit with argparse's usage status 2."""
    for argv in argvs:
        try:
            main(argv)
        except SystemExit as e:
            assert e.code == 2
        else:
            raise AssertionError(f"{argv} was accepted")


def test_sync_gaps_rejects_bad_arguments(capsys):
    _assert_usage_errors(sync_gaps.main, (
        ["--threads", "0"], ["--threads", "4", "--appends", "2"],
        ["--preallocate", "-1"], ["--recycled", "--peer", "plyvel"]))
    assert "--threads" in capsys.readouterr().err


def test_profile_writes_loops_write_the_same_bytes(tmp_path):
    # 50 records of 100 B stay inside the first 32 KiB block, where walx's
    # framing is exactly the pre-framed stream the C and os.write loops write.
    fns = profile_writes.loops(str(tmp_path), 100, 50)
    assert {"walx", "os"} <= set(fns)
    contents = {}
    for name, fn in fns.items():
        n, seconds = fn()
        assert n == 50 and seconds > 0
        with open(fn.paths.last, "rb") as f:
            contents[name] = f.read()
    assert len(contents["walx"]) == 50 * 107
    assert all(c == contents["walx"] for c in contents.values())


def test_profile_writes_compare_reports_every_loop():
    lines = []
    ns = profile_writes.compare(100, 20, 2, out=lines.append)
    assert {"walx", "os"} <= set(ns) and all(v > 0 for v in ns.values())
    assert len(lines) == len(ns) + ("c" in ns)
    if shutil.which(os.environ.get("CC", "cc")):
        assert "c" in ns          # the C loop was built and measured


def test_profile_writes_rejects_bad_arguments(capsys):
    _assert_usage_errors(profile_writes.main, (
        ["compare", "--size", "-1"], ["walx", "--records", "0"],
        ["os", "--rounds", "0"], ["nonsense"]))
    err = capsys.readouterr().err
    assert "--records" in err and "invalid choice" in err


GROUP_COMMIT_C = os.path.join(os.path.dirname(os.path.abspath(__file__)), "group_commit.c")


@pytest.fixture(scope="module")
def group_commit(tmp_path_factory):
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        pytest.skip(f"no C compiler ({cc!r}) to build group_commit.c")
    exe = str(tmp_path_factory.mktemp("group_commit") / "group_commit")
    subprocess.run([cc, "-O2", "-Wall", "-Wextra", "-Werror", "-pthread", "-o", exe,
                    GROUP_COMMIT_C], check=True)
    return exe


@pytest.mark.parametrize("mode", ["independent", "queue", "pipelined:1", "pipelined:2"])
def test_group_commit_appends_every_record(group_commit, tmp_path, mode):
    path = tmp_path / "log"
    out = subprocess.run([group_commit, mode, "3", "5", str(path)], check=True,
                         stdout=subprocess.PIPE, universal_newlines=True).stdout
    m = re.match(r"(\S+) threads=3 appends=15 appends/s=(\d+) appends/fdatasync=([\d.]+)$",
                 out.strip())
    assert m and m.group(1) == mode, out
    per_sync = float(m.group(3))
    assert 1.0 <= per_sync <= 3.0              # a group holds at most the 3 threads
    if mode == "independent":
        assert per_sync == 1.0
    assert path.stat().st_size == 15 * 107


def test_group_commit_recycled_overwrites_from_the_start(group_commit, tmp_path):
    path = tmp_path / "log"
    path.write_bytes(b"\xff" * 4096)
    subprocess.run([group_commit, "queue", "2", "3", str(path), "recycled"], check=True,
                   stdout=subprocess.DEVNULL)
    data = path.read_bytes()
    assert len(data) == 4096                  # not truncated, not grown
    assert data[:6 * 107] == b"x" * (6 * 107) and data[6 * 107:] == b"\xff" * (4096 - 642)


@pytest.mark.parametrize("argv", [["nonsense", "1", "1"], ["pipelined:0", "1", "1"],
                                  ["queue", "0", "1"], ["queue", "65", "1"],
                                  ["queue", "1", "0"], ["queue", "1", "x"]])
def test_group_commit_rejects_bad_arguments(group_commit, tmp_path, argv):
    proc = subprocess.run([group_commit, *argv, str(tmp_path / "log")],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    assert proc.returncode == 2 and "usage: group_commit" in proc.stderr
    assert not (tmp_path / "log").exists()


def test_c_overwrite_loop_overwrites_in_place(tmp_path):
    """The overwrite floor of interleaved.py: writes from `start` into the
    existing file, never grows it, and refuses a file too short for that."""
    from conftest import CWriteLoopUnavailable, _build_c_write_loop
    loop = _build_c_write_loop(tmp_path)
    if isinstance(loop, CWriteLoopUnavailable):
        pytest.skip(loop.reason)
    path = tmp_path / "over.log"
    path.write_bytes(b"." * 100)
    loop.overwrite(str(path), b"abc", 4, start=10, sync_each=True)
    assert path.read_bytes() == b"." * 10 + b"abc" * 4 + b"." * 78
    loop.overwrite(str(path), b"xy", 3)
    assert path.read_bytes()[:8] == b"xyxyxy.."
    with pytest.raises(OSError) as e:
        loop.overwrite(str(path), b"abc", 4, start=90, sync_each=True)
    assert e.value.errno == errno.EIO and e.value.filename == str(path)
    assert os.path.getsize(path) == 100
    with pytest.raises(FileNotFoundError):
        loop.overwrite(str(tmp_path / "missing.log"), b"abc", 1)


def test_c_append_loop_grows_one_file_across_calls(tmp_path):
    """The growing-file floor of interleaved.py: each call appends after what
    the file holds (never truncates), creating it the first time."""
    from conftest import CWriteLoopUnavailable, _build_c_write_loop
    loop = _build_c_write_loop(tmp_path)
    if isinstance(loop, CWriteLoopUnavailable):
        pytest.skip(loop.reason)
    path = tmp_path / "grow.log"
    loop.append(str(path), b"abc", 2, sync_each=True)
    loop.append(str(path), b"de", 3)
    assert path.read_bytes() == b"abcabcdedede"
    with pytest.raises(FileNotFoundError):
        loop.append(str(tmp_path / "no" / "such.log"), b"abc", 1)
