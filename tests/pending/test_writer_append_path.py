"""The one append path of LogWriter: add_record and add_records, stable
(bytes) and writable (bytearray) records, small ones copied into the buffer
and large stable ones written in place after the bytes buffered before them
in the same call. The file is byte-identical to the oracle's framing
whichever way a record went."""

import errno

import pytest

import walx
from walx import _testing as T
from walxtest import big_payload, frame, run_threads

IN_PLACE = 56 * 1024        # WALX_WRITER_IN_PLACE_MIN


def batch_records(lead):
    sizes = [lead, 5, IN_PLACE, 0, 3 * 32768 + 1, 100, IN_PLACE - 1, 1 << 20, 7]
    return [big_payload(n, seed=i) for i, n in enumerate(sizes)]


@pytest.mark.parametrize("recyclable", [False, True], ids=["legacy", "recyclable"])
@pytest.mark.parametrize("kind", [bytes, bytearray], ids=["stable", "writable"])
@pytest.mark.parametrize("lead", [0, 32757, 32761])
def test_add_records_mixing_copied_and_in_place_records_is_byte_exact(tmp_path, recyclable,
                                                                      kind, lead):
    records = batch_records(lead)
    path = tmp_path / "000005.log"
    with walx.LogWriter(path, recyclable=recyclable, log_number=5) as w:
        assert w.add_records([kind(r) for r in records]) == len(records)
        assert w.size == len(frame(records, recyclable=recyclable, log_number=5))
    assert path.read_bytes() == frame(records, recyclable=recyclable, log_number=5)
    assert list(walx.LogReader(path)) == records


@pytest.mark.parametrize("fault", ["short", "eintr"])
def test_in_place_write_after_buffered_bytes_survives_short_writes_and_eintr(tmp_path, fault):
    records = batch_records(100)
    path = tmp_path / "x.log"
    with walx.LogWriter(path) as w:
        if fault == "short":
            T.fault_arm("write", 1, short_write=True)
        else:
            T.fault_arm("write", 1, errno.EINTR)
        try:
            w.add_records(records)
            assert T.fault_fired() == 1
        finally:
            T.fault_disarm()
    assert path.read_bytes() == frame(records)


def test_failed_in_place_write_poisons_the_writer(tmp_path):
    path = tmp_path / "x.log"
    with walx.LogWriter(path) as w:
        w.add_record(b"first")
        T.fault_arm("write", 1, errno.EIO)
        try:
            with pytest.raises(OSError) as info:
                w.add_record(big_payload(IN_PLACE + 1))
            assert info.value.errno == errno.EIO
        finally:
            T.fault_disarm()
        assert w.poisoned
        with pytest.raises(walx.WalPoisonedError):
            w.add_record(b"more")


@pytest.mark.parametrize("buffer_size", [0, 1 << 16])
def test_add_record_offsets_match_the_framing_from_a_second_thread(tmp_path, buffer_size):
    # Other Python threads exist, so write-through appends release the
    # GIL and take the lock; the offsets and bytes are those of the framing.
    path = tmp_path / "x.log"
    records = [big_payload(n, seed=n) for n in (0, 1, 32761, 100, 70000, 3, 32768 * 2)]
    offsets = []
    with walx.LogWriter(path, buffer_size=buffer_size) as w:
        def body(i):
            if i == 0:
                offsets.extend(w.add_record(r) for r in records)
        run_threads(body, 2)
    data = path.read_bytes()
    assert data == frame(records)
    expect, at = [], 0
    for r in records:
        framed = frame([r], block_offset=at % 32768)
        lead = len(framed) - len(frame([r], block_offset=0)) if at % 32768 > 32768 - 7 else 0
        expect.append(at + lead)
        at += len(framed)
    assert offsets == expect
