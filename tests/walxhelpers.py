"""Test helpers that drive walx: the WriteBatch factory, writing and reading
logs, and the manager shortcuts. conftest.py's fixtures `batch`,
`write_log` and `read_all` are make_batch, write_log and read_intact; module
helpers of the test files import them from here."""

import os
import pathlib

import walx


def make_batch(seq, n=1, size=8, tag=b"k", value=None):
    """A WriteBatch at `seq` with n puts: key tag + str(seq + i), value
    `value`, or `size` bytes of (seq + i) & 0xFF."""
    b = walx.WriteBatch(seq)
    for i in range(n):
        v = value if value is not None else bytes([(seq + i) & 0xFF]) * size
        b.put(tag + str(seq + i).encode(), v)
    return b


def batch_of_ops(seq, ops):
    """A WriteBatch at `seq` from [(kind, key, value)]: kind "put", "delete"
    (value ignored) or "pre" (delete_with_pre_image)."""
    b = walx.WriteBatch(seq)
    for kind, k, v in ops:
        if kind == "put":
            b.put(k, v)
        elif kind == "delete":
            b.delete(k)
        else:
            b.delete_with_pre_image(k, v)
    return b


def log_path(d, n):
    """The path WalManager gives log number n in directory d."""
    return pathlib.Path(d) / f"{n:06d}.wal"


def write_log(path, records, **writer_kwargs):
    """Write `records` (bytes-like payloads or WriteBatch objects, encoded)
    with one LogWriter on `path` (created, or appended to); return
    [(start, end)] of each record."""
    spans = []
    with walx.LogWriter(path, **writer_kwargs) as w:
        for rec in records:
            start = w.add_record(rec.encode() if isinstance(rec, walx.WriteBatch) else rec)
            spans.append((start, w.size))
    return spans


def read_log(source, mode=walx.RecoveryMode.TOLERATE_CORRUPTED_TAIL, **reader_kwargs):
    """(records, reader) of `source` read to its end in `mode`; the reader is
    closed, its corruptions, end_offset and clean_end stay readable."""
    with walx.LogReader(source, mode=mode, **reader_kwargs) as r:
        records = list(r)
    return records, r


def read_intact(source, **reader_kwargs):
    """The records of an intact log, read in ABSOLUTE_CONSISTENCY; asserts
    that nothing was damaged and that the log ends cleanly."""
    with walx.LogReader(source, mode=walx.RecoveryMode.ABSOLUTE_CONSISTENCY,
                        **reader_kwargs) as r:
        records = list(r)
        assert r.corruptions == []
        assert r.clean_end
    return records


def names(d):
    """The sorted names in directory d."""
    return sorted(os.listdir(d))


def seqs(batches):
    """The sequence of each batch."""
    return [b.sequence for b in batches]


def append_batches(m, first, count, value=b"v" * 100):
    """Append batches first .. first + count - 1 (one put of `value` each) to
    WalManager m; return the next sequence."""
    for seq in range(first, first + count):
        m.append(make_batch(seq, tag=b"key", value=value))
    return first + count


def recovered_seqs(d, mode=walx.RecoveryMode.ABSOLUTE_CONSISTENCY):
    """The sequences recover_from_dir(d, mode) returns."""
    return seqs(walx.WalManager.recover_from_dir(d, mode=mode)[0])


def run_cli(capsys, *argv):
    """(exit status, stdout, stderr) of `walx ARGV...` run in-process."""
    from walx import _cli
    rc = _cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


# ---- repair: torn logs and logs damaged in the middle ----

MIDDLE = (pathlib.Path(__file__).resolve().parent / "data" / "edge" / "crc_corrupt_middle_legacy"
          / "000040.log")   # a log damaged at offset 33, with valid records after


def torn(path, n=2):
    with walx.LogWriter(str(path)) as w:
        for i in range(n):
            w.add_record(b"record %d" % i)
    with open(path, "ab") as f:
        f.write(b"\x01\x02\x03")


def snapshot(*dirs):
    return {p: p.read_bytes() for d in dirs for p in sorted(d.rglob("*")) if p.is_file()}


def two_middles(d):
    """A directory with a torn log and two logs damaged in the middle."""
    d.mkdir()
    torn(d / "000001.log")
    (d / "000040.log").write_bytes(MIDDLE.read_bytes())
    (d / "000041.log").write_bytes(MIDDLE.read_bytes())
    return d
