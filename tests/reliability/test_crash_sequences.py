"""SIGKILL a writer whose threads append manager-assigned sequences.

Each round starts a child that recovers the directory with
recover_and_open(sync=False, sync_interval=...), then appends WriteBatch()
from 8 threads (group commit, no caller sequences) and rotates now and
then. Each thread reports on a pipe every append that returned ("A seq
key") and, every few appends, each batch whose wait_for returned True
("D seq"). The parent kills the child after a random number of reports,
recovers, and checks:

* the recovered log is gap-free from sequence 1: each batch starts at the
  previous batch's last sequence + 1 (nothing is flushed, so nothing is
  deleted), across every generation;
* every batch whose wait_for returned True is recovered;
* every recovered batch that was reported is the batch reported for that
  sequence, and each thread's batches appear in the order it appended them;
* after recovery last_seq == synced_seq == rec.max_seq.
"""

import os
import random
import signal
import subprocess
import sys
import time

import walx

import reliability

CRASHES = reliability.scaled(30, 200)

CHILD = r'''
import os, sys, threading, time, walx
d, gen, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + 30          # never outlive a lost parent
def say(line):
    os.write(1, (line + "\n").encode())
m, rec = walx.WalManager.recover_and_open(d, sync=False, sync_interval=interval)
say("READY %d" % rec.max_seq)
def worker(t):
    i = 0
    while time.monotonic() < deadline:
        b = walx.WriteBatch()
        key = b"g%d.t%d.i%d" % (gen, t, i)
        for j in range(1 + i % 3):
            b.put(key + b".%d" % j, b"x" * ((i * 37 + j) % 900))
        s = m.append(b)
        say("A %d %s" % (s, key.decode()))
        if i % 4 == 0 and m.wait_for(s, timeout=30):
            say("D %d" % s)
        if t == 0 and i % 50 == 49:
            m.rotate()
        i += 1
threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(8)]
for th in threads: th.start()
for th in threads: th.join()
os._exit(3)
'''


def read_lines(proc, buf, want, deadline):
    """Read the child's stdout into `buf` until it holds `want` lines, the
    child exits, or `deadline` (an upper bound) passes."""
    return reliability.read_child(proc, buf, deadline, lambda b: b.count(b"\n") >= want)


def crash_once(d, gen, rng):
    interval = rng.choice([0.001, 0.005, 0.02])
    proc = subprocess.Popen([sys.executable, "-c", CHILD, d, str(gen), str(interval)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    buf = bytearray()
    try:
        ok = read_lines(proc, buf, 1, time.monotonic() + 60)
        assert ok and buf.startswith(b"READY"), (bytes(buf), proc.stderr.read())
        read_lines(proc, buf, 1 + rng.randrange(1, 600), time.monotonic() + 60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(60)
        buf.extend(proc.stdout.read())
        proc.stdout.close()
        proc.stderr.close()
    acked, durable = {}, set()
    for line in bytes(buf).decode().splitlines()[1:]:
        parts = line.split()
        if len(parts) == 3 and parts[0] == "A":
            acked[int(parts[1])] = parts[2].encode()
        elif len(parts) == 2 and parts[0] == "D":
            durable.add(int(parts[1]))
    return acked, durable


def check(batches, acked, durable, where):
    expected = 1
    order = {}
    for b in batches:
        assert b.sequence == expected, f"{where}: gap or overlap at {b.sequence}, wanted {expected}"
        expected = b.last_seq + 1
        key = next(iter(b)).key.rsplit(b".", 1)[0]
        if b.sequence in acked:
            assert acked[b.sequence] == key, f"{where}: batch {b.sequence} is not the one acked"
        gen_thread, i = key.rsplit(b".i", 1)
        prev = order.get(gen_thread, -1)
        assert int(i) > prev, f"{where}: {gen_thread!r} appended {i} after {prev}"
        order[gen_thread] = int(i)
    got = {b.sequence for b in batches}
    lost = sorted(durable - got)
    assert not lost, f"{where}: wait_for returned True for {lost[:10]}, not recovered"


def test_sigkill_during_assigned_appends_keeps_every_waited_batch(tmp_path):
    rng = random.Random(int(os.environ.get("WALX_SEED", "15")))
    d = str(tmp_path / "wal")
    acked, durable = {}, set()
    for gen in range(CRASHES):
        a, w = crash_once(d, gen, rng)
        acked.update(a)
        durable |= w
        m, rec = walx.WalManager.recover_and_open(d)
        try:
            assert m.last_seq == m.synced_seq == rec.max_seq
            check(rec.batches, acked, durable, f"after crash {gen}")
        finally:
            m.close()
        # Sequences above max_seq were never recovered; the next child
        # assigns them again, to other batches.
        acked = {s: k for s, k in acked.items() if s <= rec.max_seq}
    assert durable, "no wait_for returned True before a kill"
    reliability.record("crash_sequences", CRASHES)
