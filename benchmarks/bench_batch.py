"""WriteBatch encode and decode: walx's C codec against the pure-Python one.

A batch holds PUTS puts of an 8-byte big-endian key and a 100 B value
(about 11 KB encoded); a round processes BATCHES such batches. The rates
are per put (records/s; MB/s counts the 108 key + value bytes of each).

Scenario "WriteBatch encode": build the batch (walx encodes each operation
as it is added) and call encode():
- walx.WriteBatch: put() PUTS times, then encode();
- pywal.encode_batch: the same bytes from a list of (op, key, value).
Scenario "WriteBatch decode": decode the encoded batch and materialise every
operation:
- walx.WriteBatch.decode(data), then list(batch) (BatchRecord tuples);
- pywal.decode_batch(data) (a list of (op, key, value) tuples).
Both produce the same bytes / the same operations; checked once.
"""

import os

import pytest

import pywal
import walx

QUICK = os.environ.get("WALX_BENCH_QUICK") == "1"
PUTS = 100
BATCHES = 10 if QUICK else 1000
ROUNDS = 1 if QUICK else 15
VALUE = os.urandom(100)
KEYS = [i.to_bytes(8, "big") for i in range(PUTS)]
RECORD_SIZE = 8 + len(VALUE)


def _walx_encode(seq):
    b = walx.WriteBatch(seq)
    put = b.put
    for k in KEYS:
        put(k, VALUE)
    return b.encode()


def _py_encode(seq):
    return pywal.encode_batch(seq, [(1, k, VALUE) for k in KEYS])


def _run(benchmark, bench_case, scenario, impl, fn, baseline=None):
    bench_case(scenario, impl, records=BATCHES * PUTS, record_size=RECORD_SIZE,
               baseline=baseline, puts_per_batch=PUTS)

    def body():
        for i in range(BATCHES):
            fn(i)

    benchmark.pedantic(body, rounds=ROUNDS, warmup_rounds=1 if ROUNDS > 1 else 0)


def test_walx_batch_encode(benchmark, bench_case):
    """walx.WriteBatch: PUTS put()s then encode(), BATCHES times."""
    _run(benchmark, bench_case, "WriteBatch encode", "walx WriteBatch put + encode",
         _walx_encode)
    assert _walx_encode(7) == _py_encode(7)


def test_pure_python_batch_encode(benchmark, bench_case):
    """pywal.encode_batch of PUTS (op, key, value) tuples, BATCHES times."""
    _run(benchmark, bench_case, "WriteBatch encode", "pure Python (pywal) encode_batch",
         _py_encode, baseline="pure_python")


ENCODED = _walx_encode(7)


def test_walx_batch_decode(benchmark, bench_case):
    """walx.WriteBatch.decode of a PUTS-put batch, then list() of its records."""
    decode = walx.WriteBatch.decode
    _run(benchmark, bench_case, "WriteBatch decode", "walx WriteBatch.decode + iterate",
         lambda i: list(decode(ENCODED)))
    got = [(int(r.op), r.key, r.value) for r in decode(ENCODED)]
    assert got == pywal.decode_batch(ENCODED)[1]


def test_pure_python_batch_decode(benchmark, bench_case):
    """pywal.decode_batch of a PUTS-put batch (struct + Python varints)."""
    _run(benchmark, bench_case, "WriteBatch decode", "pure Python (pywal) decode_batch",
         lambda i: pywal.decode_batch(ENCODED), baseline="pure_python")


@pytest.mark.parametrize("seq", [0, 1, 2**63])
def test_pywal_batch_codec_matches_walx(seq):
    """Not a benchmark: the pure-Python codec must agree with walx's."""
    b = walx.WriteBatch(seq)
    ops = [(1, b"k", b""), (0, b"gone", b"pre"), (1, b"x" * 300, b"y" * 20000), (0, b"", b"")]
    for op, k, v in ops:
        if op:
            b.put(k, v)
        else:
            b.delete_with_pre_image(k, v)
    assert pywal.encode_batch(seq, ops) == b.encode()
    assert pywal.decode_batch(b.encode()) == (seq, ops)
