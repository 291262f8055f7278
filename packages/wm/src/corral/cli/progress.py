"""A small terminal display of environment preparation progress.

Usage::

    printer = ProgressPrinter(sys.stderr, sys.stderr.isatty())
    async with printer.live():          # on a TTY: redraw timers every 0.1 s
        results = await wm.prepare_envs(progress=printer)
    printer.finish(results)             # failure details + the summary line

It reads events and results by shape (:class:`ProgressEvent`, :class:`PrepareOutcome`):
the WM API's :class:`~corral.reports.PrepareProgress` and
:class:`~corral.reports.PrepareReport` are what the CLI feeds it.

On a TTY, each environment being worked on has a live line (phase, elapsed time, detail)
redrawn in place with ANSI cursor movement; a finished environment's final line is
printed above the live block, where it stays. Elsewhere (CI logs, pipes), only the final
line of each environment is printed, as it finishes. :meth:`finish` then prints each
lock file the preparation wrote, each failure's full error and one summary line::

    locked app:dev_no_runtime: created app/pylock.corral-dev_no_runtime.toml (commit it)
    3 environments: 1 created, 0 updated, 2 unchanged, 0 failed in 2.4 s
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Protocol, TextIO


class ProgressEvent(Protocol):
    """Progress of one environment (phases ``skipped``, ``creating``, ``installing``,
    ``done``, ``failed``; ``status`` on the final one)."""

    @property
    def project(self) -> str | Path: ...
    @property
    def env(self) -> str: ...
    @property
    def phase(self) -> str: ...
    @property
    def elapsed(self) -> float: ...
    @property
    def message(self) -> str: ...
    @property
    def status(self) -> str | None: ...


class PrepareOutcome(Protocol):
    """The outcome for one environment: ``created``, ``updated``, ``unchanged`` or
    ``failed`` (then ``error`` says why, in full)."""

    @property
    def project(self) -> str | Path: ...
    @property
    def env(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def error(self) -> str | None: ...

    @property
    def lock(self) -> LockedEnv | None: ...


class LockedEnv(Protocol):
    """An env's lock file as a preparation left it (``corral.reports.LockReport``)."""

    @property
    def path(self) -> str | Path: ...
    @property
    def status(self) -> str: ...
    @property
    def changes(self) -> Sequence[str]: ...
    @property
    def error(self) -> str | None: ...


_ENV_PREFIX = re.compile(r"^environment '[^']*' of project .*?: ")
"""How env errors begin (``environment 'dev' of project /p: ``): the label says it already."""
_SPINNER = "|/-\\"
_COLORS: dict[str, str] = {
    "created": "32",
    "updated": "32",
    "unchanged": "2",
    "failed": "31",
}
_WORDS: dict[str, str] = {"skipped": "unchanged", "failed": "failed"}


def format_seconds(seconds: float) -> str:
    """``0.04 s``, ``2.4 s``, ``75 s``."""
    if seconds < 0.1:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{seconds:.0f} s"


def lock_line(outcome: LockedEnv, label: str, root: Path) -> str:
    """``<label>: created <lock path> (commit it)`` / ``updated ... (ruff 0.1 -> 0.2)`` /
    ``unchanged ...`` / ``failed: <headline>`` for one lock outcome."""
    try:
        path = Path(outcome.path).relative_to(root).as_posix()
    except ValueError:
        path = str(outcome.path)
    if outcome.status == "failed":
        headline = (outcome.error or "unknown error").splitlines()[0]
        return f"{label}: failed: {_ENV_PREFIX.sub('', headline, count=1)}"
    line = f"{label}: {outcome.status} {path}"
    if outcome.status == "created":
        return f"{line} (commit it: it pins the versions this env installs)"
    if outcome.changes:
        shown = ", ".join(outcome.changes[:8])
        more = len(outcome.changes) - 8
        return f"{line} ({shown}{f', {more} more' if more > 0 else ''})"
    return line


def summary_line(statuses: Sequence[str], elapsed: float) -> str:
    """``N environments: a created, b updated, c unchanged, d failed in X s`` for the
    envs' final statuses."""
    counts = dict.fromkeys(("created", "updated", "unchanged", "failed"), 0)
    for status in statuses:
        if status in counts:
            counts[status] += 1
    noun = "environment" if len(statuses) == 1 else "environments"
    parts = ", ".join(f"{count} {status}" for status, count in counts.items())
    return f"{len(statuses)} {noun}: {parts} in {format_seconds(elapsed)}"


class ProgressPrinter:
    """Render prepare events to ``stream`` (a callable to pass as ``progress=``).

    ``is_tty`` selects the live display; ``root`` (default: the current directory) makes
    project paths relative in labels (``<project>:<env>``); ``color`` defaults to
    ``is_tty`` unless ``NO_COLOR`` is set; ``width`` (default: the terminal's) truncates
    live lines so redraws stay on one row; ``clock`` is for tests.
    """

    def __init__(
        self,
        stream: TextIO,
        is_tty: bool,
        *,
        root: Path | None = None,
        color: bool | None = None,
        width: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.is_tty = is_tty
        self.root = Path(os.path.abspath(root if root is not None else Path.cwd()))
        self.color = (is_tty and "NO_COLOR" not in os.environ) if color is None else color
        self.width = width
        self.clock = clock
        self.started = clock()
        # (project, env) -> (label, phase, message, clock() at the phase's event - elapsed)
        self._active: dict[tuple[Path, str], tuple[str, str, str, float]] = {}
        self._drawn = 0
        self._ticks = 0

    # -- labels ----------------------------------------------------------------------

    def label(self, project: str | Path, env: str) -> str:
        """``<project relative to root>:<env>`` (the project's name when it is the root)."""
        try:
            relative = Path(project).relative_to(self.root)
        except ValueError:
            text = str(project)
        else:
            text = relative.as_posix() if relative.parts else Path(project).name
        return f"{text}:{env}"

    def _paint(self, word: str, status: str) -> str:
        code = _COLORS.get(status)
        if not self.color or code is None:
            return word
        return f"\x1b[{code}m{word}\x1b[0m"

    def _final_line(self, event: ProgressEvent) -> str:
        status: str = event.status or _WORDS.get(event.phase) or event.phase
        word = self._paint(f"{status:<10}", status)
        label = self.label(event.project, event.env)
        if status == "unchanged":
            return f"{word} {label}".rstrip()
        line = f"{word} {label} ({format_seconds(event.elapsed)})"
        if status == "failed" and event.message:
            line += f": {event.message}"
        return line

    # -- events ----------------------------------------------------------------------

    def __call__(self, event: ProgressEvent) -> None:
        """Consume one event (final phases print a line; others update the live block)."""
        key = (Path(event.project), event.env)
        final = event.phase in ("skipped", "done", "failed")
        if final:
            self._active.pop(key, None)
        else:
            started = self.clock() - event.elapsed
            label = self.label(event.project, event.env)
            self._active[key] = (label, event.phase, event.message, started)
        if not self.is_tty:
            if final:
                self.stream.write(self._final_line(event) + "\n")
                self.stream.flush()
            return
        self._redraw(self._final_line(event) if final else None)

    def refresh(self) -> None:
        """Redraw the live block with current timers (TTY only; no-op otherwise)."""
        if self.is_tty and self._active:
            self._ticks += 1
            self._redraw(None)

    @contextlib.asynccontextmanager
    async def live(self, interval: float = 0.1) -> AsyncIterator[None]:
        """While the body runs, call :meth:`refresh` every ``interval`` s (TTY only)."""
        if not self.is_tty:
            yield
            return

        async def tick() -> None:
            while True:
                await asyncio.sleep(interval)
                self.refresh()

        task = asyncio.create_task(tick())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _live_line(self, label: str, phase: str, message: str, started: float) -> str:
        spinner = _SPINNER[self._ticks % len(_SPINNER)]
        elapsed = max(0.0, self.clock() - started)
        line = f"{spinner} {phase:<10} {label} {elapsed:.1f} s  {message}".rstrip()
        width = self.width or shutil.get_terminal_size((80, 24)).columns
        return line[: max(10, width - 1)]

    def _redraw(self, committed: str | None) -> None:
        parts: list[str] = []
        if self._drawn:
            parts.append(f"\x1b[{self._drawn}A\r")
        parts.append("\x1b[J")
        if committed is not None:
            parts.append(committed + "\n")
        for label, phase, message, started in self._active.values():
            parts.append(self._live_line(label, phase, message, started) + "\n")
        self._drawn = len(self._active)
        self.stream.write("".join(parts))
        self.stream.flush()

    # -- the end ---------------------------------------------------------------------

    def finish(self, results: Sequence[PrepareOutcome], elapsed: float | None = None) -> None:
        """Print every failure's full error, then :func:`summary_line`.

        ``elapsed`` defaults to the time since this printer was created.
        """
        if self.is_tty and self._drawn:
            self._active.clear()
            self._redraw(None)
        lines: list[str] = []
        for result in results:
            if result.lock is not None:
                label = self._result_label(result)
                lines.append(f"locked {lock_line(result.lock, label, self.root)}")
        for result in results:
            if result.status == "failed":
                lines.append(f"{self._paint('error', 'failed')}: {self._result_label(result)}")
                lines += [f"  {line}" for line in (result.error or "").splitlines()]
        spent = self.clock() - self.started if elapsed is None else elapsed
        lines.append(summary_line([r.status for r in results], spent))
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()

    def finish_events(self, finals: Sequence[ProgressEvent]) -> None:
        """:meth:`finish` for a preparation known only by its final events (what a run's
        ``envs/progress`` carries): the summary line (each failure was already printed)."""
        if self.is_tty and self._drawn:
            self._active.clear()
            self._redraw(None)
        statuses = [event.status or "failed" for event in finals]
        self.stream.write(summary_line(statuses, self.clock() - self.started) + "\n")
        self.stream.flush()

    def _result_label(self, result: PrepareOutcome) -> str:
        return self.label(result.project, result.env)
