"""``walx bench``: the append+sync microbenchmark.

Appends --count records from --threads threads into a fresh directory and
reports records/s, MB/s and per-append latency percentiles. One
``time.perf_counter_ns`` sample is taken around each append (and its sync);
rotations, when asked for, happen outside the samples but inside the wall
time.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple, Union

import walx
from walx._cli_cmds import EXIT_ERROR, EXIT_OK, _err, _jline, _n

_MIN_BATCH = 16   # header 12 + op 1 + key length 1 + key "b" + value length 1
_FLUSHED_ALL = 0xFFFFFFFFFFFFFFFF


def percentile(sorted_ns: List[int], p: float) -> float:
    """Nearest-rank percentile of sorted nanosecond samples, in microseconds."""
    rank = math.ceil(round(p * len(sorted_ns) / 100, 9))   # round: 99.9% of 1000 is 999
    k = max(0, min(len(sorted_ns) - 1, rank - 1))
    return sorted_ns[k] / 1000.0


def _fmt_us(us: float) -> str:
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.1f} us"


def _encoded_size(key: bytes, value: bytes) -> int:
    b = walx.WriteBatch(0)
    b.put(key, value)
    return len(b.encode())


def _value_for(key: bytes, size: int) -> bytes:
    """The value that brings WriteBatch(put(key, value)) closest to `size`
    bytes from below."""
    v = size - _MIN_BATCH - (len(key) - 1)
    while v > 0:
        over = _encoded_size(key, bytes(v)) - size
        if over <= 0:
            break
        v -= over
    return bytes(max(v, 0))


def batch_kv(size: int) -> Tuple[bytes, bytes]:
    """(key, value) that make WriteBatch(put(key, value)) encode to exactly
    `size` bytes (>= _MIN_BATCH). Where the value's length varint grows a
    byte, a value one byte shorter would miss by one: the key takes it."""
    for key_len in range(1, 4):
        key = b"b" * key_len
        value = _value_for(key, size)
        if _encoded_size(key, value) == size:
            return key, value
    return b"b", _value_for(b"b", size)


def fs_type(path: str) -> str:
    """The filesystem type holding `path` (Linux /proc/self/mounts), or "unknown"."""
    real = os.path.realpath(path)
    best, kind = "", "unknown"
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mnt = parts[1].replace("\\040", " ")
                inside = real == mnt or real.startswith(mnt.rstrip("/") + "/")
                if inside and len(mnt) >= len(best):
                    best, kind = mnt, parts[2]
    except OSError:
        pass
    return kind


def _check(args: argparse.Namespace) -> Optional[str]:
    """The first option problem argparse cannot see, or None."""
    if args.api == "writer":
        for opt, val in (("--recycle", args.recycle), ("--rotate-every", args.rotate_every),
                         ("--preallocate", args.preallocate)):
            if val:
                return f"{opt} needs --api manager (LogWriter writes a single file)"
    if args.api == "manager" and args.sync == "full":
        return "--sync full needs --api writer (WalManager syncs with fdatasync)"
    if args.api == "manager" and args.size < _MIN_BATCH:
        return (f"--size must be at least {_MIN_BATCH} with --api manager "
                "(the smallest one-put WriteBatch)")
    if args.threads > args.count:
        return f"--threads ({args.threads}) must not exceed --count ({args.count})"
    if args.dir is not None and not os.path.isdir(args.dir):
        return f"{args.dir}: not a directory"
    return None


def cmd_bench(args: argparse.Namespace) -> int:
    """Append (and sync) --count records from --threads threads; print the rates."""
    problem = _check(args)
    if problem:
        _err("bench", problem)
        return EXIT_ERROR
    if args.recycle and not args.rotate_every:
        # Recycling needs logs to retire: rotate about eight times.
        args.rotate_every = max(1, args.count // 8)
    d = tempfile.mkdtemp(prefix="walx-bench-", dir=args.dir)
    try:
        return _run(args, d)
    finally:
        if not args.keep:
            shutil.rmtree(d, ignore_errors=True)


def _manager_worker(args: argparse.Namespace, m: walx.WalManager, per: List[int],
                    samples: List[List[int]], start: threading.Barrier) -> Callable[[int], None]:
    key, value = batch_kv(args.size)
    clock = time.perf_counter_ns
    lock = threading.Lock()
    done = [0]

    def work(i: int) -> None:
        out = samples[i]
        start.wait()
        for _ in range(per[i]):
            b = walx.WriteBatch()       # the manager assigns the sequence
            b.put(key, value)
            t0 = clock()
            m.append(b)
            out.append(clock() - t0)
            if args.rotate_every:
                with lock:
                    done[0] += 1
                    rotate = done[0] % args.rotate_every == 0
                if rotate:
                    # As an engine does after a memtable flush: retire the
                    # log, so GC deletes or (with --recycle) keeps it.
                    m.rotate()
                    m.mark_flushed_seq(_FLUSHED_ALL)
    return work


def _writer_worker(args: argparse.Namespace, w: walx.LogWriter, per: List[int],
                   samples: List[List[int]], start: threading.Barrier) -> Callable[[int], None]:
    payload = bytes(args.size)
    sync = {"none": None, "data": w.sync, "full": w.sync_all}[args.sync]
    clock = time.perf_counter_ns

    def work(i: int) -> None:
        out = samples[i]
        add = w.add_record
        start.wait()
        for _ in range(per[i]):
            t0 = clock()
            add(payload)
            if sync is not None:
                sync()
            out.append(clock() - t0)
    return work


def _run(args: argparse.Namespace, d: str) -> int:
    per: List[int] = [args.count // args.threads + (i < args.count % args.threads)
                      for i in range(args.threads)]
    samples: List[List[int]] = [[] for _ in per]
    errors: List[BaseException] = []
    start = threading.Barrier(args.threads + 1)
    target: Union[walx.WalManager, walx.LogWriter]
    if args.api == "manager":
        target = walx.WalManager(d, sync=args.sync == "data", buffer_size=args.buffer,
                                 recycle_log_files=args.recycle,
                                 preallocate=args.preallocate)
        work = _manager_worker(args, target, per, samples, start)
    else:
        target = walx.LogWriter(os.path.join(d, "000001.wal"), buffer_size=args.buffer)
        work = _writer_worker(args, target, per, samples, start)

    def guarded(i: int) -> None:
        try:
            work(i)
        except BaseException as e:  # re-raised after the join
            errors.append(e)
            start.abort()

    with target:
        threads = [threading.Thread(target=guarded, args=(i,)) for i in range(args.threads)]
        for t in threads:
            t.start()
        try:
            start.wait()
        except threading.BrokenBarrierError:
            pass
        t0 = time.perf_counter_ns()
        for t in threads:
            t.join()
        wall_ns = max(time.perf_counter_ns() - t0, 1)
        if isinstance(target, walx.WalManager):    # args.api == "manager"
            metrics = target.metrics
        else:
            metrics = {"syncs_total": target.syncs_total}
    if errors:
        raise errors[0]
    _report(args, d, sorted(x for s in samples for x in s), wall_ns, metrics)
    return EXIT_OK


def _report(args: argparse.Namespace, d: str, lat: List[int], wall_ns: int,
            metrics: Dict[str, int]) -> None:
    secs = wall_ns / 1e9
    lu = {"p50": percentile(lat, 50), "p99": percentile(lat, 99),
          "p99.9": percentile(lat, 99.9)}
    res: Dict[str, object] = {
        "api": args.api, "records": args.count, "record_size": args.size,
        "threads": args.threads, "sync": args.sync, "buffer": args.buffer,
        "recycle": args.recycle, "rotate_every": args.rotate_every,
        "preallocate": args.preallocate,
        "seconds": round(secs, 6), "records_per_s": round(args.count / secs, 1),
        "mb_per_s": round(args.count * args.size / secs / 1e6, 3),
        "latency_us": lu,
        "syncs": metrics.get("syncs_total", 0),
        "rotations": metrics.get("rotations_total", 0),
        "files_recycled": metrics.get("files_recycled_total", 0),
        "dir": d, "filesystem": fs_type(d),
    }
    if args.json:
        _jline(res)
        return
    print(f"walx bench: {args.count:,} appends of {args.size} B, "
          f"{_n(args.threads, 'thread')}, api={args.api}, sync={args.sync}, "
          f"buffer={args.buffer}")
    print(f"  directory    {d} ({res['filesystem']}{'' if args.keep else ', removed'})")
    print(f"  wall time    {secs:.3f} s")
    print(f"  records/s    {res['records_per_s']:,.0f}")
    print(f"  MB/s         {res['mb_per_s']:.2f}")
    print(f"  latency      p50 {_fmt_us(lu['p50'])}   p99 {_fmt_us(lu['p99'])}   "
          f"p99.9 {_fmt_us(lu['p99.9'])}")
    print(f"  syncs        {res['syncs']:,} (fdatasync/fsync calls made)")
    if args.rotate_every:
        print(f"  rotations    {res['rotations']:,} (every {args.rotate_every:,} appends), "
              f"{res['files_recycled']:,} logs recycled")
