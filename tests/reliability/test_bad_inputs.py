"""Bad input, tried and listed: each entry of BAD_INPUTS is one distinct bad
input through the API or the command line, with its own test (the
parametrized test_bad_input[ID]). docs/reliability.md lists them with their
results, and test_docs_table_lists_every_bad_input checks that the table
there is the one BAD_INPUTS gives (printing it on a mismatch).

The unit tests (test_batch.py, test_writer.py, test_reader.py,
test_manager.py, test_cli.py) already cover the argument types and ranges of
every constructor and method, closed writers and readers, missing files and
parents, permission errors of LogWriter and LogReader and CLI usage errors;
the inputs here are the ones they do not.
"""

import errno
import inspect
import json
import os
import pathlib
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
import tracemalloc

import pytest

import walx
from walxhelpers import run_cli as cli
from walxtest import DATA, DROP_ROOT

import reliability

RM = walx.RecoveryMode
REPO = pathlib.Path(__file__).resolve().parents[2]
BAD_INPUTS = []        # (id, surface, input, expected result)


def bad_input(surface, what, expect):
    def register(fn):
        BAD_INPUTS.append((fn.__name__[5:], surface, what, expect, fn))
        return fn
    return register


AS_NOBODY = textwrap.dedent("""
    import json, os, sys
    # Import everything first: the interpreter's own files may not be
    # readable by uid 65534.
    import argparse, logging, shutil, walx
    from walx import _cli
""") + DROP_ROOT + textwrap.dedent("""
    def outcome(fn):
        try:
            return {"ok": repr(fn())}
        except Exception as e:
            return {"exc": type(e).__name__, "errno": getattr(e, "errno", None),
                    "filename": getattr(e, "filename", None)}
    d = sys.argv[1]
""")


def as_nobody(body, d):
    """Run `body` (which prints JSON) as uid 65534: root ignores permissions."""
    proc = subprocess.run([sys.executable, "-c", AS_NOBODY + textwrap.dedent(body), d],
                          capture_output=True, text=True, timeout=120, cwd=d)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    if "skip" in out:
        pytest.skip(out["skip"])
    return out, proc.stderr


@pytest.fixture
def public_tmp():
    """A directory that uid 65534 can enter (pytest's tmp_path is 0700)."""
    d = tempfile.mkdtemp(prefix="walx-bad-")
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        for root, dirs, _ in os.walk(d):
            for x in dirs:
                os.chmod(os.path.join(root, x), 0o755)
        shutil.rmtree(d)


# ---- WriteBatch ---------------------------------------------------------------------------

@bad_input("API", "`WriteBatch(-1)`, `WriteBatch(2**64)`", "ValueError naming `sequence`")
def case_batch_sequence_out_of_range(tmp_path):
    for bad in (-1, 2**64):
        with pytest.raises(ValueError, match="sequence"):
            walx.WriteBatch(bad)


@bad_input("API", "`WriteBatch(\"1\")`, `WriteBatch(True)`, `WriteBatch(1.0)`",
           "TypeError naming `sequence`")
def case_batch_sequence_wrong_type(tmp_path):
    for bad in ("1", True, 1.0):
        with pytest.raises(TypeError, match="sequence"):
            walx.WriteBatch(bad)


@bad_input("API", "`put(\"key\", b\"v\")` (str key), `put(b\"k\", 5)` (int value)",
           "TypeError naming `key`/`value`; the batch is unchanged")
def case_batch_put_wrong_types(tmp_path):
    b = walx.WriteBatch(1)
    with pytest.raises(TypeError, match="key"):
        b.put("key", b"v")
    with pytest.raises(TypeError, match="value"):
        b.put(b"k", 5)
    with pytest.raises(TypeError, match="key"):
        b.delete(1)
    assert len(b) == 0 and b.encode() == walx.WriteBatch(1).encode()


@bad_input("API", "`delete_with_pre_image(b\"k\", [\"x\"])` (a list as pre-image)",
           "TypeError naming `pre_image`; the batch is unchanged")
def case_batch_pre_image_wrong_type(tmp_path):
    b = walx.WriteBatch(1)
    with pytest.raises(TypeError, match="pre_image"):
        b.delete_with_pre_image(b"k", ["x"])
    assert len(b) == 0


@bad_input("API", "a batch at sequence 2**64-1 given a second operation",
           "ValueError (sequence overflow); the batch keeps its first operation")
def case_batch_sequence_overflow(tmp_path):
    b = walx.WriteBatch(2**64 - 1)
    b.put(b"a", b"1")
    with pytest.raises(ValueError, match="2\\*\\*64"):
        b.put(b"b", b"2")
    assert len(b) == 1 and b.last_seq == 2**64 - 1


@bad_input("API", "a 2-record batch at sequence 2**64-1 (last_seq would run past 2**64-1; "
           "found by fuzz_batch)", "CorruptionError at offset 0, as building it raises "
           "ValueError (it was accepted, with last_seq wrapped to 0)")
def case_decode_sequence_overflow(tmp_path):
    data = struct.pack("<QI", 2**64 - 1, 2) + b"\x01\x01a\x01b" + b"\x01\x01c\x01d"
    with pytest.raises(walx.CorruptionError) as ei:
        walx.WriteBatch.decode(data)
    assert ei.value.offset == 0
    # One record at 2**64-1 is fine.
    one = struct.pack("<QI", 2**64 - 1, 1) + b"\x01\x01a\x01b"
    assert walx.WriteBatch.decode(one).last_seq == 2**64 - 1


@bad_input("API", "`WriteBatch.decode(b\"\")` and every prefix shorter than the header",
           "CorruptionError at offset 0")
def case_decode_short(tmp_path, batch):
    data = batch(7).encode()
    for n in range(12):
        with pytest.raises(walx.CorruptionError) as ei:
            walx.WriteBatch.decode(data[:n])
        assert ei.value.offset == 0


@bad_input("API", "a 21-byte batch claiming 4,294,967,295 records (huge claimed count)",
           "CorruptionError at once, allocating < 64 KiB")
def case_decode_huge_count(tmp_path):
    data = struct.pack("<QI", 1, 0xFFFFFFFF) + b"\x01\x00\x00" * 3
    tracemalloc.start()
    try:
        with pytest.raises(walx.CorruptionError, match="count"):
            walx.WriteBatch.decode(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024


@bad_input("API", "a batch whose key length varint claims 2**63-1 bytes (huge claimed length)",
           "CorruptionError: runs past the end")
def case_decode_huge_key_length(tmp_path):
    data = struct.pack("<QI", 1, 1) + b"\x01" + b"\xff" * 8 + b"\x7f" + b"k"
    with pytest.raises(walx.CorruptionError, match="past the end"):
        walx.WriteBatch.decode(data)


@bad_input("API", "an 11-byte varint; a 10-byte varint over 64 bits",
           "CorruptionError: overlong varint")
def case_decode_overlong_varint(tmp_path):
    head = struct.pack("<QI", 1, 1) + b"\x01"
    for varint in (b"\x80" * 10 + b"\x01", b"\xff" * 9 + b"\x02"):
        with pytest.raises(walx.CorruptionError):
            walx.WriteBatch.decode(head + varint + b"k\x00")


@bad_input("API", "a valid batch followed by one trailing byte; an unknown op byte 2",
           "CorruptionError (trailing bytes / unknown op)")
def case_decode_trailing_and_unknown_op(tmp_path, batch):
    with pytest.raises(walx.CorruptionError, match="trailing"):
        walx.WriteBatch.decode(batch(1).encode() + b"x")
    bad = bytearray(batch(1).encode())
    bad[12] = 2
    with pytest.raises(walx.CorruptionError, match="op"):
        walx.WriteBatch.decode(bytes(bad))


@bad_input("API", "`WriteBatch.decode(\"text\")`, `decode(None)`, a strided memoryview",
           "TypeError naming `data`")
def case_decode_wrong_types(tmp_path):
    for bad in ("text", None, memoryview(b"x" * 24)[::2]):
        with pytest.raises(TypeError, match="data"):
            walx.WriteBatch.decode(bad)


# ---- LogReader and LogWriter --------------------------------------------------------------

@bad_input("API", "a record header claiming 65,535 payload bytes in a 107-byte source",
           "bad record length: tail dropped and recorded (TOLERATE); CorruptionError "
           "(ABSOLUTE)")
def case_reader_huge_claimed_record_length(tmp_path):
    data = b"\x00\x00\x00\x00\xff\xff\x01" + b"x" * 100
    with walx.LogReader(data) as r:
        assert list(r) == []
        assert [(c.offset, c.reason) for c in r.corruptions] == [(0, "bad record length")]
    with pytest.raises(walx.CorruptionError):
        list(walx.LogReader(data, mode=RM.ABSOLUTE_CONSISTENCY))


@bad_input("API", "a FIRST/MIDDLE chain claiming to continue past the end of the file",
           "incomplete chain: dropped as a torn tail, no record returned")
def case_reader_unfinished_huge_chain(tmp_path):
    p = tmp_path / "000001.log"
    with walx.LogWriter(p) as w:
        w.add_record(b"ok")
        w.add_record(os.urandom(200_000))
    os.truncate(p, 100_000)
    with walx.LogReader(str(p)) as r:
        assert list(r) == [b"ok"]
        assert r.corruptions[0].reason.startswith("incomplete")
        assert r.corruptions[0].offset == r.end_offset


@bad_input("API", "40,000 bytes of 0xFF", "no record; damage recorded; ABSOLUTE raises")
def case_reader_all_ff(tmp_path):
    data = b"\xff" * 40_000
    for mode in (RM.TOLERATE_CORRUPTED_TAIL, RM.POINT_IN_TIME, RM.SKIP_ANY_CORRUPTED):
        with walx.LogReader(data, mode=mode) as r:
            assert list(r) == [] and r.corruptions
    with pytest.raises(walx.CorruptionError):
        list(walx.LogReader(data, mode=RM.ABSOLUTE_CONSISTENCY))


@bad_input("API", "a 256 MiB sparse file (all holes)",
           "read as zero fill: no record, no damage, memory stays < 8 MiB")
def case_reader_huge_sparse_file(tmp_path):
    p = tmp_path / "000001.log"
    with open(p, "wb") as f:
        f.truncate(256 << 20)
    tracemalloc.start()
    try:
        with walx.LogReader(str(p)) as r:
            assert list(r) == [] and r.corruptions == []
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


@bad_input("API", "`LogReader(\"/dev/zero\")` (an endless device)",
           "ends at once with no record (reads only the size it had at open)")
def case_reader_dev_zero(tmp_path):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    with walx.LogReader("/dev/zero") as r:
        assert list(r) == []


@bad_input("API", "a symlink loop as the path of LogReader, LogWriter and WalManager.recover_from_dir",
           "OSError ELOOP naming the path")
def case_symlink_loop(tmp_path):
    p = tmp_path / "000001.wal"
    os.symlink(p, p)
    for call in (lambda: walx.LogReader(str(p)), lambda: walx.LogWriter(p)):
        with pytest.raises(OSError) as ei:
            call()
        assert ei.value.errno == errno.ELOOP and ei.value.filename == str(p)
    assert walx.WalManager.recover_from_dir(tmp_path)[0] == []    # not a regular file


_FIFO_SCRIPT = textwrap.dedent("""
    import json, os, sys
    import walx
    from walx import _cli
    d = sys.argv[1]
    fifo = os.path.join(d, "000001.wal")
    out = {}
    for name, call in (("reader", lambda: walx.LogReader(fifo)),
                       ("writer", lambda: walx.LogWriter(fifo)),
                       ("repair", lambda: walx.repair(fifo))):
        try:
            call()
            out[name] = None
        except OSError as e:
            out[name] = [e.errno, e.strerror, e.filename]
    out["verify_file"] = _cli.main(["verify", fifo])
    out["verify_dir"] = _cli.main(["verify", d])
    out["recover"] = [b.sequence for b in walx.WalManager.iter_recover(d)]
    print(json.dumps(out))
""")


@bad_input("API", "a FIFO as the path of LogReader, LogWriter, repair, `walx verify` (file "
           "and directory) and WalManager recovery",
           "OSError EINVAL \"a FIFO or socket, not a log file\" naming the path, at once "
           "(no open or read waits for the FIFO's other end); `verify FILE` exits 2 naming "
           "it; `verify DIR` and recovery skip it")
def case_fifo(tmp_path, batch, write_log):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no mkfifo")
    os.mkfifo(tmp_path / "000001.wal")
    write_log(tmp_path / "000002.wal", [batch(7)])
    # In a child with a time limit: a regression would block forever.
    proc = subprocess.run([sys.executable, "-c", _FIFO_SCRIPT, str(tmp_path)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    fifo = str(tmp_path / "000001.wal")
    refused = [errno.EINVAL, "a FIFO or socket, not a log file", fifo]
    assert out["reader"] == out["writer"] == out["repair"] == refused
    assert out["verify_file"] == 2
    assert out["verify_dir"] == 0       # a directory means its regular log files, as in recovery
    assert proc.stderr.count(f"{fifo}: a FIFO or socket, not a log file") == 1, proc.stderr
    assert out["recover"] == [7]


@bad_input("API", "a 300-byte file name", "OSError ENAMETOOLONG naming the path")
def case_name_too_long(tmp_path):
    p = str(tmp_path / ("x" * 300))
    with pytest.raises(OSError) as ei:
        walx.LogWriter(p)
    assert ei.value.errno == errno.ENAMETOOLONG and ei.value.filename == p


@bad_input("API", "a real RocksDB log cut at every 97th byte",
           "TOLERATE: a prefix of the records, never an error; ABSOLUTE: CorruptionError "
           "unless the cut falls between records")
def case_truncated_real_log(tmp_path):
    src = os.path.join(DATA, "rocksdb_legacy", "000004.log")
    with open(src, "rb") as f:
        data = f.read()
    full, ends = [], {0}
    with walx.LogReader(data) as r:
        for rec in r:
            full.append(rec)
            ends.add(r.end_offset)
    for cut in range(0, len(data), 97):
        part = data[:cut]
        with walx.LogReader(part) as r:
            got = list(r)
        assert got == full[:len(got)]
        if cut in ends:
            assert list(walx.LogReader(part, mode=RM.ABSOLUTE_CONSISTENCY)) == got
        elif any(part[max(e for e in ends if e <= cut):]):
            with pytest.raises(walx.CorruptionError):
                list(walx.LogReader(part, mode=RM.ABSOLUTE_CONSISTENCY))


@bad_input("API", "a file truncated under an open reader",
           "the reader ends early (a torn tail), no crash")
def case_file_truncated_while_reading(tmp_path, batch):
    p = tmp_path / "000001.log"
    with walx.LogWriter(p) as w:
        for s in range(1, 1001):
            w.add_record(batch(s, size=3000).encode())     # 3 MB: several read windows
    r = walx.LogReader(str(p))
    try:
        first = r.read_record()
        os.truncate(p, 40_000)
        rest = list(r)
    finally:
        r.close()
    assert first == batch(1, size=3000).encode()
    assert 0 < len(rest) < 999
    assert all(x == batch(i + 2, size=3000).encode() for i, x in enumerate(rest))


@bad_input("API", "random bytes named 000001.wal in a manager directory",
           "recovery raises CorruptionError or returns nothing; recover_and_open sets "
           "the damage aside (kept as 000001.wal.broken) and never appends to it")
def case_random_file_in_manager_dir(tmp_path, batch):
    d = tmp_path / "wal"
    d.mkdir()
    data = random.Random(3).randbytes(100_000)
    (d / "000001.wal").write_bytes(data)
    for mode in RM:
        try:
            assert walx.WalManager.recover_from_dir(d, mode=mode)[0] == []
        except walx.CorruptionError:
            pass
    before = reliability.log_snapshot(d)
    m, rec = walx.WalManager.recover_and_open(d, mode=RM.SKIP_ANY_CORRUPTED)
    with m:
        assert rec.batches == [] and m.log_number == 2
        m.append(batch(1))
    reliability.check_never_appended(d, before, "random file")
    assert [b.sequence for b in walx.WalManager.recover_from_dir(d)[0]] == [1]


# ---- WalManager ---------------------------------------------------------------------------

@bad_input("API", "`WalManager(path)` and `recover_from_dir(path)` where path is a regular file",
           "NotADirectoryError naming it")
def case_manager_dir_is_a_file(tmp_path):
    p = tmp_path / "afile"
    p.write_bytes(b"x")
    with pytest.raises(NotADirectoryError) as ei:
        walx.WalManager(p)
    assert ei.value.filename == str(p)
    with pytest.raises(NotADirectoryError) as ei:
        walx.WalManager.recover_from_dir(p)
    assert ei.value.filename == str(p)


@bad_input("API", "a directory named 000001.wal where the manager would create its log",
           "FileExistsError naming it; the lock is released")
def case_manager_log_name_is_a_directory(tmp_path):
    d = tmp_path / "wal"
    (d / "000001.wal").mkdir(parents=True)
    for call in (lambda: walx.WalManager(d), lambda: walx.WalManager.recover_and_open(d)):
        with pytest.raises(FileExistsError) as ei:
            call()
        assert ei.value.filename == str(d / "000001.wal")
    with walx.WalManager(d, 2):                   # not locked out
        pass


@bad_input("API", "a dangling symlink named 000002.wal in a manager directory",
           "recovery ignores it (not a regular file)")
def case_manager_dangling_symlink(tmp_path, batch, write_log):
    d = tmp_path / "wal"
    d.mkdir()
    write_log(d / "000001.wal", [batch(1), batch(2)])
    os.symlink(tmp_path / "nowhere", d / "000002.wal")
    assert [b.sequence for b in walx.WalManager.recover_from_dir(d)[0]] == [1, 2]
    m, rec = walx.WalManager.recover_and_open(d)
    with m:
        assert m.log_number == 2 or m.log_number == 3
        m.append(batch(3))


@bad_input("API", "`walx.repair(dir)` where dir holds a dangling symlink named 000002.wal",
           "skipped, as recovery skips it; the torn log beside it is repaired")
def case_repair_dir_with_dangling_symlink(tmp_path, batch, write_log):
    d = tmp_path / "wal"
    d.mkdir()
    write_log(d / "000001.wal", [batch(1), batch(2)])
    os.truncate(d / "000001.wal", os.path.getsize(d / "000001.wal") - 3)
    os.symlink(tmp_path / "nowhere", d / "000002.wal")
    cut = walx.repair(d)
    assert [c.path for c in cut] == [str(d / "000001.wal")]


@bad_input("API", "`mark_flushed_seq(2**64)`, `WalManager(d, 2**64-1)`, `preallocate=2**41`",
           "ValueError naming the argument; nothing changes")
def case_manager_values_out_of_range(tmp_path, batch):
    d = tmp_path / "wal"
    with walx.WalManager(d) as m:
        m.append(batch(1))
        with pytest.raises(ValueError, match="seq"):
            m.mark_flushed_seq(2**64)
        assert m.flushed_seq == 0
    with pytest.raises(ValueError, match="initial_log_number"):
        walx.WalManager(tmp_path / "w2", 2**64 - 1)
    with pytest.raises(ValueError, match="preallocate"):
        walx.WalManager(tmp_path / "w3", preallocate=2**41)
    assert not (tmp_path / "w3").exists()


@bad_input("API", "`recover_and_open(d, bogus=1)` (an unknown option)",
           "TypeError naming the option; the directory is untouched")
def case_recover_and_open_unknown_option(tmp_path, batch, write_log):
    d = tmp_path / "wal"
    d.mkdir()
    write_log(d / "000001.wal", [batch(1)])
    with pytest.raises(TypeError, match="bogus"):
        walx.WalManager.recover_and_open(d, bogus=1)
    assert sorted(os.listdir(d)) == ["000001.wal"]


@bad_input("API", "`repair(p, dry_run=\"yes\")`; `repair(missing path)`",
           "TypeError naming `dry_run`; FileNotFoundError naming the path")
def case_repair_bad_arguments(tmp_path, batch, write_log):
    p = tmp_path / "000001.wal"
    write_log(p, [batch(1)])
    with pytest.raises(TypeError, match="dry_run"):
        walx.repair(p, dry_run="yes")
    with pytest.raises(FileNotFoundError) as ei:
        walx.repair(tmp_path / "000009.wal")
    assert ei.value.filename == str(tmp_path / "000009.wal")


@bad_input("API", "`repair` of a log damaged in the middle (valid records after the damage)",
           "CorruptionError; the file is untouched and no .broken copy is made; in a "
           "directory, no other log is cut either")
def case_repair_refuses_mid_file_damage(tmp_path, batch, write_log):
    p = tmp_path / "000001.wal"
    write_log(p, [batch(s) for s in range(1, 2001)])   # 2 blocks
    data = bytearray(p.read_bytes())
    data[10] ^= 0xFF                       # block 0: the first record's payload
    p.write_bytes(bytes(data))
    with pytest.raises(walx.CorruptionError):
        walx.repair(p)
    assert p.read_bytes() == bytes(data)
    assert not (tmp_path / "000001.wal.broken").exists()
    # In a directory: a torn log before it and one after it stay as they
    # are too; every tail is cut or nothing is.
    for n in (0, 2):
        write_log(tmp_path / f"00000{n}.wal", [batch(1), batch(2)])
        with open(tmp_path / f"00000{n}.wal", "ab") as f:
            f.write(b"\x01\x02\x03")                 # a torn tail
    before = {x: (tmp_path / x).read_bytes() for x in os.listdir(tmp_path)}
    with pytest.raises(walx.CorruptionError) as ei:
        walx.repair(tmp_path)
    assert ei.value.path == str(p)
    assert {x: (tmp_path / x).read_bytes() for x in os.listdir(tmp_path)} == before
    (tmp_path / "000001.wal").unlink()
    cut = walx.repair(tmp_path)
    assert [(os.path.basename(c.path), c.size) for c in cut] == [("000000.wal", 3),
                                                                  ("000002.wal", 3)]


@bad_input("API", "double open: `recover_and_open` on a directory a live manager holds",
           "WalLockedError; no log is created; the holder keeps working")
def case_double_open(tmp_path, batch):
    d = tmp_path / "wal"
    with walx.WalManager(d) as m:
        m.append(batch(1))
        with pytest.raises(walx.WalLockedError):
            walx.WalManager.recover_and_open(d)
        assert sorted(os.listdir(d)) == ["000001.wal", "LOCK"]
        m.append(batch(2))
    assert [b.sequence for b in walx.WalManager.recover_from_dir(d)[0]] == [1, 2]


@bad_input("API", "use after close: a manager used after its `with` block",
           "WalClosedError for append/sync/rotate and a second `with`; properties still "
           "readable")
def case_manager_use_after_with(tmp_path, batch):
    with walx.WalManager(tmp_path / "wal") as m:
        m.append(batch(1))
    for call in (lambda: m.append(batch(2)), m.sync, m.rotate, m.__enter__):
        with pytest.raises(walx.WalClosedError):
            call()
    assert m.closed and m.metrics["appends_total"] == 1 and m.log_number == 1


@bad_input("API", "use after close: a recovery iterator whose directory is deleted mid-way",
           "the batches already read stay valid; the next file fails with "
           "FileNotFoundError naming it")
def case_iter_recover_directory_deleted(tmp_path, batch):
    d = tmp_path / "wal"
    with walx.WalManager(d) as m:
        m.append(batch(1))
        m.rotate()
        m.append(batch(2))
    it = walx.WalManager.iter_recover(d)
    assert next(it).sequence == 1
    shutil.rmtree(d)
    with pytest.raises(FileNotFoundError) as ei:
        next(it)
    assert ei.value.filename == str(d / "000002.wal")


@bad_input("API", "a read-only manager directory (as uid 65534)",
           "PermissionError naming the LOCK file")
def case_manager_read_only_dir(public_tmp):
    d = os.path.join(public_tmp, "wal")
    os.mkdir(d)
    os.chmod(d, 0o555)
    out, _ = as_nobody("""
        print(json.dumps(outcome(lambda: walx.WalManager(os.path.join(d, "wal")))))
    """, public_tmp)
    assert out == {"exc": "PermissionError", "errno": errno.EACCES,
                   "filename": os.path.join(d, "LOCK")}


@bad_input("API", "an unreadable log in a manager directory (as uid 65534)",
           "PermissionError naming the log, from recover_from_dir and recover_and_open")
def case_manager_unreadable_log(public_tmp, write_log, batch):
    d = os.path.join(public_tmp, "wal")
    os.mkdir(d)
    os.chmod(d, 0o777)
    write_log(os.path.join(d, "000001.wal"), [batch(1)])
    os.chmod(os.path.join(d, "000001.wal"), 0)
    out, _ = as_nobody("""
        w = os.path.join(d, "wal")
        print(json.dumps([outcome(lambda: walx.WalManager.recover_from_dir(w)),
                          outcome(lambda: walx.WalManager.recover_and_open(w))]))
    """, public_tmp)
    want = {"exc": "PermissionError", "errno": errno.EACCES,
            "filename": os.path.join(d, "000001.wal")}
    assert out == [want, want]


# ---- command line -------------------------------------------------------------------------

@bad_input("CLI", "`walx dump LOOP` where LOOP is a symlink loop", "exit 2, stderr names it")
def case_cli_dump_symlink_loop(tmp_path, capsys):
    p = tmp_path / "000001.wal"
    os.symlink(p, p)
    rc, _, err = cli(capsys, "dump", p)
    assert rc == 2 and str(p) in err


@bad_input("CLI", "`walx verify FILE/` (a regular file used as a directory)",
           "exit 2, stderr names it")
def case_cli_verify_file_as_directory(tmp_path, capsys, batch, write_log):
    p = tmp_path / "000001.wal"
    write_log(p, [batch(1)])
    rc, _, err = cli(capsys, "verify", str(p) + "/")
    assert rc == 2 and str(p) in err


@bad_input("CLI", "`walx verify DIR` where DIR holds a directory named 000001.wal",
           "exit 2, stderr names DIR: the entry is no log file (recovery skips it too) and "
           "DIR holds no other")
def case_cli_verify_directory_named_like_a_log(tmp_path, capsys):
    (tmp_path / "000001.wal").mkdir()
    rc, _, err = cli(capsys, "verify", tmp_path)
    assert rc == 2 and f"{tmp_path}: no <digits>.wal" in err


@bad_input("CLI", "`walx stats RANDOM` (5,000 random bytes)",
           "exit 1 (damage), stderr names the file and offset")
def case_cli_stats_random_file(tmp_path, capsys):
    p = tmp_path / "000001.wal"
    p.write_bytes(random.Random(1).randbytes(5000))
    rc, _, err = cli(capsys, "stats", p)
    assert rc == 1 and str(p) in err and "offset" in err


@bad_input("CLI", "`walx verify TRUNCATED` (a real RocksDB log cut mid-record)",
           "exit 1, stderr names the file and the offset of the torn record")
def case_cli_verify_truncated(tmp_path, capsys):
    p = tmp_path / "000004.log"
    with open(os.path.join(DATA, "rocksdb_legacy", "000004.log"), "rb") as f:
        p.write_bytes(f.read()[:3000])
    rc, _, err = cli(capsys, "verify", p)
    assert rc == 1 and str(p) in err and "offset" in err


@bad_input("CLI", "`walx verify \"\"` (an empty path)", "exit 2, stderr says what is wrong")
def case_cli_empty_path(tmp_path, capsys):
    rc, _, err = cli(capsys, "verify", "")
    assert rc == 2 and "walx verify" in err


@bad_input("CLI", "`walx dump FILE` of an unreadable file (as uid 65534)",
           "exit 2, stderr names the file")
def case_cli_dump_unreadable(public_tmp, batch, write_log):
    p = os.path.join(public_tmp, "000001.wal")
    write_log(p, [batch(1)])
    os.chmod(p, 0)
    out, err = as_nobody("""
        print(json.dumps({"rc": _cli.main(["dump", os.path.join(d, "000001.wal")])}))
    """, public_tmp)
    assert out == {"rc": 2} and p in err


@bad_input("CLI", "`walx repair FILE` in a read-only directory (as uid 65534): the .broken "
           "copy cannot be made", "exit 2, stderr names the file; the log is untouched")
def case_cli_repair_read_only_directory(public_tmp, batch, write_log):
    d = os.path.join(public_tmp, "ro")
    os.mkdir(d)
    p = os.path.join(d, "000001.wal")
    write_log(p, [batch(1), batch(2)])
    os.truncate(p, os.path.getsize(p) - 3)
    with open(p, "rb") as f:
        before = f.read()
    os.chmod(p, 0o666)
    os.chmod(d, 0o555)
    out, err = as_nobody("""
        print(json.dumps({"rc": _cli.main(["repair", os.path.join(d, "ro", "000001.wal")])}))
    """, public_tmp)
    assert out == {"rc": 2} and p in err
    with open(p, "rb") as f:
        assert f.read() == before
    assert not os.path.exists(p + ".broken")


@bad_input("CLI", "`walx stats /dev/null` (an empty device)", "exit 0: an empty log")
def case_cli_stats_dev_null(tmp_path, capsys):
    rc, _, _ = cli(capsys, "stats", "/dev/null")
    assert rc == 0


# ---- the tests -------------------------------------------------------------------------------

@pytest.mark.parametrize("case", [pytest.param(c[4], id=c[0], marks=getattr(c[4], "pytestmark", []))
                                  for c in BAD_INPUTS])
def test_bad_input(case, request):
    args = {name: request.getfixturevalue(name)
            for name in inspect.signature(case).parameters}
    case(**args)


def test_at_least_30_distinct_bad_inputs():
    assert len({c[0] for c in BAD_INPUTS}) == len(BAD_INPUTS) >= 30
    reliability.record("bad_inputs", len(BAD_INPUTS),
                       api=sum(c[1] == "API" for c in BAD_INPUTS),
                       cli=sum(c[1] == "CLI" for c in BAD_INPUTS))


def markdown_table():
    rows = ["| # | surface | bad input | result |", "|---|---|---|---|"]
    for i, (ident, surface, what, expect, _) in enumerate(BAD_INPUTS, 1):
        rows.append(f"| {i} | {surface} | {what} | {expect} |")
    return "\n".join(rows)


def test_docs_table_lists_every_bad_input():
    """docs/reliability.md, section 6, lists exactly the bad inputs tried
    here, in this order, with their results: the table is checked, not
    written, by the suite."""
    doc = (REPO / "docs" / "reliability.md").read_text()
    table = markdown_table()
    assert table in doc, ("docs/reliability.md, section 6, must hold this table "
                          "(between its intro and '## Library issues'):\n" + table)
