"""WriteBatch encode and decode: walx's C codec against the same codec in Python.

A batch holds PUTS puts of an 8-byte big-endian key and a 100 B value; a
round processes BATCHES batches. Rates are per put (MB/s counts the 108
key + value bytes of each). The pure-Python codec (pywal.py: ``struct``
and varints) produces the same bytes and the same operations (checked),
so the ratio is what the C codec buys an engine that builds and replays
batches.

- "WriteBatch encode": walx ``WriteBatch`` put() PUTS times then
  encode(), against ``pywal.encode_batch`` of (op, key, value) tuples;
- "WriteBatch decode": ``WriteBatch.decode`` then list() of its
  BatchRecords, against ``pywal.decode_batch``.
"""

import pytest

import pywal
import walx
from conftest import QUICK, run_rounds

PUTS = 100
BATCHES = 10 if QUICK else 1000
ROUNDS = 1 if QUICK else 15
VALUE = bytes(range(100))
KEYS = [i.to_bytes(8, "big") for i in range(PUTS)]


def walx_encode(seq):
    b = walx.WriteBatch(seq)
    put = b.put
    for k in KEYS:
        put(k, VALUE)
    return b.encode()


def pywal_encode(seq):
    return pywal.encode_batch(seq, [(1, k, VALUE) for k in KEYS])


ENCODED = walx_encode(7)
CODECS = {
    ("encode", "walx WriteBatch put + encode"): walx_encode,
    ("encode", "pure Python (pywal) encode_batch"): pywal_encode,
    ("decode", "walx WriteBatch.decode + iterate"): lambda i: list(walx.WriteBatch.decode(ENCODED)),
    ("decode", "pure Python (pywal) decode_batch"): lambda i: pywal.decode_batch(ENCODED),
}


@pytest.mark.parametrize("what, impl", list(CODECS), ids=lambda x: x.split(" ")[0])
def test_batch_codec(benchmark, bench_case, what, impl):
    """BATCHES batches of PUTS puts encoded, or decoded and materialised."""
    bench_case(f"WriteBatch {what}", impl, records=BATCHES * PUTS, size=8 + len(VALUE))
    fn = CODECS[what, impl]

    def body():
        for i in range(BATCHES):
            fn(i)

    run_rounds(benchmark, body, ROUNDS)


@pytest.mark.parametrize("seq", [0, 1, 2**63])
def test_pywal_batch_codec_matches_walx(seq):
    """Not a benchmark: the pure-Python codec agrees with walx's."""
    ops = [(1, b"k", b""), (0, b"gone", b"pre"), (1, b"x" * 300, b"y" * 20000), (0, b"", b"")]
    b = walx.WriteBatch(seq)
    for op, k, v in ops:
        b.put(k, v) if op else b.delete_with_pre_image(k, v)
    assert pywal.encode_batch(seq, ops) == b.encode()
    assert pywal.decode_batch(b.encode()) == (seq, ops)
    assert walx_encode(7) == pywal_encode(7)
    assert [(int(r.op), r.key, r.value) for r in walx.WriteBatch.decode(ENCODED)] == \
        pywal.decode_batch(ENCODED)[1]
