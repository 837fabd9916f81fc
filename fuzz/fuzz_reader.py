"""atheris harness for walx.LogReader (and, with codec="walx", the batch
decoder behind it). Run it through ci/fuzz.sh, which builds walx with
clang, AddressSanitizer, UndefinedBehaviorSanitizer and libFuzzer coverage
and preloads atheris' sanitizer runtime:

    LD_PRELOAD=$(python -c 'import atheris; print(atheris.path())')/asan_with_fuzzer.so \
    PYTHONPATH=<sanitized walx build> python fuzz/fuzz_reader.py CORPUS -runs=N

Input: log bytes, then one options byte (mode, codec, checksums, expected
log number, max_record_size). Checks, for every input and option:
* nothing but walx.WalError (CorruptionError, compressed WAL) is raised;
* records are bytes (WriteBatch with the codec) within max_record_size;
* end_offset and every Corruption lie inside the data; a clean end has no
  corruption; reading twice gives the same result;
* differential: when the strict reference parser of tests/walxtest.py
  accepts the data as a pristine log (one header kind, one log number),
  every mode returns exactly its records.
"""

import os
import sys

import atheris

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

with atheris.instrument_imports():
    import walxtest

import logging

import walx

logging.getLogger("walx").setLevel(logging.CRITICAL)   # damage is the normal case here

MODES = list(walx.RecoveryMode)
LOG_NUMBERS = (None, 0, 1, 7)
MAX_RECORD = (None, 1, 64, 1 << 20)


def read(data, mode, codec, verify, log_number, max_record):
    try:
        with walx.LogReader(data, mode=mode, codec=codec, verify_checksums=verify,
                            log_number=log_number, max_record_size=max_record) as r:
            recs = list(r)
            corr = list(r.corruptions)
            end = r.end_offset
            clean = r.clean_end
    except walx.WalError as e:
        return ("error", type(e).__name__, str(e))
    for rec in recs:
        if codec is None:
            assert isinstance(rec, bytes)
            assert max_record is None or len(rec) <= max_record
        else:
            assert isinstance(rec, walx.WriteBatch)
            assert walx.WriteBatch.decode(rec.encode()) == rec
    assert 0 <= end <= len(data)
    for c in corr:
        assert c.path is None and 0 <= c.offset and c.size >= 0
        assert c.offset + c.size <= len(data), (c, len(data))
    if clean:
        assert corr == []
    return ("ok", [r if codec is None else r.encode() for r in recs], corr, end)


def pristine(data):
    """The records of `data` when the reference parser accepts it strictly
    as one log (one header kind, one log number, no meta records)."""
    try:
        phys = walxtest.parse_physical(data)
        recs = walxtest.read_all(data)
    except ValueError:
        return None
    numbers = {ln for _, _, ln, _ in phys}
    if len(numbers) > 1:
        return None
    return recs, numbers.pop() if numbers else None


def TestOneInput(blob):
    if not blob:
        return
    data, opts = blob[:-1], blob[-1]
    mode = MODES[opts & 3]
    codec = "walx" if opts & 4 else None
    verify = not (opts & 8)
    log_number = LOG_NUMBERS[(opts >> 4) & 3]
    max_record = MAX_RECORD[(opts >> 6) & 3]
    first = read(data, mode, codec, verify, log_number, max_record)
    assert read(data, mode, codec, verify, log_number, max_record) == first
    ref = pristine(data)
    if ref is not None and codec is None and max_record is None:
        recs, number = ref
        for m in MODES:
            got = read(data, m, None, True, number, None)
            assert got[0] == "ok" and got[1] == recs, (m, got, recs)
            assert got[2] == []


def main():
    print(f"fuzzing walx from {walx._walx.__file__}", file=sys.stderr)
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
