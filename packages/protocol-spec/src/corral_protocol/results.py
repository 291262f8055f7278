"""The standard result shapes of the lint/format family of actions (SPEC.md §13).

An action's result is any JSON value (``actions/run``'s ``result``); actions that report
findings about files or rewrite them (``lint``, ``format``, ``check-format``,
``type-check``...) return a :class:`ToolResult`, so that every front end (CLI text and JSON,
LSP, MCP, SARIF) understands every such action without knowing the tool behind it, and so
that the results of handlers that run together merge into one (SPEC.md §9.4: arrays
concatenated, objects merged — ``diagnostics`` lists join, ``summary`` tables gain one key
per tool).

Positions are LSP-shaped and **0-based**: ``line`` counts lines, ``character`` counts Unicode
code points from the start of the line (not bytes, not UTF-16 code units). Front ends that
show 1-based positions (the CLI's text output) add one; the LSP front end converts
characters to the client's position encoding with the document's text.

Each class mirrors the JSON Schema of the same title (``schemas/*.json``);
``tests/test_types_match_schemas.py`` proves they agree.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from .messages import NonEmptyStr, NonNegativeInt

__all__ = [
    "RESULT_KEYS",
    "Applicability",
    "Diagnostic",
    "DiagnosticTag",
    "FileEdit",
    "Fix",
    "NoteLevel",
    "Position",
    "Range",
    "Severity",
    "TextEdit",
    "ToolNote",
    "ToolResult",
    "ToolSummary",
    "as_tool_result",
]

Severity = Literal["error", "warning", "information", "hint"]
"""LSP's four severities, spelled out."""
DiagnosticTag = Literal["unnecessary", "deprecated"]
"""LSP's diagnostic tags: code that is unused, or uses something deprecated."""
Applicability = Literal["safe", "unsafe", "display-only"]
"""How sure the tool is of a fix: ``safe`` keeps the program's meaning, ``unsafe`` may not,
``display-only`` is shown but never applied automatically."""
NoteLevel = Literal["info", "warning", "error"]
Sha256Hex = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]


class _Shape(msgspec.Struct, rename="camel", omit_defaults=True, frozen=True):
    """Base of the result shapes: camelCase on the wire, defaults left out, immutable."""


RESULT_KEYS: Final = frozenset({"diagnostics", "edits", "changed", "summary", "notes"})
"""Members of a :class:`ToolResult`: an object result with one of them claims the shape."""


class Position(_Shape, frozen=True):
    """A 0-based line and character (Unicode code points) in a file."""

    line: NonNegativeInt
    character: NonNegativeInt


class Range(_Shape, frozen=True):
    """A span of a file: ``start`` inclusive, ``end`` exclusive."""

    start: Position
    end: Position

    @classmethod
    def at(cls, position: Position) -> Range:
        """The empty range at ``position``."""
        return cls(start=position, end=position)


class TextEdit(_Shape, frozen=True):
    """Replace ``range`` of a file's text with ``new_text`` (``newText`` on the wire)."""

    range: Range
    new_text: str


class Fix(_Shape, frozen=True):
    """A tool's own fix for one diagnostic: edits to the diagnostic's file, non-overlapping."""

    applicability: Applicability
    edits: list[TextEdit]
    message: str | UnsetType = UNSET
    """What the fix does, e.g. ``Remove unused import: `os` ``."""


class Diagnostic(_Shape, frozen=True):
    """One finding of a tool about one file.

    ``file`` is relative to the project with ``/`` separators (absolute only for a file
    outside the project). ``fixable`` is true when ``fix`` holds a fix the tool would apply
    by itself (a safe one); ``url`` documents the rule.
    """

    file: NonEmptyStr
    range: Range
    code: str | None
    message: str
    severity: Severity
    source: NonEmptyStr
    fixable: bool
    url: str | UnsetType = UNSET
    tags: list[DiagnosticTag] | UnsetType = UNSET
    fix: Fix | UnsetType = UNSET


class FileEdit(_Shape, frozen=True):
    """A file's new text in full. ``original`` is the SHA-256 (hex) of the bytes the tool
    read, so whoever applies the edit can check the file has not changed since."""

    file: NonEmptyStr
    original: Sha256Hex
    formatted: str


class ToolSummary(_Shape, frozen=True):
    """What one tool did, under its name in :attr:`ToolResult.summary`. Every count is
    optional: a tool reports the ones that mean something for it."""

    findings: NonNegativeInt | UnsetType = UNSET
    fixable: NonNegativeInt | UnsetType = UNSET
    fixed: NonNegativeInt | UnsetType = UNSET
    """Findings the tool fixed in place (``lint`` with ``fix``)."""
    files: NonNegativeInt | UnsetType = UNSET
    changed: NonNegativeInt | UnsetType = UNSET
    errors: NonNegativeInt | UnsetType = UNSET
    """Findings of severity ``error`` (a formatter: files it could not format)."""
    reused: bool = False
    """True when the tool did not run: nothing it reads changed since this result was made."""
    version: NonEmptyStr | UnsetType = UNSET


class ToolNote(_Shape, frozen=True):
    """Something a tool said that is not a finding (a deprecated setting, an invalid
    suppression comment...): shown to the user, never counted as a finding."""

    source: NonEmptyStr
    level: NoteLevel
    message: str


class ToolResult(_Shape, frozen=True):
    """The result of a lint/format-family action (see the module docstring)."""

    diagnostics: list[Diagnostic]
    summary: dict[str, ToolSummary]
    """One entry per tool that ran (or was asked to), keyed by the tool's name."""
    edits: list[FileEdit] | UnsetType = UNSET
    """``format`` without writing: one full-text edit per file that would change."""
    changed: list[str] | UnsetType = UNSET
    """``format`` with writing (or ``lint`` with fixing): the files rewritten."""
    notes: list[ToolNote] | UnsetType = UNSET


def as_tool_result(result: object) -> ToolResult | None:
    """``result`` as a :class:`ToolResult` if it claims the shape (an object with one of
    :data:`RESULT_KEYS`), else None. Raises :class:`msgspec.ValidationError` (naming the
    path at fault, e.g. ``$.diagnostics[3].range``) when it claims the shape but breaks it."""
    if isinstance(result, ToolResult):
        return result
    if not isinstance(result, dict) or RESULT_KEYS.isdisjoint(result):
        return None
    return msgspec.convert(result, ToolResult)
