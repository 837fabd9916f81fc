# Included from _walx.pyx; not a standalone module.
# WalManager's positions beyond the append path (_manager.pyx): the
# sequence rule's errors, first_seq, wait_for and the sync_interval thread.
#
# The watermarks live in the group-commit queue (csrc/walx_queue.c), under
# its mutex: last_seq moves when an append joins the queue, synced_seq only
# after an fdatasync or fsync of the current log returned success. A crash
# loses at most the sequences above synced_seq; wait_for(seq) returning True
# means seq survives a crash (or power loss) of this process.

import math
import weakref


cdef int _bad_sequence(WriteBatch b, uint64_t last) except -1:
    """Raise the ValueError for a batch the queue refused (WALX_Q_BADSEQ)."""
    if b._has_seq and b._sequence <= last:
        raise ValueError(
            f"sequence {b._sequence} is not above last_seq {last}: a batch's own "
            f"sequence must be greater than every sequence appended before "
            f"(WriteBatch() lets the manager assign the next one)")
    raise ValueError(f"the batch's {b._count} sequences after last_seq {last} "
                     f"would pass 2**64 - 1")


cdef double _check_interval(object value) except -1.0:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"sync_interval must be a number of seconds, not "
                        f"{type(value).__name__}")
    if not (0 <= value < math.inf):
        raise ValueError(f"sync_interval must be >= 0 and finite, got {value!r}")
    return float(value)


cdef int64_t _timeout_ns(object timeout) except -2:
    """wait_for's timeout in nanoseconds; -1 for None (no limit)."""
    if timeout is None:
        return -1
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, not "
                        f"{type(timeout).__name__}")
    if not timeout >= 0:
        raise ValueError(f"timeout must be >= 0 seconds, got {timeout!r}")
    # Past ~146 years the deadline would overflow: no limit, in effect.
    if timeout >= 4.0e9:
        return -1
    return <int64_t>(float(timeout) * 1e9)


cdef object _wait_for(WalManager m, object seq, object timeout):
    cdef uint64_t s = _check_uint(seq, "seq", _U64_MAX)
    cdef int64_t ns = _timeout_ns(timeout)
    cdef int st
    if m.closed:
        raise WalClosedError(f"WalManager {m.dir} is closed")
    with nogil:
        st = walx_queue_wait_synced(&m._q, s, ns)
    if st == WALX_Q_DONE:
        return True
    if st == WALX_Q_TIMEOUT:
        return False
    m._refused(st)


cdef object _first_seq(WalManager m):
    """The lowest first sequence of the logs still tracked (closed logs not
    yet deleted, and the current log). A log given by register_closed_log
    has no known first sequence: it counts from just above the highest
    sequence of the tracked logs numbered below it (1 if none), a lower
    bound."""
    with m._mu:
        logs = sorted(m._closed_logs)
        live = {c[0] for c in logs}
        # Deleted logs leave the closed list; forget their first sequence.
        m._log_first = {n: f for n, f in m._log_first.items() if n in live}
        firsts = dict(m._log_first)
    cdef uint64_t cur = m._cur_first
    best = cur if cur else None
    below = 0
    for n, top in logs:
        if top == 0:
            continue
        f = firsts.get(n, min(below + 1, top))
        best = f if best is None else min(best, f)
        below = max(below, top)
    return best or 0


# ---- sync_interval: a background fdatasync through the queue ---------------

cdef _start_syncer(WalManager m):
    if m._sync_interval <= 0:
        return
    m._syncer_stop = threading.Event()
    # The thread holds the manager weakly: a manager dropped without
    # close() is freed, and its __dealloc__ sets the event.
    m._syncer = threading.Thread(
        target=_syncer_loop, args=(weakref.ref(m), m._syncer_stop, m._sync_interval),
        name=f"walx-syncer {m.dir}", daemon=True)
    m._syncer.start()


cdef _stop_syncer(WalManager m):
    """End the syncer thread and wait for it (close(); idempotent)."""
    t = m._syncer
    if t is None:
        return
    m._syncer_stop.set()
    if t is not threading.current_thread():
        t.join()
    m._syncer = None


def _syncer_loop(ref, stop, double interval):
    while not stop.wait(interval):
        m = ref()
        if m is None:
            return
        try:
            _sync_tick(<WalManager>m)
        except (WalClosedError, WalPoisonedError):
            return
        except OSError as exc:
            # _sync_log poisoned the manager: every later append and sync
            # raises WalPoisonedError from this exception.
            _log.error("background sync of %s failed: %s", m.dir, exc)
            return
        del m


cdef int _sync_tick(WalManager m) except -1:
    """One background fdatasync, as an exclusive entry (as sync() is), when
    something appended is not durable yet."""
    cdef walx_qentry e
    cdef uint64_t last = 0, synced = 0
    walx_queue_seqs(&m._q, &last, &synced)
    if synced >= last:
        return 0
    m._enter_exclusive(&e)
    try:
        m._sync_log(1)
    finally:
        m._finish_exclusive(&e, False)
    return 0
