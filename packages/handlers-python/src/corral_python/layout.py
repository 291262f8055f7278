"""A project's import packages: what it ships, as opposed to its tests, docs and scripts.

:func:`import_packages` looks at the file tree only (no build backend runs, nothing is
imported), the way packaging tools discover packages when a project does not list them:

- **src layout** (a ``src/`` directory holding Python code): every package directory
  and module in ``src/``;
- **flat layout** otherwise: every top-level directory with an ``__init__.py`` and every
  top-level module, except the names projects use for what they do not ship
  (:data:`NOT_PACKAGES`, :data:`NOT_MODULES`, ``test_*.py``, ``*_test.py``).

Names must be Python identifiers; hidden entries and ``.corral``/virtual environments are
never candidates (a directory holding ``pyvenv.cfg`` is an environment, not a package).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

__all__ = ["NOT_MODULES", "NOT_PACKAGES", "import_packages"]

NOT_PACKAGES: Final = frozenset(
    {
        "bench",
        "benchmark",
        "benchmarks",
        "bin",
        "build",
        "changelog",
        "ci",
        "dist",
        "doc",
        "docs",
        "documentation",
        "example",
        "examples",
        "htmlcov",
        "news",
        "newsfragments",
        "sample",
        "samples",
        "script",
        "scripts",
        "site",
        "test",
        "testing",
        "tests",
        "tool",
        "tools",
        "venv",
    }
)
"""Top-level directory names that hold what a project does not ship (flat layout)."""

NOT_MODULES: Final = frozenset(
    {"conftest", "fabfile", "manage", "noxfile", "setup", "tasks", "test", "tests"}
)
"""Top-level module names that are build, task or test scripts (flat layout)."""


def _is_package(path: Path) -> bool:
    return (
        path.is_dir()
        and path.name.isidentifier()
        and not (path / "pyvenv.cfg").exists()
        and (path / "__init__.py").is_file()
    )


def _is_module(path: Path) -> bool:
    return path.suffix == ".py" and path.stem.isidentifier() and path.is_file()


def _is_test_module(stem: str) -> bool:
    return stem.startswith("test_") or stem.endswith("_test")


def _entries(directory: Path) -> list[Path]:
    try:
        return sorted(p for p in directory.iterdir() if not p.name.startswith("."))
    except OSError:
        return []


def _src_layout(src: Path) -> list[Path]:
    found = []
    for path in _entries(src):
        if path.is_dir() and path.name.isidentifier() and path.name not in NOT_PACKAGES:
            # Namespace packages (no __init__.py) count in src/: everything there ships.
            if any(path.rglob("*.py")):
                found.append(path)
        elif _is_module(path) and path.stem not in NOT_MODULES:
            found.append(path)
    return found


def _flat_layout(project: Path) -> list[Path]:
    found = []
    for path in _entries(project):
        if (_is_package(path) and path.name not in NOT_PACKAGES) or (
            _is_module(path) and path.stem not in NOT_MODULES and not _is_test_module(path.stem)
        ):
            found.append(path)
    return found


def import_packages(project: Path) -> list[str]:
    """Paths (relative to ``project``, ``/``-separated) of its import packages and
    top-level modules, sorted; empty when none are found."""
    src = project / "src"
    found = _src_layout(src) if src.is_dir() else []
    if not found:
        found = _flat_layout(project)
    return [path.relative_to(project).as_posix() for path in found]
