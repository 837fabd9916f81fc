"""WalManager: opening a directory, appending, rotating, metrics, sync and
buffering, preallocation, what the manager writes (RocksDB-compatible
records, checked field by field), threads and group commit, poisoning after
a failed write, the directory lock, closed managers and argument checks.
GC and recycling are test_manager_gc.py; recovery is test_recovery.py."""

import json
import os
import signal
import struct
import subprocess
import sys
import threading

import crc32c as crc32c_pkg
import pytest

import walx
from walxhelpers import append_batches as fill, log_path, names, recovered_seqs, seqs
from walxtest import read_varint, run_threads


RM = walx.RecoveryMode


# ---- opening ------------------------------------------------------------------


def test_open_creates_directory_log_and_lock(tmp_path):
    d = tmp_path / "a" / "b"
    with walx.WalManager(d) as m:
        assert names(d) == ["000001.wal", "LOCK"]
        assert (d / "000001.wal").stat().st_size == 0
        assert m.log_number == 1 and m.dir == d
        assert m.flushed_seq == 0 and m.closed_logs == []
    assert names(d) == ["000001.wal", "LOCK"]


def test_initial_log_number_names_the_first_log(wal_dir, batch):
    with walx.WalManager(wal_dir, 42) as m:
        assert m.log_number == 42
        m.append(batch(1))
        assert m.rotate() == 42
        assert m.log_number == 43
    assert [n for n, _ in walx.WalManager.list_wal_files(wal_dir)] == [42, 43]


def test_opening_onto_an_existing_nonempty_log_raises_file_exists_and_unlocks(wal_dir, batch):
    with walx.WalManager(wal_dir, 5) as m:
        m.append(batch(1))
    before = (wal_dir / "000005.wal").read_bytes()
    with pytest.raises(FileExistsError) as ei:
        walx.WalManager(wal_dir, 5)
    assert ei.value.filename == str(wal_dir / "000005.wal")
    assert (wal_dir / "000005.wal").read_bytes() == before
    with walx.WalManager(wal_dir, 6):       # the failed open released the lock
        pass


def test_opening_onto_an_existing_empty_log_uses_it(wal_dir, batch):
    (wal_dir / "000003.wal").write_bytes(b"")
    with walx.WalManager(wal_dir, 3) as m:
        m.append(batch(1))
    assert walx.WalManager.recover_from_dir(wal_dir) == ([batch(1)], 1, 3)


# ---- append, rotate, metrics --------------------------------------------------


def test_appended_batches_recover_with_max_seq_and_max_log(wal_dir):
    with walx.WalManager(wal_dir, 1) as mgr:
        b1 = walx.WriteBatch(1)
        b1.put(b"hello", b"world")
        mgr.append(b1)
        b2 = walx.WriteBatch(2)
        b2.delete(b"gone")
        mgr.append(b2)
    batches, max_seq, max_log = walx.WalManager.recover_from_dir(wal_dir)
    assert batches == [b1, b2]
    assert list(batches[1]) == [(walx.OpType.DELETE, b"gone", b"")]
    assert (max_seq, max_log) == (2, 1)


def test_batches_of_any_size_recover_exactly(wal_dir, batch):
    written = [batch(1, n=2), batch(3), batch(4, n=5, size=5000)]
    with walx.WalManager(wal_dir) as m:
        for b in written:
            m.append(b)
        assert m.current_max_seq == 8
    assert walx.WalManager.recover_from_dir(wal_dir) == (written, 8, 1)


def test_rotate_closes_the_log_and_appends_go_to_the_next(wal_dir, batch):
    with walx.WalManager(wal_dir, 1) as mgr:
        mgr.append(batch(1))
        assert mgr.rotate() == 1
        assert mgr.log_number == 2
        mgr.append(batch(2))
        assert names(wal_dir) == ["000001.wal", "000002.wal", "LOCK"]
        batches, max_seq, max_log = walx.WalManager.recover_from_dir(wal_dir)
    assert batches == [batch(1), batch(2)]
    assert (max_seq, max_log) == (2, 2)


def test_rotate_records_closed_logs_with_their_max_seq(wal_dir, batch):
    with walx.WalManager(wal_dir) as m:
        m.append(batch(1, n=3))
        m.append(batch(4, n=2))
        assert m.rotate() == 1
        assert m.log_number == 2
        assert m.closed_logs == [(1, 5)]
        assert m.rotate() == 2                   # no appends: max_seq 0
        assert m.closed_logs == [(1, 5), (2, 0)]
        m.append(batch(6))
        assert m.rotate() == 3
        assert m.closed_logs == [(1, 5), (2, 0), (3, 6)]
        assert m.log_number == 4
        assert m.metrics["rotations_total"] == 3


def test_rotate_onto_existing_nonempty_log_fails_and_keeps_current(wal_dir, batch):
    # A failed rotate uses up no log number, and rotation never appends to
    # an existing file: appending at a block offset the writer does not know
    # would break the framing.
    with walx.WalManager(wal_dir) as m:
        m.append(batch(1))
        (wal_dir / "000002.wal").write_bytes(b"someone else's")
        with pytest.raises(FileExistsError):
            m.rotate()
        assert (m.log_number, m.closed_logs, m.metrics["rotations_total"]) == (1, [], 0)
        m.append(batch(2))                       # still usable, still log 1
        foreign = (wal_dir / "000002.wal").read_bytes()
        (wal_dir / "000002.wal").rename(wal_dir / "foreign")
        assert m.rotate() == 1 and m.log_number == 2   # the number was not used up
        m.append(batch(3))
    assert foreign == b"someone else's"
    with walx.LogReader(wal_dir / "000001.wal", codec="walx") as r:
        assert list(r) == [batch(1), batch(2)]
    assert seqs(walx.WalManager.recover_from_dir(wal_dir)[0]) == [1, 2, 3]


def test_rotation_stops_at_the_largest_log_number_and_stays_usable(wal_dir, batch):
    top = 2**64 - 1
    (wal_dir / f"{top}.wal").write_bytes(b"")
    assert walx.WalManager.list_wal_files(wal_dir) == [(top, wal_dir / f"{top}.wal")]
    assert walx.WalManager.recover_from_dir(wal_dir) == ([], 0, top)
    with pytest.raises(walx.WalError, match="largest log number"):
        walx.WalManager.recover_and_open(wal_dir)
    (wal_dir / f"{top}.wal").unlink()
    with walx.WalManager(wal_dir, top - 1) as m:    # the largest initial number
        m.append(batch(1))
        assert m.rotate() == top - 1
        assert m.log_number == top
        with pytest.raises(walx.WalError, match="largest log number"):
            m.rotate()                              # no log 0 after it
        assert m.log_number == top
        m.append(batch(2))                          # still usable
    with pytest.raises(walx.WalError, match="largest log number"):
        walx.WalManager.recover_and_open(wal_dir)
    assert seqs(walx.WalManager.recover_from_dir(wal_dir)[0]) == [1, 2]


def test_metrics_exact_and_monotonic(wal_dir, batch):
    snaps = []
    with walx.WalManager(wal_dir) as m:
        snaps.append(m.metrics)
        sizes = 0
        for i in range(3):
            b = batch(i + 1)
            sizes += len(b.encode())
            m.append(b)
            snaps.append(m.metrics)
        assert m.metrics["appends_total"] == 3
        assert m.metrics["syncs_total"] == 3
        assert m.metrics["bytes_total"] == sizes
        m.append(batch(4), sync=False)
        m.append(batch(5), sync=False)
        snaps.append(m.metrics)
        assert (m.metrics["appends_total"], m.metrics["syncs_total"]) == (5, 3)
        m.rotate()
        snaps.append(m.metrics)
        assert (m.metrics["rotations_total"], m.metrics["syncs_total"]) == (1, 4)
        m.sync()                               # nothing written since: no fdatasync
        snaps.append(m.metrics)
        assert m.metrics["syncs_total"] == 4
        m.append(batch(6), sync=False)
        m.sync()
        snaps.append(m.metrics)
        assert m.metrics["syncs_total"] == 5
        m.mark_flushed_seq(5)
        snaps.append(m.metrics)
        assert m.metrics["files_gcd_total"] == 1
        assert m.metrics["errors_io_total"] == 0
    keys = {"appends_total", "syncs_total", "bytes_total", "rotations_total",
            "files_gcd_total", "errors_io_total"}
    assert keys <= set(snaps[0])
    assert all(v == 0 for k, v in snaps[0].items())
    for a, b in zip(snaps, snaps[1:]):
        assert all(b[k] >= a[k] for k in keys)
    assert m.metrics == snaps[-1]                # readable after close


def test_metrics_count_an_append_before_it_returns(wal_dir):
    # Each thread reads the metrics right after its own append returned:
    # the append (and the appends of its group) must already be counted.
    done = []
    lag = []
    lock = threading.Lock()
    with walx.WalManager(wal_dir) as m:
        def work(t):
            for i in range(300):
                m.append(walx.WriteBatch())     # the manager assigns sequences
                with lock:
                    done.append(1)
                    returned = len(done)
                if m.metrics["appends_total"] < returned:
                    lag.append(returned)
        run_threads(work, 8)
        assert m.metrics["appends_total"] == 2400
    assert lag == []


# ---- sync and buffering ---------------------------------------------------------


def test_sync_false_leaves_syncing_to_sync_or_a_per_append_override(wal_dir, batch):
    with walx.WalManager(wal_dir, sync=False) as m:
        m.append(batch(1))
        m.append(batch(2))
        assert m.metrics["syncs_total"] == 0
        # buffer_size=0: the bytes reached the OS already
        assert (wal_dir / "000001.wal").stat().st_size == 2 * (7 + len(batch(1).encode()))
        m.sync()
        assert m.metrics["syncs_total"] == 1
        m.append(batch(3), sync=True)            # per-call override
        assert m.metrics["syncs_total"] == 2
    assert seqs(walx.WalManager.recover_from_dir(wal_dir)[0]) == [1, 2, 3]


def test_append_sync_false_override_on_durable_manager(wal_dir, batch):
    with walx.WalManager(wal_dir) as m:
        m.append(batch(1), sync=False)
        assert m.metrics["syncs_total"] == 0
        m.append(batch(2))
        assert m.metrics["syncs_total"] == 1


def test_buffer_size_keeps_data_in_user_space_until_sync_rotate_close(wal_dir, batch):
    rec = 7 + len(batch(1).encode())
    log1, log2 = wal_dir / "000001.wal", wal_dir / "000002.wal"
    with walx.WalManager(wal_dir, sync=False, buffer_size=1 << 16) as m:
        m.append(batch(1))
        assert log1.stat().st_size == 0
        m.sync()
        assert log1.stat().st_size == rec
        m.append(batch(2))
        assert log1.stat().st_size == rec
        m.rotate()
        assert log1.stat().st_size == 2 * rec
        m.append(batch(3))
        assert log2.stat().st_size == 0
    assert log2.stat().st_size == rec
    assert seqs(walx.WalManager.recover_from_dir(wal_dir)[0]) == [1, 2, 3]


# ---- preallocation ----------------------------------------------------------------


@pytest.mark.parametrize("recyclable", [False, True], ids=["legacy", "recyclable"])
def test_preallocated_logs_have_their_size_reserved_and_read_back_exactly(wal_dir, recyclable):
    size = 1 << 20
    with walx.WalManager(wal_dir, preallocate=size, recyclable=recyclable) as m:
        assert (wal_dir / "000001.wal").stat().st_size == size
        fill(m, 1, 20)
        assert (wal_dir / "000001.wal").stat().st_size == size
        m.rotate()
        assert (wal_dir / "000002.wal").stat().st_size == size
        fill(m, 21, 5)
    for mode in walx.RecoveryMode:
        assert recovered_seqs(wal_dir, mode) == list(range(1, 26))
    with walx.LogReader(wal_dir / "000001.wal") as r:
        assert len(list(r)) == 20
        assert r.corruptions == []


def test_a_preallocated_log_can_outgrow_its_reservation(wal_dir):
    with walx.WalManager(wal_dir, preallocate=4096) as m:
        fill(m, 1, 100, value=b"x" * 1000)
    assert (wal_dir / "000001.wal").stat().st_size > 100_000
    assert recovered_seqs(wal_dir) == list(range(1, 101))


def test_a_torn_write_into_a_preallocated_log_is_a_dropped_tail(wal_dir):
    with walx.WalManager(wal_dir, preallocate=1 << 16) as m:
        fill(m, 1, 5)
    raw = bytearray((wal_dir / "000001.wal").read_bytes())
    with walx.LogReader(bytes(raw)) as r:
        list(r)
        end = r.end_offset
    raw[end - 20:end] = bytes(20)            # the last record's end never reached the disk
    (wal_dir / "000001.wal").write_bytes(bytes(raw))
    batches, _, _ = walx.WalManager.recover_from_dir(wal_dir)
    assert [b.sequence for b in batches] == [1, 2, 3, 4]


# ---- what the manager writes -------------------------------------------------------


def _mask(c):
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def test_manager_records_carry_rocksdb_masked_crcs(wal_dir, batch):
    b = batch(1)
    with walx.WalManager(wal_dir) as m:
        m.append(b)
    raw = log_path(wal_dir, 1).read_bytes()
    stored, length, rtype = struct.unpack_from("<IHB", raw)
    payload = raw[7:7 + length]
    assert (length, rtype, payload) == (len(b.encode()), 1, b.encode())
    assert stored == _mask(crc32c_pkg.crc32c(bytes([rtype]) + payload))
    with walx.LogReader(log_path(wal_dir, 1)) as r:
        assert list(r) == [b.encode()]
        assert r.corruptions == []


def forensic_parse(raw):
    """An independent reader of a clean legacy log: every field is checked.
    Returns [(sequence, [(op, key, value)])]."""
    out, chain, pos = [], None, 0
    while pos < len(raw):
        left = 32768 - pos % 32768
        if left < 7:
            assert raw[pos:pos + left] == bytes(min(left, len(raw) - pos)), "trailer"
            pos += left
            continue
        stored, length, rtype = struct.unpack_from("<IHB", raw, pos)
        assert 7 + length <= left, f"record crosses block at {pos}"
        payload = raw[pos + 7:pos + 7 + length]
        assert len(payload) == length
        assert stored == _mask(crc32c_pkg.crc32c(bytes([rtype]) + payload)), pos
        assert rtype in (1, 2, 3, 4), rtype
        if rtype == 1:
            assert chain is None
            records = [payload]
        elif rtype == 2:
            assert chain is None
            chain, records = [payload], []
        else:
            assert chain is not None
            chain.append(payload)
            records = []
            if rtype == 4:
                records, chain = [b"".join(chain)], None
        for rec in records:
            seq, count = struct.unpack_from("<QI", rec)
            p, ops = 12, []
            for _ in range(count):
                op = rec[p]
                assert op in (0, 1)
                klen, p = read_varint(rec, p + 1)
                key = rec[p:p + klen]
                vlen, p = read_varint(rec, p + klen)
                ops.append((op, key, rec[p:p + vlen]))
                p += vlen
            assert p == len(rec), "trailing bytes"
            out.append((seq, ops))
        pos += 7 + length
    assert chain is None
    return out


def test_manager_files_parse_field_by_field_as_legacy_logs_of_batches(wal_dir):
    written = []
    with walx.WalManager(wal_dir, sync=False) as m:
        seq = 1
        for i in range(120):
            b = walx.WriteBatch(seq)
            for j in range(i % 4):
                k, v = b"key%d" % (seq + j), bytes([i]) * (i * 37 % 700)
                if j == 2:
                    b.delete_with_pre_image(k, v)
                else:
                    b.put(k, v)
            if i % 10 == 3:
                b.put(b"big", b"B" * 70000)          # FIRST, MIDDLE, LAST
            if i == 60:
                m.rotate()
            m.append(b)
            written.append(b)
            seq = b.last_seq + 1
    got = forensic_parse(log_path(wal_dir, 1).read_bytes()) + \
        forensic_parse(log_path(wal_dir, 2).read_bytes())
    assert len(got) == len(written)
    for (s, ops), b in zip(got, written):
        assert s == b.sequence
        assert ops == [(int(r.op), r.key, r.value) for r in b]


# ---- threads, group commit and poisoning ----------------------------------------------


def test_concurrent_appends_with_rotation_and_gc(wal_dir):
    # Writers and a controller advance in overlapping phases (no sleeps): the
    # appends of phase p may run while rotation p - 1 happens, and the
    # controller marks as flushed a watermark computed three rotations
    # earlier, so that the last closed logs stay on disk. The manager
    # assigns the sequences (a caller's own must arrive in order).
    lock = threading.Condition()
    state = {"done": 0, "rotated": 0}
    appended = {}
    per_thread, nthreads, rotations = 120, 8, 24
    total = per_thread * nthreads

    def phase(i):
        return i * (rotations + 1) // per_thread

    done_by_phase = [nthreads * sum(1 for i in range(per_thread) if phase(i) <= r)
                     for r in range(rotations + 1)]
    marks, wms, errors = [], [], []
    m = walx.WalManager(wal_dir, sync=False)

    def writer(t):
        try:
            for i in range(per_thread):
                n = 1 + (t + i) % 3
                with lock:
                    lock.wait_for(lambda: state["rotated"] >= phase(i) - 1, timeout=30)
                b = walx.WriteBatch()
                for j in range(n):
                    b.put(b"t%d-%d-%d" % (t, i, j), b"v%d" % j)
                s = m.append(b)
                with lock:
                    appended[s] = b.encode()
                    state["done"] += 1
                    lock.notify_all()
        except BaseException as e:      # pragma: no cover - reported below
            errors.append(e)

    def controller():
        try:
            for r in range(rotations):
                with lock:
                    lock.wait_for(lambda: state["done"] >= done_by_phase[r], timeout=30)
                m.rotate()
                # The log just closed holds the highest sequences of the
                # closed logs: every batch up to them has been written.
                top = max([s for _, s in m.closed_logs] + wms[-1:] + [0])
                with lock:
                    state["rotated"] += 1
                    lock.notify_all()
                    wms.append(top)
                if r >= 3:
                    marks.append(wms[r - 3])
                    m.mark_flushed_seq(wms[r - 3])
                    if r % 5 == 4:
                        m.mark_flushed_seq(wms[r - 3] // 2)   # a lower mark changes nothing
        except BaseException as e:      # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(nthreads)]
    threads.append(threading.Thread(target=controller))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        mark = max(marks)
        assert m.flushed_seq == mark == marks[-1]
        closed, current = m.closed_logs, m.log_number
        metrics = m.metrics
    finally:
        m.close()
    assert closed, "the logs closed after the last mark must stay"
    assert (metrics["appends_total"], metrics["rotations_total"]) == (total, rotations)
    assert all(s > mark for _, s in closed)
    on_disk = [n for n, _ in walx.WalManager.list_wal_files(wal_dir)]
    assert on_disk == sorted([n for n, _ in closed] + [current])
    assert metrics["files_gcd_total"] == rotations - len(closed)
    # each closed log's recorded max_seq is exactly the max of what it holds
    for n, max_seq in closed + [(current, None)]:
        with walx.LogReader(log_path(wal_dir, n), codec="walx") as r:
            lasts = [b.last_seq for b in r]
            assert r.corruptions == []
        if max_seq is not None:
            assert max(lasts, default=0) == max_seq
    batches, _, _ = walx.WalManager.recover_from_dir(wal_dir)
    got = [b.sequence for b in batches]
    assert len(got) == len(set(got)), "a batch was recovered twice"
    assert all(appended[b.sequence] == b.encode() for b in batches)
    need = {s for s, enc in appended.items() if walx.WriteBatch.decode(enc).last_seq > mark}
    assert need <= set(got)
    assert len(appended) == total


def test_group_commit_durable_appends_from_8_threads(wal_dir):
    per_thread = 25
    with walx.WalManager(wal_dir) as m:
        def writer(t):
            for i in range(per_thread):
                b = walx.WriteBatch()       # the manager assigns sequences
                b.put(b"k%d-%d" % (t, i), b"v")
                m.append(b)
        run_threads(writer, 8)       # AssertionError if any append raised
        metrics = m.metrics
    assert metrics["appends_total"] == 8 * per_thread
    assert 1 <= metrics["syncs_total"] <= metrics["appends_total"]
    batches, max_seq, _ = walx.WalManager.recover_from_dir(wal_dir)
    assert [b.sequence for b in batches] == list(range(1, 8 * per_thread + 1))
    assert max_seq == 8 * per_thread


POISON_CHILD = r"""
import json, resource, signal, sys, threading, walx
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
d = sys.argv[1]
def batch(seq):
    b = walx.WriteBatch(seq); b.put(b"k%d" % (seq or 0), b"v" * 1000); return b
def outcome(fn):
    try:
        fn(); return "ok"
    except Exception as e:
        return [type(e).__name__, getattr(e, "errno", None)]
out = {}
single = walx.WalManager(d + "/single", sync=False)
multi = walx.WalManager(d + "/multi")
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))
n = 0
while n < 10_000:
    r = outcome(lambda: single.append(batch(n + 1)))
    if r != "ok":
        out["first"] = r
        break
    n += 1
out["appended"] = n
out["append"] = outcome(lambda: single.append(batch(n + 1)))
out["sync"] = outcome(single.sync)
out["rotate"] = outcome(single.rotate)
out["errors"] = single.metrics["errors_io_total"]
single.close()
out["closed"] = single.closed
results = [None] * 8
def worker(t):
    for i in range(10_000):
        r = outcome(lambda: multi.append(batch(None)))  # assigned sequences
        if r != "ok":
            results[t] = r
            return
threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
for t in threads: t.start()
for t in threads: t.join()
out["threads"] = results
multi.close()
m, rec = walx.WalManager.recover_and_open(d + "/single")
out["recovered"] = [b.sequence for b in rec.batches]
out["after_reopen"] = outcome(lambda: m.append(batch(n + 1)))
m.close()
print(json.dumps(out))
"""


def test_failed_write_poisons_and_reaches_every_caller(tmp_path):
    p = subprocess.run([sys.executable, "-c", POISON_CHILD, str(tmp_path)], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    efbig = ["OSError", 27]
    assert out["first"] == efbig
    assert 0 < out["appended"] < 100
    for op in ("append", "sync", "rotate"):
        assert out[op] == ["WalPoisonedError", None], op
    assert out["errors"] == 1
    assert out["closed"] is True
    assert out["recovered"] == list(range(1, out["appended"] + 1))
    assert out["after_reopen"] == "ok"
    assert all(r in (efbig, ["WalPoisonedError", None]) for r in out["threads"]), out["threads"]
    assert efbig in out["threads"]


# ---- the directory lock -------------------------------------------------------------

CHILD = r"""
import sys, walx
try:
    m = walx.WalManager(sys.argv[1], int(sys.argv[2]))
except walx.WalLockedError:
    print("locked", flush=True)
    sys.exit(0)
print("opened", flush=True)
if len(sys.argv) > 3:
    sys.stdin.readline()        # hold the lock until killed
m.close()
"""


def _child(tmp_path, d, n, hold=False):
    args = [sys.executable, "-c", CHILD, str(d), str(n)] + (["hold"] if hold else [])
    return subprocess.Popen(args, cwd=tmp_path, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def _outcome(tmp_path, d, n):
    p = _child(tmp_path, d, n)
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 0
    return out.strip()


def test_second_manager_in_this_process_is_locked_out(wal_dir):
    with walx.WalManager(wal_dir):
        with pytest.raises(walx.WalLockedError):
            walx.WalManager(wal_dir, 2)
        with pytest.raises(walx.WalLockedError):
            walx.WalManager.recover_and_open(wal_dir)
        assert names(wal_dir) == ["000001.wal", "LOCK"]
    with walx.WalManager(wal_dir, 2):          # free after leaving `with`
        pass
    m = walx.WalManager(wal_dir, 3)
    m.close()
    with walx.WalManager(wal_dir, 4):          # free after close()
        pass


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_close_releases_the_lock_held_through_a_forked_child(wal_dir):
    # flock belongs to the open file description, which a child forked
    # while the manager was open shares: close() must unlock, not only
    # close its descriptor, or the directory stays locked until the child
    # (which runs no manager) exits.
    m = walx.WalManager(wal_dir)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                     # the child: wait, then leave
        os.close(w)
        os.read(r, 1)
        os._exit(0)
    os.close(r)
    try:
        m.close()
        with walx.WalManager(wal_dir, 2) as m2:     # not WalLockedError
            assert m2.log_number == 2
    finally:
        os.close(w)                                  # the child exits
        os.waitpid(pid, 0)


def test_lock_holds_against_another_process(tmp_path, wal_dir):
    m = walx.WalManager(wal_dir)
    try:
        assert _outcome(tmp_path, wal_dir, 2) == "locked"
    finally:
        m.close()
    assert _outcome(tmp_path, wal_dir, 3) == "opened"


def test_lock_released_when_holding_process_is_killed(tmp_path, wal_dir):
    p = _child(tmp_path, wal_dir, 1, hold=True)
    try:
        assert p.stdout.readline().strip() == "opened"
        with pytest.raises(walx.WalLockedError):
            walx.WalManager(wal_dir, 2)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
        assert p.returncode == -signal.SIGKILL
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdin.close()
        p.stdout.close()
    with walx.WalManager(wal_dir, 2) as m:
        assert m.log_number == 2


# ---- closed manager and bad input ----------------------------------------------------


@pytest.mark.parametrize("call", [
    lambda m: m.append(walx.WriteBatch(1)), lambda m: m.sync(), lambda m: m.rotate(),
    lambda m: m.mark_flushed_seq(1), lambda m: m.gc_logs_before(1),
    lambda m: m.register_closed_log(0, 1),
], ids=["append", "sync", "rotate", "mark_flushed_seq", "gc_logs_before",
        "register_closed_log"])
def test_closed_manager_raises_wal_closed_error(wal_dir, call):
    m = walx.WalManager(wal_dir)
    m.close()
    m.close()                                  # idempotent
    assert m.closed
    with pytest.raises(walx.WalClosedError):
        call(m)
    with pytest.raises(walx.WalClosedError):   # as LogWriter and LogReader
        with m:
            pass
    m.close()


@pytest.mark.parametrize("kwargs, exc, name", [
    ({"dir": 123}, TypeError, "dir"),
    ({"dir": ""}, ValueError, "dir"),
    ({"initial_log_number": "1"}, TypeError, "initial_log_number"),
    ({"initial_log_number": 1.0}, TypeError, "initial_log_number"),
    ({"initial_log_number": True}, TypeError, "initial_log_number"),
    ({"initial_log_number": -1}, ValueError, "initial_log_number"),
    ({"sync": 1}, TypeError, "sync"),
    ({"sync": None}, TypeError, "sync"),
    ({"buffer_size": "0"}, TypeError, "buffer_size"),
    ({"buffer_size": -1}, ValueError, "buffer_size"),
    ({"recyclable": 0}, TypeError, "recyclable"),
    ({"recycle_log_files": -1}, ValueError, "recycle_log_files"),
    ({"preallocate": -1}, ValueError, "preallocate"),
])
def test_bad_options_raise_naming_them_and_create_nothing(wal_dir, kwargs, exc, name):
    kwargs = dict(kwargs)
    d = kwargs.pop("dir", wal_dir)
    with pytest.raises(exc, match=name):
        walx.WalManager(d, **kwargs)
    assert os.listdir(wal_dir) == []
    if name != "initial_log_number":           # not an option of recover_and_open
        with pytest.raises(exc, match=name):
            walx.WalManager.recover_and_open(d, **kwargs)
        assert os.listdir(wal_dir) == []


def test_bad_method_arguments_raise_naming_them(wal_dir, batch):
    with walx.WalManager(wal_dir) as m:
        for bad in (b"\x00" * 12, batch(1).encode(), None, "batch"):
            with pytest.raises(TypeError, match="batch"):
                m.append(bad)
        with pytest.raises(TypeError, match="sync"):
            m.append(batch(1), sync=1)
        with pytest.raises(ValueError, match="seq"):
            m.mark_flushed_seq(-1)
        with pytest.raises(TypeError, match="seq"):
            m.mark_flushed_seq("1")
        with pytest.raises(TypeError, match="log_number"):
            m.gc_logs_before(None)
        with pytest.raises(ValueError, match="log_number"):
            m.gc_logs_before(-3)
        assert m.metrics["appends_total"] == 0
    with pytest.raises(TypeError, match="dir"):
        walx.WalManager.list_wal_files(None)
    for fn in (walx.WalManager.recover_from_dir, walx.WalManager.iter_recover,
               walx.WalManager.recover_and_open):
        with pytest.raises(TypeError, match="mode"):
            fn(wal_dir, mode="POINT_IN_TIME")
        with pytest.raises(TypeError, match="mode"):
            fn(wal_dir, mode=2)
    with pytest.raises(TypeError, match="bogus"):
        walx.WalManager.recover_and_open(wal_dir, bogus=1)
