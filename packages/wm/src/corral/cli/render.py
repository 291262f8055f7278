"""Human-readable output of the CLI: run results grouped by file, status tables.

Results of lint/format-family actions are :class:`~corral_protocol.results.ToolResult`
(SPEC.md §13; the WM has checked the shape): diagnostics are printed grouped by file with
1-based line:column (the JSON is 0-based), edits (or, with ``--diff``, their unified diffs)
and changed files one line each, then the tools' notes (dimmed), failures and one summary
line that counts findings, fixable ones and, after ``--fix``, fixed ones. Any other result
is printed as JSON, so a new action is never invisible. Colour comes from
:class:`~corral.cli.style.Style` (plain text when it is off).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TextIO

import msgspec
from corral_protocol.client import ProjectReport, RunnerSnapshot, WorkspaceReport
from corral_protocol.messages import HandlerOutcome
from corral_protocol.results import Diagnostic, Fix, ToolNote, ToolResult, as_tool_result

from ..errors import USER_FAULT_CODES
from .diff import edit_diff, styled_diff_line
from .style import Style, printable

__all__ = [
    "EXIT_FAILURE",
    "EXIT_FINDINGS",
    "EXIT_OK",
    "EXIT_USAGE",
    "RenderOptions",
    "Summary",
    "render_result",
    "render_status",
    "summarize",
    "summary_line",
    "tool_result",
]

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_FAILURE = 0, 1, 2, 3
USAGE_ERRORS: Final = frozenset({"UnsupportedParam"})
"""Handler error types that mean the command asked for something wrong (SPEC.md §13.7)."""
SHOWN_OUTPUT: Final = 20
"""Lines of handler output shown without ``-v``; the rest are counted."""
SHOWN_NOTES: Final = 10
"""Notes shown without ``-v`` (warnings and errors only); the rest are counted."""


@dataclass(frozen=True)
class RenderOptions:
    """How :func:`render_result` prints: colour, rule URLs, diffs, every note."""

    style: Style = field(default_factory=Style)
    show_urls: bool = False
    diff: bool = False
    """Print the unified diff of each edit instead of a "would reformat" line."""
    verbose: bool = False
    """Every note, ``info`` ones included, and no limit on how many."""


@dataclass
class Summary:
    """Counts that decide the exit code and the summary line."""

    projects: int = 0
    findings: int = 0
    files: set[str] = field(default_factory=set)
    fixable: int = 0
    """Findings with a safe fix (``fixable``)."""
    unsafe_fixable: int = 0
    """Findings whose only fix is an unsafe one."""
    fixed: int | None = None
    """Findings fixed in place; None when no tool fixed (no ``--fix``)."""
    notes: list[tuple[str, ToolNote]] = field(default_factory=list)
    failed_handlers: list[tuple[str, HandlerOutcome]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    usage_errors: int = 0
    """Projects that could not run because a configuration or the request is wrong."""
    skipped: list[str] = field(default_factory=list)
    """Projects that do not define the action."""
    reused: int = 0
    """Projects answered with a kept result: nothing their tools read had changed."""

    @property
    def exit_code(self) -> int:
        """2 a configuration or usage error anywhere (a handler refusing the params it was
        given included); 3 a handler, runner or env failed; 1 findings; 0 clean."""
        if self.usage_errors or any(
            h.error is not None and h.error.type in USAGE_ERRORS for _, h in self.failed_handlers
        ):
            return EXIT_USAGE
        if self.failed_handlers or self.errors:
            return EXIT_FAILURE
        return EXIT_FINDINGS if self.findings else EXIT_OK


def _rel(root: Path, project: str, file: str) -> str:
    """``project/file`` relative to ``root``, printable (a file name may hold anything)."""
    path = Path(project, file)
    try:
        return printable(os.path.relpath(path, root))
    except ValueError:
        return printable(str(path))


def _multiline(text: str) -> str:
    """``text`` printable line by line (its line breaks kept)."""
    return "\n".join(printable(line) for line in text.splitlines())


def tool_result(result: Any) -> ToolResult | None:
    """The result as a ToolResult; None for results of another shape (the WM has already
    failed runs whose result claims the shape and breaks it)."""
    try:
        return as_tool_result(result)
    except msgspec.ValidationError:
        return None


def _count(summary: Summary, path: str, typed: ToolResult) -> None:
    """Add one project's ToolResult to ``summary``. An edit counts as a finding unless a
    diagnostic already reports its file (check-format's edits asked for with ``diff``)."""
    reported = {d.file for d in typed.diagnostics}
    edits = [e.file for e in typed.edits or [] if e.file not in reported]
    summary.findings += len(typed.diagnostics) + len(edits)
    summary.files.update(f"{path}/{file}" for file in [*reported, *edits])
    summary.fixable += sum(d.fixable for d in typed.diagnostics)
    summary.unsafe_fixable += sum(
        not d.fixable and isinstance(d.fix, Fix) and d.fix.applicability == "unsafe"
        for d in typed.diagnostics
    )
    fixed = [s.fixed for s in typed.summary.values() if isinstance(s.fixed, int)]
    if fixed:
        summary.fixed = (summary.fixed or 0) + sum(fixed)
    summary.notes.extend((path, note) for note in typed.notes or [])


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
            if error is not None and error.code in USER_FAULT_CODES:
                summary.usage_errors += 1
            continue
        for handler in report.handlers:
            if handler.status == "failed":
                summary.failed_handlers.append((report.project, handler))
        typed = tool_result(report.result)
        if typed is not None:
            _count(summary, report.project, typed)
            tools = typed.summary.values()
            summary.reused += bool(tools) and all(tool.reused for tool in tools)
    return summary


def render_result(
    outcome: ProjectReport | WorkspaceReport,
    stream: TextIO,
    *,
    root: Path,
    action: str,
    elapsed: float | None = None,
    options: RenderOptions | None = None,
) -> Summary:
    """Print ``outcome`` for humans; return the summary (for the exit code)."""
    options = options or RenderOptions()
    style = options.style
    summary = summarize(outcome)
    for report in _reports(outcome):
        if report.status == "error":
            continue
        typed = tool_result(report.result)
        if typed is None:
            if report.result is not None:
                shown = printable(msgspec.json.encode(report.result).decode())
                stream.write(f"{_rel(root, report.project, '.')}: {shown}\n")
            continue
        _write_tool_result(stream, root, report.project, typed, options)
    _write_notes(stream, root, summary, options)
    _write_output(stream, root, outcome, options)
    for path, handler in summary.failed_handlers:
        error = handler.error
        kind = printable(error.type) if error else "Error"
        message = _multiline(error.message) if error else ""
        where = _rel(root, path, ".")
        stream.write(
            style("error:", "bold", "red")
            + f" {printable(handler.name)} failed in {where}: {kind}: {message}\n"
        )
    for path, message in summary.errors:
        text = f" {_rel(root, path, '.')}: {_multiline(message)}\n"
        stream.write(style("error:", "bold", "red") + text)
    stream.write(style(summary_line(summary, action, elapsed, root), "bold") + "\n")
    return summary


def _write_tool_result(
    stream: TextIO, root: Path, path: str, typed: ToolResult, options: RenderOptions
) -> None:
    style = options.style
    by_file: dict[str, list[Diagnostic]] = {}
    for diagnostic in typed.diagnostics:
        by_file.setdefault(diagnostic.file, []).append(diagnostic)
    for file in sorted(by_file):
        stream.write(style(_rel(root, path, file), "bold") + "\n")
        for d in sorted(by_file[file], key=_position):
            stream.write(_diagnostic_line(d, options))
    for edit in typed.edits or []:
        label = _rel(root, path, edit.file)
        if not options.diff:
            stream.write(f"would reformat {label}\n")
            continue
        diff = edit_diff(Path(path, edit.file), label, edit)
        if diff.problem is not None:
            stream.write(f"would reformat {label} ({diff.problem})\n")
        for line in diff.lines:
            stream.write(styled_diff_line(printable(line), style) + "\n")
    fixing = any(isinstance(s.fixed, int) for s in typed.summary.values())
    for changed in typed.changed or []:
        verb = "fixed" if fixing else "reformatted"
        stream.write(f"{verb} {_rel(root, path, changed)}\n")


def _diagnostic_line(d: Diagnostic, options: RenderOptions) -> str:
    """``  line:col  CODE message [*]`` (continuation lines of the message indented), and
    with ``--show-urls`` the rule's documentation below it."""
    style = options.style
    start = d.range.start
    where = style(f"{start.line + 1}:{start.character + 1}", "dim")
    code = style(printable(d.code), "bold", style.severity(d.severity)) + " " if d.code else ""
    first, *more = [printable(line) for line in d.message.splitlines()] or [""]
    fix = " " + style("[*]", "cyan") if d.fixable else ""
    text = f"  {where}  {code}{first}{fix}\n"
    text += "".join(f"      {line}\n" for line in more)
    if options.show_urls and isinstance(d.url, str):
        text += "      " + style(printable(d.url), "dim") + "\n"
    return text


def _write_notes(stream: TextIO, root: Path, summary: Summary, options: RenderOptions) -> None:
    """The tools' notes, dimmed: warnings and errors (at most :data:`SHOWN_NOTES`), or
    every note with ``verbose``; a line counts the ones left out. In a run of several
    projects each note names its project."""
    notes = summary.notes
    shown = notes if options.verbose else [n for n in notes if n[1].level != "info"]
    shown = shown if options.verbose else shown[:SHOWN_NOTES]
    for path, note in shown:
        where = f"{_rel(root, path, '.')}: " if summary.projects > 1 else ""
        first, *more = [printable(line) for line in note.message.splitlines()] or [""]
        source = printable(note.source)
        lines = [f"note: {where}{source}: {note.level}: {first}", *(f"  {m}" for m in more)]
        stream.write("".join(options.style(line, "dim") + "\n" for line in lines))
    hidden = len(notes) - len(shown)
    if hidden:
        text = f"note: {hidden} more note{'s' if hidden != 1 else ''} (-v shows every note)"
        stream.write(options.style(text, "dim") + "\n")


def _write_output(
    stream: TextIO, root: Path, outcome: ProjectReport | WorkspaceReport, options: RenderOptions
) -> None:
    """What the handlers printed and logged, dimmed, after the findings: at most
    :data:`SHOWN_OUTPUT` lines (every line with ``verbose``); a line counts the rest."""
    records = [r for report in _reports(outcome) for r in report.output]
    dropped = sum(report.output_dropped for report in _reports(outcome))
    if isinstance(outcome, WorkspaceReport):
        records += outcome.output
        dropped = outcome.output_dropped
    lines: list[str] = []
    several = isinstance(outcome, WorkspaceReport) and len(outcome.projects) > 1
    for record in records:
        where = f"{_rel(root, record.project, '.')}: " if several else ""
        label = record.level if record.stream == "log" and isinstance(record.level, str) else ""
        prefix = f"{where}{record.stream}{' ' + label if label else ''}: "
        lines += [prefix + printable(line) for line in record.text.splitlines()]
    shown = lines if options.verbose else lines[:SHOWN_OUTPUT]
    for line in shown:
        stream.write(options.style(f"output: {line}", "dim") + "\n")
    hidden = len(lines) - len(shown)
    if hidden or dropped:
        parts = []
        if hidden:
            parts.append(f"{hidden} more line{'s' if hidden != 1 else ''} (-v shows them)")
        if dropped:
            parts.append(f"{dropped} output record{'s' if dropped != 1 else ''} over the bound")
        stream.write(options.style("output: " + "; ".join(parts), "dim") + "\n")


def _position(diagnostic: Diagnostic) -> tuple[int, int]:
    return diagnostic.range.start.line, diagnostic.range.start.character


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def summary_line(summary: Summary, action: str, elapsed: float | None, root: Path) -> str:
    """e.g. ``lint: 3 findings in 2 files, 1 fixable with --fix (2 projects, 0.41 s)``, or
    after ``--fix``: ``lint: fixed 2, 1 remaining in 1 file (1 project, 0.52 s)``."""
    if summary.fixed is not None:
        text = f"{action}: fixed {summary.fixed}, {summary.findings} remaining"
    else:
        text = f"{action}: {_plural(summary.findings, 'finding')}"
    if summary.files:
        text += f" in {_plural(len(summary.files), 'file')}"
    hint = " with --fix" if action == "lint" else ""
    if summary.fixable and summary.fixed is None:
        text += f", {summary.fixable} fixable{hint}"
    if summary.unsafe_fixable and hint:
        more = "more " if summary.fixable and summary.fixed is None else ""
        text += f", {summary.unsafe_fixable} {more}with --fix --unsafe-fixes"
    text += f" ({_plural(summary.projects, 'project')}"
    if summary.reused:
        text += f", {summary.reused} unchanged since last run"
    if elapsed is not None:
        text += f", {elapsed:.2f} s"
    text += ")"
    failures = len(summary.failed_handlers) + len(summary.errors)
    if failures:
        text += f"; {_plural(failures, 'failure')}"
    if summary.skipped:
        names = ", ".join(_rel(root, p, ".") for p in summary.skipped)
        text += f"; skipped {_plural(len(summary.skipped), 'project')} without {action}: {names}"
    return text


def render_status(statuses: Iterable[RunnerSnapshot], stream: TextIO, *, root: Path) -> None:
    """A table: project, env, state, pid, uptime, restarts, last error."""
    rows = [("PROJECT", "ENV", "STATE", "PID", "UPTIME", "RESTARTS", "NOTE")]
    for status in statuses:
        rows.append(
            (
                _rel(root, status.project, "."),
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
