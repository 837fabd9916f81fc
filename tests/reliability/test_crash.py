"""Process-crash harness: SIGKILL a writer at random moments, recover, check.

Each round starts a child process that recovers the directory with
WalManager.recover_and_open and appends durable batches from 1 or 8 threads,
rotating and calling mark_flushed_seq (GC) as it goes, and reports on a pipe
each sequence range it reserves (before using it), each acknowledged batch
(after append returned), and each flushed mark (before GC may act on it).
The parent kills it with SIGKILL after a random delay (sometimes during its
recovery), then recovers with recover_and_open and checks:

* every acknowledged batch above the highest flushed mark is present;
* every recovered batch is one that some child appended (its content is a
  function of generation, thread and sequence, and its sequence lies in a
  range that generation reserved), and none appears twice;
* order: generations in order, and each thread's batches in the order it
  appended them;
* the reopened manager appends (the parent adds a batch itself, which the
  next rounds must keep), and never writes into an existing log: each one
  is unchanged, or (where recovery dropped a torn tail) cut back to its
  last valid record with the original kept as NAME.broken.

Rounds alternate between plain, recycling and preallocating managers. The
default size gives >= 200 crashes; WALX_LONG=1 gives >= 1,000.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

import walx

import reliability

CRASHES = reliability.scaled(110, 520)         # per thread count: 1 and 8

# Shared by the child and the parent: the batch a (generation, thread,
# sequence) appends. Sizes are skewed; a few cross blocks.
CONTENT = r'''
import random as _random
def make_batch(walx, gen, thread, seq):
    rng = _random.Random(seq * 1000003 + gen * 31 + thread)
    n = 1 + (seq % 3 == 0)
    b = walx.WriteBatch(seq)
    for i in range(n):
        r = rng.random()
        size = rng.randrange(40_000, 70_000) if r < 0.02 else rng.randrange(0, 1500)
        b.put(b"g%d.t%d.s%d.%d" % (gen, thread, seq, i), rng.randbytes(size))
    return b
'''

CHILD = CONTENT + r'''
import json, os, sys, threading, time, walx
d, gen, start, nthreads, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
options = json.loads(sys.argv[6])
deadline = time.monotonic() + 30          # never outlive a lost parent
def say(line):
    os.write(1, (line + "\n").encode())
say("BEGIN")
m, rec = walx.WalManager.recover_and_open(d, **options)
say("READY %d %d" % (len(rec.batches), rec.max_seq))
lock = threading.Lock()
order = threading.Lock()
state = {"next": start, "reserved": start - 1, "appends": 0}
CHUNK = 64
def take():
    """The next sequence and the batch's size in sequences (make_batch's count)."""
    with lock:
        seq = state["next"]
        state["next"] += 1 + (seq % 3 == 0)
        if state["next"] - 1 > state["reserved"]:
            state["reserved"] = state["next"] - 1 + CHUNK
            say("R %d" % state["reserved"])
        return seq
def worker(t):
    import random
    rng = random.Random(seed * 100 + t)
    while time.monotonic() < deadline:
        # A caller's own sequences must reach the manager in order, so
        # taking one and appending it is one step (test_crash_sequences.py
        # crashes concurrent appends of manager-assigned sequences).
        with order:
            b = make_batch(walx, gen, t, take())
            m.append(b)
        say("A %d %d" % (t, b.sequence))
        if t == 0:
            r = rng.random()
            if r < 0.06:
                m.rotate()
            elif r < 0.12 and b.last_seq > 150:
                mark = b.last_seq - 50 - rng.randrange(100)
                say("F %d" % mark)
                m.mark_flushed_seq(mark)
threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(nthreads)]
for th in threads: th.start()
for th in threads: th.join()
os._exit(3)
'''

ns = {}
exec(CONTENT, ns)
make_batch = ns["make_batch"]

CONFIGS = [
    {},
    {"recycle_log_files": 2},
    {"preallocate": 65536},
    {"recyclable": True, "buffer_size": 8192},
]
PARENT_THREAD = 99


class Model:
    """What the children (and the parent) told: acknowledged batches,
    reserved ranges, flushed marks."""

    def __init__(self):
        self.acked = {}          # seq -> (gen, thread)
        self.ranges = {}         # gen -> (start, highest reserved)
        self.flushed = 0
        self.next_seq = 1

    def absorb(self, gen, start, out):
        hi = start - 1
        for line in out.decode().splitlines():
            parts = line.split()
            if not parts:
                continue
            if parts[0] == "R":
                hi = max(hi, int(parts[1]))
            elif parts[0] == "A":
                t, seq = int(parts[1]), int(parts[2])
                assert start <= seq <= hi, (gen, line)
                self.acked[seq] = (gen, t)
            elif parts[0] == "F":
                self.flushed = max(self.flushed, int(parts[1]))
        self.ranges[gen] = (start, hi)
        self.next_seq = max(self.next_seq, hi + 1)

    def check(self, batches, where):
        seen = set()
        last_gen = -1
        per_thread = {}
        for b in batches:
            key = list(b)[0].key
            gen, thread, seq = (int(x[1:]) for x in key.split(b".")[:3])
            assert seq == b.sequence, where
            assert b == make_batch(walx, gen, thread, seq), f"{where}: garbled batch {seq}"
            lo, hi = self.ranges[gen]
            assert lo <= seq <= hi, f"{where}: batch {seq} of generation {gen} never appended"
            assert seq not in seen, f"{where}: batch {seq} recovered twice"
            seen.add(seq)
            assert gen >= last_gen, f"{where}: generation {gen} after {last_gen}"
            last_gen = gen
            prev = per_thread.get((gen, thread), 0)
            assert seq > prev, f"{where}: thread {thread} of gen {gen}: {seq} after {prev}"
            per_thread[(gen, thread)] = seq
        lost = sorted(s for s in self.acked if s > self.flushed and s not in seen)
        assert not lost, f"{where}: acknowledged batches lost: {lost[:20]} (flushed {self.flushed})"
        return len(seen)


def read_until(proc, buf, deadline, token=None):
    """Drain the child's stdout into buf until `token` appears or the
    deadline passes or EOF. Returns True when the token was seen."""
    return reliability.read_child(proc, buf, deadline,
                                  lambda b: token is not None and token in b)


def crash_once(d, gen, start, nthreads, options, rng):
    """One child: start, let it work, SIGKILL it. Returns its output."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, d, str(gen), str(start), str(nthreads),
         str(rng.randrange(1 << 30)), json.dumps(options)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        cwd=os.path.dirname(d))          # never a checkout's walx/ sources
    buf = bytearray()
    try:
        early = rng.random() < 0.1
        if early:
            # Kill during the child's recovery.
            assert read_until(proc, buf, time.monotonic() + 60, b"BEGIN\n"), \
                proc.stderr.read().decode()
            read_until(proc, buf, time.monotonic() + rng.uniform(0, 0.004))
        else:
            ok = read_until(proc, buf, time.monotonic() + 60, b"READY")
            assert ok, f"child never got ready: {bytes(buf)!r} {proc.stderr.read().decode()}"
            delay = 0 if rng.random() < 0.05 else rng.uniform(0, 0.05)
            read_until(proc, buf, time.monotonic() + delay)
        proc.send_signal(signal.SIGKILL)
        read_until(proc, buf, time.monotonic() + 60, None)
        rc = proc.wait(timeout=60)
        err = proc.stderr.read().decode()
        assert rc == -signal.SIGKILL, f"child exited by itself ({rc}): {err}"
        return bytes(buf)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.parametrize("nthreads", [1, 8])
def test_sigkill_at_random_moments_loses_no_acknowledged_batch(tmp_path, nthreads):
    d = str(tmp_path / "wal")
    rng = random.Random(1234 + nthreads)
    model = Model()
    acked_children = 0
    recovered = 0
    for gen in range(CRASHES):
        options = CONFIGS[gen % len(CONFIGS)]
        start = model.next_seq
        out = crash_once(d, gen, start, nthreads, options, rng)
        model.absorb(gen, start, out)
        acked_children += out.count(b"\nA ")
        where = f"{nthreads} threads, crash {gen}"
        before = reliability.log_snapshot(d)
        m, rec = walx.WalManager.recover_and_open(d, **options)
        try:
            recovered = model.check(rec.batches, where)
            # The reopened manager keeps appending: one batch of our own.
            seq = model.next_seq
            b = make_batch(walx, gen, PARENT_THREAD, seq)
            m.append(b)
            model.ranges[gen] = (model.ranges[gen][0], max(model.ranges[gen][1], b.last_seq))
            model.acked[seq] = (gen, PARENT_THREAD)
            model.next_seq = b.last_seq + 1
        finally:
            m.close()
        reliability.check_never_appended(d, before, where)
    # A last recovery sees everything, including the parent's batches.
    batches, _, _ = walx.WalManager.recover_from_dir(d)
    model.check(batches, f"{nthreads} threads, final")
    assert acked_children > CRASHES, "the children acknowledged too little to test"
    assert recovered > 0
    reliability.record("crashes", CRASHES, threads=nthreads, acked=acked_children,
                       recovered_last=recovered, flushed=model.flushed)
