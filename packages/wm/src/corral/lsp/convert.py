"""Corral's results as LSP values, and back (sans-I/O: text in, values out).

Corral's positions count Unicode code points (SPEC.md §13.1); an LSP client counts in its
negotiated position encoding (UTF-16 unless it said otherwise). :class:`Text` holds a
document's text once split into lines and converts positions either way, clamping what a
client sends that lies outside the text (a line past the end, a character past the end of
its line, half of a surrogate pair) to the nearest real position instead of failing.
"""

from __future__ import annotations

import bisect
import difflib
from collections.abc import Mapping
from typing import Any, Final

from corral_protocol.results import Diagnostic, FileEdit, Fix, ToolResult
from lsprotocol import types

__all__ = [
    "SEVERITIES",
    "Text",
    "edit_for",
    "fix_edits",
    "in_range",
    "minimal_edits",
    "to_lsp_diagnostic",
    "tool_result",
]

SEVERITIES: Final[Mapping[str, types.DiagnosticSeverity]] = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "information": types.DiagnosticSeverity.Information,
    "hint": types.DiagnosticSeverity.Hint,
}
TAGS: Final = {
    "unnecessary": types.DiagnosticTag.Unnecessary,
    "deprecated": types.DiagnosticTag.Deprecated,
}


def _units(text: str, encoding: str) -> int:
    if encoding == types.PositionEncodingKind.Utf32:
        return len(text)
    if encoding == types.PositionEncodingKind.Utf8:
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


class Text:
    """A document's text, split into lines (``\\n``, ``\\r\\n``, ``\\r``), converting
    positions between code points (Corral) and the client's ``encoding``."""

    def __init__(self, source: str, encoding: str = types.PositionEncodingKind.Utf16) -> None:
        self.source = source
        self.encoding = encoding
        self.lines = source.splitlines(keepends=True) or [""]
        if source.endswith(("\n", "\r")):
            self.lines.append("")
        self.starts = [0]
        for line in self.lines[:-1]:
            self.starts.append(self.starts[-1] + len(line))

    def _content(self, line: int) -> str:
        return self.lines[line].rstrip("\r\n")

    # --- Corral (code points) -> client --------------------------------------------------

    def to_client(self, line: int, character: int) -> types.Position:
        """A code-point position as the client's (clamped into the text)."""
        if line >= len(self.lines):
            return types.Position(line=len(self.lines) - 1, character=self._end_units(-1))
        line = max(line, 0)
        content = self._content(line)
        return types.Position(
            line=line, character=_units(content[: max(character, 0)], self.encoding)
        )

    def _end_units(self, line: int) -> int:
        return _units(self._content(line), self.encoding)

    def range_to_client(self, start: tuple[int, int], end: tuple[int, int]) -> types.Range:
        return types.Range(start=self.to_client(*start), end=self.to_client(*end))

    # --- client -> offsets ------------------------------------------------------------------

    def offset(self, position: types.Position) -> int:
        """The code-point offset into :attr:`source` of a client position (clamped: past the
        last line is the end of the text, past a line's end is that end, inside a
        character's code units is that character's start)."""
        if position.line < 0:
            return 0
        if position.line >= len(self.lines):
            return len(self.source)
        content = self._content(position.line)
        wanted = max(position.character, 0)
        used = 0
        index = 0
        for char in content:
            width = _units(char, self.encoding)
            if used + width > wanted:
                break
            used += width
            index += 1
        return self.starts[position.line] + index

    def position_at(self, offset: int) -> types.Position:
        """The client position of a code-point offset."""
        offset = min(max(offset, 0), len(self.source))
        line = bisect.bisect_right(self.starts, offset) - 1
        return self.to_client(line, offset - self.starts[line])

    def code_point_offset(self, line: int, character: int) -> int:
        """The offset of a Corral (code point) position, clamped into the text."""
        if line >= len(self.lines):
            return len(self.source)
        line = max(line, 0)
        return self.starts[line] + min(max(character, 0), len(self._content(line)))


def to_lsp_diagnostic(
    diagnostic: Diagnostic,
    text: Text,
    *,
    severities: Mapping[str, str] | None = None,
) -> types.Diagnostic:
    """One Corral diagnostic as LSP's, for the document whose text is ``text``.

    ``severities`` overrides the severity by rule code or by source (the code wins).
    ``data`` keeps the tool's fix for code actions."""
    severity = diagnostic.severity
    if severities:
        severity = severities.get(
            diagnostic.code or "", severities.get(diagnostic.source, severity)
        )  # type: ignore[assignment]
    rng = diagnostic.range
    url = diagnostic.url if isinstance(diagnostic.url, str) else None
    tags = [TAGS[t] for t in diagnostic.tags] if isinstance(diagnostic.tags, list) else None
    data: dict[str, Any] = {"fixable": diagnostic.fixable}
    if isinstance(diagnostic.fix, Fix):
        data["fix"] = _fix_data(diagnostic.fix)
    return types.Diagnostic(
        range=text.range_to_client(
            (rng.start.line, rng.start.character), (rng.end.line, rng.end.character)
        ),
        message=diagnostic.message,
        severity=SEVERITIES.get(severity, types.DiagnosticSeverity.Warning),
        code=diagnostic.code,
        code_description=types.CodeDescription(href=url) if url else None,
        source=diagnostic.source,
        tags=tags or None,
        data=data,
    )


def _fix_data(fix: Fix) -> dict[str, Any]:
    return {
        "applicability": fix.applicability,
        "message": fix.message if isinstance(fix.message, str) else None,
        "edits": [
            [
                e.range.start.line,
                e.range.start.character,
                e.range.end.line,
                e.range.end.character,
                e.new_text,
            ]
            for e in fix.edits
        ],
    }


def fix_edits(data: Any, text: Text) -> list[types.TextEdit] | None:
    """The client edits of a fix kept in a diagnostic's ``data`` (None: no usable fix)."""
    if not isinstance(data, dict) or not isinstance(data.get("fix"), dict):
        return None
    edits = []
    for entry in data["fix"].get("edits", []):
        try:
            line, character, end_line, end_character, new_text = entry
            start = text.code_point_offset(int(line), int(character))
            end = text.code_point_offset(int(end_line), int(end_character))
        except (TypeError, ValueError):
            return None
        edits.append(
            types.TextEdit(
                range=types.Range(start=text.position_at(start), end=text.position_at(end)),
                new_text=str(new_text),
            )
        )
    return edits


def minimal_edits(text: Text, new: str) -> list[types.TextEdit]:
    """Edits turning ``text`` into ``new``: one per changed run of lines (unchanged lines
    are never touched, so the client keeps its cursor and marks there)."""
    old_lines = text.source.splitlines(keepends=True)
    new_lines = new.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    offsets = [0]
    for line in old_lines:
        offsets.append(offsets[-1] + len(line))
    edits = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        edits.append(
            types.TextEdit(
                range=types.Range(
                    start=text.position_at(offsets[i1]), end=text.position_at(offsets[i2])
                ),
                new_text="".join(new_lines[j1:j2]),
            )
        )
    return edits


def tool_result(result: Any) -> ToolResult | None:
    """A run's merged result as a ToolResult (None: not one)."""
    import msgspec  # noqa: PLC0415

    if not isinstance(result, dict):
        return None
    try:
        return msgspec.convert(result, ToolResult)
    except msgspec.ValidationError:
        return None


def edit_for(result: ToolResult, relative: str) -> FileEdit | None:
    """The whole-file edit of ``relative`` in ``result``, if any."""
    for edit in result.edits or []:
        if edit.file == relative:
            return edit
    return None


def in_range(edit: types.TextEdit, window: types.Range) -> bool:
    """Whether ``edit`` lies within the lines of ``window`` (range formatting)."""
    return edit.range.start.line >= window.start.line and edit.range.end.line <= window.end.line + 1
