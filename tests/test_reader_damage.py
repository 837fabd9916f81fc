"""What LogReader does with damage: each kind of damaged or unexpected
physical record (torn headers and payloads, bad lengths, checksum
mismatches, unknown types, broken fragment chains, the other header kind),
what each RecoveryMode returns, records or raises for it, the corruption
entries, and logs cut at every offset (what a crash leaves)."""

import pytest

import walx
import walxtest as wt
from walxhelpers import read_log

BLOCK = walx.BLOCK_SIZE
LN = 7
M = walx.RecoveryMode
ALL_MODES = list(M)
SKIP = M.SKIP_ANY_CORRUPTED
PIT_REASON = "dropped: follows earlier damage (POINT_IN_TIME)"


def builder(recyclable):
    return wt.LogBuilder(recyclable, LN)


def damage(r):
    return [(c.offset, c.size, c.reason) for c in r.corruptions]


def rtype(base, recyclable):
    return base + 4 if recyclable else base


def own_ln(recyclable):
    return LN if recyclable else None


def assert_tail(data, recyclable, records, entry):
    for mode in (M.TOLERATE_CORRUPTED_TAIL, M.POINT_IN_TIME, M.SKIP_ANY_CORRUPTED):
        got, r = read_log(data, mode)
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


# ---- torn tails ----------------------------------------------------------------------


def test_truncated_header_at_eof_is_a_torn_tail(recyclable):
    b = builder(recyclable)
    b.add(b"first")
    _, end = b.add(b"second")
    data = b.data + b"\x01\x00\x02"
    assert_tail(data, recyclable, [b"first", b"second"],
                (end, 3, "incomplete: truncated record header"))


@pytest.mark.parametrize("cut", [1, 4, 6])
def test_header_cut_inside_a_record_at_eof_is_a_torn_tail(recyclable, cut):
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
        records, r = read_log(wt.truncate(b.data, start + cut), M.TOLERATE_CORRUPTED_TAIL)
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
        records, r = read_log(b.data + bytes(n), mode)
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
            records, r = read_log(data, mode)
            assert records == [b"x" * (BLOCK - b.hs - left)]
            assert r.corruptions == []
            assert r.clean_end
            assert r.end_offset == BLOCK - left


def test_nonzero_trailer_content_is_skipped(recyclable):
    b = builder(recyclable)
    b.add(b"x" * (BLOCK - b.hs - 3))
    b.add_bytes(b"\xde\xad\xbe")
    b.add(b"next")
    records, r = read_log(b.data, M.ABSOLUTE_CONSISTENCY)
    assert records == [b"x" * (BLOCK - b.hs - 3), b"next"]
    assert r.corruptions == []


@pytest.mark.parametrize("keep", [0, 1, 4])
def test_truncated_payload_at_eof_is_a_torn_tail(recyclable, keep):
    b = builder(recyclable)
    b.add(b"first")
    start, end = b.add(b"second")
    cut = start + b.hs + keep
    assert_tail(wt.truncate(b.data, cut), recyclable, [b"first"],
                (start, cut - start, "incomplete: truncated record payload"))


@pytest.mark.parametrize("cut_block", [1, 2])
def test_unfinished_fragment_chain_at_eof_is_a_torn_tail(recyclable, cut_block):
    b = builder(recyclable)
    b.add(b"first")
    start, _ = b.add(wt.big_payload(3 * BLOCK, 1))
    data = wt.truncate(b.data, cut_block * BLOCK)
    assert_tail(data, recyclable, [b"first"],
                (start, cut_block * BLOCK - start, "incomplete: unfinished fragment chain"))


# ---- damaged records ----------------------------------------------------------------


def test_bad_length_crossing_a_block_drops_the_block(recyclable):
    b = builder(recyclable)
    b.add(b"a" * 100)
    bad, _ = b.add(b"b" * 100)
    b.add(b"c" * (BLOCK - 3 * b.hs - 200))
    assert len(b.data) == BLOCK
    b.add(b"d")
    data = wt.set_byte(wt.set_byte(b.data, bad + 4, 0xFF), bad + 5, 0xFF)
    records, r = read_log(data, SKIP)
    assert records == [b"a" * 100, b"d"]
    assert damage(r) == [(bad, BLOCK - bad, "bad record length")]


def test_bad_length_at_the_tail_is_a_torn_tail(recyclable):
    b = builder(recyclable)
    b.add(b"first")
    bad, end = b.add(b"second")
    data = wt.fix_checksum(wt.set_byte(b.data, bad + 5, 0x80), bad, recyclable)
    assert_tail(data, recyclable, [b"first"], (bad, end - bad, "bad record length"))


def test_checksum_mismatch_in_a_payload_drops_the_rest_of_the_block(recyclable):
    b = builder(recyclable)
    b.add(b"first")
    bad, _ = b.add(b"second")
    b.add(b"lost with the rest of the block")
    b.pad_to_block()
    b.add(b"next block")
    data = wt.increment_byte(b.data, bad + b.hs + 2)
    records, r = read_log(data, SKIP)
    assert records == [b"first", b"next block"]
    assert damage(r) == [(bad, BLOCK - bad, "checksum mismatch")]


def test_checksum_mismatch_at_the_tail_is_a_torn_tail(recyclable):
    b = builder(recyclable)
    b.add(b"first")
    bad, end = b.add(b"second")
    b.add(b"third")
    data = wt.increment_byte(b.data, bad + b.hs)
    assert_tail(data, recyclable, [b"first"], (bad, len(data) - bad, "checksum mismatch"))


def test_checksum_mismatch_in_the_type_byte_drops_the_rest_of_the_block(recyclable):
    b = builder(recyclable)
    b.add(b"first")
    bad, _ = b.add(b"second")
    b.pad_to_block()
    b.add(b"next")
    data = wt.set_byte(b.data, bad + 6, rtype(2, recyclable))
    records, r = read_log(data, SKIP)
    assert records == [b"first", b"next"]
    assert damage(r) == [(bad, BLOCK - bad, "checksum mismatch")]


def test_checksum_mismatch_in_the_log_number_drops_the_rest_of_the_block():
    b = builder(True)
    b.add(b"first")
    bad, _ = b.add(b"second")
    b.pad_to_block()
    b.add(b"next")
    records, r = read_log(wt.increment_byte(b.data, bad + 7), SKIP)
    assert records == [b"first", b"next"]
    assert damage(r) == [(bad, BLOCK - bad, "checksum mismatch")]


def test_unknown_record_type_with_a_valid_checksum_is_damage():
    b = builder(False)
    b.add(b"first")
    bad, end = b.add(b"second")
    b.add(b"third")
    data = wt.fix_checksum(wt.set_byte(b.data, bad + 6, 20), bad)
    records, r = read_log(data, SKIP)
    assert records == [b"first", b"third"]
    assert damage(r) == [(bad, end - bad, "unknown record type 20")]


@pytest.mark.parametrize("t", [12, 20, 127])
def test_unknown_record_type_is_damage(recyclable, t):
    b = builder(recyclable)
    b.add(b"first")
    bad, end = b.add_physical(t, b"junk")
    b.add(b"third")
    records, r = read_log(b.data, SKIP)
    assert records == [b"first", b"third"]
    assert damage(r) == [(bad, end - bad, f"unknown record type {t}")]


def test_record_of_the_other_header_kind_is_damage(recyclable):
    b = builder(recyclable)
    b.add(b"first")
    bad, end = b.add(b"other kind", recyclable=not recyclable)
    b.add(b"third")
    records, r = read_log(b.data, SKIP)
    assert records == [b"first", b"third"]
    assert damage(r) == [(bad, end - bad,
                          "record of the other header kind than the file's first record")]
    assert r.header_size == b.hs


# ---- broken fragment chains -----------------------------------------------------------


@pytest.mark.parametrize("base", [3, 4], ids=["middle", "last"])
def test_missing_start_of_fragmented_record(recyclable, base):
    b = builder(recyclable)
    b.add(b"first")
    bad, end = b.add_physical(rtype(base, recyclable), b"orphan", own_ln(recyclable))
    b.add(b"third")
    records, r = read_log(b.data, SKIP)
    assert records == [b"first", b"third"]
    assert damage(r) == [(bad, end - bad, "missing start of fragmented record")]


def test_partial_record_without_end_then_full(recyclable):
    b = builder(recyclable)
    b.add(b"first")
    bad, end = b.add_physical(rtype(2, recyclable), b"head", own_ln(recyclable))
    b.add(b"third")
    records, r = read_log(b.data, SKIP)
    assert records == [b"first", b"third"]
    assert damage(r) == [(bad, end - bad, "partial record without end")]


def test_partial_record_without_end_then_first(recyclable):
    b = builder(recyclable)
    ln = own_ln(recyclable)
    bad, end = b.add_physical(rtype(2, recyclable), b"old", ln)
    b.add_physical(rtype(2, recyclable), b"new-", ln)
    b.add_physical(rtype(4, recyclable), b"tail", ln)
    records, r = read_log(b.data, SKIP)
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
        records, r = read_log(b.data, mode)
        assert records == expected
        assert r.corruptions == []


def test_damage_merges_with_skipped_fragments_of_next_block(recyclable):
    b = builder(recyclable)
    b.add(b"a")
    bad, _ = b.add(b"b")
    big_start, big_end = b.add(wt.big_payload(2 * BLOCK, 4))
    assert big_end > 2 * BLOCK
    b.add(b"c")
    records, r = read_log(wt.increment_byte(b.data, bad + b.hs), SKIP)
    assert records == [b"a", b"c"]
    assert damage(r) == [(bad, big_end - bad, "checksum mismatch")]


def test_damage_inside_open_chain_starts_at_first_fragment(recyclable):
    b = builder(recyclable)
    b.add(b"a")
    big_start, big_end = b.add(wt.big_payload(2 * BLOCK, 5))
    b.add(b"c")
    records, r = read_log(wt.increment_byte(b.data, BLOCK + b.hs + 100), SKIP)
    assert records == [b"a", b"c"]
    assert damage(r) == [(big_start, big_end - big_start, "checksum mismatch")]


# ---- corruption entries and errors ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["bytearray", "file"])
def test_corruptions_name_path_offset_size_and_reason(tmp_path, recyclable, kind):
    b = builder(recyclable)
    b.add(b"a")
    bad, _ = b.add(b"b")
    b.pad_to_block()
    b.add(b"c")
    data = wt.increment_byte(b.data, bad + b.hs)
    path = tmp_path / "log.bin"
    path.write_bytes(data)
    records, r = read_log(bytearray(data) if kind == "bytearray" else path, SKIP)
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


def test_damage_is_logged_as_warning(caplog):
    b = builder(False)
    b.add(b"a")
    bad, _ = b.add(b"b")
    with caplog.at_level("WARNING", logger="walx"):
        records, _ = read_log(wt.increment_byte(b.data, bad + b.hs), SKIP)
    assert records == [b"a"]
    [rec] = [r for r in caplog.records if r.name == "walx"]
    assert rec.levelname == "WARNING"
    assert str(bad) in rec.getMessage() and "checksum mismatch" in rec.getMessage()


# ---- recovery modes: one damage, records before and after it -----------------------------


class Scenario:
    """A log with at most one damage: records before it, valid records after it."""

    def __init__(self, data, before, after, entry, after_start=None):
        self.data = data
        self.before = before
        self.after = after
        self.entry = entry
        self.after_start = after_start


def _torn_header(recyclable):
    b = wt.LogBuilder(recyclable, LN)
    b.add(b"r0")
    b.add(b"r1")
    start, _ = b.add(b"r2")
    return Scenario(wt.truncate(b.data, start + 5), [b"r0", b"r1"], [],
                    (start, 5, "incomplete: truncated record header"))


def _torn_payload(recyclable):
    b = wt.LogBuilder(recyclable, LN)
    b.add(b"r0")
    b.add(b"r1")
    start, end = b.add(b"r2" * 50)
    return Scenario(wt.truncate(b.data, end - 10), [b"r0", b"r1"], [],
                    (start, end - 10 - start, "incomplete: truncated record payload"))


def _torn_chain(recyclable):
    b = wt.LogBuilder(recyclable, LN)
    b.add(b"r0")
    start, _ = b.add(wt.big_payload(3 * BLOCK, 9))
    return Scenario(wt.truncate(b.data, 2 * BLOCK), [b"r0"], [],
                    (start, 2 * BLOCK - start, "incomplete: unfinished fragment chain"))


def _torn_payload_in_chain(recyclable):
    b = wt.LogBuilder(recyclable, LN)
    b.add(b"r0")
    start, _ = b.add(wt.big_payload(3 * BLOCK, 9))
    cut = BLOCK + 500
    return Scenario(wt.truncate(b.data, cut), [b"r0"], [],
                    (start, cut - start, "incomplete: truncated record payload"))


def _mid_crc(recyclable):
    b = wt.LogBuilder(recyclable, LN)
    b.add(b"r0")
    bad, _ = b.add(b"r1")
    b.add(b"r2 lost with its block")
    b.pad_to_block()
    s3, _ = b.add(b"r3")
    b.add(b"r4")
    data = wt.increment_byte(b.data, bad + b.hs)
    return Scenario(data, [b"r0"], [b"r3", b"r4"], (bad, BLOCK - bad, "checksum mismatch"), s3)


def _mid_crc_then_chain(recyclable):
    b = wt.LogBuilder(recyclable, LN)
    b.add(b"r0")
    bad, _ = b.add(b"r1")
    big = wt.big_payload(BLOCK + 3, 4)
    _, big_end = b.add(big)
    s3, _ = b.add(b"r3")
    data = wt.increment_byte(b.data, bad + b.hs)
    return Scenario(data, [b"r0"], [b"r3"], (bad, big_end - bad, "checksum mismatch"), s3)


def _mid_unknown_type(recyclable):
    b = wt.LogBuilder(recyclable, LN)
    b.add(b"r0")
    bad, end = b.add_physical(20, b"junk")
    s2, _ = b.add(b"r2")
    b.add(b"r3")
    return Scenario(b.data, [b"r0"], [b"r2", b"r3"], (bad, end - bad, "unknown record type 20"),
                    s2)


def _zero_fill(recyclable):
    b = wt.LogBuilder(recyclable, LN)
    b.add(b"r0")
    b.add_bytes(bytes(b.hs + 5))
    b.pad_to_block()
    b.add_bytes(bytes(BLOCK))
    b.add(b"r1")
    b.add(b"r2")
    return Scenario(b.data, [b"r0", b"r1", b"r2"], [], None)


def _old_log_record(recyclable):
    b = wt.LogBuilder(True, LN)
    b.add(b"r0")
    b.add(b"r1")
    b.add(b"old", log_number=LN - 3)
    b.add(b"r3 of this log after the old one")
    return Scenario(b.data, [b"r0", b"r1"], [], None)


SCENARIOS = {
    "torn-header": _torn_header,
    "torn-payload": _torn_payload,
    "torn-chain": _torn_chain,
    "torn-payload-in-chain": _torn_payload_in_chain,
    "mid-crc": _mid_crc,
    "mid-crc-then-fragments": _mid_crc_then_chain,
    "mid-unknown-type": _mid_unknown_type,
    "zero-fill": _zero_fill,
    "old-log-record": _old_log_record,
}

CASES = [pytest.param(name, rec, mode, id=f"{name}-{'recyclable' if rec else 'legacy'}-{mode.name}")
         for name in SCENARIOS for rec in (False, True) for mode in M
         if rec or name != "old-log-record"]


def expected(sc, recyclable, mode):
    """(records, corruption entries, raises) for scenario `sc` read in `mode`."""
    if sc.entry is None or (recyclable and not sc.after):
        return sc.before, [], False
    if not sc.after:
        return sc.before, [sc.entry], mode is M.ABSOLUTE_CONSISTENCY
    if mode is M.SKIP_ANY_CORRUPTED:
        return sc.before + sc.after, [sc.entry], False
    if mode is M.POINT_IN_TIME:
        pit = (sc.after_start, len(sc.data) - sc.after_start, PIT_REASON)
        return sc.before, [sc.entry, pit], False
    return sc.before, [sc.entry], True


@pytest.mark.parametrize("name, recyclable, mode", CASES)
def test_each_damage_in_each_mode_returns_its_records_entries_or_error(tmp_path, name,
                                                                       recyclable, mode):
    sc = SCENARIOS[name](recyclable)
    records, entries, raises = expected(sc, recyclable, mode)
    path = tmp_path / "log.bin"
    path.write_bytes(sc.data)
    got = []
    with walx.LogReader(path, mode=mode) as r:
        if raises:
            with pytest.raises(walx.CorruptionError) as ei:
                for rec in r:
                    got.append(rec)
            e = ei.value
            assert (e.path, e.offset, e.reason) == (str(path), sc.entry[0], sc.entry[2])
            assert str(path) in str(e) and f"offset {sc.entry[0]}" in str(e)
            with pytest.raises(walx.CorruptionError) as again:
                r.read_record()
            assert again.value is e
        else:
            got = list(r)
            assert r.read_record() is None
        assert got == records
        found = [(c.path, c.offset, c.size, c.reason) for c in r.corruptions]
        if raises and mode is M.ABSOLUTE_CONSISTENCY and not recyclable:
            assert len(found) == 1 and 0 < found[0][2] <= sc.entry[1]
            found[0] = found[0][:2] + (sc.entry[1],) + found[0][3:]
        assert found == [(str(path),) + entry for entry in entries]


@pytest.mark.parametrize("name", ["mid-crc", "mid-unknown-type"])
def test_tolerate_returns_records_before_damage_then_raises(name, recyclable):
    sc = SCENARIOS[name](recyclable)
    with walx.LogReader(sc.data) as r:
        assert [r.read_record() for _ in sc.before] == sc.before
        with pytest.raises(walx.CorruptionError) as ei:
            r.read_record()
        assert ei.value.path is None
        assert ei.value.offset == sc.entry[0]
        assert "<bytes>" in str(ei.value)


def test_point_in_time_end_offset_is_end_of_good_prefix(recyclable):
    b = wt.LogBuilder(recyclable, LN)
    b.add(b"r0")
    _, good_end = b.add(b"r1")
    bad, _ = b.add(b"r2")
    b.pad_to_block()
    b.add(b"r3")
    with walx.LogReader(wt.increment_byte(b.data, bad + b.hs), mode=M.POINT_IN_TIME) as r:
        assert list(r) == [b"r0", b"r1"]
        assert r.end_offset == good_end
        assert not r.clean_end


def test_skip_any_keeps_every_valid_record_across_several_damages(recyclable):
    b = wt.LogBuilder(recyclable, LN)
    b.add(b"r0")
    bad1, _ = b.add(b"r1")
    b.pad_to_block()
    b.add(b"r2")
    bad2, end2 = b.add_physical(21, b"x")
    b.add(b"r3")
    b.pad_to_block()
    bad3, _ = b.add(b"r4")
    b.pad_to_block()
    b.add(b"r5")
    data = wt.increment_byte(wt.increment_byte(b.data, bad1 + b.hs), bad3 + b.hs)
    with walx.LogReader(data, mode=M.SKIP_ANY_CORRUPTED) as r:
        assert list(r) == [b"r0", b"r2", b"r3", b"r5"]
        assert [(c.offset, c.size, c.reason) for c in r.corruptions] == [
            (bad1, BLOCK - bad1, "checksum mismatch"),
            (bad2, end2 - bad2, "unknown record type 21"),
            (bad3, 3 * BLOCK - bad3, "checksum mismatch")]


@pytest.mark.parametrize("mode", list(M), ids=lambda m: m.name)
def test_empty_full_after_damage_is_a_valid_record(recyclable, mode):
    b = wt.LogBuilder(recyclable, LN)
    b.add(b"r0")
    bad, _ = b.add(b"r1")
    b.pad_to_block()
    b.add(b"")
    data = wt.increment_byte(b.data, bad + b.hs)
    with walx.LogReader(data, mode=mode) as r:
        if mode in (M.TOLERATE_CORRUPTED_TAIL, M.ABSOLUTE_CONSISTENCY):
            with pytest.raises(walx.CorruptionError):
                list(r)
        else:
            assert list(r) == ([b"r0", b""] if mode is M.SKIP_ANY_CORRUPTED else [b"r0"])
        assert r.corruptions[0][1:] == (bad, BLOCK - bad, "checksum mismatch")


@pytest.mark.parametrize("mode", [M.TOLERATE_CORRUPTED_TAIL, M.POINT_IN_TIME,
                                  M.SKIP_ANY_CORRUPTED], ids=lambda m: m.name)
def test_meta_and_ignorable_records_after_damage_leave_it_a_tail(recyclable, mode):
    b = wt.LogBuilder(recyclable, LN)
    b.add(b"r0")
    bad, _ = b.add(b"r1")
    b.pad_to_block()
    b.add_physical(0x85, b"ignorable")
    if recyclable:
        b.add_physical(11, b"\x00" * 6, log_number=LN)
    else:
        b.add_physical(10, b"\x00" * 6)
    data = wt.increment_byte(b.data, bad + b.hs)
    with walx.LogReader(data, mode=mode) as r:
        assert list(r) == [b"r0"]
        # Still a tail (no logical record follows), and recorded: in the
        # recyclable file the meta record carries this log's number, so the
        # damage is not stale bytes of the file's previous use.
        assert [tuple(c)[1:] for c in r.corruptions] == [
            (bad, BLOCK - bad, "checksum mismatch")]


@pytest.mark.parametrize("meta", [10, 0x85], ids=["meta", "ignorable"])
def test_absolute_raises_the_first_damage(meta):
    # Damage, a record that does not fix the file's header kind, damage:
    # ABSOLUTE_CONSISTENCY raises the first one (at offset 0).
    data = (wt.physical(12, b"x") + wt.physical(meta, b"ts") + wt.physical(13, b"y"))
    with walx.LogReader(data, mode=M.ABSOLUTE_CONSISTENCY) as r:
        with pytest.raises(walx.CorruptionError) as ei:
            list(r)
    assert [c.offset for c in r.corruptions][0] == 0 and len(r.corruptions) == 2
    assert ei.value.offset == 0


# ---- logs cut at every offset: what a crash leaves -------------------------------------


def crash_log(recyclable):
    b = wt.LogBuilder(recyclable, LN)
    records = [b"alpha", b"", wt.big_payload(2 * BLOCK + 1000, 8)]
    spans = [b.add(p) for p in records]
    filler = b"f" * (BLOCK - (len(b.buf) % BLOCK) - b.hs - 3)
    records += [filler, b"omega", b"z" * 300]
    spans += [b.add(p) for p in records[3:]]
    return b.data, records, spans


def tiny_log(recyclable):
    b = wt.LogBuilder(recyclable, LN)
    records = [b"a", b"", b"bc" * 10, b"\x00" * 4, b"d" * 30, b"e"]
    spans = [b.add(p) for p in records]
    return b.data, records, spans


def check_cut(data, cut, records, spans, recyclable):
    n = sum(1 for _, end in spans if end <= cut)
    prev_end = spans[n - 1][1] if n else 0
    clean = not any(data[prev_end:cut])
    # A recyclable log is known as one from its first header's type byte
    # (offset 6), even when that first record is torn (RocksDB sets its
    # recycled flag the same way): damage with no record of the log after
    # it is then the end of the log.
    silent = recyclable and (n > 0 or cut >= 7)
    view = memoryview(data)[:cut]
    for mode in M:
        got = []
        with walx.LogReader(view, mode=mode) as r:
            if mode is M.ABSOLUTE_CONSISTENCY and not clean and not silent:
                with pytest.raises(walx.CorruptionError):
                    for rec in r:
                        got.append(rec)
            else:
                got = list(r)
                assert r.end_offset == prev_end, (cut, mode)
                if clean or silent:
                    assert r.corruptions == [], (cut, mode)
                else:
                    start = spans[n][0]
                    assert [(c.offset, c.size) for c in r.corruptions] == [
                        (start, cut - start)], (cut, mode)
        assert got == records[:n], (cut, mode)


def test_small_log_cut_at_every_offset_reads_its_complete_records(recyclable):
    data, records, spans = tiny_log(recyclable)
    for cut in range(len(data) + 1):
        check_cut(data, cut, records, spans, recyclable)


def test_multi_block_log_cut_near_every_edge_reads_its_complete_records(recyclable):
    data, records, spans = crash_log(recyclable)
    assert spans[2][1] > 2 * BLOCK
    assert BLOCK - spans[3][1] % BLOCK == 3
    cuts = set(range(0, len(data) + 1, 97))
    marks = [x for span in spans for x in span] + list(range(0, len(data), BLOCK))
    for m in marks:
        cuts.update(range(max(0, m - 14), min(len(data), m + 14) + 1))
    cuts.add(len(data))
    for cut in sorted(cuts):
        check_cut(data, cut, records, spans, recyclable)


def test_log_file_cut_on_disk_reads_its_complete_records(tmp_path, recyclable):
    data, records, spans = crash_log(recyclable)
    path = tmp_path / "000007.log"
    for cut in (spans[2][0] + 3, spans[2][1] - 1, spans[3][1] + 1, spans[4][0] + 8):
        path.write_bytes(data[:cut])
        n = sum(1 for _, end in spans if end <= cut)
        for mode in (M.TOLERATE_CORRUPTED_TAIL, M.POINT_IN_TIME, M.SKIP_ANY_CORRUPTED):
            with walx.LogReader(path, mode=mode) as r:
                assert list(r) == records[:n]
