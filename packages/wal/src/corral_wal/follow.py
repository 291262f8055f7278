"""``wal follow``: new records of every stream as they are written (stat polling).

A :class:`Follower` keeps one cursor per stream (segment, byte offset, unfinished bytes).
Each :meth:`Follower.poll` lists the stream's segments *first* and then reads the current
one to its end: a writer only starts a new segment after finishing the old one, so once a
newer segment is listed, the old one is complete and the cursor moves on. Bytes after the
last line feed are kept for the next poll (a write in progress), never decoded early.
Streams that appear later are read from their beginning; segments deleted by retention
under the cursor are skipped. No inotify: it works on every filesystem and OS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from corral_wal.frames import split_frames
from corral_wal.layout import list_segments, list_writers
from corral_wal.merge import merge_streams
from corral_wal.reader import Damage, StreamChecker
from corral_wal.record import WalRecord

__all__ = ["Follower"]


@dataclass(slots=True)
class _Cursor:
    checker: StreamChecker
    first_seq: int | None = None
    name: str = ""
    offset: int = 0
    pending: bytes = b""
    records: list[WalRecord] = field(default_factory=list)


class Follower:
    """Incremental reader of a whole WAL directory.

    ``from_start=False`` skips what exists when the follower is created (like
    ``tail -f`` with no backlog); streams created afterwards are read from their start.
    """

    def __init__(self, wal_dir: Path | str, *, from_start: bool = False) -> None:
        self.wal_dir = Path(wal_dir)
        self._cursors: dict[str, _Cursor] = {}
        if not from_start:
            for writer in list_writers(self.wal_dir):
                cursor = self._cursors[writer] = _Cursor(StreamChecker(writer))
                segments = list_segments(self.wal_dir / writer)
                if segments:
                    first_seq, path = segments[-1]
                    cursor.first_seq, cursor.name = first_seq, path.name
                    cursor.checker.start_segment(first_seq)
                    cursor.offset = _skip_existing(path, cursor.checker)

    def poll(self) -> tuple[list[WalRecord], list[Damage]]:
        """Records written since the last poll (merged), and damage met reading them."""
        batches = []
        damage: list[Damage] = []
        for writer in list_writers(self.wal_dir):
            cursor = self._cursors.get(writer)
            if cursor is None:
                cursor = self._cursors[writer] = _Cursor(StreamChecker(writer))
            seen = len(cursor.checker.damage)
            self._advance(self.wal_dir / writer, cursor)
            damage.extend(cursor.checker.damage[seen:])
            batches.append(cursor.records)
            cursor.records = []
        return merge_streams(batches), damage

    def _advance(self, stream_dir: Path, cursor: _Cursor) -> None:
        segments = list_segments(stream_dir)  # list before reading (see module docstring)
        if cursor.name and all(path.name != cursor.name for _, path in segments):
            # retention deleted the segment under the cursor: what it still held expired
            cursor.checker.forget()
            cursor.name, cursor.pending = "", b""
        for index, (first_seq, path) in enumerate(segments):
            if cursor.first_seq is not None and first_seq < cursor.first_seq:
                continue
            if first_seq != cursor.first_seq:  # moving on to a newer segment
                if cursor.pending:
                    cursor.checker.torn_tail(cursor.name, cursor.offset, len(cursor.pending))
                cursor.first_seq, cursor.name, cursor.offset, cursor.pending = (
                    first_seq,
                    path.name,
                    0,
                    b"",
                )
                cursor.checker.start_segment(first_seq)
            try:
                with path.open("rb") as handle:
                    handle.seek(cursor.offset + len(cursor.pending))
                    data = cursor.pending + handle.read()
            except FileNotFoundError:  # retired by retention under our feet
                cursor.checker.forget()
                continue
            frames, consumed = split_frames(data, cursor.offset)
            for frame in frames:
                record = cursor.checker.feed(path.name, frame)
                if record is not None:
                    cursor.records.append(record)
            cursor.offset += consumed
            cursor.pending = data[consumed:]
            if index == len(segments) - 1:
                return


def _skip_existing(path: Path, checker: StreamChecker) -> int:
    """Position after the last complete line of ``path``; teach ``checker`` its last seq."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    frames, consumed = split_frames(data)
    seqs = [f.record.seq for f in frames if f.record is not None]
    if seqs:
        checker.resume_after(max(seqs))
    return consumed
