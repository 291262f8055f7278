"""Human-readable output of the CLI: run results grouped by file, status tables.

Results are action-agnostic JSON; this module recognises the common shapes the Python
handlers produce (``diagnostics``, ``edits``, ``changed``) and prints anything else as
indented JSON, so a new action is never invisible.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import msgspec
from corral_protocol.messages import HandlerOutcome, ProjectRunResult, WorkspaceRunResult

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


def _items(result: Any, key: str) -> list[Any]:
    value = result.get(key) if isinstance(result, dict) else None
    return value if isinstance(value, list) else []


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
        for key in ("diagnostics", "edits"):
            for item in _items(result, key):
                summary.findings += 1
                if isinstance(item, dict) and "file" in item:
                    summary.files.add(f"{path}/{item['file']}")
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
        diagnostics = _items(result, "diagnostics")
        by_file: dict[str, list[dict[str, Any]]] = {}
        for diagnostic in diagnostics:
            if isinstance(diagnostic, dict):
                by_file.setdefault(str(diagnostic.get("file", "?")), []).append(diagnostic)
        for file in sorted(by_file):
            stream.write(f"{_rel(root, path, file)}\n")
            for d in sorted(by_file[file], key=_position):
                start = (d.get("range") or {}).get("start") or {}
                line, col = int(start.get("line", 0)) + 1, int(start.get("character", 0)) + 1
                code = f"{d['code']} " if d.get("code") else ""
                fix = " [*]" if d.get("fixable") else ""
                stream.write(f"  {line}:{col}  {code}{d.get('message', '')}{fix}\n")
        for edit in _items(result, "edits"):
            if isinstance(edit, dict):
                stream.write(f"would reformat {_rel(root, path, str(edit.get('file')))}\n")
        for changed in _items(result, "changed"):
            stream.write(f"reformatted {_rel(root, path, str(changed))}\n")
        if result is not None and not any(
            isinstance(result, dict) and k in result for k in ("diagnostics", "edits", "changed")
        ):
            stream.write(f"{_rel(root, path, '.')}: {msgspec.json.encode(result).decode()}\n")
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


def _position(diagnostic: dict[str, Any]) -> tuple[int, int]:
    start = (diagnostic.get("range") or {}).get("start") or {}
    return int(start.get("line", 0)), int(start.get("character", 0))


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
