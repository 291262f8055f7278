"""Shared fixtures of the WAL tests: an injectable clock and a counting fsync."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest


class ManualClock:
    """A clock the test moves by hand; every writer of a scenario can share it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 21, 7, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, ms: float) -> None:
        self.now += timedelta(milliseconds=ms)


class CountingFsync:
    """An fsync that counts its calls (thread-safe) and can be told to fail or stall."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail: OSError | None = None
        self.delay = 0.0
        self._lock = threading.Lock()

    def __call__(self, fd: int) -> None:
        if self.delay:
            threading.Event().wait(self.delay)
        if self.fail is not None:
            raise self.fail
        os.fsync(fd)
        with self._lock:
            self.calls += 1


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def counting_fsync() -> CountingFsync:
    return CountingFsync()


@pytest.fixture
def make_clock() -> Callable[..., ManualClock]:
    return ManualClock
