"""WalManager's sequences and watermarks (docs/api.md, "Sequences and
watermarks"): assigned and given sequences, last_seq / first_seq /
synced_seq, wait_for and the sync_interval thread."""

import errno
import gc
import math
import threading

import pytest

import walx
from walx import _testing as T

from walxtest import run_threads

# Every wait below is an upper bound for something that must happen.
LONG = 60


@pytest.fixture
def disarmed():
    T.fault_disarm()
    yield
    T.fault_disarm()


def unsequenced(key, n=1):
    b = walx.WriteBatch()
    for i in range(n):
        b.put(b"%s.%d" % (key, i), b"v%d" % i)
    return b


def syncer_threads(m):
    return [t for t in threading.enumerate() if t.name == f"walx-syncer {m.dir}"]


# ---- assigned and given sequences -------------------------------------------


def test_append_assigns_last_seq_plus_one_and_returns_the_first(wal_dir):
    with walx.WalManager(wal_dir) as m:
        assert (m.last_seq, m.synced_seq, m.first_seq) == (0, 0, 0)
        a, b, c = unsequenced(b"a"), unsequenced(b"b", 3), walx.WriteBatch()
        assert a.sequence is None
        assert m.append(a) == 1 and a.sequence == 1 and a.last_seq == 1
        assert m.append(b) == 2 and (b.sequence, b.last_seq) == (2, 4)
        # An empty batch takes one sequence, as WriteBatch.last_seq says.
        assert m.append(c) == 5 and c.last_seq == 5
        assert m.last_seq == 5
        assert walx.WriteBatch.decode(b.encode()).sequence == 2
    batches = walx.WalManager.recover_from_dir(wal_dir)[0]
    assert [x.sequence for x in batches] == [1, 2, 5]
    assert batches[1] == b


def test_a_given_sequence_must_be_above_last_seq(wal_dir, batch):
    with walx.WalManager(wal_dir) as m:
        with pytest.raises(ValueError, match="sequence 0 is not above last_seq 0"):
            m.append(batch(0))
        assert m.append(batch(10, n=3)) == 10
        for bad in (12, 11, 1):
            with pytest.raises(ValueError, match=f"sequence {bad} is not above last_seq 12"):
                m.append(batch(bad))
        assert m.metrics["appends_total"] == 1 and m.last_seq == 12
        assert m.append(batch(20)) == 20           # gaps are the caller's choice
        assert m.append(walx.WriteBatch()) == 21
        appended = batch(30)
        m.append(appended)
        with pytest.raises(ValueError, match="not above"):
            m.append(appended)                     # a batch is appended once
    assert [b.sequence for b in walx.WalManager.recover_from_dir(wal_dir)[0]] == [10, 20, 21, 30]


def test_sequences_cannot_pass_2_64(wal_dir, batch):
    top = 2**64 - 1
    with walx.WalManager(wal_dir) as m:
        m.append(batch(top - 1))
        with pytest.raises(ValueError, match="2\\*\\*64 - 1"):
            m.append(unsequenced(b"x", 2))
        assert m.append(walx.WriteBatch()) == top
        with pytest.raises(ValueError, match="2\\*\\*64 - 1"):
            m.append(walx.WriteBatch())
        assert m.last_seq == top


def test_threads_with_given_sequences_never_both_pass(wal_dir):
    # Each thread offers every sequence 1..n; the check and the assignment
    # are one step under the queue's mutex, so each sequence is taken at
    # most once and the log is in increasing order.
    n, won = 200, []
    lock = threading.Lock()
    with walx.WalManager(wal_dir, sync=False) as m:
        def offer(t):
            for s in range(1, n + 1):
                b = walx.WriteBatch(s)
                b.put(b"t%d" % t, b"")
                try:
                    m.append(b)
                except ValueError:
                    continue
                with lock:
                    won.append(s)
        run_threads(offer, 8)
    got = [b.sequence for b in walx.WalManager.recover_from_dir(wal_dir)[0]]
    assert got == sorted(set(got)) == sorted(won)


def test_concurrent_appends_with_rotation_and_gc_recover_in_sequence_order(wal_dir):
    nthreads, per_thread, rotations = 8, 150, 12
    sent, errors = {}, []
    lock = threading.Lock()
    go = threading.Event()
    with walx.WalManager(wal_dir, sync=False) as m:
        def writer(t):
            go.wait()
            for i in range(per_thread):
                b = unsequenced(b"t%d.%d" % (t, i), 1 + (t + i) % 3)
                s = m.append(b, sync=(i % 10 == 0))
                if i % 10 == 0 and m.synced_seq < b.last_seq:
                    errors.append(("not durable", s, m.synced_seq))
                with lock:
                    if s in sent:
                        errors.append(("twice", s))
                    sent[s] = b.encode()

        def controller():
            closed_tops = []
            go.set()
            for r in range(rotations):
                m.rotate()
                closed_tops.append(max([s for _, s in m.closed_logs] + [0]))
                if r >= 2:
                    m.mark_flushed_seq(closed_tops[r - 2])
        threads = [threading.Thread(target=writer, args=(t,)) for t in range(nthreads)]
        threads.append(threading.Thread(target=controller))
        for t in threads:
            t.start()
        for t in threads:
            t.join(LONG)
        assert not any(t.is_alive() for t in threads)
        assert errors == []
        mark, first, last = m.flushed_seq, m.first_seq, m.last_seq
        assert m.metrics["rotations_total"] == rotations
    assert len(sent) == nthreads * per_thread
    batches = walx.WalManager.recover_from_dir(wal_dir)[0]
    # Gap-free, in sequence order, each batch exactly once and as sent.
    assert batches[0].sequence == first <= mark + 1
    for prev, b in zip(batches, batches[1:]):
        assert b.sequence == prev.last_seq + 1
    assert batches[-1].last_seq == last
    assert all(sent[b.sequence] == b.encode() for b in batches)
    need = {s for s, enc in sent.items() if walx.WriteBatch.decode(enc).last_seq > mark}
    assert need <= {b.sequence for b in batches}


# ---- first_seq -------------------------------------------------------------------


def test_first_seq_follows_gc_and_recovery(wal_dir):
    with walx.WalManager(wal_dir) as m:
        m.append(unsequenced(b"a", 2))          # 1..2 in log 1
        assert m.first_seq == 1
        m.rotate()
        m.append(unsequenced(b"b"))             # 3 in log 2
        m.rotate()
        assert m.first_seq == 1
        m.mark_flushed_seq(2)                   # deletes log 1
        assert m.first_seq == 3
        m.mark_flushed_seq(3)                   # deletes log 2; log 3 is empty
        assert m.first_seq == 0 and m.last_seq == 3
        m.append(walx.WriteBatch())
        assert m.first_seq == 4
        m.rotate()
    m, rec = walx.WalManager.recover_and_open(wal_dir)
    with m:
        assert m.first_seq == rec.batches[0].sequence == 4


def test_first_seq_of_a_registered_log_is_a_lower_bound(wal_dir, batch):
    with walx.WalManager(wal_dir, initial_log_number=5) as m:
        m.register_closed_log(4, 60)
        assert m.first_seq == 1                 # nothing known below it
        m.register_closed_log(3, 40)
        m.mark_flushed_seq(40)                  # deletes log 3
        assert m.first_seq == 1
        m.append(batch(61))
        assert m.first_seq == 1


# ---- synced_seq ----------------------------------------------------------------


def test_synced_seq_moves_only_with_a_sync(wal_dir):
    with walx.WalManager(wal_dir, sync=False) as m:
        m.append(unsequenced(b"a"))
        m.append(unsequenced(b"b"))
        assert (m.last_seq, m.synced_seq) == (2, 0)
        m.sync()
        assert m.synced_seq == 2
        m.append(unsequenced(b"c"))
        assert m.synced_seq == 2
        m.append(unsequenced(b"d"), sync=True)
        assert m.synced_seq == 4
        m.append(unsequenced(b"e"))
        m.rotate()                              # fsyncs the old log
        assert m.synced_seq == 5


def test_a_failed_sync_does_not_move_synced_seq(wal_dir, disarmed):
    m = walx.WalManager(wal_dir, sync=False)
    try:
        m.append(unsequenced(b"a"))
        T.fault_arm("fdatasync", 1, errno.EIO)
        with pytest.raises(OSError):
            m.sync()
        assert (m.last_seq, m.synced_seq) == (1, 0)
        with pytest.raises(walx.WalPoisonedError):
            m.wait_for(1)
    finally:
        T.fault_disarm()
        m.close()


def test_recover_and_open_starts_with_both_watermarks_at_max_seq(wal_dir):
    with walx.WalManager(wal_dir, sync=False) as m:
        m.append(unsequenced(b"a", 3))
    m, rec = walx.WalManager.recover_and_open(wal_dir)
    with m:
        assert m.last_seq == m.synced_seq == rec.max_seq == 3
        assert m.append(walx.WriteBatch()) == 4
        assert m.wait_for(3, timeout=0)
    empty = wal_dir / "empty"
    m, rec = walx.WalManager.recover_and_open(empty)
    with m:
        assert m.last_seq == m.synced_seq == rec.max_seq == 0


# ---- wait_for ----------------------------------------------------------------------


def test_wait_for_returns_at_once_for_a_durable_sequence(wal_dir):
    with walx.WalManager(wal_dir) as m:
        s = m.append(unsequenced(b"a"))
        assert m.wait_for(s) is True
        assert m.wait_for(0) is True
        assert m.wait_for(s, timeout=0) is True


def test_wait_for_times_out_and_never_syncs(wal_dir):
    with walx.WalManager(wal_dir, sync=False) as m:
        s = m.append(unsequenced(b"a"))
        syncs = m.metrics["syncs_total"]
        assert m.wait_for(s, timeout=0) is False
        assert m.wait_for(s, timeout=0.01) is False
        assert m.wait_for(s + 100, timeout=0.01) is False
        assert m.metrics["syncs_total"] == syncs == 0
        assert m.synced_seq == 0


def test_wait_for_is_woken_by_another_threads_sync(wal_dir):
    with walx.WalManager(wal_dir, sync=False) as m:
        s = m.append(unsequenced(b"a"))
        got = []
        waiter = threading.Thread(target=lambda: got.append(m.wait_for(s)))
        waiter.start()
        m.sync()
        waiter.join(LONG)
        assert got == [True]
        # ... and by a durable append of another thread.
        got.clear()
        waiter = threading.Thread(target=lambda: got.append(m.wait_for(s + 1, timeout=LONG)))
        waiter.start()
        m.append(unsequenced(b"b"), sync=True)
        waiter.join(LONG)
        assert got == [True]


def test_wait_for_raises_when_the_manager_closes(wal_dir):
    m = walx.WalManager(wal_dir, sync=False)
    s = m.append(unsequenced(b"a"))
    got = []

    def wait():
        try:
            got.append(m.wait_for(s + 1))
        except walx.WalClosedError as e:
            got.append(e)
    waiters = [threading.Thread(target=wait) for _ in range(3)]
    for w in waiters:
        w.start()
    m.close()
    for w in waiters:
        w.join(LONG)
    assert len(got) == 3 and all(isinstance(e, walx.WalClosedError) for e in got)
    # close() synced: what was appended before it is durable.
    assert m.synced_seq == 1
    with pytest.raises(walx.WalClosedError):
        m.wait_for(1)


@pytest.mark.parametrize("seq, exc", [
    (-1, ValueError), (2**64, ValueError), ("1", TypeError), (1.0, TypeError),
    (True, TypeError), (None, TypeError),
])
def test_wait_for_rejects_a_bad_sequence(wal_dir, seq, exc):
    with walx.WalManager(wal_dir) as m:
        with pytest.raises(exc, match="seq"):
            m.wait_for(seq)


@pytest.mark.parametrize("timeout, exc", [
    (-1, ValueError), (-0.5, ValueError), (math.nan, ValueError), ("1", TypeError),
    (True, TypeError), (b"1", TypeError),
])
def test_wait_for_rejects_a_bad_timeout(wal_dir, timeout, exc):
    with walx.WalManager(wal_dir) as m:
        with pytest.raises(exc, match="timeout"):
            m.wait_for(1, timeout=timeout)


def test_wait_for_accepts_an_infinite_timeout(wal_dir):
    with walx.WalManager(wal_dir) as m:
        s = m.append(unsequenced(b"a"))
        assert m.wait_for(s, timeout=math.inf) is True
        assert m.wait_for(s, timeout=10**30) is True


# ---- sync_interval ---------------------------------------------------------------


def test_sync_interval_makes_unsynced_appends_durable(wal_dir):
    with walx.WalManager(wal_dir, sync=False, sync_interval=0.01) as m:
        s = None
        for i in range(20):
            s = m.append(unsequenced(b"a%d" % i))
        assert m.wait_for(s, timeout=LONG) is True
        assert m.synced_seq >= s
        assert m.metrics["syncs_total"] >= 1
        assert len(syncer_threads(m)) == 1
    assert syncer_threads(m) == []


def test_sync_interval_thread_stops_at_close_and_with_the_manager(wal_dir):
    m = walx.WalManager(wal_dir, sync=False, sync_interval=0.01)
    (t,) = syncer_threads(m)
    m.close()
    assert not t.is_alive()
    m.close()                                   # idempotent
    m = walx.WalManager(wal_dir / "b", sync=False, sync_interval=0.01)
    (t,) = syncer_threads(m)
    with pytest.warns(ResourceWarning, match="unclosed walx.LogWriter"):
        del m                                   # dropped without close()
        gc.collect()
    t.join(LONG)
    assert not t.is_alive()


def test_sync_interval_after_recovery(wal_dir):
    with walx.WalManager(wal_dir) as m:
        m.append(unsequenced(b"a"))
    m, _ = walx.WalManager.recover_and_open(wal_dir, sync=False, sync_interval=0.01)
    with m:
        s = m.append(unsequenced(b"b"))
        assert m.wait_for(s, timeout=LONG)


def test_a_failed_background_sync_poisons(wal_dir, disarmed):
    m = walx.WalManager(wal_dir, sync=False, sync_interval=0.01)
    try:
        T.fault_arm("fdatasync", 1, errno.EIO)
        s = m.append(unsequenced(b"a"))
        with pytest.raises(walx.WalPoisonedError):
            m.wait_for(s, timeout=LONG)
        with pytest.raises(walx.WalPoisonedError):
            m.append(unsequenced(b"b"))
        assert m.metrics["errors_io_total"] == 1
        assert m.synced_seq == 0
    finally:
        T.fault_disarm()
        m.close()


@pytest.mark.parametrize("value, exc", [
    (-1, ValueError), (math.nan, ValueError), (math.inf, ValueError), ("1", TypeError),
    (True, TypeError), (None, TypeError),
])
def test_sync_interval_rejects_bad_values(wal_dir, value, exc):
    with pytest.raises(exc, match="sync_interval"):
        walx.WalManager(wal_dir, sync_interval=value)
    with pytest.raises(exc, match="sync_interval"):
        walx.WalManager.recover_and_open(wal_dir, sync_interval=value)
    # Nothing was left locked.
    walx.WalManager(wal_dir).close()
