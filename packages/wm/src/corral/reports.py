"""What the Workspace Manager API hands out: immutable snapshots and run reports.

Front ends (CLI, LSP, MCP, and the server's clients) see only these: msgspec Structs,
frozen, JSON-ready (camelCase on the wire). They never hold a supervisor, config or env
object, so nothing a front end does can change the WM's state behind its back.

* :class:`ProjectInfo`, :class:`EnvInfo` and :class:`~corral.supervisor.RunnerStatus`
  (re-exported here): what exists and in which state.
* :class:`ProjectReport` and :class:`WorkspaceReport`: the outcome of a run, exactly what
  ``corral run --format json`` prints. A project's ``result`` is the action's result as the
  runner returned it; read a lint/format-family result with
  :func:`corral_protocol.results.as_tool_result` (the WM has checked its shape).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import msgspec
from corral_protocol.messages import (
    ErrorObject,
    HandlerOutcome,
    ProjectRunResult,
    WorkspaceRunResult,
)

from .runs import OutputRecord, RunOutput
from .supervisor import RunnerState, RunnerStatus

__all__ = [
    "EnvInfo",
    "PrepareProgress",
    "PrepareReport",
    "ProjectInfo",
    "ProjectReport",
    "RunReport",
    "RunnerState",
    "RunnerStatus",
    "WorkspaceReport",
]


class _Snapshot(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Base of the API's snapshots."""


class EnvInfo(_Snapshot, frozen=True):
    """One environment of one project and whether it is ready.

    ``state``: ``ready``, ``no_venv``, ``stale`` or ``broken``; ``message`` says what is
    wrong and ``fix`` is the command that fixes it (None when ready).
    """

    project: str
    env: str
    state: str
    message: str
    fix: list[str] | None = None


class PrepareProgress(_Snapshot, frozen=True):
    """Progress of preparing one environment.

    ``phase``: ``skipped`` alone (unchanged), or [``creating``] ``installing`` then ``done``
    or ``failed``; ``elapsed`` is seconds since its work started; ``status`` is set on the
    final event: ``unchanged``, ``created``, ``updated`` or ``failed``.
    """

    project: str
    env: str
    phase: str
    elapsed: float
    message: str
    status: str | None = None


class PrepareReport(_Snapshot, frozen=True):
    """The outcome of preparing one environment: ``created``, ``updated``, ``unchanged`` or
    ``failed`` (``error`` then names the step, the command and the end of its output)."""

    project: str
    env: str
    status: str
    duration: float
    error: str | None = None


class ProjectInfo(_Snapshot, frozen=True):
    """One project: its actions and envs, or the configuration error that hides them."""

    project: str
    config_file: str | None
    actions: list[str]
    envs: list[str]
    presets: list[str]
    error: str | None = None


class ProjectReport(_Snapshot, frozen=True):
    """The outcome of an action in one project.

    ``status``: ``ok``; ``failed`` (it ran, and handlers failed: ``handlers`` says which and
    why); ``error`` (it could not run: ``error`` is the JSON-RPC error object, SPEC.md §6.7;
    -32602 a configuration error, -32010 the action is not defined there, -32015 a runner or
    env problem). ``output``: what its handlers printed and logged, bounded
    (``outputDropped`` records beyond the bound).
    """

    run_id: str | None
    project: str
    status: Literal["ok", "failed", "error"]
    result: Any = None
    handlers: list[HandlerOutcome] = msgspec.field(default_factory=list)
    error: ErrorObject | None = None
    output: list[OutputRecord] = msgspec.field(default_factory=list)
    output_dropped: int = 0


class WorkspaceReport(_Snapshot, frozen=True):
    """The outcome of an action across projects (workspace or paths scope).

    ``status`` is ``ok`` exactly when every project's is. ``skipped``: projects that do not
    define the action (they did not run). Each project's output is in its report.
    """

    run_id: str
    status: Literal["ok", "failed"]
    projects: list[ProjectReport]
    skipped: list[str] = msgspec.field(default_factory=list)
    output: list[OutputRecord] = msgspec.field(default_factory=list)
    """Output of runners of projects not in ``projects`` (a handler's nested runs)."""
    output_dropped: int = 0
    """Output records of the whole run beyond the bound."""


RunReport = ProjectReport | WorkspaceReport
"""What :meth:`corral.WorkspaceManager.run` returns, by scope."""


def project_report(project: str, result: ProjectRunResult, output: RunOutput) -> ProjectReport:
    """The report of a project-scope run: its result and handlers, with ``output``."""
    return ProjectReport(
        run_id=result.run_id,
        project=project,
        status=result.status,
        result=result.result,
        handlers=list(result.handlers),
        output=list(output.records),
        output_dropped=output.dropped,
    )


def workspace_report(
    result: WorkspaceRunResult,
    runs: dict[str, ProjectRunResult],
    output: RunOutput,
    skipped: Iterable[Path],
) -> WorkspaceReport:
    """The report of a workspace run from its protocol result, each project run that ran
    (with every handler outcome, which the protocol result leaves out), the run's output
    (each record to the report of its project) and the projects it skipped."""
    reports = []
    for outcome in result.projects:
        inner = runs.get(outcome.project)
        mine = RunOutput(records=[r for r in output.records if r.project == outcome.project])
        report = (
            project_report(outcome.project, inner, mine)
            if inner is not None
            else ProjectReport(
                run_id=None,
                project=outcome.project,
                status=outcome.status,
                result=outcome.result,
                error=outcome.error,
                output=mine.records,
            )
        )
        if outcome.status != "ok":
            report = msgspec.structs.replace(report, status=outcome.status, error=outcome.error)
        reports.append(report)
    reported = {r.project for r in reports}
    return WorkspaceReport(
        run_id=result.run_id,
        status=result.status,
        projects=reports,
        skipped=[str(p) for p in skipped],
        output=[r for r in output.records if r.project not in reported],
        output_dropped=output.dropped,
    )
