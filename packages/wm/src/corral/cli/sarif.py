"""``corral run --format sarif``: a run report as a SARIF 2.1.0 log (OASIS SARIF v2.1.0).

One SARIF ``run`` per tool (the ``source`` of the diagnostics and the keys of the
results' ``summary``; a tool that ran and found nothing still has its run), with the tool's
name and version as the driver, one rule per code (its ``helpUri`` the documentation URL
the tool gave), and one result per diagnostic: level from the severity, the message, a
physical location whose ``uri`` is relative to ``%SRCROOT%`` (the directory the paths are
shown relative to, ``originalUriBaseIds`` gives it as a ``file:`` URI) and a region with
1-based lines and columns, and the tool's fix when it gives one. Files a formatter would
rewrite (``edits`` no diagnostic reports) are results of the rule ``format``.

Columns are counted in UTF-16 code units (``columnKind: utf16CodeUnits``, what GitHub code
scanning expects): Corral's positions count code points, so a line holding a character
outside the Basic Multilingual Plane is read from the file to convert them (a file that
cannot be read keeps its code-point columns). Failures (a handler, a runner, a project's
configuration) make a run of the driver ``corral`` whose invocation did not succeed, with
one notification each; the exit code is the one of the text output.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from corral_protocol.client import ProjectReport, WorkspaceReport
from corral_protocol.results import Diagnostic, FileEdit, Fix, Position, Range, ToolResult

from .render import Summary, summarize, tool_result

__all__ = ["SARIF_SCHEMA", "SARIF_VERSION", "SRCROOT", "sarif_log"]

SARIF_VERSION: Final = "2.1.0"
SARIF_SCHEMA: Final = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT: Final = "%SRCROOT%"
FORMAT_RULE: Final = "format"
LEVELS: Final = {"error": "error", "warning": "warning", "information": "note", "hint": "note"}
_LINE_BREAK: Final = re.compile(r"\r\n|\r|\n")


class _Lines:
    """Lines of the files results point into, read once each and only when needed (a line
    holding an astral character); None for a file that cannot be read."""

    def __init__(self) -> None:
        self._files: dict[Path, list[str] | None] = {}

    def line(self, path: Path, number: int) -> str | None:
        if path not in self._files:
            try:
                text = path.read_text(encoding="utf-8", errors="surrogateescape")
            except OSError:
                self._files[path] = None
            else:
                self._files[path] = _LINE_BREAK.split(text)
        lines = self._files[path]
        if lines is None or number >= len(lines):
            return None
        return lines[number]


def utf16_column(line: str | None, character: int) -> int:
    """The 1-based UTF-16 column of code point ``character`` (0-based) of ``line``; the
    code-point column when the line is unknown."""
    if line is None or line.isascii():
        return character + 1
    prefix = line[:character]
    return character + 1 + sum(ord(c) > 0xFFFF for c in prefix)


@dataclass
class _Run:
    """The SARIF run of one tool, being built."""

    name: str
    version: str | None = None
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)

    def rule_index(self, code: str, url: str | None, *, description: str | None = None) -> int:
        if code not in self.rules:
            rule: dict[str, Any] = {"id": code}
            if url is not None:
                rule["helpUri"] = url
            if description is not None:
                rule["shortDescription"] = {"text": description}
            self.rules[code] = rule
        elif url is not None:
            self.rules[code].setdefault("helpUri", url)
        return list(self.rules).index(code)

    def sarif(self) -> dict[str, Any]:
        driver: dict[str, Any] = {"name": self.name}
        if self.version is not None:
            driver["version"] = self.version
        driver["rules"] = list(self.rules.values())
        return {"tool": {"driver": driver}, "results": self.results}


class _Builder:
    """Turns the projects' results into runs, one per tool (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runs: dict[str, _Run] = {}
        self.lines = _Lines()

    def run(self, tool: str) -> _Run:
        return self.runs.setdefault(tool, _Run(tool))

    def location(self, project: str, file: str) -> dict[str, Any]:
        path = Path(project, file)
        try:
            relative = path.relative_to(self.root)
        except ValueError:
            return {"uri": path.as_uri()}
        return {"uri": relative.as_posix(), "uriBaseId": SRCROOT}

    def region(self, path: Path, span: Range) -> dict[str, Any]:
        def column(position: Position) -> int:
            return utf16_column(self.lines.line(path, position.line), position.character)

        return {
            "startLine": span.start.line + 1,
            "startColumn": column(span.start),
            "endLine": span.end.line + 1,
            "endColumn": column(span.end),
        }

    def add(self, project: str, typed: ToolResult) -> None:
        for tool, summary in typed.summary.items():
            run = self.run(tool)
            if run.version is None and isinstance(summary.version, str):
                run.version = summary.version
        for diagnostic in typed.diagnostics:
            self.add_diagnostic(project, diagnostic)
        reported = {d.file for d in typed.diagnostics}
        formatter = next(iter(typed.summary)) if len(typed.summary) == 1 else "corral"
        for edit in typed.edits or []:
            if edit.file not in reported:
                self.add_edit(formatter, project, edit)

    def add_diagnostic(self, project: str, d: Diagnostic) -> None:
        run = self.run(d.source)
        path = Path(project, d.file)
        artifact = self.location(project, d.file)
        result: dict[str, Any] = {
            "level": LEVELS[d.severity],
            "message": {"text": d.message or d.code or d.source},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": artifact,
                        "region": self.region(path, d.range),
                    }
                }
            ],
        }
        if d.code:
            result["ruleId"] = d.code
            result["ruleIndex"] = run.rule_index(d.code, d.url if isinstance(d.url, str) else None)
        if isinstance(d.fix, Fix) and d.fix.edits:
            result["fixes"] = [self.fix(path, artifact, d.fix)]
        run.results.append(result)

    def fix(self, path: Path, artifact: dict[str, Any], fix: Fix) -> dict[str, Any]:
        replacements = [
            {"deletedRegion": self.region(path, e.range), "insertedContent": {"text": e.new_text}}
            for e in fix.edits
        ]
        out: dict[str, Any] = {
            "artifactChanges": [{"artifactLocation": artifact, "replacements": replacements}],
            "properties": {"applicability": fix.applicability},
        }
        if isinstance(fix.message, str):
            out["description"] = {"text": fix.message}
        return out

    def add_edit(self, tool: str, project: str, edit: FileEdit) -> None:
        run = self.run(tool)
        index = run.rule_index(FORMAT_RULE, None, description="File is not formatted")
        location = {"physicalLocation": {"artifactLocation": self.location(project, edit.file)}}
        run.results.append(
            {
                "ruleId": FORMAT_RULE,
                "ruleIndex": index,
                "level": "error",
                "message": {"text": "File would be reformatted"},
                "locations": [location],
            }
        )


def _failures(summary: Summary, root: Path) -> dict[str, Any] | None:
    """The ``corral`` run that reports the run's failures; None without any."""
    messages = [
        f"{_where(root, path)}: {h.name} failed: "
        + (f"{h.error.type}: {h.error.message}" if h.error else "unknown error")
        for path, h in summary.failed_handlers
    ]
    messages += [f"{_where(root, path)}: {message}" for path, message in summary.errors]
    if not messages:
        return None
    notifications = [{"level": "error", "message": {"text": text}} for text in messages]
    invocation = {"executionSuccessful": False, "toolExecutionNotifications": notifications}
    driver = {"name": "corral", "rules": []}
    return {"tool": {"driver": driver}, "invocations": [invocation], "results": []}


def _where(root: Path, project: str) -> str:
    try:
        return Path(project).relative_to(root).as_posix() or "."
    except ValueError:
        return project


def _reports(outcome: ProjectReport | WorkspaceReport) -> Iterable[ProjectReport]:
    return [outcome] if isinstance(outcome, ProjectReport) else outcome.projects


def sarif_log(outcome: ProjectReport | WorkspaceReport, *, root: Path) -> dict[str, Any]:
    """The SARIF 2.1.0 log of ``outcome``, paths relative to ``root`` (``%SRCROOT%``)."""
    builder = _Builder(root)
    for report in _reports(outcome):
        if report.status == "error":
            continue
        typed = tool_result(report.result)
        if typed is not None:
            builder.add(report.project, typed)
    base = {SRCROOT: {"uri": root.as_uri().rstrip("/") + "/"}}
    runs = []
    for tool in sorted(builder.runs):
        run = builder.runs[tool].sarif()
        run["originalUriBaseIds"] = base
        run["columnKind"] = "utf16CodeUnits"
        runs.append(run)
    failures = _failures(summarize(outcome), root)
    if failures is not None:
        runs.append(failures)
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": runs}
