"""The WAL writer: one append-only stream per process (SPEC §12.5-12.6).

Threading model. ``append`` encodes the record and hands the whole frame to the kernel with
one ``write(2)`` on the stream's single open segment fd (``O_APPEND``; never an open/close
per event), under a lock, then returns; a record of a boundary event first waits for its
fsync. fsyncs happen in *sync rounds* (see :mod:`~corral_wal.flusher`): one round
covers every record written before it started (group commit). A synchronous waiter runs
the round itself when none is running (it blocks anyway); everything else (batches, eager
run starts, async waiters, rotation, retention, close) is done by one background thread,
so :meth:`WalWriter.append_async` waits for durability without blocking an event loop.

"Reported durable": record ``seq`` is reported durable when (a) ``append``/``append_async``
of it returned with ``durable=True`` — the case for every boundary event of the policy —,
(b) ``wait_durable(seq)``/``wait_durable_async(seq)``/``sync()`` returned after it was
appended, or (c) ``durable_seq >= seq`` was observed. Each means: fsync of its segment
(and, for a new segment, of the directory) completed after the record was written.

Failure model. A failed ``write`` is rolled back with ``ftruncate`` so the stream never
holds a partial frame written by a live writer; if that fails too, or any fsync fails
(the kernel may have dropped the dirty pages: retrying would lie), the writer is broken:
every later call raises :class:`WalWriterError`. Not fork-safe: do not use a writer in a
forked child.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from corral_wal import recovery, retention
from corral_wal.config import WalConfig
from corral_wal.events import REQUIRED_PAYLOAD, WAL_CLOSED, WAL_OPENED
from corral_wal.flusher import Flusher, Snapshot, WalWriterError
from corral_wal.layout import (
    acquire_stream_lock,
    fsync_directory,
    segment_name,
    validate_writer_id,
)
from corral_wal.record import (
    FORMAT_VERSION,
    WallClock,
    WalRecord,
    check_event,
    format_ts,
    frame_record,
)

__all__ = ["AppendResult", "WalWriter", "WalWriterError"]

_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


class AppendResult(msgspec.Struct, frozen=True):
    """What ``append`` did: the record's seq and ts, its segment, and whether it is durable."""

    seq: int
    ts: str
    segment: str
    durable: bool


class WalWriter:
    """Appends records to the stream ``<wal_dir>/<writer_id>/``.

    Opening takes the stream's lock (a second live opener gets :class:`BlockingIOError`),
    cuts off a torn tail left by a crash, continues the seq, and appends ``wal.opened``.
    ``clock`` (returning an aware datetime) and ``fsync`` are injectable for tests; ``meta``
    is merged into the ``wal.opened`` payload. Use as a context manager or call
    :meth:`close`. Thread-safe; the async methods must be called from a running loop.
    """

    def __init__(
        self,
        wal_dir: Path | str,
        writer_id: str,
        config: WalConfig | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        fsync: Callable[[int], None] = os.fsync,
        meta: Mapping[str, Any] | None = None,
        lock_timeout: float = 2.0,
    ) -> None:
        self.writer_id = validate_writer_id(writer_id)
        self.config = config or WalConfig()
        self.wal_dir = Path(wal_dir)
        self.stream_dir = self.wal_dir / writer_id
        self._now: Callable[[], str] = WallClock()
        if clock is not None:
            self._now = lambda: format_ts(clock())
        self._lock = threading.Lock()
        self._closed = False
        self._closing = False
        self._events_seen: set[str] = set()
        created = not self.stream_dir.exists()
        # Records hold run params and handler output: the owner's only (0700 / 0600).
        self.wal_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.stream_dir.mkdir(mode=0o700, exist_ok=True)
        if created and self.config.durability != "never":
            fsync_directory(self.wal_dir, fsync)  # the new stream's own directory entry
        self._dir_fd = acquire_stream_lock(self.stream_dir, timeout=lock_timeout)
        try:
            tail = recovery.inspect_tail(self.stream_dir)
            path = tail.segment or self.stream_dir / segment_name(tail.next_seq)
            self._fd = os.open(path, _OPEN_FLAGS, 0o600)
            recovery.cut_tail(self._fd, tail)
        except BaseException:
            if self._dir_fd >= 0:
                os.close(self._dir_fd)
            raise
        self._segment = path.name
        self._size = tail.size
        self._next_seq = tail.next_seq
        self._written_seq = tail.next_seq - 1
        self._last_ts = tail.last_ts
        self.recovery = tail.recovery
        """The torn tail cut off at open, or None."""
        self._flusher = Flusher(
            lock=self._lock,
            config=self.config,
            fsync=fsync,
            dir_fd=self._dir_fd,
            dir_dirty=created or tail.segment is None,
            snapshot=self._snapshot,
            housekeeping=self._housekeeping,
            name=f"wal-flusher-{writer_id}",
        )
        recovered = None
        if tail.recovery is not None:
            recovered = {
                "segment": tail.recovery.segment,
                "offset": tail.recovery.offset,
                "discardedBytes": tail.recovery.discarded_bytes,
            }
        try:
            self.append(
                WAL_OPENED, payload={**(meta or {}), "pid": os.getpid(), "recovered": recovered}
            )
        except BaseException:
            self._shutdown()
            raise

    # ------------------------------------------------------------------ properties
    @property
    def next_seq(self) -> int:
        """The seq the next append will get."""
        with self._lock:
            return self._next_seq

    @property
    def durable_seq(self) -> int:
        """Highest seq known durable (-1 before the first fsync of this incarnation)."""
        with self._lock:
            return self._flusher.durable_seq

    @property
    def segment(self) -> Path:
        """Path of the segment appends currently go to."""
        with self._lock:
            return self.stream_dir / self._segment

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed

    # ------------------------------------------------------------------ appending
    def append(
        self,
        event: str,
        *,
        run_id: str | None = None,
        parent_run_id: str | None = None,
        project: str | None = None,
        env: str | None = None,
        action: str | None = None,
        payload: Mapping[str, Any] | None = None,
        durable: bool | None = None,
    ) -> AppendResult:
        """Append one record; return once it is written (and durable, if it must be).

        ``durable`` overrides the policy for this record (True: wait for fsync; False:
        do not wait). Raises ValueError/TypeError for an invalid record (nothing written,
        no seq spent) and :class:`WalWriterError` when the writer is closed or broken.
        """
        result, wait = self._write(
            event,
            run_id=run_id,
            parent_run_id=parent_run_id,
            project=project,
            env=env,
            action=action,
            payload=payload,
            durable=durable,
        )
        if wait:
            self.wait_durable(result.seq)
            return msgspec.structs.replace(result, durable=True)
        return result

    async def append_async(
        self,
        event: str,
        *,
        run_id: str | None = None,
        parent_run_id: str | None = None,
        project: str | None = None,
        env: str | None = None,
        action: str | None = None,
        payload: Mapping[str, Any] | None = None,
        durable: bool | None = None,
    ) -> AppendResult:
        """Like :meth:`append`, but waits for durability without blocking the event loop.

        The ``write(2)`` itself runs inline (a page-cache copy of a few microseconds).
        """
        result, wait = self._write(
            event,
            run_id=run_id,
            parent_run_id=parent_run_id,
            project=project,
            env=env,
            action=action,
            payload=payload,
            durable=durable,
        )
        if wait:
            await self.wait_durable_async(result.seq)
            return msgspec.structs.replace(result, durable=True)
        return result

    def wait_durable(self, seq: int | None = None, timeout: float | None = None) -> bool:
        """Block until record ``seq`` (default: the last written) is durable.

        Requests an fsync now under every policy, ``never`` included. Returns False on
        timeout; raises :class:`WalWriterError` if the writer broke or is closed.
        """
        return self._flusher.wait(self._target(seq), timeout)

    async def wait_durable_async(self, seq: int | None = None) -> None:
        """Await durability of record ``seq`` (default: the last written)."""
        await self._flusher.wait_async(self._target(seq))

    def sync(self) -> None:
        """Make everything written so far durable (fsync now, whatever the policy)."""
        self.wait_durable()

    def close(self) -> None:
        """Append ``wal.closed``, flush per the policy, stop the flusher, release the stream.

        Idempotent. Under ``never`` nothing is fsynced.
        """
        if self._closed:
            return
        try:
            if self._flusher.error is None:
                self.append(WAL_CLOSED, payload={})
        finally:
            self._shutdown()

    def __enter__(self) -> WalWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals
    def _shutdown(self) -> None:
        """Final flush (per policy), stop the flusher, close every fd, release the lock."""
        with self._lock:
            self._closing = True
        left = self._flusher.stop(final_sync=self.config.durability != "never")
        self._closed = True
        for fd in [*left, self._fd, self._dir_fd]:
            if fd >= 0:
                os.close(fd)

    def _target(self, seq: int | None) -> int:
        with self._lock:
            if self._closed:
                raise WalWriterError(f"WAL writer {self.writer_id} is closed")
            target = self._written_seq if seq is None else seq
            if target > self._written_seq:
                raise ValueError(f"seq {target} was not written (the last is {self._written_seq})")
            return target

    def _snapshot(self) -> Snapshot:
        return Snapshot(self._written_seq, self._fd, self._segment)

    def _write(
        self,
        event: str,
        *,
        run_id: str | None,
        parent_run_id: str | None,
        project: str | None,
        env: str | None,
        action: str | None,
        payload: Mapping[str, Any] | None,
        durable: bool | None,
    ) -> tuple[AppendResult, bool]:
        if event not in self._events_seen:
            self._events_seen.add(check_event(event))
        body = dict(payload or {})
        missing = [m for m in REQUIRED_PAYLOAD.get(event, ()) if m not in body]
        if missing:
            raise ValueError(f"{event} payload lacks required member(s) {missing}")
        if run_id == "" or parent_run_id == "":
            raise ValueError("runId and parentRunId must be null or non-empty strings")
        with self._lock:
            if self._closed or (self._closing and event != WAL_CLOSED):
                raise WalWriterError(f"WAL writer {self.writer_id} is closed")
            self._flusher.check()
            ts = max(self._now(), self._last_ts)
            record = WalRecord(
                v=FORMAT_VERSION,
                writer=self.writer_id,
                seq=self._next_seq,
                ts=ts,
                event=event,
                run_id=run_id,
                parent_run_id=parent_run_id,
                project=project,
                env=env,
                action=action,
                payload=body,
            )
            frame = frame_record(record)
            if self._size and self._size + len(frame) > self.config.segment_bytes:
                self._rotate()
            self._write_frame(frame)
            seq = self._next_seq
            self._next_seq += 1
            self._written_seq = seq
            self._last_ts = ts
            wait = self.config.waits_for(event) if durable is None else durable
            eager = durable is None and self.config.syncs_early(event)
            self._flusher.note_write(seq, len(frame), sync_now=wait or eager)
            return AppendResult(seq, ts, self._segment, False), wait

    def _write_frame(self, frame: bytes) -> None:
        view = memoryview(frame)
        written = 0
        try:
            while written < len(frame):
                written += os.write(self._fd, view[written:])
        except OSError as exc:
            try:  # roll back a partial frame so the next append does not glue onto it
                os.ftruncate(self._fd, self._size)
            except OSError as cut_exc:
                self._flusher.note_broken(cut_exc)
                raise WalWriterError(f"WAL write failed and could not be undone: {exc}") from exc
            raise WalWriterError(f"WAL write failed: {exc}") from exc
        self._size += len(frame)

    def _rotate(self) -> None:
        """Start a new segment named after the next seq (lock held). Never fsyncs itself."""
        name = segment_name(self._next_seq)
        fd = os.open(self.stream_dir / name, _OPEN_FLAGS, 0o600)
        if os.fstat(fd).st_size:
            os.close(fd)
            raise WalWriterError(f"segment {name} already exists and is not empty")
        self._flusher.note_rotation(self._fd)
        self._fd = fd
        self._segment = name
        self._size = 0

    def _housekeeping(self, current_segment: str, sweep: bool) -> None:
        """Retention (flusher thread): prune this stream; on open also dead streams."""
        cfg = self.config
        retention.prune_stream(
            self.stream_dir,
            max_segments=cfg.max_segments,
            max_age=cfg.max_age,
            keep=current_segment,
        )
        if sweep and retention.sweep_due(
            self.wal_dir, interval=cfg.sweep_interval, max_streams=cfg.max_streams
        ):
            retention.sweep_dead_streams(
                self.wal_dir,
                max_segments=cfg.max_segments,
                max_age=cfg.max_age,
                max_streams=cfg.max_streams,
                skip=self.writer_id,
            )
            retention.mark_swept(self.wal_dir)
