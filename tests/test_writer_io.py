"""LogWriter's write paths: write-through (buffer + write(2) below 56 KiB,
writev above) and buffering, add_records, sync and sync_all, poisoning after
I/O failures (/dev/full gives ENOSPC; RLIMIT_FSIZE gives EFBIG), and many
threads on one writer: records never interleave, concurrent sync() calls all
complete (sharing fdatasyncs), and close() racing with appends never crashes
or tears the file. No timing assertions."""

import errno
import json
import os
import random
import subprocess
import sys
import textwrap
import threading

import pytest

import walx
from walx import _testing as T
from walxtest import (big_payload, frame, make_record, os_bytes, parse_record,
                      random_payloads as payloads, run_threads)


BLOCK = walx.BLOCK_SIZE


def arm_write_fault(kind):
    """The next write(2) or writev(2) writes half its bytes ("short") or
    fails with EINTR ("eintr"): either way the loop must finish the job."""
    if kind == "short":
        T.fault_arm("write", 1, short_write=True)
    else:
        T.fault_arm("write", 1, errno.EINTR)
ABSOLUTE = walx.RecoveryMode.ABSOLUTE_CONSISTENCY
# The check values of docs/format.md.
FOO_LEGACY = bytes.fromhex("dd5fb37a03000166 6f6f".replace(" ", ""))
FOO_RECYCLABLE_7 = bytes.fromhex("7197df8203000507000000666f6f")


# ---- write-through and buffering ------------------------------------------------------


def test_write_through_reaches_the_os_before_returning(wal_dir, recyclable, read_all):
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
def test_buffered_bytes_reach_the_file_on_flush_sync_or_close(wal_dir, how, read_all):
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


def test_buffered_bytes_reach_the_file_when_the_buffer_fills(wal_dir, read_all):
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


def test_buffered_record_larger_than_the_buffer(wal_dir, recyclable, read_all):
    path = wal_dir / "000001.log"
    big = random.Random(2).randbytes(300_000)
    with walx.LogWriter(path, recyclable=recyclable, buffer_size=1000) as w:
        w.add_record(b"x")
        w.add_record(big)
        w.add_record(b"y")
        w.flush()
        assert len(os_bytes(path)) == w.size
    assert read_all(path) == [b"x", big, b"y"]


# ---- the two write-through paths: buffer + write(2) below 56 KiB, writev above ----

DIRECT_MIN = 56 * 1024


@pytest.mark.parametrize("recyclable", [False, True], ids=["legacy", "recyclable"])
@pytest.mark.parametrize("lead", [0, 1, 32757, 32761, 32768 - 12])
def test_write_through_sizes_around_the_writev_switch(tmp_path, recyclable, lead):
    # Records just below, at and above the size where a write-through record
    # stops being copied into the buffer, starting at block edges: the file
    # is byte-identical to the oracle's framing either way.
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
    records = [big_payload(200_000, seed=3), big_payload(70_000, seed=4)]
    for kind in ("short", "eintr"):
        path = tmp_path / f"{kind}.log"
        with walx.LogWriter(path) as w:
            arm_write_fault(kind)
            try:
                for r in records:
                    w.add_record(r)
                assert T.fault_fired() == 1
            finally:
                T.fault_disarm()
        assert path.read_bytes() == frame(records)


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
def test_add_records_bad_element_writes_nothing(wal_dir, bad, index, buffer_size, read_all):
    path = wal_dir / "000001.log"
    with walx.LogWriter(path, buffer_size=buffer_size) as w:
        w.add_record(b"before")
        size = w.size
        with pytest.raises(TypeError, match=rf"records\[{index}\]"):
            w.add_records(bad)
        assert w.size == size
        assert not w.poisoned
    assert read_all(path) == [b"before"]


def test_add_records_failing_generator_writes_nothing(wal_dir, read_all):
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
def test_sync_and_sync_all_count_syncs(wal_dir, buffer_size, read_all):
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


def test_sync_of_a_reopened_file_syncs(wal_dir, write_log):
    path = wal_dir / "000001.log"
    write_log(path, [b"unsynced"])
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


# ---- threads --------------------------------------------------------------------------

THREADS = 8

PER_THREAD = 2000


def record_size(rnd):
    r = rnd.random()
    if r < 0.02:
        return rnd.randrange(BLOCK, 70_000)          # spans two or three blocks
    if r < 0.05:
        return rnd.randrange(1000, BLOCK)
    return rnd.randrange(14, 300)


@pytest.mark.parametrize("buffer_size", [0, 1 << 16], ids=["write_through", "buffered"])
@pytest.mark.parametrize("api", ["add_record", "add_records"])
def test_concurrent_appends_never_interleave(wal_dir, recyclable, buffer_size, api):
    path = wal_dir / "000017.log"
    offsets = {}
    barrier = threading.Barrier(THREADS)
    with walx.LogWriter(path, recyclable=recyclable, buffer_size=buffer_size) as w:
        def work(tid):
            rnd = random.Random(tid)
            barrier.wait()
            mine = []
            if api == "add_record":
                for idx in range(PER_THREAD):
                    rec = make_record(tid, idx, record_size(rnd))
                    mine.append((w.add_record(rec), idx))
            else:
                for start in range(0, PER_THREAD, 50):
                    recs = [make_record(tid, i, record_size(rnd))
                            for i in range(start, start + 50)]
                    assert w.add_records(recs) == 50
            offsets[tid] = mine

        run_threads(work, THREADS)
        size = w.size
    assert path.stat().st_size == size
    seen = {}
    positions = {}
    with walx.LogReader(str(path), mode=ABSOLUTE) as r:
        for rec in r:
            key = parse_record(rec)
            assert key not in seen, f"record {key} appears twice"
            seen[key] = rec
            positions[key] = r.last_record_offset
        assert r.corruptions == [] and r.clean_end
    assert len(seen) == THREADS * PER_THREAD
    assert set(seen) == {(t, i) for t in range(THREADS) for i in range(PER_THREAD)}
    for tid in range(THREADS):
        pos = [positions[(tid, i)] for i in range(PER_THREAD)]
        assert pos == sorted(pos), "one thread's records must stay in its own order"
    for tid, mine in offsets.items():
        for off, idx in mine:
            assert positions[(tid, idx)] == off, "add_record must return the record's offset"


@pytest.mark.parametrize("buffer_size", [0, 1 << 16], ids=["write_through", "buffered"])
def test_concurrent_syncs_share_fdatasyncs_and_cover_earlier_records(wal_dir, buffer_size,
                                                                      read_all):
    path = wal_dir / "000001.log"
    n_threads, rounds = 6, 40
    h = walx.HEADER_SIZE
    sync_calls = [0] * n_threads
    added = []                        # (offset, record) once add_record returned
    barrier = threading.Barrier(n_threads)
    with walx.LogWriter(path, buffer_size=buffer_size) as w:
        def visible(fd, off, rec):
            if os.fstat(fd).st_size < off + h + len(rec):
                return False
            if off % BLOCK + h + len(rec) <= BLOCK:   # a single fragment: compare it
                return os.pread(fd, len(rec), off + h) == rec
            return True

        def work(tid):
            fd = os.open(path, os.O_RDONLY)
            try:
                barrier.wait()
                for idx in range(rounds):
                    rec = make_record(tid, idx, 14 + (tid * 37 + idx * 11) % 200)
                    added.append((w.add_record(rec), rec))
                    before = len(added)
                    if tid % 2:
                        w.sync()
                    else:
                        w.sync_all()
                    sync_calls[tid] += 1
                    # Every record added before this sync() began is now in
                    # the file as the OS sees it.
                    for off, r in added[:before]:
                        assert visible(fd, off, r), (tid, idx, off)
            finally:
                os.close(fd)

        run_threads(work, n_threads)
        total_syncs = w.syncs_total
        assert 1 <= total_syncs <= sum(sync_calls)
    assert sum(sync_calls) == n_threads * rounds
    records = read_all(path)
    assert sorted(parse_record(r) for r in records) == \
        sorted((t, i) for t in range(n_threads) for i in range(rounds))


@pytest.mark.parametrize("buffer_size", [0, 1 << 16], ids=["write_through", "buffered"])
def test_concurrent_close_while_appending(wal_dir, recyclable, buffer_size, read_all):
    path = wal_dir / "000005.log"
    n_threads = 6
    w = walx.LogWriter(path, recyclable=recyclable, buffer_size=buffer_size)
    succeeded = [[] for _ in range(n_threads)]
    attempted = set()
    started = threading.Barrier(n_threads + 1)
    progress = threading.Semaphore(0)
    errors = []

    def work(tid):
        try:
            append_until_closed(tid)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
            progress.release()

    def append_until_closed(tid):
        rnd = random.Random(tid)
        started.wait()
        for idx in range(100_000):
            rec = make_record(tid, idx, record_size(rnd))
            attempted.add((tid, idx))
            try:
                if idx % 3 == 0:
                    w.add_records([rec])
                elif idx % 7 == 0:
                    w.add_record(rec)
                    w.flush()
                elif idx % 50 == 1:
                    w.add_record(rec)
                    w.sync()
                else:
                    w.add_record(rec)
            except walx.WalClosedError:
                return
            succeeded[tid].append(idx)
            if idx == 200:
                progress.release()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    started.wait()
    for _ in range(n_threads):
        progress.acquire()            # every thread has appended a while
    w.close()
    for t in threads:
        t.join()
    assert errors == []
    assert w.closed and not w.poisoned
    records = read_all(path)
    got = [parse_record(r) for r in records]
    assert len(got) == len(set(got))
    ok = {(t, i) for t in range(n_threads) for i in succeeded[t]}
    assert ok <= set(got), "a record whose append returned must be in the file"
    assert set(got) <= attempted
    # Whatever a thread got in ended before its first failed append.
    for t in range(n_threads):
        mine = sorted(i for (tt, i) in got if tt == t)
        assert mine == list(range(len(mine)))


def test_concurrent_close_calls_all_return_and_keep_every_record(wal_dir, read_all):
    path = wal_dir / "000001.log"
    w = walx.LogWriter(path, buffer_size=1 << 16)
    for i in range(1000):
        w.add_record(make_record(0, i, 100))
    barrier = threading.Barrier(8)

    def work(_):
        barrier.wait()
        w.close()

    run_threads(work, 8)
    assert w.closed
    assert [parse_record(r) for r in read_all(path)] == [(0, i) for i in range(1000)]


_BLOCKED_WRITE = textwrap.dedent("""
    import os, sys, tempfile, threading, tty
    import walx
    method = sys.argv[1]
    records = [bytes([i % 251]) * 1000 for i in range(1000)]       # about 1 MB framed
    with tempfile.TemporaryDirectory() as d:
        with walx.LogWriter(os.path.join(d, "ref.log")) as ref:
            ref.add_records(records)
            expected = ref.size
    master, slave = os.openpty()
    tty.setraw(slave)
    w = walx.LogWriter(os.ttyname(slave))

    def append():
        if method == "add_records":
            w.add_records(records)
        else:
            for r in records:
                w.add_record(r)

    t = threading.Thread(target=append)
    t.start()
    # The pty holds a few KiB: the writer's write(2) blocks until this
    # thread reads. It can only read if the writer released the GIL.
    got = 0
    while got < expected:
        got += len(os.read(master, 1 << 16))
    t.join()
    print("drained", got, expected)
""")


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
@pytest.mark.parametrize("method", ["add_records", "add_record"])
def test_blocked_write_does_not_hold_the_gil(method):
    # docs/api.md: the GIL is released around every system call. A writer whose
    # write(2) blocks (here on a full pseudo-terminal) must let the other
    # thread run; holding the GIL deadlocks the child, which the time limit
    # turns into a failure instead of a hang.
    proc = subprocess.run([sys.executable, "-c", _BLOCKED_WRITE, method],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    words = proc.stdout.split()
    assert words[0] == "drained" and words[1] == words[2], proc.stdout


@pytest.mark.parametrize("buffer_size", [0, 1 << 20], ids=["write-through", "buffered"])
@pytest.mark.parametrize("size", [1000, 256 * 1024 + 300])
def test_buffer_changed_during_a_write_still_gives_valid_records(tmp_path, buffer_size, size):
    # A caller that changes a bytearray while add_record writes it (another
    # thread; the GIL is released around the write) gets records of mixed
    # content, but each must be written with the CRC of the bytes written:
    # the log must stay readable. So a record is framed from one copy: a
    # writable buffer writev'd in place after its CRC was computed, or a
    # folded CRC whose tail reads the source again, would store a CRC of
    # other bytes.
    path = tmp_path / "race.log"
    data = bytearray(size)
    stop = threading.Event()

    def scribble():
        i = 0
        while not stop.is_set():
            data[i % size] = i & 0xFF
            data[(i * 7919) % size] ^= 0x5A
            i += 1

    t = threading.Thread(target=scribble)
    t.start()
    # Write-through hands the GIL to the scribbler at every record: few
    # records. Buffered keeps it while framing: many, for the CRC's tail.
    n = 100 if size > 1000 else (300 if buffer_size == 0 else 20000)
    try:
        with walx.LogWriter(path, buffer_size=buffer_size) as w:
            for _ in range(n):
                w.add_record(data)
    finally:
        stop.set()
        t.join()
    with walx.LogReader(path, mode=ABSOLUTE) as r:
        got = [len(rec) for rec in r]
    assert got == [size] * n


# ---- the one append path: copied and in-place records, in any mix ----

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
        arm_write_fault(fault)
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
