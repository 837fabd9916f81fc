"""Recovery across a directory of logs in every RecoveryMode, forensic checks of
what the manager writes, concurrency, poisoning and repair."""

import json
import os
import shutil
import struct
import subprocess
import sys
import threading

import crc32c as crc32c_pkg
import pytest

import walx
from walxtest import run_threads

RM = walx.RecoveryMode
ALL_MODES = list(RM)
TOL, ABS, PIT, SKIP = (RM.TOLERATE_CORRUPTED_TAIL, RM.ABSOLUTE_CONSISTENCY,
                       RM.POINT_IN_TIME, RM.SKIP_ANY_CORRUPTED)
PIT_DROPPED = "dropped: follows earlier damage (POINT_IN_TIME)"


def batch(seq, n=1, size=8, tag=b"k"):
    b = walx.WriteBatch(seq)
    for i in range(n):
        b.put(tag + str(seq + i).encode(), bytes([(seq + i) & 0xFF]) * size)
    return b


def log_path(d, n):
    return d / f"{n:06d}.wal"


def write_log(d, n, items):
    """Write a log with walx.LogWriter; items are WriteBatch or raw payloads.
    Returns [(start, end)] of each record."""
    spans = []
    with walx.LogWriter(log_path(d, n)) as w:
        for it in items:
            start = w.add_record(it.encode() if isinstance(it, walx.WriteBatch) else it)
            spans.append((start, w.size))
    return spans


_copies = iter(range(10**6))


def recover(d, mode):
    """Recover `d` in `mode` three ways and check they agree. Returns
    (sequences, corruptions as (file name, offset, size, reason))."""
    batches, max_seq, max_log = walx.WalManager.recover_from_dir(d, mode=mode)
    assert list(walx.WalManager.iter_recover(d, mode=mode)) == batches
    copy = d.parent / f"copy{next(_copies)}"
    shutil.copytree(d, copy)
    m, rec = walx.WalManager.recover_and_open(copy, mode=mode)
    m.close()
    assert (rec.batches, rec.max_seq, rec.max_log_number) == (batches, max_seq, max_log)
    assert max_seq == max((b.last_seq for b in batches), default=0)
    corr = [(os.path.basename(c.path), c.offset, c.size, c.reason) for c in rec.corruptions]
    for c in rec.corruptions:
        assert os.path.dirname(c.path) == str(copy)
    return [b.sequence for b in batches], corr


def recover_raises(d, mode):
    """Every entry point raises CorruptionError; the dir is left as it was."""
    before = sorted(set(os.listdir(d)) - {"LOCK"})
    with pytest.raises(walx.CorruptionError) as e1:
        walx.WalManager.recover_from_dir(d, mode=mode)
    with pytest.raises(walx.CorruptionError):
        list(walx.WalManager.iter_recover(d, mode=mode))
    with pytest.raises(walx.CorruptionError):
        walx.WalManager.recover_and_open(d, mode=mode)
    assert sorted(set(os.listdir(d)) - {"LOCK"}) == before   # no new log was opened
    with walx.WalManager(d, 999):                    # and the lock was released
        pass
    os.unlink(log_path(d, 999))
    return e1.value


def manager_files(d, groups):
    """groups: a list of lists of batches, one list per log (rotating between)."""
    with walx.WalManager(d) as m:
        for i, g in enumerate(groups):
            if i:
                m.rotate()
            for b in g:
                m.append(b)


def spans_of(path):
    with walx.LogReader(path) as r:
        out = []
        for _ in r:
            out.append((r.last_record_offset, r.end_offset))
    return out


# ---- (a) torn tail in the last file only ------------------------------------------

def test_torn_tail_in_last_file(wal_dir):
    manager_files(wal_dir, [[batch(1), batch(2), batch(3)], [batch(4), batch(5), batch(6)],
                            [batch(7), batch(8), batch(9)]])
    p3 = log_path(wal_dir, 3)
    start9 = spans_of(p3)[-1][0]
    size = p3.stat().st_size
    os.truncate(p3, size - 5)
    expect = ("000003.wal", start9, size - 5 - start9, "incomplete: truncated record payload")
    for mode in (TOL, PIT, SKIP):
        assert recover(wal_dir, mode) == (list(range(1, 9)), [expect]), mode
    e = recover_raises(wal_dir, ABS)
    assert (e.path, e.offset) == (str(p3), start9)


# ---- (b) torn tail in a middle file, later files continue -----------------------

def test_torn_tail_in_middle_file_then_reopen(wal_dir):
    manager_files(wal_dir, [[batch(1), batch(2), batch(3)], [batch(4), batch(5), batch(6)]])
    p2 = log_path(wal_dir, 2)
    start6 = spans_of(p2)[-1][0]
    os.truncate(p2, start6 + 3)                      # the crash: batch 6 torn
    torn = p2.read_bytes()
    m, rec = walx.WalManager.recover_and_open(wal_dir)
    with m:
        assert m.log_number == 3 and rec.max_seq == 5
        assert rec.corruptions == [walx.Corruption(str(p2), start6, 3,
                                                   "incomplete: truncated record header")]
        # The dropped tail leaves the log set; the original is kept.
        assert rec.quarantined == [str(p2) + ".broken"]
        assert p2.read_bytes() == torn[:start6]
        assert (wal_dir / "000002.wal.broken").read_bytes() == torn
        for s in (6, 7, 8):                          # continues from seq 5
            m.append(batch(s, tag=b"new"))
    for mode in walx.RecoveryMode:                   # even ABSOLUTE: nothing is damaged now
        assert recover(wal_dir, mode) == (list(range(1, 9)), []), mode


def test_recover_from_dir_changes_no_file(wal_dir):
    manager_files(wal_dir, [[batch(1), batch(2), batch(3)]])
    p1 = log_path(wal_dir, 1)
    os.truncate(p1, p1.stat().st_size - 2)
    before = {f.name: f.read_bytes() for f in wal_dir.iterdir()}
    for mode in (TOL, PIT, SKIP):
        walx.WalManager.recover_from_dir(wal_dir, mode=mode)
        list(walx.WalManager.iter_recover(wal_dir, mode=mode))
    assert {f.name: f.read_bytes() for f in wal_dir.iterdir()} == before


def test_point_in_time_resumes_only_at_the_continuing_file(wal_dir):
    write_log(wal_dir, 1, [batch(1), batch(2), batch(3)])
    spans = write_log(wal_dir, 2, [batch(4), batch(5), batch(6)])
    os.truncate(log_path(wal_dir, 2), spans[2][1] - 1)
    write_log(wal_dir, 3, [batch(10), batch(11)])    # not the continuation of 5
    write_log(wal_dir, 4, [batch(6, tag=b"new"), batch(7)])
    write_log(wal_dir, 5, [batch(8)])
    torn = ("000002.wal", spans[2][0], spans[2][1] - 1 - spans[2][0],
            "incomplete: truncated record payload")
    seqs, corr = recover(wal_dir, PIT)
    assert seqs == [1, 2, 3, 4, 5, 6, 7, 8]
    assert corr[0] == torn
    assert [c[:3] for c in corr[1:]] == [("000003.wal", 0, log_path(wal_dir, 3).stat().st_size)]
    assert "does not continue" in corr[1][3]
    for mode in (TOL, SKIP):                         # per file: every file replayed
        assert recover(wal_dir, mode) == ([1, 2, 3, 4, 5, 10, 11, 6, 7, 8], [torn])
    recover_raises(wal_dir, ABS)


def test_point_in_time_nothing_replayed_nothing_resumes(wal_dir):
    write_log(wal_dir, 1, [batch(1)])
    p1 = log_path(wal_dir, 1)
    data = bytearray(p1.read_bytes())
    data[10] ^= 1                                    # its only record fails its CRC
    p1.write_bytes(bytes(data))
    write_log(wal_dir, 2, [batch(1), batch(2)])
    seqs, corr = recover(wal_dir, PIT)
    assert seqs == []
    assert [(c[0], c[1]) for c in corr] == [("000001.wal", 0), ("000002.wal", 0)]
    assert corr[0][3] == "checksum mismatch"
    assert recover(wal_dir, TOL) == ([1, 2], [("000001.wal", 0, len(data), "checksum mismatch")])


# ---- (c) mid-file corruption: a valid batch follows the damage in the same file --

def _mid_file_damage(d):
    write_log(d, 1, [batch(1), batch(2), batch(3)])
    big = batch(5, size=40000)                       # FIRST in block 0, LAST in block 1
    spans = write_log(d, 2, [batch(4), big, batch(6), batch(7)])
    assert spans[1][1] > walx.BLOCK_SIZE > spans[1][0]
    p2 = log_path(d, 2)
    data = bytearray(p2.read_bytes())
    data[spans[1][0] + 100] ^= 0x40                  # inside batch 5's first fragment
    p2.write_bytes(bytes(data))
    write_log(d, 3, [batch(8), batch(9)])            # written before the damage appeared
    return p2, spans


def test_mid_file_corruption_raises_under_tolerate_seed_silently_dropped_it(wal_dir):
    p2, spans = _mid_file_damage(wal_dir)
    e = recover_raises(wal_dir, TOL)
    assert (e.path, e.offset) == (str(p2), spans[1][0])
    assert "checksum" in e.reason
    assert str(p2) in str(e)


def test_mid_file_corruption_skip_any_keeps_valid_batches(wal_dir):
    p2, spans = _mid_file_damage(wal_dir)
    seqs, corr = recover(wal_dir, SKIP)
    assert seqs == [1, 2, 3, 4, 6, 7, 8, 9]
    assert corr == [("000002.wal", spans[1][0], spans[1][1] - spans[1][0],
                     "checksum mismatch")]


def test_mid_file_corruption_point_in_time_stops_and_reports(wal_dir):
    p2, spans = _mid_file_damage(wal_dir)
    seqs, corr = recover(wal_dir, PIT)
    assert seqs == [1, 2, 3, 4]
    size2 = p2.stat().st_size
    assert corr[:2] == [("000002.wal", spans[1][0], spans[1][1] - spans[1][0],
                         "checksum mismatch"),
                        ("000002.wal", spans[2][0], size2 - spans[2][0], PIT_DROPPED)]
    assert corr[2][:3] == ("000003.wal", 0, log_path(wal_dir, 3).stat().st_size)
    assert len(corr) == 3


def test_mid_file_corruption_absolute_raises(wal_dir):
    p2, spans = _mid_file_damage(wal_dir)
    e = recover_raises(wal_dir, ABS)
    assert (e.path, e.offset) == (str(p2), spans[1][0])


# ---- (d) a record with a good CRC whose batch does not decode --------------------

BAD_BATCH = struct.pack("<QI", 2, 3) + b"\x01\x00\x00"   # count 3, one record


def test_undecodable_batch_mid_file(wal_dir):
    spans = write_log(wal_dir, 1, [batch(1), BAD_BATCH, batch(2)])
    write_log(wal_dir, 2, [batch(3)])
    bad = ("000001.wal", spans[1][0], spans[1][1] - spans[1][0])
    e = recover_raises(wal_dir, TOL)
    assert (e.path, e.offset) == (str(log_path(wal_dir, 1)), spans[1][0])
    assert "count" in e.reason
    seqs, corr = recover(wal_dir, SKIP)
    assert seqs == [1, 2, 3]
    assert [c[:3] for c in corr] == [bad] and "count says 3" in corr[0][3]
    seqs, corr = recover(wal_dir, PIT)
    assert seqs == [1]
    assert [c[:3] for c in corr] == [
        bad, ("000001.wal", spans[2][0], spans[2][1] - spans[2][0]),
        ("000002.wal", 0, log_path(wal_dir, 2).stat().st_size)]
    e = recover_raises(wal_dir, ABS)
    assert e.offset == spans[1][0]


def test_undecodable_batch_at_tail(wal_dir):
    spans = write_log(wal_dir, 1, [batch(1), batch(2), BAD_BATCH])
    write_log(wal_dir, 2, [batch(3)])
    for mode in (TOL, PIT, SKIP):
        seqs, corr = recover(wal_dir, mode)
        assert seqs == [1, 2, 3]
        assert [c[:3] for c in corr] == [("000001.wal", spans[2][0],
                                          spans[2][1] - spans[2][0])]
    assert recover_raises(wal_dir, ABS).offset == spans[2][0]


# ---- (e) empty records --------------------------------------------------------------

def test_empty_record_kept_seed_dropped_it_manager_reports_damage(wal_dir):
    spans = write_log(wal_dir, 1, [batch(1), b""])
    write_log(wal_dir, 2, [batch(2)])
    assert spans[1][1] - spans[1][0] == walx.HEADER_SIZE
    with walx.LogReader(log_path(wal_dir, 1)) as r:      # the framing keeps it
        assert list(r) == [batch(1).encode(), b""]
    for mode in (TOL, PIT, SKIP):                        # not a batch: tail damage
        seqs, corr = recover(wal_dir, mode)
        assert seqs == [1, 2]
        assert [c[:3] for c in corr] == [("000001.wal", spans[1][0], walx.HEADER_SIZE)]
        assert "12-byte header" in corr[0][3]
    recover_raises(wal_dir, ABS)
    # followed by a valid batch it is mid-file damage
    (wal_dir / "000001.wal").unlink()
    spans = write_log(wal_dir, 1, [batch(1), b"", batch(2)])
    (wal_dir / "000002.wal").unlink()
    assert recover_raises(wal_dir, TOL).offset == spans[1][0]
    assert recover(wal_dir, SKIP)[0] == [1, 2]


# ---- (f, g) what the manager writes ------------------------------------------------

def _mask(c):
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def test_manager_files_have_rocksdb_crc_seed_crc_was_not_compatible(wal_dir):
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


def _leb(data, pos):
    v = shift = 0
    while True:
        c = data[pos]
        pos += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, pos


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
                klen, p = _leb(rec, p + 1)
                key = rec[p:p + klen]
                vlen, p = _leb(rec, p + klen)
                ops.append((op, key, rec[p:p + vlen]))
                p += vlen
            assert p == len(rec), "trailing bytes"
            out.append((seq, ops))
        pos += 7 + length
    assert chain is None
    return out


def test_forensic_parse_of_manager_files(wal_dir):
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


# ---- threads --------------------------------------------------------------------------

def test_concurrent_appends_with_rotation_and_gc(wal_dir):
    # Writers and a controller advance in overlapping phases (no sleeps): the
    # appends of phase p may run while rotation p - 1 happens, and the
    # controller marks as flushed a watermark computed three rotations
    # earlier, so that the last closed logs stay on disk.
    lock = threading.Condition()
    state = {"next": 1, "done": 0, "rotated": 0}
    in_flight, appended = set(), {}
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
                    s = state["next"]
                    state["next"] += n
                    in_flight.add(s)
                b = batch(s, n=n, tag=b"t%d-" % t)
                m.append(b)
                with lock:
                    in_flight.discard(s)
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
                with lock:      # every batch below the oldest in flight returned
                    state["rotated"] += 1
                    lock.notify_all()
                    wms.append((min(in_flight) if in_flight else state["next"]) - 1)
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
                m.append(batch(1 + t * per_thread + i))
        run_threads(writer, 8)       # AssertionError if any append raised
        metrics = m.metrics
    assert metrics["appends_total"] == 8 * per_thread
    assert 1 <= metrics["syncs_total"] <= metrics["appends_total"]
    batches, max_seq, _ = walx.WalManager.recover_from_dir(wal_dir)
    assert sorted(b.sequence for b in batches) == list(range(1, 8 * per_thread + 1))
    assert max_seq == 8 * per_thread


POISON_CHILD = r"""
import json, resource, signal, sys, threading, walx
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
d = sys.argv[1]
def batch(seq):
    b = walx.WriteBatch(seq); b.put(b"k%d" % seq, b"v" * 1000); return b
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
        r = outcome(lambda: multi.append(batch(1 + t * 10_000 + i)))
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


# ---- repair ----------------------------------------------------------------------------

def _torn(d, n, count=3):
    spans = write_log(d, n, [batch(i + 1, size=50) for i in range(count)])
    p = log_path(d, n)
    os.truncate(p, spans[-1][1] - 5)
    return p, spans


def test_repair_file_dry_run_then_real(wal_dir):
    p, spans = _torn(wal_dir, 1)
    original = p.read_bytes()
    with pytest.raises(walx.CorruptionError):
        walx.LogWriter(p)                    # will not append after a torn tail
    cut = walx.repair(p, dry_run=True)
    assert cut == [walx.Corruption(str(p), spans[2][0], len(original) - spans[2][0],
                                   "incomplete: truncated record payload")]
    assert p.read_bytes() == original
    assert sorted(os.listdir(wal_dir)) == ["000001.wal"]
    assert walx.repair(p) == cut
    assert p.read_bytes() == original[:spans[1][1]]
    assert (wal_dir / "000001.wal.broken").read_bytes() == original
    with walx.LogWriter(p) as w:
        w.add_record(batch(3, tag=b"new").encode())
    assert walx.WalManager.recover_from_dir(wal_dir, mode=ABS)[0] == \
        [batch(1, size=50), batch(2, size=50), batch(3, tag=b"new")]
    assert walx.repair(p) == []


def test_repair_directory_and_clean_file(wal_dir):
    p1, s1 = _torn(wal_dir, 1)
    write_log(wal_dir, 2, [batch(4)])
    p3, s3 = _torn(wal_dir, 3, count=2)
    clean = log_path(wal_dir, 2).read_bytes()
    assert walx.repair(log_path(wal_dir, 2)) == []
    cut = walx.repair(wal_dir)
    assert [(c.path, c.offset) for c in cut] == [(str(p1), s1[2][0]), (str(p3), s3[1][0])]
    assert sorted(os.listdir(wal_dir)) == ["000001.wal", "000001.wal.broken", "000002.wal",
                                           "000003.wal", "000003.wal.broken"]
    assert log_path(wal_dir, 2).read_bytes() == clean
    assert p1.stat().st_size == s1[1][1] and p3.stat().st_size == s3[0][1]
    seqs = [b.sequence for b in walx.WalManager.recover_from_dir(wal_dir, mode=ABS)[0]]
    assert seqs == [1, 2, 4, 1]
    assert walx.repair(wal_dir) == []
