"""``corral run --format github``: findings as GitHub Actions workflow commands.

One line per finding, ``::error file=app/x.py,line=3,col=8,endLine=3,endColumn=10,
title=ruff F401::message``: GitHub shows it as an annotation on the file and line of a pull
request. The level follows the severity (``error``, ``warning``; ``information`` and
``hint`` become ``notice``), paths are relative to ``$GITHUB_WORKSPACE`` (the checkout;
the root Corral shows paths relative to when the variable is unset), lines and columns are
1-based. A file a formatter would rewrite is one ``error`` on the file; the tools' warning
notes are ``warning`` lines, failures ``error`` lines without a file. The last line is the
summary of the text output (a plain line: the log shows it as is); the exit code is the one
of the text output.

Escaping follows the runner's rules (actions/toolkit ``command.ts``): in the message,
``%``, ``\\r`` and ``\\n`` become ``%25``, ``%0D`` and ``%0A``; in a property value ``:``
and ``,`` also become ``%3A`` and ``%2C``, so neither a message nor a file name can end a
command early or start another one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from corral_protocol.client import ProjectReport, WorkspaceReport
from corral_protocol.results import Diagnostic

from .render import Summary, summarize, summary_line, tool_result

__all__ = ["escape_data", "escape_property", "render_github", "workflow_command"]

LEVELS = {"error": "error", "warning": "warning", "information": "notice", "hint": "notice"}


def escape_data(text: str) -> str:
    """A command's message, escaped (``%``, CR, LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A command's property value, escaped (as data, and ``:`` and ``,``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(command: str, message: str, **properties: str | int | None) -> str:
    """``::command k=v,...::message`` (properties that are None left out), escaped."""
    props = ",".join(
        f"{key}={escape_property(str(value))}"
        for key, value in properties.items()
        if value is not None
    )
    return f"::{command}{' ' + props if props else ''}::{escape_data(message)}"


def _relative(base: Path, project: str, file: str) -> str:
    path = Path(project, file)
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return os.path.relpath(path, base) if path.is_absolute() else path.as_posix()


def _diagnostic(base: Path, project: str, d: Diagnostic) -> str:
    start, end = d.range.start, d.range.end
    title = f"{d.source} {d.code}" if d.code else d.source
    single_line = start.line == end.line
    return workflow_command(
        LEVELS[d.severity],
        d.message,
        file=_relative(base, project, d.file),
        line=start.line + 1,
        col=start.character + 1,
        endLine=end.line + 1,
        endColumn=end.character + 1 if single_line else None,
        title=title,
    )


def render_github(
    outcome: ProjectReport | WorkspaceReport,
    stream: TextIO,
    *,
    root: Path,
    action: str,
    elapsed: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> Summary:
    """Write ``outcome`` as workflow commands on ``stream``; return its summary."""
    environ = os.environ if environ is None else environ
    workspace = environ.get("GITHUB_WORKSPACE", "")
    base = Path(workspace).resolve() if workspace else root
    summary = summarize(outcome)
    reports = [outcome] if isinstance(outcome, ProjectReport) else outcome.projects
    for report in reports:
        typed = tool_result(report.result) if report.status != "error" else None
        if typed is None:
            continue
        for d in typed.diagnostics:
            stream.write(_diagnostic(base, report.project, d) + "\n")
        reported = {d.file for d in typed.diagnostics}
        for edit in typed.edits or []:
            if edit.file not in reported:
                file = _relative(base, report.project, edit.file)
                line = workflow_command(
                    "error", "File would be reformatted", file=file, title=action
                )
                stream.write(line + "\n")
    for path, note in summary.notes:
        if note.level != "info":
            where = _relative(base, path, ".")
            title = f"{note.source} ({where})"
            stream.write(workflow_command("warning", note.message, title=title) + "\n")
    for path, handler in summary.failed_handlers:
        error = handler.error
        message = f"{error.type}: {error.message}" if error else "unknown error"
        title = f"{handler.name} failed in {_relative(base, path, '.')}"
        stream.write(workflow_command("error", message, title=title) + "\n")
    for path, message in summary.errors:
        title = f"corral: {_relative(base, path, '.')}"
        stream.write(workflow_command("error", message, title=title) + "\n")
    stream.write(summary_line(summary, action, elapsed, root) + "\n")
    return summary
