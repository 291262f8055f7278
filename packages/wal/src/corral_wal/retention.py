"""Retention of WAL segments by count and by age (SPEC §12.5).

Retention deletes only a *prefix* of a stream (its oldest segments), so it never opens a
hole that a reader would report as a seq gap. A segment's age is the time since its last
write (its mtime). The segment a live writer appends to is never deleted.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from corral_wal.layout import HEARTBEAT_FILE, hold_if_dead, list_segments, list_writers

__all__ = [
    "SWEPT_MARKER",
    "low_water",
    "mark_swept",
    "prune_stream",
    "sweep_dead_streams",
    "sweep_due",
]

SWEPT_MARKER = ".swept"
"""The file in the WAL directory whose mtime is the end of the last sweep."""


def prune_stream(
    stream_dir: Path,
    *,
    max_segments: int | None,
    max_age: float | None,
    keep: str | None = None,
    now: float | None = None,
) -> list[str]:
    """Delete the oldest segments of one stream that are over the count or age limit.

    ``keep`` names a segment that is never deleted, and nothing after it either (the
    writer's open segment). Returns the names deleted, oldest first. Best effort: a
    segment that cannot be inspected or deleted ends the pass.
    """
    moment = time.time() if now is None else now
    segments = list_segments(stream_dir)
    excess = len(segments) - max_segments if max_segments is not None else 0
    deleted: list[str] = []
    for index, (_, path) in enumerate(segments):
        if path.name == keep:
            break
        too_many = index < excess
        try:
            too_old = max_age is not None and os.stat(path).st_mtime < moment - max_age
            if not (too_many or too_old):
                break
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError:
            break
        deleted.append(path.name)
    return deleted


def sweep_dead_streams(
    wal_dir: Path,
    *,
    max_segments: int | None,
    max_age: float | None,
    max_streams: int | None = None,
    skip: str | None = None,
    now: float | None = None,
) -> list[str]:
    """Apply retention to the streams of dead writers; remove streams left empty.

    Then, if there are more than ``max_streams`` streams, delete whole dead streams, least
    recently written first, down to :func:`low_water` (so that a directory at the cap is
    not due for another sweep at the next open). A stream is dead when no process holds
    its lock; it is held while it is pruned, so a writer cannot reopen it meanwhile.
    Returns ``writer/segment`` names deleted.
    """
    deleted: list[str] = []
    writers = list_writers(wal_dir)
    removed = 0
    kept: list[tuple[float, str]] = []  # (last write, writer) of dead streams still there
    for writer in writers:
        if writer == skip:
            continue
        stream_dir = wal_dir / writer
        with hold_if_dead(stream_dir) as dead:
            if not dead:
                continue
            gone = prune_stream(stream_dir, max_segments=max_segments, max_age=max_age, now=now)
            deleted.extend(f"{writer}/{name}" for name in gone)
            try:
                segments = list_segments(stream_dir)
                if gone and not segments:
                    _drop_heartbeat(stream_dir)
                    os.rmdir(stream_dir)
                    removed += 1
                elif segments:
                    kept.append((os.stat(segments[-1][1]).st_mtime, writer))
            except OSError:  # unreadable (another user's?) or stray files: leave it
                continue
    excess = 0
    if max_streams is not None and len(writers) - removed > max_streams:
        excess = len(writers) - removed - low_water(max_streams)
    for _, writer in sorted(kept)[: max(excess, 0)]:
        deleted.extend(_delete_stream(wal_dir / writer))
    return deleted


def _drop_heartbeat(stream_dir: Path) -> None:
    """Remove a dead heartbeat writer's stale ``live`` file (SPEC §12.5) before ``rmdir``."""
    with contextlib.suppress(FileNotFoundError):
        (stream_dir / HEARTBEAT_FILE).unlink()


def low_water(max_streams: int) -> int:
    """How many streams a sweep that found more than ``max_streams`` leaves: three quarters."""
    return max(1, max_streams * 3 // 4)


def _delete_stream(stream_dir: Path) -> list[str]:
    """Delete a dead stream entirely (if it is still dead); ``writer/segment`` names."""
    deleted: list[str] = []
    with hold_if_dead(stream_dir) as dead:
        if not dead:
            return deleted
        try:
            for _, path in list_segments(stream_dir):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                deleted.append(f"{stream_dir.name}/{path.name}")
            _drop_heartbeat(stream_dir)
            os.rmdir(stream_dir)
        except OSError:  # not ours to delete, or stray files: leave the rest
            pass
    return deleted


def sweep_due(
    wal_dir: Path,
    *,
    interval: float | None,
    max_streams: int | None,
    now: float | None = None,
) -> bool:
    """Whether a sweep is due: none finished in the last ``interval`` seconds (a marker
    from the future counts as none), or more than ``max_streams`` streams are present."""
    if interval is None:
        return True
    moment = time.time() if now is None else now
    try:
        last = os.stat(wal_dir / SWEPT_MARKER).st_mtime
    except OSError:
        return True
    if not last <= moment < last + interval:
        return True
    return max_streams is not None and len(list_writers(wal_dir)) > max_streams


def mark_swept(wal_dir: Path) -> None:
    """Record that a sweep finished (best effort: without the marker the next open sweeps)."""
    with contextlib.suppress(OSError):
        (wal_dir / SWEPT_MARKER).touch()
