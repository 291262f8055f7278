"""What the Workspace Manager API hands out: immutable snapshots and run reports.

Front ends (CLI, LSP, MCP, and the server's clients) see only these: the client protocol's
msgspec Structs (:mod:`corral_protocol.client`), frozen, JSON-ready. They never hold a
supervisor, config or env object, so nothing a front end does can change the WM's state
behind its back, and the embedded WM and the server hand out the very same shapes.

* :class:`ProjectInfo`, :class:`EnvInfo`, :class:`RunnerSnapshot`: what exists, in which
  state; :class:`PrepareProgress`, :class:`PrepareReport`: env preparation.
* :class:`ProjectReport` and :class:`WorkspaceReport`: the outcome of a run, exactly what
  ``corral run --format json`` prints. A project's ``result`` is the action's result as the
  runner returned it; read a lint/format-family result with
  :func:`corral_protocol.results.as_tool_result` (the WM has checked its shape).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import msgspec
from corral_protocol.client import (
    EnvInfo,
    LockReport,
    OutputRecord,
    PrepareProgress,
    PrepareReport,
    ProjectInfo,
    ProjectReport,
    RunnerSnapshot,
    WorkspaceReport,
)
from corral_protocol.messages import (
    ProjectRunResult,
    WorkspaceRunResult,
)

from .runs import RunOutput
from .supervisor import RunnerState, RunnerStatus

__all__ = [
    "EnvInfo",
    "LockReport",
    "OutputRecord",
    "PrepareProgress",
    "PrepareReport",
    "ProjectInfo",
    "ProjectReport",
    "RunReport",
    "RunnerSnapshot",
    "RunnerState",
    "WorkspaceReport",
    "project_report",
    "runner_snapshot",
    "workspace_report",
]

RunReport = ProjectReport | WorkspaceReport
"""What :meth:`corral.WorkspaceManager.run` returns, by scope."""


def runner_snapshot(status: RunnerStatus) -> RunnerSnapshot:
    """A supervisor status as the API's wire snapshot."""
    return RunnerSnapshot(
        project=str(status.project),
        env=status.env,
        state=status.state.value,
        pid=status.pid,
        port=status.port,
        uptime=status.uptime,
        restarts=status.restarts,
        crashes_in_window=status.crashes_in_window,
        in_flight=status.in_flight,
        last_error=status.last_error,
    )


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
