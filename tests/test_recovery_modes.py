import pytest

import walx
import walxtest as wt

BLOCK = walx.BLOCK_SIZE
LN = 7
M = walx.RecoveryMode
PIT_REASON = "dropped: follows earlier damage (POINT_IN_TIME)"



# ---- recyclable logs: stale bytes or this log's damage ------------------------------

def test_recyclable_undecodable_batch_stops_point_in_time_across_files(tmp_path):
    # log 1: [seq 1, seq 2 undecodable], log 2: [seq 3]. Replaying 1 and 3
    # would skip seq 2 without a word; POINT_IN_TIME stops at the damage.
    for recyclable in (False, True):
        d = tmp_path / str(int(recyclable))
        d.mkdir()
        b = wt.LogBuilder(recyclable, 1)
        one = walx.WriteBatch(1)
        one.put(b"k", b"v")
        b.add(one.encode())
        bad = bytearray(walx.WriteBatch(2).encode())
        bad[11] = 1
        b.add(bytes(bad))
        (d / "000001.wal").write_bytes(b.data)
        b2 = wt.LogBuilder(recyclable, 2)
        three = walx.WriteBatch(3)
        three.put(b"k", b"w")
        b2.add(three.encode())
        (d / "000002.wal").write_bytes(b2.data)
        batches, _, _ = walx.WalManager.recover_from_dir(d, mode=M.POINT_IN_TIME)
        assert [x.sequence for x in batches] == [1], recyclable


