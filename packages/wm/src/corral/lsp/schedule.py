"""When a document is checked: debounced, one run at a time, stale results dropped.

:class:`Scheduler` keeps at most one pending or running check per document. A new request
for a document (a change, a save) cancels the one before it — cancelling its run in the WM
(``$/cancelRequest`` over the client protocol) — then waits ``delay`` seconds (the
debounce: a burst of keystrokes makes one run) and calls ``check(uri, version)``. What the
check produced is delivered only if the document still has the version it checked
(``current(uri)``): a stale result never overwrites a newer one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["Scheduler"]

T = TypeVar("T")
log = logging.getLogger("corral.lsp")


class Scheduler(Generic[T]):
    """See the module docstring. ``deliver(uri, version, value)`` gets each fresh result."""

    def __init__(
        self,
        check: Callable[[str, int | None], Awaitable[T]],
        deliver: Callable[[str, int | None, T], None],
        current: Callable[[str], int | None],
    ) -> None:
        self.check = check
        self.deliver = deliver
        self.current = current
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.cancelled = 0
        """How many checks were cancelled because a newer one superseded them."""
        self.dropped = 0
        """How many finished checks were dropped because the document changed meanwhile."""

    def schedule(self, uri: str, delay: float) -> asyncio.Task[None]:
        """Check ``uri`` after ``delay`` seconds, superseding any check still pending."""
        self.cancel(uri)
        version = self.current(uri)
        task = asyncio.create_task(self._go(uri, version, delay), name=f"check {uri}")
        self.tasks[uri] = task
        task.add_done_callback(lambda done: self._forget(uri, done))
        return task

    def _forget(self, uri: str, task: asyncio.Task[None]) -> None:
        if self.tasks.get(uri) is task:
            del self.tasks[uri]

    def cancel(self, uri: str) -> None:
        task = self.tasks.pop(uri, None)
        if task is not None and not task.done():
            task.cancel()
            self.cancelled += 1

    async def _go(self, uri: str, version: int | None, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            value = await self.check(uri, version)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("checking %s failed", uri)
            return
        if self.current(uri) != version:
            self.dropped += 1
            return
        self.deliver(uri, version, value)

    async def aclose(self) -> None:
        tasks = list(self.tasks.values())
        self.tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
