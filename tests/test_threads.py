"""Concurrency: many threads on one LogWriter. Records never interleave,
concurrent sync() calls all complete (sharing fdatasyncs), and close()
racing with appends never crashes or tears the file. No timing assertions."""

import hashlib
import os
import random
import struct
import subprocess
import sys
import textwrap
import threading

import pytest

import walx
from walxtest import run_threads

BLOCK = walx.BLOCK_SIZE
ABSOLUTE = walx.RecoveryMode.ABSOLUTE_CONSISTENCY
def make_record(tid, idx, size):
    """[tid u16][idx u32][body][sha256(tid, idx, body)[:8]]; size >= 14."""
    body = random.Random(tid * 1_000_003 + idx).randbytes(size - 14)
    head = struct.pack("<HI", tid, idx)
    return head + body + hashlib.sha256(head + body).digest()[:8]


def parse_record(rec):
    assert len(rec) >= 14, len(rec)
    head, body, digest = rec[:6], rec[6:-8], rec[-8:]
    assert hashlib.sha256(head + body).digest()[:8] == digest, "record torn or mixed"
    return struct.unpack("<HI", head)


def read_log(path, **kw):
    with walx.LogReader(str(path), mode=ABSOLUTE, **kw) as r:
        records = list(r)
        assert r.corruptions == []
        assert r.clean_end
    return records


