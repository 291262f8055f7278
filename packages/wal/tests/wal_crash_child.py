"""Child process of the crash test: appends records until it is killed.

Usage: ``python wal_crash_child.py WAL_DIR WRITER SEED``. Protocol on stdout (one
``os.write`` per line, so a line is either whole or absent):

* ``READY <seq>``: the writer is open; ``<seq>`` is its ``wal.opened`` record.
* ``W <seq> <n>``: ``append`` returned for the record with payload ``{"n": n, ...}``.
* ``D <seq>``: the writer reported ``<seq>`` durable (``durable_seq`` reached it).

Each payload carries ``blob = expected_blob(n, size)``, so the test can check that every
record it reads is intact, not only that it decodes. Every 25th record is large (up to
256 KiB) so that a SIGKILL can land inside its ``write`` and tear it.
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
import time

from corral_wal import (
    HANDLER_FINISHED,
    HANDLER_STARTED,
    RUN_ACCEPTED,
    RUN_FINISHED,
    RUN_STARTED,
    WalConfig,
    WalWriter,
)


def expected_blob(n: int, size: int) -> str:
    """The deterministic blob of record ``n``."""
    seed = hashlib.sha256(str(n).encode()).hexdigest()
    return (seed * (size // len(seed) + 1))[:size]


def main() -> None:
    wal_dir, writer_id, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = random.Random(seed)
    config = WalConfig(
        segment_bytes=256 * 1024,
        batch_delay=0.01,
        max_segments=None,
        max_age=None,
        sweep_dead_writers=False,
    )
    writer = WalWriter(wal_dir, writer_id, config)
    out = sys.stdout.fileno()
    opened = writer.next_seq - 1  # wal.opened: a boundary, durable once the writer is open
    os.write(out, f"READY {opened}\nD {opened}\n".encode())
    reported = opened
    cycle = [RUN_ACCEPTED, RUN_STARTED, HANDLER_STARTED, HANDLER_FINISHED, RUN_FINISHED]
    count = 0
    while True:
        count += 1
        n = seed * 1_000_000 + count
        event = cycle[count % len(cycle)]
        size = rng.randint(64 * 1024, 256 * 1024) if count % 25 == 0 else rng.randint(0, 300)
        payload = {"n": n, "size": size, "blob": expected_blob(n, size)}
        payload.update(
            {
                RUN_ACCEPTED: {"scope": "action", "source": "cli", "depth": 0},
                RUN_FINISHED: {"status": "ok"},
                HANDLER_STARTED: {"handler": "h"},
                HANDLER_FINISHED: {"handler": "h"},
            }.get(event, {})
        )
        result = writer.append(event, run_id=f"run-{seed}-{count // 5}", payload=payload)
        lines = [f"W {result.seq} {n}\n"]
        durable = writer.durable_seq
        lines.extend(f"D {seq}\n" for seq in range(reported + 1, durable + 1))
        reported = max(reported, durable)
        os.write(out, "".join(lines).encode())
        time.sleep(rng.random() / 1000)


if __name__ == "__main__":
    main()
