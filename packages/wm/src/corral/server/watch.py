"""Watching a workspace for what changes its configuration (watchfiles, not polling walks).

:func:`watch_workspace` reports, debounced, the changed paths that can change what the WM
knows: a project's ``corral.toml`` or ``pyproject.toml`` (its ``[tool.corral]`` table, its
dependency groups), a lock file, a project directory appearing or going. Everything under
the usual heavy or private directories (``.git``, ``.corral``, virtual environments,
``node_modules``, caches) is ignored, so an env being installed or a tool writing its cache
never triggers a reload.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

from watchfiles import Change, DefaultFilter, awatch

from ..locate import CONFIG_FILE_NAMES

__all__ = ["IGNORED_DIRS", "watch_workspace", "watched_dirs"]

IGNORED_DIRS: Final = frozenset(
    {
        ".corral",
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".tox",
        ".nox",
        "build",
        "dist",
    }
)
RELEVANT_SUFFIXES: Final = (".lock", "pylock.toml")
"""Besides the config files: lock files (``uv.lock``, ``pylock.<env>.toml``...)."""


class _Filter(DefaultFilter):
    def __init__(self) -> None:
        super().__init__(ignore_dirs=tuple(IGNORED_DIRS))

    def __call__(self, change: Change, path: str) -> bool:
        if not super().__call__(change, path):
            return False
        name = Path(path).name
        if name in CONFIG_FILE_NAMES or name.endswith(RELEVANT_SUFFIXES):
            return True
        return _may_be_a_directory(change, path)


def _may_be_a_directory(change: Change, path: str) -> bool:
    """A directory appearing or going (it may be, or hold, a project)."""
    if change == Change.added:
        return Path(path).is_dir()
    return change == Change.deleted and "." not in Path(path).name


def watched_dirs(root: Path) -> list[Path]:
    """``root`` and every directory below it outside :data:`IGNORED_DIRS`.

    They are watched one by one, not recursively: a recursive watch would also register
    every directory of every env under ``.corral/`` (tens of thousands in a large
    workspace, seconds of the server's start and as many of the kernel's inotify watches),
    only for their events to be filtered out.
    """
    found = []
    for current, dirs, _files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS)
        found.append(Path(current))
    return found


async def watch_workspace(
    root: Path,
    changed: Callable[[set[Path]], Awaitable[None]],
    *,
    stop: asyncio.Event,
    debounce_ms: int = 300,
) -> None:
    """Call ``changed`` with each debounced batch of relevant paths until ``stop`` is set.

    The directories to watch are walked again whenever one appears or goes, so a new
    project directory (and what is created in it) is watched from then on.
    """
    while not stop.is_set():
        dirs = await asyncio.to_thread(watched_dirs, root)
        async for changes in awatch(
            *dirs,
            watch_filter=_Filter(),
            stop_event=stop,
            debounce=debounce_ms,
            recursive=False,
            ignore_permission_denied=True,
        ):
            paths = {Path(path) for _, path in changes}
            if paths:
                await changed(paths)
            if any(_may_be_a_directory(change, path) for change, path in changes):
                break  # walk again: the set of directories changed
