"""Human-readable output of the CLI: run reports grouped by file, status tables.

Results of lint/format-family actions are :class:`~corral_protocol.results.ToolResult`
(SPEC.md §13; the WM has checked the shape): diagnostics are printed grouped by file with
1-based line:column (the JSON is 0-based), edits and changed files one line each, tool notes
after them. Any other result is printed as JSON, so a new action is never invisible.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import msgspec
from corral_protocol.messages import HandlerOutcome
from corral_protocol.results import Diagnostic, ToolResult, as_tool_result

from ..reports import ProjectReport, RunnerSnapshot, WorkspaceReport
from ..rpcerrors import USER_ERROR_CODES

__all__ = [
    "EXIT_FAILURE",
    "EXIT_FINDINGS",
    "EXIT_OK",
    "EXIT_USAGE",
    "Summary",
    "render_result",
    "render_status",
    "summarize",
]

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_FAILURE = 0, 1, 2, 3


@dataclass
class Summary:
    """Counts that decide the exit code and the summary line."""

    projects: int = 0
    findings: int = 0
    files: set[str] = field(default_factory=set)
    failed_handlers: list[tuple[str, HandlerOutcome]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    usage_errors: int = 0
    """Projects that could not run because a configuration or the request is wrong."""
    skipped: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """2 a configuration or usage error anywhere; 3 a handler, runner or env failed;
        1 findings; 0 clean."""
        if self.usage_errors:
            return EXIT_USAGE
        if self.failed_handlers or self.errors:
            return EXIT_FAILURE
        return EXIT_FINDINGS if self.findings else EXIT_OK


def _rel(root: Path, project: str, file: str = ".") -> str:
    path = Path(project, file)
    try:
        return os.path.relpath(path, root)
    except ValueError:
        return str(path)


def _tool_result(result: Any) -> ToolResult | None:
    """The result as a ToolResult; None for results of another shape (the WM has already
    failed runs whose result claims the shape and breaks it)."""
    try:
        return as_tool_result(result)
    except msgspec.ValidationError:
        return None


def _reports(outcome: ProjectReport | WorkspaceReport) -> list[ProjectReport]:
    return [outcome] if isinstance(outcome, ProjectReport) else list(outcome.projects)


def summarize(outcome: ProjectReport | WorkspaceReport) -> Summary:
    """The :class:`Summary` of a run report."""
    summary = Summary()
    if isinstance(outcome, WorkspaceReport):
        summary.skipped = list(outcome.skipped)
    for report in _reports(outcome):
        summary.projects += 1
        if report.status == "error":
            error = report.error
            summary.errors.append((report.project, error.message if error else "unknown error"))
            if error is not None and error.code in USER_ERROR_CODES:
                summary.usage_errors += 1
            continue
        for handler in report.handlers:
            if handler.status == "failed":
                summary.failed_handlers.append((report.project, handler))
        typed = _tool_result(report.result)
        if typed is None:
            continue
        files = [d.file for d in typed.diagnostics] + [e.file for e in typed.edits or []]
        summary.findings += len(files)
        summary.files.update(f"{report.project}/{file}" for file in files)
    return summary


def render_result(
    outcome: ProjectReport | WorkspaceReport,
    stream: TextIO,
    *,
    root: Path,
    action: str,
    elapsed: float | None = None,
) -> Summary:
    """Print ``outcome`` for humans; return the summary (for the exit code)."""
    summary = summarize(outcome)
    for report in _reports(outcome):
        _render_project(report, stream, root)
    for path, handler in summary.failed_handlers:
        error = handler.error
        kind = error.type if error else "Error"
        message = error.message if error else ""
        stream.write(f"error: {handler.name} failed in {_rel(root, path)}: {kind}: {message}\n")
    for path, message in summary.errors:
        stream.write(f"error: {_rel(root, path)}: {message}\n")
    stream.write(_summary_line(summary, action, elapsed, root) + "\n")
    return summary


def _render_project(report: ProjectReport, stream: TextIO, root: Path) -> None:
    typed = _tool_result(report.result)
    if typed is None:
        if report.result is not None:
            text = msgspec.json.encode(report.result).decode()
            stream.write(f"{_rel(root, report.project)}: {text}\n")
        return
    by_file: dict[str, list[Diagnostic]] = {}
    for diagnostic in typed.diagnostics:
        by_file.setdefault(diagnostic.file, []).append(diagnostic)
    for file in sorted(by_file):
        stream.write(f"{_rel(root, report.project, file)}\n")
        for d in sorted(by_file[file], key=_position):
            start = d.range.start
            code = f"{d.code} " if d.code else ""
            fix = " [*]" if d.fixable else ""
            stream.write(f"  {start.line + 1}:{start.character + 1}  {code}{d.message}{fix}\n")
    for edit in typed.edits or []:
        stream.write(f"would reformat {_rel(root, report.project, edit.file)}\n")
    for changed in typed.changed or []:
        stream.write(f"reformatted {_rel(root, report.project, changed)}\n")


def _position(diagnostic: Diagnostic) -> tuple[int, int]:
    return diagnostic.range.start.line, diagnostic.range.start.character


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _summary_line(summary: Summary, action: str, elapsed: float | None, root: Path) -> str:
    parts = [_plural(summary.findings, "finding")]
    if summary.files:
        parts.append(f"in {_plural(len(summary.files), 'file')}")
    text = f"{action}: " + " ".join(parts) + f" ({_plural(summary.projects, 'project')}"
    if elapsed is not None:
        text += f", {elapsed:.2f} s"
    text += ")"
    failures = len(summary.failed_handlers) + len(summary.errors)
    if failures:
        text += f"; {_plural(failures, 'failure')}"
    if summary.skipped:
        names = ", ".join(_rel(root, p) for p in summary.skipped)
        text += f"; skipped {_plural(len(summary.skipped), 'project')} without {action}: {names}"
    return text


def render_status(statuses: Iterable[RunnerSnapshot], stream: TextIO, *, root: Path) -> None:
    """A table: project, env, state, pid, uptime, restarts, last error."""
    rows = [("PROJECT", "ENV", "STATE", "PID", "UPTIME", "RESTARTS", "NOTE")]
    for status in statuses:
        rows.append(
            (
                _rel(root, status.project),
                status.env,
                status.state,
                str(status.pid or "-"),
                f"{status.uptime:.0f}s" if status.uptime is not None else "-",
                str(status.restarts),
                (status.last_error or "").splitlines()[0] if status.last_error else "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:6], widths, strict=True)]
        stream.write("  ".join([*cells, row[6]]).rstrip() + "\n")
