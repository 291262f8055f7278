"""Every fsync of one WAL stream, and the background thread that owns the timers (SPEC §12.6).

A *sync round* snapshots the stream (last written seq, current fd, finished segments, a
dirty directory), fsyncs outside the lock (finished segments first, then the directory,
then the current segment) and then advances ``durable_seq``. One round runs at a time and
covers every record written before it started (group commit).

Who runs a round: a thread blocked in :meth:`Flusher.wait` (the synchronous ``append`` of
a boundary event, ``wait_durable``, ``sync``) runs it itself when no round is running, as
the leader of a group commit: it blocks anyway, and this saves two thread hand-offs.
Everything else is done by the background thread: batches that fall due (``batch_delay``
after the first unsynced record, or ``batch_bytes``), async waiters (so an event loop never
runs fsync), finished segments after a rotation, retention, and the final round at close.

A failed fsync breaks the stream for good: after one, the kernel may have dropped the
dirty pages, so retrying and reporting success would lie.

Locking: all state lives under the writer's ``lock``; the methods named
``note_*``/``request``/``check`` expect it held, the others take it themselves. Two
condition variables share it: one wakes the background thread, one the synchronous
waiters, so neither is woken for the other's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from corral_wal.config import WalConfig

__all__ = ["Flusher", "Snapshot", "WalWriterError"]

_log = logging.getLogger("corral.wal")


class WalWriterError(RuntimeError):
    """The writer is closed or broken (a write or fsync failed); see ``__cause__``."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the flusher needs of the writer's state (taken with the lock held)."""

    written_seq: int
    fd: int
    segment: str


_Waiter = tuple[int, asyncio.AbstractEventLoop, "asyncio.Future[None]"]


@dataclass(frozen=True, slots=True)
class _Round:
    """What one sync round covers."""

    sync: bool
    state: Snapshot
    retired: list[int]
    sync_dir: bool
    behind: bool
    prune: bool
    sweep: bool


class Flusher:
    """fsync policy engine of one stream; see the module docstring."""

    def __init__(
        self,
        *,
        lock: threading.Lock,
        config: WalConfig,
        fsync: Callable[[int], None],
        dir_fd: int,
        dir_dirty: bool,
        snapshot: Callable[[], Snapshot],
        housekeeping: Callable[[str, bool], None],
        name: str,
    ) -> None:
        self._lock = lock
        self._wake = threading.Condition(lock)  # the background thread waits on this
        self._done = threading.Condition(lock)  # synchronous durability waiters wait on this
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
        self._syncing = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------- lock held
    def check(self) -> None:
        """Raise :class:`WalWriterError` if the stream is broken."""
        if self.error is not None:
            raise WalWriterError("the WAL stream is broken (a write or fsync failed)") from (
                self.error
            )

    def note_write(self, seq: int, size: int, *, sync_now: bool) -> None:
        """Account for a frame just written; ``sync_now``: start a round for it at once."""
        self._unsynced += size
        if sync_now:
            self.request(seq)
        elif self._config.durability != "never":
            if self._deadline is None:
                self._deadline = time.monotonic() + self._config.batch_delay
                self._wake.notify()
            elif self._unsynced >= self._config.batch_bytes:
                self._wake.notify()

    def note_rotation(self, old_fd: int) -> None:
        """Take over a finished segment's fd: sync it (per policy), close it, sync the dir."""
        self._retired.append(old_fd)
        self._dir_dirty = True
        self._prune_due = True
        self._wake.notify()

    def note_broken(self, error: BaseException) -> None:
        """Mark the stream broken (a write could not be undone)."""
        self.error = error
        self._wake.notify()
        self._done.notify_all()

    def request(self, seq: int, *, wake: bool = True) -> None:
        """Ask for an fsync covering ``seq`` as soon as possible.

        ``wake=False``: the caller runs the round itself, the background thread need not.
        """
        if seq > self.durable_seq and seq > self._sync_target:
            self._sync_target = seq
            if wake:
                self._wake.notify()

    # ---------------------------------------------------------------- callers
    def wait(self, seq: int, timeout: float | None) -> bool:
        """Block until ``seq`` is durable (True) or ``timeout`` passes (False).

        Runs the sync round on this thread when none is running (group-commit leader).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                self.check()
                if self.durable_seq >= seq:
                    return True
                self.request(seq, wake=False)  # a round ends by handing over: see _advance
                if self._syncing:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._done.wait(remaining)
                    continue
                plan = self._prepare(housekeeping=False)
            self._execute(plan)

    async def wait_async(self, seq: int) -> None:
        """Await durability of ``seq`` without blocking the running event loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            self.check()
            if self.durable_seq >= seq:
                return
            self._waiters.append((seq, loop, future))
            self.request(seq)
        await future

    def stop(self, *, final_sync: bool) -> list[int]:
        """Flush (if ``final_sync``), stop the thread; return fds it did not close."""
        with self._lock:
            self._closing = True
            if final_sync:
                self.request(self._snapshot().written_seq)
            self._wake.notify()
        self._thread.join()
        with self._lock:
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
            with self._lock:
                while True:
                    if self.error is not None:
                        return
                    if self._syncing:  # a caller leads a round: re-evaluate when it ends
                        self._done.wait()
                        continue
                    if self._has_work(time.monotonic()):
                        break
                    if self._closing:
                        return
                    timeout = None
                    if self._deadline is not None:
                        timeout = max(0.0, self._deadline - time.monotonic())
                    self._wake.wait(timeout)
                plan = self._prepare(housekeeping=True)
            self._execute(plan)

    def _prepare(self, *, housekeeping: bool) -> _Round:
        """Start a sync round (lock held): take what it must cover."""
        state = self._snapshot()
        sync = self._config.durability != "never" or self._sync_target > self.durable_seq
        retired, self._retired = self._retired, []
        sync_dir = sync and self._dir_dirty and self._dir_fd >= 0
        if sync:
            self._dir_dirty = False
            self._deadline = None
            self._unsynced = 0
        prune = sweep = False
        if housekeeping:
            prune, self._prune_due = self._prune_due, False
            sweep, self._sweep_due = self._sweep_due, False
        self._syncing = True
        behind = sync and state.written_seq > self.durable_seq
        return _Round(sync, state, retired, sync_dir, behind, prune, sweep)

    def _execute(self, plan: _Round) -> None:
        """Run a prepared round (lock not held)."""
        try:
            for old in plan.retired:
                if plan.sync:
                    self._fsync(old)
                os.close(old)
            if plan.sync_dir:
                self._fsync(self._dir_fd)
            if plan.behind:
                self._fsync(plan.state.fd)
        except OSError as exc:
            self._fail(exc)
            return
        self._advance(plan.state.written_seq if plan.sync else -1)
        if plan.prune or plan.sweep:
            try:
                self._housekeeping(plan.state.segment, plan.sweep)
            except Exception:  # retention is best effort: it must never stop the flusher
                _log.exception("WAL retention failed (the stream itself is unaffected)")

    def _advance(self, seq: int) -> None:
        with self._lock:
            self._syncing = False
            self.durable_seq = max(self.durable_seq, seq)
            ready = [w for w in self._waiters if w[0] <= self.durable_seq]
            self._waiters = [w for w in self._waiters if w[0] > self.durable_seq]
            self._done.notify_all()  # waiters behind lead the next round; the thread re-checks
        for _, loop, future in ready:
            _settle(loop, future, None)

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            self.error = exc
            self._syncing = False
            waiters, self._waiters = self._waiters, []
            self._wake.notify()
            self._done.notify_all()
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
