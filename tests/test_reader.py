"""LogReader: sources (paths, bytes-like), the properties, offsets, log
numbers (from the argument, the file name or the first record), the record
types a reader skips, argument checks, closed readers, missing files,
garbage in bounded memory, and threads. What the reader does with damage, in
each RecoveryMode, is test_reader_damage.py."""

import os
import random
import shutil
import subprocess
import struct
import sys
import tempfile
import textwrap
import threading
import tracemalloc

import pytest

import walx
import walxtest as wt
from walxhelpers import read_log
from walxtest import header_size_of as hsize, make_record, run_threads

BLOCK = walx.BLOCK_SIZE
LN = 7
M = walx.RecoveryMode
ALL_MODES = list(M)
SKIP = M.SKIP_ANY_CORRUPTED


def damage(r):
    return [(c.offset, c.size, c.reason) for c in r.corruptions]


# ---- sources and properties -------------------------------------------------------


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "str", "pathlib"])
def test_reader_reads_bytes_like_and_paths(tmp_path, recyclable, kind, write_log):
    rng = random.Random(31)
    recs = [wt.skewed_payload(rng) for _ in range(70)] + [b""]
    path = tmp_path / "000009.log"
    write_log(path, recs, recyclable=recyclable, log_number=9)
    data = path.read_bytes()
    source = {"bytes": data, "bytearray": bytearray(data), "memoryview": memoryview(data),
              "str": str(path), "pathlib": path}[kind]
    assert read_log(source)[0] == recs


def test_reader_reads_multi_window_file(tmp_path, recyclable, write_log):
    recs = [wt.big_payload(n, n) for n in (5 * 1024 * 1024, 7, 2 * 1024 * 1024 + 3, 0)]
    path = tmp_path / "x.log"
    write_log(path, recs, recyclable=recyclable)
    data = path.read_bytes()
    assert read_log(path)[0] == recs
    assert read_log(data)[0] == recs


def test_reader_reads_oracle_framing(recyclable):
    rng = random.Random(41)
    recs = [wt.skewed_payload(rng) for _ in range(50)]
    data = wt.frame(recs, recyclable, 77)
    with walx.LogReader(data) as r:
        assert list(r) == recs
        assert r.header_size == hsize(recyclable)
        assert r.recyclable is recyclable
        assert r.log_number == (77 if recyclable else None)
        assert r.file_size == len(data)
        assert r.end_offset == len(data)
        assert r.clean_end
        assert r.corruptions == []


def test_reader_of_empty_source_returns_nothing():
    with walx.LogReader(b"") as r:
        assert r.read_record() is None
        assert r.header_size == 0
        assert r.end_offset == 0
        assert r.last_record_offset is None
        assert r.clean_end


def test_reader_reports_mode_path_size_log_number_and_header_kind(tmp_path, recyclable):
    data = wt.frame([b"a"], recyclable, 7)
    path = tmp_path / "000007.log"
    path.write_bytes(data)
    with walx.LogReader(path, mode=walx.RecoveryMode.POINT_IN_TIME) as r:
        assert r.mode is walx.RecoveryMode.POINT_IN_TIME
        assert r.path == str(path)
        assert r.file_size == len(data)
        assert r.log_number == 7
        assert not r.closed
        assert list(r) == [b"a"]
        assert r.header_size == (11 if recyclable else 7)
        assert r.recyclable is recyclable
        assert r.clean_end
    assert r.closed
    with pytest.raises(walx.WalClosedError):
        r.read_record()


def test_end_offset_and_last_record_offset(recyclable):
    b = wt.LogBuilder(recyclable, LN)
    spans = [b.add(p) for p in (b"a", wt.big_payload(BLOCK + 5, 3), b"", b"d")]
    with walx.LogReader(b.data + b"\x01\x02") as r:
        assert (r.last_record_offset, r.end_offset) == (None, 0)
        for start, end in spans:
            assert r.read_record() is not None
            assert (r.last_record_offset, r.end_offset) == (start, end)
        assert r.read_record() is None
        assert (r.last_record_offset, r.end_offset) == spans[-1]
        assert r.read_record() is None


def test_end_offset_stops_before_mid_file_damage(recyclable):
    b = wt.LogBuilder(recyclable, LN)
    _, end = b.add(b"a")
    bad, _ = b.add(b"b")
    b.pad_to_block()
    b.add(b"c")
    records, r = read_log(wt.increment_byte(b.data, bad + b.hs), M.POINT_IN_TIME)
    assert records == [b"a"]
    assert r.end_offset == end


def _outcome(source, mode):
    with walx.LogReader(source, mode=mode) as r:
        try:
            records = list(r)
            error = None
        except walx.CorruptionError as e:
            records, error = None, (e.offset, e.reason)
        return records, error, damage(r), r.end_offset


@pytest.mark.parametrize("seed", range(4))
def test_file_and_bytes_sources_agree_on_damaged_multi_window_log(tmp_path, recyclable, seed):
    rng = random.Random(seed)
    b = wt.LogBuilder(recyclable, LN)
    while len(b.buf) < 3 * 1024 * 1024:
        b.add(wt.skewed_payload(rng, 18))
    data = b.data
    for _ in range(6):
        data = wt.increment_byte(data, rng.randrange(len(data)), rng.randrange(1, 256))
    path = tmp_path / "log.bin"
    path.write_bytes(data)
    for mode in ALL_MODES:
        from_bytes = _outcome(data, mode)
        records, error, entries, end = _outcome(path, mode)
        assert (records, error, entries, end) == from_bytes


# ---- log numbers ---------------------------------------------------------------------


def test_log_number_argument_mismatch_ends_log():
    data = wt.frame([b"a", b"b"], True, LN)
    for mode in ALL_MODES:
        records, r = read_log(data, mode, log_number=LN + 1)
        assert records == []
        assert r.corruptions == []
        assert r.log_number == LN + 1
    assert read_log(data, SKIP, log_number=LN)[0] == [b"a", b"b"]
    assert read_log(data, SKIP, log_number=(5 << 32) | LN)[0] == [b"a", b"b"]
    assert read_log(wt.frame([b"a", b"b"], False), SKIP, log_number=99)[0] == [b"a", b"b"]


def test_log_number_inferred_from_first_record_for_bytes():
    with walx.LogReader(wt.frame([b"a"], True, 1234)) as r:
        assert r.log_number is None
        assert list(r) == [b"a"]
        assert r.log_number == 1234


@pytest.mark.parametrize("name, expected", [
    ("000007.log", [b"a", b"b"]), ("7.wal", [b"a", b"b"]), ("000008.log", []),
    ("000008.wal", []), ("other.log", [b"a", b"b"]), ("000008.log.bak", [b"a", b"b"]),
])
def test_log_number_inferred_from_file_name(tmp_path, name, expected):
    path = tmp_path / name
    path.write_bytes(wt.frame([b"a", b"b"], True, LN))
    records, r = read_log(path, M.ABSOLUTE_CONSISTENCY)
    assert records == expected
    assert r.corruptions == []


def test_log_number_argument_overrides_file_name(tmp_path):
    path = tmp_path / "000008.log"
    path.write_bytes(wt.frame([b"a"], True, LN))
    assert read_log(path, SKIP, log_number=LN)[0] == [b"a"]


@pytest.mark.parametrize("mode", ALL_MODES, ids=lambda m: m.name)
def test_record_with_other_log_number_ends_recyclable_log(mode):
    b = wt.LogBuilder(True, LN)
    b.add(b"first")
    _, end = b.add(b"second")
    b.add(b"stale", log_number=LN - 1)
    b.add(b"own number again")
    records, r = read_log(b.data, mode)
    assert records == [b"first", b"second"]
    assert r.corruptions == []
    assert r.end_offset == end
    assert not r.clean_end


@pytest.mark.parametrize("mode", ALL_MODES, ids=lambda m: m.name)
def test_damage_then_stale_log_number_is_end_of_log(mode):
    b = wt.LogBuilder(True, LN)
    b.add(b"first")
    bad, _ = b.add(b"torn")
    b.add(b"stale", log_number=LN - 1)
    records, r = read_log(wt.increment_byte(b.data, bad + 12), mode)
    assert records == [b"first"]
    assert r.corruptions == []


def test_recyclable_meta_record_with_other_log_number_ends_the_log():
    b = wt.LogBuilder(True, LN)
    b.add(b"first")
    b.add_physical(11, b"\x00" * 6, log_number=LN + 1)
    b.add(b"second")
    records, r = read_log(b.data, M.ABSOLUTE_CONSISTENCY)
    assert records == [b"first"]
    assert r.corruptions == []


# ---- recyclable logs: stale bytes of an older log, or this log's damage ------------


def outcome(data, mode, **kw):
    """(records, [(offset, reason)], raised CorruptionError offset or None)."""
    got = []
    r = walx.LogReader(data, mode=mode, **kw)
    try:
        for rec in r:
            got.append(rec)
        raised = None
    except walx.CorruptionError as e:
        raised = e.offset
    return got, [(c.offset, c.reason) for c in r.corruptions], raised


@pytest.mark.parametrize("mode", list(M), ids=lambda m: m.name)
def test_recycled_log_with_torn_first_record_ends_silently(mode):
    # A recycled file: the new log's first write was torn after 200 bytes,
    # and the old log's bytes follow. The first header's type says the log
    # is recyclable (RocksDB sets its recycled flag from it before checking
    # the CRC), so what follows is the end of the log in every mode.
    old = wt.LogBuilder(True, 3)
    for i in range(20):
        old.add(bytes([i]) * 300)
    new_first = wt.physical(5, b"N" * 500, log_number=4)
    data = new_first[:200] + old.data[200:]
    assert outcome(data, mode, log_number=4) == ([], [], None)
    assert outcome(data, mode) == ([], [], None)              # log number not known


def test_legacy_log_with_damaged_first_record_is_still_damage():
    b = wt.LogBuilder(False)
    b.add(b"x" * 300)
    b.add(b"y" * 300)
    data = wt.increment_byte(b.data, 20)                    # the first payload
    assert outcome(data, M.TOLERATE_CORRUPTED_TAIL)[1:] == ([(0, "checksum mismatch")], None)
    assert outcome(data, M.ABSOLUTE_CONSISTENCY)[2] == 0


@pytest.mark.parametrize("mode", list(M), ids=lambda m: m.name)
def test_recyclable_damage_followed_by_this_logs_fragment_is_recorded(mode):
    # FULL "a", then a FIRST whose CRC fails, then its LAST, intact and
    # carrying this log's number: the damage is this log's (stale bytes
    # cannot carry its number), so it is tail damage as in a legacy log,
    # not a silent end.
    for recyclable in (False, True):
        b = wt.LogBuilder(recyclable, LN)
        b.add(b"a")
        first, _ = b.add(b"X" * 40000)                  # FIRST in block 0, LAST in block 1
        data = wt.increment_byte(b.data, first + b.hs + 5)
        got, damage, raised = outcome(data, mode, log_number=LN)
        assert damage == [(first, "checksum mismatch")], recyclable
        if mode is M.ABSOLUTE_CONSISTENCY:
            assert raised == first
        else:
            assert (got, raised) == ([b"a"], None)


@pytest.mark.parametrize("mode", list(M), ids=lambda m: m.name)
def test_recyclable_undecodable_batch_at_the_tail_is_recorded(tmp_path, mode):
    # An intact record of this log whose batch does not decode is damage of
    # this log (never stale bytes), in a recyclable log as in a legacy one.
    good = walx.WriteBatch(1)
    good.put(b"k", b"v")
    bad = bytearray(walx.WriteBatch(2).encode())
    bad[11] = 1                                       # count 1, no record
    for recyclable in (False, True):
        b = wt.LogBuilder(recyclable, 1)
        b.add(good.encode())
        start, _ = b.add(bytes(bad))
        path = tmp_path / f"{int(recyclable)}" / "000001.wal"
        path.parent.mkdir()
        path.write_bytes(b.data)
        got, damage, raised = outcome(str(path), mode, codec="walx")
        assert [d[0] for d in damage] == [start], recyclable
        if mode is M.ABSOLUTE_CONSISTENCY:
            assert raised == start
        else:
            assert ([g.sequence for g in got], raised) == ([1], None)


# ---- records a reader skips: ignorable and meta types, zero fill -------------------------


@pytest.mark.parametrize("t", [0x80, 0x85, 0xC8, 0xFF])
def test_type_with_bit_7_is_skipped_silently(recyclable, t):
    b = wt.LogBuilder(recyclable, LN)
    b.add(b"first")
    b.add_physical(t, b"ignorable")
    b.add(b"third")
    for mode in ALL_MODES:
        records, r = read_log(b.data, mode)
        assert records == [b"first", b"third"]
        assert r.corruptions == []
        assert r.clean_end


@pytest.mark.parametrize("recyclable, types", [(False, (10, 130)), (True, (11, 131))],
                         ids=["legacy-10-130", "recyclable-11-131"])
def test_meta_record_types_are_skipped_silently(recyclable, types):
    b = wt.LogBuilder(recyclable, LN)
    b.add(b"first")
    b.add_physical(types[0], b"\x00\x00\x00\x00\x08\x00", log_number=(LN if recyclable else None))
    b.add(b"second")
    b.add_physical(types[1], b"predecessor", log_number=(LN if recyclable else None))
    for mode in ALL_MODES:
        records, r = read_log(b.data, mode)
        assert records == [b"first", b"second"]
        assert r.corruptions == []
        assert r.clean_end


@pytest.mark.parametrize("mode", ALL_MODES, ids=lambda m: m.name)
def test_compression_type_9_raises_wal_error(recyclable, mode):
    b = wt.LogBuilder(recyclable, LN)
    b.add(b"first")
    off, _ = b.add_physical(9, b"\x01")
    b.add(b"second")
    with walx.LogReader(b.data, mode=mode) as r:
        assert r.read_record() == b"first"
        with pytest.raises(walx.WalError, match="compressed WAL is not supported") as ei:
            r.read_record()
        assert not isinstance(ei.value, walx.CorruptionError)
        with pytest.raises(walx.WalError, match="compressed WAL is not supported"):
            r.read_record()


def test_zero_fill_skips_to_next_block(recyclable):
    b = wt.LogBuilder(recyclable, LN)
    b.add(b"first")
    b.add_bytes(bytes(b.hs))
    b.add(b"same block, after zero fill")
    b.pad_to_block()
    b.add(b"next block")
    for mode in ALL_MODES:
        records, r = read_log(b.data, mode)
        assert records == [b"first", b"next block"]
        assert r.corruptions == []


def test_zero_filled_blocks_between_valid_records(recyclable):
    b = wt.LogBuilder(recyclable, LN)
    b.add(b"first")
    b.pad_to_block()
    b.add_bytes(bytes(2 * BLOCK))
    start, _ = b.add(b"after the gap")
    assert start == 3 * BLOCK
    b.add(b"last")
    for mode in ALL_MODES:
        records, r = read_log(b.data, mode)
        assert records == [b"first", b"after the gap", b"last"]
        assert r.corruptions == []
        assert r.clean_end


def test_preallocated_zero_tail_ends_cleanly(recyclable):
    b = wt.LogBuilder(recyclable, LN)
    b.add(b"first")
    b.add_bytes(bytes(3 * BLOCK))
    for mode in ALL_MODES:
        records, r = read_log(b.data, mode)
        assert records == [b"first"]
        assert r.corruptions == []


# ---- options: checksums and max_record_size --------------------------------------------


def test_verify_checksums_false_returns_record_with_bad_crc(recyclable):
    b = wt.LogBuilder(recyclable, LN)
    b.add(b"first")
    bad, _ = b.add(b"second")
    b.pad_to_block()
    b.add(b"third")
    data = wt.set_byte(b.data, bad + b.hs, ord("S"))
    records, r = read_log(data, M.ABSOLUTE_CONSISTENCY, verify_checksums=False)
    assert records == [b"first", b"Second", b"third"]
    assert r.corruptions == []
    with pytest.raises(walx.CorruptionError, match="checksum mismatch"):
        read_log(data, M.ABSOLUTE_CONSISTENCY)


def test_record_larger_than_max_record_size(recyclable):
    b = wt.LogBuilder(recyclable, LN)
    b.add(b"a" * 50)
    bad, end = b.add(b"b" * 51)
    b.add(b"c" * 10)
    records, r = read_log(b.data, SKIP, max_record_size=50)
    assert records == [b"a" * 50, b"c" * 10]
    assert damage(r) == [(bad, end - bad, "record larger than max_record_size")]
    with walx.LogReader(b.data, max_record_size=50) as r:
        assert r.read_record() == b"a" * 50
        with pytest.raises(walx.CorruptionError, match="max_record_size") as ei:
            r.read_record()
        assert ei.value.offset == bad


def test_fragmented_record_larger_than_max_record_size(recyclable):
    b = wt.LogBuilder(recyclable, LN)
    b.add(b"a")
    bad, end = b.add(wt.big_payload(2 * BLOCK, 2))
    b.add(b"c")
    records, r = read_log(b.data, SKIP, max_record_size=BLOCK)
    assert records == [b"a", b"c"]
    assert [(c.offset, c.size) for c in r.corruptions] == [(bad, end - bad)]
    assert "max_record_size" in r.corruptions[0].reason
    assert read_log(b.data, SKIP, max_record_size=2 * BLOCK)[0][1] == wt.big_payload(2 * BLOCK, 2)


@pytest.mark.parametrize("mode", ALL_MODES, ids=lambda m: m.name)
def test_max_record_size_limits_allocation(mode):
    big = random.Random(1).randbytes(3 << 20)
    data = walx_bytes([b"small", big, b"after"])
    tracemalloc.start()
    try:
        try:
            with walx.LogReader(data, mode=mode, max_record_size=1000) as r:
                records = list(r)
            assert big not in records
            assert records[:1] == [b"small"]
            assert r.corruptions
        except walx.CorruptionError as e:
            assert e.offset == 5 + walx.HEADER_SIZE
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, peak


# ---- arguments, closed readers, missing files -------------------------------------------

READER_ARGS = [
    ({"mode": "x"}, TypeError, "mode"),
    ({"mode": 0}, TypeError, "mode"),
    ({"mode": None}, TypeError, "mode"),
    ({"mode": "TOLERATE_CORRUPTED_TAIL"}, TypeError, "mode"),
    ({"max_record_size": 0}, ValueError, "max_record_size"),
    ({"max_record_size": -1}, ValueError, "max_record_size"),
    ({"max_record_size": 1.5}, TypeError, "max_record_size"),
    ({"max_record_size": True}, TypeError, "max_record_size"),
    ({"log_number": -1}, ValueError, "log_number"),
    ({"log_number": "1"}, TypeError, "log_number"),
    ({"log_number": True}, TypeError, "log_number"),
    ({"verify_checksums": 1}, TypeError, "verify_checksums"),
    ({"verify_checksums": None}, TypeError, "verify_checksums"),
]


@pytest.mark.parametrize("kwargs,exc,name", READER_ARGS, ids=lambda x: repr(x)[:30])
@pytest.mark.parametrize("kind", ["path", "bytes"])
def test_bad_options_raise_naming_them(tmp_path, kwargs, exc, name, kind):
    path = tmp_path / "000001.log"
    path.write_bytes(b"")
    with pytest.raises(exc, match=name):
        walx.LogReader(str(path) if kind == "path" else b"", **kwargs)


@pytest.mark.parametrize("source,exc", [
    (123, TypeError), (None, TypeError), (1.5, TypeError), ("", ValueError),
    (memoryview(b"abcdef")[::2], TypeError),
])
def test_bad_source_raises_naming_source(source, exc):
    with pytest.raises(exc, match="source"):
        walx.LogReader(source)


READER_METHODS = {
    "iter": lambda r: iter(r),
    "list": lambda r: list(r),
    "next": lambda r: next(r),
    "read_record": lambda r: r.read_record(),
    "enter": lambda r: r.__enter__(),
}


@pytest.mark.parametrize("method", sorted(READER_METHODS))
@pytest.mark.parametrize("kind", ["path", "bytes"])
def test_closed_reader_raises_wal_closed_error(wal_dir, method, kind):
    path = wal_dir / "000001.log"
    with walx.LogWriter(path) as w:
        w.add_records([b"a", b"b"])
    r = walx.LogReader(str(path) if kind == "path" else path.read_bytes())
    r.close()
    with pytest.raises(walx.WalClosedError):
        READER_METHODS[method](r)
    r.close()


def test_iterator_of_a_reader_closed_mid_way_raises_wal_closed_error(wal_dir):
    path = wal_dir / "000001.log"
    with walx.LogWriter(path) as w:
        w.add_records([b"a", b"b", b"c"])
    r = walx.LogReader(str(path))
    it = iter(r)
    assert next(it) == b"a"
    r.close()
    with pytest.raises(walx.WalClosedError):
        next(it)


def test_missing_file_raises_file_not_found_naming_it(wal_dir):
    path = wal_dir / "000404.log"
    with pytest.raises(FileNotFoundError) as ei:
        walx.LogReader(str(path))
    assert ei.value.filename == str(path)
    assert ei.value.errno == 2


# ---- garbage files ---------------------------------------------------------------------------


def _garbage(kind):
    rnd = random.Random(kind)
    if kind == "random":
        return rnd.randbytes(300_000)
    if kind == "all_ff":
        return b"\xff" * 100_000
    if kind == "huge_length_truncated":
        return (0).to_bytes(4, "little") + b"\xff\xff\x01" + b"x" * 100
    if kind == "huge_length_first":
        return (0).to_bytes(4, "little") + b"\xff\xff\x02" + rnd.randbytes(3 * BLOCK)
    if kind == "valid_then_random":
        return walx_bytes([b"a" * 100, b"b" * 40_000]) + rnd.randbytes(50_000)
    if kind == "valid_crc_random_types":
        return _valid_crc_soup(rnd)
    if kind == "short_header":
        return b"\x01\x02\x03"
    raise AssertionError(kind)


def walx_bytes(records):
    d = tempfile.mkdtemp()
    try:
        with walx.LogWriter(os.path.join(d, "x.log")) as w:
            w.add_records(records)
        with open(os.path.join(d, "x.log"), "rb") as f:
            return f.read()
    finally:
        shutil.rmtree(d)


def _valid_crc_soup(rnd):
    """Physical records with correct CRCs but random types and lengths
    (type 9, a compressed WAL, is left out: it is a WalError by design)."""
    out = bytearray()
    while len(out) < 4 * BLOCK:
        left = BLOCK - len(out) % BLOCK
        if left < 7:
            out += bytes(left)
            continue
        t = rnd.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 20, 130, 131, 200, 255])
        h = 11 if t in (5, 6, 7, 8, 11, 131) else 7
        if left < h:
            out += bytes(left)
            continue
        n = rnd.randrange(0, min(left - h, 5000) + 1)
        payload = rnd.randbytes(n)
        extra = rnd.choice([b"\x01\0\0\0", b"\x02\0\0\0"]) if h == 11 else b""
        crc = walx.mask_crc(walx.crc32c(bytes([t]) + extra + payload))
        out += crc.to_bytes(4, "little") + n.to_bytes(2, "little") + bytes([t]) + extra + payload
    return bytes(out)


GARBAGE = ["random", "all_ff", "huge_length_truncated", "huge_length_first",
           "valid_then_random", "valid_crc_random_types", "short_header"]


@pytest.mark.parametrize("verify", [True, False], ids=["crc", "nocrc"])
@pytest.mark.parametrize("mode", ALL_MODES, ids=lambda m: m.name)
@pytest.mark.parametrize("kind", ["path", "bytes"])
@pytest.mark.parametrize("garbage", GARBAGE)
def test_garbage_reads_as_records_or_corruption_error_in_bounded_memory(tmp_path, garbage, kind,
                                                                        mode, verify):
    data = _garbage(garbage)
    path = tmp_path / "000001.log"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        try:
            with walx.LogReader(str(path) if kind == "path" else data, mode=mode,
                                verify_checksums=verify) as r:
                records = []
                while (p := r.read_record()) is not None:
                    records.append(p)
                    assert len(records) <= len(data)
                assert 0 <= r.end_offset <= len(data)
                assert sum(map(len, records)) <= len(data)
                for c in r.corruptions:
                    assert 0 <= c.offset <= len(data) and c.size >= 0 and c.reason
        except walx.CorruptionError as e:
            assert e.reason and (e.offset is None or 0 <= e.offset <= len(data))
        except walx.WalError as e:
            # Only a compressed-WAL marker (type 9) may raise a plain WalError.
            assert "compress" in str(e) and not verify, e
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A file source reads windows of blocks; nothing scales with a claimed length.
    assert peak < 4 * len(data) + (4 << 20), peak


# ---- threads --------------------------------------------------------------------------


def test_readers_in_threads_share_nothing(wal_dir):
    path = wal_dir / "000001.log"
    recs = [make_record(1, i, 14 + i * 97 % 40_000) for i in range(300)]
    with walx.LogWriter(path) as w:
        w.add_records(recs)
    results = {}

    def work(tid):
        with walx.LogReader(str(path) if tid % 2 else path.read_bytes()) as r:
            results[tid] = list(r)

    run_threads(work, 8)
    assert all(v == recs for v in results.values())


_CLOSE_RACE = textwrap.dedent("""
    import os, sys, threading, walx
    path, trials = sys.argv[1], int(sys.argv[2])
    with walx.LogWriter(path, buffer_size=1 << 20) as w:
        rec = bytes(range(256)) * 117                 # 29,952 bytes
        for _ in range(700):
            w.add_record(rec)
    outcomes = {}
    for trial in range(trials):
        r = walx.LogReader(path)
        res = []
        def read():
            n = 0
            try:
                for x in r:
                    assert x == rec
                    n += 1
                res.append(n)
            except walx.WalClosedError:
                res.append("closed")
        t = threading.Thread(target=read)
        t.start()
        for _ in range(trial % 7 * 200):              # close at varying points
            pass
        r.close()
        t.join()
        assert res in ([700], ["closed"]), res
        outcomes[str(res[0])] = outcomes.get(str(res[0]), 0) + 1
    print(outcomes)
""")


def test_close_from_another_thread_during_a_read_never_crashes(tmp_path):
    # close() while the reading thread is in pread (without the GIL) on the
    # reader's window must not free the window under it (a SIGSEGV): the
    # reader finishes the read, then stops with WalClosedError.
    proc = subprocess.run([sys.executable, "-c", _CLOSE_RACE, str(tmp_path / "big.log"), "60"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=600)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])


def test_two_threads_reading_one_reader_never_mix_records(tmp_path):
    # A LogReader is read by one thread at a time: a second thread that
    # calls it during a read gets RuntimeError, never a duplicated record
    # or a false CorruptionError.
    path = tmp_path / "seq.log"
    with walx.LogWriter(path, buffer_size=1 << 16) as w:
        for i in range(3000):
            w.add_record(struct.pack("<I", i) * 100)
    for _ in range(5):
        r = walx.LogReader(path)
        got, errors = [], []

        def read():
            try:
                for rec in r:
                    got.append(struct.unpack_from("<I", rec)[0])
            except RuntimeError as e:
                errors.append(str(e))

        threads = [threading.Thread(target=read) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        r.close()
        assert sorted(got) == list(range(3000))
        assert all("being read by another thread" in e for e in errors)
