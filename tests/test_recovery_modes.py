import pytest

import walx
import walxtest as wt

BLOCK = walx.BLOCK_SIZE
LN = 7
M = walx.RecoveryMode
PIT_REASON = "dropped: follows earlier damage (POINT_IN_TIME)"


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
def test_recovery_matrix(tmp_path, name, recyclable, mode):
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


def test_crash_shape_every_offset_of_small_log(recyclable):
    data, records, spans = tiny_log(recyclable)
    for cut in range(len(data) + 1):
        check_cut(data, cut, records, spans, recyclable)


def test_crash_shape_multi_block_log(recyclable):
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


def test_crash_shape_file_on_disk(tmp_path, recyclable):
    data, records, spans = crash_log(recyclable)
    path = tmp_path / "000007.log"
    for cut in (spans[2][0] + 3, spans[2][1] - 1, spans[3][1] + 1, spans[4][0] + 8):
        path.write_bytes(data[:cut])
        n = sum(1 for _, end in spans if end <= cut)
        for mode in (M.TOLERATE_CORRUPTED_TAIL, M.POINT_IN_TIME, M.SKIP_ANY_CORRUPTED):
            with walx.LogReader(path, mode=mode) as r:
                assert list(r) == records[:n]


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


# ---- recyclable logs: stale bytes or this log's damage ------------------------------

def _read(data, mode, **kw):
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
    assert _read(data, mode, log_number=4) == ([], [], None)
    assert _read(data, mode) == ([], [], None)              # log number not known


def test_legacy_log_with_damaged_first_record_is_still_damage():
    b = wt.LogBuilder(False)
    b.add(b"x" * 300)
    b.add(b"y" * 300)
    data = wt.increment_byte(b.data, 20)                    # the first payload
    assert _read(data, M.TOLERATE_CORRUPTED_TAIL)[1:] == ([(0, "checksum mismatch")], None)
    assert _read(data, M.ABSOLUTE_CONSISTENCY)[2] == 0


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
        got, damage, raised = _read(data, mode, log_number=LN)
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
        got, damage, raised = _read(str(path), mode, codec="walx")
        assert [d[0] for d in damage] == [start], recyclable
        if mode is M.ABSOLUTE_CONSISTENCY:
            assert raised == start
        else:
            assert ([g.sequence for g in got], raised) == ([1], None)


def test_recyclable_undecodable_batch_stops_point_in_time_across_files(tmp_path):
    # log 1: [seq 1, seq 2 undecodable], log 2: [seq 3]. Replaying 1 and 3
    # would skip seq 2 without a word; POINT_IN_TIME stops at the damage.
    for recyclable in (False, True):
        d = tmp_path / str(int(recyclable))
        d.mkdir()
        b = wt.LogBuilder(recyclable, 1)
        one = walx.WriteBatch(1)
        one.put(b"k", b"v")
        b.add(one.encode())
        bad = bytearray(walx.WriteBatch(2).encode())
        bad[11] = 1
        b.add(bytes(bad))
        (d / "000001.wal").write_bytes(b.data)
        b2 = wt.LogBuilder(recyclable, 2)
        three = walx.WriteBatch(3)
        three.put(b"k", b"w")
        b2.add(three.encode())
        (d / "000002.wal").write_bytes(b2.data)
        batches, _, _ = walx.WalManager.recover_from_dir(d, mode=M.POINT_IN_TIME)
        assert [x.sequence for x in batches] == [1], recyclable


@pytest.mark.parametrize("meta", [10, 0x85], ids=["meta", "ignorable"])
def test_absolute_raises_the_first_damage(meta):
    # Damage, a record that does not fix the file's header kind, damage:
    # ABSOLUTE_CONSISTENCY raises the first one (at offset 0).
    data = (wt.physical(12, b"x") + wt.physical(meta, b"ts") + wt.physical(13, b"y"))
    got, damage, raised = _read(data, M.ABSOLUTE_CONSISTENCY)
    assert [d[0] for d in damage][0] == 0 and len(damage) == 2
    assert raised == 0
