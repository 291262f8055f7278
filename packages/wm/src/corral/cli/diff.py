"""Unified diffs of :class:`~corral_protocol.results.FileEdit` against the file on disk.

A FileEdit carries a file's new text in full and the SHA-256 of the bytes the tool read
(SPEC.md §13.4). The diff is made only if the file still has those bytes: otherwise it was
changed since the tool looked, and a diff against what is there now would show changes the
tool never proposed, so a one-line reason is returned instead.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from corral_protocol.results import FileEdit

from .style import Style

__all__ = ["EditDiff", "edit_diff"]

NO_NEWLINE = "\\ No newline at end of file"


@dataclass(frozen=True)
class EditDiff:
    """The diff lines (without line ends), or why there is none."""

    lines: list[str]
    problem: str | None = None


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _unmarked(lines: Iterator[str]) -> Iterator[str]:
    """difflib's lines without their ends; a last line without one is followed by
    :data:`NO_NEWLINE` (as ``git diff`` and ``diff -u`` print it)."""
    for line in lines:
        if line.endswith(("\r\n", "\n", "\r")):
            yield line.rstrip("\r\n")
        else:
            yield line
            yield NO_NEWLINE


def edit_diff(path: Path, label: str, edit: FileEdit) -> EditDiff:
    """The unified diff (3 lines of context) that turns ``path`` into ``edit.formatted``,
    headed ``a/<label>`` and ``b/<label>``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return EditDiff([], f"cannot read {label}: {exc.strerror or exc}")
    if hashlib.sha256(data).hexdigest() != edit.original:
        return EditDiff([], f"{label} changed since it was checked: run again for its diff")
    before = data.decode(errors="replace")
    diff = difflib.unified_diff(
        _lines(before), _lines(edit.formatted), f"a/{label}", f"b/{label}", n=3
    )
    return EditDiff(list(_unmarked(diff)))


def styled_diff_line(line: str, style: Style) -> str:
    """``line`` of a unified diff in the colours ``git diff`` uses."""
    if line.startswith(("---", "+++")):
        return style(line, "bold")
    if line.startswith("@@"):
        return style(line, "cyan")
    if line.startswith("+"):
        return style(line, "green")
    if line.startswith("-"):
        return style(line, "red")
    return line
