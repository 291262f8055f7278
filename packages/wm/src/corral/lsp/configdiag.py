"""A configuration error as a diagnostic on the configuration file, at the key at fault.

Embedded, the error is a :class:`~corral.config.ConfigError` with ``file``, ``key`` and a
TOML syntax error's ``line``/``column``; from a server, only its message
(``<file>[:<line>:<column>]: <key>: expected ..., found ...``, the file relative to the
workspace root). Either way the key is looked up in the file's text: the line that assigns
its last part (after the table header of the part before it, when there is one), else the
table header naming it, else the file's first line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.uris import from_fs_path

from .wm import Workspaces

__all__ = ["config_diagnostic", "key_line"]

_WHERE = re.compile(r"^(?P<file>[^:]+?)(?::(?P<line>\d+):(?P<column>\d+))?$")
_PRESET = re.compile(r"^preset \"[^\"]*\" \((?P<inner>.*)\)$")


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_SEGMENT = re.compile(r'("[^"]*"|[^.\[\]]+)(?:\[(\d+)\])?')


def _segments(key: str) -> list[tuple[str, int | None]]:
    """``a.b[2].c`` -> ``[("a", None), ("b", 2), ("c", None)]`` (quotes removed)."""
    return [
        (name.strip().strip('"'), int(index) if index else None)
        for name, index in _SEGMENT.findall(key)
    ]


def _headers(lines: list[str]) -> list[tuple[int, str]]:
    """(line number, dotted table name) of every table header."""
    found = []
    for number, line in enumerate(lines):
        match = _HEADER.match(line)
        if match is not None:
            name = ".".join(p.strip().strip('"') for p in match.group(2).split("."))
            found.append((number, name))
    return found


def key_line(text: str, key: str) -> int:
    """The 0-based line of ``text`` (TOML) where ``key`` (a dotted path with array
    indices) is set: the assignment of its first part below the deepest table header
    it lies in (the n-th one for ``[[array]]`` tables), else that header, else line 0."""
    segments = _segments(key)
    if not segments:
        return 0
    lines = text.splitlines()
    headers = _headers(lines)
    start, end, used = 0, len(lines), 0
    for depth in range(len(segments), 0, -1):
        name = ".".join(n for n, _ in segments[:depth])
        index = segments[depth - 1][1] or 0
        matches = [number for number, header in headers if header == name]
        if len(matches) > index:
            start = matches[index]
            later = [number for number, _ in headers if number > start]
            end = later[0] if later else len(lines)
            used = depth
            break
    if used == len(segments):
        return start
    wanted = segments[used][0]
    assign = re.compile(rf'^\s*"?{re.escape(wanted)}"?\s*[.=]')
    for number in range(start + (1 if used else 0), end):
        if assign.match(lines[number]):
            return number
    return start


def _located(error: Any, workspaces: Workspaces) -> tuple[Path, str, int | None] | None:
    file = getattr(error, "file", None)
    if isinstance(file, Path):
        return file, str(getattr(error, "key", "")), getattr(error, "line", None)
    parts = str(error).split(": ")
    if len(parts) < 2:
        return None
    where = parts[0]
    preset = _PRESET.match(where)
    if preset is not None:
        where = preset.group("inner")
    match = _WHERE.match(where)
    if match is None:
        return None
    key = parts[1] if len(parts) > 2 and not parts[1].startswith("expected") else ""
    line = int(match.group("line")) if match.group("line") else None
    for root in [*workspaces.links, *workspaces.folders]:
        candidate = root / match.group("file")
        if candidate.is_file():
            return candidate, key, line
    return None


def config_diagnostic(error: Any, workspaces: Workspaces) -> tuple[str, types.Diagnostic] | None:
    """The (uri, diagnostic) of a configuration error, or None when its file is unknown."""
    found = _located(error, workspaces)
    if found is None:
        return None
    path, key, line = found
    if line is not None:
        number = max(line - 1, 0)
    else:
        try:
            number = key_line(path.read_text(encoding="utf-8"), key)
        except (OSError, UnicodeDecodeError):
            number = 0
    uri = from_fs_path(str(path))
    if uri is None:
        return None
    position = types.Range(
        start=types.Position(line=number, character=0),
        end=types.Position(line=number + 1, character=0),
    )
    diagnostic = types.Diagnostic(
        range=position,
        message=str(error),
        severity=types.DiagnosticSeverity.Error,
        source="corral",
        code="config",
    )
    return uri, diagnostic
