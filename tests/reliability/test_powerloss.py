"""Power-loss simulation: crash states built the way ALICE and CrashMonkey do.

A single-threaded workload drives a WalManager (appends of skewed sizes,
rotations, mark_flushed_seq GC, with recycling and preallocation in some
configurations) and records, around every call, what the kernel was handed:
each file's bytes and inode (the page cache), and what was durable before
the call (the state after the last completed fdatasync/fsync of each file
and fsync of the directory). walx only appends, or overwrites a recycled or
preallocated log from offset 0, so this trace is exact.

For a power cut during call k, each file's unsynced bytes (where its durable
content and its page-cache content differ) are
  kept, dropped, kept up to a random byte or a 512-byte sector boundary,
  torn per 512-byte sector (each sector new, old, zeroed or garbage),
  zeroed, or replaced by garbage;
and each directory entry that the call created, deleted or renamed, not
synced yet, may be either way (a renamed log appears under one name).

Expected result, computed from the trace, not from walx: the batches whose
framed bytes are intact in a file of the crash state under the name they
were written to. With durable appends (one batch in flight at a time)
recovery must return exactly those, which include every acknowledged batch
above the flushed mark. With sync=False and periodic sync() (group commit)
several batches are in flight and a torn one can sit before an intact one:
recovery must return every acknowledged batch and nothing outside that set.
Some states are also reopened with recover_and_open (which must not touch
the damaged files and must keep appending) and repaired with walx.repair.
"""

import os
import random
import shutil
import pytest

import walx

import reliability

RM = walx.RecoveryMode
SECTOR = 512

# name -> (manager options, durable appends?, recovery modes checked)
CONFIGS = {
    "legacy": ({}, True),
    "recyclable": ({"recyclable": True}, True),
    "recycle": ({"recycle_log_files": 2}, True),
    "prealloc": ({"preallocate": 96 * 1024}, True),
    "group": ({"sync": False}, False),
}
OPS_PER_RUN = reliability.scaled(45, 140)
EXTRA_STATES = reliability.scaled(2, 12)       # random states per call beyond one per policy
POLICIES = ("keep", "drop", "prefix", "prefix512", "sectors", "zeros", "garbage")


def payload_size(rng):
    r = rng.random()
    if r < 0.06:
        return rng.randrange(33_000, 80_000)    # FIRST/MIDDLE/LAST chains
    if r < 0.25:
        return rng.randrange(600, 6_000)        # several sectors
    return rng.randrange(0, 300)


def random_batch(seq, rng):
    b = walx.WriteBatch(seq)
    for i in range(rng.randrange(1, 4)):
        b.put(b"k%d.%d" % (seq, i), rng.randbytes(payload_size(rng)))
    return b


def snap(d):
    """{name: (inode, bytes)} of the logs (and pooled logs) in d."""
    out = {}
    for e in os.scandir(d):
        if e.name.endswith((".wal", ".recycle")):
            with open(e.path, "rb") as f:
                out[e.name] = (e.inode(), f.read())
    return out


def log_number(name):
    return int(name.split(".")[0])


class Trace:
    """The workload and what it left: per call, the durable state before it
    and the page-cache state after it; per batch, where its bytes lie."""

    def __init__(self):
        self.calls = []     # (label, durable_before, cache_after, acked, flushed, nwritten)
        self.written = []   # (seq, name, start, end, framed bytes)
        self.encoded = {}   # seq -> encoded batch


def run_workload(d, options, durable, seed, nops):
    rng = random.Random(seed)
    t = Trace()
    acked = set()
    pending = set()
    flushed = 0
    seq = 1
    durable_state = {}            # name -> (inode, bytes) as of the last syncs

    acked_before = frozenset()

    def after(label, synced):
        # A crash during this call: acknowledged is what was acknowledged
        # before it; the flushed mark may already count (GC may have run).
        nonlocal durable_state, acked_before
        cache = snap(d)
        t.calls.append((label, durable_state, cache, acked_before, flushed,
                        len(t.written)))
        acked_before = frozenset(acked)
        if synced == "all":
            durable_state = cache
        elif synced == "dir":
            # Directory entries are durable; the current log's unsynced
            # bytes are not: keep its durable content.
            new = {}
            for name, (ino, data) in cache.items():
                old = durable_state.get(name)
                new[name] = old if old is not None and old[0] == ino else (ino, data)
            cur = name_of(m.log_number)
            if cur in durable_state:
                new[cur] = durable_state[cur]
            durable_state = new

    def name_of(n):
        return f"{n:06d}.wal"

    m = None
    try:
        m = walx.WalManager(d, **options)
        after("open", "all")
        since_rotate = 0
        for _ in range(nops):
            r = rng.random()
            if r < 0.12 and since_rotate:
                m.rotate()
                since_rotate = 0
                acked |= pending
                pending.clear()
                after("rotate", "all")
            elif r < 0.22 and acked:
                mark = max(flushed, max(acked) - rng.randrange(4))
                flushed = mark
                m.mark_flushed_seq(mark)
                # GC deletes/renames closed logs and fsyncs the directory; the
                # current log's unsynced bytes (group mode) stay unsynced.
                after("mark", "all" if durable else "dir")
            elif not durable and r < 0.30:
                m.sync()
                acked |= pending
                pending.clear()
                after("sync", "all")
            else:
                b = random_batch(seq, rng)
                enc = b.encode()
                t.encoded[seq] = enc
                m.append(b, sync=durable)
                since_rotate += 1
                name = name_of(m.log_number)
                data = snap(d)[name][1]
                with walx.LogReader(data, log_number=m.log_number) as rd:
                    recs = list(rd)
                    assert recs and recs[-1] == enc
                    start, end = rd.last_record_offset, rd.end_offset
                t.written.append((seq, name, start, end, data[start:end]))
                pending.add(seq)
                if durable:
                    acked |= pending
                    pending.clear()
                    after("append", "all")
                else:
                    after("append", None)
                seq = b.last_seq + 1
        m.close()
        m = None
        acked |= pending
        after("close", "all")
    finally:
        if m is not None:
            m.close()
    return t


# ---- crash states ----------------------------------------------------------------------

def common_prefix(a, b):
    n = min(len(a), len(b))
    lo, step = 0, 4096
    while lo < n and a[lo:lo + step] == b[lo:lo + step]:
        lo += step
    lo = min(lo, n)
    while lo < n and a[lo] == b[lo]:
        lo += 1
    return lo


def torn(old, new, policy, rng):
    """A crash image of one file whose durable bytes are `old` and whose
    page-cache bytes are `new`."""
    lo = common_prefix(old, new)
    hi = max(len(old), len(new))
    if lo == hi or policy == "keep":
        return new
    if policy == "drop":
        return old
    if policy in ("prefix", "prefix512"):
        if policy == "prefix512":
            cuts = list(range((lo // SECTOR + 1) * SECTOR, len(new), SECTOR)) or [lo]
            cut = rng.choice(cuts)
        else:
            cut = rng.randrange(lo, max(lo, len(new)) + 1)
        return new[:cut] + old[cut:]
    out = bytearray(new) + bytearray(old[len(new):])
    oldz = bytes(old) + bytes(max(0, hi - len(old)))   # grown, never written: zeros
    if policy == "zeros":
        out[lo:hi] = bytes(hi - lo)
    elif policy == "garbage":
        out[lo:hi] = rng.randbytes(hi - lo)
    else:  # sectors
        for s in range(lo // SECTOR * SECTOR, hi, SECTOR):
            a, b = max(s, lo), min(s + SECTOR, hi)
            c = rng.randrange(4)
            if c == 1:
                out[a:b] = oldz[a:b]
            elif c == 2:
                out[a:b] = bytes(b - a)
            elif c == 3:
                out[a:b] = rng.randbytes(b - a)
    return bytes(out)


def crash_states(durable, cache, rng, n_random):
    """Yield (policy, {name: bytes}) crash images between `durable` and `cache`."""
    names = set(durable) | set(cache)
    dirty = [n for n in sorted(names) if n in durable and n in cache
             and durable[n][0] == cache[n][0] and durable[n][1] != cache[n][1]]
    created = sorted(n for n in cache if n not in durable or durable[n][0] != cache[n][0])
    deleted = sorted(n for n in durable if n not in cache or durable[n][0] != cache[n][0])
    renames = []
    for c in list(created):
        for dl in list(deleted):
            if durable[dl][0] == cache[c][0] and durable[dl][1] == cache[c][1]:
                renames.append((dl, c))
                created.remove(c)
                deleted.remove(dl)
                break
    stable = [n for n in sorted(names) if n in durable and n in cache
              and durable[n][0] == cache[n][0] and n not in dirty]
    unsynced = dirty or created
    policies = list(POLICIES) if unsynced else ["keep"]
    policies += [rng.choice(("sectors", "prefix", "sectors", "garbage"))
                 for _ in range(n_random)]
    dir_changes = created or deleted or renames
    if dir_changes:
        policies += ["keep"] * 2          # entries all old / all new, below
    for i, policy in enumerate(policies):
        img = {n: cache[n][1] for n in stable}
        for n in dirty:
            img[n] = torn(durable[n][1], cache[n][1], policy, rng)
        if i == len(policies) - 2 and dir_changes:
            choose = lambda: False        # noqa: E731 - every change lost
        elif i == len(policies) - 1 and dir_changes:
            choose = lambda: True         # noqa: E731 - every change kept
        else:
            choose = lambda: rng.random() < 0.5   # noqa: E731
        for n in created:
            if choose():
                img[n] = torn(b"", cache[n][1], policy, rng)
        for n in deleted:
            if not choose():
                img[n] = durable[n][1]
        for old, new in renames:
            if choose():
                img[new] = cache[new][1]
            else:
                img[old] = durable[old][1]
        yield policy, img


def expected_batches(t, nwritten, img):
    """Sequences of the batches written so far whose bytes are intact in img."""
    out = []
    for seq, name, start, end, framed in t.written[:nwritten]:
        data = img.get(name)
        if data is not None and data[start:end] == framed:
            out.append(seq)
    return out


def materialise(d, img):
    if os.path.exists(d):
        shutil.rmtree(d)
    os.mkdir(d)
    for name, data in img.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def recovered(d, mode):
    return [b.sequence for b in walx.WalManager.iter_recover(d, mode=mode)]


def check_state(t, call, img, d, exact, where, k, options):
    label, _, _, acked, flushed, nwritten = call
    materialise(d, img)
    intact = expected_batches(t, nwritten, img)
    required = sorted(s for s in acked if s > flushed)
    assert set(required) <= set(intact), f"{where}: the generator lost durable bytes"
    if exact:
        got = recovered(d, RM.TOLERATE_CORRUPTED_TAIL)
        assert got == intact, f"{where}: recovered {got}, expected {intact}"
        if k % 3 == 0:
            for mode in (RM.POINT_IN_TIME, RM.SKIP_ANY_CORRUPTED):
                assert recovered(d, mode) == intact, f"{where}: {mode.name}"
    else:
        for mode in (RM.POINT_IN_TIME, RM.SKIP_ANY_CORRUPTED):
            got = recovered(d, mode)
            assert got == sorted(set(got)), f"{where}: {mode.name}: order {got}"
            assert set(required) <= set(got) <= set(intact), \
                f"{where}: {mode.name}: recovered {got}, required {required}, intact {intact}"
        try:
            got = recovered(d, RM.TOLERATE_CORRUPTED_TAIL)
        except walx.CorruptionError:
            pass        # a torn batch before an intact unacknowledged one
        else:
            assert set(required) <= set(got) <= set(intact), f"{where}: TOLERATE {got}"
    if k % 7 == 0:
        reopen_and_append(t, d, img, where, exact, options)
    elif k % 7 == 3:
        repair_state(t, d, img, where, exact)


def reopen_and_append(t, d, img, where, exact, options):
    """recover_and_open never writes into an existing (possibly torn) log
    (it may cut a dropped tail, keeping NAME.broken), and the reopened
    manager keeps appending, continuing the sequence: the next recovery
    returns what this one did plus the new batch."""
    before = reliability.log_snapshot(d)
    mode = RM.TOLERATE_CORRUPTED_TAIL if exact else RM.POINT_IN_TIME
    first = recovered(d, mode)
    m, rec = walx.WalManager.recover_and_open(d, mode=mode, **options)
    try:
        assert [b.sequence for b in rec.batches] == first, where
        new_seq = rec.max_seq + 1
        b = walx.WriteBatch(new_seq)
        b.put(b"after", b"crash")
        m.append(b)
    finally:
        m.close()
    reliability.check_never_appended(d, before, where)
    again = recovered(d, mode)
    assert again == first + [new_seq], f"{where}: {again}"


def repair_state(t, d, img, where, exact):
    """walx.repair cuts each torn tail (keeping NAME.broken) and the logs
    then read cleanly, with the same batches, even in ABSOLUTE_CONSISTENCY;
    it refuses (changing nothing) when damage is followed by valid records."""
    try:
        first = recovered(d, RM.TOLERATE_CORRUPTED_TAIL)
    except walx.CorruptionError:
        with pytest.raises(walx.CorruptionError):
            walx.repair(d)
        return
    cut = walx.repair(d)
    for c in cut:
        assert os.path.exists(c.path + ".broken"), where
        with open(c.path + ".broken", "rb") as f:
            assert f.read() == img[os.path.basename(c.path)], where
    for name in img:
        if name.endswith(".wal"):
            p = os.path.join(d, name)
            with walx.LogReader(p) as r:
                for _ in r:
                    pass
                assert r.clean_end or r.recyclable, f"{where}: {name} still damaged"
    assert recovered(d, RM.ABSOLUTE_CONSISTENCY) == first, where
    assert walx.repair(d) == [], where


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_power_loss_states_recover_exactly_the_batches_intact_on_disk(config, tmp_path):
    options, durable = CONFIGS[config]
    seed = sum(map(ord, config))
    t = run_workload(str(tmp_path / "wal"), options, durable, seed, OPS_PER_RUN)
    assert len(t.written) > OPS_PER_RUN // 2
    rng = random.Random(seed + 1)
    d = str(tmp_path / "state")
    states = 0
    policies_seen = set()
    for ci, call in enumerate(t.calls):
        label, durable_before, cache, _, _, _ = call
        for policy, img in crash_states(durable_before, cache, rng, EXTRA_STATES):
            where = f"{config}: call {ci} ({label}), state {states} ({policy})"
            check_state(t, call, img, d, durable, where, states, options)
            states += 1
            policies_seen.add(policy)
    assert policies_seen >= set(POLICIES)
    reliability.record("powerloss_states", states, config=config)


def test_torn_model_covers_each_kind():
    """The state builder itself: each policy does what it says."""
    rng = random.Random(5)
    old = b"A" * 700
    new = old + b"B" * 1500
    assert torn(old, new, "keep", rng) == new
    assert torn(old, new, "drop", rng) == old
    z = torn(old, new, "zeros", rng)
    assert z[:700] == old and z[700:] == bytes(1500)
    g = torn(old, new, "garbage", rng)
    assert g[:700] == old and len(g) == len(new) and g[700:] != new[700:]
    p = torn(old, new, "prefix512", rng)
    assert len(p) % SECTOR == 0 and new.startswith(p) and len(p) > 700
    s = torn(old, new, "sectors", rng)
    assert s[:700] == old and len(s) == len(new)
    # Sector boundaries are file offsets: 700..1024 is one piece, then 512s.
    for a, b in [(700, 1024)] + [(x, min(x + SECTOR, len(new)))
                                 for x in range(1024, len(new), SECTOR)]:
        chunk = s[a:b]
        assert chunk in (new[a:b], bytes(b - a)) or len(set(chunk)) > 1
    # Overwrite in place (recycled log): old bytes show through.
    old2 = b"O" * 2048
    new2 = b"N" * 600 + old2[600:]
    d = torn(old2, new2, "drop", rng)
    assert d == old2
    pre = torn(old2, new2, "prefix", rng)
    assert len(pre) == 2048 and pre[600:] == old2[600:]


def test_point_in_time_keeps_appends_made_after_a_recovery_that_replayed_nothing(tmp_path):
    """The oldest log's first record is torn: POINT_IN_TIME replays nothing.
    The batches the reopened manager acknowledges must survive the next
    recovery (recover_and_open sets the torn tail aside before it opens
    the new log; before it did, 'nothing resumes' dropped them)."""
    d = tmp_path / "wal"
    with walx.WalManager(d, sync=False) as m:
        b = walx.WriteBatch(1)
        b.put(b"k", b"v" * 100)
        m.append(b)
    p = d / "000001.wal"
    os.truncate(p, p.stat().st_size - 10)           # a power cut tore the only batch
    m, rec = walx.WalManager.recover_and_open(d, mode=RM.POINT_IN_TIME)
    with m:
        assert rec.batches == [] and rec.max_seq == 0
        b = walx.WriteBatch(1)
        b.put(b"acknowledged", b"after recovery")
        m.append(b)                                  # durable: sync=True
    assert recovered(str(d), RM.POINT_IN_TIME) == [1]
