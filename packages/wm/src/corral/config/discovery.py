"""Find every project under a workspace root, fast.

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
from pathlib import Path

from corral.locate import CORRAL_TOML, PYPROJECT_TOML, pyproject_declares_corral

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
