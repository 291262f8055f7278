"""Runs in flight: their ids, cancellation, progress, and the output their handlers printed.

A *run* is what :meth:`corral.WorkspaceManager.run` starts: an action at project or
workspace scope, under a run id. Its work reaches runners as *segments* (one
``actions/run`` each, :mod:`corral.execute`) with ids of their own; the registry maps a
segment back to the run it serves, so that a runner's ``$/progress``, ``runner/output`` and
``runner/log`` notifications (which carry the segment's id) are attributed to that run.

Output is kept per run, bounded (:data:`MAX_OUTPUT_RECORDS` records and
:data:`MAX_OUTPUT_BYTES` of text; past either, records are counted as dropped, never
silently lost), and published live on :attr:`RunRegistry.output_bus`.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypeVar

import msgspec
from corral_protocol.client import OutputRecord
from corral_protocol.messages import LogParams, OutputParams, ProgressParams, ProgressValue

from .errors import RunCancelledError
from .supervisor import EventBus

__all__ = [
    "MAX_OUTPUT_BYTES",
    "MAX_OUTPUT_RECORDS",
    "OutputRecord",
    "RunOutput",
    "RunProgress",
    "RunRegistry",
    "output_record",
]

T = TypeVar("T")
V = TypeVar("V")

MAX_TRACKED_SEGMENTS: Final = 10_000
MAX_OUTPUT_RECORDS: Final = 1000
"""Output records kept per run; later ones are counted in :attr:`RunOutput.dropped`."""
MAX_OUTPUT_BYTES: Final = 256 * 1024
"""Output text kept per run (UTF-8 bytes)."""


class RunProgress(msgspec.Struct, frozen=True, kw_only=True):
    """A ``$/progress`` value of one runner request, with the runs it belongs to."""

    run_id: str
    """The segment (``actions/run`` request) the value came from."""
    parent_run_id: str
    """The run it serves (the id :meth:`WorkspaceManager.run` returned or took)."""
    project: Path
    env: str
    value: ProgressValue


@dataclass
class RunOutput:
    """The output of one run so far: records in arrival order, and how many were dropped."""

    records: list[OutputRecord] = field(default_factory=list)
    size: int = 0
    dropped: int = 0

    def add(self, record: OutputRecord) -> bool:
        """Keep ``record`` if the bounds allow; False (and counted) otherwise."""
        size = len(record.text.encode(errors="replace"))
        if len(self.records) >= MAX_OUTPUT_RECORDS or self.size + size > MAX_OUTPUT_BYTES:
            self.dropped += 1
            return False
        self.records.append(record)
        self.size += size
        return True


def output_record(params: OutputParams | LogParams, project: Path, env: str) -> OutputRecord:
    """The record of a runner's ``runner/output`` or ``runner/log`` notification."""
    if isinstance(params, OutputParams):
        return OutputRecord(project=str(project), env=env, stream=params.stream, text=params.text)
    return OutputRecord(
        project=str(project), env=env, stream="log", text=params.message, level=params.level
    )


class _Segment(msgspec.Struct, frozen=True):
    parent_run_id: str
    project: Path
    env: str


class RunRegistry:
    """See the module docstring."""

    def __init__(self) -> None:
        self.progress_bus: EventBus[RunProgress] = EventBus()
        self.output_bus: EventBus[tuple[str | None, OutputRecord]] = EventBus()
        """``(run id, record)`` for every output record of a runner; the id of the run it
        belongs to, or None when it cannot be attributed to one."""
        self._tasks: dict[str, asyncio.Task[object]] = {}
        self._segments: collections.OrderedDict[str, _Segment] = collections.OrderedDict()
        self._parents: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._output: dict[str, RunOutput] = {}

    async def run(self, run_id: str, work: Awaitable[T]) -> T:
        """Run ``work`` as run ``run_id`` until it ends or :meth:`cancel` is called (then
        :class:`~corral.errors.RunCancelledError`). Cancelling the caller cancels the work."""
        task: asyncio.Task[T] = asyncio.ensure_future(work)
        self._tasks[run_id] = task
        self._output.setdefault(run_id, RunOutput())
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled() and not _cancelling():
                raise RunCancelledError(run_id) from None
            task.cancel()
            raise
        finally:
            self._tasks.pop(run_id, None)

    def in_flight(self, run_id: str) -> bool:
        """Whether run ``run_id`` is going."""
        task = self._tasks.get(run_id)
        return task is not None and not task.done()

    def cancel(self, run_id: str) -> bool:
        """Cancel a run in flight (its runner requests get ``$/cancelRequest``). False if
        no such run is going."""
        task = self._tasks.get(run_id)
        if task is None or task.done():
            return False
        task.cancel()
        return True

    def cancel_all(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()

    def take_output(self, run_id: str) -> RunOutput:
        """The output of a run that has ended (and forget it)."""
        return self._output.pop(run_id, None) or RunOutput()

    # --- segments and what runners say about them --------------------------------------

    def segment_started(self, run_id: str, parent_run_id: str, project: Path, env: str) -> None:
        """Remember which run segment ``run_id`` serves (bounded: the oldest are forgotten)."""
        _remember(self._segments, run_id, _Segment(parent_run_id, project, env))

    def run_started(self, run_id: str, parent_run_id: str | None) -> None:
        """A run (project or workspace scope) began under ``parent_run_id`` (a run's or a
        segment's id; None for a top-level run): its output belongs to its ancestor that
        :meth:`run` started."""
        if parent_run_id is not None:
            _remember(self._parents, run_id, parent_run_id)

    def belongs_to(self, run_id: str, top: str) -> bool:
        """Whether run or segment ``run_id`` is ``top`` or serves it (at any depth)."""
        return self._top_run(run_id) == top

    def _top_run(self, run_id: str) -> str | None:
        """The ancestor of ``run_id`` (a run or segment id) that :meth:`run` started."""
        for _ in range(256):  # ancestry is bounded by the depth limit; never loop forever
            if run_id in self._output:
                return run_id
            segment = self._segments.get(run_id)
            parent = segment.parent_run_id if segment is not None else self._parents.get(run_id)
            if parent is None:
                return None
            run_id = parent
        return None

    def on_progress(self, params: ProgressParams) -> None:
        """A runner's ``$/progress``: published if its token is one the WM handed out
        (``<segment id>:work`` / ``<segment id>:partial``), ignored otherwise (SPEC §10.1)."""
        run_id, _, kind = str(params.token).rpartition(":")
        segment = self._segments.get(run_id)
        if segment is None or kind not in ("work", "partial"):
            return
        self.progress_bus.publish(
            RunProgress(
                run_id=run_id,
                parent_run_id=segment.parent_run_id,
                project=segment.project,
                env=segment.env,
                value=params.value,
            )
        )

    def on_output(self, params: OutputParams | LogParams, record: OutputRecord) -> str | None:
        """A runner's ``runner/output`` or ``runner/log`` (``record`` is its text, see
        :func:`output_record`): kept with the run it belongs to and published; returns that
        run's id (None when it cannot be attributed)."""
        owner = self._top_run(params.run_id) if isinstance(params.run_id, str) else None
        output = None if owner is None else self._output[owner]
        if output is None or output.add(record):
            self.output_bus.publish((owner, record))
        if output is not None and isinstance(params, OutputParams):
            output.dropped += params.dropped if isinstance(params.dropped, int) else 0
        return owner


def _remember(table: collections.OrderedDict[str, V], key: str, value: V) -> None:
    """``table[key] = value``, forgetting the oldest entries past the bound."""
    table[key] = value
    while len(table) > MAX_TRACKED_SEGMENTS:
        table.popitem(last=False)


def _cancelling() -> bool:
    """Whether the current task itself is being cancelled (not just what it awaited)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
