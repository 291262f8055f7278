"""On-disk layout of a workspace's WAL (SPEC §12.5): directories, segment names, locks.

::

    <workspace>/.corral/wal/            the WAL directory of a workspace
        <writer id>/                    one directory per stream (per writer)
            00000000000000000000.wal    segments, named by the seq of their first record
            00000000000000004711.wal    as 20 decimal digits, so text order = seq order

The writer holds an exclusive ``flock`` on its stream directory while it is open. That
lock is what makes a stream *live*: the kernel drops it when the process dies, even by
SIGKILL. Readers probe it (without blocking the writer) to tell a write in progress from a
torn tail, and retention sweeps only streams whose lock is free.

Writer ids (rule :data:`~corral_wal.record.WRITER_ID_PATTERN`): 1-64 characters
of ``[a-z0-9._-]``, starting with a letter or digit. A writer id names one process
incarnation: :func:`make_writer_id` builds ``<role>[-<name>]-<pid>-<start>`` where
``<start>`` is the process start time in milliseconds since the epoch in base 36; pid plus
start time cannot repeat on one host, so two incarnations never share a stream by accident.
Reopening the *same* id (same process, or tests) continues its stream.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

from corral_wal.record import WRITER_ID_PATTERN

if sys.platform != "win32":
    import fcntl

__all__ = [
    "HEARTBEAT_FILE",
    "SEGMENT_SUFFIX",
    "acquire_stream_lock",
    "fsync_directory",
    "has_fresh_heartbeat",
    "hold_if_dead",
    "is_stream_live",
    "list_segments",
    "list_writers",
    "make_writer_id",
    "parse_segment_name",
    "segment_name",
    "validate_writer_id",
]

SEGMENT_SUFFIX: Final = ".wal"
_SEGMENT_RE: Final = re.compile(r"^([0-9]{20})\.wal$")
_WRITER_RE: Final = re.compile(WRITER_ID_PATTERN)
_SLUG_RE: Final = re.compile(r"[^a-z0-9._-]+")
_DIGITS36: Final = "0123456789abcdefghijklmnopqrstuvwxyz"


def validate_writer_id(writer_id: str) -> str:
    """Return ``writer_id`` unchanged, or raise ValueError naming the rule it breaks."""
    if not _WRITER_RE.match(writer_id):
        raise ValueError(
            f"invalid WAL writer id {writer_id!r}: 1-64 chars of [a-z0-9._-], "
            "starting with a letter or digit"
        )
    return writer_id


def make_writer_id(
    role: str, name: str | None = None, *, pid: int | None = None, started: float | None = None
) -> str:
    """Build a writer id unique to this process incarnation.

    ``role`` is ``"wm"`` or ``"runner"`` (or another role), ``name`` e.g. the env name of a
    runner (slugged: lowercased, other characters become ``-``, cut to 24 characters).
    ``pid`` and ``started`` (epoch seconds) default to this process and now.
    Example: ``make_writer_id("runner", "dev_no_runtime")`` →
    ``"runner-dev_no_runtime-4242-m3x0q1z8"``.
    """
    parts = [_slug(role, 16)]
    if name:
        parts.append(_slug(name, 24))
    parts.append(str(os.getpid() if pid is None else pid))
    parts.append(_base36(int((time.time() if started is None else started) * 1000)))
    return validate_writer_id("-".join(p for p in parts if p))


def segment_name(first_seq: int) -> str:
    """File name of the segment whose first record has seq ``first_seq``."""
    return f"{first_seq:020d}{SEGMENT_SUFFIX}"


def parse_segment_name(name: str) -> int | None:
    """First seq encoded in a segment file name, or None if ``name`` is not a segment."""
    match = _SEGMENT_RE.match(name)
    return int(match.group(1)) if match else None


def list_writers(wal_dir: Path) -> list[str]:
    """Writer ids that have a stream directory under ``wal_dir``, sorted; [] if none."""
    try:
        entries = list(os.scandir(wal_dir))
    except FileNotFoundError:
        return []
    return sorted(e.name for e in entries if e.is_dir() and _WRITER_RE.match(e.name))


def list_segments(stream_dir: Path) -> list[tuple[int, Path]]:
    """``(first seq, path)`` of the segments of one stream in seq order; [] if none.

    Files that are not named like segments (the lock, strays) are ignored.
    """
    try:
        names = os.listdir(stream_dir)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        first = parse_segment_name(name)
        if first is not None:
            found.append((first, stream_dir / name))
    found.sort()
    return found


def acquire_stream_lock(stream_dir: Path, *, timeout: float = 2.0) -> int:
    """Open ``stream_dir`` and take an exclusive flock on it; return the directory fd.

    The fd doubles as the handle for directory fsyncs. Retries for ``timeout`` seconds
    (a reader's liveness probe holds the lock for microseconds), then raises
    :class:`BlockingIOError` when another live process holds the stream. On platforms
    without ``flock`` (Windows) no lock is taken and -1 is returned.
    """
    if sys.platform == "win32":  # pragma: no cover - no flock and no directory fds
        return -1
    fd = os.open(stream_dir, os.O_RDONLY | os.O_CLOEXEC)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise BlockingIOError(
                    f"WAL stream {stream_dir} is held by another live writer"
                ) from None
            time.sleep(0.01)
        else:
            return fd


HEARTBEAT_FILE: Final = "live"
"""The heartbeat of a writer that cannot ``flock`` (SPEC §12.5): its mtime is refreshed
at least every 10 s while the stream is open; the file is removed at a clean close."""

HEARTBEAT_STALE_S: Final = 30.0
"""A heartbeat older than this means its writer is gone (SPEC §12.5)."""


def has_fresh_heartbeat(stream_dir: Path, *, now: float | None = None) -> bool:
    """Whether the stream's ``live`` file was modified within :data:`HEARTBEAT_STALE_S`."""
    try:
        mtime = (stream_dir / HEARTBEAT_FILE).stat().st_mtime
    except OSError:
        return False
    return (time.time() if now is None else now) - mtime <= HEARTBEAT_STALE_S


def is_stream_live(stream_dir: Path) -> bool:
    """Whether a live writer has the stream open right now: it holds the writer lock, or
    (a writer that cannot lock, e.g. the Node.js runner) its heartbeat is fresh.

    Takes a shared lock for an instant; never blocks. False when the directory is gone.
    """
    with _probe(stream_dir) as free:
        return not free or has_fresh_heartbeat(stream_dir)


@contextlib.contextmanager
def hold_if_dead(stream_dir: Path) -> Iterator[bool]:
    """Context: yields True while holding the stream's lock if no writer holds it and no
    heartbeat is fresh (only dead streams are swept)."""
    with _probe(stream_dir, exclusive=True) as free:
        yield free and not has_fresh_heartbeat(stream_dir)


@contextlib.contextmanager
def _probe(stream_dir: Path, *, exclusive: bool = False) -> Iterator[bool]:
    if sys.platform == "win32":  # pragma: no cover
        yield True
        return
    try:
        fd = os.open(stream_dir, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        yield True
        return
    try:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
        else:
            yield True
    finally:
        os.close(fd)  # closing the fd drops the lock


def _slug(text: str, limit: int) -> str:
    return _SLUG_RE.sub("-", text.lower()).strip("-._")[:limit].strip("-._")


def _base36(number: int) -> str:
    digits = []
    while True:
        number, rest = divmod(number, 36)
        digits.append(_DIGITS36[rest])
        if not number:
            return "".join(reversed(digits))


def fsync_directory(path: Path, fsync: Callable[[int], None] = os.fsync) -> None:
    """fsync a directory (makes new entries in it durable); a no-op where unsupported."""
    if os.name != "posix":  # pragma: no cover - directories cannot be fsynced there
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        fsync(fd)
    finally:
        os.close(fd)
