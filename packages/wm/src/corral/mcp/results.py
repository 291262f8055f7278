"""From the Workspace Manager's reports to what an agent reads: structured tool results
(:mod:`corral.mcp.tools`), pages of them, and a short text for clients that read only text.

Pure functions of the reports (and, for diffs, of the files on disk): no MCP SDK here.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Final

from corral_protocol.client import ProjectReport, RunReport, StatusResult, WorkspaceReport
from corral_protocol.results import Diagnostic

from ..cli.diff import edit_diff
from ..cli.render import Summary, summarize, tool_result
from .tools import (
    EnvListing,
    FileDiff,
    Finding,
    ProjectListing,
    ProjectOutcome,
    ProjectsOutput,
    RunnerListing,
    RunOutput,
    StatusOutput,
)

__all__ = [
    "KEPT_RUNS",
    "RunPages",
    "projects_output",
    "relative",
    "run_output",
    "run_text",
    "runner_listing",
    "status_output",
]

KEPT_RUNS: Final = 16
"""Runs whose findings ``more_results`` can still page through."""


def relative(root: Path, path: str | Path) -> str:
    """``path`` relative to the workspace root, with ``/`` (absolute if outside it)."""
    try:
        text = os.path.relpath(path, root)
    except ValueError:
        return str(path)
    return str(path) if text.startswith("..") else Path(text).as_posix()


def _reports(report: RunReport) -> list[ProjectReport]:
    return report.projects if isinstance(report, WorkspaceReport) else [report]


def _finding(root: Path, project: str, found: Diagnostic) -> Finding:
    start, end = found.range.start, found.range.end
    return Finding(
        file=relative(root, Path(project, found.file)),
        line=start.line + 1,
        column=start.character + 1,
        end_line=end.line + 1,
        end_column=end.character + 1,
        code=found.code,
        message=found.message,
        severity=found.severity,
        source=found.source,
        fixable=found.fixable,
        url=found.url if isinstance(found.url, str) else None,
    )


def _why(project: ProjectReport) -> str | None:
    if project.status == "error":
        return project.error.message if project.error else "it could not run"
    failed = [h for h in project.handlers if h.status != "ok"]
    if not failed:
        return None
    return "; ".join(
        f"handler {h.name} {h.status}: {h.error.message if h.error else 'no reason given'}"
        for h in failed
    )


def _summary_line(action: str, summary: Summary, files: int, changed: int) -> str:
    parts = [f"{action}: {summary.projects} project{'s' if summary.projects != 1 else ''}"]
    if summary.findings:
        parts.append(
            f"{summary.findings} finding{'s' if summary.findings != 1 else ''} in "
            f"{len(summary.files)} file{'s' if len(summary.files) != 1 else ''}"
            + (f", {summary.fixable} fixable" if summary.fixable else "")
        )
    elif not summary.errors and not summary.failed_handlers:
        parts.append("clean")
    if files:
        parts.append(f"{files} file{'s' if files != 1 else ''} would change")
    if changed:
        parts.append(f"{changed} file{'s' if changed != 1 else ''} written")
    if summary.reused:
        parts.append(f"{summary.reused} answered from the cache")
    broken = len(summary.errors) + len({p for p, _ in summary.failed_handlers})
    if broken:
        parts.append(f"{broken} project{'s' if broken != 1 else ''} failed")
    return ", ".join(parts)


def run_output(root: Path, action: str, report: RunReport, *, diffs: bool) -> RunOutput:
    """The whole (unpaged) structured result of a run. ``diffs``: turn the run's edits
    (``check-format`` with ``diff``) into unified diffs against the files on disk."""
    summary = summarize(report)
    findings: list[Finding] = []
    files: list[FileDiff] = []
    changed: list[str] = []
    outcomes = []
    for project in _reports(report):
        typed = tool_result(project.result)
        reused = False
        if typed is not None:
            reused = bool(typed.summary) and all(t.reused for t in typed.summary.values())
            edited = {edit.file for edit in typed.edits or []} if diffs else set()
            findings.extend(
                _finding(root, project.project, d)
                for d in typed.diagnostics
                if d.file not in edited
            )
            for edit in typed.edits or [] if diffs else []:
                label = relative(root, Path(project.project, edit.file))
                made = edit_diff(Path(project.project, edit.file), label, edit)
                text = "".join(f"{line}\n" for line in made.lines)
                files.append(FileDiff(file=label, diff=text or f"({made.problem})"))
            changed.extend(relative(root, Path(project.project, f)) for f in typed.changed or [])
        outcomes.append(
            ProjectOutcome(
                project=relative(root, project.project),
                status=project.status,
                reused=reused,
                message=_why(project),
            )
        )
    skipped = report.skipped if isinstance(report, WorkspaceReport) else []
    return RunOutput(
        run_id=report.run_id or "",
        action=action,
        exit_code=summary.exit_code,
        summary=_summary_line(action, summary, len(files), len(changed)),
        projects=outcomes,
        skipped=[relative(root, p) for p in skipped],
        findings=findings,
        files=files,
        changed=changed,
        total=len(findings) + len(files),
        offset=0,
        next_offset=None,
    )


def page(whole: RunOutput, offset: int, limit: int) -> RunOutput:
    """The findings and diffs of ``whole`` from ``offset``, at most ``limit`` of them."""
    end = offset + limit
    findings = whole.findings[offset:end]
    from_files = max(0, offset - len(whole.findings))
    files = whole.files[from_files : from_files + max(0, limit - len(findings))]
    shown = offset + len(findings) + len(files)
    return RunOutput(
        run_id=whole.run_id,
        action=whole.action,
        exit_code=whole.exit_code,
        summary=whole.summary,
        projects=whole.projects,
        skipped=whole.skipped,
        findings=findings,
        files=files,
        changed=whole.changed,
        total=whole.total,
        offset=offset,
        next_offset=shown if shown < whole.total else None,
    )


class RunPages:
    """The whole results of the last :data:`KEPT_RUNS` runs, by run id, for paging."""

    def __init__(self, kept: int = KEPT_RUNS) -> None:
        self._runs: OrderedDict[str, RunOutput] = OrderedDict()
        self._kept = kept

    def keep(self, whole: RunOutput) -> None:
        self._runs[whole.run_id] = whole
        self._runs.move_to_end(whole.run_id)
        while len(self._runs) > self._kept:
            self._runs.popitem(last=False)

    def get(self, run_id: str) -> RunOutput | None:
        return self._runs.get(run_id)


def run_text(shown: RunOutput) -> str:
    """A short text of a page for clients that read only text."""
    lines = [shown.summary]
    lines.extend(
        f"{p.project}: {p.status}: {p.message}" for p in shown.projects if p.message is not None
    )
    for found in shown.findings:
        code = f"{found.code} " if found.code else ""
        lines.append(f"{found.file}:{found.line}:{found.column}: {code}{found.message}")
    for diff in shown.files:
        lines.append(diff.diff.rstrip("\n"))
    lines.extend(f"wrote {path}" for path in shown.changed)
    if shown.next_offset is not None:
        left = shown.total - shown.next_offset
        lines.append(
            f"{left} more: call more_results with runId {shown.run_id!r} and offset "
            f"{shown.next_offset}"
        )
    return "\n".join(lines)


def runner_listing(root: Path, status: StatusResult) -> list[RunnerListing]:
    return [
        RunnerListing(
            project=relative(root, r.project),
            env=r.env,
            state=r.state,
            pid=r.pid,
            restarts=r.restarts,
            last_error=r.last_error,
        )
        for r in status.runners
    ]


def projects_output(status: StatusResult) -> ProjectsOutput:
    root = Path(status.root)
    runner_states = {(r.project, r.env): r.state for r in status.runners}
    envs: dict[str, list[EnvListing]] = {}
    for env in status.envs:
        envs.setdefault(env.project, []).append(
            EnvListing(
                env=env.env,
                state=env.state,
                message=env.message,
                runner=runner_states.get((env.project, env.env), "stopped"),
            )
        )
    return ProjectsOutput(
        root=str(root),
        projects=[
            ProjectListing(
                project=relative(root, p.project),
                config_file=None if p.config_file is None else relative(root, p.config_file),
                actions=p.actions,
                presets=p.presets,
                envs=envs.get(p.project, []),
                error=p.error,
            )
            for p in status.projects
        ],
    )


def status_output(status: StatusResult) -> StatusOutput:
    root = Path(status.root)
    server = None
    if status.server is not None:
        server = {
            "pid": status.server.pid,
            "version": status.server.version,
            "uptime": round(status.server.uptime),
            "idleTimeout": status.server.idle_timeout,
            "clients": [f"{c.name} {c.version}" for c in status.server.clients],
        }
    return StatusOutput(
        root=str(root),
        server=server,
        projects=len(status.projects),
        envs_not_ready=[
            f"{relative(root, e.project)} {e.env}: {e.message}"
            for e in status.envs
            if e.state != "ready"
        ],
        runners=runner_listing(root, status),
    )
