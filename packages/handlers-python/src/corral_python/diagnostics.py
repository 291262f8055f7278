"""The result shapes shared by every handler of this package.

Every handler returns an object with the top-level keys ``diagnostics`` (an array) and
``summary`` (an object keyed by tool), so that when several handlers of one action run
concurrently, the runner's deep merge (SPEC.md §9.4: objects merged, arrays concatenated)
yields one list of diagnostics and one summary table per tool.

A :class:`Diagnostic` is LSP-shaped: ``file`` is relative to the project with POSIX
separators (absolute only for a file outside the project), and ``range`` holds 0-based
``line`` and ``character`` positions, the end being exclusive. ``character`` counts what the
tool counts (ruff: Unicode code points; mypy: its own column, the same on ASCII lines).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import msgspec

__all__ = [
    "Diagnostic",
    "Position",
    "Range",
    "Severity",
    "project_relative",
    "sort_diagnostics",
]

Severity = Literal["error", "warning", "information", "hint"]
"""LSP's four severities, spelled out."""


class Position(msgspec.Struct, frozen=True):
    """A 0-based line and character in a file."""

    line: int
    character: int


ORIGIN = Position(line=0, character=0)


class Range(msgspec.Struct, frozen=True):
    """A span of a file: ``start`` inclusive, ``end`` exclusive."""

    start: Position
    end: Position

    @classmethod
    def at(cls, position: Position) -> Range:
        """The empty range at ``position``."""
        return cls(start=position, end=position)


FILE_START = Range.at(ORIGIN)
"""The empty range at the top of a file (findings about a whole file)."""


class Diagnostic(msgspec.Struct, frozen=True, omit_defaults=True):
    """One finding of a tool. ``url`` is omitted when the tool gives none."""

    file: str
    range: Range
    code: str | None
    message: str
    severity: Severity
    source: str
    fixable: bool
    url: str | None = None


def project_relative(project: Path, filename: str) -> str:
    """``filename`` (absolute, or relative to the project) relative to ``project``.

    Returns a POSIX path; a file outside the project keeps its absolute path. Symlinks in
    the project path are tolerated (a tool may report the resolved or the given spelling).
    """
    path = Path(os.path.normpath(project / filename))
    if path.is_relative_to(project):  # the usual case: no file system access
        return path.relative_to(project).as_posix()
    resolved_project = project.resolve()
    if resolved_project != project and path.is_relative_to(resolved_project):
        return path.relative_to(resolved_project).as_posix()
    resolved = path.resolve()
    if resolved.is_relative_to(resolved_project):
        return resolved.relative_to(resolved_project).as_posix()
    return path.as_posix()


def sort_diagnostics(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Diagnostics in a stable order: by file, then position (ties keep the tool's order)."""
    return sorted(
        diagnostics,
        key=lambda d: (d.file, d.range.start.line, d.range.start.character),
    )
