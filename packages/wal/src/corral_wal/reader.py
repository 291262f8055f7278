"""Reading WAL streams: records, damage reports, and the merged history (SPEC §12.7-12.8).

Contract: a reader returns only records that decoded intact (frame, checksum, schema) and
that fit their stream (right writer id, seq increasing); everything else is reported as a
:class:`Damage` and skipped, and reading continues with the next line. Nothing is ever
guessed from a damaged line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from corral_wal.events import WAL_CLOSED
from corral_wal.frames import Frame, split_frames
from corral_wal.layout import is_stream_live, list_segments, list_writers
from corral_wal.merge import merge_streams
from corral_wal.record import RecordError, WalRecord

__all__ = [
    "DAMAGE_KINDS",
    "Damage",
    "SegmentInfo",
    "StreamChecker",
    "StreamScan",
    "WalScan",
    "read_stream",
    "read_wal",
]

DAMAGE_KINDS = (
    "torn-tail",
    "bad-frame",
    "checksum-mismatch",
    "bad-json",
    "unsupported-version",
    "oversized",
    "writer-mismatch",
    "seq-regression",
    "segment-mismatch",
    "seq-gap",
    "unreadable",
)
"""Every ``Damage.kind`` a reader reports (SPEC §12.7)."""


@dataclass(frozen=True, slots=True)
class Damage:
    """One problem found in a stream. ``segment`` is a file name, ``offset`` a byte offset."""

    kind: str
    writer: str
    segment: str | None
    offset: int | None
    detail: str

    def describe(self) -> str:
        """One human line: ``writer/segment@offset: kind: detail``."""
        where = self.writer
        if self.segment is not None:
            where += f"/{self.segment}"
        if self.offset is not None:
            where += f"@{self.offset}"
        return f"{where}: {self.kind}: {self.detail}"


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """A segment as found on disk."""

    name: str
    first_seq: int
    size: int
    records: int
    last_seq: int | None


@dataclass(slots=True)
class StreamScan:
    """Everything read from one writer's stream."""

    writer: str
    live: bool
    records: list[WalRecord] = field(default_factory=list)
    damage: list[Damage] = field(default_factory=list)
    segments: list[SegmentInfo] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def closed_cleanly(self) -> bool:
        """Whether the stream's last record is ``wal.closed``."""
        return bool(self.records) and self.records[-1].event == WAL_CLOSED


@dataclass(slots=True)
class WalScan:
    """A whole WAL directory: per-stream scans plus the merged history of all records."""

    wal_dir: Path
    streams: dict[str, StreamScan]
    records: list[WalRecord]

    @property
    def damage(self) -> list[Damage]:
        """All damage of all streams, by writer then position."""
        return [d for s in self.streams.values() for d in s.damage]


class StreamChecker:
    """Checks one stream's frames in order; keeps the records that fit.

    Sequence rule: seqs of a stream increase by exactly 1. A valid record after ``k``
    damaged lines may skip ``k`` seqs (those lines were the missing records); any larger
    jump is a ``seq-gap`` (lost records, e.g. a missing segment), and a seq that does not
    increase is a ``seq-regression`` (the record is reported and dropped). The first
    segment read defines where the stream starts (older ones may have been retired by
    retention).
    """

    def __init__(self, writer: str) -> None:
        self.writer = writer
        self.damage: list[Damage] = []
        self._last_seq: int | None = None
        self._segment_first = 0
        self._segment_fresh = False
        self._damaged_since = 0

    def start_segment(self, first_seq: int) -> None:
        """Announce the next segment (by the seq its name gives)."""
        self._segment_first = first_seq
        self._segment_fresh = True

    def resume_after(self, seq: int) -> None:
        """Continue checking a stream whose records up to ``seq`` were already seen."""
        self._last_seq = seq
        self._segment_fresh = False
        self._damaged_since = 0

    def forget(self) -> None:
        """Drop the baseline: the next segment starts the stream again (expired history)."""
        self._last_seq = None
        self._damaged_since = 0

    def feed(self, segment: str, frame: Frame) -> WalRecord | None:
        """Check one frame; return its record if it is intact and fits, else None."""
        record = frame.record
        if record is None:
            error = frame.error or RecordError("bad-frame", "undecodable")
            self._report(error.kind, segment, frame.offset, error.detail)
            self._damaged_since += 1
            return None
        if record.writer != self.writer:
            self._report("writer-mismatch", segment, frame.offset, f"record of {record.writer!r}")
            self._damaged_since += 1
            return None
        if self._last_seq is not None and record.seq <= self._last_seq:
            detail = f"seq {record.seq} after {self._last_seq} (record dropped)"
            self._report("seq-regression", segment, frame.offset, detail)
            return None
        if self._segment_fresh and record.seq < self._segment_first:
            detail = (
                f"first record has seq {record.seq}, the segment name says {self._segment_first}"
            )
            self._report("segment-mismatch", segment, frame.offset, detail)
        # the lowest seq this record may have: right after the previous record or, for the
        # first record of the stream, the seq the first segment's name gives
        low = self._segment_first if self._last_seq is None else self._last_seq + 1
        missing = record.seq - low
        if missing > self._damaged_since:
            span = f"seq {low}" if missing == 1 else f"seqs {low}..{record.seq - 1}"
            where = " (at a segment boundary)" if self._segment_fresh else ""
            self._report("seq-gap", segment, frame.offset, f"{span} missing{where}")
        self._last_seq = record.seq
        self._damaged_since = 0
        self._segment_fresh = False
        return record

    def torn_tail(self, segment: str, offset: int, length: int) -> None:
        """Report bytes after the last line feed of a dead stream."""
        self._report("torn-tail", segment, offset, f"{length} bytes without a final line feed")
        self._damaged_since += 1

    def unreadable(self, segment: str, error: OSError) -> None:
        """Report a segment that could not be read."""
        self._report("unreadable", segment, None, str(error))

    def _report(self, kind: str, segment: str, offset: int | None, detail: str) -> None:
        self.damage.append(Damage(kind, self.writer, segment, offset, detail))


def read_stream(wal_dir: Path, writer: str) -> StreamScan:
    """Read and check every segment of one writer's stream.

    The unterminated tail of the last segment is a ``torn-tail`` unless the writer is
    live (then it is a write in progress and only noted).
    """
    stream_dir = Path(wal_dir) / writer
    scan = StreamScan(writer=writer, live=is_stream_live(stream_dir))
    checker = StreamChecker(writer)
    segments = list_segments(stream_dir)
    for index, (first_seq, path) in enumerate(segments):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue  # retired by retention while we were reading
        except OSError as exc:
            checker.unreadable(path.name, exc)
            continue
        checker.start_segment(first_seq)
        frames, consumed = split_frames(data)
        last_seq = None
        count = 0
        for frame in frames:
            record = checker.feed(path.name, frame)
            if record is not None:
                scan.records.append(record)
                last_seq = record.seq
                count += 1
        tail = len(data) - consumed
        if tail:
            if scan.live and index == len(segments) - 1:
                scan.notes.append(f"{path.name}: {tail} bytes being written (writer is live)")
            else:
                checker.torn_tail(path.name, consumed, tail)
        if not data and index < len(segments) - 1:
            scan.notes.append(f"{path.name}: empty segment")
        scan.segments.append(SegmentInfo(path.name, first_seq, len(data), count, last_seq))
    scan.damage = checker.damage
    return scan


def read_wal(wal_dir: Path | str, writers: Iterable[str] | None = None) -> WalScan:
    """Read every stream under ``wal_dir`` (or only ``writers``) and merge their records."""
    root = Path(wal_dir)
    names = list_writers(root) if writers is None else sorted(writers)
    streams = {name: read_stream(root, name) for name in names}
    merged = merge_streams([s.records for s in streams.values()])
    return WalScan(root, streams, merged)
