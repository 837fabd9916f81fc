"""A tiny durable key-value store on walx: every put is in the WAL before it
is acknowledged; on start the WAL is replayed; a "flush" snapshots the table
and lets walx delete the logs it covers.

    python examples/kv_store.py DIR put KEY VALUE
    python examples/kv_store.py DIR get KEY
    python examples/kv_store.py DIR flush
"""

from __future__ import annotations

import json
import os
import sys
from typing import Dict, Optional

import walx


class KVStore:
    def __init__(self, directory: str) -> None:
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.snapshot_path = os.path.join(directory, "snapshot.json")
        self.table: Dict[bytes, bytes] = {}
        self.snapshot_seq = 0
        if os.path.exists(self.snapshot_path):
            with open(self.snapshot_path) as f:
                snap = json.load(f)
            self.snapshot_seq = int(snap["seq"])
            self.table = {bytes.fromhex(k): bytes.fromhex(v) for k, v in snap["table"].items()}
        self.wal, rec = walx.WalManager.recover_and_open(os.path.join(directory, "wal"))
        for batch in rec.batches:
            if (batch.last_seq or 0) <= self.snapshot_seq:   # recovered: never None
                continue
            for op, key, value in batch:
                if op == walx.OpType.PUT:
                    self.table[key] = value
                else:
                    self.table.pop(key, None)
        self.seq = max(rec.max_seq, self.snapshot_seq)
        self.wal.mark_flushed_seq(self.snapshot_seq)

    def put(self, key: bytes, value: bytes) -> None:
        self.seq += 1
        batch = walx.WriteBatch(self.seq)
        batch.put(key, value)
        self.wal.append(batch)          # durable when this returns
        self.table[key] = value

    def delete(self, key: bytes) -> None:
        self.seq += 1
        batch = walx.WriteBatch(self.seq)
        batch.delete_with_pre_image(key, self.table.get(key, b""))
        self.wal.append(batch)
        self.table.pop(key, None)

    def get(self, key: bytes) -> Optional[bytes]:
        return self.table.get(key)

    def flush(self) -> None:
        """Snapshot the table, then let the WAL drop what the snapshot holds."""
        self.wal.rotate()
        tmp = self.snapshot_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"seq": self.seq,
                       "table": {k.hex(): v.hex() for k, v in self.table.items()}}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.snapshot_path)
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self.wal.mark_flushed_seq(self.seq)

    def close(self) -> None:
        self.wal.close()


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    store = KVStore(argv[0])
    try:
        cmd = argv[1]
        if cmd == "put" and len(argv) == 4:
            store.put(argv[2].encode(), argv[3].encode())
        elif cmd == "get" and len(argv) == 3:
            value = store.get(argv[2].encode())
            print(value.decode(errors="replace") if value is not None else "(not found)")
        elif cmd == "flush":
            store.flush()
        else:
            print(__doc__, file=sys.stderr)
            return 2
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
