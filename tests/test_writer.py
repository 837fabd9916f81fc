"""LogWriter API behaviour: create, append, reopen checks, properties,
write-through and buffering, add_records, sync, and poisoning after I/O
failures (/dev/full gives ENOSPC; RLIMIT_FSIZE gives EFBIG)."""

import errno
import json
import os
import random
import subprocess
import sys
import textwrap

import pytest

import walx

BLOCK = walx.BLOCK_SIZE
ABSOLUTE = walx.RecoveryMode.ABSOLUTE_CONSISTENCY
# FORMAT.md check values.
FOO_LEGACY = bytes.fromhex("dd5fb37a03000166 6f6f".replace(" ", ""))
FOO_RECYCLABLE_7 = bytes.fromhex("7197df8203000507000000666f6f")


def header_size(recyclable):
    return walx.RECYCLABLE_HEADER_SIZE if recyclable else walx.HEADER_SIZE


def read_all(path, **kw):
    with walx.LogReader(str(path), mode=ABSOLUTE, **kw) as r:
        records = list(r)
        assert r.corruptions == []
        assert r.clean_end
    return records


def os_bytes(path):
    """The file's content as the OS sees it, through a descriptor of our own."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def payloads(seed, n, max_size=80_000):
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        size = rnd.choice([0, 1, rnd.randrange(200), rnd.randrange(max_size)])
        out.append(rnd.randbytes(size))
    return out


# ---- creating and appending -------------------------------------------------------


def test_creates_a_new_file(wal_dir):
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


def test_record_offsets_and_block_offset(wal_dir, recyclable):
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


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_append_continues_the_block_layout(tmp_path, recyclable, seed):
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
def test_append_at_every_block_edge(tmp_path, recyclable, left):
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


def test_append_to_an_empty_existing_file(wal_dir, recyclable):
    path = wal_dir / "000004.log"
    path.write_bytes(b"")
    with walx.LogWriter(path, recyclable=recyclable) as w:
        assert w.size == 0
        w.add_record(b"x")
    assert read_all(path) == [b"x"]


def test_append_after_zero_fill_keeps_every_record(wal_dir):
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


def _write(path, recs, recyclable=False):
    with walx.LogWriter(path, recyclable=recyclable) as w:
        ends = []
        for p in recs:
            w.add_record(p)
            ends.append(w.size)
    return ends


@pytest.mark.parametrize("damage", ["mid_payload", "mid_header", "mid_chain", "garbage"])
def test_reopen_after_damaged_tail_raises(wal_dir, recyclable, damage):
    path = wal_dir / "000008.log"
    ends = _write(path, [b"a" * 100, b"b" * 50_000, b"c" * 200], recyclable)
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
def test_reopen_with_the_other_header_kind_raises(wal_dir, existing):
    path = wal_dir / "000006.log"
    _write(path, [b"x", b"y"], recyclable=existing)
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


def test_properties(wal_dir):
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


def test_context_manager_closes_and_flushes(wal_dir):
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


# ---- write-through and buffering ------------------------------------------------------


def test_write_through_reaches_the_os_before_returning(wal_dir, recyclable):
    path = wal_dir / "000007.log"
    with walx.LogWriter(path, recyclable=recyclable, buffer_size=0) as w:
        w.add_record(b"foo")
        assert os_bytes(path) == (FOO_RECYCLABLE_7 if recyclable else FOO_LEGACY)
        big = random.Random(1).randbytes(100_000)
        w.add_record(big)
        assert len(os_bytes(path)) == w.size
        w.add_records([b"1", b"2"])
        assert len(os_bytes(path)) == w.size
    assert read_all(path) == [b"foo", big, b"1", b"2"]


@pytest.mark.parametrize("how", ["flush", "sync", "sync_all", "close"])
def test_buffered_bytes_reach_the_file_on_flush_sync_or_close(wal_dir, how):
    path = wal_dir / "000001.log"
    w = walx.LogWriter(path, buffer_size=1 << 20)
    try:
        w.add_record(b"foo")
        w.add_records([b"a", b"b"])
        assert w.size == 10 + 2 * 8
        assert os_bytes(path) == b""
        getattr(w, how)()
        assert len(os_bytes(path)) == 26
        assert os_bytes(path)[:10] == FOO_LEGACY
    finally:
        w.close()
    assert read_all(path) == [b"foo", b"a", b"b"]


def test_buffered_bytes_reach_the_file_when_the_buffer_fills(wal_dir):
    path = wal_dir / "000001.log"
    recs = [bytes([i % 256]) * 100 for i in range(200)]
    with walx.LogWriter(path, buffer_size=4096) as w:
        flushed_at = None
        for i, p in enumerate(recs):
            w.add_record(p)
            on_disk = len(os_bytes(path))
            assert on_disk <= w.size
            if w.size < 2048:
                assert on_disk == 0
            if on_disk and flushed_at is None:
                flushed_at = w.size
        assert flushed_at is not None and flushed_at <= 2 * 4096
        assert w.size - len(os_bytes(path)) <= 4096 + BLOCK
    assert read_all(path) == recs


def test_buffered_record_larger_than_the_buffer(wal_dir, recyclable):
    path = wal_dir / "000001.log"
    big = random.Random(2).randbytes(300_000)
    with walx.LogWriter(path, recyclable=recyclable, buffer_size=1000) as w:
        w.add_record(b"x")
        w.add_record(big)
        w.add_record(b"y")
        w.flush()
        assert len(os_bytes(path)) == w.size
    assert read_all(path) == [b"x", big, b"y"]


# ---- add_records -------------------------------------------------------------------------


def test_add_records_accepts_sequences_generators_and_buffers(tmp_path, recyclable):
    recs = payloads(5, 60)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    with walx.LogWriter(a / "000001.log", recyclable=recyclable) as w:
        for p in recs:
            w.add_record(p)
    with walx.LogWriter(b / "000001.log", recyclable=recyclable) as w:
        assert w.add_records(recs[:10]) == 10
        assert w.add_records(tuple(bytearray(p) for p in recs[10:20])) == 10
        assert w.add_records(memoryview(p) for p in recs[20:30]) == 10
        assert w.add_records([]) == 0
        assert w.add_records(iter(recs[30:])) == len(recs) - 30
    assert (b / "000001.log").read_bytes() == (a / "000001.log").read_bytes()


@pytest.mark.parametrize("buffer_size", [0, 1 << 16])
@pytest.mark.parametrize("bad,index", [
    ([b"a", b"b", "c"], 2), ([None], 0), ([b"a", 5, b"c"], 1),
    ([b"ok", memoryview(b"abcdef")[::2]], 1),
])
def test_add_records_bad_element_writes_nothing(wal_dir, bad, index, buffer_size):
    path = wal_dir / "000001.log"
    with walx.LogWriter(path, buffer_size=buffer_size) as w:
        w.add_record(b"before")
        size = w.size
        with pytest.raises(TypeError, match=rf"records\[{index}\]"):
            w.add_records(bad)
        assert w.size == size
        assert not w.poisoned
    assert read_all(path) == [b"before"]


def test_add_records_failing_generator_writes_nothing(wal_dir):
    def gen():
        yield b"a"
        yield b"b"
        raise RuntimeError("source failed")

    path = wal_dir / "000001.log"
    with walx.LogWriter(path) as w:
        with pytest.raises(RuntimeError, match="source failed"):
            w.add_records(gen())
        assert w.size == 0
        w.add_record(b"after")
    assert read_all(path) == [b"after"]


# ---- sync -----------------------------------------------------------------------------


@pytest.mark.parametrize("buffer_size", [0, 1 << 16])
def test_sync_and_sync_all_count_syncs(wal_dir, buffer_size):
    path = wal_dir / "000001.log"
    with walx.LogWriter(path, buffer_size=buffer_size) as w:
        w.add_record(b"one")
        w.sync()
        assert w.syncs_total == 1
        assert len(os_bytes(path)) == w.size
        w.add_record(b"two")
        w.sync_all()
        assert w.syncs_total == 2
        w.add_record(b"three")
        w.sync()
        assert w.syncs_total == 3
        w.sync()                       # nothing new: may share the previous one
        assert 3 <= w.syncs_total <= 4
        assert len(os_bytes(path)) == w.size
    assert read_all(path) == [b"one", b"two", b"three"]


def test_sync_of_a_reopened_file_syncs(wal_dir):
    path = wal_dir / "000001.log"
    _write(path, [b"unsynced"])
    with walx.LogWriter(path) as w:
        w.sync()
        assert w.syncs_total == 1


# ---- poisoning --------------------------------------------------------------------------


def _check_poisoned(w, first):
    assert w.poisoned is True
    for call in (lambda: w.add_record(b"more"), lambda: w.add_records([b"m"]),
                 w.flush, w.sync, w.sync_all):
        with pytest.raises(walx.WalPoisonedError) as ei:
            call()
        assert isinstance(ei.value, walx.WalError)
        assert ei.value.__cause__ is first


def _dev_full_writer(**kw):
    try:
        return walx.LogWriter("/dev/full", **kw)
    except OSError as e:  # pragma: no cover - platform without /dev/full
        pytest.skip(f"cannot open /dev/full: {e}")


def test_write_through_failure_poisons_the_writer():
    w = _dev_full_writer()
    try:
        assert not w.poisoned
        with pytest.raises(OSError) as ei:
            w.add_record(b"x" * 100)
        first = ei.value
        assert not isinstance(first, walx.WalError)
        assert first.errno == errno.ENOSPC
        assert first.filename == "/dev/full"
        _check_poisoned(w, first)
    finally:
        w.close()                     # must not raise WalPoisonedError
    assert w.closed
    w.close()


@pytest.mark.parametrize("how", ["flush", "sync", "sync_all", "fill"])
def test_buffered_failure_poisons_the_writer(how):
    w = _dev_full_writer(buffer_size=4096)
    try:
        w.add_record(b"x" * 10)      # buffered: no write yet
        with pytest.raises(OSError) as ei:
            if how == "fill":
                for _ in range(100):
                    w.add_record(b"y" * 1000)
            else:
                getattr(w, how)()
        first = ei.value
        assert first.errno == errno.ENOSPC
        assert first.filename == "/dev/full"
        _check_poisoned(w, first)
    finally:
        w.close()
    assert w.closed


def test_buffered_failure_at_close_raises_oserror():
    w = _dev_full_writer(buffer_size=4096)
    w.add_record(b"x" * 10)
    with pytest.raises(OSError) as ei:
        w.close()
    assert not isinstance(ei.value, walx.WalPoisonedError)
    assert ei.value.errno == errno.ENOSPC
    assert w.closed
    w.close()


EFBIG_SCRIPT = textwrap.dedent("""
    import json, resource, signal, sys
    import walx
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))
    out = {}
    w = walx.LogWriter(sys.argv[1])
    w.add_record(b"ok")
    try:
        w.add_record(b"x" * 100_000)
    except OSError as e:
        first = e
        out["first"] = [type(e).__name__, e.errno, e.filename]
    for name, call in [("add_record", lambda: w.add_record(b"y")),
                       ("flush", w.flush), ("sync", w.sync)]:
        try:
            call()
            out[name] = None
        except Exception as e:
            out[name] = [type(e).__name__, isinstance(e, walx.WalError),
                         e.__cause__ is first]
    out["poisoned"] = w.poisoned
    try:
        w.close()
        out["close"] = None
    except Exception as e:
        out["close"] = type(e).__name__
    print(json.dumps(out))
""")


def test_efbig_poisons_the_writer_and_leaves_a_torn_tail(wal_dir):
    path = wal_dir / "000001.log"
    proc = subprocess.run([sys.executable, "-c", EFBIG_SCRIPT, str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["first"] == ["OSError", errno.EFBIG, str(path)]
    for name in ("add_record", "flush", "sync"):
        assert out[name] == ["WalPoisonedError", True, True], name
    assert out["poisoned"] is True
    assert out["close"] is None
    # The failed write left a torn record: readers drop it, writers refuse it.
    with walx.LogReader(str(path)) as r:
        assert list(r) == [b"ok"]
        assert r.end_offset == 9
    with pytest.raises(walx.CorruptionError) as ei:
        walx.LogWriter(path)
    assert ei.value.offset == 9


# ---- the two write-through paths: buffer + write(2) below 56 KiB, writev above ----

DIRECT_MIN = 56 * 1024


@pytest.mark.parametrize("recyclable", [False, True], ids=["legacy", "recyclable"])
@pytest.mark.parametrize("lead", [0, 1, 32757, 32761, 32768 - 12])
def test_write_through_sizes_around_the_writev_switch(tmp_path, recyclable, lead):
    # Records just below, at and above the size where a write-through record
    # stops being copied into the buffer, starting at block edges: the file
    # is byte-identical to the oracle's framing either way.
    from walxtest import frame, big_payload
    sizes = [DIRECT_MIN - 1, DIRECT_MIN, DIRECT_MIN + 1, 3 * 32768, 1 << 20, 5, 0]
    records = [big_payload(lead, seed=1)] + [big_payload(n, seed=n) for n in sizes]
    path = tmp_path / "000009.log"
    with walx.LogWriter(path, recyclable=recyclable, log_number=9) as w:
        for r in records:
            w.add_record(r)
    assert path.read_bytes() == frame(records, recyclable=recyclable, log_number=9)
    assert list(walx.LogReader(path)) == records


def test_write_through_direct_path_survives_short_writes_and_eintr(tmp_path):
    # writev(2) of a large record returning short, then EINTR: the loop
    # finishes the record and the file is exact.
    from walxtest import frame, big_payload
    from walx import _testing as T
    records = [big_payload(200_000, seed=3), big_payload(70_000, seed=4)]
    for kind in ("short", "eintr"):
        path = tmp_path / f"{kind}.log"
        with walx.LogWriter(path) as w:
            if kind == "short":
                T.fault_arm("write", 1, short_write=True)
            else:
                T.fault_arm("write", 1, errno.EINTR)
            try:
                for r in records:
                    w.add_record(r)
                assert T.fault_fired() == 1
            finally:
                T.fault_disarm()
        assert path.read_bytes() == frame(records)
