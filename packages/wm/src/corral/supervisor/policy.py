"""The restart policy: exponential backoff with jitter inside a time-windowed crash budget.

Pure and clock-injected, so its schedule is tested without sleeping.

* Every failure (start failure, crash, unresponsive kill) is recorded at ``clock()``.
* Failures older than ``window`` seconds no longer count.
* A runner that stayed up at least ``stable_after`` seconds before failing refills its
  budget first (the failure counts as the first one of a new series).
* With at most ``max_crashes`` failures in the window, the next start waits
  ``backoff[n-1]`` seconds (the last entry repeats), scaled by ``1 ± jitter``; one more and
  the policy gives up (the runner goes CRASHED).
* Deliberate stops and restarts are not failures; an explicit start after CRASHED calls
  :meth:`RestartPolicy.reset`.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable

from ..config import RestartSettings

__all__ = ["RestartPolicy"]


class RestartPolicy:
    """Decides, at each failure, whether and when to restart."""

    def __init__(
        self,
        settings: RestartSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._rng = rng
        self._failures: deque[float] = deque()
        self._ready_at: float | None = None

    @property
    def failures(self) -> int:
        """Failures currently counted against the budget."""
        self._prune(self._clock())
        return len(self._failures)

    def on_ready(self) -> None:
        """The runner became ready (used for the stable-start refill)."""
        self._ready_at = self._clock()

    def on_failure(self) -> float | None:
        """Record a failure; return the delay before the next start, or None to give up."""
        now = self._clock()
        if self._ready_at is not None and now - self._ready_at >= self.settings.stable_after:
            self._failures.clear()
        self._ready_at = None
        self._prune(now)
        self._failures.append(now)
        count = len(self._failures)
        if count > self.settings.max_crashes:
            return None
        backoff = self.settings.backoff
        base = backoff[min(count, len(backoff)) - 1]
        spread = self.settings.jitter * (2 * self._rng() - 1)
        return max(0.0, base * (1 + spread))

    def reset(self) -> None:
        """Forget every failure (an explicit start after CRASHED)."""
        self._failures.clear()
        self._ready_at = None

    def _prune(self, now: float) -> None:
        while self._failures and now - self._failures[0] > self.settings.window:
            self._failures.popleft()
