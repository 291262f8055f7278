"""A tool's standard error as :class:`~corral_protocol.results.ToolNote` (SPEC.md §13.6).

ruff and mypy report findings on stdout (JSON) and say everything else on stderr: a removed
rule in the configuration, an invalid ``# noqa`` comment, deprecated or unknown settings. A
handler that succeeds returns those messages as ``notes``, never drops them.

How stderr is split (the shape both tools use):

* a line that starts without indentation starts a message; indented and blank lines
  continue the one before (ruff lists rules and settings on indented lines below its
  warning);
* a leading ``warning:``, ``error:`` or ``note:``/``info:``/``hint:`` (any case) gives the
  level and is removed; a message without one is a ``warning`` (mypy's ``pyproject.toml:
  [mypy]: Unrecognized option: ...``);
* ANSI colour codes are removed (a tool may colour stderr when forced to), bytes that are
  not UTF-8 are replaced, repeated messages are kept once (ruff's fix loop repeats its
  warnings);
* at most :data:`MAX_NOTES` notes of at most :data:`MAX_NOTE_CHARS` characters each; past
  that, one more note says how many messages were not shown.
"""

from __future__ import annotations

import re
from typing import Final

from corral_protocol.results import NoteLevel, ToolNote

__all__ = ["MAX_NOTES", "MAX_NOTE_CHARS", "tool_notes"]

MAX_NOTES: Final = 100
MAX_NOTE_CHARS: Final = 4000

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_PREFIX = re.compile(r"(?i)^(warning|error|note|info|hint)\s*:\s*")
_LEVELS: dict[str, NoteLevel] = {
    "warning": "warning",
    "error": "error",
    "note": "info",
    "info": "info",
    "hint": "info",
}


def _messages(text: str) -> list[list[str]]:
    """Lines grouped into messages: an unindented line starts one."""
    messages: list[list[str]] = []
    for line in text.splitlines():
        if line.strip() and not line[:1].isspace():
            messages.append([line])
        elif messages:
            messages[-1].append(line)
    return messages


def _note(source: str, lines: list[str]) -> ToolNote:
    first = lines[0]
    level: NoteLevel = "warning"
    prefix = _PREFIX.match(first)
    if prefix is not None:
        level = _LEVELS[prefix.group(1).lower()]
        first = first[prefix.end() :]
    message = "\n".join([first, *lines[1:]]).rstrip()
    if len(message) > MAX_NOTE_CHARS:
        message = message[:MAX_NOTE_CHARS] + " [truncated]"
    return ToolNote(source=source, level=level, message=message)


def tool_notes(source: str, *stderr: bytes) -> list[ToolNote]:
    """What ``source`` (the tool's name) wrote on ``stderr`` (of one or more runs of it,
    whose repeated messages are kept once), as notes (see the module docstring); an empty
    list when it wrote nothing but whitespace."""
    text = _ANSI.sub("", b"\n".join(stderr).decode(errors="replace"))
    notes: list[ToolNote] = []
    seen: set[tuple[str, str]] = set()
    hidden = 0
    for lines in _messages(text):
        note = _note(source, lines)
        if (note.level, note.message) in seen:
            continue
        seen.add((note.level, note.message))
        if len(notes) < MAX_NOTES:
            notes.append(note)
        else:
            hidden += 1
    if hidden:
        notes.append(
            ToolNote(
                source=source,
                level="warning",
                message=f"{hidden} more messages on stderr not shown",
            )
        )
    return notes
