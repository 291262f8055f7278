"""The one configuration error type, and the helpers that make its message precise.

Contract: every problem in a configuration file (Corral's ``[tool.corral]`` table, a
``corral.toml``, a preset's ``preset.toml``, a PEP 735 ``[dependency-groups]`` entry, or the
TOML syntax of any of them) is reported as a :class:`ConfigError` naming the file, the key
path, what was found and what was expected, optionally with a hint.
"""

from __future__ import annotations

import datetime
import difflib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from corral.errors import CorralError

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_MAX_FOUND = 60


class ConfigError(CorralError):
    """A configuration file says something Corral cannot use.

    Attributes:
        file: the absolute path of the file at fault.
        key: the dotted TOML key path with array indices, for example
            ``tool.corral.actions.lint.handlers[0].env``; ``""`` when the fault is the file as
            a whole (a TOML syntax error, an unreadable file, a directory that is no project).
        found: a short description of what was there (``42 (int)``, ``nothing``, ...).
        expected: what would have been accepted (``a string``, ...).
        hint: a suggestion for a common mistake (``did you mean "actions"?``), or None.
        display: how the message names the file: its path relative to the workspace root
            when that is known, else its file name.
        preset: the preset's name when the file belongs to a preset, else None.
        line, column: the 1-based position of a TOML syntax error, else None.

    ``str(error)`` is ``<where>: <key>: expected <expected>, found <found>`` followed by
    `` (<hint>)`` when there is one; ``<where>`` is the display name (``file:line:column``
    for syntax errors, ``preset "name" (file)`` for presets) and ``<key>: `` is left out
    when the key is empty.
    """

    user_fault = True

    def __init__(
        self,
        file: Path,
        key: str,
        *,
        found: str,
        expected: str,
        hint: str | None = None,
        display: str | None = None,
        preset: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.file = file
        self.key = key
        self.found = found
        self.expected = expected
        self.hint = hint
        self.display = display if display is not None else file.name
        self.preset = preset
        self.line = line
        self.column = column
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.display
        if self.line is not None:
            where = f"{where}:{self.line}:{self.column if self.column is not None else 1}"
        if self.preset is not None:
            where = f"preset {json.dumps(self.preset)} ({where})"
        parts = [where]
        if self.key:
            parts.append(self.key)
        message = ": ".join(parts) + f": expected {self.expected}, found {self.found}"
        if self.hint:
            message += f" ({self.hint})"
        return message

    def __str__(self) -> str:
        return self._render()

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by keyword arguments (the default would call ``__init__`` with the message)."""
        return (_rebuild, (self.__dict__.copy(),))


def _rebuild(state: dict[str, Any]) -> ConfigError:
    file, key = state.pop("file"), state.pop("key")
    return ConfigError(file, key, **state)


def format_key(name: str) -> str:
    """One TOML key as written in a dotted path: bare when possible, else quoted."""
    return name if _BARE_KEY.fullmatch(name) else json.dumps(name)


def child_key(parent: str, name: str) -> str:
    """The key path of ``name`` inside the table at ``parent`` (``""`` is the top level)."""
    return f"{parent}.{format_key(name)}" if parent else format_key(name)


def index_key(parent: str, index: int) -> str:
    """The key path of item ``index`` of the array at ``parent``."""
    return f"{parent}[{index}]"


def render_value(value: Any) -> str:
    """A compact TOML-like rendering of a parsed TOML value (strings in double quotes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        inner = ", ".join(f"{format_key(str(k))} = {render_value(v)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(render_value(v) for v in value) + "]"
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return repr(value)


def type_name(value: Any) -> str:
    """The name a message uses for a value's type: Python's for scalars, TOML's for containers."""
    if isinstance(value, dict):
        return "table"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, datetime.datetime):
        return "datetime"
    if isinstance(value, datetime.date):
        return "date"
    if isinstance(value, datetime.time):
        return "time"
    return type(value).__name__


def describe(value: Any) -> str:
    """What a message says was found: a value shortened to ~60 characters, then its type.

    For example ``42 (int)``, ``"ruff" (str)``, ``["E", "F"] (array)``.
    """
    text = render_value(value)
    if len(text) > _MAX_FOUND:
        text = text[: _MAX_FOUND - 1] + "…"
    return f"{text} ({type_name(value)})"


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """``did you mean "x"?`` for the closest candidate (difflib), or None if none is close."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"did you mean {json.dumps(matches[0])}?" if matches else None


def one_of(choices: Iterable[str]) -> str:
    """``one of "a", "b"``: the expected-text for an enumeration of string values."""
    return "one of " + ", ".join(json.dumps(c) for c in choices)
