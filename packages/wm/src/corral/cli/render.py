"""Human-readable output of the CLI: run results grouped by file, status tables.

Results of lint/format-family actions are :class:`~corral_protocol.results.ToolResult`
(SPEC.md §13; the WM has checked the shape): diagnostics are printed grouped by file with
1-based line:column (the JSON is 0-based), edits and changed files one line each. Any other
result is printed as JSON, so a new action is never invisible.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import msgspec
from corral_protocol.messages import HandlerOutcome, ProjectRunResult, WorkspaceRunResult
from corral_protocol.results import Diagnostic, ToolResult, as_tool_result

from ..supervisor import RunnerStatus

__all__ = ["Summary", "render_result", "render_status", "summarize"]

RUNNER_PROBLEMS = {"RunnerUnavailable", "RunnerCrashed", "ToolMissing"}


@dataclass
class Summary:
    """Counts that decide the exit code and the summary line."""

    projects: int = 0
    findings: int = 0
    files: set[str] = field(default_factory=set)
    failed_handlers: list[tuple[str, HandlerOutcome]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 clean, 1 findings, 3 a handler or runner failed (config errors exit 2 earlier)."""
        if self.failed_handlers or self.errors:
            return 3
        return 1 if self.findings else 0


def _rel(root: Path, project: str, file: str) -> str:
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


def summarize(
    outcome: ProjectRunResult | WorkspaceRunResult, project: Path | None = None
) -> tuple[Summary, list[tuple[str, Any, list[HandlerOutcome]]]]:
    """Per-project (path, result, handler outcomes) plus the :class:`Summary`."""
    summary = Summary()
    rows: list[tuple[str, Any, list[HandlerOutcome]]] = []
    if isinstance(outcome, ProjectRunResult):
        rows.append((str(project), outcome.result, list(outcome.handlers)))
    else:
        for item in outcome.projects:
            if item.status == "error":
                message = item.error.message if item.error else "unknown error"
                summary.errors.append((item.project, message))
                continue
            handlers: list[HandlerOutcome] = []
            if item.error is not None and isinstance(item.error.data, dict):
                for data in item.error.data.get("handlers", []):
                    err = data.get("error") or {}
                    handlers.append(
                        msgspec.convert(
                            {
                                "name": data.get("name", "?"),
                                "status": "failed",
                                "durationMs": 0,
                                "error": {
                                    "type": err.get("type", "Error"),
                                    "message": err.get("message", ""),
                                    "traceback": None,
                                },
                            },
                            HandlerOutcome,
                        )
                    )
            rows.append((item.project, item.result, handlers))
    for path, result, handlers in rows:
        summary.projects += 1
        for handler in handlers:
            if handler.status == "failed":
                summary.failed_handlers.append((path, handler))
        typed = _tool_result(result)
        if typed is None:
            continue
        files = [d.file for d in typed.diagnostics] + [e.file for e in typed.edits or []]
        summary.findings += len(files)
        summary.files.update(f"{path}/{file}" for file in files)
    summary.projects += len(summary.errors)
    return summary, rows


def render_result(
    outcome: ProjectRunResult | WorkspaceRunResult,
    stream: TextIO,
    *,
    root: Path,
    action: str,
    project: Path | None = None,
    elapsed: float | None = None,
) -> Summary:
    """Print ``outcome`` for humans; return the summary (for the exit code)."""
    summary, rows = summarize(outcome, project)
    for path, result, _ in rows:
        typed = _tool_result(result)
        if typed is None:
            if result is not None:
                stream.write(f"{_rel(root, path, '.')}: {msgspec.json.encode(result).decode()}\n")
            continue
        by_file: dict[str, list[Diagnostic]] = {}
        for diagnostic in typed.diagnostics:
            by_file.setdefault(diagnostic.file, []).append(diagnostic)
        for file in sorted(by_file):
            stream.write(f"{_rel(root, path, file)}\n")
            for d in sorted(by_file[file], key=_position):
                start = d.range.start
                code = f"{d.code} " if d.code else ""
                fix = " [*]" if d.fixable else ""
                stream.write(f"  {start.line + 1}:{start.character + 1}  {code}{d.message}{fix}\n")
        for edit in typed.edits or []:
            stream.write(f"would reformat {_rel(root, path, edit.file)}\n")
        for changed in typed.changed or []:
            stream.write(f"reformatted {_rel(root, path, changed)}\n")
    for path, handler in summary.failed_handlers:
        error = handler.error
        kind = error.type if error else "Error"
        message = error.message if error else ""
        stream.write(
            f"error: {handler.name} failed in {_rel(root, path, '.')}: {kind}: {message}\n"
        )
    for path, message in summary.errors:
        stream.write(f"error: {_rel(root, path, '.')}: {message}\n")
    stream.write(_summary_line(summary, action, elapsed) + "\n")
    return summary


def _position(diagnostic: Diagnostic) -> tuple[int, int]:
    return diagnostic.range.start.line, diagnostic.range.start.character


def _summary_line(summary: Summary, action: str, elapsed: float | None) -> str:
    where = f"{summary.projects} project{'s' if summary.projects != 1 else ''}"
    parts = [f"{summary.findings} finding{'s' if summary.findings != 1 else ''}"]
    if summary.files:
        parts.append(f"in {len(summary.files)} file{'s' if len(summary.files) != 1 else ''}")
    text = f"{action}: " + " ".join(parts) + f" ({where}"
    if elapsed is not None:
        text += f", {elapsed:.2f} s"
    text += ")"
    failures = len(summary.failed_handlers) + len(summary.errors)
    if failures:
        text += f"; {failures} failure{'s' if failures != 1 else ''}"
    return text


def render_status(statuses: Iterable[RunnerStatus], stream: TextIO, *, root: Path) -> None:
    """A table: project, env, state, pid, uptime, restarts, last error."""
    rows = [("PROJECT", "ENV", "STATE", "PID", "UPTIME", "RESTARTS", "NOTE")]
    for status in statuses:
        rows.append(
            (
                _rel(root, str(status.project), "."),
                status.env,
                status.state.value,
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
