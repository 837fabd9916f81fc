"""Shared helpers of the reliability suites in tests/reliability/
(test_crash, test_powerloss, test_faults, test_faults_manager,
test_properties, test_bad_inputs).

`record(kind, n)` adds a measured figure (crashes survived, states checked,
faults injected, ...) to the JSON-lines file named by WALX_RELIABILITY_LOG,
when that variable is set: ci/reliability.sh sums and prints them. Without
it, nothing is written.
"""

import errno
import json
import os
import select
import time

from walx import _testing as T

LONG = os.environ.get("WALX_LONG", "") not in ("", "0")


# The errors a fault-injection test makes a syscall fail with.
ERRORS = {"EIO": errno.EIO, "ENOSPC": errno.ENOSPC, "EDQUOT": errno.EDQUOT}


def scaled(short, long):
    """`short` in the normal suite, `long` with WALX_LONG=1."""
    return long if LONG else short


def record(figure, n, **detail):
    path = os.environ.get("WALX_RELIABILITY_LOG")
    if not path or not n:
        return
    line = json.dumps({"figure": figure, "n": int(n), **detail}, sort_keys=True)
    # One write of a short line with O_APPEND: safe from several processes.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def log_snapshot(d):
    """{name: bytes} of the <digits>.wal files in d."""
    out = {}
    for name in os.listdir(d):
        stem, dot, ext = name.partition(".")
        if ext == "wal" and stem.isdigit():
            with open(os.path.join(d, name), "rb") as f:
                out[name] = f.read()
    return out


def check_never_appended(d, before, where):
    """After recover_and_open and appends: every log that existed before is
    unchanged, or was cut to a prefix of itself, or moved aside, with its
    original bytes kept in NAME.broken[.N] (recover_and_open settles what
    recovery dropped). A log is never written past its old valid end."""
    names = os.listdir(d)
    for name, data in before.items():
        path = os.path.join(d, name)
        now = None
        if os.path.exists(path):
            with open(path, "rb") as f:
                now = f.read()
        if now == data:
            continue
        kept = []
        for other in names:
            if other.startswith(name + ".broken"):
                with open(os.path.join(d, other), "rb") as f:
                    kept.append(f.read())
        assert data in kept, f"{where}: {name} changed and its original was not kept"
        assert now is None or (len(now) < len(data) and data.startswith(now)), \
            f"{where}: {name} was written to after the crash"


def sync_calls():
    """How many fdatasync and fsync calls the armed fault hook has counted."""
    return T.fault_calls("fdatasync") + T.fault_calls("fsync")


def read_child(proc, buf, deadline, done=lambda buf: False):
    """Drain a child's stdout into the bytearray `buf` until done(buf),
    EOF, or `deadline` (time.monotonic(), an upper bound) passes. Returns
    True when done(buf)."""
    fd = proc.stdout.fileno()
    while not done(buf):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([fd], [], [], left)
        if r:
            chunk = os.read(fd, 65536)
            if not chunk:
                return False
            buf.extend(chunk)
    return True
