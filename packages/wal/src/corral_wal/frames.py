"""Splitting a segment's bytes into frames (SPEC §12.3, §12.7).

Rules: a frame ends at the first line feed. Every complete line is decoded on its own, so a
damaged line costs exactly that line: the next line feed resynchronises the reader. Bytes
after the last line feed are the *tail*: on a live stream a write in progress, on a dead
one a torn write. The tail is never decoded.
"""

from __future__ import annotations

from dataclasses import dataclass

from corral_wal.record import MAX_RECORD_BYTES, RecordError, WalRecord, decode_record

__all__ = ["Frame", "split_frames"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One complete line of a segment: a record, or the reason it is not one."""

    offset: int
    """Byte offset of the line in its segment."""
    length: int
    """Length in bytes, the line feed included."""
    record: WalRecord | None
    error: RecordError | None


def split_frames(data: bytes, base_offset: int = 0) -> tuple[list[Frame], int]:
    """Decode every complete line of ``data``.

    Returns the frames and the number of bytes they cover (up to and including the last
    line feed); ``data[consumed:]`` is the unterminated tail, left for the caller to judge.
    ``base_offset`` is added to the offsets (for incremental reads).
    """
    frames: list[Frame] = []
    pos = 0
    size = len(data)
    while pos < size:
        end = data.find(b"\n", pos)
        if end < 0:
            break
        line = data[pos : end + 1]
        if len(line) > MAX_RECORD_BYTES:
            error: RecordError | None = RecordError("oversized", f"{len(line)} bytes")
            record = None
        else:
            try:
                record, error = decode_record(line), None
            except RecordError as exc:
                record, error = None, exc
        frames.append(Frame(base_offset + pos, len(line), record, error))
        pos = end + 1
    return frames, pos
