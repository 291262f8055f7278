"""Observing runners: state-change events, the event stream, and status snapshots.

Front ends (the CLI; later a server, LSP and MCP) subscribe to an :class:`EventBus` and read a
:class:`RunnerStatus` per runner; they never touch supervisor internals.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Final, Generic, TypeVar

import msgspec

from .states import RunnerState

__all__ = ["EventBus", "RunnerKey", "RunnerStateChanged", "RunnerStatus"]

SUBSCRIBER_QUEUE: Final = 1000
E = TypeVar("E")


class RunnerKey(msgspec.Struct, frozen=True, order=True):
    """Identifies a runner: one per (project directory, environment name)."""

    project: Path
    env: str

    def __str__(self) -> str:
        return f"{self.env} runner of {self.project}"


class RunnerStatus(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of one runner for status displays."""

    project: Path
    env: str
    state: RunnerState
    pid: int | None = None
    port: int | None = None
    uptime: float | None = None
    restarts: int = 0
    crashes_in_window: int = 0
    in_flight: int = 0
    last_error: str | None = None


class RunnerStateChanged(msgspec.Struct, frozen=True, kw_only=True):
    """One transition of one runner."""

    key: RunnerKey
    old: RunnerState
    new: RunnerState
    reason: str
    status: RunnerStatus


class EventBus(Generic[E]):
    """Fan-out of events to any number of subscribers, each with a bounded queue.

    A subscriber that does not keep up loses its oldest events (never blocks publishers).
    Listeners are called synchronously on publish (e.g. the WAL journal).
    """

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[E]] = set()
        self._listeners: list[Callable[[E], None]] = []

    def add_listener(self, listener: Callable[[E], None]) -> None:
        """Call ``listener`` synchronously for every event."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[E], None]) -> None:
        """Stop calling ``listener`` (no error if it is not registered)."""
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def publish(self, event: E) -> None:
        for listener in list(self._listeners):  # a listener may remove itself
            listener(event)
        for queue in self._queues:
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)

    async def subscribe(self) -> AsyncIterator[E]:
        """Iterate over events published from now on (until the iterator is closed)."""
        queue: asyncio.Queue[E] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._queues.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.discard(queue)
