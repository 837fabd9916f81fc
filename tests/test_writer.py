"""LogWriter: creating and appending to a log, reopening a damaged or
mismatched one, overwrite=True, the properties, argument checks, closed
writers, OS errors (errno -> OSError subclass naming the file) and the
ResourceWarning of an unclosed writer. The write paths, sync, poisoning
after I/O failures and threads are test_writer_io.py; the bytes written are
test_format.py."""

import array
import gc
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
import warnings

import pytest

import walx
import walxtest as wt
from walxtest import (DROP_ROOT, header_size_of as header_size, os_bytes,
                      random_payloads as payloads)


BLOCK = walx.BLOCK_SIZE
# The check values of docs/format.md.
FOO_LEGACY = bytes.fromhex("dd5fb37a03000166 6f6f".replace(" ", ""))
FOO_RECYCLABLE_7 = bytes.fromhex("7197df8203000507000000666f6f")


# ---- creating and appending -------------------------------------------------------


def test_new_file_holds_the_format_check_value(wal_dir):
    path = wal_dir / "000001.log"
    with walx.LogWriter(path) as w:
        assert path.exists()
        assert w.size == 0 and w.block_offset == 0
        assert w.add_record(b"foo") == 0
        assert w.size == len(FOO_LEGACY)
    assert path.read_bytes() == FOO_LEGACY


def test_recyclable_record_embeds_the_log_number(wal_dir):
    with walx.LogWriter(wal_dir / "000007.log", recyclable=True) as w:
        assert w.recyclable is True
        w.add_record(b"foo")
    assert (wal_dir / "000007.log").read_bytes() == FOO_RECYCLABLE_7


def test_record_offsets_and_block_offset(wal_dir, recyclable, read_all):
    h = header_size(recyclable)
    with walx.LogWriter(wal_dir / "000003.log", recyclable=recyclable) as w:
        assert w.add_record(b"a" * 10) == 0
        assert w.add_record(b"") == h + 10
        assert w.size == 2 * h + 10
        w.add_record(b"b" * (BLOCK - w.size - h))     # ends exactly on the block end
        assert w.size == BLOCK and w.block_offset == 0
        assert w.add_record(b"c" * 100) == BLOCK
        w.add_record(b"d" * (BLOCK - w.block_offset - h - 3))   # leaves a trailer of 3
        assert w.block_offset == BLOCK - 3
        assert w.add_record(b"e") == 2 * BLOCK         # the trailer is skipped
        assert w.size == 2 * BLOCK + h + 1
        assert w.block_offset == w.size % BLOCK
    assert read_all(wal_dir / "000003.log")[-1] == b"e"


def test_add_record_returns_the_oracle_offset_and_size_follows_it(tmp_path, recyclable):
    rng = random.Random(11)
    recs = [wt.skewed_payload(rng, 16) for _ in range(60)]
    spans = wt.record_ends(recs, recyclable, 1)
    with walx.LogWriter(tmp_path / "x.log", recyclable=recyclable, log_number=1) as w:
        assert (w.size, w.block_offset) == (0, 0)
        for r, (start, end) in zip(recs, spans):
            assert w.add_record(r) == start
            assert w.size == end
            assert w.block_offset == end % BLOCK
    assert w.closed


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_append_continues_the_block_layout(tmp_path, recyclable, seed, read_all):
    recs = payloads(seed, 40)
    one = tmp_path / "one" / "000012.log"
    one.parent.mkdir()
    with walx.LogWriter(one, recyclable=recyclable) as w:
        for p in recs:
            w.add_record(p)
    rnd = random.Random(seed)
    cuts = sorted(rnd.sample(range(1, len(recs)), 4))
    two = tmp_path / "two" / "000012.log"
    two.parent.mkdir()
    for lo, hi in zip([0] + cuts, cuts + [len(recs)]):
        before = two.stat().st_size if two.exists() else 0
        with walx.LogWriter(two, recyclable=recyclable) as w:
            assert w.size == before
            assert w.block_offset == before % BLOCK
            for p in recs[lo:hi]:
                w.add_record(p)
    assert two.read_bytes() == one.read_bytes()
    assert read_all(two) == recs


@pytest.mark.parametrize("left", [0, 1, 6, 7, 8, 10, 11, 12])
def test_append_at_every_block_edge(tmp_path, recyclable, left, read_all):
    h = header_size(recyclable)
    first = [b"a" * 100, b"b" * (BLOCK - 2 * h - 100 - left)]
    second = [b"", b"c" * 50, b"d" * 70_000]
    one, two = tmp_path / "one" / "000002.log", tmp_path / "two" / "000002.log"
    one.parent.mkdir(), two.parent.mkdir()
    with walx.LogWriter(one, recyclable=recyclable) as w:
        for p in first + second:
            w.add_record(p)
    with walx.LogWriter(two, recyclable=recyclable) as w:
        for p in first:
            w.add_record(p)
        assert w.size == BLOCK - left
    with walx.LogWriter(two, recyclable=recyclable) as w:
        assert w.block_offset == (BLOCK - left) % BLOCK
        offset = w.add_record(second[0])
        assert offset == (BLOCK if left < h else BLOCK - left)
        for p in second[1:]:
            w.add_record(p)
    assert two.read_bytes() == one.read_bytes()
    assert read_all(two) == first + second


def test_append_to_an_empty_existing_file(wal_dir, recyclable, read_all):
    path = wal_dir / "000004.log"
    path.write_bytes(b"")
    with walx.LogWriter(path, recyclable=recyclable) as w:
        assert w.size == 0
        w.add_record(b"x")
    assert read_all(path) == [b"x"]


def test_append_after_zero_fill_keeps_every_record(wal_dir, read_all):
    """Preallocated (zero) space after the last record: the writer either
    refuses (CorruptionError) or appends where readers will find it."""
    for zeros in (100, BLOCK - 27):
        path = wal_dir / f"{zeros}.log"
        with walx.LogWriter(path) as w:
            w.add_record(b"a" * 20)
        with open(path, "ab") as f:
            f.write(b"\0" * zeros)
        try:
            w = walx.LogWriter(path)
        except walx.CorruptionError as e:
            assert e.offset == 27
            continue
        with w:
            w.add_record(b"new")
        assert read_all(path) == [b"a" * 20, b"new"]


# ---- reopening a damaged or mismatched file -------------------------------------------


@pytest.mark.parametrize("damage", ["mid_payload", "mid_header", "mid_chain", "garbage"])
def test_reopen_after_damaged_tail_raises(wal_dir, recyclable, damage, write_log):
    path = wal_dir / "000008.log"
    ends = [end for _, end in write_log(path, [b"a" * 100, b"b" * 50_000, b"c" * 200],
                                         recyclable=recyclable)]
    data = path.read_bytes()
    if damage == "mid_payload":
        data, valid_end = data[:ends[2] - 50], ends[1]
    elif damage == "mid_header":
        data, valid_end = data[:ends[1] + 3], ends[1]
    elif damage == "mid_chain":                       # the 50 KB record lost its LAST
        data, valid_end = data[:BLOCK + 1000], ends[0]
    else:
        data, valid_end = data + bytes(range(1, 200)), ends[2]
    path.write_bytes(data)
    with pytest.raises(walx.CorruptionError) as ei:
        walx.LogWriter(path, recyclable=recyclable)
    e = ei.value
    assert e.path == str(path)
    assert e.offset == valid_end
    assert str(path) in str(e)
    assert str(valid_end) in str(e)
    assert "walx.repair" in str(e)
    assert path.read_bytes() == data, "a refused open must not touch the file"


@pytest.mark.parametrize("existing", [False, True])
def test_reopen_with_the_other_header_kind_raises(wal_dir, existing, read_all, write_log):
    path = wal_dir / "000006.log"
    write_log(path, [b"x", b"y"], recyclable=existing)
    with pytest.raises(ValueError, match="recyclable"):
        walx.LogWriter(path, recyclable=not existing)
    assert read_all(path) == [b"x", b"y"]


def test_recyclable_log_number_must_match_the_file_name(wal_dir):
    with pytest.raises(ValueError, match="log_number"):
        walx.LogWriter(wal_dir / "000005.log", recyclable=True, log_number=6)
    with walx.LogWriter(wal_dir / "000005.log", recyclable=True, log_number=5) as w:
        assert w.log_number == 5


def test_recyclable_reopen_with_another_log_number_is_refused(wal_dir):
    path = wal_dir / "journal.log"
    with walx.LogWriter(path, recyclable=True, log_number=5) as w:
        w.add_record(b"x")
    with pytest.raises(ValueError, match="holds records of log number 5, not 6; "
                                         "pass log_number=5"):
        walx.LogWriter(path, recyclable=True, log_number=6)
    with pytest.raises(ValueError, match="log number 5, not 0"):
        walx.LogWriter(path, recyclable=True)        # journal.log names no number
    with walx.LogWriter(path, recyclable=True, log_number=5) as w:
        w.add_record(b"y")
    with walx.LogReader(path, log_number=5) as r:
        assert list(r) == [b"x", b"y"] and r.clean_end


@pytest.mark.parametrize("new_size", [40, 4])
def test_recycled_file_with_older_records_is_refused_for_append(wal_dir, new_size):
    # A file written over by a newer log (overwrite=True, as recycling does)
    # ends, for readers, where the older log's bytes begin. Appending at the
    # end of the file would put records where no reader looks; repair cuts
    # the older bytes, and then appending works.
    path = wal_dir / "journal.log"
    with walx.LogWriter(path, recyclable=True, log_number=3) as w:
        for _ in range(5):
            w.add_record(b"o" * 40)               # 51 bytes each
    with walx.LogWriter(path, recyclable=True, log_number=4, overwrite=True) as w:
        w.add_record(b"n" * new_size)
    before = path.read_bytes()
    end = 11 + new_size
    # 40: an intact record of log 3 follows; 4: the middle of one.
    match = (f"from offset {end} of 255 belong to log number 3" if new_size == 40
             else f"valid data ends at offset {end} of 255")
    with pytest.raises(walx.CorruptionError, match=match) as ei:
        walx.LogWriter(path, recyclable=True, log_number=4)
    assert ei.value.offset == end and ei.value.path == str(path)
    assert path.read_bytes() == before
    assert [c.offset for c in walx.repair(path)] == [end]
    with walx.LogWriter(path, recyclable=True, log_number=4) as w:
        w.add_record(b"more")
    with walx.LogReader(path, log_number=4) as r:
        assert list(r) == [b"n" * new_size, b"more"] and r.clean_end


def test_recyclable_tail_damage_is_still_corruption(wal_dir):
    path = wal_dir / "journal.log"
    with walx.LogWriter(path, recyclable=True, log_number=5) as w:
        w.add_record(b"x" * 100)
        w.add_record(b"y" * 100)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF                                 # the last record's CRC fails
    path.write_bytes(bytes(data))
    with pytest.raises(walx.CorruptionError, match="does not end cleanly"):
        walx.LogWriter(path, recyclable=True, log_number=5)


# ---- overwrite=True: writing a recycled or preallocated file from offset 0 ------------


def test_overwrite_writes_from_offset_zero_over_a_recyclable_file(tmp_path):
    p = tmp_path / "000005.log"
    with walx.LogWriter(tmp_path / "000004.log", recyclable=True) as w:
        for i in range(50):
            w.add_record(b"old-%d" % i)
    os.rename(tmp_path / "000004.log", p)
    with walx.LogWriter(p, recyclable=True, overwrite=True) as w:
        assert w.size == 0 and w.block_offset == 0
        assert w.add_record(b"new") == 0
    with walx.LogReader(p) as r:
        assert list(r) == [b"new"]
        assert r.corruptions == []


def test_overwrite_of_a_legacy_log_needs_a_zero_filled_file(tmp_path):
    p = tmp_path / "a.log"
    with walx.LogWriter(p) as w:
        w.add_record(b"old record")
    with pytest.raises(ValueError, match="overwrite=True"):
        walx.LogWriter(p, overwrite=True)
    z = tmp_path / "z.log"
    z.write_bytes(bytes(100_000))
    with walx.LogWriter(z, overwrite=True) as w:
        w.add_record(b"fresh")
    with walx.LogReader(z, mode=walx.RecoveryMode.ABSOLUTE_CONSISTENCY) as r:
        assert list(r) == [b"fresh"]
    with pytest.raises(FileNotFoundError):
        walx.LogWriter(tmp_path / "missing.log", overwrite=True)
    with pytest.raises(TypeError, match="overwrite"):
        walx.LogWriter(tmp_path / "b.log", overwrite=1)


# ---- properties ---------------------------------------------------------------------


@pytest.mark.parametrize("name,number", [
    ("000042.log", 42), ("000042.wal", 42), ("7.log", 7), ("18446744073709551615.log", 2**64 - 1),
    ("journal.log", 0), ("x42.log", 0), ("000042.log.bak", 0), ("000042", 0),
])
def test_default_log_number_comes_from_the_file_name(wal_dir, name, number):
    with walx.LogWriter(wal_dir / name) as w:
        assert w.log_number == number


def test_explicit_log_number_is_embedded_low_32_bits(wal_dir):
    with walx.LogWriter(wal_dir / "j.log", recyclable=True, log_number=(5 << 32) | 9) as w:
        assert w.log_number == (5 << 32) | 9
        w.add_record(b"z")
    assert (wal_dir / "j.log").read_bytes()[7:11] == (9).to_bytes(4, "little")
    for number in ((5 << 32) | 9, 9):
        with walx.LogReader(str(wal_dir / "j.log"), log_number=number) as r:
            assert list(r) == [b"z"]
    with walx.LogReader(str(wal_dir / "j.log"), log_number=10) as r:
        assert list(r) == []


def test_properties_report_the_settings_and_survive_close(wal_dir):
    path = wal_dir / "000002.log"
    w = walx.LogWriter(path, buffer_size=4096)
    try:
        assert os.fspath(w.path) == str(path)
        assert w.log_number == 2
        assert w.recyclable is False
        assert w.buffer_size == 4096
        assert w.closed is False
        assert w.poisoned is False
        assert w.syncs_total == 0
        assert os.fstat(w.fileno()).st_ino == path.stat().st_ino
        w.add_record(b"abc")
        assert (w.size, w.block_offset) == (10, 10)
    finally:
        w.close()
    assert w.closed is True
    assert w.size == 10
    with pytest.raises(walx.WalClosedError):
        w.fileno()
    with walx.LogWriter(str(path)) as w2:
        assert w2.buffer_size == 0
        assert w2.size == 10


def test_writer_reports_path_log_number_and_header_kind(tmp_path, recyclable):
    path = tmp_path / "x.log"
    with walx.LogWriter(path, recyclable=recyclable, log_number=42) as w:
        assert w.path == str(path)
        assert w.log_number == 42
        assert w.recyclable is recyclable
        assert not w.closed
    assert w.closed


def test_context_manager_closes_and_flushes(wal_dir, read_all):
    path = wal_dir / "000001.log"
    with walx.LogWriter(path, buffer_size=1 << 20) as w:
        assert isinstance(w, walx.LogWriter)
        w.add_record(b"foo")
        assert os_bytes(path) == b""
    assert w.closed
    assert path.read_bytes() == FOO_LEGACY
    with pytest.raises(KeyError):
        with walx.LogWriter(path, buffer_size=1 << 20) as w:
            w.add_record(b"bar")
            raise KeyError("boom")
    assert w.closed
    assert read_all(path) == [b"foo", b"bar"]


def test_close_is_idempotent(wal_dir):
    w = walx.LogWriter(wal_dir / "000001.log")
    w.add_record(b"x")
    w.close()
    w.close()
    assert w.closed
    with pytest.raises(walx.WalClosedError):
        with w:
            pass


# ---- argument types and values ------------------------------------------------------

WRITER_ARGS = [
    ({"buffer_size": -1}, ValueError, "buffer_size"),
    ({"buffer_size": 1.5}, TypeError, "buffer_size"),
    ({"buffer_size": "10"}, TypeError, "buffer_size"),
    ({"buffer_size": True}, TypeError, "buffer_size"),
    ({"buffer_size": None}, TypeError, "buffer_size"),
    ({"log_number": -1}, ValueError, "log_number"),
    ({"log_number": 2**64}, ValueError, "log_number"),
    ({"log_number": "3"}, TypeError, "log_number"),
    ({"log_number": 3.0}, TypeError, "log_number"),
    ({"log_number": True}, TypeError, "log_number"),
    ({"recyclable": 1}, TypeError, "recyclable"),
    ({"recyclable": None}, TypeError, "recyclable"),
    ({"recyclable": "yes"}, TypeError, "recyclable"),
]


@pytest.mark.parametrize("kwargs,exc,name", WRITER_ARGS, ids=lambda x: repr(x)[:30])
def test_bad_options_raise_naming_them_before_the_file_is_created(wal_dir, kwargs, exc, name):
    path = wal_dir / "000001.log"
    with pytest.raises(exc, match=name):
        walx.LogWriter(path, **kwargs)
    assert not path.exists(), "argument errors must be raised before the file is created"


@pytest.mark.parametrize("path,exc", [
    (123, TypeError), (None, TypeError), (1.5, TypeError), ([b"x"], TypeError),
    ("", ValueError), ("a\0b.log", ValueError),
])
def test_bad_path_raises_naming_path(path, exc):
    with pytest.raises(exc, match="path"):
        walx.LogWriter(path)


def test_writer_options_are_keyword_only(wal_dir):
    with pytest.raises(TypeError):
        walx.LogWriter(wal_dir / "000001.log", 5)
    with pytest.raises(TypeError):
        walx.LogWriter(wal_dir / "000001.log", nonsense=1)


def test_writer_accepts_bytes_and_pathlike_paths(wal_dir):
    with walx.LogWriter(os.fsencode(wal_dir / "000003.log")) as w:
        assert w.log_number == 3
        w.add_record(b"x")
    with walx.LogWriter(wal_dir / "000003.log") as w:
        assert w.size == 8


def test_buffer_size_above_one_gib_is_refused_before_allocating(tmp_path):
    with pytest.raises(ValueError, match="buffer_size"):
        walx.LogWriter(tmp_path / "big.log", buffer_size=(1 << 30) + 1)
    assert not (tmp_path / "big.log").exists()
    with pytest.raises(ValueError, match="buffer_size"):
        walx.WalManager(tmp_path / "m", buffer_size=(1 << 30) + 1)


@pytest.mark.parametrize("data", ["abc", 123, None, 1.5, [b"a"], memoryview(b"abcdef")[::2]],
                         ids=lambda x: type(x).__name__)
@pytest.mark.parametrize("buffer_size", [0, 4096])
def test_add_record_of_a_non_buffer_raises_and_writes_nothing(wal_dir, data, buffer_size):
    with walx.LogWriter(wal_dir / "000001.log", buffer_size=buffer_size) as w:
        with pytest.raises(TypeError, match="data"):
            w.add_record(data)
        assert w.size == 0 and not w.poisoned
        w.add_record(b"still fine")


def test_add_record_accepts_any_contiguous_buffer(wal_dir):
    with walx.LogWriter(wal_dir / "000001.log") as w:
        w.add_record(bytearray(b"ab"))
        w.add_record(memoryview(b"xcdx")[1:3])
        w.add_record(array.array("B", b"ef"))
    with walx.LogReader(str(wal_dir / "000001.log")) as r:
        assert list(r) == [b"ab", b"cd", b"ef"]


@pytest.mark.parametrize("records", [b"abc", bytearray(b"abc"), "abc", 5, None])
def test_add_records_of_a_non_iterable_or_a_bytes_object_raises(wal_dir, records):
    with walx.LogWriter(wal_dir / "000001.log") as w:
        with pytest.raises(TypeError, match="records"):
            w.add_records(records)
        assert w.size == 0


# ---- closed and unclosed writers --------------------------------------------------------

WRITER_METHODS = {
    "add_record": lambda w: w.add_record(b"x"),
    "add_records": lambda w: w.add_records([b"x"]),
    "flush": lambda w: w.flush(),
    "sync": lambda w: w.sync(),
    "sync_all": lambda w: w.sync_all(),
    "fileno": lambda w: w.fileno(),
    "enter": lambda w: w.__enter__(),
}


@pytest.mark.parametrize("method", sorted(WRITER_METHODS))
@pytest.mark.parametrize("buffer_size", [0, 4096])
def test_closed_writer_raises_wal_closed_error(wal_dir, method, buffer_size):
    w = walx.LogWriter(wal_dir / "000001.log", buffer_size=buffer_size)
    w.add_record(b"before")
    w.close()
    with pytest.raises(walx.WalClosedError) as ei:
        WRITER_METHODS[method](w)
    assert isinstance(ei.value, ValueError)
    assert isinstance(ei.value, walx.WalError)
    w.close()
    assert w.closed and w.size == 13 and not w.poisoned
    with walx.LogReader(str(wal_dir / "000001.log")) as r:
        assert list(r) == [b"before"]


@pytest.mark.parametrize("buffer_size", [0, 4096])
def test_unclosed_writer_emits_resource_warning(wal_dir, buffer_size):
    path = wal_dir / "000001.log"
    with pytest.warns(ResourceWarning, match="unclosed walx.LogWriter") as rec:
        w = walx.LogWriter(path, buffer_size=buffer_size)
        w.add_record(b"x")
        del w
        gc.collect()
    assert any(str(path) in str(x.message) for x in rec)


def test_closed_writer_emits_no_warning(wal_dir):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        w = walx.LogWriter(wal_dir / "000001.log")
        w.add_record(b"x")
        w.close()
        del w
        gc.collect()
    assert [x for x in rec if issubclass(x.category, ResourceWarning)] == []


# ---- OS errors ----------------------------------------------------------------------------


def test_directory_as_path_raises_is_a_directory_error_naming_it(wal_dir):
    with pytest.raises(IsADirectoryError) as ei:
        walx.LogWriter(wal_dir)
    assert ei.value.filename == str(wal_dir)
    with pytest.raises(IsADirectoryError) as ei:
        with walx.LogReader(str(wal_dir)) as r:
            list(r)
    assert ei.value.filename == str(wal_dir)


def test_missing_parent_directory_raises_file_not_found_naming_the_path(wal_dir):
    path = wal_dir / "missing" / "000001.log"
    with pytest.raises(FileNotFoundError) as ei:
        walx.LogWriter(path)
    assert ei.value.filename == str(path)
    assert not path.parent.exists()


def test_parent_that_is_a_file_raises_not_a_directory_error(wal_dir):
    (wal_dir / "file").write_bytes(b"")
    path = wal_dir / "file" / "000001.log"
    with pytest.raises(NotADirectoryError) as ei:
        walx.LogWriter(path)
    assert ei.value.filename == str(path)


PERMISSION_SCRIPT = textwrap.dedent("""
    import json, os, sys
    import walx
""") + DROP_ROOT + textwrap.dedent("""
    out = {}
    d = sys.argv[1]
    for name, call in [
        ("reader", lambda: walx.LogReader(os.path.join(d, "000001.log"))),
        ("writer_existing", lambda: walx.LogWriter(os.path.join(d, "000001.log"))),
        ("writer_new", lambda: walx.LogWriter(os.path.join(d, "ro", "000002.log"))),
    ]:
        try:
            call().close()
            out[name] = None
        except Exception as e:
            out[name] = [type(e).__name__, getattr(e, "errno", None), getattr(e, "filename", None)]
    print(json.dumps(out))
""")


def test_unreadable_file_and_read_only_directory_raise_permission_error():
    """A file without permissions and a read-only directory give
    PermissionError. Root bypasses permissions, so as root the check runs
    in a child process that drops to uid/gid 65534 (nobody)."""
    d = tempfile.mkdtemp(prefix="walx-perm-")
    try:
        os.chmod(d, 0o755)
        with walx.LogWriter(os.path.join(d, "000001.log")) as w:
            w.add_record(b"secret")
        os.chmod(os.path.join(d, "000001.log"), 0)
        os.mkdir(os.path.join(d, "ro"))
        os.chmod(os.path.join(d, "ro"), 0o555)
        proc = subprocess.run([sys.executable, "-c", PERMISSION_SCRIPT, d],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        if "skip" in out:
            pytest.skip(out["skip"])
        assert out["reader"] == ["PermissionError", 13, os.path.join(d, "000001.log")]
        assert out["writer_existing"] == ["PermissionError", 13, os.path.join(d, "000001.log")]
        assert out["writer_new"] == ["PermissionError", 13, os.path.join(d, "ro", "000002.log")]
    finally:
        if os.path.isdir(os.path.join(d, "ro")):
            os.chmod(os.path.join(d, "ro"), 0o755)
        shutil.rmtree(d)
