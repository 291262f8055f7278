"""The background thread that owns every fsync of one WAL stream (SPEC §12.6).

It syncs when someone waits for durability (group commit: one fsync covers every record
written before it started), when a batch is due (``batch_delay`` after the first unsynced
record, or ``batch_bytes`` unsynced bytes), after a rotation (the finished segment, then
the directory entry of the new one), and at shutdown. fsync never runs on an appending
thread or an event loop. A failed fsync breaks the stream for good: after one, the kernel
may have dropped the dirty pages, so retrying and reporting success would lie.

Locking: all state lives under the writer's condition variable ``cond``; the methods named
``note_*``/``request``/``check`` expect it held, the others take it themselves. fsync
itself runs with the lock released, so appends continue meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from corral_protocol.wal.config import WalConfig

__all__ = ["Flusher", "Snapshot", "WalWriterError"]


class WalWriterError(RuntimeError):
    """The writer is closed or broken (a write or fsync failed); see ``__cause__``."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the flusher needs of the writer's state (taken with the lock held)."""

    written_seq: int
    fd: int
    segment: str


_Waiter = tuple[int, asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class Flusher:
    """fsync policy engine of one stream; see the module docstring."""

    def __init__(
        self,
        *,
        cond: threading.Condition,
        config: WalConfig,
        fsync: Callable[[int], None],
        dir_fd: int,
        dir_dirty: bool,
        snapshot: Callable[[], Snapshot],
        housekeeping: Callable[[str, bool], None],
        name: str,
    ) -> None:
        self._cond = cond
        self._config = config
        self._fsync = fsync
        self._dir_fd = dir_fd
        self._dir_dirty = dir_dirty
        self._snapshot = snapshot
        self._housekeeping = housekeeping
        self.error: BaseException | None = None
        self.durable_seq = -1
        self._sync_target = -1
        self._retired: list[int] = []
        self._waiters: list[_Waiter] = []
        self._deadline: float | None = None
        self._unsynced = 0
        self._prune_due = True
        self._sweep_due = config.sweep_dead_writers
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------- lock held
    def check(self) -> None:
        """Raise :class:`WalWriterError` if the stream is broken."""
        if self.error is not None:
            raise WalWriterError("the WAL stream is broken (a write or fsync failed)") from (
                self.error
            )

    def note_write(self, seq: int, size: int, *, wait: bool) -> None:
        """Account for a frame just written; ``wait``: someone will wait for it."""
        self._unsynced += size
        if wait:
            self.request(seq)
        elif self._config.durability != "never":
            if self._deadline is None:
                self._deadline = time.monotonic() + self._config.batch_delay
                self._cond.notify_all()
            elif self._unsynced >= self._config.batch_bytes:
                self._cond.notify_all()

    def note_rotation(self, old_fd: int) -> None:
        """Take over a finished segment's fd: sync it (per policy), close it, sync the dir."""
        self._retired.append(old_fd)
        self._dir_dirty = True
        self._prune_due = True
        self._cond.notify_all()

    def note_broken(self, error: BaseException) -> None:
        """Mark the stream broken (a write could not be undone)."""
        self.error = error
        self._cond.notify_all()

    def request(self, seq: int) -> None:
        """Ask for an fsync covering ``seq`` as soon as possible."""
        if seq > self.durable_seq and seq > self._sync_target:
            self._sync_target = seq
            self._cond.notify_all()

    # ---------------------------------------------------------------- callers
    def wait(self, seq: int, timeout: float | None) -> bool:
        """Block until ``seq`` is durable (True) or ``timeout`` passes (False)."""
        with self._cond:
            self.check()
            self.request(seq)
            self._cond.wait_for(lambda: self.durable_seq >= seq or self.error is not None, timeout)
            self.check()
            return self.durable_seq >= seq

    async def wait_async(self, seq: int) -> None:
        """Await durability of ``seq`` without blocking the running event loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._cond:
            self.check()
            if self.durable_seq >= seq:
                return
            self._waiters.append((seq, loop, future))
            self.request(seq)
        await future

    def stop(self, *, final_sync: bool) -> list[int]:
        """Flush (if ``final_sync``), stop the thread; return fds it did not close."""
        with self._cond:
            self._closing = True
            if final_sync:
                self.request(self._snapshot().written_seq)
            self._cond.notify_all()
        self._thread.join()
        with self._cond:
            left, self._retired = self._retired, []
            waiters, self._waiters = self._waiters, []
        for _, loop, future in waiters:
            _settle(loop, future, WalWriterError("the WAL writer was closed"))
        return left

    # ---------------------------------------------------------------- thread
    def _has_work(self, now: float) -> bool:
        batching = self._config.durability != "never"
        return bool(
            self._retired
            or self._sync_target > self.durable_seq
            or (self._deadline is not None and now >= self._deadline)
            or (batching and self._unsynced >= self._config.batch_bytes)
            or self._prune_due
            or self._sweep_due
        )

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._has_work(time.monotonic()):
                    if self._closing or self.error is not None:
                        return
                    timeout = None
                    if self._deadline is not None:
                        timeout = max(0.0, self._deadline - time.monotonic())
                    self._cond.wait(timeout)
                if self.error is not None:
                    return
                state = self._snapshot()
                do_sync = self._config.durability != "never" or self._sync_target > self.durable_seq
                retired, self._retired = self._retired, []
                sync_dir = do_sync and self._dir_dirty and self._dir_fd >= 0
                if do_sync:
                    self._dir_dirty = False
                    self._deadline = None
                    self._unsynced = 0
                prune, self._prune_due = self._prune_due, False
                sweep, self._sweep_due = self._sweep_due, False
                behind = state.written_seq > self.durable_seq
            try:
                for old in retired:
                    if do_sync:
                        self._fsync(old)
                    os.close(old)
                if sync_dir:
                    self._fsync(self._dir_fd)
                if do_sync and behind:
                    self._fsync(state.fd)
            except OSError as exc:
                self._fail(exc)
                return
            if do_sync:
                self._advance(state.written_seq)
            if prune or sweep:
                self._housekeeping(state.segment, sweep)

    def _advance(self, seq: int) -> None:
        with self._cond:
            self.durable_seq = max(self.durable_seq, seq)
            ready = [w for w in self._waiters if w[0] <= self.durable_seq]
            self._waiters = [w for w in self._waiters if w[0] > self.durable_seq]
            self._cond.notify_all()
        for _, loop, future in ready:
            _settle(loop, future, None)

    def _fail(self, exc: BaseException) -> None:
        with self._cond:
            self.error = exc
            waiters, self._waiters = self._waiters, []
            self._cond.notify_all()
        for _, loop, future in waiters:
            _settle(loop, future, WalWriterError(f"WAL fsync failed: {exc}"))


def _settle(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[None], error: BaseException | None
) -> None:
    """Resolve ``future`` on its own loop (thread-safe); a closed loop has no waiter left."""

    def settle() -> None:
        if future.done():
            return
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)

    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(settle)
