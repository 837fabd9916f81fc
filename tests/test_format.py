"""The bytes of a log (docs/format.md): the constants, the format's check
values, fragmentation at every block edge, and byte-for-byte agreement with
the reference framer of walxtest.py whichever way the records were written
(add_record, add_records, buffered, reopened for append)."""

import pathlib
import random
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import walx
import walxhelpers as wh
import walxtest as wt
from walxtest import header_size_of as hsize

BLOCK = walx.BLOCK_SIZE


def kinds(data):
    return [(t - 4 if t > 4 else t, len(p)) for _, t, _, p in wt.parse_physical(data)]


def test_constants_match_the_format():
    assert (walx.BLOCK_SIZE, walx.HEADER_SIZE, walx.RECYCLABLE_HEADER_SIZE) == (32768, 7, 11)
    assert {m.name: m.value for m in walx.RecordType} == {
        "FULL": 1, "FIRST": 2, "MIDDLE": 3, "LAST": 4, "RECYCLABLE_FULL": 5,
        "RECYCLABLE_FIRST": 6, "RECYCLABLE_MIDDLE": 7, "RECYCLABLE_LAST": 8}


FORMAT_VECTORS = [
    pytest.param(b"", False, 0, "05 2b 28 43 00 00 01", id="empty-legacy-full"),
    pytest.param(b"foo", False, 0, "dd 5f b3 7a 03 00 01 66 6f 6f", id="foo-legacy-full"),
    pytest.param(b"foo", True, 7, "71 97 df 82 03 00 05 07 00 00 00 66 6f 6f",
                 id="foo-recyclable-log7"),
]


@pytest.mark.parametrize("payload, recyclable, log_number, expected", FORMAT_VECTORS)
def test_writer_produces_the_format_check_values(tmp_path, payload, recyclable, log_number,
                                                expected, write_log):
    spans = write_log(tmp_path / "x.log", [payload], recyclable=recyclable, log_number=log_number)
    data = (tmp_path / "x.log").read_bytes()
    offsets = [start for start, _ in spans]
    assert data == bytes.fromhex(expected)
    assert offsets == [0]


@pytest.mark.parametrize("payload, recyclable, log_number, expected", FORMAT_VECTORS)
def test_oracle_produces_the_format_check_values(payload, recyclable, log_number, expected):
    assert wt.frame([payload], recyclable, log_number) == bytes.fromhex(expected)


def test_recyclable_log_number_taken_from_file_name(tmp_path):
    with walx.LogWriter(tmp_path / "000007.log", recyclable=True) as w:
        assert w.log_number == 7
        w.add_record(b"foo")
    assert (tmp_path / "000007.log").read_bytes() == bytes.fromhex(
        "71 97 df 82 03 00 05 07 00 00 00 66 6f 6f")


def test_recyclable_header_carries_low_32_bits_of_log_number(tmp_path, write_log):
    write_log(tmp_path / "x.log", [b"a"], recyclable=True, log_number=(5 << 32) | 9)
    data = (tmp_path / "x.log").read_bytes()
    assert data == wt.frame([b"a"], True, 9)
    assert wt.parse_physical(data)[0][2] == 9


def test_record_ending_exactly_at_block_end(tmp_path, recyclable, write_log):
    hs = hsize(recyclable)
    recs = [b"a" * 100, b"b" * (BLOCK - 2 * hs - 100), b"c"]
    spans = write_log(tmp_path / "x.log", recs, recyclable=recyclable, log_number=3)
    data = (tmp_path / "x.log").read_bytes()
    offsets = [start for start, _ in spans]
    assert offsets == [0, hs + 100, BLOCK]
    assert kinds(data) == [(1, 100), (1, BLOCK - 2 * hs - 100), (1, 1)]
    assert data == wt.frame(recs, recyclable, 3)


def test_full_record_filling_a_whole_block(tmp_path, recyclable, write_log):
    hs = hsize(recyclable)
    recs = [b"x" * (BLOCK - hs), b"y" * (BLOCK - hs), b"z"]
    spans = write_log(tmp_path / "x.log", recs, recyclable=recyclable, log_number=3)
    data = (tmp_path / "x.log").read_bytes()
    offsets = [start for start, _ in spans]
    assert offsets == [0, BLOCK, 2 * BLOCK]
    assert kinds(data) == [(1, BLOCK - hs), (1, BLOCK - hs), (1, 1)]
    assert len(data) == 2 * BLOCK + hs + 1
    assert data == wt.frame(recs, recyclable, 3)


def test_leftover_of_exactly_header_size_emits_zero_length_first(tmp_path, recyclable, write_log):
    hs = hsize(recyclable)
    recs = [b"a" * (BLOCK - 2 * hs), b"bar"]
    spans = write_log(tmp_path / "x.log", recs, recyclable=recyclable, log_number=3)
    data = (tmp_path / "x.log").read_bytes()
    offsets = [start for start, _ in spans]
    assert offsets == [0, BLOCK - hs]
    assert kinds(data) == [(1, BLOCK - 2 * hs), (2, 0), (4, 3)]
    assert [p[0] for p in wt.parse_physical(data)] == [0, BLOCK - hs, BLOCK]
    assert data == wt.frame(recs, recyclable, 3)
    assert wt.read_all(data) == recs


def test_empty_payload_with_exactly_header_size_left_is_zero_length_full(tmp_path, recyclable,
                                                                         write_log):
    hs = hsize(recyclable)
    recs = [b"a" * (BLOCK - 2 * hs), b"", b"next"]
    spans = write_log(tmp_path / "x.log", recs, recyclable=recyclable, log_number=3)
    data = (tmp_path / "x.log").read_bytes()
    offsets = [start for start, _ in spans]
    assert offsets == [0, BLOCK - hs, BLOCK]
    assert kinds(data) == [(1, BLOCK - 2 * hs), (1, 0), (1, 4)]
    assert data == wt.frame(recs, recyclable, 3)


TRAILERS = [pytest.param(r, n, id=f"{'recyclable' if r else 'legacy'}-{n}")
            for r in (False, True) for n in range(1, hsize(r))]


@pytest.mark.parametrize("recyclable, left", TRAILERS)
def test_leftover_smaller_than_header_is_zero_filled_trailer(tmp_path, recyclable, left,
                                                             write_log):
    hs = hsize(recyclable)
    first = b"\xff" * (BLOCK - hs - left)
    spans = write_log(tmp_path / "x.log", [first, b"second"], recyclable=recyclable, log_number=3)
    data = (tmp_path / "x.log").read_bytes()
    offsets = [start for start, _ in spans]
    assert offsets == [0, BLOCK]
    assert data[BLOCK - left:BLOCK] == bytes(left)
    assert kinds(data) == [(1, len(first)), (1, 6)]
    assert data == wt.frame([first, b"second"], recyclable, 3)


def test_empty_payload_after_trailer_starts_next_block(tmp_path, recyclable, write_log):
    hs = hsize(recyclable)
    recs = [b"a" * (BLOCK - hs - 3), b""]
    spans = write_log(tmp_path / "x.log", recs, recyclable=recyclable, log_number=3)
    data = (tmp_path / "x.log").read_bytes()
    offsets = [start for start, _ in spans]
    assert offsets == [0, BLOCK]
    assert len(data) == BLOCK + hs
    assert data == wt.frame(recs, recyclable, 3)


def _sizes(hs):
    m = BLOCK - hs
    return [0, 1, m - 1, m, m + 1, 2 * m - 1, 2 * m, 2 * m + 1, 3 * m + 17, 100_000,
            5 * 1024 * 1024]


@pytest.mark.parametrize("index", range(11))
def test_payload_sizes_fragment_as_full_or_first_middle_last(tmp_path, recyclable, index,
                                                             write_log):
    hs = hsize(recyclable)
    n = _sizes(hs)[index]
    payload = wt.big_payload(n, seed=n)
    write_log(tmp_path / "x.log", [payload, b"tail"], recyclable=recyclable, log_number=12)
    data = (tmp_path / "x.log").read_bytes()
    types = [t for t, _ in kinds(data)]
    frags = -(-n // (BLOCK - hs)) if n else 1
    expected = [1] if frags == 1 else [2] + [3] * (frags - 2) + [4]
    assert types == expected + [1]
    assert data == wt.frame([payload, b"tail"], recyclable, 12)
    assert wt.read_all(data) == [payload, b"tail"]


@pytest.mark.parametrize("seed", range(8))
def test_random_sequences_match_oracle_framing(tmp_path, recyclable, seed, write_log):
    rng = random.Random(seed)
    recs = [wt.skewed_payload(rng) for _ in range(rng.randrange(1, 120))]
    log_number = rng.randrange(1 << 32)
    spans = write_log(tmp_path / "x.log", recs, recyclable=recyclable, log_number=log_number)
    data = (tmp_path / "x.log").read_bytes()
    offsets = [start for start, _ in spans]
    assert data == wt.frame(recs, recyclable, log_number)
    assert wt.read_all(data) == recs
    assert offsets == [s for s, _ in wt.record_ends(recs, recyclable, log_number)]


_sizes_strategy = st.lists(
    st.one_of(st.integers(0, 64), st.integers(BLOCK - 40, BLOCK + 40),
              st.integers(0, 3 * BLOCK)), max_size=12)


@settings(max_examples=60, deadline=None)
@given(sizes=_sizes_strategy, recyclable=st.booleans(), log_number=st.integers(0, 2**32 - 1))
def test_sizes_near_block_edges_match_oracle_framing(sizes, recyclable, log_number):
    recs = [bytes([i % 251]) * n for i, n in enumerate(sizes)]
    with tempfile.TemporaryDirectory() as d:
        # wh.write_log: hypothesis runs many examples in one function-scoped test
        wh.write_log(pathlib.Path(d) / "x.log", recs, recyclable=recyclable,
                     log_number=log_number)
        data = (pathlib.Path(d) / "x.log").read_bytes()
    assert data == wt.frame(recs, recyclable, log_number)
    assert wt.read_all(data) == recs


@pytest.mark.parametrize("seed", range(4))
def test_reopen_for_append_continues_block_layout(tmp_path, recyclable, seed, write_log):
    rng = random.Random(seed)
    recs = [wt.skewed_payload(rng, 16) for _ in range(40)]
    split = rng.randrange(1, 39)
    path = tmp_path / "x.log"
    write_log(path, recs[:split], recyclable=recyclable, log_number=5)
    with walx.LogWriter(path, recyclable=recyclable, log_number=5) as w:
        assert w.size == path.stat().st_size
        assert w.block_offset == w.size % BLOCK
        for r in recs[split:]:
            w.add_record(r)
    assert path.read_bytes() == wt.frame(recs, recyclable, 5)


@pytest.mark.parametrize("left", range(0, 12))
def test_reopen_for_append_near_block_end(tmp_path, recyclable, left, write_log):
    hs = hsize(recyclable)
    path = tmp_path / "x.log"
    first = [b"a" * (BLOCK - hs - left)]
    more = [b"b" * 50, b"", b"c" * 40000]
    write_log(path, first, recyclable=recyclable, log_number=5)
    assert path.stat().st_size == BLOCK - left
    with walx.LogWriter(path, recyclable=recyclable, log_number=5) as w:
        assert w.block_offset == (BLOCK - left) % BLOCK
        offset = w.add_record(more[0])
        w.add_records(more[1:])
    assert offset == (BLOCK if left < hs else BLOCK - left)
    assert path.read_bytes() == wt.frame(first + more, recyclable, 5)


@pytest.mark.parametrize("tail", ["unfinished-chain", "truncated-payload", "truncated-header"])
def test_reopen_refuses_to_append_after_damaged_tail(tmp_path, recyclable, tail, write_log):
    path = tmp_path / "000005.log"
    write_log(path, [b"a", wt.big_payload(2 * BLOCK, 1)], recyclable=recyclable, log_number=5)
    data = path.read_bytes()
    cut = {"unfinished-chain": BLOCK, "truncated-payload": BLOCK + 100,
           "truncated-header": len(wt.frame([b"a"], recyclable, 5)) + 3}[tail]
    path.write_bytes(data[:cut])
    with pytest.raises(walx.CorruptionError):
        walx.LogWriter(path, recyclable=recyclable).close()
    assert path.read_bytes() == data[:cut]


def test_reopen_empty_file_starts_at_offset_zero(tmp_path, recyclable, write_log):
    path = tmp_path / "x.log"
    path.write_bytes(b"")
    spans = write_log(path, [b"a", b"b"], recyclable=recyclable, log_number=2)
    data = path.read_bytes()
    offsets = [start for start, _ in spans]
    assert offsets == [0, len(wt.frame([b"a"], recyclable, 2))]
    assert data == wt.frame([b"a", b"b"], recyclable, 2)


def test_add_records_matches_repeated_add_record(tmp_path, recyclable, write_log):
    rng = random.Random(21)
    recs = [wt.skewed_payload(rng) for _ in range(80)]
    write_log(tmp_path / "one.log", recs, recyclable=recyclable, log_number=4)
    one = (tmp_path / "one.log").read_bytes()
    with walx.LogWriter(tmp_path / "many.log", recyclable=recyclable, log_number=4) as w:
        assert w.add_records(recs[:30]) == 30
        assert w.add_records(iter(recs[30:])) == 50
        assert w.size == len(one)
    assert (tmp_path / "many.log").read_bytes() == one
    assert one == wt.frame(recs, recyclable, 4)


def test_add_records_of_nothing_writes_nothing(tmp_path, recyclable):
    with walx.LogWriter(tmp_path / "x.log", recyclable=recyclable) as w:
        assert w.add_records([]) == 0
        assert w.size == 0
    assert (tmp_path / "x.log").read_bytes() == b""


def test_add_record_accepts_bytes_like(tmp_path, recyclable, write_log):
    recs = [b"abc", bytearray(b"def"), memoryview(b"ghi"), memoryview(b"xjxkxl")[1::2].tobytes()]
    write_log(tmp_path / "x.log", recs, recyclable=recyclable, log_number=1)
    data = (tmp_path / "x.log").read_bytes()
    assert wt.read_all(data) == [b"abc", b"def", b"ghi", b"jkl"]


@pytest.mark.parametrize("buffer_size", [1000, 1 << 20])
def test_buffered_writer_produces_identical_bytes(tmp_path, recyclable, buffer_size):
    rng = random.Random(buffer_size)
    recs = [wt.skewed_payload(rng) for _ in range(100)]
    expected = wt.frame(recs, recyclable, 6)
    path = tmp_path / "x.log"
    with walx.LogWriter(path, recyclable=recyclable, log_number=6,
                        buffer_size=buffer_size) as w:
        half = [w.add_record(r) for r in recs[:50]]
        assert w.size == len(wt.frame(recs[:50], recyclable, 6))
        w.flush()
        assert path.read_bytes() == wt.frame(recs[:50], recyclable, 6)
        half += [w.add_record(r) for r in recs[50:]]
    assert half == [s for s, _ in wt.record_ends(recs, recyclable, 6)]
    assert path.read_bytes() == expected


def test_buffered_add_records_matches_write_through(tmp_path, recyclable):
    recs = [wt.big_payload(n, n) for n in (0, 5, 999, 1000, 1001, 40000, 3 * 1024 * 1024, 3)]
    path = tmp_path / "x.log"
    with walx.LogWriter(path, recyclable=recyclable, buffer_size=1000) as w:
        w.add_records(recs)
    assert path.read_bytes() == wt.frame(recs, recyclable, 0)


def _read(source, **kw):
    with walx.LogReader(source, **kw) as r:
        return list(r)


