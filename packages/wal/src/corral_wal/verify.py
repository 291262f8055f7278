"""``wal verify``: integrity report of a WAL directory (SPEC §12.7).

Checks every stream: frames and checksums, writer ids, seq continuity within and across
segments (a missing segment shows as a seq gap), segment names against their first record,
and torn tails. A torn tail on a *live* stream (its writer holds the lock) is a write in
progress and only noted. ``ok`` is False on any damage; the CLI then exits with code 1.
Informational notes (never damage): empty segments, streams that ended without
``wal.closed`` (their writer died or was killed: expected after a crash, and the reason a
torn tail may exist).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from corral_wal.layout import list_writers
from corral_wal.reader import Damage, read_stream

__all__ = ["StreamSummary", "VerifyReport", "render_verify", "verify_wal"]


@dataclass(frozen=True, slots=True)
class StreamSummary:
    """One stream's verdict."""

    writer: str
    live: bool
    segments: int
    records: int
    bytes: int
    first_seq: int | None
    last_seq: int | None
    closed_cleanly: bool
    damage: list[Damage]
    notes: list[str]


@dataclass(slots=True)
class VerifyReport:
    """The verdict on a whole WAL directory."""

    wal_dir: Path
    streams: list[StreamSummary] = field(default_factory=list)

    @property
    def damage(self) -> list[Damage]:
        """All damage found, by writer then position."""
        return [d for s in self.streams for d in s.damage]

    @property
    def ok(self) -> bool:
        """True when no stream is damaged."""
        return not self.damage


def verify_wal(wal_dir: Path | str) -> VerifyReport:
    """Read and check every stream under ``wal_dir``."""
    root = Path(wal_dir)
    report = VerifyReport(root)
    for writer in list_writers(root):
        scan = read_stream(root, writer)
        notes = list(scan.notes)
        if scan.records and not scan.live and not scan.closed_cleanly:
            notes.append("ended without wal.closed (its writer died or was killed)")
        report.streams.append(
            StreamSummary(
                writer=writer,
                live=scan.live,
                segments=len(scan.segments),
                records=len(scan.records),
                bytes=sum(s.size for s in scan.segments),
                first_seq=scan.records[0].seq if scan.records else None,
                last_seq=scan.records[-1].seq if scan.records else None,
                closed_cleanly=scan.closed_cleanly,
                damage=scan.damage,
                notes=notes,
            )
        )
    return report


def render_verify(report: VerifyReport, fmt: str = "text") -> str:
    """The report as text (one paragraph per stream) or as a JSON document."""
    if fmt == "json":
        return msgspec.json.format(msgspec.json.encode(_to_builtins(report)), indent=2).decode()
    lines = []
    for s in report.streams:
        state = "ok" if not s.damage else f"DAMAGED ({len(s.damage)} problems)"
        seqs = "no records" if s.first_seq is None else f"seq {s.first_seq}..{s.last_seq}"
        live = ", live" if s.live else ""
        lines.append(
            f"{s.writer}: {state} - {s.records} records, {seqs}, "
            f"{s.segments} segments, {s.bytes} bytes{live}"
        )
        lines.extend(f"  damage: {d.describe()}" for d in s.damage)
        lines.extend(f"  note: {note}" for note in s.notes)
    total = len(report.damage)
    verdict = "ok" if report.ok else f"DAMAGED: {total} problem{'s' if total != 1 else ''}"
    lines.append(f"{report.wal_dir}: {len(report.streams)} streams, {verdict}")
    return "\n".join(lines)


def _to_builtins(report: VerifyReport) -> dict[str, Any]:
    return {
        "walDir": str(report.wal_dir),
        "ok": report.ok,
        "streams": [
            {
                "writer": s.writer,
                "live": s.live,
                "ok": not s.damage,
                "segments": s.segments,
                "records": s.records,
                "bytes": s.bytes,
                "firstSeq": s.first_seq,
                "lastSeq": s.last_seq,
                "closedCleanly": s.closed_cleanly,
                "damage": [
                    {
                        "kind": d.kind,
                        "segment": d.segment,
                        "offset": d.offset,
                        "detail": d.detail,
                    }
                    for d in s.damage
                ],
                "notes": s.notes,
            }
            for s in report.streams
        ],
    }
