"""Print the sequence numbers and sizes of the batches in a RocksDB or
LevelDB write-ahead log, and any damage, with walx.

    python examples/read_rocksdb_wal.py PATH/000004.log [MODE]
"""

from __future__ import annotations

import sys

import walx


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    mode = walx.RecoveryMode[argv[1]] if len(argv) > 1 else walx.RecoveryMode.SKIP_ANY_CORRUPTED
    with walx.LogReader(argv[0], mode=mode) as reader:
        for payload in reader:
            assert isinstance(payload, bytes)
            seq = int.from_bytes(payload[:8], "little")
            count = int.from_bytes(payload[8:12], "little")
            print(f"offset {reader.last_record_offset}: seq {seq} count {count} "
                  f"size {len(payload)}")
        for c in reader.corruptions:
            print(f"damage at offset {c.offset} ({c.size} bytes): {c.reason}")
        return 1 if reader.corruptions else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
