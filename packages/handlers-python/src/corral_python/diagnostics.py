"""Helpers for the standard result shapes every handler of this package returns.

Every handler returns a :class:`corral_protocol.results.ToolResult` (SPEC.md §13): the
``diagnostics`` and a ``summary`` keyed by tool, so that when several handlers of one action
run concurrently, the runner's deep merge (SPEC.md §9.4) yields one list of diagnostics and
one summary table per tool. Positions are 0-based, characters in Unicode code points (what
ruff and mypy count, 1-based).
"""

from __future__ import annotations

import os
from pathlib import Path

from corral_protocol.results import Diagnostic, Position, Range

__all__ = [
    "FILE_START",
    "ORIGIN",
    "project_relative",
    "sort_diagnostics",
]

ORIGIN = Position(line=0, character=0)
FILE_START = Range.at(ORIGIN)
"""The empty range at the top of a file (findings about a whole file)."""


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
