"""The test-only runner's WAL stream (SPEC §12.3, §12.5, §12.9), written from the SPEC:
one segment, frames ``crc SP json LF`` appended with one write each, ``wal.closed`` on an
orderly exit. No fsync policy: the suite cannot observe durability from outside."""

from __future__ import annotations

import json
import os
import re
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .variants import Breaks

__all__ = ["Wal"]


def _slug(env: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", env.lower()).strip("-._")[:24].strip("-._")


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


class Wal:
    """One runner's stream in ``wal_dir``."""

    def __init__(self, wal_dir: str, env: str, project: str, breaks: Breaks) -> None:
        slug = _slug(env)
        name = "-".join(
            p for p in ("runner", slug, str(os.getpid()), _base36(int(time.time() * 1000))) if p
        )
        self.writer = name
        self.project = project
        self.env = env
        self.breaks = breaks
        self.seq = 0
        self.last_ts = ""
        stream = Path(wal_dir) / name
        stream.mkdir(parents=True, exist_ok=True)
        self.fd: int | None = os.open(
            stream / f"{0:020d}.wal", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
        )
        self.append("wal.opened", payload={"pid": os.getpid(), "recovered": None})

    def append(
        self,
        event: str,
        *,
        run_id: str | None = None,
        parent_run_id: str | None = None,
        action: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        if self.fd is None:
            return
        if event.startswith("handler.") and self.breaks("wal-no-handler-records"):
            return
        ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.last_ts = ts = max(ts, self.last_ts)
        record = {
            "v": 1,
            "writer": self.writer,
            "seq": self.seq,
            "ts": ts,
            "event": event,
            "runId": run_id,
            "parentRunId": parent_run_id,
            "project": self.project,
            "env": self.env,
            "action": action,
            "payload": payload or {},
        }
        body = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        crc = zlib.crc32(body)
        if self.breaks("wal-bad-checksum"):
            crc = (crc + 1) & 0xFFFFFFFF
        os.write(self.fd, f"{crc:08x} ".encode() + body + b"\n")
        self.seq += 1

    def close(self) -> None:
        """An orderly exit: ``wal.closed``, then close."""
        if self.fd is None:
            return
        if not self.breaks("wal-not-closed"):
            self.append("wal.closed")
        os.close(self.fd)
        self.fd = None
