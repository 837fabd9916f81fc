"""Builds the fuzzers' seed corpora from the test vectors (tests/data) and a
few logs and batches written by walx itself.

    python fuzz/make_corpus.py OUTDIR

writes OUTDIR/parse (for fuzz_parse.c: one mode byte, then log bytes),
OUTDIR/reader (for fuzz_reader.py: log bytes, options in the last byte)
and OUTDIR/batch (for fuzz_batch.py: encoded WriteBatches). Inputs are cut
to at most 64 KiB (two blocks), the size the fuzzers are run with.
"""

import hashlib
import os
import pathlib
import random
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
MAX = 65536


def save(directory, data):
    directory.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    (directory / name).write_bytes(data)


def vector_logs():
    for p in sorted(DATA.rglob("*.log")):
        yield p.read_bytes()


def walx_logs_and_batches():
    """Logs written by walx (legacy and recyclable, small and block-crossing
    records) and the batches in them."""
    import walx
    rng = random.Random(1)
    logs, batches = [], []
    with tempfile.TemporaryDirectory() as d:
        for recyclable in (False, True):
            path = os.path.join(d, f"00000{int(recyclable) + 1}.wal")
            with walx.LogWriter(path, recyclable=recyclable) as w:
                seq = 1
                for i in range(40):
                    b = walx.WriteBatch(seq)
                    for j in range(rng.randrange(0, 4)):
                        size = rng.choice([0, 1, 10, 100, 3000, 40_000]) if i % 7 == 0 else \
                            rng.randrange(0, 200)
                        if j % 3 == 2:
                            b.delete_with_pre_image(b"k%d" % j, rng.randbytes(size))
                        elif j % 3 == 1:
                            b.delete(b"key%d" % i)
                        else:
                            b.put(b"key%d" % i, rng.randbytes(size))
                    seq = b.last_seq + 1
                    data = b.encode()
                    batches.append(data)
                    w.add_record(data)
            logs.append(pathlib.Path(path).read_bytes())
    return logs, batches


def pieces(log):
    """The log's start and a few block-aligned windows, <= MAX bytes each."""
    yield log[:MAX]
    for start in range(32768, len(log), 32768 * 3):
        yield log[start:start + MAX]
    if len(log) > 200:
        yield log[:len(log) // 2]          # a torn tail


def main(out):
    out = pathlib.Path(out)
    logs = list(vector_logs())
    walx_logs, batches = walx_logs_and_batches()
    logs += walx_logs
    for log in logs:
        for piece in pieces(log):
            for mode in (0, 1, 2, 14):
                save(out / "parse", bytes([mode]) + piece)
            for opts in (0, 0x21, 0x42, 0x93):
                save(out / "reader", piece + bytes([opts]))
    # Batches: walx's own, plus the payloads of the RocksDB/LevelDB vectors
    # (their puts-only batches are valid walx batches, the rest are not).
    import walx
    for log in logs:
        with walx.LogReader(log, mode=walx.RecoveryMode.SKIP_ANY_CORRUPTED) as r:
            for payload in r:
                batches.append(payload[:MAX])
    for b in batches:
        save(out / "batch", b)
    for sub in ("parse", "reader", "batch"):
        print(f"{sub}: {len(os.listdir(out / sub))} seeds")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_corpus.py OUTDIR")
    main(sys.argv[1])
