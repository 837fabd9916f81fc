import random

import pytest

import walx
import walxtest as wt

BLOCK = walx.BLOCK_SIZE
LN = 7
M = walx.RecoveryMode
ALL_MODES = list(M)


def builder(recyclable):
    return wt.LogBuilder(recyclable, LN)


def read(data, mode=M.SKIP_ANY_CORRUPTED, **kw):
    with walx.LogReader(data, mode=mode, **kw) as r:
        records = list(r)
    return records, r


def damage(r):
    return [(c.offset, c.size, c.reason) for c in r.corruptions]


def rtype(base, recyclable):
    return base + 4 if recyclable else base


def own_ln(recyclable):
    return LN if recyclable else None


def assert_tail(data, recyclable, records, entry):
    for mode in (M.TOLERATE_CORRUPTED_TAIL, M.POINT_IN_TIME, M.SKIP_ANY_CORRUPTED):
        got, r = read(data, mode)
        assert got == records
        assert damage(r) == ([] if recyclable else [entry])
        assert not r.clean_end
    with walx.LogReader(data, mode=M.ABSOLUTE_CONSISTENCY) as r:
        if recyclable:
            assert list(r) == records
            assert r.corruptions == []
        else:
            got = []
            with pytest.raises(walx.CorruptionError) as ei:
                for rec in r:
                    got.append(rec)
            assert got == records
            assert (ei.value.offset, ei.value.reason) == (entry[0], entry[2])


def test_truncated_header_at_eof(recyclable):
    b = builder(recyclable)
    b.add(b"first")
    _, end = b.add(b"second")
    data = b.data + b"\x01\x00\x02"
    assert_tail(data, recyclable, [b"first", b"second"],
                (end, 3, "incomplete: truncated record header"))


@pytest.mark.parametrize("cut", [1, 4, 6])
def test_truncated_header_of_a_real_record_at_eof(recyclable, cut):
    b = builder(recyclable)
    b.add(b"first")
    start, _ = b.add(b"second")
    data = wt.truncate(b.data, start + cut)
    assert_tail(data, recyclable, [b"first"],
                (start, cut, "incomplete: truncated record header"))


def test_truncated_recyclable_header_between_7_and_11_bytes():
    b = builder(True)
    b.add(b"first")
    start, _ = b.add(b"second")
    for cut in range(7, 11):
        records, r = read(wt.truncate(b.data, start + cut), M.TOLERATE_CORRUPTED_TAIL)
        assert records == [b"first"]
        assert r.corruptions == []
        assert not r.clean_end


SHORT = [pytest.param(r, n, id=f"{'recyclable' if r else 'legacy'}-{n}")
         for r in (False, True) for n in range(1, 11 if r else 7)]


@pytest.mark.parametrize("recyclable, n", SHORT)
def test_zeros_shorter_than_header_at_eof_end_cleanly(recyclable, n):
    b = builder(recyclable)
    b.add(b"first")
    for mode in ALL_MODES:
        records, r = read(b.data + bytes(n), mode)
        assert records == [b"first"]
        assert r.corruptions == []


@pytest.mark.parametrize("fill", [b"\x00", b"\xff"], ids=["zero", "nonzero"])
def test_file_ending_inside_block_trailer_is_clean(recyclable, fill):
    b = builder(recyclable)
    left = b.hs - 1
    b.add(b"x" * (BLOCK - b.hs - left))
    for n in range(left + 1):
        data = b.data + fill * n
        for mode in ALL_MODES:
            records, r = read(data, mode)
            assert records == [b"x" * (BLOCK - b.hs - left)]
            assert r.corruptions == []
            assert r.clean_end
            assert r.end_offset == BLOCK - left


def test_nonzero_trailer_content_is_skipped(recyclable):
    b = builder(recyclable)
    b.add(b"x" * (BLOCK - b.hs - 3))
    b.add_bytes(b"\xde\xad\xbe")
    b.add(b"next")
    records, r = read(b.data, M.ABSOLUTE_CONSISTENCY)
    assert records == [b"x" * (BLOCK - b.hs - 3), b"next"]
    assert r.corruptions == []


@pytest.mark.parametrize("keep", [0, 1, 4])
def test_truncated_payload_at_eof(recyclable, keep):
    b = builder(recyclable)
    b.add(b"first")
    start, end = b.add(b"second")
    cut = start + b.hs + keep
    assert_tail(wt.truncate(b.data, cut), recyclable, [b"first"],
                (start, cut - start, "incomplete: truncated record payload"))


def test_bad_length_crossing_block(recyclable):
    b = builder(recyclable)
    b.add(b"a" * 100)
    bad, _ = b.add(b"b" * 100)
    b.add(b"c" * (BLOCK - 3 * b.hs - 200))
    assert len(b.data) == BLOCK
    b.add(b"d")
    data = wt.set_byte(wt.set_byte(b.data, bad + 4, 0xFF), bad + 5, 0xFF)
    records, r = read(data)
    assert records == [b"a" * 100, b"d"]
    assert damage(r) == [(bad, BLOCK - bad, "bad record length")]


def test_bad_length_at_tail(recyclable):
    b = builder(recyclable)
    b.add(b"first")
    bad, end = b.add(b"second")
    data = wt.fix_checksum(wt.set_byte(b.data, bad + 5, 0x80), bad, recyclable)
    assert_tail(data, recyclable, [b"first"], (bad, end - bad, "bad record length"))


def test_checksum_mismatch_payload_byte(recyclable):
    b = builder(recyclable)
    b.add(b"first")
    bad, _ = b.add(b"second")
    b.add(b"lost with the rest of the block")
    b.pad_to_block()
    b.add(b"next block")
    data = wt.increment_byte(b.data, bad + b.hs + 2)
    records, r = read(data)
    assert records == [b"first", b"next block"]
    assert damage(r) == [(bad, BLOCK - bad, "checksum mismatch")]


def test_checksum_mismatch_at_tail(recyclable):
    b = builder(recyclable)
    b.add(b"first")
    bad, end = b.add(b"second")
    b.add(b"third")
    data = wt.increment_byte(b.data, bad + b.hs)
    assert_tail(data, recyclable, [b"first"], (bad, len(data) - bad, "checksum mismatch"))


def test_checksum_mismatch_in_type_byte(recyclable):
    b = builder(recyclable)
    b.add(b"first")
    bad, _ = b.add(b"second")
    b.pad_to_block()
    b.add(b"next")
    data = wt.set_byte(b.data, bad + 6, rtype(2, recyclable))
    records, r = read(data)
    assert records == [b"first", b"next"]
    assert damage(r) == [(bad, BLOCK - bad, "checksum mismatch")]


def test_checksum_mismatch_in_log_number_field():
    b = builder(True)
    b.add(b"first")
    bad, _ = b.add(b"second")
    b.pad_to_block()
    b.add(b"next")
    records, r = read(wt.increment_byte(b.data, bad + 7))
    assert records == [b"first", b"next"]
    assert damage(r) == [(bad, BLOCK - bad, "checksum mismatch")]


def test_unknown_record_type_with_fixed_checksum():
    b = builder(False)
    b.add(b"first")
    bad, end = b.add(b"second")
    b.add(b"third")
    data = wt.fix_checksum(wt.set_byte(b.data, bad + 6, 20), bad)
    records, r = read(data)
    assert records == [b"first", b"third"]
    assert damage(r) == [(bad, end - bad, "unknown record type 20")]


@pytest.mark.parametrize("t", [12, 20, 127])
def test_unknown_record_type(recyclable, t):
    b = builder(recyclable)
    b.add(b"first")
    bad, end = b.add_physical(t, b"junk")
    b.add(b"third")
    records, r = read(b.data)
    assert records == [b"first", b"third"]
    assert damage(r) == [(bad, end - bad, f"unknown record type {t}")]


@pytest.mark.parametrize("t", [0x80, 0x85, 0xC8, 0xFF])
def test_type_with_bit_7_is_skipped_silently(recyclable, t):
    b = builder(recyclable)
    b.add(b"first")
    b.add_physical(t, b"ignorable")
    b.add(b"third")
    for mode in ALL_MODES:
        records, r = read(b.data, mode)
        assert records == [b"first", b"third"]
        assert r.corruptions == []
        assert r.clean_end


@pytest.mark.parametrize("recyclable, types", [(False, (10, 130)), (True, (11, 131))],
                         ids=["legacy-10-130", "recyclable-11-131"])
def test_meta_types_skipped(recyclable, types):
    b = builder(recyclable)
    b.add(b"first")
    b.add_physical(types[0], b"\x00\x00\x00\x00\x08\x00", log_number=own_ln(recyclable))
    b.add(b"second")
    b.add_physical(types[1], b"predecessor", log_number=own_ln(recyclable))
    for mode in ALL_MODES:
        records, r = read(b.data, mode)
        assert records == [b"first", b"second"]
        assert r.corruptions == []
        assert r.clean_end


def test_recyclable_meta_record_with_other_log_number_ends_the_log():
    b = builder(True)
    b.add(b"first")
    b.add_physical(11, b"\x00" * 6, log_number=LN + 1)
    b.add(b"second")
    records, r = read(b.data, M.ABSOLUTE_CONSISTENCY)
    assert records == [b"first"]
    assert r.corruptions == []


@pytest.mark.parametrize("mode", ALL_MODES, ids=lambda m: m.name)
def test_compression_type_9_raises_wal_error(recyclable, mode):
    b = builder(recyclable)
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


@pytest.mark.parametrize("base", [3, 4], ids=["middle", "last"])
def test_missing_start_of_fragmented_record(recyclable, base):
    b = builder(recyclable)
    b.add(b"first")
    bad, end = b.add_physical(rtype(base, recyclable), b"orphan", own_ln(recyclable))
    b.add(b"third")
    records, r = read(b.data)
    assert records == [b"first", b"third"]
    assert damage(r) == [(bad, end - bad, "missing start of fragmented record")]


def test_partial_record_without_end_then_full(recyclable):
    b = builder(recyclable)
    b.add(b"first")
    bad, end = b.add_physical(rtype(2, recyclable), b"head", own_ln(recyclable))
    b.add(b"third")
    records, r = read(b.data)
    assert records == [b"first", b"third"]
    assert damage(r) == [(bad, end - bad, "partial record without end")]


def test_partial_record_without_end_then_first(recyclable):
    b = builder(recyclable)
    ln = own_ln(recyclable)
    bad, end = b.add_physical(rtype(2, recyclable), b"old", ln)
    b.add_physical(rtype(2, recyclable), b"new-", ln)
    b.add_physical(rtype(4, recyclable), b"tail", ln)
    records, r = read(b.data)
    assert records == [b"new-tail"]
    assert damage(r) == [(bad, end - bad, "partial record without end")]


@pytest.mark.parametrize("follow", ["full", "chain"])
def test_dangling_empty_chain_dropped_silently(recyclable, follow):
    b = builder(recyclable)
    ln = own_ln(recyclable)
    b.add(b"first")
    b.add_physical(rtype(2, recyclable), b"", ln)
    if follow == "full":
        b.add(b"third")
        expected = [b"first", b"third"]
    else:
        b.add_physical(rtype(2, recyclable), b"th", ln)
        b.add_physical(rtype(4, recyclable), b"ird", ln)
        expected = [b"first", b"third"]
    for mode in ALL_MODES:
        records, r = read(b.data, mode)
        assert records == expected
        assert r.corruptions == []


@pytest.mark.parametrize("cut_block", [1, 2])
def test_unfinished_fragment_chain_at_eof(recyclable, cut_block):
    b = builder(recyclable)
    b.add(b"first")
    start, _ = b.add(wt.big_payload(3 * BLOCK, 1))
    data = wt.truncate(b.data, cut_block * BLOCK)
    assert_tail(data, recyclable, [b"first"],
                (start, cut_block * BLOCK - start, "incomplete: unfinished fragment chain"))


def test_zero_fill_skips_to_next_block(recyclable):
    b = builder(recyclable)
    b.add(b"first")
    b.add_bytes(bytes(b.hs))
    b.add(b"same block, after zero fill")
    b.pad_to_block()
    b.add(b"next block")
    for mode in ALL_MODES:
        records, r = read(b.data, mode)
        assert records == [b"first", b"next block"]
        assert r.corruptions == []


def test_zero_filled_blocks_between_valid_records(recyclable):
    b = builder(recyclable)
    b.add(b"first")
    b.pad_to_block()
    b.add_bytes(bytes(2 * BLOCK))
    start, _ = b.add(b"after the gap")
    assert start == 3 * BLOCK
    b.add(b"last")
    for mode in ALL_MODES:
        records, r = read(b.data, mode)
        assert records == [b"first", b"after the gap", b"last"]
        assert r.corruptions == []
        assert r.clean_end


def test_preallocated_zero_tail_ends_cleanly(recyclable):
    b = builder(recyclable)
    b.add(b"first")
    b.add_bytes(bytes(3 * BLOCK))
    for mode in ALL_MODES:
        records, r = read(b.data, mode)
        assert records == [b"first"]
        assert r.corruptions == []


@pytest.mark.parametrize("mode", ALL_MODES, ids=lambda m: m.name)
def test_record_with_other_log_number_ends_recyclable_log(mode):
    b = builder(True)
    b.add(b"first")
    _, end = b.add(b"second")
    b.add(b"stale", log_number=LN - 1)
    b.add(b"own number again")
    records, r = read(b.data, mode)
    assert records == [b"first", b"second"]
    assert r.corruptions == []
    assert r.end_offset == end
    assert not r.clean_end


@pytest.mark.parametrize("mode", ALL_MODES, ids=lambda m: m.name)
def test_damage_then_stale_log_number_is_end_of_log(mode):
    b = builder(True)
    b.add(b"first")
    bad, _ = b.add(b"torn")
    b.add(b"stale", log_number=LN - 1)
    records, r = read(wt.increment_byte(b.data, bad + 12), mode)
    assert records == [b"first"]
    assert r.corruptions == []


def test_log_number_argument_mismatch_ends_log():
    data = wt.frame([b"a", b"b"], True, LN)
    for mode in ALL_MODES:
        records, r = read(data, mode, log_number=LN + 1)
        assert records == []
        assert r.corruptions == []
        assert r.log_number == LN + 1
    assert read(data, log_number=LN)[0] == [b"a", b"b"]
    assert read(data, log_number=(5 << 32) | LN)[0] == [b"a", b"b"]
    assert read(wt.frame([b"a", b"b"], False), log_number=99)[0] == [b"a", b"b"]


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
    records, r = read(path, M.ABSOLUTE_CONSISTENCY)
    assert records == expected
    assert r.corruptions == []


def test_log_number_argument_overrides_file_name(tmp_path):
    path = tmp_path / "000008.log"
    path.write_bytes(wt.frame([b"a"], True, LN))
    assert read(path, log_number=LN)[0] == [b"a"]


def test_record_of_other_header_kind(recyclable):
    b = builder(recyclable)
    b.add(b"first")
    bad, end = b.add(b"other kind", recyclable=not recyclable)
    b.add(b"third")
    records, r = read(b.data)
    assert records == [b"first", b"third"]
    assert damage(r) == [(bad, end - bad,
                          "record of the other header kind than the file's first record")]
    assert r.header_size == b.hs


def test_record_larger_than_max_record_size(recyclable):
    b = builder(recyclable)
    b.add(b"a" * 50)
    bad, end = b.add(b"b" * 51)
    b.add(b"c" * 10)
    records, r = read(b.data, max_record_size=50)
    assert records == [b"a" * 50, b"c" * 10]
    assert damage(r) == [(bad, end - bad, "record larger than max_record_size")]
    with walx.LogReader(b.data, max_record_size=50) as r:
        assert r.read_record() == b"a" * 50
        with pytest.raises(walx.CorruptionError, match="max_record_size") as ei:
            r.read_record()
        assert ei.value.offset == bad


def test_fragmented_record_larger_than_max_record_size(recyclable):
    b = builder(recyclable)
    b.add(b"a")
    bad, end = b.add(wt.big_payload(2 * BLOCK, 2))
    b.add(b"c")
    records, r = read(b.data, max_record_size=BLOCK)
    assert records == [b"a", b"c"]
    assert [(c.offset, c.size) for c in r.corruptions] == [(bad, end - bad)]
    assert "max_record_size" in r.corruptions[0].reason
    assert read(b.data, max_record_size=2 * BLOCK)[0][1] == wt.big_payload(2 * BLOCK, 2)


def test_verify_checksums_false_returns_record_with_bad_crc(recyclable):
    b = builder(recyclable)
    b.add(b"first")
    bad, _ = b.add(b"second")
    b.pad_to_block()
    b.add(b"third")
    data = wt.set_byte(b.data, bad + b.hs, ord("S"))
    records, r = read(data, M.ABSOLUTE_CONSISTENCY, verify_checksums=False)
    assert records == [b"first", b"Second", b"third"]
    assert r.corruptions == []
    with pytest.raises(walx.CorruptionError, match="checksum mismatch"):
        read(data, M.ABSOLUTE_CONSISTENCY)


def test_end_offset_and_last_record_offset(recyclable):
    b = builder(recyclable)
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
    b = builder(recyclable)
    _, end = b.add(b"a")
    bad, _ = b.add(b"b")
    b.pad_to_block()
    b.add(b"c")
    records, r = read(wt.increment_byte(b.data, bad + b.hs), M.POINT_IN_TIME)
    assert records == [b"a"]
    assert r.end_offset == end


@pytest.mark.parametrize("kind", ["bytearray", "file"])
def test_corruption_entries(tmp_path, recyclable, kind):
    b = builder(recyclable)
    b.add(b"a")
    bad, _ = b.add(b"b")
    b.pad_to_block()
    b.add(b"c")
    data = wt.increment_byte(b.data, bad + b.hs)
    path = tmp_path / "log.bin"
    path.write_bytes(data)
    records, r = read(bytearray(data) if kind == "bytearray" else path)
    where = None if kind == "bytearray" else str(path)
    assert records == [b"a", b"c"]
    assert r.path == where
    [c] = r.corruptions
    assert isinstance(c, walx.Corruption)
    assert (c.path, c.offset, c.size, c.reason) == (where, bad, BLOCK - bad, "checksum mismatch")


def test_corruption_error_attributes_and_message(tmp_path, recyclable):
    b = builder(recyclable)
    b.add(b"a")
    bad, _ = b.add(b"b")
    b.pad_to_block()
    b.add(b"c")
    data = wt.increment_byte(b.data, bad + b.hs)
    path = tmp_path / "log.bin"
    path.write_bytes(data)
    for source, where in ((data, "<bytes>"), (path, str(path))):
        with walx.LogReader(source) as r:
            assert r.read_record() == b"a"
            with pytest.raises(walx.CorruptionError) as ei:
                r.read_record()
            e = ei.value
            assert (e.path, e.offset, e.reason) == (
                None if source is data else str(path), bad, "checksum mismatch")
            assert where in str(e) and str(bad) in str(e)
            with pytest.raises(walx.CorruptionError) as again:
                r.read_record()
            assert again.value is e


def test_damage_merges_with_skipped_fragments_of_next_block(recyclable):
    b = builder(recyclable)
    b.add(b"a")
    bad, _ = b.add(b"b")
    big_start, big_end = b.add(wt.big_payload(2 * BLOCK, 4))
    assert big_end > 2 * BLOCK
    b.add(b"c")
    records, r = read(wt.increment_byte(b.data, bad + b.hs))
    assert records == [b"a", b"c"]
    assert damage(r) == [(bad, big_end - bad, "checksum mismatch")]


def test_damage_inside_open_chain_starts_at_first_fragment(recyclable):
    b = builder(recyclable)
    b.add(b"a")
    big_start, big_end = b.add(wt.big_payload(2 * BLOCK, 5))
    b.add(b"c")
    records, r = read(wt.increment_byte(b.data, BLOCK + b.hs + 100))
    assert records == [b"a", b"c"]
    assert damage(r) == [(big_start, big_end - big_start, "checksum mismatch")]


def test_damage_is_logged_as_warning(caplog):
    b = builder(False)
    b.add(b"a")
    bad, _ = b.add(b"b")
    with caplog.at_level("WARNING", logger="walx"):
        records, _ = read(wt.increment_byte(b.data, bad + b.hs))
    assert records == [b"a"]
    [rec] = [r for r in caplog.records if r.name == "walx"]
    assert rec.levelname == "WARNING"
    assert str(bad) in rec.getMessage() and "checksum mismatch" in rec.getMessage()


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
    b = builder(recyclable)
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
