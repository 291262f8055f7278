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
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

from watchfiles import Change, DefaultFilter, awatch

from ..locate import CONFIG_FILE_NAMES

__all__ = ["IGNORED_DIRS", "watch_workspace"]

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
        # A directory appearing or going may be a project (a file in it is reported too).
        return change != Change.modified and "." not in name


async def watch_workspace(
    root: Path,
    changed: Callable[[set[Path]], Awaitable[None]],
    *,
    stop: asyncio.Event,
    debounce_ms: int = 300,
) -> None:
    """Call ``changed`` with each debounced batch of relevant paths until ``stop`` is set."""
    async for changes in awatch(
        root,
        watch_filter=_Filter(),
        stop_event=stop,
        debounce=debounce_ms,
        recursive=True,
        ignore_permission_denied=True,
    ):
        paths = {Path(path) for _, path in changes}
        if paths:
            await changed(paths)
