"""Finding projects and the workspace root, with the standard library only.

A **project** is a directory holding a ``corral.toml`` or a ``pyproject.toml`` with a
``[tool.corral]`` table. Front ends use this before (or without) opening a Workspace
Manager (the CLI client decides a run's scope with it), so it imports nothing of Corral and
nothing heavy.

Contract of :func:`discover_projects`: a depth-first ``os.scandir`` walk from ``root``
(included) that returns the resolved absolute paths of all projects (see
:func:`corral.config.project.is_project`), sorted. Projects nest: the walk continues inside
a project. It never enters:

* directories whose name starts with a dot (``.git``, ``.corral``, ``.venv``, ...);
* ``node_modules``, ``__pycache__``, ``build``, ``dist`` (and the named tool caches);
* any directory holding ``pyvenv.cfg`` (a virtual environment, whatever its name);
* symbolic links to directories (so link cycles cannot make it loop);
* directories it may not read (skipped silently).

A ``pyproject.toml`` is read only when present, and parsed only when its bytes mention
``corral``. The walk costs one ``scandir`` per directory visited.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CONFIG_FILE_NAMES",
    "CORRAL_TOML",
    "PYPROJECT_TOML",
    "SKIPPED_DIRS",
    "ProjectTree",
    "discover_projects",
    "find_root",
    "innermost_project",
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
    except RecursionError:  # nested too deep to parse: load_project says so
        return True
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


SKIPPED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".corral",
        "node_modules",
        "__pycache__",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        "build",
        "dist",
    }
)
"""Directory names never entered (besides any dot-directory and any venv)."""
VENV_MARKER = "pyvenv.cfg"


def _skipped(name: str) -> bool:
    return name.startswith(".") or name in SKIPPED_DIRS


def discover_projects(root: Path) -> list[Path]:
    """Every project under ``root`` (``root`` included), sorted; see the module docstring."""
    found: list[str] = []
    pending = [os.fspath(Path(root).resolve())]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as entries:
                subdirs: list[str] = []
                names: set[str] = set()
                for entry in entries:
                    name = entry.name
                    names.add(name)
                    try:
                        is_dir = entry.is_dir(follow_symlinks=False)
                    except OSError:
                        continue
                    if is_dir and not _skipped(name):
                        subdirs.append(entry.path)
        except OSError:
            continue
        if VENV_MARKER in names:
            continue
        if _is_project_dir(directory, names):
            found.append(directory)
        pending.extend(subdirs)
    return sorted(Path(path) for path in found)


def _is_project_dir(directory: str, names: set[str]) -> bool:
    if CORRAL_TOML in names and os.path.isfile(os.path.join(directory, CORRAL_TOML)):
        return True
    if PYPROJECT_TOML not in names:
        return False
    try:
        with open(os.path.join(directory, PYPROJECT_TOML), "rb") as file:
            data = file.read()
    except OSError:
        return False
    return pyproject_declares_corral(data)


@dataclass(frozen=True)
class ProjectTree:
    """The projects under a workspace root, found once (:func:`discover_projects`)."""

    root: Path
    roots: tuple[Path, ...]

    @classmethod
    def find(cls, root: Path) -> ProjectTree:
        return cls(root=root, roots=tuple(discover_projects(root)))

    def project_of(self, path: Path) -> Path | None:
        """The innermost project containing ``path`` (resolved), if any."""
        return innermost_project(path, self.roots)


def innermost_project(path: Path, roots: Iterable[Path]) -> Path | None:
    """The innermost of ``roots`` (resolved project paths) containing ``path``, if any."""
    path = path.resolve()
    best: Path | None = None
    for root in roots:
        if (path == root or root in path.parents) and (
            best is None or len(root.parts) > len(best.parts)
        ):
            best = root
    return best
