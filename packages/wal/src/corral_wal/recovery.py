"""What a writer finds when it opens an existing stream (SPEC §12.7, "Reopening").

On open the writer looks only at the stream's last segment:

* bytes after its last line feed are a torn tail (the previous incarnation died inside a
  ``write``). They were never a record and no append that wrote them ever returned, so the
  writer cuts them off (``ftruncate``) and reports the cut in its ``wal.opened`` record;
  appending behind them would glue the next record onto garbage.
* the next seq continues the stream: one after the last intact record, plus one for every
  complete but damaged line after it (each line was one record, so its seq is spent: a
  reader sees a gap explained by damage, never a seq used twice). A segment without any
  intact record continues from the seq in its name plus its complete lines.
* an empty last segment (the process died right after a rotation) is reused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from corral_wal.frames import split_frames
from corral_wal.layout import list_segments

__all__ = ["Recovery", "StreamTail", "inspect_tail"]


@dataclass(frozen=True, slots=True)
class Recovery:
    """A torn tail cut off when the stream was reopened."""

    segment: str
    offset: int
    discarded_bytes: int


@dataclass(frozen=True, slots=True)
class StreamTail:
    """Where appending continues."""

    segment: Path | None
    """The last segment (None for a new stream)."""
    size: int
    """Its size once the torn tail (if any) is cut off."""
    next_seq: int
    last_ts: str
    """Largest ``ts`` seen in the last segment ("" if none); new records never go below it."""
    recovery: Recovery | None


def inspect_tail(stream_dir: Path) -> StreamTail:
    """Read the last segment of ``stream_dir`` and decide where appending continues.

    Pure inspection: cutting the torn tail off is the caller's job (it owns the fd).
    """
    segments = list_segments(stream_dir)
    if not segments:
        return StreamTail(None, 0, 0, "", None)
    first_seq, path = segments[-1]
    data = path.read_bytes()
    frames, consumed = split_frames(data)
    next_seq = first_seq
    damaged_after = 0
    last_ts = ""
    for frame in frames:
        if frame.record is not None and frame.record.seq >= next_seq:
            next_seq = frame.record.seq + 1
            damaged_after = 0
            last_ts = max(last_ts, frame.record.ts)
        else:
            damaged_after += 1
    recovery = None
    if consumed < len(data):
        recovery = Recovery(path.name, consumed, len(data) - consumed)
    return StreamTail(path, consumed, next_seq + damaged_after, last_ts, recovery)


def cut_tail(fd: int, tail: StreamTail) -> None:
    """Truncate the open segment ``fd`` to the end of its last complete line."""
    if tail.recovery is not None:
        os.ftruncate(fd, tail.size)
