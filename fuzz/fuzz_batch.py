"""atheris harness for walx.WriteBatch.decode (and encode). Run it through
ci/fuzz.sh (clang, ASan, UBSan, libFuzzer coverage; see fuzz_reader.py).

Input: bytes. Two uses:
* decode them: either CorruptionError with an offset inside the data, or a
  batch that re-encodes to exactly the input, whose header fields, length,
  last_seq and records agree, and that compares equal to its decoded
  re-encoding;
* build a batch from them (ops, keys, values and a sequence drawn by a
  FuzzedDataProvider), encode it and decode it: the same batch and records
  come back.
Nothing but CorruptionError (decoding) or ValueError (a sequence overflow
while building) may be raised.
"""

import struct
import sys

import atheris

import walx


def check_decode(data):
    try:
        b = walx.WriteBatch.decode(data)
    except walx.CorruptionError as e:
        assert e.offset is not None and 0 <= e.offset <= len(data), (e.offset, len(data))
        assert e.reason.startswith("bad WriteBatch")
        return
    assert b.encode() == data
    seq, count = struct.unpack_from("<QI", data)
    assert b.sequence == seq and len(b) == count
    assert b.last_seq == seq + max(count - 1, 0)
    recs = list(b)
    assert len(recs) == count
    for r in recs:
        assert r.op in (walx.OpType.PUT, walx.OpType.DELETE)
        assert isinstance(r.key, bytes) and isinstance(r.value, bytes)
    assert walx.WriteBatch.decode(b.encode()) == b


def check_build(data):
    fdp = atheris.FuzzedDataProvider(data)
    seq = fdp.ConsumeIntInRange(0, 2**64 - 1)
    b = walx.WriteBatch(seq)
    want = []
    for _ in range(fdp.ConsumeIntInRange(0, 16)):
        kind = fdp.ConsumeIntInRange(0, 2)
        key = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))
        value = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 300))
        try:
            if kind == 0:
                b.put(key, value)
                want.append((walx.OpType.PUT, key, value))
            elif kind == 1:
                b.delete(key)
                want.append((walx.OpType.DELETE, key, b""))
            else:
                b.delete_with_pre_image(key, value)
                want.append((walx.OpType.DELETE, key, value))
        except ValueError:
            # Only a sequence past 2**64 - 1 is refused.
            assert seq + len(want) > 2**64 - 1
            break
    back = walx.WriteBatch.decode(b.encode())
    assert back == b and back.sequence == seq
    assert [(r.op, r.key, r.value) for r in back] == want


def TestOneInput(data):
    check_decode(data)
    check_build(data)


def main():
    print(f"fuzzing walx from {walx._walx.__file__}", file=sys.stderr)
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
