"""Finding projects and the workspace root, with the standard library only.

A **project** is a directory holding a ``corral.toml`` or a ``pyproject.toml`` with a
``[tool.corral]`` table. Front ends use this before (or without) opening a Workspace
Manager, so it imports nothing of Corral and nothing heavy.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

__all__ = [
    "CONFIG_FILE_NAMES",
    "CORRAL_TOML",
    "PYPROJECT_TOML",
    "find_root",
    "is_project",
    "pyproject_declares_corral",
]

CORRAL_TOML = "corral.toml"
PYPROJECT_TOML = "pyproject.toml"
CONFIG_FILE_NAMES = (CORRAL_TOML, PYPROJECT_TOML)
"""The files whose change can change a project's configuration (watch these)."""
_TABLE_HEADER = re.compile(rb"^[ \t]*\[\s*tool\s*\.\s*\"?corral\b", re.MULTILINE)


def pyproject_declares_corral(data: bytes) -> bool:
    """Whether ``pyproject.toml`` content has a ``[tool.corral]`` table.

    Cheap for the common case: content not mentioning ``corral`` is not parsed. Content
    that is not valid TOML counts when it has a ``[tool.corral...]`` header line, so that
    :func:`load_project` reports its syntax error instead of the project vanishing.
    """
    if b"corral" not in data:
        return False
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return _TABLE_HEADER.search(data) is not None
    tool = document.get("tool")
    return isinstance(tool, dict) and "corral" in tool


def is_project(directory: Path) -> bool:
    """Whether ``directory`` is a project (see the module docstring). Never raises."""
    directory = Path(directory)
    if (directory / CORRAL_TOML).is_file():
        return True
    try:
        data = (directory / PYPROJECT_TOML).read_bytes()
    except OSError:
        return False
    return pyproject_declares_corral(data)


def find_root(cwd: Path) -> Path:
    """The workspace root for a command run in ``cwd`` without ``-C``: the nearest project
    strictly above ``cwd`` (a command in a project's subdirectory, or in a project nested
    in another, sees that project's tree), else ``cwd`` itself."""
    for candidate in cwd.parents:
        if is_project(candidate):
            return candidate
    return cwd
